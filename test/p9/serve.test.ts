// `fsim serve` as a user runs it: help, one-line errors with exit 2, and
// serving a scenario's remote tree to a real client until interrupted.

import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { describe, expect, test } from "vitest"
import { NOFID } from "../../src/sim/p9/wire.js"
import { parseListen } from "../../src/cli/serve.js"
import { FSIM, fsim, tempDir } from "../cli/helpers.js"
import { WireClient } from "./wireclient.js"

function scenarioFile(remote: unknown): string {
  const file = join(tempDir("serve"), "s.json")
  writeFileSync(file, JSON.stringify({ format: "fsim.scenario/1", name: "served", mount: { kind: "gofer" }, threads: [], remote }))
  return file
}

describe("fsim serve", () => {
  test("--help, and bad input: one line on stderr, exit 2", () => {
    const help = fsim(["serve", "--help"])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/--listen <host:port>/)
    const file = scenarioFile({})
    const bad = join(tempDir("serve"), "bad.json")
    writeFileSync(bad, JSON.stringify({ format: "fsim.scenario/1", name: "x", mount: { kind: "gofer" }, threads: [], remote: { a: { type: "nope" } } }))
    const cases: [string[], RegExp][] = [
      [["serve", "--tree", file], /required option '--listen/],
      [["serve", "--listen", "localhost", "--tree", file], /--listen.*HOST:PORT/],
      [["serve", "--listen", "127.0.0.1:99999", "--tree", file], /HOST:PORT/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", "/no/such.json"], /no such file/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", bad], /remote/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", file, "--msize-max", "12"], /--msize-max/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", file, "--qid-paths", "sometimes"], /unique.*reuse/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", file, "--max-connections", "0"], /--max-connections/],
      [["serve", "--listen", "127.0.0.1:0", "--tree", file, "--idle-timeout", "soon"], /--idle-timeout.*duration/],
      // Every interface only when spelled out.
      [["serve", "--listen", ":5640", "--tree", file], /every interface.*write 0\.0\.0\.0 .* or \[::\]/],
      [["serve", "--listen", "0:5640", "--tree", file], /"0" is a way of writing every interface.*0\.0\.0\.0/],
      [["serve", "--listen", "0.0:5640", "--tree", file], /every interface/],
      [["serve", "--listen", "[::0]:5640", "--tree", file], /every interface.*\[::\]/],
    ]
    for (const [args, msg] of cases) {
      const r = fsim(args)
      expect(r.status, args.join(" ")).toBe(2)
      expect(r.stderr.trim().split("\n").length, r.stderr).toBe(1)
      expect(r.stderr).toMatch(msg)
      expect(r.stdout).toBe("")
    }
  })

  test("--listen: the wildcard addresses spelled out are taken as they are", () => {
    // Not bound here: tests stay on loopback.
    expect(parseListen("0.0.0.0:5640")).toEqual({ host: "0.0.0.0", port: 5640 })
    expect(parseListen("[::]:0")).toEqual({ host: "::", port: 0 })
    expect(parseListen("[::1]:5640")).toEqual({ host: "::1", port: 5640 })
    expect(parseListen("localhost:5640")).toEqual({ host: "localhost", port: 5640 })
    expect(parseListen("10.0.0.1:1")).toEqual({ host: "10.0.0.1", port: 1 })
    for (const wild of [":1", "0:1", "00:1", "0x0:1", "0.0.0:1", "000.000.000.000:1", "[0::0]:1", "[::0.0.0.0]:1"]) expect(() => parseListen(wild), wild).toThrow(/every interface/)
  })

  test("a port in use is a one-line error", async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()))
    const port = (blocker.address() as { port: number }).port
    try {
      const r = fsim(["serve", "--listen", `127.0.0.1:${port}`, "--tree", scenarioFile({})])
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/)
    } finally {
      blocker.close()
    }
  })

  test("serves the scenario's remote tree to a real client; SIGINT ends it with 130", async () => {
    const file = scenarioFile({ d: { type: "dir", children: { f: { type: "file", data: "served bytes", uid: 1000 } } } })
    const child = spawn(process.execPath, [FSIM, "serve", "--listen", "127.0.0.1:0", "--tree", file], { stdio: ["ignore", "pipe", "pipe"] })
    const port = await new Promise<number>((resolve, reject) => {
      let out = ""
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString()
        const m = /127\.0\.0\.1:(\d+)/.exec(out)
        if (m !== null) resolve(Number(m[1]))
      })
      child.once("exit", (code) => reject(new Error(`fsim serve exited ${code}`)))
    })
    const c = await WireClient.open("127.0.0.1", port)
    expect(await c.request({ type: "Tversion", msize: 1 << 20, version: "9P2000.L.Google.99" })).toEqual({ type: "Rlerror", error: 11 })
    expect(await c.request({ type: "Tversion", msize: 1 << 24, version: "9P2000.L.Google.11" })).toEqual({ type: "Rversion", msize: 1 << 20, version: "9P2000.L.Google.11" })
    await c.request({ type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: "", uid: 0 })
    expect((await c.request({ type: "Twalk", fid: 1, newFid: 2, names: ["d", "f"] })).type).toBe("Rwalk")
    await c.request({ type: "Tlopen", fid: 2, flags: 0 })
    expect(await c.request({ type: "Tread", fid: 2, offset: 7, count: 100 })).toEqual({ type: "Rread", data: "bytes" })
    c.close()
    const status = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    child.kill("SIGINT")
    expect(await status).toBe(130)
  })
})
