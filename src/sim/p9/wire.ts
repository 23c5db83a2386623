// The 9P2000.L vocabulary: message type numbers, the typed messages, the
// protocol's sentinels and Linux's errno numbers. Names follow gVisor's
// pkg/p9 (messages.go, p9.go) so the two can be read side by side; the
// gVisor extensions are listed with the version that introduced them
// (pkg/p9/version.go).
//
// Values: numbers are JavaScript numbers (u64 quantities above 2^53 lose
// precision when decoded, which only a hostile peer sends), except readdir
// offsets, which are opaque 64-bit cookies (ext4's are directory hashes up
// to 2^63) and travel exactly as bigints; times are
// nanoseconds (the codec splits them into seconds and nanoseconds); strings
// and file data hold one byte per code unit (Latin-1), as in the contract,
// so names travel as the bytes they are; where a name starts as text (a
// served scenario's tree), utf8.ts turns it into its UTF-8 bytes first.

import type { Errno } from "../../model/types.js"
import type { Attr, AttrMask, FSStat, OpenFlags, QID, SetAttr, SetAttrMask } from "./api.js"

/** pkg/p9 MsgType numbers. */
export const MSG = {
  Tlerror: 6,
  Rlerror: 7,
  Tstatfs: 8,
  Rstatfs: 9,
  Tlopen: 12,
  Rlopen: 13,
  Tlcreate: 14,
  Rlcreate: 15,
  Tsymlink: 16,
  Rsymlink: 17,
  Tmknod: 18,
  Rmknod: 19,
  Trename: 20,
  Rrename: 21,
  Treadlink: 22,
  Rreadlink: 23,
  Tgetattr: 24,
  Rgetattr: 25,
  Tsetattr: 26,
  Rsetattr: 27,
  Txattrwalk: 30,
  Rxattrwalk: 31,
  Txattrcreate: 32,
  Rxattrcreate: 33,
  // gVisor's xattr messages (versions 10 and 11). The pkg/p9 sources we
  // could read define the messages but not these numbers: they are the
  // numbers of gVisor's later p9.go as we know them (see README.md).
  Tgetxattr: 34,
  Rgetxattr: 35,
  Tsetxattr: 36,
  Rsetxattr: 37,
  Tlistxattr: 38,
  Rlistxattr: 39,
  Treaddir: 40,
  Rreaddir: 41,
  Tremovexattr: 42,
  Rremovexattr: 43,
  Tfsync: 50,
  Rfsync: 51,
  Tlink: 70,
  Rlink: 71,
  Tmkdir: 72,
  Rmkdir: 73,
  Trenameat: 74,
  Rrenameat: 75,
  Tunlinkat: 76,
  Runlinkat: 77,
  Tversion: 100,
  Rversion: 101,
  Tauth: 102,
  Rauth: 103,
  Tattach: 104,
  Rattach: 105,
  Tflush: 108,
  Rflush: 109,
  Twalk: 110,
  Rwalk: 111,
  Tread: 116,
  Rread: 117,
  Twrite: 118,
  Rwrite: 119,
  Tclunk: 120,
  Rclunk: 121,
  Tremove: 122,
  Rremove: 123,
  Tflushf: 124,
  Rflushf: 125,
  Twalkgetattr: 126,
  Rwalkgetattr: 127,
  Tucreate: 128,
  Rucreate: 129,
  Tumkdir: 130,
  Rumkdir: 131,
  Tumknod: 132,
  Rumknod: 133,
  Tusymlink: 134,
  Rusymlink: 135,
  Tlconnect: 136,
  Rlconnect: 137,
  Tallocate: 138,
  Rallocate: 139,
  Tchannel: 250,
  Rchannel: 251,
} as const

export type MsgName = keyof typeof MSG

/** Message names by type number. */
export const MSG_NAME: ReadonlyMap<number, MsgName> = new Map(Object.entries(MSG).map(([k, v]) => [v, k as MsgName]))

