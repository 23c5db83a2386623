// The tmpfs port's descriptor (src/sim/descriptor.ts): the overlay's layer
// filesystem, checked on its own holding the scenario's `remote` tree.

import { mutantOption, plainMount, serverless, type FilesystemDescriptor, type MountPins } from "../../sim/descriptor.js"
import { TMPFS_MARKS } from "./marks.js"
import type { Upstream } from "../../sim/mutants.js"
import type { Prng } from "../../sim/prng.js"
import type { Mount } from "../../sim/scenario.js"
import { TMPFS_LOCK_ORDER, TMPFS_MUTANT_UPSTREAM, TMPFS_MUTANTS } from "./filesystem.js"
import { tmpfsMount } from "./mount.js"

const mountWith = (pins: MountPins): Mount => plainMount("tmpfs", pins)

export const TMPFS: FilesystemDescriptor = {
  kind: "tmpfs",
  label: "gVisor's tmpfs, alone (the overlay's layer filesystem)",
  factory: tmpfsMount,
  lockOrder: TMPFS_LOCK_ORDER,
  mutants: TMPFS_MUTANTS,
  upstream: TMPFS_MUTANT_UPSTREAM as Readonly<Record<string, Upstream>>,
  marks: TMPFS_MARKS,
  folders: [],
  defaultWeight: 1,
  // It applies the model's rules; gVisor's VFS in front of it resolves a
  // link's old path in a call of its own (so no link ops; second names in
  // the initial tree are fine, and make renames between two names of one
  // file), and mishandles a path past a "/" symlink target.
  shapeDefaults: () => ({ links: false, treeLinks: true, privateFds: true, slashOnlySymlinks: false, setIdBits: true, blockingFifoOpens: true }),
  externalUnjudged: () => false,
  labelParts(mount: Mount) {
    const mutant = mutantOption(mount.options)
    return mutant !== undefined ? ["mutant", mutant] : []
  },
  drawMount(_rng: Prng, pins: MountPins) {
    if (pins.lower !== undefined || (pins.mutant !== undefined && pins.mutant.kind !== "tmpfs")) return null
    // No 9P server: no external users, no faults.
    return { mount: mountWith(pins), external: 0, faults: 0, sharedFds: false, names: true }
  },
  fixedMount: mountWith,
  refusals: () => serverless("tmpfs"),
}
