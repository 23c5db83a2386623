// Ctrl-C during a campaign: the workers stop, the summary so far is printed,
// the exit status is 130, and every trace file left is whole.

import { spawn } from "node:child_process"
import { readdirSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { loadTrace } from "../../src/sim/trace.js"
import { MUTANT_FLAGS } from "../campaign/helpers.js"
import { FSIM, ROOT, tempDir } from "./helpers.js"

interface Ended {
  readonly status: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly msToExit: number
}

/** Starts a campaign, sends SIGINT once it has reported progress, and waits for it to end. */
function interruptCampaign(args: readonly string[]): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FSIM, "check", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    let sentAt = 0
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      if (sentAt === 0 && /runs \| \d+ runs\/s/.test(stderr)) {
        sentAt = Date.now()
        child.kill("SIGINT")
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

describe("Ctrl-C during fsim check", () => {
  for (const workers of ["2", "1"]) {
    it(`with --workers ${workers}: stops, prints the summary so far, exits 130, leaves no partial trace`, async () => {
      const dir = tempDir(`sigint-${workers}`)
      const e = await interruptCampaign([...MUTANT_FLAGS, "--runs", "30000", "--workers", workers, "--save-dir", dir])
      expect(e.msToExit).toBeGreaterThan(0)
      expect(e.signal).toBeNull()
      expect(e.status).toBe(130)
      expect(e.stdout).toMatch(/INTERRUPTED \(Ctrl-C\): the summary of the runs completed/)
      const runs = Number(/│ (\d+) +│ \d+ +│ \d+ +│ \d+ +│ \d+ +│ \d+ +│/.exec(e.stdout)![1])
      expect(runs).toBeGreaterThan(0)
      expect(runs).toBeLessThan(30_000)
      // Run 6 fails: its trace is saved whole, as found (no shrinking after Ctrl-C).
      const files = readdirSync(dir)
      expect(files.filter((f) => f.startsWith(".") || f.endsWith(".tmp"))).toEqual([])
      expect(files).toContain("lincheck-model-mutant-rename-not-atomic-346.jsonl")
      for (const f of files) expect(loadTrace(join(dir, f)).header.verdict).toBe("fail")
      expect(e.stdout).toMatch(/not shrunk: interrupted; fsim shrink it/)
    })
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
