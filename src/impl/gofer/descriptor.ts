// The gofer's descriptor (src/sim/descriptor.ts): everything fsim knows about
// this filesystem outside its own code, and its swarm configuration space.

import { joinOptions, optionWords, plainMount, weighted, withMutant, type FilesystemDescriptor, type MountPins } from "../../sim/descriptor.js"
import { GOFER_MARKS } from "./marks.js"
import type { Upstream } from "../../sim/mutants.js"
import type { Prng } from "../../sim/prng.js"
import type { Mount } from "../../sim/scenario.js"
import { GOFER_LOCK_ORDER } from "./filesystem.js"
import { goferRunFindings } from "./findings.js"
import { goferMount } from "./mount.js"
import { GOFER_MUTANT_UPSTREAM, GOFER_MUTANTS } from "./mutants.js"

/** The cache modes (gofer.go's cache= values), each a configuration of its own. */
export const CACHE_MODES = ["fscache", "fscache_writethrough", "remote_revalidating", "none"] as const

/** The cache mode of gofer mount options (fscache when absent, gVisor's default). */
export function cacheModeOf(options: string | undefined): string {
  return optionWords(options).get("cache") ?? "fscache"
}

/**
 * Whether the mode takes the client to be the share's only writer: gVisor's
 * InteropModeExclusive (cache=fscache, "the filesystem client is the only
 * user of the remote filesystem") and InteropModeWritethrough ("there are
 * read-only users"), gofer.go. External users who change the share are
 * outside what either promises: the client keeps what it cached, so neither
 * its results nor its tree after sync can be held to the server's.
 */
export function exclusiveCacheMode(options: string | undefined): boolean {
  const cache = cacheModeOf(options)
  return cache === "fscache" || cache === "fscache_writethrough"
}

/**
 * Draws the options a swarm run mounts a gofer with: the cache mode, the
 * dentry cache limit (1 to gVisor's default 1000), the page budget (a
 * handful of pages, so eviction and writeback under pressure are constant,
 * to unbounded) and msize (small ones split reads and writes). Options the
 * user gave are kept as given, and only the others drawn.
 */
export function drawGoferOptions(rng: Prng, pinned: string | undefined): string | undefined {
  const m = optionWords(pinned)
  const out = new Map<string, string>()
  out.set("cache", m.get("cache") ?? rng.pick(CACHE_MODES))
  const limit = weighted<string | null>(rng, [[null, 3], ["1", 2], ["2", 1], ["4", 1], ["16", 1]])
  const pages = weighted<string | null>(rng, [[null, 3], ["1", 2], ["2", 1], ["4", 1], ["64", 1]])
  const msize = weighted<string | null>(rng, [[null, 4], ["4096", 1], ["8192", 1]])
  if (limit !== null) out.set("dentry_cache_limit", limit)
  if (pages !== null) out.set("page_budget", pages)
  if (msize !== null) out.set("msize", msize)
  // The user's options win over drawn ones, in the user's order after cache.
  for (const [k, v] of m) out.set(k, v)
  return joinOptions(out)
}

export const GOFER: FilesystemDescriptor = {
  kind: "gofer",
  label: "gVisor's gofer: a 9P client with dentry, metadata and page caches",
  factory: goferMount,
  lockOrder: GOFER_LOCK_ORDER,
  findings: { run: goferRunFindings },
  mutants: GOFER_MUTANTS,
  upstream: GOFER_MUTANT_UPSTREAM as Readonly<Record<string, Upstream>>,
  marks: GOFER_MARKS,
  folders: [],
  defaultWeight: 6,
  // Hard links: its cached modes keep a cache per name, and gVisor's LinkAt
  // resolves the old path in a call of its own (src/model/DIALECTS.md).
  // Descriptors: a real kernel looks an fd up once. Slash-only symlink
  // targets and setuid/setgid bits: FINDINGS.md (symlink-to-root,
  // write-setid-stale-mode, chown-same-ids).
  shapeDefaults: () => ({ links: false, privateFds: true, slashOnlySymlinks: false, setIdBits: false }),
  externalUnjudged: (mount: Mount) => mount.kind === "gofer" && exclusiveCacheMode(mount.options),
  labelParts(mount: Mount) {
    const m = optionWords(mount.options)
    const cache = m.get("cache")
    const mutant = m.get("mutant")
    return [...(cache !== undefined ? [cache] : []), ...(mutant !== undefined ? ["mutant", mutant] : [])]
  },
  drawMount(rng: Prng, pins: MountPins) {
    if (pins.lower !== undefined || (pins.mutant !== undefined && pins.mutant.kind !== "gofer")) return null
    const options = withMutant(drawGoferOptions(rng, pins.options), "gofer", pins)
    const mount: Mount = { kind: "gofer", ...(options !== undefined ? { options } : {}) }
    // External users matter where the client revalidates; under the exclusive
    // modes they are unjudged (externalUnjudged), so fewer of those runs get them.
    return { mount, external: exclusiveCacheMode(options) ? 1 : 3, faults: 3, sharedFds: false, names: true }
  },
  fixedMount(pins: MountPins): Mount {
    return plainMount("gofer", pins)
  },
  // A 9P client: external users and faults are what it is tested against.
  refusals: () => ({}),
}
