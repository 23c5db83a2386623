// The overlay port's speed under the simulator, all checks on: complete
// scenario-runs per second and simulated operations per second, for the
// generated concurrent scenarios of `fsim check --mount overlay --threads 3
// --ops 10` (2..3 threads, a layered scenario of up to 30 steps cut into
// one contiguous run per thread; src/sim/overlaygen.ts), with tmpfs layers
// and with the lowest layer on the gofer (cache=fscache) over the simulated
// 9P server. Two baselines, measured right after each overlay pass on the
// same scenarios in the same process, so the ratios hold on a noisy
// machine: the reference model's mount holding the layers' merged tree (the
// gofer line's baseline too), and gVisor's tmpfs port alone holding it (what
// the overlay costs over one filesystem). Each run is a campaign's run: its
// own LockGraph, strategy random, seed = the run's seed, the CLI's mounts and
// lock orders.

import { scenarioForSeed, type ScenarioShape } from "../src/sim/campaign.js"
import { shapeDefaults } from "../src/impl/registry.js"
import { generate, median, perS, Rates, round2, runAll, type Pass } from "./passes.js"
import { overlayInitial, type Layer, type Mount, type Scenario } from "../src/sim/scenario.js"

const LOWERS: readonly { readonly label: string; readonly lowest: Layer }[] = [
  { label: "tmpfs", lowest: { kind: "tmpfs" } },
  { label: "gofer", lowest: { kind: "gofer", options: "cache=fscache", tree: "remote" } },
]
const THREADS = 3
const OPS = 10
/** Scenarios per repetition (seeds FIRST_SEED..FIRST_SEED + RUNS - 1), the same ones every repetition. */
const RUNS = 100
const REPS = 5
const FIRST_SEED = 1
const WARMUP = 20
/**
 * A baseline pass is repeated until it has taken this long, and its rates
 * are over all its repetitions: the model's pass of RUNS scenarios takes a
 * tenth of a second, where one collection of the overlay pass's garbage
 * would weigh as much as the pass.
 */
const BASELINE_MIN_MS = 1_000



/** runAll, repeated until BASELINE_MIN_MS have passed: ms and ops per RUNS scenarios, averaged over the repetitions. */
function runBaseline(scenarios: readonly Scenario[]): { ms: number; ops: number } {
  let ms = 0
  let ops = 0
  let k = 0
  do {
    const p = runAll(FIRST_SEED, scenarios)
    ms += p.ms
    ops += p.ops
    k++
  } while (ms < BASELINE_MIN_MS)
  return { ms: ms / k, ops: ops / k }
}

/** The same threads on a one-filesystem mount holding the merged tree (the model's, or gVisor's tmpfs alone). */
function asSingle(s: Scenario, kind: "model" | "tmpfs"): Scenario {
  // The layers' merged tree, as the overlay mount's model judges it.
  return { ...s, mount: { kind }, remote: overlayInitial(s).tree }
}

function benchLower(l: (typeof LOWERS)[number]): Record<string, unknown> {
  const mount: Mount = { kind: "overlay", lower: [l.lowest] }
  const shape: ScenarioShape = { mount, threads: THREADS, ops: OPS, external: 0, ...shapeDefaults(mount) }
  // Warm the JIT on the three mounts (other seeds than the measured ones).
  const warm = Array.from({ length: WARMUP }, (_, i) => scenarioForSeed(shape, 1_000_000 + i))
  runAll(FIRST_SEED, warm)
  runAll(FIRST_SEED, warm.map((s) => asSingle(s, "model")))
  runAll(FIRST_SEED, warm.map((s) => asSingle(s, "tmpfs")))

  const rates = new Rates(RUNS)
  const tmpfsRunRate: number[] = []
  const tmpfsOpRate: number[] = []
  const tmpfsRatios: number[] = []
  let last: Pass | null = null
  let threads = 0
  let layers = 0
  for (let rep = 0; rep < REPS; rep++) {
    // Generation is timed apart: runs_per_s is the run alone (mount of the
    // layers and the overlay, threads, final read-back, every check);
    // campaign_runs_per_s adds generation.
    const gen = generate(shape, RUNS, FIRST_SEED)
    const o = runAll(FIRST_SEED, gen.scenarios)
    const m = runBaseline(gen.scenarios.map((s) => asSingle(s, "model")))
    const t = runBaseline(gen.scenarios.map((s) => asSingle(s, "tmpfs")))
    rates.add(gen.ms, o, m)
    tmpfsRunRate.push(perS(RUNS, t.ms))
    tmpfsOpRate.push(perS(t.ops, t.ms))
    tmpfsRatios.push(perS(RUNS, o.ms) / perS(RUNS, t.ms))
    threads = gen.scenarios.reduce((n, s) => n + s.threads.length, 0)
    layers = gen.scenarios.reduce((n, s) => n + (s.mount.kind === "overlay" ? s.mount.lower.length + (s.mount.upper !== undefined ? 1 : 0) : 0), 0)
    last = o
  }
  const o = last!
  return {
    bench: "overlay",
    lower: l.label,
    ...(l.lowest.kind === "gofer" ? { lower_options: l.lowest.options } : {}),
    checks: "all",
    strategy: "random",
    threads_max: THREADS,
    ops_max: OPS,
    runs: RUNS,
    reps: REPS,
    mean_threads: round2(threads / RUNS),
    mean_layers: round2(layers / RUNS),
    mean_ops_per_run: round2(o.ops / RUNS),
    mean_final_ops_per_run: round2(o.finalOps / RUNS),
    ...rates.figures(),
    tmpfs_runs_per_s: Math.round(median(tmpfsRunRate)),
    tmpfs_ops_per_s: Math.round(median(tmpfsOpRate)),
    ratio_tmpfs: Number(median(tmpfsRatios).toFixed(3)),
    ...rates.generation(),
    // Runs are functions of their seeds: every repetition has these verdicts.
    verdicts: o.verdicts,
  }
}

export function benchOverlay(): Array<Record<string, unknown>> {
  return LOWERS.map(benchLower)
}
