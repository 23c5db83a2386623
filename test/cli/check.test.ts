import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { describe, expect, it } from "vitest"
import { loadTrace } from "../../src/sim/trace.js"
import { MUTANT_FLAGS } from "../campaign/helpers.js"
import { fsim, tempDir } from "./helpers.js"

function expectUsageError(r: { status: number | null; stdout: string; stderr: string }, message: RegExp): void {
  expect(r.status).toBe(2)
  expect(r.stdout).toBe("")
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(message)
}

describe("fsim check", () => {
  it("--help lists the campaign options and hides the test-only mutant switch", () => {
    const r = fsim(["check", "--help"])
    expect(r.status).toBe(0)
    for (const o of ["--workers", "--threads", "--ops", "--names", "--external", "--faults", "--strategy", "--runs", "--time", "--seed", "--json", "--no-shrink"]) expect(r.stdout).toContain(o)
    expect(r.stdout).not.toMatch(/mutant/)
  })

  it("on the correct model: passes, and says what the filesystem does not report rather than inventing it", () => {
    const dir = tempDir("check-ok")
    const r = fsim(["check", "--mount", "model", "--no-swarm", "--workers", "1", "--runs", "150", "--threads", "3", "--save-dir", dir])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/^campaign · mount model · portfolio\(random,pct:2,pct:3\) · seeds 1\.\.150 · 1 worker · /)
    expect(r.stdout).toMatch(/│ 150 +│ \d+ +│ 150 +│ 0 +│ 0 +│ 0 +│/)
    expect(r.stdout).toContain("violations by check: none")
    expect(r.stdout).toContain("RPCs by message type: not reported")
    expect(r.stdout).toContain("cache hit rates: not reported")
    expect(r.stdout).toContain("lock-class pairs held together: none")
    expect(r.stdout).toContain("cache transitions: not reported")
    expect(r.stdout).toContain("coverage marks: not reported (this filesystem logs none)")
    expect(r.stderr).toMatch(/150\/150 runs \| \d+ runs\/s \| 0 violations in 0 runs \| \d+s elapsed \| ETA 0s/)
    expect(readdirSync(dir)).toEqual([])
  })

  it("--json prints fsim.campaign/1", () => {
    const r = fsim(["check", "--mount", "model", "--no-swarm", "--workers", "1", "--runs", "60", "--strategy", "pct:3", "--json"])
    expect(r.status).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ format: "fsim.campaign/1", mount: { kind: "model" }, strategy: "pct:3", seed: 1, runs: 60, interrupted: false, rpcs: null, cache_hit_rates: null })
    expect(j.coverage).toEqual({ lock_pairs: [], lock_cycles: [], cache_transitions: null, marks: {}, marks_missed: [] })
    expect(Object.keys(j.strategies)).toEqual(["pct:3"])
    expect(j.timing.workers).toBe(1)
  })

  it("--time stops handing out runs when the budget is spent", () => {
    const r = fsim(["check", "--mount", "model", "--no-swarm", "--time", "1s", "--json"])
    expect(r.status).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.runs).toBeGreaterThan(0)
    expect(j.runs).toBeLessThan(50_000)
  })

  it("finds the mutant, shrinks it to <= 2 threads and <= 4 ops, saves it, and fsim replay reproduces it", () => {
    const dir = tempDir("check-mutant")
    const r = fsim(["check", ...MUTANT_FLAGS, "--runs", "30", "--save-dir", dir, "--json"])
    expect(r.status).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j.verdicts.fail).toBeGreaterThan(0)
    expect(j.violations_by_check.lincheck).toBeGreaterThan(0)
    expect(j.saved).toHaveLength(1)
    const s = j.saved[0]
    expect(s).toMatchObject({ check: "lincheck", seed: 346 })
    expect(basename(s.trace)).toBe("lincheck-model-mutant-rename-not-atomic-346.jsonl")
    expect(s.shrunk.after.threads).toBeLessThanOrEqual(2)
    expect(s.shrunk.after.ops).toBeLessThanOrEqual(4)
    const t = loadTrace(s.trace)
    expect(t.header.verdict).toBe("fail")
    expect(t.header.violations[0]!.check).toBe("lincheck")
    const replay = fsim(["replay", s.trace])
    expect(replay.stdout).toMatch(/reproduced exactly \(verdict fail\)/)
    expect(replay.status).toBe(0)
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([])
  })

  it("--workers 2 finds the same violations as --workers 1 over the same seeds, and saves the same shrunk trace", () => {
    const a = tempDir("w1")
    const b = tempDir("w2")
    const one = fsim(["check", ...MUTANT_FLAGS, "--runs", "1500", "--workers", "1", "--save-dir", a, "--json"])
    const two = fsim(["check", ...MUTANT_FLAGS, "--runs", "1500", "--workers", "2", "--save-dir", b, "--json"])
    expect(one.status).toBe(1)
    expect(two.status).toBe(1)
    const strip = (text: string): unknown => {
      const j = JSON.parse(text)
      delete j.timing
      for (const s of j.saved) s.trace = basename(s.trace)
      return j
    }
    const j1 = strip(one.stdout) as { failures: { count: number }; violation_set_sha256: string }
    expect(j1.failures.count).toBeGreaterThan(0)
    expect(strip(two.stdout)).toEqual(j1)
    expect(JSON.parse(two.stdout).timing.workers).toBe(2)
    const files = readdirSync(a)
    expect(readdirSync(b)).toEqual(files)
    for (const f of files) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f)))).toBe(true)
  })

  it("--no-shrink saves the failing run as found", () => {
    const dir = tempDir("noshrink")
    const r = fsim(["check", ...MUTANT_FLAGS, "--runs", "10", "--no-shrink", "--save-dir", dir])
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/lincheck at seed 346: .*lincheck-model-mutant-rename-not-atomic-346\.jsonl \(as found\)/)
    const t = loadTrace(join(dir, "lincheck-model-mutant-rename-not-atomic-346.jsonl"))
    expect(t.header.strategy).toBe("random")
    expect(t.header.seed).toBe(346)
  })

  describe("bad options: one line, exit 2, nothing written", () => {
    const cases: [string, string[], RegExp][] = [
      ["namespace too large", ["check", "--names", "4"], /^fsim: option '--names <n>' argument '4' is invalid/],
      ["unknown mutant", ["check", "--mutant", "nope", "--runs", "1"], /^fsim: --mutant: unknown mutant "nope" \(known: model:rename-not-atomic, gofer:lock-order-inversion, /],
      ["unknown gofer mutant", ["check", "--mount", "gofer", "--mutant", "nope", "--runs", "1"], /^fsim: --mutant: unknown mutant "nope" \(known: /],
      ["a mutant two filesystems have, unqualified", ["check", "--mutant", "lock-order-inversion", "--runs", "1"], /^fsim: --mutant: "lock-order-inversion" is a mutant of gofer and overlay: say which \(gofer:lock-order-inversion or overlay:lock-order-inversion\)$/],
      ["--no-swarm without a filesystem", ["check", "--no-swarm", "--runs", "1"], /^fsim: --no-swarm: give the filesystem \(--mount KIND\)/],
      ["external users on a model mount", ["check", "--mount", "model", "--external", "1", "--runs", "1"], /^fsim: --external: external users and server faults need a 9P server/],
      // Each filesystem's descriptor says what it refuses: a fixed tmpfs campaign once crashed with a stack trace on --external and ran without the faults asked for.
      ["external users on a fixed tmpfs campaign", ["check", "--no-swarm", "--mount", "tmpfs", "--external", "1", "--runs", "1"], /^fsim: --external: external users and server faults need a 9P server \(a gofer mount\); the tmpfs mount has none$/],
      ["server faults on a fixed tmpfs campaign", ["check", "--no-swarm", "--mount", "tmpfs", "--faults", "2", "--runs", "1"], /^fsim: --faults: external users and server faults need a 9P server \(a gofer mount\); the tmpfs mount has none$/],
      ["unknown strategy", ["check", "--strategy", "dfs", "--runs", "1"], /^fsim: unknown strategy "dfs"/],
      ["bad portfolio", ["check", "--strategy", "portfolio:random,pct:x", "--runs", "1"], /^fsim: unknown strategy "pct:x"/],
      ["bad duration", ["check", "--time", "soon"], /^fsim: option '--time <duration>' argument 'soon' is invalid/],
    ]
    for (const [what, args, message] of cases) {
      it(what, () => {
        const cwd = tempDir("cwd")
        expectUsageError(fsim(args, { cwd }), message)
        expect(existsSync(join(cwd, "traces"))).toBe(false)
      })
    }
  })
})

