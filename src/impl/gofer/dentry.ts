// gofer.dentry: gVisor's pkg/sentry/fsimpl/gofer dentry (gofer.go, with the
// dentry methods of directory.go, time.go, symlink.go and regular_file.go),
// ported to simulated threads: every lock is a simulated lock of the seed's
// class, every RPC two scheduling points, and the atomic accesses the seeds
// race on (refs, size, deleted) scheduling points of their own.
//
// Field comments say what protects each field, as gVisor's do.

import type { Errno } from "../../model/types.js"
import { ATOMIC, type Sim } from "../../sim/scheduler.js"
import { Mutex, RWMutex } from "../../sim/sync.js"
import {
  ATTR_ATIME,
  ATTR_BTIME,
  ATTR_CTIME,
  ATTR_GID,
  ATTR_MODE,
  ATTR_MTIME,
  ATTR_NLINK,
  ATTR_SIZE,
  ATTR_UID,
  SETATTR_ATIME,
  SETATTR_ATIME_SET,
  SETATTR_GID,
  SETATTR_MODE,
  SETATTR_MTIME,
  SETATTR_MTIME_SET,
  SETATTR_SIZE,
  SETATTR_UID,
  type Attr,
  type AttrMask,
  type P9File,
} from "../../sim/p9/api.js"
import { type Ctx, panic } from "../vfs/context.js"
import { Dentry as VfsDentry, type DentryImpl } from "../vfs/dentry.js"
import type { Dirent, SetStatOptions, Statx } from "../vfs/filesystem.js"
import { DT_DIR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, toDirentType } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import {
  CheckDeleteSticky,
  CheckSetStat,
  CheckXattrPermissions,
  ClearSUIDAndSGID,
  GenericCheckPermissions,
  STATX_ATIME,
  STATX_GID,
  STATX_MODE,
  STATX_MTIME,
  STATX_SIZE,
  STATX_UID,
  UTIME_NOW,
  type AccessTypes,
} from "../vfs/permissions.js"
import type { filesystem } from "./filesystem.js"
import { InteropModeExclusive, InteropModeShared, InteropModeWritethrough } from "./options.js"
import { FileCache, type Range } from "./pagecache.js"
import { isNil, type p9file } from "./p9file.js"
import { handle, openHandle } from "./handle.js"

/** dentryAttrMask: every attribute the gofer client uses. */
export const dentryAttrMask: AttrMask = ATTR_MODE | ATTR_UID | ATTR_GID | ATTR_ATIME | ATTR_MTIME | ATTR_CTIME | ATTR_SIZE | ATTR_BTIME

/** Linux's _V9FS_DEFUID/_V9FS_DEFGID (fs/9p/v9fs.h): (uint32)-2. */
export const V9FS_DEFUID = 4294967294
export const V9FS_DEFGID = 4294967294

/** The deferred list of dentries whose caching status must be re-checked (gVisor's **[]*dentry). */
export interface DentryList {
  list: dentry[] | null
}

export function appendDentry(ds: DentryList, d: dentry): void {
  ;(ds.list ??= []).push(d)
}

/**
 * appendNewChildDentry: the new child took a reference on parent, and has
 * none itself yet; both need checkCachingLocked, the parent first, since
 * that may make room in the cache for the child.
 */
export function appendNewChildDentry(ds: DentryList, parent: dentry, child: dentry): void {
  appendDentry(ds, parent)
  appendDentry(ds, child)
}

export class dentry implements DentryImpl {
  readonly vfsd: VfsDentry

  /**
   * The reference count. Each dentry holds a reference on its parent, even
   * if disowned; synthetic dentries hold one more until unlinked or
   * invalidated. -1 once destroyed. Atomic.
   */
  refs = 0

  /** This dentry's parent; null for the root. Protected by fs.renameMu. */
  parent: dentry | null = null
  /** The name in the parent; "" for the root. Protected by fs.renameMu. */
  name = ""

  /** The file's QID path (its inode on the server). Immutable. */
  readonly qidPath: number

  /** The unopened fid backing this dentry; null for a synthetic file. Immutable until destroyed. */
  file: p9file

  /** The file was deleted. Atomic. */
  deleted = false

  /** Serializes caching attempts on this dentry. */
  readonly cachingMu: Mutex
  /** In fs.cachedDentries. Protected by cachingMu (and fs.cacheMu for the links). */
  cached = false
  /** dentryEntry: the LRU links. */
  lruPrev: dentry | null = null
  lruNext: dentry | null = null

  readonly dirMu: Mutex
  /**
   * For a directory: children by name; null values are names known not to
   * exist (only outside InteropModeShared, in non-synthetic directories).
   * Protected by dirMu.
   */
  children: Map<string, dentry | null> | null = null
  /** Children for which isSynthetic(). Protected by dirMu. */
  syntheticChildren = 0
  /** A cache of all entries, when metadata is authoritative. Protected by dirMu. */
  dirents: Dirent[] | null = null

  // Cached metadata; protected by metadataMu (atomic for lock-free readers).
  readonly metadataMu: Mutex
  readonly ino: number
  /** File type (immutable) and permissions (mutable). */
  mode: number
  uid: number
  gid: number
  blockSize = 4096
  atime = 0
  mtime = 0
  ctime = 0
  btime = 0
  /**
   * File size: kept up to date on a best-effort basis even without
   * authoritative metadata, for O_APPEND. Both metadataMu and dataMu must be
   * held to change it; either suffices to read it.
   */
  size = 0
  /** atime/mtime changed locally and may differ from the server's. */
  atimeDirty = false
  mtimeDirty = false
  /** Atomic; not protected by metadataMu. */
  nlink = 0