export const NOTAG = 0xffff
export const NOFID = 0xffff_ffff
export const NOUID = 0xffff_ffff
export const NOGID = 0xffff_ffff
/** Most names one Twalk may carry (9P's MAXWELEM). */
export const MAXWELEM = 16
/**
 * Room for the header of a Tread/Twrite/Rread/Rreaddir (Linux's and npfs's
 * P9_IOHDRSZ): reads, writes and readdirs are cut to msize - IOHDRSZ.
 */
export const IOHDRSZ = 24
/** size[4] type[1] tag[2]. */
export const HEADER_SIZE = 7
/** A qid on the wire: type[1] version[4] path[8]. */
export const QID_SIZE = 13

/** The protocol without extensions, and gVisor's extension levels (pkg/p9 version.go). */
export const BASE_VERSION = "9P2000.L"
export const VERSION_PREFIX = "9P2000.L.Google."

/** The extension level a version string names, or null for an unknown protocol. */
export function parseVersion(s: string): number | null {
  if (s === BASE_VERSION) return 0
  if (!s.startsWith(VERSION_PREFIX)) return null
  const n = s.slice(VERSION_PREFIX.length)
  if (!/^[0-9]{1,9}$/.test(n)) return null
  return Number(n)
}

export function versionString(level: number): string {
  return level === 0 ? BASE_VERSION : `${VERSION_PREFIX}${level}`
}

/** What each extension level adds (the predicates of pkg/p9 version.go). */
export const VERSION_SUPPORTS = {
  flushf: 1,
  walkGetAttr: 2,
  uCreation: 3,
  connect: 4,
  anonymousConnect: 5,
  multiUser: 6,
  allocate: 7,
  flipcall: 8,
  openTruncate: 9,
  getSetXattr: 10,
  listRemoveXattr: 11,
} as const

/** 9P2000.L Tlopen/Tlcreate flag bits (P9_DOTL_*, which are Linux's x86 O_* values). */
export const DOTL = {
  CREATE: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  NONBLOCK: 0o4000,
  DSYNC: 0o10000,
  FASYNC: 0o20000,
  DIRECT: 0o40000,
  LARGEFILE: 0o100000,
  DIRECTORY: 0o200000,
  NOFOLLOW: 0o400000,
  NOATIME: 0o1000000,
  CLOEXEC: 0o2000000,
  SYNC: 0o4000000,
} as const

/** Linux dirent types (DT_*), as Rreaddir carries them. */
export const DT = { FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const

/** Tsetxattr/Txattrcreate flags (XATTR_CREATE, XATTR_REPLACE). */
export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

/** The filesystem type Tstatfs reports (V9FS_MAGIC, as diod does). */
export const V9FS_MAGIC = 0x01021997

/** Linux (x86-64, generic) errno numbers of the names the model uses. */
export const ERRNO_NUMBER: Readonly<Record<Errno, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ENOTSUP: 95,
  ENOTCONN: 107,
  ESTALE: 116,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
}

const ERRNO_BY_NUMBER = new Map<number, Errno>()
for (const [name, n] of Object.entries(ERRNO_NUMBER) as [Errno, number][]) {
  // ENOTSUP and EOPNOTSUPP share 95: a reply of 95 reads as EOPNOTSUPP.
  if (!ERRNO_BY_NUMBER.has(n) || name === "EOPNOTSUPP") ERRNO_BY_NUMBER.set(n, name)
}

/** The errno name of a Linux errno number, or null for one the model does not know. */
export function errnoName(n: number): Errno | null {
  return ERRNO_BY_NUMBER.get(n) ?? null
}

// ---------------------------------------------------------------------------
// Messages. Field names follow pkg/p9's structs, in lower camel case.

/** A readdir entry as it travels: `offset` is the server's cookie for the Treaddir that continues after it. */
export interface WireDirent {
  readonly qid: QID
  readonly offset: bigint
  /** DT_* type. */
  readonly type: number
  readonly name: string
}

