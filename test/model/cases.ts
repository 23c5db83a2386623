// Hand-written cases for the tricky corners of Linux semantics, each op with
// the result Linux gives. test/model/semantics.test.ts checks the model
// against the expectations; test/linux/linux-diff.test.ts runs the same
// cases on Linux and checks the model against it, so every expectation here
// is Linux's own answer.

import type { Cred, Op, RootAttrs, Tree } from "../../src/model/types.js"

export const R: Cred = { uid: 0, gid: 0, groups: [] }
/** uid 1000, group 1000. */
export const U: Cred = { uid: 1000, gid: 1000, groups: [1000] }
/** uid 1001, group 1001, also in group 1000. */
export const V: Cred = { uid: 1001, gid: 1001, groups: [1001, 1000] }
/** uid 1000 with primary group 1001 and no supplementary groups (not in group 1000). */
export const W: Cred = { uid: 1000, gid: 1001, groups: [] }

/** A partial result: every given field must match; `{}` means success without data checked. */
export type Expect = Partial<Record<string, unknown>> | "blocks"

export type Step = readonly [Op, Cred, Expect]

export interface Case {
  readonly name: string
  readonly tree: Tree
  readonly root?: RootAttrs
  readonly readOnly?: boolean
  readonly steps: readonly Step[]
}

const e = (errno: string): Expect => ({ errno })
const ok: Expect = {}
const stat = (path: string): Op => ({ op: "stat", path })
const lstat = (path: string): Op => ({ op: "lstat", path })
const rename = (from: string, to: string, ...flags: ("RENAME_NOREPLACE" | "RENAME_EXCHANGE")[]): Op =>
  flags.length === 0 ? { op: "rename", from, to } : { op: "rename", from, to, flags }
const open = (path: string, fd: string, ...flags: Extract<Op, { op: "open" }>["flags"][number][]): Op => ({ op: "open", path, flags, fd })
const file = (data = "", extra: object = {}): Tree[string] => ({ type: "file", data, ...extra }) as Tree[string]
const dir = (children: Tree = {}, extra: object = {}): Tree[string] => ({ type: "dir", children, ...extra }) as Tree[string]

const chain: Tree = (() => {
  const t: Record<string, Tree[string]> = { f: file("end") }
  for (let i = 1; i <= 40; i++) t[`l${i}`] = { type: "symlink", target: i === 40 ? "f" : `l${i + 1}` }
  t["l0"] = { type: "symlink", target: "l1" }
  return t
})()

