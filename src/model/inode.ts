// The model's inode-level operations: what a file server needs, which names
// files by inode (a 9P fid) rather than by path. Each is the *at() syscall
// with an inode for the dirfd (`mkdirat(dir, name)`, `renameat(olddir,
// oldname, newdir, newname)`), or the f*() syscall on an inode
// (`fchmod`, `ftruncate`, `fgetxattr`), and runs the very code of the path
// operation from the point where the path has been looked up (ops.ts,
// functions ending in `In` and `Of`), so Linux's rules are written once.
//
// Names given here are single components: the caller (the 9P server)
// rejects "", "/" and the like before; "." and ".." get Linux's answers.

import { bindPathOnly, checkXattrName, chmodOf, chownOf, close, entriesOf, flagSet, fstat, fsync, ftruncate, getxattrOf, linkIn, listxattrOf, lseek, mkdirIn, mknodIn, mknodWhiteoutIn, NAME_LENGTH_MAX, openAt, openInode, openLast, pread, pwrite, read, readlinkOf, removexattrOf, renameIn, rmdirIn, setxattrOf, statOf, symlinkIn, symlinkTarget, truncateOf, unlinkIn, utimensOf, write, XATTR_SIZE_MAX, type Blocks, type DirEntryIno, type Done, type OpenLastState } from "./ops.js"
import { Ctx, isErrno, Last, lastComponent, lookupChild, parentAtName, type Owner, type ParentAt } from "./path.js"
import { contractType, getInode, Tx, type InodeType, type ModelStateShape } from "./state.js"
import { isErr, type Cred, type Errno, type MknodType, type OpenFlag, type OpResult, type RenameFlag, type Stat, type TimeSpec, type Whence, type XattrFlag } from "./types.js"
import type { Patch } from "immer"

export type { Blocks, DirEntryIno, OpenLastState } from "./ops.js"
export { openLastState } from "./ops.js"
export type { Owner } from "./path.js"
export type { InodeType } from "./state.js"

/** A stat of an inode with its change counter (a 9P server's qid.version). */
export interface InodeStat extends Stat {
  readonly version: number
  /** The inode's own type: `type`, or "chardev" (the 0:0 device, whose `type` says "file"). */
  readonly kind: InodeType
}

/** What an open by name (`Inodes.openLast`) gives: an open description, a symlink to follow, or an errno. */
export type OpenLastResult =
  | { readonly ino: number; readonly created: boolean; readonly blocks?: Blocks }
  | { readonly link: number; readonly target: string }
  | { readonly errno: Errno }

/** A value, or the errno that took its place. */
export type OrErrno<T> = T | { readonly errno: Errno }

function outcome(d: Done): OpResult {
  return d.result
}

/** The inode operations within one atomic step of the model. */
export class Inodes {
  constructor(private readonly c: Ctx) {}

  get root(): number {
    return this.c.root
  }

  /** The inode's attributes, or undefined once it is gone (no name and no open description). */
  stat(ino: number): InodeStat | undefined {
    const i = this.c.tx.inode(ino)
    return i === undefined ? undefined : { ...statOf(i), version: i.version, kind: i.type }
  }

  /** The entries of directory `dir` with their inodes, sorted by name (a server's own look, touching no atime); undefined for a non-directory. */
  entries(dir: number): readonly DirEntryIno[] | undefined {
    const d = this.c.tx.inode(dir)
    if (d === undefined || d.children === null) return undefined
    const { names, inos } = d.children
    return names.map((name, k) => ({ name, ino: inos[k] as number, type: contractType(this.c.inode(inos[k] as number).type) }))
  }

  /** A directory's "..": its parent, the root's being itself; undefined for a non-directory. */
  parent(dir: number): number | undefined {
    const d = this.c.tx.inode(dir)
    if (d === undefined || d.type !== "dir") return undefined
    return dir === this.c.root ? dir : d.parent
  }

  /** One step of a walk: `name` in the directory `dir`, a final symlink not followed. */
  lookup(dir: number, name: string): OrErrno<{ readonly ino: number }> {
    const p = parentAtName(this.c, dir, name)
    const ino = isErrno(p) ? p : lastComponent(this.c, p, false, false)
    return isErrno(ino) ? { errno: ino } : { ino }
  }

  /** Binds `fd` to an O_PATH description of `ino`: it keeps the inode alive, as a server's handle on a file does. */
  hold(ino: number, fd: string): void {
    bindPathOnly(this.c, fd, ino)
  }

  /** Opens `ino` itself (no lookup, no symlink following) as `fd`, replacing what `fd` held. */
  open(ino: number, flags: readonly OpenFlag[], fd: string): OpResult {
    return outcome(openInode(this.c, ino, { fd }, flagSet(flags)))
  }

