// The model's inode-level operations: the same code as the path operations
// past the lookup, so each *at() op on an inode must do exactly what the
// path op naming the same entry does; plus what only inodes can reach
// (removed directories, owners given by a server) and the version counter.

import { describe, expect, test } from "vitest"
import { apply, initialState, inodeStep, toTree, type Inodes, type ModelState } from "../../src/model/index.js"
import type { Cred, Op, OpResult, Tree } from "../../src/model/types.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const USER: Cred = { uid: 1000, gid: 1000, groups: [1000] }

const TREE: Tree = {
  d: { type: "dir", mode: 0o755, children: { f: { type: "file", data: "hello", xattrs: { "user.k": "v" } }, e: { type: "dir" } } },
  g: { type: "dir", mode: 0o2777, gid: 50, children: {} },
  s: { type: "dir", mode: 0o1777, uid: 7, children: { o: { type: "file", uid: 7 } } },
  l: { type: "symlink", target: "d/f" },
  x: { type: "file", data: "xyz", mode: 0o4755 },
}

/** The inode a path names (no symlink followed at the end). */
function ino(state: ModelState, path: string): number {
  return inodeStep(state, ROOT, 0, (fs) => {
    let at = fs.root
    for (const n of path.split("/").filter((c) => c !== "")) {
      const r = fs.lookup(at, n)
      if ("errno" in r) throw new Error(`no ${path}`)
      at = r.ino
    }
    return at
  }).value
}

type InodeOp = (fs: Inodes, s: ModelState) => OpResult | { readonly ino: number }

/** Each path op, and the inode op that names the same entries. */
const PAIRS: [Op, InodeOp][] = [
  [{ op: "mkdir", path: "/d/n", mode: 0o750 }, (fs, s) => fs.mkdir(ino(s, "/d"), "n", 0o750)],
  [{ op: "mkdir", path: "/d/f" }, (fs, s) => fs.mkdir(ino(s, "/d"), "f", 0o755)],
  [{ op: "mkdir", path: "/g/n", mode: 0o700 }, (fs, s) => fs.mkdir(ino(s, "/g"), "n", 0o700)],
  [{ op: "mknod", path: "/d/p", type: "fifo", mode: 0o2755 }, (fs, s) => fs.mknod(ino(s, "/d"), "p", "fifo", 0o2755)],
  [{ op: "symlink", target: "../x", path: "/d/sl" }, (fs, s) => fs.symlink(ino(s, "/d"), "sl", "../x")],
  [{ op: "symlink", target: "", path: "/d/sl" }, (fs, s) => fs.symlink(ino(s, "/d"), "sl", "")],
  [{ op: "link", from: "/x", to: "/d/hx" }, (fs, s) => fs.link(ino(s, "/d"), "hx", ino(s, "/x"))],
  [{ op: "link", from: "/d/e", to: "/d/he" }, (fs, s) => fs.link(ino(s, "/d"), "he", ino(s, "/d/e"))],
  [{ op: "unlink", path: "/d/f" }, (fs, s) => fs.unlink(ino(s, "/d"), "f")],
  [{ op: "unlink", path: "/d/e" }, (fs, s) => fs.unlink(ino(s, "/d"), "e")],
  [{ op: "unlink", path: "/s/o" }, (fs, s) => fs.unlink(ino(s, "/s"), "o")],
  [{ op: "rmdir", path: "/d/e" }, (fs, s) => fs.rmdir(ino(s, "/d"), "e")],
  [{ op: "rmdir", path: "/d" }, (fs, s) => fs.rmdir(ino(s, "/"), "d")],
  [{ op: "rename", from: "/d/f", to: "/g/f2" }, (fs, s) => fs.rename(ino(s, "/d"), "f", ino(s, "/g"), "f2")],
  [{ op: "rename", from: "/d", to: "/d/e/z" }, (fs, s) => fs.rename(ino(s, "/"), "d", ino(s, "/d/e"), "z")],
  [{ op: "rename", from: "/x", to: "/d/e" }, (fs, s) => fs.rename(ino(s, "/"), "x", ino(s, "/d"), "e")],
  [{ op: "chmod", path: "/x", mode: 0o640 }, (fs, s) => fs.chmod(ino(s, "/x"), 0o640)],
  [{ op: "chown", path: "/x", uid: 5, gid: 6 }, (fs, s) => fs.chown(ino(s, "/x"), 5, 6)],
  [{ op: "truncate", path: "/d/f", length: 2 }, (fs, s) => fs.truncate(ino(s, "/d/f"), 2)],
  [{ op: "truncate", path: "/d", length: 2 }, (fs, s) => fs.truncate(ino(s, "/d"), 2)],
  [{ op: "utimens", path: "/d/f", atime: 5, mtime: "UTIME_NOW" }, (fs, s) => fs.utimens(ino(s, "/d/f"), 5, "UTIME_NOW")],
  [{ op: "readlink", path: "/l" }, (fs, s) => fs.readlink(ino(s, "/l"))],
  [{ op: "readlink", path: "/x" }, (fs, s) => fs.readlink(ino(s, "/x"))],
  [{ op: "getxattr", path: "/d/f", name: "user.k" }, (fs, s) => fs.getxattr(ino(s, "/d/f"), "user.k")],
  [{ op: "setxattr", path: "/d/f", name: "user.n", value: "1", flags: ["XATTR_CREATE"] }, (fs, s) => fs.setxattr(ino(s, "/d/f"), "user.n", "1", ["XATTR_CREATE"])],
  [{ op: "setxattr", path: "/d/f", name: "user.k", value: "1", flags: ["XATTR_CREATE"] }, (fs, s) => fs.setxattr(ino(s, "/d/f"), "user.k", "1", ["XATTR_CREATE"])],
  [{ op: "removexattr", path: "/d/f", name: "user.k" }, (fs, s) => fs.removexattr(ino(s, "/d/f"), "user.k")],
  [{ op: "listxattr", path: "/d/f" }, (fs, s) => fs.listxattr(ino(s, "/d/f"))],
]

