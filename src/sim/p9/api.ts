// The 9P2000.L client interface the gofer port calls, after gVisor's
// pkg/p9 `File` and `Client` as the gofer's p9file.go wraps them. Calls are
// generators (each RPC is two scheduling points: request delivered, reply
// delivered) and return Go-style tuples whose last element is the error
// (an errno name, or null), so the port keeps gVisor's explicit error paths.
//
// Values follow pkg/p9's types; times are nanoseconds on the simulated clock
// (the wire codec splits them into seconds and nanoseconds); file contents
// are strings of one byte per code unit (Latin-1), as in the contract.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../scheduler.js"

export type P9Err = Errno | null

/** pkg/p9 QIDType bits. */
export const QID_TYPE_DIR = 0x80
export const QID_TYPE_SYMLINK = 0x02
export const QID_TYPE_REGULAR = 0x00

/** A server's identity for a file: `path` is its inode number, `version` bumps on every change. */
export interface QID {
  readonly type: number
  readonly version: number
  readonly path: number
}

/** File type bits of a p9.FileMode (Linux S_IF*), and the permission mask. */
export const S_IFMT = 0o170000
export const S_IFSOCK = 0o140000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFCHR = 0o020000
export const S_IFIFO = 0o010000
export const PERMISSIONS_MASK = 0o7777

/** Tgetattr request/valid bits (9P2000.L P9_GETATTR_*). */
export const ATTR_MODE = 0x1
export const ATTR_NLINK = 0x2
export const ATTR_UID = 0x4
export const ATTR_GID = 0x8
export const ATTR_RDEV = 0x10
export const ATTR_ATIME = 0x20
export const ATTR_MTIME = 0x40
export const ATTR_CTIME = 0x80
export const ATTR_INO = 0x100
export const ATTR_SIZE = 0x200
export const ATTR_BLOCKS = 0x400
export const ATTR_BTIME = 0x800
export const ATTR_GEN = 0x1000
export const ATTR_DATA_VERSION = 0x2000
/** P9_GETATTR_BASIC: everything but btime, gen and data version. */
export const ATTR_BASIC = 0x7ff
export const ATTR_ALL = 0x3fff
export type AttrMask = number

export interface Attr {
  /** File type and permission bits. */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly nlink: number
  readonly rdev: number
  readonly size: number
  readonly blockSize: number
  readonly blocks: number
  readonly atime: number
  readonly mtime: number
  readonly ctime: number
  readonly btime: number
  readonly gen: number
  readonly dataVersion: number
}

/** Tsetattr valid bits (9P2000.L P9_SETATTR_*). */
export const SETATTR_MODE = 0x1
export const SETATTR_UID = 0x2
export const SETATTR_GID = 0x4
export const SETATTR_SIZE = 0x8
export const SETATTR_ATIME = 0x10
export const SETATTR_MTIME = 0x20
export const SETATTR_CTIME = 0x40
/** The atime/mtime given are to be used (else the server's current time). */
export const SETATTR_ATIME_SET = 0x80
export const SETATTR_MTIME_SET = 0x100
export type SetAttrMask = number

export interface SetAttr {
  readonly permissions: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly atime: number
  readonly mtime: number
}

/** Tlopen/Tlcreate flags as pkg/p9 OpenFlags. */
export const OPEN_READ_ONLY = 0
export const OPEN_WRITE_ONLY = 1
export const OPEN_READ_WRITE = 2
export const OPEN_FLAGS_MODE_MASK = 3
export const OPEN_TRUNCATE = 0o1000
export type OpenFlags = number

/** Tunlinkat flags. */
export const AT_REMOVEDIR = 0x200

export interface Dirent {
  readonly qid: QID
  /** Where the next Treaddir continues. */
  readonly offset: number
  /** DT_* type. */
  readonly type: number
  readonly name: string
}

export interface FSStat {
  readonly type: number
  readonly blockSize: number
  readonly blocks: number
  readonly blocksFree: number
  readonly blocksAvailable: number
  readonly files: number
  readonly filesFree: number
  readonly fsid: number
  readonly nameLength: number
}

/**
 * A fid, as the client holds it. `owner` arguments name what the new fid is
 * for ("dentry /a/b", "handle /a/b rw"), so checkers can name a leaked fid.
 */
export interface P9File {
  readonly fid: number
  walk(names: readonly string[], owner: string): Sim<[readonly QID[], P9File | null, P9Err]>
  walkGetAttr(names: readonly string[], owner: string): Sim<[readonly QID[], P9File | null, AttrMask, Attr | null, P9Err]>
  getAttr(req: AttrMask): Sim<[QID | null, AttrMask, Attr | null, P9Err]>
  setAttr(valid: SetAttrMask, attr: SetAttr): Sim<P9Err>
  statFS(): Sim<[FSStat | null, P9Err]>
  /** Tlopen: opens this fid for I/O (no host FD in fsim). Returns the qid and iounit. */
  open(flags: OpenFlags): Sim<[QID | null, number, P9Err]>
  /** Tlcreate: creates `name` in this directory fid; the fid then names the new, open file (pkg/p9 walks a new fid first, as the client returns). */
  create(name: string, flags: OpenFlags, permissions: number, uid: number, gid: number, owner: string): Sim<[P9File | null, QID | null, number, P9Err]>
  mkdir(name: string, permissions: number, uid: number, gid: number): Sim<[QID | null, P9Err]>
  symlink(target: string, newName: string, uid: number, gid: number): Sim<[QID | null, P9Err]>
  link(target: P9File, newName: string): Sim<P9Err>
  mknod(name: string, mode: number, major: number, minor: number, uid: number, gid: number): Sim<[QID | null, P9Err]>
  /** Trename: this fid's file moves into `newDir` as `newName`. */
  rename(newDir: P9File, newName: string): Sim<P9Err>
  /** Trenameat: `oldName` in this directory moves to `newName` in `newDir`. */
  renameAt(oldName: string, newDir: P9File, newName: string): Sim<P9Err>
  unlinkAt(name: string, flags: number): Sim<P9Err>
  readdir(offset: number, count: number): Sim<[readonly Dirent[], P9Err]>
  readlink(): Sim<[string, P9Err]>
  /** pkg/p9's payloadSize: the most one Tread or Twrite carries (msize less the I/O header). */
  readonly chunkSize: number
  /** Tread of at most `count` bytes (cut to what msize allows). */
  readAt(count: number, offset: number): Sim<[string, P9Err]>
  /** Twrite (cut to what msize allows); returns the count written. */
  writeAt(data: string, offset: number): Sim<[number, P9Err]>
  fsync(): Sim<P9Err>
  allocate(mode: number, offset: number, length: number): Sim<P9Err>
  /** Tflushf (gVisor's extension): flush this fid's pending writes. */
  flush(): Sim<P9Err>
  getXattr(name: string, size: number): Sim<[string, P9Err]>
  setXattr(name: string, value: string, flags: number): Sim<P9Err>
  listXattr(size: number): Sim<[readonly string[], P9Err]>
  removeXattr(name: string): Sim<P9Err>
  /** Tlconnect (gVisor's extension) for a socket file. */
  connect(flags: number): Sim<P9Err>
  /** Tclunk: releases the fid. */
  close(): Sim<P9Err>
}

export interface P9Client {
  /** The negotiated message size and version string. */
  readonly msize: number
  readonly version: string
  /** Tattach as `uid` to the share's root; returns the root fid. */
  attach(aname: string, uid: number, owner: string): Sim<[P9File | null, P9Err]>
  /** Fids the client holds now, with what each is for (for leak reports). */
  liveFids(): ReadonlyMap<number, string>
}