describe("fsim check --mount overlay", () => {
  it("runs a campaign over generated tmpfs layers; a failing run is saved and replays", () => {
    const dir = tempDir("check-overlay")
    // Seed 38 (random): UnlinkAt or RmdirAt calls the upper layer under the overlay dentry's Dentry.mu (FINDINGS.md, layer-ops-under-dentry-mu).
    const r = fsim(["check", "--mount", "overlay", "--no-swarm", "--threads", "3", "--ops", "8", "--strategy", "random", "--seed", "38", "--runs", "1", "--no-shrink", "--save-dir", dir, "--json"])
    expect(r.status).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ mount: { kind: "overlay", lower: [{ kind: "tmpfs" }] }, runs: 1, rpcs: null })
    expect(j.saved.map((s: { trace: string }) => basename(s.trace))).toContain("lock_order-overlay-38.jsonl")
    expect(fsim(["replay", join(dir, "lock_order-overlay-38.jsonl")]).status).toBe(0)
    // The failure is labelled as the documented finding it is.
    expect(j.findings).toEqual({ documented: { "layer-ops-under-dentry-mu": { runs: 1, first_seed: 38 } }, explained_runs: 1, unexplained_runs: 0, unexplained: [] })
    expect(j.saved[0]).toMatchObject({ findings: ["layer-ops-under-dentry-mu"], explained: true })
  })

  it("--allow-findings: exit 0 when every failure is a documented gVisor finding, 1 when a run shows anything else", () => {
    const args = ["check", "--mount", "overlay", "--no-swarm", "--threads", "3", "--ops", "8", "--runs", "40", "--no-shrink", "--json"]
    const known = fsim([...args, "--save-dir", tempDir("check-allow"), "--allow-findings"])
    expect(known.status).toBe(0)
    const j = JSON.parse(known.stdout)
    expect(j.verdicts.fail).toBeGreaterThan(0)
    expect(j.findings.explained_runs).toBe(j.verdicts.fail)
    // The cycles across runs are the same finding's.
    expect(j.coverage.lock_cycles.length).toBeGreaterThan(0)
    for (const c of j.coverage.lock_cycles) expect(c.finding).toBe("layer-ops-under-dentry-mu")
    // Without the flag, the contract's exit status: violations were found.
    expect(fsim([...args, "--save-dir", tempDir("check-allow-off")]).status).toBe(1)
    // A deliberate bug is no finding: found, saved first, and exit 1.
    const dir = tempDir("check-allow-mutant")
    const m = fsim([...args.map((a) => (a === "40" ? "6" : a)), "--mutant", "lock-order-inversion", "--save-dir", dir, "--allow-findings"])
    expect(m.status).toBe(1)
    const jm = JSON.parse(m.stdout)
    expect(jm.findings.unexplained_runs).toBeGreaterThan(0)
    expect(jm.saved.find((s: { check: string }) => s.check === "lock_order")).toMatchObject({ explained: false })
  })

  it("over a gofer lower layer with external users of its server: RPCs reported, the runs with external users unjudged by lincheck", () => {
    const r = fsim(["check", "--mount", "overlay", "--no-swarm", "--lower", "gofer", "--lower-options", "cache=remote_revalidating", "--external", "2", "--threads", "2", "--ops", "4", "--runs", "9", "--no-shrink", "--save-dir", tempDir("check-overlay-ext"), "--json"])
    expect([0, 1]).toContain(r.status)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ mount: { kind: "overlay", lower: [{ kind: "gofer", options: "cache=remote_revalidating", tree: "remote" }] }, runs: 9, shape: { external: 2 } })
    expect(j.rpcs.by_message.Twalk).toBeGreaterThan(0)
    expect(j.verdicts.unknown + j.verdicts.budget_exhausted).toBe(0)
    // The gofer layer reports its dentry cache's hits and misses (getChildLocked).
    expect(j.cache_hit_rates["gofer.dentry"].hits + j.cache_hit_rates["gofer.dentry"].misses).toBeGreaterThan(0)
  })

  describe("bad options: one line, exit 2", () => {
    const cases: [string, string[], RegExp][] = [
      ["layers of a mount that has none", ["check", "--mount", "gofer", "--lower", "gofer", "--runs", "1"], /^fsim: --lower: only an overlay mount has layers/],
      ["options for a tmpfs layer", ["check", "--mount", "overlay", "--lower", "tmpfs", "--lower-options", "cache=none", "--runs", "1"], /^fsim: --lower-options: a tmpfs layer takes no options/],
      ["external users without a gofer layer", ["check", "--mount", "overlay", "--external", "1", "--runs", "1"], /^fsim: --external: external users act on a gofer layer's server: give --lower gofer/],
      ["server faults", ["check", "--mount", "overlay", "--lower", "gofer", "--faults", "1", "--runs", "1"], /^fsim: --faults: overlay campaigns inject no server faults/],
      ["a namespace size", ["check", "--mount", "overlay", "--names", "2", "--runs", "1"], /^fsim: --names: overlay campaigns draw their layers' names themselves/],
      ["shared descriptors", ["check", "--mount", "overlay", "--fds", "shared", "--runs", "1"], /^fsim: --fds: in overlay campaigns each thread has descriptors of its own/],
    ]
    for (const [what, args, message] of cases) it(what, () => expectUsageError(fsim(args, { cwd: tempDir("cwd") }), message))
  })
})

