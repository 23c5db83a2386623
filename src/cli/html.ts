// A trace as one self-contained HTML page: the run's timeline (one row per
// thread: ops, lock waits and holds, RPCs in flight, cache events; the
// violations marked) drawn as SVG, and a slider over event numbers that
// moves a cursor over the timeline and shows the event and the state at it
// (folded from the log, see src/sim/fold.ts). No external resource: styles,
// data and script are inline. Text is escaped with `entities` (the escaper
// of htmlparser2 and cheerio); the data island is JSON with "<" escaped, so
// no string in it can close its script element.

import { escapeAttribute, escapeText } from "entities"
import { describeOp } from "../model/index.js"
import type { Event } from "../sim/events.js"
import { stateSnapshots, type StateFolderRegistry } from "../sim/fold.js"
import type { Trace } from "../sim/trace.js"
import { describeEvent, lockName, threadOf } from "./eventtext.js"
import { describeResult, mountLabel } from "./run.js"

const LEFT = 110
const WIDTH = 1000
const ROW = 40
const TOP = 28

interface Span {
  readonly cls: string
  readonly thread: string
  readonly from: number
  readonly to: number
  readonly label: string
}

/** JSON that is safe inside a <script> element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")
}

function spansOf(events: readonly Event[]): Span[] {
  const out: Span[] = []
  const last = events.length - 1
  const ops = new Map<string, Extract<Event, { kind: "op_invoke" }>>()
  const waits = new Map<string, number>()
  const holds = new Map<string, { seq: number; label: string }>()
  const rpcs = new Map<string, { seq: number; label: string }>()
  for (const e of events) {
    switch (e.kind) {
      case "op_invoke":
        ops.set(e.thread, e)
        break
      case "op_return": {
        const o = ops.get(e.thread)
        if (o === undefined) break
        ops.delete(e.thread)
        const err = "errno" in e.result
        out.push({ cls: err ? "op err" : "op", thread: e.thread, from: o.seq, to: e.seq, label: `#${o.index} ${describeOp(o.op)} -> ${describeResult(e.result)} (events ${o.seq}-${e.seq})` })
        break
      }
      case "lock_wait":
        waits.set(`${e.thread}\u0000${e.lock}`, e.seq)
        break
      case "lock_acquire": {
        const k = `${e.thread}\u0000${e.lock}`
        const w = waits.get(k)
        if (w !== undefined) {
          waits.delete(k)
          out.push({ cls: "wait", thread: e.thread, from: w, to: e.seq, label: `waits for ${lockName(e)} (events ${w}-${e.seq})` })
        }
        holds.set(k, { seq: e.seq, label: `holds ${lockName(e)} (${e.mode})` })
        break
      }
      case "lock_release": {
        const k = `${e.thread}\u0000${e.lock}`
        const h = holds.get(k)
        if (h === undefined) break
        holds.delete(k)
        out.push({ cls: "lock", thread: e.thread, from: h.seq, to: e.seq, label: `${h.label} (events ${h.seq}-${e.seq})` })
        break
      }
      case "rpc_send":
        rpcs.set(`${e.thread}\u0000${e.tag}`, { seq: e.seq, label: `${e.msg} tag ${e.tag}${e.detail !== undefined ? ` ${e.detail}` : ""}` })
        break
      case "rpc_reply": {
        const k = `${e.thread}\u0000${e.tag}`
        const r = rpcs.get(k)
        if (r === undefined) break
        rpcs.delete(k)
        out.push({ cls: "rpc", thread: e.thread, from: r.seq, to: e.seq, label: `${r.label} -> ${e.msg} ${e.outcome} (events ${r.seq}-${e.seq})` })
        break
      }
      default:
        break
    }
  }
  for (const [thread, o] of ops) out.push({ cls: "op open", thread, from: o.seq, to: last, label: `#${o.index} ${describeOp(o.op)} -> never returned` })
  for (const [k, h] of holds) out.push({ cls: "lock", thread: k.split("\u0000")[0]!, from: h.seq, to: last, label: `${h.label} (still held at the end)` })
  for (const [k, r] of rpcs) out.push({ cls: "rpc", thread: k.split("\u0000")[0]!, from: r.seq, to: last, label: `${r.label} (no reply)` })
  return out
}

const LANE: Record<string, { dy: number; h: number }> = {
  op: { dy: 4, h: 16 },
  wait: { dy: 21, h: 5 },
  lock: { dy: 27, h: 5 },
  rpc: { dy: 33, h: 5 },
}

export function traceHtml(trace: Trace, registry: StateFolderRegistry = {}): string {
  const h = trace.header
  const events = trace.events
  const lastSeq = Math.max(1, events.length - 1)
  const x = (seq: number): number => LEFT + (seq * WIDTH) / lastSeq
  const threads: string[] = []
  for (const e of events) if (e.kind === "thread_start") threads.push(e.thread)
  const rowOf = new Map(threads.map((t, i) => [t, i]))
  const height = TOP + threads.length * ROW + 24
  const svg: string[] = []
  svg.push(`<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="${LEFT + WIDTH + 20}" height="${height}" viewBox="0 0 ${LEFT + WIDTH + 20} ${height}">`)
  // Axis: ten ticks over event numbers.
  for (let k = 0; k <= 10; k++) {
    const seq = Math.round((lastSeq * k) / 10)
    svg.push(`<line class="tick" x1="${x(seq)}" x2="${x(seq)}" y1="${TOP - 6}" y2="${height - 20}"/><text class="ticklabel" x="${x(seq)}" y="${height - 6}">${seq}</text>`)
  }
  threads.forEach((t, i) => {
    const y = TOP + i * ROW
    svg.push(`<rect class="row" x="${LEFT}" y="${y}" width="${WIDTH}" height="${ROW - 2}"/><text class="thread" x="6" y="${y + 17}">${escapeText(t)}</text>`)
  })
  for (const s of spansOf(events)) {
    const row = rowOf.get(s.thread)
    if (row === undefined) continue
    const lane = LANE[s.cls.split(" ")[0]!]!
    const x0 = x(s.from)
    const w = Math.max(2, x(s.to) - x0)
    svg.push(`<rect class="${escapeAttribute(s.cls)}" x="${x0.toFixed(1)}" y="${TOP + row * ROW + lane.dy}" width="${w.toFixed(1)}" height="${lane.h}" data-from="${s.from}" data-to="${s.to}"><title>${escapeText(s.label)}</title></rect>`)
  }
  for (const e of events) {
    const t = threadOf(e)
    const row = t === null ? undefined : rowOf.get(t)
    if (e.kind === "cache" && row !== undefined) {
      svg.push(`<circle class="cache" cx="${x(e.seq).toFixed(1)}" cy="${TOP + row * ROW + 36}" r="2.5"><title>${escapeText(`event ${e.seq}: ${describeEvent(e)}`)}</title></circle>`)
    }
    if (e.kind === "violation") {
      svg.push(`<line class="violation" x1="${x(e.seq)}" x2="${x(e.seq)}" y1="${TOP - 8}" y2="${height - 20}"><title>${escapeText(`event ${e.seq}: ${describeEvent(e)}`)}</title></line>`)
      for (const ref of e.events) {
        const r = events[ref]
        const rr = r === undefined ? undefined : rowOf.get(threadOf(r) ?? "")
        if (rr === undefined) continue
        const cx = x(ref)
        const cy = TOP + rr * ROW + 2
        svg.push(`<path class="vmark" d="M${(cx - 5).toFixed(1)} ${cy - 8} L${(cx + 5).toFixed(1)} ${cy - 8} L${cx.toFixed(1)} ${cy} Z"><title>${escapeText(`event ${ref}, named by the ${e.check} violation`)}</title></path>`)
      }
    }
  }
  svg.push(`<line id="cursor" x1="${x(0)}" x2="${x(0)}" y1="${TOP - 10}" y2="${height - 18}"/>`)
  svg.push("</svg>")

  const firstViolation = events.find((e) => e.kind === "violation")
  const start = firstViolation?.seq ?? 0
  const data = {
    lastSeq,
    left: LEFT,
    width: WIDTH,
    events: events.map((e) => [e.seq, threadOf(e), describeEvent(e), e.kind]),
    snapshots: h.scenario.format === "fsim.scenario/1" ? stateSnapshots(h.scenario, events, registry).map((s) => [s.seq, s.text]) : [],
  }
  const mount = h.scenario.format === "fsim.workload/1" ? `workload ${h.scenario.name}` : mountLabel(h.scenario.mount)
  const title = `fsim trace · ${h.scenario.name} · ${mount} · seed ${h.seed}`
  const violations = h.violations.map((v) => `<li><b>[${escapeText(v.check)}]</b> ${escapeText(v.message)}${v.events.length > 0 ? ` <span class="refs">(events ${escapeText(v.events.join(", "))})</span>` : ""}</li>`)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeText(title)}</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #1b1f24; background: #fff; }
h1 { font-size: 16px; margin: 0 0 4px; }
.meta { color: #555; margin-bottom: 8px; }
.verdict-fail { color: #b00020; font-weight: bold; } .verdict-pass { color: #1a7f37; font-weight: bold; }
#violations li { margin: 2px 0; } .refs { color: #666; }
#timeline { display: block; border: 1px solid #ddd; background: #fcfcfc; margin: 8px 0; }
#timeline .row { fill: #f3f4f6; } #timeline .thread { font: 12px monospace; fill: #333; }
#timeline .tick { stroke: #e5e7eb; } #timeline .ticklabel { font: 10px monospace; fill: #888; text-anchor: middle; }
#timeline .op { fill: #4f81bd; } #timeline .op.err { fill: #c0504d; } #timeline .op.open { fill: #999; }
#timeline .wait { fill: #f79646; } #timeline .lock { fill: #9bbb59; } #timeline .rpc { fill: #8064a2; }
#timeline .cache { fill: #4bacc6; } #timeline .violation { stroke: #d00; stroke-width: 2; stroke-dasharray: 4 2; }
#timeline .vmark { fill: #d00; } #cursor { stroke: #111; stroke-width: 1.5; }
.controls { display: flex; align-items: center; gap: 8px; width: ${LEFT + WIDTH + 20}px; }
#slider { flex: 1; }
#event-detail { font: 12px monospace; white-space: pre-wrap; overflow-wrap: anywhere; max-width: ${LEFT + WIDTH}px; background: #f6f8fa; padding: 6px; border: 1px solid #ddd; margin-top: 6px; }
#event-detail .here { background: #fff3b0; }
#state { font: 12px monospace; background: #f6f8fa; padding: 6px; border: 1px solid #ddd; white-space: pre-wrap; overflow-wrap: anywhere; max-width: ${LEFT + WIDTH}px; }
#violations { max-width: ${LEFT + WIDTH}px; }
.legend span { display: inline-block; width: 12px; height: 8px; margin: 0 4px 0 10px; }
</style>
</head>
<body>
<h1>${escapeText(title)}</h1>
<div class="meta">strategy ${escapeText(h.strategy)} · ${events.length} events · verdict <span class="verdict-${escapeAttribute(h.verdict)}">${escapeText(h.verdict)}</span> · fsim ${escapeText(h.fsim)}</div>
${violations.length > 0 ? `<ul id="violations">${violations.join("")}</ul>` : ""}
<div class="legend"><span style="background:#4f81bd"></span>ops<span style="background:#c0504d"></span>ops that failed<span style="background:#f79646"></span>lock waits<span style="background:#9bbb59"></span>locks held<span style="background:#8064a2"></span>RPCs in flight<span style="background:#4bacc6"></span>cache events<span style="background:#d00"></span>violation (▼ the events it names)</div>
${svg.join("\n")}
<div class="controls"><label for="slider">event</label><input type="range" id="slider" min="0" max="${lastSeq}" step="1" value="${start}"><output id="slider-value" for="slider">${start}</output></div>
<div id="event-detail"></div>
<h2 style="font-size:14px">state at the event</h2>
<div id="state"></div>
<script type="application/json" id="fsim-data">${scriptJson(data)}</script>
<script>
(() => {
  const data = JSON.parse(document.getElementById("fsim-data").textContent);
  const slider = document.getElementById("slider");
  const out = document.getElementById("slider-value");
  const cursor = document.getElementById("cursor");
  const detail = document.getElementById("event-detail");
  const state = document.getElementById("state");
  const xOf = (seq) => data.left + (seq * data.width) / data.lastSeq;
  const snapshotAt = (seq) => {
    let lo = 0, hi = data.snapshots.length - 1, best = -1;
    while (lo <= hi) { const mid = (lo + hi) >> 1; if (data.snapshots[mid][0] <= seq) { best = mid; lo = mid + 1; } else hi = mid - 1; }
    return best < 0 ? "(no state before this event)" : data.snapshots[best][1];
  };
  const show = (seq) => {
    out.textContent = String(seq);
    cursor.setAttribute("x1", String(xOf(seq)));
    cursor.setAttribute("x2", String(xOf(seq)));
    detail.replaceChildren();
    for (let i = Math.max(0, seq - 4); i <= Math.min(data.events.length - 1, seq + 4); i++) {
      const [s, thread, text] = data.events[i];
      const line = document.createElement("div");
      line.textContent = String(s).padStart(6) + "  " + (thread === null ? "" : thread + ": ") + text;
      if (s === seq) { line.className = "here"; line.id = "current-event"; }
      detail.appendChild(line);
    }
    state.textContent = snapshotAt(seq);
  };
  slider.addEventListener("input", () => show(Number(slider.value)));
  document.getElementById("timeline").addEventListener("click", (ev) => {
    const box = ev.currentTarget.getBoundingClientRect();
    const seq = Math.round(((ev.clientX - box.left - data.left) / data.width) * data.lastSeq);
    slider.value = String(Math.min(data.lastSeq, Math.max(0, seq)));
    show(Number(slider.value));
  });
  show(Number(slider.value));
})();
</script>
</body>
</html>
`
}
