// The operations of the contract (scenario.md 1.1), each as Linux's syscall
// does it on tmpfs: the same checks in the same order, so the same errno
// wins. Function names follow the syscalls; the Linux function a rule comes
// from is named where it matters.

import {
  MAY_EXEC,
  MAY_READ,
  MAY_WRITE,
  S_ISGID,
  S_ISUID,
  S_IXGRP,
  inGroupOrCapable,
  isRoot,
  mayLink,
  modeAfterWrite,
  ownerOrCapable,
  shouldDropSgid,
  stickyForbids,
} from "./perm.js"
import { Ctx, Last, cleanPath, followLink, startWalk, pathError, createIn, isErrno, lastComponent, lookupChild, resolve, resolveParent, type ParentAt } from "./path.js"
import { EMPTY_DIRENTS, direntDelete, direntSet } from "./dirents.js"
import { contractType, withKey, type Inode, type InodeType, type OpenFile, type Tx } from "./state.js"
import { readRange, resize, sizeOf, writeRange, type FileData } from "./filedata.js"
import type { DirEntry, Errno, MknodType, Op, OpOf, OpResult, OpenFlag, RenameFlag, Stat, TimeSpec, XattrFlag } from "./types.js"

/**
 * The largest file size: Linux's is s_maxbytes, MAX_LFS_FILESIZE (2^63 - 1)
 * on tmpfs; fsim's offsets are JS numbers, exact up to 2^53 - 1, so a size
 * past that is EFBIG (DIVERGENCES.md). Ops cannot name a larger offset or
 * length (the schema admits safe integers only): only a write ending past it
 * meets the limit.
 */
export const FILE_SIZE_MAX = Number.MAX_SAFE_INTEGER
/** XATTR_SIZE_MAX. */
export const XATTR_SIZE_MAX = 65536
/** XATTR_NAME_MAX. */
export const XATTR_NAME_MAX = 255
/** Pipe capacity (16 pages). */
export const PIPE_SIZE = 65536
/** PIPE_BUF: writes up to this size are atomic. */
export const PIPE_BUF = 4096
/** tmpfs counts BOGO_DIRENT_SIZE per entry in a directory's size, and two for "." and "..". */
const BOGO_DIRENT_SIZE = 20

export interface Blocks {
  readonly ino: number
  readonly end: "read" | "write"
}

/** What an op yields inside a step: its result, and for a blocking FIFO open, what it waits for. */
export interface Done {
  readonly result: OpResult
  readonly blocks?: Blocks
}

const OK: OpResult = Object.freeze({})
const errCache = new Map<Errno, OpResult>()

export function err(e: Errno): Done {
  let r = errCache.get(e)
  if (r === undefined) {
    r = Object.freeze({ errno: e })
    errCache.set(e, r)
  }
  return { result: r }
}

const done = (result: OpResult): Done => ({ result })
const ok: Done = done(OK)

/** EPIPE is what Linux returns for a write to a FIFO without readers; the contract's Errno list lacks it (see the report). */
const EPIPE: Errno = "EPIPE"

/**
 * Stats by inode object: inodes are immutable, so a stat of one that has
 * not changed is the same (frozen) object, and a long run of stats holds
 * one result, not one per op.
 */
const stats = new WeakMap<Inode, Stat>()

export function statOf(i: Inode): Stat {
  let st = stats.get(i)
  if (st === undefined) {
    st = Object.freeze(makeStat(i))
    stats.set(i, st)
  }
  return st
}

function makeStat(i: Inode): Stat {
  let size = 0
  if (i.type === "file") size = sizeOf(i.data)
  else if (i.type === "symlink") size = i.target.length
  else if (i.type === "dir") {
    size = (2 + (i.children?.names.length ?? 0)) * BOGO_DIRENT_SIZE
  }
  return {
    type: contractType(i.type),
    mode: i.mode,
    uid: i.uid,
    gid: i.gid,
    size,
    nlink: i.nlink,
    ino: i.ino,
    atime: i.atime,
    mtime: i.mtime,
    ctime: i.ctime,
  }
}

// ---------------------------------------------------------------------------
// Inode and directory-entry helpers.

function makeInode(c: Ctx, dir: number, type: InodeType, mode: number): Inode {
  const parent = c.inode(dir)
  // inode_init_owner: a setgid directory passes on its group, and its setgid bit to subdirectories.
  let gid = c.owner.gid
  if ((parent.mode & S_ISGID) !== 0) {
    gid = parent.gid
    if (type === "dir") mode |= S_ISGID
  }
  const now = c.now
  return Object.freeze({
    ino: c.tx.allocIno(),
    type,
    mode,
    uid: c.owner.uid,
    gid,
    nlink: type === "dir" ? 2 : 1,
    atime: now,
    mtime: now,
    ctime: now,
    data: "",
    target: "",
    children: type === "dir" ? EMPTY_DIRENTS : null,
    parent: type === "dir" ? dir : 0,
    xattrs: null,
    version: 0,
  })
}

/** mode_strip_sgid: a setgid-and-group-executable new file in a setgid directory whose group the caller lacks loses S_ISGID. */
function stripSgid(c: Ctx, dir: number, mode: number): number {
  if ((mode & (S_ISGID | S_IXGRP)) !== (S_ISGID | S_IXGRP)) return mode
  const d = c.inode(dir)
  if ((d.mode & S_ISGID) === 0 || inGroupOrCapable(c.cred, d.gid)) return mode
  return mode & ~S_ISGID
}

/** Enters `ino` in `dir` as `name` (a directory entry of a subdirectory adds a link to the parent). */
function addEntry(c: Ctx, dir: number, name: string, ino: number, isDir: boolean): void {
  const d = c.inode(dir)
  c.tx.update(dir, { children: direntSet(d.children ?? EMPTY_DIRENTS, name, ino), nlink: d.nlink + (isDir ? 1 : 0), mtime: c.now, ctime: c.now })
}

function removeEntry(c: Ctx, dir: number, name: string, isDir: boolean): void {
  const d = c.inode(dir)
  c.tx.update(dir, { children: direntDelete(d.children ?? EMPTY_DIRENTS, name), nlink: d.nlink - (isDir ? 1 : 0), mtime: c.now, ctime: c.now })
}

/** An inode with no names left lives on while a description holds it (iput). */
function freeIfUnused(tx: Tx, ino: number): void {
  const i = tx.inode(ino)
  if (i !== undefined && i.nlink === 0 && !tx.isOpen(ino)) tx.remove(ino)
}

