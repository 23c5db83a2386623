// `fsim check`: a campaign over generated concurrent scenarios.

import { mkdirSync } from "node:fs"
import { join } from "node:path"
import Table from "cli-table3"
import type { Command } from "commander"
import { InputError } from "../model/schema.js"
import { Campaign, PORTFOLIO, type CampaignStrategy, type CampaignSummary } from "../sim/campaign.js"
import type { Mount } from "../sim/scenario.js"
import { parseStrategy } from "../sim/strategy.js"
import { traceText, writeFileAtomic } from "../sim/trace.js"
import type { CliEnv } from "./env.js"
import { EXIT, parsePositiveInt, parseSeed } from "./io.js"
import { traceStem } from "./run.js"

interface CheckFlags {
  readonly mount: string
  readonly options?: string
  readonly threads: number
  readonly ops: number
  readonly runs: number
  readonly seed: number
  readonly strategy: string
  readonly json?: boolean
  readonly saveDir: string
}

/** Runs per batch between progress reports and Ctrl-C checks. */
const BATCH = 25

export function registerCheck(program: Command, env: CliEnv): void {
  program
    .command("check")
    .description("run a campaign: many seeded runs of generated concurrent scenarios, every check on")
    .option("--mount <kind>", "the filesystem under test (model)", "model")
    .option("--options <string>", "mount options, as the scenario's mount.options")
    .option("--threads <n>", "most threads per scenario (each draws 2..n)", parsePositiveInt, 4)
    .option("--ops <n>", "most ops per thread (each draws 1..n)", parsePositiveInt, 12)
    .option("--runs <n>", "runs in the campaign", parsePositiveInt, 50_000)
    .option("--seed <n>", "seed of the first run (run i uses seed + i)", parseSeed, 1)
    .option("--strategy <s>", "random, pct:DEPTH, or portfolio (rotates random, pct:2, pct:3)", "portfolio")
    .option("--save-dir <dir>", "where failing runs' traces are written", "runs")
    .option("--json", "print the summary as JSON")
    .action(async (flags: CheckFlags) => {
      const mount = mountOf(flags)
      if (env.mounts[mount.kind] === undefined) throw new InputError(`--mount: this fsim cannot mount ${mount.kind} yet (known: ${Object.keys(env.mounts).join(", ")})`)
      const strategy: CampaignStrategy = flags.strategy === "portfolio" ? { kind: "portfolio", specs: PORTFOLIO } : { kind: "one", spec: parseStrategy(flags.strategy) }
      const campaign = new Campaign({
        shape: { mount, threads: flags.threads, ops: flags.ops },
        seed: flags.seed,
        strategy,
        mounts: env.mounts,
        lockOrders: env.lockOrders,
      })
      const progress = new Progress(flags.runs)
      let interrupted = false
      const onSigint = (): void => {
        interrupted = true
      }
      process.on("SIGINT", onSigint)
      try {
        while (campaign.summary.runs < flags.runs && !interrupted) {
          campaign.runBatch(Math.min(BATCH, flags.runs - campaign.summary.runs))
          progress.update(campaign.summary)
          // Let a pending SIGINT be delivered between batches.
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
      } finally {
        process.off("SIGINT", onSigint)
      }
      progress.done(campaign.summary)
      const saved = saveFailures(campaign.summary, flags.saveDir)
      const s = campaign.summary
      if (flags.json === true) process.stdout.write(JSON.stringify(summaryJson(s, flags, saved, interrupted, progress.elapsedMs())) + "\n")
      else process.stdout.write(describeSummary(s, flags, saved, interrupted, progress.elapsedMs()))
      process.exitCode = interrupted ? EXIT.interrupted : s.verdicts.fail > 0 ? EXIT.violation : s.verdicts.budget_exhausted + s.verdicts.unknown > 0 ? EXIT.inconclusive : EXIT.ok
    })
}

function mountOf(flags: CheckFlags): Mount {
  switch (flags.mount) {
    case "model":
      return flags.options === undefined ? { kind: "model" } : { kind: "model", options: flags.options }
    case "gofer":
      return flags.options === undefined ? { kind: "gofer" } : { kind: "gofer", options: flags.options }
    default:
      throw new InputError(`--mount: unknown mount kind ${JSON.stringify(flags.mount)} (expected model or gofer)`)
  }
}

function saveFailures(s: CampaignSummary, dir: string): string[] {
  const out: string[] = []
  for (const f of s.failures) {
    if (f.report === null) continue
    mkdirSync(dir, { recursive: true })
    const path = join(dir, `${traceStem(f.report)}.jsonl`)
    writeFileAtomic(path, traceText(f.report))
    out.push(path)
  }
  return out
}

/** Progress on stderr: one rewritten line on a terminal, a line per tenth otherwise. */
class Progress {
  private readonly start = Date.now()
  private lastDraw = 0
  private lastTenth = 0
  private readonly tty = process.stderr.isTTY === true

  constructor(private readonly total: number) {}

  elapsedMs(): number {
    return Date.now() - this.start
  }

  update(s: CampaignSummary): void {
    const now = Date.now()
    if (this.tty) {
      if (now - this.lastDraw < 200 && s.runs < this.total) return
      this.lastDraw = now
      process.stderr.write(`\r${this.line(s)}\u001b[K`)
    } else {
      const tenth = Math.floor((s.runs * 10) / this.total)
      if (tenth > this.lastTenth) {
        this.lastTenth = tenth
        process.stderr.write(`${this.line(s)}\n`)
      }
    }
  }

  done(s: CampaignSummary): void {
    if (this.tty) process.stderr.write(`\r${this.line(s)}\u001b[K\n`)
  }

  private line(s: CampaignSummary): string {
    const secs = this.elapsedMs() / 1000
    const rate = secs > 0 ? s.runs / secs : 0
    const eta = rate > 0 ? (this.total - s.runs) / rate : 0
    const width = 24
    const filled = Math.round((s.runs / this.total) * width)
    const bar = "#".repeat(filled) + "-".repeat(width - filled)
    return `[${bar}] ${s.runs}/${this.total} runs, ${rate.toFixed(0)} runs/s, ${s.verdicts.fail} failing, ${secs.toFixed(0)}s elapsed, ETA ${eta.toFixed(0)}s`
  }
}

function summaryJson(s: CampaignSummary, flags: CheckFlags, saved: string[], interrupted: boolean, ms: number): Record<string, unknown> {
  return {
    format: "fsim.campaign/1",
    mount: flags.mount,
    seed: flags.seed,
    runs: s.runs,
    interrupted,
    elapsed_ms: ms,
    runs_per_s: Number(((s.runs / Math.max(ms, 1)) * 1000).toFixed(1)),
    steps: s.steps,
    verdicts: s.verdicts,
    violations_by_check: s.violationsByCheck,
    strategies: s.strategies,
    failures: s.failures.map((f) => ({ seed: f.seed, strategy: f.strategy, verdict: f.verdict, checks: [...new Set(f.violations.map((v) => v.check))] })),
    traces: saved,
    lock_pairs: s.lockPairs,
  }
}

function describeSummary(s: CampaignSummary, flags: CheckFlags, saved: string[], interrupted: boolean, ms: number): string {
  const lines: string[] = []
  const rate = (s.runs / Math.max(ms, 1)) * 1000
  lines.push(`campaign · mount ${flags.mount} · seeds ${flags.seed}..${flags.seed + s.runs - 1} · ${(ms / 1000).toFixed(1)}s, ${rate.toFixed(0)} runs/s${interrupted ? " · INTERRUPTED" : ""}`)
  const t = new Table({ head: ["runs", "steps", "pass", "fail", "budget", "unknown"], style: { head: [], border: [] } })
  t.push([s.runs, s.steps, s.verdicts.pass, s.verdicts.fail, s.verdicts.budget_exhausted, s.verdicts.unknown])
  lines.push(t.toString())
  const byStrategy = new Table({ head: ["strategy", "runs", "failing", "steps/run"], style: { head: [], border: [] } })
  for (const [name, st] of Object.entries(s.strategies)) byStrategy.push([name, st.runs, st.failures, (st.steps / Math.max(st.runs, 1)).toFixed(1)])
  lines.push(byStrategy.toString())
  const checks = Object.entries(s.violationsByCheck)
  lines.push(checks.length === 0 ? "violations: none" : `violations by check: ${checks.map(([c, n]) => `${c} ${n}`).join(", ")}`)
  for (const f of s.failures.slice(0, 10)) {
    lines.push(`  seed ${f.seed} (${f.strategy}): ${f.verdict}: ${f.violations[0]?.message ?? ""}`)
  }
  if (s.failures.length > 10) lines.push(`  ... and ${s.failures.length - 10} more`)
  for (const p of saved) lines.push(`trace: ${p}   (fsim replay ${p})`)
  return lines.join("\n") + "\n"
}
