// Dialects: the gofer's documented departures are accepted exactly where
// gVisor makes them, and nowhere else; a linearizable verdict names the
// rules it needed; a history carries its dialect.

import { describe, expect, it } from "vitest"
import { apply, dialectNamed, dialectStep, initialState } from "../../src/model/index.js"
import { checkHistory, decodeHistory, HISTORY_FORMAT, type History } from "../../src/model/lincheck/index.js"
import type { Cred, Op, OpResult, Tree } from "../../src/model/types.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const USER: Cred = { uid: 1000, gid: 1000, groups: [] }
const gofer = dialectNamed("gvisor-gofer")!

function step(tree: Tree, op: Op, cred: Cred) {
  const s = initialState(tree, undefined, undefined, 0)
  return dialectStep(gofer, s, op, cred, apply(s, op, cred, 0))
}

function sequential(tree: Tree, ops: readonly [Op, OpResult][], dialect?: "gvisor-gofer", cred?: Cred): History {
  return {
    format: HISTORY_FORMAT,
    initial: tree,
    ...(dialect !== undefined ? { dialect } : {}),
    ...(cred !== undefined ? { creds: { t0: cred } } : {}),
    ops: ops.map(([op, result], i) => ({ thread: "t0", op, result, invoke: 2 * i, return: 2 * i + 1 })),
  }
}

describe("the gvisor-gofer dialect", () => {
  const tree: Tree = { d: { type: "dir", mode: 0o755, children: { f: { type: "file", data: "x" } } } }

  it("checks the parent's write permission before the name (unlink of a missing name)", () => {
    const linux = apply(initialState(tree, undefined, undefined, 0), { op: "unlink", path: "/d/missing" }, USER, 0)
    expect(linux.result).toEqual({ errno: "ENOENT" })
    const g = step(tree, { op: "unlink", path: "/d/missing" }, USER)
    expect(g.result).toEqual({ errno: "EACCES" })
    expect(g.rule).toBe("gofer.unlink.parent-perm-first")
  })

  it("lets a FIFO write go into the pipe while a mode-3 description's server handle reads it (Linux: EPIPE)", () => {
    const fifo: Tree = { p: { type: "fifo", mode: 0o666 } }
    const ops: [Op, OpResult][] = [
      [{ op: "open", path: "/p", flags: ["O_WRONLY", "O_RDWR", "O_NONBLOCK"], fd: "m3" }, {}],
      [{ op: "open", path: "/p", flags: ["O_WRONLY", "O_NONBLOCK"], fd: "w" }, {}],
      [{ op: "write", fd: "w", data: "hello" }, { count: 5 }],
    ]
    const out = checkHistory(sequential(fifo, ops, "gvisor-gofer"))
    expect(out.linearizable).toBe(true)
    expect(out.departures?.["gofer.open.fifo-mode-3"]).toBe(3)
    expect(checkHistory(sequential(fifo, ops)).linearizable).toBe(false)
    // Without the mode-3 description there is no reader on the server either.
    expect(checkHistory(sequential(fifo, [[{ op: "open", path: "/p", flags: ["O_RDWR", "O_NONBLOCK"], fd: "rw" }, {}], [{ op: "close", fd: "rw" }, {}], [{ op: "open", path: "/p", flags: ["O_WRONLY", "O_NONBLOCK"], fd: "w" }, { errno: "ENXIO" }]], "gvisor-gofer")).linearizable).toBe(true)
  })

  it("refuses RENAME_EXCHANGE after walking the new parent, and leaves the state alone", () => {
    const two: Tree = { f: { type: "file", data: "x" }, g: { type: "file", data: "y" } }
    const op: Op = { op: "rename", from: "/f", to: "/g", flags: ["RENAME_EXCHANGE"] }
    expect(apply(initialState(two, undefined, undefined, 0), op, ROOT, 0).result).toEqual({})
    const g = step(two, op, ROOT)
    expect(g.result).toEqual({ errno: "EINVAL" })
    expect(g.rule).toBe("gofer.rename.unsupported-flags")
    expect(apply(g.state, { op: "readlink", path: "/f" }, ROOT, 0).result).toEqual({ errno: "EINVAL" })
    const st = apply(g.state, { op: "stat", path: "/f" }, ROOT, 0).result
    expect("size" in st && st.size).toBe(1)
  })

  it("allows each result a cache state could give, and only those (unlink with a trailing slash)", () => {
    const g = step(tree, { op: "unlink", path: "/d/missing/" }, ROOT)
    const all = [g.result, ...g.alternatives]
    expect(all).toContainEqual({ errno: "ENOENT" })
    expect(all).toContainEqual({ errno: "ENOTDIR" })
    expect(all).not.toContainEqual({ errno: "EISDIR" })
  })

  it("checks the access of a directory reached through O_NOFOLLOW|O_DIRECTORY before EISDIR (seed 9969)", () => {
    // MustBeDir follows the symlink, then dentry.open checks MayWrite first.
    const link: Tree = { c: { type: "symlink", target: "./" } }
    const op: Op = { op: "open", path: "c", flags: ["O_WRONLY", "O_DIRECTORY", "O_NOFOLLOW", "O_NONBLOCK"], fd: "f" }
    expect(apply(initialState(link, undefined, undefined, 0), op, USER, 0).result).toEqual({ errno: "ENOTDIR" })
    for (const name of ["gvisor-gofer", "gvisor-gofer-shared", "gvisor-gofer-none"] as const) {
      const s = initialState(link, undefined, undefined, 0)
      const g = dialectStep(dialectNamed(name)!, s, op, USER, apply(s, op, USER, 0))
      expect(g.result).toEqual({ errno: "EACCES" })
      expect(g.rule).toBe("gofer.open.perm-before-eisdir")
      expect(g.alternatives).toEqual([])
    }
    // Root may write the directory: EISDIR, through the symlink as gVisor follows it.
    expect(step(link, op, ROOT).result).toEqual({ errno: "EISDIR" })
    expect(step(link, op, ROOT).rule).toBe("gofer.open.nofollow-directory-follows")
  })

  it("keeps Linux's step where gVisor agrees", () => {
    const g = step(tree, { op: "stat", path: "/d/f" }, ROOT)
    expect(g.rule).toBeNull()
    expect(g.alternatives).toEqual([])
  })

  it("clears setuid on a root's write, as regularFileFD.pwrite does (Linux keeps it)", () => {
    const t: Tree = { f: { type: "file", data: "", mode: 0o4755 } }
    let s = initialState(t, undefined, undefined, 0)
    const open: Op = { op: "open", path: "/f", flags: ["O_WRONLY"], fd: "w" }
    s = dialectStep(gofer, s, open, ROOT, apply(s, open, ROOT, 0)).state
    const write: Op = { op: "write", fd: "w", data: "x" }
    const g = dialectStep(gofer, s, write, ROOT, apply(s, write, ROOT, 0))
    expect(g.rule).toBe("gofer.write.clear-suid-sgid")
    const st = apply(g.state, { op: "stat", path: "/f" }, ROOT, 0).result
    expect("mode" in st && st.mode).toBe(0o755)
  })
})

