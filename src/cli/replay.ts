// `fsim replay`: re-run traces under their recorded decisions and prove each
// new event log byte-identical to the recorded one.

import type { Command } from "commander"
import { replayTrace, type ReplayReport } from "../sim/replay.js"
import { loadTrace, type Trace } from "../sim/trace.js"
import type { CliEnv } from "./env.js"
import { EXIT } from "./io.js"

export function registerReplay(program: Command, env: CliEnv): void {
  program
    .command("replay")
    .description(
      "re-run traces (fsim.trace/1) under their recorded decisions; exit 0 only if every event log is byte-identical and every verdict the same",
    )
    .argument("<traces...>", "trace files (JSON Lines)")
    .option("--json", "print one JSON line per trace")
    .action((files: string[], flags: { json?: boolean }) => {
      // Load every trace first: bad input stops before anything runs.
      const traces = files.map((f) => ({ file: f, trace: loadTrace(f) }))
      let failed = 0
      for (const { file, trace } of traces) {
        const r = replayTrace(trace, { mounts: env.mounts, lockOrders: env.lockOrders })
        if (!r.reproduced) failed++
        process.stdout.write(flags.json === true ? JSON.stringify(replayJson(file, trace, r)) + "\n" : describeReplay(file, trace, r, traces.length > 1))
      }
      if (traces.length > 1 && flags.json !== true) {
        process.stdout.write(`${traces.length - failed} of ${traces.length} traces reproduced exactly\n`)
      }
      process.exitCode = failed === 0 ? EXIT.ok : EXIT.violation
    })
}

function replayJson(file: string, trace: Trace, r: ReplayReport): Record<string, unknown> {
  return {
    format: "fsim.replay/1",
    trace: file,
    reproduced: r.reproduced,
    recorded_sha256: r.recordedHash,
    replayed_sha256: r.replayedHash,
    events: r.run.events.length,
    recorded_verdict: trace.header.verdict,
    replayed_verdict: r.run.verdict,
    first_difference: r.firstDifference,
    divergence: r.divergence,
  }
}

function describeReplay(file: string, trace: Trace, r: ReplayReport, brief: boolean): string {
  if (brief && r.reproduced) return `${file}: reproduced exactly (${r.run.events.length} events, sha256 ${r.replayedHash.slice(0, 16)}, verdict ${r.run.verdict})\n`
  const lines = [`${file}: ${trace.events.length} events recorded, ${r.run.events.length} replayed`]
  lines.push(`  recorded sha256 ${r.recordedHash}`)
  lines.push(`  replayed sha256 ${r.replayedHash}`)
  if (r.divergence !== null) lines.push(`  diverged: ${r.divergence}`)
  if (r.firstDifference !== null) {
    const d = r.firstDifference
    lines.push(`  first difference at event ${d.seq}:`)
    lines.push(`    recorded: ${d.recorded ?? "(none)"}`)
    lines.push(`    replayed: ${d.replayed ?? "(none)"}`)
  }
  if (r.run.verdict !== trace.header.verdict) lines.push(`  verdict changed: recorded ${trace.header.verdict}, replayed ${r.run.verdict}`)
  lines.push(r.reproduced ? `  reproduced exactly (verdict ${r.run.verdict})` : "  NOT reproduced")
  return lines.join("\n") + "\n"
}