/** Drops one name of a non-directory, or the only name of a directory (shmem_unlink, shmem_rmdir). */
function dropName(c: Ctx, ino: number): void {
  const i = c.inode(ino)
  c.tx.update(ino, { nlink: i.type === "dir" ? 0 : i.nlink - 1, ctime: c.now })
  freeIfUnused(c.tx, ino)
}

function isEmptyDir(i: Inode): boolean {
  return (i.children?.names.length ?? 0) === 0
}

/** may_delete: search+write on the directory, the sticky rule, then the victim's type. */
function mayDelete(c: Ctx, dir: number, victim: number, isDir: boolean): Errno | undefined {
  const d = c.inode(dir)
  const v = c.inode(victim)
  const denied = c.may(d, MAY_WRITE | MAY_EXEC)
  if (denied !== undefined) return denied
  if (stickyForbids(d, v, c.cred)) return "EPERM"
  if (isDir) {
    if (v.type !== "dir") return "ENOTDIR"
    if (victim === c.root) return "EBUSY"
  } else if (v.type === "dir") return "EISDIR"
  return undefined
}

function setData(c: Ctx, ino: number, data: FileData, cred: boolean): void {
  const i = c.inode(ino)
  c.tx.update(ino, { data, mtime: c.now, ctime: c.now, mode: cred ? modeAfterWrite(i, c.cred) : i.mode })
}

/** A FIFO's buffered bytes (never sparse: at most PIPE_SIZE). */
function fifoBytes(i: Inode): string {
  return i.data as string
}

// ---------------------------------------------------------------------------
// Open file descriptions.

const enum Acc {
  Read = 0,
  Write = 1,
  ReadWrite = 2,
  None = 3,
}

export function flagSet(flags: readonly OpenFlag[]): Set<OpenFlag> {
  return new Set(flags)
}

/** The description a name is bound to, as fdget() sees it: O_PATH descriptions are EBADF for all but close and fstat. */
function fdget(c: Ctx, name: string): OpenFile | Errno {
  const f = c.tx.fd(name)
  if (f === undefined || f.pathOnly) return "EBADF"
  return f
}

/** How many open descriptions hold each end of FIFO `ino` (an O_RDWR one counts for both). */
export function openEnds(fds: Readonly<Record<string, OpenFile>>, ino: number): { readonly readers: number; readonly writers: number } {
  let readers = 0
  let writers = 0
  for (const k in fds) {
    const f = fds[k] as OpenFile
    if (f.ino !== ino) continue
    if (f.readable) readers++
    if (f.writable) writers++
  }
  return { readers, writers }
}

function readers(tx: Tx, ino: number): boolean {
  return openEnds(tx.fds(), ino).readers > 0
}

function writers(tx: Tx, ino: number): boolean {
  return openEnds(tx.fds(), ino).writers > 0
}

/**
 * Whether FIFO `ino` still has a pipe (fifo_open's pipe->files): an open
 * description of either end. O_PATH descriptions (and a 9P server's walked,
 * unopened fids) hold the inode, not the pipe.
 */
function pipeInUse(tx: Tx, ino: number): boolean {
  const ends = openEnds(tx.fds(), ino)
  return ends.readers > 0 || ends.writers > 0
}

/** Unbinds a name; the last close of a FIFO's ends drops its buffer (free_pipe_info), the last of an unlinked inode frees it. */
function closeFd(tx: Tx, name: string, f: OpenFile): void {
  tx.setFd(name, undefined)
  const i = tx.inode(f.ino)
  if (i === undefined) return
  if (i.type === "fifo" && i.data !== "" && !pipeInUse(tx, f.ino)) tx.update(f.ino, { data: "" })
  freeIfUnused(tx, f.ino)
}

/** open(2): do_sys_open -> path_openat (open_last_lookups, do_open, may_open, vfs_open). */
export function open(c: Ctx, op: OpOf<"open">): Done {
  const fl = flagSet(op.flags)
  // build_open_flags: O_PATH keeps only O_DIRECTORY and O_NOFOLLOW, then O_CREAT|O_DIRECTORY is refused.
  if (!fl.has("O_PATH") && fl.has("O_CREAT") && fl.has("O_DIRECTORY")) return err("EINVAL")
  const path = cleanPath(op.path)
  const bad = pathError(path)
  if (bad !== undefined) return err(bad)
  if (fl.has("O_PATH")) return openPath(c, op, path, fl)
  return openAt(c, startWalk(c, path), op, fl)
}

/** The access mode of open flags, and the permission it asks for (build_open_flags, with O_TRUNC asking for write). */
function accessOf(fl: Set<OpenFlag>): { acc: Acc; accMode: number } {
  const acc: Acc = ((fl.has("O_WRONLY") ? 1 : 0) | (fl.has("O_RDWR") ? 2 : 0)) as Acc
  let accMode = acc === Acc.Read ? MAY_READ : acc === Acc.Write ? MAY_WRITE : MAY_READ | MAY_WRITE
  if (fl.has("O_TRUNC")) accMode |= MAY_WRITE
  return { acc, accMode }
}

/** What open binds: the description's name and the mode of a file it creates. */
export interface OpenRequest {
  readonly fd: string
  readonly mode?: number
}

/**
 * What open_last_lookups keeps from one turn to the next: whether a final
 * symlink is followed and whether the file must be a directory (a trailing
 * slash sets both for a plain open).
 */
export interface OpenLastState {
  follow: boolean
  wantDir: boolean
}

export function openLastState(fl: Set<OpenFlag>): OpenLastState {
  const creat = fl.has("O_CREAT")
  return { follow: !fl.has("O_NOFOLLOW") && !(creat && fl.has("O_EXCL")), wantDir: fl.has("O_DIRECTORY") }
}

/**
 * One turn of open_last_lookups and, unless it meets a symlink to follow,
 * do_open: the last component `p` is looked up (created with O_CREAT when
 * missing) and opened as `op.fd`. A symlink to follow is returned for the
 * caller to walk (pick_link: it counts it, touches its atime and resolves its
 * body), then to call this again with the body's last component.
 */
