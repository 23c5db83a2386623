// Each deliberate bug of the gofer port (src/impl/gofer/mutants.ts) is
// found by a small campaign of the property suites' kind within a stated
// budget of runs, by the check named. A run counts as finding it only if
// the same run passes without the mutant: the bug is then the mutant's, not
// one of gVisor's own that the port reproduces (FINDINGS.md).

import { describe, expect, it } from "vitest"
import { scenarioForSeed, seedOf, strategyFor, PORTFOLIO, type ScenarioShape } from "../../src/sim/campaign.js"
import { shapeDefaults } from "../../src/impl/registry.js"
import type { CheckName } from "../../src/sim/events.js"
import { LockGraph } from "../../src/sim/lockorder.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import { defaultEnv } from "../../src/cli/mounts.js"
import { GOFER_MUTANTS, type GoferMutant } from "../../src/impl/gofer/mutants.js"

const env = defaultEnv()

interface MutantCase {
  readonly mutant: GoferMutant
  readonly options: string
  readonly check: CheckName
  /** Runs the campaign may take to find it. */
  readonly budget: number
  readonly names?: number
  readonly threads?: number
  readonly external?: number
}

/** The budgets are about twice the runs each needed when measured (test/README.md). */
export const MUTANT_CASES: readonly MutantCase[] = [
  { mutant: "lock-order-inversion", options: "cache=fscache", check: "lock_order", budget: 50 },
  { mutant: "missing-revalidation", options: "cache=remote_revalidating", check: "lincheck", budget: 100, external: 2 },
  { mutant: "evict-drops-dirty", options: "cache=fscache,dentry_cache_limit=1", check: "lincheck", budget: 150 },
  { mutant: "negative-dentry-after-create", options: "cache=fscache", check: "coherence", budget: 50 },
  { mutant: "truncate-keeps-pages", options: "cache=fscache", check: "invariants", budget: 600 },
  { mutant: "ref-leak-on-error", options: "cache=fscache", check: "invariants", budget: 50 },
  { mutant: "handle-downgrade", options: "cache=fscache", check: "invariants", budget: 100 },
  { mutant: "append-stale-size", options: "cache=fscache", check: "lincheck", budget: 4000, names: 1 },
  { mutant: "stat-size-wrong", options: "cache=fscache", check: "lincheck", budget: 50 },
]

function shapeOf(c: MutantCase, mutant: boolean): ScenarioShape {
  const mount = { kind: "gofer" as const, options: mutant ? `${c.options},mutant=${c.mutant}` : c.options }
  return { mount, threads: c.threads ?? 4, ops: 12, names: c.names ?? 2, external: c.external ?? 0, ...shapeDefaults(mount) }
}

function runOf(shape: ScenarioShape, run: number): RunReport {
  const seed = seedOf(1, run)
  const strategy = strategyFor({ kind: "portfolio", specs: PORTFOLIO }, run)
  return runSubject(scenarioForSeed(shape, seed), { seed, strategy, mounts: env.mounts, lockOrders: env.lockOrders, lockGraph: new LockGraph(), runLabel: `seed ${seed}` })
}

describe("gofer mutants", () => {
  it("every mutant has a case", () => {
    expect(MUTANT_CASES.map((c) => c.mutant).sort()).toEqual(Object.keys(GOFER_MUTANTS).sort())
  })

  for (const c of MUTANT_CASES) {
    it(`${c.mutant} is found by ${c.check} within ${c.budget} runs (${c.options})`, { timeout: 600_000 }, () => {
      const shape = shapeOf(c, true)
      const clean = shapeOf(c, false)
      let found: { run: number; report: RunReport } | null = null
      for (let run = 0; run < c.budget && found === null; run++) {
        const r = runOf(shape, run)
        if (r.verdict === "fail" && runOf(clean, run).verdict === "pass") found = { run, report: r }
      }
      expect(found, `${c.mutant}: not found in ${c.budget} runs`).not.toBeNull()
      const checks = found!.report.violations.map((v) => v.check)
      expect(checks).toContain(c.check)
      console.log(`${c.mutant}: found at run ${found!.run} (seed ${seedOf(1, found!.run)}) by ${[...new Set(checks)].join(", ")}`)
    })
  }
})