  /**
   * As `open`, and what the open waits for: a FIFO opened without
   * O_NONBLOCK is bound at once but, with no description of the other end,
   * Linux returns only once one is opened (the caller waits).
   */
  openWaiting(ino: number, flags: readonly OpenFlag[], fd: string): { readonly result: OpResult; readonly blocks?: Blocks } {
    const d = openInode(this.c, ino, { fd }, flagSet(flags))
    return d.blocks === undefined ? { result: d.result } : { result: d.result, blocks: d.blocks }
  }

  /**
   * openat(dir, name, flags, mode) of a path's last component, one turn of
   * open_last_lookups: `name` is "" for a path with no components (the
   * directory itself), "." or ".." as Linux classifies them; `slash` says
   * the name was followed by a slash. A symlink to follow (a final one, not
   * O_NOFOLLOW, not O_CREAT|O_EXCL) is returned with its target, its atime
   * touched: the caller walks the target and calls again with the same
   * `state` (openLastState of the flags) for its last component.
   */
  openLast(dir: number, name: string, slash: boolean, flags: readonly OpenFlag[], mode: number | undefined, fd: string, state: OpenLastState): OpenLastResult {
    const p: ParentAt | Errno = name === "" ? { dir, name: "", type: Last.Root, slash: false } : parentAtName(this.c, dir, name, slash)
    if (isErrno(p)) return { errno: p }
    const before = this.c.tx.nextIno
    const r = openLast(this.c, p, mode === undefined ? { fd } : { fd, mode }, flagSet(flags), state)
    if ("link" in r) {
      this.c.touchAtime(r.link)
      return { link: r.link, target: this.c.inode(r.link).target }
    }
    if (isErr(r.result)) return { errno: r.result.errno }
    const ino = this.c.tx.fd(fd)!.ino
    const created = this.c.tx.nextIno !== before
    return r.blocks === undefined ? { ino, created } : { ino, created, blocks: r.blocks }
  }

  /** openat(dir, name, O_CREAT | O_EXCL | flags, mode) as `fd`. */
  create(dir: number, name: string, flags: readonly OpenFlag[], mode: number, fd: string): OrErrno<{ readonly ino: number }> {
    const fl = flagSet([...flags, "O_CREAT", "O_EXCL"])
    const r = outcome(openAt(this.c, parentAtName(this.c, dir, name), { fd, mode }, fl))
    return isErr(r) ? { errno: r.errno } : { ino: this.c.tx.fd(fd)!.ino }
  }

  /** `slash`: the name was followed by a slash in the caller's path (so for mknod, symlink, link, unlink, rmdir and rename). */
  mkdir(dir: number, name: string, mode: number, slash = false): OrErrno<{ readonly ino: number }> {
    return this.created(dir, name, mkdirIn(this.c, parentAtName(this.c, dir, name, slash), mode))
  }

  mknod(dir: number, name: string, type: MknodType, mode: number, slash = false): OrErrno<{ readonly ino: number }> {
    return this.created(dir, name, mknodIn(this.c, parentAtName(this.c, dir, name, slash), type, mode))
  }

  /** mknod of the 0:0 character device: an overlay whiteout (no contract op makes one). */
  mknodWhiteout(dir: number, name: string, mode: number, slash = false): OrErrno<{ readonly ino: number }> {
    return this.created(dir, name, mknodWhiteoutIn(this.c, parentAtName(this.c, dir, name, slash), mode))
  }

  symlink(dir: number, name: string, target: string, slash = false): OrErrno<{ readonly ino: number }> {
    const t = symlinkTarget(target)
    if (isErrno(t)) return { errno: t }
    return this.created(dir, name, symlinkIn(this.c, parentAtName(this.c, dir, name, slash), t.target))
  }

  private created(dir: number, name: string, d: Done): OrErrno<{ readonly ino: number }> {
    const r = outcome(d)
    return isErr(r) ? { errno: r.errno } : { ino: lookupChild(this.c, dir, name) as number }
  }

  /** linkat(target, dir, name). */
  link(dir: number, name: string, target: number, slash = false): OpResult {
    return outcome(linkIn(this.c, target, parentAtName(this.c, dir, name, slash)))
  }

  unlink(dir: number, name: string, slash = false): OpResult {
    return outcome(unlinkIn(this.c, parentAtName(this.c, dir, name, slash)))
  }

  rmdir(dir: number, name: string, slash = false): OpResult {
    return outcome(rmdirIn(this.c, parentAtName(this.c, dir, name, slash)))
  }

  /** renameat2 (RENAME_NOREPLACE and RENAME_EXCHANGE together are EINVAL first, as the syscall checks). */
  rename(oldDir: number, oldName: string, newDir: number, newName: string, flags: readonly RenameFlag[] = [], oldSlash = false, newSlash = false): OpResult {
    if (flags.includes("RENAME_NOREPLACE") && flags.includes("RENAME_EXCHANGE")) return { errno: "EINVAL" }
    const from = parentAtName(this.c, oldDir, oldName, oldSlash)
    if (isErrno(from)) return { errno: from }
    return outcome(renameIn(this.c, from, parentAtName(this.c, newDir, newName, newSlash), flags))
  }

