// Shrinking a failing run to the smallest reproduction that still fails the
// same check: fewer threads, fewer ops, simpler arguments and trees (by
// fast-check's shrinking, over the arbitrary that generated the scenario
// when it is known, then over structural reductions of the scenario itself),
// then fewer context switches in the schedule (delta debugging over the
// run's switches, Zeller and Hildebrandt's ddmin).
//
// A shrunk scenario needs a schedule that makes it fail. Each candidate is
// tried under the best failing run's switches (decisions by meaning, so they
// still apply after an op or a thread is removed), then under a few seeds of
// the original strategy and of the random one. Everything is counted in
// runs, never in time, so a shrink is a function of its input.

import fc from "fast-check"
import { InputError } from "../model/schema.js"
import type { Op, Tree, TreeNode } from "../model/types.js"
import type { CheckName } from "./events.js"
import type { LockOrderSpec } from "./lockorder.js"
import { LockGraph } from "./lockorder.js"
import type { MountRegistry } from "./mount.js"
import { runSubject, type RunReport, type RunStrategy } from "./run.js"
import { canonicalSubject, decodeScenario, type Layer, type Scenario, type ThreadSpec } from "./scenario.js"
import { parseStrategy, switchesOf, SwitchStrategy, type StrategySpec, type Switch } from "./strategy.js"

export interface ShrinkOptions {
  readonly mounts: MountRegistry
  readonly lockOrders: readonly LockOrderSpec[]
  /** The arbitrary the scenario came from and the fast-check seed that generated it, when known (campaign failures). */
  readonly origin?: { readonly arb: fc.Arbitrary<Scenario>; readonly seed: number }
  /** Most runs the whole shrink may use (default 4,000). */
  readonly budgetRuns?: number
  /** Seeds tried per strategy for a candidate scenario (default 3). */
  readonly seedsPerCandidate?: number
  /** Asked between runs; true stops the shrink with the best result so far (Ctrl-C). */
  readonly shouldStop?: () => boolean
  /**
   * Awaited between candidates, so a caller can let its event loop run (a
   * Ctrl-C handler, say) during a long shrink. The shrink itself reads no
   * clock and sets no timer.
   */
  readonly pause?: () => Promise<void>
  /**
   * What a reproduction must show besides a violation of the check: a
   * campaign shrinking a failure no documented finding explains keeps it
   * unexplained (campaign.ts, failsNew), so it never shrinks into a known one.
   */
  readonly keep?: (r: RunReport) => boolean
  /** Told each time a smaller failing scenario or schedule is found. */
  readonly onProgress?: (p: ShrinkProgress) => void
}

export interface ShrinkProgress {
  readonly phase: "scenario" | "schedule"
  readonly size: Size
  readonly runsUsed: number
}

/** How big a failing run is. */
export interface Size {
  readonly threads: number
  /** Ops of every thread, client and external. */
  readonly ops: number
  readonly steps: number
  /** Context switches away from a thread that could have gone on. */
  readonly preemptions: number
}

export interface ShrinkResult {
  /** The smallest failing run found: its trace is the reproduction. */
  readonly report: RunReport
  readonly before: Size
  readonly after: Size
  readonly runsUsed: number
  /** The budget ran out or shouldStop said so, before the shrink was done. */
  readonly cut: boolean
}

/** A failing run to shrink: the scenario, the run's seed, its decisions (as events), the strategy it was run with. */
export interface Failing {
  readonly scenario: Scenario
  readonly seed: number
  /** The failing run's events (its decisions are taken from them). */
  readonly events: readonly { readonly kind: string }[]
  /** The strategy as recorded ("pct:3:27", "random", "shrunk(...)"): shrinking tries more seeds of it. */
  readonly strategy: string
}

export function opsOf(s: Scenario): number {
  return [...s.threads, ...(s.external ?? [])].reduce((n, t) => n + t.ops.length, 0)
}

export function threadsOf(s: Scenario): number {
  return s.threads.length + (s.external ?? []).length
}

interface Best {
  scenario: Scenario
  seed: number
  switches: Switch[]
  report: RunReport
}

class BudgetSpent extends Error {}

