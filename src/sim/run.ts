// One simulated run: a scenario (or a runtime workload), a seed and a
// strategy in; a verdict, the violations and the whole event log out.

import { checkHistory, HISTORY_FORMAT, type History } from "../model/lincheck/index.js"
import type { Cred, Errno, Op, OpResult, RootAttrs, Tree } from "../model/types.js"
import type { DialectName } from "../model/index.js"
import type { Event, Verdict, Violation } from "./events.js"
import { EventLog } from "./log.js"
import { DeclaredOrder, LockGraph, LockOrderChecker, type LockOrderSpec } from "./lockorder.js"
import type { FinalRecorder, MountInstance, MountRegistry, OpThread } from "./mount.js"
import { finalSpans, type FinalSpans } from "./finalread.js"
import { Scheduler, sleep, type RunEnd, type Sim, type Strategy } from "./scheduler.js"
import { canonicalSubject, credOf, parseModelOptions, type RunSubject, type Scenario, type ThreadSpec, type Workload } from "./scenario.js"
import { PctStrategy, RandomStrategy, ReplayStrategy, type Decision, type StrategySpec } from "./strategy.js"
import { spawnLockWorkload } from "./workload.js"
import { InputError } from "../model/schema.js"
import { CHECK_NAMES, type CheckName } from "./events.js"

export type RunStrategy =
  | StrategySpec
  | { readonly kind: "replay"; readonly decisions: readonly Decision[]; readonly recorded: string }
  /** A strategy object made by the caller (one run only: strategies keep state), recorded by its name. */
  | { readonly kind: "custom"; readonly strategy: Strategy }

export interface RunOptions {
  readonly seed: number
  readonly strategy: RunStrategy
  /** Filesystems by mount kind (the CLI registers them all). */
  readonly mounts?: MountRegistry
  /** A lock graph kept across a campaign's runs. */
  readonly lockGraph?: LockGraph
  /** Names the run in cross-run reports ("seed 7"). */
  readonly runLabel?: string
  /** Declared lock orders of the filesystems in use. */
  readonly lockOrders?: readonly LockOrderSpec[]
  /** Overrides the subject's step budget. */
  readonly budgetSteps?: number
  /** Leaves the linearizability check out (a dry run that only measures the run's length). */
  readonly skipLincheck?: boolean
}

/** One operation as it ran: the contract's `ops` entry of a result. */
export interface OpRecord {
  readonly thread: string
  readonly index: number
  readonly op: Op
  result: OpResult | null
  readonly invoke: number
  return: number | null
  /**
   * An injected fault decided a reply to one of the op's own RPCs (an error
   * reply, a short read or write): lincheck accepts the op having taken
   * effect or not, with any result (History's `faulted`). The fault's
   * `choice` event names the thread and op index.
   */
  faulted?: true
}

export interface RunReport {
  readonly subject: RunSubject
  readonly seed: number
  /** The strategy as recorded in traces ("random", "pct:3:412"). */
  readonly strategy: string
  readonly verdict: Verdict
  readonly steps: number
  readonly violations: readonly Violation[]
  readonly events: readonly Event[]
  /** events.length, without making the events. */
  readonly eventCount: number
  /**
   * events[seq], made alone (undefined past the end). Not enumerable, so a
   * report still crosses a worker boundary (a copy lacks it: use events).
   */
  readonly eventAt?: (seq: number) => Event | undefined
  readonly end: RunEnd
  /**
   * The coverage marks the run logged (`mark` events), each once, sorted:
   * kept apart from the events so a campaign tallies them without making
   * the events.
   */
  readonly marks: readonly string[]
  /** Why the verdict is inconclusive (unknown or budget_exhausted), in a few words; null otherwise. */
  readonly reason: string | null
  readonly ops: readonly OpRecord[]
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> } | null
}

export const DEFAULT_BUDGET_STEPS = 1_000_000

