// Scheduling strategies: which runnable thread moves next.

import { InputError } from "../model/schema.js"
import type { EventOf, PointKind } from "./events.js"
import { deriveSeed, Prng } from "./prng.js"
import { Divergence, type SimThread, type Strategy } from "./scheduler.js"

/** Seeded uniform choice among runnable threads. */
export class RandomStrategy implements Strategy {
  readonly name = "random"
  private readonly prng: Prng
  constructor(seed: number) {
    this.prng = new Prng(deriveSeed(seed, "scheduler.random"))
  }
  choose(runnable: readonly SimThread[]): SimThread {
    return runnable.length === 1 ? runnable[0]! : runnable[this.prng.below(runnable.length)]!
  }
}

/**
 * Probabilistic Concurrency Testing (Burckhardt, Kothari, Musuvathi and
 * Nagarakatte, "A Randomized Scheduler with Probabilistic Guarantees of
 * Finding Bugs", ASPLOS 2010). Threads get distinct random priorities at
 * least `depth`; the highest-priority runnable thread always runs; at d-1
 * change points drawn uniformly from [1, k] (k the estimated number of steps)
 * the running thread's priority drops to i < depth (i = 1..d-1 for the i-th
 * point). A bug of depth d is found with probability at least 1/(n k^(d-1)).
 */
export class PctStrategy implements Strategy {
  readonly name: string
  private readonly prng: Prng
  private readonly priority = new Map<SimThread, number>()
  /** Step index -> the priority given at that change point. */
  private readonly changeAt = new Map<number, number>()
  private changedAt = -1

  constructor(
    seed: number,
    readonly depth: number,
    readonly estimatedSteps: number,
  ) {
    if (!(Number.isInteger(depth) && depth >= 1)) throw new RangeError(`pct: depth must be an integer >= 1, got ${depth}`)
    if (!(Number.isInteger(estimatedSteps) && estimatedSteps >= 1)) {
      throw new RangeError(`pct: the estimated step count must be an integer >= 1, got ${estimatedSteps}`)
    }
    this.name = `pct:${depth}:${estimatedSteps}`
    this.prng = new Prng(deriveSeed(seed, "scheduler.pct"))
    // Distinct change points; with fewer steps than points, some coincide and
    // the later priority wins, which only lowers the effective depth.
    for (let i = 1; i < depth; i++) this.changeAt.set(this.prng.between(1, estimatedSteps), i)
  }

  onThreadCreated(t: SimThread): void {
    // Initial priorities are >= depth and distinct: a random 32-bit value
    // above depth, ties broken by creation order (lower id wins).
    this.priority.set(t, this.depth + this.prng.nextU32() / 4294967296 + t.id * 1e-12)
  }

  choose(runnable: readonly SimThread[], step: number): SimThread {
    let best = runnable[0]!
    let bestP = this.priority.get(best) ?? 0
    for (let i = 1; i < runnable.length; i++) {
      const t = runnable[i]!
      const p = this.priority.get(t) ?? 0
      if (p > bestP) {
        best = t
        bestP = p
      }
    }
    const change = this.changeAt.get(step)
    if (change !== undefined && this.changedAt !== step) {
      // Once per step: the scheduler may ask again for the same step when
      // the chosen thread turns out to be blocked.
      this.changedAt = step
      // The thread about to run is preempted: it drops below every thread
      // that has not been demoted, and the new highest runs instead.
      this.priority.set(best, change)
      return this.choose(runnable, step)
    }
    return best
  }
}

/** One recorded decision, by meaning: which thread, at which of its own steps, what kind of point. */
export interface Decision {
  readonly thread: string
  readonly step: number
  readonly point: PointKind
}

export function decisionsOf(events: readonly { readonly kind: string }[]): Decision[] {
  const out: Decision[] = []
  for (const e of events) {
    if (e.kind === "sched") {
      const s = e as EventOf<"sched">
      out.push({ thread: s.thread, step: s.step, point: s.point })
    }
  }
  return out
}

/**
 * Follows a recorded decision list. Where the recorded decision is impossible
 * it stops with a Divergence naming the step, the expected decision and what
 * was runnable, instead of guessing.
 */
export class ReplayStrategy implements Strategy {
  readonly name = "replay"
  constructor(private readonly decisions: readonly Decision[]) {}

