// The vocabulary of the scenario contract (docs/contract.md,
// sections 1.1 and 1.2): operations, their results, credentials and trees.
// Everything else in fsim (the reference model, the simulator, the ports, the
// checkers) speaks these types, so they live in the model, which imports
// nothing of ours.

/** Credentials of a thread. `groups` are the supplementary groups. */
export interface Cred {
  readonly uid: number
  readonly gid: number
  readonly groups: readonly number[]
}

export const ROOT: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] })

export type NodeType = "file" | "dir" | "symlink" | "fifo" | "socket"

export const OPEN_FLAGS = [
  "O_RDONLY",
  "O_WRONLY",
  "O_RDWR",
  "O_CREAT",
  "O_EXCL",
  "O_TRUNC",
  "O_APPEND",
  "O_DIRECTORY",
  "O_NOFOLLOW",
  "O_DIRECT",
  "O_DSYNC",
  "O_SYNC",
  "O_PATH",
  "O_NONBLOCK",
] as const
export type OpenFlag = (typeof OPEN_FLAGS)[number]

export const WHENCES = ["SEEK_SET", "SEEK_CUR", "SEEK_END"] as const
export type Whence = (typeof WHENCES)[number]

export const ACCESS_BITS = ["R_OK", "W_OK", "X_OK"] as const
export type AccessBit = (typeof ACCESS_BITS)[number]

export const RENAME_FLAGS = ["RENAME_NOREPLACE", "RENAME_EXCHANGE"] as const
export type RenameFlag = (typeof RENAME_FLAGS)[number]

export const XATTR_FLAGS = ["XATTR_CREATE", "XATTR_REPLACE"] as const
export type XattrFlag = (typeof XATTR_FLAGS)[number]

export const MKNOD_TYPES = ["fifo", "socket", "file"] as const
export type MknodType = (typeof MKNOD_TYPES)[number]

/** A time argument of utimens: nanoseconds, or the current time. */
export type TimeSpec = number | "UTIME_NOW"

/**
 * One operation of a thread. `data` and `value` strings hold one byte per
 * code point (0-255), see the contract's section 1.2.
 */
export type Op =
  | { readonly op: "open"; readonly path: string; readonly flags: readonly OpenFlag[]; readonly mode?: number; readonly fd: string }
  | { readonly op: "close"; readonly fd: string }
  | { readonly op: "read"; readonly fd: string; readonly count: number }
  | { readonly op: "write"; readonly fd: string; readonly data: string }
  | { readonly op: "pread"; readonly fd: string; readonly offset: number; readonly count: number }
  | { readonly op: "pwrite"; readonly fd: string; readonly offset: number; readonly data: string }
  | { readonly op: "lseek"; readonly fd: string; readonly offset: number; readonly whence: Whence }
  | { readonly op: "ftruncate"; readonly fd: string; readonly length: number }
  | { readonly op: "fsync"; readonly fd: string }
  | { readonly op: "fdatasync"; readonly fd: string }
  | { readonly op: "fstat"; readonly fd: string }
  | { readonly op: "getdents"; readonly fd: string }
  | { readonly op: "stat"; readonly path: string }
  | { readonly op: "lstat"; readonly path: string }
  | { readonly op: "access"; readonly path: string; readonly mode: "F_OK" | readonly AccessBit[] }
  | { readonly op: "truncate"; readonly path: string; readonly length: number }
  | { readonly op: "mkdir"; readonly path: string; readonly mode?: number }
  | { readonly op: "rmdir"; readonly path: string }
  | { readonly op: "unlink"; readonly path: string }
  | { readonly op: "rename"; readonly from: string; readonly to: string; readonly flags?: readonly RenameFlag[] }
  | { readonly op: "link"; readonly from: string; readonly to: string }
  | { readonly op: "symlink"; readonly target: string; readonly path: string }
  | { readonly op: "readlink"; readonly path: string }
  | { readonly op: "mknod"; readonly path: string; readonly type: MknodType; readonly mode?: number }
  | { readonly op: "chmod"; readonly path: string; readonly mode: number }
  | { readonly op: "chown"; readonly path: string; readonly uid?: number; readonly gid?: number }
  | { readonly op: "utimens"; readonly path: string; readonly atime?: TimeSpec; readonly mtime?: TimeSpec }
  | { readonly op: "getxattr"; readonly path: string; readonly name: string }
  | { readonly op: "setxattr"; readonly path: string; readonly name: string; readonly value: string; readonly flags?: readonly XattrFlag[] }
  | { readonly op: "listxattr"; readonly path: string }
  | { readonly op: "removexattr"; readonly path: string; readonly name: string }
  | { readonly op: "statfs"; readonly path: string }
  | { readonly op: "sync" }
  | { readonly op: "sleep"; readonly ns: number }

