// Permission checks after gVisor's vfs/permissions.go (itself after Linux's
// fs/namei.c:generic_permission, fs/attr.c:setattr_prepare and friends).
// Credentials are fsim's: uid 0 holds every capability, other users none
// (gVisor's HasCapabilityOnFile in the root user namespace).

import type { Cred } from "../../model/types.js"
import { type Err, isRoot } from "./context.js"
import { S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_ISVTX } from "./linux.js"

export type AccessTypes = number
export const MayExec = 1
export const MayWrite = 2
export const MayRead = 4

export function InGroup(c: Cred, gid: number): boolean {
  return c.gid === gid || c.groups.includes(gid)
}

/** fs/inode.c:inode_owner_or_capable: the owner, or CAP_FOWNER. */
export function CanActAsOwner(c: Cred, kuid: number): boolean {
  return c.uid === kuid || isRoot(c)
}

/** fs/namei.c:generic_permission. `mode` carries the file type. */
export function GenericCheckPermissions(c: Cred, ats: AccessTypes, mode: number, kuid: number, kgid: number): Err {
  let perms = mode & 0o777
  if (c.uid === kuid) perms >>= 6
  else if (InGroup(c, kgid)) perms >>= 3
  if ((ats & perms) === ats) return null
  const isDir = (mode & S_IFMT) === S_IFDIR
  // CAP_DAC_READ_SEARCH: read and search directories, read other files.
  if ((isDir && (ats & MayWrite) === 0) || ats === MayRead) {
    if (isRoot(c)) return null
  }
  // CAP_DAC_OVERRIDE: anything on directories, read/write on other files,
  // and execute where at least one execute bit is set.
  if (isDir || (ats & MayExec) === 0 || (mode & 0o111) !== 0) {
    if (isRoot(c)) return null
  }
  return "EACCES"
}

/** fs/namei.c:may_linkat (with fs.protected_hardlinks = 1). */
export function MayLink(c: Cred, mode: number, kuid: number, kgid: number): Err {
  if (CanActAsOwner(c, kuid)) return null
  if ((mode & S_IFMT) !== S_IFREG) return "EPERM"
  if ((mode & S_ISUID) !== 0) return "EPERM"
  if (GenericCheckPermissions(c, MayRead | MayWrite, mode, kuid, kgid) !== null) return "EPERM"
  return null
}

export const O_ACCMODE = 3
export const O_RDONLY_BITS = 0
export const O_WRONLY_BITS = 1

/** The accesses an open with these flags needs (not what the description then allows). */
export function AccessTypesForOpenFlags(flags: number, O_TRUNC: number): AccessTypes {
  switch (flags & O_ACCMODE) {
    case 0:
      return (flags & O_TRUNC) !== 0 ? MayRead | MayWrite : MayRead
    case 1:
      return MayWrite
    default:
      return MayRead | MayWrite
  }
}

export function MayReadFileWithOpenFlags(flags: number): boolean {
  const a = flags & O_ACCMODE
  return a === 0 || a === 2
}

export function MayWriteFileWithOpenFlags(flags: number): boolean {
  const a = flags & O_ACCMODE
  return a === 1 || a === 2
}

/** chmod(2): a caller without CAP_FSETID outside the file's group loses setgid. */
export function ShouldClearSGID(c: Cred, mode: number, _kuid: number, kgid: number): boolean {
  return (mode & S_ISGID) !== 0 && !isRoot(c) && !InGroup(c, kgid)
}

/** The part of a setattr request the permission checks look at (a statx mask and values). */
export interface SetStatRequest {
  mask: number
  mode: number
  uid: number
  gid: number
  size: number
  /** ns, or UTIME_NOW. */
  atime: number
  mtime: number
}

export const STATX_MODE = 0x2
export const STATX_UID = 0x8
export const STATX_GID = 0x10
export const STATX_ATIME = 0x20
export const STATX_MTIME = 0x40
export const STATX_CTIME = 0x80
export const STATX_SIZE = 0x200
export const UTIME_NOW = -1

