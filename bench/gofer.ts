// The gofer port's speed under the simulator, all checks on: complete
// scenario-runs per second and simulated operations per second, for
// generated scenarios of 2..3 threads x 1..10 ops (what `fsim check` runs),
// in the fscache and remote_revalidating cache modes. The baseline is the
// same scenarios on the reference model's mount (`mount: {kind: "model"}`),
// measured right after in the same process, so the ratio holds on a noisy
// machine. Each run is a campaign's run: its own LockGraph, strategy random,
// seed = the run's seed, the CLI's mounts and lock orders.

import { scenarioForSeed, shapeDefaults, type ScenarioShape } from "../src/sim/campaign.js"
import { runAll, type Pass } from "./passes.js"
import type { Mount, Scenario } from "../src/sim/scenario.js"

const CACHES = ["fscache", "remote_revalidating"] as const
const THREADS = 3
const OPS = 10
/** Scenarios per repetition (seeds FIRST_SEED..FIRST_SEED + RUNS - 1), the same ones every repetition. */
const RUNS = 300
const REPS = 5
const FIRST_SEED = 1
const WARMUP = 30



function generate(shape: ScenarioShape): { scenarios: Scenario[]; ms: number } {
  const start = performance.now()
  const scenarios: Scenario[] = []
  for (let i = 0; i < RUNS; i++) scenarios.push(scenarioForSeed(shape, FIRST_SEED + i))
  return { scenarios, ms: performance.now() - start }
}

function median(xs: readonly number[]): number {
  const a = [...xs].sort((x, y) => x - y)
  return a[Math.floor(a.length / 2)]!
}

function quantile(xs: readonly number[], q: number): number {
  const a = [...xs].sort((x, y) => x - y)
  return a[Math.min(a.length - 1, Math.floor(q * a.length))]!
}

const perS = (n: number, ms: number): number => (n / ms) * 1000
const round2 = (x: number): number => Math.round(x * 100) / 100

function benchCache(cache: (typeof CACHES)[number]): Record<string, unknown> {
  const mount: Mount = { kind: "gofer", options: `cache=${cache}` }
  const shape: ScenarioShape = { mount, threads: THREADS, ops: OPS, ...shapeDefaults(mount) }
  const asModel = (s: Scenario): Scenario => ({ ...s, mount: { kind: "model" } })
  // Warm the JIT on both mounts (other seeds than the measured ones).
  const warm = Array.from({ length: WARMUP }, (_, i) => scenarioForSeed(shape, 1_000_000 + i))
  runAll(FIRST_SEED, warm)
  runAll(FIRST_SEED, warm.map(asModel))

  const genRate: number[] = []
  const runRate: number[] = []
  const opRate: number[] = []
  const finalOpRate: number[] = []
  const modelRunRate: number[] = []
  const modelOpRate: number[] = []
  const ratios: number[] = []
  const campaignRate: number[] = []
  const runMs: number[] = []
  let last: Pass | null = null
  let threads = 0
  for (let rep = 0; rep < REPS; rep++) {
    // Generation is timed apart: runs_per_s is the run alone (mount, threads,
    // final read-back, every check); campaign_runs_per_s adds generation.
    const gen = generate(shape)
    const g = runAll(FIRST_SEED, gen.scenarios)
    const m = runAll(FIRST_SEED, gen.scenarios.map(asModel))
    genRate.push(perS(RUNS, gen.ms))
    runRate.push(perS(RUNS, g.ms))
    opRate.push(perS(g.ops, g.ms))
    finalOpRate.push(perS(g.finalOps, g.ms))
    modelRunRate.push(perS(RUNS, m.ms))
    modelOpRate.push(perS(m.ops, m.ms))
    ratios.push(perS(RUNS, g.ms) / perS(RUNS, m.ms))
    campaignRate.push(perS(RUNS, gen.ms + g.ms))
    runMs.push(...g.runMs)
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
    runs_per_s: Math.round(median(runRate)),
    ops_per_s: Math.round(median(opRate)),
    final_ops_per_s: Math.round(median(finalOpRate)),
    run_ms_median: round2(quantile(runMs, 0.5)),
    run_ms_p99: round2(quantile(runMs, 0.99)),
    model_runs_per_s: Math.round(median(modelRunRate)),
    model_ops_per_s: Math.round(median(modelOpRate)),
    ratio: Number(median(ratios).toFixed(3)),
    gen_scenarios_per_s: Math.round(median(genRate)),
    campaign_runs_per_s: Math.round(median(campaignRate)),
    // Runs are functions of their seeds: every repetition has these verdicts.
    verdicts: g.verdicts,
  }
}

export function benchGofer(): Array<Record<string, unknown>> {
  return CACHES.map(benchCache)
}
