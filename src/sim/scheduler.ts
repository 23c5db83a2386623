// Simulated threads and the scheduler.
//
// A simulated thread is a generator. It yields an Action at every scheduling
// point (lock, unlock, RPC send and reply, explicit yield, sleep); the
// scheduler decides which thread moves next, performs that thread's pending
// action (acquiring the lock, say) and resumes the thread, which runs its
// local code up to its next scheduling point. One such move is one step, and
// every step is one `sched` event: the run is a function of its
// configuration and that list of decisions.
//
// Generators were chosen over async functions and Effect fibers by
// measurement (`npm run bench`, figure "sched_mechanism"): resuming a
// generator is a plain call, while every await goes through the microtask
// queue, and a controlled fiber scheduler adds its own bookkeeping per step.
//
// Time: CPU work takes no simulated time (discrete-event semantics). The clock
// only moves when no thread can run and some thread sleeps (or waits for a
// timed event, such as an RPC reply): it then jumps to the earliest wake-up,
// as a `clock` event.

import type { Event, PointKind, Verdict, Violation } from "./events.js"
import { EventLog, POINT_INDEX, type Checker } from "./log.js"

export type Sim<T = void> = Generator<Action, T, unknown>

/** What a thread waits for, for deadlock reports. */
export interface WaitInfo {
  /** The threads that must act before this one can go on (lock holders). */
  readonly holders: readonly SimThread[]
  /** In words: "gofer.dentry.dirMu#3 (/a) for writing". */
  readonly what: string
  /** The event at which the thread started waiting. */
  readonly since: number
}

/**
 * A scheduling point. `ready` says whether performing it now would not block;
 * `perform` does it when the scheduler chooses the thread, and returns what
 * the thread's `yield` evaluates to (or CONTINUE if the thread must wait for
 * a further action set with `Scheduler.continueWith`).
 */
export abstract class Action {
  /** `point` as a number, for the packed event log. */
  readonly pointIndex: number
  constructor(readonly point: PointKind) {
    this.pointIndex = POINT_INDEX.get(point)!
  }
  /** Called once, when a thread yields this action. */
  arrive(_t: SimThread, _s: Scheduler): void {}
  /** Called when the thread, having arrived, cannot proceed (now, or later when another takes what it wants). */
  blocked(_t: SimThread): void {}
  abstract ready(t: SimThread): boolean
  abstract perform(t: SimThread, s: Scheduler): unknown
  /** Only called on a blocked thread. */
  waitInfo(_t: SimThread): WaitInfo {
    return { holders: [], what: this.point, since: -1 }
  }
}

/** Returned by `perform` when the thread stays parked on a follow-up action. */
export const CONTINUE: unique symbol = Symbol("continue")

class YieldAction extends Action {
  ready(): boolean {
    return true
  }
  perform(): unknown {
    return undefined
  }
}

/** An explicit yield: lets the scheduler run another thread here. */
export const YIELD: Action = new YieldAction("yield")
/** The scheduling point of a filesystem operation in flight. */
export const OP_POINT: Action = new YieldAction("op")
/** An atomic access to a shared field (the seeds' atomic.* sites). */
export const ATOMIC: Action = new YieldAction("atomic")
const START: Action = new YieldAction("start")

export type ThreadState = "runnable" | "running" | "blocked" | "sleeping" | "done"

export class SimThread {
  /** Scheduling points this thread has passed (its own step counter). */
  step = 0
  state: ThreadState = "runnable"
  pending: Action = START
  /** The event at which the thread's pending action arrived. */
  pendingSince = -1
  wakeAt = 0
  /** Position in the scheduler's runnable array, or -1 (for O(1) removal). */
  runSlot = -1
  /** Position in the wait list of the resource it waits on, or -1 (see WaitList). */
  waitSlot = -1
  /** Whether the pending action has logged that the thread blocks on it. */
  waitLogged = false
  /**
   * A daemon (a filesystem's background worker, e.g. its page evictor) does
   * not keep the run alive: the run is over when every other thread is, and
   * a daemon waiting for work is not a deadlock.
   */
  daemon = false
  /**
   * The index of the scenario op this thread is running (-1 between ops,
   * or for a thread that runs none): the log's words for an injected fault
   * name the op it fired during.
   */
  opIndex = -1
  /**
   * Injected faults that decided a reply to this thread (an error reply, a
   * short read or write). The runner compares it before and after each op:
   * an op during which it grew is judged as one whose outcome the server
   * decided (run.ts, OpRecord.faulted).
   */
  serverDecided = 0
  constructor(
    readonly id: number,
    readonly name: string,
    readonly gen: Sim<unknown>,
  ) {}
}

