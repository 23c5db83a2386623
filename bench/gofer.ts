// The gofer port's speed under the simulator, all checks on: complete
// scenario-runs per second and simulated operations per second, for
// generated scenarios of 2..3 threads x 1..10 ops (what `fsim check` runs),
// in the fscache and remote_revalidating cache modes. The baseline is the
// same scenarios on the reference model's mount (`mount: {kind: "model"}`),
// measured right after in the same process, so the ratio holds on a noisy
// machine. Each run is a campaign's run: its own LockGraph, strategy random,
// seed = the run's seed, the CLI's mounts and lock orders.

import { scenarioForSeed, type ScenarioShape } from "../src/sim/campaign.js"
import { shapeDefaults } from "../src/impl/registry.js"
import { generate, Rates, round2, runAll, type Pass } from "./passes.js"
import type { Mount, Scenario } from "../src/sim/scenario.js"

const CACHES = ["fscache", "remote_revalidating"] as const
const THREADS = 3
const OPS = 10
/** Scenarios per repetition (seeds FIRST_SEED..FIRST_SEED + RUNS - 1), the same ones every repetition. */
const RUNS = 300
const REPS = 5
const FIRST_SEED = 1
const WARMUP = 30



function benchCache(cache: (typeof CACHES)[number]): Record<string, unknown> {
  const mount: Mount = { kind: "gofer", options: `cache=${cache}` }
  const shape: ScenarioShape = { mount, threads: THREADS, ops: OPS, ...shapeDefaults(mount) }
  const asModel = (s: Scenario): Scenario => ({ ...s, mount: { kind: "model" } })
  // Warm the JIT on both mounts (other seeds than the measured ones).
  const warm = Array.from({ length: WARMUP }, (_, i) => scenarioForSeed(shape, 1_000_000 + i))
  runAll(FIRST_SEED, warm)
  runAll(FIRST_SEED, warm.map(asModel))

  const rates = new Rates(RUNS)
  let last: Pass | null = null
  let threads = 0
  for (let rep = 0; rep < REPS; rep++) {
    // Generation is timed apart: runs_per_s is the run alone (mount, threads,
    // final read-back, every check); campaign_runs_per_s adds generation.
    const gen = generate(shape, RUNS, FIRST_SEED)
    const g = runAll(FIRST_SEED, gen.scenarios)
    const m = runAll(FIRST_SEED, gen.scenarios.map(asModel))
    rates.add(gen.ms, g, m)
    threads = gen.scenarios.reduce((n, s) => n + s.threads.length, 0)
    last = g
  }
  const g = last!
  return {
    bench: "gofer",
    cache,
    checks: "all",
    strategy: "random",
    threads_max: THREADS,
    ops_max: OPS,
    runs: RUNS,
    reps: REPS,
    mean_threads: round2(threads / RUNS),
    mean_ops_per_run: round2(g.ops / RUNS),
    mean_final_ops_per_run: round2(g.finalOps / RUNS),
    ...rates.figures(),
    ...rates.generation(),
    // Runs are functions of their seeds: every repetition has these verdicts.
    verdicts: g.verdicts,
  }
}

export function benchGofer(): Array<Record<string, unknown>> {
  return CACHES.map(benchCache)
}
