// tmpfs's invariant checks fire on seeded bugs (the test-only mutants of the
// port) and stay quiet on the same scenarios without them.

import { describe, expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { Campaign, PORTFOLIO } from "../../src/sim/campaign.js"
import { tmpfsShape } from "../../properties/tmpfs.js"

const ENV = defaultEnv()

function scenario(options?: string): Scenario {
  return {
    format: "fsim.scenario/1",
    name: "tmpfs-invariants",
    mount: options === undefined ? { kind: "tmpfs" } : { kind: "tmpfs", options },
    remote: { a: { type: "file", data: "x" }, d: { type: "dir", children: { b: { type: "file" } } } },
    threads: [
      { name: "t0", ops: [{ op: "stat", path: "/a" }, { op: "unlink", path: "/d/b" }, { op: "open", path: "/a", flags: ["O_RDWR"], fd: "f" }, { op: "write", fd: "f", data: "yz" }] },
      { name: "t1", cred: { uid: 1000, gid: 1000, groups: [1000] }, ops: [{ op: "lstat", path: "/d" }, { op: "mkdir", path: "/e" }] },
    ],
  }
}

function runIt(options?: string, seed = 1) {
  return runSubject(scenario(options), { seed, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
}

describe("tmpfs invariants", () => {
  test("quiet on correct runs", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = runIt(undefined, seed)
      expect(r.violations, `seed ${seed}`).toEqual([])
      expect(r.verdict).toBe("pass")
    }
  })

  test("a leaked reference is caught at quiescence (mutant stat-leaks-ref)", () => {
    const r = runIt("mutant=stat-leaks-ref")
    expect(r.verdict).toBe("fail")
    const inv = r.violations.filter((v) => v.check === "invariants")
    expect(inv.length).toBeGreaterThan(0)
    expect(inv[0]!.message).toMatch(/references beyond its name .*leaked/)
  })

  test("a stale dentry is caught right after the op (mutant unlink-keeps-dentry)", () => {
    const r = runIt("mutant=unlink-keeps-dentry")
    expect(r.verdict).toBe("fail")
    const inv = r.violations.filter((v) => v.check === "invariants")
    expect(inv[0]!.message).toMatch(/\/d\/b: a dentry with no such entry in the model/)
    // Reported at the unlink, not at the end.
    const unlinkReturn = r.ops.find((o) => o.op.op === "unlink")!.return
    expect(r.ops.filter((o) => o.thread === "fsim.final")).toEqual([])
    expect(unlinkReturn === null || inv[0]!.events[0]! <= unlinkReturn + 1).toBe(true)
  })

  test("a campaign finds each mutant within 20 runs, and passes them all without", () => {
    for (const mutant of ["stat-leaks-ref", "unlink-keeps-dentry"]) {
      const shape = { ...tmpfsShape(2), mount: { kind: "tmpfs" as const, options: `mutant=${mutant}` } }
      const t = new Campaign({ shape, seed: 1, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: ENV.mounts, lockOrders: ENV.lockOrders }).runRange(0, 20)
      expect(t.verdicts.fail, mutant).toBeGreaterThan(0)
      expect(t.violationsByCheck.invariants ?? 0, mutant).toBeGreaterThan(0)
    }
    const clean = new Campaign({ shape: tmpfsShape(2), seed: 1, strategy: { kind: "portfolio", specs: PORTFOLIO }, mounts: ENV.mounts, lockOrders: ENV.lockOrders }).runRange(0, 20)
    expect(clean.verdicts.pass).toBe(20)
  })

  test("unknown options are input errors", () => {
    expect(() => runIt("mutant=nope")).toThrow(/unknown tmpfs mutant/)
    expect(() => runIt("cache=none")).toThrow(/unknown option/)
  })
})
