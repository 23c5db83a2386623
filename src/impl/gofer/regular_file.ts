// regularFileFD (the seed gofer_regular_file.go): reads and writes of
// regular files through the client page cache (fscache and
// fscache_writethrough; fsim has no host FDs, so no mmapFD), straight to the
// server under InteropModeShared or O_DIRECT, with dentryReadWriter's
// ReadToBlocks/WriteFromBlocks logic.

import type { Errno } from "../../model/types.js"
import { ATOMIC, type Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import { SETATTR_MODE, type P9File } from "../../sim/p9/api.js"
import type { Ctx } from "../vfs/context.js"
import type { FileDescription } from "../vfs/file_description.js"
import type { Dirent } from "../vfs/filesystem.js"
import { CheckLimit, O_DSYNC, O_SYNC, PAGE_SIZE, SEEK_CUR, SEEK_END, SEEK_SET, pageRoundDown, pageRoundUp } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import { ClearSUIDAndSGID } from "../vfs/permissions.js"
import type { dentry } from "./dentry.js"
import { fileDescription } from "./file_description.js"
import { InteropModeExclusive, InteropModeShared, InteropModeWritethrough } from "./options.js"
import { maxFillRange } from "./pagecache.js"

export class regularFileFD extends fileDescription {
  /** Protects off. */
  readonly mu: Mutex
  off = 0

  constructor(d: dentry) {
    super(d)
    this.mu = new Mutex(d.fs.sched, "gofer.regularFileFD.mu", () => d.pathForLog())
  }

  *Release(): Sim<void> {}

  /**
   * OnClose: in InteropModeExclusive, with no client-buffered writes, ask
   * the server to flush the write fid (buffered writes are not flushed on
   * close, as in the VFS1 client).
   */
  *OnClose(): Sim<Errno | null> {
    if (!this.vfsfd.writable) return null
    const d = this.d
    if (d.fs.opts.interop !== InteropModeExclusive) return null
    yield d.dataMu.RLock()
    const haveDirtyPages = !d.cache.dirty.isEmpty()
    yield d.dataMu.RUnlock()
    // (No coverage mark here: fsim's VFS never calls OnClose, as gVisor's
    // close(2) does, so this method is unreachable; see README.md.)
    if (haveDirtyPages) return null
    yield d.handleMu.RLock()
    try {
      if (d.writeFile === null) return null
      return yield* d.writeFile.flush()
    } finally {
      yield d.handleMu.RUnlock()
    }
  }

  *PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    if (offset < 0) return ["", "EINVAL"]
    const d = this.d
    // Reading at EOF, checked before anything else (except under
    // InteropModeShared, where d.size is unreliable).
    yield ATOMIC
    if (d.cachedMetadataAuthoritative() && offset >= d.size) return ["", null]
    let data: string
    let readErr: Errno | null
    if (this.vfsfd.IsDirect()) {
      d.fs.mark("gofer.io.direct-read", d)
      // Lock metadataMu for the whole read: d.size must not change.
      yield d.metadataMu.Lock()
      try {
        // Write back dirty cached pages the read will see.
        const werr = yield* d.writeback(ctx, offset, count)
        if (werr !== null) return ["", werr]
        ;[data, readErr] = yield* readToBlocks(d, count, offset, true /* direct */)
        // Compare Linux's mm/filemap.c:do_generic_file_read() => file_accessed().
        // (The mutant calls touchAtime, which locks metadataMu again.)
        if (d.fs.opts.interop !== InteropModeShared) {
          if (d.fs.opts.mutant === "direct-read-atime-deadlock") yield* d.touchAtime(this.vfsfd.Mount())
          else d.touchAtimeLocked(this.vfsfd.Mount())
        }
      } finally {
        yield d.metadataMu.Unlock()
      }
    } else {
      ;[data, readErr] = yield* readToBlocks(d, count, offset, false)
      if (d.fs.opts.interop !== InteropModeShared) yield* d.touchAtime(this.vfsfd.Mount())
    }
    // A short read with an error reports the bytes (as io.EOF is not an error).
    if (readErr !== null && data.length > 0) {
      d.fs.mark("gofer.io.short-read-error", d)
      return [data, null]
    }
    return [data, readErr]
  }

  *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
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

  /** pwrite: bytes written, final offset, error (the final offset is for Write). */
  private *pwrite(ctx: Ctx, src: string, offset: number): Sim<[number, number, Errno | null]> {
    if (offset < 0) return [0, offset, "EINVAL"]
    const d = this.d
    // The mutant reads the size for O_APPEND before metadataMu excludes
    // other writers.
    const staleSize = d.fs.opts.mutant === "append-stale-size" ? d.size : null
    if (staleSize !== null) yield ATOMIC
    yield d.metadataMu.Lock()
    try {
      const append = this.vfsfd.IsAppend()
      // With O_APPEND, bring the size up to date first. (A race remains if
      // the size changes on the server after this.)
      if (append && !d.cachedMetadataAuthoritative() && staleSize === null && d.fs.opts.mutant !== "append-no-refresh") {
        d.fs.mark("gofer.io.append-size-refresh", d)
        const err = yield* d.refreshSizeLocked(ctx)
        if (err !== null) return [0, offset, err]
      }
      // Holding metadataMu is enough to read d.size.
      if (append) offset = staleSize ?? d.size
      const [limit, limitErr] = CheckLimit(offset, src.length)
      if (limitErr !== null) return [0, offset, limitErr]
      src = src.slice(0, limit)
      if (d.fs.opts.interop !== InteropModeShared) {
        // Compare Linux's mm/filemap.c:__generic_file_write_iter() =>
        // file_update_time(); metadataMu is already held.
        d.touchCMtimeLocked()
      }
      let direct = false
      if (this.vfsfd.IsDirect()) {
        d.fs.mark("gofer.io.direct-write", d)
        const err = yield* this.writeCache(ctx, d, offset, src.length)
        if (err !== null) return [0, offset, err]
        // The write must go to the remote file.
        direct = true
      }
      const [n, werr] = yield* writeFromBlocks(ctx, d, src, offset, direct)
      if (werr !== null) return [n, offset + n, werr]
      if (n > 0 && (this.vfsfd.StatusFlags() & (O_DSYNC | O_SYNC)) !== 0) {
        d.fs.mark("gofer.io.sync-write", d)
        // If any of this fails, nothing is known to have been written with
        // O_DSYNC's guarantee: report zero bytes (Linux's
        // generic_write_sync()).
        let e = yield* d.writeback(ctx, offset, src.length)
        if (e !== null) return [0, offset, e]
        e = yield* d.syncRemoteFile(ctx)
        if (e !== null) return [0, offset, e]
      }
      // As in Linux, writing clears setuid and setgid.
      if (n > 0) {
        const oldMode = d.mode
        const newMode = ClearSUIDAndSGID(oldMode)
        if (newMode !== oldMode) {
          d.mode = newMode
          const e = yield* (d.file as P9File).setAttr(SETATTR_MODE, { permissions: newMode & 0o7777, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 })
          if (e !== null) return [0, offset, e]
        }
      }
      return [n, offset + n, null]
    } finally {
      yield d.metadataMu.Unlock()
    }
  }

  /** writeCache: an O_DIRECT write writes back and drops the cached pages it overlaps. */
  private *writeCache(ctx: Ctx, d: dentry, offset: number, size: number): Sim<Errno | null> {
    const err = yield* d.writeback(ctx, offset, size)
    if (err !== null) return err
    const r = { start: pageRoundDown(offset), end: pageRoundUp(offset + size) }
    yield d.dataMu.Lock()
    // gVisor writes back only the bytes the write covers but drops whole
    // pages: dirty bytes of those pages outside it stay in the dirty set
    // with no page behind them, and are never written (FINDINGS.md
    // direct-write-orphans-dirty; unchanged at HEAD).
    if (d.cache.dirty.within(r).length > 0) {
      d.fs.mark("gofer.io.direct-write-orphans-dirty", d)
      d.fs.cacheEvent("page", "dirty-orphaned", d)
    }
    d.cache.Drop(r)
    d.fs.cacheEvent("page", "dropped", d)
    yield d.dataMu.Unlock()
    // No mappings to invalidate in fsim; mapsMu for the lock order.
    yield d.mapsMu.Lock()
    yield d.mapsMu.Unlock()
    return null
  }

  *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
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
    yield this.mu.Lock()
    try {
      const [newOffset, err] = yield* regularFileSeekLocked(ctx, this.d, this.off, offset, whence)
      if (err !== null) return [0, err]
      this.off = newOffset
      return [newOffset, null]
    } finally {
      yield this.mu.Unlock()
    }
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    return yield* this.d.syncCachedFile(ctx, false /* forFilesystemSync */)
  }

  *IterDirents(): Sim<[readonly Dirent[], Errno | null]> {
    return [[], "ENOTDIR"]
  }
}

