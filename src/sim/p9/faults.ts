// Injected server faults (a scenario's `faults`), decided per request as it
// reaches the server. Requests are counted per message type in the order
// the server receives them (all clients together), from 1; a fault applies
// to the request whose count is its `nth`:
//
// - rlerror: the request is not executed; it is answered Rlerror(errno).
// - short:   a Tread asks the file for at most `count` bytes, a Twrite
//            writes only its first `count` bytes (and answers that count).
// - delay:   the reply leaves `ns` later than its drawn latency.
// - hang:    the server stops answering: this request and every later one
//            (of any type, from any client) is never executed nor answered;
//            replies already on their way still arrive. A client waiting for
//            one waits forever, which the scheduler reports as a deadlock
//            on "a reply from a server that stopped answering".
//
// Every fault that fires is a `choice` event, so the log says what happened.

import { InputError } from "../../model/schema.js"
import type { Errno } from "../../model/types.js"
import { Prng, deriveSeed } from "../prng.js"
import type { Fault } from "../scenario.js"
import { MSG, type Tmessage } from "./wire.js"

/** What the faults do to one request. */
export interface FaultDecision {
  /** Answer this instead of executing the request. */
  readonly rlerror?: Fault & { kind: "rlerror" }
  /** Execute this (shortened) request instead. */
  readonly request?: Tmessage
  readonly delayNs: number
  readonly hang: boolean
  /**
   * Whether the reply is the fault's rather than the request's: an error
   * reply, or a read or write actually cut short. (A delay changes no
   * result.)
   */
  readonly decided: boolean
  /** In words, for the event log: one entry per fault that fired. */
  readonly fired: readonly { readonly what: string; readonly value: number }[]
}

const NO_FAULT: FaultDecision = Object.freeze({ delayNs: 0, hang: false, decided: false, fired: Object.freeze([]) })

export class FaultPlan {
  private readonly counts = new Map<string, number>()
  private readonly byType = new Map<string, Fault[]>()
  private armed = true

  constructor(faults: readonly Fault[]) {
    faults.forEach((f, i) => {
      if (!(f.message in MSG) || !f.message.startsWith("T") || f.message === "Tlerror") {
        throw new InputError(`scenario: faults[${i}].message: ${JSON.stringify(f.message)} is not a 9P request type (Twalk, Tread, Tlopen...)`)
      }
      const list = this.byType.get(f.message) ?? []
      list.push(f)
      this.byType.set(f.message, list)
    })
  }

  /**
   * From now on no fault fires (requests are still counted). The runner
   * disarms the plan once the scenario's threads are done, so the final
   * read-back, fsim's own instrument, reads what the run left rather than
   * a fault whose count the run never reached.
   */
  disarm(): void {
    this.armed = false
  }

  /** Whether the plan has any fault at all. */
  get empty(): boolean {
    return this.byType.size === 0
  }

  /** Counts `m` as received and says which faults fire on it. */
  decide(m: Tmessage, where: string): FaultDecision {
    const nth = (this.counts.get(m.type) ?? 0) + 1
    this.counts.set(m.type, nth)
    const list = this.byType.get(m.type)
    if (list === undefined || !this.armed) return NO_FAULT
    let rlerror: (Fault & { kind: "rlerror" }) | undefined
    let request: Tmessage | undefined
    let delayNs = 0
    let hang = false
    let decided = false
    const fired: { what: string; value: number }[] = []
    for (const f of list) {
      if (f.nth !== nth) continue
      const at = `${m.type} #${nth} (${where})`
      switch (f.kind) {
        case "rlerror":
          rlerror = f
          decided = true
          fired.push({ what: `p9 fault: Rlerror ${f.errno} for ${at}`, value: 1 })
          break
        case "short":
          if (m.type === "Tread") request = { ...m, count: Math.min(m.count, f.count) }
          else if (m.type === "Twrite") request = { ...m, data: m.data.slice(0, f.count) }
          decided ||= (m.type === "Tread" && f.count < m.count) || (m.type === "Twrite" && f.count < m.data.length)
          fired.push({ what: `p9 fault: ${m.type} cut to ${f.count} bytes for ${at}`, value: f.count })
          break
        case "delay":
          delayNs += f.ns
          fired.push({ what: `p9 fault: reply delayed by ${f.ns} ns for ${at}`, value: f.ns })
          break
        case "hang":
          hang = true
          fired.push({ what: `p9 fault: the server stops answering at ${at}`, value: 1 })
          break
      }
    }
    return { ...(rlerror !== undefined ? { rlerror } : {}), ...(request !== undefined ? { request } : {}), delayNs, hang, decided, fired }
  }
}

export interface FaultDraw {
  /** How many faults (default 2). */
  readonly count?: number
  /** Requests they may hit (default: what a gofer sends most). */
  readonly messages?: readonly string[]
  /** The largest `nth` (default 20). */
  readonly nthMax?: number
  /** Kinds to draw from (default all but hang, which ends a run). */
  readonly kinds?: readonly Fault["kind"][]
}

const DRAWN_ERRNOS: readonly Errno[] = ["EIO", "ENOENT", "EACCES", "ESTALE", "EINTR", "ENOSPC"]

/**
 * Faults chosen from a run's seed (swarm testing, when a campaign does not
 * take them from the scenario): the same seed gives the same faults, from a
 * PRNG of their own so they shift no other draw.
 */
export function drawFaults(seed: number, d: FaultDraw = {}): Fault[] {
  const rng = new Prng(deriveSeed(seed, "p9 faults"))
  const messages = d.messages ?? ["Twalkgetattr", "Twalk", "Tgetattr", "Tlopen", "Tread", "Twrite", "Tclunk", "Treaddir"]
  const kinds = d.kinds ?? ["rlerror", "short", "delay"]
  const nthMax = d.nthMax ?? 20
  const out: Fault[] = []
  for (let i = 0; i < (d.count ?? 2); i++) {
    const kind = rng.pick(kinds)
    const nth = 1 + rng.below(nthMax)
    if (kind === "short") out.push({ kind, message: rng.pick(["Tread", "Twrite"] as const), nth, count: rng.below(8) })
    else if (kind === "rlerror") out.push({ kind, message: rng.pick(messages), nth, errno: rng.pick(DRAWN_ERRNOS) })
    else if (kind === "delay") out.push({ kind, message: rng.pick(messages), nth, ns: 1000 * (1 + rng.below(10_000)) })
    else out.push({ kind, message: rng.pick(messages), nth })
  }
  return out
}
