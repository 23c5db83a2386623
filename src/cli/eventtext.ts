// Events in words, for `fsim show` (terminal, HTML, Perfetto names).

import { describeOp } from "../model/index.js"
import type { Event, EventOf } from "../sim/events.js"
import { describeResult } from "./run.js"

export function lockName(e: EventOf<"lock_wait" | "lock_acquire" | "lock_release">): string {
  return `${e.class}#${e.lock}${e.name !== undefined ? ` ${e.name}` : ""}`
}

/** The thread an event belongs to, or null for run-wide events (clock, violation, end...). */
export function threadOf(e: Event): string | null {
  return "thread" in e && typeof e.thread === "string" ? e.thread : null
}

/** One event in a few words (without its thread). */
export function describeEvent(e: Event): string {
  switch (e.kind) {
    case "sched":
      return `scheduled (its step ${e.step}, ${e.point})`
    case "thread_start":
      return "thread starts"
    case "thread_finish":
      return "thread done"
    case "lock_wait":
      return `waits for ${lockName(e)} (${e.mode})`
    case "lock_acquire":
      return `holds ${lockName(e)} (${e.mode})`
    case "lock_release":
      return `releases ${lockName(e)}`
    case "clock":
      return `clock -> ${e.now} ns`
    case "sleep":
      return `sleeps until ${e.until} ns`
    case "op_invoke":
      return `▶ #${e.index} ${describeOp(e.op)}`
    case "op_return":
      return `◀ #${e.index} ${describeResult(e.result)}`
    case "rpc_send":
      return `→ ${e.msg} tag ${e.tag}${e.fid !== undefined ? ` fid ${e.fid}` : ""}${e.detail !== undefined ? ` ${e.detail}` : ""}`
    case "rpc_reply":
      return `← ${e.msg} tag ${e.tag} ${e.outcome}${e.detail !== undefined ? ` ${e.detail}` : ""}`
    case "cache":
      return `${e.cache} ${e.what} ${e.key}`
    case "mark":
      return `◆ mark ${e.mark}${e.key !== undefined ? ` ${e.key}` : ""}`
    case "choice":
      return `choice ${e.what} = ${e.value}`
    case "violation":
      return `✗ VIOLATION [${e.check}] ${e.message}`
    case "end":
      return `end: verdict ${e.verdict} after ${e.steps} steps`
  }
}
