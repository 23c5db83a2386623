import { describe, expect, it } from "vitest"
import { arbScenario, rerun, scenarioForSeed } from "../../src/sim/campaign.js"
import { replayTrace } from "../../src/sim/replay.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { ddmin, opsOf, reductions, shrinkFailure } from "../../src/sim/shrink.js"
import { switchesOf, SwitchStrategy } from "../../src/sim/strategy.js"
import { eventLines, parseTrace, traceText } from "../../src/sim/trace.js"
import { MOUNTS, MUTANT_CAMPAIGN, MUTANT_FAILING_RUN } from "./helpers.js"

describe("SwitchStrategy", () => {
  it("following every switch of a run reproduces its event log exactly (random and pct runs)", () => {
    for (let seed = 0; seed < 30; seed++) {
      const s = scenarioForSeed({ mount: { kind: "model" }, threads: 4, ops: 6 }, seed)
      const r = runSubject(s, { seed, strategy: seed % 2 === 0 ? { kind: "random" } : { kind: "pct", depth: 3 }, mounts: MOUNTS })
      const again = runSubject(s, { seed, strategy: { kind: "custom", strategy: new SwitchStrategy(switchesOf(r.events), "switches") }, mounts: MOUNTS })
      expect(eventLines(again.events)).toBe(eventLines(r.events))
    }
  })

  it("without switches runs each thread to completion in creation order, with no preemption", () => {
    const s = scenarioForSeed({ mount: { kind: "model" }, threads: 3, ops: 4 }, 3)
    const strategy = new SwitchStrategy([], "none")
    const r = runSubject(s, { seed: 3, strategy: { kind: "custom", strategy }, mounts: MOUNTS })
    expect(strategy.preemptions).toBe(0)
    const order = r.ops.map((o) => o.thread)
    expect(order).toEqual([...order].sort())
  })
})

describe("ddmin", () => {
  it("finds a 1-minimal failing subset", async () => {
    const items = Array.from({ length: 40 }, (_, i) => i)
    const fails = (xs: readonly number[]): boolean => xs.includes(7) && xs.includes(31)
    expect(await ddmin(items, fails)).toEqual([7, 31])
    expect(await ddmin(items, () => true)).toEqual([])
  })
})

describe("structural reductions", () => {
  it("are each smaller or simpler, and mostly valid", () => {
    const s = rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN).subject as Scenario
    let n = 0
    for (const r of reductions(s)) {
      n++
      expect(JSON.stringify(r)).not.toBe(JSON.stringify(s))
      expect(opsOf(r)).toBeLessThanOrEqual(opsOf(s))
    }
    expect(n).toBeGreaterThan(10)
  })
})

describe("shrinking a failure of the rename-not-atomic mutant", () => {
  const found = rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN)
  const scenario = found.subject as Scenario
  const shrink = (origin: boolean) =>
    shrinkFailure({ scenario, seed: found.seed, events: found.events, strategy: found.strategy }, "lincheck", {
      mounts: MOUNTS,
      lockOrders: [],
      ...(origin ? { origin: { arb: arbScenario(MUTANT_CAMPAIGN.shape), seed: found.seed } } : {}),
    })

  it("keeps lincheck failing with at most 2 threads and 4 ops, fewer preemptions, and the trace replays", async () => {
    const r = await shrink(true)
    expect(r.report.verdict).toBe("fail")
    expect(r.report.violations.map((v) => v.check)).toContain("lincheck")
    expect(r.after.threads).toBeLessThanOrEqual(2)
    expect(r.after.ops).toBeLessThanOrEqual(4)
    expect(r.after.ops).toBeLessThan(r.before.ops)
    expect(r.after.preemptions).toBeLessThanOrEqual(r.before.preemptions)
    expect(r.cut).toBe(false)
    const replay = replayTrace(parseTrace(traceText(r.report), "shrunk.jsonl"), { mounts: MOUNTS })
    expect(replay.reproduced).toBe(true)
  })

  it("is deterministic, and works without the generating arbitrary (an older trace)", async () => {
    const a = await shrink(true)
    expect(traceText((await shrink(true)).report)).toBe(traceText(a.report))
    const b = await shrink(false)
    expect(b.after.threads).toBeLessThanOrEqual(2)
    expect(b.after.ops).toBeLessThanOrEqual(4)
  })

  it("stops within its budget and still returns a failing run", async () => {
    const r = await shrinkFailure({ scenario, seed: found.seed, events: found.events, strategy: found.strategy }, "lincheck", { mounts: MOUNTS, lockOrders: [], budgetRuns: 20 })
    expect(r.cut).toBe(true)
    expect(r.runsUsed).toBeLessThanOrEqual(20)
    expect(r.report.verdict).toBe("fail")
  })

  it("refuses a run that does not fail the check", async () => {
    await expect(shrinkFailure({ scenario, seed: found.seed, events: found.events, strategy: found.strategy }, "deadlock", { mounts: MOUNTS, lockOrders: [] })).rejects.toThrow(/does not fail deadlock/)
  })

  it("stops at once when asked (Ctrl-C), with a failing run", async () => {
    let asked = 0
    const r = await shrinkFailure({ scenario, seed: found.seed, events: found.events, strategy: found.strategy }, "lincheck", {
      mounts: MOUNTS,
      lockOrders: [],
      shouldStop: () => ++asked > 5,
      pause: () => new Promise((resolve) => setImmediate(resolve)),
    })
    expect(r.cut).toBe(true)
    expect(r.runsUsed).toBeLessThanOrEqual(6)
    expect(r.report.verdict).toBe("fail")
  })
})