  readonly mapsMu: Mutex

  /**
   * Opened fids used for reads and writes by every regularFileFD and
   * directoryFD of this dentry. They may be the same fid. Once opened they
   * are only replaced (by a handle usable for more), never closed, until the
   * dentry is destroyed. Protected by handleMu.
   */
  readonly handleMu: RWMutex
  readFile: p9file = null
  writeFile: p9file = null

  readonly dataMu: RWMutex
  /** The client page cache (cached pages and dirty ranges). Protected by dataMu. */
  readonly cache: FileCache

  /** A symlink's cached target (outside InteropModeShared). Protected by dataMu. */
  haveTarget = false
  target = ""

  constructor(
    readonly fs: filesystem,
    file: p9file,
    qidPath: number,
    ino: number,
    mode: number,
    uid: number,
    gid: number,
  ) {
    const sched = fs.sched
    const d = this
    const name = (): string => d.pathForLog()
    this.vfsd = new VfsDentry(sched)
    this.vfsd.Init(this)
    this.file = file
    this.qidPath = qidPath
    this.ino = ino
    this.mode = mode
    this.uid = uid
    this.gid = gid
    this.cachingMu = new Mutex(sched, "gofer.dentry.cachingMu", name)
    this.dirMu = new Mutex(sched, "gofer.dentry.dirMu", name)
    this.metadataMu = new Mutex(sched, "gofer.dentry.metadataMu", name)
    this.mapsMu = new Mutex(sched, "gofer.dentry.mapsMu", name)
    this.handleMu = new RWMutex(sched, "gofer.dentry.handleMu", name)
    this.dataMu = new RWMutex(sched, "gofer.dentry.dataMu", name)
    this.cache = new FileCache(fs.mf)
  }

  /** The dentry's path from the filesystem root, for messages and lock names. */
  pathForLog(): string {
    if (this.parent === null) return this.refs === -1 ? "(destroyed root)" : "/"
    const parts: string[] = []
    let d: dentry | null = this
    for (let i = 0; d !== null && d.parent !== null && i < 64; i++, d = d.parent) parts.push(d.name)
    return "/" + parts.reverse().join("/")
  }

  isSynthetic(): boolean {
    return isNil(this.file)
  }

  cachedMetadataAuthoritative(): boolean {
    return this.fs.opts.interop !== InteropModeShared || this.isSynthetic()
  }

  fileType(): number {
    return this.mode & S_IFMT
  }

  isDir(): boolean {
    return this.fileType() === S_IFDIR
  }

  isRegularFile(): boolean {
    return this.fileType() === S_IFREG
  }

  isSymlink(): boolean {
    return this.fileType() === S_IFLNK
  }

  isSocket(): boolean {
    return this.fileType() === S_IFSOCK
  }

  isFIFO(): boolean {
    return this.fileType() === S_IFIFO
  }

  *isDeleted(): Sim<boolean> {
    yield ATOMIC
    return this.deleted
  }

  *setDeleted(): Sim<void> {
    yield ATOMIC
    this.deleted = true
  }

  // -------------------------------------------------------------------------
  // Metadata.

  /**
   * updateFromP9AttrsLocked: metadata from the server. Client-set times that
   * are still dirty are kept.
   * Precondition: d.metadataMu is locked.
   */
  *updateFromP9AttrsLocked(mask: AttrMask, attr: Attr): Sim<void> {
    if ((mask & ATTR_MODE) !== 0) {
      const got = attr.mode & S_IFMT
      const want = this.fileType()
      if (got !== want) panic(`gofer.dentry file type changed from ${want.toString(8)} to ${got.toString(8)} (${this.pathForLog()})`)
      this.mode = attr.mode
    }
    if ((mask & ATTR_UID) !== 0) this.uid = attr.uid
    if ((mask & ATTR_GID) !== 0) this.gid = attr.gid
    if (attr.blockSize !== 0) this.blockSize = attr.blockSize
    if ((mask & ATTR_ATIME) !== 0 && !this.atimeDirty) this.atime = attr.atime
    if ((mask & ATTR_MTIME) !== 0 && !this.mtimeDirty) this.mtime = attr.mtime
    if ((mask & ATTR_CTIME) !== 0) this.ctime = attr.ctime
    if ((mask & ATTR_BTIME) !== 0) this.btime = attr.btime
    if ((mask & ATTR_NLINK) !== 0) this.nlink = attr.nlink
    if ((mask & ATTR_SIZE) !== 0) yield* this.updateSizeLocked(attr.size)
  }

  /** refreshSizeLocked: no host FD in fsim, so ask the server. Preconditions: !isSynthetic(), metadataMu locked. */
  *refreshSizeLocked(ctx: Ctx): Sim<Errno | null> {
    return yield* this.updateFromGetattrLocked(ctx, null)
  }

  /** Precondition: !isSynthetic(). */
  *updateFromGetattr(ctx: Ctx): Sim<Errno | null> {
    // The mutant locks metadataMu only to store the reply.
    if (this.fs.opts.mutant === "getattr-before-metadata-lock") return yield* this.updateFromGetattrLocked(ctx, null, true /* lockToStore */)
    // metadataMu must be locked *before* the getattr so that stale
    // attributes are not stored by updateFromP9AttrsLocked.
    yield this.metadataMu.Lock()
    try {
      return yield* this.updateFromGetattrLocked(ctx, null)
    } finally {
      yield this.metadataMu.Unlock()
    }
  }

