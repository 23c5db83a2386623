// gVisor's own bugs that the port reproduces (src/impl/gofer/FINDINGS.md):
// each has a trace in traces/ that fails as recorded, and the property
// suites' recognizer tells the one it knows from other failures.

import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { knownFinding } from "../../src/impl/gofer/findings.js"
import { replayTrace } from "../../src/sim/replay.js"
import { loadTrace } from "../../src/sim/trace.js"
import { ROOT } from "../cli/helpers.js"

const env = defaultEnv()

function replay(name: string) {
  const r = replayTrace(loadTrace(join(ROOT, "traces", name)), { mounts: env.mounts, lockOrders: env.lockOrders })
  expect(r.reproduced).toBe(true)
  return r.run
}

describe("gofer findings", () => {
  it("otrunc-read-zeros: a read racing an O_TRUNC open returns zeros, and is recognized", () => {
    const run = replay("gofer-finding-otrunc-read-zeros.jsonl")
    expect(run.verdict).toBe("fail")
    expect(knownFinding(run.violations)?.id).toBe("otrunc-read-zeros")
  })

  it("symlink-to-root: a path going on past a symlink to / resolves to / (stat) or walks an empty name (EINVAL)", () => {
    const run = replay("gofer-finding-symlink-to-root.jsonl")
    expect(run.verdict).toBe("fail")
    expect(run.ops.find((o) => o.op.op === "mkdir")?.result).toEqual({ errno: "EINVAL" })
    // Not an instance of a finding the suites tolerate: campaigns avoid it instead.
    expect(knownFinding(run.violations)).toBeNull()
  })

  it("hard-link-caches: under fscache a truncate through one name is not seen through the other", () => {
    const run = replay("gofer-finding-hard-link-caches.jsonl")
    expect(run.verdict).toBe("fail")
    expect(knownFinding(run.violations)).toBeNull()
  })

  it("the recognizer needs every violation to match", () => {
    const zeros = { check: "lincheck" as const, message: 'not linearizable: read of 2 bytes from f by thread t0 (ops[1], events 3-9) saw data "\\u0000\\u0000"; ...', events: [3, 9] }
    const other = { check: "invariants" as const, message: "/a: handle downgraded from w to r", events: [4] }
    expect(knownFinding([zeros])?.id).toBe("otrunc-read-zeros")
    expect(knownFinding([zeros, other])).toBeNull()
    expect(knownFinding([])).toBeNull()
  })
})
