// The regression corpus: every trace in traces/ replays byte-identically
// and reproduces its recorded verdict (a fixed bug's trace is kept with its
// verdict updated to pass, and still replays).

import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { replayTrace } from "../../src/sim/replay.js"
import { loadTrace } from "../../src/sim/trace.js"
import { ROOT } from "../cli/helpers.js"

const DIR = join(ROOT, "traces")
const files = readdirSync(DIR).filter((f) => f.endsWith(".jsonl")).sort()

describe("the regression corpus (traces/)", () => {
  it("is not empty", () => {
    expect(files.length).toBeGreaterThan(0)
  })
  const env = defaultEnv()
  for (const f of files) {
    it(`${f} reproduces its recorded verdict`, () => {
      const trace = loadTrace(join(DIR, f))
      const r = replayTrace(trace, { mounts: env.mounts, lockOrders: env.lockOrders })
      expect(r.divergence).toBeNull()
      expect(r.firstDifference).toBeNull()
      expect(r.run.verdict).toBe(trace.header.verdict)
      expect(r.reproduced).toBe(true)
    })
  }
})
