// The gofer port against real Linux and the model's gVisor dialects, on the
// sequential scenarios of the model's differential harness (diff.ts).
//
// One scenario is planned once: the model steps it along Linux (the chain
// the real tmpfs is compared with) and along each cache mode's dialect (the
// chain the gofer is compared with: `apply` then `dialectStep`, each op
// starting from gVisor's state after the one before). An op any chain
// cannot compare (a FIFO open or read that would block) is dropped from all
// of them, so every side runs the same ops. Linux runs the kept ops once
// (oracle.py); the gofer runs them once per mode, as a scenario of its own.
//
// Per-op credentials: a scenario thread has one credential, and a
// sequential scenario changes credentials between ops. The gofer scenario
// therefore has one thread per run of consecutive ops with the same
// credential (a single thread when they all share one), each thread but the
// first starting with a sleep that places it SEGMENT_NS later than the one
// before on the simulated clock. An op takes a few RPCs of at most 200 µs
// each, so a segment ends long before the next begins: the ops run strictly
// one after another, in the scenario's order (checked on every run from the
// ops' invoke and return events). Descriptor names are shared between the
// threads (the mount's fd table is one map by name), as in one process.

import { defaultEnv } from "../../src/cli/mounts.js"
import { apply, dialectNamed, dialectStep, initialState, stateEquals, toTree, type DialectName, type ModelState } from "../../src/model/index.js"
import { normalizeResult } from "../../src/model/lincheck/fs.js"
import type { SequentialScenario, SequentialStep } from "../../src/model/arbitraries.js"
import type { Cred, OpResult, RootAttrs, Tree, TreeNode } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import type { Scenario, ThreadSpec } from "../../src/sim/scenario.js"
import { canonical, InoMap, sameResult, threadsByCred, uncomparable } from "./diff.js"
import type { LinuxOracle } from "./oracle.js"

export const MODES = ["fscache", "fscache_writethrough", "remote_revalidating", "none"] as const
export type CacheMode = (typeof MODES)[number]

/** The dialect each cache mode's mount declares (src/impl/gofer/mount.ts). */
export const DIALECT_OF: Readonly<Record<CacheMode, DialectName>> = {
  fscache: "gvisor-gofer",
  fscache_writethrough: "gvisor-gofer",
  remote_revalidating: "gvisor-gofer-shared",
  none: "gvisor-gofer-none",
}

/** Modes whose dentries keep data and metadata per name (DIALECTS.md, known gaps: hard links). */
const CACHE_PER_NAME: ReadonlySet<CacheMode> = new Set(["fscache", "fscache_writethrough"])

/** Simulated time between two credential segments of a gofer scenario. */
const SEGMENT_NS = 10_000_000_000

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

// ---------------------------------------------------------------------------
// The scenario as every side runs it.

function isSlashOnly(target: string): boolean {
  return /^\/+$/.test(target)
}