/** Chooses which runnable thread moves next. */
export interface Strategy {
  readonly name: string
  onThreadCreated?(t: SimThread): void
  /**
   * `runnable` is non-empty, in an order that depends only on the run's
   * history (so it is deterministic); `step` counts steps from 0.
   * Returns the chosen thread, or a Divergence when a recorded schedule cannot
   * be followed.
   */
  choose(runnable: readonly SimThread[], step: number): SimThread | Divergence
}

/** A replay that cannot follow its recorded decisions. */
export class Divergence {
  constructor(
    readonly step: number,
    readonly message: string,
  ) {}
}

export type RunEnd =
  | { readonly kind: "done" }
  | { readonly kind: "deadlock" }
  | { readonly kind: "budget_exhausted" }
  | { readonly kind: "divergence"; readonly divergence: Divergence }
  | { readonly kind: "stopped"; readonly why: string }

export interface SchedulerOptions {
  readonly strategy: Strategy
  readonly log?: EventLog
  /** Steps before the run is stopped as budget_exhausted. */
  readonly budgetSteps?: number
}

/**
 * A thread that threw. The port's panics (Go's panic, failed assertions) end
 * the run as an `invariants` violation; they are never swallowed.
 */
export class ThreadPanic extends Error {}

export class Scheduler {
  readonly log: EventLog
  readonly threads: SimThread[] = []
  /**
   * Runnable threads. Insertion appends and removal swaps the last one into
   * the hole (O(1): the scheduler's hottest path), so the order is a function
   * of the run's history and as deterministic as the run itself.
   */
  private readonly runnable: SimThread[] = []
  /** Sleeping threads, sorted by (wakeAt, id). */
  private readonly timers: SimThread[] = []
  private readonly checkers: Checker[] = []
  private readonly violations: Violation[] = []
  private live = 0
  private nextLockId = 0
  private stopReason: string | null = null
  private gaveUpReason: string | null = null
  readonly strategy: Strategy
  readonly budgetSteps: number
  /** Simulated time in ns. */
  now = 0
  steps = 0
  /** The thread being resumed, or null between steps. */
  current: SimThread | null = null

  constructor(options: SchedulerOptions) {
    this.strategy = options.strategy
    this.log = options.log ?? new EventLog()
    this.budgetSteps = options.budgetSteps ?? 1_000_000
  }

  /** Creates a thread; it runs when first chosen. Names must be unique. */
  spawn(name: string, body: Sim<unknown>, options: { readonly daemon?: boolean } = {}): SimThread {
    for (const t of this.threads) {
      if (t.name === name) throw new Error(`scheduler: a thread named ${name} already exists`)
    }
    const t = new SimThread(this.threads.length, name, body)
    t.daemon = options.daemon === true
    this.threads.push(t)
    this.log.registerThread(t.id, name)
    if (!t.daemon) this.live++
    this.insertRunnable(t)
    this.strategy.onThreadCreated?.(t)
    if (this.log.enabled) this.log.add({ seq: this.log.nextSeq, kind: "thread_start", thread: name })
    return t
  }

  addChecker(c: Checker): void {
    this.checkers.push(c)
    this.log.observe(c)
  }

  /** A fresh lock instance number, unique within the run. */
  newLockId(): number {
    return this.nextLockId++
  }

  /** Records a violation found outside the log's checkers (an invariant, say). */
  report(v: Violation): void {
    this.violations.push(v)
    if (this.log.enabled) {
      this.log.add({ seq: this.log.nextSeq, kind: "violation", check: v.check, message: v.message, events: [...v.events] })
    }
  }

