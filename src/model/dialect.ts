// Dialects: a filesystem's documented departures from Linux.
//
// The model is Linux. A filesystem under test that is a faithful port of
// another system (gVisor's gofer) inherits that system's own choices: the
// order in which it checks errors, the flags it does not support, and
// results that depend on what its caches hold. A dialect says, for one op
// on one state, which results that system gives where Linux gives
// something else, each under a named rule that cites its source. The
// checker then accepts exactly those, and reports which rules it relied
// on, so a departure is never silent.
//
// A ruling lists the results the dialect allows, as tokens:
//   an errno   the op fails so, leaving the state as it was;
//   "ok"       the op succeeds without changing what the model compares
//              (gVisor's utimens with UTIME_NOW where Linux says EPERM);
//   "server"   the op goes through as a file server running as root would
//              do it on the caller's behalf (the client's own checks all
//              passed; the server checks nothing but existence and type);
//   "linux"    Linux's own result and state;
//   { as: op } Linux's result and state for another op (gVisor opens a
//              FIFO asked for with access mode 3 as O_RDWR);
//   { result } this result, with Linux's state (a stat with a stale
//              field, directory entries typed differently).
// More than one token means the system may give any of them (its caches
// decide); they must then all leave the same state, so the state after the
// op is one state whichever the system chose.

import { statesEqual } from "./hash.js"
import { run } from "./ops.js"
import { Ctx } from "./path.js"
import { Tx, type ModelStateShape } from "./state.js"
import { isErr, type Cred, type Errno, type Op, type OpResult } from "./types.js"

export type DialectToken = Errno | "ok" | "server" | "linux" | { readonly as: Op } | { readonly result: OpResult }

export interface Ruling {
  /** The rule's name, as DIALECTS.md lists it ("gofer.unlink.parent-perm-first"). */
  readonly rule: string
  readonly results: readonly DialectToken[]
  /** Applied to the state of a successful result: what the system does beyond Linux (gVisor clearing setuid on every write). */
  readonly adjust?: (tx: Tx) => void
}

export interface Dialect {
  readonly name: string
  /**
   * The system's path walks are not atomic with its ops: the checker may
   * place an op's walk before the op (lincheck/fs.ts, "non-atomic walks").
   */
  readonly nonAtomicWalks?: boolean
  /**
   * The system checks an op's permissions on what it has cached and acts
   * later, under no lock that a chmod or chown takes: the checker may place
   * the checks at one of the op's walk stages, before its effect
   * (lincheck/early.ts, "early permission checks").
   */
  readonly earlyPermissionChecks?: boolean
  /** Where this system's result for `op` may differ from Linux's (`linux`), the results it gives; null where it does as Linux. */
  rule(before: ModelStateShape, op: Op, cred: Cred, linux: OpResult): Ruling | null
}

/** One op's step under a dialect. */
export interface DialectStep {
  readonly state: ModelStateShape
  readonly result: OpResult
  /** Other results the system may give instead (each leaving the same state). */
  readonly alternatives: readonly OpResult[]
  /** The rule that applied, or null where the step is Linux's. */
  readonly rule: string | null
}

const OK: OpResult = Object.freeze({})
const ROOT: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] })

function sameResult(a: OpResult, b: OpResult): boolean {
  if (isErr(a) || isErr(b)) return isErr(a) && isErr(b) && a.errno === b.errno
  return JSON.stringify(a) === JSON.stringify(b)
}

function asCaller(before: ModelStateShape, op: Op, cred: Cred): { state: ModelStateShape; result: OpResult } {
  const tx = new Tx(before)
  const d = run(new Ctx(tx, cred, 0), op)
  return { state: tx.commit().state, result: d.result }
}

/** The op as a root file server does it for `cred`: no permission checks, the caller's ownership. */
export function asServer(before: ModelStateShape, op: Op, cred: Cred): { state: ModelStateShape; result: OpResult } {
  const tx = new Tx(before)
  const d = run(new Ctx(tx, ROOT, 0, { uid: cred.uid, gid: cred.gid }), op)
  return { state: tx.commit().state, result: d.result }
}

/**
 * Linux's step (`linux`), adjusted by the dialect. Throws if a rule breaks
 * the one-state requirement: a dialect bug, not a property of a run.
 */
export function dialectStep(dialect: Dialect, before: ModelStateShape, op: Op, cred: Cred, linux: { state: ModelStateShape; result: OpResult }): DialectStep {
  const ruling = dialect.rule(before, op, cred, linux.result)
  if (ruling === null || (ruling.results.length === 1 && ruling.results[0] === "linux" && ruling.adjust === undefined)) return { state: linux.state, result: linux.result, alternatives: [], rule: null }
  const options: { state: ModelStateShape; result: OpResult }[] = []
  for (const t of ruling.results) {
    let o: { state: ModelStateShape; result: OpResult }
    if (typeof t === "object") o = "as" in t ? asCaller(before, t.as, cred) : { state: linux.state, result: t.result }
    else if (t === "linux") o = linux
    else if (t === "server") o = asServer(before, op, cred)
    else if (t === "ok") o = { state: before, result: OK }
    else o = { state: before, result: Object.freeze({ errno: t }) }
    if (!options.some((p) => sameResult(p.result, o.result))) options.push(o)
  }
  if (options.length === 0) throw new Error(`dialect ${dialect.name}: rule ${ruling.rule} allows no result`)
  // The option giving Linux's result, when allowed, is the primary one.
  const li = options.findIndex((o) => sameResult(o.result, linux.result))
  const primary = li >= 0 ? options[li]! : options[0]!
  const others = options.filter((o) => o !== primary).map((o) => o.result)

  for (const o of options) {
    if (o !== primary && o.state !== primary.state && !statesEqual(o.state, primary.state)) {
      throw new Error(`dialect ${dialect.name}: rule ${ruling.rule} allows results that leave different states`)
    }
  }
  let state = primary.state
  if (ruling.adjust !== undefined && !isErr(primary.result)) {
    const tx = new Tx(state)
    ruling.adjust(tx)
    state = tx.commit().state
  }
  const departs = li < 0 || others.length > 0 || (state !== linux.state && !statesEqual(state, linux.state))
  return { state, result: primary.result, alternatives: others, rule: departs ? ruling.rule : null }
}