export function openLast(c: Ctx, p: ParentAt, op: OpenRequest, fl: Set<OpenFlag>, st: OpenLastState): Done | { readonly link: number } {
  const { acc, accMode } = accessOf(fl)
  let ino: number
  let created = false
  if (p.type !== Last.Norm) {
    ino = lastComponent(c, p, false, false) as number
  } else if (!fl.has("O_CREAT")) {
    if (p.slash) {
      st.follow = true
      st.wantDir = true
    }
    const child = lookupChild(c, p.dir, p.name)
    if (isErrno(child)) return err(child)
    ino = child
  } else {
    if (p.slash) return err("EISDIR")
    const child = lookupChild(c, p.dir, p.name)
    if (child === "ENAMETOOLONG") return err(child)
    if (isErrno(child)) {
      // lookup_open: may_o_create, or EROFS when the mount is read-only.
      const createError = c.readOnly ? "EROFS" : c.mayCreate(p.dir)
      if (createError !== undefined) return err(createError)
      const mode = stripSgid(c, p.dir, op.mode ?? 0o644)
      const node = makeInode(c, p.dir, "file", mode)
      c.tx.put(node)
      addEntry(c, p.dir, p.name, node.ino, false)
      ino = node.ino
      created = true
    } else ino = child
  }
  if (!created && p.type === Last.Norm && st.follow && c.inode(ino).type === "symlink") return { link: ino }
  return doOpen(c, op, fl, ino, created, acc, accMode, st.wantDir, p.dir)
}

/**
 * path_openat from the last component's parent on (open_last_lookups,
 * do_open): shared by open(2) and the inode-level openat of a name in a
 * directory inode. `first` is the parent lookup of the path.
 */
export function openAt(c: Ctx, first: ParentAt | Errno, op: OpenRequest, fl: Set<OpenFlag>): Done {
  const st = openLastState(fl)
  let p: ParentAt | Errno = first
  // open_last_lookups, looping over trailing symlinks as path_openat does.
  for (;;) {
    if (isErrno(p)) return err(p)
    const r = openLast(c, p, op, fl, st)
    if (!("link" in r)) return r
    // pick_link (followLink also records where a non-atomic walk may stop).
    p = followLink(c, p.dir, r.link, st.wantDir)
  }
}

function openPath(c: Ctx, op: OpOf<"open">, path: string, fl: Set<OpenFlag>): Done {
  const at = startWalk(c, path)
  if (isErrno(at)) return err(at)
  const ino = lastComponent(c, at, !fl.has("O_NOFOLLOW"), fl.has("O_DIRECTORY"))
  if (isErrno(ino)) return err(ino)
  bindPathOnly(c, op.fd, ino)
  return ok
}

/** Binds an O_PATH description of `ino`: it keeps the inode alive and allows only close and fstat. */
export function bindPathOnly(c: Ctx, fd: string, ino: number): void {
  bind(c, fd, { ino, offset: 0, readable: false, writable: false, append: false, pathOnly: true, nonblock: false, direct: false })
}

/** do_open on an inode already looked up (an open by handle, as a 9P Tlopen of a fid): no creation, no symlink following. */
export function openInode(c: Ctx, ino: number, op: OpenRequest, fl: Set<OpenFlag>): Done {
  const { acc, accMode } = accessOf(fl)
  return doOpen(c, op, fl, ino, false, acc, accMode, fl.has("O_DIRECTORY"), c.root)
}

/** Binds a new description; a description the name held is closed after (the open succeeded). */
function bind(c: Ctx, name: string, f: OpenFile): void {
  const old = c.tx.fd(name)
  c.tx.setFd(name, Object.freeze(f))
  if (old !== undefined) {
    // closeFd checks isOpen over the table, which now holds the new description under this name.
    const i = c.tx.inode(old.ino)
    if (i !== undefined) {
      if (i.type === "fifo" && i.data !== "" && !pipeInUse(c.tx, old.ino)) c.tx.update(old.ino, { data: "" })
      freeIfUnused(c.tx, old.ino)
    }
  }
}

function doOpen(
  c: Ctx,
  op: OpenRequest,
  fl: Set<OpenFlag>,
  ino: number,
  created: boolean,
  acc: Acc,
  accMode: number,
  wantDir: boolean,
  dirOfLast: number,
): Done {
  let node = c.inode(ino)
  // do_open
  if (fl.has("O_CREAT")) {
    if (fl.has("O_EXCL") && !created) return err("EEXIST")
    if (node.type === "dir") return err("EISDIR")
    // may_create_in_sticky with fs.protected_regular = fs.protected_fifos = 0 (the reference machine):
    // regular files and FIFOs pass; any other type (a symlink not followed, a socket) in a
    // world-writable sticky directory must belong to the caller or the directory's owner, even for root.
    if (!created && node.type !== "file" && node.type !== "fifo") {
      const d = c.inode(dirOfLast)
      if ((d.mode & 0o1000) !== 0 && node.uid !== d.uid && node.uid !== c.cred.uid && (d.mode & 0o002) !== 0) return err("EACCES")
    }
  }
  if (wantDir && node.type !== "dir") return err("ENOTDIR")
  let truncate = false
  if (created) accMode = 0
  else if (node.type === "file" && fl.has("O_TRUNC")) {
    if (c.readOnly) return err("EROFS")
    truncate = true
  }
  // may_open
  if (node.type === "symlink") return err("ELOOP")
  if (node.type === "dir" && (accMode & MAY_WRITE) !== 0) return err("EISDIR")
  const denied = c.may(node, accMode)
  if (denied !== undefined) return err(denied)
  // vfs_open
  const readable = acc === Acc.Read || acc === Acc.ReadWrite
  const writable = acc === Acc.Write || acc === Acc.ReadWrite
  const nonblock = fl.has("O_NONBLOCK")
  let blocks: Blocks | undefined
  // A socket cannot be opened; nor can the 0:0 character device (chrdev_open finds no driver).
  if (node.type === "socket" || node.type === "chardev") return err("ENXIO")
  if (node.type === "fifo") {
    // fifo_open
    if (acc === Acc.None) return err("EINVAL")
    if (acc === Acc.Read && !nonblock && !writers(c.tx, ino)) blocks = { ino, end: "read" }
    if (acc === Acc.Write && !readers(c.tx, ino)) {
      if (nonblock) return err("ENXIO")
      blocks = { ino, end: "write" }
    }
  }
  // do_dentry_open: only regular files take O_DIRECT on tmpfs. The check comes after
  // fifo_open, so a blocking FIFO open waits for the other end, then fails (the model
  // does not count the waiting end meanwhile, see DIVERGENCES.md).
  if (fl.has("O_DIRECT") && node.type !== "file") return blocks === undefined ? err("EINVAL") : { result: err("EINVAL").result, blocks }
  if (truncate) {
    // handle_truncate -> do_truncate(ATTR_MTIME | ATTR_CTIME | ATTR_OPEN): times always, privileges dropped.
    c.tx.update(ino, { data: "", mtime: c.now, ctime: c.now, mode: modeAfterWrite(node, c.cred) })
    node = c.inode(ino)
  }
  bind(c, op.fd, {
    ino,
    offset: 0,
    readable,
    writable,
    append: fl.has("O_APPEND"),
    pathOnly: false,
    nonblock,
    direct: fl.has("O_DIRECT"),
  })
  return blocks === undefined ? ok : { result: OK, blocks }
}

