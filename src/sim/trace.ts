// Trace files (`fsim.trace/1`, contract section 4): JSON Lines, a header
// then one event per line. Written atomically; loaded with every line
// validated, and rejected with one line naming the line number and field.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { Schema } from "effect"
import { checkInputLimits, checkJsonLimits, LIMITS } from "../model/limits.js"
import { decodeStrict, InputError } from "../model/schema.js"
import { EventSchema, VERDICTS, ViolationSchema, type Event, type Verdict, type Violation } from "./events.js"
import type { RunReport } from "./run.js"
import { decodeSubject, type RunSubject } from "./scenario.js"
import { FSIM_VERSION } from "./version.js"

export const TRACE_FORMAT = "fsim.trace/1"

export interface TraceHeader {
  readonly format: typeof TRACE_FORMAT
  readonly fsim: string
  readonly scenario: RunSubject
  readonly strategy: string
  readonly seed: number
  readonly verdict: Verdict
  readonly violations: readonly Violation[]
  /**
   * The swarm configuration the run was drawn with (swarm.ts, configJson),
   * for the reader: a replay needs only the scenario, which holds it all.
   */
  readonly config?: unknown
}

export interface Trace {
  readonly header: TraceHeader
  readonly events: readonly Event[]
  /** The event lines exactly as read, each ending in "\n": what a replay must reproduce byte for byte. */
  readonly eventText: string
}

const HeaderShape = Schema.Struct({
  format: Schema.Literal(TRACE_FORMAT),
  fsim: Schema.String,
  scenario: Schema.Unknown,
  strategy: Schema.String,
  seed: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff_ffff })),
  verdict: Schema.Literals(VERDICTS),
  violations: Schema.Array(ViolationSchema),
  config: Schema.optionalKey(Schema.Unknown),
})

export function headerOf(r: RunReport, config?: unknown): TraceHeader {
  return {
    format: TRACE_FORMAT,
    fsim: FSIM_VERSION,
    scenario: r.subject,
    strategy: r.strategy,
    seed: r.seed,
    verdict: r.verdict,
    violations: r.violations,
    ...(config !== undefined ? { config } : {}),
  }
}

/** The events as trace lines (no header), each ending in "\n". */
export function eventLines(events: readonly Event[]): string {
  let out = ""
  for (const e of events) out += JSON.stringify(e) + "\n"
  return out
}

export function traceText(r: RunReport, config?: unknown): string {
  return JSON.stringify(headerOf(r, config)) + "\n" + eventLines(r.events)
}

/**
 * The trace's text in pieces of about a megabyte, each event made from the
 * log's columns only when its line is written: a run of a million ops
 * writes its trace without holding it, or its events as objects, whole.
 */
export function* traceChunks(r: RunReport): Generator<string> {
  yield JSON.stringify(headerOf(r)) + "\n"
  const at = r.eventAt ?? ((seq: number) => r.events[seq])
  let out = ""
  for (let seq = 0; seq < r.eventCount; seq++) {
    out += JSON.stringify(at(seq)) + "\n"
    if (out.length >= 1 << 20) {
      yield out
      out = ""
    }
  }
  if (out !== "") yield out
}

/**
 * Writes `text` to `path` atomically: a temporary file in the same directory,
 * flushed, then renamed over the target, so no reader ever sees half a trace.
 */
export function writeFileAtomic(path: string, text: string | Iterable<string>): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  const fd = openSync(tmp, "w", 0o644)
  try {
    if (typeof text === "string") writeSync(fd, text)
    else for (const piece of text) writeSync(fd, piece)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  try {
    renameSync(tmp, path)
  } catch (e) {
    unlinkSync(tmp)
    throw e
  }
}

/** Parses a trace's text; `name` prefixes error messages ("t.jsonl:7: ..."). */
export function parseTrace(text: string, name: string): Trace {
  if (text.length === 0) throw new InputError(`${name}: empty file (a trace starts with its header line)`)
  const lines = text.split("\n")
  if (lines[lines.length - 1] !== "") {
    throw new InputError(`${name}:${lines.length}: truncated: the last line does not end with a newline`)
  }
  lines.pop()
  if (lines.length - 1 > LIMITS.traceEvents) throw new InputError(`${name}: ${lines.length - 1} events, more than fsim's limit of ${LIMITS.traceEvents}`)
  const header = parseHeader(lines[0]!, `${name}:1`)
  const events: Event[] = []
  for (let i = 1; i < lines.length; i++) {
    const where = `${name}:${i + 1}`
    const raw = parseJson(lines[i]!, where)
    checkJsonLimits(raw, where)
    const e = decodeStrict(EventSchema, raw, where)
    if (e.seq !== i - 1) throw new InputError(`${where}: seq: expected ${i - 1}, got ${e.seq} (events are numbered 0, 1, 2, ... in order)`)
    events.push(e)
  }
  const last = events[events.length - 1]
  if (last === undefined || last.kind !== "end") {
    throw new InputError(`${name}:${lines.length}: truncated: the trace does not end with an "end" event`)
  }
  return { header, events, eventText: text.slice(lines[0]!.length + 1) }
}

function parseHeader(line: string, where: string): TraceHeader {
  const raw = parseJson(line, where)
  // Limits first: the format message below prints the value, which may be nested past what JSON.stringify's recursion survives.
  checkJsonLimits(raw, where)
  if (raw !== null && typeof raw === "object" && "format" in raw && (raw as { format: unknown }).format !== TRACE_FORMAT) {
    throw new InputError(`${where}: format: unknown trace format ${JSON.stringify((raw as { format: unknown }).format)} (this fsim reads ${TRACE_FORMAT})`)
  }
  const h = decodeStrict(HeaderShape, raw, where)
  checkInputLimits(h.scenario, `${where}: scenario`)
  return { ...h, scenario: decodeSubject(h.scenario, `${where}: scenario`) } as TraceHeader
}

function parseJson(line: string, where: string): unknown {
  try {
    return JSON.parse(line)
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e)
    throw new InputError(`${where}: not JSON (${why})`)
  }
}

export function loadTrace(path: string): Trace {
  return parseTrace(readTextFile(path, LIMITS.traceBytes), path)
}

/** A file's text, refused (one line) when it cannot be read or holds more than `maxBytes`. */
export function readTextFile(path: string, maxBytes: number): string {
  const cannot = (e: unknown): InputError => {
    const code = (e as NodeJS.ErrnoException).code
    return new InputError(`${path}: cannot read${code === "ENOENT" ? " (no such file)" : code === "EISDIR" ? " (a directory)" : ` (${code ?? "error"})`}`)
  }
  const tooBig = (bytes: number): InputError => new InputError(`${path}: ${bytes} bytes, more than fsim's limit of ${maxBytes} for this input`)
  let size: number
  try {
    size = statSync(path).size
  } catch (e) {
    throw cannot(e)
  }
  if (size > maxBytes) throw tooBig(size)
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    throw cannot(e)
  }
  // A pipe or device has no size to stat: its text is measured instead.
  if (text.length > maxBytes) throw tooBig(text.length)
  return text
}

