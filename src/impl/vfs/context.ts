// The context every VFS and filesystem call carries (gVisor's
// context.Context, reduced to what fsim's ports use): who is calling, on
// which simulated thread, and the scheduler that owns the clock and the log.

import type { Cred, Errno } from "../../model/types.js"
import type { Scheduler } from "../../sim/scheduler.js"

export interface Ctx {
  readonly sched: Scheduler
  readonly creds: Cred
  /** The simulated thread making the call, for events. */
  readonly thread: string
}

/** An errno, or null for success: the ports keep gVisor's explicit error returns. */
export type Err = Errno | null

/** A Go panic: a broken invariant of the port. The scheduler reports it and ends the run. */
export function panic(message: string): never {
  throw new Error(message)
}

export function isRoot(c: Cred): boolean {
  return c.uid === 0
}