describe("fsim shrink", () => {
  const dir = tempDir("shrink")
  fsim(["check", ...MUTANT_FLAGS, "--runs", "10", "--no-shrink", "--save-dir", dir])
  const found = join(dir, "lincheck-model-mutant-rename-not-atomic-346.jsonl")

  it("shrinks a trace recorded earlier, and the result replays", () => {
    const out = join(dir, "shrunk.jsonl")
    const r = fsim(["shrink", found, "-o", out, "--json"])
    expect(r.status).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ format: "fsim.shrink/1", check: "lincheck", out, cut: false })
    expect(j.after.threads).toBeLessThanOrEqual(2)
    expect(j.after.ops).toBeLessThanOrEqual(4)
    expect(j.after.ops).toBeLessThan(j.before.ops)
    expect(fsim(["replay", out]).status).toBe(0)
  })

  it("refuses a trace with nothing to shrink (exit 2)", () => {
    const ok = join(dir, "pass.jsonl")
    const w = fsim(["run", "scenarios/locks.workload.json", "--trace", ok])
    expect(w.status).toBe(0)
    expectUsageError(fsim(["shrink", ok]), /^fsim: .*pass\.jsonl: a runtime workload's trace is not shrunk/)
    const scenario = join(dir, "s.json")
    writeFileSync(scenario, JSON.stringify({ format: "fsim.scenario/1", name: "s", mount: { kind: "model" }, threads: [{ name: "t0", ops: [{ op: "mkdir", path: "/d" }] }] }))
    const passing = join(dir, "pass2.jsonl")
    expect(fsim(["run", scenario, "--trace", passing]).status).toBe(0)
    expectUsageError(fsim(["shrink", passing]), /^fsim: .*pass2\.jsonl: the recorded verdict is pass: there is no failure to shrink$/)
  })
})
