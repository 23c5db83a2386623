// The tmpfs property suite's common part: random concurrent scenarios (2-4
// threads, up to 12 ops each, two names per directory) on the tmpfs mount,
// every check on (linearizability under the gvisor-tmpfs dialect, lock
// order, deadlock, tmpfs's invariants), a portfolio of strategies. Every run
// must pass; a failure names its seed and the command that reproduces it.

import { defaultEnv } from "../src/cli/mounts.js"
import { Campaign, emptyTally, lockCycles, mergeTally, PORTFOLIO, type CampaignOptions, type ScenarioShape, type Tally } from "../src/sim/campaign.js"
import { shapeDefaults } from "../src/impl/registry.js"

/** Runs: FSIM_TMPFS_RUNS, default 200. */
export function tmpfsRuns(): number {
  const n = Number(process.env["FSIM_TMPFS_RUNS"] ?? "200")
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FSIM_TMPFS_RUNS: expected a positive integer, got ${process.env["FSIM_TMPFS_RUNS"]}`)
  return n
}

export function tmpfsShape(names: number): ScenarioShape {
  const mount = { kind: "tmpfs" as const }
  return { mount, threads: 4, ops: 12, names, ...shapeDefaults(mount) }
}

export interface SuiteResult {
  readonly tally: Tally
  readonly failures: readonly string[]
  readonly cycles: number
}

/** `runs` runs, half with two names per directory, half with three; campaign seeds 1 and 500001. */
export function runTmpfsSuite(runs: number): SuiteResult {
  const env = defaultEnv()
  const tally = emptyTally()
  const failures: string[] = []
  const halves = [
    { names: 2, seed: 1, runs: Math.ceil(runs / 2) },
    { names: 3, seed: 500_001, runs: Math.floor(runs / 2) },
  ]
  for (const h of halves) {
    if (h.runs === 0) continue
    const o: CampaignOptions = { shape: tmpfsShape(h.names), seed: h.seed, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: env.mounts, lockOrders: env.lockOrders }
    const t = new Campaign(o).runRange(0, h.runs)
    for (const f of t.failures) {
      failures.push(`seed ${f.seed} (${f.strategy}): ${f.verdict} [${f.checks.join(", ")}] ${f.message}\n  reproduce: fsim check --mount tmpfs --names ${h.names} --seed ${f.seed} --runs 1 --strategy ${f.strategy}`)
    }
    mergeTally(tally, t)
  }
  return { tally, failures, cycles: lockCycles(tally.lockEdges).length }
}