  /**
   * A checker ran out of its own budget (`reason` says which): the run is
   * inconclusive (unknown) unless something failed. The first reason stays.
   */
  giveUp(reason: string): void {
    this.gaveUpReason ??= reason
  }

  get gaveUp(): string | null {
    return this.gaveUpReason
  }

  /** Ends the run after the current step, e.g. after a violation that makes going on meaningless. */
  stop(why: string): void {
    this.stopReason ??= why
  }

  get found(): readonly Violation[] {
    return this.violations
  }

  /** Parks `t` on `a` instead of resuming it (multi-phase actions such as RWMutex.Lock). */
  continueWith(t: SimThread, a: Action): typeof CONTINUE {
    t.pending = a
    a.arrive(t, this)
    return CONTINUE
  }

  /** Re-evaluates the threads waiting on a resource whose state changed. */
  recheck(waiting: readonly SimThread[]): void {
    for (let i = 0; i < waiting.length; i++) this.recheckOne(waiting[i]!)
  }

  /** Re-evaluates one thread whose pending action's readiness may have changed. */
  recheckOne(t: SimThread): void {
    if (t.state === "blocked") {
      if (t.pending.ready(t)) {
        t.state = "runnable"
        this.insertRunnable(t)
      }
    } else if (t.state === "runnable") {
      if (!t.pending.ready(t)) {
        t.state = "blocked"
        this.removeRunnable(t)
        t.pending.blocked(t)
      }
    }
  }

  /** Puts `t` to sleep until `until` (ns); called by SleepAction. */
  addTimer(t: SimThread, until: number): void {
    t.wakeAt = until
    t.state = "sleeping"
    let i = this.timers.length
    while (i > 0) {
      const o = this.timers[i - 1]!
      if (o.wakeAt < until || (o.wakeAt === until && o.id < t.id)) break
      i--
    }
    this.timers.splice(i, 0, t)
  }

  /** Runs until every thread is done, a deadlock, the budget, a divergence or a stop. */
  run(): RunEnd {
    const log = this.log
    const logging = log.enabled
    const runnable = this.runnable
    for (;;) {
      if (this.stopReason !== null) return this.end({ kind: "stopped", why: this.stopReason })
      if (this.live === 0) return this.end({ kind: "done" })
      if (runnable.length === 0) {
        if (this.timers.length > 0) {
          this.fireTimers()
          continue
        }
        this.reportDeadlock()
        return this.end({ kind: "deadlock" })
      }
      if (this.steps >= this.budgetSteps) return this.end({ kind: "budget_exhausted" })
      const chosen = this.strategy.choose(runnable, this.steps)
      if (chosen instanceof Divergence) return this.end({ kind: "divergence", divergence: chosen })
      const t = chosen
      const a = t.pending
      if (logging) log.addSched(t.id, t.step, a.pointIndex)
      this.steps++
      t.step++
      this.removeRunnable(t)
      t.state = "running"
      this.current = t
      let value: unknown
      try {
        value = a.perform(t, this)
      } catch (e) {
        this.panic(t, e)
        continue
      }
      if (value === CONTINUE) {
        this.current = null
        this.park(t)
      } else {
        this.resume(t, value)
      }
      if (this.checkers.length > 0) this.drainCheckers()
    }
  }

  private resume(t: SimThread, value: unknown): void {
    let r: IteratorResult<Action, unknown>
    try {
      r = t.gen.next(value)
    } catch (e) {
      this.panic(t, e)
      return
    }
    this.current = null
    if (r.done === true) {
      this.finish(t)
      return
    }
    const next = r.value
    t.pending = next
    t.pendingSince = this.log.nextSeq
    t.waitLogged = false
    next.arrive(t, this)
    this.park(t)
  }

  private panic(t: SimThread, e: unknown): void {
    this.current = null
    this.finish(t)
    const msg = e instanceof Error ? e.message : String(e)
    this.report({ check: "invariants", message: `thread ${t.name} panicked: ${msg}`, events: [] })
    this.stop(`thread ${t.name} panicked`)
  }

