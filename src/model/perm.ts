// Permission checks as Linux does them (fs/namei.c, fs/attr.c). Credentials
// are the thread's fs uid/gid; uid 0 holds every capability (the checks
// below name the capability Linux asks for).

import type { Inode } from "./state.js"
import type { Cred, Errno } from "./types.js"

export const MAY_EXEC = 1
export const MAY_WRITE = 2
export const MAY_READ = 4

export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const S_ISVTX = 0o1000
export const S_IXGRP = 0o010

export function isRoot(cred: Cred): boolean {
  return cred.uid === 0
}

/** in_group_p: the primary or a supplementary group. */
export function inGroup(cred: Cred, gid: number): boolean {
  return cred.gid === gid || cred.groups.includes(gid)
}

/**
 * generic_permission: owner, group or other class, then the capability
 * overrides: CAP_DAC_READ_SEARCH/CAP_DAC_OVERRIDE pass anything on a
 * directory, and anything on a file except exec with no x bit at all.
 */
export function mayAccess(i: Inode, cred: Cred, mask: number): boolean {
  let mode = i.mode
  if (cred.uid === i.uid) mode >>= 6
  else if (inGroup(cred, i.gid)) mode >>= 3
  if ((mask & ~mode & 7) === 0) return true
  if (!isRoot(cred)) return false
  if (i.type === "dir") return true
  return (mask & MAY_EXEC) === 0 || (i.mode & 0o111) !== 0
}

/**
 * inode_permission: a write to a regular file, directory or symlink of a
 * read-only filesystem is EROFS before any DAC check (sb_permission).
 */
export function permission(i: Inode, cred: Cred, mask: number, readOnly: boolean): Errno | undefined {
  if ((mask & MAY_WRITE) !== 0 && readOnly && (i.type === "file" || i.type === "dir" || i.type === "symlink")) return "EROFS"
  return mayAccess(i, cred, mask) ? undefined : "EACCES"
}

/** inode_owner_or_capable: the owner, or CAP_FOWNER. */
export function ownerOrCapable(i: Inode, cred: Cred): boolean {
  return cred.uid === i.uid || isRoot(cred)
}

/** in_group_or_capable: in the group, or CAP_FSETID. */
export function inGroupOrCapable(cred: Cred, gid: number): boolean {
  return inGroup(cred, gid) || isRoot(cred)
}

/** check_sticky: in a sticky directory only the file's owner, the directory's owner or CAP_FOWNER may delete. */
export function stickyForbids(dir: Inode, victim: Inode, cred: Cred): boolean {
  if ((dir.mode & S_ISVTX) === 0) return false
  return victim.uid !== cred.uid && dir.uid !== cred.uid && !isRoot(cred)
}

/**
 * setattr_should_drop_sgid: a setgid file loses S_ISGID if it is group
 * executable, or if the caller is neither in its group nor CAP_FSETID.
 */
export function shouldDropSgid(i: Inode, cred: Cred): boolean {
  if ((i.mode & S_ISGID) === 0) return false
  if ((i.mode & S_IXGRP) !== 0) return true
  return !inGroupOrCapable(cred, i.gid)
}

/**
 * The mode after file_remove_privs / dentry_needs_remove_privs (a write or
 * truncate): for regular files and callers without CAP_FSETID, setuid goes,
 * and setgid as setattr_should_drop_sgid says.
 */
export function modeAfterWrite(i: Inode, cred: Cred): number {
  if (i.type !== "file" || isRoot(cred)) return i.mode
  let mode = i.mode
  if ((mode & S_ISUID) !== 0) mode &= ~S_ISUID
  if (shouldDropSgid(i, cred)) mode &= ~S_ISGID
  return mode
}

/**
 * may_linkat with fs.protected_hardlinks = 1 (the value on the reference
 * machine): the owner or CAP_FOWNER may link anything; others only regular
 * files that are not setuid, not setgid-executable, and readable and writable by them.
 */
export function mayLink(i: Inode, cred: Cred): boolean {
  if (ownerOrCapable(i, cred)) return true
  if (i.type !== "file") return false
  if ((i.mode & S_ISUID) !== 0) return false
  if ((i.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) return false
  return mayAccess(i, cred, MAY_READ | MAY_WRITE)
}