export type Tmessage =
  | { readonly type: "Tversion"; readonly msize: number; readonly version: string }
  | { readonly type: "Tauth"; readonly afid: number; readonly uname: string; readonly aname: string; readonly uid: number }
  | { readonly type: "Tattach"; readonly fid: number; readonly afid: number; readonly uname: string; readonly aname: string; readonly uid: number }
  | { readonly type: "Tflush"; readonly oldTag: number }
  | { readonly type: "Twalk"; readonly fid: number; readonly newFid: number; readonly names: readonly string[] }
  | { readonly type: "Twalkgetattr"; readonly fid: number; readonly newFid: number; readonly names: readonly string[] }
  | { readonly type: "Tread"; readonly fid: number; readonly offset: number; readonly count: number }
  | { readonly type: "Twrite"; readonly fid: number; readonly offset: number; readonly data: string }
  | { readonly type: "Tclunk"; readonly fid: number }
  | { readonly type: "Tremove"; readonly fid: number }
  | { readonly type: "Tstatfs"; readonly fid: number }
  | { readonly type: "Tlopen"; readonly fid: number; readonly flags: OpenFlags }
  | { readonly type: "Tlcreate"; readonly fid: number; readonly name: string; readonly openFlags: OpenFlags; readonly permissions: number; readonly gid: number }
  | { readonly type: "Tucreate"; readonly fid: number; readonly name: string; readonly openFlags: OpenFlags; readonly permissions: number; readonly gid: number; readonly uid: number }
  | { readonly type: "Tsymlink"; readonly directory: number; readonly name: string; readonly target: string; readonly gid: number }
  | { readonly type: "Tusymlink"; readonly directory: number; readonly name: string; readonly target: string; readonly gid: number; readonly uid: number }
  | { readonly type: "Tmknod"; readonly directory: number; readonly name: string; readonly mode: number; readonly major: number; readonly minor: number; readonly gid: number }
  | { readonly type: "Tumknod"; readonly directory: number; readonly name: string; readonly mode: number; readonly major: number; readonly minor: number; readonly gid: number; readonly uid: number }
  | { readonly type: "Tmkdir"; readonly directory: number; readonly name: string; readonly permissions: number; readonly gid: number }
  | { readonly type: "Tumkdir"; readonly directory: number; readonly name: string; readonly permissions: number; readonly gid: number; readonly uid: number }
  | { readonly type: "Trename"; readonly fid: number; readonly directory: number; readonly name: string }
  | { readonly type: "Trenameat"; readonly oldDirectory: number; readonly oldName: string; readonly newDirectory: number; readonly newName: string }
  | { readonly type: "Tunlinkat"; readonly directory: number; readonly name: string; readonly flags: number }
  | { readonly type: "Tlink"; readonly directory: number; readonly target: number; readonly name: string }
  | { readonly type: "Treadlink"; readonly fid: number }
  | { readonly type: "Tgetattr"; readonly fid: number; readonly attrMask: AttrMask }
  | { readonly type: "Tsetattr"; readonly fid: number; readonly valid: SetAttrMask; readonly setAttr: SetAttr }
  | { readonly type: "Txattrwalk"; readonly fid: number; readonly newFid: number; readonly name: string }
  | { readonly type: "Txattrcreate"; readonly fid: number; readonly name: string; readonly attrSize: number; readonly flags: number }
  | { readonly type: "Tgetxattr"; readonly fid: number; readonly name: string; readonly size: number }
  | { readonly type: "Tsetxattr"; readonly fid: number; readonly name: string; readonly value: string; readonly flags: number }
  | { readonly type: "Tlistxattr"; readonly fid: number; readonly size: number }
  | { readonly type: "Tremovexattr"; readonly fid: number; readonly name: string }
  | { readonly type: "Treaddir"; readonly directory: number; readonly offset: bigint; readonly count: number }
  | { readonly type: "Tfsync"; readonly fid: number }
  | { readonly type: "Tflushf"; readonly fid: number }
  | { readonly type: "Tlconnect"; readonly fid: number; readonly flags: number }
  | { readonly type: "Tallocate"; readonly fid: number; readonly mode: number; readonly offset: number; readonly length: number }
  | { readonly type: "Tchannel"; readonly id: number; readonly control: number }