  choose(runnable: readonly SimThread[], step: number): SimThread | Divergence {
    const d = this.decisions[step]
    const options = runnable.map((t) => `${t.name} (its step ${t.step}, ${t.pending.point})`).join(", ")
    if (d === undefined) {
      return new Divergence(step, `step ${step}: the recorded schedule has ended (${this.decisions.length} decisions) but threads can still run: ${options}`)
    }
    const t = runnable.find((x) => x.name === d.thread)
    const expected = `${d.thread} at its step ${d.step} (${d.point})`
    if (t === undefined) {
      return new Divergence(step, `step ${step}: expected ${expected}, but it cannot run; runnable: ${options}`)
    }
    if (t.step !== d.step || t.pending.point !== d.point) {
      return new Divergence(
        step,
        `step ${step}: expected ${expected}, but ${t.name} is at its step ${t.step} (${t.pending.point}); runnable: ${options}`,
      )
    }
    return t
  }

  /** Decisions not used by a run that ended early. */
  remaining(stepsTaken: number): number {
    return Math.max(0, this.decisions.length - stepsTaken)
  }
}

/** A parsed `--strategy` value. */
export type StrategySpec =
  | { readonly kind: "random" }
  | { readonly kind: "pct"; readonly depth: number; readonly estimatedSteps?: number }

/** Parses "random", "pct:D" or "pct:D:K"; throws a one-line message otherwise. */
export function parseStrategy(text: string): StrategySpec {
  if (text === "random") return { kind: "random" }
  const m = /^pct:(\d+)(?::(\d+))?$/.exec(text)
  if (m !== null) {
    const depth = Number(m[1])
    if (depth < 1 || depth > 64) throw new InputError(`strategy ${text}: pct depth must be in [1, 64]`)
    if (m[2] === undefined) return { kind: "pct", depth }
    const k = Number(m[2])
    if (k < 1) throw new InputError(`strategy ${text}: the estimated step count must be >= 1`)
    return { kind: "pct", depth, estimatedSteps: k }
  }
  throw new InputError(`unknown strategy ${JSON.stringify(text)} (expected random, pct:DEPTH or pct:DEPTH:STEPS)`)
}

/**
 * A switch of the schedule, by meaning: when `from` has taken `step` steps
 * (and is about to take its next one, or cannot), `to` runs next. The empty
 * `from` names the run's first choice.
 */
export interface Switch {
  readonly from: string
  readonly step: number
  readonly to: string
}

/**
 * The switches of a recorded decision list: following all of them with
 * SwitchStrategy reproduces the list exactly, and dropping some of them gives
 * a schedule with fewer context switches (what the shrinker searches for).
 */
export function switchesOf(events: readonly { readonly kind: string }[]): Switch[] {
  const out: Switch[] = []
  let prev: Decision | null = null
  for (const d of decisionsOf(events)) {
    if (prev === null) out.push({ from: "", step: 0, to: d.thread })
    else if (prev.thread !== d.thread) out.push({ from: prev.thread, step: prev.step + 1, to: d.thread })
    prev = d
  }
  return out
}

/**
 * Follows a set of switches: the last chosen thread keeps running until a
 * switch names it at its current step (then the switch's target runs, if it
 * can), or until it cannot run (then the lowest-numbered runnable thread
 * does). Never diverges. Counts its preemptions: switches away from a thread
 * that could have gone on.
 */
export class SwitchStrategy implements Strategy {
  private readonly table = new Map<string, string>()
  private current: SimThread | null = null
  /** Context switches away from a thread that was still runnable. */
  preemptions = 0

  constructor(
    switches: readonly Switch[],
    readonly name: string,
  ) {
    for (const s of switches) this.table.set(`${s.from}\u0000${s.step}`, s.to)
  }

  choose(runnable: readonly SimThread[]): SimThread {
    const c = this.current
    const to = this.table.get(c === null ? "\u00000" : `${c.name}\u0000${c.step}`)
    let pick = to === undefined ? undefined : runnable.find((t) => t.name === to)
    const cRunnable = c !== null && runnable.includes(c)
    if (pick === undefined && cRunnable) pick = c
    if (pick === undefined) {
      pick = runnable[0]!
      for (const t of runnable) if (t.id < pick.id) pick = t
    }
    if (cRunnable && pick !== c) this.preemptions++
    this.current = pick
    return pick
  }
}
