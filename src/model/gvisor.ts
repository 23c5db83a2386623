// gVisor's departures from Linux, as its gofer client (with gVisor's VFS
// and syscall layers) makes them: the dialect a faithful port of the gofer
// is checked in. Each rule transcribes the order of checks of the gVisor
// function it names (the seeds in ../shared/seeds, and gVisor's vfs
// package), on the model's state, where that order gives a different
// result from Linux's; DIALECTS.md lists them with their sources.
//
// The gofer checks what it can in the client, then sends the RPC; the
// file server, running as root, checks only what the file system itself
// enforces (existence, types, emptiness). So a ruling is the client's
// checks in gVisor's order, ending in "server" (dialect.ts) when they all
// pass. Where the client's result depends on what it has cached (a child
// it has or has not looked up before), the ruling lists every result a
// cache state could give.

import { sizeOf } from "./filedata.js"
import type { Dialect, DialectToken, Ruling } from "./dialect.js"
import { Ctx, cleanPath, isErrno, lookupChild, MAXSYMLINKS, pathError, resolve } from "./path.js"
import { MAY_EXEC, MAY_READ, MAY_WRITE, S_ISGID, S_ISUID, S_ISVTX, S_IXGRP, isRoot, mayAccess, ownerOrCapable, stickyForbids } from "./perm.js"
import { Tx, type Inode, type ModelStateShape } from "./state.js"
import { PIPE_BUF, PIPE_SIZE } from "./ops.js"
import type { Cred, Errno, Op, OpenFlag, OpOf, OpResult, Stat } from "./types.js"

/** gofer maxFilenameLen: 9P strings have a 2-byte length. */
const GOFER_NAME_MAX = (1 << 16) - 1
/** linux.MaxSymlinkTraversals. */
const MAX_SYMLINK_TRAVERSALS = MAXSYMLINKS

export interface GoferDialectOptions {
  /** cache=remote_revalidating or none (InteropModeShared). */
  readonly shared: boolean
  /** cache=none: regular files are opened as special files (regularFilesUseSpecialFileFD). */
  readonly specialFileFDs: boolean
  /**
   * The file server may refuse mknod (EPERM): the gofer then keeps a
   * synthetic FIFO or socket in the client only (createSyntheticChildLocked),
   * whose attributes and listing are the client's own.
   */
  readonly synthetic?: boolean
}

/** What walkParentDirLocked yields: the parent directory and the last component. */
interface Parent {
  readonly dir: number
  readonly name: string
  /** The path ended in a slash (fspath.Path.Dir: rp.MustBeDir()). */
  readonly slash: boolean
}

/** Where a walk ended: the directory it ended in, the last component, and the file it names (the directory itself for `toParent` walks). */
interface Walked extends Parent {
  readonly ino: number
}

/** The path had no components ("/"): vfs's `!pop.Path.Begin.Ok()` on an absolute path. */
const NO_COMPONENTS = "no-components" as const

class G {
  readonly c: Ctx
  constructor(
    state: ModelStateShape,
    readonly cred: Cred,
  ) {
    // Reads only: the transaction is never committed.
    this.c = new Ctx(new Tx(state), cred, 0)
  }

  inode(ino: number): Inode {
    return this.c.inode(ino)
  }

  /** dentry.checkPermissions: vfs.GenericCheckPermissions. */
  may(ino: number, ats: number): boolean {
    return mayAccess(this.inode(ino), this.cred, ats)
  }

  /** CanActAsOwner: the owner, or CAP_FOWNER. */
  owner(ino: number): boolean {
    return ownerOrCapable(this.inode(ino), this.cred)
  }

  /** vfs.CheckDeleteSticky: Linux's check_sticky. */
  stickyForbids(dir: number, child: number): boolean {
    return stickyForbids(this.inode(dir), this.inode(child), this.cred)
  }

  /**
   * getChildLocked, as the server answers a walk: the child, ENOENT, or
   * ENAMETOOLONG for a missing name longer than the server's NAME_MAX.
   */
  child(dir: number, name: string): number | Errno {
    if (name.length > GOFER_NAME_MAX) return "ENAMETOOLONG"
    return lookupChild(this.c, dir, name)
  }

  /**
   * stepLocked over the components of `path` from the root, each symlink's
   * target spliced into the path as ResolvingPath.HandleSymlink does
   * (an absolute one restarting at the root). With `toParent`, every
   * component but the last (walkParentDirLocked: no search permission is
   * checked on the final parent; each caller checks what it needs, in its
   * own order); otherwise all of them (resolveLocked, openLocked), a final
   * symlink followed when `follow` or a trailing slash asks. `slash` is
   * whether the path as finally walked ends in a slash (rp.MustBeDir()),
   * and `absolute` whether the walk went through a symlink with an absolute
   * target, however it ended.
   */
  private walk(path: string, toParent: boolean, follow: boolean): { readonly end: Walked | typeof NO_COMPONENTS | Errno; readonly absolute: boolean } {
    let absolute = false
    const done = (end: Walked | typeof NO_COMPONENTS | Errno) => ({ end, absolute })
    const p = cleanPath(path)
    const bad = pathError(p)
    if (bad !== undefined) return done(bad)
    const queue = p.split("/").filter((x) => x !== "")
    let slash = p.endsWith("/")
    let d = this.c.root
    let links = 0
    if (queue.length === 0) return done(toParent ? NO_COMPONENTS : { dir: d, name: "", ino: d, slash })
    for (;;) {
      if (toParent && queue.length === 1) return done(this.inode(d).type !== "dir" ? "ENOTDIR" : { dir: d, name: queue[0]!, ino: d, slash })
      const name = queue.shift()!
      if (this.inode(d).type !== "dir") return done("ENOTDIR")
      if (!this.may(d, MAY_EXEC)) return done("EACCES")
      let next: number | Errno
      if (name === ".") next = d
      else if (name === "..") next = d === this.c.root ? d : this.inode(d).parent
      else next = this.child(d, name)
      if (isErrno(next)) return done(next)
      const node = this.inode(next)
      const last = queue.length === 0
      if (node.type === "symlink" && (!last || follow || slash)) {
        if (++links > MAX_SYMLINK_TRAVERSALS) return done("ELOOP")
        if (node.target === "") return done("ENOENT")
        if (node.target.startsWith("/")) {
          d = this.c.root
          absolute = true
        }
        if (last) slash = slash || node.target.endsWith("/")
        queue.unshift(...node.target.split("/").filter((x) => x !== ""))
        if (queue.length === 0) return done({ dir: d, name: "", ino: d, slash: false })
        continue
      }
      if (last) return done({ dir: d, name, ino: next, slash })
      d = next
    }
  }

