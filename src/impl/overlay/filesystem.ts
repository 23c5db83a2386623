// overlay.filesystem: gVisor's pkg/sentry/fsimpl/overlay (the seed
// overlay.go for the filesystem, its creation and its lock order;
// filesystem.go for every path operation), ported to simulated threads.
// The overlay composes one or more immutable filesystems ("lower layers")
// with an optional mutable one ("upper layer"), reaching every layer only
// through the VFS.
//
// Lock order (the seed's package comment; declared to the lock-order
// checker as OVERLAY_LOCK_ORDER):
//
//   directoryFD.mu / regularFileFD.mu
//     filesystem.renameMu
//       dentry.dirMu
//         dentry.copyMu
//           *** "memmap.Mappable locks" below this point
//           dentry.mapsMu
//             *** "memmap.Mappable locks taken by Translate" below this point
//             dentry.dataMu
//
// Locking dentry.dirMu in multiple dentries requires that parent dentries
// are locked before child dentries, and that filesystem.renameMu is locked
// to stabilize this relationship.
//
// Versions: the seed overlay.go is gVisor's of late 2020; filesystem.go is
// the early-2021 version that implements rename (the seed's own era still
// returned EXDEV for every rename: "FIXME(gvisor.dev/issue/1199): Actually
// implement rename"); copy_up.go, directory.go and regular_file.go are
// the versions that go with it (README.md, mapping table).

import type { Cred, Errno } from "../../model/types.js"
import type { LockOrderSpec } from "../../sim/lockorder.js"
import { ATOMIC, type Scheduler, type Sim } from "../../sim/scheduler.js"
import { RWMutex } from "../../sim/sync.js"
import { logMark } from "../../sim/marks.js"
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
import { O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, S_IFCHR, S_IFDIR, S_IFMT } from "../vfs/linux.js"
import type { Filesystem, Mount, VirtualDentry } from "../vfs/mount.js"
import {
  AccessTypesForOpenFlags,
  MayExec,
  MayWrite,
  STATX_GID,
  STATX_UID,
  type AccessTypes,
} from "../vfs/permissions.js"
import type { ResolvingPath } from "../vfs/resolving_path.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import {
  appendDentry,
  dentry,
  existsInOverlay,
  isOverlayXattr,
  isWhiteout,
  lookupLayer,
  pop,
  setStatRequest,
  UNNAMED_MAJOR,
  _OVL_XATTR_OPAQUE,
  type DentryList,
} from "./dentry.js"
import type { OverlayMark } from "./marks.js"
import type { OverlayMutant } from "./mutants.js"
import { regularFileFD } from "./regular_file.js"

/** The seed's lock order, and the dirMu nesting rule its comment states. */
export const OVERLAY_LOCK_ORDER: LockOrderSpec = {
  owner: "overlay",
  prefix: "overlay.",
  tree: `
regularFileFD/directoryFD.mu
  filesystem.renameMu
    dentry.dirMu
      dentry.copyMu
        *** "memmap.Mappable locks" below this point
        dentry.mapsMu
          *** "memmap.Mappable locks taken by Translate" below this point
          dentry.dataMu
`,
  // "Locking dentry.dirMu in multiple dentries requires that parent dentries
  // are locked before child dentries, and that filesystem.renameMu is locked
  // to stabilize this relationship." RenameAt locks the old and the new
  // parent, in whatever relation they are, with renameMu locked for writing.
  sameClass: [
    {
      class: "overlay.dentry.dirMu",
      order: "ancestor-first",
      requiresHeld: { class: "overlay.filesystem.renameMu" },
      unlessHeld: { class: "overlay.filesystem.renameMu", mode: "w" },
    },
  ],
}

/** Name is the default filesystem name. */
export const Name = "overlay"

/** linux.OVERLAYFS_SUPER_MAGIC. */
export const OVERLAYFS_SUPER_MAGIC = 0x794c7630

/** FilesystemOptions, passed as vfs.GetFilesystemOptions.InternalData. */
export interface FilesystemOptions {
  /**
   * The root of the writable upper layer, or null. The caller ensures that
   * the layers' mounts contain no submounts.
   */
  readonly UpperRoot: VirtualDentry | null
  /** The roots of the immutable lower layers, top first. */
  readonly LowerRoots: readonly VirtualDentry[]
}

/**
 * Anonymous block device minors, one counter per VirtualFilesystem
 * (gVisor's VirtualFilesystem.GetAnonBlockDevMinor; fsim's VFS has none, so
 * the overlay keeps it beside the VFS). Freed minors are reused lowest
 * first, as gVisor's allocator does.
 */
const anonDevMinors = new WeakMap<VirtualFilesystem, { next: number; free: number[] }>()

export function GetAnonBlockDevMinor(vfsObj: VirtualFilesystem): number {
  let a = anonDevMinors.get(vfsObj)
  if (a === undefined) {
    // Past the minors fsim's other filesystems use as constants.
    a = { next: 16, free: [] }
    anonDevMinors.set(vfsObj, a)
  }
  if (a.free.length > 0) {
    a.free.sort((x, y) => x - y)
    return a.free.shift()!
  }
  return a.next++
}

export function PutAnonBlockDevMinor(vfsObj: VirtualFilesystem, minor: number): void {
  anonDevMinors.get(vfsObj)?.free.push(minor)
}

export class filesystem implements FilesystemImpl {
  vfsfs!: Filesystem
  readonly sched: Scheduler
  root: dentry | null = null

  /**
   * renameMu synchronizes renaming with non-renaming operations in order to
   * ensure consistent lock ordering between dentry.dirMu in different
   * dentries.
   */
  readonly renameMu: RWMutex

  /** The last inode number assigned to a directory. Atomic. */
  lastDirIno = 0

  /** Set once Release has run. */
  released = false

  /**
   * Every dentry not yet destroyed, in creation order (fsim's bookkeeping
   * for the invariants; gVisor keeps no such set).
   */
  readonly live = new Set<dentry>()

  /** Warnings gVisor would log (ctx.Infof, ctx.Warningf). */
  readonly warnings: string[] = []

  constructor(
    readonly vfs: VirtualFilesystem,
    /** Immutable options. */
    readonly opts: FilesystemOptions,
    /** A copy of the creator's credentials, used for accesses to the layers. Immutable. */
    readonly creds: Cred,
    /** The device minor number used for directories. Immutable. */
    readonly dirDevMinor: number,
    /** Lower layer filesystems to the device minors of non-directories from them. Immutable. */
    readonly lowerDevMinors: ReadonlyMap<Filesystem, number>,
    readonly mutant: OverlayMutant | null,
  ) {
    this.sched = vfs.sched
    this.renameMu = new RWMutex(this.sched, "overlay.filesystem.renameMu")
  }

  rootOrNull(): dentry | null {
    return this.root
  }

  warn(msg: string): void {
    this.warnings.push(msg)
  }

  /** Logs coverage mark `name` at d (its child `child`, if given): costs nothing more when the log is off. */
  mark(name: OverlayMark, d?: dentry, child?: string): void {
    if (!this.sched.log.enabled) return
    logMark(this.sched, name, d === undefined ? undefined : () => (child === undefined ? d.pathForLog() : `${d.pathForLog()}/${child}`))
  }

  /**
   * newDentry: a dentry with no references and no layers; the caller sets
   * its references and layers, or destroys it.
   */
  newDentry(): dentry {
    const d = new dentry(this)
    this.live.add(d)
    return d
  }

  onDestroyed(d: dentry): void {
    this.live.delete(d)
  }

  newDirIno(): number {
    return ++this.lastDirIno
  }

  /** Release: the device minors and the filesystem's references on the layers' roots. */
  *Release(ctx: Ctx): Sim<void> {
    const vfsObj = this.vfs
    PutAnonBlockDevMinor(vfsObj, this.dirDevMinor)
    for (const m of this.lowerDevMinors.values()) PutAnonBlockDevMinor(vfsObj, m)
    if (this.opts.UpperRoot !== null) yield* this.opts.UpperRoot.DecRef(ctx)
    for (const lowerRoot of this.opts.LowerRoots) yield* lowerRoot.DecRef(ctx)
    this.released = true
  }