export function close(c: Ctx, op: OpOf<"close">): Done {
  const f = c.tx.fd(op.fd)
  if (f === undefined) return err("EBADF")
  closeFd(c.tx, op.fd, f)
  return ok
}

// ---------------------------------------------------------------------------
// I/O on descriptions.

function fifoRead(c: Ctx, f: OpenFile, count: number): Done {
  const i = c.inode(f.ino)
  if (count === 0) return done({ data: "" })
  const buf = fifoBytes(i)
  if (buf === "") {
    // pipe_read: no data and no writer is end of file; with a writer, O_NONBLOCK
    // is EAGAIN and a blocking read would wait (the model answers EAGAIN too, see DIVERGENCES.md).
    if (!writers(c.tx, f.ino)) return done({ data: "" })
    return err("EAGAIN")
  }
  const data = buf.slice(0, count)
  c.tx.update(f.ino, { data: buf.slice(data.length), atime: c.now })
  return done({ data })
}

function fifoWrite(c: Ctx, f: OpenFile, data: string): Done {
  if (data.length === 0) return done({ count: 0 })
  if (!readers(c.tx, f.ino)) return err(EPIPE)
  const i = c.inode(f.ino)
  const room = PIPE_SIZE - fifoBytes(i).length
  // pipe_write: a write of at most PIPE_BUF is all or nothing; a larger one may be partial.
  if (room <= 0 || (data.length <= PIPE_BUF && data.length > room)) return err("EAGAIN")
  const n = Math.min(room, data.length)
  c.tx.update(f.ino, { data: fifoBytes(i) + data.slice(0, n), mtime: c.now, ctime: c.now })
  return done({ count: n })
}

/** vfs_read on a description at `pos`; returns the data read. Shared by read and pread. */
function readAt(c: Ctx, f: OpenFile, pos: number, count: number): { data: string } | Errno {
  if (!f.readable) return "EBADF"
  const i = c.inode(f.ino)
  if (i.type === "dir") return "EISDIR"
  if (count === 0) return { data: "" }
  const data = readRange(i.data, pos, count)
  c.tx.update(f.ino, { atime: c.now })
  return { data }
}

export function read(c: Ctx, op: OpOf<"read">): Done {
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  if (c.inode(f.ino).type === "fifo") {
    if (!f.readable) return err("EBADF")
    return fifoRead(c, f, op.count)
  }
  const r = readAt(c, f, f.offset, op.count)
  if (isErrno(r)) return err(r)
  if (r.data.length > 0) c.tx.setFd(op.fd, { ...f, offset: f.offset + r.data.length })
  return done(r)
}

export function pread(c: Ctx, op: OpOf<"pread">): Done {
  if (op.offset < 0) return err("EINVAL")
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  if (c.inode(f.ino).type === "fifo") return err("ESPIPE")
  const r = readAt(c, f, op.offset, op.count)
  return isErrno(r) ? err(r) : done(r)
}

/** vfs_write at `pos` (or at the end with O_APPEND); returns the new end of the written range and the bytes written. */
function writeAt(c: Ctx, f: OpenFile, pos: number, data: string): { end: number; count: number } | Errno {
  if (!f.writable) return "EBADF"
  const i = c.inode(f.ino)
  if (data.length === 0) return { end: pos, count: 0 }
  const at = f.append ? sizeOf(i.data) : pos
  // generic_write_check_limits: a write starting at or past s_maxbytes is
  // EFBIG, one crossing it is cut short there.
  if (at >= FILE_SIZE_MAX) return "EFBIG"
  const bytes = data.length <= FILE_SIZE_MAX - at ? data : data.slice(0, FILE_SIZE_MAX - at)
  setData(c, f.ino, writeRange(i.data, at, bytes), true)
  return { end: at + bytes.length, count: bytes.length }
}

export function write(c: Ctx, op: OpOf<"write">): Done {
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  if (c.inode(f.ino).type === "fifo") {
    if (!f.writable) return err("EBADF")
    return fifoWrite(c, f, op.data)
  }
  const w = writeAt(c, f, f.offset, op.data)
  if (isErrno(w)) return err(w)
  if (w.count > 0) c.tx.setFd(op.fd, { ...f, offset: w.end })
  return done({ count: w.count })
}

export function pwrite(c: Ctx, op: OpOf<"pwrite">): Done {
  if (op.offset < 0) return err("EINVAL")
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  if (c.inode(f.ino).type === "fifo") return err("ESPIPE")
  const w = writeAt(c, f, op.offset, op.data)
  return isErrno(w) ? err(w) : done({ count: w.count })
}

export function lseek(c: Ctx, op: OpOf<"lseek">): Done {
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  const i = c.inode(f.ino)
  if (i.type === "fifo") return err("ESPIPE")
  let pos: number
  if (op.whence === "SEEK_SET") pos = op.offset
  else if (op.whence === "SEEK_CUR") pos = f.offset + op.offset
  // offset_dir_llseek has no SEEK_END.
  else if (i.type === "dir") return err("EINVAL")
  else pos = sizeOf(i.data) + op.offset
  if (pos < 0) return err("EINVAL")
  if (pos !== f.offset) c.tx.setFd(op.fd, { ...f, offset: pos })
  return done({ offset: pos })
}

export function ftruncate(c: Ctx, op: OpOf<"ftruncate">): Done {
  if (op.length < 0) return err("EINVAL")
  const f = fdget(c, op.fd)
  if (isErrno(f)) return err(f)
  const i = c.inode(f.ino)
  if (i.type !== "file" || !f.writable) return err("EINVAL")
  if (op.length > FILE_SIZE_MAX) return err("EFBIG")
  // do_truncate(ATTR_MTIME | ATTR_CTIME): times even when the size stays.
  setData(c, f.ino, resize(i.data, op.length), true)
  return ok
}