  /** resolveLocked/openLocked: the file `path` names (see walk). */
  final(path: string, follow: boolean): { readonly ino: number; readonly slash: boolean } | Errno {
    const end = this.walk(path, false, follow).end
    return end === NO_COMPONENTS ? "ENOENT" : end
  }

  /** walkParentDirLocked: the parent directory and the last component (see walk). */
  parent(path: string): Parent | typeof NO_COMPONENTS | Errno {
    return this.walk(path, true, true).end
  }

  /**
   * Whether resolving `path` (a final symlink followed) goes through a
   * symlink with an absolute target: gVisor then restarts the walk at the
   * root (resolveAbsSymlinkError) in a new call, outside renameMu.
   */
  followsAbsoluteSymlink(path: string): boolean {
    return this.walk(path, false, true).absolute
  }
}

/** copyInPath and getTaskPathOperation of two paths, in order (renameat2, linkat): ENAMETOOLONG or ENOENT. */
function copyBoth(a: string, b: string): Errno | null {
  return pathError(cleanPath(a)) ?? pathError(cleanPath(b)) ?? null
}

function rule(name: string, results: readonly DialectToken[]): Ruling {
  return { rule: name, results }
}

/** The distinct tokens, in order. */
function uniq(ts: readonly DialectToken[]): DialectToken[] {
  return [...new Set(ts)]
}

// ---------------------------------------------------------------------------
// unlink, rmdir: vfs.UnlinkAt/RmdirAt, then gofer filesystem.unlinkAt.

function unlinkAt(g: G, path: string, dir: boolean): Ruling {
  const name = dir ? "gofer.rmdir" : "gofer.unlink"
  const p = g.parent(path)
  // vfs: a path with no components is EBUSY (Linux: unlink("/") is EISDIR).
  if (p === NO_COMPONENTS) return rule(`${name}.root-ebusy`, ["EBUSY"])
  if (isErrno(p)) return rule(`${name}.walk`, [p])
  // The parent's write and search permission come before anything about the name.
  if (!g.may(p.dir, MAY_WRITE | MAY_EXEC)) return rule(`${name}.parent-perm-first`, ["EACCES"])
  if (dir) {
    if (p.name === ".") return rule(`${name}.dot`, ["EINVAL"])
    if (p.name === "..") return rule(`${name}.dotdot`, ["ENOTEMPTY"])
  } else if (p.name === "." || p.name === "..") return rule(`${name}.dots`, ["EISDIR"])
  const sticky = (g.inode(p.dir).mode & S_ISVTX) !== 0
  const child = g.child(p.dir, p.name)
  if (sticky) {
    // The child is looked up (and so known) to decide the sticky rule.
    if (isErrno(child)) return rule(`${name}.sticky-lookup`, [child])
    if (g.stickyForbids(p.dir, child)) return rule(`${name}.sticky`, ["EPERM"])
    if (dir) return rule(`${name}.server`, ["server"])
    if (g.inode(child).type === "dir") return rule(`${name}.known-dir`, ["EISDIR"])
    if (p.slash) return rule(`${name}.slash`, ["ENOTDIR"])
    return rule(`${name}.server`, ["server"])
  }
  if (dir) return rule(`${name}.server`, ["server"])
  // Not sticky: only a cached child is known. A negative cached entry is
  // ENOENT; a cached directory is EISDIR; an unknown child with a trailing
  // slash is ENOTDIR before the server is asked (whether it exists or not).
  if (isErrno(child)) return rule(`${name}.slash-uncached`, uniq(p.slash ? ["ENOENT", "ENOTDIR"] : ["server"]))
  if (g.inode(child).type === "dir") return rule(`${name}.slash-uncached`, uniq(p.slash ? ["EISDIR", "ENOTDIR"] : ["EISDIR"]))
  return rule(`${name}.server`, [p.slash ? "ENOTDIR" : "server"])
}

// ---------------------------------------------------------------------------
// Creation: vfs.MkdirAt/MknodAt/SymlinkAt/LinkAt, then gofer doCreateAt
// ("First check if parent directory can be executed, then check for
// existence, and lastly check if mount is writable"), then its callback.

function createAt(g: G, name: string, path: string, dir: boolean, callback: () => Errno | null): Ruling {
  const p = g.parent(path)
  if (p === NO_COMPONENTS) return rule(`${name}.root`, ["EEXIST"])
  if (isErrno(p)) return rule(`${name}.walk`, [p])
  if (!g.may(p.dir, MAY_EXEC)) return rule(`${name}.parent-exec`, ["EACCES"])
  if (p.name === "." || p.name === "..") return rule(`${name}.dots`, ["EEXIST"])
  if (g.inode(p.dir).nlink === 0) return rule(`${name}.parent-deleted`, ["ENOENT"])
  if (p.name.length > GOFER_NAME_MAX) return rule(`${name}.name-max`, ["ENAMETOOLONG"])
  const child = g.child(p.dir, p.name)
  const exists = !isErrno(child)
  // After the cache: write permission (existence takes precedence), the
  // trailing slash of a non-directory, the callback, then the server.
  const uncached = (): DialectToken => {
    if (!g.may(p.dir, MAY_WRITE)) return exists ? "EEXIST" : child === "ENAMETOOLONG" ? "ENAMETOOLONG" : "EACCES"
    if (!dir && p.slash) return "ENOENT"
    const e = callback()
    if (e !== null) return e
    return "server"
  }
  // An existing child that is cached is EEXIST at once.
  if (exists) return rule(`${name}.cache-dependent`, uniq(["EEXIST", uncached()]))
  return rule(`${name}.order`, [uncached()])
}

