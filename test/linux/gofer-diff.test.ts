// The gofer port against real Linux (tmpfs) and the model's gVisor
// dialects, op by op, on the model harness's seeded sequential scenarios,
// in each of the four cache modes. `npm test` runs a sample; a full run:
//
//   FSIM_GOFER_LINUX_SCENARIOS=5000 npx vitest run test/linux/gofer-diff.test.ts
//
// For every scenario (gofer.ts): real Linux runs it once through oracle.py,
// and each result must equal the model's Linux result (as in
// linux-diff.test.ts); the gofer runs it once per cache mode, and each
// result must equal the result of the mode's dialect (src/model/gvisor.ts,
// DIALECTS.md) or one of the alternatives it allows, normalized as the
// linearizability checker does (times, inode numbers, directory sizes
// dropped); the final tree read back through the mount must equal the
// dialect's final state, and the run must pass its own checks (invariants,
// lock order, deadlock, coherence, linearizability). The summary counts, per
// mode, the ops equal to Linux and the ops each dialect rule explains.
//
// FSIM_GOFER_LINUX_SCENARIOS is the number of scenarios judged per mode.
// Under cache=fscache and fscache_writethrough, a scenario that makes a
// second name of a file is left out (DIALECTS.md, known gaps: the 2022 gofer
// keeps a cache per name), and later seeds are drawn until every mode has
// its count. Symlink targets made only of slashes become "/." on every side
// (gofer.ts, goferForm). One scenario replays with
// FSIM_GOFER_LINUX_SEED=<seed> FSIM_GOFER_LINUX_SCENARIOS=1 (a mode that
// leaves that seed out goes on to the next). Needs root, as
// linux-diff.test.ts does: without it the test fails under CI and is
// skipped (loudly) elsewhere.

import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { afterAll, expect, test } from "vitest"
import { arbSequentialScenario } from "../../src/model/arbitraries.js"
import { canonical } from "./diff.js"
import { goferForm, goferScenario, judge, leftOut, MODES, plan, runGofer, runLinux, type CacheMode, type Plan } from "./gofer.js"
import { LinuxOracle } from "./oracle.js"

const PER_MODE = Number(process.env["FSIM_GOFER_LINUX_SCENARIOS"] ?? 150)
const BASE_SEED = Number(process.env["FSIM_GOFER_LINUX_SEED"] ?? 20_251_121)
/** Seeds drawn at most (the modes that leave scenarios out need more than PER_MODE). */
const MAX_SEEDS = PER_MODE * 3 + 20

let oracle: LinuxOracle | undefined

afterAll(async () => {
  await oracle?.quit()
})

async function linux(ctx: { skip: () => void }): Promise<LinuxOracle | undefined> {
  if (oracle !== undefined) return oracle
  const o = new LinuxOracle()
  try {
    await o.init(mkdtempSync(join(tmpdir(), "fsim-gofer-linux-diff-")))
  } catch (e) {
    await o.quit()
    const why = `GOFER/LINUX DIFFERENTIAL TEST NOT RUN: cannot mount a tmpfs (needs root): ${(e as Error).message}`
    if (process.env["CI"] !== undefined) throw new Error(why)
    console.warn(`\n*** ${why} ***\n`)
    ctx.skip()
    return undefined
  }
  oracle = o
  return o
}

interface Tally {
  scenarios: number
  firstSeed: number
  lastSeed: number
  leftOut: number
  ops: number
  equalLinux: number
  rules: Map<string, number>
  mismatches: string[]
}

