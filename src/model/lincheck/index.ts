// fsim's linearizability checker: the public face. `decodeHistory` reads an
// `fsim.history/1` document, `checkHistory` judges it against the reference
// model and answers in the `fsim.lincheck/1` format (contract section 3).
// The generic search (`check`) works with any sequential model.

import { budgetOf, check, problemOf, withDefaults, type Operation } from "./check.js"
import { explain } from "./explain.js"
import { dialectRuleOf, fsModel, fsWalksModel, split, type FsInput, type SplitInput } from "./fs.js"
import { withEarlyPermissionChecks } from "./early.js"
import { dialectNamed, type ModelState } from "../index.js"
import type { Model } from "./check.js"
import type { History } from "./history.js"
import { ROOT, type Op, type OpResult } from "../types.js"

export { check, replays, withDefaults, deepEqual, DEFAULT_BUDGET } from "./check.js"
export type { CheckOptions, CheckResult, Model, Operation, Step, Verdict } from "./check.js"
export { decodeHistory, validateHistory, HISTORY_FORMAT } from "./history.js"
export type { History, HistoryOp } from "./history.js"
export { fsModel, normalizeResult, describeResult } from "./fs.js"
export type { FsInput } from "./fs.js"

export const LINCHECK_FORMAT = "fsim.lincheck/1"

export interface CheckHistoryOptions {
  /**
   * Model steps the verdict may take, all its searches together (the atomic
   * one and, for a dialect whose walks are not atomic, the second one); past
   * it the answer is null. Default DEFAULT_BUDGET.
   */
  readonly budget?: number
  /** Whether to explain a non-linearizable history (shrink it to a core). Default true. */
  readonly explain?: boolean
  /**
   * Model steps all of the explanation's searches may take together.
   * Default: 10 times what the verdict took, at least 100,000 and at most
   * the verdict's budget. Past it the explanation says so, and its core may
   * hold more ops than needed.
   */
  readonly explainBudget?: number | ((verdictExplored: number) => number)
  /** The filesystem was mounted read-only (a run's mount option, not part of the history format). */
  readonly readOnly?: boolean
}

export interface LincheckOutput {
  readonly format: typeof LINCHECK_FORMAT
  readonly linearizable: boolean | null
  /** Op indices in the order they took effect (ops that never returned only if they did). */
  readonly witness: readonly number[] | null
  readonly explanation: string | null
  /** Model steps the verdict took, all its searches together (the explanation's are not counted). */
  readonly explored: number
  /** When not linearizable and explained: the ops that cannot be ordered, by index. */
  readonly core?: readonly number[]
  /**
   * When linearizable under a dialect: how many ops of the witness took a
   * result only the dialect allows, by rule (absent when none did).
   */
  readonly departures?: Readonly<Record<string, number>>
}

/** The dialect rules the witness relied on, counted (null when none). */
function departuresOf(model: Model<ModelState, FsInput, OpResult>, ops: readonly Operation<FsInput, OpResult>[], witness: readonly number[]): Record<string, number> | null {
  let state = model.init()
  const out: Record<string, number> = {}
  let any = false
  for (const i of witness) {
    const step = model.step(state, ops[i]!.input)
    state = step.state
    const rule = dialectRuleOf(step.output)
    if (rule !== undefined && ops[i]!.output !== undefined) {
      out[rule] = (out[rule] ?? 0) + 1
      any = true
    }
  }
  return any ? Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1))) : null
}

/**
 * The verdict with non-atomic walks (fs.ts), for a history the atomic
 * model rejected, on a system whose dialect says its walks are not atomic.
 */
function checkWalks(history: History, options: CheckHistoryOptions, ops: readonly Operation<FsInput, OpResult>[], budget: number, spent: number): LincheckOutput {
  const dialect = dialectOf(history)
  const walks = fsWalksModel(history.initial ?? {}, {
    ...(history.root !== undefined ? { root: history.root } : {}),
    ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}),
    dialect,
  })
  // Early permission checks (early.ts) ride on the walk stages.
  const model = (dialect?.earlyPermissionChecks === true ? withEarlyPermissionChecks(walks) : walks) as unknown as Model<unknown, SplitInput, OpResult>
  const { ops: entries, origin } = split(ops)
  // The second search gets what the first left: the verdict's budget bounds both together.
  const verdict = check(model, entries, { budget: budget - spent })
  const explored = spent + verdict.explored
  const base = { format: LINCHECK_FORMAT, explored } as const
  if (verdict.linearizable === null) return { ...base, linearizable: null, witness: null, explanation: gaveUp(explored) }
  if (verdict.linearizable === false) {
    if (options.explain === false) return { ...base, linearizable: false, witness: null, explanation: null }
    const full = withDefaults(model)
    const facts = entries.map((e, k) => ({ ...e, index: origin[k] as number }))
    const e = explain(full, problemOf(full, entries), facts, entries.map((o) => o.output), budget, explainBudget(options, budget, verdict.explored), verdict.stuck)
    const core = [...new Set(e.core.map((k) => origin[k] as number))].sort((a, b) => a - b)
    return { ...base, linearizable: false, witness: null, explanation: e.text + caveat(e.minimal) + WALKS_NOTE, core }
  }
  // The witness by history op, each where its effect took place; and the rules its results relied on.
  const witness: number[] = []
  const out: Record<string, number> = {}
  let state = model.init()
  for (const k of verdict.witness ?? []) {
    const e = entries[k] as Operation<SplitInput, OpResult>
    const step = model.step(state, e.input)
    state = step.state
    if (e.input.stage !== undefined && e.input.stage > 0) continue
    witness.push(origin[k] as number)
    const rule = dialectRuleOf(step.output)
    if (rule !== undefined && e.output !== undefined) out[rule] = (out[rule] ?? 0) + 1
  }
  const departures = Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)))
  return { ...base, linearizable: true, witness, explanation: null, ...(Object.keys(departures).length > 0 ? { departures } : {}) }
}

