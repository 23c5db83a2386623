// The fscache_writethrough coherence check (mount.ts, checkWritethrough):
// once a write returns, the server has the client's cached bytes of that
// file. It fires when they differ, and stays quiet on bytes another
// thread's write has dirtied and is still writing through (it holds dataMu;
// its Twrite is not answered yet): the default campaign's seeds 1032, 1374,
// 1671, 2133 and 2198 were that false alarm. It also stays quiet on a file
// unlinked while open, whose name another file has taken: the server's bytes
// at that path are not the file's (seed 255 of the default campaign once its
// I/O blocks changed, shrunk).

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

  it("stays quiet on a file unlinked while open, its name then another file's (seed 255, shrunk)", () => {
    const user = { uid: 1000, gid: 1000, groups: [1000] }
    const replaced: Scenario = {
      format: "fsim.scenario/1",
      name: "writethrough-unlinked-name-reused",
      mount: { kind: "gofer", options: "cache=fscache_writethrough,dentry_cache_limit=1" },
      remote: {},
      root: { mode: 0o1777, uid: 0, gid: 0 },
      threads: [
        {
          name: "t0",
          cred: user,
          ops: [
            { op: "open", path: "a", flags: ["O_RDWR", "O_CREAT", "O_NONBLOCK"], fd: "t0.f" },
            { op: "write", fd: "t0.f", data: "a" },
            { op: "pread", fd: "t0.f", offset: 0, count: 4096 },
            { op: "write", fd: "t0.f", data: "\u0000" },
          ],
        },
        { name: "t1", ops: [{ op: "open", path: "a", flags: ["O_RDWR", "O_CREAT", "O_TRUNC", "O_NONBLOCK"], fd: "t1.f" }] },
        { name: "t2", cred: user, ops: [{ op: "unlink", path: "a" }] },
      ],
    }
    // Before the check skipped unlinked files: 47 of these 300 schedules failed it.
    expect(coherenceFailures(replaced, 300, 3)).toBe(0)
  })
})
