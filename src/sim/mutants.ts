// Test-only mutants of the `model` mount: deliberately wrong implementations
// of the filesystem under test, selected by the model mount option
// `mutant=NAME`. They prove that a campaign finds, shrinks, saves and
// replays a real concurrency bug. Nothing selects one unless a scenario
// names it: only `fsim check --mutant NAME` (a switch hidden from --help)
// generates such scenarios, and a trace of one carries the option so that
// `fsim replay` reproduces it. The reference model that judges the run
// (lincheck) is never mutated.

export const MUTANTS = {
  "rename-not-atomic":
    "rename(2) done as link(2) then unlink(2) with a scheduling point between, so another thread can see both names (and a link count of 2)",
} as const

export type MutantName = keyof typeof MUTANTS

export function isMutantName(name: string): name is MutantName {
  return Object.hasOwn(MUTANTS, name)
}

/**
 * Where a mutant that re-creates a real upstream bug comes from: the gVisor
 * commit that fixed it (the mutant inverts that fix), its subject, and what
 * a run needs to show it: a race between client threads, external users
 * changing the share, memory pressure (dentry eviction, page-cache
 * writeback or eviction), or nothing more than one thread (sequential).
 */
export interface Upstream {
  /** The fixing commit in google/gvisor, 40 hex digits. */
  readonly commit: string
  /** Its subject line, verbatim. */
  readonly subject: string
  readonly needs: "race" | "external" | "pressure" | "sequential"
}