  /**
   * Preconditions: !isSynthetic(), metadataMu locked (unless lockToStore,
   * the getattr-before-metadata-lock mutant's way: locked only around the
   * store).
   */
  *updateFromGetattrLocked(_ctx: Ctx, file: p9file, lockToStore = false): Sim<Errno | null> {
    let handleMuRLocked = false
    if (isNil(file)) {
      // Prefer an opened fid (cheaper for some servers), and the write one:
      // some servers update a writable handle's metadata first.
      yield this.handleMu.RLock()
      if (!isNil(this.writeFile)) {
        file = this.writeFile
        handleMuRLocked = true
      } else if (!isNil(this.readFile)) {
        file = this.readFile
        handleMuRLocked = true
      } else {
        file = this.file
        yield this.handleMu.RUnlock()
      }
    }
    const [, attrMask, attr, err] = yield* (file as P9File).getAttr(dentryAttrMask)
    if (handleMuRLocked) yield this.handleMu.RUnlock()
    if (err !== null || attr === null) return err ?? "EIO"
    if (lockToStore) yield this.metadataMu.Lock()
    yield* this.updateFromP9AttrsLocked(attrMask, attr)
    if (lockToStore) yield this.metadataMu.Unlock()
    return null
  }

  statTo(): Statx {
    // A server without link counts: make one up, as Linux's 9p client does.
    const nlink = this.nlink === 0 ? 1 : this.nlink
    return {
      mode: this.mode,
      nlink,
      uid: this.uid,
      gid: this.gid,
      ino: this.ino,
      size: this.size,
      // Consistent with Seek, which treats regular files as having no holes.
      blocks: Math.floor((this.size + 511) / 512),
      blksize: this.blockSize,
      atime: this.atime,
      mtime: this.mtime,
      ctime: this.ctime,
      btime: this.btime,
      devMajor: 0,
      devMinor: this.fs.devMinor,
    }
  }

  *setStat(ctx: Ctx, opts: SetStatOptions, mnt: Mount): Sim<Errno | null> {
    const stat = { ...opts.Stat }
    if (stat.mask === 0) return null
    if ((stat.mask & ~(STATX_MODE | STATX_UID | STATX_GID | STATX_ATIME | STATX_MTIME | STATX_SIZE)) !== 0) return "EPERM"
    const mode = this.mode
    let e = CheckSetStat(ctx.creds, stat, opts.NeedWritePerm === true, mode, this.uid, this.gid)
    if (e !== null) return e
    e = mnt.CheckBeginWrite()
    if (e !== null) return e
    try {
      if ((stat.mask & STATX_SIZE) !== 0) {
        // Filesystems may return the wrong errno for truncating other files.
        switch (mode & S_IFMT) {
          case S_IFREG:
            break
          case S_IFDIR:
            return "EISDIR"
          default:
            return "EINVAL"
        }
      }
      let now = 0
      if (this.cachedMetadataAuthoritative()) {
        // Truncate updates mtime.
        if ((stat.mask & (STATX_SIZE | STATX_MTIME)) === STATX_SIZE) {
          stat.mask |= STATX_MTIME
          stat.mtime = UTIME_NOW
        }
        // Client clocks for timestamps.
        now = this.fs.now()
        if ((stat.mask & STATX_ATIME) !== 0 && stat.atime === UTIME_NOW) stat.atime = now
        if ((stat.mask & STATX_MTIME) !== 0 && stat.mtime === UTIME_NOW) stat.mtime = now
      }
      if (this.fs.opts.mutant === "lock-order-inversion") {
        // The mutant: dataMu held while taking metadataMu.
        yield this.dataMu.Lock()
        yield this.metadataMu.Lock()
        yield this.dataMu.Unlock()
      } else yield this.metadataMu.Lock()
      try {
        // As in Linux, a change of owner, group or size clears setuid/setgid.
        const clearSGID = ((stat.mask & STATX_UID) !== 0 && stat.uid !== this.uid) || ((stat.mask & STATX_GID) !== 0 && stat.gid !== this.gid) || (stat.mask & STATX_SIZE) !== 0
        // The mutant, as gVisor before its fix, sends the cached mode (with
        // setuid/setgid cleared) whether or not it changes: under
        // InteropModeShared a mode another user set since the last
        // revalidation is overwritten by the client's stale one.
        const resendMode = clearSGID && (stat.mask & STATX_MODE) === 0 && this.fs.opts.mutant === "setstat-resends-mode"
        if (resendMode) stat.mode = ClearSUIDAndSGID(this.mode) & 0o7777
        if (clearSGID && !resendMode) {
          if ((stat.mask & STATX_MODE) !== 0) stat.mode = ClearSUIDAndSGID(stat.mode)
          else {
            const oldMode = this.mode
            const updated = ClearSUIDAndSGID(oldMode)
            if (updated !== oldMode) {
              stat.mode = updated & 0o7777
              stat.mask |= STATX_MODE
            }
          }
        }
        if (!this.isSynthetic()) {
          if (stat.mask !== 0) {
            // dataMu is held around the update of both the remote size and
            // d.size, so writeback cannot write past a new end meanwhile.
            // (The mutant takes it only after the RPC, as gVisor did.)
            const dataMuAroundRPC = (stat.mask & STATX_SIZE) !== 0 && this.fs.opts.mutant !== "truncate-without-datamu"
            if (dataMuAroundRPC) yield this.dataMu.Lock()
            let valid = 0
            if ((stat.mask & STATX_MODE) !== 0 || resendMode) valid |= SETATTR_MODE
            if ((stat.mask & STATX_UID) !== 0) valid |= SETATTR_UID
            if ((stat.mask & STATX_GID) !== 0) valid |= SETATTR_GID
            if ((stat.mask & STATX_SIZE) !== 0) valid |= SETATTR_SIZE
            if ((stat.mask & STATX_ATIME) !== 0) valid |= SETATTR_ATIME | (stat.atime !== UTIME_NOW ? SETATTR_ATIME_SET : 0)
            if ((stat.mask & STATX_MTIME) !== 0) valid |= SETATTR_MTIME | (stat.mtime !== UTIME_NOW ? SETATTR_MTIME_SET : 0)
            const err = yield* (this.file as P9File).setAttr(valid, {
              permissions: stat.mode & 0o7777,
              uid: stat.uid,
              gid: stat.gid,
              size: stat.size,
              atime: stat.atime,
              mtime: stat.mtime,
            })
            if (err !== null) {
              this.fs.mark("gofer.setattr.rpc-error", this)
              if (dataMuAroundRPC) yield this.dataMu.Unlock()
              return err
            }
            // d.size stays up to date, even under InteropModeShared.
            if (dataMuAroundRPC) yield* this.updateSizeAndUnlockDataMuLocked(stat.size)
            else if ((stat.mask & STATX_SIZE) !== 0) yield* this.updateSizeLocked(stat.size)
          }
          if (this.fs.opts.interop === InteropModeShared) {
            // Revalidation overwrites d's metadata before its next use.
            return null
          }
        }
        if ((stat.mask & STATX_MODE) !== 0 || resendMode) this.mode = this.fileType() | (stat.mode & 0o7777)
        if ((stat.mask & STATX_UID) !== 0) this.uid = stat.uid
        if ((stat.mask & STATX_GID) !== 0) this.gid = stat.gid
        // stat.atime/mtime are client times by now (see above).
        if ((stat.mask & STATX_ATIME) !== 0) {
          this.atime = stat.atime
          this.atimeDirty = false
        }
        if ((stat.mask & STATX_MTIME) !== 0) {
          this.mtime = stat.mtime
          this.mtimeDirty = false
        }
        this.ctime = now
        return null
      } finally {
        yield this.metadataMu.Unlock()
      }
    } finally {
      mnt.EndWrite()
    }
  }

