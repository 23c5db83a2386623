// What the CLI hands the runtime: every filesystem it can mount, and their
// declared lock orders.

import type { LockOrderSpec } from "../sim/lockorder.js"
import type { MountRegistry } from "../sim/mount.js"

export interface CliEnv {
  readonly mounts: MountRegistry
  readonly lockOrders: readonly LockOrderSpec[]
}