  /** Files `t` (just given a new pending action) as runnable, blocked or sleeping. */
  private park(t: SimThread): void {
    if (t.state === "sleeping") return
    if (t.pending.ready(t)) {
      t.state = "runnable"
      this.insertRunnable(t)
    } else {
      t.state = "blocked"
      t.pending.blocked(t)
    }
  }

  private finish(t: SimThread): void {
    t.state = "done"
    if (!t.daemon) this.live--
    if (this.log.enabled) this.log.add({ seq: this.log.nextSeq, kind: "thread_finish", thread: t.name })
  }

  private fireTimers(): void {
    const first = this.timers[0]!
    this.now = first.wakeAt
    if (this.log.enabled) this.log.add({ seq: this.log.nextSeq, kind: "clock", now: this.now })
    while (this.timers.length > 0 && this.timers[0]!.wakeAt <= this.now) {
      const t = this.timers.shift()!
      t.state = "blocked"
      this.recheck([t])
    }
  }

  private insertRunnable(t: SimThread): void {
    t.runSlot = this.runnable.length
    this.runnable.push(t)
  }

  private removeRunnable(t: SimThread): void {
    const r = this.runnable
    const i = t.runSlot
    if (i < 0 || r[i] !== t) throw new Error(`scheduler: thread ${t.name} is not runnable`)
    const last = r.pop()!
    if (last !== t) {
      r[i] = last
      last.runSlot = i
    }
    t.runSlot = -1
  }

  private drainCheckers(): void {
    for (const c of this.checkers) {
      for (const v of c.drain()) this.report(v)
    }
  }

  /**
   * No thread can run and none sleeps: find a cycle in the wait-for graph
   * (thread -> the threads holding what it waits for), or else say what each
   * thread waits for.
   */
  private reportDeadlock(): void {
    const blocked = this.threads.filter((t) => t.state === "blocked" && !t.daemon)
    const info = new Map<SimThread, WaitInfo>()
    for (const t of blocked) info.set(t, t.pending.waitInfo(t))
    const cycle = findCycle(blocked, (t) => info.get(t)?.holders ?? [])
    if (cycle !== null) {
      const parts = cycle.map((t) => {
        const w = info.get(t)!
        const next = w.holders.find((h) => cycle.includes(h))
        return `thread ${t.name} waits (since event ${w.since}) for ${w.what}${next !== undefined ? `, held by ${next.name}` : ""}`
      })
      this.report({
        check: "deadlock",
        message: `deadlock: ${parts.join("; ")}`,
        events: cycle.map((t) => info.get(t)!.since),
      })
    } else {
      const parts = blocked.map((t) => {
        const w = info.get(t)!
        const by = w.holders.length > 0 ? ` (held by ${w.holders.map((h) => h.name).join(", ")})` : ""
        return `thread ${t.name} waits (since event ${w.since}) for ${w.what}${by}`
      })
      this.report({
        check: "deadlock",
        message: `no thread can run: ${parts.join("; ")}`,
        events: blocked.map((t) => info.get(t)!.since),
      })
    }
  }

  private end(e: RunEnd): RunEnd {
    if (this.checkers.length > 0) this.drainCheckers()
    return e
  }

  /** The verdict of the scheduler's part of the run (checkers run afterwards may add to it). */
  verdictOf(e: RunEnd): Verdict {
    if (this.violations.length > 0) return "fail"
    if (e.kind === "budget_exhausted") return "budget_exhausted"
    return this.gaveUpReason !== null ? "unknown" : "pass"
  }

  /** Logs the run's end; `reason` says why an inconclusive verdict is one. */
  logEnd(verdict: Verdict, reason: string | null = null): void {
    if (this.log.enabled) this.log.add({ seq: this.log.nextSeq, kind: "end", verdict, steps: this.steps, ...(reason !== null ? { reason } : {}) })
  }
}

/**
 * The threads waiting on one resource, with O(1) add and remove: a thread
 * waits on at most one resource at a time, so it can carry its slot.
 */
