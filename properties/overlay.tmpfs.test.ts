// The overlay over tmpfs layers: concurrent campaigns (properties/overlay.ts).
//
//   FSIM_OVERLAY_RUNS=20000 npx vitest run properties/overlay.tmpfs.test.ts

import { test } from "vitest"
import { checkOverlaySuite, overlayRuns, type OverlaySuite } from "./overlay.js"

const SUITE: OverlaySuite = { lowerKind: "tmpfs" }

test("overlay over tmpfs layers: concurrent runs fail only with documented findings", { timeout: Math.max(120_000, overlayRuns(SUITE) * 400) }, () => {
  checkOverlaySuite(SUITE)
})
