// Test helpers for driving the scheduler by hand.

import type { Event } from "../../src/sim/events.js"
import { EventLog } from "../../src/sim/log.js"
import { DeclaredOrder, LockOrderChecker, type LockGraph, type LockOrderSpec } from "../../src/sim/lockorder.js"
import { Divergence, Scheduler, type SimThread, type Strategy } from "../../src/sim/scheduler.js"

/** Chooses threads by name from a script, one name per step; then the lowest-id runnable thread. */
export class ScriptStrategy implements Strategy {
  readonly name = "script"
  constructor(private readonly script: readonly string[]) {}
  choose(runnable: readonly SimThread[], step: number): SimThread | Divergence {
    const want = this.script[step]
    if (want === undefined) return runnable[0]!
    const t = runnable.find((x) => x.name === want)
    return t ?? new Divergence(step, `script wants ${want} at step ${step}; runnable: ${runnable.map((x) => x.name).join(", ")}`)
  }
}

export function scripted(
  script: readonly string[],
  opts: { specs?: readonly LockOrderSpec[]; graph?: LockGraph; run?: string; budgetSteps?: number } = {},
): { sched: Scheduler; checker: LockOrderChecker } {
  const sched = new Scheduler({ strategy: new ScriptStrategy(script), log: new EventLog(), budgetSteps: opts.budgetSteps ?? 10_000 })
  const checker = new LockOrderChecker({
    declared: new DeclaredOrder(opts.specs ?? []),
    ...(opts.graph !== undefined ? { graph: opts.graph } : {}),
    ...(opts.run !== undefined ? { run: opts.run } : {}),
  })
  sched.addChecker(checker)
  return { sched, checker }
}

export function kinds(events: readonly Event[], kind: Event["kind"]): Event[] {
  return events.filter((e) => e.kind === kind)
}

/** "t0 acquire workload.A w" lines for lock events, for readable assertions. */
export function lockTrail(events: readonly Event[]): string[] {
  const out: string[] = []
  for (const e of events) {
    if (e.kind === "lock_acquire" || e.kind === "lock_release") {
      out.push(`${e.thread} ${e.kind === "lock_acquire" ? "acquire" : "release"} ${e.class} ${e.mode}`)
    }
  }
  return out
}
