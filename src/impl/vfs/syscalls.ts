// The contract's operations as system calls on the VFS, after gVisor's
// pkg/sentry/syscalls/linux/vfs2 (openat, read, pread64, lseek, ftruncate,
// fstatat, faccessat, renameat2, linkat, symlinkat, mknodat, fchmodat,
// fchownat, utimensat, *xattr, statfs, sync): the argument checks in the
// order gVisor makes them, then the VFS call. Every thread's working
// directory is the mount root and the umask is 0; fd names are shared by all
// threads, as the contract says.

import { DENSE_MAX, fromExtents, treeFields, type Extent } from "../../model/filedata.js"
import { EDGE_SPANS, FINAL_SPARSE_READ_MAX, type Span } from "../../sim/finalread.js"
import type { Cred, DirEntry, Errno, NodeType, Op, OpResult, RootAttrs, Stat, Tree, TreeNode } from "../../model/types.js"
import { cleanPath } from "../../model/index.js"
import type { FinalRecorder } from "../../sim/mount.js"
import type { Sim } from "../../sim/scheduler.js"
import type { Ctx } from "./context.js"
import type { FileDescription } from "./file_description.js"
import type { SetStatOptions, Statx } from "./filesystem.js"
import { Parse } from "./fspath.js"
import {
  DT_DIR,
  DT_FIFO,
  DT_LNK,
  DT_REG,
  DT_SOCK,
  O_APPEND,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_LARGEFILE,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_SYNC,
  O_TRUNC,
  O_WRONLY,
  PATH_MAX,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  SEEK_CUR,
  SEEK_END,
  SEEK_SET,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "./linux.js"
import type { VirtualDentry } from "./mount.js"
import { MayExec, MayRead, MayWrite, STATX_ATIME, STATX_GID, STATX_MODE, STATX_MTIME, STATX_SIZE, STATX_UID, UTIME_NOW, type SetStatRequest } from "./permissions.js"
import type { PathOperation } from "./resolving_path.js"
import type { VirtualFilesystem } from "./vfs.js"

const OPEN_FLAG_BITS: Readonly<Record<string, number>> = {
  O_RDONLY,
  O_WRONLY,
  O_RDWR,
  O_CREAT,
  O_EXCL,
  O_TRUNC,
  O_APPEND,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_DIRECT,
  O_DSYNC,
  // Linux's O_SYNC is __O_SYNC | O_DSYNC.
  O_SYNC: O_SYNC | O_DSYNC,
  O_PATH,
  O_NONBLOCK,
}

export const XATTR_NAME_MAX = 255
export const XATTR_SIZE_MAX = 65536

function err(e: Errno): OpResult {
  return { errno: e }
}

/** Linux's flag word for an open's flag names. */
export function openFlags(names: readonly string[]): number {
  let f = 0
  for (const n of names) f |= OPEN_FLAG_BITS[n] ?? 0
  return f
}

function typeOf(mode: number): NodeType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "dir"
    case S_IFLNK:
      return "symlink"
    case S_IFIFO:
      return "fifo"
    case S_IFSOCK:
      return "socket"
    default:
      return "file"
  }
}

function direntType(t: number): NodeType {
  switch (t) {
    case DT_DIR:
      return "dir"
    case DT_LNK:
      return "symlink"
    case DT_FIFO:
      return "fifo"
    case DT_SOCK:
      return "socket"
    case DT_REG:
    default:
      return "file"
  }
}

export function statResult(s: Statx): Stat {
  return {
    type: typeOf(s.mode),
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    ino: s.ino,
    atime: s.atime,
    mtime: s.mtime,
    ctime: s.ctime,
  }
}

/** The system-call layer over one VFS: a shared table of symbolic fds. */
export class Syscalls {
  readonly fds = new Map<string, FileDescription>()

  constructor(
    readonly vfs: VirtualFilesystem,
    readonly root: VirtualDentry,
  ) {}

  /**
   * copyInPath and getTaskPathOperation: ENAMETOOLONG for a path of PATH_MAX
   * bytes or more, ENOENT for an empty one (no AT_EMPTY_PATH here).
   */
  private pop(given: string, followFinalSymlink: boolean): PathOperation | Errno {
    const path = cleanPath(given)
    if (path.length >= PATH_MAX) return "ENAMETOOLONG"
    if (path.length === 0) return "ENOENT"
    return { Root: this.root, Start: this.root, Path: Parse(path), FollowFinalSymlink: followFinalSymlink }
  }

