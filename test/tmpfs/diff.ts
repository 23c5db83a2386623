// The tmpfs port against the reference model, op by op, on the model
// harness's seeded sequential scenarios (src/model/arbitraries.ts).
//
// A scenario is planned on the model: `apply` op after op from the initial
// tree, then each op's result is passed through the mount's dialect
// (gvisor-tmpfs: what gVisor's VFS and syscall layers decide before tmpfs is
// called; DIALECTS.md). An op that would block (a FIFO open or read with no
// peer) is dropped. The kept ops run as a tmpfs scenario, one thread per run
// of ops with the same credential, each later thread starting with a sleep
// that places it after the one before, so the ops run one after another (as
// test/linux/gofer.ts does for the gofer). Every result must equal the
// model's (inode numbers included: tmpfs allocates them in the model; times
// and directory sizes left out, as the linearizability checker does), the
// final tree read through the mount must equal the model's, and the run
// must pass all its checks.

import { defaultEnv } from "../../src/cli/mounts.js"
import { apply, dialectNamed, dialectStep, initialState, toTree, type DialectName, type ModelState } from "../../src/model/index.js"
import { normalizeResult } from "../../src/model/lincheck/fs.js"
import type { SequentialScenario, SequentialStep } from "../../src/model/arbitraries.js"
import { getInode } from "../../src/model/state.js"
import type { Cred, Op, OpResult, RootAttrs, Tree } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import type { Scenario, ThreadSpec } from "../../src/sim/scenario.js"
import { canonical, threadsByCred } from "../linux/diff.js"
import { goferForm } from "../linux/gofer.js"

const ENV = defaultEnv()
const SEGMENT_NS = 10_000_000_000
const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

export { canonical }


/**
 * The scenario as tmpfs runs it: read-write (the mount has no read-only
 * option), and symlink targets made only of slashes written "/." (gVisor's
 * VFS mishandles a path that goes on past a "/" target: the gofer's
 * FINDINGS.md).
 */
export function tmpfsForm(sc: SequentialScenario): SequentialScenario {
  return goferForm(sc).scenario
}

export interface Expectation {
  readonly result: OpResult
  readonly alternatives: readonly OpResult[]
  readonly rule: string | null
}

export interface Plan {
  readonly scenario: SequentialScenario
  readonly steps: readonly SequentialStep[]
  readonly dropped: number
  readonly expected: readonly Expectation[]
  readonly final: { readonly tree: Tree; readonly root: Required<RootAttrs> }
}

function blocks(state: ModelState, op: Op, result: OpResult, blocked: boolean): boolean {
  if (blocked) return true
  if (op.op === "read" && "errno" in result && result.errno === "EAGAIN") {
    const f = state.fds[op.fd]
    if (f !== undefined && !f.nonblock && getInode(state, f.ino)?.type === "fifo") return true
  }
  return false
}

export function plan(sc: SequentialScenario, dialectName: DialectName): Plan {
  const dialect = dialectNamed(dialectName)
  let state = initialState(sc.tree, sc.root, {}, 0)
  const steps: SequentialStep[] = []
  const expected: Expectation[] = []
  let dropped = 0
  for (const step of sc.steps) {
    const out = apply(state, step.op, step.cred, 0)
    if (blocks(state, step.op, out.result, out.blocks !== undefined)) {
      dropped++
      continue
    }
    steps.push(step)
    if (dialect === null) {
      expected.push({ result: out.result, alternatives: [], rule: null })
      state = out.state
    } else {
      const d = dialectStep(dialect, state, step.op, step.cred, { state: out.state, result: out.result })
      expected.push({ result: d.result, alternatives: d.alternatives, rule: d.rule })
      state = d.state
    }
  }
  for (const fd of Object.keys(state.fds).sort()) state = apply(state, { op: "close", fd }, ROOT, 0).state
  return { scenario: sc, steps, dropped, expected, final: toTree(state) }
}

export function tmpfsScenario(p: Plan, options?: string): { scenario: Scenario; slots: { thread: string; index: number }[] } {
  const { threads, slots } = threadsByCred(p.steps, SEGMENT_NS)
  const scenario: Scenario = {
    format: "fsim.scenario/1",
    name: "tmpfs-model-diff",
    mount: options === undefined ? { kind: "tmpfs" } : { kind: "tmpfs", options },
    remote: p.scenario.tree,
    root: p.scenario.root,
    threads: threads as ThreadSpec[],
  }
  return { scenario, slots }
}

export interface Verdict {
  readonly report: RunReport
  /** Ops whose result departs from Linux's by a dialect rule, by rule. */
  readonly rules: ReadonlyMap<string, number>
  readonly mismatch?: string
}

function normal(r: OpResult): string {
  return canonical(normalizeResult(r))
}

function ino(r: OpResult): number | undefined {
  return "ino" in r ? r.ino : undefined
}

/** Runs the plan through a tmpfs mount and judges it. */
export function runAndJudge(p: Plan, seed: number, options?: string): Verdict {
  const { scenario, slots } = tmpfsScenario(p, options)
  const report = runSubject(scenario, { seed, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
  const byKey = new Map(report.ops.map((r) => [`${r.thread}#${r.index}`, r]))
  const rules = new Map<string, number>()
  for (let i = 0; i < slots.length; i++) {
    const rec = byKey.get(`${slots[i]!.thread}#${slots[i]!.index}`)
    const exp = p.expected[i]!
    const step = p.steps[i]!
    const got = rec?.result ?? null
    if (got === null) return { report, rules, mismatch: `op #${i} ${JSON.stringify(step.op)} never returned (verdict ${report.verdict}: ${report.violations.map((v) => v.message).join("; ")})` }
    const options = [exp.result, ...exp.alternatives]
    const hit = options.find((o) => normal(o) === normal(got) && (ino(o) === undefined || ino(o) === ino(got)))
    if (hit === undefined) {
      return { report, rules, mismatch: `op #${i} ${JSON.stringify(step.op)} as ${JSON.stringify(step.cred)}: tmpfs ${canonical(got)}, model ${options.map((o) => canonical(o)).join(" or ")}${exp.rule !== null ? ` (rule ${exp.rule})` : ""}` }
    }
    if (exp.rule !== null) rules.set(exp.rule, (rules.get(exp.rule) ?? 0) + 1)
  }
  if (report.verdict !== "pass") return { report, rules, mismatch: `verdict ${report.verdict}: ${report.violations.map((v) => `${v.check}: ${v.message}`).join("; ")}` }
  if (canonical(report.final) !== canonical(p.final)) return { report, rules, mismatch: `final tree: tmpfs ${canonical(report.final)}, model ${canonical(p.final)}` }
  return { report, rules }
}
