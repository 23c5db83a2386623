// The fscache_writethrough coherence check (mount.ts, checkWritethrough):
// once a write returns, the server has the client's cached bytes of that
// file. It fires when they differ, and stays quiet on bytes another
// thread's write has dirtied and is still writing through (it holds dataMu;
// its Twrite is not answered yet): the default campaign's seeds 1032, 1374,
// 1671, 2133 and 2198 were that false alarm.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"

const env = defaultEnv()
const coherenceFailures = (s: Scenario, seeds: number, depth: number): number => {
  let n = 0
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSubject(s, { seed, strategy: { kind: "pct", depth }, mounts: env.mounts, lockOrders: env.lockOrders })
    if (r.violations.some((v) => v.check === "coherence")) n++
  }
  return n
}

describe("fscache_writethrough coherence", () => {
  it("fires when the server's bytes differ from the client's cache after a write returns (a short Twrite reported as full: mutant short-write-reports-full), quiet on the correct port", () => {
    const short = (options: string): Scenario => ({
      format: "fsim.scenario/1",
      name: "writethrough-short-write",
      mount: { kind: "gofer", options },
      remote: { a: { type: "file", data: "hello" } },
      threads: [{ name: "t0", ops: [{ op: "open", path: "/a", flags: ["O_RDWR"], fd: "f" }, { op: "pread", fd: "f", offset: 0, count: 5 }, { op: "pwrite", fd: "f", offset: 0, data: "HEL" }] }],
      faults: [{ kind: "short", message: "Twrite", nth: 1, count: 1 }],
    })
    const run = (s: Scenario) => runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
    const bug = run(short("cache=fscache_writethrough,mutant=short-write-reports-full"))
    expect(bug.violations.map((v) => v.message)).toContain("fscache_writethrough: after t0's write to /a returned, the server's bytes [0, 5) differ from the client's cache")
    expect(run(short("cache=fscache_writethrough")).verdict).toBe("pass")
  })

  it("stays quiet while another thread's write is still writing its dirtied bytes through (seed 1032, shrunk)", () => {
    const racing: Scenario = {
      format: "fsim.scenario/1",
      name: "writethrough-racing-writes",
      mount: { kind: "gofer", options: "cache=fscache_writethrough,dentry_cache_limit=1,page_budget=64" },
      threads: [
        { name: "t0", ops: [{ op: "open", path: "/a", flags: ["O_RDWR", "O_NONBLOCK"], fd: "t0.f" }, { op: "write", fd: "t0.f", data: "\u0000" }] },
        {
          name: "t1",
          ops: [
            { op: "open", path: "/a", flags: ["O_RDWR", "O_CREAT", "O_NONBLOCK"], fd: "t1.f" },
            { op: "write", fd: "t1.f", data: "\u0000" },
            { op: "pread", fd: "t1.f", offset: 0, count: 1 },
            { op: "pwrite", fd: "t1.f", offset: 0, data: "\u00ff" },
          ],
        },
      ],
    }
    expect(coherenceFailures(racing, 300, 3)).toBe(0)
  })
})
