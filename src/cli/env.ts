// What the CLI hands the runtime: every filesystem it can mount, and their
// declared lock orders.

import type { FindingsClassifier } from "../sim/campaign.js"
import type { FilesystemDescriptor } from "../sim/descriptor.js"
import type { StateFolderRegistry } from "../sim/fold.js"
import type { LockOrderSpec } from "../sim/lockorder.js"
import type { MountRegistry } from "../sim/mount.js"

export interface CliEnv {
  readonly mounts: MountRegistry
  readonly lockOrders: readonly LockOrderSpec[]
  /**
   * State folders a filesystem contributes to `fsim show --at` and the HTML
   * view (its dentry tree, LRU, page cache, server tree), by mount kind; the
   * reference model's folder is always used.
   */
  readonly folders?: StateFolderRegistry
  /**
   * By mount kind: which documented findings (gVisor's own bugs, reproduced
   * by the faithful ports: each port's FINDINGS.md) a failing run shows.
   */
  readonly findings?: Readonly<Record<string, FindingsClassifier>>
  /** Every filesystem's descriptor (src/impl/registry.ts). */
  readonly descriptors: readonly FilesystemDescriptor[]
}
