// The tmpfs port's re-created upstream bugs (TMPFS_MUTANT_UPSTREAM in
// src/impl/tmpfs/filesystem.ts) are found by the campaign a user runs,
//
//   fsim check --mount tmpfs --mutant NAME --seed 1 --strategy portfolio
//
// (4 threads of up to 12 ops, 3 names, the shape's defaults), within a
// budget of about twice the runs measured, by the check named, and the
// same run without the mutant passes. One cannot be found that way:
// generated opens carry O_NONBLOCK (src/sim/campaign.ts, nonBlocking), so
// no FIFO open ever waits for its peer, which fifo-open-holds-fs-mu needs
// (the swarm's FIFO pairs, ScenarioShape.fifoPair, do; the zoo hunts it
// there); a hand-written scenario shows it here.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { isTmpfsMutant, TMPFS_MUTANT_UPSTREAM, type TmpfsMutant } from "../../src/impl/tmpfs/filesystem.js"
import { PORTFOLIO, rerun, seedOf, type CampaignOptions } from "../../src/sim/campaign.js"
import { shapeDefaults } from "../../src/impl/registry.js"
import type { CheckName } from "../../src/sim/events.js"
import { runSubject } from "../../src/sim/run.js"
import type { Mount, Scenario } from "../../src/sim/scenario.js"

const env = defaultEnv()
const SEED = 1

interface MutantCase {
  readonly mutant: TmpfsMutant
  readonly check: CheckName
  /** Runs the campaign may take to find it. */
  readonly budget: number
  /** The run (seed SEED + run) that first found it when measured. */
  readonly measured: number
}

const CAMPAIGN_CASES: readonly MutantCase[] = [
  // Found by the invariant that every model description belongs to an open
  // one: another thread's op ends inside the window the unlock opens.
  { mutant: "open-creat-unreferenced", check: "invariants", budget: 260, measured: 128 },
  { mutant: "append-ignored", check: "lincheck", budget: 400, measured: 196 },
  { mutant: "rmdir-keeps-link-ref", check: "invariants", budget: 20, measured: 3 },
  { mutant: "release-leaks-files", check: "invariants", budget: 20, measured: 0 },
]

function options(mutant: TmpfsMutant | null): CampaignOptions {
  const mount: Mount = mutant === null ? { kind: "tmpfs" } : { kind: "tmpfs", options: `mutant=${mutant}` }
  return { shape: { mount, threads: 4, ops: 12, ...shapeDefaults(mount) }, seed: SEED, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: env.mounts, lockOrders: env.lockOrders }
}

function fifoScenario(options: string): Scenario {
  return {
    format: "fsim.scenario/1",
    name: "a FIFO open waits for its peer",
    mount: { kind: "tmpfs", options },
    remote: { p: { type: "fifo" } },
    threads: [
      // O_CREAT of an existing FIFO: the open that takes filesystem.mu for writing.
      { name: "t0", ops: [{ op: "open", path: "/p", flags: ["O_RDONLY", "O_CREAT"], fd: "r" }, { op: "close", fd: "r" }] },
      { name: "t1", ops: [{ op: "open", path: "/p", flags: ["O_WRONLY"], fd: "w" }, { op: "close", fd: "w" }] },
    ],
  }
}

describe("tmpfs re-created upstream bugs", () => {
  it("each names a full commit, its subject and what it needs, and has a case", () => {
    const cased = new Set<string>([...CAMPAIGN_CASES.map((c) => c.mutant), "fifo-open-holds-fs-mu"])
    for (const [name, u] of Object.entries(TMPFS_MUTANT_UPSTREAM)) {
      expect(isTmpfsMutant(name), name).toBe(true)
      expect(u.commit, name).toMatch(/^[0-9a-f]{40}$/)
      expect(u.subject.length, name).toBeGreaterThan(0)
      expect(cased.has(name), name).toBe(true)
    }
    for (const c of CAMPAIGN_CASES) expect(c.measured).toBeLessThan(c.budget)
  })

  for (const c of CAMPAIGN_CASES) {
    it(`${c.mutant} is found by ${c.check} within ${c.budget} runs, and the same run passes without it`, { timeout: 600_000 }, () => {
      const o = options(c.mutant)
      let found: number | null = null
      for (let run = 0; run < c.budget && found === null; run++) {
        const r = rerun(o, run)
        if (r.verdict === "pass") continue
        expect(rerun(options(null), run).verdict, `run ${run} without the mutant`).toBe("pass")
        expect(r.violations.map((v) => v.check), r.violations.map((v) => v.message).join("\n")).toContain(c.check)
        found = run
      }
      expect(found, `${c.mutant}: not found in ${c.budget} runs`).not.toBeNull()
      console.log(`${c.mutant}: found at run ${found} (seed ${seedOf(SEED, found!)}; measured: run ${c.measured})`)
    })
  }

  it("fifo-open-holds-fs-mu deadlocks a FIFO's two opens; without it they pass", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const bad = runSubject(fifoScenario("mutant=fifo-open-holds-fs-mu"), { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
      const good = runSubject(fifoScenario(""), { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
      expect(good.verdict, `seed ${seed}`).toBe("pass")
      if (bad.verdict === "pass") continue
      const d = bad.violations.find((v) => v.check === "deadlock")
      expect(d?.message, `seed ${seed}`).toMatch(/tmpfs\.filesystem\.mu.*FIFO|FIFO.*tmpfs\.filesystem\.mu/)
      return
    }
    expect.fail("no seed of 10 deadlocked")
  })
})
