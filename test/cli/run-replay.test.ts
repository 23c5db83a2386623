import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { runSubject } from "../../src/sim/run.js"
import type { LockWorkload } from "../../src/sim/scenario.js"
import { traceText } from "../../src/sim/trace.js"
import { fsim, ROOT, tempDir } from "./helpers.js"

const WORKLOAD = join(ROOT, "scenarios", "locks.workload.json")

/** One line on stderr, nothing on stdout, exit 2: the contract's bad-input answer. */
function expectUsageError(r: { status: number | null; stdout: string; stderr: string }, message: RegExp): void {
  expect(r.status).toBe(2)
  expect(r.stdout).toBe("")
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(r.stderr.trimEnd()).toMatch(message)
}

describe("fsim --help", () => {
  for (const args of [["--help"], ["run", "--help"], ["replay", "--help"], ["help", "run"]]) {
    it(`fsim ${args.join(" ")} prints usage and exits 0`, () => {
      const r = fsim(args)
      expect(r.status).toBe(0)
      expect(r.stdout).toMatch(/Usage: fsim/)
    })
  }
  it("fsim --version prints the version", () => {
    const r = fsim(["--version"])
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version)
  })
})

describe("fsim run", () => {
  it("runs a workload, writes its trace, and two processes with the same seed write identical files", () => {
    const dir = tempDir("run")
    const a = fsim(["run", WORKLOAD, "--seed", "7", "--trace", join(dir, "a.jsonl")])
    const b = fsim(["run", WORKLOAD, "--seed", "7", "--trace", join(dir, "b.jsonl")])
    expect(a.status).toBe(0)
    expect(b.status).toBe(0)
    expect(a.stdout).toMatch(/^locks · workload locks · seed 7 · strategy random\nverdict: pass after \d+ steps/)
    const ta = readFileSync(join(dir, "a.jsonl"))
    expect(ta.equals(readFileSync(join(dir, "b.jsonl")))).toBe(true)
    const c = fsim(["run", WORKLOAD, "--seed", "8", "--trace", join(dir, "c.jsonl")])
    expect(c.status).toBe(0)
    expect(ta.equals(readFileSync(join(dir, "c.jsonl")))).toBe(false)
  })

  it("prints fsim.result/1 with --json", () => {
    const r = fsim(["run", WORKLOAD, "--seed", "3", "--json", "--no-trace"])
    expect(r.status).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ format: "fsim.result/1", scenario: "locks", seed: 3, strategy: "random", verdict: "pass", violations: [], trace: null })
    expect(j.steps).toBeGreaterThan(0)
  })

  it("exits 1 on a violation and writes the failing trace under runs/ by default", () => {
    const dir = tempDir("fail")
    const r = fsim(["run", join(ROOT, "scenarios", "abba.workload.json"), "--seed", "1"], { cwd: dir })
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/\[lock_order\] lock order inversion/)
    const files = readdirSync(join(dir, "runs"))
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^(lock_order|deadlock)-workload-locks-1\.jsonl$/)
  })

  it("names the documented gVisor finding a failing gofer run shows, and says nothing of the kind for a model run", () => {
    const r = fsim(["run", join(ROOT, "scenarios", "gofer-trunc-vs-read.json"), "--seed", "3", "--no-trace"])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain("every violation is an instance of a documented gVisor finding (src/impl/gofer/FINDINGS.md): otrunc-read-zeros")
    const m = fsim(["run", join(ROOT, "scenarios", "append-vs-truncate.json"), "--no-trace"])
    expect(m.stdout).not.toContain("gVisor finding")
  })

  it("exits 3 when the step budget runs out", () => {
    const r = fsim(["run", WORKLOAD, "--budget", "50", "--no-trace"])
    expect(r.status).toBe(3)
    expect(r.stdout).toMatch(/verdict: budget_exhausted \(the step budget ran out\)/)
  })

  it("records pct with the step estimate it used", () => {
    const r = fsim(["run", WORKLOAD, "--strategy", "pct:3", "--json", "--no-trace"])
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout).strategy).toMatch(/^pct:3:\d+$/)
  })

  describe("bad input: one line, exit 2, nothing written", () => {
    const dir = tempDir("bad")
    const write = (name: string, body: unknown): string => {
      const p = join(dir, name)
      writeFileSync(p, typeof body === "string" ? body : JSON.stringify(body))
      return p
    }
    const scenario = (ops: unknown[]): unknown => ({ format: "fsim.scenario/1", name: "s", mount: { kind: "model" }, threads: [{ name: "t0", ops }] })
    const cases: [string, string[], RegExp][] = [
      ["unknown option", ["run", WORKLOAD, "--sede", "1"], /^fsim: unknown option '--sede'/],
      ["unknown command", ["frobnicate"], /^fsim: unknown command 'frobnicate'/],
      ["bad seed", ["run", WORKLOAD, "--seed", "-4"], /^fsim: option '--seed <n>' argument '-4' is invalid/],
      ["bad strategy", ["run", WORKLOAD, "--strategy", "dfs"], /^fsim: unknown strategy "dfs"/],
      ["missing file", ["run", join(dir, "nope.json")], /^fsim: .*nope\.json: cannot read \(no such file\)$/],
      ["not JSON", ["run", write("broken.json", '{"format": "fsim.scenario/1",\n  "name": }')], /^fsim: .*broken\.json: 2:11: not JSON \(value expected\)$/],
      ["unknown op", ["run", write("op.json", scenario([{ op: "frob", path: "/a" }]))], /^fsim: .*op\.json: threads\[0\]\.ops\[0\]: unknown op "frob"$/],
      ["missing field", ["run", write("miss.json", scenario([{ op: "stat" }]))], /^fsim: .*miss\.json: threads\[0\]\.ops\[0\]\.path: missing field$/],
      ["wrong type", ["run", write("type.json", scenario([{ op: "read", fd: "f", count: "3" }]))], /^fsim: .*type\.json: threads\[0\]\.ops\[0\]\.count: expected .*got "3"$/],
      ["extra field", ["run", write("extra.json", scenario([{ op: "sync", path: "/" }]))], /^fsim: .*extra\.json: threads\[0\]\.ops\[0\]\.path: unknown field/],
      ["unknown format", ["run", write("fmt.json", { format: "fsim.scenario/9" })], /^fsim: .*fmt\.json: format: expected "fsim.scenario\/1" or "fsim.workload\/1", got "fsim.scenario\/9"$/],
      ["external on a model mount", ["run", write("ext.json", { ...(scenario([]) as object), external: [{ name: "x0", ops: [] }] })], /^fsim: .*external: external users act on a 9P server's tree/],
    ]
    for (const [what, args, message] of cases) {
      it(what, () => {
        const cwd = tempDir("cwd")
        expectUsageError(fsim(args, { cwd }), message)
        expect(existsSync(join(cwd, "runs"))).toBe(false)
      })
    }
  })
})