export function fsync(c: Ctx, fd: string): Done {
  const f = fdget(c, fd)
  if (isErrno(f)) return err(f)
  // pipefifo_fops has no fsync.
  if (c.inode(f.ino).type === "fifo") return err("EINVAL")
  return ok
}

export function fstat(c: Ctx, op: OpOf<"fstat">): Done {
  const f = c.tx.fd(op.fd)
  if (f === undefined) return err("EBADF")
  return done(statOf(c.inode(f.ino)))
}

export function getdents(c: Ctx, op: OpOf<"getdents">): Done {
  const entries = entriesOf(c, op.fd)
  return isErrno(entries) ? err(entries) : done({ entries: entries.map((e) => ({ name: e.name, type: e.type })) })
}

/** A directory entry with the inode it names. */
export interface DirEntryIno extends DirEntry {
  readonly ino: number
}

/** iterate_dir over the directory open as `fd`: every entry, sorted by name, without "." and "..". */
export function entriesOf(c: Ctx, fd: string): DirEntryIno[] | Errno {
  const f = fdget(c, fd)
  if (isErrno(f)) return f
  const d = c.inode(f.ino)
  if (d.type !== "dir") return "ENOTDIR"
  // iterate_dir: a removed directory is ENOENT.
  if (d.nlink === 0) return "ENOENT"
  const children = d.children ?? EMPTY_DIRENTS
  const entries = children.names.map((name, k) => {
    const ino = children.inos[k] as number
    return { name, type: contractType(c.inode(ino).type), ino }
  })
  c.touchAtime(f.ino)
  return entries
}

// ---------------------------------------------------------------------------
// Path operations. Each is the path lookup followed by a part shared with
// the inode-level operations (inode.ts): `...In` takes the parent lookup of
// the last component (a path's, or a name's in a directory inode), `...Of`
// the inode the path names.

export function stat(c: Ctx, path: string, follow: boolean): Done {
  const ino = resolve(c, path, follow)
  return isErrno(ino) ? err(ino) : done(statOf(c.inode(ino)))
}

export function access(c: Ctx, op: OpOf<"access">): Done {
  let mask = 0
  if (op.mode !== "F_OK") for (const b of op.mode) mask |= b === "R_OK" ? MAY_READ : b === "W_OK" ? MAY_WRITE : MAY_EXEC
  const ino = resolve(c, op.path, true)
  if (isErrno(ino)) return err(ino)
  const denied = c.may(c.inode(ino), mask)
  return denied === undefined ? ok : err(denied)
}

export function truncate(c: Ctx, op: OpOf<"truncate">): Done {
  if (op.length < 0) return err("EINVAL")
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : truncateOf(c, ino, op.length)
}

/** vfs_truncate on an inode (the length is known not to be negative). */
export function truncateOf(c: Ctx, ino: number, length: number): Done {
  const i = c.inode(ino)
  if (i.type === "dir") return err("EISDIR")
  if (i.type !== "file") return err("EINVAL")
  if (c.readOnly) return err("EROFS")
  const denied = c.may(i, MAY_WRITE)
  if (denied !== undefined) return err(denied)
  if (length > FILE_SIZE_MAX) return err("EFBIG")
  // Measured on 6.18: mtime and ctime move even when the size stays (as for ftruncate).
  setData(c, ino, resize(i.data, length), true)
  return ok
}

export function mkdir(c: Ctx, op: OpOf<"mkdir">): Done {
  return mkdirIn(c, resolveParent(c, op.path), op.mode ?? 0o755)
}

/** A new inode of `type` entered under a name filename_create found free, after may_create. */
function createNode(c: Ctx, at: { dir: number; name: string } | Errno, type: InodeType, mode: (dir: number) => number, target = ""): Done {
  if (isErrno(at)) return err(at)
  const denied = c.mayCreate(at.dir)
  if (denied !== undefined) return err(denied)
  const made = makeInode(c, at.dir, type, mode(at.dir))
  const node = target === "" ? made : Object.freeze({ ...made, target })
  c.tx.put(node)
  addEntry(c, at.dir, at.name, node.ino, type === "dir")
  return ok
}

export function mkdirIn(c: Ctx, p: ParentAt | Errno, mode: number): Done {
  if (isErrno(p)) return err(p)
  // vfs_mkdir: vfs_prepare_mode masks to S_IRWXUGO | S_ISVTX.
  return createNode(c, createIn(c, p, true), "dir", () => mode & 0o1777)
}

export function mknod(c: Ctx, op: OpOf<"mknod">): Done {
  return mknodIn(c, resolveParent(c, op.path), op.type, op.mode ?? 0o644)
}

export function mknodIn(c: Ctx, p: ParentAt | Errno, type: MknodType, mode: number): Done {
  if (isErrno(p)) return err(p)
  return createNode(c, createIn(c, p, false), type, (dir) => stripSgid(c, dir, mode))
}

/**
 * mknod of the 0:0 character device (an overlay whiteout; not reachable
 * from the contract's mknod). vfs_mknod asks CAP_MKNOD for devices but not
 * for the whiteout device, so only may_create applies.
 */
export function mknodWhiteoutIn(c: Ctx, p: ParentAt | Errno, mode: number): Done {
  if (isErrno(p)) return err(p)
  return createNode(c, createIn(c, p, false), "chardev", (dir) => stripSgid(c, dir, mode & 0o7777))
}

export function symlink(c: Ctx, op: OpOf<"symlink">): Done {
  const target = symlinkTarget(op.target)
  return isErrno(target) ? err(target) : symlinkIn(c, resolveParent(c, op.path), target.target)
}

/** do_symlinkat copies the target (getname) before looking up the new name. */
export function symlinkTarget(given: string): { readonly target: string } | Errno {
  const target = cleanPath(given)
  return pathError(target) ?? { target }
}

export function symlinkIn(c: Ctx, p: ParentAt | Errno, target: string): Done {
  if (isErrno(p)) return err(p)
  return createNode(c, createIn(c, p, false), "symlink", () => 0o777, target)
}

export function readlink(c: Ctx, op: OpOf<"readlink">): Done {
  const ino = resolve(c, op.path, false)
  return isErrno(ino) ? err(ino) : readlinkOf(c, ino)
}

export function readlinkOf(c: Ctx, ino: number): Done {
  const i = c.inode(ino)
  if (i.type !== "symlink") return err("EINVAL")
  c.touchAtime(ino)
  return done({ target: i.target })
}

export function link(c: Ctx, op: OpOf<"link">): Done {
  const src = resolve(c, op.from, false)
  return isErrno(src) ? err(src) : linkIn(c, src, resolveParent(c, op.to))
}

