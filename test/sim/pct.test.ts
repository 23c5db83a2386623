import { describe, expect, it } from "vitest"
import { EventLog } from "../../src/sim/log.js"
import { PctStrategy, RandomStrategy, parseStrategy } from "../../src/sim/strategy.js"
import { Scheduler, YIELD, type Sim, type Strategy } from "../../src/sim/scheduler.js"

// A depth-2 ordering bug: thread A holds a flag up during steps 20-29 of its
// 50; thread B fails if it reads the flag up. B must run exactly inside A's
// window: one ordering constraint beyond "B after A starts", so one PCT
// change point placed inside the window finds it. A uniform random scheduler
// runs B's two steps early with overwhelming probability (each step goes to
// B with probability 1/2), so it almost never waits until A's step 20.
function runOnce(strategy: (estimated: number) => Strategy): { hit: boolean; steps: number } {
  const s = new Scheduler({ strategy: strategy(52), log: new EventLog(false) })
  let flag = false
  let hit = false
  s.spawn("A", (function* (): Sim<void> {
    for (let i = 0; i < 50; i++) {
      if (i === 20) flag = true
      if (i === 30) flag = false
      yield YIELD
    }
  })())
  s.spawn("B", (function* (): Sim<void> {
    yield YIELD
    if (flag) hit = true
  })())
  s.run()
  return { hit, steps: s.steps }
}

describe("PCT", () => {
  it("finds a depth-2 ordering bug that the random strategy finds rarely", () => {
    const runs = 1000
    let pctHits = 0
    let randomHits = 0
    for (let seed = 0; seed < runs; seed++) {
      if (runOnce((k) => new PctStrategy(seed, 2, k)).hit) pctHits++
      if (runOnce(() => new RandomStrategy(seed)).hit) randomHits++
    }
    // Shown in the test output, and quoted in the resolving note.
    console.log(`depth-2 bug over ${runs} runs: pct:2 found it ${pctHits} times, random ${randomHits} times`)
    // PCT's guarantee for this bug: at least 1/(n k) = 1/104 per run; here the
    // window is 10 steps wide, so about 10/104.
    expect(pctHits).toBeGreaterThanOrEqual(runs / 104)
    expect(randomHits).toBeLessThan(pctHits / 10)
  })

  it("with depth 1 always runs the highest-priority thread to completion", () => {
    const order: string[] = []
    const s = new Scheduler({ strategy: new PctStrategy(3, 1, 10), log: new EventLog() })
    for (const n of ["x", "y", "z"]) {
      s.spawn(n, (function* (): Sim<void> {
        for (let i = 0; i < 3; i++) {
          order.push(n)
          yield YIELD
        }
      })())
    }
    s.run()
    // Each thread's entries are contiguous: no preemption at depth 1.
    const runs = order.filter((n, i) => i === 0 || order[i - 1] !== n)
    expect(runs).toHaveLength(3)
  })

  it("parses strategy names and rejects bad ones with one line", () => {
    expect(parseStrategy("random")).toEqual({ kind: "random" })
    expect(parseStrategy("pct:3")).toEqual({ kind: "pct", depth: 3 })
    expect(parseStrategy("pct:3:400")).toEqual({ kind: "pct", depth: 3, estimatedSteps: 400 })
    expect(() => parseStrategy("pct")).toThrow(/unknown strategy "pct"/)
    expect(() => parseStrategy("pct:0")).toThrow(/depth must be in \[1, 64\]/)
    expect(() => parseStrategy("dfs")).toThrow(/expected random, pct:DEPTH or pct:DEPTH:STEPS/)
  })
})
