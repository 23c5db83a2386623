// The overlay differential: layered sequential scenarios run on a real
// Linux overlayfs (oracle.py, begin_overlay) and on the reference model
// over the merged tree, in the linux-overlayfs dialect
// (src/model/overlayfs.ts, DIALECTS.md).
//
// A scenario is layers (an optional upper tree and one to three lower
// trees, top first, with whiteouts and opaque directories), the root's
// attributes, and ops with their credentials. The model starts from the
// merged tree (`mergeLayers`) and steps each op as tmpfs would, then as the
// dialect says overlayfs departs; real Linux must give the dialect's result
// (or one of the alternatives it allows) for every op, the dialect's final
// tree, and must leave the lower layers as they were.
//
// Layers are generated bottom up, each an edit of what the layers under it
// show (names left to them, whited out, directories continued, sometimes
// opaque, names replaced or added), so that directories merge and
// whiteouts hide something; the ops mix the model's own arbitrary
// (arbitraries.ts) with ops on the merged tree's paths: renames of
// directories, writes that copy up, creation in lower directories,
// listings, stats, descriptions kept across a copy-up or a removal.
//
// Comparison, as diff.ts does for tmpfs (the contract's section 1.2): inode
// numbers as a consistent bijection within a scenario, times only as
// "where Linux moved mtime or ctime since the last stat of an inode, so did
// the model", directory sizes never, statfs only namelen. One more
// normalization, counted as the rule `overlayfs.copy-up.ctime`: an object
// with a lower part (from a lower layer, or a merged directory) may show a
// ctime the model did not move. Copy-up is the cause (copy_up.c: the upper
// copy gets the lower file's atime and mtime, ovl_set_timestamps, but its
// ctime is its own, the copy-up's; and linking the copy into its upper
// parent moves the parent's ctime, whose mtime is then restored). Copy-up
// happens whether or not the op that causes it changes the object in the
// model: opening for writing, creating in a directory, chmod of a child.
// And `overlayfs.rmdir.replaced-times`: a removed directory with a lower
// part, seen through a description opened before, may show new mtime and
// ctime: removing a directory that has an upper part and a lower one first
// swaps the upper directory for a fresh opaque copy without its whiteouts
// (dir.c: ovl_remove_and_whiteout, ovl_check_empty_and_clear,
// ovl_clear_empty, which copies mode and owner but not times).
//
// The mount's options (oracle.py OVERLAY_OPTIONS): redirect_dir=off,
// index=off, xino=off, metacopy=off, all layers on one fresh tmpfs. They are
// overlayfs as gVisor's overlay is (the seed overlay.go: no redirects, no
// index, inode numbers its own, data copied up whole), so the fsim port can
// be held to the same rules.
//
// What generated layers leave out (DIALECTS.md, linux-overlayfs, known
// gaps): hard links in lower layers (copy-up breaks them: index=off), and
// whiteouts in a directory that merges with no lower one (readdir lists
// them). `lowerLinks` puts the former back, to show the divergence.

import { apply, dialectStep, initialState, mergeLayers, overlayfsDialect, stateEquals, toTree, type ModelState, type OverlayDialect } from "../../src/model/index.js"
import { normalizeResult } from "../../src/model/lincheck/fs.js"
import type { SequentialStep } from "../../src/model/arbitraries.js"
import type { Cred, OpResult, RootAttrs, Stat, Tree } from "../../src/model/types.js"
import { canonical, InoMap, uncomparable } from "./diff.js"
import type { LayerTrees, LinuxOracle } from "./oracle.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

// Generation: src/model/overlay-arbitraries.ts (the overlay port's campaigns use it too).
import type { OverlayScenario } from "../../src/model/overlay-arbitraries.js"
export { arbOverlayScenario, type OverlayScenario, type OverlayScenarioOptions } from "../../src/model/overlay-arbitraries.js"

// ---------------------------------------------------------------------------
// The plan: the model's expectations in the linux-overlayfs dialect.

export interface Expectation {
  readonly result: OpResult
  readonly alternatives: readonly OpResult[]
  /** The dialect rule that applied, or null where the result is tmpfs's. */
  readonly rule: string | null
  /** tmpfs's result for the op on the same state. */
  readonly tmpfs: OpResult
  /** The last rule before this op that left a state other than tmpfs's (an EXDEV where tmpfs renames), if any. */
  readonly stateRule: string | null
}