/** linkat after the source's lookup: filename_create of the new name, may_linkat, vfs_link. */
export function linkIn(c: Ctx, src: number, p: ParentAt | Errno): Done {
  if (isErrno(p)) return err(p)
  const at = createIn(c, p, false)
  if (isErrno(at)) return err(at)
  const i = c.inode(src)
  if (!mayLink(i, c.cred)) return err("EPERM")
  // vfs_link
  const denied = c.mayCreate(at.dir)
  if (denied !== undefined) return err(denied)
  if (i.type === "dir") return err("EPERM")
  if (i.nlink === 0) return err("ENOENT")
  c.tx.update(src, { nlink: i.nlink + 1, ctime: c.now })
  addEntry(c, at.dir, at.name, src, false)
  return ok
}

export function unlink(c: Ctx, op: OpOf<"unlink">): Done {
  return unlinkIn(c, resolveParent(c, op.path))
}

export function unlinkIn(c: Ctx, p: ParentAt | Errno): Done {
  if (isErrno(p)) return err(p)
  if (p.type !== Last.Norm) return err("EISDIR")
  if (c.readOnly) return err("EROFS")
  const victim = lookupChild(c, p.dir, p.name)
  if (isErrno(victim)) return err(victim)
  if (p.slash) return err(c.inode(victim).type === "dir" ? "EISDIR" : "ENOTDIR")
  const denied = mayDelete(c, p.dir, victim, false)
  if (denied !== undefined) return err(denied)
  removeEntry(c, p.dir, p.name, false)
  dropName(c, victim)
  return ok
}

export function rmdir(c: Ctx, op: OpOf<"rmdir">): Done {
  return rmdirIn(c, resolveParent(c, op.path))
}

export function rmdirIn(c: Ctx, p: ParentAt | Errno): Done {
  if (isErrno(p)) return err(p)
  if (p.type === Last.DotDot) return err("ENOTEMPTY")
  if (p.type === Last.Dot) return err("EINVAL")
  if (p.type === Last.Root) return err("EBUSY")
  if (c.readOnly) return err("EROFS")
  const victim = lookupChild(c, p.dir, p.name)
  if (isErrno(victim)) return err(victim)
  const denied = mayDelete(c, p.dir, victim, true)
  if (denied !== undefined) return err(denied)
  if (!isEmptyDir(c.inode(victim))) return err("ENOTEMPTY")
  removeEntry(c, p.dir, p.name, true)
  dropName(c, victim)
  return ok
}

/** lock_rename's trap: the child of `p2` on the way up from `p1`, if `p2` is a proper ancestor of `p1`. */
function childTowards(c: Ctx, p1: number, p2: number): number | undefined {
  let p = p1
  for (;;) {
    if (p === c.root) return undefined
    const up = c.inode(p).parent
    if (up === p2) return p
    p = up
  }
}

/** renameat2: do_renameat2, vfs_rename, shmem_rename2. */
export function rename(c: Ctx, op: OpOf<"rename">): Done {
  const noreplace = op.flags?.includes("RENAME_NOREPLACE") ?? false
  const exchange = op.flags?.includes("RENAME_EXCHANGE") ?? false
  if (noreplace && exchange) return err("EINVAL")
  const from = resolveParent(c, op.from)
  if (isErrno(from)) return err(from)
  return renameIn(c, from, resolveParent(c, op.to), op.flags ?? [])
}

/** renameat2 once the source's parent is looked up (flags known to be compatible). */
export function renameIn(c: Ctx, from: ParentAt, toLookup: ParentAt | Errno, flags: readonly RenameFlag[]): Done {
  const noreplace = flags.includes("RENAME_NOREPLACE")
  const exchange = flags.includes("RENAME_EXCHANGE")
  const to = toLookup
  if (isErrno(to)) return err(to)
  if (from.type !== Last.Norm) return err("EBUSY")
  if (to.type !== Last.Norm) return err(noreplace ? "EEXIST" : "EBUSY")
  if (c.readOnly) return err("EROFS")
  const src = lookupChild(c, from.dir, from.name)
  if (isErrno(src)) return err(src)
  const tgtLookup = lookupChild(c, to.dir, to.name)
  if (tgtLookup === "ENAMETOOLONG") return err(tgtLookup)
  const tgt = isErrno(tgtLookup) ? undefined : tgtLookup
  if (noreplace && tgt !== undefined) return err("EEXIST")
  const srcIsDir = c.inode(src).type === "dir"
  const tgtIsDir = tgt !== undefined && c.inode(tgt).type === "dir"
  if (exchange) {
    if (tgt === undefined) return err("ENOENT")
    if (!tgtIsDir && to.slash) return err("ENOTDIR")
  }
  if (!srcIsDir) {
    if (from.slash) return err("ENOTDIR")
    if (!exchange && to.slash) return err("ENOTDIR")
  }
  if (from.dir !== to.dir) {
    const trapOld = childTowards(c, to.dir, from.dir)
    if (trapOld !== undefined) {
      if (src === trapOld) return err("EINVAL")
    } else {
      const trapNew = childTowards(c, from.dir, to.dir)
      if (trapNew !== undefined && tgt === trapNew) return err(exchange ? "EINVAL" : "ENOTEMPTY")
    }
  }
  // vfs_rename
  if (src === tgt) return ok
  let denied = mayDelete(c, from.dir, src, srcIsDir)
  if (denied !== undefined) return err(denied)
  if (tgt === undefined) denied = c.mayCreate(to.dir)
  else denied = mayDelete(c, to.dir, tgt, exchange ? tgtIsDir : srcIsDir)
  if (denied !== undefined) return err(denied)
  if (from.dir !== to.dir) {
    // Moving a directory rewrites its "..": write permission on it.
    if (srcIsDir && c.may(c.inode(src), MAY_WRITE) !== undefined) return err("EACCES")
    if (exchange && tgtIsDir && tgt !== undefined && c.may(c.inode(tgt), MAY_WRITE) !== undefined) return err("EACCES")
  }
  if (exchange && tgt !== undefined) {
    exchangeEntries(c, from, to, src, tgt, srcIsDir, tgtIsDir)
    return ok
  }
  if (tgt !== undefined && tgtIsDir && !isEmptyDir(c.inode(tgt))) return err("ENOTEMPTY")
  // shmem_rename2
  if (tgt !== undefined) {
    removeEntry(c, to.dir, to.name, tgtIsDir)
    dropName(c, tgt)
  }
  removeEntry(c, from.dir, from.name, srcIsDir)
  addEntry(c, to.dir, to.name, src, srcIsDir)
  c.tx.update(src, srcIsDir ? { parent: to.dir, ctime: c.now } : { ctime: c.now })
  return ok
}

