// Synthetic FIFOs and sockets: a file server that refuses mknod (EPERM) makes
// the gofer keep them in the client only (MknodAt's fallback,
// createSyntheticChildLocked). A run with such a server is judged in the
// gofer's dialect with its synthetic rules (the history says `synthetic`),
// and the fscache coherence check leaves them out of the client's view it
// compares with the server's tree; both still fail what gVisor does not do.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { apply, dialectNamed, dialectStep, initialState } from "../../src/model/index.js"
import { checkHistory, decodeHistory, HISTORY_FORMAT, type History } from "../../src/model/lincheck/index.js"
import type { Cred, Op, OpResult, Stat, Tree } from "../../src/model/types.js"
import { historyOf, runSubject } from "../../src/sim/run.js"
import type { Fault, Scenario } from "../../src/sim/scenario.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const env = defaultEnv()
const run = (s: Scenario, seed = 1) => runSubject(s, { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
const REFUSED: Fault[] = [1, 2, 3].map((nth) => ({ kind: "rlerror", message: "Tumknod", nth, errno: "EPERM" }))

/** The root opened as "d" (every history below starts so), and a listing of it. */
const OPEN_ROOT: Op = { op: "open", path: "/", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" }
const GD: Op = { op: "getdents", fd: "d" }

function sequential(tree: Tree, rest: readonly [Op, OpResult][], synthetic: boolean): History {
  const ops: readonly [Op, OpResult][] = [[OPEN_ROOT, {}], ...rest]
  return {
    format: HISTORY_FORMAT,
    initial: tree,
    dialect: "gvisor-gofer",
    ...(synthetic ? { synthetic: true } : {}),
    ops: ops.map(([op, result], i) => ({ thread: "t0", op, result, invoke: 2 * i, return: 2 * i + 1 })),
  }
}

/** Linux's stat of `path` after `ops` from an empty tree, with `nlink`. */
function statAfter(ops: readonly Op[], path: string, nlink: number): Stat {
  let s = initialState({}, undefined, undefined, 0)
  for (const op of ops) s = apply(s, op, ROOT, 0).state
  const r = apply(s, { op: "stat", path }, ROOT, 0).result as Stat
  return { ...r, nlink }
}

describe("the gofer's dialect with synthetic FIFOs and sockets", () => {
  const mk: Op = { op: "mknod", path: "/p", type: "fifo", mode: 0o644 }

  it("accepts a FIFO's link count of 2 and its own type in a listing, counted as departures, only in a history that says so", () => {
    const ops: [Op, OpResult][] = [
      [mk, {}],
      [{ op: "stat", path: "/p" }, statAfter([mk], "/p", 2)],
      [GD, { entries: [{ name: "p", type: "fifo" }] }],
    ]
    const out = checkHistory(sequential({}, ops, true))
    expect(out.linearizable).toBe(true)
    expect(out.departures?.["gofer.stat.synthetic-nlink-2"]).toBe(1)
    expect(out.departures?.["gofer.getdents.synthetic-own-type"]).toBe(1)
    // The same history from a server that makes its FIFOs: not gVisor's.
    expect(checkHistory(sequential({}, ops, false)).linearizable).toBe(false)
    // The server's own FIFOs are still listed as DT_REG, and Linux's count stays allowed.
    const real: [Op, OpResult][] = [
      [mk, {}],
      [{ op: "stat", path: "/p" }, statAfter([mk], "/p", 1)],
      [GD, { entries: [{ name: "p", type: "file" }] }],
    ]
    expect(checkHistory(sequential({}, real, true)).linearizable).toBe(true)
  })

  it("still fails any other count, a regular file with 2 links, and a regular file listed as a FIFO", () => {
    expect(checkHistory(sequential({}, [[mk, {}], [{ op: "stat", path: "/p" }, statAfter([mk], "/p", 3)]], true)).linearizable).toBe(false)
    const f: Op = { op: "mknod", path: "/f", type: "file", mode: 0o644 }
    expect(checkHistory(sequential({}, [[f, {}], [{ op: "stat", path: "/f" }, statAfter([f], "/f", 2)]], true)).linearizable).toBe(false)
    expect(checkHistory(sequential({}, [[f, {}], [GD, { entries: [{ name: "f", type: "fifo" }] }]], true)).linearizable).toBe(false)
    // A removed FIFO is not listed, whichever it was.
    expect(checkHistory(sequential({}, [[mk, {}], [{ op: "unlink", path: "/p" }, {}], [GD, { entries: [{ name: "p", type: "fifo" }] }]], true)).linearizable).toBe(false)
  })

  it("accepts a synthetic file's xattr results (ENODATA, EPERM before the permission check) where they change nothing", () => {
    const USER: Cred = { uid: 1000, gid: 1000, groups: [] }
    const history = (ops: readonly [Op, OpResult][], synthetic: boolean): History => ({
      ...sequential({}, [[mk, {}]], synthetic),
      creds: { t1: USER },
      ops: [...sequential({}, [[mk, {}]], synthetic).ops, ...ops.map(([op, result], i) => ({ thread: "t1", op, result, invoke: 10 + 2 * i, return: 11 + 2 * i }))],
    })
    const ops: [Op, OpResult][] = [
      [{ op: "removexattr", path: "/p", name: "user.k" }, { errno: "EPERM" }],
      [{ op: "getxattr", path: "/p", name: "user.k" }, { errno: "ENODATA" }],
    ]
    const out = checkHistory(history(ops, true))
    expect(out.linearizable).toBe(true)
    expect(out.departures?.["gofer.xattr.synthetic"]).toBe(1)
    expect(checkHistory(history(ops, false)).linearizable).toBe(false)
    // Root's trusted xattr, which Linux sets: not covered (the state would differ), so EPERM fails.
    const trusted: [Op, OpResult][] = [[{ op: "setxattr", path: "/p", name: "trusted.k", value: "v" }, { errno: "EPERM" }]]
    expect(checkHistory(sequential({}, [[mk, {}], ...trusted], true)).linearizable).toBe(false)
    // Nor is EPERM accepted for a regular file.
    const f: Op = { op: "mknod", path: "/f", type: "file", mode: 0o644 }
    expect(checkHistory(sequential({}, [[f, {}], [{ op: "removexattr", path: "/f", name: "user.k" }, { errno: "ENODATA" }]], true)).linearizable).toBe(true)
    expect(checkHistory(sequential({}, [[f, {}], [{ op: "removexattr", path: "/f", name: "user.k" }, { errno: "EPERM" }]], true)).linearizable).toBe(false)
  })

  it("gives a FIFO made in a setgid directory of another group the caller's gid (the synthetic file's), and nothing else", () => {
    const tree: Tree = { d: { type: "dir", mode: 0o2777, gid: 1001, children: {} } }
    const made: Op = { op: "mknod", path: "/d/p", type: "fifo", mode: 0o644 }
    let s = initialState(tree, undefined, undefined, 0)
    s = apply(s, made, ROOT, 0).state
    const linux = apply(s, { op: "stat", path: "/d/p" }, ROOT, 0).result as Stat
    expect(linux.gid).toBe(1001)
    const ops = (gid: number): [Op, OpResult][] => [[made, {}], [{ op: "stat", path: "/d/p" }, { ...linux, gid, nlink: 2 }]]
    const out = checkHistory(sequential(tree, ops(0), true))
    expect(out.linearizable).toBe(true)
    expect(out.departures?.["gofer.mknod.synthetic-caller-gid"]).toBe(1)
    expect(checkHistory(sequential(tree, ops(0), false)).linearizable).toBe(false)
    expect(checkHistory(sequential(tree, ops(1001), true)).linearizable).toBe(false)
  })

  it("lists every mix of synthetic and server FIFOs and sockets, and nothing else", () => {
    const tree: Tree = { a: { type: "fifo" }, b: { type: "socket" }, c: { type: "file" } }
    const s = apply(initialState(tree, undefined, undefined, 0), OPEN_ROOT, ROOT, 0).state
    const op: Op = GD
    const g = dialectStep(dialectNamed("gvisor-gofer", { synthetic: true })!, s, op, ROOT, apply(s, op, ROOT, 0))
    const all = [g.result, ...g.alternatives].map((r) => ("entries" in r ? r.entries.map((e) => `${e.name}:${e.type}`).join(",") : "?"))
    expect(new Set(all)).toEqual(new Set(["a:file,b:file,c:file", "a:fifo,b:file,c:file", "a:file,b:socket,c:file", "a:fifo,b:socket,c:file"]))
  })

  it("is carried by a history: `synthetic` decodes, and a run whose server refuses mknod says it", () => {
    const h = decodeHistory({ format: HISTORY_FORMAT, dialect: "gvisor-gofer", synthetic: true, ops: [] })
    expect(h.synthetic).toBe(true)
    const s: Scenario = { format: "fsim.scenario/1", name: "refused", mount: { kind: "gofer" }, threads: [{ name: "t0", ops: [mk] }] }
    expect(historyOf({ ...s, faults: REFUSED }, [], "gvisor-gofer").synthetic).toBe(true)
    expect(historyOf(s, [], "gvisor-gofer").synthetic).toBeUndefined()
    // Another errno makes no synthetic file.
    expect(historyOf({ ...s, faults: [{ kind: "rlerror", message: "Tumknod", nth: 1, errno: "EIO" }] }, [], "gvisor-gofer").synthetic).toBeUndefined()
  })
})

describe("runs whose server refuses mknod", () => {
  const threads: Scenario["threads"] = [
    {
      name: "t0",
      ops: [
        { op: "mknod", path: "a", type: "fifo", mode: 0o644 },
        { op: "mknod", path: "s", type: "socket", mode: 0o600 },
        { op: "stat", path: "a" },
        OPEN_ROOT,
        GD,
        { op: "stat", path: "b" },
        { op: "open", path: "b", flags: ["O_RDWR", "O_CREAT"], fd: "f" },
        { op: "close", fd: "f" },
      ],
    },
  ]
  const scenario = (options: string): Scenario => ({ format: "fsim.scenario/1", name: "synthetic", mount: { kind: "gofer", options }, remote: {}, threads, faults: REFUSED })

  it("pass under every cache mode: the synthetic files are judged in the dialect, and fscache's server need not hold them", () => {
    for (const options of ["cache=fscache", "cache=fscache_writethrough", "cache=remote_revalidating", "cache=none"]) {
      const r = run(scenario(options))
      expect(r.marks, options).toContain("gofer.mknod.synthetic-fallback")
      expect(r.violations, options).toEqual([])
      expect(r.verdict, options).toBe("pass")
    }
  })

  it("still fail fscache's coherence check where the client's view of a real file departs from the server's (a mutant that keeps a truncated file's size)", () => {
    // b's size stays cached at 3 past the O_TRUNC open: the client's view of it is not the server's.
    const trunc: Scenario["threads"] = [{ name: "t0", ops: [...threads[0]!.ops.slice(0, 4), { op: "stat", path: "b" }, { op: "open", path: "b", flags: ["O_RDWR", "O_TRUNC"], fd: "f" }, { op: "close", fd: "f" }] }]
    const s: Scenario = { ...scenario("cache=fscache"), remote: { b: { type: "file", data: "xyz" } }, threads: trunc }
    expect(run(s).violations).toEqual([])
    const r = run({ ...s, mount: { kind: "gofer", options: "cache=fscache,mutant=open-trunc-keeps-size" } })
    expect(r.violations.map((v) => v.check)).toContain("coherence")
  })
})
