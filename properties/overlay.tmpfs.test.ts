// The overlay over tmpfs layers: concurrent campaigns (properties/overlay.ts).
//
//   FSIM_OVERLAY_RUNS=5000 npx vitest run properties/overlay.tmpfs.test.ts

import { expect, test } from "vitest"
import { OVERLAY_FINDINGS } from "../src/impl/overlay/findings.js"
import { overlayRuns, runOne, strategyOf, unknownViolations, unlinkedLowerDirectory } from "./overlay.js"

test("overlay over tmpfs layers: concurrent runs fail only with documented findings", () => {
  const runs = overlayRuns()
  const base = Number(process.env["FSIM_OVERLAY_SEED"] ?? 1)
  const unknown: string[] = []
  const known = new Map<string, number>()
  const verdicts = { pass: 0, fail: 0, other: 0 }
  for (let run = 0; run < runs; run++) {
    const seed = base + run
    const { scenario, report: r } = runOne(seed, run)
    if (r.verdict === "pass") verdicts.pass++
    else if (r.verdict === "fail") verdicts.fail++
    else verdicts.other++
    // A lincheck failure that follows an unlink of a lower directory is that finding, whichever op the checker names.
    const lowerDirUnlinked = unlinkedLowerDirectory(scenario, r)
    const u = unknownViolations(r.violations).filter((v) => !(lowerDirUnlinked && v.check === "lincheck"))
    for (const v of u) unknown.push(`seed ${seed} (${JSON.stringify(strategyOf(run))}): ${v.check}: ${v.message}`)
    if (u.length === 0 && r.verdict !== "pass" && r.verdict !== "fail") unknown.push(`seed ${seed}: verdict ${r.verdict} (${r.end.kind})`)
    for (const f of OVERLAY_FINDINGS) {
      if (r.violations.some((v) => f.matches(v)) || (f.id === "unlink-whites-out-lower-directory" && lowerDirUnlinked && r.violations.some((v) => v.check === "lincheck"))) known.set(f.id, (known.get(f.id) ?? 0) + 1)
    }
  }
  console.log(`overlay over tmpfs: ${runs} concurrent runs, ${verdicts.pass} passed, ${verdicts.fail} failed (runs with each known finding: ${[...known].map(([k, n]) => `${k} ${n}`).join(", ") || "none"}), ${verdicts.other} other`)
  expect(unknown, unknown.join("\n")).toEqual([])
}, 1_800_000)