function link(g: G, op: OpOf<"link">): Ruling {
  const copied = copyBoth(op.from, op.to)
  if (copied !== null) return rule("gofer.link.copy-paths-first", [copied])
  // vfs.LinkAt: the old path first, not following a final symlink.
  const src = resolve(g.c, op.from, false)
  if (isErrno(src)) return rule("gofer.link.old", [src])
  const pt = cleanPath(op.to)
  if (pt.length > 0 && pt.split("/").every((s) => s === "")) return rule("gofer.link.root", ["EEXIST"])
  const r = createAt(g, "gofer.link", op.to, false, () => {
    const s = g.inode(src)
    if (s.type === "dir") return "EPERM"
    if (!mayLinkG(g, src)) return "EPERM"
    if (s.nlink === 0) return "ENOENT"
    return null
  })
  // A setgid, group-executable source that Linux's safe_hardlink_source
  // refuses (EPERM) and vfs.MayLink lets through: the link is made.
  const s = g.inode(src)
  if (r.results.length === 1 && r.results[0] === "server" && !g.owner(src) && (s.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) return { ...r, rule: "gofer.link.setgid-exec-linkable" }
  return r
}

/**
 * vfs.MayLink (protected hardlinks): the owner, CAP_FOWNER, or a regular,
 * non-setuid file readable and writable. No setgid check: "Executable
 * setgid files should not get pinned to the filesystem, but we don't
 * support S_IXGRP anyway." is followed directly by the read-write check
 * (pkg/sentry/vfs/permissions.go), where Linux's safe_hardlink_source
 * refuses a setgid, group-executable file.
 */
function mayLinkG(g: G, ino: number): boolean {
  if (g.owner(ino)) return true
  const i = g.inode(ino)
  if (i.type !== "file") return false
  if ((i.mode & S_ISUID) !== 0) return false
  return g.may(ino, MAY_READ | MAY_WRITE)
}

// ---------------------------------------------------------------------------
// rename: vfs.RenameAt, then gofer RenameAt.

function rename(g: G, op: OpOf<"rename">, o: GoferDialectOptions): Ruling {
  const name = "gofer.rename"
  const flags = op.flags ?? []
  // The syscall copies both paths before resolving either.
  const copied = copyBoth(op.from, op.to)
  if (copied !== null) return rule(`${name}.copy-paths-first`, [copied])
  const from = g.parent(op.from)
  if (from === NO_COMPONENTS) return rule(`${name}.old-root`, ["EBUSY"])
  if (isErrno(from)) return rule(`${name}.old-walk`, [from])
  if (from.name === "." || from.name === "..") return rule(`${name}.old-dots`, ["EBUSY"])
  const to = g.parent(op.to)
  if (to === NO_COMPONENTS) return rule(`${name}.new-root`, ["EBUSY"])
  if (isErrno(to)) return rule(`${name}.new-walk`, [to])
  const noreplace = flags.includes("RENAME_NOREPLACE")
  if (flags.some((f) => f !== "RENAME_NOREPLACE")) return rule(`${name}.unsupported-flags`, ["EINVAL"])
  if (o.shared && noreplace) return rule(`${name}.noreplace-shared`, ["EINVAL"])
  if (to.name === "." || to.name === "..") return rule(`${name}.new-dots`, [noreplace ? "EEXIST" : "EBUSY"])
  const oldParent = from.dir
  const newParent = to.dir
  if (!g.may(oldParent, MAY_WRITE | MAY_EXEC)) return rule(`${name}.old-parent-perm-first`, ["EACCES"])
  const renamed = g.child(oldParent, from.name)
  if (isErrno(renamed)) return rule(`${name}.renamed`, [renamed])
  if (g.stickyForbids(oldParent, renamed)) return rule(`${name}.sticky`, ["EPERM"])
  const renamedIsDir = g.inode(renamed).type === "dir"
  if (renamedIsDir) {
    if (renamed === newParent || isAncestor(g, renamed, newParent)) return rule(`${name}.into-itself`, ["EINVAL"])
    if (oldParent !== newParent && !g.may(renamed, MAY_WRITE)) return rule(`${name}.dir-perm`, ["EACCES"])
  } else if (from.slash || to.slash) return rule(`${name}.slash`, ["ENOTDIR"])
  if (oldParent !== newParent && !g.may(newParent, MAY_WRITE | MAY_EXEC)) return rule(`${name}.new-parent-perm`, ["EACCES"])
  if (g.inode(newParent).nlink === 0) return rule(`${name}.new-parent-deleted`, ["ENOENT"])
  const replaced = g.child(newParent, to.name)
  if (isErrno(replaced) && replaced !== "ENOENT") return rule(`${name}.replaced`, [replaced])
  if (!isErrno(replaced)) {
    if (noreplace) return rule(`${name}.noreplace`, ["EEXIST"])
    if (g.inode(replaced).type === "dir") {
      if (!renamedIsDir) return rule(`${name}.over-dir`, ["EISDIR"])
      if (isAncestor(g, replaced, renamed)) return rule(`${name}.over-ancestor`, ["ENOTEMPTY"])
    } else if (to.slash || renamedIsDir) return rule(`${name}.over-file`, ["ENOTDIR"])
  }
  if (oldParent === newParent && from.name === to.name) return rule(`${name}.same`, ["ok"])
  // No sticky check on the replaced file (Linux's may_delete makes one).
  return rule(`${name}.server`, ["server"])
}

/** genericIsAncestorDentry: whether `a` is a proper ancestor of `d`. */
function isAncestor(g: G, a: number, d: number): boolean {
  let cur = d
  for (;;) {
    if (cur === g.c.root) return false
    const parent = g.inode(cur).parent
    if (parent === a) return true
    if (parent === cur) return false
    cur = parent
  }
}

// ---------------------------------------------------------------------------
// open: vfs.OpenAt and gofer OpenAt / dentry.open.

/** vfs.AccessTypesForOpenFlags: O_RDONLY reads (and writes with O_TRUNC), O_WRONLY writes, anything else both. */
function accessTypesForOpenFlags(fl: ReadonlySet<OpenFlag>): number {
  if (fl.has("O_WRONLY") && !fl.has("O_RDWR")) return MAY_WRITE
  if (!fl.has("O_WRONLY") && !fl.has("O_RDWR")) return fl.has("O_TRUNC") ? MAY_READ | MAY_WRITE : MAY_READ
  return MAY_READ | MAY_WRITE
}

function open(g: G, op: OpOf<"open">): Ruling | null {
  const fl = new Set<OpenFlag>(op.flags)
  if (fl.has("O_PATH")) {
    // vfs.OpenAt (the seed) resolves an O_PATH open with GetDentryAt of the
    // path as given: O_DIRECTORY is not checked, and does not make a final
    // symlink followed (Linux: ENOTDIR for a non-directory).
    if (!fl.has("O_DIRECTORY")) return null
    return rule("gofer.open.opath-ignores-directory", [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_DIRECTORY") } }])
  }
  const creat = fl.has("O_CREAT")
  if (creat && fl.has("O_DIRECTORY")) {
    // Linux 6.4+ refuses O_CREAT|O_DIRECTORY (EINVAL); gVisor opens with
    // rp.MustBeDir() and refuses to create a directory: EISDIR, after the
    // parent's walk and search permission.
    const p = g.parent(op.path)
    if (p === NO_COMPONENTS) return rule("gofer.open.creat-directory", ["EISDIR"])
    if (isErrno(p)) return rule("gofer.open.creat-directory", [p])
    if (!g.may(p.dir, MAY_EXEC)) return rule("gofer.open.creat-directory", ["EACCES"])
    return rule("gofer.open.creat-directory", ["EISDIR"])
  }
  // openLocked: with O_CREAT, a path ending in a slash is EISDIR once its
  // parent is walked and searchable, even for "." and ".." (Linux: EEXIST
  // for those with O_EXCL).
  const clean = cleanPath(op.path)
  // "/" itself: openLocked's rp.Done() branch refuses O_CREAT with
  // rp.MustBeDir() (the path ends in a slash) before O_EXCL's EEXIST.
  if (creat && clean.length > 0 && clean.split("/").every((x) => x === "")) return rule("gofer.open.creat-slash", ["EISDIR"])
  if (creat && clean.endsWith("/") && clean.split("/").some((x) => x !== "")) {
    const p = g.parent(op.path)
    if (p === NO_COMPONENTS) return null
    if (isErrno(p)) return rule("gofer.open.creat-slash", [p])
    if (!g.may(p.dir, MAY_EXEC)) return rule("gofer.open.creat-slash", ["EACCES"])
    return rule("gofer.open.creat-slash", ["EISDIR"])
  }
  // dentry.open checks the access the flags ask for before refusing to open a
  // directory for writing or with O_CREAT (Linux: EISDIR first).
  const excl = creat && fl.has("O_EXCL")
  if (excl) return null
  // O_DIRECTORY sets rp.MustBeDir(), and ShouldFollowSymlink() then follows a
  // final symlink despite O_NOFOLLOW: the directory it reaches goes through
  // dentry.open's checks like any other (gofer.open.nofollow-directory-follows
  // alone would give Linux's order for it, EISDIR first).
  const target = g.final(op.path, !fl.has("O_NOFOLLOW") || fl.has("O_DIRECTORY"))
  // A trailing slash (the path's or a followed symlink's) with O_CREAT is EISDIR first, in both.
  if (isErrno(target) || (creat && target.slash)) return null
  const ino = target.ino
  if (g.inode(ino).type !== "dir") return null
  const ats = accessTypesForOpenFlags(fl)
  if (!creat && (ats & MAY_WRITE) === 0) return null
  if (!g.may(ino, ats)) return rule("gofer.open.perm-before-eisdir", ["EACCES"])
  return null
}

/** Whether a description of FIFO `ino` opened with access mode 3 is open: the only kind that neither reads nor writes. */
function hasMode3Description(g: G, ino: number): boolean {
  const fds = g.c.tx.fds()
  return Object.keys(fds).some((k) => {
    const f = fds[k]!
    return f.ino === ino && !f.readable && !f.writable && !f.pathOnly
  })
}

/**
 * The read-write server handle of a FIFO opened with access mode 3 (see
 * openFifoMode3) is a reader there: a later O_WRONLY|O_NONBLOCK open finds
 * one, where Linux (which never opened it) says ENXIO. Such a description
 * is the only kind that is neither readable nor writable on a FIFO.
 */
function fifoWriteOpenFindsPhantomReader(g: G, op: OpOf<"open">, linux: OpResult): Ruling | null {
  if (!("errno" in linux) || linux.errno !== "ENXIO") return null
  const target = g.final(op.path, !op.flags.includes("O_NOFOLLOW"))
  if (isErrno(target) || g.inode(target.ino).type !== "fifo") return null
  if (!hasMode3Description(g, target.ino)) return null
  const rdwr = [...op.flags.filter((f) => f !== "O_WRONLY"), "O_RDWR" as const]
  return {
    rule: "gofer.open.fifo-mode-3",
    results: [{ as: { ...op, flags: rdwr } }],
    adjust: (tx) => {
      const f = tx.fd(op.fd)
      if (f !== undefined) tx.setFd(op.fd, { ...f, readable: false })
    },
  }
}

/**
 * vfs.OpenAt makes O_DIRECTORY set rp.MustBeDir(), and
 * ShouldFollowSymlink() follows a final symlink whenever MustBeDir(): with
 * O_NOFOLLOW|O_DIRECTORY gVisor follows it (Linux: ENOTDIR, or ELOOP).
 */
function openNofollowDirectory(g: G, op: OpOf<"open">): Ruling | null {
  const fl = new Set<OpenFlag>(op.flags)
  if (!fl.has("O_NOFOLLOW") || !fl.has("O_DIRECTORY") || fl.has("O_PATH") || fl.has("O_CREAT")) return null
  const target = g.final(op.path, false)
  if (isErrno(target) || g.inode(target.ino).type !== "symlink") return null
  return rule("gofer.open.nofollow-directory-follows", [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_NOFOLLOW") } }])
}

/**
 * Linux's do_open refuses O_CREAT on an existing file that is neither a
 * regular file nor a FIFO (a symlink not followed, a socket) in a
 * world-writable sticky directory when neither the caller nor the
 * directory's owner owns it (may_create_in_sticky: EACCES, even for root).
 * gVisor has no such check: filesystem.OpenAt goes from "if mustCreate {
 * return nil, linuxerr.EEXIST }" to "Open existing child or follow
 * symlink" and child.open, which refuses a symlink ("case linux.S_IFLNK:
 * ... return nil, linuxerr.ELOOP") and opens a socket as without O_CREAT.
 */
function openCreatNoStickyCheck(g: G, op: OpOf<"open">, linux: OpResult): Ruling | null {
  const fl = new Set<OpenFlag>(op.flags)
  if (!fl.has("O_CREAT") || fl.has("O_EXCL") || fl.has("O_PATH") || fl.has("O_DIRECTORY")) return null
  if (!("errno" in linux) || linux.errno !== "EACCES") return null
  const target = g.final(op.path, !fl.has("O_NOFOLLOW"))
  if (isErrno(target) || target.slash) return null
  const type = g.inode(target.ino).type
  if (type !== "symlink" && type !== "socket") return null
  return rule("gofer.open.creat-no-sticky-check", [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_CREAT") } }])
}

/**
 * O_TRUNC is sent to the server in Tlopen, which truncates as root and so
 * keeps setuid and setgid (Linux clears them for a caller without
 * CAP_FSETID).
 */
function openTruncKeepsMode(g: G, op: OpOf<"open">): Ruling | null {
  const fl = new Set<OpenFlag>(op.flags)
  if (!fl.has("O_TRUNC") || fl.has("O_PATH") || (fl.has("O_CREAT") && fl.has("O_EXCL"))) return null
  const target = g.final(op.path, !fl.has("O_NOFOLLOW"))
  if (isErrno(target) || g.inode(target.ino).type !== "file") return null
  const mode = g.inode(target.ino).mode
  if ((mode & (S_ISUID | S_ISGID)) === 0) return null
  return setModeOnSuccess("gofer.open.trunc-keeps-suid", target.ino, mode, ["linux"])
}

/**
 * openSpecialFile refuses O_DIRECT (after dentry.open's permission check):
 * FIFOs and sockets always, and regular files under cache=none, which opens
 * them that way. Linux's tmpfs allows it for files, and a FIFO's own open
 * (ENXIO...) comes before the O_DIRECT check.
 */
function openDirectSpecial(g: G, op: OpOf<"open">, regularFiles: boolean): Ruling | null {
  const fl = new Set<OpenFlag>(op.flags)
  if (!fl.has("O_DIRECT") || fl.has("O_PATH") || (fl.has("O_CREAT") && fl.has("O_EXCL"))) return null
  if (fl.has("O_CREAT") && fl.has("O_DIRECTORY")) return null
  const target = g.final(op.path, !fl.has("O_NOFOLLOW") || fl.has("O_DIRECTORY"))
  if (isErrno(target)) return null
  const type = g.inode(target.ino).type
  if (!(type === "fifo" || type === "socket" || (regularFiles && type === "file"))) return null
  if (fl.has("O_DIRECTORY") || target.slash) return null
  if (!g.may(target.ino, accessTypesForOpenFlags(fl))) return null
  return rule("gofer.open.direct-special-file", ["EINVAL"])
}

/**
 * A remote FIFO opened with access mode 3 (O_WRONLY|O_RDWR): Linux's
 * fifo_open refuses it (EINVAL); the gofer asks the server for a read-write
 * handle (AccessTypesForOpenFlags gives read and write) and binds a
 * description that can neither read nor write.
 */
function openFifoMode3(g: G, op: OpOf<"open">): Ruling | null {
  if (!(op.flags.includes("O_WRONLY") && op.flags.includes("O_RDWR")) || op.flags.includes("O_PATH")) return null
  if (op.flags.includes("O_CREAT") && op.flags.includes("O_DIRECTORY")) return null
  const ino = resolve(g.c, op.path, !op.flags.includes("O_NOFOLLOW"), op.flags.includes("O_DIRECTORY"))
  if (isErrno(ino) || g.inode(ino).type !== "fifo") return null
  if (op.flags.includes("O_CREAT") && op.flags.includes("O_EXCL")) return null
  const flags = op.flags.filter((f) => f !== "O_WRONLY")
  return {
    rule: "gofer.open.fifo-mode-3",
    results: [{ as: { ...op, flags } }],
    adjust: (tx) => {
      const f = tx.fd(op.fd)
      if (f !== undefined) tx.setFd(op.fd, { ...f, readable: false, writable: false })
    },
  }
}

/**
 * truncate(2): CheckSetStat's write permission (NeedWritePerm) comes
 * before the file type (EISDIR, EINVAL), which the client checks only
 * where its metadata is authoritative and the server otherwise.
 */
function truncate(g: G, op: OpOf<"truncate">): Ruling | null {
  if (op.length < 0) return null
  const ino = resolve(g.c, op.path, true)
  if (isErrno(ino)) return null
  if (!g.may(ino, MAY_WRITE)) return rule("gofer.truncate.perm-first", ["EACCES"])
  const i = g.inode(ino)
  if (i.type !== "file") return null
  return setModeOnSuccess("gofer.truncate.clear-suid-sgid", ino, clearSUIDAndSGID(i.mode), ["linux"])
}

// ---------------------------------------------------------------------------
// Metadata: vfs.CheckSetStat.

function utimens(g: G, op: OpOf<"utimens">): Ruling | null {
  if (op.atime === undefined && op.mtime === undefined) return null
  const ino = resolve(g.c, op.path, true)
  if (isErrno(ino) || g.owner(ino)) return null
  // Only an explicit time needs the owner; UTIME_NOW (with the other
  // omitted or also now) needs write permission. Linux asks the owner for
  // anything but both UTIME_NOW.
  const explicit = typeof op.atime === "number" || typeof op.mtime === "number"
  if (explicit) return null
  return rule("gofer.utimens.now-needs-write", [g.may(ino, MAY_WRITE) ? "ok" : "EACCES"])
}

function chown(g: G, op: OpOf<"chown">, options: GoferDialectOptions): Ruling | null {
  const ino = resolve(g.c, op.path, true)
  if (isErrno(ino)) return null
  const i = g.inode(ino)
  const NO_ID = 0xffff_ffff
  const uid = op.uid === NO_ID ? undefined : op.uid
  const gid = op.gid === NO_ID ? undefined : op.gid
  if (uid !== undefined && !((g.cred.uid === i.uid && uid === i.uid) || isRoot(g.cred))) return rule("gofer.chown.check", ["EPERM"])
  if (gid !== undefined && !((g.cred.uid === i.uid && (g.cred.gid === gid || g.cred.groups.includes(gid))) || isRoot(g.cred))) {
    return rule("gofer.chown.check", ["EPERM"])
  }
  // Nothing to change: no RPC. Otherwise the server chowns as root, and
  // clears setuid/setgid by root's rules.
  if (uid === undefined && gid === undefined) return rule("gofer.chown.nothing", ["ok"])
  // dentry.setStat clears setuid/setgid in its cache only when an id
  // changes; the server's chown (as root) clears them whenever it runs. Where
  // metadata is cached, the client keeps showing its own mode (a finding).
  const changes = (uid !== undefined && uid !== i.uid) || (gid !== undefined && gid !== i.gid)
  if (!changes && !options.shared && i.type !== "dir") return setModeOnSuccess("gofer.chown.same-ids-keeps-cached-mode", ino, i.mode, ["server"])
  return rule("gofer.chown.server", ["server"])
}

// ---------------------------------------------------------------------------
// Extended attributes: dentry.checkXattrPermissions.

function xattr(g: G, path: string, attr: string, ats: number): Ruling | null {
  // The name's own checks (ERANGE) come first in both.
  if (attr.length === 0 || attr.length > 255) return null
  const ino = resolve(g.c, path, true)
  if (isErrno(ino)) return null
  if (attr.startsWith("security.") || attr.startsWith("system.")) return rule("gofer.xattr.security-system", ["EOPNOTSUPP"])
  const i = g.inode(ino)
  if (!g.may(ino, ats)) return rule("gofer.xattr.perm-first", ["EACCES"])
  const write = (ats & MAY_WRITE) !== 0
  if (attr.startsWith("trusted.")) {
    if (!isRoot(g.cred)) return rule("gofer.xattr.trusted", [write ? "EPERM" : "ENODATA"])
  } else if (attr.startsWith("user.")) {
    if (i.type !== "file" && i.type !== "dir") return rule("gofer.xattr.user-type", [write ? "EPERM" : "ENODATA"])
    if (i.type === "dir" && (i.mode & S_ISVTX) !== 0 && write && !g.owner(ino)) return rule("gofer.xattr.sticky", ["EPERM"])
  }
  return rule("gofer.xattr.server", ["server"])
}

// ---------------------------------------------------------------------------
// Data: the syscalls' order, and regularFileFD.pwrite's setuid clearing.

function positional(g: G, op: OpOf<"pread"> | OpOf<"pwrite">): Ruling | null {
  // Pread64/Pwrite64 look the file up before checking the offset.
  if (op.offset >= 0) return null
  const f = g.c.tx.fd(op.fd)
  if (f === undefined) return rule("gofer.positional.ebadf-first", ["EBADF"])
  return null
}

/** vfs.ClearSUIDAndSGID: setuid always, setgid when group-executable; whoever writes. */
function clearSUIDAndSGID(mode: number): number {
  let m = mode & ~S_ISUID
  if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) m &= ~S_ISGID
  return m
}

/**
 * regularFileFD.pwrite clears setuid and setgid after every write of at
 * least one byte, by ClearSUIDAndSGID, whoever the writer (Linux: only
 * writers without CAP_FSETID, and setgid by setattr_should_drop_sgid).
 */
function writeMode(g: G, op: OpOf<"write"> | OpOf<"pwrite">, specialFileFDs: boolean): Ruling | null {
  if (op.data.length === 0) return null
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || f.pathOnly) return null
  const i = g.inode(f.ino)
  if (i.type !== "file") return null
  // cache=none writes through specialFileFD.pwrite, which clears nothing:
  // the server writes as root, and root keeps both bits.
  const mode = specialFileFDs ? i.mode : clearSUIDAndSGID(i.mode)
  return setModeOnSuccess(specialFileFDs ? "gofer.write.special-file-keeps-suid" : "gofer.write.clear-suid-sgid", f.ino, mode, ["linux"])
}

/**
 * regularFileFD.pwrite sets the offset to the file's size for O_APPEND
 * ("offset = int64(d.size)") before it copies anything, and returns
 * `offset + n` as the final offset, which Write stores: a write of no bytes
 * moves an O_APPEND description's offset to the end of the file
 * (specialFileFD.pwrite, regular files under cache=none, does the same).
 * Linux's generic_write_checks returns for a count of 0 before it looks at
 * IOCB_APPEND: the offset stays.
 */
function emptyAppendWrite(g: G, op: OpOf<"write">): Ruling | null {
  if (op.data.length !== 0) return null
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || f.pathOnly || !f.writable || !f.append) return null
  const i = g.inode(f.ino)
  if (i.type !== "file" || f.offset === sizeOf(i.data)) return null
  const end = sizeOf(i.data)
  return {
    rule: "gofer.write.empty-append-moves-offset",
    results: ["linux"],
    adjust: (tx) => {
      const d = tx.fd(op.fd)
      if (d !== undefined) tx.setFd(op.fd, { ...d, offset: end })
    },
  }
}

/** Linux's result (or `results`), with the file's mode set to `mode` when the op succeeds. */
function setModeOnSuccess(name: string, ino: number, mode: number, results: readonly DialectToken[]): Ruling {
  return {
    rule: name,
    results,
    adjust: (tx) => {
      if (tx.must(ino).mode !== mode) tx.update(ino, { mode })
    },
  }
}

/**
 * A FIFO write with no reader: Linux says EPIPE. A description opened with
 * access mode 3 (openFifoMode3) reads nothing, but its read-write server
 * handle is a reader on the server, so the gofer's write goes into the
 * pipe (while there is room: the model's pipe size, as in Linux).
 */
function fifoWriteToPhantomReader(g: G, op: OpOf<"write">, linux: OpResult): Ruling | null {
  if (!("errno" in linux) || linux.errno !== "EPIPE") return null
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || g.inode(f.ino).type !== "fifo") return null
  if (!hasMode3Description(g, f.ino)) return null
  const room = PIPE_SIZE - sizeOf(g.inode(f.ino).data)
  if (room <= 0 || (op.data.length <= PIPE_BUF && op.data.length > room)) return rule("gofer.open.fifo-mode-3", ["EAGAIN"])
  const n = Math.min(room, op.data.length)
  return {
    rule: "gofer.open.fifo-mode-3",
    results: [{ result: { count: n } }],
    adjust: (tx) => tx.update(f.ino, { data: (tx.must(f.ino).data as string) + op.data.slice(0, n) }),
  }
}

/**
 * dentry.setStat (2022): a size change clears setuid and setgid by
 * ClearSUIDAndSGID, whoever truncates (Linux: only callers without
 * CAP_FSETID, and setgid by setattr_should_drop_sgid).
 */
function ftruncateMode(g: G, op: OpOf<"ftruncate">): Ruling | null {
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || f.pathOnly) return null
  const i = g.inode(f.ino)
  if (i.type !== "file") return null
  return setModeOnSuccess("gofer.truncate.clear-suid-sgid", f.ino, clearSUIDAndSGID(i.mode), ["linux"])
}

/**
 * getDirents: "p9 does not expose 9P2000.U's DMDEVICE, DMNAMEDPIPE, or
 * DMSOCKET", so FIFOs and sockets are listed as regular files.
 */
function getdents(linux: OpResult): Ruling | null {
  if (!("entries" in linux)) return null
  if (!linux.entries.some((e) => e.type === "fifo" || e.type === "socket")) return null
  const entries = linux.entries.map((e) => (e.type === "fifo" || e.type === "socket" ? { ...e, type: "file" as const } : e))
  return rule("gofer.getdents.special-as-regular", [{ result: { entries } }])
}

/**
 * unlinkAt never updates the removed file's cached link count: an open
 * description of it may still report the count it had (1 for a file, 2 for
 * an empty directory) where metadata is authoritative.
 */
function fstat(g: G, op: OpOf<"fstat">, linux: OpResult, shared: boolean): Ruling | null {
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || !("nlink" in linux) || !("type" in linux) || linux.nlink !== 0) return null
  // A removed directory keeps the 2 it had (rmdir updates only the parent's count).
  const stale: Stat = { ...(linux as Stat), nlink: linux.type === "dir" ? 2 : 1 }
  if (!shared || linux.type !== "dir") return rule("gofer.fstat.stale-nlink-after-unlink", ["linux", { result: stale }])
  // Under InteropModeShared the description's Stat refetches the server's
  // attributes (the server reports 0), and dentry.statTo reports a count of 0
  // as 1, taking it for a server without link counts.
  return rule("gofer.fstat.zero-nlink-as-one", ["linux", { result: stale }, { result: { ...(linux as Stat), nlink: 1 } }])
}

/**
 * A FIFO read with no writer: Linux reads end-of-file. The gofer's FIFO
 * handles are opened on the server for reading and writing whenever the
 * open's access types include both (O_RDONLY|O_TRUNC, access mode 3), and
 * such a handle is a writer there: the read may then be EAGAIN.
 */
function fifoRead(g: G, op: OpOf<"read">, linux: OpResult): Ruling | null {
  const f = g.c.tx.fd(op.fd)
  if (f === undefined || !("data" in linux) || linux.data !== "" || op.count === 0) return null
  if (g.inode(f.ino).type !== "fifo" || !f.nonblock) return null
  return rule("gofer.fifo.server-rdwr-handle", ["linux", "EAGAIN"])
}

/** A FIFO or socket's stat: a synthetic one may stand for it. */
function isSpecialStat(r: OpResult): r is Stat {
  return "type" in r && "nlink" in r && (r.type === "fifo" || r.type === "socket")
}

/**
 * A server that refuses mknod (EPERM): MknodAt falls back to a synthetic
 * FIFO or socket (createSyntheticChildLocked), whose link count is 2
 * ("nlink: 2" there, whatever the type; the server never counts it). The
 * model does not know which FIFOs and sockets the server refused, so any
 * FIFO or socket may report 2 (its other fields are Linux's: the mode and
 * owners asked for, size 0).
 */
function syntheticNlink(linux: OpResult, base: Ruling | null): Ruling | null {
  if (!isSpecialStat(linux) || linux.nlink === 2) return base
  const synthetic: DialectToken = { result: { ...linux, nlink: 2 } }
  if (base === null) return rule("gofer.stat.synthetic-nlink-2", ["linux", synthetic])
  // fstat's rules (a removed file) give results only; the synthetic one joins them.
  if (base.adjust !== undefined || base.results.some((t) => typeof t === "string" && t !== "linux")) return base
  return { ...base, results: [...base.results, synthetic] }
}

/**
 * A synthetic FIFO or socket is listed by getDirents from the client's own
 * dentry ("Type: linux.FileMode(child.mode.Load()).DirentType()", beside
 * the server's entries), so with its own type where the server's FIFOs and
 * sockets are DT_REG (gofer.getdents.special-as-regular): each FIFO or
 * socket may be listed either way.
 */
function syntheticDirents(linux: OpResult): Ruling | null {
  if (!("entries" in linux)) return null
  const special = linux.entries.flatMap((e, i) => (e.type === "fifo" || e.type === "socket" ? [i] : []))
  if (special.length === 0) return null
  // Every choice of which are synthetic, up to a bound (a directory of a generated run has a few).
  const n = Math.min(special.length, SYNTHETIC_DIRENTS_MAX)
  const results: DialectToken[] = []
  for (let mask = 0; mask < 1 << n; mask++) {
    const own = new Set(special.filter((_, k) => k < n && (mask & (1 << k)) !== 0))
    results.push({ result: { entries: linux.entries.map((e, i) => (special.includes(i) && !own.has(i) ? { ...e, type: "file" as const } : e)) } })
  }
  return rule("gofer.getdents.synthetic-own-type", results)
}

/**
 * A synthetic file has no server file (file.isNil()): getxattr is ENODATA,
 * setxattr and removexattr EPERM, before any permission check (gofer.go's
 * getxattr, setxattr, removexattr). For a FIFO or socket, the ruling gets
 * that result beside its own where those leave the state as it is (a
 * success that sets a trusted xattr as root is not covered: a known gap).
 */
function syntheticXattr(g: G, path: string, write: boolean, linux: OpResult, base: Ruling | null): Ruling | null {
  const ino = resolve(g.c, path, true)
  if (isErrno(ino)) return base
  const type = g.inode(ino).type
  if (type !== "fifo" && type !== "socket") return base
  const own: DialectToken = write ? "EPERM" : "ENODATA"
  const results = base?.results ?? ["linux"]
  const unchanged = (t: DialectToken): boolean => (typeof t === "string" ? t !== "server" && (t !== "linux" || "errno" in linux) : false)
  if (write && !results.every(unchanged)) return base
  if (base?.adjust !== undefined) return base
  return rule("gofer.xattr.synthetic", uniq([...results, own]))
}

/**
 * MknodAt's synthetic fallback gives the file the caller's effective gid
 * ("kgid: creds.EffectiveKGID", gofer_filesystem.go), where the server (as
 * Linux) gives it a setgid parent's group. In a history whose server
 * refuses mknod, a FIFO or socket the client makes is taken as synthetic
 * (the swarm's refusing server refuses the run's first Tumknods): in a
 * setgid directory of another group, it gets the caller's gid.
 */
function syntheticMknodGid(g: G, op: OpOf<"mknod">, base: Ruling): Ruling {
  if (op.type !== "fifo" && op.type !== "socket") return base
  if (!base.results.includes("server") || base.adjust !== undefined) return base
  const p = g.parent(op.path)
  if (p === NO_COMPONENTS || isErrno(p)) return base
  const dir = g.inode(p.dir)
  if ((dir.mode & S_ISGID) === 0 || dir.gid === g.cred.gid) return base
  const cred = g.cred
  return {
    rule: "gofer.mknod.synthetic-caller-gid",
    results: base.results,
    adjust: (tx) => {
      const ino = resolve(new Ctx(tx, cred, 0), op.path, false)
      if (!isErrno(ino) && tx.must(ino).gid !== cred.gid) tx.update(ino, { gid: cred.gid })
    },
  }
}

/** The most FIFOs and sockets of one listing whose types syntheticDirents varies (2^n results); past them, listed as DT_REG. */
const SYNTHETIC_DIRENTS_MAX = 6

/** The paths an op resolves (to test for absolute symlinks on the way). */
function pathsOf(op: Op): string[] {
  switch (op.op) {
    case "rename":
    case "link":
      return [op.from, op.to]
    default:
      return "path" in op ? [op.path] : []
  }
}

const RESOLUTION_ERRORS: readonly DialectToken[] = ["ENOENT", "ENOTDIR", "ELOOP", "EACCES"]

/**
 * A walk that meets an absolute symlink restarts from the root in a new
 * filesystem call, outside renameMu: the rest of the path may then be
 * resolved after a concurrent rename, which no single point of the op's
 * interval explains. Where Linux's result is an error (the op changes
 * nothing), any resolution error is then allowed.
 */
function absoluteSymlinkRestart(g: G, op: Op, linux: OpResult, ruling: Ruling | null): Ruling | null {
  if (!("errno" in linux)) return ruling
  if (ruling !== null && ruling.results.some((t) => typeof t !== "string" || t === "ok" || t === "server")) return ruling
  if (!pathsOf(op).some((p) => g.followsAbsoluteSymlink(p))) return ruling
  const base = ruling?.results ?? ["linux"]
  return { rule: ruling?.rule ?? "gofer.walk.absolute-symlink-restart", results: uniq([...base, ...RESOLUTION_ERRORS]) }
}

/** The gofer's dialect; `options` are the mount's. */
export function goferDialect(options: GoferDialectOptions): Dialect {
  return {
    name: (options.specialFileFDs ? "gvisor-gofer-none" : options.shared ? "gvisor-gofer-shared" : "gvisor-gofer") + (options.synthetic === true ? "+synthetic" : ""),
    // vfs.VirtualFilesystem.RenameAt and LinkAt resolve the old path in a
    // filesystem call of their own; an absolute symlink restarts the walk
    // in a new call (resolveAbsSymlinkError).
    nonAtomicWalks: true,
    // checkPermissions and CheckSetStat read the cached mode, uid and gid
    // (atomic loads) before the RPC, under no lock setStat takes: a chmod or
    // chown may land between an op's checks and its effect.
    earlyPermissionChecks: true,
    rule(before: ModelStateShape, op: Op, cred: Cred, linux: OpResult): Ruling | null {
      const g = new G(before, cred)
      return absoluteSymlinkRestart(g, op, linux, opRule(g, op, linux))
    },
  }

  function opRule(g: G, op: Op, linux: OpResult): Ruling | null {
      switch (op.op) {
        case "unlink":
          return unlinkAt(g, op.path, false)
        case "rmdir":
          return unlinkAt(g, op.path, true)
        case "mkdir":
          return createAt(g, "gofer.mkdir", op.path, true, () => null)
        case "mknod": {
          const r = createAt(g, "gofer.mknod", op.path, false, () => null)
          return options.synthetic === true ? syntheticMknodGid(g, op, r) : r
        }
        case "symlink":
          // The target is copied (ENAMETOOLONG, ENOENT) before anything, as in Linux.
          if (pathError(cleanPath(op.target)) !== undefined) return null
          return createAt(g, "gofer.symlink", op.path, false, () => null)
        case "link":
          return link(g, op)
        case "rename":
          return rename(g, op, options)
        case "open":
          return open(g, op) ?? openNofollowDirectory(g, op) ?? openFifoMode3(g, op) ?? openDirectSpecial(g, op, options.specialFileFDs) ?? openCreatNoStickyCheck(g, op, linux) ?? openTruncKeepsMode(g, op) ?? fifoWriteOpenFindsPhantomReader(g, op, linux)
        case "truncate":
          return truncate(g, op)
        case "utimens":
          return utimens(g, op)
        case "chown":
          return chown(g, op, options)
        case "getxattr": {
          const r = xattr(g, op.path, op.name, MAY_READ)
          return options.synthetic === true ? syntheticXattr(g, op.path, false, linux, r) : r
        }
        case "setxattr":
        case "removexattr": {
          const r = xattr(g, op.path, op.name, MAY_WRITE)
          return options.synthetic === true ? syntheticXattr(g, op.path, true, linux, r) : r
        }
        case "pread":
          return positional(g, op)
        case "pwrite":
          return positional(g, op) ?? writeMode(g, op, options.specialFileFDs)
        case "write":
          return writeMode(g, op, options.specialFileFDs) ?? emptyAppendWrite(g, op) ?? fifoWriteToPhantomReader(g, op, linux)
        case "ftruncate":
          return ftruncateMode(g, op)
        case "getdents":
          return options.synthetic === true ? syntheticDirents(linux) : getdents(linux)
        case "fstat": {
          const r = fstat(g, op, linux, options.shared)
          return options.synthetic === true ? syntheticNlink(linux, r) : r
        }
        case "stat":
        case "lstat":
          return options.synthetic === true ? syntheticNlink(linux, null) : null
        case "read":
          return fifoRead(g, op, linux)
        default:
          return null
      }
  }
}
