// The overlay property suites' common part: campaigns of concurrent
// scenarios over generated layers (src/sim/overlaygen.ts: the Linux
// oracle's layered scenarios, less what the gvisor-overlay dialect cannot
// follow), as `fsim check --mount overlay` runs them: 2-3 threads of up to
// 8 ops, each thread a contiguous run of a layered scenario's steps, with
// descriptors of its own and non-blocking opens; every check on
// (linearizability against the model on the merged tree in the
// gvisor-overlay dialect, lock order, deadlock, the overlay's invariants
// and its layers'); strategies random, pct:2 and pct:3 by turns. The lowest
// layer is tmpfs, or a gofer (`lowerKind`) serving it from the simulated
// 9P server in one cache mode, with dentry_cache_limit cycling through 1-4
// so that the gofer evicts what the overlay does not hold.
//
// No external users of the gofer's server: they would change a lower layer
// under the mounted overlay, which is undefined (src/impl/overlay/README.md,
// "External changes to a lower layer"; test/overlay/external.test.ts shows
// what happens).
//
// A failing run must be an instance of a documented finding
// (src/impl/overlay/FINDINGS.md, recognized by findings.ts); anything else
// fails the suite with its seed and the command that reproduces it.

import { appendFileSync } from "node:fs"
import { expect } from "vitest"
import { defaultEnv } from "../src/cli/mounts.js"
import { overlayRunFindings } from "../src/impl/overlay/findings.js"
import { Campaign, emptyTally, mergeTally, PORTFOLIO, rerun, strategyLabel, type CampaignOptions, type ScenarioShape, type Tally } from "../src/sim/campaign.js"
import { shapeDefaults } from "../src/impl/registry.js"
import type { Layer, Mount } from "../src/sim/scenario.js"

export type GoferCache = "fscache" | "fscache_writethrough" | "remote_revalidating" | "none"

export interface OverlaySuite {
  /** The lowest layer: tmpfs, or the gofer in a cache mode. */
  readonly lowerKind: "tmpfs" | "gofer"
  readonly cache?: GoferCache
}

export const THREADS = 3
export const OPS = 8