describe("fsim replay", () => {
  it("replays 1,000 recorded lock-workload traces byte-identically in one process", () => {
    const dir = tempDir("replay1000")
    const w: LockWorkload = JSON.parse(readFileSync(WORKLOAD, "utf8"))
    const files: string[] = []
    for (let seed = 0; seed < 1000; seed++) {
      // Every tenth run takes its locks in random order, so failing runs
      // (deadlocks, inversions) are replayed too.
      const subject = seed % 10 === 0 ? { ...w, ordered: false } : w
      const r = runSubject(subject, { seed, strategy: seed % 3 === 0 ? { kind: "pct", depth: 3 } : { kind: "random" } })
      const f = join(dir, `t${seed}.jsonl`)
      writeFileSync(f, traceText(r))
      files.push(f)
    }
    const r = fsim(["replay", ...files])
    expect(r.stderr).toBe("")
    // Only the summary: on failure, the per-trace reports would flood the output.
    const lines = r.stdout.trimEnd().split("\n")
    expect(lines.filter((l) => !/: reproduced exactly \(/.test(l)).slice(0, 5)).toEqual(["1000 of 1000 traces reproduced exactly"])
    expect(r.status).toBe(0)
  })

  it("exits 1 and names the first difference when a trace's events were altered", () => {
    const dir = tempDir("diverge")
    const rec = join(dir, "a.jsonl")
    expect(fsim(["run", WORKLOAD, "--seed", "5", "--trace", rec]).status).toBe(0)
    const lines = readFileSync(rec, "utf8").split("\n")
    const i = lines.findIndex((l) => l.includes('"kind":"clock"'))
    lines[i] = lines[i]!.replace(/"now":(\d+)/, (_, n: string) => `"now":${Number(n) + 1}`)
    writeFileSync(rec, lines.join("\n"))
    const r = fsim(["replay", rec, "--json"])
    expect(r.status).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j.reproduced).toBe(false)
    expect(j.first_difference.seq).toBe(i - 1)
  })

  describe("bad traces: one line, exit 2", () => {
    const dir = tempDir("badtrace")
    const rec = join(dir, "good.jsonl")
    fsim(["run", WORKLOAD, "--seed", "2", "--trace", rec])
    const good = readFileSync(rec, "utf8")
    const write = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    }
    const cases: [string, string, RegExp][] = [
      ["truncated", write("trunc.jsonl", good.slice(0, Math.floor(good.length / 2))), /^fsim: .*trunc\.jsonl:\d+: (truncated|not JSON)/],
      ["wrong format version", write("v2.jsonl", good.replace("fsim.trace/1", "fsim.trace/2")), /^fsim: .*v2\.jsonl:1: format: unknown trace format "fsim.trace\/2"/],
      ["bad field type", write("type.jsonl", good.replace(/"seq":3,/, '"seq":"3",')), /^fsim: .*type\.jsonl:5: seq: expected .*got "3"$/],
    ]
    for (const [what, file, message] of cases) {
      it(what, () => expectUsageError(fsim(["replay", file]), message))
    }
    it("unknown option", () => expectUsageError(fsim(["replay", rec, "--fast"]), /^fsim: unknown option '--fast'/))
  })
})