/** The largest count a read or pread may ask for in a run (16 MiB). */
export const OP_READ_MAX = 1 << 24

/** The most ops of a run stopped by its step budget that lincheck still judges. */
export const PARTIAL_LINCHECK_OPS = 10_000

export function runSubject(made: RunSubject, options: RunOptions): RunReport {
  // Runs start from the contract's form of the subject, so what they record
  // is a function of its meaning (replay by meaning: scenario.ts, canonicalSubject).
  const subject = canonicalSubject(made)
  const strategy = makeStrategy(subject, options)
  return subject.format === "fsim.workload/1" ? runWorkload(subject, options, strategy) : runScenario(subject, options, strategy)
}

function makeStrategy(subject: RunSubject, options: RunOptions): Strategy {
  const s = options.strategy
  switch (s.kind) {
    case "random":
      return new RandomStrategy(options.seed)
    case "replay":
      return new ReplayStrategy(s.decisions)
    case "custom":
      return s.strategy
    case "pct": {
      // PCT needs the run's length to place its change points: without one
      // given, measure it with a silent random run of the same seed.
      const k = s.estimatedSteps ?? Math.max(1, estimateSteps(subject, options))
      return new PctStrategy(options.seed, s.depth, k)
    }
  }
}

function estimateSteps(subject: RunSubject, options: RunOptions): number {
  const dry = runSubject(subject, { ...options, strategy: { kind: "random" }, lockGraph: new LockGraph(), skipLincheck: true })
  return dry.steps
}

function budgetOf(subject: RunSubject, options: RunOptions): number {
  return options.budgetSteps ?? subject.budget?.steps ?? DEFAULT_BUDGET_STEPS
}

/**
 * The work a run's checkers may do beyond the scheduler's steps, each
 * counted in its own unit (budget.checks): model steps of the
 * linearizability check, its verdict's searches together; dentries visited
 * by the gofer's invariant checks. Counted in work, never in time, so an
 * inconclusive verdict repeats with its seed. (The final read-back runs as
 * a thread under the step budget.)
 */
export const DEFAULT_BUDGET_CHECKS = 1_000_000

/**
 * The explanation of a non-linearizable run (shrinking the history to a
 * core) takes twice what the verdict took, within these bounds: it only
 * words a verdict already reached, and a bug that makes every result wrong
 * fails every run, so this cost is paid per run.
 */
const EXPLAIN_MIN = 20_000
const EXPLAIN_MAX = 200_000

function checkBudgetOf(s: Scenario): number {
  return s.budget?.checks ?? DEFAULT_BUDGET_CHECKS
}

/** The reasons an inconclusive run gives (RunReport.reason, the end event, a campaign's unknown_by_reason). */
export const REASONS = {
  steps: "step budget",
  lincheck: "lincheck budget",
  invariants: "invariants budget",
  mount: "mount did not complete",
} as const

function strategyName(options: RunOptions, strategy: Strategy): string {
  return options.strategy.kind === "replay" ? options.strategy.recorded : strategy.name
}

function lockChecker(options: RunOptions): LockOrderChecker {
  return new LockOrderChecker({
    declared: new DeclaredOrder(options.lockOrders ?? []),
    ...(options.lockGraph !== undefined ? { graph: options.lockGraph } : {}),
    run: options.runLabel ?? `seed ${options.seed}`,
  })
}

function runWorkload(w: Workload, options: RunOptions, strategy: Strategy): RunReport {
  const sched = new Scheduler({ strategy, log: new EventLog(), budgetSteps: budgetOf(w, options) })
  sched.addChecker(lockChecker(options))
  spawnLockWorkload(sched, w, options.seed)
  const end = sched.run()
  const verdict = sched.verdictOf(end)
  const reason = verdict === "budget_exhausted" ? REASONS.steps : null
  sched.logEnd(verdict, reason)
  return reportOf(w, options, strategy, sched, end, verdict, reason, [], null)
}

