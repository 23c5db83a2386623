// gVisor's overlay (pkg/sentry/fsimpl/overlay, with gVisor's VFS and
// syscall layers, over layers with Linux's semantics: fsim's tmpfs) on the
// merged tree of its layers: the dialect a faithful port of the overlay is
// checked in. The model runs on the merged tree (whiteouts and opaque
// directories applied, src/model/overlayfs.ts mergeLayers) as on tmpfs; a
// rule says where gVisor's overlay gives another result, transcribing the
// order of checks of the gVisor function it names (filesystem.go,
// copy_up.go, directory.go of the overlay; vfs.go; the syscalls), on the
// model's state. DIALECTS.md lists the rules with their sources.
//
// The layers act as root on the overlay's behalf (fs.creds): the overlay
// makes its permission checks itself, in its own order, from the mode and
// owners of the topmost layer's file, then asks the layer. Where the state
// alone cannot tell what gVisor does (whether a file has been copied up,
// whether a directory has a dentry), the dialect says what a file with an
// upper part gets; generated scenarios leave out what depends on the rest
// (DIALECTS.md, gvisor-overlay, known gaps).

import type { Dialect, DialectToken, Ruling } from "./dialect.js"
import { cleanPath, Ctx, isErrno, lookupChild, MAXSYMLINKS, NAME_MAX, pathError, resolve } from "./path.js"
import { MAY_EXEC, MAY_READ, MAY_WRITE, S_ISGID, S_ISUID, S_ISVTX, S_IXGRP, inGroup, isRoot, mayAccess, ownerOrCapable, stickyForbids } from "./perm.js"
import { Tx, type Inode, type ModelStateShape } from "./state.js"
import type { Cred, Errno, Op, OpenFlag, OpOf, OpResult, Stat } from "./types.js"

/** Where a walk ended: the directory and the last component, and the file (the directory itself for parent walks). */
interface Walked {
  readonly dir: number
  readonly name: string
  readonly ino: number
  /** The path as walked ends in a slash (rp.MustBeDir()). */
  readonly slash: boolean
}

const NO_COMPONENTS = "no-components" as const
const OVL_PREFIX = "trusted.overlay."

function rule(name: string, results: readonly DialectToken[]): Ruling {
  return { rule: name, results }
}

/** Whether the overlay gives Linux's result (null), or this errno / token. */
type Outcome = Errno | "linux" | null

class O {
  readonly c: Ctx
  constructor(
    readonly state: ModelStateShape,
    readonly cred: Cred,
  ) {
    // Reads only: the transaction is never committed.
    this.c = new Ctx(new Tx(state), cred, 0)
  }

  inode(ino: number): Inode {
    return this.c.inode(ino)
  }

  /** dentry.checkPermissions: vfs.GenericCheckPermissions on the overlay's mode and owners. */
  may(ino: number, ats: number): boolean {
    return mayAccess(this.inode(ino), this.cred, ats)
  }

  get readOnly(): boolean {
    return this.c.readOnly
  }

  /**
   * copyUpLocked of an existing file: without an upper layer the climb to
   * the root ends in EROFS ("d is a filesystem root with no upper layer").
   */
  copyUp(): Errno | null {
    return this.readOnly ? "EROFS" : null
  }

  /**
   * getChildLocked as lookupLocked answers: a layer that says ENAMETOOLONG
   * for a name "doesn't exist on this layer", so a name longer than
   * NAME_MAX is ENOENT.
   */
  child(dir: number, name: string): number | Errno {
    if (name.length > NAME_MAX) return "ENOENT"
    return lookupChild(this.c, dir, name)
  }

  /**
   * stepLocked over the components of `path` from the root, symlinks
   * spliced in as ResolvingPath.HandleSymlink does. With `toParent`, all
   * but the last component (walkParentDirLocked, which does not check the
   * final parent's search permission).
   */
  walk(path: string, toParent: boolean, follow: boolean): Walked | typeof NO_COMPONENTS | Errno {
    const p = cleanPath(path)
    const bad = pathError(p)
    if (bad !== undefined) return bad
    const queue = p.split("/").filter((x) => x !== "")
    let slash = p.endsWith("/")
    let d = this.c.root
    let links = 0
    if (queue.length === 0) return toParent ? NO_COMPONENTS : { dir: d, name: "", ino: d, slash }
    for (;;) {
      if (toParent && queue.length === 1) return this.inode(d).type !== "dir" ? "ENOTDIR" : { dir: d, name: queue[0]!, ino: d, slash }
      const name = queue.shift()!
      if (this.inode(d).type !== "dir") return "ENOTDIR"
      if (!this.may(d, MAY_EXEC)) return "EACCES"
      let next: number | Errno
      if (name === ".") next = d
      else if (name === "..") next = d === this.c.root ? d : this.inode(d).parent
      else next = this.child(d, name)
      if (isErrno(next)) return next
      const node = this.inode(next)
      const last = queue.length === 0
      if (node.type === "symlink" && (!last || follow || slash)) {
        if (++links > MAXSYMLINKS) return "ELOOP"
        if (node.target === "") return "ENOENT"
        if (node.target.startsWith("/")) d = this.c.root
        if (last) slash = slash || node.target.endsWith("/")
        queue.unshift(...node.target.split("/").filter((x) => x !== ""))
        if (queue.length === 0) return { dir: d, name: "", ino: d, slash: false }
        continue
      }
      if (last) return { dir: d, name, ino: next, slash }
      d = next
    }
  }

