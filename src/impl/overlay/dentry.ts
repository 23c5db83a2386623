// overlay.dentry: gVisor's pkg/sentry/fsimpl/overlay dentry (the seed
// overlay.go), with the dentry methods of copy_up.go, directory.go and
// regular_file.go, ported to simulated threads. Every lock is a simulated
// lock of the seed's class, named by the dentry's path; the atomic accesses
// the seed races on (refs, copiedUp) are scheduling points of their own.
//
// The layers are reached only through the VFS, as gVisor does: every call
// names a layer file by a PathOperation rooted at one of the dentry's
// layer VirtualDentries (`pop` below), with the filesystem's credentials
// (root, the mounter's) unless gVisor passes the caller's.
//
// Field comments say what protects each field, as gVisor's do.

import type { Cred, Errno } from "../../model/types.js"
import { ATOMIC, type Sim } from "../../sim/scheduler.js"
import { Mutex, RWMutex } from "../../sim/sync.js"
import { type Ctx, type Err, panic } from "../vfs/context.js"
import { Dentry as VfsDentry, type DentryImpl } from "../vfs/dentry.js"
import type { FileDescription } from "../vfs/file_description.js"
import type { Dirent, OpenOptions, SetStatOptions, Statx } from "../vfs/filesystem.js"
import { Parse } from "../vfs/fspath.js"
import { DT_CHR, DT_DIR, O_CREAT, O_DIRECT, O_DIRECTORY, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from "../vfs/linux.js"
import type { VirtualDentry } from "../vfs/mount.js"
import {
  AccessTypesForOpenFlags,
  CheckDeleteSticky,
  CheckDeleteStickyChildOwnerOnly,
  CheckSetStat,
  MayWrite,
  CheckXattrPermissions,
  GenericCheckPermissions,
  STATX_ATIME,
  STATX_GID,
  STATX_MODE,
  STATX_MTIME,
  STATX_UID,
  type AccessTypes,
  type SetStatRequest,
} from "../vfs/permissions.js"
import type { PathOperation, ResolvingPath } from "../vfs/resolving_path.js"
import { newDirectoryFD } from "./directory.js"
import type { filesystem } from "./filesystem.js"
import { regularFileFD } from "./regular_file.js"

/** linux.UNNAMED_MAJOR: the major number of anonymous block devices. */
export const UNNAMED_MAJOR = 0

/** Linux: fs/overlayfs/overlayfs.h:OVL_XATTR_PREFIX ("trusted." + "overlay."). */
export const _OVL_XATTR_PREFIX = "trusted.overlay."

/** Linux: fs/overlayfs/overlayfs.h:OVL_XATTR_OPAQUE; set to "y" on opaque directories. */
export const _OVL_XATTR_OPAQUE = _OVL_XATTR_PREFIX + "opaque"

/** The largest xattr value the VFS hands back (XATTR_SIZE_MAX). */
const XATTR_SIZE_MAX = 65536

/**
 * Statx's rdev, where a layer reports it. fsim's vfs.Statx has no
 * RdevMajor/RdevMinor (the contract has no device files); a layer that
 * knows device numbers (the tmpfs layer's whiteouts) may add them, and a
 * character device whose layer does not is taken as 0:0, which in fsim is
 * the only kind there is (scenario.md 1.3: whiteouts are its only
 * character devices).
 */
interface StatxRdev {
  readonly rdevMajor?: number
  readonly rdevMinor?: number
}

export function rdevOf(stat: Statx): { readonly major: number; readonly minor: number } {
  const r = stat as Statx & StatxRdev
  return { major: r.rdevMajor ?? 0, minor: r.rdevMinor ?? 0 }
}

/** isWhiteout: a 0:0 character device (include/linux/fs.h:WHITEOUT_DEV). */
export function isWhiteout(stat: Statx): boolean {
  const rdev = rdevOf(stat)
  return (stat.mode & S_IFMT) === S_IFCHR && rdev.major === 0 && rdev.minor === 0
}

/** isOverlayXattr: whether the extended attribute configures the overlay. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith(_OVL_XATTR_PREFIX)
}

/** A PathOperation naming `name` under the layer file `vd` ("" for vd itself), as gVisor builds them. */
export function pop(vd: VirtualDentry, name = ""): PathOperation {
  return { Root: vd, Start: vd, Path: Parse(name), FollowFinalSymlink: false }
}

/** A setattr request of the listed fields (the rest zero). */
export function setStatRequest(s: Partial<SetStatRequest> & { mask: number }): SetStatRequest {
  return { mode: 0, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ...s }
}

/** SetStatAt of a layer file, with one request of several attributes (as gVisor sends them). */
export function* layerSetStatAt(ctx: Ctx, vfsObj: filesystem["vfs"], creds: Cred, p: PathOperation, r: SetStatRequest): Sim<Err> {
  return yield* vfsObj.SetStatAt(ctx, creds, p, { Stat: r })
}

/** The deferred list of dentries whose references may have dropped to zero (gVisor's **[]*dentry). */
export interface DentryList {
  list: dentry[] | null
}

export function appendDentry(ds: DentryList, d: dentry): void {
  ;(ds.list ??= []).push(d)
}

/** One layer of a dentry, as iterLayers yields it. */
export interface Layer {
  readonly vd: VirtualDentry
  readonly isUpper: boolean
}

/** lookupLayer: where a name exists, for creation and deletion. */
export const enum lookupLayer {
  /** No file on the upper layer, and either whited out or absent below: creation may proceed. */
  None = 0,
  /** Not on the upper layer, but on a lower one: exists, must be copied up before mutation. */
  Lower = 1,
  /** A non-whiteout file on the upper layer: exists, already copied up. */
  Upper = 2,
  /** A whiteout on the upper layer: does not exist; creation must remove the whiteout first. */
  UpperWhiteout = 3,
}

export function existsInOverlay(ll: lookupLayer): boolean {
  return ll === lookupLayer.Lower || ll === lookupLayer.Upper
}

export class dentry implements DentryImpl {
  readonly vfsd: VfsDentry

  /** The reference count; -1 once destroyed. Atomic. */
  refs = 0

  /**
   * File mode, owner and group in the topmost layer (and so of the overlay
   * file), used for permission checks. Protected by copyMu (atomic).
   */
  mode = 0
  uid = 0
  gid = 0

  /** copiedUp is set iff upperVD is (once copy-up has finished). Atomic. */
  copiedUp = false

  /** The parent directory and the name in it; null and "" for the root. Protected by fs.renameMu. */
  parent: dentry | null = null
  name = ""

  readonly dirMu: Mutex
  /** For a directory: the children for which dentries exist. Protected by dirMu. */
  children: Map<string, dentry> | null = null
  /** For a directory: a cache of the merged entries, as directoryFDs return them. Protected by dirMu. */
  dirents: Dirent[] | null = null

  /**
   * upperVD may go from null to a layer file (copy-up) with copyMu locked
   * for writing; it is immutable after. lowerVDs is immutable.
   */
  readonly copyMu: RWMutex
  upperVD: VirtualDentry | null = null
  lowerVDs: VirtualDentry[] = []

  /** Device and inode numbers the overlay reports. Protected by copyMu (atomic). */
  devMajor = 0
  devMinor = 0
  ino = 0

  /**
   * For regular files: mapsMu synchronizes copy-up with memmap.Mappable
   * methods, dataMu copy-up with Translate. fsim has no memory mappings
   * (lowerMappings, wrappedMappable and isMappable are not ported); mapsMu
   * is still taken where copy-up takes it, for the lock order.
   */
  readonly mapsMu: Mutex
  readonly dataMu: RWMutex

  constructor(readonly fs: filesystem) {
    const sched = fs.sched
    const d = this
    const name = (): string => d.pathForLog()
    // A lock class of its own: the overlay holds it while calling into its layers (vfs/dentry.ts).
    this.vfsd = new VfsDentry(sched, "vfs.Dentry.mu[overlay]")
    this.vfsd.Init(this)
    this.dirMu = new Mutex(sched, "overlay.dentry.dirMu", name)
    this.copyMu = new RWMutex(sched, "overlay.dentry.copyMu", name)
    this.mapsMu = new Mutex(sched, "overlay.dentry.mapsMu", name)
    this.dataMu = new RWMutex(sched, "overlay.dentry.dataMu", name)
  }

  /** The dentry's path from the overlay's root, for messages and lock names. */
  pathForLog(): string {
    if (this.parent === null) return this === this.fs.rootOrNull() ? "/" : this.refs === -1 ? "(destroyed)" : "(new)"
    const parts: string[] = []
    let d: dentry | null = this
    for (let i = 0; d !== null && d.parent !== null && i < 64; i++, d = d.parent) parts.push(d.name)
    return "/" + parts.reverse().join("/")
  }

  // -------------------------------------------------------------------------
  // File types.

  isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR
  }

  isRegularFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG
  }

  isSymlink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK
  }

  /** Plain read: callers that race with copy-up go through copiedUpAtomic. */
  isCopiedUp(): boolean {
    return this.copiedUp
  }

  /** isCopiedUp as the atomic load it is in gVisor: a scheduling point. */
  *copiedUpAtomic(): Sim<boolean> {
    yield ATOMIC
    return this.copiedUp
  }

  // -------------------------------------------------------------------------
  // References (overlay.go).

  /** d.refs may be 0 if d.fs.renameMu is locked, which serializes against checkDropLocked. */
  *IncRef(): Sim<void> {
    yield ATOMIC
    if (this.refs === -1) panic(`overlay.dentry.IncRef() on a destroyed dentry (${this.pathForLog()})`)
    this.refs++
  }

  *TryIncRef(): Sim<boolean> {
    yield ATOMIC
    if (this.refs <= 0) return false
    this.refs++
    return true
  }

  *DecRef(ctx: Ctx): Sim<void> {
    yield ATOMIC
    const refs = --this.refs
    if (refs === 0) {
      yield this.fs.renameMu.Lock()
      try {
        yield* this.checkDropLocked(ctx)
      } finally {
        yield this.fs.renameMu.Unlock()
      }
    } else if (refs < 0) panic(`overlay.dentry.DecRef() called without holding a reference (${this.pathForLog()})`)
  }

  /**
   * checkDropLocked should be called after d's reference count becomes 0
   * or it becomes deleted. The overlay caches no dentries: one with no
   * references is destroyed at once. (No inotify watches in fsim, so the
   * seed's "d.watches.Size() > 0" case never keeps one.)
   *
   * Precondition: d.fs.renameMu is locked for writing.
   */
  *checkDropLocked(ctx: Ctx): Sim<void> {
    // Only path resolution (under renameMu) can take a reference on a
    // dentry with none, so with renameMu locked for writing zero stays zero.
    // A negative count means d was destroyed already.
    yield ATOMIC
    if (this.refs !== 0) return
    yield* this.destroyLocked(ctx)
  }

  /**
   * destroyLocked drops d's layer references and its reference on its
   * parent (removing it from the parent's children unless it was deleted).
   *
   * Preconditions: d.fs.renameMu is locked for writing; d.refs == 0.
   */
  *destroyLocked(ctx: Ctx): Sim<void> {
    yield ATOMIC
    switch (this.refs) {
      case 0:
        // Mark the dentry destroyed.
        this.refs = -1
        break
      case -1:
        panic(`overlay.dentry.destroyLocked() called on already destroyed dentry (${this.pathForLog()})`)
      // falls through
      default:
        panic(`overlay.dentry.destroyLocked() called with references on the dentry (${this.pathForLog()})`)
    }
    this.fs.onDestroyed(this)

    if (this.upperVD !== null && this.fs.mutant !== "leak-upper-ref") yield* this.upperVD.DecRef(ctx)
    for (const lowerVD of this.lowerVDs) yield* lowerVD.DecRef(ctx)

    if (this.parent !== null) {
      const parent = this.parent
      yield parent.dirMu.Lock()
      if (!this.vfsd.IsDead() && parent.children?.get(this.name) === this) parent.children.delete(this.name)
      yield parent.dirMu.Unlock()
      // Drop the reference held by d on its parent without recursively
      // locking d.fs.renameMu.
      yield ATOMIC
      const refs = --parent.refs
      if (refs === 0) yield* parent.checkDropLocked(ctx)
      else if (refs < 0) panic(`overlay.dentry.DecRef() called without holding a reference (${parent.pathForLog()})`)
    }
  }

  // -------------------------------------------------------------------------
  // Layers (overlay.go).

  /** iterLayers: the layers comprising d, top to bottom (the caller stops where gVisor's yield returns false). */
  layers(): Layer[] {
    const out: Layer[] = []
    if (this.isCopiedUp()) out.push({ vd: this.upperVD!, isUpper: true })
    for (const vd of this.lowerVDs) out.push({ vd, isUpper: false })
    return out
  }

  topLayerInfo(): Layer {
    if (this.isCopiedUp()) return { vd: this.upperVD!, isUpper: true }
    return { vd: this.lowerVDs[0]!, isUpper: false }
  }

  topLayer(): VirtualDentry {
    return this.topLayerInfo().vd
  }

  /** topLookupLayer: where d's file is, for stepLocked's callers. */
  topLookupLayer(): lookupLayer {
    return this.upperVD !== null ? lookupLayer.Upper : lookupLayer.Lower
  }

  // -------------------------------------------------------------------------
  // Permissions and metadata (overlay.go).

  checkPermissions(creds: Cred, ats: AccessTypes): Err {
    return GenericCheckPermissions(creds, ats, this.mode, this.uid, this.gid)
  }

  checkXattrPermissions(creds: Cred, name: string, ats: AccessTypes): Err {
    const e = GenericCheckPermissions(creds, ats, this.mode, this.uid, this.gid)
    if (e !== null) return e
    return CheckXattrPermissions(creds, ats, this.mode, this.uid, name)
  }

  /** mayDelete: vfs.CheckDeleteSticky for removing `child` from d. */
  mayDelete(creds: Cred, child: dentry): Err {
    // The VFS's check has no mount option of its own: the overlay hands it
    // its mutant (sticky-ignores-dir-owner, the VFS before f2c881f6).
    if (this.fs.mutant === "sticky-ignores-dir-owner") return CheckDeleteStickyChildOwnerOnly(creds, this.mode, child.uid)
    return CheckDeleteSticky(creds, this.mode, this.uid, child.uid)
  }

  /**
   * statInternalTo: the fields d keeps itself (type, mode, owner, inode and
   * device numbers) over what the top layer reported. Linux sets nlink to
   * 1 for merged directories (fs/overlayfs/inode.c:ovl_getattr()); gVisor
   * sets it to 2 for every directory, "because this is correct more often".
   */
  statInternalTo(layer: Statx): Statx {
    return {
      ...layer,
      nlink: this.isDir() ? 2 : layer.nlink,
      uid: this.uid,
      gid: this.gid,
      mode: this.mode,
      ino: this.ino,
      devMajor: this.devMajor,
      devMinor: this.devMinor,
    }
  }

  /** Precondition: d.copyMu is locked for writing. */
  updateAfterSetStatLocked(opts: SetStatOptions): void {
    const s = opts.Stat
    if ((s.mask & STATX_MODE) !== 0) this.mode = (this.mode & S_IFMT) | (s.mode & ~S_IFMT)
    if ((s.mask & STATX_UID) !== 0) this.uid = s.uid
    if ((s.mask & STATX_GID) !== 0) this.gid = s.gid
  }

  /** readlink: the target, from the top layer. */
  *readlink(ctx: Ctx): Sim<[string, Errno | null]> {
    return yield* this.fs.vfs.ReadlinkAt(ctx, this.fs.creds, pop(this.topLayer()))
  }

  /**
   * openCopiedUp opens d (filesystem.go): a directoryFD for a directory
   * (which opens each layer when entries are read), else the top layer's
   * file, wrapped in a regularFileFD for a regular file (which follows the
   * file to the upper layer once it is copied up) and handed back as it is
   * for anything else.
   * Precondition: if AccessTypesForOpenFlags(opts) may write, d has been
   * copied up (regular files only, since early 2021).
   */
  *openCopiedUp(ctx: Ctx, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, Err]> {
    const ats = AccessTypesForOpenFlags(opts.Flags, O_TRUNC)
    const e = this.checkPermissions(rp.Credentials(), ats)
    if (e !== null) return [null, e]
    const mnt = rp.Mount()

    // Directory FDs open FDs from each layer when directory entries are
    // read, so they don't require opening an FD from d.topLayer() up front.
    const ftype = this.mode & S_IFMT
    if (ftype === S_IFDIR) {
      // Can't open directories with O_CREAT.
      if ((opts.Flags & O_CREAT) !== 0) return [null, "EISDIR"]
      // Can't open directories writably.
      if ((ats & MayWrite) !== 0) return [null, "EISDIR"]
      if ((opts.Flags & O_DIRECT) !== 0) return [null, "EINVAL"]
      return yield* newDirectoryFD(mnt, this, opts.Flags)
    }

    const { vd: layerVD, isUpper } = this.topLayerInfo()
    const [layerFD, err] = yield* this.fs.vfs.OpenAt(ctx, this.fs.creds, pop(layerVD), { Flags: opts.Flags, Mode: opts.Mode })
    if (err !== null || layerFD === null) return [null, err ?? "EIO"]
    if (ftype !== S_IFREG) return [layerFD, null]
    const fd = new regularFileFD(this, isUpper, layerFD)
    const ierr = yield* fd.vfsfd.Init(fd, layerFD.StatusFlags(), mnt, this.vfsd)
    if (ierr !== null) {
      yield* layerFD.DecRef(ctx)
      return [null, ierr]
    }
    return [fd.vfsfd, null]
  }

  /** setStatLocked (filesystem.go). Precondition: d.fs.renameMu is locked for reading. */
  *setStatLocked(ctx: Ctx, rp: ResolvingPath, opts: SetStatOptions): Sim<Err> {
    let e = CheckSetStat(rp.Credentials(), opts.Stat, opts.NeedWritePerm === true, this.mode, this.uid, this.gid)
    if (e !== null) return e
    const mnt = rp.Mount()
    e = mnt.CheckBeginWrite()
    if (e !== null) return e
    try {
      e = yield* this.copyUpLocked(ctx)
      if (e !== null) return e
      // Changes to d's attributes are serialized by d.copyMu.
      yield this.copyMu.Lock()
      try {
        if (this.fs.mutant === "lock-order-inversion" && this.parent !== null) {
          // Mutant: the parent's dirMu under this dentry's copyMu.
          yield this.parent.dirMu.Lock()
          this.parent.dirents = null
          yield this.parent.dirMu.Unlock()
        }
        e = yield* this.fs.vfs.SetStatAt(ctx, this.fs.creds, pop(this.upperVD!), opts)
        if (e !== null) return e
        this.updateAfterSetStatLocked(opts)
        return null
      } finally {
        yield this.copyMu.Unlock()
      }
    } finally {
      mnt.EndWrite()
    }
  }

  // -------------------------------------------------------------------------
  // Copy-up (copy_up.go).

  canBeCopiedUp(): boolean {
    switch (this.mode & S_IFMT) {
      case S_IFREG:
      case S_IFDIR:
      case S_IFLNK:
      case S_IFCHR:
      case 0o060000 /* S_IFBLK */:
        return true
      default:
        // FIFOs and sockets can't be copied up.
        return false
    }
  }

  /**
   * copyUpLocked ensures that d exists on the upper layer, i.e. d.upperVD
   * is set: its ancestors first, then d itself under d.copyMu.
   *
   * Precondition: filesystem.renameMu is locked.
   */
  *copyUpLocked(ctx: Ctx): Sim<Err> {
    // Fast path.
    if (yield* this.copiedUpAtomic()) return null
    // The layers are acted on with the filesystem's credentials (gVisor
    // attaches them to ctx, since some VFS methods take them from there).
    const fs = this.fs
    const fctx: Ctx = { ...ctx, creds: fs.creds }
    if (!this.canBeCopiedUp()) return "EPERM"
    // Ensure that our parent directory is copied up.
    if (this.parent === null) {
      // d is a filesystem root with no upper layer.
      return "EROFS"
    }
    // Mutant copy-up-child-first: the ancestors are not copied up first.
    const childFirst = fs.mutant === "copy-up-child-first"
    if (!childFirst) {
      const perr = yield* this.parent.copyUpLocked(ctx)
      if (perr !== null) return perr
    } else if (fs.opts.UpperRoot === null) return "EROFS"

    yield this.copyMu.Lock()
    let mapsMuLocked = false
    try {
      if (this.upperVD !== null) {
        // Raced with another call to d.copyUpLocked().
        fs.mark("overlay.copyup.raced", this)
        return null
      }
      if (this.vfsd.IsDead()) {
        // Raced with deletion of d.
        // (fsim: logged, so that findings.ts tells this finding, copy-up-races-deletion, from other failures.)
        const log = fs.sched.log
        if (log.enabled) log.add({ seq: log.nextSeq, kind: "cache", thread: ctx.thread, cache: "overlay.copyUp", what: "raced-deletion", key: this.pathForLog() })
        fs.mark("overlay.copyup.raced-deletion", this)
        return "ENOENT"
      }

      // Obtain settable timestamps from the lower layer.
      const vfsObj = fs.vfs
      const oldpop = pop(this.lowerVDs[0]!)
      const [oldStat, serr] = yield* vfsObj.StatAt(fctx, fs.creds, oldpop, {})
      if (serr !== null || oldStat === null) return serr ?? "EIO"
      const timestampsMask = STATX_ATIME | STATX_MTIME
      const times = { mask: timestampsMask, atime: oldStat.atime, mtime: oldStat.mtime }

      // Perform copy-up.
      const ftype = this.mode & S_IFMT
      // (Mutant copy-up-child-first: by its path from the upper root, which
      // the layer resolves only if every ancestor is there already.)
      const newpop = childFirst ? pop(fs.opts.UpperRoot!, this.pathForLog().slice(1)) : pop(this.parent.upperVD!, this.name)
      const d = this
      const cleanupUndoCopyUp = function* (): Sim<void> {
        const e = ftype === S_IFDIR ? yield* vfsObj.RmdirAt(fctx, fs.creds, newpop) : yield* vfsObj.UnlinkAt(fctx, fs.creds, newpop)
        if (e !== null) panic(`unrecoverable overlayfs inconsistency: failed to delete upper layer file after copy-up error: ${e} (${d.pathForLog()})`)
        if (d.upperVD !== null) {
          yield* d.upperVD.DecRef(fctx)
          d.upperVD = null
        }
      }
      if (ftype === S_IFREG) fs.mark("overlay.copyup.regular-file", this)
      else if (ftype === S_IFDIR) fs.mark("overlay.copyup.directory", this)
      else if (ftype === S_IFLNK) fs.mark("overlay.copyup.symlink", this)
      switch (ftype) {
        case S_IFREG: {
          const [oldFD, oerr] = yield* vfsObj.OpenAt(fctx, fs.creds, pop(this.lowerVDs[0]!), { Flags: O_RDONLY, Mode: 0 })
          if (oerr !== null || oldFD === null) return oerr ?? "EIO"
          try {
            // d.mode can be read because d.copyMu is locked.
            const [newFD, nerr] = yield* vfsObj.OpenAt(fctx, fs.creds, newpop, {
              Flags: O_WRONLY | O_CREAT | O_EXCL,
              Mode: this.mode & ~S_IFMT,
            })
            if (nerr !== null || newFD === null) return nerr ?? "EIO"
            try {
              const cerr = yield* CopyRegularFileData(fctx, newFD, oldFD, fs.mutant === "copy-up-short")
              if (cerr !== null) {
                yield* cleanupUndoCopyUp()
                return cerr
              }
              yield this.mapsMu.Lock()
              mapsMuLocked = true
              // (No memory mappings of the lower file to switch: not ported.)
              const e = yield* newFD.SetStat(fctx, {
                // d.uid and d.gid can be read because d.copyMu is locked.
                Stat: setStatRequest({ ...times, mask: STATX_UID | STATX_GID | times.mask, uid: this.uid, gid: this.gid }),
              })
              if (e !== null) {
                yield* cleanupUndoCopyUp()
                return e
              }
              this.upperVD = newFD.VirtualDentry()
              yield* this.upperVD.IncRef()
            } finally {
              yield* newFD.DecRef(fctx)
            }
          } finally {
            yield* oldFD.DecRef(fctx)
          }
          break
        }

        case S_IFDIR: {
          let e = yield* vfsObj.MkdirAt(fctx, fs.creds, newpop, { Mode: this.mode & ~S_IFMT })
          if (e !== null) return e
          e = yield* layerSetStatAt(fctx, vfsObj, fs.creds, newpop, setStatRequest({ ...times, mask: STATX_UID | STATX_GID | times.mask, uid: this.uid, gid: this.gid }))
          if (e !== null) {
            yield* cleanupUndoCopyUp()
            return e
          }
          const [upperVD, gerr] = yield* vfsObj.GetDentryAt(fctx, fs.creds, newpop, {})
          if (gerr !== null || upperVD === null) {
            yield* cleanupUndoCopyUp()
            return gerr ?? "EIO"
          }
          this.upperVD = upperVD
          break
        }

        case S_IFLNK: {
          const [target, rerr] = yield* vfsObj.ReadlinkAt(fctx, fs.creds, oldpop)
          if (rerr !== null) return rerr
          let e = yield* vfsObj.SymlinkAt(fctx, fs.creds, newpop, target)
          if (e !== null) return e
          // d.{uid,gid,mode} can be read because d.copyMu is locked.
          // gVisor sets the symlink's mode too (STATX_MODE); fsim's tmpfs
          // refuses to chmod a symlink as Linux does (EOPNOTSUPP), and a
          // symlink's mode is 0777 on both layers anyway, so that part is
          // not sent.
          e = yield* layerSetStatAt(fctx, vfsObj, fs.creds, newpop, setStatRequest({ ...times, mask: STATX_UID | STATX_GID | times.mask, mode: this.mode & ~S_IFMT, uid: this.uid, gid: this.gid }))
          if (e !== null) {
            yield* cleanupUndoCopyUp()
            return e
          }
          const [upperVD, gerr] = yield* vfsObj.GetDentryAt(fctx, fs.creds, newpop, {})
          if (gerr !== null || upperVD === null) {
            yield* cleanupUndoCopyUp()
            return gerr ?? "EIO"
          }
          this.upperVD = upperVD
          break
        }

        case 0o060000 /* S_IFBLK */:
        case S_IFCHR: {
          const rdev = rdevOf(oldStat)
          let e = yield* vfsObj.MknodAt(fctx, fs.creds, newpop, { Mode: this.mode, DevMajor: rdev.major, DevMinor: rdev.minor })
          if (e !== null) return e
          e = yield* layerSetStatAt(fctx, vfsObj, fs.creds, newpop, setStatRequest({ ...times, mask: STATX_UID | STATX_GID | times.mask, uid: this.uid, gid: this.gid }))
          if (e !== null) {
            yield* cleanupUndoCopyUp()
            return e
          }
          const [upperVD, gerr] = yield* vfsObj.GetDentryAt(fctx, fs.creds, newpop, {})
          if (gerr !== null || upperVD === null) {
            yield* cleanupUndoCopyUp()
            return gerr ?? "EIO"
          }
          this.upperVD = upperVD
          break
        }

        default:
          // Should have been rejected at the beginning of this function.
          panic(`unexpected file type ${ftype.toString(8)}`)
      }

      const xerr = yield* this.copyXattrsLocked(fctx)
      if (xerr !== null) {
        yield* cleanupUndoCopyUp()
        return xerr
      }

      // Update the dentry's device and inode numbers (except for
      // directories, for which these remain overlay-assigned).
      if (ftype !== S_IFDIR) {
        const [upperStat, uerr] = yield* vfsObj.StatAt(fctx, fs.creds, pop(this.upperVD!), {})
        if (uerr !== null || upperStat === null) {
          yield* cleanupUndoCopyUp()
          return uerr ?? "EIO"
        }
        this.devMajor = upperStat.devMajor
        this.devMinor = upperStat.devMinor
        this.ino = upperStat.ino
      }

      yield ATOMIC
      this.copiedUp = true
      return null
    } finally {
      if (mapsMuLocked) yield this.mapsMu.Unlock()
      yield this.copyMu.Unlock()
    }
  }

  /**
   * copyXattrsLocked copies the lower file's extended attributes to the
   * upper one, except those that configure an overlay.
   * Precondition: d.copyMu is locked for writing.
   */
  *copyXattrsLocked(ctx: Ctx): Sim<Err> {
    const fs = this.fs
    const vfsObj = fs.vfs
    const lowerPop = pop(this.lowerVDs[0]!)
    const upperPop = pop(this.upperVD!)
    // (vfs.ListXattrAt turns EOPNOTSUPP into no names, as gVisor's does.)
    const [lowerXattrs, lerr] = yield* vfsObj.ListXattrAt(ctx, fs.creds, lowerPop, 0)
    if (lerr !== null) return lerr
    for (const name of lowerXattrs) {
      // Do not copy up overlay attributes.
      if (isOverlayXattr(name)) continue
      // gVisor asks with Size 0 ("no limit" at the VFS level); fsim's layers
      // take the size literally, so the largest value is asked for.
      const [value, gerr] = yield* vfsObj.GetXattrAt(ctx, fs.creds, lowerPop, name, XATTR_SIZE_MAX)
      if (gerr !== null) return gerr
      const serr = yield* vfsObj.SetXattrAt(ctx, fs.creds, upperPop, { Name: name, Value: value, Flags: 0 })
      if (serr !== null) return serr
    }
    return null
  }

  /**
   * copyUpDescendantsLocked ensures that all descendants of d are copied up
   * (before d is renamed on the upper layer).
   *
   * Preconditions: filesystem.renameMu is locked; d.dirMu is locked (gVisor's
   * RenameAt calls this on the renamed directory without locking its dirMu:
   * renameMu locked for writing is what keeps its children stable there);
   * d.isDir().
   */
  *copyUpDescendantsLocked(ctx: Ctx, ds: DentryList): Sim<Err> {
    const [dirents, err] = yield* this.getDirentsLocked(ctx)
    if (err !== null || dirents === null) return err ?? "EIO"
    for (const dirent of dirents) {
      if (dirent.Name === "." || dirent.Name === "..") continue
      this.fs.mark("overlay.copyup.descendants", this, dirent.Name)
      const [child, , cerr] = yield* this.fs.getChildLocked(ctx, this, dirent.Name, ds)
      if (cerr !== null || child === null) return cerr ?? "EIO"
      const uerr = yield* child.copyUpLocked(ctx)
      if (uerr !== null) return uerr
      if (child.isDir()) {
        yield child.dirMu.Lock()
        let e: Err
        try {
          e = yield* child.copyUpDescendantsLocked(ctx, ds)
        } finally {
          yield child.dirMu.Unlock()
        }
        if (e !== null) return e
      }
    }
    return null
  }

  // -------------------------------------------------------------------------
  // Directories (directory.go).

  /**
   * collectWhiteoutsForRmdirLocked: the whiteouts in every layer of the
   * directory d (name -> whether it is on the upper layer), or ENOTEMPTY if
   * any layer holds a file that is not a whiteout.
   * Preconditions: d.dirMu is locked; d.isDir().
   */
  *collectWhiteoutsForRmdirLocked(ctx: Ctx): Sim<[Map<string, boolean>, Err]> {
    const fs = this.fs
    const vfsObj = fs.vfs
    const whiteouts = new Map<string, boolean>()
    for (const { vd: layerVD, isUpper } of this.layers()) {
      const [layerFD, oerr] = yield* vfsObj.OpenAt(ctx, fs.creds, pop(layerVD), { Flags: O_RDONLY | O_DIRECTORY, Mode: 0 })
      if (oerr !== null || layerFD === null) return [whiteouts, oerr ?? "EIO"]
      const maybeWhiteouts: string[] = []
      try {
        const [ents, ierr] = yield* layerFD.IterDirents(ctx)
        if (ierr !== null) return [whiteouts, ierr]
        for (const dirent of ents) {
          if (dirent.Name === "." || dirent.Name === "..") continue
          // Whited out in a previous layer.
          if (whiteouts.has(dirent.Name)) continue
          if (dirent.Type === DT_CHR) {
            // Whether this is a whiteout (which doesn't count against the
            // directory's emptiness) can't be found out while holding
            // locks held by layerFD.IterDirents().
            maybeWhiteouts.push(dirent.Name)
            continue
          }
          // A non-whiteout file in the directory prevents rmdir.
          return [whiteouts, "ENOTEMPTY"]
        }
      } finally {
        yield* layerFD.DecRef(ctx)
      }
      for (const maybeWhiteoutName of maybeWhiteouts) {
        const [stat, serr] = yield* vfsObj.StatAt(ctx, fs.creds, pop(layerVD, maybeWhiteoutName), {})
        if (serr !== null || stat === null) return [whiteouts, serr ?? "EIO"]
        const rdev = rdevOf(stat)
        if (rdev.major !== 0 || rdev.minor !== 0) {
          // A real character device, not a whiteout.
          return [whiteouts, "ENOTEMPTY"]
        }
        whiteouts.set(maybeWhiteoutName, isUpper)
      }
      // Continue: no non-whiteout file in this layer yet.
    }
    return [whiteouts, null]
  }

  /** getDirents: the merged entries of directory d. Precondition: d.isDir(). */
  *getDirents(ctx: Ctx): Sim<[Dirent[] | null, Err]> {
    const fs = this.fs
    yield fs.renameMu.RLock()
    try {
      yield this.dirMu.Lock()
      try {
        return yield* this.getDirentsLocked(ctx)
      } finally {
        yield this.dirMu.Unlock()
      }
    } finally {
      yield fs.renameMu.RUnlock()
    }
  }

  /**
   * getDirentsLocked merges the entries of every layer of d: a name comes
   * from the topmost layer that has it, whiteouts are left out, and the
   * result is cached in d.dirents for later directoryFDs.
   * Preconditions: fs.renameMu and d.dirMu are locked; d.isDir().
   */
  *getDirentsLocked(ctx: Ctx): Sim<[Dirent[] | null, Err]> {
    if (this.dirents !== null) {
      this.fs.mark("overlay.readdir.cache-hit", this)
      return [this.dirents, null]
    }
    const parent = this.parent ?? this
    const dirents: Dirent[] = [
      { Name: ".", Type: DT_DIR, Ino: this.ino, NextOff: 1 },
      { Name: "..", Type: (parent.mode >>> 12) & 0xf, Ino: parent.ino, NextOff: 2 },
    ]
    // Merge dirents from all layers comprising this directory.
    const fs = this.fs
    const vfsObj = fs.vfs
    // Name -> type of the entry listed for it (gVisor keeps a set: the type is fsim's, for the mark below).
    const prevDirents = new Map<string, number>()
    for (const { vd: layerVD } of this.layers()) {
      const [layerFD, oerr] = yield* vfsObj.OpenAt(ctx, fs.creds, pop(layerVD), { Flags: O_RDONLY | O_DIRECTORY, Mode: 0 })
      if (oerr !== null || layerFD === null) return [null, oerr ?? "EIO"]
      const maybeWhiteouts: Dirent[] = []
      try {
        const [ents, ierr] = yield* layerFD.IterDirents(ctx)
        if (ierr !== null) return [null, ierr]
        for (const dirent of ents) {
          if (dirent.Name === "." || dirent.Name === "..") continue
          // Hidden by, or merged with, a file of the same name in a previous layer.
          const prevType = prevDirents.get(dirent.Name)
          if (prevType !== undefined) {
            if (prevType !== dirent.Type && prevType !== DT_CHR) fs.mark("overlay.readdir.type-shadowed", this, dirent.Name)
            continue
          }

          prevDirents.set(dirent.Name, dirent.Type)
          if (dirent.Type === DT_CHR && fs.mutant !== "whiteout-visible") {
            // Whether it is a whiteout can't be found out while holding
            // locks held by layerFD.IterDirents().
            maybeWhiteouts.push(dirent)
            continue
          }
          dirents.push({ ...dirent, NextOff: dirents.length + 1 })
        }
      } finally {
        yield* layerFD.DecRef(ctx)
      }
      for (const dirent of maybeWhiteouts) {
        const [stat, serr] = yield* vfsObj.StatAt(ctx, fs.creds, pop(layerVD, dirent.Name), {})
        if (serr !== null || stat === null) return [null, serr ?? "EIO"]
        const rdev = rdevOf(stat)
        // A whiteout: no dirent for it.
        if (rdev.major === 0 && rdev.minor === 0) {
          fs.mark("overlay.readdir.whiteout-hidden", this, dirent.Name)
          continue
        }

        dirents.push({ ...dirent, NextOff: dirents.length + 1 })
      }
    }
    // Cache dirents for future directoryFDs.
    this.dirents = dirents
    return [dirents, null]
  }
}

/**
 * vfs.CopyRegularFileData: copies all of src's data to dst, by positional
 * reads and writes of up to 64 KiB (gVisor's loop reads and writes through
 * the descriptions' offsets, which are 0 here, fresh as both are).
 * `short` is the mutant copy-up-short: the last chunk is dropped.
 */
export function* CopyRegularFileData(ctx: Ctx, dst: FileDescription, src: FileDescription, short: boolean): Sim<Err> {
  const chunk = 65536
  let off = 0
  for (let i = 0; ; i++) {
    if (i > 1 << 20) panic("overlay.CopyRegularFileData: no end of file")
    const [data, rerr] = yield* src.PRead(ctx, chunk, off)
    if (rerr !== null) return rerr
    if (data.length === 0) return null
    if (short && data.length < chunk) return null
    let done = 0
    while (done < data.length) {
      const [n, werr] = yield* dst.PWrite(ctx, data.slice(done), off + done)
      if (werr !== null) return werr
      if (n <= 0) return "EIO"
      done += n
    }
    off += data.length
  }
}