function reportOf(
  subject: RunSubject,
  options: RunOptions,
  strategy: Strategy,
  sched: Scheduler,
  end: RunEnd,
  verdict: Verdict,
  reason: string | null,
  ops: readonly OpRecord[],
  final: RunReport["final"],
): RunReport {
  const log = sched.log
  const report: RunReport = {
    subject,
    seed: options.seed,
    strategy: strategyName(options, strategy),
    verdict,
    steps: sched.steps,
    violations: sched.found,
    // The log keeps its events in columns; as objects they cost several
    // times more, so they are made only for a caller that reads them (a
    // trace, a replay), not for every run of a campaign or a long run.
    get events() {
      return log.events
    },
    eventCount: log.length,
    end,
    marks: log.marks,
    reason,
    ops,
    final,
  }
  Object.defineProperty(report, "eventAt", { value: (seq: number) => log.at(seq), enumerable: false })
  return report
}

export function checksOf(s: Scenario): ReadonlySet<CheckName> {
  return new Set(s.checks ?? CHECK_NAMES)
}

function runScenario(s: Scenario, options: RunOptions, strategy: Strategy): RunReport {
  const factory = options.mounts?.[s.mount.kind]
  if (factory === undefined) {
    throw new InputError(`scenario: mount.kind: this fsim cannot run ${s.mount.kind} mounts yet`)
  }
  const sched = new Scheduler({ strategy, log: new EventLog(), budgetSteps: budgetOf(s, options) })
  const checks = checksOf(s)
  if (checks.has("lock_order")) sched.addChecker(lockChecker(options))
  const mount = factory({ sched, seed: options.seed, scenario: s })
  const ops: OpRecord[] = []
  if (mount.setup !== undefined) {
    // The mount itself (version, attach...) runs before any scenario thread.
    let mountErr: Errno | null = null
    const setup = mount.setup.bind(mount)
    sched.spawn("fsim.mount", (function* (): Sim<void> {
      mountErr = yield* setup()
    })())
    const setupEnd = sched.run()
    if (setupEnd.kind !== "done" || mountErr !== null) {
      // Nothing was tested: inconclusive unless the mount's failure is a finding.
      const why = setupEnd.kind !== "done" ? `the mount did not complete (${setupEnd.kind})` : `mount failed: ${mountErr}`
      sched.stop(why)
      const end = sched.run()
      const verdict = sched.verdictOf(end) === "fail" ? "fail" : "unknown"
      const reason = verdict === "unknown" ? REASONS.mount : null
      sched.logEnd(verdict, reason)
      return reportOf(s, options, strategy, sched, end, verdict, reason, ops, null)
    }
  }
  const spawnAll = (specs: readonly ThreadSpec[], external: boolean): void => {
    for (const spec of specs) {
      const thread: OpThread = { name: spec.name, cred: credOf(spec), external }
      sched.spawn(spec.name, opThread(sched, mount, thread, spec.ops, ops))
    }
  }
  spawnAll(s.threads, false)
  spawnAll(s.external ?? [], true)
  let end = sched.run()
  let final: RunReport["final"] = null
  if (end.kind === "done") {
    // Quiescence: every thread has finished. Close what is still open and
    // read the tree back through the mount, as a thread of its own since
    // doing so takes locks and sends RPCs like any other operation. The
    // read-back is fsim's instrument, not the scenario's: injected faults
    // stop before it, or one whose count the run never reached would hit it.
    mount.disarmFaults?.()
    const spans = finalSpans(ops, [s.remote, mount.initialTree?.().tree, ...layerTrees(s)])
    sched.spawn("fsim.final", finalThread(sched, mount, ops, spans, (f) => (final = f)))
    end = sched.run()
  }
  let lincheckUnknown = false
  // A run cut short by its budget is inconclusive whatever lincheck says of
  // the part that ran; that part is still judged when it is small, since a
  // violation in it is a finding, but a long one is not handed to a search
  // that would cost far more than the run did.
  const judgeable = options.skipLincheck !== true && end.kind !== "stopped" && end.kind !== "divergence" && (end.kind !== "budget_exhausted" || ops.length <= PARTIAL_LINCHECK_OPS)
  if (checks.has("lincheck") && judgeable) {
    lincheckUnknown = !judgeHistory(s, ops, sched, mount.dialect ?? "linux", checkBudgetOf(s), mount.initialTree?.())
  }
  let verdict = sched.verdictOf(end)
  // A run stopped with nothing found stopped at an internal limit (the
  // final read-back's): nothing was judged, so it is inconclusive.
  const stoppedClean = verdict === "pass" && end.kind === "stopped"
  if (verdict === "pass" && (lincheckUnknown || stoppedClean)) verdict = "unknown"
  const reason =
    verdict === "budget_exhausted" ? REASONS.steps : verdict === "unknown" ? (sched.gaveUp ?? (stoppedClean && end.kind === "stopped" ? end.why : REASONS.lincheck)) : null
  sched.logEnd(verdict, reason)
  return reportOf(s, options, strategy, sched, end, verdict, reason, ops, final)
}