  /** Precondition: d.metadataMu is locked. */
  *updateSizeLocked(newSize: number): Sim<void> {
    yield this.dataMu.Lock()
    yield* this.updateSizeAndUnlockDataMuLocked(newSize)
  }

  /** Preconditions: metadataMu and dataMu locked. Postcondition: dataMu unlocked. */
  *updateSizeAndUnlockDataMuLocked(newSize: number): Sim<void> {
    const oldSize = this.size
    yield ATOMIC
    this.size = newSize
    // dataMu is unlocked to lock mapsMu below; readers synchronize with the
    // truncation by not using cache contents past the new size (metadataMu,
    // still held, excludes writes and other truncations).
    yield this.dataMu.Unlock()
    if (newSize < oldSize) {
      // No memory mappings in fsim: mapsMu is taken for the lock order's sake.
      yield this.mapsMu.Lock()
      yield this.mapsMu.Unlock()
      // Truncated pages are gone from the remote file: drop them without
      // writing them back.
      yield this.dataMu.Lock()
      if (this.fs.marking) {
        const past = { start: newSize, end: Number.MAX_SAFE_INTEGER }
        if (this.cache.dirty.within(past).length > 0) this.fs.mark("gofer.truncate.dirty-pages", this)
        else if (this.cache.cachedRanges().some((r) => r.end > newSize)) this.fs.mark("gofer.truncate.cached-pages", this)
      }
      if (this.fs.opts.mutant !== "truncate-keeps-pages") {
        this.cache.Truncate(newSize)
        this.cache.dirty.remove({ start: newSize, end: Number.MAX_SAFE_INTEGER })
        this.fs.cacheEvent("page", "truncated", this)
      }
      yield this.dataMu.Unlock()
    }
  }

  checkPermissions(creds: import("../../model/types.js").Cred, ats: AccessTypes): Errno | null {
    return GenericCheckPermissions(creds, ats, this.mode, this.uid, this.gid)
  }

  checkXattrPermissions(creds: import("../../model/types.js").Cred, name: string, ats: AccessTypes): Errno | null {
    // Deny the "security" and "system" namespaces: applications may expect
    // them to change kernel behaviour in unimplemented ways.
    if (name.startsWith("security.") || name.startsWith("system.")) return "EOPNOTSUPP"
    const e = GenericCheckPermissions(creds, ats, this.mode, this.uid, this.gid)
    if (e !== null) return e
    return CheckXattrPermissions(creds, ats, this.mode, this.uid, name)
  }

  mayDelete(creds: import("../../model/types.js").Cred, child: dentry): Errno | null {
    return CheckDeleteSticky(creds, this.mode, this.uid, child.uid)
  }

  // -------------------------------------------------------------------------
  // References and caching.

  /** d.refs may be 0 while fs.renameMu is locked, which serializes with checkCachingLocked. */
  *IncRef(): Sim<void> {
    yield ATOMIC
    this.refs++
  }

  *TryIncRef(): Sim<boolean> {
    yield ATOMIC
    if (this.refs <= 0) return false
    this.refs++
    return true
  }

  *DecRef(ctx: Ctx): Sim<void> {
    if ((yield* this.decRefNoCaching()) === 0) yield* this.checkCachingLocked(ctx, false /* renameMuWriteLocked */)
  }

  /** Drops a reference without checkCachingLocked; the caller sees to it. */
  *decRefNoCaching(): Sim<number> {
    yield ATOMIC
    const r = --this.refs
    if (r < 0) panic(`gofer.dentry.decRefNoCaching() called without holding a reference (${this.pathForLog()})`)
    return r
  }

