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
import { GOFER_MARKS } from "../impl/gofer/marks.js"
import { OVERLAY_MARKS } from "../impl/overlay/marks.js"
import { TMPFS_MARKS } from "../impl/tmpfs/marks.js"
import { mergeMarks, type MarkRegistry } from "../sim/marks.js"
import { modelMount } from "../sim/modelmount.js"
import type { Mount } from "../sim/scenario.js"
import type { CliEnv } from "./env.js"


/**
 * Every coverage mark the ports may log (name -> the path it marks): the
 * universe a campaign's summary reports reached and missed marks against.
 * (To become a `marks` field of each filesystem's descriptor.)
 */
export function allMarks(): MarkRegistry {
  return mergeMarks(GOFER_MARKS, OVERLAY_MARKS, TMPFS_MARKS)
}

/**
 * The marks a campaign of `mount` can reach: its filesystem's, and for an
 * overlay those of its layers' (tmpfs upper layers, and its lower layers'
 * kinds). The model mount has none.
 */
export function marksOf(mount: Mount): MarkRegistry {
  switch (mount.kind) {
    case "gofer":
      return GOFER_MARKS
    case "tmpfs":
      return TMPFS_MARKS
    case "overlay":
      return mergeMarks(OVERLAY_MARKS, TMPFS_MARKS, ...(mount.lower.some((l) => l.kind === "gofer") ? [GOFER_MARKS] : []))
    case "model":
      return {}
  }
}


export function defaultEnv(): CliEnv {
  return {
    mounts: { model: modelMount, gofer: goferMount, overlay: overlayMount, tmpfs: tmpfsMount },
    lockOrders: [VFS_LOCK_ORDER, GOFER_LOCK_ORDER, OVERLAY_LOCK_ORDER, TMPFS_LOCK_ORDER],
    findings: { gofer: { run: goferRunFindings }, overlay: { run: overlayRunFindings, cycle: overlayLockCycleFinding } },
  }
}
