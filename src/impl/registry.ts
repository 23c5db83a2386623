// Every filesystem fsim can mount, by its descriptor (src/sim/descriptor.ts),
// and the lock order of the VFS layer they share. Adding a filesystem: its
// folder, with a descriptor.ts, and one line here.

import { MODEL } from "../sim/modeldescriptor.js"
import type { FilesystemDescriptor, MountKind, ShapeDefaults } from "../sim/descriptor.js"
import type { Mount } from "../sim/scenario.js"
import type { LockOrderSpec } from "../sim/lockorder.js"
import { GOFER } from "./gofer/descriptor.js"
import { OVERLAY } from "./overlay/descriptor.js"
import { TMPFS } from "./tmpfs/descriptor.js"
import { VFS_LOCK_ORDER } from "./vfs/vfs.js"

export const FILESYSTEMS: readonly FilesystemDescriptor[] = [MODEL, GOFER, OVERLAY, TMPFS]

/** Lock orders declared outside any one filesystem: the VFS layer every port's syscalls go through. */
export const SHARED_LOCK_ORDERS: readonly LockOrderSpec[] = [VFS_LOCK_ORDER]

export function descriptorOf(kind: MountKind): FilesystemDescriptor {
  const d = FILESYSTEMS.find((f) => f.kind === kind)
  if (d === undefined) throw new Error(`registry: no filesystem of kind ${kind}`)
  return d
}

/**
 * What a campaign over `mount` can check (its descriptor's shape defaults),
 * and whether external users are outside what it promises: the fields of a
 * ScenarioShape a caller spreads in.
 */
export function shapeDefaults(mount: Mount): ShapeDefaults & { readonly externalUnjudged: boolean } {
  const d = descriptorOf(mount.kind)
  return { ...d.shapeDefaults(mount), externalUnjudged: d.externalUnjudged(mount) }
}
