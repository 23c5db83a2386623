// regularFileFD (regular_file.go, early 2021): an open regular file of the
// overlay. It wraps a description of the file on its top layer (cachedFD)
// and, once the file has been copied up, switches to a description of the
// upper file at its next use (currentFDLocked), carrying the offset over.
//
// Not ported: OnClose (fsim's VFS has no flush), Allocate, Ioctl, waiters
// and epoll, memory mappings (ConfigureMMap, ensureMappable and the
// memmap.Mappable methods), and SetStatusFlags (no fcntl in the contract,
// so cachedFlags never differs from the description's flags).

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "../vfs/context.js"
import { FileDescription } from "../vfs/file_description.js"
import type { Dirent, SetStatOptions, StatOptions, Statx } from "../vfs/filesystem.js"
import { Parse } from "../vfs/fspath.js"
import { SEEK_CUR, SEEK_SET, S_ISGID, S_ISUID } from "../vfs/linux.js"
import { CheckSetStat, STATX_GID, STATX_MODE, STATX_SIZE, STATX_UID } from "../vfs/permissions.js"
import type { dentry } from "./dentry.js"
import { fileDescription } from "./directory.js"

export class regularFileFD extends fileDescription {
  readonly vfsfd = new FileDescription()

  /**
   * If copiedUp is false, cachedFD represents dentry().lowerVDs[0];
   * otherwise it represents dentry().upperVD. cachedFlags is the last known
   * value of cachedFD.StatusFlags(). All three are protected by mu.
   */
  readonly mu: Mutex
  copiedUp: boolean
  cachedFD: FileDescription | null
  cachedFlags: number

  constructor(d: dentry, copiedUp: boolean, cachedFD: FileDescription) {
    super(d)
    this.mu = new Mutex(d.fs.sched, "overlay.regularFileFD.mu", () => d.pathForLog())
    this.copiedUp = copiedUp
    this.cachedFD = cachedFD
    this.cachedFlags = cachedFD.StatusFlags()
  }

  /** getCurrentFD: the current layer description, with a reference the caller drops. */
  *getCurrentFD(ctx: Ctx): Sim<[FileDescription | null, Errno | null]> {
    yield this.mu.Lock()
    try {
      const [wrappedFD, err] = yield* this.currentFDLocked(ctx)
      if (err !== null || wrappedFD === null) return [null, err ?? "EIO"]
      wrappedFD.IncRef()
      return [wrappedFD, null]
    } finally {
      yield this.mu.Unlock()
    }
  }

  /** Precondition: fd.mu is locked (regularFileFD.SetStat calls it without: see there). */
  *currentFDLocked(ctx: Ctx): Sim<[FileDescription | null, Errno | null]> {
    const d = this.d
    const statusFlags = this.vfsfd.StatusFlags()
    if (!this.copiedUp && (yield* d.copiedUpAtomic())) {
      d.fs.mark("overlay.copyup.open-fd-switched", d)
      // Switch to the copied-up file.

      const upperVD = d.topLayer()
      const [upperFD, err] = yield* d.fs.vfs.OpenAt(ctx, d.fs.creds, { Root: upperVD, Start: upperVD, Path: Parse(""), FollowFinalSymlink: false }, { Flags: statusFlags, Mode: 0 })
      if (err !== null || upperFD === null) return [null, err ?? "EIO"]
      const [oldOff, oldOffErr] = yield* this.cachedFD!.Seek(ctx, 0, SEEK_CUR)
      if (oldOffErr === null) {
        const [, serr] = yield* upperFD.Seek(ctx, oldOff, SEEK_SET)
        if (serr !== null) {
          yield* upperFD.DecRef(ctx)
          return [null, serr]
        }
      }
      const old = this.cachedFD!
      this.copiedUp = true
      this.cachedFD = upperFD
      this.cachedFlags = statusFlags
      yield* old.DecRef(ctx)
    }
    // (cachedFlags != statusFlags cannot happen: see the file comment.)
    return [this.cachedFD, null]
  }

  *Release(ctx: Ctx): Sim<void> {
    const fd = this.cachedFD
    this.cachedFD = null
    if (fd !== null) yield* fd.DecRef(ctx)
  }

