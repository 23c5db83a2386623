// Swarm configurations (Groce et al., "Swarm Testing", ISSTA 2012; as
// TigerBeetle's VOPR does, the configuration comes from the seed): each run
// of a swarm campaign draws its whole configuration from its seed: the
// filesystem and its mount options (each descriptor's configuration space),
// external users and server faults where the filesystem has a server,
// threads, ops per thread, the namespace's size, shared or private
// descriptor names, and an op profile that leaves some groups of ops out and
// makes others common. A run is still a function of its seed alone, so
// `fsim check --seed S --runs 1` repeats it, and its scenario, saved in its
// trace, replays with no option.

import { OP_GROUPS, type OpGroup, type OpProfile } from "../model/arbitraries.js"
import type { ScenarioShape } from "./campaign.js"
import { weighted, type FilesystemDescriptor, type MountKind, type MountPins } from "./descriptor.js"
import { deriveSeed, Prng } from "./prng.js"
import type { Mount } from "./scenario.js"

/** What the user pinned (command-line options): the rest of each run's configuration is drawn. */
export interface SwarmPins {
  /** The filesystems runs may mount (`--mount`); default: every one with a default weight. */
  readonly kinds?: readonly MountKind[]
  readonly mount: MountPins
  readonly threads?: number
  readonly ops?: number
  readonly names?: number
  readonly external?: number
  readonly faults?: number
  readonly privateFds?: boolean
  readonly links?: boolean
  readonly checkBudget?: number
}

/** The filesystems a swarm with these pins mounts, each with its weight. */
export function swarmKinds(descriptors: readonly FilesystemDescriptor[], pins: SwarmPins): (readonly [FilesystemDescriptor, number])[] {
  // Asked once per run with the campaign's own pins: computed once per pins.
  const cached = KINDS.get(pins)
  if (cached !== undefined && cached.descriptors === descriptors) return cached.kinds
  const kinds = eligibleKinds(descriptors, pins)
  KINDS.set(pins, { descriptors, kinds })
  return kinds
}

const KINDS = new WeakMap<SwarmPins, { readonly descriptors: readonly FilesystemDescriptor[]; readonly kinds: (readonly [FilesystemDescriptor, number])[] }>()

function eligibleKinds(descriptors: readonly FilesystemDescriptor[], pins: SwarmPins): (readonly [FilesystemDescriptor, number])[] {
  const out: (readonly [FilesystemDescriptor, number])[] = []
  for (const d of descriptors) {
    const weight = pins.kinds === undefined ? d.defaultWeight : pins.kinds.includes(d.kind) ? Math.max(1, d.defaultWeight) : 0
    // Whether it can honour the pins at all (a mutant of another filesystem): a draw from a throwaway generator.
    if (weight > 0 && d.drawMount(new Prng(1), pins.mount) !== null) out.push([d, weight])
  }
  return out
}

/** Whether runs may have a server that refuses mknod (see drawSwarmConfig). */
const SYNTHETIC_FILES_JUDGED = false

/** Emphasis of a group of ops in a profile: off, on, or four times as likely. */
const EMPHASIZED = 4
const GROUP_WEIGHTS: readonly (readonly [number, number])[] = [
  [0, 3],
  [1, 4],
  [EMPHASIZED, 3],
]

/**
 * Families of 9P requests a run's faults may be aimed at, each with its
 * weight among runs with faults (the last entry: no focus): a file's data
 * and size (reads, writes, syncs, and the Tsetattr that truncates),
 * opening and lookup, changes to directories and attributes, reading
 * directories. Each names what fsim's client sends (a 9P2000.L.Google
 * server gets Tucreate, Tumknod, Trename... where a plain one gets
 * Tlcreate, Tmknod, Trenameat). Data comes twice as often as another
 * family: its paths (write-back, eviction, short reads, syncs) need a fault
 * on the one request of a run that meets them, among few of their kind.
 */
