// tmpfs under random concurrent scenarios: see properties/tmpfs.ts.
//
//   FSIM_TMPFS_RUNS=20000 npx vitest run properties/tmpfs.test.ts

import { describe, expect, it } from "vitest"
import { runTmpfsSuite, tmpfsRuns } from "./tmpfs.js"

describe("tmpfs", () => {
  it("random concurrent scenarios: every check passes", { timeout: Math.max(120_000, tmpfsRuns() * 200) }, () => {
    const runs = tmpfsRuns()
    const r = runTmpfsSuite(runs)
    const t = r.tally
    console.log(`tmpfs: ${t.runs} runs, ${t.verdicts.pass} passed, ${t.verdicts.fail} failed, ${t.verdicts.unknown} unknown, ${t.verdicts.budget_exhausted} out of budget; ${Object.keys(t.lockEdges).length} lock-class pairs seen, ${r.cycles} cycles`)
    expect(r.failures.slice(0, 5).join("\n")).toBe("")
    expect(t.runs).toBe(runs)
    expect(t.verdicts.pass).toBe(runs)
    expect(r.cycles).toBe(0)
  })
})