export class WaitList {
  readonly threads: SimThread[] = []

  add(t: SimThread): void {
    t.waitSlot = this.threads.length
    this.threads.push(t)
  }

  remove(t: SimThread): void {
    const a = this.threads
    const i = t.waitSlot
    if (i < 0 || a[i] !== t) return
    const last = a.pop()!
    if (last !== t) {
      a[i] = last
      last.waitSlot = i
    }
    t.waitSlot = -1
  }

  has(t: SimThread): boolean {
    return t.waitSlot >= 0 && this.threads[t.waitSlot] === t
  }

  get length(): number {
    return this.threads.length
  }
}

/** The first cycle in thread-id order of a graph given by `edges`, or null. */
export function findCycle(nodes: readonly SimThread[], edges: (t: SimThread) => readonly SimThread[]): SimThread[] | null {
  const color = new Map<SimThread, 1 | 2>()
  const sorted = [...nodes].sort((a, b) => a.id - b.id)
  for (const root of sorted) {
    if (color.has(root)) continue
    // Iterative DFS keeping the current path.
    const path: SimThread[] = []
    const iters: number[] = []
    path.push(root)
    iters.push(0)
    color.set(root, 1)
    while (path.length > 0) {
      const top = path[path.length - 1]!
      const outs = [...edges(top)].sort((a, b) => a.id - b.id)
      const k = iters[iters.length - 1]!
      if (k >= outs.length) {
        color.set(top, 2)
        path.pop()
        iters.pop()
        continue
      }
      iters[iters.length - 1] = k + 1
      const next = outs[k]!
      const c = color.get(next)
      if (c === 1) return path.slice(path.indexOf(next))
      if (c === undefined) {
        color.set(next, 1)
        path.push(next)
        iters.push(0)
      }
    }
  }
  return null
}

/** Sleeps on the simulated clock for `ns` nanoseconds. */
export class SleepAction extends Action {
  private until = 0
  constructor(readonly ns: number) {
    super("sleep")
    if (!(Number.isInteger(ns) && ns >= 0)) throw new RangeError(`sleep: ns must be a non-negative integer, got ${ns}`)
  }
  override arrive(t: SimThread, s: Scheduler): void {
    this.until = s.now + this.ns
    if (s.log.enabled) s.log.add({ seq: s.log.nextSeq, kind: "sleep", thread: t.name, until: this.until })
    if (this.ns > 0) s.addTimer(t, this.until)
  }
  ready(t: SimThread): boolean {
    return t.state !== "sleeping"
  }
  perform(): unknown {
    return undefined
  }
}

export function sleep(ns: number): Action {
  return new SleepAction(ns)
}

/**
 * A one-shot event a thread can wait for (an RPC reply, a FIFO's other end).
 * `set` wakes every waiter.
 */
export class Signal {
  isSet = false
  value: unknown = undefined
  readonly waiting: SimThread[] = []
  private readonly waitAction: Action = new SignalWait(this)

  constructor(
    private readonly sched: Scheduler,
    readonly what: string,
    readonly holders: () => readonly SimThread[] = () => [],
  ) {}

  get done(): boolean {
    return this.isSet
  }

  set(value?: unknown): void {
    if (this.isSet) throw new Error(`signal ${this.what}: set twice`)
    this.isSet = true
    this.value = value
    this.sched.recheck(this.waiting)
  }

  wait(): Action {
    return this.waitAction
  }
}

class SignalWait extends Action {
  constructor(private readonly signal: Signal) {
    super("wait")
  }
  override arrive(t: SimThread): void {
    this.signal.waiting.push(t)
  }
  ready(): boolean {
    return this.signal.isSet
  }
  perform(t: SimThread): unknown {
    const w = this.signal.waiting
    const i = w.indexOf(t)
    if (i >= 0) w.splice(i, 1)
    return this.signal.value
  }
  override waitInfo(t: SimThread): WaitInfo {
    return { holders: this.signal.holders(), what: this.signal.what, since: t.pendingSince }
  }
}

export type { Event }
