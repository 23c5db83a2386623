// VirtualFilesystem (gVisor pkg/sentry/vfs/vfs.go and mount.go, reduced):
// the path operations that resolve a path across mounts and hand each
// filesystem a ResolvingPath, retrying on another mount when a filesystem
// says resolution continues elsewhere; the Prepare/Commit/Abort protocol for
// deleting and renaming dentries (mount points cannot be removed); and one
// mount namespace.
//
// Lock order (vfs.go's package comment), declared to the lock-order
// checker by VFS_LOCK_ORDER:
//   FilesystemImpl/FileDescriptionImpl locks
//     VirtualFilesystem.mountMu
//       Dentry.mu
//         Locks acquired by FilesystemImpls between Prepare{Delete,Rename}Dentry and Commit{Delete,Rename*}Dentry
//       VirtualFilesystem.filesystemsMu
// Locking Dentry.mu in multiple Dentries requires holding mountMu.

import type { Cred, Errno } from "../../model/types.js"
import type { LockOrderSpec } from "../../sim/lockorder.js"
import type { Scheduler, Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "./context.js"
import { panic } from "./context.js"
import type { Dentry } from "./dentry.js"
import { FileDescription, OpathFD } from "./file_description.js"
import { Parse } from "./fspath.js"
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
} from "./filesystem.js"
import {
  O_ACCMODE,
  O_APPEND,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_LARGEFILE,
  O_NOATIME,
  O_NOCTTY,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_PATH,
  O_SYNC,
  O_TMPFILE,
  O_TRUNC,
  S_ISGID,
  S_ISUID,
  S_ISVTX,
} from "./linux.js"
import { Filesystem, Mount, VirtualDentry, type MountFlags } from "./mount.js"
import type { AccessTypes } from "./permissions.js"
import { isResolveError, ResolvingPath, type PathOperation } from "./resolving_path.js"

/** vfs.go's lock order. Filesystems' own locks come before VirtualFilesystem.mountMu. */
export const VFS_LOCK_ORDER: LockOrderSpec = {
  owner: "vfs",
  prefix: "vfs.",
  tree: `
VirtualFilesystem.mountMu
  Dentry.mu[overlay]
    Dentry.mu
  VirtualFilesystem.filesystemsMu
`,
  // "Locking Dentry.mu in multiple Dentries requires holding
  // VirtualFilesystem.mountMu" (PrepareRenameDentry locks the renamed and
  // the replaced dentry, in no particular order, under it).
  // Dentry.mu[overlay]: the overlay's dentries (Dentry's lockClass), held
  // between Prepare*Dentry and Commit*Dentry while the overlay calls into
  // its layers, which is where vfs.go allows "locks acquired by
  // FilesystemImpls between Prepare and Commit", a layer's Dentry.mu among them.
  sameClass: ["vfs.Dentry.mu", "vfs.Dentry.mu[overlay]"].map((c) => ({
    class: c,
    order: "ancestor-first" as const,
    requiresHeld: { class: "vfs.VirtualFilesystem.mountMu" },
    unlessHeld: { class: "vfs.VirtualFilesystem.mountMu", mode: "w" as const },
  })),
}

/** A VfsErr that reached the caller: resolve errors never escape VFS. */
function errno(e: VfsErr): Errno | null {
  if (isResolveError(e)) panic(`vfs: a resolve error (${e.what}) escaped the retry loop`)
  return e
}

export class VirtualFilesystem {
  readonly mountMu: Mutex
  readonly filesystemsMu: Mutex
  private readonly filesystems = new Set<Filesystem>()
  /** Mounts by mount point dentry, with the mount they sit on. */
  private readonly mounts = new Map<Dentry, { parent: Mount; mount: Mount }[]>()
  root: VirtualDentry | null = null

  constructor(readonly sched: Scheduler) {
    this.mountMu = new Mutex(sched, "vfs.VirtualFilesystem.mountMu")
    this.filesystemsMu = new Mutex(sched, "vfs.VirtualFilesystem.filesystemsMu")
  }

  /** Registers a filesystem (its Release runs at unmount). */
  NewFilesystem(impl: FilesystemImpl, typeName: string): Filesystem {
    const fs = new Filesystem(this, impl, typeName)
    this.filesystems.add(fs)
    return fs
  }