/** fs/attr.c:setattr_prepare. May clear setgid in `stat.mode`, as gVisor does. */
export function CheckSetStat(c: Cred, stat: SetStatRequest, needWritePerm: boolean, mode: number, kuid: number, kgid: number): Err {
  if ((stat.mask & STATX_MODE) !== 0) {
    if (!CanActAsOwner(c, kuid)) return "EPERM"
    if (ShouldClearSGID(c, stat.mode, kuid, kgid)) stat.mode &= ~S_ISGID
  }
  if ((stat.mask & STATX_UID) !== 0) {
    if (!((c.uid === kuid && stat.uid === kuid) || isRoot(c))) return "EPERM"
  }
  if ((stat.mask & STATX_GID) !== 0) {
    if (!((c.uid === kuid && InGroup(c, stat.gid)) || isRoot(c))) return "EPERM"
  }
  if (needWritePerm) {
    const e = GenericCheckPermissions(c, MayWrite, mode, kuid, kgid)
    if (e !== null) return e
  }
  if ((stat.mask & (STATX_ATIME | STATX_MTIME | STATX_CTIME)) !== 0) {
    if (!CanActAsOwner(c, kuid)) {
      if (((stat.mask & STATX_ATIME) !== 0 && stat.atime !== UTIME_NOW) || ((stat.mask & STATX_MTIME) !== 0 && stat.mtime !== UTIME_NOW)) {
        return "EPERM"
      }
      const e = GenericCheckPermissions(c, MayWrite, mode, kuid, kgid)
      if (e !== null) return e
    }
  }
  return null
}

/** include/linux/fs.h:check_sticky. */
export function CheckDeleteSticky(c: Cred, parentMode: number, parentKUID: number, childKUID: number): Err {
  if ((parentMode & S_ISVTX) === 0) return null
  if (c.uid === childKUID || c.uid === parentKUID || isRoot(c)) return null
  return "EPERM"
}

/**
 * CheckDeleteSticky as gVisor had it before f2c881f6 ("Make sticky bit
 * check consistent with Linux"): only the child's owner (or CAP_FOWNER)
 * may remove it, never the sticky directory's owner. Kept for the test-only
 * mutant sticky-ignores-dir-owner of the filesystems that call it.
 */
export function CheckDeleteStickyChildOwnerOnly(c: Cred, parentMode: number, childKUID: number): Err {
  if ((parentMode & S_ISVTX) === 0) return null
  if (CanActAsOwner(c, childKUID)) return null
  return "EPERM"
}

/** fs/xattr.c:xattr_permission, as gVisor narrows it (permission bits are the caller's business). */
export function CheckXattrPermissions(c: Cred, ats: AccessTypes, mode: number, kuid: number, name: string): Err {
  if (name.startsWith("trusted.")) {
    if (isRoot(c)) return null
    return (ats & MayWrite) !== 0 ? "EPERM" : "ENODATA"
  }
  if (name.startsWith("user.")) {
    const t = mode & S_IFMT
    if (t !== S_IFREG && t !== S_IFDIR) return (ats & MayWrite) !== 0 ? "EPERM" : "ENODATA"
    if (t === S_IFDIR && (mode & S_ISVTX) !== 0 && (ats & MayWrite) !== 0 && !CanActAsOwner(c, kuid)) return "EPERM"
  }
  return null
}

/** Clears setuid, and setgid when group-executable, after a chown or a write. Directories keep theirs. */
export function ClearSUIDAndSGID(mode: number): number {
  if ((mode & S_IFMT) === S_IFDIR) return mode
  mode &= ~S_ISUID
  if ((mode & (S_ISGID | 0o010)) === (S_ISGID | 0o010)) mode &= ~S_ISGID
  return mode
}