export type OpName = Op["op"]
export type OpOf<N extends OpName> = Extract<Op, { op: N }>

export const OP_NAMES: readonly OpName[] = [
  "open", "close", "read", "write", "pread", "pwrite", "lseek", "ftruncate", "fsync", "fdatasync",
  "fstat", "getdents", "stat", "lstat", "access", "truncate", "mkdir", "rmdir", "unlink", "rename",
  "link", "symlink", "readlink", "mknod", "chmod", "chown", "utimens", "getxattr", "setxattr",
  "listxattr", "removexattr", "statfs", "sync", "sleep",
]

/** The result of `stat`, `lstat` and `fstat` (contract 1.2). */
export interface Stat {
  readonly type: NodeType
  /** Permission bits only, with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly nlink: number
  readonly ino: number
  readonly atime: number
  readonly mtime: number
  readonly ctime: number
}

export interface DirEntry {
  readonly name: string
  readonly type: NodeType
}

/** Linux errno names the model and the ports return. */
export const ERRNOS = [
  "EPERM", "ENOENT", "EIO", "ENXIO", "EBADF", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "EBUSY",
  "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ETXTBSY",
  "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "ERANGE", "ENAMETOOLONG", "ENOSYS", "ENOTEMPTY",
  "ELOOP", "ENODATA", "EOPNOTSUPP", "EOVERFLOW", "ESTALE", "EINTR", "ENOTSUP", "E2BIG", "ETIMEDOUT",
  "ECONNREFUSED", "ENOTCONN", "EDEADLK", "EPIPE",
] as const
export type Errno = (typeof ERRNOS)[number]

export type OpResult =
  | { readonly errno: Errno }
  | Record<string, never>
  | { readonly data: string }
  | { readonly count: number }
  | { readonly offset: number }
  | { readonly entries: readonly DirEntry[] }
  | { readonly target: string }
  | { readonly value: string }
  | { readonly names: readonly string[] }
  | { readonly namelen: number }
  | Stat

export function isErr(r: OpResult): r is { readonly errno: Errno } {
  return "errno" in r
}

/** A node of a tree literal (the scenario's `remote`, `final`, a history's `initial`). */
export type TreeNode =
  | {
      readonly type: "file"
      readonly data?: string
      /**
       * A file longer than DENSE_MAX (1 MiB) is `size` and `extents` instead
       * of `data`: its bytes at their offsets, zeros elsewhere (filedata.ts).
       */
      readonly size?: number
      readonly extents?: readonly { readonly offset: number; readonly data: string }[]
      readonly mode?: number
      readonly uid?: number
      readonly gid?: number
      readonly xattrs?: Readonly<Record<string, string>>
    }
  | {
      readonly type: "dir"
      readonly children?: Tree
      readonly mode?: number
      readonly uid?: number
      readonly gid?: number
      readonly xattrs?: Readonly<Record<string, string>>
      /** Overlay trees only: carries trusted.overlay.opaque. */
      readonly opaque?: boolean
    }
  | {
      readonly type: "symlink"
      readonly target: string
      readonly mode?: number
      readonly uid?: number
      readonly gid?: number
      readonly xattrs?: Readonly<Record<string, string>>
    }
  | {
      readonly type: "fifo" | "socket"
      readonly mode?: number
      readonly uid?: number
      readonly gid?: number
      readonly xattrs?: Readonly<Record<string, string>>
    }
  /** Overlay trees only: a 0:0 character device. */
  | { readonly type: "whiteout" }
  /**
   * A hard link to the node at `link` (a path from the root, naming a
   * non-directory node given in full elsewhere in the tree).
   */
  | { readonly link: string; readonly type?: undefined }

export type Tree = Readonly<Record<string, TreeNode>>

export interface RootAttrs {
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
}