const FAULT_FOCUSES: readonly (readonly [readonly string[] | undefined, number])[] = [
  [["Tread", "Twrite", "Tfsync", "Tsetattr"], 2],
  [["Tlopen", "Tucreate", "Tlcreate", "Twalk", "Twalkgetattr", "Tgetattr"], 1],
  [["Tumknod", "Tmknod", "Tumkdir", "Tmkdir", "Tusymlink", "Tlink", "Trename", "Trenameat", "Tunlinkat", "Tsetattr"], 1],
  [["Treaddir", "Treadlink", "Twalkgetattr", "Tgetattr"], 1],
  [undefined, 1],
]

/**
 * Messages a series of faults (every k-th) is never aimed at: those only a
 * plain 9P2000.L server gets (a swarm's gofer speaks 9P2000.L.Google), and
 * lookups. A failed lookup is taken for the server's word on the name (an
 * ENOENT is cached as a negative dentry), so failing a series of them makes
 * ops that met no fault of their own see what the server never said, which
 * lincheck cannot tell from a bug; single faults on lookups stay.
 */
const NO_SERIES: ReadonlySet<string> = new Set(["Tlcreate", "Tmknod", "Tmkdir", "Tsymlink", "Trenameat", "Twalk", "Twalkgetattr", "Tgetattr"])

/**
 * The op groups whose ops send each message a series may aim at (any one of
 * them on will do): a series at a message the run's profile never sends
 * meets nothing. Messages not listed are sent whatever the profile.
 */
const SERIES_SENDERS: Readonly<Record<string, readonly OpGroup[]>> = {
  Tfsync: ["sync"],
  Tsetattr: ["truncate", "attrs"],
  Tumknod: ["special"],
  Tumkdir: ["dirs"],
  Tunlinkat: ["dirs", "rename"],
  Tusymlink: ["symlinks"],
  Treadlink: ["symlinks"],
  Tlink: ["links"],
  Trename: ["rename"],
  Treaddir: ["dirs"],
}

/** How often a run's faults hit the one message they aim at: every request of it, or every 2nd or 3rd. */
const FAULT_EVERY: readonly (readonly [number, number])[] = [
  [1, 2],
  [2, 2],
  [3, 1],
]

