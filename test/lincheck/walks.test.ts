// Non-atomic walks (src/model/lincheck/fs.ts): under a dialect whose walks
// are not atomic (gVisor's), an op's path walk may take effect before the
// op, stopping past a symlink or at a rename's old parent; under Linux's
// model (and for external users) an op is one step. The checker must accept
// exactly the histories some choice of stops explains, and still reject the
// rest.

import { describe, expect, it } from "vitest"
import { checkHistory, type History } from "../../src/model/lincheck/index.js"
import { walkCutOf, applyResumed, initialState, apply } from "../../src/model/index.js"
import type { HistoryOp } from "../../src/model/lincheck/history.js"
import { ROOT, type Op, type OpResult, type Tree } from "../../src/model/types.js"

const OK: OpResult = {}
const CREATE = ["O_WRONLY", "O_CREAT"] as const

function history(initial: Tree, dialect: History["dialect"], ops: readonly [string, Op, number, number, OpResult | null][], external: readonly string[] = []): History {
  const hops: HistoryOp[] = ops.map(([thread, op, invoke, ret, result]) => ({ thread, op, invoke, return: result === null ? null : ret, result }))
  return { format: "fsim.history/1", initial, ...(dialect !== undefined ? { dialect } : {}), ops: hops, ...(external.length > 0 ? { external } : {}) } as History
}

describe("walk cuts in the model", () => {
  it("stops past each symlink followed, in order, and goes on from a stop", () => {
    let s = initialState({ d: { type: "dir" }, l: { type: "symlink", target: "/d" }, m: { type: "symlink", target: "l" } })
    const op: Op = { op: "open", path: "m/f", flags: [...CREATE], fd: "x" }
    const first = walkCutOf(s, op, ROOT, null)
    expect(first).toEqual({ dir: 1, path: "l/f", links: 1 })
    const second = walkCutOf(s, op, ROOT, first)
    expect(second).toEqual({ dir: 1, path: "/d/f", links: 2 })
    expect(walkCutOf(s, op, ROOT, second)).toBeNull()
    // Going on from the second stop after l and m are gone still creates d/f.
    s = apply(s, { op: "unlink", path: "m" }, ROOT, 0).state
    s = apply(s, { op: "unlink", path: "l" }, ROOT, 0).state
    expect(applyResumed(s, op, ROOT, 0, second!).result).toEqual(OK)
    expect(apply(s, op, ROOT, 0).result).toEqual({ errno: "ENOENT" })
  })

  it("stops a rename at its old parent and a link at its old file", () => {
    const s = initialState({ d: { type: "dir", children: { a: { type: "file" } } } })
    expect(walkCutOf(s, { op: "rename", from: "/d/a", to: "/b" }, ROOT, null)).toMatchObject({ path: "a" })
    const link = walkCutOf(s, { op: "link", from: "/d/a", to: "/b" }, ROOT, null)
    expect(link?.path).toBe("")
    expect(walkCutOf(s, { op: "link", from: "/d/a", to: "/b" }, ROOT, link)).toBeNull()
  })
})

