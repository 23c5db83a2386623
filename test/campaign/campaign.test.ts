import { describe, expect, it } from "vitest"
import {
  arbScenario,
  Campaign,
  emptyTally,
  lockCycles,
  mergeTally,
  PORTFOLIO,
  rerun,
  scenarioForSeed,
  sortedTally,
  type CampaignOptions,
  type Tally,
} from "../../src/sim/campaign.js"
import { decodeScenario } from "../../src/sim/scenario.js"
import fc from "fast-check"
import { MOUNTS, MUTANT_CAMPAIGN, MUTANT_FAILING_RUN } from "./helpers.js"

const MODEL: CampaignOptions = { shape: { mount: { kind: "model" }, threads: 3, ops: 5 }, seed: 77, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: MOUNTS, lockOrders: [] }

function merged(o: CampaignOptions, cuts: readonly number[], reverse: boolean): Tally {
  const c = new Campaign(o)
  const parts: Tally[] = []
  for (let i = 0; i + 1 < cuts.length; i++) parts.push(c.runRange(cuts[i]!, cuts[i + 1]! - cuts[i]!))
  const t = emptyTally()
  for (const p of reverse ? parts.reverse() : parts) mergeTally(t, p)
  return sortedTally(t)
}

describe("campaign tallies", () => {
  it("do not depend on how a seed range is split or in which order the parts merge (what workers rely on)", () => {
    for (const o of [MODEL, MUTANT_CAMPAIGN]) {
      const whole = JSON.stringify(merged(o, [0, 90], false))
      expect(JSON.stringify(merged(o, [0, 7, 40, 41, 90], true))).toBe(whole)
      expect(JSON.stringify(merged(o, [0, 45, 90], true))).toBe(whole)
    }
  })

  it("count runs, verdicts, strategies and keep failures in seed order", () => {
    const t = merged(MUTANT_CAMPAIGN, [0, 30], false)
    expect(t.runs).toBe(30)
    expect(t.verdicts.pass + t.verdicts.fail + t.verdicts.budget_exhausted + t.verdicts.unknown).toBe(30)
    expect(Object.keys(t.strategies)).toEqual(["pct:2", "pct:3", "random"])
    expect(t.strategies["random"]!.runs).toBe(10)
    const f = t.failures.find((x) => x.run === MUTANT_FAILING_RUN)
    expect(f).toMatchObject({ seed: 346, strategy: "random", verdict: "fail", checks: ["lincheck"] })
    expect(t.strategies["random"]!.firstFailingSeed).toBe(346)
    expect(t.failures.map((x) => x.seed)).toEqual([...t.failures.map((x) => x.seed)].sort((a, b) => a - b))
    // The model mount sends no RPCs and logs no cache events or locks.
    expect(t.rpcs).toEqual({})
    expect(t.cache).toEqual({})
    expect(t.lockEdges).toEqual({})
  })

  it("re-makes a run from its index exactly as the campaign ran it", () => {
    const r = rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN)
    expect(r.seed).toBe(346)
    expect(r.verdict).toBe("fail")
    expect(r.violations[0]!.check).toBe("lincheck")
  })

  it("the correct model passes where its mutant fails", () => {
    const o = { ...MUTANT_CAMPAIGN, shape: { ...MUTANT_CAMPAIGN.shape, mount: { kind: "model" as const } } }
    expect(new Campaign(o).runRange(0, 30).verdicts.fail).toBe(0)
  })
})

describe("generated scenarios", () => {
  it("are valid scenarios, with external users and faults when asked (gofer mounts)", () => {
    const shape = { mount: { kind: "gofer" as const, options: "cache=fscache" }, threads: 3, ops: 4, external: 2, faults: 3 }
    let ext = 0
    let faults = 0
    fc.assert(
      fc.property(arbScenario(shape), (s) => {
        decodeScenario(JSON.parse(JSON.stringify(s)))
        ext += (s.external ?? []).length
        faults += (s.faults ?? []).length
        expect(s.threads.length).toBeGreaterThanOrEqual(2)
        expect(s.threads.length).toBeLessThanOrEqual(3)
        for (const t of s.threads) expect(t.ops.length).toBeLessThanOrEqual(4)
      }),
      { numRuns: 200, seed: 5 },
    )
    expect(ext).toBeGreaterThan(0)
    expect(faults).toBeGreaterThan(0)
  })

  it("narrow the namespace to the first names (--names)", () => {
    const names = new Set<string>()
    for (let seed = 0; seed < 200; seed++) {
      const s = scenarioForSeed({ mount: { kind: "model" }, threads: 2, ops: 6, names: 1 }, seed)
      decodeScenario(JSON.parse(JSON.stringify(s)))
      for (const k of Object.keys(s.remote ?? {})) names.add(k)
      for (const t of s.threads) for (const op of t.ops) for (const k of ["path", "from", "to"] as const) {
        const p = (op as Record<string, unknown>)[k]
        if (typeof p === "string") for (const c of p.split("/")) if (c.length === 1) names.add(c)
      }
    }
    expect([...names].filter((n) => /^[a-c]$/.test(n)).sort()).toEqual(["a"])
  })
})

describe("lock-class cycles across runs", () => {
  it("are found in the union of the runs' edges, each edge with the lowest seed that showed it", () => {
    const edges = { "A\u0000B": 3, "B\u0000C": 9, "C\u0000A": 5, "A\u0000D": 1 }
    expect(lockCycles(edges)).toEqual([{ classes: ["A", "B", "C"], seeds: [3, 9, 5] }])
    expect(lockCycles({ "A\u0000B": 1, "B\u0000C": 2 })).toEqual([])
  })
})
