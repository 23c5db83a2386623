// The overlay property suite's common part: concurrent scenarios over
// generated layers (test/overlay/harness.ts: the Linux oracle's layered
// scenarios, less what the gvisor-overlay dialect cannot follow), their ops
// spread over 2-3 threads with descriptors of their own and non-blocking
// opens, every check on (linearizability against the model on the merged
// tree in the gvisor-overlay dialect, lock order, deadlock, the overlay's
// invariants), strategies random, pct:2 and pct:3 by turns. A failing run
// must be an instance of a documented finding (src/impl/overlay/FINDINGS.md);
// anything else fails the suite with its seed.

import fc from "fast-check"
import { defaultEnv } from "../src/cli/mounts.js"
import { unknownViolations } from "../src/impl/overlay/findings.js"
import { runSubject, type RunReport } from "../src/sim/run.js"
import { decodeScenario, type Layer, type Scenario, type ThreadSpec } from "../src/sim/scenario.js"
import type { StrategySpec } from "../src/sim/strategy.js"
import { PORTFOLIO } from "../src/sim/campaign.js"
import { mergeLayers } from "../src/model/overlayfs.js"
import type { Tree, TreeNode } from "../src/model/types.js"
import { arbGvisorOverlayScenario } from "../test/overlay/harness.js"

const ENV = defaultEnv()

/** Runs: FSIM_OVERLAY_RUNS, default 90. */
export function overlayRuns(): number {
  const n = Number(process.env["FSIM_OVERLAY_RUNS"] ?? "90")
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FSIM_OVERLAY_RUNS: expected a positive integer, got ${process.env["FSIM_OVERLAY_RUNS"]}`)
  return n
}

/** The concurrent scenario of `seed`: a layered scenario's steps dealt to 2 or 3 threads. */
export function overlayScenarioForSeed(seed: number, lowerKind: "tmpfs" | "gofer" = "tmpfs"): Scenario {
  const [sc] = fc.sample(arbGvisorOverlayScenario({ minSteps: 6, maxSteps: 24 }), { seed, numRuns: 1 })
  const n = 2 + (seed % 2)
  const threads: ThreadSpec[] = []
  for (let t = 0; t < n; t++) {
    const steps = sc!.steps.filter((_, i) => i % n === t)
    if (steps.length === 0) continue
    const ops = steps.map((s) => {
      let op = s.op
      if ("fd" in op) op = { ...op, fd: `t${t}.${op.fd}` }
      if (op.op === "open" && !op.flags.includes("O_NONBLOCK")) op = { ...op, flags: [...op.flags, "O_NONBLOCK"] }
      return op
    })
    threads.push({ name: `t${t}`, cred: steps[0]!.cred, ops })
  }
  const tmpfs = (tree: object): Layer => ({ kind: "tmpfs", tree }) as Layer
  void lowerKind
  return decodeScenario({
    format: "fsim.scenario/1",
    name: `overlay campaign seed ${seed}`,
    mount: { kind: "overlay", ...(sc!.layers.upper !== null ? { upper: tmpfs(sc!.layers.upper) } : {}), lower: sc!.layers.lower.map(tmpfs) },
    root: sc!.root,
    threads,
  })
}

export function strategyOf(run: number): StrategySpec {
  return PORTFOLIO[run % PORTFOLIO.length]!
}

export function runOne(seed: number, run: number): { readonly scenario: Scenario; readonly report: RunReport } {
  const scenario = overlayScenarioForSeed(seed)
  return { scenario, report: runSubject(scenario, { seed, strategy: strategyOf(run), mounts: ENV.mounts, lockOrders: ENV.lockOrders, runLabel: `seed ${seed}` }) }
}

/**
 * Whether a run's lincheck failure is the unlink-whites-out-lower-directory
 * finding seen from another op: the checker's core may name an op that
 * met the whited-out directory (an open then ENOENT) rather than the
 * unlink. Recognized when an unlink of a path that is a directory of the
 * merged initial tree (walked without symlinks) succeeded in the run.
 */
export function unlinkedLowerDirectory(s: Scenario, r: RunReport): boolean {
  if (s.mount.kind !== "overlay") return false
  const layers = { upper: s.mount.upper?.kind === "tmpfs" ? (s.mount.upper.tree ?? {}) : null, lower: s.mount.lower.map((l) => (l.kind === "tmpfs" ? (l.tree ?? {}) : (s.remote ?? {}))) }
  const merged = mergeLayers(layers)
  const isDir = (path: string): boolean => {
    let t: Tree | undefined = merged
    let node: TreeNode | undefined
    const comps = path.split("/").filter((c) => c !== "" && c !== ".")
    if (comps.length === 0 || comps.includes("..")) return false
    for (const c of comps) {
      if (t === undefined) return false
      node = Object.prototype.hasOwnProperty.call(t, c) ? t[c] : undefined
      if (node === undefined || "link" in node) return false
      t = node.type === "dir" ? (node.children ?? {}) : undefined
    }
    return node !== undefined && !("link" in node) && node.type === "dir"
  }
  return r.ops.some((o) => o.op.op === "unlink" && o.result !== null && !("errno" in o.result) && isDir(o.op.path))
}

export { unknownViolations }
