// tmpfs.filesystem: gVisor's tmpfs filesystem (tmpfs.go's filesystem and
// GetFilesystem, and every path operation of filesystem.go), with the
// reference model as its inode store.
//
// Path resolution is gVisor's: stepLocked, walkParentDirLocked and
// resolveLocked walk the dentry tree under filesystem.mu with the VFS's
// ResolvingPath (symlinks, mount crossings, "..", trailing slashes). What a
// path operation does once the last component's parent (or the file) is
// found is one step of the model's inode-level operations, made while
// filesystem.mu is held, so Linux's checks and their order are the model's,
// written once (src/model/ops.ts); the dentry tree is then brought in line
// with what the step did, within the same critical section. Where gVisor's
// tmpfs orders its checks differently from Linux, this port takes Linux's
// (the model's); what gVisor's VFS and syscall layers decide before a
// filesystem is called stays theirs (src/model/DIALECTS.md,
// gvisor-tmpfs).
//
// Lock order (tmpfs.go's package comment, as the code takes the locks;
// declared to the lock-order checker as TMPFS_LOCK_ORDER):
//   filesystem.mu
//     regularFileFD.offMu
//       inode.mu
//         regularFile.dataMu
//     directory.iterMu
// gVisor's comment puts regularFileFD.offMu under inode.mu, but its
// regularFileFD.Write holds offMu across pwrite, which takes inode.mu: the
// code's order is declared. Path operations take filesystem.mu for reading
// (lookups) or writing (changes to the tree); the VFS's own locks
// (Dentry.mu, mountMu) come after filesystem.mu.

import {
  fifoOpenEnds,
  inodeStep,
  openLastState,
  type Blocks,
  type InodeStat,
  type Inodes,
  type ModelState,
  type OpenLastResult,
  type OrErrno,
} from "../../model/index.js"
import type { Cred, Errno, MknodType, OpenFlag, OpResult, RenameFlag, TimeSpec, XattrFlag } from "../../model/types.js"
import type { LockOrderSpec } from "../../sim/lockorder.js"
import type { Upstream } from "../../sim/mutants.js"
import { Signal, type Scheduler, type Sim } from "../../sim/scheduler.js"
import { logMark } from "../../sim/marks.js"
import type { TmpfsMark } from "./marks.js"
import { RWMutex } from "../../sim/sync.js"
import { type Ctx, panic } from "../vfs/context.js"
import type { Dentry as VfsDentry } from "../vfs/dentry.js"
import { FileDescription } from "../vfs/file_description.js"
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
import {
  NAME_MAX,
  O_ACCMODE,
  O_APPEND,
  O_CREAT,
  O_DIRECT,
  O_DIRECTORY,
  O_DSYNC,
  O_EXCL,
  O_NOFOLLOW,
  O_NONBLOCK,
  O_SYNC,
  O_TMPFILE,
  O_TRUNC,
  PAGE_SIZE,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  S_IFCHR,
  S_IFIFO,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  XATTR_CREATE,
  XATTR_REPLACE,
} from "../vfs/linux.js"
import type { Filesystem, Mount, VirtualDentry } from "../vfs/mount.js"
import { GenericCheckPermissions, MayExec, STATX_ATIME, STATX_GID, STATX_MODE, STATX_MTIME, STATX_SIZE, STATX_UID, UTIME_NOW, type AccessTypes } from "../vfs/permissions.js"
import type { ResolveError, ResolvingPath } from "../vfs/resolving_path.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import { newFD, type fileDescription } from "./regular_file.js"
import { dentry, inode, typeBits } from "./tmpfs.js"

export const TMPFS_LOCK_ORDER: LockOrderSpec = {
  owner: "tmpfs",
  prefix: "tmpfs.",
  tree: `
filesystem.mu
  *** gVisor's comment has regularFileFD.offMu under inode.mu; its
  *** regularFileFD.Write holds offMu across pwrite's inode.mu.
  regularFileFD.offMu
    inode.mu
      regularFile.dataMu
  directory.iterMu
`,
}

/** TMPFS_MAGIC. */
export const TMPFS_MAGIC = 0x01021994

const ROOT: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] })

/** Test-only mutants of the port (mount option mutant=NAME): each a deliberate bug an invariant must catch. */
export const TMPFS_MUTANTS = {
  /** StatAt takes a reference on the file and never drops it. */
  "stat-leaks-ref": "StatAt takes a reference on the file and never drops it",
  /** UnlinkAt leaves the removed name's dentry in its parent's children. */
  "unlink-keeps-dentry": "UnlinkAt leaves the removed name's dentry in the tree",
  // Re-created upstream bugs (TMPFS_MUTANT_UPSTREAM: the fixing commit; the mutant is the code before it).
  "open-creat-unreferenced":
    "OpenAt with O_CREAT lets filesystem.mu go after creating the file and before opening it, holding no reference on the new dentry: an unlink in between destroys the inode the open then takes a reference on",
  "fifo-open-holds-fs-mu":
    "OpenAt waits for a FIFO's other end while still holding filesystem.mu (for reading, or for writing under O_CREAT): the other end's open, or anything queued behind a writer, waits for it forever",
  "append-ignored": "writes ignore O_APPEND: write(2) writes at the description's offset and pwrite(2) at the offset given",
  "rmdir-keeps-link-ref": "RmdirAt never drops the removed directory's link reference: the inode is leaked",
  "release-leaks-files": "Release (unmount) drops no inode's link reference: every file of the filesystem is leaked",
} as const
export type TmpfsMutant = keyof typeof TMPFS_MUTANTS

