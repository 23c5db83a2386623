// specialFileFD (special_file.go): a description with its own handle, for
// FIFOs and sockets, and for regular files under cache=none (no client
// caching: every read and write is an RPC).

import type { Errno } from "../../model/types.js"
import { ATOMIC, type Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "../vfs/context.js"
import type { FileDescription } from "../vfs/file_description.js"
import type { Dirent } from "../vfs/filesystem.js"
import { CheckLimit, S_IFREG, SEEK_CUR, SEEK_SET } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import type { dentry } from "./dentry.js"
import { fileDescription } from "./file_description.js"
import type { handle } from "./handle.js"
import type { p9file } from "./p9file.js"
import { regularFileSeekLocked } from "./regular_file.js"

export class specialFileFD extends fileDescription {
  /** Immutable. */
  readonly isRegularFile: boolean
  /** Regular files (and devices) are seekable; FIFOs and sockets are not. Immutable. */
  readonly seekable: boolean
  /** Protects off. */
  readonly mu: Mutex
  off = 0

  constructor(
    d: dentry,
    readonly handle: handle,
  ) {
    super(d)
    this.isRegularFile = d.fileType() === S_IFREG
    this.seekable = this.isRegularFile
    this.mu = new Mutex(d.fs.sched, "gofer.specialFileFD.mu", () => d.pathForLog())
  }

  protected override statFile(): p9file {
    return this.handle.file
  }

  *Release(): Sim<void> {
    yield* this.handle.close()
    const fs = this.d.fs
    yield fs.syncMu.Lock()
    fs.specialFileFDs.delete(this)
    yield fs.syncMu.Unlock()
  }

  *OnClose(): Sim<Errno | null> {
    if (!this.vfsfd.writable || this.handle.file === null) return null
    return yield* this.handle.file.flush()
  }

  *PRead(_ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    if (this.seekable && offset < 0) return ["", "EINVAL"]
    const d = this.d
    if (d.cachedMetadataAuthoritative()) yield* d.touchAtime(this.vfsfd.Mount())
    // Buffered, as gVisor does here (no client cache to order with MM locks).
    const [data, err] = yield* this.handle.readToBlocksAt(count, offset < 0 ? 0 : offset)
    if (data.length === 0) return ["", err]
    return [data, null]
  }

  *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
    if (!this.seekable) return yield* this.PRead(ctx, count, -1)
    yield this.mu.Lock()
    try {
      const [data, err] = yield* this.PRead(ctx, count, this.off)
      this.off += data.length
      return [data, err]
    } finally {
      yield this.mu.Unlock()
    }
  }

  *PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]> {
    const [n, , err] = yield* this.pwrite(ctx, data, offset)
    return [n, err]
  }

  private *pwrite(ctx: Ctx, src: string, offset: number): Sim<[number, number, Errno | null]> {
    if (this.seekable && offset < 0) return [0, offset, "EINVAL"]
    const d = this.d
    let metadataLocked = false
    try {
      if (this.isRegularFile) {
        // With O_APPEND the size must be current (a race remains if it
        // changes on the server after this).
        if (this.vfsfd.IsAppend() && !d.cachedMetadataAuthoritative() && d.fs.opts.mutant !== "append-no-refresh") {
          const err = yield* d.updateFromGetattr(ctx)
          if (err !== null) return [0, offset, err]
        }
        // metadataMu is held *while* writing a regular file.
        yield d.metadataMu.Lock()
        metadataLocked = true
        if (this.vfsfd.IsAppend()) offset = d.size
        const [limit, limitErr] = CheckLimit(offset, src.length)
        if (limitErr !== null) return [0, offset, limitErr]
        src = src.slice(0, limit)
      }
      if (d.cachedMetadataAuthoritative()) {
        if (metadataLocked) d.touchCMtimeLocked()
        else yield* d.touchCMtime()
      }
      const [n, err] = yield* this.handle.writeFromBlocksAt(src, offset < 0 ? 0 : offset, d.fs.shortWriteChunk())
      if (offset >= 0) offset += n
      // The size of regular files follows the write.
      if (this.isRegularFile && offset > d.size) {
        yield d.dataMu.Lock()
        yield ATOMIC
        d.size = offset
        yield d.dataMu.Unlock()
      }
      return [n, offset, err]
    } finally {
      if (metadataLocked) yield d.metadataMu.Unlock()
    }
  }

  *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
    if (!this.seekable) {
      const [n, , err] = yield* this.pwrite(ctx, data, -1)
      return [n, err]
    }
    yield this.mu.Lock()
    try {
      const [n, off, err] = yield* this.pwrite(ctx, data, this.off)
      this.off = off
      return [n, err]
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    if (!this.seekable) return [0, "ESPIPE"]
    yield this.mu.Lock()
    try {
      if (this.isRegularFile) {
        const [n, err] = yield* regularFileSeekLocked(ctx, this.d, this.off, offset, whence)
        if (err !== null) return [0, err]
        this.off = n
        return [n, null]
      }
      if (whence === SEEK_CUR) offset += this.off
      else if (whence !== SEEK_SET) return [0, "EINVAL"]
      if (offset < 0) return [0, "EINVAL"]
      this.off = offset
      return [offset, null]
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    return yield* this.sync(ctx, false)
  }

  *sync(_ctx: Ctx, forFilesystemSync: boolean): Sim<Errno | null> {
    if (!this.handle.isOpen()) return null
    const err = yield* this.handle.file!.fsync()
    if (err !== null) {
      if (!forFilesystemSync) return err
      // Only an error we could reasonably expect to avoid: a regular file
      // open for writing.
      if (this.isRegularFile && this.vfsfd.writable) return err
    }
    return null
  }

  *IterDirents(): Sim<[readonly Dirent[], Errno | null]> {
    return [[], "ENOTDIR"]
  }
}

export function* newSpecialFileFD(h: handle, mnt: Mount, d: dentry, flags: number): Sim<[FileDescription | null, Errno | null]> {
  const fd = new specialFileFD(d, h)
  const err = yield* fd.vfsfd.Init(fd, flags, mnt, d.vfsd, { AllowDirectIO: true, DenyPRead: !fd.seekable, DenyPWrite: !fd.seekable })
  if (err !== null) return [null, err]
  yield d.fs.syncMu.Lock()
  d.fs.specialFileFDs.add(fd)
  yield d.fs.syncMu.Unlock()
  return [fd.vfsfd, null]
}