  chmod(ino: number, mode: number): OpResult {
    return outcome(chmodOf(this.c, ino, mode))
  }

  /** An absent id leaves it unchanged; with neither, only ctime moves (as chown(-1, -1)). */
  chown(ino: number, uid: number | undefined, gid: number | undefined): OpResult {
    return outcome(chownOf(this.c, ino, uid, gid))
  }

  truncate(ino: number, length: number): OpResult {
    return length < 0 ? { errno: "EINVAL" } : outcome(truncateOf(this.c, ino, length))
  }

  /** An absent time is UTIME_OMIT. */
  utimens(ino: number, atime: TimeSpec | undefined, mtime: TimeSpec | undefined): OpResult {
    return outcome(utimensOf(this.c, ino, atime, mtime))
  }

  readlink(ino: number): OpResult {
    return outcome(readlinkOf(this.c, ino))
  }

  /** A symlink's target without touching anything (undefined for other inodes). */
  target(ino: number): string | undefined {
    const i = this.c.tx.inode(ino)
    return i === undefined || i.type !== "symlink" ? undefined : i.target
  }

  /** touch_atime: a path walk following a symlink (pick_link) touches it. */
  touchAtime(ino: number): void {
    this.c.touchAtime(ino)
  }

  getxattr(ino: number, name: string): OpResult {
    const bad = checkXattrName(name)
    return bad !== undefined ? { errno: bad } : outcome(getxattrOf(this.c, ino, name))
  }

  setxattr(ino: number, name: string, value: string, flags: readonly XattrFlag[]): OpResult {
    const bad = checkXattrName(name) ?? (value.length > XATTR_SIZE_MAX ? "E2BIG" : undefined)
    return bad !== undefined ? { errno: bad } : outcome(setxattrOf(this.c, ino, name, value, flags))
  }

  listxattr(ino: number): OpResult {
    return outcome(listxattrOf(this.c, ino))
  }

  removexattr(ino: number, name: string): OpResult {
    const bad = checkXattrName(name)
    return bad !== undefined ? { errno: bad } : outcome(removexattrOf(this.c, ino, name))
  }

  statfs(): { readonly namelen: number } {
    return { namelen: NAME_LENGTH_MAX }
  }

  /** The entries of the directory open as `fd`, with their inodes, sorted by name, without "." and "..". */
  readdir(fd: string): OrErrno<readonly DirEntryIno[]> {
    const r = entriesOf(this.c, fd)
    return isErrno(r) ? { errno: r } : r
  }

  /** pread on the description `fd`. */
  read(fd: string, offset: number, count: number): OpResult {
    return outcome(pread(this.c, { op: "pread", fd, offset, count }))
  }

  /** pwrite on the description `fd` (at the end for O_APPEND, as Linux). */
  write(fd: string, offset: number, data: string): OpResult {
    return outcome(pwrite(this.c, { op: "pwrite", fd, offset, data }))
  }

  /** read(2) on the description `fd`: a FIFO's next bytes (a file's from the description's offset). */
  readNext(fd: string, count: number): OpResult {
    return outcome(read(this.c, { op: "read", fd, count }))
  }

  /** write(2) on the description `fd`. */
  writeNext(fd: string, data: string): OpResult {
    return outcome(write(this.c, { op: "write", fd, data }))
  }

  /** lseek(2) on the description `fd`. */
  lseek(fd: string, offset: number, whence: Whence): OpResult {
    return outcome(lseek(this.c, { op: "lseek", fd, offset, whence }))
  }

  /** ftruncate(2) on the description `fd`. */
  ftruncate(fd: string, length: number): OpResult {
    return outcome(ftruncate(this.c, { op: "ftruncate", fd, length }))
  }

  fsync(fd: string): OpResult {
    return outcome(fsync(this.c, fd))
  }

  fstat(fd: string): OpResult {
    return outcome(fstat(this.c, { op: "fstat", fd }))
  }

  close(fd: string): OpResult {
    return outcome(close(this.c, { op: "close", fd }))
  }
}

export interface InodeStep<T> {
  readonly state: ModelStateShape
  readonly value: T
  readonly patches: readonly Patch[]
}

/**
 * Runs `body` as one atomic step of the model on `state` with the
 * privileges of `cred` at time `now`; new inodes belong to `owner`
 * (default: the caller).
 */
export function inodeStep<T>(state: ModelStateShape, cred: Cred, now: number, body: (fs: Inodes) => T, owner?: Owner): InodeStep<T> {
  const tx = new Tx(state)
  const value = body(new Inodes(new Ctx(tx, cred, now, owner ?? cred)))
  const { state: next, patches } = tx.commit()
  return { state: next, value, patches }
}

/** Whether inode `ino` exists in `state`. */
export function inodeExists(state: ModelStateShape, ino: number): boolean {
  return getInode(state, ino) !== undefined
}
