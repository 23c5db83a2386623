// Replay: re-run a trace's subject under its recorded decisions and prove
// the new event log is byte-identical to the recorded one.

import { createHash } from "node:crypto"
import { runSubject, type RunOptions, type RunReport } from "./run.js"
import { decisionsOf } from "./strategy.js"
import { eventLines, type Trace } from "./trace.js"

export interface ReplayReport {
  /** The new run's events are byte-identical to the recorded ones, and the verdict is the same. */
  readonly reproduced: boolean
  readonly recordedHash: string
  readonly replayedHash: string
  /** Where the two logs first differ, if they do. */
  readonly firstDifference: { readonly seq: number; readonly recorded: string | null; readonly replayed: string | null } | null
  /** Set when the recorded decisions could not be followed. */
  readonly divergence: string | null
  readonly run: RunReport
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex")
}

export function replayTrace(trace: Trace, options: Omit<RunOptions, "seed" | "strategy"> = {}): ReplayReport {
  const h = trace.header
  const run = runSubject(h.scenario, {
    ...options,
    seed: h.seed,
    strategy: { kind: "replay", decisions: decisionsOf(trace.events), recorded: h.strategy },
  })
  const recorded = trace.eventText
  const replayed = eventLines(run.events)
  const recordedHash = sha256(recorded)
  const replayedHash = sha256(replayed)
  const same = recordedHash === replayedHash && recorded === replayed
  const divergence = run.end.kind === "divergence" ? run.end.divergence.message : null
  return {
    reproduced: same && run.verdict === h.verdict && divergence === null,
    recordedHash,
    replayedHash,
    firstDifference: same ? null : firstDifference(recorded, replayed),
    divergence,
    run,
  }
}

function firstDifference(recorded: string, replayed: string): NonNullable<ReplayReport["firstDifference"]> {
  const a = recorded.split("\n")
  const b = replayed.split("\n")
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? null
    const y = b[i] ?? null
    if (x !== y) return { seq: i, recorded: x === "" ? null : x, replayed: y === "" ? null : y }
  }
  return { seq: n, recorded: null, replayed: null }
}
