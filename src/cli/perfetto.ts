// A trace as Chrome trace-event JSON (the "JSON Object Format" of the Trace
// Event Format), which Perfetto (ui.perfetto.dev) and chrome://tracing open:
// each simulated thread is a track; its ops are complete ("X") slices, its
// lock waits nested slices inside them; locks held and RPCs in flight are
// async slices ("b"/"e", one id per hold or request, since they need not
// nest); cache events are thread-scoped instants; violations and the run's
// end are global instants. Time is the event number: 1 µs per event (the
// simulated clock, in ns, is in each slice's args), so every step is
// visible even when the simulated clock stands still.

import { describeOp } from "../model/index.js"
import type { Event } from "../sim/events.js"
import { mountLabel } from "./run.js"
import type { Trace } from "../sim/trace.js"
import { describeEvent, lockName, threadOf } from "./eventtext.js"
import { describeResult } from "./run.js"

export interface TraceEvent {
  name: string
  cat?: string
  ph: "X" | "b" | "e" | "i" | "M"
  ts?: number
  dur?: number
  pid: number
  tid?: number
  id?: string
  s?: "g" | "p" | "t"
  args?: Record<string, unknown>
}

export interface ChromeTrace {
  traceEvents: TraceEvent[]
  displayTimeUnit: "ms" | "ns"
  otherData: Record<string, string>
}

const PID = 1