  /** statFS: always of the root of the topmost layer (compare Linux's fs/overlayfs/super.c:ovl_statfs()). */
  *statFS(ctx: Ctx): Sim<[Statfs | null, Err]> {
    const rootVD = this.opts.UpperRoot ?? this.opts.LowerRoots[0]!
    const [fsstat, err] = yield* this.vfs.StatFSAt(ctx, this.creds, pop(rootVD))
    if (err !== null || fsstat === null) return [null, err ?? "EIO"]
    return [{ ...fsstat, type: OVERLAYFS_SUPER_MAGIC }, null]
  }

  /** Sync: of the upper layer's filesystem (the lower layers never change). */
  *Sync(ctx: Ctx): Sim<Errno | null> {
    if (this.opts.UpperRoot !== null) return yield* this.opts.UpperRoot.Mount().Filesystem().impl.Sync(ctx)
    return null
  }

  // -------------------------------------------------------------------------
  // The deferred drops.

  /**
   * renameMuRUnlockAndCheckDrop unlocks renameMu (read), then runs
   * checkDropLocked on the dentries of ds with renameMu locked for writing
   * (only if one of them has no references left).
   */
  *renameMuRUnlockAndCheckDrop(ctx: Ctx, ds: DentryList): Sim<void> {
    yield this.renameMu.RUnlock()
    const list = ds.list
    ds.list = null
    if (list === null) return
    // Only go through checkDropLocked (which needs renameMu again) if a
    // dentry actually has no references.
    let checkAny = false
    for (const d of list) {
      yield ATOMIC
      if (d.refs === 0) {
        checkAny = true
        break
      }
    }
    if (!checkAny) return
    yield this.renameMu.Lock()
    try {
      for (const d of list) yield* d.checkDropLocked(ctx)
    } finally {
      yield this.renameMu.Unlock()
    }
  }

  *renameMuUnlockAndCheckDrop(ctx: Ctx, ds: DentryList): Sim<void> {
    const list = ds.list
    ds.list = null
    try {
      if (list !== null) for (const d of list) yield* d.checkDropLocked(ctx)
    } finally {
      yield this.renameMu.Unlock()
    }
  }

  // -------------------------------------------------------------------------
  // Path resolution.

  /**
   * stepLocked resolves rp.Component() to an existing file, from directory
   * d. Dentries that may have no references (and so must be dropped once
   * traversal is complete) are appended to ds.
   * Preconditions: fs.renameMu and d.dirMu are locked; !rp.Done().
   */
  *stepLocked(ctx: Ctx, rp: ResolvingPath, d: dentry, mayFollowSymlinks: boolean, ds: DentryList): Sim<[dentry | null, lookupLayer, VfsErr]> {
    if (!d.isDir()) return [null, lookupLayer.None, "ENOTDIR"]
    const e = d.checkPermissions(rp.Credentials(), MayExec)
    if (e !== null) return [null, lookupLayer.None, e]
    for (let guard = 0; ; guard++) {
      if (guard > 64) panic("overlay.stepLocked: symlink loop not caught by HandleSymlink")
      const name = rp.Component()
      if (name === ".") {
        rp.Advance()
        return [d, d.topLookupLayer(), null]
      }
      if (name === "..") {
        const [isRoot, rerr] = rp.CheckRoot(d.vfsd)
        if (rerr !== null) return [null, lookupLayer.None, rerr]
        if (isRoot || d.parent === null) {
          rp.Advance()
          return [d, d.topLookupLayer(), null]
        }
        const merr = rp.CheckMount(d.parent.vfsd)
        if (merr !== null) return [null, lookupLayer.None, merr]
        rp.Advance()
        return [d.parent, d.parent.topLookupLayer(), null]
      }
      const [child, topLookupLayer, err] = yield* this.getChildLocked(ctx, d, name, ds)
      if (err !== null || child === null) return [null, topLookupLayer, err ?? "EIO"]
      const merr = rp.CheckMount(child.vfsd)
      if (merr !== null) return [null, lookupLayer.None, merr]
      if (child.isSymlink() && mayFollowSymlinks && rp.ShouldFollowSymlink()) {
        const [target, lerr] = yield* child.readlink(ctx)
        if (lerr !== null) return [null, lookupLayer.None, lerr]
        const herr = rp.HandleSymlink(target)
        if (herr !== null) return [null, topLookupLayer, herr]
        continue // don't check the current directory again
      }
      rp.Advance()
      return [child, topLookupLayer, null]
    }
  }

  /** Preconditions: fs.renameMu and parent.dirMu are locked. */
  *getChildLocked(ctx: Ctx, parent: dentry, name: string, ds: DentryList): Sim<[dentry | null, lookupLayer, Err]> {
    const cached = parent.children?.get(name)
    if (cached !== undefined) return [cached, cached.topLookupLayer(), null]
    const [child, topLookupLayer, err] = yield* this.lookupLocked(ctx, parent, name)
    if (err !== null || child === null) return [null, topLookupLayer, err ?? "EIO"]
    ;(parent.children ??= new Map()).set(name, child)
    // child's refcount is initially 0, so it may be dropped after traversal.
    appendDentry(ds, child)
    return [child, topLookupLayer, null]
  }

  /**
   * lookupLocked builds the dentry of parent's child `name` from the layers
   * of parent, top to bottom: a whiteout hides the layers below it; a
   * non-directory is the file, hiding what is below; directories merge
   * down to the first opaque one, and stop at a non-directory below them.
   * Preconditions: fs.renameMu and parent.dirMu are locked.
   */
  *lookupLocked(ctx: Ctx, parent: dentry, name: string): Sim<[dentry | null, lookupLayer, Err]> {
    const child = this.newDentry()
    let topLookupLayer = lookupLayer.None
    let lookupErr: Err = null
    const vfsObj = this.vfs
    // (fsim: a lookup in a removed directory, which gVisor does not refuse,
    // is logged, so that findings.ts tells the finding
    // lookup-in-removed-directory from other failures.)
    if (parent.vfsd.IsDead()) {
      const log = this.sched.log
      if (log.enabled) log.add({ seq: log.nextSeq, kind: "cache", thread: ctx.thread, cache: "overlay.lookup", what: "removed-parent", key: `${parent.pathForLog()}/${name}` })
      this.mark("overlay.lookup.removed-parent", parent, name)
    }

    for (const { vd: parentVD, isUpper } of parent.layers()) {
      const [childVD, err] = yield* vfsObj.GetDentryAt(ctx, this.creds, pop(parentVD, name), {})
      if (err === "ENOENT" || err === "ENAMETOOLONG") {
        // The file doesn't exist on this layer. Proceed to the next one.
        continue
      }
      if (err !== null || childVD === null) {
        lookupErr = err ?? "EIO"
        break
      }
      // Mutant ref-leak-on-error: childVD is kept.
      let leak = false
      // gVisor's iterLayers callback: true to go on to the next layer.
      const fs = this
      const visit = function* (): Sim<boolean> {
        // Mode, owner and (for non-directories) inode number come from the
        // topmost layer on which the file exists.
        const [stat, serr] = yield* vfsObj.StatAt(ctx, fs.creds, pop(childVD), {})
        if (serr !== null || stat === null) {
          lookupErr = serr ?? "EIO"
          if (fs.mutant === "ref-leak-on-error") leak = true
          return false
        }
        if (isWhiteout(stat)) {
          // A whiteout: the file "doesn't exist" on this layer, and layers
          // below this one are ignored.
          // (Mutant ref-leak-on-error: where that fails the lookup.)
          if (topLookupLayer === lookupLayer.None && fs.mutant === "ref-leak-on-error") leak = true
          if (isUpper) {
            fs.mark("overlay.lookup.upper-whiteout", parent, name)
            topLookupLayer = lookupLayer.UpperWhiteout
          }
          return false
        }
        const isDir = (stat.mode & S_IFMT) === S_IFDIR
        if (topLookupLayer !== lookupLayer.None && !isDir) {
          // Directories are not merged with non-directory files from lower
          // layers; layers including and below the first non-directory
          // are ignored. (This file must be a directory on previous
          // layers, since lower layers aren't searched for non-directories.)
          fs.mark("overlay.lookup.dir-hides-file", parent, name)
          return false
        }
        // Update child to include this layer.
        yield* childVD.IncRef()
        if (isUpper) {
          child.upperVD = childVD
          child.copiedUp = true
        } else child.lowerVDs.push(childVD)
        if (topLookupLayer === lookupLayer.None) {
          topLookupLayer = isUpper ? lookupLayer.Upper : lookupLayer.Lower
          child.mode = stat.mode
          child.uid = stat.uid
          child.gid = stat.gid
          child.devMajor = stat.devMajor
          child.devMinor = stat.devMinor
          child.ino = stat.ino
        }
        // For non-directory files, only the topmost layer that contains a
        // file matters.
        if (!isDir) return false
        // Directories are merged with directories from lower layers if
        // they are not explicitly opaque.
        const [opaqueVal, xerr] = yield* vfsObj.GetXattrAt(ctx, fs.creds, pop(childVD), _OVL_XATTR_OPAQUE, 1)
        const opaque = xerr === null && opaqueVal === "y"
        if (opaque && isUpper) fs.mark("overlay.lookup.opaque-dir", parent, name)
        return !opaque
      }
      let more: boolean
      try {
        more = yield* visit()
      } finally {
        if (!leak) yield* childVD.DecRef(ctx)
      }
      if (!more) break
    }

    if (lookupErr !== null) {
      yield* child.destroyLocked(ctx)
      return [null, topLookupLayer, lookupErr]
    }
    if (!existsInOverlay(topLookupLayer)) {
      yield* child.destroyLocked(ctx)
      return [null, topLookupLayer, "ENOENT"]
    }
    if (child.isDir() && (child.upperVD !== null ? 1 : 0) + child.lowerVDs.length > 1) this.mark("overlay.lookup.merged-dir", parent, name)

    // Device and inode numbers were copied from the topmost layer above;
    // override them if necessary.
    if (child.isDir()) {
      child.devMajor = UNNAMED_MAJOR
      child.devMinor = this.dirDevMinor
      child.ino = this.newDirIno()
    } else if (child.upperVD === null) {
      child.devMajor = UNNAMED_MAJOR
      child.devMinor = this.lowerDevMinors.get(child.lowerVDs[0]!.Mount().Filesystem())!
    }

    yield* parent.IncRef()
    child.parent = parent
    child.name = name
    return [child, topLookupLayer, null]
  }

