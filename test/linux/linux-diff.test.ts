// The model against real Linux (tmpfs), op by op, on seeded random
// sequential scenarios. `npm test` runs a sample; a full run:
//
//   FSIM_LINUX_SCENARIOS=2000 npx vitest run test/linux
//
// One scenario replays with FSIM_LINUX_SEED=<seed> FSIM_LINUX_SCENARIOS=1.
// Needs root and `mount -t tmpfs`; without them the test fails under CI and
// is skipped (loudly) elsewhere.

import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { afterAll, expect, test } from "vitest"
import { arbSequentialScenario } from "../../src/model/arbitraries.js"
import { CASES } from "../model/cases.js"
import { describeMismatch, runScenario, type Mismatch } from "./diff.js"
import { LinuxOracle } from "./oracle.js"

const SCENARIOS = Number(process.env["FSIM_LINUX_SCENARIOS"] ?? 300)
const BASE_SEED = Number(process.env["FSIM_LINUX_SEED"] ?? 20_251_121)
/** The sysctls the model assumes (perm.ts mayLink, ops.ts doOpen). */
const EXPECTED_SYSCTLS = { protected_hardlinks: 1, protected_fifos: 0, protected_regular: 0 }

let oracle: LinuxOracle | undefined
let scenarioId = 0

afterAll(async () => {
  await oracle?.quit()
})

/** The oracle, started once; undefined (and the test skipped) where tmpfs cannot be mounted outside CI. */
async function linux(ctx: { skip: () => void }): Promise<LinuxOracle | undefined> {
  if (oracle !== undefined) return oracle
  const o = new LinuxOracle()
  let sysctl: Record<string, number>
  try {
    sysctl = await o.init(mkdtempSync(join(tmpdir(), "fsim-linux-diff-")))
  } catch (e) {
    await o.quit()
    const why = `LINUX DIFFERENTIAL TEST NOT RUN: cannot mount a tmpfs (needs root): ${(e as Error).message}`
    if (process.env["CI"] !== undefined) throw new Error(why)
    console.warn(`\n*** ${why} ***\n`)
    ctx.skip()
    return undefined
  }
  for (const [k, v] of Object.entries(EXPECTED_SYSCTLS)) {
    expect(sysctl[k], `fs.${k} on this machine differs from what the model assumes`).toBe(v)
  }
  oracle = o
  return o
}

test("the hand-written cases of test/model/cases.ts hold on Linux", async (ctx) => {
  const o = await linux(ctx)
  if (o === undefined) return
  for (const c of CASES) {
    const sc = { tree: c.tree, root: c.root ?? {}, readOnly: c.readOnly ?? false, steps: c.steps.map(([op, cred]) => ({ op, cred })) }
    const r = await runScenario(o, scenarioId++, -1, sc)
    expect(r.mismatch === undefined ? "" : describeMismatch(r.mismatch), c.name).toBe("")
  }
})

test(`model matches Linux tmpfs on ${SCENARIOS} scenarios from seed ${BASE_SEED}`, async (ctx) => {
  const o = await linux(ctx)
  if (o === undefined) return
  const arb = arbSequentialScenario()
  const mismatches: Mismatch[] = []
  let compared = 0
  let skipped = 0
  for (let i = 0; i < SCENARIOS; i++) {
    const seed = BASE_SEED + i
    const sc = fc.sample(arb, { seed, numRuns: 1 })[0]!
    const r = await runScenario(o, scenarioId++, seed, sc).catch((e: unknown) => {
      throw new Error(`seed ${seed}: ${(e as Error).message}\nscenario: ${JSON.stringify(sc)}`)
    })
    compared += r.compared
    skipped += r.skipped
    if (r.mismatch !== undefined) mismatches.push(r.mismatch)
  }
  console.log(
    `linux-diff: ${SCENARIOS} scenarios (seeds ${BASE_SEED}..${BASE_SEED + SCENARIOS - 1}), ${compared} ops compared, ${skipped} skipped (blocking FIFO), ${mismatches.length} mismatching scenarios`,
  )
  if (process.env["FSIM_LINUX_ALL"] !== undefined) for (const m of mismatches) console.log(describeMismatch(m).split("\n").slice(0, 4).join("\n"))
  const shown = mismatches.slice(0, 3).map(describeMismatch).join("\n\n")
  expect(mismatches.length, `mismatches (replay one with FSIM_LINUX_SEED=<seed> FSIM_LINUX_SCENARIOS=1):\n${shown}`).toBe(0)
}, 120_000 + SCENARIOS * 100)
