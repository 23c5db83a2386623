// Runs a campaign's seed ranges over worker threads, and its failures'
// re-runs and shrinks in one more. The main thread hands out ranges of run
// indices in increasing order and merges the tallies as they come back;
// since a run depends on its seed alone and tallies merge commutatively, the
// result is the same for any number of workers (only wall-clock figures
// differ). Runs never use the main thread, even with one worker: it stays
// free to take SIGINT or SIGTERM at once and to show progress.

import { Worker } from "node:worker_threads"
import type { CampaignSpec, Tally } from "../sim/campaign.js"
import type { SaveJob, SaveMessage, SaveWorkerData } from "./save-worker.js"

/** Runs ranges of a campaign; `abort` drops whatever is in flight. */
export interface RangeRunner {
  run(first: number, count: number): Promise<Tally>
  abort(): void
  close(): Promise<void>
}

/** A worker thread running check-worker.js. */
export class WorkerRunner implements RangeRunner {
  private readonly worker: Worker
  private pending: { resolve: (t: Tally) => void; reject: (e: unknown) => void } | null = null
  private failed: unknown = null

  constructor(spec: CampaignSpec) {
    this.worker = new Worker(new URL("./check-worker.js", import.meta.url), { workerData: spec })
    this.worker.on("message", (m: { tally: Tally }) => {
      const p = this.pending
      this.pending = null
      p?.resolve(m.tally)
    })
    this.worker.on("error", (e) => this.fail(e))
    this.worker.on("exit", (code) => this.fail(new Error(`campaign worker exited (status ${code})`)))
  }

  private fail(e: unknown): void {
    this.failed ??= e
    const p = this.pending
    this.pending = null
    p?.reject(e)
  }

  run(first: number, count: number): Promise<Tally> {
    if (this.failed !== null) return Promise.reject(this.failed)
    if (this.pending !== null) throw new Error("worker: one range at a time")
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
      this.worker.postMessage({ first, count })
    })
  }

  abort(): void {
    this.fail(new Aborted())
    void this.worker.terminate()
  }

  async close(): Promise<void> {
    this.failed ??= new Aborted()
    await this.worker.terminate()
  }
}

/** What an aborted range rejects with. */
export class Aborted extends Error {
  constructor() {
    super("aborted")
  }
}

/** The saved trace a SaveWorker hands back (the main thread writes it). */
export type Saving = Extract<SaveMessage, { kind: "saved" }>

/**
 * The worker that re-makes and shrinks failures (save-worker.js), one job
 * at a time. `stop` ends a shrink at its next run with the smallest failure
 * so far; later jobs then only re-make their runs.
 */
export class SaveWorker {
  private worker: Worker | null = null
  private readonly flag = new Int32Array(new SharedArrayBuffer(4))
  private pending: { resolve: (m: Saving) => void; reject: (e: unknown) => void; onMessage: (m: SaveMessage) => void } | null = null
  private failed: unknown = null

  constructor(private readonly spec: CampaignSpec) {}

  /** Started at the first job: a campaign with nothing to save never loads it (nor competes with the runs for a core). */
  private started(): Worker {
    if (this.worker !== null) return this.worker
    const data: SaveWorkerData = { spec: this.spec, stop: this.flag.buffer as SharedArrayBuffer }
    const worker = new Worker(new URL("./save-worker.js", import.meta.url), { workerData: data })
    this.worker = worker
    worker.on("message", (m: SaveMessage) => {
      const p = this.pending
      if (p === null) return
      if (m.kind === "saved") {
        this.pending = null
        p.resolve(m)
      } else if (m.kind === "error") {
        this.pending = null
        p.reject(new Error(`save worker: ${m.message}`))
      } else p.onMessage(m)
    })
    worker.on("error", (e) => this.fail(e))
    worker.on("exit", (code) => this.fail(new Error(`save worker exited (status ${code})`)))
    return worker
  }

  private fail(e: unknown): void {
    this.failed ??= e
    const p = this.pending
    this.pending = null
    p?.reject(e)
  }

  stop(): void {
    Atomics.store(this.flag, 0, 1)
  }

  save(job: SaveJob, onMessage: (m: SaveMessage) => void): Promise<Saving> {
    if (this.failed !== null) return Promise.reject(this.failed)
    if (this.pending !== null) throw new Error("save worker: one job at a time")
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, onMessage }
      this.started().postMessage(job)
    })
  }

  async close(): Promise<void> {
    this.failed ??= new Aborted()
    await this.worker?.terminate()
  }
}
