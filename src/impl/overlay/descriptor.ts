// The overlay's descriptor (src/sim/descriptor.ts). Its swarm configuration
// space: the lowest layer's filesystem (tmpfs, or the gofer with options drawn
// as the gofer's own) and, in the generated scenarios, the layers' shapes
// (src/sim/overlaygen.ts: an upper layer or none, one to three lower ones).

import { mutantOption, withMutant, type FilesystemDescriptor, type MountPins } from "../../sim/descriptor.js"
import { OVERLAY_MARKS } from "./marks.js"
import type { Upstream } from "../../sim/mutants.js"
import type { Prng } from "../../sim/prng.js"
import type { Layer, Mount } from "../../sim/scenario.js"
import { cacheModeOf, drawGoferOptions } from "../gofer/descriptor.js"
import { OVERLAY_LOCK_ORDER } from "./filesystem.js"
import { overlayLockCycleFinding, overlayRunFindings } from "./findings.js"
import { overlayMount } from "./mount.js"
import { OVERLAY_MUTANT_UPSTREAM, OVERLAY_MUTANTS } from "./mutants.js"

function lowestOf(mount: Mount): Layer | undefined {
  return mount.kind === "overlay" ? mount.lower[mount.lower.length - 1] : undefined
}

/** The template of a generated overlay: its lowest layer and its own options (the other layers are drawn per scenario). */
function template(lowest: Layer, pins: MountPins): Mount {
  const options = withMutant(pins.options, "overlay", pins)
  return { kind: "overlay", lower: [lowest], ...(options !== undefined ? { options } : {}) }
}

function goferLayer(options: string | undefined, pins: MountPins): Layer {
  const o = withMutant(options, "gofer", pins)
  return { kind: "gofer", ...(o !== undefined && o !== "" ? { options: o } : {}), tree: "remote" }
}

export const OVERLAY: FilesystemDescriptor = {
  kind: "overlay",
  label: "gVisor's overlay: an upper tmpfs over read-only lower layers (tmpfs, or the gofer)",
  factory: overlayMount,
  lockOrder: OVERLAY_LOCK_ORDER,
  findings: { run: overlayRunFindings, cycle: overlayLockCycleFinding },
  mutants: OVERLAY_MUTANTS,
  upstream: OVERLAY_MUTANT_UPSTREAM as Readonly<Record<string, Upstream>>,
  marks: OVERLAY_MARKS,
  folders: [],
  defaultWeight: 3,
  // Upper and lower layers of tmpfs, and a gofer lowest layer where there is one.
  layerKinds: (mount: Mount) => ["tmpfs", ...(mount.kind === "overlay" && mount.lower.some((l) => l.kind === "gofer") ? (["gofer"] as const) : [])],
  // Layers have names and descriptors of their own (overlaygen.ts); links: FINDINGS.md link-chowns-file.
  shapeDefaults: () => ({ links: false, privateFds: true, slashOnlySymlinks: false, setIdBits: false }),
  // Its lower layers are taken to be immutable: external users of a gofer
  // layer's share leave its results unjudged (src/impl/overlay/README.md).
  externalUnjudged: (mount: Mount) => lowestOf(mount)?.kind === "gofer",
  labelParts(mount: Mount) {
    const gofer = mount.kind === "overlay" ? mount.lower.find((l) => l.kind === "gofer") : undefined
    const parts: string[] = []
    if (gofer !== undefined) parts.push("gofer", ...(gofer.kind === "gofer" && gofer.options !== undefined && /(?:^|,)cache=/.test(gofer.options) ? [cacheModeOf(gofer.options)] : []))
    const mutant = mutantOption(mount.options)
    if (mutant !== undefined) parts.push("mutant", mutant)
    return parts
  },
  drawMount(rng: Prng, pins: MountPins) {
    const mutant = pins.mutant
    if (mutant !== undefined && mutant.kind !== "overlay" && mutant.kind !== "gofer") return null
    // A gofer mutant is reached through a gofer lowest layer.
    const kind = pins.lower?.kind ?? (mutant?.kind === "gofer" ? "gofer" : rng.chance(0.5) ? "gofer" : "tmpfs")
    if (mutant?.kind === "gofer" && kind !== "gofer") return null
    const lowest: Layer = kind === "gofer" ? goferLayer(drawGoferOptions(rng, pins.lower?.options), pins) : { kind: "tmpfs" }
    // Overlay campaigns inject no server faults (the gvisor-overlay dialect has no rules for them).
    return { mount: template(lowest, pins), external: kind === "gofer" ? 2 : 0, faults: 0, sharedFds: false, names: false }
  },
  fixedMount(pins: MountPins): Mount {
    const kind = pins.lower?.kind ?? "tmpfs"
    return template(kind === "gofer" ? goferLayer(pins.lower?.options, pins) : { kind: "tmpfs" }, pins)
  },
  refusals(mount: Mount) {
    return {
      ...(lowestOf(mount)?.kind !== "gofer" ? { external: "external users act on a gofer layer's server: give --lower gofer" } : {}),
      faults: "overlay campaigns inject no server faults (the gvisor-overlay dialect has no rules for them)",
      // The layered scenarios have names and descriptors of their own (src/sim/overlaygen.ts).
      names: "overlay campaigns draw their layers' names themselves (a, b, c, and n for new ones)",
      sharedFds: "in overlay campaigns each thread has descriptors of its own (private)",
    }
  },
}