const WALKS_NOTE = " (judged with path walks that may take effect before their ops, as this system's do)"

function gaveUp(explored: number): string {
  return `the search gave up after ${explored} model steps (its budget) without a verdict; the history may or may not be linearizable`
}

function caveat(minimal: boolean): string {
  return minimal ? "" : " (the explanation's budget ran out: these may be more ops than needed, or miss some whose effect mattered)"
}

function explainBudget(options: CheckHistoryOptions, budget: number, explored: number): number {
  const given = options.explainBudget
  if (given === undefined) return Math.min(budget, Math.max(100_000, 10 * explored))
  return budgetOf(typeof given === "function" ? given(explored) : given)
}

/** The ops of a history as the checker's operations. */
export function historyOperations(history: History): Operation<FsInput, OpResult>[] {
  const external = new Set(history.external ?? [])
  return history.ops.map((o) => {
    const cred = history.creds?.[o.thread] ?? ROOT
    const input: FsInput = external.has(o.thread) ? { op: o.op, cred, external: true } : { op: o.op, cred }
    const base = { input, invoke: o.invoke, return: o.return, thread: o.thread }
    if (o.result === null) return base
    if (o.faulted === true) return { ...base, input: { ...input, op: faultedEffect(o.op, o.result) }, output: o.result, optional: true }
    return { ...base, output: o.result }
  })
}

/**
 * What a faulted op may have done. A faulted read or write that moved fewer
 * bytes than it asked moved exactly those (a short Tread or Twrite): it is
 * judged as a read or write of that many, so the description's offset after
 * it is the one the system has, and the ops after it on that description
 * are judged in full.
 */
function faultedEffect(op: Op, result: OpResult): Op {
  // An open that created its file and then failed (the fault hit a later
  // RPC of the open, the walk after Tlcreate) leaves the file without a
  // description, as Linux's can: judged as the create alone (or nothing).
  // The create does not follow a final symlink, as open's would: such an
  // open is judged as having had no effect.
  if (op.op === "open" && op.flags.includes("O_CREAT") && "errno" in result) return { op: "mknod", path: op.path, type: "file", ...(op.mode !== undefined ? { mode: op.mode } : {}) }
  if ((op.op === "read" || op.op === "pread") && "data" in result && result.data.length < op.count) return { ...op, count: result.data.length }
  if ((op.op === "write" || op.op === "pwrite") && "count" in result && result.count < op.data.length) return { ...op, data: op.data.slice(0, result.count) }
  return op
}

/** The history's dialect, with what it says of its system. */
function dialectOf(history: History) {
  return dialectNamed(history.dialect ?? "linux", history.synthetic === true ? { synthetic: true } : {})
}

/** Judges a decoded history (see `decodeHistory`) against the reference model. */
export function checkHistory(history: History, options: CheckHistoryOptions = {}): LincheckOutput {
  const budget = budgetOf(options.budget)
  const model = fsModel(history.initial ?? {}, {
    ...(history.root !== undefined ? { root: history.root } : {}),
    ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}),
    dialect: dialectOf(history),
  })
  const ops = historyOperations(history)
  const verdict = check(model, ops, { budget })
  const base = { format: LINCHECK_FORMAT, explored: verdict.explored } as const
  if (verdict.linearizable === true) {
    const departures = departuresOf(model, ops, verdict.witness ?? [])
    return { ...base, linearizable: true, witness: verdict.witness, explanation: null, ...(departures !== null ? { departures } : {}) }
  }
  if (verdict.linearizable === null) return { ...base, linearizable: null, witness: null, explanation: gaveUp(verdict.explored) }
  const dialect = dialectOf(history)
  if (dialect?.nonAtomicWalks === true || dialect?.earlyPermissionChecks === true) return checkWalks(history, options, ops, budget, verdict.explored)
  if (options.explain === false) return { ...base, linearizable: false, witness: null, explanation: null }
  const full = withDefaults(model)
  const e = explain(full, problemOf(full, ops), ops, ops.map((o) => o.output), budget, explainBudget(options, budget, verdict.explored), verdict.stuck)
  return { ...base, linearizable: false, witness: null, explanation: e.text + caveat(e.minimal), core: e.core }
}
