// The simulated 9P server's speed: simulated RPCs per second of wall time
// for a walk + getattr + read mix (threads of a gofer-like client under the
// scheduler, every RPC two scheduling points with drawn latencies and its
// events logged), and the wire codec's encode and decode rates.

import type { Tree, TreeNode } from "../src/model/types.js"
import { ATTR_BASIC, OPEN_READ_ONLY } from "../src/sim/p9/api.js"
import { decode, encode } from "../src/sim/p9/codec.js"
import { SimP9Server } from "../src/sim/p9/sim.js"
import type { Message } from "../src/sim/p9/wire.js"
import { EventLog } from "../src/sim/log.js"
import { Scheduler, type Sim } from "../src/sim/scheduler.js"
import { RandomStrategy } from "../src/sim/strategy.js"

const THREADS = 8
const DIRS = 10
const FILES = 10

function tree(): Tree {
  const t: Record<string, TreeNode> = {}
  for (let d = 0; d < DIRS; d++) {
    const children: Record<string, TreeNode> = {}
    for (let f = 0; f < FILES; f++) children[`f${f}`] = { type: "file", data: "0123456789".repeat(10) }
    t[`d${d}`] = { type: "dir", children }
  }
  return t
}

/** One simulated run of `rounds` walk + getattr + (open, read, clunk) rounds per thread; the RPCs it made. */
function simulate(rounds: number, seed: number): { rpcs: number; events: number } {
  const sched = new Scheduler({ strategy: new RandomStrategy(seed), log: new EventLog(), budgetSteps: 1e9 })
  const server = new SimP9Server(sched, seed, tree())
  for (let t = 0; t < THREADS; t++) {
    sched.spawn(
      `t${t}`,
      (function* (): Sim<void> {
        const [client] = yield* server.connect(`c${t}`)
        const [root] = yield* client!.attach("", 0, "root")
        for (let i = 0; i < rounds; i++) {
          const [, f] = yield* root!.walk([`d${(i + t) % DIRS}`, `f${i % FILES}`], "bench")
          yield* f!.getAttr(ATTR_BASIC)
          yield* f!.open(OPEN_READ_ONLY)
          yield* f!.readAt(64, 0)
          yield* f!.close()
        }
      })(),
    )
  }
  const end = sched.run()
  if (end.kind !== "done") throw new Error(`bench p9: run ended ${end.kind}`)
  const rpcs = sched.log.events.filter((e) => e.kind === "rpc_send").length
  return { rpcs, events: sched.log.length }
}

function rpcRate(seconds: number): Record<string, unknown> {
  simulate(200, 1) // JIT warm-up
  let rpcs = 0
  let events = 0
  let runs = 0
  const start = performance.now()
  while (performance.now() - start < seconds * 1000) {
    const r = simulate(200, ++runs)
    rpcs += r.rpcs
    events += r.events
  }
  const s = (performance.now() - start) / 1000
  return { bench: "p9_sim_rpcs", mix: "walk+getattr+lopen+read+clunk", threads: THREADS, rpcs, rpcs_per_s: Math.round(rpcs / s), events_per_rpc: +(events / rpcs).toFixed(1) }
}

function codecRates(seconds: number): Record<string, unknown>[] {
  const messages: Message[] = [
    { type: "Twalk", fid: 7, newFid: 8, names: ["usr", "lib", "x86_64-linux-gnu"] },
    { type: "Rwalk", qids: [1, 2, 3].map((p) => ({ type: 0x80, version: p, path: 1000 + p })) },
    { type: "Tgetattr", fid: 8, attrMask: ATTR_BASIC },
    { type: "Rgetattr", valid: ATTR_BASIC, qid: { type: 0, version: 3, path: 1003 }, attr: { mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size: 4096, blockSize: 4096, blocks: 8, atime: 1, mtime: 2, ctime: 3, btime: 0, gen: 0, dataVersion: 0 } },
    { type: "Tread", fid: 8, offset: 0, count: 4096 },
    { type: "Rread", data: "x".repeat(4096) },
  ]
  const frames = messages.map((m) => encode(1, m))
  const bytes = frames.reduce((n, f) => n + f.length, 0)
  const rate = (f: () => void): number => {
    for (let i = 0; i < 2000; i++) f()
    let n = 0
    const start = performance.now()
    while (performance.now() - start < seconds * 1000) {
      for (let i = 0; i < 200; i++) f()
      n += 200
    }
    return (n * messages.length) / ((performance.now() - start) / 1000)
  }
  const enc = rate(() => messages.forEach((m) => encode(1, m)))
  const dec = rate(() => frames.forEach((f) => decode(f)))
  const mb = (perS: number): number => +((perS * (bytes / messages.length)) / 1e6).toFixed(1)
  return [
    { bench: "p9_codec_encode", mix: "Twalk,Rwalk,Tgetattr,Rgetattr,Tread,Rread(4 KiB)", msgs_per_s: Math.round(enc), mb_per_s: mb(enc) },
    { bench: "p9_codec_decode", mix: "Twalk,Rwalk,Tgetattr,Rgetattr,Tread,Rread(4 KiB)", msgs_per_s: Math.round(dec), mb_per_s: mb(dec) },
  ]
}

export function benchP9(): Array<Record<string, unknown>> {
  return [rpcRate(2), ...codecRates(1)]
}
