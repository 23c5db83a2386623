// gofer.filesystem: gVisor's gofer filesystem (gofer.go's filesystem and
// GetFilesystem, and every path operation of filesystem.go, p9 path), on
// simulated locks and RPCs.
//
// Lock order (gofer.go, the 2022 version the seed filesystem.go was written
// against; declared to the lock-order checker as GOFER_LOCK_ORDER):
//   regularFileFD/directoryFD.mu
//     filesystem.renameMu
//       dentry.cachingMu
//         filesystem.cacheMu
//         dentry.dirMu
//           filesystem.syncMu
//           dentry.metadataMu
//             *** "memmap.Mappable locks" below this point
//             dentry.mapsMu
//               *** "memmap.Mappable locks taken by Translate" below this point
//               dentry.handleMu
//                 dentry.dataMu
//             filesystem.inoMu
//   specialFileFD.mu
//     specialFileFD.bufMu
//
// Locking dentry.dirMu and dentry.metadataMu in multiple dentries requires
// that either ancestor dentries are locked before descendant dentries, or
// that filesystem.renameMu is locked for writing.

import type { Cred, Errno } from "../../model/types.js"
import type { LockOrderSpec } from "../../sim/lockorder.js"
import { IOHDRSZ } from "../../sim/p9/wire.js"
import { ATOMIC, Signal, sleep, type Scheduler, type Sim } from "../../sim/scheduler.js"
import { Mutex, RWMutex } from "../../sim/sync.js"
import { logMark } from "../../sim/marks.js"
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
  S_IFREG as P9_S_IFREG,
  S_IFMT as P9_S_IFMT,
  type Attr,
  type AttrMask,
  type P9Client,
  type P9File,
  type QID,
} from "../../sim/p9/api.js"
import { type Ctx, type Err, panic } from "../vfs/context.js"
import type { Dentry as VfsDentry } from "../vfs/dentry.js"
import type { FileDescription } from "../vfs/file_description.js"
import type {
  FilesystemImpl,
  GetDentryOptions,
  MkdirOptions,
  MknodOptions,
  OpenOptions,
  RenameOptions,
  SetStatOptions,
  SetXattrOptions,
  StatOptions,
  Statfs,
  Statx,
  VfsErr,
} from "../vfs/filesystem.js"
import { O_CREAT, O_DIRECT, O_EXCL, O_NONBLOCK, O_TMPFILE, O_TRUNC, RENAME_NOREPLACE, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID } from "../vfs/linux.js"
import type { Filesystem, Mount, VirtualDentry } from "../vfs/mount.js"
import { AccessTypesForOpenFlags, MayExec, MayLink, MayReadFileWithOpenFlags, MayWrite, MayWriteFileWithOpenFlags, type AccessTypes } from "../vfs/permissions.js"
import type { ResolveError, ResolvingPath } from "../vfs/resolving_path.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import { appendDentry, appendNewChildDentry, dentry, dentryAttrMask, type DentryList } from "./dentry.js"
import { newDirectoryFD } from "./directory.js"
import { handle, openHandle } from "./handle.js"
import type { GoferMark } from "./marks.js"
import { InteropModeShared, type filesystemOptions } from "./options.js"
import { MemoryFile, type Range } from "./pagecache.js"
import type { p9file } from "./p9file.js"
import { newRegularFileFD } from "./regular_file.js"
import { revalidateOne, revalidateParentDir, revalidatePath } from "./revalidate.js"
import { newSpecialFileFD, type specialFileFD } from "./special_file.js"

export const GOFER_LOCK_ORDER: LockOrderSpec = {
  owner: "gofer",
  prefix: "gofer.",
  tree: `
regularFileFD/directoryFD.mu
  filesystem.renameMu
    dentry.cachingMu
      filesystem.cacheMu
      dentry.dirMu
        filesystem.syncMu
        dentry.metadataMu
          *** "memmap.Mappable locks" below this point
          dentry.mapsMu
            *** "memmap.Mappable locks taken by Translate" below this point
            dentry.handleMu
              dentry.dataMu
          filesystem.inoMu
specialFileFD.mu
  specialFileFD.bufMu
*** gVisor's code also takes these pairs, which its comment leaves out:
*** Release holds syncMu across each syncable dentry's handleMu and dataMu;
filesystem.syncMu
  dentry.handleMu
    dentry.dataMu
*** getDirents maps each entry's QID path to an inode number under handleMu;
dentry.handleMu
  filesystem.inoMu
*** dentry.open holds metadataMu (O_TRUNC) across newSpecialFileFD's syncMu;
dentry.metadataMu
  filesystem.syncMu
*** specialFileFD.Write and Seek hold their mu across pwrite's metadataMu
*** and handle, and across SEEK_END's size refresh (which may shrink).
specialFileFD.mu
  dentry.metadataMu
    dentry.mapsMu
      dentry.handleMu
        dentry.dataMu
`,
  sameClass: [
    { class: "gofer.dentry.dirMu", order: "ancestor-first", unlessHeld: { class: "gofer.filesystem.renameMu", mode: "w" } },
    { class: "gofer.dentry.metadataMu", order: "ancestor-first", unlessHeld: { class: "gofer.filesystem.renameMu", mode: "w" } },
  ],
}

/** 9P encodes strings with a 2-byte length. */
const maxFilenameLen = (1 << 16) - 1

/** V9FS_MAGIC. */
const V9FS_MAGIC = 0x01021997

/** Receives the gofer's cache transitions (for events and coverage). */
export type CacheEventSink = (cache: string, what: string, key: string) => void

export class filesystem implements FilesystemImpl {
  vfsfs!: Filesystem
  readonly sched: Scheduler
  root!: dentry
  /** See gofer.go: synchronizes path resolution with renames, and keeps reachable dentries valid. */
  readonly renameMu: RWMutex
  /** Protects the LRU of dentries with no references. */
  readonly cacheMu: Mutex
  /** The LRU: front is most recently used. Protected by cacheMu. */
  lruHead: dentry | null = null
  lruTail: dentry | null = null
  cachedDentriesLen = 0
  /** Non-synthetic dentries, and open specialFileFDs. Protected by syncMu. */
  readonly syncMu: Mutex
  readonly syncableDentries = new Set<dentry>()
  readonly specialFileFDs = new Set<specialFileFD>()
  /** QID paths to inode numbers. Protected by inoMu. */
  readonly inoMu: Mutex
  readonly inoByQIDPath = new Map<number, number>()
  lastIno = 0
  /** Set once Release has been called. */
  released = false
  /** The memory file of the page cache (pgalloc's). */
  readonly mf: MemoryFile
  readonly devMinor = 1
  private evictorWake: Signal | null = null
  /** Warnings gVisor would log (kept for `fsim show`). */
  readonly warnings: string[] = []

  constructor(
    readonly vfs: VirtualFilesystem,
    readonly client: P9Client,
    readonly opts: filesystemOptions,
    private readonly onCacheEvent: CacheEventSink,
  ) {
    this.sched = vfs.sched
    this.renameMu = new RWMutex(this.sched, "gofer.filesystem.renameMu")
    this.cacheMu = new Mutex(this.sched, "gofer.filesystem.cacheMu")
    this.syncMu = new Mutex(this.sched, "gofer.filesystem.syncMu")
    this.inoMu = new Mutex(this.sched, "gofer.filesystem.inoMu")
    this.mf = new MemoryFile(opts.pageBudget)
    this.mf.onPressure = () => this.wakeEvictor()
  }

  /** The client clock (simulated time). */
  now(): number {
    return this.sched.now
  }

  warn(msg: string): void {
    this.warnings.push(msg)
  }

  /** Whether marks are logged: for a mark whose condition costs something to compute. */
  get marking(): boolean {
    return this.sched.log.enabled
  }

  /** Logs coverage mark `name` at d (its child `child`, if given): costs nothing more when the log is off. */
  mark(name: GoferMark, d?: dentry, child?: string): void {
    if (!this.sched.log.enabled) return
    logMark(this.sched, name, d === undefined ? undefined : () => (child === undefined ? d.pathForLog() : pathJoin(d.pathForLog(), child)))
  }