  /**
   * checkCachingLocked should be called after d's reference count becomes 0
   * or it becomes disowned (and may be called after it becomes non-zero, to
   * take it out of the LRU early). It may be called on a destroyed dentry.
   *
   * Preconditions: d.fs.renameMu is locked for writing if
   * renameMuWriteLocked; it may be temporarily unlocked.
   */
  *checkCachingLocked(ctx: Ctx, renameMuWriteLocked: boolean): Sim<void> {
    const fs = this.fs
    yield this.cachingMu.Lock()
    yield ATOMIC
    const refs = this.refs
    // (The mutant cannot tell: its destroyLocked leaves refs at 0.)
    if (refs === -1) {
      // Already destroyed.
      yield this.cachingMu.Unlock()
      return
    }
    if (refs > 0) {
      // The LRU may hold referenced dentries (eviction skips them), but
      // removing d now keeps it cleaner and evictions rarer.
      yield* this.removeFromCacheLocked()
      yield this.cachingMu.Unlock()
      return
    }
    // Deleted and invalidated dentries with no references can no longer be
    // reached by path resolution: drop them now.
    if (this.vfsd.IsDead()) {
      yield* this.removeFromCacheLocked()
      yield this.cachingMu.Unlock()
      if (!renameMuWriteLocked) {
        // destroyLocked needs renameMu for writing.
        yield fs.renameMu.Lock()
        try {
          // No reference can be taken from now on (path resolution needs
          // renameMu), but one may have been taken meanwhile, or d destroyed.
          yield ATOMIC
          if (this.refs !== 0) {
            if (this.refs > 0) fs.mark("gofer.dcache.dead-revived", this)
            return
          }
          yield* this.destroyLocked(ctx)
        } finally {
          yield fs.renameMu.Unlock()
        }
        return
      }
      yield* this.destroyLocked(ctx)
      return
    }
    if (fs.released) {
      yield this.cachingMu.Unlock()
      if (!renameMuWriteLocked) yield fs.renameMu.Lock()
      try {
        if (this.parent !== null) {
          yield this.parent.dirMu.Lock()
          this.parent.children?.delete(this.name)
          yield this.parent.dirMu.Unlock()
        }
        yield* this.destroyLocked(ctx)
      } finally {
        if (!renameMuWriteLocked) yield fs.renameMu.Unlock()
      }
      return
    }
    yield fs.cacheMu.Lock()
    // Already cached: move to the front of the LRU.
    if (this.cached) {
      fs.lruRemove(this)
      fs.lruPushFront(this)
      yield fs.cacheMu.Unlock()
      yield this.cachingMu.Unlock()
      return
    }
    // Cache d, then evict the least recently used dentry if over the limit.
    fs.lruPushFront(this)
    fs.cachedDentriesLen++
    this.cached = true
    fs.cacheEvent("dentry", "cached", this)
    const shouldEvict = fs.cachedDentriesLen > fs.opts.maxCachedDentries
    if (shouldEvict) fs.mark("gofer.dcache.limit-reached", this)
    yield fs.cacheMu.Unlock()
    yield this.cachingMu.Unlock()
    if (shouldEvict) {
      if (!renameMuWriteLocked) yield fs.renameMu.Lock()
      try {
        yield* fs.evictCachedDentryLocked(ctx)
      } finally {
        if (!renameMuWriteLocked) yield fs.renameMu.Unlock()
      }
    }
  }

  /** Precondition: d.cachingMu is locked. */
  *removeFromCacheLocked(): Sim<void> {
    if (this.cached) {
      yield this.fs.cacheMu.Lock()
      this.fs.lruRemove(this)
      this.fs.cachedDentriesLen--
      yield this.fs.cacheMu.Unlock()
      this.cached = false
    }
  }

  /**
   * destroyLocked: writes dirty pages back, clunks d's fids and drops its
   * reference on its parent.
   *
   * Preconditions: fs.renameMu is locked for writing (it is temporarily
   * unlocked); d.refs == 0; d is not reachable from its former parent.
   */
  *destroyLocked(ctx: Ctx): Sim<void> {
    const fs = this.fs
    yield ATOMIC
    switch (this.refs) {
      case 0:
        // Marked destroyed, so that a later checkCachingLocked of d (a
        // dentry may be queued twice by one operation) does nothing. The
        // mutant leaves the mark out, as gVisor did before its fix.
        if (fs.opts.mutant !== "destroy-not-idempotent") this.refs = -1
        break
      case -1:
        panic(`dentry.destroyLocked() called on already destroyed dentry ${this.pathForLog()}`)
      // falls through
      default:
        panic(`dentry.destroyLocked() called with references on the dentry ${this.pathForLog()}`)
    }
    fs.cacheEvent("dentry", "destroyed", this)
    // Proceed without renameMu, for scalability.
    yield fs.renameMu.Unlock()

    yield this.handleMu.Lock()
    yield this.dataMu.Lock()
    const h = this.writeHandleLocked()
    if (!this.cache.isEmpty()) fs.mark("gofer.dcache.evict-with-pages", this)
    if (!this.cache.dirty.isEmpty()) fs.mark("gofer.dcache.evict-dirty-pages", this)
    if (h.isOpen() && fs.opts.mutant !== "evict-drops-dirty") {
      // Write dirty pages back to the remote file.
      const err = yield* fs.syncDirtyAll(this, h)
      if (err !== null) {
        fs.mark("gofer.dcache.destroy-writeback-failed", this)
        fs.warn(`gofer.dentry.destroyLocked: failed to write dirty data back: ${err}`)
        // gVisor discards the pages below all the same: writes that returned
        // success are lost (FINDINGS.md, evict-writeback-error-drops-dirty).
        if (!this.cache.dirty.isEmpty()) fs.cacheEvent("page", "dirty-dropped", this)
      }
    }
    // Discard cached data.
    if (!this.cache.isEmpty()) {
      fs.mf.MarkAllUnevictable(this)
      this.cache.DropAll()
      this.cache.dirty.clear()
    }
    yield this.dataMu.Unlock()
    // Clunk open fids.
    if (!isNil(this.readFile)) yield* this.readFile.close()
    if (!isNil(this.writeFile) && this.readFile !== this.writeFile) yield* this.writeFile.close()
    this.readFile = null
    this.writeFile = null
    yield this.handleMu.Unlock()

    if (!isNil(this.file)) {
      // Timestamps that are dirty on the client are not written back: too
      // expensive in gVisor's experience, as its comment here says.
      const err = yield* this.file.close()
      if (err !== null) fs.warn(`gofer.dentry.destroyLocked: failed to close file: ${err}`)
      this.file = null
      // Remove d from the set of syncable dentries.
      yield fs.syncMu.Lock()
      fs.syncableDentries.delete(this)
      yield fs.syncMu.Unlock()
    }

    yield fs.renameMu.Lock()

    // Drop the reference d holds on its parent without locking renameMu
    // recursively.
    if (this.parent !== null && (yield* this.parent.decRefNoCaching()) === 0) {
      yield* this.parent.checkCachingLocked(ctx, true /* renameMuWriteLocked */)
    }
  }