/** The configuration of the swarm run seeded `seed`. */
export function drawSwarmConfig(descriptors: readonly FilesystemDescriptor[], pins: SwarmPins, seed: number): ScenarioShape {
  const kinds = swarmKinds(descriptors, pins)
  if (kinds.length === 0) throw new Error("swarm: no filesystem can honour the pinned options")
  // A stream of its own: the scenario's generation (fast-check, from the same seed) is unaffected by how much is drawn here.
  const rng = new Prng(deriveSeed(seed, "fsim.swarm"))
  const d = weighted(rng, kinds)
  const drawn = d.drawMount(rng, pins.mount)!
  const threads = pins.threads ?? weighted(rng, [[2, 3], [3, 2], [4, 2], [6, 1]])
  const ops = pins.ops ?? weighted(rng, [[4, 2], [8, 2], [12, 2], [24, 1]])
  const names = drawn.names ? (pins.names ?? weighted(rng, [[1, 1], [2, 2], [3, 2]])) : 3
  const upTo = (max: number, pinned: number | undefined): number => (max === 0 ? 0 : pinned !== undefined ? pinned : rng.chance(0.5) ? rng.between(1, max) : 0)
  const external = upTo(drawn.external, pins.external)
  const faults = upTo(drawn.faults, pins.faults)
  const privateFds = pins.privateFds ?? (drawn.sharedFds ? rng.chance(0.5) : true)
  const dflt = d.shapeDefaults(drawn.mount)
  const links = pins.links ?? dflt.links
  const groups = Object.fromEntries(OP_GROUPS.map((g) => [g, weighted(rng, GROUP_WEIGHTS)])) as Record<OpGroup, number>
  if (!links) groups.links = 0
  const flags: Record<string, number> = {}
  if (rng.chance(0.3)) flags["O_DIRECT"] = 0.5
  if (rng.chance(0.3)) flags["O_APPEND"] = 0.6
  if (rng.chance(0.3)) flags["O_TRUNC"] = 0.5
  // Synchronous writes write back and sync what they wrote: a path of their own.
  if (rng.chance(0.2)) flags[rng.chance(0.5) ? "O_SYNC" : "O_DSYNC"] = 0.5
  const creds = weighted<"mixed" | "root" | "users">(rng, [["mixed", 2], ["root", 1], ["users", 1]])
  const profile: OpProfile = { groups, flags, symlinkChains: rng.chance(0.3), ...(creds !== "mixed" ? { creds } : {}) }
  // Most runs with faults aim them at one family of requests, so they meet the few of its kind a run sends.
  const faultFocus = faults > 0 ? weighted(rng, FAULT_FOCUSES) : undefined
  // A server that makes no FIFOs or sockets, where there is a server and the
  // run makes them. Drawn (so the configuration stream stays as it is) but
  // not used yet: the synthetic FIFOs and sockets gVisor then keeps in the
  // client only are in the gofer's dialect (DIALECTS.md, histories with
  // `synthetic`), but fsim's port has no pipe for a synthetic FIFO, and
  // opening one (ENXIO) is an unexplained failure (about 1 in 60 such runs).
  const refuseMknod = drawn.faults > 0 && groups.special > 0 && rng.chance(0.3) && SYNTHETIC_FILES_JUDGED
  // Half the focused runs aim at one message of the family, failing every
  // k-th request of it: a run sends few of most messages, and a fault on the
  // nth lands only if the nth is the one on the path that meets it (the
  // flush after a cached write, an upgrade's second open, a sync's fsync);
  // failing a series of them meets it wherever it comes. (Drawn after the
  // rest, so the other dimensions draw as before.)
  const single = faultFocus !== undefined && rng.chance(0.5)
  const seriesable = single ? faultFocus.filter((m) => !NO_SERIES.has(m)) : []
  const sent = seriesable.filter((m) => (SERIES_SENDERS[m] ?? OP_GROUPS).some((g) => groups[g] > 0))
  const focus1 = single ? [rng.pick(sent.length > 0 ? sent : seriesable)] : faultFocus
  // And the ops that send it made common (their groups emphasized where on, in the profile: its groups are this object), so the series meets many.
  if (single) for (const g of SERIES_SENDERS[focus1![0]!] ?? []) if (groups[g] > 0) groups[g] = Math.max(groups[g], EMPHASIZED)
  const faultEvery = single ? weighted(rng, FAULT_EVERY) : undefined
  // Drawn last, so the configuration drawn before it stays as it was.
  const fifoPair = dflt.blockingFifoOpens === true && groups.special > 0 && rng.chance(0.25)
  const filePair = drawn.mount.kind !== "overlay" && groups.truncate > 0 && groups.sync > 0 && rng.chance(0.25)
  const movePair = drawn.mount.kind !== "overlay" && names >= 2 && groups.rename > 0 && groups.dirs > 0 && rng.chance(0.25)
  // External users that replace what the client works with, as other users
  // of a share do (externalgen.ts), in most runs that have external users;
  // the rest keep to the op mix. Not for an overlay's gofer layer (its
  // external users are generated apart, overlaygen.ts).
  const externalReplace = drawn.mount.kind !== "overlay" && external > 0 && rng.chance(0.75)
  return {
    mount: drawn.mount,
    threads,
    ops,
    names,
    external,
    faults,
    faultsSpareMount: true,
    links,
    ...(!links && dflt.treeLinks === true ? { remoteLinks: true } : {}),
    privateFds,
    slashOnlySymlinks: dflt.slashOnlySymlinks,
    setIdBits: dflt.setIdBits,
    externalUnjudged: d.externalUnjudged(drawn.mount),
    profile,
    ...(focus1 !== undefined ? { faultFocus: focus1 } : {}),
    ...(faultEvery !== undefined ? { faultEvery } : {}),
    ...(refuseMknod ? { refuseMknod } : {}),
    ...(fifoPair ? { fifoPair } : {}),
    ...(filePair ? { filePair } : {}),
    ...(movePair ? { movePair } : {}),
    ...(externalReplace ? { externalReplace } : {}),
    ...(pins.checkBudget !== undefined ? { checkBudget: pins.checkBudget } : {}),
  }
}

