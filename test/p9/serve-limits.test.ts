// `fsim serve` against clients that misbehave, each test with the server in
// its own process as a user runs it: one that pipelines large reads and
// never takes the replies (backpressure), thousands that connect and say
// nothing (the connection cap and the idle timeout).

import { connect, type Socket } from "node:net"
import { afterEach, describe, expect, test } from "vitest"
import { encode } from "../../src/sim/p9/codec.js"
import { NOFID, type Tmessage } from "../../src/sim/p9/wire.js"
import { sleep, startServeProcess, treeFile, type ServeProcess } from "./serveproc.js"
import { WireClient } from "./wireclient.js"

const MiB = 1 << 20
let running: ServeProcess[] = []
afterEach(async () => {
  for (const s of running) await s.stop("SIGKILL")
  running = []
})

async function serve(tree: unknown, args: readonly string[]): Promise<ServeProcess> {
  const s = await startServeProcess(treeFile(tree), args)
  running.push(s)
  return s
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => resolve(s))
    s.once("error", reject)
  })
}

/** Reads the whole of `name` (one Tread) on a fresh session. */
async function readFile(c: WireClient, name: string, count: number): Promise<string> {
  expect((await c.request({ type: "Tversion", msize: MiB + 24, version: "9P2000.L" })).type).toBe("Rversion")
  expect((await c.request({ type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: "", uid: 0 })).type).toBe("Rattach")
  expect((await c.request({ type: "Twalk", fid: 1, newFid: 2, names: [name] })).type).toBe("Rwalk")
  expect((await c.request({ type: "Tlopen", fid: 2, flags: 0 })).type).toBe("Rlopen")
  const r = await c.request({ type: "Tread", fid: 2, offset: 0, count })
  if (r.type !== "Rread") throw new Error(`read of ${name}: ${JSON.stringify(r)}`)
  await c.request({ type: "Tclunk", fid: 2 })
  return r.data
}

describe("fsim serve: backpressure", () => {
  test("800 pipelined 1 MiB reads from a client that never reads keep the server under 300 MB while another client is served", async () => {
    const big = "x".repeat(MiB)
    const s = await serve({ big: { type: "file", data: big }, small: { type: "file", data: "small file" } }, ["--msize-max", String(MiB + 24)])
    const baseline = s.rss()

    // The greedy client: one write of every request, then it never reads.
    const greedy = await rawConnect(s.port)
    greedy.pause()
    const setup: Tmessage[] = [
      { type: "Tversion", msize: MiB + 24, version: "9P2000.L" },
      { type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: "", uid: 0 },
      { type: "Twalk", fid: 1, newFid: 2, names: ["big"] },
      { type: "Tlopen", fid: 2, flags: 0 },
    ]
    const frames = setup.map((m, i) => encode(i + 1, m))
    for (let i = 0; i < 800; i++) frames.push(encode(100 + i, { type: "Tread", fid: 2, offset: 0, count: MiB }))
    greedy.write(Buffer.concat(frames))

    // Meanwhile another client is served, over and over, and the server's
    // memory is sampled throughout.
    let peak = baseline
    let served = 0
    for (let round = 0; round < 10; round++) {
      const c = await WireClient.open("127.0.0.1", s.port)
      expect(await readFile(c, "small", 100)).toBe("small file")
      expect((await readFile(c, "big", MiB)).length).toBe(MiB)
      c.close()
      served++
      peak = Math.max(peak, s.rss())
      await sleep(100)
      peak = Math.max(peak, s.rss())
    }
    greedy.destroy()
    expect(served).toBe(10)
    process.stdout.write(`backpressure: fsim serve at ${(baseline / MiB).toFixed(0)} MB before, at most ${(peak / MiB).toFixed(0)} MB with 800 pipelined 1 MiB reads unread\n`)
    expect(peak).toBeLessThan(300 * 1e6)
    expect(await s.stop()).toBe(130)
    // The greedy connection was held back, not answered in full.
    const throttled = /(\d+) times a connection was not read/.exec(s.stdout())
    expect(Number(throttled?.[1])).toBeGreaterThan(0)
  })
})

describe("fsim serve: connection cap and idle timeout", () => {
  test("2,000 idle connections against --max-connections 100 --idle-timeout 1s: refused over the cap, the rest closed idle", async () => {
    const s = await serve({ f: { type: "file", data: "x" } }, ["--max-connections", "100", "--idle-timeout", "1s"])
    const TOTAL = 2000
    // At most this many connections in flight from the test at once (file descriptors).
    const WAVE = 250
    let answered = 0
    let closedByServer = 0
    const open = async (): Promise<void> => {
      const c = await WireClient.open("127.0.0.1", s.port)
      // One request, then silence: an accepted connection answers it and then
      // idles; a refused one is closed before it can.
      c.request({ type: "Tversion", msize: 8192, version: "9P2000.L" }).then(
        () => answered++,
        () => {},
      )
      // No timeout of our own: the server must close every connection.
      await c.waitClosed(120_000).then((closed) => {
        if (closed) closedByServer++
      })
    }
    const inFlight = new Set<Promise<void>>()
    for (let i = 0; i < TOTAL; i++) {
      const p: Promise<void> = open().finally(() => inFlight.delete(p))
      inFlight.add(p)
      if (inFlight.size >= WAVE) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    expect(closedByServer).toBe(TOTAL)
    expect(await s.stop()).toBe(130)
    const m = /stopped \(SIGINT\): (\d+) connections, (\d+) closed at the cap of 100, (\d+) closed idle, at most (\d+) at once/.exec(s.stdout())
    expect(m, s.stdout()).not.toBeNull()
    const [connections, refused, idle, peak] = m!.slice(1).map(Number) as [number, number, number, number]
    process.stdout.write(`cap and idle: ${connections} connections, ${refused} refused at the cap of 100, ${idle} closed idle, at most ${peak} at once; ${answered} answered; ${s.stderr().split("\n").filter((l) => l.includes("--max-connections")).length} runs of refusals\n`)
    expect(connections).toBe(TOTAL)
    expect(peak).toBeLessThanOrEqual(100)
    expect(refused).toBeGreaterThan(0)
    // Every connection the server took was closed for idling (the test never closes one).
    expect(refused + idle).toBe(TOTAL)
    expect(answered).toBe(idle)
    // The cap is said once per run of refusals, not once per connection.
    const capLines = s.stderr().split("\n").filter((l) => l.includes("--max-connections"))
    expect(capLines.length).toBeGreaterThan(0)
    expect(capLines.length).toBeLessThan(refused)
    expect(s.stderr()).toMatch(/closed 127\.0\.0\.1:\d+: idle for 1s/)
  })
})