export function* regularFileSeekLocked(ctx: Ctx, d: dentry, fdOffset: number, offset: number, whence: number): Sim<[number, Errno | null]> {
  switch (whence) {
    case SEEK_SET:
      break
    case SEEK_CUR:
      offset += fdOffset
      break
    case SEEK_END: {
      // The size must be current.
      if (!d.cachedMetadataAuthoritative()) {
        d.fs.mark("gofer.io.seek-end-refresh", d)
        const err = yield* d.updateFromGetattr(ctx)
        if (err !== null) return [0, err]
      }
      yield ATOMIC
      offset += d.size
      break
    }
    default:
      return [0, "EINVAL"]
  }
  if (offset < 0) return [0, "EINVAL"]
  return [offset, null]
}

/**
 * dentryReadWriter.ReadToBlocks: `count` bytes at `offset`, through the
 * page cache unless the read must go to the server (InteropModeShared,
 * O_DIRECT). Returns the bytes read (short at EOF).
 */
function* readToBlocks(d: dentry, count: number, offset: number, direct: boolean): Sim<[string, Errno | null]> {
  if (count === 0) return ["", null]
  yield d.handleMu.RLock()
  try {
    const h = d.readHandleLocked()
    if (d.fs.opts.interop === InteropModeShared || direct) {
      return yield* h.readToBlocksAt(count, offset)
    }
    // Through the cache. (fillCache: pgalloc always caches evictable data here.)
    yield d.dataMu.Lock()
    try {
      // The range to read, limited by the file size.
      if (offset >= d.size) return ["", null]
      let end = d.size
      if (offset + count < end) end = offset + count
      let out = ""
      let off = offset
      // Every round caches the page at `off` or returns, and a hit moves
      // past it: more rounds than pages would be a bug in this loop.
      const rounds = Math.ceil((end - offset) / PAGE_SIZE) + 2
      for (let guard = 0; off < end; guard++) {
        if (guard > rounds) throw new Error("gofer.readToBlocks did not converge")
        const page = Math.floor(off / PAGE_SIZE)
        if (d.cache.isCached(page)) {
          d.fs.cacheEvent("page", "hit", d)
          const segEnd = Math.min(end, (page + 1) * PAGE_SIZE)
          out += d.cache.read({ start: off, end: segEnd })
          off = segEnd
          continue
        }
        // A gap: read into the cache, then read from the cache.
        d.fs.cacheEvent("page", "miss", d)
        const gap = d.cache.gapAround(off, Math.max(pageRoundUp(d.size), pageRoundUp(end)))
        const gapMR = { start: Math.max(off, gap.start), end: Math.min(end, gap.end) }
        const req = { start: pageRoundDown(gapMR.start), end: pageRoundUp(gapMR.end) }
        const fill = maxFillRange(req, gap)
        const err = yield* d.cache.Fill(fill, d.size, (n, o) => h.readToBlocksAt(n, o))
        d.fs.mf.MarkEvictable(d, gap)
        d.fs.cacheEvent("page", "filled", d)
        if (!d.cache.isCached(page)) {
          d.fs.mark("gofer.io.fill-error", d)
          return [out, err ?? "EIO"]
        }
        // An error outside the requested range is forgotten for now: it will
        // come back in a later round if it matters.
      }
      return [out, null]
    } finally {
      yield d.dataMu.Unlock()
    }
  } finally {
    yield d.handleMu.RUnlock()
  }
}