describe("histories with non-atomic walks", () => {
  // The walk of b/b meets b -> "/.." while it exists; the create happens after b is gone.
  const createThroughRemovedLink = (dialect: History["dialect"], external: readonly string[] = []): History =>
    history({}, dialect, [
      ["t2", { op: "symlink", target: "/..", path: "b" }, 1, 10, OK],
      ["t3", { op: "open", path: "b/b", flags: [...CREATE], fd: "h" }, 2, 100, OK],
      ["t2", { op: "unlink", path: "b" }, 20, 30, OK],
      ["t1", { op: "lstat", path: "b" }, 101, 102, { type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, nlink: 1, ino: 9, atime: 0, mtime: 0, ctime: 0 }],
    ], external)

  it("accepts what only a walk stopped past a symlink explains, under gVisor's dialect, and counts it", () => {
    const out = checkHistory(createThroughRemovedLink("gvisor-gofer"))
    expect(out.linearizable).toBe(true)
    expect(out.witness).toEqual([0, 2, 1, 3])
    expect(out.departures).toEqual({ "vfs.walk.non-atomic": 1 })
  })

  it("rejects the same history under Linux's model, and for an external user", () => {
    expect(checkHistory(createThroughRemovedLink("linux")).linearizable).toBe(false)
    expect(checkHistory(createThroughRemovedLink("gvisor-gofer-shared", ["t3"])).linearizable).toBe(false)
  })

  it("accepts a rename whose old parent was resolved before a concurrent rename replaced the symlink to it", () => {
    // t0 resolves the parent of l/a through l -> /d at once; t1 replaces l by a file; t2 still sees d/a
    // after that, so the rename moved d/a later, when l no longer led to d.
    const file = { type: "file", mode: 0o644, uid: 0, gid: 0, size: 0, nlink: 1, ino: 9, atime: 0, mtime: 0, ctime: 0 } as const
    const h = (dialect: History["dialect"]): History =>
      history({ d: { type: "dir", children: { a: { type: "file" } } }, l: { type: "symlink", target: "/d" }, f: { type: "file" } }, dialect, [
        ["t0", { op: "rename", from: "l/a", to: "/b" }, 1, 50, OK],
        ["t1", { op: "rename", from: "/f", to: "/l" }, 2, 3, OK],
        ["t2", { op: "stat", path: "/d/a" }, 5, 6, file],
        ["t2", { op: "stat", path: "/b" }, 60, 61, file],
      ])
    expect(checkHistory(h("gvisor-gofer")).linearizable).toBe(true)
    expect(checkHistory(h("linux")).linearizable).toBe(false)
  })

  it("holds the file a link's walk found, as the VFS's reference does, while its last name goes", () => {
    // t0 finds b (not its own, so may_linkat says EPERM); t1 unlinks b, then makes d; the link into d says EPERM.
    const h = (dialect: History["dialect"]): History => ({
      ...history({ b: { type: "file", mode: 0o600 } }, dialect, [
        ["t0", { op: "link", from: "/b", to: "/d/c" }, 1, 50, { errno: "EPERM" }],
        ["t1", { op: "unlink", path: "/b" }, 2, 3, OK],
        ["t1", { op: "mkdir", path: "/d", mode: 0o777 }, 4, 5, OK],
      ]),
      creds: { t0: { uid: 1000, gid: 1000, groups: [] } },
    })
    expect(checkHistory(h("gvisor-gofer")).linearizable).toBe(true)
    expect(checkHistory(h("linux")).linearizable).toBe(false)
  })

  it("stops an op that acts on a file at that file, holds it, and acts on it whether or not it still has its name", () => {
    const s = initialState({ b: { type: "file", data: "lower" } })
    const cut = walkCutOf(s, { op: "stat", path: "/b" }, ROOT, null)
    expect(cut).toMatchObject({ path: "" })
    // The stop is the last; an op on a name (unlink, mkdir, open) makes none without symlinks.
    expect(walkCutOf(s, { op: "stat", path: "/b" }, ROOT, cut)).toBeNull()
    for (const op of [{ op: "unlink", path: "/b" }, { op: "mkdir", path: "/c" }, { op: "open", path: "/b", flags: ["O_RDONLY"], fd: "f" }] as const) expect(walkCutOf(s, op, ROOT, null)).toBeNull()
  })

  // gVisor's StatAt resolves the dentry, then asks the layer or the server
  // (the overlay's stat-races-unlink shape); Linux's vfs_getattr comes after
  // the lookup too. A stat that overlaps an unlink may see the file with no
  // name left: nlink 0.
  const stat0: OpResult = { type: "file", mode: 0o644, uid: 0, gid: 0, size: 1, nlink: 0, ino: 2, atime: 0, mtime: 0, ctime: 0 } as OpResult
  it("accepts a stat that found the file before an overlapping unlink and saw it after (nlink 0), and counts it", () => {
    const h = (dialect: History["dialect"]) =>
      history({ b: { type: "file", data: "x" } }, dialect, [
        ["t0", { op: "stat", path: "/b" }, 1, 10, stat0],
        ["t1", { op: "unlink", path: "/b" }, 2, 3, OK],
      ])
    const out = checkHistory(h("gvisor-gofer"))
    expect(out.linearizable).toBe(true)
    expect(out.departures).toEqual({ "vfs.walk.non-atomic": 1 })
    expect(checkHistory(h("linux")).linearizable).toBe(false)
    // Not when the unlink had returned before the stat began: its walk would not have found the file.
    const late = history({ b: { type: "file", data: "x" } }, "gvisor-gofer", [
      ["t1", { op: "unlink", path: "/b" }, 1, 2, OK],
      ["t0", { op: "stat", path: "/b" }, 3, 10, stat0],
    ])
    expect(checkHistory(late).linearizable).toBe(false)
  })

  it("accepts a truncate that acts on the file an overlapping unlink removed, after a read of it saw the old data", () => {
    // The overlay's setstat-races-unlink shape: t2's truncate found /b, t0
    // unlinked it, t1 read the old data through a description opened
    // before, then the truncate acted on the file with no name.
    const h = history({ b: { type: "file", data: "lower" } }, "gvisor-overlay", [
      ["t1", { op: "open", path: "/b", flags: ["O_RDWR"], fd: "f" }, 1, 2, OK],
      ["t2", { op: "truncate", path: "/b", length: 4 }, 3, 50, OK],
      ["t0", { op: "unlink", path: "/b" }, 4, 5, OK],
      ["t1", { op: "read", fd: "f", count: 7 }, 6, 7, { data: "lower" }],
      ["t1", { op: "pread", fd: "f", offset: 0, count: 7 }, 51, 52, { data: "lowe" }],
    ])
    const out = checkHistory(h)
    expect(out.linearizable).toBe(true)
    expect(out.departures).toEqual({ "vfs.walk.non-atomic": 1 })
    // The file keeps what it held: a read after the truncate returned sees it truncated, never the old data.
    const stale = history({ b: { type: "file", data: "lower" } }, "gvisor-overlay", [
      ["t1", { op: "open", path: "/b", flags: ["O_RDWR"], fd: "f" }, 1, 2, OK],
      ["t2", { op: "truncate", path: "/b", length: 4 }, 3, 50, OK],
      ["t0", { op: "unlink", path: "/b" }, 4, 5, OK],
      ["t1", { op: "pread", fd: "f", offset: 0, count: 7 }, 51, 52, { data: "lower" }],
    ])
    expect(checkHistory(stale).linearizable).toBe(false)
  })

  it("still rejects a stale read: walks change where paths resolve, not what files hold", () => {
    const h = history({ a: { type: "file", data: "old" } }, "gvisor-gofer", [
      ["t0", { op: "truncate", path: "a", length: 0 }, 1, 10, OK],
      ["t1", { op: "open", path: "a", flags: ["O_RDONLY"], fd: "r" }, 11, 12, OK],
      ["t1", { op: "read", fd: "r", count: 3 }, 13, 14, { data: "old" }],
    ])
    const out = checkHistory(h)
    expect(out.linearizable).toBe(false)
    expect(out.explanation).toContain("path walks that may take effect before their ops")
  })
})
