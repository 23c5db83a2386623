// What the scenario benchmarks share: one pass over a fixed list of
// scenarios, run as a campaign runs them, with the counts each figure needs.

import { defaultEnv } from "../src/cli/mounts.js"
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
