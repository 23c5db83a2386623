// External users of an overlay's gofer lower layer: what fsim does with a
// lower layer changed under the mounted overlay (src/impl/overlay/README.md,
// "External changes to a lower layer"). Linux calls it undefined; gVisor's
// overlay takes its lower layers to be immutable, and caches accordingly.
// fsim refuses to judge such a run's results (no lincheck), and still
// checks everything else: the overlay's invariants, its layers', lock order
// and deadlocks. What the overlay then shows, in both cached modes of the
// gofer, is pinned down here.

import { describe, expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { InputError } from "../../src/model/schema.js"
import type { Cred, Op, OpResult } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import { decodeScenario, type Scenario } from "../../src/sim/scenario.js"

const ENV = defaultEnv()
const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const S = 1_000_000_000

function scenario(cache: string, checks: Scenario["checks"]): Scenario {
  const ops: Op[] = [
    { op: "stat", path: "/d/x" },
    { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
    { op: "getdents", fd: "d" },
    { op: "open", path: "/g", flags: ["O_RDONLY"], fd: "g" },
    // The external user changes the layer now.
    { op: "sleep", ns: 2 * S },
    { op: "stat", path: "/d/x" },
    { op: "stat", path: "/d/y" },
    { op: "lseek", fd: "d", offset: 0, whence: "SEEK_SET" },
    { op: "getdents", fd: "d" },
    { op: "stat", path: "/g" },
    { op: "open", path: "/g", flags: ["O_RDWR"], fd: "g2" },
    { op: "pread", fd: "g2", offset: 0, count: 10 },
    { op: "open", path: "/f", flags: ["O_RDONLY"], fd: "f" },
    { op: "pread", fd: "f", offset: 0, count: 10 },
  ]
  const external: Op[] = [
    { op: "sleep", ns: S },
    { op: "unlink", path: "/d/x" },
    { op: "open", path: "/d/y", flags: ["O_CREAT", "O_WRONLY"], fd: "y" },
    { op: "open", path: "/f", flags: ["O_WRONLY", "O_TRUNC"], fd: "f" },
    { op: "write", fd: "f", data: "changed" },
    { op: "unlink", path: "/g" },
  ]
  return decodeScenario({
    format: "fsim.scenario/1",
    name: `external users of the overlay's gofer lower layer, cache=${cache}`,
    mount: { kind: "overlay", upper: { kind: "tmpfs", tree: {} }, lower: [{ kind: "gofer", options: `cache=${cache}`, tree: "remote" }] },
    remote: { d: { type: "dir", children: { x: { type: "file", data: "old" } } }, f: { type: "file", data: "lower" }, g: { type: "file", data: "gg" } },
    threads: [{ name: "t0", cred: ROOT, ops }],
    external: [{ name: "x0", cred: ROOT, ops: external }],
    ...(checks !== undefined ? { checks } : {}),
  })
}

function run(s: Scenario): RunReport {
  return runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
}

function results(r: RunReport): OpResult[] {
  return r.ops.filter((o) => o.thread === "t0" && o.op.op !== "sleep").map((o) => o.result!)
}

const UNJUDGED = ["lock_order", "deadlock", "invariants"] as const

test("a scenario with external users of an overlay's layer must leave lincheck out: its results cannot be judged", () => {
  expect(() => run(scenario("remote_revalidating", undefined))).toThrow(InputError)
  expect(() => run(scenario("remote_revalidating", ["lincheck", "invariants"]))).toThrow(/external users change a lower layer under the mounted overlay/)
})

describe.each(["fscache", "remote_revalidating"])("cache=%s: a lower layer changed under the mounted overlay", (cache) => {
  const r = run(scenario(cache, [...UNJUDGED]))
  const res = results(r)
  const [, , before, , x, y, , dirents, g, openG, readG, , readF] = res

  test("the overlay's own checks pass: invariants (references, copy-up, whiteouts, layer references, no fid leaked), lock order, deadlock", () => {
    expect(r.violations).toEqual([])
    expect(r.verdict).toBe("pass")
  })

  test("a name the layer gained is found by a new lookup; the merged dirents of an open directory are never refreshed", () => {
    expect(before).toEqual({ entries: [{ name: "x", type: "file" }] })
    expect(y).toMatchObject({ type: "file", size: 0 })
    // The overlay caches a directory's merged dirents on its dentry, for as long as the dentry lives.
    expect(dirents).toEqual({ entries: [{ name: "x", type: "file" }] })
  })

  test("a name the layer lost: gone when the gofer revalidates (remote_revalidating), still there when it trusts its cache (fscache)", () => {
    if (cache === "remote_revalidating") expect(x).toEqual({ errno: "ENOENT" })
    else expect(x).toMatchObject({ type: "file", size: 3, nlink: 1 })
  })

  test("a file whose overlay dentry is held (an open description) stays, and copy-up copies what the server no longer has", () => {
    expect(g).toMatchObject({ type: "file", size: 2 })
    expect(openG).toEqual({})
    expect(readG).toEqual({ data: "gg" })
    expect(r.final?.tree["g"]).toEqual({ type: "file", data: "gg" })
  })

  test("data the layer changed is read by a description opened after", () => {
    expect(readF).toEqual({ data: "changed" })
  })
})
