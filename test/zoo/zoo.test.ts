// The zoo of mutants, hunted as a user would (hunt.ts). CI samples a few
// with a small budget; `FSIM_ZOO=all npx vitest run test/zoo` hunts every
// one with up to 10,000 runs in the default swarm campaign and in the
// fixed configuration of its mount, and prints the table (README, "The zoo").

import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { hunt, zooEntries, zooTable, type HuntResult, type ZooEntry } from "./hunt.js"

const ALL = process.env.FSIM_ZOO === "all"
const MAX_RUNS = Number(process.env.FSIM_ZOO_RUNS ?? (ALL ? 10_000 : 400))
/** Mutants CI hunts: a gofer, an overlay and a tmpfs one (re-created from upstream) the swarm finds within a few hundred runs. */
const SAMPLE = (process.env.FSIM_ZOO_SAMPLE ?? "stat-size-wrong,overlay:copy-up-short,append-ignored").split(",")
/** Which campaigns hunt each mutant: the default swarm, and with FSIM_ZOO=all the fixed configuration of its mount too. */
const MODES = (process.env.FSIM_ZOO_MODES ?? (ALL ? "swarm,fixed" : "swarm")).split(",")
/** Runs each shrink may take (fsim check's --shrink-budget). */
const SHRINK = Number(process.env.FSIM_ZOO_SHRINK ?? 4_000)

describe("the zoo", () => {
  const entries = zooEntries()

  // Issue 14 asks for at least 16, among them 4 races, 3 needing external
  // changes, 3 needing memory pressure, 3 sequential and 2 in the overlay.
  // External changes reach the issue's 3 (7d0bf706d, a later revalidate.go
  // fix, was ported so that the code before it could be the mutant); the
  // default swarm finds the three within a few thousand runs since its
  // external users replace names (src/sim/externalgen.ts), and each shows
  // its bug in a scenario of its own too (test/gofer/mutants.test.ts).
  // Pressure stands at 2 (see the gofer's README, "The zoo": gVisor's
  // history of the gofer, and of the overlay, tmpfs, fsutil, pgalloc and the
  // VFS searched for a third, has no further fix the port has or could have
  // that needs dentry or page eviction or writeback): that floor is what the
  // zoo holds now, so that none is lost; it rises to the issue's as bugs are
  // added.
  it("holds the re-created upstream bugs it has, of every kind the issue names", () => {
    const upstream = entries.filter((e) => e.upstream !== null)
    const needs = (n: string): number => upstream.filter((e) => e.upstream!.needs === n).length
    expect(upstream.length).toBeGreaterThanOrEqual(24)
    expect(needs("race")).toBeGreaterThanOrEqual(4)
    expect(needs("external")).toBeGreaterThanOrEqual(3)
    expect(needs("pressure")).toBeGreaterThanOrEqual(2)
    expect(needs("sequential")).toBeGreaterThanOrEqual(3)
    expect(upstream.filter((e) => e.kind === "overlay").length).toBeGreaterThanOrEqual(2)
    for (const e of upstream) expect(e.upstream!.commit).toMatch(/^[0-9a-f]{40}$/)
  })

  // FSIM_ZOO_ONLY: these mutants, in this order.
  const only = process.env.FSIM_ZOO_ONLY?.split(",")
  const hunted = ALL ? (only === undefined ? entries : only.map((n) => entries.find((e) => e.name === n)).filter((e) => e !== undefined)) : entries.filter((e) => SAMPLE.includes(e.name))
  it.skipIf(!ALL && hunted.length === 0)(`hunts ${ALL ? "every mutant" : SAMPLE.join(", ")} with the default campaign (at most ${MAX_RUNS} runs each)`, { timeout: 24 * 3_600_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), "fsim-zoo-"))
    const rows: { entry: ZooEntry; swarm: HuntResult; fixed: HuntResult | null }[] = []
    for (const entry of hunted) {
      const none: HuntResult = { name: entry.name, mode: "swarm", runsToFirst: null, seed: null, check: null, shrunk: null, trace: null, replayed: null, passedOver: 0, config: "not hunted" }
      const swarm = MODES.includes("swarm") ? hunt(entry, "swarm", { maxRuns: MAX_RUNS, dir, shrinkBudget: SHRINK }) : none
      const fixed = MODES.includes("fixed") ? hunt(entry, "fixed", { maxRuns: MAX_RUNS, dir, shrinkBudget: SHRINK }) : null
      rows.push({ entry, swarm, fixed })
      // Row by row, so a long hunt interrupted keeps what it measured.
      if (process.env.FSIM_ZOO_OUT !== undefined) appendFileSync(`${process.env.FSIM_ZOO_OUT}.jsonl`, JSON.stringify({ entry, swarm, fixed }) + "\n")
      process.stderr.write(`zoo: ${entry.name}: swarm ${swarm.runsToFirst ?? "not found"}${fixed !== null ? `, fixed ${fixed.runsToFirst ?? "not found"}` : ""}\n`)
    }
    const table = zooTable(rows)
    process.stdout.write(table)
    if (process.env.FSIM_ZOO_OUT !== undefined) writeFileSync(process.env.FSIM_ZOO_OUT, table + "\n" + JSON.stringify(rows) + "\n")
    const found = rows.filter((r) => r.swarm.runsToFirst !== null)
    // Every failure found replays from its saved trace, in a process of its own.
    for (const r of found) expect(r.swarm.replayed, `${r.entry.name}: ${r.swarm.trace}`).toBe(true)
    if (ALL && MODES.includes("swarm")) expect(found.length / rows.length).toBeGreaterThanOrEqual(0.9)
    if (ALL) return
    else expect(found.map((r) => r.entry.name)).toEqual(rows.map((r) => r.entry.name))
  })
})