export const CASES: readonly Case[] = [
  {
    name: "long files: a pwrite at 2^40 leaves a hole that reads as zeros; truncate cuts and extends",
    tree: { f: file("hello") },
    steps: [
      [open("/f", "f", "O_RDWR"), R, ok],
      [{ op: "pwrite", fd: "f", offset: 2 ** 40, data: "xyz" }, R, { count: 3 }],
      [{ op: "pread", fd: "f", offset: 2 ** 40 - 2, count: 10 }, R, { data: "\0\0xyz" }],
      [{ op: "pread", fd: "f", offset: 3, count: 4 }, R, { data: "lo\0\0" }],
      [{ op: "pread", fd: "f", offset: 2 ** 41, count: 4 }, R, { data: "" }],
      [{ op: "lseek", fd: "f", offset: -1, whence: "SEEK_END" }, R, { offset: 2 ** 40 + 2 }],
      [{ op: "write", fd: "f", data: "Z!" }, R, { count: 2 }],
      [stat("/f"), R, { size: 2 ** 40 + 4 }],
      [{ op: "ftruncate", fd: "f", length: 2 ** 40 + 1 }, R, ok],
      [{ op: "pwrite", fd: "f", offset: 2 ** 30, data: "\0\0" }, R, { count: 2 }],
      [{ op: "pwrite", fd: "f", offset: 2 ** 20, data: "mid" }, R, { count: 3 }],
      [{ op: "truncate", path: "/f", length: 2 ** 50 }, R, ok],
      [stat("/f"), R, { size: 2 ** 50 }],
      [{ op: "pwrite", fd: "f", offset: -1, data: "x" }, R, e("EINVAL")],
      [{ op: "truncate", path: "/f", length: 4 }, R, ok],
      [{ op: "pread", fd: "f", offset: 0, count: 10 }, R, { data: "hell" }],
      [{ op: "ftruncate", fd: "f", length: 3 * 2 ** 20 }, R, ok],
      [{ op: "pwrite", fd: "f", offset: 2 ** 21, data: "tail" }, R, { count: 4 }],
      [{ op: "close", fd: "f" }, R, ok],
    ],
  },
  {
    name: "rename: file over file, dir over empty dir, and the refusals",
    tree: { f: file("x"), g: file("yy"), d: dir(), e: dir({ x: file() }), s: dir() },
    steps: [
      [rename("/d", "/e"), R, e("ENOTEMPTY")],
      [rename("/d", "/f"), R, e("ENOTDIR")],
      [rename("/f", "/d"), R, e("EISDIR")],
      [rename("/e", "/e/sub"), R, e("EINVAL")],
      [rename("/f", "/g"), R, ok],
      [lstat("/f"), R, e("ENOENT")],
      [stat("/g"), R, { type: "file", size: 1 }],
      [rename("/d", "/s"), R, ok],
      [stat("/s"), R, { type: "dir", nlink: 2 }],
      [rename("/s/", "/t/"), R, ok],
      [rename("/g/", "/z"), R, e("ENOTDIR")],
      [rename("/g", "/z/"), R, e("ENOTDIR")],
      [rename("/.", "/q"), R, e("EBUSY")],
      [rename("/g", "/."), R, e("EBUSY")],
      [rename("/g", "/.", "RENAME_NOREPLACE"), R, e("EEXIST")],
    ],
  },
  {
    name: "rename: flags, same inode, ancestors and link counts",
    tree: { f: file("x"), h: { link: "/f" }, a: dir({ b: dir() }), c: dir({ d: dir() }) },
    steps: [
      [rename("/f", "/h"), R, ok],
      [lstat("/f"), R, { nlink: 2 }],
      [rename("/f", "/h", "RENAME_NOREPLACE"), R, e("EEXIST")],
      [rename("/f", "/n", "RENAME_EXCHANGE"), R, e("ENOENT")],
      [rename("/f", "/n", "RENAME_NOREPLACE", "RENAME_EXCHANGE"), R, e("EINVAL")],
      [rename("/a/b", "/a"), R, e("ENOTEMPTY")],
      [rename("/a/b", "/a", "RENAME_EXCHANGE"), R, e("EINVAL")],
      [rename("/c/d", "/a/d"), R, ok],
      [stat("/a"), R, { nlink: 4 }],
      [stat("/c"), R, { nlink: 2 }],
      [rename("/f", "/a", "RENAME_EXCHANGE"), R, ok],
      [lstat("/f"), R, { type: "dir", nlink: 4 }],
      [stat("/f/d/.."), R, { type: "dir", nlink: 4 }],
      [rename("/f", "/n", "RENAME_NOREPLACE"), R, ok],
    ],
  },
  {
    name: "sticky directories: only the file's owner, the directory's owner or root delete",
    root: { mode: 0o1777 },
    tree: { f: file("", { uid: 1000, mode: 0o666 }), g: file("", { mode: 0o666 }), t: dir({ x: file("", { uid: 1000 }) }, { mode: 0o1777, uid: 1001 }) },
    steps: [
      [{ op: "unlink", path: "/g" }, V, e("EPERM")],
      [rename("/g", "/h"), V, e("EPERM")],
      [{ op: "unlink", path: "/f" }, V, e("EPERM")],
      [{ op: "unlink", path: "/t/x" }, V, ok],
      [{ op: "unlink", path: "/f" }, U, ok],
      [{ op: "unlink", path: "/g" }, R, ok],
      [{ op: "mkdir", path: "/m" }, U, ok],
      [{ op: "rmdir", path: "/m" }, V, e("EPERM")],
      [{ op: "setxattr", path: "/t", name: "user.k", value: "v" }, U, e("EPERM")],
    ],
  },
  {
    name: "setgid directories pass on their group, and their setgid bit to subdirectories",
    tree: { s: dir({}, { mode: 0o2777, gid: 1000 }) },
    steps: [
      [{ op: "mkdir", path: "/s/d", mode: 0o755 }, V, ok],
      [stat("/s/d"), R, { uid: 1001, gid: 1000, mode: 0o2755 }],
      [{ op: "open", path: "/s/f", flags: ["O_CREAT", "O_WRONLY"], mode: 0o644, fd: "f" }, V, ok],
      [stat("/s/f"), R, { gid: 1000, mode: 0o644 }],
      [{ op: "open", path: "/s/g", flags: ["O_CREAT"], mode: 0o2755, fd: "g" }, V, ok],
      [stat("/s/g"), R, { gid: 1000, mode: 0o2755 }],
      [{ op: "open", path: "/s/h", flags: ["O_CREAT"], mode: 0o2755, fd: "h" }, W, ok],
      [stat("/s/h"), R, { gid: 1000, mode: 0o755 }],
      [{ op: "mkdir", path: "/s/d/e", mode: 0o4777 }, V, ok],
      [stat("/s/d/e"), R, { gid: 1000, mode: 0o2777 }],
    ],
  },
  {
    name: "writes and truncates by non-root clear setuid, and setgid as setattr_should_drop_sgid says",
    tree: {
      a: file("x", { mode: 0o6777, uid: 1000, gid: 1000 }),
      b: file("x", { mode: 0o2666, gid: 1000 }),
      c: file("x", { mode: 0o2666, gid: 1000 }),
      d: file("x", { mode: 0o6777 }),
      e: file("x", { mode: 0o4755, uid: 1000 }),
      g: dir({}, { mode: 0o6777 }),
    },
    steps: [
      [open("/a", "f", "O_WRONLY"), U, ok],
      [{ op: "write", fd: "f", data: "" }, U, { count: 0 }],
      [stat("/a"), R, { mode: 0o6777 }],
      [{ op: "write", fd: "f", data: "y" }, U, { count: 1 }],
      [stat("/a"), R, { mode: 0o777 }],
      [{ op: "truncate", path: "/b", length: 0 }, V, ok],
      [stat("/b"), R, { mode: 0o2666, size: 0 }],
      [{ op: "truncate", path: "/c", length: 1 }, W, ok],
      [stat("/c"), R, { mode: 0o666 }],
      [{ op: "truncate", path: "/d", length: 5 }, R, ok],
      [stat("/d"), R, { mode: 0o6777, size: 5 }],
      [{ op: "chown", path: "/e" }, R, ok],
      [stat("/e"), R, { mode: 0o755, uid: 1000 }],
      [{ op: "chown", path: "/d", uid: 0 }, R, ok],
      [stat("/d"), R, { mode: 0o777 }],
      [{ op: "chown", path: "/g", uid: 1000 }, R, ok],
      [stat("/g"), R, { mode: 0o6777, uid: 1000 }],
      [{ op: "chmod", path: "/g", mode: 0o2755 }, W, ok],
      [stat("/g"), R, { mode: 0o755 }],
      [{ op: "chown", path: "/g", gid: 1000 }, U, ok],
      [{ op: "chown", path: "/g", uid: 0xffff_ffff, gid: 0xffff_ffff }, U, ok],
      [stat("/g"), R, { uid: 1000, gid: 1000 }],
      [{ op: "chown", path: "/g", gid: 1001 }, U, e("EPERM")],
      [{ op: "chown", path: "/g", uid: 1001 }, U, e("EPERM")],
      [{ op: "chmod", path: "/g", mode: 0o777 }, V, e("EPERM")],
    ],
  },
  {
    name: "an unlinked file stays usable while open",
    tree: { f: file("abc"), d: dir() },
    steps: [
      [open("/f", "f", "O_RDWR"), U, e("EACCES")],
      [open("/f", "f", "O_RDWR"), R, ok],
      [{ op: "unlink", path: "/f" }, R, ok],
      [stat("/f"), R, e("ENOENT")],
      [{ op: "fstat", fd: "f" }, R, { nlink: 0, size: 3 }],
      [{ op: "write", fd: "f", data: "xy" }, R, { count: 2 }],
      [{ op: "pread", fd: "f", offset: 0, count: 10 }, R, { data: "xyc" }],
      [{ op: "read", fd: "f", count: 10 }, R, { data: "c" }],
      [{ op: "close", fd: "f" }, R, ok],
      [{ op: "fstat", fd: "f" }, R, e("EBADF")],
      [open("/d", "g"), R, ok],
      [{ op: "rmdir", path: "/d" }, R, ok],
      [{ op: "getdents", fd: "g" }, R, e("ENOENT")],
      [{ op: "fstat", fd: "g" }, R, { nlink: 0, type: "dir" }],
    ],
  },
  {
    name: "symlinks: 40 are followed, the 41st is ELOOP; loops; O_NOFOLLOW",
    tree: { ...chain, self: { type: "symlink", target: "self" }, dang: { type: "symlink", target: "nowhere/x" } },
    steps: [
      [stat("/l1"), R, { type: "file", size: 3 }],
      [stat("/l0"), R, e("ELOOP")],
      [stat("/self"), R, e("ELOOP")],
      [lstat("/self"), R, { type: "symlink", size: 4 }],
      [stat("/self/x"), R, e("ELOOP")],
      [stat("/dang"), R, e("ENOENT")],
      [open("/l40", "f", "O_NOFOLLOW"), R, e("ELOOP")],
      [open("/l40", "f", "O_NOFOLLOW", "O_PATH"), R, ok],
      [{ op: "fstat", fd: "f" }, R, { type: "symlink" }],
      [open("/l40", "f", "O_NOFOLLOW", "O_DIRECTORY"), R, e("ENOTDIR")],
      [open("/l40", "f", "O_CREAT", "O_EXCL"), R, e("EEXIST")],
      [{ op: "open", path: "/dang", flags: ["O_CREAT"], fd: "g" }, R, e("ENOENT")],
      [{ op: "symlink", target: "new", path: "/ln" }, R, ok],
      [{ op: "open", path: "/ln", flags: ["O_CREAT", "O_WRONLY"], fd: "g" }, R, ok],
      [lstat("/new"), R, { type: "file" }],
      [{ op: "readlink", path: "/ln" }, R, { target: "new" }],
      [{ op: "readlink", path: "/new" }, R, e("EINVAL")],
      [lstat("/l40/"), R, e("ENOTDIR")],
      [lstat("/ln/"), R, e("ENOTDIR")],
    ],
  },
  {
    name: "name and path lengths",
    tree: { f: file() },
    steps: [
      [{ op: "mkdir", path: "/" + "n".repeat(256) }, R, e("ENAMETOOLONG")],
      [{ op: "mkdir", path: "/" + "n".repeat(255) }, R, ok],
      [stat("/missing/" + "n".repeat(256)), R, e("ENOENT")],
      [stat("/f/" + "n".repeat(256)), R, e("ENOTDIR")],
      [stat("/".repeat(4095)), R, { type: "dir" }],
      [stat("/".repeat(4096)), R, e("ENAMETOOLONG")],
      [stat(""), R, e("ENOENT")],
      [{ op: "symlink", target: "x".repeat(4096), path: "/s" }, R, e("ENAMETOOLONG")],
      [{ op: "symlink", target: "x".repeat(4095), path: "/s" }, R, ok],
      [{ op: "getxattr", path: "/f", name: "user." + "k".repeat(251) }, R, e("ERANGE")],
      [{ op: "getxattr", path: "/f", name: "user." + "k".repeat(250) }, R, e("ENODATA")],
    ],
  },
  {
    name: "errno precedence",
    tree: { f: file("x", { mode: 0o600 }), d: dir({ x: file() }, { mode: 0o700 }), q: { type: "fifo" }, k: { type: "socket" } },
    steps: [
      [stat("/d/x"), U, e("EACCES")],
      [stat("/f/x"), U, e("ENOTDIR")],
      [stat("/m/x"), U, e("ENOENT")],
      [open("/f", "f", "O_CREAT", "O_EXCL"), U, e("EEXIST")],
      [open("/d", "f", "O_WRONLY"), U, e("EISDIR")],
      [open("/d", "f", "O_CREAT", "O_DIRECTORY"), R, e("EINVAL")],
      [open("/d/", "f", "O_CREAT"), R, e("EISDIR")],
      [open("/new/", "f", "O_CREAT"), R, e("EISDIR")],
      [open("/f/", "f"), R, e("ENOTDIR")],
      [{ op: "mkdir", path: "/new/" }, R, ok],
      [{ op: "mknod", path: "/n2/", type: "fifo" }, R, e("ENOENT")],
      [{ op: "truncate", path: "/d", length: 0 }, R, e("EISDIR")],
      [{ op: "truncate", path: "/q", length: 0 }, R, e("EINVAL")],
      [{ op: "truncate", path: "/nothing", length: -1 }, R, e("EINVAL")],
      [{ op: "utimens", path: "/nothing" }, R, ok],
      [{ op: "rmdir", path: "/d/." }, R, e("EINVAL")],
      [{ op: "rmdir", path: "/d/.." }, R, e("ENOTEMPTY")],
      [{ op: "rmdir", path: "/" }, R, e("EBUSY")],
      [{ op: "unlink", path: "/" }, R, e("EISDIR")],
      [{ op: "unlink", path: "/d" }, R, e("EISDIR")],
      [{ op: "unlink", path: "/f/" }, R, e("ENOTDIR")],
      [{ op: "link", from: "/d", to: "/d2" }, R, e("EPERM")],
      [{ op: "link", from: "/f", to: "/g" }, U, e("EPERM")],
      [{ op: "symlink", target: "", path: "/f" }, R, e("ENOENT")],
      [{ op: "mkdir", path: "/." }, R, e("EEXIST")],
      [open("/k", "f", "O_RDONLY"), R, e("ENXIO")],
      [open("/q", "f", "O_WRONLY", "O_NONBLOCK"), R, e("ENXIO")],
      [open("/d", "f", "O_DIRECT"), R, e("EINVAL")],
      [{ op: "access", path: "/f", mode: ["X_OK"] }, R, e("EACCES")],
      [{ op: "access", path: "/d", mode: ["X_OK"] }, R, ok],
      [{ op: "access", path: "/f", mode: ["R_OK"] }, U, e("EACCES")],
      [{ op: "read", fd: "nope", count: 1 }, R, e("EBADF")],
      [{ op: "pread", fd: "nope", offset: -1, count: 1 }, R, e("EINVAL")],
      [{ op: "ftruncate", fd: "nope", length: -1 }, R, e("EINVAL")],
    ],
  },
  {
    name: "a read-only mount: EROFS after the lookup's own errors",
    readOnly: true,
    tree: { f: file("x"), d: dir({}, { mode: 0o555 }), q: { type: "fifo" } },
    steps: [
      [{ op: "mkdir", path: "/f" }, R, e("EEXIST")],
      [{ op: "mkdir", path: "/m" }, R, e("EROFS")],
      [{ op: "mkdir", path: "/d/m" }, U, e("EROFS")],
      [{ op: "mkdir", path: "/x/m" }, U, e("ENOENT")],
      [open("/f", "f", "O_CREAT", "O_EXCL"), R, e("EEXIST")],
      [open("/f", "f", "O_WRONLY"), R, e("EROFS")],
      [open("/f", "f", "O_RDONLY", "O_TRUNC"), U, e("EROFS")],
      [open("/f", "f", "O_RDONLY"), U, ok],
      [{ op: "unlink", path: "/nothing" }, R, e("EROFS")],
      [{ op: "rename", from: "/.", to: "/z" }, R, e("EBUSY")],
      [{ op: "chmod", path: "/f", mode: 0o777 }, U, e("EROFS")],
      [{ op: "truncate", path: "/d", length: 0 }, R, e("EISDIR")],
      [{ op: "access", path: "/f", mode: ["W_OK"] }, R, e("EROFS")],
      [{ op: "access", path: "/q", mode: ["W_OK"] }, R, ok],
      [{ op: "utimens", path: "/f", atime: "UTIME_NOW", mtime: "UTIME_NOW" }, U, e("EROFS")],
    ],
  },
  {
    name: "utimens permissions: write permission suffices only for UTIME_NOW on both",
    tree: { w: file("", { mode: 0o666 }), r: file("", { mode: 0o644 }) },
    steps: [
      [{ op: "utimens", path: "/w", atime: "UTIME_NOW", mtime: "UTIME_NOW" }, U, ok],
      [{ op: "utimens", path: "/w", atime: "UTIME_NOW" }, U, e("EPERM")],
      [{ op: "utimens", path: "/w", atime: 5, mtime: 7 }, U, e("EPERM")],
      [{ op: "utimens", path: "/r", atime: "UTIME_NOW", mtime: "UTIME_NOW" }, U, e("EACCES")],
      [{ op: "utimens", path: "/r", mtime: 1_000_000_007 }, R, ok],
      [stat("/r"), R, { mtime: 1_000_000_007 }],
    ],
  },
  {
    name: "xattrs: namespaces and types",
    tree: { f: file("", { mode: 0o644, uid: 1000 }), q: { type: "fifo", mode: 0o666 } },
    steps: [
      [{ op: "setxattr", path: "/f", name: "user.k", value: "v" }, U, ok],
      [{ op: "setxattr", path: "/f", name: "user.k", value: "w", flags: ["XATTR_CREATE"] }, U, e("EEXIST")],
      [{ op: "setxattr", path: "/f", name: "user.z", value: "w", flags: ["XATTR_REPLACE"] }, U, e("ENODATA")],
      [{ op: "getxattr", path: "/f", name: "user.k" }, V, { value: "v" }],
      [{ op: "setxattr", path: "/f", name: "user.j", value: "v" }, V, e("EACCES")],
      [{ op: "listxattr", path: "/f" }, V, { names: ["user.k"] }],
      [{ op: "setxattr", path: "/q", name: "user.k", value: "v" }, R, e("EPERM")],
      [{ op: "getxattr", path: "/q", name: "user.k" }, R, e("ENODATA")],
      [{ op: "setxattr", path: "/f", name: "trusted.t", value: "v" }, U, e("EPERM")],
      [{ op: "setxattr", path: "/f", name: "trusted.t", value: "v" }, R, ok],
      [{ op: "getxattr", path: "/f", name: "trusted.t" }, U, e("ENODATA")],
      [{ op: "listxattr", path: "/f" }, R, { names: ["user.k"] }],
      [{ op: "setxattr", path: "/f", name: "other.o", value: "v" }, U, e("EOPNOTSUPP")],
      [{ op: "setxattr", path: "/f", name: "user.", value: "v" }, U, e("EINVAL")],
      [{ op: "setxattr", path: "/f", name: "", value: "v" }, U, e("ERANGE")],
      [{ op: "removexattr", path: "/f", name: "user.k" }, U, ok],
      [{ op: "removexattr", path: "/f", name: "user.k" }, U, e("ENODATA")],
    ],
  },
  {
    name: "FIFOs: blocking opens, O_NONBLOCK, data",
    tree: { p: { type: "fifo", mode: 0o666 } },
    steps: [
      [open("/p", "r", "O_RDONLY"), R, "blocks"],
      [open("/p", "w", "O_WRONLY", "O_NONBLOCK"), R, e("ENXIO")],
      [open("/p", "r", "O_RDONLY", "O_NONBLOCK"), R, ok],
      [{ op: "read", fd: "r", count: 4 }, R, { data: "" }],
      [open("/p", "w", "O_WRONLY", "O_NONBLOCK"), R, ok],
      [{ op: "read", fd: "r", count: 4 }, R, e("EAGAIN")],
      [{ op: "write", fd: "w", data: "abc" }, R, { count: 3 }],
      [{ op: "read", fd: "r", count: 2 }, R, { data: "ab" }],
      [{ op: "lseek", fd: "r", offset: 0, whence: "SEEK_SET" }, R, e("ESPIPE")],
      [{ op: "pread", fd: "r", offset: 0, count: 1 }, R, e("ESPIPE")],
      [{ op: "close", fd: "w" }, R, ok],
      [{ op: "read", fd: "r", count: 2 }, R, { data: "c" }],
      [{ op: "read", fd: "r", count: 2 }, R, { data: "" }],
      [open("/p", "w", "O_WRONLY"), R, ok],
    ],
  },
  {
    name: "descriptions: offsets, O_APPEND, O_PATH, names rebound",
    tree: { f: file("hello"), d: dir({ b: file(), a: dir() }) },
    steps: [
      [open("/f", "f", "O_RDWR", "O_APPEND"), R, ok],
      [{ op: "write", fd: "f", data: "!" }, R, { count: 1 }],
      [{ op: "lseek", fd: "f", offset: 0, whence: "SEEK_CUR" }, R, { offset: 6 }],
      [{ op: "pwrite", fd: "f", offset: 0, data: "?" }, R, { count: 1 }],
      [{ op: "pread", fd: "f", offset: 0, count: 10 }, R, { data: "hello!?" }],
      [{ op: "lseek", fd: "f", offset: 10, whence: "SEEK_END" }, R, { offset: 17 }],
      [{ op: "lseek", fd: "f", offset: -100, whence: "SEEK_CUR" }, R, e("EINVAL")],
      [open("/f", "f", "O_WRONLY", "O_RDWR"), R, ok],
      [{ op: "read", fd: "f", count: 1 }, R, e("EBADF")],
      [{ op: "write", fd: "f", data: "x" }, R, e("EBADF")],
      [open("/nothing", "f"), R, e("ENOENT")],
      [{ op: "fstat", fd: "f" }, R, { type: "file" }],
      [open("/d", "g", "O_PATH"), R, ok],
      [{ op: "getdents", fd: "g" }, R, e("EBADF")],
      [open("/d", "g", "O_DIRECTORY"), R, ok],
      [{ op: "getdents", fd: "g" }, R, { entries: [{ name: "a", type: "dir" }, { name: "b", type: "file" }] }],
      [{ op: "lseek", fd: "g", offset: 0, whence: "SEEK_END" }, R, e("EINVAL")],
      [{ op: "read", fd: "g", count: 1 }, R, e("EISDIR")],
      [{ op: "ftruncate", fd: "g", length: 0 }, R, e("EINVAL")],
      [{ op: "statfs", path: "/d" }, R, { namelen: 255 }],
      [{ op: "sync" }, U, ok],
    ],
  },
]
