// What a filesystem under test tells the rest of fsim about itself: one
// descriptor per filesystem, exported from its own folder (src/impl/KIND/
// descriptor.ts; the model's from src/sim/modeldescriptor.ts) and listed in
// one registry (src/impl/registry.ts). The runner, the campaigns and the
// CLI ask the descriptor; none of them switches on a mount kind's name, so
// adding a filesystem or a cache mode touches its folder and the registry.

import type { FindingsClassifier } from "./campaign.js"
import type { StateFolderFactory } from "./fold.js"
import type { LockOrderSpec } from "./lockorder.js"
import type { MountFactory } from "./mount.js"
import type { Upstream } from "./mutants.js"
import type { Prng } from "./prng.js"
import type { Mount } from "./scenario.js"

export type MountKind = Mount["kind"]

/** What a campaign over a mount of this filesystem can check (see ScenarioShape). */
export interface ShapeDefaults {
  readonly links: boolean
  /** Second names of files in the initial tree where `links` leaves link ops out (default: as `links`): for a filesystem whose departure is in the link op alone. */
  readonly treeLinks?: boolean
  readonly privateFds: boolean
  readonly slashOnlySymlinks: boolean
  readonly setIdBits: boolean
  /**
   * Whether a FIFO open without O_NONBLOCK waits for its peer as Linux's
   * does, so a scenario may hold blocking opens of a FIFO's two ends. The
   * gofer's does not: it emulates the wait by retrying the server's
   * non-blocking open while there is no reader (gVisor's b/133875563), so a
   * reader that has come and gone leaves the writer with ENXIO.
   */
  readonly blockingFifoOpens?: boolean
}

/**
 * A mount of this filesystem drawn for one run of a swarm campaign, and what
 * the rest of the run's configuration may hold with it.
 */
export interface DrawnMount {
  readonly mount: Mount
  /** Most external users of the share this mount makes meaningful (0: none, e.g. no 9P server). */
  readonly external: number
  /** Most server faults (0: no 9P server, or the dialect cannot follow them). */
  readonly faults: number
  /** Whether the run's threads may share descriptor names. */
  readonly sharedFds: boolean
  /** Whether the namespace size may be drawn (an overlay draws its layers' names itself). */
  readonly names: boolean
}

/**
 * What a campaign over a mount cannot add to it, each with why (one line, no
 * option name): absent where it can. `fsim check --no-swarm` refuses the
 * options that ask for one (exit 2) rather than run without it.
 */
export interface Refusals {
  /** External users of the share (they need a 9P server). */
  readonly external?: string
  /** Injected server faults. */
  readonly faults?: string
  /** A namespace size (a filesystem that draws its own names). */
  readonly names?: string
  /** Descriptor names shared between threads. */
  readonly sharedFds?: string
}

/** A dimension of the configuration space the user pinned on the command line. */
export interface MountPins {
  /** The mount's own options, kept as given (`--options`). */
  readonly options?: string
  /** An overlay's lowest layer: its kind and options (`--lower`, `--lower-options`). */
  readonly lower?: { readonly kind: "tmpfs" | "gofer"; readonly options?: string }
  /** A mutant of this filesystem, or of a filesystem it can be layered on (`--mutant`). */
  readonly mutant?: { readonly kind: MountKind; readonly name: string }
}