  /** Runs one contract op (`sleep` is the runner's). */
  *exec(ctx: Ctx, op: Op): Sim<OpResult> {
    const vfs = this.vfs
    const creds = ctx.creds
    switch (op.op) {
      case "open": {
        const flags = openFlags(op.flags)
        const pop = this.pop(op.path, (flags & O_NOFOLLOW) === 0)
        if (typeof pop === "string") return err(pop)
        const mode = (op.mode ?? 0o644) & 0o7777
        const [fd, e] = yield* vfs.OpenAt(ctx, creds, pop, { Flags: flags | O_LARGEFILE, Mode: mode })
        if (e !== null || fd === null) return err(e ?? "EIO")
        // Rebinding a name closes the description it held (after the open
        // succeeded, as dup2 would).
        const old = this.fds.get(op.fd)
        this.fds.set(op.fd, fd)
        if (old !== undefined) yield* old.DecRef(ctx)
        return {}
      }
      case "close": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        this.fds.delete(op.fd)
        yield* fd.DecRef(ctx)
        return {}
      }
      case "read": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        const [data, e] = yield* fd.Read(ctx, op.count)
        return ioResult(data.length, e) ?? { data }
      }
      case "pread": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        if (op.offset < 0) return err("EINVAL")
        const [data, e] = yield* fd.PRead(ctx, op.count, op.offset)
        return ioResult(data.length, e) ?? { data }
      }
      case "write": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        const [count, e] = yield* fd.Write(ctx, op.data)
        return ioResult(count, e) ?? { count }
      }
      case "pwrite": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        if (op.offset < 0) return err("EINVAL")
        const [count, e] = yield* fd.PWrite(ctx, op.data, op.offset)
        return ioResult(count, e) ?? { count }
      }
      case "lseek": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        const whence = op.whence === "SEEK_SET" ? SEEK_SET : op.whence === "SEEK_CUR" ? SEEK_CUR : SEEK_END
        const [offset, e] = yield* fd.Seek(ctx, op.offset, whence)
        return e !== null ? err(e) : { offset }
      }
      case "ftruncate": {
        if (op.length < 0) return err("EINVAL")
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        if (fd.IsPath()) return err("EBADF")
        if (!fd.writable) return err("EINVAL")
        const e = yield* fd.SetStat(ctx, { Stat: setStat({ mask: STATX_SIZE, size: op.length }) })
        return e !== null ? err(e) : {}
      }
      case "fsync":
      case "fdatasync": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        const e = yield* fd.Sync(ctx)
        return e !== null ? err(e) : {}
      }
      case "fstat": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        const [st, e] = yield* fd.Stat(ctx, {})
        return e !== null || st === null ? err(e ?? "EIO") : statResult(st)
      }
      case "getdents": {
        const fd = this.fds.get(op.fd)
        if (fd === undefined) return err("EBADF")
        // The contract's getdents reads the whole directory from its start
        // and leaves the description's offset as it was.
        const [saved, se] = yield* fd.Seek(ctx, 0, SEEK_CUR)
        if (se !== null && se !== "ESPIPE") return err(se)
        if (se === null) {
          const [, e0] = yield* fd.Seek(ctx, 0, SEEK_SET)
          if (e0 !== null) return err(e0)
        }
        const [ents, e] = yield* fd.IterDirents(ctx)
        if (se === null) yield* fd.Seek(ctx, saved, SEEK_SET)
        if (e !== null) return err(e)
        const entries: DirEntry[] = ents
          .filter((d) => d.Name !== "." && d.Name !== "..")
          .map((d) => ({ name: d.Name, type: direntType(d.Type) }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        return { entries }
      }
      case "stat":
      case "lstat": {
        const pop = this.pop(op.path, op.op === "stat")
        if (typeof pop === "string") return err(pop)
        const [st, e] = yield* vfs.StatAt(ctx, creds, pop, {})
        return e !== null || st === null ? err(e ?? "EIO") : statResult(st)
      }
      case "access": {
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        let ats = 0
        if (op.mode !== "F_OK") {
          if (op.mode.includes("R_OK")) ats |= MayRead
          if (op.mode.includes("W_OK")) ats |= MayWrite
          if (op.mode.includes("X_OK")) ats |= MayExec
        }
        const e = yield* vfs.AccessAt(ctx, creds, ats, pop)
        return e !== null ? err(e) : {}
      }
      case "truncate": {
        if (op.length < 0) return err("EINVAL")
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.SetStatAt(ctx, creds, pop, { Stat: setStat({ mask: STATX_SIZE, size: op.length }), NeedWritePerm: true })
        return e !== null ? err(e) : {}
      }
      case "mkdir": {
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.MkdirAt(ctx, creds, pop, { Mode: (op.mode ?? 0o755) & 0o7777 })
        return e !== null ? err(e) : {}
      }
      case "rmdir": {
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.RmdirAt(ctx, creds, pop)
        return e !== null ? err(e) : {}
      }
      case "unlink": {
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.UnlinkAt(ctx, creds, pop)
        return e !== null ? err(e) : {}
      }
      case "rename": {
        let flags = 0
        for (const f of op.flags ?? []) flags |= f === "RENAME_NOREPLACE" ? RENAME_NOREPLACE : RENAME_EXCHANGE
        // renameat checks no flags itself: the filesystem's RenameAt does.
        const oldpop = this.pop(op.from, false)
        if (typeof oldpop === "string") return err(oldpop)
        const newpop = this.pop(op.to, false)
        if (typeof newpop === "string") return err(newpop)
        const e = yield* vfs.RenameAt(ctx, creds, oldpop, newpop, { Flags: flags, MustBeDir: false })
        return e !== null ? err(e) : {}
      }
      case "link": {
        const oldpop = this.pop(op.from, false)
        if (typeof oldpop === "string") return err(oldpop)
        const newpop = this.pop(op.to, false)
        if (typeof newpop === "string") return err(newpop)
        const e = yield* vfs.LinkAt(ctx, creds, oldpop, newpop)
        return e !== null ? err(e) : {}
      }
      case "symlink": {
        const target = cleanPath(op.target)
        if (target.length >= PATH_MAX) return err("ENAMETOOLONG")
        if (target.length === 0) return err("ENOENT")
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.SymlinkAt(ctx, creds, pop, target)
        return e !== null ? err(e) : {}
      }
      case "readlink": {
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const [target, e] = yield* vfs.ReadlinkAt(ctx, creds, pop)
        return e !== null ? err(e) : { target }
      }
      case "mknod": {
        const pop = this.pop(op.path, false)
        if (typeof pop === "string") return err(pop)
        const type = op.type === "fifo" ? S_IFIFO : op.type === "socket" ? S_IFSOCK : S_IFREG
        const e = yield* vfs.MknodAt(ctx, creds, pop, { Mode: type | ((op.mode ?? 0o644) & 0o7777), DevMajor: 0, DevMinor: 0 })
        return e !== null ? err(e) : {}
      }
      case "chmod": {
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.SetStatAt(ctx, creds, pop, { Stat: setStat({ mask: STATX_MODE, mode: op.mode & 0o7777 }) })
        return e !== null ? err(e) : {}
      }
      case "chown": {
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        let mask = 0
        if (op.uid !== undefined) mask |= STATX_UID
        if (op.gid !== undefined) mask |= STATX_GID
        const e = yield* vfs.SetStatAt(ctx, creds, pop, { Stat: setStat({ mask, uid: op.uid ?? 0, gid: op.gid ?? 0 }) })
        return e !== null ? err(e) : {}
      }
      case "utimens": {
        let mask = 0
        if (op.atime !== undefined) mask |= STATX_ATIME
        if (op.mtime !== undefined) mask |= STATX_MTIME
        // "Linux requires that the UTIME_OMIT check occur before checking
        // path or flags" (Utimensat): both omitted succeeds, path or not.
        if (mask === 0) return {}
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const time = (t: number | "UTIME_NOW" | undefined): number => (t === undefined ? 0 : t === "UTIME_NOW" ? UTIME_NOW : t)
        const e = yield* vfs.SetStatAt(ctx, creds, pop, { Stat: setStat({ mask, atime: time(op.atime), mtime: time(op.mtime) }) })
        return e !== null ? err(e) : {}
      }
      case "getxattr": {
        const name = checkXattrName(op.name)
        if (name !== null) return err(name)
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const [value, e] = yield* vfs.GetXattrAt(ctx, creds, pop, op.name, XATTR_SIZE_MAX)
        return e !== null ? err(e) : { value }
      }
      case "setxattr": {
        let flags = 0
        for (const f of op.flags ?? []) flags |= f === "XATTR_CREATE" ? XATTR_CREATE : XATTR_REPLACE
        if (op.value.length > XATTR_SIZE_MAX) return err("E2BIG")
        const name = checkXattrName(op.name)
        if (name !== null) return err(name)
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.SetXattrAt(ctx, creds, pop, { Name: op.name, Value: op.value, Flags: flags })
        return e !== null ? err(e) : {}
      }
      case "listxattr": {
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const [names, e] = yield* vfs.ListXattrAt(ctx, creds, pop, XATTR_SIZE_MAX)
        if (e !== null) return err(e)
        return { names: names.filter((n) => n.startsWith("user.")).sort() }
      }
      case "removexattr": {
        const name = checkXattrName(op.name)
        if (name !== null) return err(name)
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const e = yield* vfs.RemoveXattrAt(ctx, creds, pop, op.name)
        return e !== null ? err(e) : {}
      }
      case "statfs": {
        const pop = this.pop(op.path, true)
        if (typeof pop === "string") return err(pop)
        const [st, e] = yield* vfs.StatFSAt(ctx, creds, pop)
        return e !== null || st === null ? err(e ?? "EIO") : { namelen: st.nameLength }
      }
      case "sync": {
        // sync(2) reports nothing; syncfs(2) would return the first error.
        yield* vfs.SyncAllFilesystems(ctx)
        return {}
      }
      case "sleep":
        return {}
    }
  }

  /**
   * The tree as seen through the mount (the contract's `final`): walked as
   * root with getdents, lstat, read, readlink and the xattr calls, in the
   * model's toTree conventions (names sorted, defaults omitted, a second
   * name of a file as { link }).
   */
  *readTree(ctx: Ctx, record?: FinalRecorder): Sim<{ tree: Tree; root: Required<RootAttrs> }> {
    const rootCtx: Ctx = { ...ctx, creds: { uid: 0, gid: 0, groups: [] } }
    const firstPath = new Map<number, string>()
    const self = this
    const exec = (op: Op): Sim<OpResult> => (record === undefined ? self.exec(rootCtx, op) : record(op, () => self.exec(rootCtx, op)))
    let sparseRead = 0
    // A long file is read in preads of at most DENSE_MAX bytes, each a
    // piece of the tree's extents (a short read ends its span).
    const readSpans = function* (fd: string, spans: readonly Span[], pieces: Extent[]): Sim<void> {
      for (const sp of spans) {
        for (let off = sp.start; off < sp.end; ) {
          const count = Math.min(DENSE_MAX, sp.end - off)
          const r = yield* exec({ op: "pread", fd, offset: off, count })
          if (!("data" in r) || r.data.length === 0) break
          pieces.push({ offset: off, data: r.data })
          off += r.data.length
        }
      }
    }
    const walk = function* (dir: string): Sim<Tree> {
      const fdName = `\u0000tree${dir}`
      const out: Record<string, TreeNode> = {}
      const opened = yield* exec({ op: "open", path: dir === "" ? "/" : dir, flags: ["O_RDONLY", "O_DIRECTORY"], fd: fdName })
      if ("errno" in opened) return out
      const listed = yield* exec({ op: "getdents", fd: fdName })
      yield* exec({ op: "close", fd: fdName })
      if (!("entries" in listed)) return out
      for (const ent of listed.entries) {
        const path = `${dir}/${ent.name}`
        const st = yield* exec({ op: "lstat", path })
        if (!("ino" in st)) continue
        if (st.type !== "dir") {
          const first = firstPath.get(st.ino)
          if (first !== undefined) {
            define(out, ent.name, { link: first })
            continue
          }
          firstPath.set(st.ino, path)
        }
        const node: Record<string, unknown> = { type: st.type }
        if (st.type === "file") {
          const fd = `\u0000tree${path}`
          const o = yield* exec({ op: "open", path, flags: ["O_RDONLY", "O_NONBLOCK"], fd })
          if (st.size <= DENSE_MAX) {
            let data = ""
            if (!("errno" in o)) {
              const r = yield* exec({ op: "pread", fd, offset: 0, count: st.size })
              if ("data" in r) data = r.data
              yield* exec({ op: "close", fd })
            }
            node["data"] = data
          } else {
            const pieces: Extent[] = []
            if (!("errno" in o)) {
              const spans = (record?.spans ?? EDGE_SPANS)(st.size)
              let total = 0
              for (const sp of spans) total += sp.end - sp.start
              sparseRead += total
              if (sparseRead > FINAL_SPARSE_READ_MAX) {
                ctx.sched.stop(`internal limit: the final read-back of ${path} (${st.size} bytes) would read ${sparseRead} bytes of long files, more than ${FINAL_SPARSE_READ_MAX}`)
                return out
              }
              yield* readSpans(fd, spans, pieces)
              yield* exec({ op: "close", fd })
            }
            Object.assign(node, treeFields(fromExtents(st.size, pieces)))
          }
        }
        if (st.type === "symlink") {
          const r = yield* exec({ op: "readlink", path })
          node["target"] = "target" in r ? r.target : ""
        }
        if (st.type === "dir") node["children"] = yield* walk(path)
        if (st.mode !== TREE_DEFAULT_MODE[st.type]) node["mode"] = st.mode
        if (st.uid !== 0) node["uid"] = st.uid
        if (st.gid !== 0) node["gid"] = st.gid
        if (st.type !== "symlink") {
          const l = yield* exec({ op: "listxattr", path })
          if ("names" in l && l.names.length > 0) {
            const x: Record<string, string> = {}
            for (const n of l.names) {
              const v = yield* exec({ op: "getxattr", path, name: n })
              if ("value" in v) x[n] = v.value
            }
            node["xattrs"] = x
          }
        }
        define(out, ent.name, node as TreeNode)
      }
      return out
    }
    const tree = yield* walk("")
    const rst = yield* exec({ op: "stat", path: "/" })
    const root = "mode" in rst ? { mode: rst.mode, uid: rst.uid, gid: rst.gid } : { mode: 0o755, uid: 0, gid: 0 }
    return { tree, root }
  }

  /** Closes every fd still bound (at quiescence). */
  *closeAll(ctx: Ctx): Sim<void> {
    for (const name of [...this.fds.keys()].sort()) {
      const fd = this.fds.get(name)!
      this.fds.delete(name)
      yield* fd.DecRef(ctx)
    }
  }
}

