// ResolvingPath (gVisor pkg/sentry/vfs/resolving_path.go): the state of a
// path resolution shared between VFS and a filesystem's *At methods - the
// starting dentry on the current mount, the stream of components still to
// resolve (with symlink targets prepended), and what the caller asked for.
// When resolution must continue on another mount (its root reached through
// "..", a mount point, an absolute symlink), the filesystem returns one of
// the resolve errors below and VFS restarts the call there.

import type { Cred } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { type Ctx } from "./context.js"
import type { Dentry } from "./dentry.js"
import { type FsPath, Parse, type PathIterator } from "./fspath.js"
import { MaxSymlinkTraversals } from "./linux.js"
import type { Mount, VirtualDentry } from "./mount.js"
import type { VirtualFilesystem } from "./vfs.js"

/** Signals from a filesystem to VFS that resolution continues elsewhere. */
export class ResolveError {
  private constructor(readonly what: string) {}
  static readonly MountRootOrJump = new ResolveError("resolving mount root or jump")
  static readonly MountPoint = new ResolveError("resolving mount point")
  static readonly AbsSymlink = new ResolveError("resolving absolute symlink")
}

export function isResolveError(e: unknown): e is ResolveError {
  return e instanceof ResolveError
}

export interface PathOperation {
  /** The root of the caller's view (chroot); ".." stops here. */
  readonly Root: VirtualDentry
  /** Where a relative path starts. */
  readonly Start: VirtualDentry
  readonly Path: FsPath
  /** Follow a symlink in the final component. */
  FollowFinalSymlink: boolean
}

export class ResolvingPath {
  private mount_: Mount
  private start_: Dentry
  private pit: PathIterator
  private mustBeDir_: boolean
  private mustBeDirOrig: boolean
  private symlinks = 0
  private symlinksOrig = 0
  private curPart = 0
  private numOrigParts = 1
  private readonly parts: PathIterator[] = []
  private readonly origParts: PathIterator[] = []
  private nextMount: Mount | null = null
  private nextStart: Dentry | null = null
  private absSymlinkTarget: FsPath | null = null
  private readonly followFinalSymlink: boolean

  constructor(
    readonly vfs: VirtualFilesystem,
    private readonly creds: Cred,
    private readonly root: VirtualDentry,
    pop: PathOperation,
  ) {
    this.mount_ = pop.Start.mount
    this.start_ = pop.Start.dentry
    this.pit = pop.Path.Begin
    this.mustBeDir_ = pop.Path.Dir
    this.mustBeDirOrig = pop.Path.Dir
    this.followFinalSymlink = pop.FollowFinalSymlink
    this.parts[0] = pop.Path.Begin
    this.origParts[0] = pop.Path.Begin
  }

  /** A copy that can be advanced without affecting this one (revalidation walks ahead). */
  Copy(): ResolvingPath {
    const c = Object.create(ResolvingPath.prototype) as ResolvingPath
    Object.assign(c, this)
    const mut = c as unknown as { parts: PathIterator[]; origParts: PathIterator[] }
    mut.parts = this.parts.slice()
    mut.origParts = this.origParts.slice()
    return c
  }

  VirtualFilesystem(): VirtualFilesystem {
    return this.vfs
  }

  Credentials(): Cred {
    return this.creds
  }

  Mount(): Mount {
    return this.mount_
  }

  Start(): Dentry {
    return this.start_
  }

  /** No components remain. */
  Done(): boolean {
    return !this.pit.Ok()
  }

  /** Exactly one component remains. Precondition: !Done(). */
  Final(): boolean {
    return this.curPart === 0 && !this.pit.NextOk()
  }

  Component(): string {
    return this.pit.String()
  }

  Advance(): void {
    const next = this.pit.Next()
    if (next.Ok() || this.curPart === 0) this.pit = next
    else {
      this.curPart--
      this.pit = this.parts[this.curPart]!
    }
  }

  /** Back to the state on entry to the current filesystem method. */
  Restart(): void {
    this.pit = this.origParts[this.numOrigParts - 1]!
    this.mustBeDir_ = this.mustBeDirOrig
    this.symlinks = this.symlinksOrig
    this.curPart = this.numOrigParts - 1
    for (let i = 0; i < this.numOrigParts; i++) this.parts[i] = this.origParts[i]!
    this.nextMount = null
    this.nextStart = null
  }

