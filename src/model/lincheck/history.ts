// The `fsim.history/1` format (docs/contract.md, section 3): its
// Effect Schema and the semantic checks a schema cannot express. Every
// problem is an InputError of one line naming the op index and the field.

import { Schema } from "effect"
import { DIALECT_NAMES, initialState, type DialectName } from "../index.js"
import { CredSchema, InputError, Nat, OpSchema, RootAttrsSchema, TreeSchema, decodeResult, decodeStrict } from "../schema.js"
import type { Cred, Op, OpResult, RootAttrs, Tree } from "../types.js"

export const HISTORY_FORMAT = "fsim.history/1"

export interface HistoryOp {
  readonly thread: string
  readonly op: Op
  /** null iff `return` is null: the op never returned. */
  readonly result: OpResult | null
  readonly invoke: number
  readonly return: number | null
  /**
   * An injected server fault (an error reply, a short read or write) fired
   * on one of the op's own RPCs: the server decided its outcome, so the
   * checker accepts it having taken effect within its interval or not, with
   * any result (an addition to the contract; absent: false).
   */
  readonly faulted?: boolean
}

type RawHistory = Omit<History, "ops"> & { readonly ops: readonly (Omit<HistoryOp, "result"> & { readonly result: unknown })[] }

export interface History {
  readonly format: typeof HISTORY_FORMAT
  /** The tree before the first op (default empty). */
  readonly initial?: Tree
  /**
   * The root directory's attributes (default mode 0755, owner 0:0): an
   * addition to the contract, so that a scenario's `root` survives into the
   * history its run hands the checker.
   */
  readonly root?: RootAttrs
  /** Credentials per thread name; a thread not listed is root. */
  readonly creds?: Readonly<Record<string, Cred>>
  /**
   * The system's documented departures from Linux that the checker
   * accepts (default "linux": none): an addition to the contract, so that a
   * gofer run's history checks the same way on its own.
   */
  readonly dialect?: DialectName
  /**
   * Threads that act on the file server directly (a scenario's external
   * users): the dialect does not apply to their ops, which are Linux's.
   */
  readonly external?: readonly string[]
  /**
   * The gofer's file server may refuse mknod (EPERM), so FIFOs and sockets
   * the history makes may be the client's synthetic ones (a gofer dialect's
   * `gofer.*.synthetic-*` rules apply): an addition to the contract.
   */
  readonly synthetic?: boolean
  readonly ops: readonly HistoryOp[]
}

const HistoryOpSchema = Schema.Struct({
  thread: Schema.String,
  op: OpSchema,
  // Decoded by decodeResult below, for messages that name the wrong field.
  result: Schema.NullOr(Schema.Unknown),
  invoke: Nat,
  return: Schema.NullOr(Nat),
  faulted: Schema.optionalKey(Schema.Boolean),
})

/** The history's shape; results are left to decodeResult. */
const HistoryShape = Schema.Struct({
  format: Schema.Literal(HISTORY_FORMAT),
  initial: Schema.optionalKey(TreeSchema),
  root: Schema.optionalKey(RootAttrsSchema),
  creds: Schema.optionalKey(Schema.Record(Schema.String, CredSchema)),
  dialect: Schema.optionalKey(Schema.Literals(DIALECT_NAMES)),
  external: Schema.optionalKey(Schema.Array(Schema.String)),
  synthetic: Schema.optionalKey(Schema.Boolean),
  ops: Schema.Array(HistoryOpSchema),
})

/** Decodes and validates a history; throws InputError (one line) on any problem. */
export function decodeHistory(json: unknown): History {
  // The format is checked first so that a wrong or unknown format is named
  // as such rather than as whatever field that format would spell differently.
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new InputError("history: expected an object")
  const format = (json as Record<string, unknown>)["format"]
  if (format !== HISTORY_FORMAT) {
    throw new InputError(
      format === undefined ? "history: format: missing field" : `history: format: unknown format ${JSON.stringify(format)} (expected "${HISTORY_FORMAT}")`,
    )
  }
  const raw = decodeStrict(HistoryShape as unknown as Schema.Codec<RawHistory>, json, "history")
  const history: History = {
    ...raw,
    ops: raw.ops.map((o, i) => ({ ...o, result: o.result === null ? null : decodeResult(o.result, `history: ops[${i}].result`) })),
  }
  validateHistory(history)
  // The model is the judge of what trees it can build (hard links, names).
  try {
    initialState(history.initial ?? {}, history.root)
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`history: initial: ${e.message}`)
    throw e
  }
  return history
}

/**
 * The contract's rules on times and threads: times unique across all invoke
 * and return points, return after invoke, result null iff return null, and
 * the ops of one thread do not overlap (so an op that never returned is its
 * thread's last).
 */
export function validateHistory(history: History): void {
  const owner = new Map<number, string>() // time -> "ops[i].invoke"
  const claim = (time: number, where: string): void => {
    const other = owner.get(time)
    if (other !== undefined) throw new InputError(`history: ${where}: time ${time} is also ${other} (times are unique)`)
    owner.set(time, where)
  }
  history.ops.forEach((o, i) => {
    const at = `ops[${i}]`
    if (o.return === null && o.result !== null) throw new InputError(`history: ${at}.result: an op that never returned (return null) has result null`)
    if (o.return !== null && o.result === null) throw new InputError(`history: ${at}.result: null, but the op returned at ${o.return} (result null means it never returned)`)
    if (o.return !== null && o.return <= o.invoke) throw new InputError(`history: ${at}.return: ${o.return} is not after invoke ${o.invoke}`)
    if (o.faulted === true && o.return === null) throw new InputError(`history: ${at}.faulted: an op that never returned is judged as such already (faulted applies to ops that returned)`)
    claim(o.invoke, `${at}.invoke`)
    if (o.return !== null) claim(o.return, `${at}.return`)
  })
  const byThread = new Map<string, number[]>()
  history.ops.forEach((o, i) => {
    const list = byThread.get(o.thread)
    if (list === undefined) byThread.set(o.thread, [i])
    else list.push(i)
  })
  for (const [thread, indices] of byThread) {
    indices.sort((a, b) => history.ops[a]!.invoke - history.ops[b]!.invoke)
    for (let k = 1; k < indices.length; k++) {
      const earlier = history.ops[indices[k - 1]!]!
      const later = history.ops[indices[k]!]!
      if (earlier.return === null || earlier.return > later.invoke) {
        const span = earlier.return === null ? `invoked at ${earlier.invoke}, never returned` : `${earlier.invoke}-${earlier.return}`
        throw new InputError(
          `history: ops[${indices[k]}].invoke: thread ${JSON.stringify(thread)} overlaps itself: ops[${indices[k - 1]}] (${span}) was still running at ${later.invoke}`,
        )
      }
    }
  }
}