/** The upstream fix each re-created bug inverts (src/sim/mutants.ts, Upstream). */
export const TMPFS_MUTANT_UPSTREAM: Readonly<Partial<Record<TmpfsMutant, Upstream>>> = {
  "open-creat-unreferenced": {
    commit: "10ba578c018294bb037a7eb90010491cdda270a7",
    subject: "tmpfs: make sure that a dentry will not be destroyed before the open() call",
    needs: "race",
  },
  "fifo-open-holds-fs-mu": { commit: "6405525b046bb82a39e3338e61e41690133c43c1", subject: "Avoid holding locks when opening files in VFS2.", needs: "race" },
  "append-ignored": { commit: "9654bf04acad7300e0bf964183f7860bd553f563", subject: "[vfs2][tmpfs] Implement O_APPEND", needs: "sequential" },
  "rmdir-keeps-link-ref": { commit: "32021bce9607e09f3d21d3d28047d49340da231e", subject: "Correctly update link and ref counts in rmdir.", needs: "sequential" },
  "release-leaks-files": {
    commit: "60f159b5580da98ab8261f4e694692c9412a2fae",
    subject: "[vfs2] Destroy all tmpfs files when the filesystem is released.",
    needs: "sequential",
  },
}

export function isTmpfsMutant(s: string): s is TmpfsMutant {
  return Object.prototype.hasOwnProperty.call(TMPFS_MUTANTS, s)
}

export interface FilesystemOpts {
  /** The filesystem's minor device number (its major is 0, UNNAMED_MAJOR). */
  readonly devMinor: number
  readonly mutant?: TmpfsMutant
}

/** A FIFO open waiting for the other end (namedPipe's waitFor). */
interface FifoWaiter {
  readonly ino: number
  readonly end: "read" | "write"
  readonly signal: Signal
}

/** Open flags as the model names them. */
export function modelOpenFlags(flags: number): OpenFlag[] {
  const out: OpenFlag[] = []
  const acc = flags & O_ACCMODE
  if (acc === 0) out.push("O_RDONLY")
  if ((acc & 1) !== 0) out.push("O_WRONLY")
  if ((acc & 2) !== 0) out.push("O_RDWR")
  const bits: readonly [number, OpenFlag][] = [
    [O_CREAT, "O_CREAT"],
    [O_EXCL, "O_EXCL"],
    [O_TRUNC, "O_TRUNC"],
    [O_APPEND, "O_APPEND"],
    [O_DIRECTORY, "O_DIRECTORY"],
    [O_NOFOLLOW, "O_NOFOLLOW"],
    [O_DIRECT, "O_DIRECT"],
    [O_NONBLOCK, "O_NONBLOCK"],
  ]
  for (const [b, n] of bits) if ((flags & b) !== 0) out.push(n)
  if ((flags & O_SYNC) !== 0) out.push("O_SYNC")
  else if ((flags & O_DSYNC) !== 0) out.push("O_DSYNC")
  return out
}

function errnoOf(r: OpResult): Errno | null {
  return "errno" in r ? r.errno : null
}

export class filesystem implements FilesystemImpl {
  vfsfs!: Filesystem
  readonly sched: Scheduler
  /** filesystem.mu: serializes changes to the dentry tree. */
  readonly mu: RWMutex
  /** The inode store: a model state, changed only by `step`. */
  state: ModelState
  root!: dentry
  /** Live inodes (references > 0) by inode number. */
  readonly inodes = new Map<number, inode>()
  /** Open descriptions of this filesystem (for the leak check). */
  readonly openFDs = new Set<fileDescription>()
  private nextFD = 0
  private readonly fifoWaiters: FifoWaiter[] = []
  released = false
  readonly devMinor: number
  readonly mutant: TmpfsMutant | undefined

  constructor(
    readonly vfs: VirtualFilesystem,
    state: ModelState,
    opts: FilesystemOpts,
  ) {
    this.sched = vfs.sched
    this.mu = new RWMutex(this.sched, "tmpfs.filesystem.mu")
    this.state = state
    this.devMinor = opts.devMinor
    this.mutant = opts.mutant
  }

  // -------------------------------------------------------------------------
  // The model as inode store.

  /**
   * One atomic step of the model's inode-level operations as `creds` at the
   * current simulated time. Never yields: a step's reads and writes of the
   * state are one indivisible change.
   */
  step<T>(creds: Cred, body: (fs: Inodes) => T): T {
    const out = inodeStep(this.state, creds, this.sched.now, body)
    this.state = out.state
    return out.value
  }

  /** As `step`, but the state stays as it was when the body's result is an errno (a setattr of several attributes is all or nothing). */
  stepIf(creds: Cred, body: (fs: Inodes) => OpResult): OpResult {
    const out = inodeStep(this.state, creds, this.sched.now, body)
    if (!("errno" in out.value)) this.state = out.state
    return out.value
  }

  /** A look at the state that changes nothing. */
  peek<T>(body: (fs: Inodes) => T): T {
    return inodeStep(this.state, ROOT, this.sched.now, body).value
  }