  cacheEvent(cache: string, what: string, d: dentry, name?: string): void {
    const path = d.pathForLog()
    this.onCacheEvent(cache, what, name === undefined ? path : path === "/" ? `/${name}` : `${path}/${name}`)
  }

  /**
   * GetFilesystem (after option parsing): attach, stat the root and build
   * its dentry. The root's reference count is 2: one for the caller, one
   * held by fs so that the root is never cached and evicted.
   */
  *attach(ctx: Ctx): Sim<Errno | null> {
    const [attached, err] = yield* this.client.attach(this.opts.aname, 0, "attach /")
    if (err !== null || attached === null) return err ?? "EIO"
    const [qid, attrMask, attr, gerr] = yield* attached.getAttr(dentryAttrMask)
    if (gerr !== null || qid === null || attr === null) {
      yield* attached.close()
      return gerr ?? "EIO"
    }
    const [root, nerr] = yield* this.newDentry(ctx, attached, qid, attrMask, attr)
    if (nerr !== null || root === null) {
      yield* attached.close()
      return nerr ?? "EIO"
    }
    root.refs = 2
    this.root = root
    return null
  }

  /**
   * newDentry: a dentry for `file`, with no references and not cached; the
   * caller sets its references or calls checkCachingLocked.
   * Precondition: file is not nil.
   */
  *newDentry(_ctx: Ctx, file: P9File, qid: QID, mask: AttrMask, attr: Attr): Sim<[dentry | null, Errno | null]> {
    if ((mask & ATTR_MODE) === 0) {
      this.warn("can't create gofer.dentry without file type")
      return [null, "EIO"]
    }
    if ((attr.mode & P9_S_IFMT) === P9_S_IFREG && (mask & ATTR_SIZE) === 0) {
      this.warn("can't create regular file gofer.dentry without file size")
      return [null, "EIO"]
    }
    const ino = yield* this.inoFromQIDPath(qid.path)
    const d = new dentry(this, file, qid.path, ino, attr.mode, this.opts.dfltuid, this.opts.dfltgid)
    // Initial metadata under no lock: nobody else can see d yet.
    d.blockSize = 4096
    if ((mask & ATTR_UID) !== 0) d.uid = attr.uid
    if ((mask & ATTR_GID) !== 0) d.gid = attr.gid
    if ((mask & ATTR_SIZE) !== 0) d.size = attr.size
    if (attr.blockSize !== 0) d.blockSize = attr.blockSize
    if ((mask & ATTR_ATIME) !== 0) d.atime = attr.atime
    if ((mask & ATTR_MTIME) !== 0) d.mtime = attr.mtime
    if ((mask & ATTR_CTIME) !== 0) d.ctime = attr.ctime
    if ((mask & ATTR_BTIME) !== 0) d.btime = attr.btime
    if ((mask & ATTR_NLINK) !== 0) d.nlink = attr.nlink
    yield this.syncMu.Lock()
    this.syncableDentries.add(d)
    yield this.syncMu.Unlock()
    return [d, null]
  }

  *inoFromQIDPath(qidPath: number): Sim<number> {
    yield this.inoMu.Lock()
    try {
      const known = this.inoByQIDPath.get(qidPath)
      if (known !== undefined) return known
      const ino = this.nextIno()
      this.inoByQIDPath.set(qidPath, ino)
      return ino
    } finally {
      yield this.inoMu.Unlock()
    }
  }

  nextIno(): number {
    return ++this.lastIno
  }

  // -------------------------------------------------------------------------
  // The dentry LRU (dentryList in gVisor). Protected by cacheMu.

  lruPushFront(d: dentry): void {
    d.lruPrev = null
    d.lruNext = this.lruHead
    if (this.lruHead !== null) this.lruHead.lruPrev = d
    this.lruHead = d
    if (this.lruTail === null) this.lruTail = d
  }

  lruRemove(d: dentry): void {
    if (d.lruPrev !== null) d.lruPrev.lruNext = d.lruNext
    else this.lruHead = d.lruNext
    if (d.lruNext !== null) d.lruNext.lruPrev = d.lruPrev
    else this.lruTail = d.lruPrev
    d.lruPrev = null
    d.lruNext = null
  }

  /** The LRU, front first (for invariants and `fsim show`). */
  lruList(): dentry[] {
    const out: dentry[] = []
    for (let d = this.lruHead; d !== null && out.length <= this.cachedDentriesLen + 1; d = d.lruNext) out.push(d)
    return out
  }

  /**
   * evictCachedDentryLocked: evicts the least recently used dentry, unless
   * it has gained references since it was cached.
   * Precondition: fs.renameMu is locked for writing; it may be temporarily unlocked.
   */
  *evictCachedDentryLocked(ctx: Ctx): Sim<void> {
    yield this.cacheMu.Lock()
    const victim = this.lruTail
    yield this.cacheMu.Unlock()
    // The LRU may have emptied between the check and cacheMu.
    if (victim === null) return
    yield victim.cachingMu.Lock()
    yield* victim.removeFromCacheLocked()
    yield ATOMIC
    // Path resolution may have taken a reference since it was cached.
    if (victim.refs !== 0) {
      this.mark("gofer.dcache.evict-referenced", victim)
      yield victim.cachingMu.Unlock()
      return
    }
    if (victim.parent !== null) {
      yield victim.parent.dirMu.Lock()
      if (!victim.vfsd.IsDead()) {
        // Not a mount point: VFS holds references on those.
        yield* this.vfs.InvalidateDentry(victim.vfsd)
        victim.parent.children?.delete(victim.name)
        // Only the dentry goes, not the file: the parent's dirents stay.
        this.cacheEvent("dentry", "evicted", victim)
        // (Release empties the cache of every mount: not the path this marks.)
        if (!this.released) this.mark("gofer.dcache.evict-dentry", victim)
      }
      yield victim.parent.dirMu.Unlock()
    }
    // victim is dead now: concurrent caching attempts will try to destroy it
    // and need renameMu, which we hold, so it serializes them.
    yield victim.cachingMu.Unlock()
    yield* victim.destroyLocked(ctx)
  }

  /** Precondition: fs.renameMu is locked for writing. */
  *evictAllCachedDentriesLocked(ctx: Ctx): Sim<void> {
    for (let i = 0; this.cachedDentriesLen !== 0; i++) {
      if (i > 100000) panic("gofer.filesystem.evictAllCachedDentriesLocked did not converge")
      yield* this.evictCachedDentryLocked(ctx)
    }
  }

  // -------------------------------------------------------------------------
  // The page-cache evictor (pgalloc's eviction goroutine).

  private wakeEvictor(): void {
    if (this.evictorWake === null) {
      this.evictorWake = new Signal(this.sched, "page cache memory pressure")
      this.sched.spawn(`gofer.evictor.${this.vfsfs.typeName}${this.sched.threads.length}`, this.evictor(), { daemon: true })
    } else if (!this.evictorWake.done) this.evictorWake.set()
  }

  private *evictor(): Sim<void> {
    const ctx: Ctx = { sched: this.sched, creds: { uid: 0, gid: 0, groups: [] }, thread: "gofer.evictor" }
    for (;;) {
      while (this.mf.overBudget()) {
        const v = this.mf.takeVictim()
        if (v === undefined) break
        this.mark("gofer.pagecache.evict")
        yield* v.user.Evict(v.range)
      }
      const wake = new Signal(this.sched, "page cache memory pressure")
      this.evictorWake = wake
      yield wake.wait()
      void ctx
    }
  }

  /** What one Twrite carries, under the short-write-reports-full mutant (handle.writeFromBlocksAt); 0 otherwise. */
  shortWriteChunk(): number {
    return this.opts.mutant === "short-write-reports-full" ? this.client.msize - IOHDRSZ : 0
  }

