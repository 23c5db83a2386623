// Running layered sequential scenarios (test/linux/overlay.ts's
// OverlayScenario) through the overlay port, for the differential against
// the model on the merged tree (diff.test.ts) and the Linux oracle's.

import { defaultEnv } from "../../src/cli/mounts.js"
import { unknownViolations } from "../../src/impl/overlay/findings.js"
import { gvisorOverlayDialect, type Dialect } from "../../src/model/index.js"
import { normalizeResult } from "../../src/model/lincheck/fs.js"
import { overlayfsDialect, type OverlayDialect } from "../../src/model/overlayfs.js"
import type { OpResult, Stat, Tree, TreeNode } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import type { Layer, Scenario, ThreadSpec } from "../../src/sim/scenario.js"
import { canonical, InoMap, threadsByCred } from "../linux/diff.js"
import { arbGvisorOverlayScenario } from "../../src/sim/overlaygen.js"
import type { AvoidOp, OverlayPlan, OverlayScenario, SideRun, Verdict } from "../linux/overlay.js"
import { Ctx, isErrno, Last, lookupChild, resolve, resolveParent } from "../../src/model/path.js"
import { S_ISGID } from "../../src/model/perm.js"
import { getInode, Tx } from "../../src/model/state.js"

/** Ops of one credential run in one thread; threads follow each other this far apart on the simulated clock. */
const SEGMENT_NS = 1_000_000_000

const ENV = defaultEnv()

/** The gvisor-overlay dialect, with the origins the plan's time check asks of an overlay dialect. */
export function gvisorOverlayPlanDialect(sc: OverlayScenario): OverlayDialect {
  const d: Dialect = gvisorOverlayDialect()
  const linux = overlayfsDialect(sc.layers)
  return { name: d.name, rule: d.rule.bind(d), origin: (ino) => linux.origin(ino) }
}

export interface OverlaySideOptions {
  /** Put the lowest lower layer on the gofer (the server's tree) instead of tmpfs. */
  readonly goferLower?: string
  /** Mount options of the overlay (mutants). */
  readonly options?: string
  /** Checks to run (default all). */
  readonly checks?: Scenario["checks"]
}

/** The plan's ops as an overlay scenario: one thread per run of ops with the same credential. */
export function overlayScenario(p: OverlayPlan, o: OverlaySideOptions = {}): { scenario: Scenario; slots: { thread: string; index: number }[] } {
  const { threads, slots } = threadsByCred(p.steps, SEGMENT_NS)
  const sc = p.scenario
  const lower: Layer[] = sc.layers.lower.map((tree) => ({ kind: "tmpfs", tree }))
  let remote: Scenario["remote"]
  if (o.goferLower !== undefined && lower.length > 0) {
    // The 9P server holds the layer as a host directory would (whiteouts,
    // opaque directories: src/impl/overlay/mount.ts serves a layer tree).
    remote = sc.layers.lower[sc.layers.lower.length - 1]!
    lower[lower.length - 1] = { kind: "gofer", options: o.goferLower, tree: "remote" }
  }
  const scenario: Scenario = {
    format: "fsim.scenario/1",
    name: "overlay-model-diff",
    mount: {
      kind: "overlay",
      ...(sc.layers.upper !== null ? { upper: { kind: "tmpfs", tree: sc.layers.upper } } : {}),
      lower,
      ...(o.options !== undefined ? { options: o.options } : {}),
    },
    ...(remote !== undefined ? { remote } : {}),
    root: sc.root,
    threads: threads as ThreadSpec[],
    ...(o.checks !== undefined ? { checks: o.checks } : {}),
  }
  return { scenario, slots }
}

export interface OverlaySideRun extends SideRun {
  readonly report: RunReport
  /** Violations that are instances of recognized findings. */
  readonly recognized: number
}

