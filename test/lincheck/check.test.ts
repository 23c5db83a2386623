// The generic search against toy models: a corpus of hand-written histories,
// the budget, and properties comparing the search with a brute-force oracle.

import { readdirSync, readFileSync } from "node:fs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { check, replays, withDefaults, problemOf, type Model, type Operation } from "../../src/model/lincheck/check.js"
import { explain } from "../../src/model/lincheck/explain.js"
import { planArbitrary, realize } from "../../src/model/lincheck/plan.js"
import { bruteForce, kv, kvInput, log, logInput, register, registerInput } from "./toys.js"

const corpusDir = new URL("./corpus/", import.meta.url)
const toys: Record<string, Model<any, any, any>> = { register, kv, log }

interface ToyCase {
  readonly about: string
  readonly model: string
  readonly expect: { readonly linearizable: boolean | null; readonly core?: number[]; readonly witness?: number[]; readonly mentions?: string[] }
  readonly ops: Operation<unknown, unknown>[]
}

/** Explains a non-linearizable history with generous budgets, with the verdict's hint (as checkHistory does) or without. */
function explainToy<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], hinted = true) {
  const full = withDefaults(model)
  const stuck = hinted ? check(model, ops).stuck : undefined
  return explain(full, problemOf(full, ops), ops, ops.map((o) => (o.return === null ? undefined : o.output)), 100_000, 1_000_000, stuck)
}

describe("toy corpus", () => {
  const files = readdirSync(corpusDir).filter((f) => f.startsWith("toy-") && f.endsWith(".json"))
  it("has cases", () => expect(files.length).toBeGreaterThanOrEqual(10))
  for (const file of files) {
    it(file, () => {
      const c = JSON.parse(readFileSync(new URL(file, corpusDir), "utf8")) as ToyCase
      const model = toys[c.model]
      expect(model, `unknown toy model ${c.model}`).toBeDefined()
      const r = check(model!, c.ops)
      expect(r.linearizable).toBe(c.expect.linearizable)
      expect(bruteForce(model!, c.ops)).toBe(c.expect.linearizable)
      if (r.linearizable) {
        expect(replays(model!, c.ops, r.witness!)).toBe(true)
        if (c.expect.witness) expect(r.witness).toEqual(c.expect.witness)
      } else {
        expect(r.witness).toBeNull()
        const e = explainToy(model!, c.ops)
        if (c.expect.core) expect(e.core).toEqual(c.expect.core)
        for (const m of c.expect.mentions ?? []) expect(e.text).toContain(m)
        expect(e.text).not.toContain("\n")
      }
    })
  }
})

describe("search", () => {
  it("answers null, not a verdict, when the budget runs out", () => {
    // Many overlapping writes and a final read of a value never written:
    // proving that takes many steps, and a budget of 10 is not enough.
    const ops: Operation<any, any>[] = []
    for (let t = 0; t < 6; t++) ops.push({ thread: `t${t}`, input: { kind: "write", value: t % 3 }, output: null, invoke: t + 1, return: 100 + t })
    ops.push({ thread: "r", input: { kind: "read" }, output: 7, invoke: 200, return: 201 })
    const small = check(register, ops, { budget: 10 })
    expect(small.linearizable).toBeNull()
    expect(small.witness).toBeNull()
    expect(small.explored).toBe(10)
    const big = check(register, ops)
    expect(big.linearizable).toBe(false)
    expect(big.explored).toBeGreaterThan(10)
  })

  it("a budget of 0 is unknown unless there is nothing to check", () => {
    const op: Operation<any, any> = { input: { kind: "read" }, output: 0, invoke: 1, return: 2 }
    expect(check(register, [op], { budget: 0 }).linearizable).toBeNull()
    expect(check(register, [], { budget: 0 }).linearizable).toBe(true)
    expect(check(register, [{ ...op, return: null }], { budget: 0 })).toEqual({ linearizable: true, witness: [], explored: 0 })
  })

  it("rejects malformed operations and budgets", () => {
    expect(() => check(register, [{ input: { kind: "read" }, output: 0, invoke: 3, return: 2 }])).toThrow(/op 0: return time 2 is not after invoke time 3/)
    expect(() => check(register, [], { budget: -1 })).toThrow(/budget/)
  })

  it("treats an absent output as unchecked", () => {
    const ops: Operation<any, any>[] = [
      { input: { kind: "write", value: 1 }, invoke: 1, return: 2 },
      { input: { kind: "read" }, invoke: 3, return: 4 },
    ]
    expect(check(register, ops).linearizable).toBe(true)
  })

  it("handles many pending ops without blowing up (memo on the linearized set)", () => {
    const ops: Operation<any, any>[] = []
    for (let t = 0; t < 20; t++) ops.push({ thread: `t${t}`, input: { kind: "write", value: t % 2 }, invoke: t + 1, return: null })
    ops.push({ thread: "r", input: { kind: "read" }, output: 3, invoke: 100, return: 101 })
    const r = check(register, ops, { budget: 100_000 })
    expect(r.linearizable).toBe(false)
  })
})