  // -------------------------------------------------------------------------
  // Directories (directory.go).

  /**
   * cacheNewChildLocked: child, a new dentry that never had a parent,
   * becomes d's child `name` (holding a reference on d).
   * Preconditions: fs.renameMu and d.dirMu locked; d.isDir().
   */
  *cacheNewChildLocked(child: dentry, name: string): Sim<void> {
    yield* this.IncRef() // held by child on its parent
    child.parent = this
    child.name = name
    ;(this.children ??= new Map()).set(name, child)
  }

  /**
   * Records that `name` does not exist, except under InteropModeShared
   * (lookup must go to the server anyway) or in a synthetic directory (whose
   * only files are its children): there, any cached child is just dropped.
   * Preconditions: d.dirMu locked; d.isDir().
   */
  cacheNegativeLookupLocked(name: string): void {
    if (this.fs.opts.interop === InteropModeShared || this.isSynthetic()) {
      this.children?.delete(name)
      return
    }
    ;(this.children ??= new Map()).set(name, null)
    this.fs.cacheEvent("dentry", "negative", this, name)
  }

  /**
   * createSyntheticChildLocked: a synthetic child (a directory, socket or
   * FIFO that exists only in the client).
   * Preconditions: d.dirMu locked; d.isDir(); no child `name`.
   */
  *createSyntheticChildLocked(name: string, mode: number, kuid: number, kgid: number): Sim<void> {
    const now = this.fs.now()
    const child = new dentry(this.fs, null, 0, this.fs.nextIno(), mode, kuid, kgid)
    child.refs = 1 // held by d
    child.atime = child.mtime = child.ctime = child.btime = now
    child.nlink = 2
    switch (mode & S_IFMT) {
      case S_IFDIR:
      case S_IFSOCK:
      case S_IFIFO:
        break
      default:
        panic(`failed to create synthetic file of unrecognized type: ${(mode & S_IFMT).toString(8)}`)
    }
    yield* this.cacheNewChildLocked(child, name)
    this.syntheticChildren++
  }

  /**
   * getDirents: every entry of the directory, read with dirMu held so that
   * no client mutation interleaves (9P readdir says nothing about concurrent
   * mutation). Preconditions: d.isDir(); a directoryFD of d exists.
   */
  *getDirents(ctx: Ctx): Sim<[Dirent[] | null, Errno | null]> {
    const fs = this.fs
    // renameMu is needed for d.parent and precedes dirMu.
    yield fs.renameMu.RLock()
    yield this.dirMu.Lock()
    try {
      if (this.dirents !== null) {
        fs.mark("gofer.readdir.cache-hit", this)
        return [this.dirents, null]
      }
      // Whether 9P's readdir returns "." and ".." is not clear, so they are made here.
      const parent = this.parent ?? this
      const dirents: Dirent[] = [
        { Name: ".", Type: DT_DIR, Ino: this.ino, NextOff: 1 },
        { Name: "..", Type: toDirentType(parent.mode), Ino: parent.ino, NextOff: 2 },
      ]
      let realChildren: Set<string> | null = null
      if (!this.isSynthetic()) {
        if (this.syntheticChildren !== 0 && fs.opts.interop === InteropModeShared) realChildren = new Set()
        let off = 0
        const count = 64 * 1024 // as the VFS1 client
        yield this.handleMu.RLock()
        try {
          if (isNil(this.readFile)) panic(`gofer.dentry.getDirents called without a readable handle (${this.pathForLog()})`)
          for (let rounds = 0; ; rounds++) {
            if (rounds > 100000) panic("gofer.dentry.getDirents: readdir did not end")
            const [p9ds, err] = yield* this.readFile.readdir(off, count)
            if (err !== null) {
              fs.mark("gofer.readdir.error", this)
              return [null, err]
            }
            if (p9ds.length === 0) break
            for (const p9d of p9ds) {
              if (p9d.name === "." || p9d.name === "..") continue
              // p9 does not expose 9P2000.U's DMDEVICE, DMNAMEDPIPE or
              // DMSOCKET: anything not a directory or symlink is reported as
              // a regular file.
              const type = (p9d.qid.type & 0x02) !== 0 ? 10 /* DT_LNK */ : (p9d.qid.type & 0x80) !== 0 ? DT_DIR : 8 /* DT_REG */
              dirents.push({ Name: p9d.name, Type: type, Ino: yield* fs.inoFromQIDPath(p9d.qid.path), NextOff: dirents.length + 1 })
              realChildren?.add(p9d.name)
            }
            off = p9ds[p9ds.length - 1]!.offset
          }
        } finally {
          yield this.handleMu.RUnlock()
        }
      }
      // Entries for synthetic children.
      if (this.syntheticChildren !== 0) {
        for (const child of this.children?.values() ?? []) {
          if (child === null || !child.isSynthetic()) continue
          if (realChildren?.has(child.name) === true) continue
          if (!this.isSynthetic()) fs.mark("gofer.readdir.synthetic-merged", this)
          dirents.push({ Name: child.name, Type: toDirentType(child.mode), Ino: child.ino, NextOff: dirents.length + 1 })
        }
      }
      // Cache for later directoryFDs if allowed.
      if (this.cachedMetadataAuthoritative()) this.dirents = dirents
      void ctx
      return [dirents, null]
    } finally {
      yield this.dirMu.Unlock()
      yield fs.renameMu.RUnlock()
    }
  }