function describeMismatch(seed: number, mode: CacheMode, p: Plan, m: NonNullable<ReturnType<typeof judge>["mismatch"]>): string {
  const lines = [`seed ${seed}, cache=${mode}: ${typeof m.index === "number" ? `op #${m.index} differs` : m.index === "final" ? "final tree differs" : "the run failed"}`]
  if (typeof m.index === "number") {
    const s = p.steps[m.index]!
    lines.push(`  op:      ${JSON.stringify(s.op)} as ${JSON.stringify(s.cred)}`, `  rule:    ${m.rule ?? "(none: Linux's)"}`)
  }
  lines.push(`  gofer:   ${canonical(m.gofer)}`, `  dialect: ${canonical(m.dialect)}`, `  scenario: ${JSON.stringify(goferScenario(p, mode).scenario)}`)
  return lines.join("\n")
}

test(`the gofer matches Linux tmpfs, save its documented dialect, on ${PER_MODE} scenarios per cache mode from seed ${BASE_SEED}`, async (ctx) => {
  const o = await linux(ctx)
  if (o === undefined) return
  const started = Date.now()
  const arb = arbSequentialScenario()
  const tallies = Object.fromEntries(
    MODES.map((m) => [m, { scenarios: 0, firstSeed: -1, lastSeed: -1, leftOut: 0, ops: 0, equalLinux: 0, rules: new Map<string, number>(), mismatches: [] } satisfies Tally]),
  ) as unknown as Record<CacheMode, Tally>
  const linuxMismatches: string[] = []
  let linuxScenarios = 0
  let linuxOps = 0
  let droppedOps = 0
  let rewritten = 0
  let id = 0
  let seed = BASE_SEED
  for (; seed < BASE_SEED + MAX_SEEDS && MODES.some((m) => tallies[m].scenarios < PER_MODE); seed++) {
    const form = goferForm(fc.sample(arb, { seed, numRuns: 1 })[0]!)
    const p = plan(form.scenario)
    const modes = MODES.filter((m) => {
      if (tallies[m].scenarios >= PER_MODE) return false
      if (!leftOut(p, m)) return true
      tallies[m].leftOut++
      return false
    })
    if (modes.length === 0) continue
    rewritten += form.rewritten
    droppedOps += p.dropped
    const l = await runLinux(o, id++, p).catch((e: unknown) => {
      throw new Error(`seed ${seed}: ${(e as Error).message}\nscenario: ${JSON.stringify(form.scenario)}`)
    })
    linuxScenarios++
    linuxOps += p.steps.length
    if (l.mismatch !== undefined) {
      const at = l.mismatch.index === "final" ? "final tree" : `op #${l.mismatch.index} ${JSON.stringify(p.steps[l.mismatch.index]!.op)}`
      linuxMismatches.push(`seed ${seed}: ${at}: model ${canonical(l.mismatch.model)}, linux ${canonical(l.mismatch.linux)}`)
    }
    for (const mode of modes) {
      const t = tallies[mode]
      const g = runGofer(p, mode, seed)
      const v = judge(p, mode, l, g)
      t.scenarios++
      if (t.firstSeed < 0) t.firstSeed = seed
      t.lastSeed = seed
      t.ops += v.ops
      t.equalLinux += v.equalLinux
      for (const [r, n] of v.rules) t.rules.set(r, (t.rules.get(r) ?? 0) + n)
      if (v.mismatch !== undefined) t.mismatches.push(describeMismatch(seed, mode, p, v.mismatch))
    }
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  console.log(
    `gofer-linux-diff: linux: ${linuxScenarios} scenarios (seeds ${BASE_SEED}..${seed - 1}), ${linuxOps} ops, ${droppedOps} dropped (blocking FIFO), ${rewritten} slash-only symlink targets written "/.", ${linuxMismatches.length} model mismatches; ${secs} s`,
  )
  for (const mode of MODES) {
    const t = tallies[mode]
    const rules = [...t.rules.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([r, n]) => `${r} ${n}`)
    const departed = t.ops - t.equalLinux
    console.log(
      `gofer-linux-diff: cache=${mode}: ${t.scenarios} scenarios (seeds ${t.firstSeed}..${t.lastSeed}${t.leftOut > 0 ? `, ${t.leftOut} left out: second name of a file` : ""}), ${t.ops} ops, ${t.equalLinux} equal to Linux, ${departed} explained by rules [${rules.join(", ")}], ${t.mismatches.length} mismatches`,
    )
  }
  const all = MODES.flatMap((m) => tallies[m].mismatches)
  if (process.env["FSIM_GOFER_LINUX_ALL"] !== undefined) for (const m of all) console.log(m)
  expect(linuxMismatches.slice(0, 5).join("\n"), "real Linux differs from the model's Linux (see linux-diff.test.ts)").toBe("")
  for (const m of MODES) expect(tallies[m].scenarios, `cache=${m}: scenarios judged within ${MAX_SEEDS} seeds`).toBe(PER_MODE)
  expect(all.length, `mismatches (replay one with FSIM_GOFER_LINUX_SEED=<seed> FSIM_GOFER_LINUX_SCENARIOS=1):\n${all.slice(0, 3).join("\n\n")}`).toBe(0)
}, 120_000 + PER_MODE * 400)