function positive(name: string, dflt: number): number {
  const raw = process.env[name]
  const n = Number(raw ?? String(dflt))
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${raw}`)
  return n
}

/** Runs: FSIM_OVERLAY_RUNS (tmpfs layers, default 90), FSIM_OVERLAY_GOFER_RUNS (a gofer lower layer, default 48). */
export function overlayRuns(s: OverlaySuite): number {
  return s.lowerKind === "tmpfs" ? positive("FSIM_OVERLAY_RUNS", 90) : positive("FSIM_OVERLAY_GOFER_RUNS", 48)
}

/** The first campaign seed: FSIM_OVERLAY_SEED, default 1. */
export function overlayBaseSeed(): number {
  return positive("FSIM_OVERLAY_SEED", 1)
}

/** The gofer's dentry_cache_limit values the runs are split over (none for tmpfs layers). */
export function limitsOf(s: OverlaySuite): readonly (number | null)[] {
  return s.lowerKind === "tmpfs" ? [null] : [1, 2, 3, 4]
}

function lowestOf(s: OverlaySuite, limit: number | null): Layer {
  if (s.lowerKind === "tmpfs") return { kind: "tmpfs" }
  return { kind: "gofer", options: `cache=${s.cache ?? "fscache"}${limit !== null ? `,dentry_cache_limit=${limit}` : ""}`, tree: "remote" }
}

export function overlayShape(s: OverlaySuite, limit: number | null): ScenarioShape {
  const mount: Mount = { kind: "overlay", lower: [lowestOf(s, limit)] }
  return { mount, threads: THREADS, ops: OPS, external: 0, ...shapeDefaults(mount) }
}

export function label(s: OverlaySuite): string {
  return s.lowerKind === "tmpfs" ? "overlay over tmpfs layers" : `overlay over a gofer lower layer (cache=${s.cache ?? "fscache"})`
}

/** The command that repeats one run of the suite alone. */
export function reproduce(s: OverlaySuite, limit: number | null, seed: number, strategy: string): string {
  const lowest = lowestOf(s, limit)
  const lower = lowest.kind === "gofer" ? ` --lower gofer --lower-options ${lowest.options}` : ""
  return `node bin/fsim.js check --mount overlay${lower} --threads ${THREADS} --ops ${OPS} --strategy ${strategy} --seed ${seed} --runs 1`
}

export interface SuiteResult {
  readonly tally: Tally
  /** Failing runs by the finding they show (a run with two counts under both). */
  readonly known: Map<string, number>
  /** Failing runs that show something no finding accounts for, each with its seed and reproduce command. */
  readonly unknown: string[]
}

/**
 * Runs between progress lines: with FSIM_OVERLAY_PROGRESS=FILE, a summary
 * is appended to FILE after each, and every unknown failure as it is found
 * (written at once: the suite is one synchronous test, whose console output
 * vitest shows only when it ends).
 */
const CHUNK = 500

/** Runs the suite: `runs` runs split over the limits, campaign seeds base, base + 100000, ... */
export function runOverlaySuite(s: OverlaySuite, runs: number, base = overlayBaseSeed()): SuiteResult {
  const env = defaultEnv()
  const tally = emptyTally()
  const known = new Map<string, number>()
  const unknown: string[] = []
  const limits = limitsOf(s)
  const per = Math.ceil(runs / limits.length)
  const progress = process.env["FSIM_OVERLAY_PROGRESS"]
  limits.forEach((limit, k) => {
    const o: CampaignOptions = {
      shape: overlayShape(s, limit),
      seed: base + k * 100_000,
      strategy: { kind: "portfolio", specs: PORTFOLIO },
      mounts: env.mounts,
      lockOrders: env.lockOrders,
    }
    const campaign = new Campaign(o)
    for (let first = 0; first < per; first += CHUNK) {
      const t = campaign.runRange(first, Math.min(CHUNK, per - first))
      for (const f of t.failures) {
        const report = rerun(o, f.run)
        const { known: ids, unknown: rest } = overlayRunFindings(report)
        for (const id of ids) known.set(id, (known.get(id) ?? 0) + 1)
        if (rest.length > 0) {
          const line = `seed ${f.seed} (${f.strategy}): ${f.verdict}: ${rest.join(" | ").slice(0, 2_000)}\n  reproduce: ${reproduce(s, limit, f.seed, strategyLabel(PORTFOLIO[f.run % PORTFOLIO.length]!))}`
          unknown.push(line)
          if (progress !== undefined) appendFileSync(progress, `UNKNOWN ${line}\n`)
        }
      }
      mergeTally(tally, t)
      if (progress !== undefined) appendFileSync(progress, `${summary(s, { tally, known, unknown })}\n`)
    }
  })
  return { tally, known, unknown }
}

export function summary(s: OverlaySuite, r: SuiteResult): string {
  const k = [...r.known].sort().map(([id, n]) => `${id} ${n}`).join(", ")
  const v = r.tally.verdicts
  return `${label(s)}: ${r.tally.runs} concurrent runs, ${v.pass} passed, ${v.fail} failed (runs with each known finding: ${k === "" ? "none" : k}), ${v.budget_exhausted + v.unknown} inconclusive, ${r.unknown.length} unknown`
}

/** The suite as a test: every failing run an instance of a documented finding. */
export function checkOverlaySuite(s: OverlaySuite): SuiteResult {
  const runs = overlayRuns(s)
  const r = runOverlaySuite(s, runs)
  console.log(summary(s, r))
  expect(r.unknown, r.unknown.join("\n")).toEqual([])
  expect(r.tally.runs).toBeGreaterThanOrEqual(runs)
  return r
}
