// The checker on filesystem histories: the hand-written corpus
// (corpus/fs-*.json, each with its expected verdict), and properties over
// generated histories, linearizable by construction or corrupted.

import { readdirSync, readFileSync } from "node:fs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { replays } from "../../src/model/lincheck/check.js"
import { corruptHistory, fsHistoryArbitrary, generateHistory } from "../../src/model/lincheck/gen.js"
import { checkHistory, decodeHistory, fsModel, historyOperations } from "../../src/model/lincheck/index.js"
import type { History } from "../../src/model/lincheck/history.js"
import { bruteForce } from "./toys.js"

const corpusDir = new URL("./corpus/", import.meta.url)

interface FsCase {
  readonly about: string
  readonly expect: { readonly linearizable: boolean | null; readonly core?: number[]; readonly witness?: number[]; readonly mentions?: string[] }
  readonly history: unknown
}

/** Whether `witness` is a valid linearization of `history`, replayed independently of the search. */
function witnessReplays(history: History, witness: readonly number[]): boolean {
  return replays(fsModel(history.initial ?? {}), historyOperations(history), witness)
}

describe("fs corpus", () => {
  const files = readdirSync(corpusDir).filter((f) => f.startsWith("fs-") && f.endsWith(".json"))
  it("has cases", () => expect(files.length).toBeGreaterThanOrEqual(12))
  for (const file of files) {
    it(file, () => {
      const c = JSON.parse(readFileSync(new URL(file, corpusDir), "utf8")) as FsCase
      const history = decodeHistory(c.history)
      const out = checkHistory(history)
      expect(out.format).toBe("fsim.lincheck/1")
      expect(out.linearizable, out.explanation ?? "").toBe(c.expect.linearizable)
      if (out.linearizable === true) {
        expect(out.explanation).toBeNull()
        expect(witnessReplays(history, out.witness!)).toBe(true)
        if (c.expect.witness) expect(out.witness).toEqual(c.expect.witness)
      } else {
        expect(out.witness).toBeNull()
        if (c.expect.core) expect(out.core).toEqual(c.expect.core)
        for (const m of c.expect.mentions ?? []) expect(out.explanation).toContain(m)
        expect(out.explanation).not.toContain("\n")
        if (process.env["SHOW_EXPLANATIONS"]) console.log(`${file}: ${out.explanation}`)
      }
    })
  }
})

describe("checkHistory", () => {
  it("answers null with an explanation, never a verdict, when the budget runs out", () => {
    const { history } = generateHistory(7, { threads: 4, ops: 10 })
    const corrupted = corruptHistory(history, 3)!
    const out = checkHistory(decodeHistory(corrupted.history), { budget: 5 })
    expect(out.linearizable).toBeNull()
    expect(out.witness).toBeNull()
    expect(out.explored).toBe(5)
    expect(out.explanation).toMatch(/gave up after 5 model steps/)
    expect(checkHistory(corrupted.history).linearizable).toBe(false)
  })

  it("says so when the explanation's budget runs out, and keeps a (larger) core that is still true", () => {
    const c = JSON.parse(readFileSync(new URL("fs-stale-read.json", corpusDir), "utf8")) as FsCase
    const out = checkHistory(decodeHistory(c.history), { explainBudget: 1 })
    expect(out.linearizable).toBe(false)
    expect(out.core).toEqual([0, 1, 2])
    expect(out.explanation).toMatch(/the explanation's budget ran out/)
  })

  it("can skip the explanation", () => {
    const c = JSON.parse(readFileSync(new URL("fs-stale-read.json", corpusDir), "utf8")) as FsCase
    const out = checkHistory(decodeHistory(c.history), { explain: false })
    expect(out).toEqual({ format: "fsim.lincheck/1", linearizable: false, witness: null, explanation: null, explored: out.explored })
  })
})

describe("generated histories", () => {
  it("the seeded generator is deterministic and its histories decode", () => {
    const a = generateHistory(42, { threads: 3, ops: 6 })
    const b = generateHistory(42, { threads: 3, ops: 6 })
    expect(a).toEqual(b)
    expect(a.history.ops).toHaveLength(18)
    expect(decodeHistory(JSON.parse(JSON.stringify(a.history)))).toEqual(a.history)
    expect(generateHistory(43, { threads: 3, ops: 6 })).not.toEqual(a)
  })

  it("linearizable by construction: judged linearizable, with a witness that replays", () => {
    fc.assert(
      fc.property(fsHistoryArbitrary({ threads: { min: 1, max: 4 }, opsPerThread: { min: 0, max: 8 } }), ({ history, witness }) => {
        expect(witnessReplays(history, witness)).toBe(true)
        const out = checkHistory(history)
        expect(out.linearizable, out.explanation ?? "").toBe(true)
        expect(witnessReplays(history, out.witness!)).toBe(true)
      }),
      { seed: 11, numRuns: 150 },
    )
  })

  it("corrupted with a result the model cannot give: judged not linearizable, the corrupted op in the core", () => {
    fc.assert(
      fc.property(fsHistoryArbitrary({ threads: { min: 1, max: 4 }, opsPerThread: { min: 1, max: 6 } }), fc.nat(), ({ history }, choice) => {
        const corrupted = corruptHistory(history, choice)
        if (corrupted === null) return
        const out = checkHistory(corrupted.history)
        expect(out.linearizable).toBe(false)
        // The corrupted op alone cannot be ordered: the core is exactly it.
        expect(out.core).toEqual([corrupted.index])
        expect(out.explanation).toContain(`ops[${corrupted.index}]`)
      }),
      { seed: 12, numRuns: 100 },
    )
  })

  it("agrees with brute force on small histories with a plausible wrong result (another op's result)", () => {
    let nonLinearizable = 0
    fc.assert(
      fc.property(fsHistoryArbitrary({ threads: { min: 2, max: 3 }, opsPerThread: { min: 1, max: 3 } }), fc.nat(), fc.nat(), ({ history }, i, j) => {
        const returned = history.ops.flatMap((o, k) => (o.result === null ? [] : [k]))
        if (returned.length < 2) return
        const target = returned[i % returned.length]!
        const source = returned[j % returned.length]!
        const ops = history.ops.map((o, k) => (k === target ? { ...o, result: history.ops[source]!.result } : o))
        const changed: History = { ...history, ops }
        const expected = bruteForce(fsModel(changed.initial ?? {}), historyOperations(changed))
        const out = checkHistory(changed)
        expect(out.linearizable).toBe(expected)
        if (!expected) nonLinearizable++
      }),
      { seed: 13, numRuns: 150 },
    )
    expect(nonLinearizable).toBeGreaterThan(10)
  })

  it("4 and 8 threads x 25 ops, seeded: exact verdicts, no unknowns", () => {
    for (const threads of [4, 8]) {
      for (let seed = 0; seed < 10; seed++) {
        const { history } = generateHistory(seed, { threads, ops: 25 })
        const out = checkHistory(history)
        expect(out.linearizable).toBe(true)
        expect(witnessReplays(history, out.witness!)).toBe(true)
        const corrupted = corruptHistory(history, seed)!
        expect(checkHistory(corrupted.history, { explain: false }).linearizable).toBe(false)
      }
    }
  })
})