export type Rmessage =
  | { readonly type: "Rlerror"; readonly error: number }
  | { readonly type: "Rversion"; readonly msize: number; readonly version: string }
  | { readonly type: "Rauth"; readonly qid: QID }
  | { readonly type: "Rattach"; readonly qid: QID }
  | { readonly type: "Rflush" }
  | { readonly type: "Rwalk"; readonly qids: readonly QID[] }
  | { readonly type: "Rwalkgetattr"; readonly valid: AttrMask; readonly attr: Attr; readonly qids: readonly QID[] }
  | { readonly type: "Rread"; readonly data: string }
  | { readonly type: "Rwrite"; readonly count: number }
  | { readonly type: "Rclunk" }
  | { readonly type: "Rremove" }
  | { readonly type: "Rstatfs"; readonly fsStat: FSStat }
  | { readonly type: "Rlopen"; readonly qid: QID; readonly ioUnit: number }
  | { readonly type: "Rlcreate"; readonly qid: QID; readonly ioUnit: number }
  | { readonly type: "Rucreate"; readonly qid: QID; readonly ioUnit: number }
  | { readonly type: "Rsymlink"; readonly qid: QID }
  | { readonly type: "Rusymlink"; readonly qid: QID }
  | { readonly type: "Rmknod"; readonly qid: QID }
  | { readonly type: "Rumknod"; readonly qid: QID }
  | { readonly type: "Rmkdir"; readonly qid: QID }
  | { readonly type: "Rumkdir"; readonly qid: QID }
  | { readonly type: "Rrename" }
  | { readonly type: "Rrenameat" }
  | { readonly type: "Runlinkat" }
  | { readonly type: "Rlink" }
  | { readonly type: "Rreadlink"; readonly target: string }
  | { readonly type: "Rgetattr"; readonly valid: AttrMask; readonly qid: QID; readonly attr: Attr }
  | { readonly type: "Rsetattr" }
  | { readonly type: "Rxattrwalk"; readonly size: number }
  | { readonly type: "Rxattrcreate" }
  | { readonly type: "Rgetxattr"; readonly value: string }
  | { readonly type: "Rsetxattr" }
  | { readonly type: "Rlistxattr"; readonly xattrs: readonly string[] }
  | { readonly type: "Rremovexattr" }
  | { readonly type: "Rreaddir"; readonly entries: readonly WireDirent[] }
  | { readonly type: "Rfsync" }
  | { readonly type: "Rflushf" }
  | { readonly type: "Rlconnect" }
  | { readonly type: "Rallocate" }
  | { readonly type: "Rchannel"; readonly offset: number; readonly length: number }

export type Message = Tmessage | Rmessage
export type MessageOf<N extends Message["type"]> = Extract<Message, { type: N }>

const REQUESTS: ReadonlySet<string> = new Set<Tmessage["type"]>([
  "Tversion", "Tauth", "Tattach", "Tflush", "Twalk", "Twalkgetattr", "Tread", "Twrite", "Tclunk", "Tremove",
  "Tstatfs", "Tlopen", "Tlcreate", "Tucreate", "Tsymlink", "Tusymlink", "Tmknod", "Tumknod", "Tmkdir", "Tumkdir",
  "Trename", "Trenameat", "Tunlinkat", "Tlink", "Treadlink", "Tgetattr", "Tsetattr", "Txattrwalk", "Txattrcreate",
  "Tgetxattr", "Tsetxattr", "Tlistxattr", "Tremovexattr", "Treaddir", "Tfsync", "Tflushf", "Tlconnect", "Tallocate",
  "Tchannel",
])

/** Whether a decoded message is a request a server handles (Tlerror and every R-message are not). */
export function isRequest(m: Message | { readonly type: string }): m is Tmessage {
  return REQUESTS.has(m.type)
}

/** The fid a request acts on, for events and fault reports (none for Tversion, Tflush, Tchannel). */
export function fidOf(m: Tmessage): number | undefined {
  if ("fid" in m) return m.fid
  if ("directory" in m) return m.directory
  if ("oldDirectory" in m) return m.oldDirectory
  return undefined
}

/** The reply type that answers a request type (Rlerror aside). */
export function replyName(t: Tmessage["type"]): Rmessage["type"] {
  return ("R" + t.slice(1)) as Rmessage["type"]
}

export function rlerror(e: Errno): Rmessage {
  return { type: "Rlerror", error: ERRNO_NUMBER[e] }
}
