// The Linux ABI constants the VFS layer and the ports use (gVisor's
// pkg/abi/linux), with Linux's x86-64 values.

// The file type bits: 9P2000.L sends Linux's, so they are defined once, with the protocol.
import { FILE_SIZE_MAX } from "../../model/ops.js"
import { S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from "../../sim/p9/api.js"
export { S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from "../../sim/p9/api.js"
export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const S_ISVTX = 0o1000

export const O_RDONLY = 0o0
export const O_WRONLY = 0o1
export const O_RDWR = 0o2
export const O_ACCMODE = 0o3
export const O_CREAT = 0o100
export const O_EXCL = 0o200
export const O_NOCTTY = 0o400
export const O_TRUNC = 0o1000
export const O_APPEND = 0o2000
export const O_NONBLOCK = 0o4000
export const O_DSYNC = 0o10000
export const O_DIRECT = 0o40000
export const O_LARGEFILE = 0o100000
export const O_DIRECTORY = 0o200000
export const O_NOFOLLOW = 0o400000
export const O_NOATIME = 0o1000000
export const O_CLOEXEC = 0o2000000
/** __O_SYNC; Linux's O_SYNC is __O_SYNC | O_DSYNC. */
export const O_SYNC = 0o4000000
export const O_PATH = 0o10000000
export const O_TMPFILE = 0o20000000

export const SEEK_SET = 0
export const SEEK_CUR = 1
export const SEEK_END = 2

export const RENAME_NOREPLACE = 1
export const RENAME_EXCHANGE = 2

export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

export const MaxSymlinkTraversals = 40
export const PATH_MAX = 4096
export const NAME_MAX = 255

/** DT_* directory entry types. */
export const DT_UNKNOWN = 0
export const DT_FIFO = 1
export const DT_CHR = 2
export const DT_DIR = 4
export const DT_REG = 8
export const DT_LNK = 10
export const DT_SOCK = 12

export function toDirentType(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return DT_REG
    case S_IFDIR:
      return DT_DIR
    case S_IFLNK:
      return DT_LNK
    case S_IFIFO:
      return DT_FIFO
    case S_IFSOCK:
      return DT_SOCK
    case S_IFCHR:
      return DT_CHR
    default:
      return DT_UNKNOWN
  }
}

export const PAGE_SIZE = 4096

export function pageRoundDown(x: number): number {
  return x - (x % PAGE_SIZE)
}

export function pageRoundUp(x: number): number {
  return x % PAGE_SIZE === 0 ? x : x + PAGE_SIZE - (x % PAGE_SIZE)
}

/**
 * vfs.CheckLimit: how much of a write of `size` bytes at `offset` may go
 * ahead, or EFBIG for none. gVisor checks RLIMIT_FSIZE here (unlimited in a
 * run); fsim checks its own largest file size, 2^53 - 1 (FILE_SIZE_MAX, the
 * model's, where Linux's s_maxbytes is 2^63 - 1: past it a JS number is not
 * exact), with the same rule, so a port and the model cut a write alike.
 */
export function CheckLimit(offset: number, size: number): [number, "EFBIG" | null] {
  if (offset >= FILE_SIZE_MAX) return [0, "EFBIG"]
  return [Math.min(size, FILE_SIZE_MAX - offset), null]
}
