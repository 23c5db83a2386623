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
 * Where a mutant of a port comes from when it re-creates a bug that gVisor
 * fixed: the fixing commit (the mutant is the code before it), its subject,
 * and what a run needs to show it ("race": two client threads interleaved;
 * "external": another user changing the share; "pressure": eviction or
 * writeback; "sequential": one thread suffices).
 */
export interface Upstream { readonly commit: string; readonly subject: string; readonly needs: "race" | "external" | "pressure" | "sequential" }
