// What `fsim show` builds from a trace: Chrome trace-event JSON (checked
// against the format's schema), the state folded at an event, the HTML page.

import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { perfettoJson, type ChromeTrace } from "../../src/cli/perfetto.js"
import { traceHtml } from "../../src/cli/html.js"
import { toTree } from "../../src/model/index.js"
import { decodeStrict } from "../../src/model/schema.js"
import { rerun, scenarioForSeed } from "../../src/sim/campaign.js"
import { ModelFolder, renderSections, stateAt } from "../../src/sim/fold.js"
import { runSubject } from "../../src/sim/run.js"
import type { LockWorkload, Scenario } from "../../src/sim/scenario.js"
import { loadTrace, parseTrace, traceText, type Trace } from "../../src/sim/trace.js"
import { ROOT } from "../cli/helpers.js"
import { MOUNTS, MUTANT_CAMPAIGN, MUTANT_FAILING_RUN } from "./helpers.js"

// The Trace Event Format's JSON Object Format (the document Perfetto and
// chrome://tracing read), strict: an unknown field is an error.
const Num = Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
const Int = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Args = Schema.Record(Schema.String, Schema.Unknown)
const common = { name: Schema.String, cat: Schema.optionalKey(Schema.String), pid: Int, args: Schema.optionalKey(Args) }
const TraceEventSchema = Schema.Union([
  Schema.Struct({ ...common, ph: Schema.Literal("X"), ts: Num, dur: Num, tid: Int }),
  Schema.Struct({ ...common, ph: Schema.Literals(["b", "e"]), ts: Num, tid: Schema.optionalKey(Int), id: Schema.String, cat: Schema.String }),
  Schema.Struct({ ...common, ph: Schema.Literal("i"), ts: Num, tid: Schema.optionalKey(Int), s: Schema.optionalKey(Schema.Literals(["g", "p", "t"])) }),
  Schema.Struct({ name: Schema.Literals(["process_name", "process_sort_index", "thread_name", "thread_sort_index"]), ph: Schema.Literal("M"), pid: Int, tid: Schema.optionalKey(Int), args: Args }),
])
const ChromeTraceSchema = Schema.Struct({
  traceEvents: Schema.Array(TraceEventSchema),
  displayTimeUnit: Schema.optionalKey(Schema.Literals(["ms", "ns"])),
  otherData: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
})

/** The schema, then what it cannot say: async slices pair up, each thread is named, a thread's ops do not overlap. */
function validateChromeTrace(doc: unknown): ChromeTrace {
  const t = decodeStrict(ChromeTraceSchema as unknown as Schema.Codec<ChromeTrace>, JSON.parse(JSON.stringify(doc)), "perfetto")
  const open = new Map<string, number>()
  for (const e of t.traceEvents) {
    const k = `${e.cat}\u0000${e.id}`
    if (e.ph === "b") {
      expect(open.has(k), `async ${k} begins twice`).toBe(false)
      open.set(k, e.ts!)
    } else if (e.ph === "e") {
      expect(open.has(k), `async ${k} ends without a begin`).toBe(true)
      expect(e.ts!).toBeGreaterThanOrEqual(open.get(k)!)
      open.delete(k)
    }
  }
  expect([...open.keys()]).toEqual([])
  const named = new Set(t.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => e.tid))
  for (const e of t.traceEvents) if (e.tid !== undefined) expect(named.has(e.tid)).toBe(true)
  const ops = t.traceEvents.filter((e) => e.ph === "X" && e.cat === "op")
  for (const a of ops) for (const b of ops) if (a !== b && a.tid === b.tid) expect(a.ts! + a.dur! <= b.ts! || b.ts! + b.dur! <= a.ts!).toBe(true)
  return t
}

const mutantTrace: Trace = parseTrace(traceText(rerun(MUTANT_CAMPAIGN, MUTANT_FAILING_RUN)), "mutant.jsonl")
const workload: LockWorkload = JSON.parse(readFileSync(join(ROOT, "scenarios", "locks.workload.json"), "utf8"))
const lockTrace: Trace = parseTrace(traceText(runSubject({ ...workload, ordered: false }, { seed: 10, strategy: { kind: "random" } })), "locks.jsonl")