  /** fsutil.SyncDirty over `r` of d's cache with h. Preconditions: d.handleMu and d.dataMu locked. */
  *syncDirty(d: dentry, r: Range, h: handle): Sim<Errno | null> {
    const hadDirty = !d.cache.dirty.isEmpty()
    const err = yield* d.cache.SyncDirty(r, d.size, (data, off) => h.writeFromBlocksAt(data, off, this.shortWriteChunk()))
    if (hadDirty) this.cacheEvent("page", "written back", d)
    return err
  }

  /** fsutil.SyncDirtyAll. Preconditions: d.handleMu and d.dataMu locked. */
  *syncDirtyAll(d: dentry, h: handle): Sim<Errno | null> {
    return yield* this.syncDirty(d, { start: 0, end: Number.MAX_SAFE_INTEGER }, h)
  }

  // -------------------------------------------------------------------------
  // vfs.FilesystemImpl

  /** Release: writes every dirty cache back and clunks every fid (the connection closes). */
  *Release(ctx: Ctx): Sim<void> {
    this.released = true
    yield this.syncMu.Lock()
    for (const d of [...this.syncableDentries]) {
      yield d.handleMu.Lock()
      yield d.dataMu.Lock()
      const h = d.writeHandleLocked()
      if (h.isOpen()) {
        const err = yield* this.syncDirtyAll(d, h)
        if (err !== null) this.warn(`gofer.filesystem.Release: failed to flush dentry: ${err}`)
      }
      d.cache.DropAll()
      d.cache.dirty.clear()
      yield d.dataMu.Unlock()
      yield d.handleMu.Unlock()
    }
    yield this.syncMu.Unlock()
    // Release every reference held within the filesystem so that every fid
    // is clunked and checkers can prove none leaked (gVisor does this only
    // under leak checking, fsim always).
    yield this.renameMu.Lock()
    yield* this.releaseSyntheticRecursiveLocked(ctx, this.root)
    yield* this.evictAllCachedDentriesLocked(ctx)
    yield this.renameMu.Unlock()
    // The extra reference fs held on the root.
    yield* this.root.DecRef(ctx)
  }

  private *releaseSyntheticRecursiveLocked(ctx: Ctx, d: dentry): Sim<void> {
    if (d.isSynthetic()) {
      yield* d.decRefNoCaching()
      yield* d.checkCachingLocked(ctx, true)
    }
    if (d.isDir()) {
      yield d.dirMu.Lock()
      const children = [...(d.children?.values() ?? [])]
      yield d.dirMu.Unlock()
      for (const c of children) if (c !== null) yield* this.releaseSyntheticRecursiveLocked(ctx, c)
    }
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    // The mutant takes references as gVisor did before its fix, believing
    // renameMu keeps the dentries alive; destroyLocked drops renameMu.
    // The older mutant (sync-refs-unlocked, gVisor before its first fix)
    // takes them without even renameMu, and takes one on every special file
    // FD, closing or not.
    const unlockedRefs = this.opts.mutant === "sync-refs-unlocked"
    const takeRefs = this.opts.mutant === "sync-refs-destroyed" || unlockedRefs
    // Snapshot the syncable dentries and special file FDs.
    if (takeRefs && !unlockedRefs) yield this.renameMu.RLock()
    yield this.syncMu.Lock()
    const ds = [...this.syncableDentries]
    if (takeRefs) for (const d of ds) yield* d.IncRef()
    if (takeRefs && !unlockedRefs) yield this.renameMu.RUnlock()
    const sffds = [...this.specialFileFDs]
    if (unlockedRefs) for (const fd of sffds) fd.vfsfd.IncRef()
    yield this.syncMu.Unlock()
    // The first error, but sync everything that can be.
    let retErr: Errno | null = null
    for (const d of ds) {
      const err = yield* d.syncCachedFile(ctx, true /* forFilesystemSync */)
      if (takeRefs) yield* d.DecRef(ctx)
      if (err !== null && retErr === null) retErr = err
    }
    // Special files may be writable without the dentry's shared handles.
    for (const fd of sffds) {
      const err = yield* fd.sync(ctx, true /* forFilesystemSync */)
      if (unlockedRefs) yield* fd.vfsfd.DecRef(ctx)
      if (err !== null && retErr === null) retErr = err
    }
    return retErr
  }

  /**
   * renameMuRUnlockAndCheckCaching: unlocks renameMu (read), then runs
   * checkCachingLocked on every dentry of the deferred list.
   */
  *renameMuRUnlockAndCheckCaching(ctx: Ctx, ds: DentryList): Sim<void> {
    yield this.renameMu.RUnlock()
    const list = ds.list
    if (list === null) return
    ds.list = null
    for (const d of list) yield* d.checkCachingLocked(ctx, false /* renameMuWriteLocked */)
  }

  *renameMuUnlockAndCheckCaching(ctx: Ctx, ds: DentryList): Sim<void> {
    const list = ds.list
    ds.list = null
    if (list !== null) for (const d of list) yield* d.checkCachingLocked(ctx, true /* renameMuWriteLocked */)
    yield this.renameMu.Unlock()
  }

  /**
   * stepLocked resolves rp.Component() to an existing file, from directory d.
   * If that file is a symlink to follow, it resolves the symlink and returns
   * d with true: a single step, so that the caller revalidates the target's
   * components before the next step uses them (upstream f7712ab50).
   * Preconditions: renameMu and d.dirMu locked; !rp.Done(); if metadata is
   * not authoritative, d and the children on rp are revalidated.
   */
  *stepLocked(ctx: Ctx, rp: ResolvingPath, d: dentry, mayFollowSymlinks: boolean, ds: DentryList): Sim<[dentry | null, boolean, VfsErr]> {
    if (!d.isDir()) return [null, false, "ENOTDIR"]
    const e = d.checkPermissions(rp.Credentials(), MayExec)
    if (e !== null) return [null, false, e]
    // The mutant is the code before f7712ab50: it followed every symlink of a
    // chain within one step, looking each target's first component up in d
    // with no revalidation, so a symlink in the middle of a chain that
    // another user replaced kept its cached target.
    const chainInStep = this.opts.mutant === "symlink-chain-unrevalidated"
    let followedSymlink = false
    for (let guard = 0; ; guard++) {
      if (guard > 64) panic("gofer.stepLocked: symlink loop not caught by HandleSymlink")
      const name = rp.Component()
      if (name === ".") {
        rp.Advance()
        return [d, followedSymlink, null]
      }
      if (name === "..") {
        const [isRoot, rerr] = rp.CheckRoot(d.vfsd)
        if (rerr !== null) return [null, false, rerr]
        if (isRoot || d.parent === null) {
          rp.Advance()
          return [d, followedSymlink, null]
        }
        const merr = rp.CheckMount(d.parent.vfsd)
        if (merr !== null) return [null, false, merr]
        rp.Advance()
        return [d.parent, followedSymlink, null]
      }
      const [child, err] = yield* this.getChildLocked(ctx, d, name, ds)
      if (err !== null || child === null) return [null, false, err]
      const merr = rp.CheckMount(child.vfsd)
      if (merr !== null) return [null, false, merr]
      if (child.isSymlink() && mayFollowSymlinks && rp.ShouldFollowSymlink()) {
        if (followedSymlink) this.mark("gofer.walk.symlink-chain", d, name)
        const [target, lerr] = yield* child.readlink(ctx, rp.Mount())
        if (lerr !== null) return [null, false, lerr]
        const herr = rp.HandleSymlink(target)
        if (herr !== null) return [null, false, herr]
        if (!chainInStep) return [d, true, null]
        followedSymlink = true
        continue // don't check the current directory again
      }
      rp.Advance()
      return [child, followedSymlink, null]
    }
  }