  /**
   * lookupLayerLocked: like lookupLocked, but only where the file is.
   * Preconditions: fs.renameMu and parent.dirMu are locked.
   */
  *lookupLayerLocked(ctx: Ctx, parent: dentry, name: string): Sim<[lookupLayer, Err]> {
    for (const { vd: parentVD, isUpper } of parent.layers()) {
      const [stat, err] = yield* this.vfs.StatAt(ctx, this.creds, pop(parentVD, name), {})
      if (err === "ENOENT" || err === "ENAMETOOLONG") {
        // The file doesn't exist on this layer. Proceed to the next one.
        continue
      }
      if (err !== null || stat === null) return [lookupLayer.None, err ?? "EIO"]
      if (isWhiteout(stat)) {
        // A whiteout: the file "doesn't exist" on this layer, and layers
        // below this one are ignored.
        return [isUpper ? lookupLayer.UpperWhiteout : lookupLayer.None, null]
      }
      // The file exists; we can stop searching.
      return [isUpper ? lookupLayer.Upper : lookupLayer.Lower, null]
    }
    return [lookupLayer.None, null]
  }

  /**
   * walkParentDirLocked resolves all but the last component of rp to an
   * existing directory, from d. It does not check that the directory is
   * searchable by the provider of rp.
   * Preconditions: fs.renameMu is locked; !rp.Done().
   */
  *walkParentDirLocked(ctx: Ctx, rp: ResolvingPath, d: dentry, ds: DentryList): Sim<[dentry | null, VfsErr]> {
    while (!rp.Final()) {
      yield d.dirMu.Lock()
      let next: dentry | null
      let err: VfsErr
      try {
        ;[next, , err] = yield* this.stepLocked(ctx, rp, d, true /* mayFollowSymlinks */, ds)
      } finally {
        yield d.dirMu.Unlock()
      }
      if (err !== null || next === null) return [null, err ?? "EIO"]
      d = next
    }
    if (!d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /** resolveLocked resolves rp to an existing file. Precondition: fs.renameMu is locked. */
  *resolveLocked(ctx: Ctx, rp: ResolvingPath, ds: DentryList): Sim<[dentry | null, VfsErr]> {
    let d = rp.Start().Impl<dentry>()
    while (!rp.Done()) {
      yield d.dirMu.Lock()
      let next: dentry | null
      let err: VfsErr
      try {
        ;[next, , err] = yield* this.stepLocked(ctx, rp, d, true /* mayFollowSymlinks */, ds)
      } finally {
        yield d.dirMu.Unlock()
      }
      if (err !== null || next === null) return [null, err ?? "EIO"]
      d = next
    }
    if (rp.MustBeDir() && !d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /** Resolves rp with renameMu read-locked, runs `f` on the file, then drops what traversal left. */
  private *withResolved<T>(ctx: Ctx, rp: ResolvingPath, fail: T, f: (d: dentry) => Sim<[T, VfsErr]>): Sim<[T, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const [d, err] = yield* this.resolveLocked(ctx, rp, ds)
      if (err !== null || d === null) return [fail, err ?? "EIO"]
      return yield* f(d)
    } finally {
      yield* this.renameMuRUnlockAndCheckDrop(ctx, ds)
    }
  }

  // -------------------------------------------------------------------------
  // Creation.

  /**
   * doCreateAt checks that creating a file at rp is permitted, then invokes
   * create to do so.
   * Preconditions: !rp.Done(); for the final component, !rp.ShouldFollowSymlink().
   */
  private *doCreateAt(
    ctx: Ctx,
    rp: ResolvingPath,
    dir: boolean,
    create: (parent: dentry, name: string, haveUpperWhiteout: boolean) => Sim<Err>,
  ): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    // Go's `defer mnt.EndWrite()` after a successful CheckBeginWrite.
    let writing: Mount | null = null
    try {
      const start = rp.Start().Impl<dentry>()
      const [parent, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || parent === null) return err
      const mnt = rp.Mount()
      // (Mutant create-perm-before-exists: gVisor before dbe41765 asked for
      // write permission on the parent, and for a writable mount, before it
      // looked for an existing file, so EACCES or EROFS hid EEXIST.)
      const permFirst = this.mutant === "create-perm-before-exists"
      let e: Err = null
      if (permFirst) {
        e = parent.checkPermissions(rp.Credentials(), MayWrite | MayExec)
        if (e !== null) return e
      }
      const name = rp.Component()
      if (name === "." || name === "..") return "EEXIST"
      // (Mutant create-trailing-slash-enoent: gVisor before fe9442d3 refused
      // a non-directory's trailing slash here, before the existence check, so
      // mknod("a/") of an existing a said ENOENT instead of EEXIST.)
      if (this.mutant === "create-trailing-slash-enoent" && !dir && rp.MustBeDir()) return "ENOENT"
      if (parent.vfsd.IsDead()) return "ENOENT"
      if (permFirst) {
        e = mnt.CheckBeginWrite()
        if (e !== null) return e
        writing = mnt
      } else {
        e = parent.checkPermissions(rp.Credentials(), MayExec)
        if (e !== null) return e
      }

      yield parent.dirMu.Lock()
      try {
        // Determine if a file already exists at name.
        if (parent.children?.has(name) === true) return "EEXIST"
        const [childLayer, lerr] = yield* this.lookupLayerLocked(ctx, parent, name)
        if (lerr !== null) return lerr
        if (existsInOverlay(childLayer)) return "EEXIST"

        if (!dir && rp.MustBeDir()) return "ENOENT"

        if (!permFirst) {
          e = mnt.CheckBeginWrite()
          if (e !== null) return e
          writing = mnt
          e = parent.checkPermissions(rp.Credentials(), MayWrite | MayExec)
          if (e !== null) return e
        }
        // Ensure that the parent directory is copied up so that we can
        // create the new file in the upper layer.
        e = yield* parent.copyUpLocked(ctx)
        if (e !== null) return e
        // Finally create the new file.
        e = yield* create(parent, name, childLayer === lookupLayer.UpperWhiteout)
        if (e !== null) return e
        if (childLayer === lookupLayer.UpperWhiteout) this.mark("overlay.whiteout.replaced-by-create", parent, name)
        if (parent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", parent)
        if (this.mutant !== "dirents-stale-on-create") parent.dirents = null
        return null
      } finally {
        yield parent.dirMu.Unlock()
      }
    } finally {
      writing?.EndWrite()
      yield* this.renameMuRUnlockAndCheckDrop(ctx, ds)
    }
  }

  /** createWhiteout. Precondition: pop's parent directory has been copied up. */
  *createWhiteout(ctx: Ctx, p: ReturnType<typeof pop>): Sim<Err> {
    // Permissions == include/linux/fs.h:WHITEOUT_MODE == 0; DevMajor ==
    // DevMinor == 0, from include/linux/fs.h:WHITEOUT_DEV.
    const err = yield* this.vfs.MknodAt(ctx, this.creds, p, { Mode: S_IFCHR, DevMajor: 0, DevMinor: 0 })
    if (err === null) this.mark("overlay.whiteout.created")
    return err
  }

  *cleanupRecreateWhiteout(ctx: Ctx, p: ReturnType<typeof pop>): Sim<void> {
    const err = yield* this.createWhiteout(ctx, p)
    if (err !== null) panic(`unrecoverable overlayfs inconsistency: failed to recreate whiteout after failed file creation: ${err}`)
  }

  /**
   * The common tail of the creating callbacks: chown the new upper file to
   * the caller (`rmdir`: remove it with RmdirAt on failure), recreating the
   * whiteout it replaced if that fails too.
   */
  private *chownNewUpperFileLocked(ctx: Ctx, rp: ResolvingPath, p: ReturnType<typeof pop>, haveUpperWhiteout: boolean, rmdir: boolean, what: string): Sim<Err> {
    const creds = rp.Credentials()
    const err = yield* this.vfs.SetStatAt(ctx, this.creds, p, { Stat: setStatRequest({ mask: STATX_UID | STATX_GID, uid: creds.uid, gid: creds.gid }) })
    if (err === null) return null
    const cleanupErr = rmdir ? yield* this.vfs.RmdirAt(ctx, this.creds, p) : yield* this.vfs.UnlinkAt(ctx, this.creds, p)
    if (cleanupErr !== null) panic(`unrecoverable overlayfs inconsistency: failed to delete upper layer file after ${what} metadata update failure: ${cleanupErr}`)
    else if (haveUpperWhiteout) yield* this.cleanupRecreateWhiteout(ctx, p)
    return err
  }

  *AccessAt(ctx: Ctx, rp: ResolvingPath, creds: Cred, ats: AccessTypes): Sim<VfsErr> {
    const [, err] = yield* this.withResolved(ctx, rp, null, function* (d) {
      return [null, d.checkPermissions(creds, ats)] as [null, VfsErr]
    })
    return err
  }

  *GetDentryAt(ctx: Ctx, rp: ResolvingPath, opts: GetDentryOptions): Sim<[VfsDentry | null, VfsErr]> {
    return yield* this.withResolved<VfsDentry | null>(ctx, rp, null, function* (d) {
      if (opts.CheckSearchable === true) {
        if (!d.isDir()) return [null, "ENOTDIR"]
        const e = d.checkPermissions(rp.Credentials(), MayExec)
        if (e !== null) return [null, e]
      }
      yield* d.IncRef()
      return [d.vfsd, null]
    })
  }

  *GetParentDentryAt(ctx: Ctx, rp: ResolvingPath): Sim<[VfsDentry | null, VfsErr]> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    try {
      const start = rp.Start().Impl<dentry>()
      const [d, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || d === null) return [null, err]
      yield* d.IncRef()
      return [d.vfsd, null]
    } finally {
      yield* this.renameMuRUnlockAndCheckDrop(ctx, ds)
    }
  }

  *LinkAt(ctx: Ctx, rp: ResolvingPath, vd: VirtualDentry): Sim<VfsErr> {
    const fs = this
    return yield* this.doCreateAt(ctx, rp, false /* dir */, function* (parent, childName, haveUpperWhiteout) {
      if (rp.Mount() !== vd.Mount()) return "EXDEV"
      const old = vd.Dentry().Impl<dentry>()
      if (old.isDir()) return "EPERM"
      let e = yield* old.copyUpLocked(ctx)
      if (e !== null) return e
      const vfsObj = fs.vfs
      const newpop = pop(parent.upperVD!, childName)
      if (haveUpperWhiteout) {
        e = yield* vfsObj.UnlinkAt(ctx, fs.creds, newpop)
        if (e !== null) return e
      }
      e = yield* vfsObj.LinkAt(ctx, fs.creds, pop(old.upperVD!), newpop)
      if (e !== null) {
        if (haveUpperWhiteout) yield* fs.cleanupRecreateWhiteout(ctx, newpop)
        return e
      }
      return yield* fs.chownNewUpperFileLocked(ctx, rp, newpop, haveUpperWhiteout, false, "LinkAt")
    })
  }

  *MkdirAt(ctx: Ctx, rp: ResolvingPath, opts: MkdirOptions): Sim<VfsErr> {
    const fs = this
    return yield* this.doCreateAt(ctx, rp, true /* dir */, function* (parent, childName, haveUpperWhiteout) {
      const vfsObj = fs.vfs
      const p = pop(parent.upperVD!, childName)
      if (haveUpperWhiteout) {
        const e = yield* vfsObj.UnlinkAt(ctx, fs.creds, p)
        if (e !== null) return e
      }
      let e = yield* vfsObj.MkdirAt(ctx, fs.creds, p, opts)
      if (e !== null) {
        if (haveUpperWhiteout) yield* fs.cleanupRecreateWhiteout(ctx, p)
        return e
      }
      e = yield* fs.chownNewUpperFileLocked(ctx, rp, p, haveUpperWhiteout, true, "MkdirAt")
      if (e !== null) return e
      if (haveUpperWhiteout) {
        // There may be directories on lower layers (previously hidden by
        // the whiteout) that the new directory should not be merged with.
        // Mark it opaque to prevent merging.
        fs.mark("overlay.opaque.mkdir-over-whiteout", parent, childName)
        e = yield* vfsObj.SetXattrAt(ctx, fs.creds, p, { Name: _OVL_XATTR_OPAQUE, Value: "y", Flags: 0 })
        if (e !== null) {
          const cleanupErr = yield* vfsObj.RmdirAt(ctx, fs.creds, p)
          if (cleanupErr !== null) panic(`unrecoverable overlayfs inconsistency: failed to delete upper layer directory after MkdirAt set-opaque failure: ${cleanupErr}`)
          else yield* fs.cleanupRecreateWhiteout(ctx, p)
          return e
        }
      }
      return null
    })
  }

  *MknodAt(ctx: Ctx, rp: ResolvingPath, opts: MknodOptions): Sim<VfsErr> {
    const fs = this
    return yield* this.doCreateAt(ctx, rp, false /* dir */, function* (parent, childName, haveUpperWhiteout) {
      // Disallow attempts to create whiteouts.
      if ((opts.Mode & S_IFMT) === S_IFCHR && opts.DevMajor === 0 && opts.DevMinor === 0) return "EPERM"
      const vfsObj = fs.vfs
      const p = pop(parent.upperVD!, childName)
      if (haveUpperWhiteout) {
        const e = yield* vfsObj.UnlinkAt(ctx, fs.creds, p)
        if (e !== null) return e
      }
      const e = yield* vfsObj.MknodAt(ctx, fs.creds, p, opts)
      if (e !== null) {
        if (haveUpperWhiteout) yield* fs.cleanupRecreateWhiteout(ctx, p)
        return e
      }
      return yield* fs.chownNewUpperFileLocked(ctx, rp, p, haveUpperWhiteout, false, "MknodAt")
    })
  }

  *SymlinkAt(ctx: Ctx, rp: ResolvingPath, target: string): Sim<VfsErr> {
    const fs = this
    return yield* this.doCreateAt(ctx, rp, false /* dir */, function* (parent, childName, haveUpperWhiteout) {
      const vfsObj = fs.vfs
      const p = pop(parent.upperVD!, childName)
      if (haveUpperWhiteout) {
        const e = yield* vfsObj.UnlinkAt(ctx, fs.creds, p)
        if (e !== null) return e
      }
      const e = yield* vfsObj.SymlinkAt(ctx, fs.creds, p, target)
      if (e !== null) {
        if (haveUpperWhiteout) yield* fs.cleanupRecreateWhiteout(ctx, p)
        return e
      }
      return yield* fs.chownNewUpperFileLocked(ctx, rp, p, haveUpperWhiteout, false, "SymlinkAt")
    })
  }

  // -------------------------------------------------------------------------
  // Opening.

  *OpenAt(ctx: Ctx, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, VfsErr]> {
    const fs = this
    const mayCreate = (opts.Flags & O_CREAT) !== 0
    const mustCreate = (opts.Flags & (O_CREAT | O_EXCL)) === (O_CREAT | O_EXCL)
    const mayWrite = (AccessTypesForOpenFlags(opts.Flags, O_TRUNC) & MayWrite) !== 0 && this.mutant !== "write-lower"

    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    let unlocked = false
    const unlock = function* (): Sim<void> {
      if (!unlocked) {
        unlocked = true
        yield* fs.renameMuRUnlockAndCheckDrop(ctx, ds)
      }
    }
    try {
      let start = rp.Start().Impl<dentry>()
      // (Mutant open-ignores-trailing-slash: gVisor before 0ca0d8e0 made none
      // of the three checks of rp.MustBeDir() below: open("a/", O_CREAT)
      // created a regular file a, and open("f/") opened a regular file f.)
      const mustBeDirChecked = this.mutant !== "open-ignores-trailing-slash"
      if (rp.Done()) {
        if (mustBeDirChecked && mayCreate && rp.MustBeDir()) return [null, "EISDIR"]
        if (mustCreate) return [null, "EEXIST"]
        if (start.isRegularFile() && mayWrite) {
          const e = yield* start.copyUpLocked(ctx)
          if (e !== null) return [null, e]
        }
        yield* start.IncRef()
        try {
          yield* unlock()
          return yield* start.openCopiedUp(ctx, rp, opts)
        } finally {
          yield* start.DecRef(ctx)
        }
      }

      // afterTrailingSymlink:
      for (let guard = 0; ; guard++) {
        if (guard > 64) panic("overlay.OpenAt: symlink loop not caught by HandleSymlink")
        const [parent, perr] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
        if (perr !== null || parent === null) return [null, perr]
        // Check for search permission in the parent directory.
        const e = parent.checkPermissions(rp.Credentials(), MayExec)
        if (e !== null) return [null, e]
        // Reject attempts to open directories with O_CREAT.
        if (mustBeDirChecked && mayCreate && rp.MustBeDir()) return [null, "EISDIR"]
        // Determine whether or not we need to create a file.
        yield parent.dirMu.Lock()
        let child: dentry | null
        let topLookupLayer: lookupLayer
        let err: VfsErr
        let parentLocked = true
        try {
          ;[child, topLookupLayer, err] = yield* this.stepLocked(ctx, rp, parent, false /* mayFollowSymlinks */, ds)
          if (err === "ENOENT" && mayCreate) {
            return yield* this.createAndOpenLocked(ctx, rp, parent, opts, ds, topLookupLayer === lookupLayer.UpperWhiteout)
          }
          parentLocked = false
          yield parent.dirMu.Unlock()
        } finally {
          if (parentLocked) yield parent.dirMu.Unlock()
        }
        if (err !== null || child === null) return [null, err ?? "EIO"]
        // Open existing child or follow symlink.
        if (mustCreate) return [null, "EEXIST"]
        if (child.isSymlink() && rp.ShouldFollowSymlink()) {
          const [target, lerr] = yield* child.readlink(ctx)
          if (lerr !== null) return [null, lerr]
          const herr = rp.HandleSymlink(target)
          if (herr !== null) return [null, herr]
          start = parent
          continue
        }
        if (mustBeDirChecked && rp.MustBeDir() && !child.isDir()) return [null, "ENOTDIR"]
        if (child.isRegularFile() && mayWrite) {
          const ce = yield* child.copyUpLocked(ctx)
          if (ce !== null) return [null, ce]
        }
        yield* child.IncRef()
        try {
          yield* unlock()
          return yield* child.openCopiedUp(ctx, rp, opts)
        } finally {
          yield* child.DecRef(ctx)
        }
      }
    } finally {
      yield* unlock()
    }
  }

  /**
   * createAndOpenLocked creates a regular file on the upper layer and opens it.
   * Preconditions: parent.dirMu is locked; parent has no child named rp.Component().
   */
  private *createAndOpenLocked(ctx: Ctx, rp: ResolvingPath, parent: dentry, opts: OpenOptions, ds: DentryList, haveUpperWhiteout: boolean): Sim<[FileDescription | null, VfsErr]> {
    const creds = rp.Credentials()
    let e = parent.checkPermissions(creds, MayWrite)
    if (e !== null) return [null, e]
    if (parent.vfsd.IsDead()) return [null, "ENOENT"]
    const mnt = rp.Mount()
    e = mnt.CheckBeginWrite()
    if (e !== null) return [null, e]
    try {
      e = yield* parent.copyUpLocked(ctx)
      if (e !== null) return [null, e]

      const vfsObj = this.vfs
      const childName = rp.Component()
      const p = pop(parent.upperVD!, childName)
      // Unlink the whiteout if it exists.
      if (haveUpperWhiteout) {
        e = yield* vfsObj.UnlinkAt(ctx, this.creds, p)
        if (e !== null) {
          this.warn(`overlay.filesystem.createAndOpenLocked: failed to unlink whiteout: ${e}`)
          return [null, e]
        }
      }
      // Create the file on the upper layer, and get an FD representing it.
      const [upperFD, oerr] = yield* vfsObj.OpenAt(ctx, this.creds, pop(parent.upperVD!, childName), {
        Flags: (opts.Flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC)) | O_CREAT | O_EXCL,
        Mode: opts.Mode,
      })
      if (oerr !== null || upperFD === null) {
        if (haveUpperWhiteout) yield* this.cleanupRecreateWhiteout(ctx, p)
        return [null, oerr ?? "EIO"]
      }
      // Change the file's owner to the caller. (upperFD.SetStat would pick
      // up the credentials from ctx.)
      e = yield* this.chownNewUpperFileLocked(ctx, rp, p, haveUpperWhiteout, false, "OpenAt(O_CREAT)")
      if (e !== null) {
        yield* upperFD.DecRef(ctx)
        return [null, e]
      }
      // Re-lookup to get a dentry representing the new file, which is
      // needed for the returned FD.
      const [child, , cerr] = yield* this.getChildLocked(ctx, parent, childName, ds)
      if (cerr !== null || child === null) {
        yield* upperFD.DecRef(ctx)
        const cleanupErr = yield* vfsObj.UnlinkAt(ctx, this.creds, p)
        if (cleanupErr !== null) panic(`unrecoverable overlayfs inconsistency: failed to delete upper layer file after OpenAt(O_CREAT) dentry lookup failure: ${cleanupErr}`)
        else if (haveUpperWhiteout) yield* this.cleanupRecreateWhiteout(ctx, p)
        return [null, cerr ?? "EIO"]
      }
      // Finally construct the overlay FD. Below this point there is no
      // cleanup (the file was created even if it can't be opened).
      if (haveUpperWhiteout) this.mark("overlay.whiteout.replaced-by-create", parent, childName)
      if (parent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", parent)
      if (this.mutant !== "dirents-stale-on-create") parent.dirents = null

      const fd = new regularFileFD(child, true /* copiedUp */, upperFD)
      const ierr = yield* fd.vfsfd.Init(fd, upperFD.StatusFlags(), mnt, child.vfsd)
      if (ierr !== null) {
        yield* upperFD.DecRef(ctx)
        return [null, ierr]
      }
      return [fd.vfsfd, null]
    } finally {
      mnt.EndWrite()
    }
  }

  *ReadlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<[string, VfsErr]> {
    const fs = this
    return yield* this.withResolved(ctx, rp, "", function* (d) {
      return yield* fs.vfs.ReadlinkAt(ctx, fs.creds, pop(d.topLayer()))
    })
  }

  // -------------------------------------------------------------------------
  // Renaming and removal.

  *RenameAt(ctx: Ctx, rp: ResolvingPath, oldParentVD: VirtualDentry, oldName: string, opts: RenameOptions): Sim<VfsErr> {
    if (opts.Flags !== 0) return "EINVAL"

    const ds: DentryList = { list: null }
    yield this.renameMu.Lock()
    // Go's defers, run in reverse order on return.
    const deferred: (() => Sim<void>)[] = []
    try {
      const [newParent, err] = yield* this.walkParentDirLocked(ctx, rp, rp.Start().Impl<dentry>(), ds)
      if (err !== null || newParent === null) return err
      const newName = rp.Component()
      if (newName === "." || newName === "..") return "EBUSY"
      const mnt = rp.Mount()
      if (mnt !== oldParentVD.Mount()) return "EXDEV"
      let e = mnt.CheckBeginWrite()
      if (e !== null) return e
      deferred.push(function* () {
        mnt.EndWrite()
      })

      const oldParent = oldParentVD.Dentry().Impl<dentry>()
      const creds = rp.Credentials()
      e = oldParent.checkPermissions(creds, MayWrite | MayExec)
      if (e !== null) return e
      // A dentry representing the renamed file is needed since, if it's a
      // directory, write permission on it is checked.
      yield oldParent.dirMu.Lock()
      deferred.push(function* () {
        yield oldParent.dirMu.Unlock()
      })
      const [renamed, , rerr] = yield* this.getChildLocked(ctx, oldParent, oldName, ds)
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
        deferred.push(function* () {
          yield newParent.dirMu.Unlock()
        })
      }
      if (newParent.vfsd.IsDead()) return "ENOENT"
      let whiteouts = new Map<string, boolean>()
      const [replaced, replacedLayer, gerr] = yield* this.getChildLocked(ctx, newParent, newName, ds)
      if (gerr !== null && gerr !== "ENOENT") return gerr
      const replacedVFSD = replaced !== null ? replaced.vfsd : null
      if (replaced !== null) {
        // (Mutant rename-over-dir-no-type-check: a non-directory's rename takes the replaced file for a non-directory.)
        if (replaced.isDir() && (renamed.isDir() || this.mutant !== "rename-over-dir-no-type-check")) {
          if (!renamed.isDir()) return "EISDIR"
          if (genericIsAncestorDentry(replaced, renamed)) return "ENOTEMPTY"
          yield replaced.dirMu.Lock()
          deferred.push(function* () {
            yield replaced.dirMu.Unlock()
          })
          let werr: Err
          ;[whiteouts, werr] = yield* replaced.collectWhiteoutsForRmdirLocked(ctx)
          if (werr !== null) return werr
          this.mark("overlay.rename.over-dir", replaced)
        } else if (rp.MustBeDir() || renamed.isDir()) return "ENOTDIR"
      }

      if (oldParent === newParent && oldName === newName) return null

      // renamed and oldParent need to be copied up before they're renamed
      // on the upper layer.
      e = yield* renamed.copyUpLocked(ctx)
      if (e !== null) return e
      // If renamed is a directory, all of its descendants need to be copied
      // up before they're renamed on the upper layer.
      if (renamed.isDir()) {
        e = yield* renamed.copyUpDescendantsLocked(ctx, ds)
        if (e !== null) return e
      }
      // newParent must be copied up before it can contain renamed on the
      // upper layer.
      e = yield* newParent.copyUpLocked(ctx)
      if (e !== null) return e
      // If replaced exists, it doesn't need to be copied up, but we do need
      // to serialize with copy-up. Holding renameMu for writing should be
      // sufficient, but out of an abundance of caution...
      if (replaced !== null) {
        yield replaced.copyMu.RLock()
        deferred.push(function* () {
          yield replaced.copyMu.RUnlock()
        })
      }

      const vfsObj = rp.VirtualFilesystem()
      e = yield* vfsObj.PrepareRenameDentry(renamed.vfsd, replacedVFSD)
      if (e !== null) return e

      const newpop = pop(newParent.upperVD!, newName)
      const fs = this
      let needRecreateWhiteouts = false
      const cleanupRecreateWhiteouts = function* (): Sim<void> {
        if (!needRecreateWhiteouts) return
        for (const [whiteoutName, whiteoutUpper] of whiteouts) {
          if (!whiteoutUpper) continue
          const werr = yield* fs.createWhiteout(ctx, pop(replaced!.upperVD!, whiteoutName))
          if (werr !== null && werr !== "EEXIST") panic(`unrecoverable overlayfs inconsistency: failed to recreate deleted whiteout after RenameAt failure: ${werr}`)
        }
      }
      if (renamed.isDir()) {
        if (replacedLayer === lookupLayer.Upper) {
          // Remove whiteouts from the directory being replaced.
          needRecreateWhiteouts = true
          for (const [whiteoutName, whiteoutUpper] of whiteouts) {
            if (!whiteoutUpper) continue
            const uerr = yield* vfsObj.UnlinkAt(ctx, this.creds, pop(replaced!.upperVD!, whiteoutName))
            if (uerr !== null) {
              yield* cleanupRecreateWhiteouts()
              yield* vfsObj.AbortRenameDentry(renamed.vfsd, replacedVFSD)
              return uerr
            }
          }
        } else if (replacedLayer === lookupLayer.UpperWhiteout) {
          // The whiteout must be removed explicitly: otherwise the rename
          // on the upper layer fails with ENOTDIR.
          const uerr = yield* vfsObj.UnlinkAt(ctx, this.creds, newpop)
          if (uerr !== null) {
            yield* vfsObj.AbortRenameDentry(renamed.vfsd, replacedVFSD)
            return uerr
          }
        }
      }

      // Essentially no gVisor filesystem supports RENAME_WHITEOUT, so do a
      // regular rename and create the whiteout at the origin manually.
      // Unlike RENAME_WHITEOUT, this isn't atomic with respect to other
      // users of the upper filesystem. (The rename itself is done with the
      // caller's credentials.)
      const oldpop = pop(oldParent.upperVD!, oldName)
      e = yield* vfsObj.RenameAt(ctx, creds, oldpop, newpop, opts)
      if (e !== null) {
        yield* cleanupRecreateWhiteouts()
        yield* vfsObj.AbortRenameDentry(renamed.vfsd, replacedVFSD)
        return e
      }

      // Below this point, the renamed dentry is now at newpop, and anything
      // replaced is gone forever. Commit the rename, update the overlay's
      // tree, and abandon attempts to recover from errors.
      yield* vfsObj.CommitRenameReplaceDentry(renamed.vfsd, replacedVFSD)
      oldParent.children?.delete(oldName)
      if (replaced !== null) appendDentry(ds, replaced)
      if (oldParent !== newParent) {
        if (newParent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", newParent)
        newParent.dirents = null
        // This can't drop the last reference on oldParent because one is
        // held by oldParentVD, so lock recursion is impossible.
        yield ATOMIC
        if (--oldParent.refs <= 0) panic(`overlay.RenameAt dropped the last reference of the old parent (${oldParent.pathForLog()})`)
        appendDentry(ds, oldParent)
        yield* newParent.IncRef()
        renamed.parent = newParent
      }
      renamed.name = newName
      ;(newParent.children ??= new Map()).set(newName, renamed)
      if (oldParent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", oldParent)
      oldParent.dirents = null

      e = yield* this.createWhiteout(ctx, oldpop)
      if (e !== null) panic(`unrecoverable overlayfs inconsistency: failed to create whiteout at origin after RenameAt: ${e}`)
      if (renamed.isDir()) {
        this.mark("overlay.opaque.renamed-dir", renamed)
        e = yield* vfsObj.SetXattrAt(ctx, this.creds, newpop, { Name: _OVL_XATTR_OPAQUE, Value: "y", Flags: 0 })
        if (e !== null) panic(`unrecoverable overlayfs inconsistency: failed to make renamed directory opaque: ${e}`)
      }
      return null
    } finally {
      for (let i = deferred.length - 1; i >= 0; i--) yield* deferred[i]!()
      yield* this.renameMuUnlockAndCheckDrop(ctx, ds)
    }
  }

  *RmdirAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    const deferred: (() => Sim<void>)[] = []
    try {
      const start = rp.Start().Impl<dentry>()
      const [parent, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || parent === null) return err
      let e = parent.checkPermissions(rp.Credentials(), MayWrite | MayExec)
      if (e !== null) return e
      const mnt = rp.Mount()
      e = mnt.CheckBeginWrite()
      if (e !== null) return e
      deferred.push(function* () {
        mnt.EndWrite()
      })
      const name = rp.Component()
      if (name === ".") return "EINVAL"
      if (name === "..") return "ENOTEMPTY"
      const vfsObj = rp.VirtualFilesystem()
      yield parent.dirMu.Lock()
      deferred.push(function* () {
        yield parent.dirMu.Unlock()
      })

      // Ensure that parent is copied up before potentially holding
      // child.copyMu below.
      e = yield* parent.copyUpLocked(ctx)
      if (e !== null) return e

      // Unlike UnlinkAt, a dentry representing the child directory is
      // needed to verify that it's empty.
      const [child, , cerr] = yield* this.getChildLocked(ctx, parent, name, ds)
      if (cerr !== null || child === null) return cerr
      if (!child.isDir()) return "ENOTDIR"
      e = parent.mayDelete(rp.Credentials(), child)
      if (e !== null) return e
      yield child.dirMu.Lock()
      deferred.push(function* () {
        yield child.dirMu.Unlock()
      })
      const [whiteouts, werr] = yield* child.collectWhiteoutsForRmdirLocked(ctx)
      if (werr !== null) return werr
      if (whiteouts.size > 0) this.mark("overlay.rmdir.whiteouts-only", child)
      yield child.copyMu.RLock()
      deferred.push(function* () {
        yield child.copyMu.RUnlock()
      })
      e = yield* vfsObj.PrepareDeleteDentry(child.vfsd)
      if (e !== null) return e

      const p = pop(parent.upperVD!, name)
      if (child.upperVD !== null) {
        const fs = this
        const cleanupRecreateWhiteouts = function* (): Sim<void> {
          if (child.upperVD === null) return
          for (const [whiteoutName, whiteoutUpper] of whiteouts) {
            if (!whiteoutUpper) continue
            const cerr2 = yield* fs.createWhiteout(ctx, pop(child.upperVD, whiteoutName))
            if (cerr2 !== null && cerr2 !== "EEXIST") panic(`unrecoverable overlayfs inconsistency: failed to recreate deleted whiteout after RmdirAt failure: ${cerr2}`)
          }
        }
        // Remove existing whiteouts on the upper layer.
        for (const [whiteoutName, whiteoutUpper] of whiteouts) {
          if (!whiteoutUpper) continue
          const uerr = yield* vfsObj.UnlinkAt(ctx, this.creds, pop(child.upperVD, whiteoutName))
          if (uerr !== null) {
            yield* cleanupRecreateWhiteouts()
            yield* vfsObj.AbortDeleteDentry(child.vfsd)
            return uerr
          }
        }
        // Remove the existing directory on the upper layer.
        const rerr = yield* vfsObj.RmdirAt(ctx, this.creds, p)
        if (rerr !== null) {
          yield* cleanupRecreateWhiteouts()
          yield* vfsObj.AbortDeleteDentry(child.vfsd)
          return rerr
        }
      }
      e = yield* this.createWhiteout(ctx, p)
      if (e !== null) {
        // Don't attempt to recover from this: the original directory is
        // already gone, so any dentries representing it are invalid, and
        // creating a new directory won't undo that.
        panic(`unrecoverable overlayfs inconsistency: failed to create whiteout during RmdirAt: ${e}`)
      }

      yield* vfsObj.CommitDeleteDentry(child.vfsd)
      parent.children?.delete(name)
      appendDentry(ds, child)
      if (parent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", parent)
      parent.dirents = null
      return null
    } finally {
      for (let i = deferred.length - 1; i >= 0; i--) yield* deferred[i]!()
      yield* this.renameMuRUnlockAndCheckDrop(ctx, ds)
    }
  }

  *UnlinkAt(ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    const ds: DentryList = { list: null }
    yield this.renameMu.RLock()
    const deferred: (() => Sim<void>)[] = []
    try {
      const start = rp.Start().Impl<dentry>()
      const [parent, err] = yield* this.walkParentDirLocked(ctx, rp, start, ds)
      if (err !== null || parent === null) return err
      let e = parent.checkPermissions(rp.Credentials(), MayWrite | MayExec)
      if (e !== null) return e
      const mnt = rp.Mount()
      e = mnt.CheckBeginWrite()
      if (e !== null) return e
      deferred.push(function* () {
        mnt.EndWrite()
      })
      const name = rp.Component()
      if (name === "." || name === "..") return "EISDIR"
      if (rp.MustBeDir()) return "ENOTDIR"
      const vfsObj = rp.VirtualFilesystem()
      yield parent.dirMu.Lock()
      deferred.push(function* () {
        yield parent.dirMu.Unlock()
      })

      // Ensure that parent is copied up before potentially holding
      // child.copyMu below.
      e = yield* parent.copyUpLocked(ctx)
      if (e !== null) return e

      const parentMode = parent.mode
      let child = parent.children?.get(name) ?? null
      let childLayer = lookupLayer.None
      if (child === null) {
        if ((parentMode & 0o1000) !== 0 /* S_ISVTX */) {
          // With the parent's sticky bit set, a child dentry is needed for
          // its owner.
          const [c, , cerr] = yield* this.getChildLocked(ctx, parent, name, ds)
          if (cerr !== null || c === null) return cerr
          child = c
        } else {
          // Determine if the file being unlinked actually exists. Holding
          // parent.dirMu prevents a dentry from being instantiated for the
          // file, which in turn prevents it from being copied up, so this
          // result is stable.
          const [ll, lerr] = yield* this.lookupLayerLocked(ctx, parent, name)
          if (lerr !== null) return lerr
          if (!existsInOverlay(ll)) return "ENOENT"
          childLayer = ll
        }
      }
      if (child !== null) {
        if (child.isDir() && this.mutant !== "unlink-dir-no-type-check") return "EISDIR"
        e = parent.mayDelete(rp.Credentials(), child)
        if (e !== null) return e
        e = yield* vfsObj.PrepareDeleteDentry(child.vfsd)
        if (e !== null) return e
        // Hold child.copyMu to prevent it from being copied up during deletion.
        const c = child
        yield c.copyMu.RLock()
        deferred.push(function* () {
          yield c.copyMu.RUnlock()
        })
        childLayer = child.upperVD !== null ? lookupLayer.Upper : lookupLayer.Lower
      }

      const p = pop(parent.upperVD!, name)
      if (childLayer === lookupLayer.Upper) {
        // Remove the existing file on the upper layer.
        const uerr = yield* vfsObj.UnlinkAt(ctx, this.creds, p)
        if (uerr !== null) {
          if (child !== null) yield* vfsObj.AbortDeleteDentry(child.vfsd)
          return uerr
        }
      }
      e = yield* this.createWhiteout(ctx, p)
      if (e !== null) panic(`unrecoverable overlayfs inconsistency: failed to create whiteout during UnlinkAt: ${e}`)

      if (child !== null) {
        yield* vfsObj.CommitDeleteDentry(child.vfsd)
        parent.children?.delete(name)
        appendDentry(ds, child)
      }
      if (parent.dirents !== null) this.mark("overlay.readdir.cache-invalidated", parent)
      parent.dirents = null
      return null

    } finally {
      for (let i = deferred.length - 1; i >= 0; i--) yield* deferred[i]!()
      yield* this.renameMuRUnlockAndCheckDrop(ctx, ds)
    }
  }

  // -------------------------------------------------------------------------
  // Metadata.

  *SetStatAt(ctx: Ctx, rp: ResolvingPath, opts: SetStatOptions): Sim<VfsErr> {
    const [, err] = yield* this.withResolved(ctx, rp, null, function* (d) {
      return [null, yield* d.setStatLocked(ctx, rp, opts)] as [null, VfsErr]
    })
    return err
  }

  *StatAt(ctx: Ctx, rp: ResolvingPath, opts: StatOptions): Sim<[Statx | null, VfsErr]> {
    const fs = this
    return yield* this.withResolved<Statx | null>(ctx, rp, null, function* (d) {
      // fsim's StatOptions carry no mask: the top layer is always asked
      // for everything, and d's own fields override its answer.
      const [stat, err] = yield* fs.vfs.StatAt(ctx, fs.creds, pop(d.topLayer()), opts)
      if (err !== null || stat === null) return [null, err ?? "EIO"]
      return [d.statInternalTo(stat), null]
    })
  }

  *StatFSAt(ctx: Ctx, rp: ResolvingPath): Sim<[Statfs | null, VfsErr]> {
    const fs = this
    return yield* this.withResolved<Statfs | null>(ctx, rp, null, function* () {
      return yield* fs.statFS(ctx)
    })
  }

  // -------------------------------------------------------------------------
  // Extended attributes.

  *ListXattrAt(ctx: Ctx, rp: ResolvingPath, size: number): Sim<[readonly string[], VfsErr]> {
    const fs = this
    return yield* this.withResolved<readonly string[]>(ctx, rp, [], function* (d) {
      return yield* fs.listXattr(ctx, d, size)
    })
  }

  *listXattr(ctx: Ctx, d: dentry, size: number): Sim<[readonly string[], Err]> {
    const [names, err] = yield* this.vfs.ListXattrAt(ctx, this.creds, pop(d.topLayer()), size)
    if (err !== null) return [[], err]
    // Filter out all overlay attributes.
    return [names.filter((n) => !isOverlayXattr(n)), null]
  }

  *GetXattrAt(ctx: Ctx, rp: ResolvingPath, name: string, size: number): Sim<[string, VfsErr]> {
    const fs = this
    return yield* this.withResolved(ctx, rp, "", function* (d) {
      return yield* fs.getXattr(ctx, d, rp.Credentials(), name, size)
    })
  }

  *getXattr(ctx: Ctx, d: dentry, creds: Cred, name: string, size: number): Sim<[string, Err]> {
    const e = d.checkXattrPermissions(creds, name, 4 /* MayRead */)
    if (e !== null) return ["", e]
    // EOPNOTSUPP when fetching an overlay attribute
    // (fs/overlayfs/super.c:ovl_own_xattr_get()).
    if (isOverlayXattr(name)) return ["", "EOPNOTSUPP"]
    // Analogous to fs/overlayfs/super.c:ovl_other_xattr_get().
    return yield* this.vfs.GetXattrAt(ctx, this.creds, pop(d.topLayer()), name, size)
  }

  *SetXattrAt(ctx: Ctx, rp: ResolvingPath, opts: SetXattrOptions): Sim<VfsErr> {
    const fs = this
    const [, err] = yield* this.withResolved(ctx, rp, null, function* (d) {
      return [null, yield* fs.setXattrLocked(ctx, d, rp.Mount(), rp.Credentials(), opts)] as [null, VfsErr]
    })
    return err
  }

  /** Precondition: fs.renameMu is locked. */
  *setXattrLocked(ctx: Ctx, d: dentry, mnt: Mount, creds: Cred, opts: SetXattrOptions): Sim<Err> {
    let e = d.checkXattrPermissions(creds, opts.Name, MayWrite)
    if (e !== null) return e
    // EOPNOTSUPP when setting an overlay attribute
    // (fs/overlayfs/super.c:ovl_own_xattr_set()).
    if (isOverlayXattr(opts.Name)) return "EOPNOTSUPP"
    // Analogous to fs/overlayfs/super.c:ovl_other_xattr_set().
    e = mnt.CheckBeginWrite()
    if (e !== null) return e
    try {
      e = yield* d.copyUpLocked(ctx)
      if (e !== null) return e
      return yield* this.vfs.SetXattrAt(ctx, this.creds, pop(d.upperVD!), opts)
    } finally {
      mnt.EndWrite()
    }
  }

  *RemoveXattrAt(ctx: Ctx, rp: ResolvingPath, name: string): Sim<VfsErr> {
    const fs = this
    const [, err] = yield* this.withResolved(ctx, rp, null, function* (d) {
      return [null, yield* fs.removeXattrLocked(ctx, d, rp.Mount(), rp.Credentials(), name)] as [null, VfsErr]
    })
    return err
  }

  /** Precondition: fs.renameMu is locked. */
  *removeXattrLocked(ctx: Ctx, d: dentry, mnt: Mount, creds: Cred, name: string): Sim<Err> {
    let e = d.checkXattrPermissions(creds, name, MayWrite)
    if (e !== null) return e
    // Like SetXattrAt, EOPNOTSUPP when removing an overlay attribute (Linux
    // passes the remove request to xattr_handler->set; fs/xattr.c:vfs_removexattr()).
    if (isOverlayXattr(name)) return "EOPNOTSUPP"
    e = mnt.CheckBeginWrite()
    if (e !== null) return e
    try {
      e = yield* d.copyUpLocked(ctx)
      if (e !== null) return e
      return yield* this.vfs.RemoveXattrAt(ctx, this.creds, pop(d.upperVD!), name)
    } finally {
      mnt.EndWrite()
    }
  }
}

/**
 * GetFilesystem (overlay.go), given the layers as
 * GetFilesystemOptions.InternalData (FilesystemOptions): checks them,
 * allocates the device numbers, takes the filesystem's references on the
 * layers' roots and builds the root dentry from the topmost layer's root.
 * (The "upperdir="/"lowerdir=" option branch is not ported: options.ts.)
 * The root dentry comes back with one reference, the caller's.
 */
export function* GetFilesystem(ctx: Ctx, vfsObj: VirtualFilesystem, creds: Cred, fsopts: FilesystemOptions, o: { readonly mutant: OverlayMutant | null }): Sim<[filesystem | null, dentry | null, Err]> {
  if (fsopts.LowerRoots.length === 0) {
    // ctx.Infof("overlay.FilesystemType.GetFilesystem: LowerRoots must be non-empty")
    return [null, null, "EINVAL"]
  }
  if (fsopts.LowerRoots.length < 2 && fsopts.UpperRoot === null) {
    // ctx.Infof("... at least two LowerRoots are required when UpperRoot is unspecified")
    return [null, null, "EINVAL"]
  }

  // Allocate device numbers.
  const dirDevMinor = GetAnonBlockDevMinor(vfsObj)
  const lowerDevMinors = new Map<Filesystem, number>()
  for (const lowerRoot of fsopts.LowerRoots) {
    const lowerFS = lowerRoot.Mount().Filesystem()
    if (!lowerDevMinors.has(lowerFS)) lowerDevMinors.set(lowerFS, GetAnonBlockDevMinor(vfsObj))
  }

  // Take extra references held by the filesystem.
  if (fsopts.UpperRoot !== null) yield* fsopts.UpperRoot.IncRef()
  for (const lowerRoot of fsopts.LowerRoots) yield* lowerRoot.IncRef()

  const fs = new filesystem(vfsObj, fsopts, { uid: creds.uid, gid: creds.gid, groups: [...creds.groups] }, dirDevMinor, lowerDevMinors, o.mutant)
  fs.vfsfs = vfsObj.NewFilesystem(fs, Name)

  // Construct the root dentry.
  const root = fs.newDentry()
  root.refs = 1
  if (fs.opts.UpperRoot !== null) {
    yield* fs.opts.UpperRoot.IncRef()
    root.copiedUp = true
    root.upperVD = fs.opts.UpperRoot
  }
  for (const lowerRoot of fs.opts.LowerRoots) {
    yield* lowerRoot.IncRef()
    root.lowerVDs.push(lowerRoot)
  }
  fs.root = root
  const rootTopVD = root.topLayer()
  // Get metadata from the topmost layer. See fs.lookupLocked().
  const [rootStat, err] = yield* vfsObj.StatAt(ctx, creds, pop(rootTopVD), {})
  if (err !== null || rootStat === null) {
    // As the seed: destroyLocked on a dentry holding the reference just set
    // (refs 1) panics ("called with references on the dentry").
    yield* root.destroyLocked(ctx)
    return [null, null, err ?? "EIO"]
  }
  if (isWhiteout(rootStat)) {
    // ctx.Infof("overlay.FilesystemType.GetFilesystem: filesystem root is a whiteout")
    yield* root.destroyLocked(ctx)
    return [null, null, "EINVAL"]
  }
  root.mode = rootStat.mode
  root.uid = rootStat.uid
  root.gid = rootStat.gid
  if ((rootStat.mode & S_IFMT) === S_IFDIR) {
    root.devMajor = UNNAMED_MAJOR
    root.devMinor = fs.dirDevMinor
    root.ino = fs.newDirIno()
  } else if (root.upperVD === null) {
    root.devMajor = UNNAMED_MAJOR
    root.devMinor = fs.lowerDevMinors.get(root.lowerVDs[0]!.Mount().Filesystem())!
    root.ino = rootStat.ino
  } else {
    root.devMajor = rootStat.devMajor
    root.devMinor = rootStat.devMinor
    root.ino = rootStat.ino
  }
  return [fs, root, null]
}

/** genericIsAncestorDentry: whether a is a proper ancestor of d. Precondition: renameMu is locked. */
export function genericIsAncestorDentry(a: dentry, d: dentry): boolean {
  for (let p = d.parent, i = 0; p !== null; p = p.parent, i++) {
    if (i > 1 << 16) panic("overlay.genericIsAncestorDentry: parent loop")
    if (p === a) return true
  }
  return false
}

