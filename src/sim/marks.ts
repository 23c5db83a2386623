// Coverage marks (TigerBeetle's habit): a port logs a mark where it takes a
// rare path worth reaching, a campaign tallies the marks its runs reached
// and names those none did, and tests assert that a scenario reaches one.
// Each port keeps the marks it may log in a registry of its own folder
// (name -> the path in one line); a port's helper takes only its own names,
// so a mark never logged under a name its registry lacks.

import type { Scheduler } from "./scheduler.js"

/** A port's marks: dotted unique name ("gofer.revalidate.stale-dentry") -> the path it marks, in one line. */
export type MarkRegistry = Readonly<Record<string, string>>

/**
 * Logs mark `name` for the running thread. `key` (where: a path) may be a
 * function, called only when the log records, so a disabled log costs one
 * property read. Never a scheduling point: it yields nothing.
 */
export function logMark(sched: Scheduler, name: string, key?: string | (() => string)): void {
  const log = sched.log
  if (!log.enabled) return
  log.mark(sched.current?.name ?? "fsim.mount", name, typeof key === "function" ? key() : key)
}

/** The registries merged; a name in two of them is an error (names are unique across ports). */
export function mergeMarks(...registries: readonly MarkRegistry[]): MarkRegistry {
  const out: Record<string, string> = {}
  for (const r of registries) {
    for (const [name, what] of Object.entries(r)) {
      if (name in out) throw new Error(`marks: ${name} is registered twice`)
      out[name] = what
    }
  }
  return out
}
