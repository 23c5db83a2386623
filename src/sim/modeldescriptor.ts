// The model mount's descriptor (descriptor.ts): the reference model alone as
// the filesystem under test, atomic by construction. Swarm campaigns reach
// it only when pinned (`fsim check --mount model`): it cannot fail unless
// one of its mutants (mutants.ts) is switched on.

import { plainMount, serverless, type FilesystemDescriptor, type MountPins } from "./descriptor.js"
import { modelMount } from "./modelmount.js"
import { MUTANTS } from "./mutants.js"
import type { Prng } from "./prng.js"
import type { Mount } from "./scenario.js"

const mountWith = (pins: MountPins): Mount => plainMount("model", pins)

export const MODEL: FilesystemDescriptor = {
  kind: "model",
  label: "the reference model itself (atomic; a check of the checkers)",
  factory: modelMount,
  lockOrder: null,
  mutants: MUTANTS,
  upstream: {},
  marks: {},
  folders: [],
  defaultWeight: 0,
  shapeDefaults: () => ({ links: true, privateFds: false, slashOnlySymlinks: true, setIdBits: true, blockingFifoOpens: true }),
  externalUnjudged: () => false,
  labelParts(mount: Mount) {
    const parts: string[] = []
    for (const o of (mount.options ?? "").split(",")) {
      if (o === "ro") parts.push("ro")
      else if (o.startsWith("mutant=")) parts.push("mutant", o.slice("mutant=".length))
    }
    return parts
  },
  drawMount(_rng: Prng, pins: MountPins) {
    if (pins.lower !== undefined || (pins.mutant !== undefined && pins.mutant.kind !== "model")) return null
    // No server: no external users or faults; atomic, so descriptors may be shared.
    return { mount: mountWith(pins), external: 0, faults: 0, sharedFds: true, names: true }
  },
  fixedMount: mountWith,
  refusals: () => serverless("model"),
}