export interface FilesystemDescriptor {
  readonly kind: MountKind
  /** One line: what it is ("gVisor's gofer: a 9P client with dentry, metadata and page caches"). */
  readonly label: string
  readonly factory: MountFactory
  /** The lock classes it declares and their order; null: it takes no locks of its own. */
  readonly lockOrder: LockOrderSpec | null
  /** Sorts a failing run's violations into its documented findings (FINDINGS.md), if it has any. */
  readonly findings?: FindingsClassifier
  /** Test-only mutants, by name (each the mount option `mutant=NAME`). */
  readonly mutants: Readonly<Record<string, string>>
  /** The upstream gVisor fix each re-created bug (a mutant of the zoo) inverts. */
  readonly upstream: Readonly<Record<string, Upstream>>
  /** Coverage marks the port logs at its rare paths, by name. */
  readonly marks: Readonly<Record<string, string>>
  /** The filesystems `mount` is layered on (an overlay's layers): their marks are reachable too. */
  layerKinds?(mount: Mount): readonly MountKind[]
  /** State folders for `fsim show --at` and the HTML view. */
  readonly folders: readonly StateFolderFactory[]
  /** Its share of the default swarm campaign's runs (0: only when pinned, as the model is). */
  readonly defaultWeight: number
  /** What a campaign over `mount` can check. */
  shapeDefaults(mount: Mount): ShapeDefaults
  /**
   * Whether external users of the share are outside what `mount` promises
   * (its client takes itself to be the share's only writer), so a run with
   * them cannot be judged by lincheck and coherence.
   */
  externalUnjudged(mount: Mount): boolean
  /** The words of a trace file's name that tell this mount's runs apart ("fscache", "mutant-NAME"). */
  labelParts(mount: Mount): readonly string[]
  /**
   * Draws a mount of this filesystem for a swarm campaign's run (the swarm
   * configuration space: cache modes, limits, layers...), honouring `pins`;
   * null when this filesystem cannot honour them (a mutant of another).
   */
  drawMount(rng: Prng, pins: MountPins): DrawnMount | null
  /** The fixed mount of a campaign that pins everything (`fsim check --no-swarm`), with the pins applied. */
  fixedMount(pins: MountPins): Mount
  /** What a campaign over `mount` (one of this filesystem's) cannot add to it. */
  refusals(mount: Mount): Refusals
}

/** What a filesystem with no 9P server refuses: external users and faults. */
export function serverless(kind: MountKind): Refusals {
  return {
    external: `external users and server faults need a 9P server (a gofer mount); the ${kind} mount has none`,
    faults: `external users and server faults need a 9P server (a gofer mount); the ${kind} mount has none`,
  }
}

/** Mount options as ordered key -> value ("" for a flag): "cache=none,ro" -> cache: none, ro: "". */
export function optionWords(options: string | undefined): Map<string, string> {
  const m = new Map<string, string>()
  for (const w of (options ?? "").split(",")) {
    if (w === "") continue
    const eq = w.indexOf("=")
    m.set(eq < 0 ? w : w.slice(0, eq), eq < 0 ? "" : w.slice(eq + 1))
  }
  return m
}

/** The inverse of optionWords; undefined for no options. */
export function joinOptions(m: ReadonlyMap<string, string>): string | undefined {
  const words = [...m].map(([k, v]) => (v === "" ? k : `${k}=${v}`))
  return words.length === 0 ? undefined : words.join(",")
}

/** `options` with `mutant=NAME` added when the pinned mutant is this filesystem's. */
export function withMutant(options: string | undefined, kind: MountKind, pins: MountPins): string | undefined {
  if (pins.mutant === undefined || pins.mutant.kind !== kind) return options
  const m = optionWords(options)
  m.set("mutant", pins.mutant.name)
  return joinOptions(m)
}

/** A mount of a filesystem with no layers: its kind, and the pinned options with the pinned mutant if it is this filesystem's. */
export function plainMount(kind: Exclude<MountKind, "overlay">, pins: MountPins): Mount {
  const options = withMutant(pins.options, kind, pins)
  return { kind, ...(options !== undefined ? { options } : {}) }
}

/** The mutant named in mount options ("mutant=NAME"), or undefined. */
export function mutantOption(options: string | undefined): string | undefined {
  return optionWords(options).get("mutant")
}

/** A draw from `choices`, each with its weight. */
export function weighted<T>(rng: Prng, choices: readonly (readonly [T, number])[]): T {
  const total = choices.reduce((n, [, w]) => n + w, 0)
  let x = rng.below(total)
  for (const [v, w] of choices) {
    if (x < w) return v
    x -= w
  }
  return choices[choices.length - 1]![0]
}

/** The mount in a file name or a table row: its kind, then what its descriptor says tells its runs apart ("gofer-fscache", "overlay-gofer-none"). */
export function mountLabelOf(descriptors: readonly FilesystemDescriptor[], m: Mount): string {
  const d = descriptors.find((x) => x.kind === m.kind)
  const parts = [m.kind, ...(d?.labelParts(m) ?? [])]
  return parts.join("-").replace(/[^A-Za-z0-9_.-]/g, "_")
}
