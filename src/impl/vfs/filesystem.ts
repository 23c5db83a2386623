// What a filesystem implements for the VFS (gVisor's vfs.FilesystemImpl and
// vfs.FileDescriptionImpl), and the option and result types they exchange.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import type { Ctx } from "./context.js"
import type { Dentry } from "./dentry.js"
import type { FileDescription } from "./file_description.js"
import type { AccessTypes, SetStatRequest } from "./permissions.js"
import type { ResolveError, ResolvingPath } from "./resolving_path.js"
import type { Mount, VirtualDentry } from "./mount.js"
import type { Cred } from "../../model/types.js"

/** An errno, a request to continue path resolution elsewhere, or success. */
export type VfsErr = Errno | ResolveError | null

export interface Statx {
  /** File type and permission bits. */
  readonly mode: number
  readonly nlink: number
  readonly uid: number
  readonly gid: number
  readonly ino: number
  readonly size: number
  readonly blocks: number
  readonly blksize: number
  readonly atime: number
  readonly mtime: number
  readonly ctime: number
  readonly btime: number
  readonly devMajor: number
  readonly devMinor: number
}

export interface Statfs {
  readonly type: number
  readonly blockSize: number
  readonly blocks: number
  readonly blocksFree: number
  readonly blocksAvailable: number
  readonly files: number
  readonly filesFree: number
  readonly nameLength: number
}

export interface GetDentryOptions {
  /** The final file must be a directory searchable by the caller. */
  readonly CheckSearchable?: boolean
}

export interface MkdirOptions {
  readonly Mode: number
  readonly ForSyntheticMountpoint?: boolean
}

export interface MknodOptions {
  /** File type and permissions. */
  readonly Mode: number
  readonly DevMajor: number
  readonly DevMinor: number
}

export interface OpenOptions {
  Flags: number
  Mode: number
}

export interface RenameOptions {
  readonly Flags: number
  /** The source path ended in "/". */
  readonly MustBeDir: boolean
}

export interface SetStatOptions {
  readonly Stat: SetStatRequest
  /** truncate(2): write permission is needed on top of setattr's rules. */
  readonly NeedWritePerm?: boolean
}

export interface StatOptions {
  /** AT_STATX_DONT_SYNC: cached metadata is good enough. */
  readonly DontSync?: boolean
}

export interface SetXattrOptions {
  readonly Name: string
  readonly Value: string
  readonly Flags: number
}

/** A directory entry as IterDirents reports it. */
export interface Dirent {
  readonly Name: string
  /** DT_* type. */
  readonly Type: number
  readonly Ino: number
  /** Where iteration continues after this entry. */
  readonly NextOff: number
}

export interface FilesystemImpl {
  /** Called when the last reference to the filesystem goes (unmount). */
  Release(ctx: Ctx): Sim<void>
  Sync(ctx: Ctx): Sim<Errno | null>
  AccessAt(ctx: Ctx, rp: ResolvingPath, creds: Cred, ats: AccessTypes): Sim<VfsErr>
  GetDentryAt(ctx: Ctx, rp: ResolvingPath, opts: GetDentryOptions): Sim<[Dentry | null, VfsErr]>
  GetParentDentryAt(ctx: Ctx, rp: ResolvingPath): Sim<[Dentry | null, VfsErr]>
  LinkAt(ctx: Ctx, rp: ResolvingPath, vd: VirtualDentry): Sim<VfsErr>
  MkdirAt(ctx: Ctx, rp: ResolvingPath, opts: MkdirOptions): Sim<VfsErr>
  MknodAt(ctx: Ctx, rp: ResolvingPath, opts: MknodOptions): Sim<VfsErr>
  OpenAt(ctx: Ctx, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, VfsErr]>
  ReadlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<[string, VfsErr]>
  RenameAt(ctx: Ctx, rp: ResolvingPath, oldParentVD: VirtualDentry, oldName: string, opts: RenameOptions): Sim<VfsErr>
  RmdirAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr>
  SetStatAt(ctx: Ctx, rp: ResolvingPath, opts: SetStatOptions): Sim<VfsErr>
  StatAt(ctx: Ctx, rp: ResolvingPath, opts: StatOptions): Sim<[Statx | null, VfsErr]>
  StatFSAt(ctx: Ctx, rp: ResolvingPath): Sim<[Statfs | null, VfsErr]>
  SymlinkAt(ctx: Ctx, rp: ResolvingPath, target: string): Sim<VfsErr>
  UnlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr>
  ListXattrAt(ctx: Ctx, rp: ResolvingPath, size: number): Sim<[readonly string[], VfsErr]>
  GetXattrAt(ctx: Ctx, rp: ResolvingPath, name: string, size: number): Sim<[string, VfsErr]>
  SetXattrAt(ctx: Ctx, rp: ResolvingPath, opts: SetXattrOptions): Sim<VfsErr>
  RemoveXattrAt(ctx: Ctx, rp: ResolvingPath, name: string): Sim<VfsErr>
}

export interface FileDescriptionImpl {
  /** The last reference to the description is gone. */
  Release(ctx: Ctx): Sim<void>
  Read(ctx: Ctx, count: number): Sim<[string, Errno | null]>
  PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]>
  Write(ctx: Ctx, data: string): Sim<[number, Errno | null]>
  PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]>
  Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]>
  Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]>
  SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null>
  Sync(ctx: Ctx): Sim<Errno | null>
  /** Every entry from the description's offset on, advancing it. */
  IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]>
}

export type { Mount }
