// directoryFD (directory.go): a directory's open description. Entries come
// from dentry.getDirents (cached in the dentry where metadata is
// authoritative), read once per description until a seek to 0.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "../vfs/context.js"
import type { FileDescription } from "../vfs/file_description.js"
import type { Dirent } from "../vfs/filesystem.js"
import { SEEK_CUR, SEEK_SET } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import type { dentry } from "./dentry.js"
import { fileDescription } from "./file_description.js"

export class directoryFD extends fileDescription {
  /** Protects off and dirents. */
  readonly mu: Mutex
  off = 0
  dirents: Dirent[] | null = null

  constructor(d: dentry) {
    super(d)
    this.mu = new Mutex(d.fs.sched, "gofer.directoryFD.mu", () => d.pathForLog())
  }

  *Release(): Sim<void> {}

  *IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]> {
    yield this.mu.Lock()
    try {
      const d = this.d
      if (this.dirents === null) {
        const [ds, err] = yield* d.getDirents(ctx)
        if (err !== null || ds === null) return [[], err]
        this.dirents = ds
      }
      if (d.cachedMetadataAuthoritative()) yield* d.touchAtime(this.vfsfd.Mount())
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
          // The next IterDirents calls getDirents again.
          if (offset === 0) this.dirents = null
          this.off = offset
          return [this.off, null]
        case SEEK_CUR:
          offset += this.off
          if (offset < 0) return [0, "EINVAL"]
          // fd.dirents stays, even at offset 0.
          this.off = offset
          return [this.off, null]
        default:
          return [0, "EINVAL"]
      }
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    return yield* this.d.syncRemoteFile(ctx)
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
  const fd = new directoryFD(d)
  const err = yield* fd.vfsfd.Init(fd, flags, mnt, d.vfsd)
  if (err !== null) return [null, err]
  return [fd.vfsfd, null]
}