  statOf(ino: number): InodeStat {
    const st = this.peek((i) => i.stat(ino))
    if (st === undefined) panic(`tmpfs: inode ${ino} is referenced but gone from the model`)
    return st
  }

  /** Builds the dentry tree from the state (GetFilesystem, and tree literals). */
  buildTree(): void {
    const rootIno = this.peek((i) => i.root)
    const byIno = new Map<number, inode>()
    const inodeOf = (ino: number): inode => {
      let i = byIno.get(ino)
      if (i === undefined) {
        i = new inode(this, ino, this.statOf(ino).kind)
        byIno.set(ino, i)
        this.inodes.set(ino, i)
      }
      return i
    }
    this.root = new dentry(inodeOf(rootIno))
    const fill = (d: dentry): void => {
      const entries = this.peek((i) => i.entries(d.inode.ino)) ?? []
      for (const e of entries) {
        const child = new dentry(inodeOf(e.ino))
        d.insertChildLocked(child, e.name)
        if (child.isDir()) fill(child)
      }
    }
    fill(this.root)
  }

  newInode(ino: number): inode {
    const existing = this.inodes.get(ino)
    if (existing !== undefined) return existing
    const i = new inode(this, ino, this.statOf(ino).kind)
    this.inodes.set(ino, i)
    return i
  }

  /** Pins or unpins the model inode as the inode's references beyond its link reference come and go. */
  updateHold(i: inode): void {
    const want = i.extraRefs() > 0
    if (want === i.held) return
    i.held = want
    if (want) this.step(ROOT, (m) => m.hold(i.ino, i.holdName))
    else this.step(ROOT, (m) => m.close(i.holdName))
  }

  /** The last reference is gone (inode.decRef's destructor). */
  destroyInode(i: inode): void {
    if (this.inodes.get(i.ino) === i) this.inodes.delete(i.ino)
  }

  /** After a step that may have removed names of `i`: drops its link reference once it has none. */
  syncLinked(i: inode): void {
    if (!i.linked) return
    const st = this.peek((m) => m.stat(i.ino))
    if (st === undefined || st.nlink === 0) i.dropLinkRef()
  }

  /** A fresh name for an open description in the model's table. */
  newFDName(): string {
    return `\u0000tmpfs.fd.${this.nextFD++}`
  }

  /** inode.checkPermissions: vfs.GenericCheckPermissions on the model's attributes. */
  checkPermissions(creds: Cred, ats: AccessTypes, i: inode): Errno | null {
    const st = this.statOf(i.ino)
    return GenericCheckPermissions(creds, ats, typeBits(st.kind) | st.mode, st.uid, st.gid)
  }

  /** inode.statTo. */
  statTo(i: inode): Statx {
    const st = this.statOf(i.ino)
    return {
      mode: typeBits(st.kind) | st.mode,
      nlink: st.nlink,
      uid: st.uid,
      gid: st.gid,
      ino: st.ino,
      size: st.size,
      blocks: st.kind === "file" ? Math.ceil(st.size / 512) : 0,
      blksize: PAGE_SIZE,
      atime: st.atime,
      mtime: st.mtime,
      ctime: st.ctime,
      btime: st.ctime,
      devMajor: 0,
      devMinor: this.devMinor,
    }
  }

  // -------------------------------------------------------------------------
  // FIFOs: an open that waits for the other end.

  /** Wakes the FIFO opens whose other end is now open. */
  wakeFifoWaiters(): void {
    for (let k = 0; k < this.fifoWaiters.length; k++) {
      const w = this.fifoWaiters[k]!
      const ends = fifoOpenEnds(this.state, w.ino)
      if ((w.end === "read" ? ends.writers : ends.readers) > 0) {
        this.fifoWaiters.splice(k--, 1)
        w.signal.set()
      }
    }
  }

  /** A signal set once the other end of the FIFO is open (the open itself is already made). */
  fifoWaiter(b: Blocks): Signal {
    const signal = new Signal(this.sched, `the ${b.end === "read" ? "write" : "read"} end of the FIFO (inode ${b.ino}) to be opened`)
    this.fifoWaiters.push({ ino: b.ino, end: b.end, signal })
    return signal
  }

  pendingFifoOpens(): number {
    return this.fifoWaiters.length
  }

  /** Logs coverage mark `name` at d (its child `child`, if given): costs nothing more when the log is off. */
  mark(name: TmpfsMark, d?: dentry, child?: string): void {
    if (!this.sched.log.enabled) return
    logMark(this.sched, name, d === undefined ? undefined : () => (child === undefined ? d.pathForLog() : `${d.pathForLog()}/${child}`))
  }

  // -------------------------------------------------------------------------
  // Path resolution (filesystem.go).

