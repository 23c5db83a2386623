// fsim's 9P server against diod, a real 9P2000.L server, and `fsim serve`
// against both: generated message sequences in lockstep, replies compared
// after the normalizations listed in conformance.ts (and the README).
//
// npm test runs a sample; `.ci/run` sets FSIM_P9_SEQUENCES for the full run.

import { spawnSync } from "node:child_process"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { CoreTarget, NORMALIZATIONS, runCampaign, startDiod, startServe, TcpTarget, type Running } from "./conformance.js"

const SEQUENCES = Number(process.env["FSIM_P9_SEQUENCES"] ?? "100")
const SEED = Number(process.env["FSIM_P9_SEED"] ?? "20251201")
const MARKS = [
  "Twalk ok", "Twalk partial", "Twalk ENOENT", "Twalk ENOTDIR", "Tlcreate ok", "Tlcreate EEXIST", "Tlopen ok", "Tlopen EISDIR",
  "Tauth ENOENT", "Tread ok", "Tread EISDIR", "Tread ok (stale fid)", "Twrite ok", "Twrite ok (stale fid)", "Tmkdir ok", "Tmkdir EEXIST",
  "Tremove ok", "Trename ok", "Tlink ok", "Tlink EPERM", "Tsymlink ok", "Treadlink EINVAL", "Tsetattr ok", "Tsetattr EISDIR",
  "Tclunk ok", "Tclunk unknown fid", "Tfsync ok", "Tstatfs ok", "readdir-all ok", "readdir-all paged",
]
const hasDiod = spawnSync("sh", ["-c", "command -v diod"]).status === 0
// diod must run as root to serve as root (fsim's server acts as root: chown, gid of creates).
const isRoot = process.getuid?.() === 0

describe.skipIf(!hasDiod || !isRoot)("9P conformance", () => {
  let diod: Running
  let serve: Running
  beforeAll(async () => {
    diod = await startDiod()
    serve = await startServe()
  })
  afterAll(() => {
    diod?.stop()
    serve?.stop()
  })

  test(`${SEQUENCES} generated sequences agree between fsim's server, diod and fsim serve`, async () => {
    const targets = [new CoreTarget(), new TcpTarget("diod", "127.0.0.1", diod.port, diod.path), new TcpTarget("fsim serve", "127.0.0.1", serve.port, "")]
    const c = await runCampaign(targets, SEQUENCES, SEED)
    process.stdout.write(`p9 conformance: ${c.sequences} sequences, ${c.messages} messages compared (fsim in process, diod, fsim serve) after ${NORMALIZATIONS.length} normalizations, ${c.mismatches.length} mismatches\n`)
    if (c.mismatches.length > 0) process.stdout.write(`diod's stderr:\n${diod.stderr().slice(-3000)}\nfsim serve's stderr:\n${serve.stderr().slice(-3000)}\n`)
    expect(c.mismatches.join("\n\n")).toBe("")
    if (process.env["FSIM_P9_MARKS"] !== undefined) process.stdout.write([...c.marks].sort().map(([k, v]) => `${k}: ${v}`).join("\n") + "\n")
    expect(c.sequences).toBe(SEQUENCES)
    // Coverage marks: the interesting paths were taken, not only the easy ones.
    if (SEQUENCES >= 100) {
      for (const m of MARKS) expect(c.marks.get(m) ?? 0, `coverage mark "${m}"`).toBeGreaterThan(0)
    }
  }, 600_000)
})