  /**
   * getChildLocked: the child `name` of parent (ENOENT if none).
   * Preconditions: renameMu and parent.dirMu locked; parent.isDir(); name is
   * not "." or ".."; parent and the child are revalidated.
   */
  *getChildLocked(ctx: Ctx, parent: dentry, name: string, ds: DentryList): Sim<[dentry | null, Err]> {
    if (name.length > maxFilenameLen) return [null, "ENAMETOOLONG"]
    const cached = parent.children?.get(name)
    if (cached !== undefined || parent.isSynthetic()) {
      // A negative entry answers too.
      if (cached !== undefined) this.cacheEvent("dentry", "hit", parent, name)
      if (cached === null) this.mark("gofer.dcache.negative-hit", parent, name)
      if (cached === undefined || cached === null) return [null, "ENOENT"]
      return [cached, null]
    }
    this.cacheEvent("dentry", "miss", parent, name)
    const [qid, file, attrMask, attr, err] = yield* walkGetAttrOne(parent.file as P9File, name, `dentry ${pathJoin(parent.pathForLog(), name)}`)
    if (err !== null || file === null || qid === null || attr === null) {
      if (err === "ENOENT") parent.cacheNegativeLookupLocked(name)
      else this.mark("gofer.walk.lookup-error", parent, name)
      // The mutant: a reference taken for the lookup, not dropped on its error path.
      if (this.opts.mutant === "ref-leak-on-error") yield* parent.IncRef()
      return [null, err ?? "EIO"]
    }
    // A new dentry for the file.
    const [child, nerr] = yield* this.newDentry(ctx, file, qid, attrMask, attr)
    if (nerr !== null || child === null) {
      yield* file.close()
      return [null, nerr ?? "EIO"]
    }
    yield* parent.cacheNewChildLocked(child, name)
    appendNewChildDentry(ds, parent, child)
    return [child, null]
  }

