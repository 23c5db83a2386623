// A worker thread of `fsim check --workers N`: runs the seed ranges the main
// thread hands it and posts back their tallies. Every filesystem is
// registered here as in the main thread (functions cannot be sent).

import { parentPort, workerData } from "node:worker_threads"
import { Campaign, type CampaignSpec } from "../sim/campaign.js"
import { campaignOptions, defaultEnv } from "./mounts.js"

export interface RangeRequest {
  readonly first: number
  readonly count: number
}

const port = parentPort
if (port === null) throw new Error("check-worker: not started as a worker thread")
const env = defaultEnv()
const campaign = new Campaign(campaignOptions(workerData as CampaignSpec, env))
port.on("message", (m: RangeRequest) => {
  port.postMessage({ first: m.first, count: m.count, tally: campaign.runRange(m.first, m.count) })
})