function* opThread(sched: Scheduler, mount: MountInstance, thread: OpThread, list: readonly Op[], ops: OpRecord[]): Sim<void> {
  const log = sched.log
  const self = sched.current
  if (self === null) throw new Error("run: an op thread runs outside the scheduler")
  for (let index = 0; index < list.length; index++) {
    const op = list[index]!
    if ((op.op === "read" || op.op === "pread") && op.count > OP_READ_MAX) {
      // Linux would return up to 2 GiB (MAX_RW_COUNT); fsim holds a result
      // as one string in the log, so it stops here rather than run out of
      // memory: an internal limit, inconclusive, not a verdict.
      sched.stop(`internal limit: ${thread.name}#${index} reads up to ${op.count} bytes, more than fsim holds in one result (${OP_READ_MAX})`)
      return
    }
    const invoke = log.nextSeq
    log.add({ seq: invoke, kind: "op_invoke", thread: thread.name, index, op })
    const rec: OpRecord = { thread: thread.name, index, op, result: null, invoke, return: null }
    ops.push(rec)
    let result: OpResult
    if (op.op === "sleep") {
      yield sleep(op.ns)
      result = {}
    } else {
      self.opIndex = index
      const decidedBefore = self.serverDecided
      result = yield* mount.exec(thread, op)
      self.opIndex = -1
      if (self.serverDecided !== decidedBefore) rec.faulted = true
    }
    rec.result = result
    rec.return = log.nextSeq
    log.add({ seq: rec.return, kind: "op_return", thread: thread.name, index, result })
  }
}

function* finalThread(sched: Scheduler, mount: MountInstance, ops: OpRecord[], spans: FinalSpans, done: (f: NonNullable<RunReport["final"]>) => void): Sim<void> {
  const log = sched.log
  let index = 0
  const recordOp = function* (op: Op, run: () => Sim<OpResult>): Sim<OpResult> {
    const invoke = log.nextSeq
    log.add({ seq: invoke, kind: "op_invoke", thread: FINAL_THREAD, index, op })
    const rec: OpRecord = { thread: FINAL_THREAD, index, op, result: null, invoke, return: null }
    index++
    ops.push(rec)
    const result = yield* run()
    rec.result = result
    rec.return = log.nextSeq
    log.add({ seq: rec.return, kind: "op_return", thread: FINAL_THREAD, index: rec.index, result })
    return result
  }
  const record: FinalRecorder = Object.assign(recordOp, { spans })
  done(yield* mount.finish(record))
}