  /**
   * stepLocked resolves rp.Component() to an existing file, starting from
   * the given directory (fs/namei.c:walk_component).
   * Preconditions: filesystem.mu is locked. !rp.Done().
   */
  stepLocked(rp: ResolvingPath, d: dentry): [dentry | null, VfsErr] {
    if (!d.isDir()) return [null, "ENOTDIR"]
    const perr = this.checkPermissions(rp.Credentials(), MayExec, d.inode)
    if (perr !== null) return [null, perr]
    let followed = false
    for (;;) {
      const name = rp.Component()
      if (name === ".") {
        rp.Advance()
        return [d, null]
      }
      if (name === "..") {
        const [isRoot, rerr] = rp.CheckRoot(d.vfsd)
        if (rerr !== null) return [null, rerr]
        if (isRoot || d.parent === null) {
          rp.Advance()
          return [d, null]
        }
        const merr = rp.CheckMount(d.parent.vfsd)
        if (merr !== null) return [null, merr]
        rp.Advance()
        return [d.parent, null]
      }
      if (name.length > NAME_MAX) return [null, "ENAMETOOLONG"]
      const child = d.children!.get(name)
      if (child === undefined) return [null, "ENOENT"]
      const merr = rp.CheckMount(child.vfsd)
      if (merr !== null) return [null, merr]
      if (child.inode.kind === "symlink" && rp.ShouldFollowSymlink()) {
        if (followed) this.mark("tmpfs.walk.symlink-chain", d, name)
        followed = true
        const target = this.peek((m) => m.target(child.inode.ino)) ?? ""
        const serr = rp.HandleSymlink(target)
        // pick_link: the link count is checked first, then the symlink's atime is touched.
        if (serr !== "ELOOP") this.step(ROOT, (m) => m.touchAtime(child.inode.ino))
        if (serr !== null) return [null, serr]
        // Resolution continues in d with the target's first component
        // (don't check the current directory again).
        continue
      }
      rp.Advance()
      return [child, null]
    }
  }