export function runOverlay(p: OverlayPlan, seed: number, o: OverlaySideOptions = {}): OverlaySideRun {
  const { scenario, slots } = overlayScenario(p, o)
  const report = runSubject(scenario, { seed, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders, runLabel: `seed ${seed} overlay` })
  const byKey = new Map(report.ops.map((r) => [`${r.thread}#${r.index}`, r]))
  const recs = slots.map((s) => byKey.get(`${s.thread}#${s.index}`))
  let broken: string | undefined
  for (let i = 1; i < recs.length && broken === undefined; i++) {
    const a = recs[i - 1]
    const b = recs[i]
    if (a === undefined || b === undefined) break
    if (a.return === null || a.return > b.invoke) broken = `op #${i} started (event ${b.invoke}) before op #${i - 1} returned (${a.return ?? "never"})`
  }
  const results: (OpResult | null)[] = recs.map((r) => r?.result ?? null)
  // The run passes its own checks, but for the recognized findings (src/impl/overlay/FINDINGS.md).
  const unknown = unknownViolations(report.violations)
  if (broken === undefined && (unknown.length > 0 || (report.verdict !== "pass" && report.verdict !== "fail"))) {
    broken = `verdict ${report.verdict}: ${unknown.map((v) => `${v.check}: ${v.message}`).join(" | ")}`
  }
  return { report, results, final: report.final, recognized: report.violations.length - unknown.length, ...(broken !== undefined ? { broken } : {}) }
}

// ---------------------------------------------------------------------------
// Generation: the Linux oracle's layered scenarios, without what the
// gvisor-overlay dialect cannot follow (src/sim/overlaygen.ts, which the
// overlay's campaigns use too).

export { arbGvisorOverlayScenario }

/**
 * Ops a plan for gVisor's overlay leaves out (`plans`' `avoid`), on the
 * model's state before them: what gVisor does there depends on whether a
 * directory was copied up or has a dentry, which no dialect rule can see
 * per op (DIALECTS.md, gvisor-overlay, known gaps; FINDINGS.md):
 *
 * - unlink(2) of a directory with a lower part
 *   (`unlink-whites-out-lower-directory`: with no upper part and no dentry,
 *   `UnlinkAt` whites it out, contents and all; else EISDIR);
 * - chmod(2) that makes a directory setgid (`copy-up-dir-setgid`: a lower
 *   directory copied up into it later gains the bit, visible once its
 *   dentry is dropped).
 */
export const avoidForGvisor: AvoidOp = (state, step, dialect) => {
  const op = step.op
  if (op.op === "chmod" && (op.mode & S_ISGID) !== 0) {
    const ino = resolve(new Ctx(new Tx(state), step.cred, 0), op.path, true)
    if (!isErrno(ino) && getInode(state, ino)?.type === "dir") return "chmod making a directory setgid (FINDINGS.md copy-up-dir-setgid)"
  }
  if (op.op === "unlink") {
    const c = new Ctx(new Tx(state), step.cred, 0)
    const p = resolveParent(c, op.path)
    if (isErrno(p) || p.type !== Last.Norm) return undefined
    const child = lookupChild(c, p.dir, p.name)
    if (isErrno(child) || c.inode(child).type !== "dir") return undefined
    const origin = dialect.origin(child)
    if (origin === "lower" || origin === "merged") return "unlink of a directory with a lower part (FINDINGS.md unlink-whites-out-lower-directory)"
  }
  return undefined
}

/**
 * The layers of such scenarios (the brief's `arbLayers`): an optional upper
 * tree and one to three lower trees, top first, with whiteouts and opaque
 * directories, as OverlayLayers.
 */
export const arbLayers = arbGvisorOverlayScenario({ minSteps: 0, maxSteps: 0 }).map((sc) => sc.layers)

// ---------------------------------------------------------------------------
// Judging: as test/linux/overlay.ts's judge, except for inode numbers,
// which gVisor's overlay does not keep as Linux does (a directory gets a new
// number with each new dentry, newDirIno; a file changes number at copy-up,
// to the upper file's): they are not compared, and a number that breaks the
// bijection is counted under OVERLAY_INO.

export const OVERLAY_INO = "overlay.ino.per-dentry-and-copy-up"