function exchangeEntries(c: Ctx, from: ParentAt, to: ParentAt, src: number, tgt: number, srcIsDir: boolean, tgtIsDir: boolean): void {
  const now = c.now
  if (from.dir === to.dir) {
    const d = c.inode(from.dir)
    const swapped = direntSet(direntSet(d.children ?? EMPTY_DIRENTS, from.name, tgt), to.name, src)
    c.tx.update(from.dir, { children: swapped, mtime: now, ctime: now })
  } else {
    // simple_rename_exchange: the parents' link counts follow a directory that changes sides.
    const linkDelta = srcIsDir === tgtIsDir ? 0 : srcIsDir ? 1 : -1
    const fd = c.inode(from.dir)
    c.tx.update(from.dir, { children: direntSet(fd.children ?? EMPTY_DIRENTS, from.name, tgt), nlink: fd.nlink - linkDelta, mtime: now, ctime: now })
    const td = c.inode(to.dir)
    c.tx.update(to.dir, { children: direntSet(td.children ?? EMPTY_DIRENTS, to.name, src), nlink: td.nlink + linkDelta, mtime: now, ctime: now })
  }
  c.tx.update(src, srcIsDir ? { parent: to.dir, ctime: now } : { ctime: now })
  c.tx.update(tgt, tgtIsDir ? { parent: from.dir, ctime: now } : { ctime: now })
}

export function chmod(c: Ctx, op: OpOf<"chmod">): Done {
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : chmodOf(c, ino, op.mode)
}

/** chmod_common. A symlink (reachable only by inode: chmod(2) follows links) is EOPNOTSUPP, as fchmodat2(AT_SYMLINK_NOFOLLOW) says. */
export function chmodOf(c: Ctx, ino: number, given: number): Done {
  const i = c.inode(ino)
  if (i.type === "symlink") return err("EOPNOTSUPP")
  if (c.readOnly) return err("EROFS")
  // setattr_prepare
  if (!ownerOrCapable(i, c.cred)) return err("EPERM")
  let mode = given & 0o7777
  if (!inGroupOrCapable(c.cred, i.gid)) mode &= ~S_ISGID
  c.tx.update(ino, { mode, ctime: c.now })
  return ok
}

/** (uid_t)-1 and (gid_t)-1 mean "leave unchanged", as an absent field does. */
const NO_ID = 0xffff_ffff

export function chown(c: Ctx, op: OpOf<"chown">): Done {
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : chownOf(c, ino, op.uid, op.gid)
}

/** chown_common on an inode; an absent id or (id_t)-1 leaves it unchanged. */
export function chownOf(c: Ctx, ino: number, givenUid: number | undefined, givenGid: number | undefined): Done {
  const uid = givenUid === NO_ID ? undefined : givenUid
  const gid = givenGid === NO_ID ? undefined : givenGid
  if (c.readOnly) return err("EROFS")
  const i = c.inode(ino)
  const cred = c.cred
  // chown_common, then notify_change turning ATTR_KILL_SUID/SGID into a mode change.
  let mode = i.mode
  let modeChanges = false
  if (i.type !== "dir") {
    if ((mode & S_ISUID) !== 0) {
      mode &= ~S_ISUID
      modeChanges = true
    }
    if (shouldDropSgid(i, cred)) {
      mode &= ~S_ISGID
      modeChanges = true
    }
  }
  // setattr_prepare: chown_ok, chgrp_ok, then the mode change's own rules.
  if (uid !== undefined && !((cred.uid === i.uid && uid === i.uid) || isRoot(cred))) return err("EPERM")
  if (gid !== undefined && !((cred.uid === i.uid && (gid === i.gid || cred.gid === gid || cred.groups.includes(gid))) || isRoot(cred))) {
    return err("EPERM")
  }
  const newGid = gid ?? i.gid
  if (modeChanges) {
    if (!ownerOrCapable(i, cred)) return err("EPERM")
    if (!inGroupOrCapable(cred, newGid)) mode &= ~S_ISGID
  }
  c.tx.update(ino, { uid: uid ?? i.uid, gid: newGid, mode, ctime: c.now })
  return ok
}

function timeOf(spec: TimeSpec | undefined, now: number, old: number): number {
  return spec === undefined ? old : spec === "UTIME_NOW" ? now : spec
}

/** utimensat(2) on a path: do_utimes, vfs_utimes, notify_change, setattr_prepare. */
export function utimens(c: Ctx, op: OpOf<"utimens">): Done {
  // Both UTIME_OMIT: nothing to do, "we must not even check the path".
  if (op.atime === undefined && op.mtime === undefined) return ok
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : utimensOf(c, ino, op.atime, op.mtime)
}

/** vfs_utimes on an inode; absent times are UTIME_OMIT. */
export function utimensOf(c: Ctx, ino: number, atime: TimeSpec | undefined, mtime: TimeSpec | undefined): Done {
  if (atime === undefined && mtime === undefined) return ok
  if (c.readOnly) return err("EROFS")
  const i = c.inode(ino)
  if (atime === "UTIME_NOW" && mtime === "UTIME_NOW") {
    // ATTR_TOUCH: the owner, CAP_FOWNER, or write permission.
    if (!ownerOrCapable(i, c.cred)) {
      const denied = c.may(i, MAY_WRITE)
      if (denied !== undefined) return err(denied)
    }
  } else if (!ownerOrCapable(i, c.cred)) return err("EPERM")
  c.tx.update(ino, { atime: timeOf(atime, c.now, i.atime), mtime: timeOf(mtime, c.now, i.mtime), ctime: c.now })
  return ok
}

// ---------------------------------------------------------------------------
// Extended attributes (fs/xattr.c and tmpfs's handlers).

const XATTR_PREFIXES = ["user.", "trusted.", "security.", "system."] as const

/** setxattr_copy / getxattr's name copy: empty or longer than XATTR_NAME_MAX is ERANGE. */
export function checkXattrName(name: string): Errno | undefined {
  return name.length === 0 || name.length > XATTR_NAME_MAX ? "ERANGE" : undefined
}

