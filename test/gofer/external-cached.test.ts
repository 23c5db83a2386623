// External users under gVisor's cached modes: InteropModeExclusive
// (cache=fscache) takes the client to be the share's only user, and
// InteropModeWritethrough its only writer (gofer.go). A change made behind
// the client's back is outside both, so generated scenarios with external
// users leave lincheck and coherence out there (the gofer's descriptor,
// externalUnjudged); the other checks still run.

import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { goferRunFindings } from "../../src/impl/gofer/findings.js"
import { arbScenario } from "../../src/sim/campaign.js"
import { shapeDefaults } from "../../src/impl/registry.js"
import type { Mount } from "../../src/sim/scenario.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { fsim, tempDir } from "../cli/helpers.js"

const env = defaultEnv()
const run = (s: Scenario, seed: number) => runSubject(s, { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })

// Seed 62 of `fsim check --mount gofer --options cache=fscache --external 2`,
// as shrunk: the client has cached / with its two links when x0 makes c on
// the server, and the final stat of / still says 2.
const mkdirBehind: Scenario = {
  format: "fsim.scenario/1",
  name: "external-mkdir-under-fscache",
  mount: { kind: "gofer", options: "cache=fscache" },
  remote: {},
  threads: [{ name: "t1", ops: [{ op: "stat", path: "/" }] }],
  external: [{ name: "x0", ops: [{ op: "mkdir", path: "c" }] }],
}

// The client reads b into its page cache; x0 truncates b on the server.
const truncateBehind: Scenario = {
  format: "fsim.scenario/1",
  name: "external-truncate-under-fscache",
  mount: { kind: "gofer", options: "cache=fscache" },
  remote: { b: { type: "file", data: "ab" } },
  threads: [{ name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDONLY"], fd: "f" }, { op: "read", fd: "f", count: 2 }] }],
  external: [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "truncate", path: "b", length: 0 }] }],
}

const WITHOUT = ["lock_order", "deadlock", "invariants"] as const

const cachedGoferMode = (m: Mount): boolean => shapeDefaults(m).externalUnjudged

describe("external users under cached gofer modes", () => {
  it("which modes are cached: fscache (also the default) and fscache_writethrough", () => {
    expect(cachedGoferMode({ kind: "gofer" })).toBe(true)
    expect(cachedGoferMode({ kind: "gofer", options: "dentry_cache_limit=4,cache=fscache" })).toBe(true)
    expect(cachedGoferMode({ kind: "gofer", options: "cache=fscache_writethrough" })).toBe(true)
    expect(cachedGoferMode({ kind: "gofer", options: "cache=remote_revalidating" })).toBe(false)
    expect(cachedGoferMode({ kind: "gofer", options: "cache=none" })).toBe(false)
  })

  it("generated scenarios with external users leave lincheck and coherence out in cached modes only", () => {
    for (const cache of ["fscache", "fscache_writethrough", "remote_revalidating", "none"]) {
      const mount = { kind: "gofer" as const, options: `cache=${cache}` }
      const shape = { mount, threads: 2, ops: 3, external: 2, externalUnjudged: shapeDefaults(mount).externalUnjudged }
      let withExternal = 0
      fc.assert(
        fc.property(arbScenario(shape), (s) => {
          const cached = (s.external ?? []).length > 0 && cache.startsWith("fscache")
          if ((s.external ?? []).length > 0) withExternal++
          expect(s.checks).toEqual(cached ? [...WITHOUT] : undefined)
        }),
        { numRuns: 40, seed: 3 },
      )
      expect(withExternal).toBeGreaterThan(0)
    }
  })

  it("lincheck fires on an external mkdir under fscache, and the run passes without it", () => {
    const seed = [...Array(20).keys()].find((i) => run(mkdirBehind, i).violations.some((v) => v.check === "lincheck"))
    expect(seed).toBeDefined()
    expect(run({ ...mkdirBehind, checks: [...WITHOUT] }, seed!).verdict).toBe("pass")
  })

  it("coherence fires on an external truncate under fscache, and is not reported where the scenario leaves it out", () => {
    const seed = [...Array(20).keys()].find((i) => run(truncateBehind, i).violations.some((v) => v.check === "coherence"))
    expect(seed).toBeDefined()
    // Kept, it is named as what it is.
    expect(goferRunFindings(run(truncateBehind, seed!))).toEqual({ known: ["external-user-under-exclusive-cache"], unknown: [] })
    const r = run({ ...truncateBehind, checks: [...WITHOUT] }, seed!)
    expect(r.violations).toEqual([])
    expect(r.verdict).toBe("pass")
  })

  it("fsim check: seed 62 of the default fscache campaign with --external 2 passes", () => {
    const r = fsim(["check", "--mount", "gofer", "--options", "cache=fscache", "--external", "2", "--seed", "62", "--runs", "1", "--no-shrink", "--json", "--save-dir", tempDir("ext62")])
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ verdicts: { pass: 1 } })
  })
})
