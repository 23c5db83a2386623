// The overlay over a gofer lower layer, cache=fscache_writethrough: concurrent campaigns
// (properties/overlay.ts), without external users of the gofer's server.
//
//   FSIM_OVERLAY_GOFER_RUNS=10000 npx vitest run properties/overlay.gofer-fscache_writethrough.test.ts

import { test } from "vitest"
import { checkOverlaySuite, overlayRuns, type OverlaySuite } from "./overlay.js"

const SUITE: OverlaySuite = { lowerKind: "gofer", cache: "fscache_writethrough" }

test("overlay over a gofer lower layer (cache=fscache_writethrough): concurrent runs fail only with documented findings", { timeout: Math.max(120_000, overlayRuns(SUITE) * 600) }, () => {
  checkOverlaySuite(SUITE)
})