/**
 * dentryReadWriter.WriteFromBlocks: writes into cached pages (marking them
 * dirty) and straight to the server for uncached gaps (the cache is never
 * filled on writes: small writes would become read-modify-write cycles).
 * Under InteropModeWritethrough the written range is then synced.
 * Precondition: d.metadataMu is locked.
 */
function* writeFromBlocks(_ctx: Ctx, d: dentry, src: string, offset: number, direct: boolean): Sim<[number, Errno | null]> {
  if (src.length === 0) return [0, null]
  yield d.handleMu.RLock()
  try {
    const h = d.writeHandleLocked()
    if (d.fs.opts.interop === InteropModeShared || direct) {
      const [n, err] = yield* h.writeFromBlocksAt(src, offset, d.fs.shortWriteChunk())
      if (n !== src.length) d.fs.mark("gofer.io.short-write", d)
      // (The mutant leaves d.size as it was.)
      if (d.fs.opts.mutant === "direct-write-keeps-size") return [n, err]
      yield d.dataMu.Lock()
      if (offset + n > d.size) {
        // The remote size grows by itself with the write.
        yield ATOMIC
        d.size = offset + n
      }
      yield d.dataMu.Unlock()
      return [n, err]
    }
    yield d.dataMu.Lock()
    try {
      const start = offset
      const end = offset + src.length
      let done = 0
      let retErr: Errno | null = null
      for (const seg of d.cache.segments({ start, end })) {
        const chunk = src.slice(seg.range.start - start, seg.range.end - start)
        if (seg.cached) {
          d.cache.write(seg.range.start, chunk)
          d.fs.cacheEvent("page", "dirtied", d)
          done += chunk.length
          continue
        }
        const [n, err] = yield* h.writeFromBlocksAt(chunk, seg.range.start, d.fs.shortWriteChunk())
        done += n
        // A partial write ends the write.
        if (n !== chunk.length || err !== null) {
          d.fs.mark("gofer.io.short-write", d)
          retErr = err
          break
        }
      }
      const newOff = start + done
      if (newOff > d.size) {
        yield ATOMIC
        d.size = newOff
      }
      // Writethrough: flush what was written to the server now.
      if (d.fs.opts.interop === InteropModeWritethrough && done !== 0) {
        const err = yield* d.fs.syncDirty(d, { start, end: newOff }, h)
        if (err !== null) {
          d.fs.mark("gofer.io.writethrough-error", d)
          // How much was flushed is unknown.
          return [0, err]
        }
      }
      return [done, retErr]
    } finally {
      yield d.dataMu.Unlock()
    }
  } finally {
    yield d.handleMu.RUnlock()
  }
}

export function* newRegularFileFD(mnt: Mount, d: dentry, flags: number): Sim<[FileDescription | null, Errno | null]> {
  const fd = new regularFileFD(d)
  const err = yield* fd.vfsfd.Init(fd, flags, mnt, d.vfsd, { AllowDirectIO: true })
  if (err !== null) return [null, err]
  return [fd.vfsfd, null]
}
