// The fuzz suite: thousands of mutated inputs (fast-check, fixed seed, so
// every CI run feeds the same ones) across the six readers of files (run,
// replay, lincheck, shrink, show, serve --tree). Every input must end in
// the contract's answer: exit 2 with exactly one line on stderr and no
// output file, or a verdict; never a stack trace, another status or a hang.
// The inputs go through the CLI's main() in-process (thousands of node
// processes would take CI minutes), and a sample through real processes.

import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import { FSIM, ROOT, tempDir } from "../cli/helpers.js"
import { callMain, judge, READERS, type Outcome, type Reader } from "./harness.js"
import { mutateJson, mutateTrace, mutationArb, type Mutation } from "./mutate.js"

/**
 * Inputs per reader, over 5,000 in all; the readers that run a scenario
 * (shrink runs it several times) get fewer, the cheap ones more.
 * FSIM_FUZZ_SCALE multiplies them (a long local hunt: 10).
 */
const SCALE = Number(process.env["FSIM_FUZZ_SCALE"] ?? 1)
const COUNTS: Record<Reader, number> = { run: 800, lincheck: 1300, replay: 600, shrink: 300, show: 1200, serve: 900 }
const SEED = 13

// ---------------------------------------------------------------------------
// The valid examples the mutations start from.

const read = (p: string): string => readFileSync(join(ROOT, p), "utf8")
const traceFiles = readdirSync(join(ROOT, "traces")).filter((f) => f.endsWith(".jsonl")).map((f) => `traces/${f}`)
const traces = traceFiles.map(read)
const subjects = [
  ...readdirSync(join(ROOT, "scenarios")).filter((f) => f.endsWith(".json") && !f.includes("history")).map((f) => read(`scenarios/${f}`)),
  // The scenarios the committed traces record: gofer and overlay mounts, faults, external users.
  ...traces.map((t) => JSON.stringify((JSON.parse(t.slice(0, t.indexOf("\n"))) as { scenario: unknown }).scenario)),
]
const histories = [
  read("scenarios/stale-read.history.json"),
  ...readdirSync(join(ROOT, "test/lincheck/corpus"))
    .filter((f) => f.startsWith("fs-"))
    .map((f) => JSON.stringify((JSON.parse(read(`test/lincheck/corpus/${f}`)) as { history: unknown }).history)),
]
const POOLS: Record<Reader, readonly string[]> = { run: subjects, serve: subjects, lincheck: histories, replay: traces, shrink: traces, show: traces }
const everything = [...subjects, ...histories, ...traces]

const dir = tempDir("fuzz")
const OUT = join(dir, "out")

function input(reader: Reader, m: Mutation): string {
  if (m.kind === "cross") return everything[m.seed % everything.length]!
  const pool = POOLS[reader]
  const seed = pool[m.seed % pool.length]!
  return reader === "replay" || reader === "shrink" || reader === "show" ? mutateTrace(seed, m) : mutateJson(seed, m)
}

function argv(reader: Reader, file: string, m: Mutation): string[] {
  const json = m.variant % 2 === 0 ? [] : ["--json"]
  switch (reader) {
    case "run":
      // A small step budget bounds each valid run.
      return ["run", file, "--budget", "3000", "--seed", String(m.variant % 100), "--trace", OUT, ...json]
    case "lincheck":
      return ["lincheck", file, "--budget", "3000", ...json]
    case "replay":
      return ["replay", file, ...json]
    case "shrink":
      return ["shrink", file, "--budget", "3", "-o", OUT, ...json]
    case "show":
      return ["show", file, ...[[], ["--at", String(m.pick % 40)], ["--html", "-o", OUT], ["--export", "perfetto", "-o", OUT]][m.variant % 4]!]
    case "serve":
      return ["serve", "--listen", "127.0.0.1:0", "--tree", file]
  }
}

interface Failure {
  readonly reader: Reader
  readonly mutation: Mutation
  readonly problem: string
  readonly input: string
}

const tally: Record<string, number> = {}
let total = 0
/** The slowest inputs, printed (never asserted) to keep the suite's cost in view. */
const slowest: { ms: number; what: string }[] = []
const started = Date.now()

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  console.log(`fuzz: ${total} inputs through main() in ${((Date.now() - started) / 1000).toFixed(1)} s; exits ${JSON.stringify(tally)}; slowest: ${slowest.map((x) => `${x.ms} ms ${x.what}`).join("; ")}`)
})

describe("fuzz: mutated inputs through main()", () => {
  READERS.forEach((reader, r) => {
    const count = Math.max(1, Math.round(COUNTS[reader] * SCALE))
    it(`${reader}: ${count} inputs, each exit 2 with one line or a verdict`, async () => {
      const mutations = fc.sample(mutationArb, { seed: SEED + r, numRuns: count })
      const file = join(dir, reader === "replay" || reader === "shrink" || reader === "show" ? "in.jsonl" : "in.json")
      const failures: Failure[] = []
      for (const m of mutations) {
        const text = input(reader, m)
        writeFileSync(file, text)
        rmSync(OUT, { force: true })
        const t0 = Date.now()
        const o = await callMain(argv(reader, file, m), reader === "serve")
        slowest.push({ ms: Date.now() - t0, what: `${reader} ${o.status} ${JSON.stringify(m)}` })
        slowest.sort((a, b) => b.ms - a.ms).splice(8)
        const key = `${reader} ${o.status}`
        tally[key] = (tally[key] ?? 0) + 1
        total++
        const problem = judge(reader, o, existsSync(OUT))
        if (problem !== null) failures.push({ reader, mutation: m, problem, input: text.length > 400 ? `${text.slice(0, 400)}... (${text.length} chars)` : text })
      }
      expect(failures.slice(0, 5)).toEqual([])
    }, 900_000)
  })
})

describe("fuzz: a sample through real processes", () => {
  it("25 mutated inputs through `node bin/fsim.js`: exit 2 with one line or a verdict, no stack trace", () => {
    const mutations = fc.sample(mutationArb, { seed: SEED + 100, numRuns: 25 })
    const failures: string[] = []
    mutations.forEach((m, i) => {
      // serve (which runs until a signal) is left to the in-process suite.
      const reader = READERS[i % 5]!
      const file = join(dir, `p${i}.${reader === "run" || reader === "lincheck" ? "json" : "jsonl"}`)
      writeFileSync(file, input(reader, m))
      rmSync(OUT, { force: true })
      const r = spawnSync(process.execPath, [FSIM, ...argv(reader, file, m)], { cwd: ROOT, encoding: "utf8", timeout: 120_000, maxBuffer: 256 * 1024 * 1024 })
      const o: Outcome = { status: r.status ?? (r.signal !== null ? "hung" : "threw"), stdout: r.stdout, stderr: r.stderr }
      const problem = judge(reader, o, existsSync(OUT))
      if (problem !== null) failures.push(`${reader} ${JSON.stringify(m)}: ${problem}`)
    })
    expect(failures).toEqual([])
  })
})
