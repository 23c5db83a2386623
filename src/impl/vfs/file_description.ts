// FileDescription (gVisor pkg/sentry/vfs/file_description.go): an open file
// description, reference counted, with its status flags and access mode; the
// filesystem's FileDescriptionImpl does the I/O. An O_PATH description
// (opathFD) allows only close and fstat.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { type Ctx, panic } from "./context.js"
import type { Dentry } from "./dentry.js"
import type { Dirent, FileDescriptionImpl, SetStatOptions, StatOptions, Statx } from "./filesystem.js"
import { O_ACCMODE, O_APPEND, O_CREAT, O_DIRECT, O_DSYNC, O_EXCL, O_NOCTTY, O_NONBLOCK, O_PATH, O_TRUNC } from "./linux.js"
import type { Mount } from "./mount.js"
import { VirtualDentry } from "./mount.js"
import { MayReadFileWithOpenFlags, MayWriteFileWithOpenFlags } from "./permissions.js"

export interface FileDescriptionOptions {
  /** Skip the mount's write check (directories, special files opened by a filesystem that checks itself). */
  readonly AllowDirectIO?: boolean
  /** pread(2) is ESPIPE (FIFOs, sockets: files without offsets). */
  readonly DenyPRead?: boolean
  /** pwrite(2) is ESPIPE. */
  readonly DenyPWrite?: boolean
}

export class FileDescription {
  refs = 1
  /** Status flags (O_APPEND, O_NONBLOCK, O_DIRECT, O_DSYNC...), without creation flags. */
  private statusFlags = 0
  readable = false
  writable = false
  private opts: FileDescriptionOptions = {}
  private vd!: VirtualDentry
  impl!: FileDescriptionImpl

  /**
   * Initializes the description; takes references on the mount and dentry.
   * A writable description holds a write on the mount (EROFS when read-only).
   */
  *Init(impl: FileDescriptionImpl, flags: number, mnt: Mount, d: Dentry, opts: FileDescriptionOptions = {}): Sim<Errno | null> {
    this.opts = opts
    const writable = MayWriteFileWithOpenFlags(flags) && (flags & O_PATH) === 0
    if (writable) {
      const e = mnt.CheckBeginWrite()
      if (e !== null) return e
    }
    this.impl = impl
    this.statusFlags = flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)
    this.readable = MayReadFileWithOpenFlags(flags) && (flags & O_PATH) === 0
    this.writable = writable
    this.vd = new VirtualDentry(mnt, d)
    yield* this.vd.IncRef()
    return null
  }

  Mount(): Mount {
    return this.vd.mount
  }

  Dentry(): Dentry {
    return this.vd.dentry
  }

  VirtualDentry(): VirtualDentry {
    return this.vd
  }

  StatusFlags(): number {
    return this.statusFlags
  }

  /** Access mode bits (O_RDONLY/O_WRONLY/O_RDWR) as given at open. */
  AccessMode(): number {
    return this.statusFlags & O_ACCMODE
  }

  IsAppend(): boolean {
    return (this.statusFlags & O_APPEND) !== 0
  }

  IsDirect(): boolean {
    return (this.statusFlags & O_DIRECT) !== 0
  }

  IsDsync(): boolean {
    return (this.statusFlags & O_DSYNC) !== 0
  }

  IsNonblocking(): boolean {
    return (this.statusFlags & O_NONBLOCK) !== 0
  }

  IsPath(): boolean {
    return (this.statusFlags & O_PATH) !== 0
  }

  IncRef(): void {
    if (this.refs <= 0) panic("vfs.FileDescription.IncRef on a released description")
    this.refs++
  }

  /** Drops a reference; the last one releases the impl, the write hold, and the mount and dentry. */
  *DecRef(ctx: Ctx): Sim<void> {
    this.refs--
    if (this.refs < 0) panic("vfs.FileDescription.DecRef without a reference")
    if (this.refs > 0) return
    yield* this.impl.Release(ctx)
    if (this.writable) this.vd.mount.EndWrite()
    yield* this.vd.DecRef(ctx)
  }

  *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
    if (!this.readable) return ["", "EBADF"]
    return yield* this.impl.Read(ctx, count)
  }

  *PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    if (this.opts.DenyPRead === true) return ["", "ESPIPE"]
    if (!this.readable) return ["", "EBADF"]
    return yield* this.impl.PRead(ctx, count, offset)
  }

  *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
    if (!this.writable) return [0, "EBADF"]
    return yield* this.impl.Write(ctx, data)
  }

  *PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]> {
    if (this.opts.DenyPWrite === true) return [0, "ESPIPE"]
    if (!this.writable) return [0, "EBADF"]
    return yield* this.impl.PWrite(ctx, data, offset)
  }

  *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    if (this.IsPath()) return [0, "EBADF"]
    return yield* this.impl.Seek(ctx, offset, whence)
  }

  *Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    return yield* this.impl.Stat(ctx, opts)
  }

  *SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null> {
    if (this.IsPath()) return "EBADF"
    return yield* this.impl.SetStat(ctx, opts)
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    if (this.IsPath()) return "EBADF"
    return yield* this.impl.Sync(ctx)
  }

  *IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]> {
    if (this.IsPath()) return [[], "EBADF"]
    return yield* this.impl.IterDirents(ctx)
  }
}

/**
 * The impl of an O_PATH description (vfs/opath.go): no I/O; fstat works
 * through the dentry's filesystem.
 */
export class OpathFD implements FileDescriptionImpl {
  constructor(private readonly stat: (ctx: Ctx) => Sim<[Statx | null, Errno | null]>) {}
  *Release(): Sim<void> {}
  *Read(): Sim<[string, Errno | null]> {
    return ["", "EBADF"]
  }
  *PRead(): Sim<[string, Errno | null]> {
    return ["", "EBADF"]
  }
  *Write(): Sim<[number, Errno | null]> {
    return [0, "EBADF"]
  }
  *PWrite(): Sim<[number, Errno | null]> {
    return [0, "EBADF"]
  }
  *Seek(): Sim<[number, Errno | null]> {
    return [0, "EBADF"]
  }
  *Stat(ctx: Ctx): Sim<[Statx | null, Errno | null]> {
    return yield* this.stat(ctx)
  }
  *SetStat(): Sim<Errno | null> {
    return "EBADF"
  }
  *Sync(): Sim<Errno | null> {
    return "EBADF"
  }
  *IterDirents(): Sim<[readonly Dirent[], Errno | null]> {
    return [[], "EBADF"]
  }
}
