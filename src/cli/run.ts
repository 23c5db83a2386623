// `fsim run`: one scenario (or runtime workload), one seed, one strategy.

import { mountLabelOf } from "../sim/descriptor.js"
import { FILESYSTEMS } from "../impl/registry.js"
import { join } from "node:path"
import type { Command } from "commander"
import { describeOp } from "../model/index.js"
import { isErr, type OpResult } from "../model/types.js"
import { runSubject, type RunReport } from "../sim/run.js"
import { decodeSubject, type Mount } from "../sim/scenario.js"
import { parseStrategy } from "../sim/strategy.js"
import { traceChunks } from "../sim/trace.js"
import type { CliEnv } from "./env.js"
import { checkOutputFile, EXIT, parsePositiveInt, parseSeed, readJsonFile, showBytes, tryWriteOutput } from "./io.js"

interface RunFlags {
  readonly seed: number
  readonly strategy: string
  readonly json?: boolean
  readonly trace?: string | false
  readonly budget?: number
}

export function registerRun(program: Command, env: CliEnv): void {
  program
    .command("run")
    .description("run one scenario (fsim.scenario/1) or runtime workload (fsim.workload/1) under one seed and strategy")
    .argument("<scenario>", "the scenario's JSON file")
    .option("--seed <n>", "the run's 32-bit seed", parseSeed, 0)
    .option("--strategy <s>", "random, pct:DEPTH or pct:DEPTH:STEPS", "random")
    .option("--json", "print the result as fsim.result/1 JSON")
    .option("--trace <file>", "write the trace here (default: runs/<check>-<mount>-<seed>.jsonl when the run fails)")
    .option("--no-trace", "write no trace")
    .option("--budget <steps>", "scheduler steps before the run stops as budget_exhausted", parsePositiveInt)
    .action((file: string, flags: RunFlags) => {
      const subject = decodeSubject(readJsonFile(file), file)
      const strategy = parseStrategy(flags.strategy)
      if (typeof flags.trace === "string") checkOutputFile(flags.trace, "--trace")
      const report = runSubject(subject, {
        seed: flags.seed,
        strategy,
        mounts: env.mounts,
        lockOrders: env.lockOrders,
        ...(flags.budget !== undefined ? { budgetSteps: flags.budget } : {}),
      })
      let trace = tracePath(report, flags)
      // A trace that cannot be written (disk full, a directory gone) does
      // not undo the run: its result is printed, and the loss said.
      const lost = trace === null ? null : tryWriteOutput(trace, traceChunks(report))
      if (lost !== null) trace = null
      if (flags.json === true) process.stdout.write(JSON.stringify(resultJson(report, trace)) + "\n")
      else process.stdout.write(describeRun(report, trace, env))
      if (lost !== null) process.stderr.write(`fsim: ${lost}: the trace is lost (the same seed and strategy repeat the run)\n`)
      process.exitCode = exitFor(report)
    })
}

function tracePath(r: RunReport, flags: RunFlags): string | null {
  if (flags.trace === false) return null
  if (typeof flags.trace === "string") return flags.trace
  if (r.verdict === "pass") return null
  return join("runs", `${traceStem(r)}.jsonl`)
}

/** "lock_order-gofer-fscache-7": the first failing check, the mount and the seed. */
export function traceStem(r: RunReport): string {
  const check = r.violations[0]?.check ?? r.verdict
  const mount = r.subject.format === "fsim.workload/1" ? `workload-${r.subject.name}` : mountLabel(r.subject.mount)
  return `${check}-${mount}-${r.seed}`
}

/** The mount in a file name: its kind, then what tells runs apart ("gofer-fscache", "model-mutant-rename-not-atomic", "overlay-gofer-remote_revalidating"): its descriptor's words. */
export function mountLabel(m: Mount): string {
  return mountLabelOf(FILESYSTEMS, m)
}