  private relpathCommit(): void {
    this.mustBeDirOrig = this.mustBeDir_
    this.symlinksOrig = this.symlinks
    this.numOrigParts = this.curPart + 1
    for (let i = 0; i < this.curPart; i++) this.origParts[i] = this.parts[i]!
    this.origParts[this.curPart] = this.pit
  }

  /**
   * Called before resolving d's parent: [true, null] if d is the root of the
   * caller's view or of the root mount (its parent is itself); an error
   * asking VFS to continue on the parent mount if d is the root of another
   * mount; [false, null] otherwise.
   */
  CheckRoot(d: Dentry): [boolean, ResolveError | null] {
    if (d === this.root.dentry && this.mount_ === this.root.mount) return [true, null]
    if (d === this.mount_.root) {
      const vd = this.vfs.getMountpointAt(this.mount_, this.root)
      if (vd !== null) {
        this.nextMount = vd.mount
        this.nextStart = vd.dentry
        return [false, ResolveError.MountRootOrJump]
      }
      return [true, null]
    }
    return [false, null]
  }

  /** Called after stepping to d: an error asking VFS to switch mounts if d is a mount point. */
  CheckMount(d: Dentry): ResolveError | null {
    if (!d.isMounted()) return null
    const mnt = this.vfs.getMountAt(this.mount_, d)
    if (mnt !== null) {
      this.nextMount = mnt
      return ResolveError.MountPoint
    }
    return null
  }

  /** Whether a symlink in the current component is followed (non-final ones and "x/" always are). */
  ShouldFollowSymlink(): boolean {
    return this.followFinalSymlink || !this.Final() || this.MustBeDir()
  }

  /** Continues resolution through a symlink to `target`; ELOOP past 40 links, ENOENT for "". */
  HandleSymlink(target: string): "ELOOP" | "ENOENT" | ResolveError | null {
    if (this.symlinks >= MaxSymlinkTraversals) return "ELOOP"
    if (target.length === 0) return "ENOENT"
    this.symlinks++
    const targetPath = Parse(target)
    if (targetPath.Absolute) {
      this.absSymlinkTarget = targetPath
      return ResolveError.AbsSymlink
    }
    this.Advance()
    this.relpathPrepend(targetPath)
    return null
  }

  private relpathPrepend(path: FsPath): void {
    if (this.pit.Ok()) {
      this.parts[this.curPart] = this.pit
      this.pit = path.Begin
      this.curPart++
    } else {
      // The symlink was the final component: its target is the whole path
      // now, and a trailing slash in it can set mustBeDir (never unset it).
      this.pit = path.Begin
      if (path.Dir) this.mustBeDir_ = true
    }
  }

  /** Handles a resolve error by switching mounts; false if `err` is not one. */
  handleError(err: unknown): boolean {
    if (err === ResolveError.MountRootOrJump) {
      this.mount_ = this.nextMount!
      this.start_ = this.nextStart!
      this.nextMount = null
      this.nextStart = null
      // Keep the ".." that crossed the mount root: it is resolved again on
      // the mount point in the parent mount.
      this.relpathCommit()
      return true
    }
    if (err === ResolveError.MountPoint) {
      this.mount_ = this.nextMount!
      this.start_ = this.nextMount!.root
      this.nextMount = null
      this.Advance()
      this.relpathCommit()
      return true
    }
    if (err === ResolveError.AbsSymlink) {
      this.mount_ = this.root.mount
      this.start_ = this.root.dentry
      this.Advance()
      this.relpathPrepend(this.absSymlinkTarget!)
      this.relpathCommit()
      this.absSymlinkTarget = null
      return true
    }
    return false
  }

  MustBeDir(): boolean {
    return this.mustBeDir_
  }

  setMustBeDir(): void {
    this.mustBeDir_ = true
  }

  /** Released by VFS once the call is over (references are not counted on rp in fsim). */
  *Release(_ctx: Ctx): Sim<void> {}
}
