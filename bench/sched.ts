// Scheduler benchmark: simulated threads taking and releasing mutexes at
// random, through the real scheduler (with and without the event log),
// against a bare baseline measured in the same process: the same generator
// bodies resumed by a seeded PRNG loop, with no locks and no log.

import { EventLog } from "../src/sim/log.js"
import { Prng } from "../src/sim/prng.js"
import { RandomStrategy } from "../src/sim/strategy.js"
import { Scheduler, type Sim } from "../src/sim/scheduler.js"
import { Mutex } from "../src/sim/sync.js"
import { median } from "./passes.js"

const LOCKS = 4

/** The workload: lock a random mutex, unlock it, forever (bounded by `iterations`). */
function* worker(locks: readonly Mutex[], prng: Prng, iterations: number): Sim<void> {
  for (let i = 0; i < iterations; i++) {
    const mu = locks[prng.below(locks.length)]!
    yield mu.Lock()
    yield mu.Unlock()
  }
}

function schedRun(threads: number, stepsPerThread: number, logging: boolean): { steps: number; ms: number } {
  const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(logging), budgetSteps: Number.MAX_SAFE_INTEGER })
  const locks = Array.from({ length: LOCKS }, (_, i) => new Mutex(sched, `bench.mu${i}`))
  for (let t = 0; t < threads; t++) sched.spawn(`t${t}`, worker(locks, new Prng(100 + t), stepsPerThread / 2))
  const t0 = performance.now()
  sched.run()
  return { steps: sched.steps, ms: performance.now() - t0 }
}

/** The baseline: the same generators, resumed by a seeded PRNG loop; their yields mean nothing. */
function rawRun(threads: number, stepsPerThread: number): { steps: number; ms: number } {
  // A scheduler only to construct Mutex objects the bodies can yield; it never runs.
  const idle = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(false) })
  const locks = Array.from({ length: LOCKS }, (_, i) => new Mutex(idle, `bench.mu${i}`))
  const gens: Sim<void>[] = []
  for (let t = 0; t < threads; t++) gens.push(worker(locks, new Prng(100 + t), stepsPerThread / 2))
  const prng = new Prng(1)
  let steps = 0
  const t0 = performance.now()
  while (gens.length > 0) {
    const i = prng.below(gens.length)
    steps++
    if (gens[i]!.next().done === true) gens.splice(i, 1)
  }
  return { steps, ms: performance.now() - t0 }
}

/**
 * The alternative mechanism: threads as async functions, each scheduling
 * point an await on a promise the scheduler loop resolves. Same workload
 * shape, no locks or log, so it is comparable with rawRun.
 */
async function asyncRun(threads: number, stepsPerThread: number): Promise<{ steps: number; ms: number }> {
  const waiting: ((v: void) => void)[] = []
  let parked: (() => void) | null = null
  const point = (): Promise<void> =>
    new Promise<void>((resolve) => {
      waiting.push(resolve)
      parked?.()
    })
  const prng = new Prng(1)
  let live = threads
  const body = async (p: Prng): Promise<void> => {
    for (let i = 0; i < stepsPerThread / 2; i++) {
      void p.below(LOCKS)
      await point()
      await point()
    }
    live--
    parked?.()
  }
  let steps = 0
  const t0 = performance.now()
  for (let t = 0; t < threads; t++) void body(new Prng(100 + t))
  for (;;) {
    // Wait until every live thread is parked at a point (or finished).
    while (waiting.length < live) await new Promise<void>((r) => (parked = r))
    parked = null
    if (live === 0) break
    const i = prng.below(waiting.length)
    const resume = waiting.splice(i, 1)[0]!
    steps++
    resume()
  }
  return { steps, ms: performance.now() - t0 }
}

function best<T extends { steps: number; ms: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.steps / b.ms > a.steps / a.ms ? b : a))
}

const perSecond = (r: { steps: number; ms: number }): number => Math.round((r.steps / r.ms) * 1000)

export async function benchSched(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  // Long enough that the bare loop (the fastest) runs for about 100 ms.
  const steps = 2_000_000
  // Warm the JIT on every path first.
  schedRun(4, 20_000, true)
  schedRun(4, 20_000, false)
  rawRun(4, 20_000)
  await asyncRun(4, 20_000)
  for (const threads of [4, 16]) {
    const per = Math.floor(steps / threads)
    for (const logging of [true, false]) {
      // Pair each measurement with a baseline taken right after it, so
      // machine noise hits both alike, and report the medians.
      const s: number[] = []
      const r: number[] = []
      const ratios: number[] = []
      let stepsRun = 0
      for (let rep = 0; rep < 7; rep++) {
        const a = schedRun(threads, per, logging)
        const b = rawRun(threads, per)
        stepsRun = a.steps
        s.push(perSecond(a))
        r.push(perSecond(b))
        ratios.push(perSecond(a) / perSecond(b))
      }
      out.push({
        bench: "sched",
        threads,
        locks: LOCKS,
        logging,
        steps: stepsRun,
        steps_per_s: median(s),
        raw_steps_per_s: median(r),
        ratio: Number(median(ratios).toFixed(3)),
      })
    }
  }
  // The mechanism choice: generators resumed directly vs async functions
  // resumed through the microtask queue, same workload, no locks, no log.
  const g: { steps: number; ms: number }[] = []
  const a: { steps: number; ms: number }[] = []
  for (let rep = 0; rep < 5; rep++) {
    g.push(rawRun(16, Math.floor(steps / 16 / 4)))
    a.push(await asyncRun(16, Math.floor(steps / 16 / 4)))
  }
  out.push({
    bench: "sched_mechanism",
    threads: 16,
    generator_steps_per_s: perSecond(best(g)),
    async_steps_per_s: perSecond(best(a)),
    generator_over_async: Number((perSecond(best(g)) / perSecond(best(a))).toFixed(2)),
  })
  return out
}