export interface OverlayPlan {
  readonly scenario: OverlayScenario
  readonly merged: Tree
  readonly readOnly: boolean
  readonly dialect: OverlayDialect
  /** The ops every side runs (those that would block on a FIFO dropped). */
  readonly steps: readonly SequentialStep[]
  readonly dropped: number
  /** Ops left out by the plan's `avoid`, by reason (`plans`). */
  readonly avoided?: ReadonlyMap<string, number>
  readonly expected: readonly Expectation[]
  /** The dialect's state after the last op, every description closed. */
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> }
}

function closeAll(state: ModelState): ModelState {
  let s = state
  for (const fd of Object.keys(s.fds).sort()) s = apply(s, { op: "close", fd }, ROOT, 0).state
  return s
}

/** Steps the model over the merged tree, each op as tmpfs does it and then as the dialect says overlayfs does. */
export function plan(sc: OverlayScenario, dialect: OverlayDialect = overlayfsDialect(sc.layers)): OverlayPlan {
  return plans(sc, [dialect])[0]!
}

/**
 * One plan per dialect, over the same ops: an op that would block on a FIFO
 * along any dialect's chain is dropped from all of them, so every side runs
 * the same ops and their results compare op by op.
 */
export function plans(sc: OverlayScenario, dialects: readonly OverlayDialect[], avoid?: AvoidOp): OverlayPlan[] {
  const merged = mergeLayers(sc.layers)
  const readOnly = sc.layers.upper === null
  // A clock stepping per op, as diff.ts: which times moved is compared.
  const states: ModelState[] = dialects.map(() => initialState(merged, sc.root, { readOnly }, 1))
  const steps: SequentialStep[] = []
  const expected: Expectation[][] = dialects.map(() => [])
  const stateRule: (string | null)[] = dialects.map(() => null)
  let dropped = 0
  const avoided = new Map<string, number>()
  for (let i = 0; i < sc.steps.length; i++) {
    const step = sc.steps[i]!
    const outs = states.map((state) => ({ state, out: apply(state, step.op, step.cred, i + 2) }))
    if (outs.some(({ state, out }) => uncomparable(state, step.op, out.result, out.blocks !== undefined) !== undefined)) {
      dropped++
      continue
    }
    const why = avoid === undefined ? undefined : states.map((state, k) => avoid(state, step, dialects[k]!)).find((r) => r !== undefined)
    if (why !== undefined) {
      avoided.set(why, (avoided.get(why) ?? 0) + 1)
      continue
    }
    steps.push(step)
    outs.forEach(({ state, out }, k) => {
      const d = dialectStep(dialects[k]!, state, step.op, step.cred, { state: out.state, result: out.result })
      expected[k]!.push({ result: d.result, alternatives: d.alternatives, rule: d.rule, tmpfs: out.result, stateRule: stateRule[k]! })
      if (d.rule !== null && d.state !== out.state && !stateEquals(d.state, out.state)) stateRule[k] = d.rule
      states[k] = d.state
    })
  }
  return dialects.map((dialect, k) => ({ scenario: sc, merged, readOnly, dialect, steps, dropped, avoided, expected: expected[k]!, final: toTree(closeAll(states[k]!)) }))
}

/**
 * An op that a plan leaves out on the state before it (each dialect's), with
 * the reason: the behaviours of a side that no dialect rule can say per op
 * (test/overlay/harness.ts avoidForGvisor).
 */
export type AvoidOp = (state: ModelState, step: SequentialStep, dialect: OverlayDialect) => string | undefined

// ---------------------------------------------------------------------------
// A side: a filesystem the plan's ops ran on.

export interface SideRun {
  /** Each kept op's result, in order (null where the op never returned). */
  readonly results: readonly (OpResult | null)[]
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> } | null
  /** Why the run cannot be judged op by op, if so. */
  readonly broken?: string
  /** Lower layers as read back before and after the run, where the side can read them. */
  readonly lowerBefore?: readonly Tree[]
  readonly lowerAfter?: readonly Tree[]
}

