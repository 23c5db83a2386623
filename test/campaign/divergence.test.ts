// Decision logs by meaning (thread, its own step, kind of point): an edited,
// impossible decision list is reported at its first divergent step, with
// what was expected and what could run, never a crash.

import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { rerun } from "../../src/sim/campaign.js"
import { replayTrace } from "../../src/sim/replay.js"
import { parseTrace, traceText } from "../../src/sim/trace.js"
import { fsim, tempDir } from "../cli/helpers.js"
import { MOUNTS, MUTANT_CAMPAIGN, MUTANT_FAILING_RUN } from "./helpers.js"

const text = traceText(rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN))
const lines = text.split("\n")
/** Line numbers (0-based, in `lines`) of sched events, and their decision index. */
const scheds = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.includes('"kind":"sched"'))

function edit(k: number, change: (e: Record<string, unknown>) => void): string {
  const out = [...lines]
  const e = JSON.parse(out[scheds[k]!.i]!) as Record<string, unknown>
  change(e)
  out[scheds[k]!.i] = JSON.stringify(e)
  return out.join("\n")
}

/** A decision k whose thread differs from the next decision's: swapping them is impossible or changes the run. */
const k = scheds.findIndex(({ l }, j) => j > 2 && j + 1 < scheds.length && JSON.parse(l).thread !== JSON.parse(scheds[j + 1]!.l).thread && JSON.parse(l).thread !== "fsim.final")

describe("an edited decision list", () => {
  const cases: [string, (e: Record<string, unknown>) => void, RegExp][] = [
    ["names a thread that does not exist", (e) => (e["thread"] = "ghost"), new RegExp(`^step ${k}: expected ghost at its step \\d+ \\(\\w+\\), but it cannot run; runnable: .+ \\(its step \\d+, \\w+\\)`)],
    ["names a step the thread is not at", (e) => (e["step"] = Number(e["step"]) + 5), new RegExp(`^step ${k}: expected \\S+ at its step \\d+ \\(\\w+\\), but \\S+ is at its step \\d+ \\(\\w+\\); runnable: `)],
    ["names the wrong kind of point", (e) => (e["point"] = e["point"] === "lock" ? "rpc_send" : "lock"), new RegExp(`^step ${k}: expected \\S+ at its step \\d+ \\((lock|rpc_send)\\), but \\S+ is at its step \\d+ \\(\\w+\\)`)],
  ]
  for (const [what, change, message] of cases) {
    it(`${what}: the replay reports the first divergent step, not a crash`, () => {
      const r = replayTrace(parseTrace(edit(k, change), "edited.jsonl"), { mounts: MOUNTS })
      expect(r.reproduced).toBe(false)
      expect(r.divergence).toMatch(message)
      expect(r.run.end.kind).toBe("divergence")
    })
  }

  it("fsim replay says where and why, and exits 1", () => {
    const dir = tempDir("diverge")
    const file = join(dir, "edited.jsonl")
    writeFileSync(file, edit(k, (e) => (e["thread"] = "ghost")))
    const r = fsim(["replay", file])
    expect(r.stderr).toBe("")
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(new RegExp(`diverged: step ${k}: expected ghost at its step \\d+ \\(\\w+\\), but it cannot run; runnable: `))
    expect(r.stdout).toMatch(/first difference at event \d+:/)
    expect(r.stdout).toMatch(/NOT reproduced/)
    const j = JSON.parse(fsim(["replay", file, "--json"]).stdout)
    expect(j).toMatchObject({ reproduced: false })
    expect(j.divergence).toMatch(new RegExp(`^step ${k}: `))
  })

  it("the unedited trace reproduces", () => {
    expect(replayTrace(parseTrace(text, "t.jsonl"), { mounts: MOUNTS }).reproduced).toBe(true)
  })
})
