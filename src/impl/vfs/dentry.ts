// vfs.Dentry (gVisor pkg/sentry/vfs/dentry.go): the VFS's view of a dentry,
// wrapping a filesystem's own dentry (its DentryImpl). Dentry.mu serializes
// deletion and renaming against mounting; `dead` is set once the dentry can
// no longer be reached by path resolution.

import { Mutex } from "../../sim/sync.js"
import type { Scheduler, Sim } from "../../sim/scheduler.js"
import type { Ctx } from "./context.js"

export interface DentryImpl {
  /** Takes a reference (refs may be 0 while the filesystem's rename lock is held). */
  IncRef(): Sim<void>
  /** Takes a reference unless the dentry has none (it may be being destroyed). */
  TryIncRef(): Sim<boolean>
  DecRef(ctx: Ctx): Sim<void>
  /** A path for messages and lock names ("/a/b"); filesystems that know none say so. */
  pathForLog(): string
}

export class Dentry {
  /** vfs.Dentry.mu: see the VFS lock order. */
  readonly mu: Mutex
  dead = false
  /** Mounts whose mount point is this dentry. */
  mounts = 0
  impl!: DentryImpl

  /**
   * `lockClass` names the class of `mu` for the lock-order checker. A
   * filesystem that calls into other filesystems while holding its own
   * dentries' `mu` (the overlay, between Prepare*Dentry and Commit*Dentry)
   * gives them a class of their own, as Linux's lockdep gives each
   * filesystem type its inode lock class: one class for all would make
   * the overlay's dentry and its layer's dentry look like one lock taken
   * twice in either order.
   */
  constructor(sched: Scheduler, lockClass = "vfs.Dentry.mu") {
    const d = this
    this.mu = new Mutex(sched, lockClass, () => d.impl.pathForLog())
  }

  Init(impl: DentryImpl): void {
    this.impl = impl
  }

  Impl<T extends DentryImpl>(): T {
    return this.impl as T
  }

  IsDead(): boolean {
    return this.dead
  }

  isMounted(): boolean {
    return this.mounts !== 0
  }

  *IncRef(): Sim<void> {
    yield* this.impl.IncRef()
  }

  *TryIncRef(): Sim<boolean> {
    return yield* this.impl.TryIncRef()
  }

  *DecRef(ctx: Ctx): Sim<void> {
    yield* this.impl.DecRef(ctx)
  }
}