  /** resolveLocked: the file the path names (MustBeDir on a non-directory is ENOTDIR). */
  final(path: string, follow: boolean): Walked | Errno {
    const w = this.walk(path, false, follow)
    if (w === NO_COMPONENTS) return "ENOENT"
    if (isErrno(w)) return w
    if (w.slash && this.inode(w.ino).type !== "dir") return "ENOTDIR"
    return w
  }

  parent(path: string): Walked | typeof NO_COMPONENTS | Errno {
    return this.walk(path, true, true)
  }

  /** genericIsAncestorDentry: whether a is a proper ancestor of d. */
  isAncestor(a: number, d: number): boolean {
    let cur = d
    for (let i = 0; i < 1 << 16; i++) {
      if (cur === this.c.root) return false
      const p = this.inode(cur).parent
      if (p === a) return true
      if (p === cur) return false
      cur = p
    }
    return false
  }

  /** collectWhiteoutsForRmdirLocked: ENOTEMPTY for a directory with entries. */
  empty(dir: number): boolean {
    const kids = this.inode(dir).children
    return kids === null || kids.names.length === 0
  }
}

/** An outcome as a ruling, if it departs from Linux's result. */
function outcome(name: string, o: Outcome, linux: OpResult): Ruling | null {
  if (o === null || o === "linux") return null
  if ("errno" in linux && linux.errno === o) return null
  return rule(name, [o])
}

// ---------------------------------------------------------------------------
// Creation: vfs.{Mkdir,Mknod,Symlink,Link}At, then filesystem.doCreateAt,
// then the callback, which creates the file on the upper layer as root and
// chowns it to the caller (SetStatAt STATX_UID|STATX_GID).