describe("inode operations run the path operations' code", () => {
  for (const cred of [ROOT, USER]) {
    for (const [op, byInode] of PAIRS) {
      test(`${JSON.stringify(op)} as uid ${cred.uid}`, () => {
        const s = initialState(TREE)
        const byPath = apply(s, op, cred, 100)
        const viaInode = inodeStep(s, cred, 100, (fs) => byInode(fs, s))
        const result = viaInode.value
        const errno = (r: object): unknown => ("errno" in r ? r.errno : null)
        expect(errno(result)).toBe(errno(byPath.result))
        // Creations by inode answer with the new inode; every other result is the path op's.
        if (errno(result) === null && !("ino" in result)) expect(result).toEqual(byPath.result)
        expect(toTree(viaInode.state)).toEqual(toTree(byPath.state))
      })
    }
  }

  test("open and create by inode match open(2) by path", () => {
    const s = initialState(TREE)
    const byPath = apply(s, { op: "open", path: "/d/new", flags: ["O_CREAT", "O_EXCL", "O_RDWR"], mode: 0o600, fd: "f" }, USER, 5)
    expect(byPath.result).toEqual({ errno: "EACCES" })
    const viaInode = inodeStep(s, USER, 5, (fs) => fs.create(ino(s, "/d"), "new", ["O_RDWR"], 0o600, "f"))
    expect(viaInode.value).toEqual({ errno: "EACCES" })
    const opened = inodeStep(s, ROOT, 5, (fs) => fs.open(ino(s, "/x"), ["O_WRONLY", "O_TRUNC"], "f"))
    const openedByPath = apply(s, { op: "open", path: "/x", flags: ["O_WRONLY", "O_TRUNC"], fd: "f" }, ROOT, 5)
    expect(opened.value).toEqual(openedByPath.result)
    expect(toTree(opened.state)).toEqual(toTree(openedByPath.state))
  })
})