  /** The mount namespace's root mount. */
  NewRootMount(fs: Filesystem, root: Dentry, flags: MountFlags): VirtualDentry {
    if (this.root !== null) panic("vfs: the mount namespace already has a root")
    const m = new Mount(this, fs, root, flags, null)
    this.root = new VirtualDentry(m, root)
    return this.root
  }

  /**
   * Drops a mount's references as gVisor's Mount.DecRef does when the last
   * goes: first the mount's reference on its root dentry, then the
   * filesystem's, whose last runs FilesystemImpl.Release. Once the root
   * mount goes the namespace is gone; nothing may resolve paths after.
   */
  *Umount(ctx: Ctx, m: Mount): Sim<void> {
    if (--m.refs > 0) return
    yield* m.root.DecRef(ctx)
    if (--m.fs.refs > 0) return
    this.filesystems.delete(m.fs)
    yield* m.fs.impl.Release(ctx)
  }

  /** A mount with no mount point (overlay layers). */
  NewDisconnectedMount(fs: Filesystem, root: Dentry, flags: MountFlags): Mount {
    return new Mount(this, fs, root, flags, null)
  }

  /** Mounts `fs` on the directory `point`; resolution crosses into it from then on. */
  *MountAt(point: VirtualDentry, fs: Filesystem, root: Dentry, flags: MountFlags): Sim<Mount> {
    yield this.mountMu.Lock()
    yield point.dentry.mu.Lock()
    const m = new Mount(this, fs, root, flags, point)
    const list = this.mounts.get(point.dentry) ?? []
    list.push({ parent: point.mount, mount: m })
    this.mounts.set(point.dentry, list)
    point.dentry.mounts++
    yield point.dentry.mu.Unlock()
    yield this.mountMu.Unlock()
    return m
  }

