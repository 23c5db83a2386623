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

  constructor(sched: Scheduler) {
    const d = this
    this.mu = new Mutex(sched, "vfs.Dentry.mu", () => d.impl.pathForLog())
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