/** xattr_permission. */
function xattrPermission(c: Ctx, i: Inode, name: string, mask: number): Errno | undefined {
  const write = (mask & MAY_WRITE) !== 0
  if (name.startsWith("security.") || name.startsWith("system.")) return undefined
  if (name.startsWith("trusted.")) {
    if (!isRoot(c.cred)) return write ? "EPERM" : "ENODATA"
    return undefined
  }
  if (name.startsWith("user.")) {
    if (i.type !== "file" && i.type !== "dir") return write ? "EPERM" : "ENODATA"
    if (i.type === "dir" && (i.mode & 0o1000) !== 0 && write && !ownerOrCapable(i, c.cred)) return "EPERM"
  }
  return c.may(i, mask)
}

/** xattr_resolve_name over tmpfs's handlers (user, trusted, security; system only for POSIX ACLs, not modelled). */
function xattrHandler(name: string): Errno | undefined {
  for (const prefix of XATTR_PREFIXES) {
    if (!name.startsWith(prefix)) continue
    if (prefix === "system.") return "EOPNOTSUPP"
    return name.length === prefix.length ? "EINVAL" : undefined
  }
  return "EOPNOTSUPP"
}

export function getxattr(c: Ctx, op: OpOf<"getxattr">): Done {
  const bad = checkXattrName(op.name)
  if (bad !== undefined) return err(bad)
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : getxattrOf(c, ino, op.name)
}

/** vfs_getxattr on an inode (the name is known to be well formed). */
export function getxattrOf(c: Ctx, ino: number, name: string): Done {
  const i = c.inode(ino)
  const denied = xattrPermission(c, i, name, MAY_READ) ?? xattrHandler(name)
  if (denied !== undefined) return err(denied)
  const value = i.xattrs === null ? undefined : i.xattrs[name]
  return value === undefined ? err("ENODATA") : done({ value })
}

export function setxattr(c: Ctx, op: OpOf<"setxattr">): Done {
  const bad = checkXattrName(op.name) ?? (op.value.length > XATTR_SIZE_MAX ? "E2BIG" : undefined)
  if (bad !== undefined) return err(bad)
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : setxattrOf(c, ino, op.name, op.value, op.flags ?? [])
}

/** vfs_setxattr on an inode (the name and size are known to be within limits). */
export function setxattrOf(c: Ctx, ino: number, name: string, value: string, flags: readonly XattrFlag[]): Done {
  if (c.readOnly) return err("EROFS")
  const i = c.inode(ino)
  const denied = xattrPermission(c, i, name, MAY_WRITE) ?? securityHook(c, name) ?? xattrHandler(name)
  if (denied !== undefined) return err(denied)
  const exists = i.xattrs !== null && i.xattrs[name] !== undefined
  if (exists && flags.includes("XATTR_CREATE")) return err("EEXIST")
  if (!exists && flags.includes("XATTR_REPLACE")) return err("ENODATA")
  c.tx.update(ino, { xattrs: withKey(i.xattrs, name, value), ctime: c.now })
  return ok
}

/** cap_inode_setxattr / cap_inode_removexattr: security.* needs CAP_SYS_ADMIN. */
function securityHook(c: Ctx, name: string): Errno | undefined {
  return name.startsWith("security.") && !isRoot(c.cred) ? "EPERM" : undefined
}

export function listxattr(c: Ctx, op: OpOf<"listxattr">): Done {
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : listxattrOf(c, ino)
}

/** The contract's listxattr: the `user.` names, sorted. */
export function listxattrOf(c: Ctx, ino: number): Done {
  const x = c.inode(ino).xattrs
  const names = x === null ? [] : Object.keys(x).filter((n) => n.startsWith("user.")).sort()
  return done({ names })
}

export function removexattr(c: Ctx, op: OpOf<"removexattr">): Done {
  const bad = checkXattrName(op.name)
  if (bad !== undefined) return err(bad)
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : removexattrOf(c, ino, op.name)
}

/** vfs_removexattr on an inode (the name is known to be well formed). */
export function removexattrOf(c: Ctx, ino: number, name: string): Done {
  if (c.readOnly) return err("EROFS")
  const i = c.inode(ino)
  const denied = xattrPermission(c, i, name, MAY_WRITE) ?? securityHook(c, name) ?? xattrHandler(name)
  if (denied !== undefined) return err(denied)
  if (i.xattrs === null || i.xattrs[name] === undefined) return err("ENODATA")
  const rest = withKey(i.xattrs, name, undefined)
  let empty = true
  for (const _ in rest) {
    empty = false
    break
  }
  c.tx.update(ino, { xattrs: empty ? null : rest, ctime: c.now })
  return ok
}

/** What statfs reports (the contract compares only the name length). */
export const NAME_LENGTH_MAX = 255

export function statfs(c: Ctx, op: OpOf<"statfs">): Done {
  const ino = resolve(c, op.path, true)
  return isErrno(ino) ? err(ino) : done({ namelen: NAME_LENGTH_MAX })
}

/** Runs one op against a transaction. Never throws for a decoded Op. */
export function run(c: Ctx, op: Op): Done {
  switch (op.op) {
    case "open":
      return open(c, op)
    case "close":
      return close(c, op)
    case "read":
      return read(c, op)
    case "write":
      return write(c, op)
    case "pread":
      return pread(c, op)
    case "pwrite":
      return pwrite(c, op)
    case "lseek":
      return lseek(c, op)
    case "ftruncate":
      return ftruncate(c, op)
    case "fsync":
    case "fdatasync":
      return fsync(c, op.fd)
    case "fstat":
      return fstat(c, op)
    case "getdents":
      return getdents(c, op)
    case "stat":
      return stat(c, op.path, true)
    case "lstat":
      return stat(c, op.path, false)
    case "access":
      return access(c, op)
    case "truncate":
      return truncate(c, op)
    case "mkdir":
      return mkdir(c, op)
    case "rmdir":
      return rmdir(c, op)
    case "unlink":
      return unlink(c, op)
    case "rename":
      return rename(c, op)
    case "link":
      return link(c, op)
    case "symlink":
      return symlink(c, op)
    case "readlink":
      return readlink(c, op)
    case "mknod":
      return mknod(c, op)
    case "chmod":
      return chmod(c, op)
    case "chown":
      return chown(c, op)
    case "utimens":
      return utimens(c, op)
    case "getxattr":
      return getxattr(c, op)
    case "setxattr":
      return setxattr(c, op)
    case "listxattr":
      return listxattr(c, op)
    case "removexattr":
      return removexattr(c, op)
    case "statfs":
      return statfs(c, op)
    case "sync":
    case "sleep":
      return ok
  }
}