  // -------------------------------------------------------------------------
  // Timestamps (time.go). Preconditions: cachedMetadataAuthoritative().

  *touchAtime(mnt: Mount): Sim<void> {
    if (mnt.flags.readOnly) return
    if (mnt.CheckBeginWrite() !== null) return
    const now = this.fs.now()
    yield this.metadataMu.Lock()
    this.atime = now
    this.atimeDirty = true
    yield this.metadataMu.Unlock()
    mnt.EndWrite()
  }

  /** Precondition: d.metadataMu is locked. */
  touchAtimeLocked(mnt: Mount): void {
    if (mnt.flags.readOnly) return
    if (mnt.CheckBeginWrite() !== null) return
    this.atime = this.fs.now()
    this.atimeDirty = true
    mnt.EndWrite()
  }

  /** Precondition: the caller called CheckBeginWrite. */
  *touchCtime(): Sim<void> {
    const now = this.fs.now()
    yield this.metadataMu.Lock()
    this.ctime = now
    yield this.metadataMu.Unlock()
  }

  /** Precondition: the caller called CheckBeginWrite. */
  *touchCMtime(): Sim<void> {
    const now = this.fs.now()
    yield this.metadataMu.Lock()
    this.mtime = now
    this.ctime = now
    this.mtimeDirty = true
    yield this.metadataMu.Unlock()
  }

  /** Precondition: d.metadataMu is locked. */
  touchCMtimeLocked(): void {
    const now = this.fs.now()
    this.mtime = now
    this.ctime = now
    this.mtimeDirty = true
  }

  // -------------------------------------------------------------------------
  // Symlinks (symlink.go). Precondition: d.isSymlink().

  *readlink(_ctx: Ctx, mnt: Mount): Sim<[string, Errno | null]> {
    const shared = this.fs.opts.interop === InteropModeShared
    if (!shared) {
      yield* this.touchAtime(mnt)
      yield this.dataMu.Lock()
      if (this.haveTarget) {
        this.fs.mark("gofer.readlink.cached-target", this)
        const target = this.target
        yield this.dataMu.Unlock()
        return [target, null]
      }
    }
    const [target, err] = yield* (this.file as P9File).readlink()
    if (!shared) {
      if (err === null) {
        this.haveTarget = true
        this.target = target
      }
      yield this.dataMu.Unlock()
    }
    return [target, err]
  }

  // -------------------------------------------------------------------------
  // Extended attributes.

  *listXattr(_size: number): Sim<[readonly string[], Errno | null]> {
    if (isNil(this.file)) return [[], null]
    const [names, err] = yield* this.file.listXattr(65536)
    return [names, err]
  }

  *getXattr(ctx: Ctx, name: string, size: number): Sim<[string, Errno | null]> {
    if (isNil(this.file)) return ["", "ENODATA"]
    const e = this.checkXattrPermissions(ctx.creds, name, 4 /* MayRead */)
    if (e !== null) return ["", e]
    return yield* this.file.getXattr(name, size)
  }

  *setXattr(ctx: Ctx, name: string, value: string, flags: number): Sim<Errno | null> {
    if (isNil(this.file)) return "EPERM"
    const e = this.checkXattrPermissions(ctx.creds, name, 2 /* MayWrite */)
    if (e !== null) return e
    return yield* this.file.setXattr(name, value, flags)
  }

  *removeXattr(ctx: Ctx, name: string): Sim<Errno | null> {
    if (isNil(this.file)) return "EPERM"
    const e = this.checkXattrPermissions(ctx.creds, name, 2 /* MayWrite */)
    if (e !== null) return e
    return yield* this.file.removeXattr(name)
  }

  // -------------------------------------------------------------------------
  // Handles.

