// SIGINT (Ctrl-C) or SIGTERM during a campaign, its runs or its shrinking,
// with one worker or two: the workers stop, the summary so far is printed,
// the exit status is 130 or 143, and every trace file left is whole and
// replays.

import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { loadTrace } from "../../src/sim/trace.js"
import { MUTANT_FLAGS } from "../campaign/helpers.js"
import { FSIM, fsim, ROOT, tempDir } from "./helpers.js"

interface Ended {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly msToExit: number
}

/** Starts a campaign, sends `sig` once stderr matches `when`, and waits for it to end. */
function interruptCampaign(args: readonly string[], sig: NodeJS.Signals, when: RegExp): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FSIM, "check", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let sentAt = 0
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      if (sentAt === 0 && when.test(stderr)) {
        sentAt = Date.now()
        child.kill(sig)
      }
    })
    const guard = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the campaign did not end: ${stderr}`))
    }, 90_000)
    child.on("error", reject)
    child.on("exit", (status, signal) => {
      clearTimeout(guard)
      resolve({ status, signal, stdout, stderr, msToExit: sentAt === 0 ? -1 : Date.now() - sentAt })
    })
  })
}

const STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }
const SAID: Record<string, string> = { SIGINT: "Ctrl-C", SIGTERM: "SIGTERM" }

/** Every file in `dir` is a whole trace that replays, and none is temporary. */
function expectWholeTraces(dir: string): string[] {
  const files = readdirSync(dir)
  expect(files.filter((f) => f.startsWith(".") || f.endsWith(".tmp"))).toEqual([])
  for (const f of files) {
    expect(loadTrace(join(dir, f)).header.verdict).toBe("fail")
    const r = fsim(["replay", join(dir, f)])
    expect(r.status, r.stdout + r.stderr).toBe(0)
  }
  return files
}

// Runs and shrinks happen in worker threads whatever --workers says, so the
// signal is taken at once in every case.
describe("SIGINT and SIGTERM during fsim check", () => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    for (const workers of ["1", "2"]) {
      it(`${sig} during the runs, --workers ${workers}: stops, prints the summary so far, exits ${STATUS[sig]}, saves whole traces`, { timeout: 120_000 }, async () => {
        const dir = tempDir(`sig-runs-${sig}-${workers}`)
        const e = await interruptCampaign([...MUTANT_FLAGS, "--runs", "30000", "--workers", workers, "--save-dir", dir], sig, /runs \| \d+ runs\/s \| [1-9]\d* violations/)
        expect(e.msToExit).toBeGreaterThan(0)
        expect(e.signal).toBeNull()
        expect(e.status).toBe(STATUS[sig])
        expect(e.stdout).toContain(`INTERRUPTED (${SAID[sig]}): the summary of the runs completed`)
        const runs = Number(/│ (\d+) +│ \d+ +│ \d+ +│ \d+ +│ \d+ +│ \d+ +│/.exec(e.stdout)![1])
        expect(runs).toBeGreaterThan(0)
        expect(runs).toBeLessThan(30_000)
        // Run 6 fails (the signal waits for a violation): its trace is saved whole, as found (no shrinking after a signal).
        expect(expectWholeTraces(dir)).toContain("lincheck-model-mutant-rename-not-atomic-346.jsonl")
        expect(e.stdout).toMatch(/not shrunk: interrupted; fsim shrink it/)
      })

      it(`${sig} while shrinking, --workers ${workers}: the shrink stops with the smallest failure so far, saved whole; exits ${STATUS[sig]}`, { timeout: 120_000 }, async () => {
        const dir = tempDir(`sig-shrink-${sig}-${workers}`)
        // A failure whose shrink takes seconds (an overlay mutant's: seeds
        // 8-10 of its swarm, where run 10 fails lincheck and shrinks for
        // about 20 s; the model mutant's 12-op one shrinks in under a second,
        // before any progress line), and a budget it does not reach: the
        // signal comes at the first progress line.
        const e = await interruptCampaign(["--mount", "overlay", "--mutant", "copy-up-short", "--seed", "8", "--runs", "3", "--workers", workers, "--shrink-budget", "1000000", "--save-dir", dir, "--json"], sig, /  shrinking: \d+\/1000000 runs/)
        expect(e.msToExit).toBeGreaterThan(0)
        expect(e.signal).toBeNull()
        expect(e.status).toBe(STATUS[sig])
        const j = JSON.parse(e.stdout) as { runs: number; interrupted: boolean; signal: string; saved: { trace: string; shrunk: { cut: boolean; runsUsed: number } | null }[] }
        expect(j).toMatchObject({ runs: 3, interrupted: true, signal: sig })
        expect(j.saved.length).toBeGreaterThanOrEqual(1)
        expect(j.saved[0]!.shrunk).toMatchObject({ cut: true })
        expect(j.saved[0]!.shrunk!.runsUsed).toBeLessThan(1_000_000)
        expectWholeTraces(dir)
      })
    }
  }
})

describe("Ctrl-C during fsim shrink", () => {
  it("stops with the smallest failure found so far, written whole, and exits 130", async () => {
    const dir = tempDir("sigint-shrink")
    const found = join(dir, "found")
    const { spawnSync } = await import("node:child_process")
    spawnSync(process.execPath, [FSIM, "check", ...MUTANT_FLAGS, "--runs", "10", "--no-shrink", "--save-dir", found], { cwd: ROOT })
    const trace = join(found, "lincheck-model-mutant-rename-not-atomic-346.jsonl")
    const out = join(dir, "shrunk.jsonl")
    const e = await new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [FSIM, "shrink", trace, "-o", out, "--json"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let sent = false
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
      child.stderr.on("data", (d: Buffer) => {
        if (!sent && d.toString().includes("shrinking")) {
          sent = true
          child.kill("SIGINT")
        }
      })
      child.on("error", reject)
      child.on("exit", (status) => resolve({ status, stdout }))
    })
    expect(e.status).toBe(130)
    const j = JSON.parse(e.stdout)
    expect(j.cut).toBe(true)
    expect(loadTrace(out).header.verdict).toBe("fail")
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([])
  })
})