function mapSlashOnly(t: Tree): Tree {
  const out: Record<string, TreeNode> = {}
  for (const [name, node] of Object.entries(t)) {
    let value: TreeNode = node
    if (!("link" in node)) {
      if (node.type === "dir" && node.children !== undefined) value = { ...node, children: mapSlashOnly(node.children) }
      else if (node.type === "symlink" && isSlashOnly(node.target)) value = { ...node, target: "/." }
    }
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/**
 * The generated scenario as the gofer can run it: symlink targets made only
 * of slashes become "/." (the same directory; gVisor's VFS mishandles a
 * path that goes on past a "/" target, as src/sim/campaign.ts says), and the
 * mount read-write (the gofer mount has no read-only option). Every side,
 * Linux included, runs this form.
 */
export function goferForm(sc: SequentialScenario): { scenario: SequentialScenario; rewritten: number } {
  let rewritten = 0
  const countTree = (t: Tree): void => {
    for (const node of Object.values(t)) {
      if ("link" in node) continue
      if (node.type === "symlink" && isSlashOnly(node.target)) rewritten++
      if (node.type === "dir" && node.children !== undefined) countTree(node.children)
    }
  }
  countTree(sc.tree)
  const steps = sc.steps.map((s) => {
    if (s.op.op !== "symlink" || !isSlashOnly(s.op.target)) return s
    rewritten++
    return { ...s, op: { ...s.op, target: "/." } }
  })
  return { scenario: { tree: rewritten > 0 ? mapSlashOnly(sc.tree) : sc.tree, root: sc.root, readOnly: false, steps }, rewritten }
}

function hasLinkNode(t: Tree): boolean {
  return Object.values(t).some((n) => "link" in n || (n.type === "dir" && n.children !== undefined && hasLinkNode(n.children)))
}

// ---------------------------------------------------------------------------
// The plan: the model's expectations along every chain.

/** One op of a mode's dialect chain. */
export interface DialectExpectation {
  readonly result: OpResult
  readonly alternatives: readonly OpResult[]
  readonly rule: string | null
  /** The last rule before this op whose state departed from Linux's (a mode bit, a descriptor), if any. */
  readonly stateRule: string | null
}

export interface ModePlan {
  readonly expected: readonly DialectExpectation[]
  /** gVisor's state after the last op, every description closed. */
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> }
  /** The scenario makes a second name of a file (the initial tree, or a link that succeeds in this mode). */
  readonly secondName: boolean
}

export interface Plan {
  readonly scenario: SequentialScenario
  /** The ops every side runs. */
  readonly steps: readonly SequentialStep[]
  /** Ops dropped because they would block on some chain (FIFO opens and reads). */
  readonly dropped: number
  /** The model's Linux result for each kept op (the Linux chain). */
  readonly linux: readonly OpResult[]
  readonly linuxFinal: { readonly tree: Tree; readonly root: Required<RootAttrs> }
  readonly modes: Readonly<Record<CacheMode, ModePlan>>
}

function closeAll(state: ModelState): ModelState {
  let s = state
  for (const fd of Object.keys(s.fds).sort()) s = apply(s, { op: "close", fd }, ROOT, 0).state
  return s
}

/** Steps the model along Linux and along each mode's dialect, jointly, dropping ops that block on any chain. */
export function plan(sc: SequentialScenario): Plan {
  const dialects = MODES.map((m) => dialectNamed(DIALECT_OF[m])!)
  // The Linux chain keeps a clock (diff.ts compares which times moved); the
  // dialect chains run at time 0, as the linearizability checker does
  // (lincheck/fs.ts): gofer times are not compared, and an error that
  // follows a symlink then leaves the state as it was, as a rule's errno does.
  let linuxState = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 1)
  const start = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 0)
  const modeStates: ModelState[] = MODES.map(() => start)
  const steps: SequentialStep[] = []
  const linux: OpResult[] = []
  const expected: DialectExpectation[][] = MODES.map(() => [])
  const linked: boolean[] = MODES.map(() => false)
  const stateRule: (string | null)[] = MODES.map(() => null)
  let dropped = 0
  for (let i = 0; i < sc.steps.length; i++) {
    const step = sc.steps[i]!
    const { op, cred } = step
    const now = i + 2
    const l = apply(linuxState, op, cred, now)
    let blocked = uncomparable(linuxState, op, l.result, l.blocks !== undefined) !== undefined
    const outs = MODES.map((_, m) => {
      const before = modeStates[m]!
      const lo = apply(before, op, cred, 0)
      if (uncomparable(before, op, lo.result, lo.blocks !== undefined) !== undefined) blocked = true
      return { before, lo }
    })
    if (blocked) {
      dropped++
      continue
    }
    steps.push(step)
    linux.push(l.result)
    linuxState = l.state
    outs.forEach(({ before, lo }, m) => {
      const d = dialectStep(dialects[m]!, before, op, cred, { state: lo.state, result: lo.result })
      modeStates[m] = d.state
      expected[m]!.push({ result: d.result, alternatives: d.alternatives, rule: d.rule, stateRule: stateRule[m]! })
      if (d.rule !== null && d.state !== lo.state && !stateEquals(d.state, lo.state)) stateRule[m] = d.rule
      if (op.op === "link" && !("errno" in d.result)) linked[m] = true
    })
  }
  const initialLinks = hasLinkNode(sc.tree)
  const modes = Object.fromEntries(
    MODES.map((mode, m) => [mode, { expected: expected[m]!, final: toTree(closeAll(modeStates[m]!)), secondName: initialLinks || linked[m]! }]),
  ) as unknown as Record<CacheMode, ModePlan>
  return { scenario: sc, steps, dropped, linux, linuxFinal: toTree(closeAll(linuxState)), modes }
}

/** Whether a mode leaves this scenario out (DIALECTS.md, known gaps: a cache per name of a hard-linked file). */
export function leftOut(p: Plan, mode: CacheMode): boolean {
  return CACHE_PER_NAME.has(mode) && p.modes[mode].secondName
}

// ---------------------------------------------------------------------------
// Linux: the kept ops on a real tmpfs, against the Linux chain.

export interface LinuxRun {
  readonly results: readonly OpResult[]
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> }
  /** The first op (or the final tree) where real Linux and the model's Linux differ. */
  readonly mismatch?: { readonly index: number | "final"; readonly model: unknown; readonly linux: unknown }
}

export async function runLinux(oracle: LinuxOracle, id: number, p: Plan): Promise<LinuxRun> {
  const sc = p.scenario
  await oracle.begin(id, sc.tree, sc.root, sc.readOnly)
  const inos = new InoMap()
  const results: OpResult[] = []
  let mismatch: LinuxRun["mismatch"]
  for (let i = 0; i < p.steps.length; i++) {
    const { op, cred } = p.steps[i]!
    const r = await oracle.op(op, cred)
    results.push(r)
    if (mismatch === undefined && !sameResult(p.linux[i]!, r, inos)) mismatch = { index: i, model: p.linux[i], linux: r }
  }
  const final = await oracle.end()
  if (mismatch === undefined && canonical(final) !== canonical(p.linuxFinal)) mismatch = { index: "final", model: p.linuxFinal, linux: final }
  return mismatch === undefined ? { results, final } : { results, final, mismatch }
}

// ---------------------------------------------------------------------------
// The gofer: the kept ops through a gofer mount.