  /**
   * ensureSharedHandle: opens (or replaces with one usable for more) the
   * dentry's shared read/write fids. Handles are only ever upgraded.
   * Preconditions: !isSynthetic(); a regular file or directory.
   */
  *ensureSharedHandle(_ctx: Ctx, read: boolean, write: boolean, trunc: boolean): Sim<Errno | null> {
    // O_TRUNC always needs a new handle (opened with O_TRUNC).
    if (!trunc) {
      yield this.handleMu.RLock()
      const enough = (!read || !isNil(this.readFile)) && (!write || !isNil(this.writeFile))
      yield this.handleMu.RUnlock()
      if (enough) return null
    }
    yield this.handleMu.Lock()
    try {
      if ((read && isNil(this.readFile)) || (write && isNil(this.writeFile)) || trunc) {
        // One handle for both reading and writing if the file has been
        // opened for both (some servers are not coherent across handles).
        const downgrade = this.fs.opts.mutant === "handle-downgrade"
        // (The mutant opens only what was asked for, dropping what was held.)
        let openReadable = downgrade ? read : !isNil(this.readFile) || read
        let openWritable = downgrade ? write : !isNil(this.writeFile) || write
        const owner = `handle ${this.pathForLog()} ${openReadable ? "r" : ""}${openWritable ? "w" : ""}`
        if (!isNil(this.readFile) || !isNil(this.writeFile)) this.fs.mark(trunc ? "gofer.handle.trunc-reopen" : "gofer.handle.upgrade", this)
        let [h, err] = yield* openHandle(this.file as P9File, openReadable, openWritable, trunc, owner)
        if (err === "EACCES" && (openReadable !== read || openWritable !== write)) {
          this.fs.mark("gofer.handle.split-after-eacces", this)
          // Permissions may have changed since the file was first opened:
          // there is no choice but separate read and write handles.
          openReadable = read
          openWritable = write
          ;[h, err] = yield* openHandle(this.file as P9File, openReadable, openWritable, trunc, `handle ${this.pathForLog()} ${read ? "r" : ""}${write ? "w" : ""}`)
        }
        if (err !== null) return err
        // Switch to the new fids; clunk the old ones before the new ones
        // become visible (b/141991141).
        let oldReadFile: p9file = null
        if (openReadable) {
          oldReadFile = this.readFile
          this.readFile = h.file
        }
        let oldWriteFile: p9file = null
        if (openWritable) {
          oldWriteFile = this.writeFile
          this.writeFile = h.file
        } else if (downgrade && !isNil(this.writeFile)) {
          oldWriteFile = this.writeFile
          this.writeFile = null
        }
        if (!isNil(oldReadFile)) yield* oldReadFile.close()
        if (!isNil(oldWriteFile) && oldReadFile !== oldWriteFile) yield* oldWriteFile.close()
      }
      return null
    } finally {
      yield this.handleMu.Unlock()
    }
  }

  /** Precondition: d.handleMu is locked. */
  readHandleLocked(): handle {
    return new handle(this.readFile)
  }

  /** Precondition: d.handleMu is locked. */
  writeHandleLocked(): handle {
    return new handle(this.writeFile)
  }

  *syncRemoteFile(ctx: Ctx): Sim<Errno | null> {
    yield this.handleMu.RLock()
    try {
      return yield* this.syncRemoteFileLocked(ctx)
    } finally {
      yield this.handleMu.RUnlock()
    }
  }

  /** Precondition: d.handleMu is locked. Write handles first: some servers sync only what went through them. */
  *syncRemoteFileLocked(_ctx: Ctx): Sim<Errno | null> {
    if (!isNil(this.writeFile)) return yield* this.writeFile.fsync()
    if (!isNil(this.readFile)) return yield* this.readFile.fsync()
    return null
  }

  *syncCachedFile(ctx: Ctx, forFilesystemSync: boolean): Sim<Errno | null> {
    yield this.handleMu.RLock()
    try {
      const h = this.writeHandleLocked()
      if (h.isOpen()) {
        // Write back dirty pages to the remote file.
        yield this.dataMu.Lock()
        const err = yield* this.fs.syncDirtyAll(this, h)
        yield this.dataMu.Unlock()
        if (err !== null) return err
      }
      const err = yield* this.syncRemoteFileLocked(ctx)
      if (err !== null) {
        if (!forFilesystemSync) return err
        // Only an error we could reasonably expect to avoid: a regular file
        // open for writing.
        if (this.isRegularFile() && h.isOpen()) return err
        this.fs.mark("gofer.sync.error-ignored", this)
      }
      return null
    } finally {
      yield this.handleMu.RUnlock()
    }
  }

  /** Writes back the dirty bytes of [offset, offset+size). */
  *writeback(_ctx: Ctx, offset: number, size: number): Sim<Errno | null> {
    if (size === 0) return null
    yield this.handleMu.RLock()
    try {
      const h = this.writeHandleLocked()
      yield this.dataMu.Lock()
      try {
        if (offset >= this.size) return null
        let end = this.size
        const rend = offset + size
        if (rend > offset && rend < end) end = rend
        return yield* this.fs.syncDirty(this, { start: offset, end }, h)
      } finally {
        yield this.dataMu.Unlock()
      }
    } finally {
      yield this.handleMu.RUnlock()
    }
  }

  /**
   * Evict (pgalloc.EvictableMemoryUser): writes back and drops the cached
   * pages of `er` (none are memory-mapped in fsim).
   */
  *Evict(er: Range): Sim<void> {
    yield this.mapsMu.Lock()
    yield this.handleMu.RLock()
    const h = this.writeHandleLocked()
    yield this.dataMu.Lock()
    if (this.fs.marking && this.cache.dirty.within(er).length > 0) this.fs.mark("gofer.pagecache.evict-dirty", this)
    const err = yield* this.fs.syncDirty(this, er, h)
    if (err !== null) {
      this.fs.mark("gofer.pagecache.evict-writeback-failed", this)
      this.fs.warn(`Failed to writeback cached data [${er.start}, ${er.end}): ${err}`)
    }

    this.cache.Drop(er)
    this.cache.dirty.remove(er)
    this.fs.cacheEvent("page", "evicted", this)
    yield this.dataMu.Unlock()
    yield this.handleMu.RUnlock()
    yield this.mapsMu.Unlock()
  }

  incLinks(): void {
    // A server without link counts.
    if (this.nlink === 0) return
    this.nlink++
  }

  decLinks(): void {
    if (this.nlink === 0) return
    this.nlink--
  }
}

export { InteropModeExclusive, InteropModeWritethrough }
