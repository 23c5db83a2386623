// `fsim show TRACE`: a recorded run for a person. By default a terminal
// view with one column per thread (ops, lock waits and holds, RPCs, cache
// events) and the violation marked; `--at N` prints the state at event N,
// folded from the log; `--export perfetto` writes Chrome trace-event JSON;
// `--html` writes one self-contained page with a timeline and a slider.

import { dirname, join, basename } from "node:path"
import type { Command } from "commander"
import { describeOp } from "../model/index.js"
import { InputError } from "../model/schema.js"
import type { Event } from "../sim/events.js"
import { renderSections, stateAt } from "../sim/fold.js"
import { loadTrace, type Trace } from "../sim/trace.js"
import type { CliEnv } from "./env.js"
import { describeEvent, threadOf } from "./eventtext.js"
import { traceHtml } from "./html.js"
import { checkOutputFile, parseSeed, tryWriteOutput } from "./io.js"
import { perfettoJson } from "./perfetto.js"
import { mountLabel } from "./run.js"

interface ShowFlags {
  readonly at?: number
  readonly export?: string
  readonly html?: boolean
  readonly out?: string
  readonly sched?: boolean
  readonly from?: number
  readonly to?: number
  readonly width?: number
}

export function registerShow(program: Command, env: CliEnv): void {
  program
    .command("show")
    .description("show a trace: one column per thread (default), the state at an event (--at), Perfetto JSON (--export perfetto) or an HTML page (--html)")
    .argument("<trace>", "a trace file (fsim.trace/1)")
    .option("--at <n>", "print the state at event N (the model's tree, and the filesystem's own state where it provides one)", parseSeed)
    .option("--export <format>", "write the trace for another viewer: perfetto (Chrome trace-event JSON, for ui.perfetto.dev or chrome://tracing)")
    .option("--html", "write one self-contained HTML page: the timeline, and a slider over event numbers")
    .option("-o, --out <file>", "where --export or --html writes (default: beside the trace, .perfetto.json or .html)")
    .option("--sched", "in the terminal view, show every scheduling decision too")
    .option("--from <n>", "in the terminal view, start at event N", parseSeed)
    .option("--to <n>", "in the terminal view, stop at event N", parseSeed)
    .option("--width <n>", "terminal width (default: the terminal's, or 120)", parseSeed)
    .action((file: string, flags: ShowFlags) => {
      if (flags.export !== undefined && flags.export !== "perfetto") throw new InputError(`--export: unknown format ${JSON.stringify(flags.export)} (known: perfetto)`)
      if (flags.export !== undefined && flags.html === true) throw new InputError("--export and --html: one output at a time")
      const trace = loadTrace(file)
      const stem = join(dirname(file), basename(file).replace(/\.jsonl$/, ""))
      const out = flags.export === undefined && flags.html !== true ? null : (flags.out ?? (flags.html === true ? `${stem}.html` : `${stem}.perfetto.json`))
      if (out !== null) checkOutputFile(out, flags.out !== undefined ? "-o" : "the output beside the trace (-o names another)")
      const folders = env.folders ?? {}
      if (flags.at !== undefined) {
        if (flags.at >= trace.events.length) throw new InputError(`--at: the trace has events 0 to ${trace.events.length - 1}`)
        const h = trace.header
        if (h.scenario.format !== "fsim.scenario/1") throw new InputError("--at: a runtime workload has no filesystem state to show")
        process.stdout.write(`state at event ${flags.at} (${describeAt(trace.events[flags.at]!)}):\n\n${renderSections(stateAt(h.scenario, trace.events, flags.at, folders))}\n`)
        return
      }
      if (out !== null) {
        const text = flags.html === true ? traceHtml(trace, folders) : JSON.stringify(perfettoJson(trace)) + "\n"
        // The file is show's only product: losing it is a failure, not a crash.
        const lost = tryWriteOutput(out, text)
        if (lost !== null) throw new InputError(lost)
        process.stdout.write(`${out}\n`)
        return
      }
      process.stdout.write(terminalView(trace, flags))
    })
}

function describeAt(e: Event): string {
  const t = threadOf(e)
  return `${t === null ? "" : `${t}: `}${describeEvent(e)}`
}

function fit(text: string, width: number): string {
  const chars = [...text]
  if (chars.length <= width) return text + " ".repeat(width - chars.length)
  return chars.slice(0, Math.max(0, width - 1)).join("") + "…"
}

/** One column per thread; run-wide events (clock, violation, end) across the columns. */
export function terminalView(trace: Trace, flags: ShowFlags): string {
  const h = trace.header
  const events = trace.events
  const lines: string[] = []
  const s = h.scenario
  const mount = s.format === "fsim.workload/1" ? `workload ${s.name}` : `mount ${mountLabel(s.mount)}${s.mount.options !== undefined ? ` (${s.mount.options})` : ""}`
  lines.push(`${s.name} · ${mount} · seed ${h.seed} · strategy ${h.strategy} · verdict ${h.verdict} · ${events.length} events`)
  if (s.format === "fsim.scenario/1") {
    for (const t of [...s.threads, ...(s.external ?? [])]) {
      lines.push(`  ${t.name}${t.cred !== undefined ? ` (uid ${t.cred.uid})` : ""}: ${t.ops.map((o) => describeOp(o)).join("; ")}`)
    }
  }
  const marked = new Set<number>()
  for (const v of h.violations) {
    lines.push(`VIOLATION [${v.check}] ${v.message}`)
    for (const e of v.events) marked.add(e)
  }
  const threads: string[] = []
  for (const e of events) if (e.kind === "thread_start") threads.push(e.thread)
  const total = flags.width ?? process.stdout.columns ?? 120
  const seqWidth = Math.max(5, String(events.length).length + 2)
  const col = Math.max(14, Math.floor((total - seqWidth - 1) / Math.max(1, threads.length)) - 1)
  const index = new Map(threads.map((t, i) => [t, i]))
  const header = " ".repeat(seqWidth) + " " + threads.map((t) => fit(t, col)).join(" ")
  lines.push("", header.trimEnd(), "-".repeat(Math.min(total, seqWidth + 1 + threads.length * (col + 1))))
  const from = flags.from ?? 0
  const to = flags.to ?? events.length - 1
  for (const e of events) {
    if (e.seq < from || e.seq > to) continue
    if (e.kind === "sched" && flags.sched !== true && !marked.has(e.seq)) continue
    const mark = marked.has(e.seq) ? "*" : " "
    const seq = `${String(e.seq).padStart(seqWidth - 1)}${mark}`
    const t = threadOf(e)
    const i = t === null ? undefined : index.get(t)
    if (i === undefined) {
      lines.push(`${seq} ${e.kind === "violation" ? "" : "── "}${describeEvent(e)}`)
      continue
    }
    const cells = threads.map((_, k) => (k === i ? fit(describeEvent(e), col) : " ".repeat(col)))
    lines.push(`${seq} ${cells.join(" ")}`.trimEnd())
  }
  if (marked.size > 0) lines.push("", "* an event the violation names")
  return lines.join("\n") + "\n"
}
