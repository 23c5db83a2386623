// `fsim shrink TRACE`: minimize a failing trace recorded earlier (by `fsim
// run`, an older campaign, a colleague): fewer threads and ops, simpler
// arguments and tree, fewer preemptions, the same check failing. The result
// is a trace of its own, written atomically; `fsim replay` reproduces it.

import { join } from "node:path"
import type { Command } from "commander"
import { InputError } from "../model/schema.js"
import { shrinkFailure, type Size } from "../sim/shrink.js"
import { loadTrace, traceText } from "../sim/trace.js"
import type { CliEnv } from "./env.js"
import { checkOutputDir, checkOutputFile, EXIT, parsePositiveInt, tryWriteOutput } from "./io.js"
import { letEventsIn } from "./check.js"
import { mountLabel } from "./run.js"

interface ShrinkFlags {
  readonly out?: string
  readonly saveDir: string
  readonly budget: number
  readonly json?: boolean
}

export function registerShrink(program: Command, env: CliEnv): void {
  program
    .command("shrink")
    .description("minimize a failing trace: fewer threads, ops and preemptions, simpler arguments, the same check failing; exit 0 when the shrunk trace is written")
    .argument("<trace>", "a failing trace (fsim.trace/1)")
    .option("-o, --out <file>", "where the shrunk trace goes (default: <save-dir>/<check>-<mount>-<seed>.jsonl)")
    .option("--save-dir <dir>", "directory of the default output", "traces")
    .option("--budget <runs>", "most runs to spend", parsePositiveInt, 4_000)
    .option("--json", "print the outcome as JSON")
    .action(async (file: string, flags: ShrinkFlags) => {
      const trace = loadTrace(file)
      const h = trace.header
      if (h.scenario.format !== "fsim.scenario/1") throw new InputError(`${file}: a runtime workload's trace is not shrunk (only scenarios are)`)
      const first = h.violations[0]
      if (h.verdict !== "fail" || first === undefined) throw new InputError(`${file}: the recorded verdict is ${h.verdict}: there is no failure to shrink`)
      if (flags.out !== undefined) checkOutputFile(flags.out, "--out")
      else checkOutputDir(flags.saveDir, "--save-dir")
      // SIGINT and SIGTERM alike: the smallest failure so far is written, whole.
      let signal: NodeJS.Signals | null = null
      const interrupted = (): boolean => signal !== null
      const onSignal = (s: NodeJS.Signals): void => {
        signal ??= s
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      try {
        // Said once the recorded run has been re-made: a scenario the mount
        // refuses (its options) is bad input, answered with its one line alone.
        let started = false
        const threads = h.scenario.threads.length
        const r = await shrinkFailure({ scenario: h.scenario, seed: h.seed, events: trace.events, strategy: h.strategy }, first.check, {
          mounts: env.mounts,
          lockOrders: env.lockOrders,
          budgetRuns: flags.budget,
          shouldStop: interrupted,
          pause: () => {
            if (!started) process.stderr.write(`shrinking ${file} (${first.check}; ${threads} threads)... Ctrl-C stops with the smallest failure so far\n`)
            started = true
            return letEventsIn()
          },
        })
        const out = flags.out ?? join(flags.saveDir, `${first.check}-${mountLabel(h.scenario.mount)}-${h.seed}.jsonl`)
        const lost = tryWriteOutput(out, traceText(r.report))
        if (flags.json === true) {
          process.stdout.write(JSON.stringify({ format: "fsim.shrink/1", trace: file, check: first.check, before: r.before, after: r.after, runs_used: r.runsUsed, cut: r.cut, out: lost === null ? out : null }) + "\n")
        } else {
          const where = lost === null ? `${out}   (fsim replay ${out})` : "(not written)"
          process.stdout.write(`${file}: ${first.check}\n  before: ${describeSize(r.before)}\n  after:  ${describeSize(r.after)}  (${r.runsUsed} runs${r.cut ? ", cut short" : ""})\n  ${where}\n`)
        }
        // The shrunk trace is shrink's product: without it, the command failed (the summary above says what it found).
        if (lost !== null) process.stderr.write(`fsim: ${lost}: the shrunk trace is lost\n`)
        process.exitCode = lost !== null ? EXIT.usage : signal === null ? EXIT.ok : signal === "SIGTERM" ? EXIT.terminated : EXIT.interrupted
      } catch (e) {
        if (e instanceof InputError && /does not fail/.test(e.message)) {
          process.stderr.write(`fsim: ${file}: ${e.message}\n`)
          process.exitCode = EXIT.violation
          return
        }
        throw e
      } finally {
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
      }
    })
}

function describeSize(s: Size): string {
  return `${s.threads} threads, ${s.ops} ops, ${s.steps} steps, ${s.preemptions} preemptions`
}
