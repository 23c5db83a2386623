// The overlay's invariants (src/impl/overlay/invariants.ts and the
// quiescence checks of mount.ts) fire on seeded bugs (the mount option
// mutant=NAME, src/impl/overlay/mutants.ts) and stay quiet on correct runs,
// sequential and concurrent.

import fc from "fast-check"
import { describe, expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { unknownViolations } from "../../src/impl/overlay/findings.js"
import type { Op } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import { decodeScenario, type Layer, type ThreadSpec } from "../../src/sim/scenario.js"
import type { StrategySpec } from "../../src/sim/strategy.js"
import { arbGvisorOverlayScenario } from "./harness.js"

const ENV = defaultEnv()
const tmpfs = (tree: object): Layer => ({ kind: "tmpfs", tree } as Layer)

function run(options: string, ops: readonly Op[], lower: Layer = tmpfs({ d: { type: "dir", children: { a: { type: "file", data: "lower data" }, w: { type: "whiteout" } } }, x: { type: "file", data: "xx" } })): RunReport {
  const s = decodeScenario({
    format: "fsim.scenario/1",
    name: "mutant",
    mount: { kind: "overlay", upper: tmpfs({ d: { type: "dir", children: { w: { type: "whiteout" } } } }), lower: [lower, tmpfs({ d: { type: "dir", children: { w: { type: "file" } } } })], options },
    threads: [{ name: "t0", ops }],
  })
  return runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
}

const OPS: readonly Op[] = [
  { op: "stat", path: "/d/a" },
  { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
  { op: "getdents", fd: "d" },
  { op: "open", path: "/d/a", flags: ["O_RDWR"], fd: "f" },
  { op: "pwrite", fd: "f", offset: 0, data: "L" },
  { op: "close", fd: "f" },
  { op: "chmod", path: "/x", mode: 0o600 },
  { op: "unlink", path: "/d/a" },
]

function checksFired(r: RunReport): string[] {
  return [...new Set(unknownViolations(r.violations).map((v) => v.check))].sort()
}

describe("seeded bugs are found", () => {
  test("leak-upper-ref: a destroyed dentry keeps its upper layer file; the quiescent reference count and the unmount say so", () => {
    const r = run("mutant=leak-upper-ref", OPS)
    expect(checksFired(r)).toContain("invariants")
    const msgs = unknownViolations(r.violations).map((v) => v.message)
    expect(msgs.some((m) => /upper: its mount holds \d+ references at quiescence/.test(m))).toBe(true)
    expect(msgs.some((m) => /event \d+/.test(m))).toBe(true)
  })

  test("whiteout-visible: the merged dirents cache lists a whiteout; the dentry is named by path", () => {
    const r = run("mutant=whiteout-visible", OPS)
    expect(checksFired(r)).toContain("invariants")
    const msgs = unknownViolations(r.violations).map((v) => v.message)
    expect(msgs.some((m) => m.startsWith("/d: the merged dirents cache lists the whiteout \"w\""))).toBe(true)
  })

  test("write-lower: writes go to the lower layer, which the quiescence check compares with what it was", () => {
    const r = run("mutant=write-lower", OPS)
    const msgs = unknownViolations(r.violations).map((v) => v.message)
    expect(msgs.some((m) => m.startsWith("lower layer lower[0] was modified"))).toBe(true)
  })

  test("copy-up-short: copy-up loses data, which linearizability finds", () => {
    const big = "y".repeat(70_000)
    const r = run("mutant=copy-up-short", [{ op: "chmod", path: "/x", mode: 0o600 }, { op: "open", path: "/x", flags: ["O_RDONLY"], fd: "f" }, { op: "read", fd: "f", count: 100_000 }], tmpfs({ x: { type: "file", data: big } }))
    expect(checksFired(r)).toContain("lincheck")
  })

  test("without a mutant the same runs pass every check (the lock-order finding apart)", () => {
    expect(checksFired(run("", OPS))).toEqual([])
  })
})

/** A layered scenario's steps spread over `n` threads, one descriptor namespace each, opens non-blocking. */
function concurrent(seed: number, n: number): ReturnType<typeof decodeScenario> {
  const [sc] = fc.sample(arbGvisorOverlayScenario({ minSteps: 6, maxSteps: 18 }), { seed, numRuns: 1 })
  const threads: ThreadSpec[] = []
  for (let t = 0; t < n; t++) {
    const steps = sc!.steps.filter((_, i) => i % n === t)
    if (steps.length === 0) continue
    const ops = steps.map((s) => {
      let op = s.op
      if ("fd" in op) op = { ...op, fd: `t${t}.${op.fd}` }
      if (op.op === "open" && !op.flags.includes("O_NONBLOCK")) op = { ...op, flags: [...op.flags, "O_NONBLOCK"] }
      return op
    })
    threads.push({ name: `t${t}`, cred: steps[0]!.cred, ops })
  }
  return decodeScenario({
    format: "fsim.scenario/1",
    name: "concurrent overlay",
    mount: { kind: "overlay", ...(sc!.layers.upper !== null ? { upper: tmpfs(sc!.layers.upper) } : {}), lower: sc!.layers.lower.map(tmpfs) },
    root: sc!.root,
    threads,
    checks: ["invariants", "deadlock"],
  })
}

test("the invariants stay quiet on concurrent runs of generated layered scenarios", () => {
  const strategies: StrategySpec[] = [{ kind: "random" }, { kind: "pct", depth: 2 }, { kind: "pct", depth: 3 }]
  const fired: string[] = []
  let runs = 0
  for (let seed = 1; seed <= 60; seed++) {
    const s = concurrent(seed, 2 + (seed % 2))
    const r = runSubject(s, { seed, strategy: strategies[seed % 3]!, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
    runs++
    for (const v of unknownViolations(r.violations)) fired.push(`seed ${seed}: ${v.check}: ${v.message}`)
    expect(r.verdict === "pass" || r.verdict === "fail").toBe(true)
  }
  expect(runs).toBe(60)
  expect(fired).toEqual([])
}, 300_000)
