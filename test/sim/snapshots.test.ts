// The HTML view's state snapshots keep within a byte budget: a large tree
// times many changes would otherwise outgrow a string (a 20,000-file tree
// and 300 stats crashed `fsim show --html` after minutes and 2.9 GB).

import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { stateSnapshots } from "../../src/sim/fold.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { loadTrace } from "../../src/sim/trace.js"

const ROOT = join(import.meta.dirname, "../..")

describe("stateSnapshots' byte budget", () => {
  const trace = loadTrace(join(ROOT, "traces", "gofer-finding-symlink-to-root.jsonl"))
  const scenario = trace.header.scenario as Scenario
  const folders = defaultEnv().folders ?? {}
  const all = stateSnapshots(scenario, trace.events, folders)
  const bytes = (xs: readonly { text: string }[]): number => xs.reduce((n, x) => n + x.text.length, 0)

  it("within the budget, every change is kept", () => {
    expect(all.length).toBeGreaterThan(20)
    expect(stateSnapshots(scenario, trace.events, folders, 4000, bytes(all))).toEqual(all)
  })

  it("past it, evenly spaced snapshots within the budget, the first state kept", () => {
    const budget = Math.floor(bytes(all) / 5)
    const thin = stateSnapshots(scenario, trace.events, folders, 4000, budget)
    expect(bytes(thin)).toBeLessThanOrEqual(budget)
    expect(thin.length).toBeGreaterThan(1)
    expect(thin[0]).toEqual(all[0])
    // Every kept snapshot is one of the full list, at a fixed stride.
    const at = thin.map((s) => all.findIndex((a) => a.seq === s.seq))
    const stride = at[1]! - at[0]!
    expect(at).toEqual(at.map((_, i) => i * stride))
    for (const s of thin) expect(s).toEqual(all.find((a) => a.seq === s.seq))
  })
})