/** Real Linux overlayfs, through oracle.py. */
export async function runLinux(oracle: LinuxOracle, id: number, p: OverlayPlan): Promise<SideRun> {
  const sc = p.scenario
  const before: LayerTrees = await oracle.beginOverlay(id, sc.layers.upper, sc.layers.lower, sc.root)
  const results: OpResult[] = []
  for (const { op, cred } of p.steps) results.push(await oracle.op(op, cred))
  const end = await oracle.end()
  return { results, final: { tree: end.tree, root: end.root }, lowerBefore: before.lower, lowerAfter: end.layers?.lower ?? [] }
}

// ---------------------------------------------------------------------------
// Judging a side against the plan.

/** The normalizations of times (see the file comment). */
export const COPY_UP_CTIME = "overlayfs.copy-up.ctime"
export const RMDIR_REPLACED_TIMES = "overlayfs.rmdir.replaced-times"

export interface Verdict {
  readonly ops: number
  /** Ops whose result is tmpfs's (no rule applied). */
  readonly asTmpfs: number
  /** Ops (and time normalizations) by the rule that explains them. */
  readonly rules: ReadonlyMap<string, number>
  /** The first op (or the final tree, the lower layers, the run) where the side is not what the dialect allows. */
  readonly mismatch?: { readonly index: number | "final" | "lower" | "run"; readonly got: unknown; readonly expected: unknown; readonly rule?: string | null; readonly why?: string }
}

function isStat(r: OpResult): r is Stat {
  return "nlink" in r && "ino" in r
}

/**
 * Times as diff.ts's InoMap compares them, but a ctime Linux moved where the
 * model did not is allowed (COPY_UP_CTIME) on an object with a lower part:
 * copy-up gave it or one of its children a new upper copy.
 */
class Times {
  private readonly last = new Map<number, { mm: number; mc: number; lm: unknown; lc: unknown }>()
  constructor(
    private readonly dialect: OverlayDialect,
    private readonly readOnly: boolean,
  ) {}

  /** null when consistent; the rule that explains a difference; else the time that differs. */
  check(m: Stat, l: Stat, removed: boolean): string | null {
    const prev = this.last.get(m.ino)
    this.last.set(m.ino, { mm: m.mtime, mc: m.ctime, lm: l.mtime, lc: l.ctime })
    if (prev === undefined) return null
    const mtime = m.mtime === prev.mm && l.mtime !== prev.lm
    const ctime = m.ctime === prev.mc && l.ctime !== prev.lc
    if (!mtime && !ctime) return null
    const o = this.dialect.origin(m.ino)
    const lowerPart = (o === "lower" || o === "merged") && !this.readOnly
    if (lowerPart && m.type === "dir" && removed) return RMDIR_REPLACED_TIMES
    if (mtime) return "mtime"
    return lowerPart ? COPY_UP_CTIME : "ctime"
  }
}

export function judge(p: OverlayPlan, run: SideRun): Verdict {
  const rules = new Map<string, number>()
  const count = (r: string): void => void rules.set(r, (rules.get(r) ?? 0) + 1)
  const inos = new InoMap()
  const times = new Times(p.dialect, p.readOnly)
  let asTmpfs = 0
  let ops = 0
  const n = (r: OpResult): string => canonical(normalizeResult(r))
  for (let i = 0; i < p.steps.length; i++) {
    const got = run.results[i]
    const exp = p.expected[i]!
    const done = { ops, asTmpfs, rules }
    if (got === null || got === undefined) return { ...done, mismatch: { index: run.broken !== undefined ? "run" : i, got: run.broken ?? null, expected: exp.result } }
    const options = [exp.result, ...exp.alternatives]
    const match = options.find((o) => n(o) === n(got))
    if (match === undefined) return { ...done, mismatch: { index: i, got, expected: exp.alternatives.length > 0 ? options : exp.result, rule: exp.rule } }
    if (isStat(match) && isStat(got)) {
      if (!inos.same(match.ino, got.ino)) return { ...done, mismatch: { index: i, got, expected: match, rule: exp.rule, why: "inode numbers are not a bijection" } }
      const t = times.check(match, got, isStat(exp.tmpfs) && exp.tmpfs.nlink === 0)
      if (t === COPY_UP_CTIME || t === RMDIR_REPLACED_TIMES) count(t)
      else if (t !== null) return { ...done, mismatch: { index: i, got, expected: match, rule: exp.rule, why: `${t} moved where the model's did not` } }
    }
    ops++
    if (n(got) === n(exp.tmpfs)) asTmpfs++
    else count(exp.rule ?? "(none)")
  }
  const done = { ops, asTmpfs, rules }
  if (run.broken !== undefined || run.final === null) return { ...done, mismatch: { index: "run", got: run.broken ?? "no final tree", expected: "a run" } }
  if (canonical(run.final) !== canonical(p.final)) return { ...done, mismatch: { index: "final", got: run.final, expected: p.final } }
  if (run.lowerBefore !== undefined && canonical(run.lowerBefore) !== canonical(run.lowerAfter)) {
    return { ...done, mismatch: { index: "lower", got: run.lowerAfter, expected: run.lowerBefore, why: "a lower layer changed" } }
  }
  return done
}

