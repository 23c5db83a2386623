// Runs a campaign's seed ranges in this thread or over worker threads. The
// main thread hands out ranges of run indices in increasing order and merges
// the tallies as they come back; since a run depends on its seed alone and
// tallies merge commutatively, the result is the same for any number of
// workers (only wall-clock figures differ).

import { Worker } from "node:worker_threads"
import { Campaign, type CampaignOptions, type CampaignSpec, type Tally } from "../sim/campaign.js"

/** Runs ranges of a campaign; `abort` drops whatever is in flight. */
export interface RangeRunner {
  run(first: number, count: number): Promise<Tally>
  abort(): void
  close(): Promise<void>
}

/** This thread: a range runs synchronously, then yields to the event loop (so Ctrl-C is seen between ranges). */
export class InlineRunner implements RangeRunner {
  private readonly campaign: Campaign
  constructor(o: CampaignOptions) {
    this.campaign = new Campaign(o)
  }
  run(first: number, count: number): Promise<Tally> {
    const t = this.campaign.runRange(first, count)
    return new Promise((resolve) => setImmediate(() => resolve(t)))
  }
  abort(): void {}
  async close(): Promise<void> {}
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
