// What the scenario benchmarks share: one pass over a fixed list of
// scenarios, run as a campaign runs them, with the counts each figure needs.

import { defaultEnv } from "../src/cli/mounts.js"
import { scenarioForSeed, type ScenarioShape } from "../src/sim/campaign.js"
import { LockGraph } from "../src/sim/lockorder.js"
import { FINAL_THREAD, runSubject } from "../src/sim/run.js"
import type { Scenario } from "../src/sim/scenario.js"
import type { Verdict } from "../src/sim/events.js"

const env = defaultEnv()

export interface Pass {
  ms: number
  /** Ops of the scenario threads that returned. */
  ops: number
  /** Ops of the final read-back thread (fsim.final) that returned. */
  finalOps: number
  runMs: number[]
  verdicts: Record<Verdict, number>
}

/** Runs every scenario once, scenario i with seed firstSeed + i, as a campaign does. */
export function runAll(firstSeed: number, scenarios: readonly Scenario[]): Pass {
  const p: Pass = { ms: 0, ops: 0, finalOps: 0, runMs: [], verdicts: { pass: 0, fail: 0, budget_exhausted: 0, unknown: 0 } }
  const start = performance.now()
  for (let i = 0; i < scenarios.length; i++) {
    const t0 = performance.now()
    const r = runSubject(scenarios[i]!, { seed: firstSeed + i, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders, lockGraph: new LockGraph() })
    p.runMs.push(performance.now() - t0)
    p.verdicts[r.verdict]++
    for (const o of r.ops) {
      if (o.return === null) continue
      if (o.thread === FINAL_THREAD) p.finalOps++
      else p.ops++
    }
  }
  p.ms = performance.now() - start
  return p
}

/** Scenarios `firstSeed`.. of a campaign's shape, as `fsim check` draws them, and the time drawing them took. */
export function generate(shape: ScenarioShape, runs: number, firstSeed: number): { scenarios: Scenario[]; ms: number } {
  const start = performance.now()
  const scenarios: Scenario[] = []
  for (let i = 0; i < runs; i++) scenarios.push(scenarioForSeed(shape, firstSeed + i))
  return { scenarios, ms: performance.now() - start }
}

export function quantile(xs: readonly number[], q: number): number {
  const a = [...xs].sort((x, y) => x - y)
  return a[Math.min(a.length - 1, Math.floor(q * a.length))]!
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5)
}

export const perS = (n: number, ms: number): number => (n / ms) * 1000
export const round2 = (x: number): number => Math.round(x * 100) / 100

/**
 * The figures every scenario benchmark gives, over its repetitions: the
 * subject's runs, ops and final read-back ops per second, its run times,
 * the model mount's rates on the same scenarios (the baseline, measured in
 * the same process) and their ratio, generation alone and with the runs.
 * Each figure is the median over the repetitions.
 */
export class Rates {
  private readonly gen: number[] = []
  private readonly run: number[] = []
  private readonly op: number[] = []
  private readonly finalOp: number[] = []
  private readonly modelRun: number[] = []
  private readonly modelOp: number[] = []
  private readonly ratio: number[] = []
  private readonly campaign: number[] = []
  private readonly runMs: number[] = []

  constructor(private readonly runs: number) {}

  /** One repetition: generation, the subject's pass, the model's pass (ms and ops per pass). */
  add(genMs: number, subject: Pass, model: { readonly ms: number; readonly ops: number }): void {
    const n = this.runs
    this.gen.push(perS(n, genMs))
    this.run.push(perS(n, subject.ms))
    this.op.push(perS(subject.ops, subject.ms))
    this.finalOp.push(perS(subject.finalOps, subject.ms))
    this.modelRun.push(perS(n, model.ms))
    this.modelOp.push(perS(model.ops, model.ms))
    this.ratio.push(perS(n, subject.ms) / perS(n, model.ms))
    this.campaign.push(perS(n, genMs + subject.ms))
    this.runMs.push(...subject.runMs)
  }

  /** The subject's figures and the model baseline's, with their ratio. */
  figures(): Record<string, number> {
    return {
      runs_per_s: Math.round(median(this.run)),
      ops_per_s: Math.round(median(this.op)),
      final_ops_per_s: Math.round(median(this.finalOp)),
      run_ms_median: round2(quantile(this.runMs, 0.5)),
      run_ms_p99: round2(quantile(this.runMs, 0.99)),
      model_runs_per_s: Math.round(median(this.modelRun)),
      model_ops_per_s: Math.round(median(this.modelOp)),
      ratio: Number(median(this.ratio).toFixed(3)),
    }
  }

  /** Generation alone, and generation with the subject's runs (what a campaign does). */
  generation(): Record<string, number> {
    return { gen_scenarios_per_s: Math.round(median(this.gen)), campaign_runs_per_s: Math.round(median(this.campaign)) }
  }
}