function mountWords(m: Mount): string {
  if (m.kind === "overlay") {
    const lowest = m.lower[m.lower.length - 1]
    const over = lowest === undefined ? "" : ` over ${lowest.kind}${lowest.kind === "gofer" && lowest.options !== undefined ? ` (${lowest.options})` : ""}`
    return `overlay${m.options !== undefined ? ` (${m.options})` : ""}${over}`
  }
  return `${m.kind}${m.options !== undefined ? ` (${m.options})` : ""}`
}

/** A run's configuration in one line: "gofer (cache=none,page_budget=1) · threads 2-4 · ops 1-8 · names 2 · external 0-2 · ops -xattrs +sync · O_DIRECT 50%". */
export function describeConfig(s: ScenarioShape): string {
  const parts = [mountWords(s.mount), `threads ${Math.min(2, s.threads)}-${s.threads}`, `ops 1-${s.ops}`]
  if (s.mount.kind !== "overlay") parts.push(`names ${s.names ?? 3}`)
  if ((s.external ?? 0) > 0) parts.push(`external 0-${s.external}`)
  if ((s.faults ?? 0) > 0 && s.faultEvery !== undefined) parts.push(`faults on every ${s.faultEvery === 1 ? "" : ordinal(s.faultEvery) + " "}${(s.faultFocus ?? []).join("/")}`)
  else if ((s.faults ?? 0) > 0) parts.push(`faults 0-${s.faults}${s.faultFocus !== undefined ? ` on ${s.faultFocus.join("/")}` : ""}`)
  if (s.refuseMknod === true) parts.push("server refuses mknod")
  if (s.fifoPair === true) parts.push("FIFO pair")
  if (s.filePair === true) parts.push("writer and truncater")
  if (s.movePair === true) parts.push("mover and watcher")
  if (s.externalReplace === true) parts.push("external users replace names")
  parts.push(`fds ${s.privateFds === true ? "private" : "shared"}`)
  const p = s.profile
  if (p !== undefined) {
    const off = OP_GROUPS.filter((g) => p.groups[g] === 0)
    const heavy = OP_GROUPS.filter((g) => p.groups[g] > 1)
    const words = [...off.map((g) => `-${g}`), ...heavy.map((g) => `+${g}`)]
    if (words.length > 0) parts.push(`ops ${words.join(" ")}`)
    for (const [f, odds] of Object.entries(p.flags)) parts.push(`${f} ${Math.round(odds * 100)}%`)
    if (p.symlinkChains) parts.push("symlink chains")
    if (p.creds !== undefined) parts.push(p.creds === "root" ? "as root" : "as users")
  }
  return parts.join(" · ")
}

function ordinal(n: number): string {
  return n === 2 ? "2nd" : n === 3 ? "3rd" : `${n}th`
}

/** A run's configuration as data: what a trace header records (`config`). */
export function configJson(s: ScenarioShape): Record<string, unknown> {
  return {
    mount: s.mount,
    threads: s.threads,
    ops: s.ops,
    names: s.names ?? 3,
    external: s.external ?? 0,
    faults: s.faults ?? 0,
    ...(s.faultFocus !== undefined ? { fault_focus: s.faultFocus } : {}),
    ...(s.faultEvery !== undefined ? { fault_every: s.faultEvery } : {}),
    ...(s.refuseMknod === true ? { refuse_mknod: true } : {}),
    ...(s.fifoPair === true ? { fifo_pair: true } : {}),
    ...(s.filePair === true ? { file_pair: true } : {}),
    ...(s.movePair === true ? { move_pair: true } : {}),
    ...(s.externalReplace === true ? { external_replace: true } : {}),
    fds: s.privateFds === true ? "private" : "shared",
    links: s.links ?? true,
    ...(s.remoteLinks === true ? { remote_links: true } : {}),
    ...(s.profile !== undefined ? { profile: s.profile } : {}),
  }
}
