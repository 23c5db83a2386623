// The gofer under cache=remote_revalidating: see properties/gofer.ts.

import { describe, expect, it } from "vitest"
import { runSuite, runsPerMode, summary, type GoferSuite } from "./gofer.js"

const SUITE: GoferSuite = { cache: "remote_revalidating", external: 2 }

describe("gofer, cache=remote_revalidating", () => {
  it("random concurrent scenarios: every check passes, or fails only as a documented finding", { timeout: Math.max(120_000, runsPerMode() * 250) }, () => {
    const r = runSuite(SUITE, runsPerMode())
    console.log(summary(SUITE, r))
    expect(r.tally.runs).toBeGreaterThanOrEqual(runsPerMode())
  })
})
