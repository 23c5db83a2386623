// directoryFD (directory.go): an open directory of the overlay. Entries
// come from dentry.getDirents (merged over the layers and cached in the
// dentry until the directory changes), read once per description until a
// seek to 0. Stat and SetStat go through the dentry, as gVisor's
// UseDentryMetadata descriptions do.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "../vfs/context.js"
import { FileDescription } from "../vfs/file_description.js"
import type { Dirent, FileDescriptionImpl, SetStatOptions, StatOptions, Statx } from "../vfs/filesystem.js"
import { Parse } from "../vfs/fspath.js"
import { O_DIRECTORY, O_RDONLY, SEEK_CUR, SEEK_SET } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import type { PathOperation } from "../vfs/resolving_path.js"
import type { dentry } from "./dentry.js"

/** What every overlay description shares (overlay.go's fileDescription). */
export abstract class fileDescription implements FileDescriptionImpl {
  constructor(readonly d: dentry) {}

  dentry(): dentry {
    return this.d
  }

  abstract readonly vfsfd: FileDescription
  abstract Release(ctx: Ctx): Sim<void>
  abstract Read(ctx: Ctx, count: number): Sim<[string, Errno | null]>
  abstract PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]>
  abstract Write(ctx: Ctx, data: string): Sim<[number, Errno | null]>
  abstract PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]>
  abstract Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]>
  abstract Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]>
  abstract SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null>
  abstract Sync(ctx: Ctx): Sim<Errno | null>
  abstract IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]>
}

export class directoryFD extends fileDescription {
  readonly vfsfd: FileDescription
  /** Protects off and dirents. */
  readonly mu: Mutex
  off = 0
  dirents: Dirent[] | null = null

  constructor(d: dentry, vfsfd: FileDescription) {
    super(d)
    this.vfsfd = vfsfd
    this.mu = new Mutex(d.fs.sched, "overlay.directoryFD.mu", () => d.pathForLog())
  }

  *Release(): Sim<void> {}

  *IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]> {
    yield this.mu.Lock()
    try {
      const d = this.d
      if (this.dirents === null) {
        const [ds, err] = yield* d.getDirents(ctx)
        if (err !== null || ds === null) return [[], err ?? "EIO"]
        this.dirents = ds
      }
      const out = this.dirents.slice(this.off)
      this.off = this.dirents.length
      return [out, null]
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Seek(_ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    yield this.mu.Lock()
    try {
      switch (whence) {
        case SEEK_SET:
          if (offset < 0) return [0, "EINVAL"]
          // Ensure that the next IterDirents calls d.getDirents().
          if (offset === 0) this.dirents = null
          this.off = offset
          return [this.off, null]
        case SEEK_CUR:
          offset += this.off
          if (offset < 0) return [0, "EINVAL"]
          // Don't clear fd.dirents in this case, even if offset == 0.
          this.off = offset
          return [this.off, null]
        default:
          return [0, "EINVAL"]
      }
    } finally {
      yield this.mu.Unlock()
    }
  }

  /**
   * Sync forwards to the upper layer, if there is one (the lower layers
   * never change).
   */
  *Sync(ctx: Ctx): Sim<Errno | null> {
    const d = this.d
    if (!(yield* d.copiedUpAtomic())) return null
    const fs = d.fs
    const upper = d.upperVD!
    const [upperFD, err] = yield* fs.vfs.OpenAt(ctx, fs.creds, { Root: upper, Start: upper, Path: Parse(""), FollowFinalSymlink: false }, { Flags: O_RDONLY | O_DIRECTORY, Mode: 0 })
    if (err !== null || upperFD === null) return err ?? "EIO"
    const serr = yield* upperFD.Sync(ctx)
    yield* upperFD.DecRef(ctx)
    return serr
  }

  /** vfs.DentryMetadataFileDescriptionImpl: stat through the dentry, as a path operation on it. */
  private selfPop(): PathOperation {
    const vd = this.vfsfd.VirtualDentry()
    return { Root: vd, Start: vd, Path: Parse(""), FollowFinalSymlink: false }
  }

  *Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    return yield* this.d.fs.vfs.StatAt(ctx, ctx.creds, this.selfPop(), opts)
  }

  *SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null> {
    return yield* this.d.fs.vfs.SetStatAt(ctx, ctx.creds, this.selfPop(), opts)
  }

  // vfs.DirectoryFileDescriptionDefaultImpl: no file I/O on directories.
  *Read(): Sim<[string, Errno | null]> {
    return ["", "EISDIR"]
  }
  *PRead(): Sim<[string, Errno | null]> {
    return ["", "EISDIR"]
  }
  *Write(): Sim<[number, Errno | null]> {
    return [0, "EBADF"]
  }
  *PWrite(): Sim<[number, Errno | null]> {
    return [0, "EBADF"]
  }
}

export function* newDirectoryFD(mnt: Mount, d: dentry, flags: number): Sim<[FileDescription | null, Errno | null]> {
  const vfsfd = new FileDescription()
  const fd = new directoryFD(d, vfsfd)
  const err = yield* vfsfd.Init(fd, flags, mnt, d.vfsd)
  if (err !== null) return [null, err]
  return [vfsfd, null]
}
