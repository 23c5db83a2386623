// tmpfs against the reference model on seeded sequential scenarios
// (test/tmpfs/diff.ts). `npm test` runs a sample; a longer run:
//
//   FSIM_TMPFS_DIFF_SCENARIOS=5000 npx vitest run test/tmpfs/diff.test.ts
//   FSIM_TMPFS_DIFF_SEED=<seed> FSIM_TMPFS_DIFF_SCENARIOS=1 npx vitest run test/tmpfs/diff.test.ts   # one scenario

import fc from "fast-check"
import { expect, test } from "vitest"
import { arbSequentialScenario } from "../../src/model/arbitraries.js"
import { plan, runAndJudge, tmpfsForm } from "./diff.js"

const SCENARIOS = Number(process.env["FSIM_TMPFS_DIFF_SCENARIOS"] ?? 300)
const BASE_SEED = Number(process.env["FSIM_TMPFS_DIFF_SEED"] ?? 20_260_101)
const DIALECT = "gvisor-tmpfs" as const

test(`tmpfs gives the model's results, save its dialect, on ${SCENARIOS} sequential scenarios from seed ${BASE_SEED}`, () => {
  const arb = arbSequentialScenario()
  const mismatches: string[] = []
  const rules = new Map<string, number>()
  let ops = 0
  let dropped = 0
  for (let seed = BASE_SEED; seed < BASE_SEED + SCENARIOS; seed++) {
    const sc = tmpfsForm(fc.sample(arb, { seed, numRuns: 1 })[0]!)
    const p = plan(sc, DIALECT)
    dropped += p.dropped
    ops += p.steps.length
    const v = runAndJudge(p, seed)
    for (const [r, n] of v.rules) rules.set(r, (rules.get(r) ?? 0) + n)
    if (v.mismatch !== undefined) mismatches.push(`seed ${seed}: ${v.mismatch}`)
  }
  const byRule = [...rules].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r} ${n}`)
  console.log(`tmpfs-model-diff: ${SCENARIOS} scenarios, ${ops} ops, ${dropped} dropped (blocking FIFO), departures by rule [${byRule.join(", ")}], ${mismatches.length} mismatches`)
  if (process.env["FSIM_TMPFS_DIFF_ALL"] !== undefined) for (const m of mismatches) console.log(m)
  expect(mismatches.slice(0, 5).join("\n")).toBe("")
}, 600_000)
