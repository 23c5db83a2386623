// The filesystems `fsim` can mount, and their declared lock orders.

import { GOFER_LOCK_ORDER } from "../impl/gofer/filesystem.js"
import { goferMount } from "../impl/gofer/mount.js"
import { VFS_LOCK_ORDER } from "../impl/vfs/vfs.js"
import { modelMount } from "../sim/modelmount.js"
import type { CliEnv } from "./env.js"

export function defaultEnv(): CliEnv {
  return {
    mounts: { model: modelMount, gofer: goferMount },
    lockOrders: [VFS_LOCK_ORDER, GOFER_LOCK_ORDER],
  }
}
