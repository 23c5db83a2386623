// Replay by meaning: a run starts from the contract's form of its subject
// (scenario.ts, canonicalSubject), so a trace saved by any path replays byte
// for byte, whatever order the maker of the scenario wrote its keys in
// (fast-check's records, the shrinker's spreads, a file). Before, campaigns
// recorded the generators' op objects as they were and replay decoded the
// scenario first: 535 of 1,000 saved scenarios failed replay.
//
// FSIM_REPLAY_RUNS scales the sample per configuration (default 6; the
// closing note's full count used 125 x 8 configurations).

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { canonicalSubject, type Mount, type Scenario } from "../../src/sim/scenario.js"
import { PORTFOLIO, rerun, scenarioForSeed, type CampaignOptions, type ScenarioShape } from "../../src/sim/campaign.js"
import { shapeDefaults } from "../../src/impl/registry.js"
import { replayTrace } from "../../src/sim/replay.js"
import { shrinkFailure } from "../../src/sim/shrink.js"
import { parseTrace, traceText } from "../../src/sim/trace.js"
import { fsim, tempDir } from "../cli/helpers.js"
import { MUTANT_CAMPAIGN, MUTANT_FAILING_RUN } from "./helpers.js"

const env = defaultEnv()
const RUNS = Number(process.env.FSIM_REPLAY_RUNS ?? 6)

const CONFIGS: readonly { readonly label: string; readonly mount: Mount; readonly external?: number; readonly faults?: number; readonly names?: number }[] = [
  { label: "model", mount: { kind: "model" } },
  { label: "gofer none", mount: { kind: "gofer", options: "cache=none" }, faults: 2 },
  { label: "gofer fscache (pressure)", mount: { kind: "gofer", options: "cache=fscache,dentry_cache_limit=2,page_budget=4" }, names: 1 },
  { label: "gofer fscache_writethrough", mount: { kind: "gofer", options: "cache=fscache_writethrough" }, external: 2 },
  { label: "gofer remote_revalidating", mount: { kind: "gofer", options: "cache=remote_revalidating" }, external: 2, faults: 1 },
  { label: "tmpfs", mount: { kind: "tmpfs" } },
  { label: "overlay, tmpfs lower", mount: { kind: "overlay", lower: [{ kind: "tmpfs" }] } },
  { label: "overlay, gofer lower", mount: { kind: "overlay", lower: [{ kind: "gofer", options: "cache=fscache", tree: "remote" }] } },
]

function options(c: (typeof CONFIGS)[number], seed: number): CampaignOptions {
  const shape: ScenarioShape = { mount: c.mount, threads: 3, ops: 6, ...shapeDefaults(c.mount), ...(c.names !== undefined ? { names: c.names } : {}), external: c.external ?? 0, faults: c.faults ?? 0 }
  return { shape, seed, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: env.mounts, lockOrders: env.lockOrders }
}

describe("replay by meaning", () => {
  it("a generated scenario's keys are not in the contract's order, and canonicalSubject puts them there (the case the old replay failed on)", () => {
    // An op whose record was spread in another order than the schema's.
    const s = scenarioForSeed(options(CONFIGS[2]!, 0).shape, 341)
    const made: Scenario = { ...s, threads: s.threads.map((t) => ({ ...t, ops: t.ops.map((o) => Object.fromEntries(Object.entries(o).reverse()) as typeof o) })) }
    const c = canonicalSubject(made) as Scenario
    expect(JSON.stringify(c)).toBe(JSON.stringify(canonicalSubject(s)))
    expect(JSON.stringify(canonicalSubject(c))).toBe(JSON.stringify(c))
  })

  for (const c of CONFIGS) {
    it(`${c.label}: ${RUNS} campaign runs saved as traces replay byte-identically`, { timeout: 600_000 }, () => {
      const o = options(c, 1000)
      const verdicts: Record<string, number> = {}
      for (let run = 0; run < RUNS; run++) {
        const r = rerun(o, run)
        verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1
        const trace = parseTrace(traceText(r), `${c.label} run ${run}`)
        const again = replayTrace(trace, { mounts: env.mounts, lockOrders: env.lockOrders })
        expect(again.firstDifference, `${c.label} run ${run}`).toBeNull()
        expect(again.reproduced, `${c.label} run ${run}`).toBe(true)
      }
      console.log(`replay by meaning, ${c.label}: ${RUNS} runs replayed (${JSON.stringify(verdicts)})`)
    })
  }

  it("a shrunk trace (the shrinker rewrites ops with spreads) replays byte-identically", async () => {
    const found = rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN)
    const r = await shrinkFailure({ scenario: found.subject as Scenario, seed: found.seed, events: found.events, strategy: found.strategy }, "lincheck", {
      mounts: MUTANT_CAMPAIGN.mounts,
      lockOrders: [],
      budgetRuns: 300,
    })
    const again = replayTrace(parseTrace(traceText(r.report), "shrunk"), { mounts: MUTANT_CAMPAIGN.mounts })
    expect(again.reproduced).toBe(true)
  })
})

describe("replay by meaning, through the CLI", () => {
  it("fsim check --save-dir then fsim replay in another process: the issue's reproduction (gofer, seed 341, pct:2)", { timeout: 600_000 }, () => {
    const dir = tempDir("replay")
    const c = fsim(["check", "--mount", "gofer", "--options", "cache=fscache,dentry_cache_limit=2,page_budget=4", "--names", "1", "--threads", "3", "--ops", "6", "--seed", "341", "--runs", "4", "--strategy", "pct:2", "--no-shrink", "--save-dir", dir])
    expect([0, 1]).toContain(c.status)
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".jsonl"))) {
      const r = fsim(["replay", join(dir, f)])
      expect(r.stdout, f).toContain("reproduced exactly")
      expect(r.status, f).toBe(0)
    }
  })

  it("a generated scenario written as a file by its maker (keys in generator order) runs, traces and replays", { timeout: 600_000 }, () => {
    const dir = tempDir("replay-run")
    mkdirSync(dir, { recursive: true })
    const s = scenarioForSeed(options(CONFIGS[4]!, 0).shape, 77)
    const file = join(dir, "s.json")
    writeFileSync(file, JSON.stringify(s))
    const t = join(dir, "t.jsonl")
    const run = fsim(["run", file, "--seed", "77", "--strategy", "pct:3", "--trace", t])
    expect([0, 1, 3]).toContain(run.status)
    expect(readFileSync(t, "utf8").length).toBeGreaterThan(0)
    const r = fsim(["replay", t])
    expect(r.stdout).toContain("reproduced exactly")
  })
})