/**
 * The explanation's claims, checked by brute force. Observers: with every
 * other op's output unchecked the history is still not linearizable, and
 * unchecking any one observer too makes it linearizable. Causes: dropping
 * any one makes it linearizable.
 */
function assertCore<S, I, O>(m: Model<S, I, O>, ops: readonly Operation<I, O>[], e: ReturnType<typeof explainToy<S, I, O>>): void {
  const checkedOnly = (kept: readonly number[]) => ops.map((o, i) => (kept.includes(i) ? o : { ...o, output: undefined }))
  expect(bruteForce(m, checkedOnly(e.observers))).toBe(false)
  for (const c of e.observers) expect(bruteForce(m, checkedOnly(e.observers.filter((k) => k !== c)))).toBe(true)
  for (const c of e.core.filter((k) => !e.observers.includes(k))) {
    expect(bruteForce(m, checkedOnly(e.observers).filter((_, i) => i !== c))).toBe(true)
  }
  expect(e.observers).toContain(e.failing)
  expect(e.minimal).toBe(true)
}

describe("properties", () => {
  const toyCases = [
    { name: "register", model: register, input: registerInput },
    { name: "kv", model: kv, input: kvInput },
    { name: "log", model: log, input: logInput },
  ] as const

  for (const { name, model, input } of toyCases) {
    it(`${name}: generated histories are linearizable, with a witness that replays`, () => {
      const plans = planArbitrary<any>(input, { threads: { min: 1, max: 5 }, opsPerThread: { min: 0, max: 8 } })
      fc.assert(
        fc.property(plans, (plan) => {
          const { ops, witness } = realize(model as Model<any, any, any>, plan)
          expect(replays(model as Model<any, any, any>, ops, witness)).toBe(true)
          const r = check(model as Model<any, any, any>, ops)
          expect(r.linearizable).toBe(true)
          expect(replays(model as Model<any, any, any>, ops, r.witness!)).toBe(true)
        }),
        { seed: 1, numRuns: 200 },
      )
    })

    it(`${name}: the search agrees with brute force on small histories with one output changed`, () => {
      const plans = planArbitrary<any>(input, { threads: { min: 1, max: 3 }, opsPerThread: { min: 1, max: 3 } })
      const outputs = name === "register" ? fc.oneof(fc.integer({ min: 0, max: 3 }), fc.boolean()) : name === "kv" ? fc.constantFrom(null, "1", "2") : fc.oneof(fc.nat({ max: 5 }), fc.constantFrom([], ["a"], ["b", "a"], ["a", "c"]))
      let nonLinearizable = 0
      fc.assert(
        fc.property(plans, fc.nat(), outputs, (plan, which, out) => {
          const m = model as Model<any, any, any>
          const { ops } = realize(m, plan)
          const done = ops.map((o, i) => [o, i] as const).filter(([o]) => o.return !== null)
          if (done.length === 0) return
          const target = done[which % done.length]![1]
          const changed = ops.map((o, i) => (i === target ? { ...o, output: out } : o))
          const expected = bruteForce(m, changed)
          const r = check(m, changed)
          expect(r.linearizable).toBe(expected)
          if (!expected) {
            nonLinearizable++
            for (const hinted of [true, false]) assertCore(m, changed, explainToy(m, changed, hinted))
          }
        }),
        { seed: 2, numRuns: 300 },
      )
      expect(nonLinearizable).toBeGreaterThan(20)
    })

    it(`${name}: with optional ops (outcome decided by a fault) the search agrees with brute force, and its witness replays`, () => {
      const plans = planArbitrary<any>(input, { threads: { min: 1, max: 3 }, opsPerThread: { min: 1, max: 3 } })
      const outputs = name === "register" ? fc.oneof(fc.integer({ min: 0, max: 3 }), fc.boolean()) : name === "kv" ? fc.constantFrom(null, "1", "2") : fc.oneof(fc.nat({ max: 5 }), fc.constantFrom([], ["a"], ["b", "a"], ["a", "c"]))
      const seen = { linearizable: 0, not: 0, skipped: 0 }
      fc.assert(
        fc.property(plans, fc.array(fc.boolean(), { maxLength: 9 }), fc.nat(), outputs, (plan, marks, which, out) => {
          const m = model as Model<any, any, any>
          const { ops } = realize(m, plan)
          const done = ops.map((o, i) => [o, i] as const).filter(([o]) => o.return !== null)
          if (done.length === 0) return
          const target = done[which % done.length]![1]
          const changed = ops.map((o, i) => ({ ...o, ...(i === target ? { output: out } : {}), ...(marks[i] === true ? { optional: true } : {}) }))
          const expected = bruteForce(m, changed)
          const r = check(m, changed)
          expect(r.linearizable).toBe(expected)
          if (r.linearizable === true) {
            seen.linearizable++
            expect(replays(m, changed, r.witness!)).toBe(true)
            if (changed.some((o, i) => o.optional === true && !r.witness!.includes(i))) seen.skipped++
          } else seen.not++
        }),
        { seed: 3, numRuns: 300 },
      )
      // Both verdicts and witnesses that leave an optional op out were exercised.
      expect(seen.not).toBeGreaterThan(10)
      expect(seen.skipped).toBeGreaterThan(10)
    })
  }

  it("an optional op keeps its deadline: it takes effect within its interval or never", () => {
    // w(1) is optional and returned at 2; a read after it sees 0, then 1.
    // Skipping w(1) explains the first read, not the second; taking effect
    // explains the second, not the first; taking effect late is not allowed.
    const ops: Operation<any, any>[] = [
      { thread: "a", input: { kind: "write", value: 1 }, output: null, invoke: 1, return: 2, optional: true },
      { thread: "b", input: { kind: "read" }, output: 0, invoke: 3, return: 4 },
      { thread: "b", input: { kind: "read" }, output: 1, invoke: 5, return: 6 },
    ]
    expect(check(register, ops).linearizable).toBe(false)
    expect(check(register, ops.slice(0, 2))).toMatchObject({ linearizable: true, witness: [1] })
    expect(check(register, [ops[0]!, ops[2]!])).toMatchObject({ linearizable: true, witness: [0, 1] })
    // The same write as an op that never returned may take effect late: linearizable.
    expect(check(register, [{ ...ops[0]!, return: null, optional: undefined }, ops[1]!, ops[2]!]).linearizable).toBe(true)
    // And as a plain op whose output is wrong, it is a violation.
    expect(check(register, [{ ...ops[0]!, output: 7, optional: undefined }, ops[1]!]).linearizable).toBe(false)
  })
})
