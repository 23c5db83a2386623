// Campaigns: many seeded runs of generated concurrent scenarios, tallied.
// Run i of a campaign seeded s uses seed s + i for both its scenario and its
// schedule, so any run can be repeated alone (`fsim check --seed s+i --runs 1`)
// and seed ranges can be split between workers.

import fc from "fast-check"
import { arbCred, arbRoot, arbSteps, arbTree } from "../model/arbitraries.js"
import type { Op } from "../model/types.js"
import type { CheckName, Verdict, Violation } from "./events.js"
import { LockGraph } from "./lockorder.js"
import type { MountRegistry } from "./mount.js"
import type { LockOrderSpec } from "./lockorder.js"
import { runSubject, type RunReport } from "./run.js"
import type { Mount, Scenario } from "./scenario.js"
import type { StrategySpec } from "./strategy.js"

export interface ScenarioShape {
  readonly mount: Mount
  /** Threads per scenario: between 2 and this (at least 1). */
  readonly threads: number
  /** Ops per thread: between 1 and this. */
  readonly ops: number
}

/**
 * Concurrent scenarios over the model's small namespace. Opens carry
 * O_NONBLOCK, so a FIFO open never waits for a peer the scenario may not
 * have (that would be a deadlock of the scenario, not of the filesystem).
 */
export function arbScenario(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  const thread = fc.tuple(arbCred, arbSteps(1, shape.ops))
  return fc
    .record({
      remote: arbTree,
      root: arbRoot,
      threads: fc.array(thread, { minLength: Math.min(2, shape.threads), maxLength: shape.threads }),
    })
    .map(({ remote, root, threads }) => ({
      format: "fsim.scenario/1" as const,
      name: "generated",
      mount: shape.mount,
      remote,
      root,
      threads: threads.map(([cred, steps], i) => ({
        name: `t${i}`,
        cred,
        ops: steps.slice(0, shape.ops).map((s) => nonBlocking(s.op)),
      })),
    }))
}

function nonBlocking(op: Op): Op {
  if (op.op !== "open" || op.flags.includes("O_NONBLOCK")) return op
  return { ...op, flags: [...op.flags, "O_NONBLOCK"] }
}

/** The scenario of run `seed` (fast-check's generation is a function of its seed). */
export function scenarioForSeed(shape: ScenarioShape, seed: number): Scenario {
  const [s] = fc.sample(arbScenario(shape), { seed, numRuns: 1 })
  return s!
}

/** A campaign strategy: one strategy, or a portfolio rotated by run. */
export type CampaignStrategy = { readonly kind: "one"; readonly spec: StrategySpec } | { readonly kind: "portfolio"; readonly specs: readonly StrategySpec[] }

export const PORTFOLIO: readonly StrategySpec[] = [{ kind: "random" }, { kind: "pct", depth: 2 }, { kind: "pct", depth: 3 }]

export function strategyFor(c: CampaignStrategy, run: number): StrategySpec {
  return c.kind === "one" ? c.spec : c.specs[run % c.specs.length]!
}

export function strategyLabel(s: StrategySpec): string {
  return s.kind === "random" ? "random" : `pct:${s.depth}`
}

export interface CampaignOptions {
  readonly shape: ScenarioShape
  readonly seed: number
  readonly strategy: CampaignStrategy
  readonly mounts: MountRegistry
  readonly lockOrders: readonly LockOrderSpec[]
}

export interface StrategyStats {
  runs: number
  failures: number
  steps: number
}

/** Failing runs kept whole (with their events) for saving; the rest are counted. */
export const KEPT_FAILURES = 20

export interface Failure {
  readonly seed: number
  readonly strategy: string
  readonly verdict: Verdict
  readonly violations: readonly Violation[]
  /** The whole run, for the first KEPT_FAILURES failures. */
  readonly report: RunReport | null
}

export interface CampaignSummary {
  runs: number
  steps: number
  events: number
  verdicts: Record<Verdict, number>
  violationsByCheck: Partial<Record<CheckName, number>>
  strategies: Record<string, StrategyStats>
  /** The failing (or inconclusive) runs, in seed order. */
  failures: Failure[]
  /** Lock-class pairs held together, over the campaign. */
  lockPairs: [string, string][]
}

/**
 * A campaign in progress: `runBatch` does the next runs, so a caller can
 * report progress and stop (Ctrl-C) between batches.
 */
export class Campaign {
  private readonly graph = new LockGraph()
  private next = 0
  readonly summary: CampaignSummary = {
    runs: 0,
    steps: 0,
    events: 0,
    verdicts: { pass: 0, fail: 0, budget_exhausted: 0, unknown: 0 },
    violationsByCheck: {},
    strategies: {},
    failures: [],
    lockPairs: [],
  }

  constructor(private readonly o: CampaignOptions) {}

  /** Runs the next `count` runs. */
  runBatch(count: number): void {
    const o = this.o
    const summary = this.summary
    for (let k = 0; k < count; k++) {
      const i = this.next++
      const seed = (o.seed + i) >>> 0
      const spec = strategyFor(o.strategy, i)
      const scenario = scenarioForSeed(o.shape, seed)
      const r = runSubject(scenario, { seed, strategy: spec, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: this.graph, runLabel: `seed ${seed}` })
      summary.runs++
      summary.steps += r.steps
      summary.events += r.events.length
      summary.verdicts[r.verdict]++
      const label = strategyLabel(spec)
      const st = (summary.strategies[label] ??= { runs: 0, failures: 0, steps: 0 })
      st.runs++
      st.steps += r.steps
      for (const v of r.violations) summary.violationsByCheck[v.check] = (summary.violationsByCheck[v.check] ?? 0) + 1
      if (r.verdict !== "pass") {
        if (r.verdict === "fail") st.failures++
        const keep = summary.failures.length < KEPT_FAILURES
        summary.failures.push({ seed, strategy: r.strategy, verdict: r.verdict, violations: r.violations, report: keep ? r : null })
      }
    }
    summary.lockPairs = this.graph.pairs()
  }
}

/** Runs a whole campaign of `runs` runs at once. */
export function runCampaign(o: CampaignOptions, runs: number): CampaignSummary {
  const c = new Campaign(o)
  c.runBatch(runs)
  return c.summary
}