export function describeVerdict(seed: number, side: string, p: OverlayPlan, m: NonNullable<Verdict["mismatch"]>): string {
  const at = typeof m.index === "number" ? `op #${m.index} differs` : m.index === "final" ? "final tree differs" : m.index === "lower" ? "a lower layer changed" : "the run failed"
  const lines = [`seed ${seed}, ${side}: ${at}${m.why !== undefined ? ` (${m.why})` : ""}`]
  if (typeof m.index === "number") {
    const s = p.steps[m.index]!
    lines.push(`  op:       ${JSON.stringify(s.op)} as ${JSON.stringify(s.cred)}`, `  rule:     ${m.rule ?? "(none: tmpfs's)"}`)
  }
  lines.push(`  ${side}: ${canonical(m.got)}`, `  expected: ${canonical(m.expected)}`, `  layers:   ${JSON.stringify(p.scenario.layers)}`, `  root:     ${JSON.stringify(p.scenario.root)}`)
  lines.push(`  steps:    ${JSON.stringify(p.steps)}`)
  return lines.join("\n")
}

// ---------------------------------------------------------------------------
// Two sides against each other (Linux overlayfs and fsim's overlay), each
// already judged against its own plan; the plans come from `plans`, so both
// ran the same ops.

export interface SideComparison {
  readonly ops: number
  /** Ops whose results are equal (normalized as the linearizability checker does). */
  readonly equal: number
  /** Ops whose results differ, by the rule of either plan that explains it. */
  readonly rules: ReadonlyMap<string, number>
  /** Whether the final trees differ; `finalExplained` when the plans' final trees differ as much. */
  readonly finalDiffers: boolean
  readonly finalExplained: boolean
  /** Each op whose results differ: its index, side a's and side b's results, and the rule named for it. */
  readonly differing: readonly { readonly index: number; readonly a: OpResult; readonly b: OpResult; readonly rule: string }[]
}

/**
 * Results of side `ra` (planned by `a`) against side `rb` (planned by `b`):
 * where they differ, the rule either plan applied to the op, or else the
 * last rule of either that left a state other than tmpfs's before it.
 */
export function compareSides(a: OverlayPlan, ra: SideRun, b: OverlayPlan, rb: SideRun): SideComparison {
  if (a.steps !== b.steps) throw new Error("compareSides: the plans must come from one plans() call")
  const n = (r: OpResult): string => canonical(normalizeResult(r))
  const rules = new Map<string, number>()
  const differing: { index: number; a: OpResult; b: OpResult; rule: string }[] = []
  let ops = 0
  let equal = 0
  for (let i = 0; i < a.steps.length; i++) {
    const x = ra.results[i]
    const y = rb.results[i]
    if (x === null || x === undefined || y === null || y === undefined) continue
    ops++
    if (n(x) === n(y)) {
      equal++
      continue
    }
    const ea = a.expected[i]!
    const eb = b.expected[i]!
    const here = [ea.rule, eb.rule].filter((r): r is string => r !== null)
    const before = [ea.stateRule, eb.stateRule].filter((r): r is string => r !== null)
    const name = here.length > 0 ? here.join(" / ") : before.length > 0 ? `${before.join(" / ")} (a later op)` : "(no rule: a side departs from its dialect)"
    rules.set(name, (rules.get(name) ?? 0) + 1)
    differing.push({ index: i, a: x, b: y, rule: name })
  }
  const finalDiffers = canonical(ra.final) !== canonical(rb.final)
  return { ops, equal, rules, finalDiffers, finalExplained: finalDiffers && canonical(a.final) !== canonical(b.final), differing }
}