  /**
   * walkParentDirLocked resolves all but the last component of rp to an
   * existing directory, from d (without checking that it is searchable).
   * Preconditions: renameMu locked; !rp.Done(); d revalidated if needed.
   */
  *walkParentDirLocked(ctx: Ctx, rp: ResolvingPath, d: dentry, ds: DentryList): Sim<[dentry | null, VfsErr]> {
    let e: VfsErr = yield* revalidateParentDir(this, ctx, rp, d, ds)
    if (e !== null) return [null, e]
    let afterSymlink = false
    while (!rp.Final()) {
      yield d.dirMu.Lock()
      // Only for the mark: a symlink followed by the step right after one
      // was followed is the first component of that symlink's target.
      const name = afterSymlink ? rp.Component() : ""
      const [next, followedSymlink, err] = yield* this.stepLocked(ctx, rp, d, true /* mayFollowSymlinks */, ds)
      yield d.dirMu.Unlock()
      if (err !== null || next === null) return [null, err]
      if (followedSymlink && afterSymlink) this.mark("gofer.walk.symlink-chain", d, name)
      afterSymlink = followedSymlink
      d = next
      if (followedSymlink) {
        e = yield* revalidateParentDir(this, ctx, rp, d, ds)
        if (e !== null) return [null, e]
      }
    }
    if (!d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /** resolveLocked resolves rp to an existing file. Precondition: renameMu locked. */
  *resolveLocked(ctx: Ctx, rp: ResolvingPath, ds: DentryList): Sim<[dentry | null, VfsErr]> {
    let d = rp.Start().Impl<dentry>()
    let e: VfsErr = yield* revalidatePath(this, ctx, rp, d, ds)
    if (e !== null) return [null, e]
    let afterSymlink = false
    while (!rp.Done()) {
      yield d.dirMu.Lock()
      // Only for the mark: a symlink followed by the step right after one
      // was followed is the first component of that symlink's target.
      const name = afterSymlink ? rp.Component() : ""
      const [next, followedSymlink, err] = yield* this.stepLocked(ctx, rp, d, true /* mayFollowSymlinks */, ds)
      yield d.dirMu.Unlock()
      if (err !== null || next === null) return [null, err]
      if (followedSymlink && afterSymlink) this.mark("gofer.walk.symlink-chain", d, name)
      afterSymlink = followedSymlink
      d = next
      if (followedSymlink) {
        e = yield* revalidatePath(this, ctx, rp, d, ds)
        if (e !== null) return [null, e]
      }
    }
    if (rp.MustBeDir() && !d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /**
   * doCreateAt checks that creating a file at rp is allowed, then calls
   * createInRemoteDir (a real parent) or createInSyntheticDir (a synthetic
   * one). Preconditions: !rp.Done(); the final symlink is not followed.
   */
  private *doCreateAt(
    ctx: Ctx,
    rp: ResolvingPath,
    dir: boolean,
    createInRemoteDir: (parent: dentry, name: string, ds: DentryList) => Sim<Err>,
    createInSyntheticDir: ((parent: dentry, name: string) => Sim<Err>) | null,
  ): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const start = rp.Start().Impl<dentry>()
      const [parent, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || parent === null) return err
      // Order of checks matters: search permission on the parent, then
      // existence, then whether the mount is writable.
      let e: Err = parent.checkPermissions(rp.Credentials(), MayExec)
      if (e !== null) return e
      const name = rp.Component()
      if (name === "." || name === "..") return "EEXIST"
      if (yield* parent.isDeleted()) return "ENOENT"
      e = yield* revalidateOne(this, ctx, rp.VirtualFilesystem(), parent, name, ds)
      if (e !== null) return e

      yield parent.dirMu.Lock()
      try {
        if (name.length > maxFilenameLen) return "ENAMETOOLONG"
        // Existence is checked here only from the cache; otherwise the
        // creation RPC checks it (or the write checks below fail first).
        const cachedChild = parent.children?.get(name)
        if (cachedChild !== undefined && cachedChild !== null) return "EEXIST"
        const checkExistence = function* (this: filesystem): Sim<Err> {
          const [child, cerr] = yield* this.getChildLocked(ctx, parent, name, ds)
          if (cerr !== null && cerr !== "ENOENT") return cerr
          if (child !== null) return "EEXIST"
          return null
        }.bind(this)

        const mnt = rp.Mount()
        e = mnt.CheckBeginWrite()
        if (e !== null) {
          // Existence takes precedence.
          const existence = yield* checkExistence()
          if (existence !== null) return existence
          return e
        }
        try {
          e = parent.checkPermissions(rp.Credentials(), MayWrite)
          if (e !== null) {
            const existence = yield* checkExistence()
            if (existence !== null) return existence
            return e
          }
          if (!dir && rp.MustBeDir()) return "ENOENT"
          if (parent.isSynthetic()) {
            if (createInSyntheticDir === null) return "EPERM"
            e = yield* createInSyntheticDir(parent, name)
            if (e !== null) return e
            yield* parent.touchCMtime()
            parent.dirents = null
            return null
          }
          // No cached dentry, but under InteropModeShared a file may still
          // exist: the creation RPC fails with EEXIST then, as we would.
          e = yield* createInRemoteDir(parent, name, ds)
          if (e !== null) {
            this.mark(e === "EEXIST" ? "gofer.create.eexist-uncached" : "gofer.create.rpc-error", parent, name)
            return e
          }
          if (this.opts.interop !== InteropModeShared) {
            // Delete the now-stale negative dentry.
            if (parent.children?.get(name) === null) this.mark("gofer.dcache.negative-replaced", parent, name)
            if (parent.children?.get(name) === null && this.opts.mutant !== "negative-dentry-after-create") parent.children.delete(name)
            yield* parent.touchCMtime()
            parent.dirents = null
          }
          return null
        } finally {
          mnt.EndWrite()
        }
      } finally {
        yield parent.dirMu.Unlock()
      }
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  /** unlinkAt (rmdir when dir). Precondition: !rp.Done(). */
  private *unlinkAt(ctx: Ctx, rp: ResolvingPath, dir: boolean): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const start = rp.Start().Impl<dentry>()
      const [parent, perr] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (perr !== null || parent === null) return perr
      let e: Err = parent.checkPermissions(rp.Credentials(), MayWrite | MayExec)
      if (e !== null) return e
      e = rp.Mount().CheckBeginWrite()
      if (e !== null) return e
      try {
        const name = rp.Component()
        if (dir) {
          if (name === ".") return "EINVAL"
          if (name === "..") return "ENOTEMPTY"
        } else if (name === "." || name === "..") return "EISDIR"

        const vfsObj = rp.VirtualFilesystem()
        e = yield* revalidateOne(this, ctx, vfsObj, parent, rp.Component(), ds)
        if (e !== null) return e

        yield parent.dirMu.Lock()
        let childDirMuLocked: dentry | null = null
        try {
          // With the sticky bit the child is needed to decide whether
          // deletion is allowed.
          let child: dentry | null = null
          if ((parent.mode & 0o1000) === 0) {
            const c = parent.children?.get(name)
            if (c === null) return "ENOENT" // a negative entry
            child = c ?? null
          } else {
            this.mark("gofer.unlink.sticky-dir", parent, name)
            const [c, , serr] = yield* this.stepLocked(ctx, rp, parent, false /* mayFollowSymlinks */, ds)
            if (serr !== null || c === null) return serr
            child = c
            e = parent.mayDelete(rp.Credentials(), child)
            if (e !== null) return e
          }

          // A child that is a mount point cannot be deleted: find out by
          // calling PrepareDeleteDentry speculatively. child.dirMu is locked
          // first, since locking it after PrepareDeleteDentry would make it
          // both a FilesystemImpl lock and one taken between Prepare and
          // Commit in the VFS lock order.
          if (child !== null) {
            yield child.dirMu.Lock()
            childDirMuLocked = child
            e = yield* vfsObj.PrepareDeleteDentry(child.vfsd)
            if (e !== null) return e
          }
          let flags = 0
          // Best-effort checks of deletability on a cached dentry.
          if (dir) {
            if (child !== null) {
              if (child.syntheticChildren !== 0) {
                yield* vfsObj.AbortDeleteDentry(child.vfsd)
                return "ENOTEMPTY"
              }
              // Under InteropModeShared child was not revalidated: neither
              // its type nor its children can be trusted.
              if (child.cachedMetadataAuthoritative()) {
                if (!child.isDir()) {
                  yield* vfsObj.AbortDeleteDentry(child.vfsd)
                  return "ENOTDIR"
                }
                for (const grandchild of child.children?.values() ?? []) {
                  if (grandchild !== null) {
                    this.mark("gofer.rmdir.cached-notempty", child)
                    yield* vfsObj.AbortDeleteDentry(child.vfsd)
                    return "ENOTEMPTY"
                  }
                }
              }
            }
            flags = 0x200 // AT_REMOVEDIR
          } else {
            if (child !== null && child.isDir()) {
              yield* vfsObj.AbortDeleteDentry(child.vfsd)
              return "EISDIR"
            }
            if (rp.MustBeDir()) {
              if (child !== null) yield* vfsObj.AbortDeleteDentry(child.vfsd)
              return "ENOTDIR"
            }
          }
          if (parent.isSynthetic()) {
            if (child === null) return "ENOENT"
          } else if (child === null || !child.isSynthetic()) {
            const err = yield* (parent.file as P9File).unlinkAt(name, flags)
            if (err !== null) {
              this.mark("gofer.unlink.rpc-error", parent, name)
              if (child !== null) yield* vfsObj.AbortDeleteDentry(child.vfsd)
              return err
            }
          }
          if (child !== null) {
            // Referenced by more than its cached children: an open file, or one another op holds.
            if (!dir && child.isRegularFile() && child.refs > 0) this.mark("gofer.unlink.open-file", child)
            yield* vfsObj.CommitDeleteDentry(child.vfsd)
            yield* child.setDeleted()
            if (child.isSynthetic()) {
              parent.syntheticChildren--
              yield* child.decRefNoCaching()
            }
            appendDentry(ds, child)
          }
          parent.cacheNegativeLookupLocked(name)
          if (parent.cachedMetadataAuthoritative()) {
            parent.dirents = null
            yield* parent.touchCMtime()
            if (dir) parent.decLinks()
          }
          return null
        } finally {
          if (childDirMuLocked !== null) yield childDirMuLocked.dirMu.Unlock()
          yield parent.dirMu.Unlock()
        }
      } finally {
        rp.Mount().EndWrite()
      }
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *AccessAt(ctx: Ctx, rp: ResolvingPath, creds: Cred, ats: AccessTypes): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return err
      return d.checkPermissions(creds, ats)
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *GetDentryAt(ctx: Ctx, rp: ResolvingPath, opts: GetDentryOptions): Sim<[VfsDentry | null, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return [null, err]
      if (opts.CheckSearchable === true) {
        if (!d.isDir()) return [null, "ENOTDIR"]
        const e = d.checkPermissions(rp.Credentials(), MayExec)
        if (e !== null) return [null, e]
      }
      yield* d.IncRef()
      // So that d can leave the cache if it is there.
      appendDentry(ds, d)
      return [d.vfsd, null]
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *GetParentDentryAt(ctx: Ctx, rp: ResolvingPath): Sim<[VfsDentry | null, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const start = rp.Start().Impl<dentry>()
      const [d, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || d === null) return [null, err]
      yield* d.IncRef()
      appendDentry(ds, d)
      return [d.vfsd, null]
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *LinkAt(ctx: Ctx, rp: ResolvingPath, vd: VirtualDentry): Sim<VfsErr> {
    const fs = this
    const err = yield* this.doCreateAt(
      ctx,
      rp,
      false /* dir */,
      function* (parent, childName) {
        if (rp.Mount() !== vd.mount) return "EXDEV"
        const d = vd.dentry.Impl<dentry>()
        if (d.isDir()) return "EPERM"
        const e = MayLink(rp.Credentials(), d.mode, d.uid, d.gid)
        if (e !== null) return e
        if (d.nlink === 0) return "ENOENT"
        if (d.nlink === 0xffffffff) return "EMLINK"
        void fs
        return yield* (parent.file as P9File).link(d.file as P9File, childName)
      },
      null,
    )
    if (err === null) vd.dentry.Impl<dentry>().incLinks()
    return err
  }

  *MkdirAt(ctx: Ctx, rp: ResolvingPath, opts: MkdirOptions): Sim<VfsErr> {
    const creds = rp.Credentials()
    const fs = this
    return yield* this.doCreateAt(
      ctx,
      rp,
      true /* dir */,
      function* (parent, name, ds) {
        // In a setgid directory, use its GID rather than the caller's, and
        // make the new directory setgid too.
        let kgid = creds.gid
        let mode = opts.Mode
        if ((parent.mode & S_ISGID) !== 0) {
          kgid = parent.gid
          mode |= S_ISGID
        }
        const [, err] = yield* (parent.file as P9File).mkdir(name, mode, creds.uid, kgid)
        if (err !== null) {
          if (opts.ForSyntheticMountpoint !== true || err === "EEXIST") return err
          fs.warn(`Failed to create remote directory ${name}: ${err}; falling back to synthetic directory`)
          yield* parent.createSyntheticChildLocked(name, S_IFDIR | opts.Mode, creds.uid, creds.gid)
          appendDentry(ds, parent)
        }
        if (fs.opts.interop !== InteropModeShared) parent.incLinks()
        return null
      },
      function* (parent, name) {
        // Non-synthetic files cannot be created in synthetic directories.
        if (opts.ForSyntheticMountpoint !== true) return "EPERM"
        yield* parent.createSyntheticChildLocked(name, S_IFDIR | opts.Mode, creds.uid, creds.gid)
        parent.incLinks()
        return null
      },
    )
  }

  *MknodAt(ctx: Ctx, rp: ResolvingPath, opts: MknodOptions): Sim<VfsErr> {
    const fs = this
    return yield* this.doCreateAt(
      ctx,
      rp,
      false /* dir */,
      function* (parent, name, ds) {
        const creds = rp.Credentials()
        const [, err] = yield* (parent.file as P9File).mknod(name, opts.Mode, opts.DevMajor, opts.DevMinor, creds.uid, creds.gid)
        if (err === null) return null
        if (err !== "EPERM") return err
        fs.mark("gofer.mknod.synthetic-fallback", parent, name)
        // EPERM: the server does not create sockets or pipes. Fall back to
        // a synthetic one, kept entirely in the client - unless that would
        // shadow an existing file.
        // Not following a symlink there (f7712ab50): a symlink is a file
        // that exists, and a step that follows it returns no error.
        const [, , serr] = yield* fs.stepLocked(ctx, rp, parent, fs.opts.mutant === "symlink-chain-unrevalidated" /* mayFollowSymlinks */, ds)
        if (serr === null) return "EEXIST"
        if (serr !== "ENOENT") return serr as Errno
        switch (opts.Mode & S_IFMT) {
          case S_IFSOCK:
          case S_IFIFO:
            yield* parent.createSyntheticChildLocked(name, opts.Mode, creds.uid, creds.gid)
            appendDentry(ds, parent)
            return null
        }
        // Keep the server's error if no synthetic file can stand in.
        return "EPERM"
      },
      null,
    )
  }

  *OpenAt(ctx: Ctx, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, VfsErr]> {
    // O_TMPFILE needs remote support to be correct with other users; 9P has none.
    if ((opts.Flags & O_TMPFILE) !== 0) return [null, "EOPNOTSUPP"]
    const mayCreate = (opts.Flags & O_CREAT) !== 0
    const mustCreate = (opts.Flags & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL)

    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    let unlocked = false
    const fs = this
    const unlock = function* (): Sim<void> {
      if (!unlocked) {
        unlocked = true
        yield* fs.renameMuRUnlockAndCheckCaching(ctx, ds)
      }
    }
    try {
      let start = rp.Start().Impl<dentry>()
      if (rp.Done()) {
        // Opening the mount root with O_CREAT.
        if (mayCreate && rp.MustBeDir()) return [null, "EISDIR"]
        if (mustCreate) return [null, "EEXIST"]
        if (!start.cachedMetadataAuthoritative()) {
          // Refresh the attributes before opening.
          const e = yield* start.updateFromGetattr(ctx)
          if (e !== null) return [null, e]
        }
        yield* start.IncRef()
        yield* unlock()
        // start is not added to ds (which would take it out of the cache):
        // doing so regresses performance in practice.
        try {
          return yield* this.open(ctx, start, rp, opts)
        } finally {
          yield* start.DecRef(ctx)
        }
      }
      for (let guard = 0; ; guard++) {
        if (guard > 100) panic("gofer.OpenAt: trailing symlink loop not caught by HandleSymlink")
        // afterTrailingSymlink:
        const [parent, perr] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
        if (perr !== null || parent === null) return [null, perr]
        // Search permission in the parent directory.
        let e: VfsErr = parent.checkPermissions(rp.Credentials(), MayExec)
        if (e !== null) return [null, e]
        // Directories cannot be opened with O_CREAT.
        if (mayCreate && rp.MustBeDir()) return [null, "EISDIR"]
        e = yield* revalidateOne(this, ctx, rp.VirtualFilesystem(), parent, rp.Component(), ds)
        if (e !== null) return [null, e]
        // Is there a file to open, or one to create?
        yield parent.dirMu.Lock()
        const [child, , serr] = yield* this.stepLocked(ctx, rp, parent, false /* mayFollowSymlinks */, ds)
        if (serr === "ENOENT" && mayCreate) {
          if (parent.isSynthetic()) {
            yield parent.dirMu.Unlock()
            return [null, "EPERM"]
          }
          const r = yield* this.createAndOpenChildLocked(ctx, parent, rp, opts, ds)
          yield parent.dirMu.Unlock()
          return r
        }
        yield parent.dirMu.Unlock()
        if (serr !== null || child === null) return [null, serr]
        if (mustCreate) return [null, "EEXIST"]
        // Open the existing child, or follow a trailing symlink.
        if (child.isSymlink() && rp.ShouldFollowSymlink()) {
          this.mark(guard > 0 ? "gofer.walk.symlink-chain" : "gofer.open.trailing-symlink", child)
          const [target, lerr] = yield* child.readlink(ctx, rp.Mount())
          if (lerr !== null) return [null, lerr]
          const herr = rp.HandleSymlink(target)
          if (herr !== null) return [null, herr]
          start = parent
          continue
        }
        if (rp.MustBeDir() && !child.isDir()) return [null, "ENOTDIR"]
        yield* child.IncRef()
        yield* unlock()
        // child is not added to ds either (see above).
        try {
          return yield* this.open(ctx, child, rp, opts)
        } finally {
          yield* child.DecRef(ctx)
        }
      }
    } finally {
      yield* unlock()
    }
  }

  /** dentry.open. Precondition: no locks held (opening a pipe may block). */
  private *open(ctx: Ctx, d: dentry, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, VfsErr]> {
    const ats = AccessTypesForOpenFlags(opts.Flags, O_TRUNC)
    const e = d.checkPermissions(rp.Credentials(), ats)
    if (e !== null) return [null, e]
    const trunc = (opts.Flags & O_TRUNC) !== 0 && d.fileType() === S_IFREG
    // The mutant opens with O_TRUNC as gVisor did before it tracked the
    // truncation: no metadataMu, no new size, no new times.
    const truncTracked = trunc && this.opts.mutant !== "open-trunc-keeps-size"
    // Lock metadataMu *while* opening with O_TRUNC: the open changes the
    // file's size on the server.
    if (truncTracked) yield d.metadataMu.Lock()
    try {
      let vfd: FileDescription | null = null
      const mnt = rp.Mount()
      switch (d.fileType()) {
        case S_IFREG:
          if (!this.opts.regularFilesUseSpecialFileFD) {
            const herr = yield* d.ensureSharedHandle(ctx, (ats & 4) !== 0, (ats & 2) !== 0, trunc)
            if (herr !== null) return [null, herr]
            const [fd, ferr] = yield* newRegularFileFD(mnt, d, opts.Flags)
            if (ferr !== null) return [null, ferr]
            vfd = fd
          }
          break
        case S_IFDIR: {
          if ((opts.Flags & O_CREAT) !== 0) return [null, "EISDIR"]
          // Directories cannot be opened writably.
          if ((ats & 2) !== 0) return [null, "EISDIR"]
          if ((opts.Flags & O_DIRECT) !== 0) return [null, "EINVAL"]
          if (!d.isSynthetic()) {
            const herr = yield* d.ensureSharedHandle(ctx, (ats & 4) !== 0, false /* write */, false /* trunc */)
            if (herr !== null) return [null, herr]
          }
          return yield* newDirectoryFD(mnt, d, opts.Flags)
        }
        case 0o120000: // S_IFLNK
          // Only O_PATH opens symlinks, and VFS handles it.
          return [null, "ELOOP"]
        case S_IFSOCK:
          if (d.isSynthetic()) return [null, "ENXIO"]
          break
        case S_IFIFO:
          if (d.isSynthetic()) {
            // fsim has no pipe for synthetic FIFOs (made only when a server
            // refuses mknod): not supported yet.
            return [null, "ENXIO"]
          }
          break
      }
      if (vfd === null) {
        const [sfd, serr] = yield* this.openSpecialFile(ctx, d, mnt, opts)
        if (serr !== null || sfd === null) return [null, serr]
        vfd = sfd
      }
      if (truncTracked) {
        // The size in memory changes even without authoritative metadata
        // (mappings must follow). metadataMu is held.
        yield* d.updateSizeLocked(0)
        if (d.cachedMetadataAuthoritative()) d.touchCMtimeLocked()
      }
      return [vfd, null]
    } finally {
      if (truncTracked) yield d.metadataMu.Unlock()
    }
  }

  private *openSpecialFile(ctx: Ctx, d: dentry, mnt: Mount, opts: OpenOptions): Sim<[FileDescription | null, Err]> {
    const ats = AccessTypesForOpenFlags(opts.Flags, O_TRUNC)
    if ((opts.Flags & O_DIRECT) !== 0) return [null, "EINVAL"]
    // Servers insert O_NONBLOCK for named pipes; a blocking open is emulated
    // by retrying (b/133875563: racy, as it only sees a peer present now).
    const isBlockingOpenOfNamedPipe = d.fileType() === S_IFIFO && (opts.Flags & O_NONBLOCK) === 0
    for (let attempt = 0; ; attempt++) {
      const [h, err] = yield* openHandle(d.file as P9File, (ats & 4) !== 0, (ats & 2) !== 0, (opts.Flags & O_TRUNC) !== 0, `special ${d.pathForLog()}`)
      if (err !== null) {
        if (isBlockingOpenOfNamedPipe && ats === MayWrite && err === "ENXIO" && attempt < 1000) {
          // O_WRONLY|O_NONBLOCK fails with ENXIO while there is no reader:
          // sleep and check again, as sleepBetweenNamedPipeOpenChecks does.
          yield sleep(100_000)
          continue
        }
        return [null, err]
      }
      const [fd, ferr] = yield* newSpecialFileFD(h, mnt, d, opts.Flags)
      if (ferr !== null || fd === null) {
        yield* h.close()
        return [null, ferr ?? "EIO"]
      }
      void ctx
      return [fd, null]
    }
  }

  /**
   * createAndOpenChildLocked: Tlcreate in d, then a walk to the new file
   * for an unopened fid and its metadata.
   * Preconditions: renameMu and d.dirMu locked; !d.isSynthetic().
   */
  private *createAndOpenChildLocked(ctx: Ctx, d: dentry, rp: ResolvingPath, opts: OpenOptions, ds: DentryList): Sim<[FileDescription | null, VfsErr]> {
    let e: Err = d.checkPermissions(rp.Credentials(), MayWrite)
    if (e !== null) return [null, e]
    if (yield* d.isDeleted()) return [null, "ENOENT"]
    const mnt = rp.Mount()
    e = mnt.CheckBeginWrite()
    if (e !== null) return [null, e]
    try {
      const creds = rp.Credentials()
      const name = rp.Component()
      // In a setgid directory, the new file takes the directory's GID.
      let kgid = creds.gid
      if ((d.mode & S_ISGID) !== 0) kgid = d.gid
      // Tlcreate turns the fid it is sent on into the new, open file, so it
      // goes on a clone of the directory's fid, never on d.file itself.
      const [, dirfile, derr] = yield* (d.file as P9File).walk([], `create clone of ${d.pathForLog()}`)
      if (derr !== null || dirfile === null) return [null, derr ?? "EIO"]
      const createFlags = opts.Flags & 3
      const [openFile, createQID, , cerr] = yield* dirfile.create(name, createFlags, opts.Mode & 0o7777, creds.uid, kgid, `created ${pathJoin(d.pathForLog(), name)}`)
      if (cerr !== null || openFile === null || createQID === null) {
        yield* dirfile.close()
        return [null, cerr ?? "EIO"]
      }
      // Walk to the new file for an unopened fid and its metadata; this must
      // use d.file, since dirfile now names the new file.
      const [, nonOpenFile, attrMask, attr, werr] = yield* walkGetAttrOne(d.file as P9File, name, `dentry ${pathJoin(d.pathForLog(), name)}`)
      if (werr !== null || nonOpenFile === null || attr === null) {
        yield* openFile.close()
        return [null, werr ?? "EIO"]
      }
      const [child, nerr] = yield* this.newDentry(ctx, nonOpenFile, createQID, attrMask, attr)
      if (nerr !== null || child === null) {
        yield* nonOpenFile.close()
        yield* openFile.close()
        return [null, nerr ?? "EIO"]
      }
      // Use the fid opened by Tlcreate.
      const useRegularFileFD = child.fileType() === S_IFREG && !this.opts.regularFilesUseSpecialFileFD
      if (useRegularFileFD) {
        yield child.handleMu.Lock()
        if (MayReadFileWithOpenFlags(opts.Flags)) child.readFile = openFile
        if (MayWriteFileWithOpenFlags(opts.Flags)) child.writeFile = openFile
        yield child.handleMu.Unlock()
      }
      // Into the dentry tree.
      yield* d.cacheNewChildLocked(child, name)
      if (this.opts.mutant === "create-open-ref-leak") {
        // The mutant: a reference "for the new FD", which takes its own in
        // Init; with it the child need not be queued for caching.
        yield ATOMIC
        child.refs = 1
        appendDentry(ds, d)
      } else appendNewChildDentry(ds, d, child)
      if (d.cachedMetadataAuthoritative()) {
        yield* d.touchCMtime()
        d.dirents = null
      }
      // Finally the description.
      if (useRegularFileFD) {
        if (!MayReadFileWithOpenFlags(opts.Flags) && !MayWriteFileWithOpenFlags(opts.Flags)) {
          // Access mode 3: the fid is neither dentry handle; clunk it.
          yield* openFile.close()
        }
        const [fd, ferr] = yield* newRegularFileFD(mnt, child, opts.Flags)
        if (ferr !== null) return [null, ferr]
        return [fd, null]
      }
      const h = new handle(openFile)
      const [fd, ferr] = yield* newSpecialFileFD(h, mnt, child, opts.Flags)
      if (ferr !== null || fd === null) {
        yield* h.close()
        return [null, ferr ?? "EIO"]
      }
      return [fd, null]
    } finally {
      mnt.EndWrite()
    }
  }

  *ReadlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<[string, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return ["", err]
      if (!d.isSymlink()) return ["", "EINVAL"]
      return yield* d.readlink(ctx, rp.Mount())
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *RenameAt(ctx: Ctx, rp: ResolvingPath, oldParentVD: VirtualDentry, oldName: string, opts: RenameOptions): Sim<VfsErr> {
    // Resolve newParent first, to check it is on this mount.
    const ds: DentryList = { list: null }
    yield this.renameMu.Lock()
    try {
      const [newParent, nerr] = yield* this.walkParentDirLocked(ctx, rp, rp.Start().Impl<dentry>(), ds)
      if (nerr !== null || newParent === null) return nerr
      if ((opts.Flags & ~RENAME_NOREPLACE) !== 0) return "EINVAL"
      // RENAME_NOREPLACE would need 9P support to synchronize with other users.
      if (this.opts.interop === InteropModeShared && (opts.Flags & RENAME_NOREPLACE) !== 0) return "EINVAL"
      const newName = rp.Component()
      if (newName === "." || newName === "..") return (opts.Flags & RENAME_NOREPLACE) !== 0 ? "EEXIST" : "EBUSY"
      const mnt = rp.Mount()
      if (mnt !== oldParentVD.mount) return "EXDEV"
      let e: Err = mnt.CheckBeginWrite()
      if (e !== null) return e
      try {
        const oldParent = oldParentVD.dentry.Impl<dentry>()
        if (!oldParent.cachedMetadataAuthoritative()) {
          e = yield* oldParent.updateFromGetattr(ctx)
          if (e !== null) return e
        }
        const creds = rp.Credentials()
        e = oldParent.checkPermissions(creds, MayWrite | MayExec)
        if (e !== null) return e
        const vfsObj = rp.VirtualFilesystem()
        e = yield* revalidateOne(this, ctx, vfsObj, newParent, newName, ds)
        if (e !== null) return e
        e = yield* revalidateOne(this, ctx, vfsObj, oldParent, oldName, ds)
        if (e !== null) return e

        // The renamed file's dentry: a directory needs write permission on itself.
        yield oldParent.dirMu.Lock()
        let newParentLocked = false
        try {
          const [renamed, rerr] = yield* this.getChildLocked(ctx, oldParent, oldName, ds)
          if (rerr !== null || renamed === null) return rerr
          e = oldParent.mayDelete(creds, renamed)
          if (e !== null) return e
          if (renamed.isDir()) {
            if (renamed === newParent || genericIsAncestorDentry(renamed, newParent)) return "EINVAL"
            if (oldParent !== newParent) {
              e = renamed.checkPermissions(creds, MayWrite)
              if (e !== null) return e
            }
          } else if (opts.MustBeDir || rp.MustBeDir()) return "ENOTDIR"

          if (oldParent !== newParent) {
            e = newParent.checkPermissions(creds, MayWrite | MayExec)
            if (e !== null) return e
            yield newParent.dirMu.Lock()
            newParentLocked = true
          }
          if (yield* newParent.isDeleted()) return "ENOENT"
          const [replaced, gerr] = yield* this.getChildLocked(ctx, newParent, newName, ds)
          if (gerr !== null && gerr !== "ENOENT") return gerr
          if (replaced !== null) {
            if ((opts.Flags & RENAME_NOREPLACE) !== 0) return "EEXIST"
            if (replaced.isDir()) {
              if (!renamed.isDir()) return "EISDIR"
              if (genericIsAncestorDentry(replaced, renamed)) return "ENOTEMPTY"
            } else if (rp.MustBeDir() || renamed.isDir()) return "ENOTDIR"
          }
          if (oldParent === newParent && oldName === newName) return null
          e = yield* vfsObj.PrepareRenameDentry(renamed.vfsd, replaced?.vfsd ?? null)
          if (e !== null) return e

          // Update the remote filesystem.
          if (!renamed.isSynthetic()) {
            const err = yield* (renamed.file as P9File).rename(newParent.file as P9File, newName)
            if (err !== null) {
              this.mark("gofer.rename.rpc-error", renamed)
              yield* vfsObj.AbortRenameDentry(renamed.vfsd, replaced?.vfsd ?? null)
              return err
            }
          } else if (replaced !== null && !replaced.isSynthetic()) {
            // A synthetic file replaces a real one: unlink the real one.
            const flags = replaced.isDir() ? 0x200 : 0
            const err = yield* (newParent.file as P9File).unlinkAt(newName, flags)
            if (err !== null) {
              yield* vfsObj.AbortRenameDentry(renamed.vfsd, replaced.vfsd)
              return err
            }
          }

          // Update the dentry tree.
          yield* vfsObj.CommitRenameReplaceDentry(renamed.vfsd, replaced?.vfsd ?? null)
          if (replaced !== null && replaced.isDir()) this.mark("gofer.rename.over-cached-dir", replaced)
          if (renamed.isDir() && oldParent !== newParent) this.mark("gofer.rename.dir-new-parent", renamed)
          if (replaced !== null) {

            yield* replaced.setDeleted()
            if (replaced.isSynthetic()) {
              newParent.syntheticChildren--
              yield* replaced.decRefNoCaching()
            }
            appendDentry(ds, replaced)
          }
          oldParent.cacheNegativeLookupLocked(oldName)
          // Not newParent.cacheNewChildLocked: the reference counts must not
          // change, nor oldParent be queued, if the parent stays the same.
          if (oldParent !== newParent) {
            yield* oldParent.decRefNoCaching()
            yield* newParent.IncRef()
            appendDentry(ds, newParent)
            appendDentry(ds, oldParent)
            if (renamed.isSynthetic()) {
              oldParent.syntheticChildren--
              newParent.syntheticChildren++
            }
            renamed.parent = newParent
          }
          renamed.name = newName
          ;(newParent.children ??= new Map()).set(newName, renamed)

          // Update metadata.
          if (renamed.cachedMetadataAuthoritative()) yield* renamed.touchCtime()
          if (oldParent.cachedMetadataAuthoritative()) {
            oldParent.dirents = null
            yield* oldParent.touchCMtime()
            if (renamed.isDir()) oldParent.decLinks()
          }
          if (newParent.cachedMetadataAuthoritative()) {
            newParent.dirents = null
            yield* newParent.touchCMtime()
            // A directory that replaced none adds a link to its new parent.
            // (The mutant, as before gVisor's fix, adds one over a replaced
            // directory too.)
            const replacedDir = replaced !== null && replaced.isDir() && this.opts.mutant !== "rename-dir-over-dir-links"
            if (renamed.isDir() && !replacedDir) newParent.incLinks()
          }
          return null
        } finally {
          if (newParentLocked) yield newParent.dirMu.Unlock()
          yield oldParent.dirMu.Unlock()
        }
      } finally {
        mnt.EndWrite()
      }
    } finally {
      yield* this.renameMuUnlockAndCheckCaching(ctx, ds)
    }
  }

  *RmdirAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    return yield* this.unlinkAt(ctx, rp, true /* dir */)
  }

  *SetStatAt(ctx: Ctx, rp: ResolvingPath, opts: SetStatOptions): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
    if (err !== null || d === null) {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
      return err
    }
    const e = yield* d.setStat(ctx, opts, rp.Mount())
    yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    return e
  }

  *StatAt(ctx: Ctx, rp: ResolvingPath, _opts: StatOptions): Sim<[Statx | null, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return [null, err]
      // Walking refreshed every dentry on the way under InteropModeShared,
      // this one included: cached metadata is good in every mode.
      return [d.statTo(), null]
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *StatFSAt(ctx: Ctx, rp: ResolvingPath): Sim<[Statfs | null, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      let [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return [null, err]
      // For a synthetic file, ask about its first non-synthetic ancestor.
      while (d.isSynthetic()) d = d.parent!
      const [fsstat, serr] = yield* (d.file as P9File).statFS()
      if (serr !== null || fsstat === null) return [null, serr ?? "EIO"]
      const nameLen = Math.min(fsstat.nameLength, maxFilenameLen)
      return [
        {
          // To tell a gofer filesystem apart in tests, a standard value.
          type: V9FS_MAGIC,
          blockSize: fsstat.blockSize,
          blocks: fsstat.blocks,
          blocksFree: fsstat.blocksFree,
          blocksAvailable: fsstat.blocksAvailable,
          files: fsstat.files,
          filesFree: fsstat.filesFree,
          nameLength: nameLen,
        },
        null,
      ]
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *SymlinkAt(ctx: Ctx, rp: ResolvingPath, target: string): Sim<VfsErr> {
    return yield* this.doCreateAt(
      ctx,
      rp,
      false /* dir */,
      function* (parent, name) {
        const creds = rp.Credentials()
        const [, err] = yield* (parent.file as P9File).symlink(target, name, creds.uid, creds.gid)
        return err
      },
      null,
    )
  }

  *UnlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    return yield* this.unlinkAt(ctx, rp, false /* dir */)
  }

  *ListXattrAt(ctx: Ctx, rp: ResolvingPath, size: number): Sim<[readonly string[], VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return [[], err]
      return yield* d.listXattr(size)
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *GetXattrAt(ctx: Ctx, rp: ResolvingPath, name: string, size: number): Sim<[string, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return ["", err]
      return yield* d.getXattr(ctx, name, size)
    } finally {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    }
  }

  *SetXattrAt(ctx: Ctx, rp: ResolvingPath, opts: SetXattrOptions): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
    if (err !== null || d === null) {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
      return err
    }
    const e = yield* d.setXattr(ctx, opts.Name, opts.Value, opts.Flags)
    yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    return e
  }

  *RemoveXattrAt(ctx: Ctx, rp: ResolvingPath, name: string): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
    if (err !== null || d === null) {
      yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
      return err
    }
    const e = yield* d.removeXattr(ctx, name)
    yield* this.renameMuRUnlockAndCheckCaching(ctx, ds)
    return e
  }
}

/**
 * walkGetAttrOne (p9file.go): WalkGetAttr of a single name, which must
 * yield exactly one qid.
 */
export function* walkGetAttrOne(file: P9File, name: string, owner: string): Sim<[QID | null, P9File | null, AttrMask, Attr | null, Errno | null]> {
  const [qids, newfile, attrMask, attr, err] = yield* file.walkGetAttr([name], owner)
  if (err !== null) return [null, null, 0, null, err]
  if (qids.length !== 1) {
    if (newfile !== null) yield* newfile.close()
    return [null, null, 0, null, "EIO"]
  }
  return [qids[0]!, newfile, attrMask, attr, null]
}

/** genericIsAncestorDentry (genericfstree): is d an ancestor of d2? Precondition: renameMu locked. */
export function genericIsAncestorDentry(d: dentry, d2: dentry): boolean {
  for (let p = d2.parent, i = 0; p !== null && i < 10000; p = p.parent, i++) if (p === d) return true
  return false
}

function pathJoin(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`
}

export type { p9file, ResolveError }
