// The filesystems `fsim` can mount, and their declared lock orders.

import { GOFER_LOCK_ORDER } from "../impl/gofer/filesystem.js"
import { goferRunFindings } from "../impl/gofer/findings.js"
import { goferMount } from "../impl/gofer/mount.js"
import { OVERLAY_LOCK_ORDER } from "../impl/overlay/filesystem.js"
import { overlayLockCycleFinding, overlayRunFindings } from "../impl/overlay/findings.js"
import { overlayMount } from "../impl/overlay/mount.js"
import { TMPFS_LOCK_ORDER } from "../impl/tmpfs/filesystem.js"
import { tmpfsMount } from "../impl/tmpfs/mount.js"
import { VFS_LOCK_ORDER } from "../impl/vfs/vfs.js"
import { modelMount } from "../sim/modelmount.js"
import type { CliEnv } from "./env.js"

export function defaultEnv(): CliEnv {
  return {
    mounts: { model: modelMount, gofer: goferMount, overlay: overlayMount, tmpfs: tmpfsMount },
    lockOrders: [VFS_LOCK_ORDER, GOFER_LOCK_ORDER, OVERLAY_LOCK_ORDER, TMPFS_LOCK_ORDER],
    findings: { gofer: { run: goferRunFindings }, overlay: { run: overlayRunFindings, cycle: overlayLockCycleFinding } },
  }
}