const TREE_DEFAULT_MODE: Readonly<Record<NodeType, number>> = { file: 0o644, dir: 0o755, symlink: 0o777, fifo: 0o644, socket: 0o644 }

/** Sets a key even when it is "__proto__" (as the model's toTree does). */
function define(out: Record<string, TreeNode>, name: string, node: TreeNode): void {
  Object.defineProperty(out, name, { value: node, enumerable: true, writable: true, configurable: true })
}

/** copyInXattrName: an empty name or one over XATTR_NAME_MAX is ERANGE. */
function checkXattrName(name: string): Errno | null {
  if (name.length === 0 || name.length > XATTR_NAME_MAX) return "ERANGE"
  return null
}

/**
 * The syscall's error for a read or write that moved `n` bytes and ended
 * with `e`, or null where it returns its count (syscalls/linux/error.go,
 * handleIOErrorImpl): an error after a partial result is consumed (the
 * caller sees the short count, and a retry meets the error), except EFBIG.
 */
function ioResult(n: number, e: Errno | null): OpResult | null {
  if (e === null) return null
  if (n > 0 && e !== "EFBIG") return null
  return err(e)
}

function setStat(s: Partial<SetStatRequest> & { mask: number }): SetStatRequest {
  return { mode: 0, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ...s }
}

export type { SetStatOptions, Cred }