/** Shrinks a run that failed `check`; throws InputError if the given run does not fail it. */
export async function shrinkFailure(failing: Failing, check: CheckName, o: ShrinkOptions): Promise<ShrinkResult> {
  const pause = o.pause ?? (async (): Promise<void> => {})
  const budget = o.budgetRuns ?? 4_000
  const seedsPer = o.seedsPerCandidate ?? 3
  let runs = 0
  let cut = false
  const spec = specOf(failing.strategy)

  const run = (s: Scenario, seed: number, strategy: RunStrategy): RunReport | null => {
    if (runs >= budget || (o.shouldStop?.() ?? false)) {
      cut = true
      throw new BudgetSpent()
    }
    runs++
    try {
      return runSubject(s, { seed, strategy, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: new LockGraph() })
    } catch (e) {
      // A reduction can make a scenario invalid (a hard link to a removed
      // file): it does not fail the check, it is simply not a reproduction.
      if (e instanceof InputError) return null
      throw e
    }
  }
  const failsCheck = (r: RunReport | null): r is RunReport => r !== null && r.verdict === "fail" && r.violations.some((v) => v.check === check) && (o.keep?.(r) ?? true)
  const label = failing.strategy.startsWith("shrunk(") ? failing.strategy : `shrunk(${failing.strategy})`
  const withSwitches = (s: Scenario, seed: number, sw: readonly Switch[]): { report: RunReport | null; strategy: SwitchStrategy } => {
    const strategy = new SwitchStrategy(sw, label)
    return { report: run(s, seed, { kind: "custom", strategy }), strategy }
  }

  // The original run, followed by its own switches (the same schedule).
  const switches0 = switchesOf(failing.events)
  const strategy0 = new SwitchStrategy(switches0, label)
  const first = { report: runSubject(failing.scenario, { seed: failing.seed, strategy: { kind: "custom", strategy: strategy0 }, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: new LockGraph() }), strategy: strategy0 }
  runs++
  if (!failsCheck(first.report)) {
    throw new InputError(`the run does not fail ${check} when its schedule is followed again (verdict ${(first.report as RunReport | null)?.verdict ?? "invalid scenario"})`)
  }
  const before = sizeOf(failing.scenario, first.report, first.strategy.preemptions)
  let best: Best = { scenario: failing.scenario, seed: failing.seed, switches: switchesOf(first.report.events), report: first.report }

  /** A failing run of `s`, or null: under the best run's switches, then seeds of the strategies. */
  const tryScenario = async (s: Scenario): Promise<Best | null> => {
    await pause()
    try {
      decodeScenario(s)
    } catch (e) {
      if (e instanceof InputError) return null
      throw e
    }
    const a = withSwitches(s, best.seed, best.switches).report
    if (failsCheck(a)) return { scenario: s, seed: best.seed, switches: switchesOf(a.events), report: a }
    const specs: StrategySpec[] = spec.kind === "random" ? [spec] : [spec, { kind: "random" }]
    for (const sp of specs) {
      for (let j = 0; j < seedsPer; j++) {
        const seed = (failing.seed + j) >>> 0
        const r = run(s, seed, sp)
        if (failsCheck(r)) return { scenario: s, seed, switches: switchesOf(r.events), report: r }
      }
    }
    return null
  }
  const progress = (phase: ShrinkProgress["phase"], preemptions: number): void =>
    o.onProgress?.({ phase, size: sizeOf(best.scenario, best.report, preemptions), runsUsed: runs })

  // Phase 1: fast-check, over the generating arbitrary (it simplifies
  // arguments the way they were drawn), then over structural reductions.
  let thrown: unknown = null
  const predicate = (expectFirst: Scenario | null) => {
    let firstCall = expectFirst !== null
    return async (s: Scenario): Promise<boolean> => {
      if (firstCall) {
        firstCall = false
        // The first value must be the failing scenario itself (compared in
        // the contract's form, as the run recorded it); if the arbitrary does
        // not regenerate it, this pass is skipped.
        return JSON.stringify(canonicalSubject(s)) !== JSON.stringify(canonicalSubject(expectFirst!))
      }
      if (cut || thrown !== null) return true
      try {
        const found = await tryScenario(s)
        if (found === null) return true
        best = found
        progress("scenario", -1)
        return false
      } catch (e) {
        // fast-check would take a throw for a failure and shrink toward it.
        if (!(e instanceof BudgetSpent)) thrown = e
        return true
      }
    }
  }
  if (o.origin !== undefined) {
    await fc.check(fc.asyncProperty(o.origin.arb, predicate(failing.scenario)), { seed: o.origin.seed, numRuns: 1 })
  }
  if (!cut && thrown === null) await fc.check(fc.asyncProperty(new ReductionArbitrary(best.scenario), predicate(null)), { seed: 0, numRuns: 1 })
  if (thrown !== null) throw thrown

  // Phase 2: fewer switches in the schedule (ddmin over the switch list).
  let switches = best.switches
  if (!cut) {
    try {
      switches = await ddmin(switches, async (subset) => {
        await pause()
        return failsCheck(withSwitches(best.scenario, best.seed, subset).report)
      })
    } catch (e) {
      if (!(e instanceof BudgetSpent)) throw e
    }
  }
  // The reproduction: one more run under the switches kept (outside the budget).
  const strategy = new SwitchStrategy(switches, label)
  const last = runSubject(best.scenario, { seed: best.seed, strategy: { kind: "custom", strategy }, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: new LockGraph() })
  if (!failsCheck(last)) throw new Error(`shrink: the shrunk schedule no longer fails ${check} (a run is not a function of its inputs)`)
  best = { ...best, switches, report: last }
  progress("schedule", strategy.preemptions)
  return { report: last, before, after: sizeOf(best.scenario, last, strategy.preemptions), runsUsed: runs, cut }
}