/** vfs.ClearSUIDAndSGID as Linux's chown applies it to a non-directory: setuid, and setgid when group-executable. */
function clearSetIDs(mode: number): number {
  let m = mode & ~S_ISUID
  if ((m & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) m &= ~S_ISGID
  return m
}

/**
 * The new file's owner and mode as gVisor leaves them: created by root on
 * the upper layer (a setgid parent gives it the parent's group and, for a
 * directory, the setgid bit), then chowned to the caller's effective uid and
 * gid, which for a non-directory clears setuid (and setgid when
 * group-executable), as Linux's chown does even for root.
 */
function ownedByCaller(path: string, cred: Cred, requestedMode: number | null): (tx: Tx) => void {
  return (tx) => {
    const c = new Ctx(tx, cred, 0)
    const ino = resolve(c, path, false)
    if (isErrno(ino)) return
    const i = tx.must(ino)
    let mode = i.mode
    // Created by root: a setgid bit the caller asked for is kept (Linux's
    // inode_init_owner drops it for a caller outside the group).
    if (requestedMode !== null && i.type !== "dir") mode = (mode & ~S_ISGID) | (requestedMode & S_ISGID)
    if (i.type !== "dir" && i.type !== "symlink") mode = clearSetIDs(mode)
    if (i.uid !== cred.uid || i.gid !== cred.gid || i.mode !== mode) tx.update(ino, { uid: cred.uid, gid: cred.gid, mode })
  }
}

function createAt(o: O, name: string, path: string, dir: boolean, linux: OpResult, callback: (parentDir: number) => Errno | null, requestedMode: number | null): Ruling | null {
  const p = o.parent(path)
  // vfs: a path with no components is EEXIST.
  if (p === NO_COMPONENTS) return outcome(`${name}.root`, "EEXIST", linux)
  if (isErrno(p)) return outcome(`${name}.walk`, p, linux)
  if (p.name === "." || p.name === "..") return outcome(`${name}.dots`, "EEXIST", linux)
  if (o.inode(p.dir).nlink === 0) return outcome(`${name}.parent-deleted`, "ENOENT", linux)
  if (!o.may(p.dir, MAY_EXEC)) return outcome(`${name}.order`, "EACCES", linux)
  // Determine if a file already exists at name (a long name exists on no layer).
  if (!isErrno(o.child(p.dir, p.name))) return outcome(`${name}.order`, "EEXIST", linux)
  if (!dir && p.slash) return outcome(`${name}.order`, "ENOENT", linux)
  if (!o.may(p.dir, MAY_WRITE | MAY_EXEC)) return outcome(`${name}.order`, "EACCES", linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome(`${name}.order`, cu, linux)
  const cb = callback(p.dir)
  if (cb !== null) return outcome(`${name}.order`, cb, linux)
  // The upper layer's own checks: a name longer than NAME_MAX.
  if (p.name.length > NAME_MAX) return outcome(`${name}.order`, "ENAMETOOLONG", linux)
  if ("errno" in linux) return rule(`${name}.order`, ["linux"])
  return { rule: "overlay.create.owner-is-caller", results: ["linux"], adjust: ownedByCaller(path, o.cred, requestedMode) }
}

function link(o: O, op: OpOf<"link">, linux: OpResult): Ruling | null {
  // linkat copies both paths, then vfs.LinkAt resolves the old one (no final symlink followed).
  const bad = pathError(cleanPath(op.from)) ?? pathError(cleanPath(op.to))
  if (bad !== undefined) return outcome("overlay.link.copy-paths-first", bad, linux)
  const src = o.walk(op.from, false, false)
  if (src === NO_COMPONENTS) return null
  if (isErrno(src)) return outcome("overlay.link.old", src, linux)
  if (src.slash && o.inode(src.ino).type !== "dir") return outcome("overlay.link.old", "ENOTDIR", linux)
  const r = createAt(o, "overlay.link", op.to, false, linux, () => {
    // No vfs.MayLink (protected hardlinks) in the overlay's LinkAt: the
    // upper layer links as root.
    if (o.inode(src.ino).type === "dir") return "EPERM"
    return o.copyUp()
  }, null)
  if (r === null || r.rule !== "overlay.create.owner-is-caller") return r
  // The chown of the new name is a chown of the file itself (both names).
  const newPath = op.to
  return {
    rule: "overlay.link.chowns-file",
    results: ["linux"],
    adjust: ownedByCaller(newPath, o.cred, null),
  }
}

// ---------------------------------------------------------------------------
// Removal.

function unlink(o: O, op: OpOf<"unlink">, linux: OpResult): Ruling | null {
  const p = o.parent(op.path)
  // vfs.UnlinkAt: a path with no components is EBUSY (Linux: EISDIR).
  if (p === NO_COMPONENTS) return outcome("overlay.unlink.root-ebusy", "EBUSY", linux)
  if (isErrno(p)) return outcome("overlay.unlink.walk", p, linux)
  // The parent's write and search permission first.
  if (!o.may(p.dir, MAY_WRITE | MAY_EXEC)) return outcome("overlay.unlink.parent-perm-first", "EACCES", linux)
  if (p.name === "." || p.name === "..") return outcome("overlay.unlink.dots", "EISDIR", linux)
  if (p.slash) return outcome("overlay.unlink.slash", "ENOTDIR", linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome("overlay.unlink.order", cu, linux)
  const child = o.child(p.dir, p.name)
  if (isErrno(child)) return outcome("overlay.unlink.order", child, linux)
  if ((o.inode(p.dir).mode & S_ISVTX) !== 0) {
    if (o.inode(child).type === "dir") return outcome("overlay.unlink.order", "EISDIR", linux)
    if (stickyForbids(o.inode(p.dir), o.inode(child), o.cred)) return outcome("overlay.unlink.order", "EPERM", linux)
    return null
  }
  // A directory with an upper part (or a dentry): EISDIR, from the upper
  // layer's unlink (or the dentry). One with only lower parts and no dentry
  // is whited out (a finding: DIALECTS.md, known gaps).
  if (o.inode(child).type === "dir") return outcome("overlay.unlink.order", "EISDIR", linux)
  return null
}

function rmdir(o: O, op: OpOf<"rmdir">, linux: OpResult): Ruling | null {
  const p = o.parent(op.path)
  if (p === NO_COMPONENTS) return outcome("overlay.rmdir.root-ebusy", "EBUSY", linux)
  if (isErrno(p)) return outcome("overlay.rmdir.walk", p, linux)
  if (!o.may(p.dir, MAY_WRITE | MAY_EXEC)) return outcome("overlay.rmdir.parent-perm-first", "EACCES", linux)
  if (p.name === ".") return outcome("overlay.rmdir.dot", "EINVAL", linux)
  if (p.name === "..") return outcome("overlay.rmdir.dotdot", "ENOTEMPTY", linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome("overlay.rmdir.order", cu, linux)
  const child = o.child(p.dir, p.name)
  if (isErrno(child)) return outcome("overlay.rmdir.order", child, linux)
  if (o.inode(child).type !== "dir") return outcome("overlay.rmdir.order", "ENOTDIR", linux)
  if (stickyForbids(o.inode(p.dir), o.inode(child), o.cred)) return outcome("overlay.rmdir.order", "EPERM", linux)
  if (!o.empty(child)) return outcome("overlay.rmdir.order", "ENOTEMPTY", linux)
  return outcome("overlay.rmdir.order", "linux", linux)
}

// ---------------------------------------------------------------------------
// rename: vfs.RenameAt, then the overlay's RenameAt.

function rename(o: O, op: OpOf<"rename">, linux: OpResult): Ruling | null {
  const name = "overlay.rename"
  const bad = pathError(cleanPath(op.from)) ?? pathError(cleanPath(op.to))
  if (bad !== undefined) return outcome(`${name}.copy-paths-first`, bad, linux)
  const from = o.parent(op.from)
  if (from === NO_COMPONENTS) return outcome(`${name}.old-root`, "EBUSY", linux)
  if (isErrno(from)) return outcome(`${name}.old-walk`, from, linux)
  if (from.name === "." || from.name === "..") return outcome(`${name}.old-dots`, "EBUSY", linux)
  const to0 = cleanPath(op.to)
  if (to0.split("/").every((x) => x === "")) return outcome(`${name}.new-root`, "EBUSY", linux)
  // "if opts.Flags != 0 { return EINVAL }": no RENAME_NOREPLACE, no RENAME_EXCHANGE.
  if ((op.flags ?? []).length > 0) return outcome(`${name}.flags-einval`, "EINVAL", linux)
  const to = o.parent(op.to)
  if (to === NO_COMPONENTS) return outcome(`${name}.new-root`, "EBUSY", linux)
  if (isErrno(to)) return outcome(`${name}.new-walk`, to, linux)
  if (to.name === "." || to.name === "..") return outcome(`${name}.new-dots`, "EBUSY", linux)
  const oldParent = from.dir
  const newParent = to.dir
  if (!o.may(oldParent, MAY_WRITE | MAY_EXEC)) return outcome(`${name}.old-parent-perm-first`, "EACCES", linux)
  const renamed = o.child(oldParent, from.name)
  if (isErrno(renamed)) return outcome(`${name}.order`, renamed, linux)
  if (stickyForbids(o.inode(oldParent), o.inode(renamed), o.cred)) return outcome(`${name}.order`, "EPERM", linux)
  const renamedIsDir = o.inode(renamed).type === "dir"
  if (renamedIsDir) {
    if (renamed === newParent || o.isAncestor(renamed, newParent)) return outcome(`${name}.order`, "EINVAL", linux)
    if (oldParent !== newParent && !o.may(renamed, MAY_WRITE)) return outcome(`${name}.order`, "EACCES", linux)
  } else if (from.slash || to.slash) return outcome(`${name}.order`, "ENOTDIR", linux)
  if (oldParent !== newParent && !o.may(newParent, MAY_WRITE | MAY_EXEC)) return outcome(`${name}.order`, "EACCES", linux)
  if (o.inode(newParent).nlink === 0) return outcome(`${name}.order`, "ENOENT", linux)
  const replaced = o.child(newParent, to.name)
  if (isErrno(replaced) && replaced !== "ENOENT") return outcome(`${name}.order`, replaced, linux)
  if (!isErrno(replaced)) {
    if (o.inode(replaced).type === "dir") {
      if (!renamedIsDir) return outcome(`${name}.order`, "EISDIR", linux)
      if (o.isAncestor(replaced, renamed)) return outcome(`${name}.order`, "ENOTEMPTY", linux)
      if (!o.empty(replaced)) return outcome(`${name}.order`, "ENOTEMPTY", linux)
    } else if (to.slash || renamedIsDir) return outcome(`${name}.order`, "ENOTDIR", linux)
  }
  if (oldParent === newParent && from.name === to.name) return "errno" in linux ? rule(`${name}.same`, ["ok"]) : null
  const cu = o.copyUp()
  if (cu !== null) return outcome(`${name}.order`, cu, linux)
  // The upper layer renames with the caller's credentials: its own checks
  // (a sticky directory's replaced file) are Linux's.
  if (to.name.length > NAME_MAX) return outcome(`${name}.order`, "ENAMETOOLONG", linux)
  return outcome(`${name}.order`, "linux", linux)
}

// ---------------------------------------------------------------------------
// open: vfs.OpenAt, then the overlay's OpenAt, createAndOpenLocked and
// dentry.openCopiedUp.

/** vfs.AccessTypesForOpenFlags. */
function accessTypesForOpenFlags(fl: ReadonlySet<OpenFlag>): number {
  if (fl.has("O_WRONLY") && !fl.has("O_RDWR")) return MAY_WRITE
  if (!fl.has("O_WRONLY") && !fl.has("O_RDWR")) return fl.has("O_TRUNC") ? MAY_READ | MAY_WRITE : MAY_READ
  return MAY_READ | MAY_WRITE
}

function open(o: O, op: OpOf<"open">, linux: OpResult): Ruling | null {
  const name = "overlay.open"
  const fl = new Set<OpenFlag>(op.flags)
  if (fl.has("O_PATH")) {
    // vfs.OpenAt (the seed) opens O_PATH with GetDentryAt of the path as
    // given: O_DIRECTORY is not checked.
    if (!fl.has("O_DIRECTORY")) return walkOnly(o, `${name}.opath`, op.path, !fl.has("O_NOFOLLOW"), linux)
    // The walk's own departures first (a long name is ENOENT: lookupLocked).
    const walked = walkOnly(o, `${name}.opath`, op.path, !fl.has("O_NOFOLLOW"), linux)
    if (walked !== null) return walked
    return rule(`${name}.opath-ignores-directory`, [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_DIRECTORY") } }])
  }
  const mayCreate = fl.has("O_CREAT")
  const mustCreate = mayCreate && fl.has("O_EXCL")
  const ats = accessTypesForOpenFlags(fl)
  const mayWrite = (ats & MAY_WRITE) !== 0
  // O_NOFOLLOW|O_DIRECTORY: MustBeDir makes ShouldFollowSymlink follow.
  const follow = !fl.has("O_NOFOLLOW") || fl.has("O_DIRECTORY")
  const p0 = cleanPath(op.path)
  const bad = pathError(p0)
  if (bad !== undefined) return outcome(`${name}.walk`, bad, linux)
  const slash0 = p0.endsWith("/") || fl.has("O_DIRECTORY")

  // openCopiedUp of an existing file.
  const openExisting = (ino: number): Outcome => {
    const i = o.inode(ino)
    if (i.type === "file" && mayWrite) {
      const cu = o.copyUp()
      if (cu !== null) return cu
    }
    if (!o.may(ino, ats)) return "EACCES"
    if (i.type === "dir") {
      if (mayCreate) return "EISDIR"
      if (mayWrite) return "EISDIR"
      if (fl.has("O_DIRECT")) return "EINVAL"
      return "linux"
    }
    // The top layer's file is opened as root; symlinks (O_NOFOLLOW) are ELOOP there.
    return "linux"
  }

  if (p0.split("/").every((x) => x === "")) {
    // rp.Done(): the root itself.
    if (mayCreate && slash0) return outcome(`${name}.creat-slash`, "EISDIR", linux)
    if (mustCreate) return outcome(`${name}.order`, "EEXIST", linux)
    return outcome(`${name}.order`, openExisting(o.c.root), linux)
  }

  // afterTrailingSymlink: walk the parent, then the last component, which
  // may be a symlink to follow (the walk starts again from its parent).
  let path = op.path
  // Final symlinks followed: rp.HandleSymlink refuses the one past
  // MaxSymlinkTraversals (ELOOP; gVisor counts the walk's other symlinks
  // too, which this count leaves out).
  for (let links = 0; ; ) {
    const p = o.parent(path)
    if (p === NO_COMPONENTS) return outcome(`${name}.order`, openExisting(o.c.root), linux)
    if (isErrno(p)) return outcome(`${name}.walk`, p, linux)
    if (!o.may(p.dir, MAY_EXEC)) return outcome(`${name}.order`, "EACCES", linux)
    const mustBeDir = p.slash || fl.has("O_DIRECTORY")
    if (mayCreate && mustBeDir) return outcome(`${name}.creat-directory`, "EISDIR", linux)
    let child: number | Errno
    if (p.name === ".") child = p.dir
    else if (p.name === "..") child = p.dir === o.c.root ? p.dir : o.inode(p.dir).parent
    else child = o.child(p.dir, p.name)
    if (child === "ENOENT" && mayCreate) {
      // createAndOpenLocked.
      if (!o.may(p.dir, MAY_WRITE)) return outcome(`${name}.order`, "EACCES", linux)
      if (o.inode(p.dir).nlink === 0) return outcome(`${name}.order`, "ENOENT", linux)
      const cu = o.copyUp()
      if (cu !== null) return outcome(`${name}.order`, cu, linux)
      if (p.name.length > NAME_MAX) return outcome(`${name}.order`, "ENAMETOOLONG", linux)
      if ("errno" in linux) return rule(`${name}.order`, ["linux"])
      return { rule: "overlay.create.owner-is-caller", results: ["linux"], adjust: ownedByCaller(resolvedCreatePath(o, op.path), o.cred, op.mode ?? 0o644) }
    }
    if (isErrno(child)) return outcome(`${name}.walk`, child, linux)
    if (mustCreate) return outcome(`${name}.order`, "EEXIST", linux)
    const ci = o.inode(child)
    if (ci.type === "symlink" && (follow || mustBeDir)) {
      if (++links > MAXSYMLINKS) return outcome(`${name}.symlink-loop`, "ELOOP", linux)
      if (ci.target === "") return outcome(`${name}.walk`, "ENOENT", linux)
      // The walk goes on from the symlink's parent (or the root).
      const base = ci.target.startsWith("/") ? "" : dirPath(o, p.dir)
      path = `${base}/${ci.target}`
      continue
    }
    if (mustBeDir && ci.type !== "dir") return outcome(`${name}.order`, "ENOTDIR", linux)
    const existing = openExisting(child)
    // No may_create_in_sticky: O_CREAT on an existing symlink (not
    // followed) or socket opens it as without O_CREAT.
    if (mayCreate && existing === "linux" && (ci.type === "symlink" || ci.type === "socket") && "errno" in linux && linux.errno === "EACCES") {
      return rule(`${name}.creat-no-sticky-check`, [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_CREAT") } }])
    }
    return outcome(`${name}.order`, existing, linux)
  }
}

/** A directory's path from the root (for re-walking after a symlink). */
function dirPath(o: O, dir: number): string {
  const parts: string[] = []
  let d = dir
  for (let i = 0; i < 4096 && d !== o.c.root; i++) {
    const p = o.inode(d).parent
    const kids = o.inode(p).children
    const k = kids === null ? -1 : kids.inos.indexOf(d)
    if (k < 0) break
    parts.push(kids!.names[k]!)
    d = p
  }
  return parts.length === 0 ? "" : "/" + parts.reverse().join("/")
}

/** The path of the file an O_CREAT open makes (the last symlink followed, if any). */
function resolvedCreatePath(o: O, path: string): string {
  let p = path
  for (let guard = 0; guard < MAXSYMLINKS + 2; guard++) {
    const w = o.parent(p)
    if (w === NO_COMPONENTS || isErrno(w)) return p
    const child = o.child(w.dir, w.name)
    if (isErrno(child)) return `${dirPath(o, w.dir)}/${w.name}`
    const ci = o.inode(child)
    if (ci.type !== "symlink" || ci.target === "") return p
    p = `${ci.target.startsWith("/") ? "" : dirPath(o, w.dir)}/${ci.target}`
  }
  return p
}

/** Ops that resolve a path and then act on the file: only the walk departs (long names). */
function walkOnly(o: O, name: string, path: string, follow: boolean, linux: OpResult): Ruling | null {
  const w = o.final(path, follow)
  if (isErrno(w)) return outcome(name, w, linux)
  return null
}

/**
 * AccessAt: d.checkPermissions alone; no read-only check (the overlay's
 * mount is writable; without an upper layer only copy-up fails, EROFS).
 */
function access(o: O, op: OpOf<"access">, linux: OpResult): Ruling | null {
  const w = o.final(op.path, true)
  if (isErrno(w)) return outcome("overlay.access.walk", w, linux)
  if (!("errno" in linux) || linux.errno !== "EROFS") return null
  let ats = 0
  if (op.mode !== "F_OK") {
    if (op.mode.includes("R_OK")) ats |= MAY_READ
    if (op.mode.includes("W_OK")) ats |= MAY_WRITE
    if (op.mode.includes("X_OK")) ats |= MAY_EXEC
  }
  const i = o.inode(w.ino)
  // generic_permission's exec rule for root: some x bit on a non-directory.
  const ok = o.may(w.ino, ats) && !(isRoot(o.cred) && (ats & MAY_EXEC) !== 0 && i.type !== "dir" && (i.mode & 0o111) === 0)
  return rule("overlay.access.no-erofs", [ok ? "ok" : "EACCES"])
}

// ---------------------------------------------------------------------------
// Metadata: vfs.CheckSetStat, then copy-up, then the layer (as root).

/**
 * The path-based setattr ops: resolve, vfs.CheckSetStat with the caller's
 * credentials, copy-up, then the layer's setattr, which runs as root
 * (fs.creds): where Linux treats a caller without CAP_FSETID differently
 * (truncate keeps setuid and setgid as root does; chown clears setgid only
 * when group-executable), the result is the op as root does it on the
 * caller's behalf ("server", overlay.setattr.as-root).
 */
function setattr(o: O, name: string, path: string, follow: boolean, linux: OpResult, check: (i: Inode) => Errno | null, layer: (i: Inode) => Errno | null, asRoot = false): Ruling | null {
  const w = o.final(path, follow)
  if (isErrno(w)) return outcome(`${name}.walk`, w, linux)
  const i = o.inode(w.ino)
  const e = check(i)
  if (e !== null) return outcome(`${name}.order`, e, linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome(`${name}.order`, cu, linux)
  const l = layer(i)
  if (l !== null) return outcome(`${name}.order`, l, linux)
  if (asRoot && !isRoot(o.cred)) return rule("overlay.setattr.as-root", ["server"])
  return outcome(`${name}.order`, "linux", linux)
}

function truncate(o: O, op: OpOf<"truncate">, linux: OpResult): Ruling | null {
  if (op.length < 0) return null
  return setattr(
    o,
    "overlay.truncate",
    op.path,
    true,
    linux,
    (i) => (mayAccess(i, o.cred, MAY_WRITE) ? null : "EACCES"),
    (i) => (i.type === "dir" ? "EISDIR" : i.type !== "file" ? "EINVAL" : null),
    true,
  )
}

function chmod(o: O, op: OpOf<"chmod">, linux: OpResult): Ruling | null {
  return setattr(o, "overlay.chmod", op.path, true, linux, (i) => (ownerOrCapable(i, o.cred) ? null : "EPERM"), () => null)
}

function chown(o: O, op: OpOf<"chown">, linux: OpResult): Ruling | null {
  const NO_ID = 0xffff_ffff
  const uid = op.uid === NO_ID ? undefined : op.uid
  const gid = op.gid === NO_ID ? undefined : op.gid
  if (isErrno(o.final(op.path, true))) return walkOnly(o, "overlay.chown.walk", op.path, true, linux)
  const r = setattr(
    o,
    "overlay.chown",
    op.path,
    true,
    linux,
    (i) => {
      if (uid !== undefined && !((o.cred.uid === i.uid && uid === i.uid) || isRoot(o.cred))) return "EPERM"
      if (gid !== undefined && !((o.cred.uid === i.uid && inGroup(o.cred, gid)) || isRoot(o.cred))) return "EPERM"
      return null
    },
    () => null,
    uid !== undefined || gid !== undefined,
  )
  if (r !== null) return r
  // chown(-1, -1): nothing to set; the layer's setattr does nothing.
  if (uid === undefined && gid === undefined && "errno" in linux && !o.readOnly) return rule("overlay.chown.nothing", ["ok"])
  return null
}

function utimens(o: O, op: OpOf<"utimens">, linux: OpResult): Ruling | null {
  if (op.atime === undefined && op.mtime === undefined) return null
  const explicit = typeof op.atime === "number" || typeof op.mtime === "number"
  const w = o.final(op.path, true)
  if (isErrno(w)) return outcome("overlay.utimens.walk", w, linux)
  const i = o.inode(w.ino)
  // CheckSetStat: an explicit time needs the owner; UTIME_NOW alone needs
  // write permission (Linux: the owner, unless both times are now).
  let e: Errno | null = null
  if (!ownerOrCapable(i, o.cred)) e = explicit ? "EPERM" : mayAccess(i, o.cred, MAY_WRITE) ? null : "EACCES"
  if (e !== null) return outcome("overlay.utimens.order", e, linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome("overlay.utimens.order", cu, linux)
  if ("errno" in linux) return rule("overlay.utimens.now-needs-write", ["ok"])
  return null
}

// ---------------------------------------------------------------------------
// Extended attributes: dentry.checkXattrPermissions, then the overlay's own
// names (EOPNOTSUPP: fs/overlayfs/super.c:ovl_own_xattr_get/set), then
// copy-up and the layer.

function xattr(o: O, path: string, attr: string, ats: number, linux: OpResult): Ruling | null {
  if (attr.length === 0 || attr.length > 255) return null
  const name = ats === MAY_READ ? "overlay.getxattr" : "overlay.setxattr"
  const w = o.final(path, true)
  if (isErrno(w)) return outcome(`${name}.walk`, w, linux)
  const i = o.inode(w.ino)
  if (!mayAccess(i, o.cred, ats)) return outcome("overlay.xattr.perm-first", "EACCES", linux)
  const write = (ats & MAY_WRITE) !== 0
  if (attr.startsWith("trusted.")) {
    if (!isRoot(o.cred)) return outcome("overlay.xattr.trusted", write ? "EPERM" : "ENODATA", linux)
  } else if (attr.startsWith("user.")) {
    if (i.type !== "file" && i.type !== "dir") return outcome("overlay.xattr.user-type", write ? "EPERM" : "ENODATA", linux)
    if (i.type === "dir" && (i.mode & S_ISVTX) !== 0 && write && !ownerOrCapable(i, o.cred)) return outcome("overlay.xattr.sticky", "EPERM", linux)
  }
  if (attr.startsWith(OVL_PREFIX)) return outcome("overlay.xattr.own-namespace", "EOPNOTSUPP", linux)
  if (!write) return outcome(`${name}.order`, "linux", linux)
  const cu = o.copyUp()
  if (cu !== null) return outcome(`${name}.order`, cu, linux)
  return outcome(`${name}.order`, "linux", linux)
}

// ---------------------------------------------------------------------------
// Descriptors.

function isStat(r: OpResult): r is Stat {
  return "nlink" in r && "type" in r
}

/**
 * dentry.statInternalTo: "Linux sets nlink to 1 for merged directories
 * (fs/overlayfs/inode.c:ovl_getattr()); we set it to 2 because this is
 * correct more often": every directory reports 2 links.
 */
function dirNlink(linux: OpResult): Stat | null {
  if (!isStat(linux) || linux.type !== "dir" || linux.nlink === 2) return null
  return { ...linux, nlink: 2 }
}

function stat(o: O, op: OpOf<"stat"> | OpOf<"lstat">, linux: OpResult): Ruling | null {
  const w = walkOnly(o, `overlay.${op.op}.walk`, op.path, op.op === "stat", linux)
  if (w !== null) return w
  const d = dirNlink(linux)
  return d === null ? null : rule("overlay.stat.dir-nlink-2", [{ result: d }])
}

function fstat(o: O, op: OpOf<"fstat">, linux: OpResult): Ruling | null {
  const d = dirNlink(linux)
  if (d !== null) return rule("overlay.stat.dir-nlink-2", [{ result: d }])
  const f = o.c.tx.fd(op.fd)
  if (f === undefined || !isStat(linux) || linux.nlink !== 0) return null
  // An unlinked file whose description still reads the lower layer's file
  // (never copied up): the lower file keeps its link.
  return rule("overlay.fstat.lower-file-keeps-nlink", ["linux", { result: { ...linux, nlink: 1 } }])
}

/**
 * directoryFD.IterDirents reads a removed directory like any other (the
 * dentry's cached entries, or its layers': the upper directory is gone,
 * emptied of its whiteouts); Linux's iterate_dir refuses it (ENOENT,
 * IS_DEADDIR).
 */
function getdents(o: O, op: OpOf<"getdents">, linux: OpResult): Ruling | null {
  if (!("errno" in linux) || linux.errno !== "ENOENT") return null
  const f = o.c.tx.fd(op.fd)
  if (f === undefined) return null
  const i = o.inode(f.ino)
  if (i.type !== "dir" || i.nlink !== 0) return null
  return rule("overlay.getdents.removed-directory", ["linux", { result: { entries: [] } }])
}

/** Pread64/Pwrite64 look the descriptor up before checking a negative offset. */
function positional(o: O, op: OpOf<"pread"> | OpOf<"pwrite">): Ruling | null {
  if (op.offset >= 0) return null
  if (o.c.tx.fd(op.fd) === undefined) return rule("overlay.positional.ebadf-first", ["EBADF"])
  return null
}

// ---------------------------------------------------------------------------

/** gVisor's overlay over the merged tree of its layers. */
export function gvisorOverlayDialect(): Dialect {
  return {
    name: "gvisor-overlay",
    // gVisor's VFS resolves a rename's old parent and a link's old file in
    // filesystem calls of their own, and restarts at an absolute symlink.
    nonAtomicWalks: true,
    rule(before: ModelStateShape, op: Op, cred: Cred, linux: OpResult): Ruling | null {
      const o = new O(before, cred)
      switch (op.op) {
        case "stat":
        case "lstat":
          return stat(o, op, linux)
        case "fstat":
          return fstat(o, op, linux)
        case "access":
          return access(o, op, linux)
        case "readlink":
          return walkOnly(o, "overlay.readlink.walk", op.path, false, linux)
        case "statfs":
          return walkOnly(o, "overlay.statfs.walk", op.path, true, linux)
        case "listxattr":
          return walkOnly(o, "overlay.listxattr.walk", op.path, true, linux)
        case "mkdir":
          return createAt(o, "overlay.mkdir", op.path, true, linux, () => null, null)
        case "mknod":
          return createAt(o, "overlay.mknod", op.path, false, linux, () => null, op.mode ?? 0o644)
        case "symlink":
          if (pathError(cleanPath(op.target)) !== undefined) return null
          return createAt(o, "overlay.symlink", op.path, false, linux, () => null, null)
        case "link":
          return link(o, op, linux)
        case "unlink":
          return unlink(o, op, linux)
        case "rmdir":
          return rmdir(o, op, linux)
        case "rename":
          return rename(o, op, linux)
        case "open":
          return open(o, op, linux)
        case "truncate":
          return truncate(o, op, linux)
        case "chmod":
          return chmod(o, op, linux)
        case "chown":
          return chown(o, op, linux)
        case "utimens":
          return utimens(o, op, linux)
        case "getxattr":
          return xattr(o, op.path, op.name, MAY_READ, linux)
        case "setxattr":
        case "removexattr":
          return xattr(o, op.path, op.name, MAY_WRITE, linux)
        case "getdents":
          return getdents(o, op, linux)
        case "pread":
        case "pwrite":
          return positional(o, op)
        default:
          return null
      }
    },
  }
}