describe("what only inode operations reach", () => {
  test("new inodes belong to the owner given, with a setgid directory's group", () => {
    const s = initialState(TREE)
    const out = inodeStep(s, ROOT, 1, (fs) => [fs.mkdir(ino(s, "/d"), "a", 0o755), fs.create(ino(s, "/g"), "b", ["O_RDWR"], 0o644, "fd")], { uid: 1000, gid: 33 })
    const t = toTree(out.state).tree as Record<string, { children?: Record<string, { uid?: number; gid?: number }> }>
    expect(t["d"]!.children!["a"]).toMatchObject({ uid: 1000, gid: 33 })
    expect(t["g"]!.children!["b"]).toMatchObject({ uid: 1000, gid: 50 })
  })

  test("a removed directory held open takes no new entries, lists as ENOENT, and lookups find nothing", () => {
    let s = initialState(TREE)
    const e = ino(s, "/d/e")
    s = inodeStep(s, ROOT, 1, (fs) => fs.hold(e, "h")).state
    s = apply(s, { op: "rmdir", path: "/d/e" }, ROOT, 2).state
    const out = inodeStep(s, ROOT, 3, (fs) => [fs.mkdir(e, "n", 0o755), fs.create(e, "f", ["O_RDWR"], 0o644, "x"), fs.lookup(e, "n"), fs.stat(e)?.nlink])
    expect(out.value).toEqual([{ errno: "ENOENT" }, { errno: "ENOENT" }, { errno: "ENOENT" }, 0])
  })

  test("a file held only by a description outlives its names, then goes with the description", () => {
    let s = initialState(TREE)
    const f = ino(s, "/d/f")
    s = inodeStep(s, ROOT, 1, (fs) => fs.open(f, ["O_RDWR"], "h")).state
    s = apply(s, { op: "unlink", path: "/d/f" }, ROOT, 2).state
    const w = inodeStep(s, ROOT, 3, (fs) => [fs.write("h", 5, "!"), fs.read("h", 0, 10), fs.stat(f)?.nlink])
    expect(w.value).toEqual([{ count: 1 }, { data: "hello!" }, 0])
    const closed = inodeStep(w.state, ROOT, 4, (fs) => {
      fs.close("h")
      return fs.stat(f)
    })
    expect(closed.value).toBeUndefined()
  })

  test("a FIFO's buffer goes with the last description of its ends, whatever O_PATH descriptions or server fids still hold it", () => {
    let s = apply(initialState(TREE), { op: "mknod", path: "/p", type: "fifo" }, ROOT, 1).state
    const p = ino(s, "/p")
    // A 9P server's walked, unopened fid, and a user's O_PATH description: neither is an end of the pipe.
    s = inodeStep(s, ROOT, 2, (fs) => fs.hold(p, "fid")).state
    s = apply(s, { op: "open", path: "/p", flags: ["O_PATH"], fd: "o" }, ROOT, 3).state
    for (const [at, op] of [
      [4, { op: "open", path: "/p", flags: ["O_RDWR", "O_NONBLOCK"], fd: "f" }],
      [5, { op: "write", fd: "f", data: "x" }],
      [6, { op: "close", fd: "f" }],
      [7, { op: "open", path: "/p", flags: ["O_RDWR", "O_NONBLOCK"], fd: "g" }],
    ] as const) s = apply(s, op, ROOT, at).state
    // Open for writing by g itself, so an empty pipe is EAGAIN, not end of file: the byte written through f is gone.
    expect(apply(s, { op: "read", fd: "g", count: 4 }, ROOT, 8).result).toEqual({ errno: "EAGAIN" })
    // While an end stays open the bytes stay.
    const kept = apply(apply(s, { op: "write", fd: "g", data: "y" }, ROOT, 9).state, { op: "open", path: "/p", flags: ["O_RDONLY", "O_NONBLOCK"], fd: "r" }, ROOT, 10).state
    const closedOne = apply(kept, { op: "close", fd: "g" }, ROOT, 11).state
    expect(apply(closedOne, { op: "read", fd: "r", count: 4 }, ROOT, 12).result).toEqual({ data: "y" })
  })

  test("version: once per step that changes an inode, never for atime alone, 0 for a new inode", () => {
    let s = initialState(TREE)
    const f = ino(s, "/d/f")
    const d = ino(s, "/d")
    const v = (st: ModelState, i: number): number => inodeStep(st, ROOT, 0, (fs) => fs.stat(i)!.version).value
    expect(v(s, f)).toBe(0)
    s = inodeStep(s, ROOT, 1, (fs) => fs.open(f, ["O_RDWR"], "h")).state
    s = inodeStep(s, ROOT, 2, (fs) => fs.read("h", 0, 5)).state
    expect(v(s, f)).toBe(0)
    s = inodeStep(s, ROOT, 3, (fs) => [fs.write("h", 0, "a"), fs.write("h", 1, "b"), fs.chmod(f, 0o600)]).state
    expect(v(s, f)).toBe(1)
    const made = inodeStep(s, ROOT, 4, (fs) => fs.mkdir(d, "k", 0o755))
    const k = (made.value as { ino: number }).ino
    expect([v(made.state, k), v(made.state, d)]).toEqual([0, 1])
  })
})