  *Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    const [wrappedFD, err] = yield* this.getCurrentFD(ctx)
    if (err !== null || wrappedFD === null) return [null, err ?? "EIO"]
    let stat: Statx | null
    let serr: Errno | null
    try {
      ;[stat, serr] = yield* wrappedFD.Stat(ctx, opts)
    } finally {
      yield* wrappedFD.DecRef(ctx)
    }
    if (serr !== null || stat === null) return [null, serr ?? "EIO"]
    return [this.d.statInternalTo(stat), null]
  }

  /**
   * SetStat, as the early-2021 regular_file.go has it: currentFDLocked is
   * called with d.copyMu locked but without fd.mu (later gVisor takes
   * fd.mu there through getCurrentFD, against its declared lock order).
   * copyUpLocked runs without renameMu, though its precondition asks for it.
   */
  *SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null> {
    const d = this.d
    let e = CheckSetStat(ctx.creds, opts.Stat, opts.NeedWritePerm === true, d.mode, d.uid, d.gid)
    if (e !== null) return e
    const mnt = this.vfsfd.Mount()
    e = mnt.CheckBeginWrite()
    if (e !== null) return e
    try {
      e = yield* d.copyUpLocked(ctx)
      if (e !== null) return e
      // Changes to d's attributes are serialized by d.copyMu.
      yield d.copyMu.Lock()
      try {
        const [wrappedFD, cerr] = yield* this.currentFDLocked(ctx)
        if (cerr !== null || wrappedFD === null) return cerr ?? "EIO"
        e = yield* wrappedFD.SetStat(ctx, opts)
        if (e !== null) return e
        // Changing owners or truncating may clear one or both of the setuid
        // and setgid bits, so opts may have to be updated before d.mode.
        let o = opts
        if ((opts.Stat.mask & (STATX_UID | STATX_GID | STATX_SIZE)) !== 0) {
          const [stat, serr] = yield* wrappedFD.Stat(ctx, {})
          if (serr !== null || stat === null) return serr ?? "EIO"
          o = { ...opts, Stat: { ...opts.Stat, mode: stat.mode, mask: opts.Stat.mask | STATX_MODE } }
        }
        d.updateAfterSetStatLocked(o)
        return null
      } finally {
        yield d.copyMu.Unlock()
      }
    } finally {
      mnt.EndWrite()
    }
  }

  *PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    const [wrappedFD, err] = yield* this.getCurrentFD(ctx)
    if (err !== null || wrappedFD === null) return ["", err ?? "EIO"]
    try {
      return yield* wrappedFD.PRead(ctx, count, offset)
    } finally {
      yield* wrappedFD.DecRef(ctx)
    }
  }

  *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
    // Hold fd.mu during the read to serialize the file offset.
    yield this.mu.Lock()
    try {
      const [wrappedFD, err] = yield* this.currentFDLocked(ctx)
      if (err !== null || wrappedFD === null) return ["", err ?? "EIO"]
      return yield* wrappedFD.Read(ctx, count)
    } finally {
      yield this.mu.Unlock()
    }
  }

  *PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]> {
    const [wrappedFD, err] = yield* this.getCurrentFD(ctx)
    if (err !== null || wrappedFD === null) return [0, err ?? "EIO"]
    try {
      const [n, werr] = yield* wrappedFD.PWrite(ctx, data, offset)
      if (werr !== null) return [n, werr]
      return yield* this.updateSetUserGroupIDs(ctx, wrappedFD, n)
    } finally {
      yield* wrappedFD.DecRef(ctx)
    }
  }

  *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
    // Hold fd.mu during the write to serialize the file offset.
    yield this.mu.Lock()
    try {
      const [wrappedFD, err] = yield* this.currentFDLocked(ctx)
      if (err !== null || wrappedFD === null) return [0, err ?? "EIO"]
      const [n, werr] = yield* wrappedFD.Write(ctx, data)
      if (werr !== null) return [n, werr]
      return yield* this.updateSetUserGroupIDs(ctx, wrappedFD, n)
    } finally {
      yield this.mu.Unlock()
    }
  }

  /** Writing can clear setuid and setgid: d.mode follows the layer's after a write that did something. */
  *updateSetUserGroupIDs(ctx: Ctx, wrappedFD: FileDescription, written: number): Sim<[number, Errno | null]> {
    const d = this.d
    if (written === 0 || (d.mode & (S_ISUID | S_ISGID)) === 0) return [written, null]
    const [stat, err] = yield* wrappedFD.Stat(ctx, {})
    if (err !== null || stat === null) return [written, err ?? "EIO"]
    yield d.copyMu.Lock()
    d.mode = stat.mode
    yield d.copyMu.Unlock()
    return [written, null]
  }

  *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    // Hold fd.mu during the seek to serialize the file offset.
    yield this.mu.Lock()
    try {
      const [wrappedFD, err] = yield* this.currentFDLocked(ctx)
      if (err !== null || wrappedFD === null) return [0, err ?? "EIO"]
      return yield* wrappedFD.Seek(ctx, offset, whence)
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    yield this.mu.Lock()
    let locked = true
    try {
      if (!(yield* this.d.copiedUpAtomic())) return null
      const [wrappedFD, err] = yield* this.currentFDLocked(ctx)
      if (err !== null || wrappedFD === null) return err ?? "EIO"
      wrappedFD.IncRef()
      locked = false
      yield this.mu.Unlock()
      try {
        return yield* wrappedFD.Sync(ctx)
      } finally {
        yield* wrappedFD.DecRef(ctx)
      }
    } finally {
      if (locked) yield this.mu.Unlock()
    }
  }

  *IterDirents(): Sim<[readonly Dirent[], Errno | null]> {
    return [[], "ENOTDIR"]
  }
}