describe("histories under a dialect", () => {
  const tree: Tree = { d: { type: "dir", mode: 0o755, children: {} } }
  const ops: [Op, OpResult][] = [[{ op: "unlink", path: "/d/missing" }, { errno: "EACCES" }]]

  it("are linearizable with the dialect, and name the rules the witness needed", () => {
    const out = checkHistory(sequential(tree, ops, "gvisor-gofer", USER))
    expect(out.linearizable).toBe(true)
    expect(out.departures).toEqual({ "gofer.unlink.parent-perm-first": 1 })
  })

  it("are not linearizable without it (the checker does not accept the departure silently)", () => {
    const out = checkHistory(sequential(tree, ops, undefined, USER))
    expect(out.linearizable).toBe(false)
  })

  it("still reject what no rule allows", () => {
    const out = checkHistory(sequential(tree, [[{ op: "unlink", path: "/d/missing" }, { errno: "EPERM" }]], "gvisor-gofer", USER))
    expect(out.linearizable).toBe(false)
  })

  it("decode with their dialect and external threads, and reject an unknown dialect in one line", () => {
    const h = decodeHistory({ ...sequential(tree, ops, "gvisor-gofer", USER), external: ["x0"] })
    expect(h.dialect).toBe("gvisor-gofer")
    expect(h.external).toEqual(["x0"])
    expect(() => decodeHistory({ ...sequential(tree, ops), dialect: "plan9" })).toThrow(/dialect/)
  })
})