/** The tree literals of an overlay's layers (what they hold at the start). */
function layerTrees(s: Scenario): Tree[] {
  if (s.mount.kind !== "overlay") return []
  const layers = [...(s.mount.upper !== undefined ? [s.mount.upper] : []), ...s.mount.lower]
  return layers.flatMap((l) => (l.tree !== undefined && l.tree !== "remote" ? [l.tree] : []))
}

/** The thread that reads the tree back at the end (its ops are part of the history, as root). */
export const FINAL_THREAD = "fsim.final"

/** The run's operations as an `fsim.history/1`, times being event numbers. */
export function historyOf(s: Scenario, ops: readonly OpRecord[], dialect: DialectName = "linux", initial?: { readonly tree: Tree; readonly root?: RootAttrs }): History {
  const creds: Record<string, Cred> = {}
  for (const t of [...s.threads, ...(s.external ?? [])]) if (t.cred !== undefined) creds[t.name] = t.cred
  const externalNames = new Set((s.external ?? []).map((t) => t.name))
  return {
    format: HISTORY_FORMAT,
    initial: initial !== undefined ? initial.tree : (s.remote ?? {}),
    ...(initial !== undefined ? (initial.root !== undefined ? { root: initial.root } : {}) : s.root !== undefined ? { root: s.root } : {}),
    ...(dialect !== "linux" ? { dialect } : {}),
    ...(dialect !== "linux" && (s.external ?? []).length > 0 ? { external: (s.external ?? []).map((t) => t.name) } : {}),
    ...(dialect.startsWith("gvisor-gofer") && refusesMknod(s) ? { synthetic: true } : {}),
    creds,
    ops: ops
      .filter((o) => o.op.op !== "sleep")
      .map((o) => ({
        thread: o.thread,
        op: externalNames.has(o.thread) ? externalFd(o.op) : o.op,
        result: o.result,
        invoke: o.invoke,
        return: o.return,
        ...(o.faulted === true && o.return !== null ? { faulted: true } : {}),
      })),
  }
}

/**
 * Whether the scenario's server may refuse mknod with EPERM (a fault, or a
 * swarm's refuseMknod): the gofer then makes synthetic FIFOs and sockets.
 */
function refusesMknod(s: Scenario): boolean {
  return (s.faults ?? []).some((f) => f.kind === "rlerror" && f.errno === "EPERM" && (f.message === "Tumknod" || f.message === "Tmknod"))
}

/**
 * External users' descriptions live in the file server's own table, apart
 * from the client's: in the history their names get a prefix of their own,
 * so the model keeps the two tables apart too.
 */
function externalFd(op: Op): Op {
  return "fd" in op ? { ...op, fd: `external:${op.fd}` } : op
}

/**
 * Judges the run's history against the reference model and reports a
 * non-linearizable one as a violation naming its core ops' events. Returns
 * false when the checker gave up within its budget (the verdict is then
 * unknown, never a pass).
 */
function judgeHistory(
  s: Scenario,
  ops: readonly OpRecord[],
  sched: Scheduler,
  dialect: DialectName,
  budget: number,
  initial?: { readonly tree: Tree; readonly root?: RootAttrs; readonly readOnly?: boolean },
): boolean {
  const history = historyOf(s, ops, dialect, initial)
  const readOnly = (s.mount.kind === "model" && s.mount.options !== undefined && parseModelOptions(s.mount.options).readOnly) || initial?.readOnly === true
  const explainBudget = (explored: number): number => Math.min(budget, EXPLAIN_MAX, Math.max(EXPLAIN_MIN, 2 * explored))
  const out = checkHistory(history, { readOnly, budget, explainBudget })
  if (out.linearizable === true) return true
  if (out.linearizable === null) return false
  const core = out.core ?? []
  sched.report({
    check: "lincheck",
    message: `not linearizable: ${out.explanation ?? "no order of the ops is consistent with their results"}`,
    events: core.flatMap((i) => {
      const o = history.ops[i]!
      return o.return === null ? [o.invoke] : [o.invoke, o.return]
    }),
  })
  return true
}
