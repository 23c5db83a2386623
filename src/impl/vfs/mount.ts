// Mounts and VirtualDentries (gVisor pkg/sentry/vfs/mount.go, reduced): a
// Mount is a Filesystem attached at a point, a VirtualDentry a (Mount,
// Dentry) pair. fsim has one mount namespace; further mounts may sit at
// dentries of it (path resolution crosses them), and overlay layers are
// "disconnected" mounts with no mount point.

import type { Sim } from "../../sim/scheduler.js"
import type { Ctx, Err } from "./context.js"
import type { Dentry } from "./dentry.js"
import type { FilesystemImpl } from "./filesystem.js"
import type { VirtualFilesystem } from "./vfs.js"

export class Filesystem {
  refs = 1
  constructor(
    readonly vfs: VirtualFilesystem,
    readonly impl: FilesystemImpl,
    /** The filesystem type's name, for messages ("9p", "overlay"). */
    readonly typeName: string,
  ) {}
}

export interface MountFlags {
  readonly readOnly: boolean
}

export class Mount {
  refs = 1
  /** Writers in progress (CheckBeginWrite .. EndWrite), for read-only remounts. */
  writers = 0
  constructor(
    readonly vfs: VirtualFilesystem,
    readonly fs: Filesystem,
    readonly root: Dentry,
    readonly flags: MountFlags,
    /** Where it is mounted; null for the namespace root and disconnected mounts. */
    readonly point: VirtualDentry | null,
  ) {}

  Filesystem(): Filesystem {
    return this.fs
  }

  /** EROFS on a read-only mount; otherwise counts a writer until EndWrite. */
  CheckBeginWrite(): Err {
    if (this.flags.readOnly) return "EROFS"
    this.writers++
    return null
  }

  EndWrite(): void {
    this.writers--
  }

  IncRef(): void {
    this.refs++
  }

  DecRef(): void {
    this.refs--
  }
}

export class VirtualDentry {
  constructor(
    readonly mount: Mount,
    readonly dentry: Dentry,
  ) {}

  Mount(): Mount {
    return this.mount
  }

  Dentry(): Dentry {
    return this.dentry
  }

  *IncRef(): Sim<void> {
    this.mount.IncRef()
    yield* this.dentry.IncRef()
  }

  *DecRef(ctx: Ctx): Sim<void> {
    yield* this.dentry.DecRef(ctx)
    this.mount.DecRef()
  }
}
