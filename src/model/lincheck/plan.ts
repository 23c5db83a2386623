// Generating concurrent histories that are linearizable by construction,
// for any model (the filesystem's generator, gen.ts, builds on this).
//
// A plan gives each thread its list of ops, a schedule (a list of choices
// saying which thread moves next) and, per thread, what happens to its last
// op (it returns, or it never returns with or without having taken effect).
// `realize` runs the plan: each move of a thread is its next action, one of
// invoke (an event), take effect (the op is applied to the model,
// atomically, between its invoke and its return) or return (an event). The
// order of effects is a linearization consistent with real time, so the
// history is linearizable and that order is its witness.
//
// Plans come from fast-check arbitraries, so failing properties shrink: ops
// toward simpler ops and fewer of them, schedules toward zeros (a zero
// choice runs the first thread that still has work: a sequential history),
// last ops toward returning. The seeded generator draws one plan with
// fast-check's own seeded generator (`fc.sample` with a seed), so the same
// seed always gives the same history and nothing here draws unseeded randomness.

import fc from "fast-check"
import type { Model, Operation } from "./check.js"

/** What happens to a thread's last op. */
export type Ending = "returns" | "effect_no_return" | "no_effect_no_return"

export interface Plan<I> {
  /** Ops per thread; thread k is named `t${k}`. */
  readonly threads: readonly (readonly I[])[]
  /** Which thread moves at each step, as an index (modulo) into the threads that still have work; missing choices are 0. */
  readonly schedule: readonly number[]
  /** Per thread, the fate of its last op; missing entries are "returns". */
  readonly endings: readonly Ending[]
}

export interface Realized<I, O> {
  readonly ops: readonly Operation<I, O>[]
  /** Op indices in the order they took effect. */
  readonly witness: readonly number[]
}

/** Runs a plan through the model (see the file comment). Event times start at 1 and are unique. */
export function realize<S, I, O>(model: Model<S, I, O>, plan: Plan<I>): Realized<I, O> {
  interface Running {
    readonly thread: number
    readonly input: I
    readonly invoke: number
    output?: O
    effected: boolean
  }
  const ops: Operation<I, O>[] = []
  const witness: number[] = []
  // Per thread: next op to invoke, and the op in flight (its index into `ops` once it is done).
  const nextOp = plan.threads.map(() => 0)
  const inFlight: (Running | null)[] = plan.threads.map(() => null)
  const slots: number[] = plan.threads.map(() => -1) // index in `ops` reserved for the op in flight
  let state = model.init()
  let time = 0
  const total = plan.threads.reduce((sum, t) => sum + t.length, 0)
  const placeholder = null as unknown as Operation<I, O>
  for (let step = 0; ; step++) {
    if (step > 3 * total) throw new Error("gen: plan did not finish within 3 moves per op")
    const ready: number[] = []
    plan.threads.forEach((list, k) => {
      if (inFlight[k] !== null || nextOp[k]! < list.length) ready.push(k)
    })
    if (ready.length === 0) break
    const k = ready[(plan.schedule[step] ?? 0) % ready.length]!
    const list = plan.threads[k]!
    const running = inFlight[k] ?? null
    const isLast = (running === null ? nextOp[k]! : nextOp[k]! - 1) === list.length - 1
    const ending: Ending = isLast ? (plan.endings[k] ?? "returns") : "returns"
    if (running === null) {
      // Invoke. Ops are numbered in invoke order.
      const input = list[nextOp[k]!]!
      nextOp[k]!++
      slots[k] = ops.length
      ops.push(placeholder)
      inFlight[k] = { thread: k, input, invoke: ++time, effected: false }
      if (ending === "no_effect_no_return") {
        ops[slots[k]!] = { input, invoke: time, return: null, thread: `t${k}` }
        inFlight[k] = null
      }
    } else if (!running.effected) {
      const after = model.step(state, running.input)
      state = after.state
      running.output = after.output
      running.effected = true
      witness.push(slots[k]!)
      if (ending === "effect_no_return") {
        ops[slots[k]!] = { input: running.input, invoke: running.invoke, return: null, thread: `t${k}` }
        inFlight[k] = null
      }
    } else {
      ops[slots[k]!] = { input: running.input, output: running.output as O, invoke: running.invoke, return: ++time, thread: `t${k}` }
      inFlight[k] = null
    }
  }
  if (ops.includes(placeholder)) throw new Error("gen: an op was left unfinished")
  return { ops, witness }
}

export interface PlanShape {
  readonly threads: { readonly min: number; readonly max: number }
  readonly opsPerThread: { readonly min: number; readonly max: number }
  /** Whether a thread's last op may never return. Default true. */
  readonly pending?: boolean
}

/** Plans of the given shape over ops drawn from `opArb`. */
export function planArbitrary<I>(opArb: fc.Arbitrary<I>, shape: PlanShape): fc.Arbitrary<Plan<I>> {
  const { threads, opsPerThread } = shape
  if (threads.min < 1 || threads.max < threads.min) throw new RangeError(`planArbitrary: bad thread range ${threads.min}..${threads.max}`)
  if (opsPerThread.min < 0 || opsPerThread.max < opsPerThread.min) throw new RangeError(`planArbitrary: bad ops range ${opsPerThread.min}..${opsPerThread.max}`)
  const maxMoves = 3 * threads.max * opsPerThread.max
  const ending: fc.Arbitrary<Ending> =
    shape.pending === false
      ? fc.constant("returns")
      : fc.oneof(
          { arbitrary: fc.constant<Ending>("returns"), weight: 6 },
          { arbitrary: fc.constant<Ending>("effect_no_return"), weight: 1 },
          { arbitrary: fc.constant<Ending>("no_effect_no_return"), weight: 1 },
        )
  return fc.record({
    threads: fc.array(fc.array(opArb, { minLength: opsPerThread.min, maxLength: opsPerThread.max }), {
      minLength: threads.min,
      maxLength: threads.max,
    }),
    schedule: fc.array(fc.nat({ max: 64 }), { minLength: maxMoves, maxLength: maxMoves }),
    endings: fc.array(ending, { minLength: threads.max, maxLength: threads.max }),
  })
}

/** One value drawn deterministically from `seed` (fast-check's seeded generator). */
export function sampleOne<T>(arb: fc.Arbitrary<T>, seed: number): T {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`sampleOne: seed is an integer, got ${seed}`)
  const [value] = fc.sample(arb, { seed, numRuns: 1 })
  if (value === undefined) throw new Error("sampleOne: fast-check drew nothing")
  return value
}
