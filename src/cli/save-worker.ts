// A worker thread of `fsim check` that re-makes a failing run and shrinks it,
// off the main thread: the main thread stays free to show progress and to
// take a signal, and writes every file itself (writes on the main thread are
// synchronous, so a signal never lands in the middle of one). A stop is a
// flag in shared memory, read before each of the shrink's runs: it ends the
// shrink with the smallest failure found so far.

import { parentPort, workerData } from "node:worker_threads"
import { arbScenario, failsNew, rerun, shapeOfRun, type CampaignOptions, type CampaignSpec } from "../sim/campaign.js"
import { configJson } from "../sim/swarm.js"
import type { CheckName } from "../sim/events.js"
import type { RunReport } from "../sim/run.js"
import type { Scenario } from "../sim/scenario.js"
import { shrinkFailure, type Size } from "../sim/shrink.js"
import { traceText } from "../sim/trace.js"
import { campaignOptions, defaultEnv } from "./mounts.js"

export interface SaveJob {
  /** The campaign's run (its index) to re-make. */
  readonly run: number
  /** The campaign's seed of that run (for the shrink's origin). */
  readonly seed: number
  readonly check: string
  /** Shrink it (a failing run), keeping it unexplained when `isNew`. */
  readonly shrink: boolean
  readonly isNew: boolean
  readonly budgetRuns: number
}

export type SaveMessage =
  | { readonly kind: "shrinking"; readonly threads: number; readonly ops: number }
  | { readonly kind: "progress"; readonly runsUsed: number }
  | {
      readonly kind: "saved"
      /** The trace, whole: the main thread writes it. */
      readonly text: string
      readonly seed: number
      readonly shrunk: { readonly before: Size; readonly after: Size; readonly runsUsed: number; readonly cut: boolean } | null
    }
  | { readonly kind: "error"; readonly message: string }

export interface SaveWorkerData {
  readonly spec: CampaignSpec
  /** One Int32: nonzero once the campaign is told to stop. */
  readonly stop: SharedArrayBuffer
}

/** Runs between two progress messages (counted, not timed: the main thread decides when to print). */
const PROGRESS_EVERY_RUNS = 10

const port = parentPort
if (port === null) throw new Error("save-worker: not started as a worker thread")
const data = workerData as SaveWorkerData
const stop = new Int32Array(data.stop)
const env = defaultEnv()
const o: CampaignOptions = campaignOptions(data.spec, env)
const stopped = (): boolean => Atomics.load(stop, 0) !== 0

port.on("message", (job: SaveJob) => {
  save(job).then(
    (m) => port.postMessage(m),
    (e: unknown) => port.postMessage({ kind: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies SaveMessage),
  )
})

async function save(job: SaveJob): Promise<SaveMessage> {
  const found = rerun(o, job.run)
  // The configuration the run was drawn with, in its trace's header (a swarm's runs differ in it).
  const shape = shapeOfRun(o, job.seed)
  const config = o.swarm === undefined ? undefined : configJson(shape)
  if (!job.shrink || found.verdict !== "fail" || stopped()) return { kind: "saved", text: traceText(found, config), seed: found.seed, shrunk: null }
  const scenario = found.subject as Scenario
  port!.postMessage({ kind: "shrinking", threads: scenario.threads.length, ops: [...scenario.threads, ...(scenario.external ?? [])].reduce((n, t) => n + t.ops.length, 0) } satisfies SaveMessage)
  const classify = o.findings?.[shape.mount.kind]
  const check = job.check as CheckName
  let asked = 0
  const r = await shrinkFailure({ scenario, seed: found.seed, events: found.events, strategy: found.strategy }, check, {
    mounts: o.mounts,
    lockOrders: o.lockOrders,
    origin: { arb: arbScenario(shape), seed: job.seed },
    budgetRuns: job.budgetRuns,
    ...(job.isNew ? { keep: (x: RunReport) => failsNew(x, check, classify) } : {}),
    shouldStop: () => {
      // Asked before each run of the shrink: a count of its runs.
      if (++asked % PROGRESS_EVERY_RUNS === 0) port!.postMessage({ kind: "progress", runsUsed: asked } satisfies SaveMessage)
      return stopped()
    },
  })
  return { kind: "saved", text: traceText(r.report, config), seed: r.report.seed, shrunk: { before: r.before, after: r.after, runsUsed: r.runsUsed, cut: r.cut } }
}
