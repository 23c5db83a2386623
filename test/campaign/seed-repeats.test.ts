// Every failure repeats alone: a run's strategy is drawn from its seed
// (campaign.ts, strategyFor), so `fsim check --seed S --runs 1` gives run S
// of a campaign the same verdict and violations; the summary names every
// failing run no documented finding explains, with the command that
// repeats it; such a run is saved first and its shrink keeps it unexplained.
//
// FSIM_SEED_REPEAT_FAILURES scales the in-process sample (failing runs per
// mount, default 4; the closing note's count used 100 per mount).

import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { Campaign, PORTFOLIO, strategyFor, type CampaignOptions } from "../../src/sim/campaign.js"
import { shapeDefaults } from "../../src/impl/registry.js"
import type { Mount } from "../../src/sim/scenario.js"
import { replayTrace } from "../../src/sim/replay.js"
import { loadTrace } from "../../src/sim/trace.js"
import { fsim, tempDir } from "../cli/helpers.js"

const env = defaultEnv()
const WANTED = Number(process.env.FSIM_SEED_REPEAT_FAILURES ?? 4)

function campaign(mount: Mount, seed: number): CampaignOptions {
  return {
    shape: { mount, threads: 4, ops: 12, ...shapeDefaults(mount) },
    seed,
    strategy: { kind: "portfolio", specs: PORTFOLIO },
    mounts: env.mounts,
    lockOrders: env.lockOrders,
    ...(env.findings !== undefined ? { findings: env.findings } : {}),
  }
}

describe("a run's strategy is a function of its seed", () => {
  it("the portfolio's pick for seed S does not depend on where S falls in a campaign", () => {
    const p = { kind: "portfolio" as const, specs: PORTFOLIO }
    expect([1, 2, 3, 4].map((s) => strategyFor(p, s).kind)).toEqual(["random", "pct", "pct", "random"])
    expect(strategyFor(p, 0)).toEqual(PORTFOLIO[2])
    expect(strategyFor(p, 0xffff_ffff)).toEqual(PORTFOLIO[(0xffff_ffff - 1) % 3])
  })

  for (const mount of [{ kind: "overlay", lower: [{ kind: "tmpfs" }] }, { kind: "gofer", options: "cache=fscache,mutant=ref-leak-on-error" }] as const satisfies readonly Mount[]) {
    it(`${mount.kind}${mount.kind === "gofer" ? " (a mutant, for failures in every run)" : ""}: ${WANTED} failing runs of a campaign from seed 500 repeat alone with the same verdict and violations`, { timeout: 900_000 }, () => {
      const o = campaign(mount, 500)
      const c = new Campaign(o)
      const failures = []
      for (let first = 0; failures.length < WANTED && first < 600; first += 20) {
        failures.push(...c.runRange(first, 20).failures.filter((f) => f.verdict === "fail"))
      }
      expect(failures.length).toBeGreaterThanOrEqual(WANTED)
      for (const f of failures.slice(0, WANTED)) {
        const alone = new Campaign(campaign(mount, f.seed)).runRange(0, 1).failures[0]
        expect(alone, `seed ${f.seed}`).toBeDefined()
        expect({ verdict: alone!.verdict, checks: alone!.checks, digest: alone!.digest, strategy: alone!.recorded }, `seed ${f.seed}`).toEqual({
          verdict: f.verdict,
          checks: f.checks,
          digest: f.digest,
          strategy: f.recorded,
        })
      }
      console.log(`seed repeats (${mount.kind}): ${WANTED} failing runs of the campaign repeated alone, each identical`)
    })
  }
})

interface Summary {
  failures: { first: { seed: number; verdict: string; checks: string[]; digest: string; repeat: string }[] }
  findings: { unexplained: { seed: number; checks: string[]; message: string; repeat: string }[]; unexplained_runs: number }
  saved: { check: string; seed: number; trace_seed: number; trace: string; explained: boolean; findings: string[] }[]
}

describe("through the CLI", () => {
  it("the command printed beside a failure (2 workers, a campaign not starting at seed 1) repeats it", { timeout: 600_000 }, () => {
    const dir = tempDir("repeat")
    const c = fsim(["check", "--mount", "overlay", "--seed", "700", "--runs", "30", "--workers", "2", "--json", "--no-shrink", "--save-dir", dir])
    expect(c.status, c.stderr).toBe(1)
    const s = JSON.parse(c.stdout) as Summary
    const fails = s.failures.first.filter((f) => f.verdict === "fail").slice(0, 2)
    expect(fails.length).toBeGreaterThan(0)
    for (const f of fails) {
      expect(f.repeat).toBe(`fsim check --mount overlay --seed ${f.seed} --runs 1`)
      const args = f.repeat.split(" ").slice(1)
      const alone = fsim([...args, "--json", "--no-shrink", "--save-dir", dir])
      const a = (JSON.parse(alone.stdout) as Summary).failures.first[0]!
      expect({ verdict: a.verdict, checks: a.checks, digest: a.digest }).toEqual({ verdict: f.verdict, checks: f.checks, digest: f.digest })
    }
  })

  it("an unexplained failure is listed with its repeat command, saved before known ones, and its shrunk trace still shows it unexplained (named as its header says)", { timeout: 600_000 }, () => {
    const dir = tempDir("unexplained")
    // The mutant makes failures no finding explains; the unmutated overlay makes known ones beside them.
    const c = fsim(["check", "--mount", "overlay", "--mutant", "copy-up-short", "--runs", "12", "--json", "--shrink-budget", "150", "--save-dir", dir])
    expect(c.status, c.stderr).toBe(1)
    const s = JSON.parse(c.stdout) as Summary
    expect(s.findings.unexplained.length).toBe(s.findings.unexplained_runs)
    expect(s.findings.unexplained.length).toBeGreaterThan(0)
    for (const u of s.findings.unexplained) expect(u.repeat).toBe(`fsim check --mount overlay --mutant copy-up-short --seed ${u.seed} --runs 1`)
    const first = s.saved[0]!
    expect(first.explained).toBe(false)
    expect(first.trace.endsWith(`-${first.trace_seed}.jsonl`)).toBe(true)
    const trace = loadTrace(first.trace)
    expect(trace.header.seed).toBe(first.trace_seed)
    const r = replayTrace(trace, { mounts: env.mounts, lockOrders: env.lockOrders })
    expect(r.reproduced).toBe(true)
    const sorted = env.findings!["overlay"]!.run(r.run)
    expect(sorted.unknown.some((u) => u.startsWith(`${first.check}:`)), `${first.check} in ${JSON.stringify(sorted)}`).toBe(true)
    // The text summary names the unexplained runs too.
    const text = fsim(["check", "--mount", "overlay", "--mutant", "copy-up-short", "--runs", "12", "--no-shrink", "--save-dir", dir])
    expect(text.stdout).toContain("UNEXPLAINED failing runs")
    expect(text.stdout).toContain(`fsim check --mount overlay --mutant copy-up-short --seed ${s.findings.unexplained[0]!.seed} --runs 1`)
    expect(readFileSync(first.trace, "utf8").length).toBeGreaterThan(0)
  })
})