/** The kept ops as a gofer scenario: one thread per run of ops with the same credential, placed SEGMENT_NS apart. */
export function goferScenario(p: Plan, mode: CacheMode): { scenario: Scenario; slots: { thread: string; index: number }[] } {
  const { threads, slots } = threadsByCred(p.steps, SEGMENT_NS)
  const scenario: Scenario = {
    format: "fsim.scenario/1",
    name: `gofer-linux-diff (${mode})`,
    mount: { kind: "gofer", options: `cache=${mode}` },
    remote: p.scenario.tree,
    root: p.scenario.root,
    threads: threads as ThreadSpec[],
  }
  return { scenario, slots }
}

const ENV = defaultEnv()

export interface GoferRun {
  readonly report: RunReport
  /** Each kept op's result, in order (null where the op never returned). */
  readonly results: readonly (OpResult | null)[]
  /** Why the run cannot be judged op by op (ops overlapped, out of order), if so. */
  readonly broken?: string
}

export function runGofer(p: Plan, mode: CacheMode, seed: number): GoferRun {
  const { scenario, slots } = goferScenario(p, mode)
  const report = runSubject(scenario, { seed, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders, runLabel: `seed ${seed} ${mode}` })
  const byKey = new Map(report.ops.map((r) => [`${r.thread}#${r.index}`, r]))
  const recs = slots.map((s) => byKey.get(`${s.thread}#${s.index}`))
  let broken: string | undefined
  for (let i = 1; i < recs.length && broken === undefined; i++) {
    const a = recs[i - 1]
    const b = recs[i]
    if (a === undefined || b === undefined) break
    if (a.return === null || a.return > b.invoke) broken = `op #${i} started (event ${b.invoke}) before op #${i - 1} returned (${a.return ?? "never"})`
  }
  const results = recs.map((r) => r?.result ?? null)
  return broken === undefined ? { report, results } : { report, results, broken }
}

// ---------------------------------------------------------------------------
// Judging one mode.

function normal(r: OpResult): string {
  return canonical(normalizeResult(r))
}

/**
 * A departure from Linux that no rule of its own op explains is counted
 * under the last earlier rule that left gVisor's state different from
 * Linux's ("RULE (a later op)"), or under this label where there is none.
 */
export const EARLIER_STATE = "(state of an earlier rule)"

/** Where real Linux already departed from the model's Linux (a model mismatch, reported on its own). */
export const LINUX_OFF_MODEL = "(real Linux departs from the model)"

export interface ModeVerdict {
  readonly ops: number
  /** Ops whose gofer result equals real Linux's (normalized). */
  readonly equalLinux: number
  /** Ops whose gofer result departs from real Linux's, by the dialect rule that allows it. */
  readonly rules: ReadonlyMap<string, number>
  /** The first op (or the final tree, or the run) where the gofer is not what the dialect allows. */
  readonly mismatch?: { readonly index: number | "final" | "run"; readonly gofer: unknown; readonly dialect: unknown; readonly rule?: string | null }
}

export function judge(p: Plan, mode: CacheMode, linux: LinuxRun, g: GoferRun): ModeVerdict {
  const mp = p.modes[mode]
  const rules = new Map<string, number>()
  let equalLinux = 0
  let ops = 0
  const verdictProblem = (): ModeVerdict["mismatch"] | undefined => {
    if (g.broken !== undefined) return { index: "run", gofer: g.broken, dialect: "ops one after another" }
    if (g.report.verdict !== "pass" || g.report.final === null) {
      return { index: "run", gofer: { verdict: g.report.verdict, end: g.report.end, violations: g.report.violations.map((v) => `${v.check}: ${v.message}`) }, dialect: "pass" }
    }
    return undefined
  }
  for (let i = 0; i < p.steps.length; i++) {
    const got = g.results[i]
    const exp = mp.expected[i]!
    if (got === null || got === undefined) return { ops, equalLinux, rules, mismatch: verdictProblem() ?? { index: i, gofer: null, dialect: exp.result } }
    const n = normal(got)
    if (n !== normal(exp.result) && !exp.alternatives.some((a) => normal(a) === n)) {
      return { ops, equalLinux, rules, mismatch: { index: i, gofer: got, dialect: exp.alternatives.length > 0 ? [exp.result, ...exp.alternatives] : exp.result, rule: exp.rule } }
    }
    ops++
    if (n === normal(linux.results[i]!)) equalLinux++
    else {
      const linuxOff = linux.mismatch !== undefined && linux.mismatch.index !== "final" && i >= linux.mismatch.index
      const name = exp.rule ?? (linuxOff ? LINUX_OFF_MODEL : exp.stateRule !== null ? `${exp.stateRule} (a later op)` : EARLIER_STATE)
      rules.set(name, (rules.get(name) ?? 0) + 1)
    }
  }
  const problem = verdictProblem()
  if (problem !== undefined) return { ops, equalLinux, rules, mismatch: problem }
  const final = g.report.final!
  if (canonical(final) !== canonical(mp.final)) return { ops, equalLinux, rules, mismatch: { index: "final", gofer: final, dialect: mp.final } }
  return { ops, equalLinux, rules }
}