function sizeOf(s: Scenario, r: RunReport, preemptions: number): Size {
  return { threads: threadsOf(s), ops: opsOf(s), steps: r.steps, preemptions }
}

/** The strategy a recorded name stands for ("pct:3:27", "shrunk(pct:3:27)" -> pct:3, re-estimated); anything else is random. */
function specOf(recorded: string): StrategySpec {
  const m = /(?:^|\()pct:(\d+)/.exec(recorded)
  if (m !== null) return parseStrategy(`pct:${m[1]}`)
  return { kind: "random" }
}

/**
 * Zeller and Hildebrandt's ddmin ("Simplifying and Isolating
 * Failure-Inducing Input", TSE 2002): a 1-minimal sublist of `items` for
 * which `fails` holds, given that it holds for `items`.
 */
export async function ddmin<T>(items: readonly T[], fails: (subset: readonly T[]) => boolean | Promise<boolean>): Promise<T[]> {
  let c = [...items]
  if (c.length > 0 && (await fails([]))) return []
  let n = 2
  while (c.length >= 2) {
    const chunk = Math.ceil(c.length / n)
    const parts: T[][] = []
    for (let i = 0; i < c.length; i += chunk) parts.push(c.slice(i, i + chunk))
    let reduced = false
    for (const p of parts) {
      if (await fails(p)) {
        c = p
        n = 2
        reduced = true
        break
      }
    }
    if (!reduced) {
      for (let i = 0; i < parts.length; i++) {
        const complement = parts.flatMap((p, j) => (j === i ? [] : p))
        if (await fails(complement)) {
          c = complement
          n = Math.max(n - 1, 2)
          reduced = true
          break
        }
      }
    }
    if (!reduced) {
      if (n >= c.length) break
      n = Math.min(c.length, 2 * n)
    }
  }
  return c
}

// ---------------------------------------------------------------------------
// Structural reductions, as a fast-check arbitrary that generates one
// scenario and shrinks by removing threads, ops, faults and tree nodes and by
// simplifying arguments. Works for any scenario, generated or hand-written.

class ReductionArbitrary extends fc.Arbitrary<Scenario> {
  constructor(private readonly scenario: Scenario) {
    super()
  }
  generate(): fc.Value<Scenario> {
    return new fc.Value(this.scenario, undefined)
  }
  canShrinkWithoutContext(value: unknown): value is Scenario {
    return typeof value === "object" && value !== null && (value as { format?: unknown }).format === "fsim.scenario/1"
  }
  shrink(value: Scenario): fc.Stream<fc.Value<Scenario>> {
    return new fc.Stream(reductions(value)).map((s) => new fc.Value(s, undefined))
  }
}

/**
 * Smaller scenarios than `s`, biggest cuts first. Each keeps the blocking
 * opens (no O_NONBLOCK) of `s` as they are, with their threads'
 * credentials: without one, or with one that fails, the other end of a
 * FIFO pair may wait forever, a failure of the scenario's making.
 */
export function* reductions(s: Scenario): IterableIterator<Scenario> {
  const kept = blockingOpens(s)
  for (const r of allReductions(s)) if (blockingOpens(r) === kept) yield r
}

/** The blocking opens of a scenario's threads (thread, credentials, path, access mode), as one string. */
function blockingOpens(s: Scenario): string {
  const out: string[] = []
  for (const t of [...s.threads, ...(s.external ?? [])]) {
    for (const o of t.ops) {
      if (o.op !== "open" || o.flags.includes("O_NONBLOCK")) continue
      const acc = o.flags.filter((f) => f === "O_RDONLY" || f === "O_WRONLY" || f === "O_RDWR").join("|")
      out.push(`${t.name} ${JSON.stringify(t.cred ?? null)} ${o.path} ${acc}`)
    }
  }
  return out.sort().join("\n")
}

function* allReductions(s: Scenario): IterableIterator<Scenario> {
  const threads = s.threads
  const external = s.external ?? []
  // Whole threads.
  if (threads.length > 1) for (let i = 0; i < threads.length; i++) yield { ...s, threads: without(threads, i) }
  if (external.length > 0) {
    yield withExternal(s, [])
    for (let i = 0; i < external.length; i++) yield withExternal(s, without(external, i))
  }
  if ((s.faults ?? []).length > 0) {
    yield withoutKey(s, "faults")
    for (let i = 0; i < s.faults!.length; i++) yield { ...s, faults: without(s.faults!, i) }
  }
  // Ops: the second half of a thread's list, then each op.
  for (const [list, set] of threadLists(s)) {
    for (let t = 0; t < list.length; t++) {
      const ops = list[t]!.ops
      if (ops.length >= 4) yield set(t, { ...list[t]!, ops: ops.slice(0, Math.ceil(ops.length / 2)) })
      for (let i = 0; i < ops.length; i++) if (ops.length > 1) yield set(t, { ...list[t]!, ops: without(ops, i) })
    }
  }
  // The tree.
  const remote = s.remote ?? {}
  if (Object.keys(remote).length > 0) {
    yield withoutKey(s, "remote")
    for (const t of treeReductions(remote)) yield { ...s, remote: t }
  }
  // An overlay's tmpfs layers: a whole lower layer, then each layer's tree.
  if (s.mount.kind === "overlay") yield* overlayLayerReductions(s, s.mount)
  if (s.root !== undefined) yield withoutKey(s, "root")
  // Credentials, then arguments.
  for (const [list, set] of threadLists(s)) {
    for (let t = 0; t < list.length; t++) {
      const th = list[t]!
      if (th.cred !== undefined) yield set(t, withoutKey(th, "cred"))
      for (let i = 0; i < th.ops.length; i++) {
        for (const op of opReductions(th.ops[i]!)) yield set(t, { ...th, ops: th.ops.map((o, j) => (j === i ? op : o)) })
      }
    }
  }
}

type OverlayMount = Extract<Scenario["mount"], { readonly kind: "overlay" }>

/** Overlays with a lower tmpfs layer fewer, or a tmpfs layer's tree smaller (a gofer layer's tree is `remote`, reduced above). */
function* overlayLayerReductions(s: Scenario, m: OverlayMount): IterableIterator<Scenario> {
  const withMount = (mount: OverlayMount): Scenario => ({ ...s, mount })
  for (let i = 0; i < m.lower.length; i++) {
    if (m.lower.length > 1 && m.lower[i]!.kind === "tmpfs") yield withMount({ ...m, lower: without(m.lower, i) })
  }
  const trees = (l: Layer | undefined): Tree | null => (l?.kind === "tmpfs" && l.tree !== undefined && Object.keys(l.tree).length > 0 ? l.tree : null)
  const upper = trees(m.upper)
  if (upper !== null) {
    yield withMount({ ...m, upper: { kind: "tmpfs" } })
    for (const t of treeReductions(upper)) yield withMount({ ...m, upper: { kind: "tmpfs", tree: t } })
  }
  for (let i = 0; i < m.lower.length; i++) {
    const tree = trees(m.lower[i])
    if (tree === null) continue
    const at = (l: Layer): OverlayMount => ({ ...m, lower: m.lower.map((x, j) => (j === i ? l : x)) })
    yield withMount(at({ kind: "tmpfs" }))
    for (const t of treeReductions(tree)) yield withMount(at({ kind: "tmpfs", tree: t }))
  }
}

type Setter = (t: number, spec: ThreadSpec) => Scenario

function threadLists(s: Scenario): [readonly ThreadSpec[], Setter][] {
  const out: [readonly ThreadSpec[], Setter][] = [[s.threads, (t, spec) => ({ ...s, threads: s.threads.map((x, i) => (i === t ? spec : x)) })]]
  const ext = s.external ?? []
  if (ext.length > 0) out.push([ext, (t, spec) => ({ ...s, external: ext.map((x, i) => (i === t ? spec : x)) })])
  return out
}

function withExternal(s: Scenario, external: readonly ThreadSpec[]): Scenario {
  return external.length === 0 ? withoutKey(s, "external") : { ...s, external }
}

function without<T>(a: readonly T[], i: number): T[] {
  return [...a.slice(0, i), ...a.slice(i + 1)]
}

function withoutKey<T extends object, K extends keyof T>(o: T, k: K): T {
  const out = { ...o }
  delete out[k]
  return out
}

/** Trees with one node removed, or one node simplified (attributes, data, xattrs). */
function* treeReductions(t: Tree): IterableIterator<Tree> {
  const names = Object.keys(t)
  for (const n of names) {
    const rest: Record<string, TreeNode> = { ...t }
    delete rest[n]
    yield rest
  }
  for (const n of names) {
    for (const node of nodeReductions(t[n]!)) yield { ...t, [n]: node }
  }
}

function* nodeReductions(node: TreeNode): IterableIterator<TreeNode> {
  if ("link" in node) return
  if (node.type === "dir" && node.children !== undefined) {
    if (Object.keys(node.children).length > 0) yield { ...node, children: {} }
    for (const c of treeReductions(node.children)) yield { ...node, children: c }
  }
  if (node.type === "file") {
    if (node.xattrs !== undefined) yield withoutKey(node, "xattrs")
    if (node.data !== undefined && node.data !== "") yield { ...node, data: "" }
    if (node.data !== undefined && node.data.length > 1) yield { ...node, data: node.data.slice(0, 1) }
  }
  for (const k of ["mode", "uid", "gid"] as const) {
    if (k in node && (node as Record<string, unknown>)[k] !== undefined) yield withoutKey(node as TreeNode & Record<typeof k, number>, k)
  }
}

/** Plainer paths: no doubled or trailing slash, fewer components, relative. */
function pathReductions(p: string): string[] {
  const out = new Set<string>()
  const plain = p.replace(/\/+/g, "/").replace(/(.)\/$/, "$1")
  out.add(plain)
  const parts = plain.split("/")
  if (parts.length > 1 && !(parts.length === 2 && parts[0] === "")) out.add(parts.slice(0, -1).join("/"))
  if (plain.startsWith("/") && plain.length > 1) out.add(plain.slice(1))
  out.delete(p)
  return [...out]
}

const OPTIONAL_MODE = new Set(["open", "mkdir", "mknod"])

/** Simpler versions of one op: fewer flags, shorter data, smaller numbers, plainer paths. */
function* opReductions(op: Op): IterableIterator<Op> {
  const o = op as unknown as Record<string, unknown>
  const as = (x: Record<string, unknown>): Op => x as unknown as Op
  for (const k of Object.keys(o)) {
    const v = o[k]
    if (Array.isArray(v)) {
      if (k === "mode") {
        // access(2) bits: fewer, down to F_OK.
        if (v.length > 1) for (let i = 0; i < v.length; i++) yield as({ ...o, [k]: without(v, i) })
        else yield as({ ...o, [k]: "F_OK" })
        continue
      }
      // Flag lists: drop one flag at a time (an open keeps O_NONBLOCK: without
      // it a FIFO open may wait for a peer, a different failure).
      for (let i = 0; i < v.length; i++) {
        if (v[i] === "O_NONBLOCK") continue
        const rest = without(v as unknown[], i)
        yield as(rest.length === 0 && k !== "flags" ? withoutKey(o, k) : rest.length === 0 && op.op !== "open" ? withoutKey(o, k) : { ...o, [k]: rest })
      }
    } else if (typeof v === "string") {
      if (k === "path" || k === "from" || k === "to" || k === "target") {
        for (const p of pathReductions(v)) yield as({ ...o, [k]: p })
      } else if ((k === "data" || k === "value") && v.length > 0) {
        yield as({ ...o, [k]: "" })
        if (v.length > 1) yield as({ ...o, [k]: v.slice(0, 1) })
      }
    } else if (typeof v === "number") {
      if (k === "mode") {
        if (OPTIONAL_MODE.has(op.op)) yield as(withoutKey(o, k))
        else if (v !== 0o644) yield as({ ...o, [k]: 0o644 })
      } else if (k === "count") {
        if (v > 1) yield as({ ...o, [k]: 1 })
      } else if (v !== 0) yield as({ ...o, [k]: 0 })
    }
  }
}
