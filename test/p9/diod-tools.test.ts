// diod's own client tools (Debian package diod: diodls, diodcat, diodload)
// against `fsim serve` in its own process: they authenticate first (Tauth,
// then an attach without an afid on ENOENT), list, read, and load the
// server with many sessions at once.
//
// Skipped, loudly, where the tools are not installed; under CI=true their
// absence is a failure (.ci/run installs them).

import { spawnSync } from "node:child_process"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { startServeProcess, treeFile, type ServeProcess } from "./serveproc.js"

const TOOLS = ["diodls", "diodcat", "diodload"]
const missing = TOOLS.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0)
const CI = process.env["CI"] === "true"

const ALL_BYTES = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("")
const TREE = {
  "hello.txt": { type: "file", data: "hello from fsim serve\n" },
  "bytes.bin": { type: "file", data: ALL_BYTES },
  dir: { type: "dir", children: { a: { type: "file" }, "日本": { type: "file", data: "é" } } },
  // What diodload reads and writes (diod's synthetic "ctl" share): it copies
  // msize bytes from zero to null, over and over, on each thread.
  ctl: { type: "dir", children: { zero: { type: "file", data: "\0".repeat(65536) }, null: { type: "file", mode: 0o666 } } },
}

function tool(args: readonly string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const [cmd, ...rest] = args
  const r = spawnSync(cmd!, rest, { timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() }
}

if (missing.length > 0 && !CI) {
  process.stderr.write(`\n*** SKIPPED: diod's client tools against fsim serve: ${missing.join(", ")} not installed (Debian: apt-get install diod) ***\n\n`)
}

test.runIf(missing.length > 0 && CI)("diod's client tools are installed (CI)", () => {
  expect(missing, "CI=true: .ci/run installs diod; its tools are needed").toEqual([])
})

describe.skipIf(missing.length > 0)("diod's client tools against fsim serve", () => {
  let s: ServeProcess
  let server: string
  beforeAll(async () => {
    s = await startServeProcess(treeFile(TREE, "diod-tools"))
    server = `127.0.0.1:${s.port}`
  })
  afterAll(async () => {
    await s?.stop("SIGKILL")
  })

  test("diodls lists the tree and a directory", () => {
    const root = tool(["diodls", "-t", "30", "-s", server, "-a", "/"])
    expect(root.stderr).toBe("")
    expect(root.status).toBe(0)
    expect(root.stdout.toString().split("\n").filter((l) => l !== "").sort()).toEqual(["bytes.bin", "ctl", "dir", "hello.txt"])
    const dir = tool(["diodls", "-t", "30", "-s", server, "-a", "/", "dir"])
    expect(dir.status).toBe(0)
    expect(dir.stdout.toString().split("\n").filter((l) => l !== "").sort()).toEqual(["a", "日本"])
  })

  test("diodcat reads files byte for byte", () => {
    const hello = tool(["diodcat", "-t", "30", "-s", server, "-a", "/", "hello.txt"])
    expect(hello.status).toBe(0)
    expect(hello.stdout.toString()).toBe("hello from fsim serve\n")
    const bytes = tool(["diodcat", "-t", "30", "-s", server, "-a", "/", "bytes.bin"])
    expect(bytes.status).toBe(0)
    expect([...bytes.stdout]).toEqual([...Buffer.from(ALL_BYTES, "latin1")])
    const nonAscii = tool(["diodcat", "-t", "30", "-s", server, "-a", "/dir", "日本"])
    // The name travels as UTF-8; the data is the one byte the scenario's "é" stands for (data is Latin-1).
    expect(nonAscii.status).toBe(0)
    expect([...nonAscii.stdout]).toEqual([0xe9])
  })

  test("diodload copies ctl/zero to ctl/null on 4 sessions for a second", () => {
    const r = tool(["diodload", "-s", server, "-r", "1", "-n", "4"])
    expect(r.status, r.stderr).toBe(0)
    const m = /(\d+) ops\/s, (\d+) rMB\/s, (\d+) wMB\/s/.exec(r.stderr)
    expect(m, r.stderr).not.toBeNull()
    expect(Number(m![1])).toBeGreaterThan(0)
    expect(r.stderr).not.toMatch(/error|open zero|open null|read zero|write null/)
    process.stdout.write(`diodload against fsim serve: ${m![0]}\n`)
    expect(s.stderr()).toBe("")
  })
})