export function exitFor(r: RunReport): number {
  switch (r.verdict) {
    case "pass":
      return EXIT.ok
    case "fail":
      return EXIT.violation
    case "budget_exhausted":
    case "unknown":
      return EXIT.inconclusive
  }
}

export function subjectName(r: RunReport): string {
  return r.subject.format === "fsim.workload/1" ? r.subject.name : r.subject.name
}

/** The contract's `fsim.result/1`. */
export function resultJson(r: RunReport, trace: string | null): Record<string, unknown> {
  return {
    format: "fsim.result/1",
    scenario: subjectName(r),
    seed: r.seed,
    strategy: r.strategy,
    verdict: r.verdict,
    steps: r.steps,
    ops: r.ops.map((o) => ({ thread: o.thread, index: o.index, op: o.op, result: o.result, invoke: o.invoke, return: o.return })),
    violations: r.violations,
    final: r.final === null ? null : r.final.tree,
    trace,
  }
}

function describeRun(r: RunReport, trace: string | null, env: CliEnv): string {
  const lines: string[] = []
  const mount = r.subject.format === "fsim.workload/1" ? `workload ${r.subject.name}` : `mount ${r.subject.mount.kind}`
  lines.push(`${subjectName(r)} · ${mount} · seed ${r.seed} · strategy ${r.strategy}`)
  const why = r.end.kind === "budget_exhausted" ? " (the step budget ran out)" : r.end.kind === "stopped" ? ` (stopped: ${r.end.why})` : ""
  lines.push(`verdict: ${r.verdict}${why} after ${r.steps} steps, ${r.eventCount} events`)
  for (const v of r.violations) lines.push(`  [${v.check}] ${v.message}${v.events.length > 0 ? ` (events ${v.events.join(", ")})` : ""}`)
  const known = knownFindings(r, env)
  if (known !== null) lines.push(known)
  if (r.ops.length > 0) {
    lines.push("ops:")
    for (const o of r.ops) {
      const when = `events ${o.invoke}-${o.return ?? "…"}`
      lines.push(`  ${o.thread}#${o.index} ${describeOp(o.op)} -> ${o.result === null ? "never returned" : describeResult(o.result)}  (${when})`)
    }
  }
  if (trace !== null) lines.push(`trace: ${trace}`)
  return lines.join("\n") + "\n"
}

/** A line naming the documented gVisor findings a failing run shows (each port's FINDINGS.md), or null. */
export function knownFindings(r: RunReport, env: CliEnv): string | null {
  if (r.verdict !== "fail" || r.subject.format === "fsim.workload/1") return null
  const classify = env.findings?.[r.subject.mount.kind]
  if (classify === undefined) return null
  const { known, unknown } = classify.run(r)
  if (known.length === 0) return null
  const where = `src/impl/${r.subject.mount.kind}/FINDINGS.md`
  return unknown.length === 0
    ? `every violation is an instance of a documented gVisor finding (${where}): ${known.join(", ")}`
    : `some violations are instances of documented gVisor findings (${where}): ${known.join(", ")}; ${unknown.length} ${unknown.length === 1 ? "is" : "are"} not`
}

export function describeResult(r: OpResult): string {
  if (isErr(r)) return r.errno
  if ("data" in r) return `data ${showBytes(r.data)}`
  if ("count" in r) return `count ${r.count}`
  if ("offset" in r) return `offset ${r.offset}`
  if ("entries" in r) return `entries [${r.entries.map((e) => e.name).join(", ")}]`
  if ("target" in r) return `target ${JSON.stringify(r.target)}`
  if ("value" in r) return `value ${showBytes(r.value)}`
  if ("names" in r) return `names [${r.names.join(", ")}]`
  if ("namelen" in r) return `namelen ${r.namelen}`
  if ("type" in r) return `${r.type} mode ${r.mode.toString(8)} size ${r.size} nlink ${r.nlink} uid ${r.uid} gid ${r.gid}`
  return "ok"
}