  /** The mount whose mount point is (mnt, d), or null. */
  getMountAt(mnt: Mount, d: Dentry): Mount | null {
    const list = this.mounts.get(d)
    if (list === undefined) return null
    // The most recent mount on top wins, as in Linux.
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.parent === mnt) return list[i]!.mount
    return null
  }

  /** Where mnt is mounted, or null for a root of the caller's view or a mount with no mount point. */
  getMountpointAt(mnt: Mount, root: VirtualDentry): VirtualDentry | null {
    if (mnt === root.mount) return null
    return mnt.point
  }

  private isMountpoint(d: Dentry): boolean {
    return d.isMounted()
  }

  // -------------------------------------------------------------------------
  // Deletion and renaming of dentries: mount points cannot be removed.

  /** Locks d's Dentry.mu and fails with EBUSY if d is a mount point. */
  *PrepareDeleteDentry(d: Dentry): Sim<Errno | null> {
    // mountMu orders this against mounts over d; d.mu, held until Abort or
    // Commit, then blocks them.
    yield this.mountMu.Lock()
    if (this.isMountpoint(d)) {
      yield this.mountMu.Unlock()
      return "EBUSY"
    }
    yield d.mu.Lock()
    yield this.mountMu.Unlock()
    return null
  }

  *AbortDeleteDentry(d: Dentry): Sim<void> {
    yield d.mu.Unlock()
  }

  *CommitDeleteDentry(d: Dentry): Sim<void> {
    d.dead = true
    yield d.mu.Unlock()
  }

  /** Locks from's (and to's) Dentry.mu; EBUSY if either is a mount point. */
  *PrepareRenameDentry(from: Dentry, to: Dentry | null): Sim<Errno | null> {
    // Both Dentry.mu are taken under mountMu, which is what lets them nest
    // in either order.
    yield this.mountMu.Lock()
    if (this.isMountpoint(from) || (to !== null && this.isMountpoint(to))) {
      yield this.mountMu.Unlock()
      return "EBUSY"
    }
    if (to !== null) yield to.mu.Lock()
    yield from.mu.Lock()
    yield this.mountMu.Unlock()
    return null
  }

  *AbortRenameDentry(from: Dentry, to: Dentry | null): Sim<void> {
    yield from.mu.Unlock()
    if (to !== null) yield to.mu.Unlock()
  }

  *CommitRenameReplaceDentry(from: Dentry, to: Dentry | null): Sim<void> {
    yield from.mu.Unlock()
    if (to !== null) {
      to.dead = true
      yield to.mu.Unlock()
    }
  }

  /** A dentry evicted from a cache: dead to path resolution from now on. */
  *InvalidateDentry(d: Dentry): Sim<void> {
    yield d.mu.Lock()
    d.dead = true
    yield d.mu.Unlock()
  }

  // -------------------------------------------------------------------------
  // Path operations. Each resolves on rp's mount and retries on another when
  // the filesystem asks to (a mount root, a mount point, an absolute symlink).

  private rp(creds: Cred, pop: PathOperation): ResolvingPath {
    if (this.root === null) panic("vfs: no root mount")
    return new ResolvingPath(this, creds, pop.Root, pop)
  }

  private *retry<T>(ctx: Ctx, rp: ResolvingPath, call: (rp: ResolvingPath) => Sim<[T, VfsErr]>): Sim<[T, Errno | null]> {
    for (let attempts = 0; ; attempts++) {
      if (attempts > 1000) panic("vfs: path resolution did not converge after 1000 mount switches")
      const [v, err] = yield* call(rp)
      if (err === null || !rp.handleError(err)) {
        yield* rp.Release(ctx)
        return [v, errno(err)]
      }
    }
  }

  *AccessAt(ctx: Ctx, creds: Cred, ats: AccessTypes, pop: PathOperation): Sim<Errno | null> {
    const rp = this.rp(creds, pop)
    const [, err] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.AccessAt(ctx, rp, creds, ats)] as [null, VfsErr]
    })
    return err
  }

  /** The file at pop, with a reference taken on the returned VirtualDentry. */
  *GetDentryAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: GetDentryOptions): Sim<[VirtualDentry | null, Errno | null]> {
    const rp = this.rp(creds, pop)
    const [vd, err] = yield* this.retry<VirtualDentry | null>(ctx, rp, function* (rp) {
      const [d, err] = yield* rp.Mount().fs.impl.GetDentryAt(ctx, rp, opts)
      if (err !== null || d === null) return [null, err]
      rp.Mount().IncRef()
      return [new VirtualDentry(rp.Mount(), d), null]
    })
    return [vd, err]
  }

  /** The parent directory of pop's final component (referenced) and that component. */
  private *getParentDirAndName(ctx: Ctx, creds: Cred, pop: PathOperation): Sim<[VirtualDentry | null, string, Errno | null]> {
    const rp = this.rp(creds, pop)
    let name = ""
    const [vd, err] = yield* this.retry<VirtualDentry | null>(ctx, rp, function* (rp) {
      const [d, err] = yield* rp.Mount().fs.impl.GetParentDentryAt(ctx, rp)
      if (err !== null || d === null) return [null, err]
      rp.Mount().IncRef()
      name = rp.Component()
      return [new VirtualDentry(rp.Mount(), d), null]
    })
    return [vd, name, err]
  }

  *LinkAt(ctx: Ctx, creds: Cred, oldpop: PathOperation, newpop: PathOperation): Sim<Errno | null> {
    const [oldVD, err] = yield* this.GetDentryAt(ctx, creds, oldpop, {})
    if (err !== null || oldVD === null) return err
    if (!newpop.Path.Begin.Ok()) {
      yield* oldVD.DecRef(ctx)
      return newpop.Path.Absolute ? "EEXIST" : "ENOENT"
    }
    if (newpop.FollowFinalSymlink) {
      yield* oldVD.DecRef(ctx)
      return "EINVAL"
    }
    const rp = this.rp(creds, newpop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.LinkAt(ctx, rp, oldVD)] as [null, VfsErr]
    })
    yield* oldVD.DecRef(ctx)
    return e
  }

  *MkdirAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: MkdirOptions): Sim<Errno | null> {
    if (!pop.Path.Begin.Ok()) return pop.Path.Absolute ? "EEXIST" : "ENOENT"
    if (pop.FollowFinalSymlink) return "EINVAL"
    // "Under Linux, apart from the permission bits, the S_ISVTX mode bit is
    // also honored." - mkdir(2)
    const o: MkdirOptions = { ...opts, Mode: opts.Mode & (0o777 | S_ISVTX) }
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.MkdirAt(ctx, rp, o)] as [null, VfsErr]
    })
    return e
  }

  *MknodAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: MknodOptions): Sim<Errno | null> {
    if (!pop.Path.Begin.Ok()) return pop.Path.Absolute ? "EEXIST" : "ENOENT"
    if (pop.FollowFinalSymlink) return "EINVAL"
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.MknodAt(ctx, rp, opts)] as [null, VfsErr]
    })
    return e
  }

  /** A new open description for the file at pop (reference held by the caller). */
  *OpenAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: OpenOptions): Sim<[FileDescription | null, Errno | null]> {
    // Drop O_CLOEXEC (a descriptor flag) and unknown flags.
    opts.Flags &=
      O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_SYNC | O_PATH | O_TMPFILE
    // Linux's __O_SYNC (linux.O_SYNC here) implies O_DSYNC.
    if ((opts.Flags & O_SYNC) !== 0) opts.Flags |= O_DSYNC
    if ((opts.Flags & O_TMPFILE) !== 0) {
      if ((opts.Flags & O_DIRECTORY) === 0 || (opts.Flags & O_CREAT) !== 0 || (opts.Flags & O_ACCMODE) === 0) return [null, "EINVAL"]
    }
    // O_PATH makes most other flags irrelevant.
    if ((opts.Flags & O_PATH) !== 0) opts.Flags &= O_DIRECTORY | O_NOFOLLOW | O_PATH
    // "On Linux, the following bits are also honored in mode: [S_ISUID,
    // S_ISGID, S_ISVTX]" - open(2)
    opts.Mode &= 0o777 | S_ISUID | S_ISGID | S_ISVTX
    if ((opts.Flags & O_NOFOLLOW) !== 0) pop.FollowFinalSymlink = false
    const rp = this.rp(creds, pop)
    if ((opts.Flags & O_DIRECTORY) !== 0) rp.setMustBeDir()
    if ((opts.Flags & O_PATH) !== 0) {
      // As the seed's OpenAt: GetDentryAt of the path as given, so O_DIRECTORY
      // (kept by the flag mask above) is not checked (newer gVisor's
      // openOPathFD checks it; DIALECTS.md: gofer.open.opath-ignores-directory).
      const [vd, err] = yield* this.GetDentryAt(ctx, creds, pop, {})
      if (err !== null || vd === null) return [null, err]
      const fd = new FileDescription()
      const impl = new OpathFD((c) => opathStat(c, vd))
      const e = yield* fd.Init(impl, opts.Flags, vd.mount, vd.dentry)
      yield* vd.DecRef(ctx)
      if (e !== null) return [null, e]
      return [fd, null]
    }
    const [fd, err] = yield* this.retry<FileDescription | null>(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.OpenAt(ctx, rp, opts)
    })
    return [fd, err]
  }

  *ReadlinkAt(ctx: Ctx, creds: Cred, pop: PathOperation): Sim<[string, Errno | null]> {
    const rp = this.rp(creds, pop)
    return yield* this.retry(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.ReadlinkAt(ctx, rp)
    })
  }

  *RenameAt(ctx: Ctx, creds: Cred, oldpop: PathOperation, newpop: PathOperation, opts: RenameOptions): Sim<Errno | null> {
    if (!oldpop.Path.Begin.Ok()) return oldpop.Path.Absolute ? "EBUSY" : "ENOENT"
    if (oldpop.FollowFinalSymlink) return "EINVAL"
    const [oldParentVD, oldName, err] = yield* this.getParentDirAndName(ctx, creds, oldpop)
    if (err !== null || oldParentVD === null) return err
    if (oldName === "." || oldName === "..") {
      yield* oldParentVD.DecRef(ctx)
      return "EBUSY"
    }
    if (!newpop.Path.Begin.Ok()) {
      yield* oldParentVD.DecRef(ctx)
      return newpop.Path.Absolute ? "EBUSY" : "ENOENT"
    }
    if (newpop.FollowFinalSymlink) {
      yield* oldParentVD.DecRef(ctx)
      return "EINVAL"
    }
    const renameOpts: RenameOptions = { ...opts, MustBeDir: opts.MustBeDir || oldpop.Path.Dir }
    const rp = this.rp(creds, newpop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.RenameAt(ctx, rp, oldParentVD, oldName, renameOpts)] as [null, VfsErr]
    })
    yield* oldParentVD.DecRef(ctx)
    return e
  }

  *RmdirAt(ctx: Ctx, creds: Cred, pop: PathOperation): Sim<Errno | null> {
    if (!pop.Path.Begin.Ok()) return pop.Path.Absolute ? "EBUSY" : "ENOENT"
    if (pop.FollowFinalSymlink) return "EINVAL"
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.RmdirAt(ctx, rp)] as [null, VfsErr]
    })
    return e
  }

  *SetStatAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: SetStatOptions): Sim<Errno | null> {
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.SetStatAt(ctx, rp, opts)] as [null, VfsErr]
    })
    return e
  }

  *StatAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    const rp = this.rp(creds, pop)
    return yield* this.retry(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.StatAt(ctx, rp, opts)
    })
  }

  *StatFSAt(ctx: Ctx, creds: Cred, pop: PathOperation): Sim<[Statfs | null, Errno | null]> {
    const rp = this.rp(creds, pop)
    return yield* this.retry(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.StatFSAt(ctx, rp)
    })
  }

  *SymlinkAt(ctx: Ctx, creds: Cred, pop: PathOperation, target: string): Sim<Errno | null> {
    if (!pop.Path.Begin.Ok()) return pop.Path.Absolute ? "EEXIST" : "ENOENT"
    if (pop.FollowFinalSymlink) return "EINVAL"
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.SymlinkAt(ctx, rp, target)] as [null, VfsErr]
    })
    return e
  }

  *UnlinkAt(ctx: Ctx, creds: Cred, pop: PathOperation): Sim<Errno | null> {
    if (!pop.Path.Begin.Ok()) return pop.Path.Absolute ? "EBUSY" : "ENOENT"
    if (pop.FollowFinalSymlink) return "EINVAL"
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.UnlinkAt(ctx, rp)] as [null, VfsErr]
    })
    return e
  }

  *ListXattrAt(ctx: Ctx, creds: Cred, pop: PathOperation, size: number): Sim<[readonly string[], Errno | null]> {
    const rp = this.rp(creds, pop)
    const [names, err] = yield* this.retry(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.ListXattrAt(ctx, rp, size)
    })
    // Linux doesn't return EOPNOTSUPP here; fs/xattr.c:vfs_listxattr() falls
    // back to the security subsystem, which by default has none.
    if (err === "EOPNOTSUPP") return [[], null]
    return [names, err]
  }

  *GetXattrAt(ctx: Ctx, creds: Cred, pop: PathOperation, name: string, size: number): Sim<[string, Errno | null]> {
    const rp = this.rp(creds, pop)
    return yield* this.retry(ctx, rp, function* (rp) {
      return yield* rp.Mount().fs.impl.GetXattrAt(ctx, rp, name, size)
    })
  }

  *SetXattrAt(ctx: Ctx, creds: Cred, pop: PathOperation, opts: SetXattrOptions): Sim<Errno | null> {
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.SetXattrAt(ctx, rp, opts)] as [null, VfsErr]
    })
    return e
  }

  *RemoveXattrAt(ctx: Ctx, creds: Cred, pop: PathOperation, name: string): Sim<Errno | null> {
    const rp = this.rp(creds, pop)
    const [, e] = yield* this.retry(ctx, rp, function* (rp) {
      return [null, yield* rp.Mount().fs.impl.RemoveXattrAt(ctx, rp, name)] as [null, VfsErr]
    })
    return e
  }

  /** sync(2): every filesystem, the first error returned. */
  *SyncAllFilesystems(ctx: Ctx): Sim<Errno | null> {
    let retErr: Errno | null = null
    yield this.filesystemsMu.Lock()
    const fss = [...this.filesystems]
    yield this.filesystemsMu.Unlock()
    for (const fs of fss) {
      const e = yield* fs.impl.Sync(ctx)
      if (e !== null && retErr === null) retErr = e
    }
    return retErr
  }
}

function* opathStat(ctx: Ctx, vd: VirtualDentry): Sim<[Statx | null, Errno | null]> {
  // fstat on an O_PATH description: stat of the file itself, through a
  // resolution with no components left (the start is the file).
  const vfs = vd.mount.vfs
  const rp = new ResolvingPath(vfs, ctx.creds, vfs.root!, { Root: vfs.root!, Start: vd, Path: Parse(""), FollowFinalSymlink: false })
  const [st, err] = yield* vd.mount.fs.impl.StatAt(ctx, rp, {})
  return [st, errno(err)]
}

export type { PathOperation }
