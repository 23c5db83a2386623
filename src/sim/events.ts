// The event log's vocabulary: one discriminated union, appended in order with
// a sequence number. A run is fully described by its configuration and these
// events; every checker is a consumer of them, online or over a loaded trace.

import { Schema } from "effect"
import { OpSchema, ResultSchema } from "../model/schema.js"
import type { Op, OpResult } from "../model/types.js"

/** What a thread was about to do when the scheduler chose it. */
export const POINT_KINDS = [
  "start",
  "yield",
  "lock",
  "rlock",
  "unlock",
  "runlock",
  "sleep",
  "op",
  "atomic",
  "wait",
  "rpc_send",
  "rpc_reply",
] as const
export type PointKind = (typeof POINT_KINDS)[number]

export type LockMode = "r" | "w"

export type Event =
  /** The scheduler chose `thread`, at the `step`-th scheduling point of that thread (0-based), of kind `point`. */
  | { seq: number; kind: "sched"; thread: string; step: number; point: PointKind }
  | { seq: number; kind: "thread_start"; thread: string }
  | { seq: number; kind: "thread_finish"; thread: string }
  /** `thread` asks for `lock` (an instance of `class`); `name` says which object it guards, when known. */
  | { seq: number; kind: "lock_wait"; thread: string; lock: number; class: string; mode: LockMode; name?: string }
  | { seq: number; kind: "lock_acquire"; thread: string; lock: number; class: string; mode: LockMode; name?: string }
  | { seq: number; kind: "lock_release"; thread: string; lock: number; class: string; mode: LockMode; name?: string }
  /** The simulated clock jumped to `now` (ns) because no thread could run before it. */
  | { seq: number; kind: "clock"; now: number }
  /** `thread` sleeps until `until` (ns on the simulated clock). */
  | { seq: number; kind: "sleep"; thread: string; until: number }
  | { seq: number; kind: "op_invoke"; thread: string; index: number; op: Op }
  | { seq: number; kind: "op_return"; thread: string; index: number; result: OpResult }
  /**
   * A 9P request leaving the client; `msg` is the message type (Twalk), `detail` its arguments in words;
   * `ns` the latency drawn for its way to the server.
   */
  | { seq: number; kind: "rpc_send"; thread: string; tag: number; msg: string; fid?: number; detail?: string; ns?: number }
  /**
   * A 9P reply reaching the client; `msg` is Rwalk or Rlerror, `outcome` "ok" or an errno name; `served` is the
   * event at which the server executed the request, `ns` the latency of the reply's way back (a delay fault included).
   */
  | { seq: number; kind: "rpc_reply"; thread: string; tag: number; msg: string; outcome: string; detail?: string; served?: number; ns?: number }
  /** A cache transition (dentry cached/evicted/revalidated, page filled/dirtied/written back...). */
  | { seq: number; kind: "cache"; thread: string; cache: string; what: string; key: string }
  /**
   * `thread` reached a rare path of a port worth reaching (a coverage mark,
   * TigerBeetle's habit): `mark` names it as the port's registry does
   * ("gofer.revalidate.stale-dentry"), `key` says where (a path), when known.
   * Not a scheduling point: logging one changes nothing else in the run.
   */
  | { seq: number; kind: "mark"; thread: string; mark: string; key?: string }
  /** A random choice that is not a scheduling decision (a latency, a fault), recorded so the log tells all. */
  | { seq: number; kind: "choice"; what: string; value: number }
  | { seq: number; kind: "violation"; check: CheckName; message: string; events: number[] }
  /** The last event of a run. */
  | { seq: number; kind: "end"; verdict: Verdict; steps: number; reason?: string }

export type EventKind = Event["kind"]
export type EventOf<K extends EventKind> = Extract<Event, { kind: K }>

export const CHECK_NAMES = ["lincheck", "lock_order", "deadlock", "invariants", "coherence"] as const
export type CheckName = (typeof CHECK_NAMES)[number]

export const VERDICTS = ["pass", "fail", "budget_exhausted", "unknown"] as const
export type Verdict = (typeof VERDICTS)[number]

export interface Violation {
  readonly check: CheckName
  readonly message: string
  /** Event numbers (seq) the message refers to, in the order it names them. */
  readonly events: readonly number[]
}

// ---------------------------------------------------------------------------
// Schemas, for loading traces.

const Seq = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Nat = Seq
const Name = Schema.String
const Mode = Schema.Literals(["r", "w"])
const lockFields = {
  thread: Name,
  lock: Nat,
  class: Schema.String,
  mode: Mode,
  name: Schema.optionalKey(Schema.String),
}

export const EventSchema: Schema.Codec<Event> = Schema.Union([
  Schema.Struct({ seq: Seq, kind: Schema.Literal("sched"), thread: Name, step: Nat, point: Schema.Literals(POINT_KINDS) }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("thread_start"), thread: Name }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("thread_finish"), thread: Name }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("lock_wait"), ...lockFields }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("lock_acquire"), ...lockFields }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("lock_release"), ...lockFields }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("clock"), now: Nat }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("sleep"), thread: Name, until: Nat }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("op_invoke"), thread: Name, index: Nat, op: OpSchema }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("op_return"), thread: Name, index: Nat, result: ResultSchema }),
  Schema.Struct({
    seq: Seq,
    kind: Schema.Literal("rpc_send"),
    thread: Name,
    tag: Nat,
    msg: Schema.String,
    fid: Schema.optionalKey(Nat),
    detail: Schema.optionalKey(Schema.String),
    ns: Schema.optionalKey(Nat),
  }),
  Schema.Struct({
    seq: Seq,
    kind: Schema.Literal("rpc_reply"),
    thread: Name,
    tag: Nat,
    msg: Schema.String,
    outcome: Schema.String,
    detail: Schema.optionalKey(Schema.String),
    served: Schema.optionalKey(Seq),
    ns: Schema.optionalKey(Nat),
  }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("cache"), thread: Name, cache: Schema.String, what: Schema.String, key: Schema.String }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("mark"), thread: Name, mark: Schema.String, key: Schema.optionalKey(Schema.String) }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("choice"), what: Schema.String, value: Schema.Number }),
  Schema.Struct({
    seq: Seq,
    kind: Schema.Literal("violation"),
    check: Schema.Literals(CHECK_NAMES),
    message: Schema.String,
    events: Schema.Array(Seq),
  }),
  Schema.Struct({ seq: Seq, kind: Schema.Literal("end"), verdict: Schema.Literals(VERDICTS), steps: Nat, reason: Schema.optionalKey(Schema.String) }),
]) as unknown as Schema.Codec<Event>

export const ViolationSchema: Schema.Codec<Violation> = Schema.Struct({
  check: Schema.Literals(CHECK_NAMES),
  message: Schema.String,
  events: Schema.Array(Seq),
})

export type { Op, OpResult }