  /**
   * walkParentDirLocked resolves all but the last path component of rp to
   * an existing directory, starting from d. It does not check that the
   * returned directory is searchable (the model's step does, as Linux does).
   * Preconditions: filesystem.mu is locked. !rp.Done().
   */
  walkParentDirLocked(rp: ResolvingPath, d: dentry): [dentry | null, VfsErr] {
    while (!rp.Final()) {
      const [next, err] = this.stepLocked(rp, d)
      if (err !== null || next === null) return [null, err]
      d = next
    }
    if (!d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /** resolveLocked resolves rp to an existing file. Precondition: filesystem.mu is locked. */
  resolveLocked(rp: ResolvingPath): [dentry | null, VfsErr] {
    let d = rp.Start().Impl<dentry>()
    while (!rp.Done()) {
      const [next, err] = this.stepLocked(rp, d)
      if (err !== null || next === null) return [null, err]
      d = next
    }
    if (rp.MustBeDir() && !d.isDir()) return [null, "ENOTDIR"]
    return [d, null]
  }

  /**
   * doCreateAt: walks to the parent, runs `create` (a model step making the
   * child) with the mount held for writing, and enters the new dentry.
   * Preconditions: !rp.Done().
   */
  private *doCreateAt(rp: ResolvingPath, create: (parent: dentry, name: string) => OrErrno<{ readonly ino: number }> | Errno): Sim<VfsErr> {
    yield this.mu.Lock()
    try {
      const [parent, err] = this.walkParentDirLocked(rp, rp.Start().Impl<dentry>())
      if (err !== null || parent === null) return err
      const name = rp.Component()
      const mnt = rp.Mount()
      const werr = mnt.CheckBeginWrite()
      if (werr !== null) return werr
      try {
        const r = create(parent, name)
        if (typeof r === "string") return r
        if ("errno" in r) return r.errno
        const existing = this.inodes.get(r.ino)
        if (existing !== undefined) {
          // A new name of an existing inode (LinkAt).
          parent.insertChildLocked(new dentry(existing), name)
        } else {
          parent.insertChildLocked(new dentry(this.newInode(r.ino)), name)
        }
        return null
      } finally {
        mnt.EndWrite()
      }
    } finally {
      yield this.mu.Unlock()
    }
  }

  // -------------------------------------------------------------------------
  // FilesystemImpl.

  *Sync(): Sim<Errno | null> {
    // All filesystem state is in memory.
    return null
  }

  /**
   * Release: drops every inode's link reference (releaseChildrenLocked), so
   * every inode with no other reference goes; an inode still referenced
   * afterwards is a leak, which the mount's check reports.
   */
  *Release(_ctx: Ctx): Sim<void> {
    yield this.mu.Lock()
    const release = (d: dentry): void => {
      if (d.children !== null) for (const c of [...d.children.values()]) release(c)
      if (d.inode.linked) d.inode.dropLinkRef()
    }
    // (Mutant release-leaks-files: gVisor before 60f159b5 had no
    // releaseChildrenLocked; every inode kept its link reference.)
    if (this.mutant !== "release-leaks-files") release(this.root)
    this.released = true
    yield this.mu.Unlock()
  }

  *AccessAt(_ctx: Ctx, rp: ResolvingPath, creds: Cred, ats: AccessTypes): Sim<VfsErr> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return err
      return this.checkPermissions(creds, ats, d.inode)
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *GetDentryAt(_ctx: Ctx, rp: ResolvingPath, opts: GetDentryOptions): Sim<[VfsDentry | null, VfsErr]> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return [null, err]
      if (opts.CheckSearchable === true) {
        if (!d.isDir()) return [null, "ENOTDIR"]
        const perr = this.checkPermissions(rp.Credentials(), MayExec, d.inode)
        if (perr !== null) return [null, perr]
      }
      yield* d.IncRef()
      return [d.vfsd, null]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *GetParentDentryAt(_ctx: Ctx, rp: ResolvingPath): Sim<[VfsDentry | null, VfsErr]> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.walkParentDirLocked(rp, rp.Start().Impl<dentry>())
      if (err !== null || d === null) return [null, err]
      yield* d.IncRef()
      return [d.vfsd, null]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *LinkAt(_ctx: Ctx, rp: ResolvingPath, vd: VirtualDentry): Sim<VfsErr> {
    const creds = rp.Credentials()
    return yield* this.doCreateAt(rp, (parent, name) => {
      if (rp.Mount() !== vd.Mount()) return "EXDEV"
      const target = vd.Dentry().Impl<dentry>().inode
      const r = this.step(creds, (m) => m.link(parent.inode.ino, name, target.ino, rp.MustBeDir()))
      const e = errnoOf(r)
      return e !== null ? e : { ino: target.ino }
    })
  }

  *MkdirAt(_ctx: Ctx, rp: ResolvingPath, opts: MkdirOptions): Sim<VfsErr> {
    const creds = rp.Credentials()
    return yield* this.doCreateAt(rp, (parent, name) => this.step(creds, (m) => m.mkdir(parent.inode.ino, name, opts.Mode, rp.MustBeDir())))
  }

  *MknodAt(_ctx: Ctx, rp: ResolvingPath, opts: MknodOptions): Sim<VfsErr> {
    const creds = rp.Credentials()
    const perm = opts.Mode & ~S_IFMT
    let type: MknodType | "whiteout"
    switch (opts.Mode & S_IFMT) {
      case 0:
      case S_IFREG:
        type = "file"
        break
      case S_IFIFO:
        type = "fifo"
        break
      case S_IFSOCK:
        type = "socket"
        break
      case S_IFCHR:
        // Only the 0:0 device (an overlay whiteout) exists in fsim.
        if (opts.DevMajor !== 0 || opts.DevMinor !== 0) return "EPERM"
        type = "whiteout"
        this.mark("tmpfs.mknod.whiteout")
        break
      default:
        return "EINVAL"
    }
    return yield* this.doCreateAt(rp, (parent, name) =>
      this.step(creds, (m) => (type === "whiteout" ? m.mknodWhiteout(parent.inode.ino, name, perm, rp.MustBeDir()) : m.mknod(parent.inode.ino, name, type, perm, rp.MustBeDir()))),
    )
  }

  *SymlinkAt(_ctx: Ctx, rp: ResolvingPath, target: string): Sim<VfsErr> {
    const creds = rp.Credentials()
    return yield* this.doCreateAt(rp, (parent, name) => this.step(creds, (m) => m.symlink(parent.inode.ino, name, target, rp.MustBeDir())))
  }

  *UnlinkAt(_ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    return yield* this.removeAt(rp, false)
  }

  *RmdirAt(_ctx: Ctx, rp: ResolvingPath): Sim<VfsErr> {
    return yield* this.removeAt(rp, true)
  }

  /** UnlinkAt and RmdirAt: the model's unlinkat/rmdir of the last component, VFS's Prepare/Commit around it. */
  private *removeAt(rp: ResolvingPath, dir: boolean): Sim<VfsErr> {
    const creds = rp.Credentials()
    yield this.mu.Lock()
    try {
      const [parent, err] = this.walkParentDirLocked(rp, rp.Start().Impl<dentry>())
      if (err !== null || parent === null) return err
      const name = rp.Component()
      const child = name === "." || name === ".." ? undefined : parent.children!.get(name)
      const mnt = rp.Mount()
      const werr = mnt.CheckBeginWrite()
      if (werr !== null) return werr
      try {
        const vfsObj = rp.VirtualFilesystem()
        if (child !== undefined) {
          const perr = yield* vfsObj.PrepareDeleteDentry(child.vfsd)
          if (perr !== null) return perr
        }
        const r = this.step(creds, (m) => (dir ? m.rmdir(parent.inode.ino, name, rp.MustBeDir()) : m.unlink(parent.inode.ino, name, rp.MustBeDir())))
        const e = errnoOf(r)
        if (e !== null || child === undefined) {
          if (child !== undefined) yield* vfsObj.AbortDeleteDentry(child.vfsd)
          if (e === null) panic(`tmpfs: the model removed ${JSON.stringify(name)} from ${parent.pathForLog()}, which has no such dentry`)
          return e
        }
        if (!(this.mutant === "unlink-keeps-dentry" && !dir)) parent.removeChildLocked(child)
        // (Mutant rmdir-keeps-link-ref: gVisor before 32021bce decremented a
        // removed directory's links without dropping the reference its last
        // link held.)
        if (!(this.mutant === "rmdir-keeps-link-ref" && dir)) this.syncLinked(child.inode)
        yield* vfsObj.CommitDeleteDentry(child.vfsd)
        return null
      } finally {
        mnt.EndWrite()
      }
    } finally {
      yield this.mu.Unlock()
    }
  }

  *RenameAt(_ctx: Ctx, rp: ResolvingPath, oldParentVD: VirtualDentry, oldName: string, opts: RenameOptions): Sim<VfsErr> {
    const creds = rp.Credentials()
    // renameat2's flags check comes first (Linux's do_renameat2).
    if ((opts.Flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0) return "EINVAL"
    const flags: RenameFlag[] = []
    if ((opts.Flags & RENAME_NOREPLACE) !== 0) flags.push("RENAME_NOREPLACE")
    if ((opts.Flags & RENAME_EXCHANGE) !== 0) flags.push("RENAME_EXCHANGE")
    if (flags.length === 2) return "EINVAL"
    const exchange = flags.includes("RENAME_EXCHANGE")
    yield this.mu.Lock()
    try {
      // Resolve newParent first to verify that it's on this Mount.
      const [newParent, err] = this.walkParentDirLocked(rp, rp.Start().Impl<dentry>())
      if (err !== null || newParent === null) return err
      const newName = rp.Component()
      const mnt = rp.Mount()
      if (mnt !== oldParentVD.Mount()) return "EXDEV"
      const werr = mnt.CheckBeginWrite()
      if (werr !== null) return werr
      try {
        const oldParent = oldParentVD.Dentry().Impl<dentry>()
        const dots = (n: string): boolean => n === "." || n === ".."
        const renamed = dots(oldName) ? undefined : oldParent.children?.get(oldName)
        let replaced = dots(newName) ? undefined : newParent.children!.get(newName)
        // Renaming a name onto itself: one dentry, locked once.
        const same = replaced !== undefined && replaced === renamed
        if (same) replaced = undefined
        const vfsObj = rp.VirtualFilesystem()
        if (renamed !== undefined) {
          const perr = yield* vfsObj.PrepareRenameDentry(renamed.vfsd, replaced?.vfsd ?? null)
          if (perr !== null) return perr
        }
        const r = this.step(creds, (m) => m.rename(oldParent.inode.ino, oldName, newParent.inode.ino, newName, flags, opts.MustBeDir, rp.MustBeDir()))
        const e = errnoOf(r)
        if (e !== null || renamed === undefined) {
          if (renamed !== undefined) yield* vfsObj.AbortRenameDentry(renamed.vfsd, replaced?.vfsd ?? null)
          if (e === null) panic(`tmpfs: the model renamed ${JSON.stringify(oldName)} in ${oldParent.pathForLog()}, which has no such dentry`)
          return e
        }
        if (same || (oldParent === newParent && oldName === newName)) {
          yield* vfsObj.AbortRenameDentry(renamed.vfsd, null)
          return null
        }
        if (exchange) {
          this.mark("tmpfs.rename.exchange", newParent, newName)
          // Both names stay; their files change places.
          if (replaced === undefined) panic(`tmpfs: RENAME_EXCHANGE succeeded without a second name`)
          oldParent.removeChildLocked(renamed)
          newParent.removeChildLocked(replaced)
          newParent.insertChildLocked(renamed, newName)
          oldParent.insertChildLocked(replaced, oldName)
          // vfs.CommitRenameExchangeDentry: both stay alive.
          yield* vfsObj.AbortRenameDentry(renamed.vfsd, replaced.vfsd)
          return null
        }
        if (replaced !== undefined && replaced.inode === renamed.inode) {
          // Two names of one file: Linux's rename does nothing.
          this.mark("tmpfs.rename.same-file", newParent, newName)
          yield* vfsObj.AbortRenameDentry(renamed.vfsd, replaced.vfsd)
          return null
        }
        if (replaced !== undefined) this.mark("tmpfs.rename.replace", newParent, newName)
        if (replaced !== undefined) newParent.removeChildLocked(replaced)
        oldParent.removeChildLocked(renamed)
        newParent.insertChildLocked(renamed, newName)
        if (replaced !== undefined) this.syncLinked(replaced.inode)
        yield* vfsObj.CommitRenameReplaceDentry(renamed.vfsd, replaced?.vfsd ?? null)
        return null
      } finally {
        mnt.EndWrite()
      }
    } finally {
      yield this.mu.Unlock()
    }
  }

  *OpenAt(_ctx: Ctx, rp: ResolvingPath, opts: OpenOptions): Sim<[FileDescription | null, VfsErr]> {
    // Linux 6.4+ refuses O_CREAT|O_DIRECTORY at once (build_open_flags).
    if ((opts.Flags & O_CREAT) !== 0 && (opts.Flags & O_DIRECTORY) !== 0) return [null, "EINVAL"]
    if ((opts.Flags & O_TMPFILE) !== 0) return [null, "EOPNOTSUPP"]
    const creds = rp.Credentials()
    // (Mutant append-ignored: gVisor before 9654bf04 never looked at
    // O_APPEND in regularFileFD.pwrite. Here the model's description is
    // where pwrite's offset is chosen, so it is opened without the flag.)
    const flags = modelOpenFlags(this.mutant === "append-ignored" ? opts.Flags & ~O_APPEND : opts.Flags)
    const holdFifo = this.mutant === "fifo-open-holds-fs-mu"
    const mnt = rp.Mount()
    if ((opts.Flags & O_CREAT) === 0) {
      // Handle O_CREAT and !O_CREAT separately, since in the latter case we
      // don't need fs.mu for writing.
      let waiting: Signal | null = null
      let fd: FileDescription
      yield this.mu.RLock()
      try {
        const [d, err] = this.resolveLocked(rp)
        if (err !== null || d === null) return [null, err]
        const name = this.newFDName()
        const opened = this.step(creds, (m) => m.openWaiting(d.inode.ino, flags, name))
        const e = errnoOf(opened.result)
        if (e !== null) return [null, e]
        waiting = this.openedFifo(d.inode, opened.blocks)
        const [made, ferr] = yield* this.newFileDescription(mnt, d, opts.Flags, name)
        if (ferr !== null || made === null) return [null, ferr]
        fd = made
        // (Mutant fifo-open-holds-fs-mu: gVisor before 6405525b opened the
        // file, a FIFO's wait for its peer included, under filesystem.mu.)
        if (holdFifo && waiting !== null) {
          yield waiting.wait()
          waiting = null
        }
      } finally {
        yield this.mu.RUnlock()
      }
      // A FIFO waits for its other end outside filesystem.mu.
      if (waiting !== null) yield waiting.wait()
      return [fd, null]
    }

    const st = openLastState(new Set(flags))
    let start = rp.Start().Impl<dentry>()
    const name = this.newFDName()
    let waiting: Signal | null = null
    let result: FileDescription | null = null
    let unlocked = false
    yield this.mu.Lock()
    try {
      let r: OpenLastResult
      let parent: dentry
      let last: string
      if (rp.Done()) {
        // A path with no components: the start directory itself.
        parent = start
        last = ""
        r = this.step(creds, (m) => m.openLast(start.inode.ino, "", false, flags, opts.Mode, name, st))
      } else {
        for (;;) {
          const [p, err] = this.walkParentDirLocked(rp, start)
          if (err !== null || p === null) return [null, err]
          parent = p
          last = rp.Component()
          const pd = p
          const lastName = last
          r = this.step(creds, (m) => m.openLast(pd.inode.ino, lastName, rp.MustBeDir(), flags, opts.Mode, name, st))
          if (!("link" in r)) break
          // A trailing symlink to follow: resolution goes on from its target.
          this.mark("tmpfs.open.trailing-symlink", p, lastName)
          const serr = rp.HandleSymlink(r.target)

          if (serr !== null) return [null, serr]
          start = p
        }
      }
      if ("errno" in r) return [null, r.errno]
      if ("link" in r) panic("tmpfs: openLast left a symlink to follow")
      let child: dentry | undefined
      if (r.created) {
        child = new dentry(this.newInode(r.ino))
        parent.insertChildLocked(child, last)
      } else if (last === "") child = parent
      else child = parent.children!.get(last)
      if (child === undefined || child.inode.ino !== r.ino) panic(`tmpfs: the model opened inode ${r.ino} as ${JSON.stringify(last)} in ${parent.pathForLog()}, which the dentry tree does not have`)
      waiting = this.openedFifo(child.inode, r.blocks)
      if (r.created && this.mutant === "open-creat-unreferenced") {
        // (Mutant: gVisor between 6405525b and 10ba578c let filesystem.mu go
        // here, before child.open, with no reference on the new dentry, so
        // another thread's unlink could destroy it first.)
        unlocked = true
        yield this.mu.Unlock()
      }
      const [fd, ferr] = yield* this.newFileDescription(mnt, child, opts.Flags, name)
      if (ferr !== null || fd === null) return [null, ferr]
      result = fd
      if (holdFifo && waiting !== null) {
        yield waiting.wait()
        waiting = null
      }
    } finally {
      if (!unlocked) yield this.mu.Unlock()
    }
    // A FIFO waits for its other end outside filesystem.mu.
    if (waiting !== null) yield waiting.wait()
    return [result, null]
  }

  /**
   * Right after the model's open of a FIFO (before anything yields): wakes
   * the opens waiting for this end, and registers this one if it waits.
   */
  private openedFifo(i: inode, blocks: Blocks | undefined): Signal | null {
    if (i.kind !== "fifo") return null
    this.wakeFifoWaiters()
    return blocks === undefined ? null : this.fifoWaiter(blocks)
  }

  /** dentry.open, past the model's open of `modelFD`: the description of the right kind. */
  private *newFileDescription(mnt: Mount, d: dentry, flags: number, modelFD: string): Sim<[FileDescription | null, Errno | null]> {
    const [fd, err] = yield* newFD(this, mnt, d, flags, modelFD)
    if (err !== null || fd === null) {
      this.step(ROOT, (m) => m.close(modelFD))
      return [null, err]
    }
    return [fd, null]
  }

  *ReadlinkAt(_ctx: Ctx, rp: ResolvingPath): Sim<[string, VfsErr]> {
    const creds = rp.Credentials()
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return ["", err]
      const r = this.step(creds, (m) => m.readlink(d.inode.ino))
      return "target" in r ? [r.target, null] : ["", errnoOf(r) ?? "EINVAL"]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *SetStatAt(ctx: Ctx, rp: ResolvingPath, opts: SetStatOptions): Sim<VfsErr> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return err
      // inode.setStat takes inode.mu (and dataMu to truncate). Another
      // thread may change what the walk went through (a directory's mode)
      // meanwhile: the walk is made again under the locks, so that the walk
      // and the change are one step (the tree itself cannot change under
      // filesystem.mu).
      const mnt = rp.Mount()
      const werr = mnt.CheckBeginWrite()
      if (werr !== null) return werr
      try {
        return yield* this.setStat(ctx, rp.Credentials(), d.inode, opts, () => {
          rp.Restart()
          const [again, aerr] = this.resolveLocked(rp)
          if (aerr !== null) return aerr
          if (again !== d) panic(`tmpfs: SetStatAt resolved ${d.pathForLog()}, then ${again?.pathForLog() ?? "nothing"} under filesystem.mu`)
          return null
        })
      } finally {
        mnt.EndWrite()
      }
    } finally {
      yield this.mu.RUnlock()
    }
  }

  /**
   * inode.setStat: the model's setattr for what the request asks (a size,
   * a mode, owners, times), under inode.mu (and dataMu for a size).
   * `revalidate` runs under those locks just before the step.
   */
  *setStat(_ctx: Ctx, creds: Cred, i: inode, opts: SetStatOptions, revalidate: () => VfsErr, fdName?: string): Sim<VfsErr> {
    const s = opts.Stat
    const size = (s.mask & STATX_SIZE) !== 0
    yield i.mu.Lock()
    const data = size ? i.dataMu : null
    if (data !== null) yield data.Lock()
    try {
      const rerr = revalidate()
      if (rerr !== null) return rerr
      const time = (mask: number, t: number): TimeSpec | undefined => ((s.mask & mask) === 0 ? undefined : t === UTIME_NOW ? "UTIME_NOW" : t)
      // A request of several attributes (an overlay's copy-up) is applied
      // as the model's ops in turn, all or nothing: the size, the owners,
      // the mode (after the owners, so a chown's clearing of setuid does not
      // undo the mode asked for), then the times (last, so a truncation's
      // mtime does not replace the one asked for). The syscalls send one
      // kind at a time. An empty request (chown(-1, -1)) does nothing, as
      // gVisor's setStat.
      const r = this.stepIf(creds, (m): OpResult => {
        let res: OpResult = {}
        if (size) {
          res = fdName !== undefined ? m.ftruncate(fdName, s.size) : m.truncate(i.ino, s.size)
          if ("errno" in res) return res
        }
        if ((s.mask & (STATX_UID | STATX_GID)) !== 0) {
          res = m.chown(i.ino, (s.mask & STATX_UID) !== 0 ? s.uid : undefined, (s.mask & STATX_GID) !== 0 ? s.gid : undefined)
          if ("errno" in res) return res
        }
        if ((s.mask & STATX_MODE) !== 0) {
          res = m.chmod(i.ino, s.mode)
          if ("errno" in res) return res
        }
        if ((s.mask & (STATX_ATIME | STATX_MTIME)) !== 0) res = m.utimens(i.ino, time(STATX_ATIME, s.atime), time(STATX_MTIME, s.mtime))
        return res
      })
      return errnoOf(r)
    } finally {
      if (data !== null) yield data.Unlock()
      yield i.mu.Unlock()
    }
  }

  *StatAt(_ctx: Ctx, rp: ResolvingPath, _opts: StatOptions): Sim<[Statx | null, VfsErr]> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return [null, err]
      if (this.mutant === "stat-leaks-ref") yield* d.IncRef()
      return [this.statTo(d.inode), null]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *StatFSAt(_ctx: Ctx, rp: ResolvingPath): Sim<[Statfs | null, VfsErr]> {
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return [null, err]
      return [this.statFS(), null]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  statFS(): Statfs {
    const namelen = this.peek((m) => m.statfs().namelen)
    return { type: TMPFS_MAGIC, blockSize: PAGE_SIZE, blocks: 0, blocksFree: 0, blocksAvailable: 0, files: 0, filesFree: 0, nameLength: namelen }
  }

  *ListXattrAt(_ctx: Ctx, rp: ResolvingPath, _size: number): Sim<[readonly string[], VfsErr]> {
    const creds = rp.Credentials()
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return [[], err]
      const r = this.step(creds, (m) => m.listxattr(d.inode.ino))
      return "names" in r ? [r.names, null] : [[], errnoOf(r)]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *GetXattrAt(_ctx: Ctx, rp: ResolvingPath, name: string, _size: number): Sim<[string, VfsErr]> {
    const creds = rp.Credentials()
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return ["", err]
      const r = this.step(creds, (m) => m.getxattr(d.inode.ino, name))
      return "value" in r ? [r.value, null] : ["", errnoOf(r)]
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *SetXattrAt(_ctx: Ctx, rp: ResolvingPath, opts: SetXattrOptions): Sim<VfsErr> {
    const creds = rp.Credentials()
    const flags: XattrFlag[] = []
    if ((opts.Flags & XATTR_CREATE) !== 0) flags.push("XATTR_CREATE")
    if ((opts.Flags & XATTR_REPLACE) !== 0) flags.push("XATTR_REPLACE")
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return err
      const werr = rp.Mount().CheckBeginWrite()
      if (werr !== null) return werr
      try {
        return errnoOf(this.step(creds, (m) => m.setxattr(d.inode.ino, opts.Name, opts.Value, flags)))
      } finally {
        rp.Mount().EndWrite()
      }
    } finally {
      yield this.mu.RUnlock()
    }
  }

  *RemoveXattrAt(_ctx: Ctx, rp: ResolvingPath, name: string): Sim<VfsErr> {
    const creds = rp.Credentials()
    yield this.mu.RLock()
    try {
      const [d, err] = this.resolveLocked(rp)
      if (err !== null || d === null) return err
      const werr = rp.Mount().CheckBeginWrite()
      if (werr !== null) return werr
      try {
        return errnoOf(this.step(creds, (m) => m.removexattr(d.inode.ino, name)))
      } finally {
        rp.Mount().EndWrite()
      }
    } finally {
      yield this.mu.RUnlock()
    }
  }
}

export type { ResolveError }
