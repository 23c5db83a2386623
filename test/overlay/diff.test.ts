// The overlay port against the model on the merged tree, op by op, on
// layered sequential scenarios (the Linux oracle's generator,
// test/linux/overlay.ts, less what the gvisor-overlay dialect cannot
// follow: harness.ts). For every scenario the model steps each op as tmpfs
// would on the merged tree, then as the gvisor-overlay dialect
// (src/model/gvisor-overlay.ts, DIALECTS.md) says gVisor's overlay departs;
// the port must give the dialect's result (or an alternative it allows),
// the dialect's final tree, and pass its own checks (invariants with the
// lower layers unchanged, lock order but for the recognized finding,
// deadlock, linearizability). Inode numbers are not compared (harness.ts
// judgeOverlay). Two behaviours of gVisor's overlay that depend on whether
// a file was copied up or has a dentry are recognized and counted instead
// of failing (FINDINGS.md): unlink(2) of a directory with no upper part
// whites it out, and copy-up of a directory sets or drops its setgid bit.
//
//   FSIM_OVERLAY_SCENARIOS=2000 npx vitest run test/overlay/diff.test.ts
//   FSIM_OVERLAY_SEED=<seed> FSIM_OVERLAY_SCENARIOS=1 ... (one scenario)

import fc from "fast-check"
import { expect, test } from "vitest"
import { describeVerdict, plan } from "../linux/overlay.js"
import { arbGvisorOverlayScenario, gvisorOverlayPlanDialect, judgeOverlay, recognizedMismatch, runOverlay, type OverlaySideOptions } from "./harness.js"

const N = Number(process.env["FSIM_OVERLAY_SCENARIOS"] ?? 120)
const BASE_SEED = Number(process.env["FSIM_OVERLAY_SEED"] ?? 1)

function differential(n: number, side: OverlaySideOptions, label: string): void {
  const rules = new Map<string, number>()
  const findings = new Map<string, number>()
  let ops = 0
  let asTmpfs = 0
  let recognizedViolations = 0
  const failures: string[] = []
  for (let i = 0; i < n; i++) {
    const seed = BASE_SEED + i
    const [sc] = fc.sample(arbGvisorOverlayScenario(), { seed, numRuns: 1 })
    const p = plan(sc!, gvisorOverlayPlanDialect(sc!))
    const run = runOverlay(p, seed, side)
    recognizedViolations += run.recognized
    const v = judgeOverlay(p, run)
    ops += v.ops
    asTmpfs += v.asTmpfs
    for (const [r, n] of v.rules) rules.set(r, (rules.get(r) ?? 0) + n)
    if (v.mismatch === undefined) continue
    const known = recognizedMismatch(p, v.mismatch)
    if (known !== null) findings.set(known, (findings.get(known) ?? 0) + 1)
    else if (failures.length < 3) failures.push(describeVerdict(seed, "overlay", p, v.mismatch))
    else failures.push(`seed ${seed}`)
  }
  const byCount = [...rules].sort((a, b) => b[1] - a[1])
  console.log(
    `overlay (${label}) vs gvisor-overlay dialect: ${n} scenarios (seeds ${BASE_SEED}..${BASE_SEED + n - 1}), ${ops} ops judged, ${asTmpfs} as tmpfs on the merged tree; ` +
      `departures by rule: ${byCount.map(([r, n]) => `${r} ${n}`).join(", ")}; ` +
      `recognized findings: scenarios ${[...findings].map(([f, n]) => `${f} ${n}`).join(", ") || "none"}, lock-order violations ${recognizedViolations}`,
  )
  expect(failures, failures.join("\n\n")).toEqual([])
}

test(`tmpfs layers: the overlay agrees with the gvisor-overlay dialect on ${N} layered scenarios`, () => {
  differential(N, {}, "tmpfs layers")
}, 600_000)

test(`a gofer lower layer (cache=fscache): the overlay agrees with the gvisor-overlay dialect on ${Math.ceil(N / 3)} layered scenarios`, () => {
  differential(Math.ceil(N / 3), { goferLower: "cache=fscache" }, "lowest layer on the gofer")
}, 600_000)
