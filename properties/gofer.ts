// The gofer property suites' common part: random concurrent scenarios (2-4
// threads, up to 12 ops each, two names per directory) on the gofer mount
// in one cache mode, with dentry_cache_limit cycling through 1-8 so
// eviction is constant and a page budget of 8 pages, every check on
// (linearizability under the gVisor dialect, lock order, deadlock, the
// gofer's invariants, coherence). A failing run must be an instance of a
// documented finding (src/impl/gofer/findings.ts); anything else fails the
// suite with the seed and the command that reproduces it.

import { expect } from "vitest"
import { Campaign, PORTFOLIO, emptyTally, mergeTally, type CampaignOptions, type ScenarioShape, type Tally } from "../src/sim/campaign.js"
import { shapeDefaults } from "../src/impl/registry.js"
import { defaultEnv } from "../src/cli/mounts.js"
import { knownFinding } from "../src/impl/gofer/findings.js"
import { rerun } from "../src/sim/campaign.js"

export interface GoferSuite {
  readonly cache: "fscache" | "fscache_writethrough" | "remote_revalidating" | "none"
  /** External users of the share (the shared modes). */
  readonly external: number
}

/** Runs per cache mode: FSIM_GOFER_RUNS, default 96 (12 per dentry_cache_limit). */
export function runsPerMode(): number {
  const n = Number(process.env["FSIM_GOFER_RUNS"] ?? "96")
  if (!Number.isSafeInteger(n) || n < 8) throw new Error(`FSIM_GOFER_RUNS: expected an integer of at least 8, got ${process.env["FSIM_GOFER_RUNS"]}`)
  return n
}

export const PAGE_BUDGET = 8

export function suiteShape(s: GoferSuite, limit: number): ScenarioShape {
  const mount = { kind: "gofer" as const, options: `cache=${s.cache},dentry_cache_limit=${limit},page_budget=${PAGE_BUDGET}` }
  return { mount, threads: 4, ops: 12, names: 2, external: s.external, ...shapeDefaults(mount) }
}

/** Runs the suite: `runs` runs split over dentry_cache_limit 1..8, campaign seeds 1, 100001, ... */
export function runSuite(s: GoferSuite, runs: number): { tally: Tally; known: Map<string, number> } {
  const env = defaultEnv()
  const tally = emptyTally()
  const known = new Map<string, number>()
  const unknown: string[] = []
  const perLimit = Math.ceil(runs / 8)
  for (let limit = 1; limit <= 8; limit++) {
    const o: CampaignOptions = {
      shape: suiteShape(s, limit),
      seed: 1 + (limit - 1) * 100_000,
      strategy: { kind: "portfolio", specs: PORTFOLIO },
      mounts: env.mounts,
      lockOrders: env.lockOrders,
    }
    const t = new Campaign(o).runRange(0, perLimit)
    for (const f of t.failures) {
      const report = rerun(o, f.run)
      const finding = knownFinding(report.violations)
      if (finding !== null) known.set(finding.id, (known.get(finding.id) ?? 0) + 1)
      else {
        unknown.push(
          `seed ${f.seed} (dentry_cache_limit=${limit}): ${f.verdict} [${f.checks.join(", ")}] ${f.message}\n` +
            `  reproduce: fsim check --mount gofer --options ${o.shape.mount.kind === "gofer" ? o.shape.mount.options : ""} --names 2 --external ${s.external} --seed ${o.seed} --runs ${f.run + 1}`,
        )
      }
    }
    mergeTally(tally, t)
  }
  expect(unknown, unknown.join("\n")).toEqual([])
  expect(tally.verdicts.unknown + tally.verdicts.budget_exhausted).toBe(0)
  return { tally, known }
}

export function summary(s: GoferSuite, r: { tally: Tally; known: Map<string, number> }): string {
  const k = [...r.known].map(([id, n]) => `${id} ${n}`).join(", ")
  return `gofer cache=${s.cache}: ${r.tally.runs} runs, ${r.tally.verdicts.pass} passed, ${r.tally.verdicts.fail} failed${k === "" ? "" : ` (known findings: ${k})`}`
}