describe("--export perfetto", () => {
  it("is Chrome trace-event JSON: threads as tracks, ops as slices, the violation as a global instant", () => {
    const t = validateChromeTrace(perfettoJson(mutantTrace))
    const threads = t.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => e.args!["name"])
    expect(threads).toEqual(expect.arrayContaining(["t0", "t1"]))
    const ops = t.traceEvents.filter((e) => e.ph === "X" && e.cat === "op")
    expect(ops.length).toBe(mutantTrace.events.filter((e) => e.kind === "op_return").length)
    const v = t.traceEvents.filter((e) => e.cat === "violation")
    expect(v).toHaveLength(1)
    expect(v[0]).toMatchObject({ ph: "i", s: "g", name: "violation: lincheck" })
  })

  it("shows locks held and waited for (a lock workload), every hold a closed async slice", () => {
    const t = validateChromeTrace(perfettoJson(lockTrace))
    const holds = t.traceEvents.filter((e) => e.cat === "lock" && e.ph === "b")
    expect(holds.length).toBe(lockTrace.events.filter((e) => e.kind === "lock_acquire").length)
    expect(t.traceEvents.some((e) => e.cat === "lock_wait" && e.ph === "X")).toBe(true)
  })
})

describe("the state at an event, folded from the log", () => {
  it("ends as the tree the run read back through the mount (the correct model, many runs)", () => {
    for (let seed = 0; seed < 40; seed++) {
      const s = scenarioForSeed({ mount: { kind: "model" }, threads: 3, ops: 6 }, seed)
      const r = runSubject(s, { seed, strategy: { kind: "random" }, mounts: MOUNTS })
      const f = new ModelFolder(s)
      for (const e of r.events) f.onEvent(e)
      const text = renderSections(f.sections())
      expect(text).not.toMatch(/differ from the model/)
      // The model's tree after every op equals the final tree (the final
      // thread only closes descriptions).
      expect(r.final).not.toBeNull()
      expect(JSON.stringify(toTreeOfFolder(f))).toBe(JSON.stringify(r.final!.tree))
    }
  })

  it("flags the mutant's result that the model never gives where the op took effect", () => {
    const s = mutantTrace.header.scenario as Scenario
    const text = renderSections(stateAt(s, mutantTrace.events, mutantTrace.events.length - 1))
    expect(text).toMatch(/results that differ from the model's where the op took effect:\n {2}t\d#\d/)
    const early = renderSections(stateAt(s, mutantTrace.events, 0))
    expect(early).toMatch(/^the model's tree \(0 ops applied/)
  })
})

describe("an overlay's trace", () => {
  it("starts from the merged tree of its layers, as the run's model did", () => {
    const t = loadTrace(join(ROOT, "traces", "overlay-walk-setstat-races-unlink.jsonl"))
    const s = t.header.scenario as Scenario
    // /b is only on the lower layer; the scenario has no remote tree.
    expect(s.remote).toBeUndefined()
    const early = renderSections(stateAt(s, t.events, 0))
    expect(early).toMatch(/^the model's tree \(0 ops applied/)
    expect(early).toContain(`└─ b file 0644 0:0 5 bytes "lower"`)
  })
})

function toTreeOfFolder(f: ModelFolder): unknown {
  return toTree((f as unknown as { state: Parameters<typeof toTree>[0] }).state).tree
}

describe("--html", () => {
  it("is one self-contained page with escaped text", () => {
    const html = traceHtml(mutantTrace)
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/)
    expect(html).toContain('id="slider"')
    expect(html).toContain('id="timeline"')
    // Ops' text appears only escaped: no raw "<" from data in the markup.
    const withAngle = parseTrace(traceText(runSubject({ ...(mutantTrace.header.scenario as Scenario), threads: [{ name: "t0", ops: [{ op: "write", fd: "f", data: "</script><b>x" }] }] }, { seed: 1, strategy: { kind: "random" }, mounts: MOUNTS })), "x.jsonl")
    const page = traceHtml(withAngle)
    expect(page).not.toContain("</script><b>")
    expect(page.split("</script>").length).toBe(3)
  })
})