export function judgeOverlay(p: OverlayPlan, run: SideRun): Verdict {
  const rules = new Map<string, number>()
  const count = (r: string): void => void rules.set(r, (rules.get(r) ?? 0) + 1)
  const inos = new InoMap()
  let asTmpfs = 0
  let ops = 0
  const n = (r: OpResult): string => canonical(normalizeResult(r))
  const isStat = (r: OpResult): r is Stat => "nlink" in r && "ino" in r
  for (let i = 0; i < p.steps.length; i++) {
    const got = run.results[i]
    const exp = p.expected[i]!
    const done = { ops, asTmpfs, rules }
    if (got === null || got === undefined) return { ...done, mismatch: { index: run.broken !== undefined ? "run" : i, got: run.broken ?? null, expected: exp.result } }
    const options = [exp.result, ...exp.alternatives]
    const match = options.find((o) => n(o) === n(got))
    if (match === undefined) return { ...done, mismatch: { index: i, got, expected: exp.alternatives.length > 0 ? options : exp.result, rule: exp.rule } }
    if (isStat(match) && isStat(got) && !inos.same(match.ino, got.ino)) count(OVERLAY_INO)
    ops++
    if (n(got) === n(exp.tmpfs)) asTmpfs++
    else count(exp.rule ?? "(none)")
  }
  const done = { ops, asTmpfs, rules }
  if (run.broken !== undefined || run.final === null) return { ...done, mismatch: { index: "run", got: run.broken ?? "no final tree", expected: "a run" } }
  if (canonical(run.final) !== canonical(p.final)) return { ...done, mismatch: { index: "final", got: run.final, expected: p.final } }
  return done
}

// ---------------------------------------------------------------------------
// Recognized findings (src/impl/overlay/FINDINGS.md): behaviours that
// depend on whether a file was copied up or has a dentry, which the
// dialect cannot see.

function isStatResult(r: unknown): r is Stat {
  return typeof r === "object" && r !== null && "nlink" in r && "mode" in r
}

/** The recognized finding a mismatch is an instance of, or null. */
export function recognizedMismatch(p: OverlayPlan, m: NonNullable<Verdict["mismatch"]>): string | null {
  if (typeof m.index === "number") {
    const op = p.steps[m.index]!.op
    const got = m.got as OpResult
    const exp = m.expected as OpResult
    // unlink(2) of a directory with only lower parts and no dentry: whited out.
    if (op.op === "unlink" && !("errno" in got) && "errno" in exp && exp.errno === "EISDIR") return "unlink-whites-out-lower-directory"
    // A directory's setgid bit, changed by its copy-up.
    if (isStatResult(got) && isStatResult(exp) && got.type === "dir" && (got.mode ^ exp.mode) === 0o2000 && canonical({ ...normalizeResult(got), mode: 0 }) === canonical({ ...normalizeResult(exp), mode: 0 })) return "copy-up-dir-setgid"
    return null
  }
  if (m.index === "final" && canonical(withoutDirSetgid(m.got)) === canonical(withoutDirSetgid(m.expected))) return "copy-up-dir-setgid"
  if (m.index === "run" && typeof m.got === "string") {
    const r = /saw mode 0([0-7]+); at no point of its interval does the model give mode 0[0-7]+; the model would have returned mode 0([0-7]+) instead/.exec(m.got)
    if (r !== null && (parseInt(r[1]!, 8) ^ parseInt(r[2]!, 8)) === 0o2000) return "copy-up-dir-setgid"
  }
  return null
}


/** A final tree ({tree, root}) with the setgid bit of every directory cleared. */
function withoutDirSetgid(v: unknown): unknown {
  const walk = (t: Tree): Tree => {
    const out: Record<string, TreeNode> = {}
    for (const [name, n] of Object.entries(t)) {
      if ("link" in n && n.link !== undefined) out[name] = n
      else if (n.type === "dir") {
        const mode = (n.mode ?? 0o755) & ~0o2000
        const { mode: _m, children, ...rest } = n
        out[name] = { ...rest, ...(mode !== 0o755 ? { mode } : {}), ...(children !== undefined ? { children: walk(children) } : {}) }
      } else out[name] = n
    }
    return out
  }
  if (typeof v !== "object" || v === null || !("tree" in v)) return v
  const f = v as { tree: Tree; root: unknown }
  return { ...f, tree: walk(f.tree) }
}
