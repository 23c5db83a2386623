// Benchmark of the linearizability checker on generated filesystem
// histories: T threads x N ops, linearizable by construction, and the same
// histories with one result corrupted (not linearizable). The verdict is
// timed alone (`explain: false`); for corrupted histories the explanation
// (`checkHistory` as `fsim lincheck` runs it) is timed too, on fewer
// histories at 8 threads, where it takes seconds. bench/bench.ts calls
// `benchLincheck` and prints one JSON line per configuration.

import { performance } from "node:perf_hooks"
import { corruptHistory, generateHistory } from "../src/model/lincheck/gen.js"
import { checkHistory } from "../src/model/lincheck/index.js"
import type { History } from "../src/model/lincheck/history.js"

const SHAPES = [
  { threads: 4, ops: 25, explained: 50 },
  { threads: 8, ops: 25, explained: 10 },
] as const
const HISTORIES = 50

export function benchLincheck(): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = []
  for (const { threads, ops, explained } of SHAPES) {
    const generated = Array.from({ length: HISTORIES }, (_, seed) => generateHistory(seed, { threads, ops }).history)
    const corrupted = generated.map((h, seed) => corruptHistory(h, seed)!.history)
    for (const [kind, histories] of [["linearizable", generated], ["corrupted", corrupted]] as const) {
      const verdict = timeAll(histories, kind === "linearizable", false)
      const line: Record<string, unknown> = {
        bench: "lincheck",
        threads,
        ops,
        kind,
        histories: histories.length,
        median_ms: round(quantile(verdict.times, 0.5)),
        p99_ms: round(quantile(verdict.times, 0.99)),
        max_ms: round(Math.max(...verdict.times)),
        median_explored: quantile(verdict.explored, 0.5),
        unknown: verdict.unknown,
        wrong: verdict.wrong,
      }
      if (kind === "corrupted") {
        const explain = timeAll(histories.slice(0, explained), false, true)
        Object.assign(line, {
          explained,
          explain_median_ms: round(quantile(explain.times, 0.5)),
          explain_p99_ms: round(quantile(explain.times, 0.99)),
          explain_single_op_core: explain.singleOpCores,
        })
      }
      lines.push(line)
    }
  }
  return lines
}

function timeAll(histories: readonly History[], expected: boolean, explain: boolean) {
  const times: number[] = []
  const explored: number[] = []
  let unknown = 0
  let wrong = 0
  let singleOpCores = 0
  for (const history of histories) {
    const start = performance.now()
    const out = checkHistory(history, { explain })
    times.push(performance.now() - start)
    explored.push(out.explored)
    if (out.linearizable === null) unknown++
    else if (out.linearizable !== expected) wrong++
    if (out.core?.length === 1) singleOpCores++
  }
  return { times, explored, unknown, wrong, singleOpCores }
}

function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}