export function perfettoJson(trace: Trace): ChromeTrace {
  const h = trace.header
  const events = trace.events
  const out: TraceEvent[] = []
  const tids = new Map<string, number>()
  const tidOf = (name: string): number => {
    let t = tids.get(name)
    if (t === undefined) {
      t = tids.size + 1
      tids.set(name, t)
    }
    return t
  }
  for (const e of events) if (e.kind === "thread_start") tidOf(e.thread)
  const title = h.scenario.format === "fsim.workload/1" ? `workload ${h.scenario.name}` : `${h.scenario.name} · ${mountLabel(h.scenario.mount)}`
  out.push({ name: "process_name", ph: "M", pid: PID, args: { name: `fsim ${title} · seed ${h.seed} · ${h.strategy} · ${h.verdict}` } })
  for (const [name, tid] of tids) {
    out.push({ name: "thread_name", ph: "M", pid: PID, tid, args: { name } })
    out.push({ name: "thread_sort_index", ph: "M", pid: PID, tid, args: { sort_index: tid } })
  }

  const last = events.length
  let now = 0
  const openOps = new Map<string, { e: Extract<Event, { kind: "op_invoke" }>; now: number }>()
  const waits = new Map<string, { seq: number; name: string }>()
  const holds = new Map<string, number>()
  const rpcs = new Map<string, number>()
  for (const e of events) {
    const ts = e.seq
    switch (e.kind) {
      case "clock":
        now = e.now
        break
      case "op_invoke":
        openOps.set(e.thread, { e, now })
        break
      case "op_return": {
        const o = openOps.get(e.thread)
        if (o === undefined) break
        openOps.delete(e.thread)
        out.push({
          name: describeOp(o.e.op),
          cat: "op",
          ph: "X",
          ts: o.e.seq,
          dur: ts - o.e.seq,
          pid: PID,
          tid: tidOf(e.thread),
          args: { index: o.e.index, op: o.e.op, result: e.result, result_text: describeResult(e.result), clock_ns: [o.now, now] },
        })
        break
      }
      case "lock_wait":
        waits.set(`${e.thread}\u0000${e.lock}`, { seq: ts, name: `wait ${lockName(e)}` })
        break
      case "lock_acquire": {
        const k = `${e.thread}\u0000${e.lock}`
        const w = waits.get(k)
        if (w !== undefined) {
          waits.delete(k)
          out.push({ name: w.name, cat: "lock_wait", ph: "X", ts: w.seq, dur: ts - w.seq, pid: PID, tid: tidOf(e.thread), args: { mode: e.mode } })
        }
        holds.set(k, ts)
        out.push({ name: lockName(e), cat: "lock", ph: "b", id: `lock-${e.lock}-${e.thread}-${ts}`, ts, pid: PID, tid: tidOf(e.thread), args: { mode: e.mode, thread: e.thread } })
        break
      }
      case "lock_release": {
        const k = `${e.thread}\u0000${e.lock}`
        const since = holds.get(k)
        if (since === undefined) break
        holds.delete(k)
        out.push({ name: lockName(e), cat: "lock", ph: "e", id: `lock-${e.lock}-${e.thread}-${since}`, ts, pid: PID, tid: tidOf(e.thread) })
        break
      }
      case "rpc_send":
        rpcs.set(`${e.thread}\u0000${e.tag}`, ts)
        out.push({ name: e.msg, cat: "rpc", ph: "b", id: `rpc-${e.tag}-${e.thread}-${ts}`, ts, pid: PID, tid: tidOf(e.thread), args: { tag: e.tag, ...(e.fid !== undefined ? { fid: e.fid } : {}), ...(e.detail !== undefined ? { detail: e.detail } : {}) } })
        break
      case "rpc_reply": {
        const k = `${e.thread}\u0000${e.tag}`
        const since = rpcs.get(k)
        if (since === undefined) break
        rpcs.delete(k)
        out.push({ name: e.msg, cat: "rpc", ph: "e", id: `rpc-${e.tag}-${e.thread}-${since}`, ts, pid: PID, tid: tidOf(e.thread), args: { reply: e.msg, outcome: e.outcome } })
        break
      }
      case "cache":
        out.push({ name: `${e.cache} ${e.what}`, cat: "cache", ph: "i", s: "t", ts, pid: PID, tid: tidOf(e.thread), args: { key: e.key } })
        break
      case "mark":
        out.push({ name: e.mark, cat: "mark", ph: "i", s: "t", ts, pid: PID, tid: tidOf(e.thread), ...(e.key !== undefined ? { args: { key: e.key } } : {}) })
        break
      case "violation":
        out.push({ name: `violation: ${e.check}`, cat: "violation", ph: "i", s: "g", ts, pid: PID, args: { message: e.message, events: e.events } })
        break
      case "end":
        out.push({ name: `end: ${e.verdict}`, cat: "run", ph: "i", s: "g", ts, pid: PID, args: { steps: e.steps } })
        break
      default: {
        const t = threadOf(e)
        if (e.kind === "sleep" && t !== null) out.push({ name: describeEvent(e), cat: "sleep", ph: "i", s: "t", ts, pid: PID, tid: tidOf(t) })
      }
    }
  }
  // What never finished ends with the run: ops that never returned, locks
  // still held, RPCs never answered.
  for (const [thread, o] of openOps) {
    out.push({ name: describeOp(o.e.op), cat: "op", ph: "X", ts: o.e.seq, dur: last - o.e.seq, pid: PID, tid: tidOf(thread), args: { index: o.e.index, op: o.e.op, result: null, result_text: "never returned" } })
  }
  for (const [k, since] of holds) {
    const [thread, lock] = k.split("\u0000") as [string, string]
    out.push({ name: `lock #${lock}`, cat: "lock", ph: "e", id: `lock-${lock}-${thread}-${since}`, ts: last, pid: PID, tid: tidOf(thread) })
  }
  for (const [k, since] of rpcs) {
    const [thread, tag] = k.split("\u0000") as [string, string]
    out.push({ name: "no reply", cat: "rpc", ph: "e", id: `rpc-${tag}-${thread}-${since}`, ts: last, pid: PID, tid: tidOf(thread) })
  }
  return {
    traceEvents: out,
    displayTimeUnit: "ms",
    otherData: { generator: "fsim show --export perfetto", time: "1 µs of trace time = 1 event; the simulated clock is in args.clock_ns", verdict: h.verdict },
  }
}
