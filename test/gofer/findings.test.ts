// gVisor's own bugs that the port reproduces (src/impl/gofer/FINDINGS.md):
// each has a trace in traces/ that fails as recorded, and the property
// suites' recognizer tells the one it knows from other failures.

import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { createWalkErrorKeepsNegative, emptyPwriteGrowsSize, externalUserUnderExclusiveCache, failedAppendWriteMovesOffset, failedWriteGrowsSize, writethroughErrorKeepsWrite, goferRunFindings, knownFinding } from "../../src/impl/gofer/findings.js"
import { checkHistory } from "../../src/model/lincheck/index.js"
import type { Stat } from "../../src/model/types.js"
import { replayTrace } from "../../src/sim/replay.js"
import { historyOf, runSubject, type RunReport } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { loadTrace } from "../../src/sim/trace.js"
import { fsim, ROOT, tempDir } from "../cli/helpers.js"

const env = defaultEnv()

function replay(name: string) {
  const r = replayTrace(loadTrace(join(ROOT, "traces", name)), { mounts: env.mounts, lockOrders: env.lockOrders })
  expect(r.reproduced).toBe(true)
  return r.run
}

describe("gofer findings", () => {
  it("otrunc-read-zeros: a read racing an O_TRUNC open returns zeros, and is recognized", () => {
    const run = replay("gofer-finding-otrunc-read-zeros.jsonl")
    expect(run.verdict).toBe("fail")
    expect(knownFinding(run.violations)?.id).toBe("otrunc-read-zeros")
    expect(goferRunFindings(run)).toEqual({ known: ["otrunc-read-zeros"], unknown: [] })
  })

  it("symlink-to-root: a path going on past a symlink to / resolves to / (stat) or walks an empty name (EINVAL)", () => {
    const run = replay("gofer-finding-symlink-to-root.jsonl")
    expect(run.verdict).toBe("fail")
    expect(run.ops.find((o) => o.op.op === "mkdir")?.result).toEqual({ errno: "EINVAL" })
    // Not an instance of a finding the suites tolerate: campaigns avoid it instead.
    expect(knownFinding(run.violations)).toBeNull()
    // Not a recognized finding: what fsim check counts as unexplained.
    expect(goferRunFindings(run).known).toEqual([])
    expect(goferRunFindings(run).unknown.length).toBe(run.violations.length)
  })

  it("hard-link-caches: under fscache a truncate through one name is not seen through the other", () => {
    const run = replay("gofer-finding-hard-link-caches.jsonl")
    expect(run.verdict).toBe("fail")
    expect(knownFinding(run.violations)).toBeNull()
  })

  it("write-setid-stale-mode: under remote_revalidating a write clears setgid from the mode cached before a chmod", () => {
    const run = replay("gofer-finding-write-setid-stale-mode.jsonl")
    expect(run.verdict).toBe("fail")
    expect(run.violations[0]?.message).toMatch(/saw mode 02775.*would have returned mode 0775/)
    expect(knownFinding(run.violations)).toBeNull()
  })

  // Accepted by the dialect: the traces pass, and their histories are linearizable
  // only with the rule (Linux's model rejects them).
  const judged = (run: RunReport, dialect: "gvisor-gofer" | "gvisor-gofer-shared" | "linux") => checkHistory(historyOf(run.subject as Scenario, run.ops, dialect))

  // Issue 13's unexplained gofer runs, each triaged to a rule of the dialect.
  it("seed 9969: O_NOFOLLOW|O_DIRECTORY follows a symlink to a directory, and dentry.open checks write access before EISDIR", () => {
    const run = replay("gofer-open-nofollow-directory-perm.jsonl")
    expect(run.verdict).toBe("pass")
    expect(run.ops.find((o) => o.op.op === "open" && o.thread === "t1")?.result).toEqual({ errno: "EACCES" })
    expect(judged(run, "gvisor-gofer-shared").departures).toMatchObject({ "gofer.open.perm-before-eisdir": 1 })
    expect(judged(run, "linux").linearizable).toBe(false)
  })

  it("seed 9534: under remote_revalidating a removed directory's fstat refetches nlink 0, which statTo reports as 1", () => {
    const run = replay("gofer-fstat-removed-dir-nlink-1.jsonl")
    expect(run.verdict).toBe("pass")
    expect(run.ops.find((o) => o.op.op === "fstat")?.result).toMatchObject({ type: "dir", nlink: 1 })
    expect(judged(run, "gvisor-gofer-shared").departures).toMatchObject({ "gofer.fstat.zero-nlink-as-one": 1 })
    // fscache never refetches: the stale 2 or Linux's 0, not 1.
    expect(judged(run, "gvisor-gofer").linearizable).toBe(false)
    expect(judged(run, "linux").linearizable).toBe(false)
  })

  it("stale-permission-check: a mkdir checked before a chmod took the parent's search permission creates after it", () => {
    const run = replay("gofer-finding-stale-permission-check.jsonl")
    expect(run.verdict).toBe("pass")
    // The stat saw the new mode and the old link count: the mkdir went on after the chmod.
    expect(run.ops.find((o) => o.op.op === "stat" && o.thread === "t1")?.result).toMatchObject({ mode: 0o644, nlink: 2 })
    expect(judged(run, "gvisor-gofer").departures).toMatchObject({ "perm.checked-before-effect": 1 })
    expect(judged(run, "linux").linearizable).toBe(false)
  })

  it("empty-append-write-offset: a write of no bytes moves an O_APPEND description's offset to the end", () => {
    const run = replay("gofer-finding-empty-append-write-offset.jsonl")
    expect(run.verdict).toBe("pass")
    expect(run.ops.find((o) => o.op.op === "read" && o.thread === "t2")?.result).toEqual({ data: "" })
    expect(judged(run, "gvisor-gofer").departures).toMatchObject({ "gofer.write.empty-append-moves-offset": 1 })
    expect(judged(run, "linux").linearizable).toBe(false)
  })

  it("empty-pwrite-grows-size: under cache=none a stat racing a pwrite of no bytes past the end sees its offset as the size", () => {
    const run = replay("gofer-finding-empty-pwrite-grows-size.jsonl")
    expect(run.verdict).toBe("fail")
    const stats = run.ops.filter((o) => o.op.op === "stat" && o.thread === "t1").map((o) => o.result)
    expect(stats).toMatchObject([{ size: 0 }, { size: 4096 }])
    // The server's file never grew: the final check's lstat refetches 0.
    expect(run.ops.find((o) => o.op.op === "lstat" && o.thread === "fsim.final")?.result).toMatchObject({ size: 0 })
    expect(knownFinding(run.violations)).toBeNull()
    expect(goferRunFindings(run)).toEqual({ known: ["empty-pwrite-grows-size"], unknown: [] })
  })

  it("empty-pwrite-grows-size stays quiet where the size seen is not the empty pwrite's offset, or the pwrite wrote bytes", () => {
    const run = replay("gofer-finding-empty-pwrite-grows-size.jsonl")
    const v = run.violations[0]!
    const seen = run.ops.findIndex((o) => o.op.op === "stat" && o.result !== null && "size" in o.result && o.result.size === 4096)
    const otherSize: RunReport = { ...run, ops: run.ops.map((o, i) => (i === seen ? { ...o, result: { ...(o.result as Stat), size: 4095 } } : o)) }
    expect(emptyPwriteGrowsSize(otherSize, v)).toBe(false)
    const wrote: RunReport = { ...run, ops: run.ops.map((o) => (o.op.op === "pwrite" ? { ...o, op: { ...o.op, data: "x" }, result: { count: 1 } } : o)) }
    expect(emptyPwriteGrowsSize(wrote, v)).toBe(false)
    expect(goferRunFindings(wrote).unknown.length).toBe(1)
  })

  it("empty-pwrite-grows-size: a write of no bytes at a description offset past the end (after lseek) grows the size too", () => {
    const scenario: Scenario = {
      format: "fsim.scenario/1",
      name: "empty-write-grows-size",
      mount: { kind: "gofer", options: "cache=none" },
      remote: { b: { type: "file", data: "" } },
      threads: [
        { name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDWR"], fd: "t0.f" }, { op: "lseek", fd: "t0.f", offset: 10, whence: "SEEK_SET" }, { op: "write", fd: "t0.f", data: "" }] },
        { name: "t1", ops: [{ op: "stat", path: "b" }, { op: "stat", path: "b" }, { op: "stat", path: "b" }] },
      ],
    }
    const run = runSubject(scenario, { seed: 1, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
    expect(run.verdict).toBe("fail")
    expect(run.violations[0]?.message).toMatch(/stat of b .* saw size 10;/)
    expect(goferRunFindings(run)).toEqual({ known: ["empty-pwrite-grows-size"], unknown: [] })
    // Another offset than the size seen: not this finding.
    const elsewhere: RunReport = { ...run, ops: run.ops.map((o) => (o.op.op === "lseek" ? { ...o, result: { offset: 11 } } : o)) }
    expect(emptyPwriteGrowsSize(elsewhere, run.violations[0]!)).toBe(false)
  })

  it("empty-pwrite-grows-size: fsim run names it as a documented finding", () => {
    const header = JSON.parse(readFileSync(join(ROOT, "traces", "gofer-finding-empty-pwrite-grows-size.jsonl"), "utf8").split("\n")[0]!)
    const file = join(tempDir("empty-pwrite"), "scenario.json")
    writeFileSync(file, JSON.stringify(header.scenario))
    const r = fsim(["run", file, "--seed", String(header.seed), "--no-trace"])
    expect(r.status).toBe(1)
    expect(r.stdout).toContain("every violation is an instance of a documented gVisor finding (src/impl/gofer/FINDINGS.md): empty-pwrite-grows-size")
  })

  it("empty-append-write-offset: an O_APPEND write whose Twrite failed moves the offset to the end all the same (default seed 1246 of --mount gofer, shrunk), recognized only so", () => {
    const failedAppend = (flags: ("O_RDWR" | "O_APPEND")[], options = "cache=remote_revalidating"): Scenario => ({
      format: "fsim.scenario/1",
      name: "failed-append-write",
      mount: { kind: "gofer", options },
      remote: { b: { type: "file", data: "x" } },
      threads: [{ name: "t0", ops: [{ op: "open", path: "b", flags, fd: "f" }, { op: "write", fd: "f", data: "y" }, { op: "read", fd: "f", count: 1 }] }],
      faults: [{ kind: "rlerror", message: "Twrite", nth: 1, errno: "EIO" }],
    })
    const go = (s: Scenario): RunReport => runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })
    for (const cache of ["cache=remote_revalidating", "cache=none"]) {
      const run = go(failedAppend(["O_RDWR", "O_APPEND"], cache))
      expect(run.ops.filter((o) => o.thread === "t0").map((o) => o.result)).toEqual([{}, { errno: "EIO" }, { data: "" }])
      expect(run.verdict, cache).toBe("fail")
      expect(goferRunFindings(run), cache).toEqual({ known: ["empty-append-write-offset"], unknown: [] })
    }
    // Without O_APPEND the offset stays and the run passes.
    expect(go(failedAppend(["O_RDWR"])).verdict).toBe("pass")
    // The same failure by another mechanism (the read answering past the data it had): not this finding.
    const run = go(failedAppend(["O_RDWR", "O_APPEND"]))
    const misread: RunReport = { ...run, ops: run.ops.map((o) => (o.op.op === "read" ? { ...o, result: { data: "z" } } : o)) }
    expect(failedAppendWriteMovesOffset(misread, run.violations[0]!)).toBe(false)
    // Nor without a failed write in the run.
    const noFault: RunReport = { ...run, ops: run.ops.map(({ faulted: _f, ...o }) => o) }
    expect(failedAppendWriteMovesOffset(noFault, run.violations[0]!)).toBe(false)
  })

  describe("a write whose Twrite failed (default campaign seeds 437 and 449, shrunk)", () => {
    const go = (ops: Scenario["threads"][number]["ops"], nth: number, cache = "fscache_writethrough"): RunReport =>
      runSubject(
        {
          format: "fsim.scenario/1",
          name: "failed-write",
          mount: { kind: "gofer", options: `cache=${cache}` },
          remote: {},
          threads: [{ name: "t0", ops: [{ op: "open", path: "a", flags: ["O_RDWR", "O_CREAT"], fd: "f" }, ...ops] }],
          faults: [{ kind: "rlerror", message: "Twrite", nth, errno: "EIO" }],
        },
        { seed: 1, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders },
      )
    const own = (r: RunReport) => r.ops.filter((o) => o.thread === "t0").map((o) => o.result)

    it("failed-write-grows-size: a failed pwrite past the end grows the cached size to its offset; recognized only so", () => {
      for (const cache of ["fscache", "fscache_writethrough"]) {
        const run = go([{ op: "pwrite", fd: "f", offset: 1, data: "y" }, { op: "fstat", fd: "f" }], 1, cache)
        expect(own(run)[1]).toEqual({ errno: "EIO" })
        expect(own(run)[2]).toMatchObject({ size: 1 })
        expect(goferRunFindings(run), cache).toEqual({ known: ["failed-write-grows-size"], unknown: [] })
        // Another size than the write's offset: not this finding.
        const other: RunReport = { ...run, ops: run.ops.map((o) => (o.op.op === "fstat" ? { ...o, result: { ...(o.result as Stat), size: 3 } } : o)) }
        expect(failedWriteGrowsSize(other, run.violations.find((v) => v.check === "lincheck")!)).toBe(false)
        // Under fscache the server never gets the hole: coherence says so, recognized while the client's extra bytes are zeros.
        const coherence = run.violations.find((v) => v.check === "coherence")
        if (cache === "fscache") {
          expect(coherence).toBeDefined()
          expect(failedWriteGrowsSize(run, coherence!)).toBe(true)
          expect(failedWriteGrowsSize(run, { ...coherence!, message: coherence!.message.replace("\\u0000", "z") })).toBe(false)
        }
      }
      // At offset 0 nothing grows: the run passes.
      expect(go([{ op: "pwrite", fd: "f", offset: 0, data: "y" }, { op: "fstat", fd: "f" }], 1).verdict).toBe("pass")
    })

    it("writethrough-error-keeps-write: a write whose write-through failed stays readable at an unmoved offset; recognized only so", () => {
      const run = go([{ op: "write", fd: "f", data: "x" }, { op: "pread", fd: "f", offset: 0, count: 1 }, { op: "write", fd: "f", data: "y" }, { op: "read", fd: "f", count: 1 }], 2)
      expect(own(run).slice(1)).toEqual([{ count: 1 }, { data: "x" }, { errno: "EIO" }, { data: "y" }])
      expect(goferRunFindings(run)).toEqual({ known: ["writethrough-error-keeps-write"], unknown: [] })
      // A read of bytes the failed write never had: not this finding.
      const other: RunReport = { ...run, ops: run.ops.map((o) => (o.op.op === "read" ? { ...o, result: { data: "z" } } : o)) }
      expect(writethroughErrorKeepsWrite(other, run.violations[0]!)).toBe(false)
      // Under fscache nothing is written through: the write succeeds and the run passes.
      expect(go([{ op: "write", fd: "f", data: "x" }, { op: "write", fd: "f", data: "y" }, { op: "pread", fd: "f", offset: 0, count: 2 }], 2, "fscache").verdict).toBe("pass")
    })
  })

  it("create-walk-error-keeps-negative: an open(O_CREAT) whose walk after the create fails leaves the name cached as missing (default seed 1703, shrunk); recognized only so", () => {
    const create = (faults: Scenario["faults"]): RunReport =>
      runSubject(
        {
          format: "fsim.scenario/1",
          name: "create-walk-error",
          mount: { kind: "gofer", options: "cache=fscache_writethrough" },
          remote: {},
          threads: [{ name: "t0", ops: [{ op: "open", path: "a", flags: ["O_CREAT"], fd: "f" }] }],
          ...(faults !== undefined ? { faults } : {}),
        },
        { seed: 1, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders },
      )
    const run = create([{ kind: "rlerror", message: "Twalkgetattr", nth: 2, errno: "EIO" }])
    expect(run.ops.find((o) => o.thread === "t0")!.result).toEqual({ errno: "EIO" })
    expect(run.verdict).toBe("fail")
    expect(goferRunFindings(run)).toEqual({ known: ["create-walk-error-keeps-negative"], unknown: [] })
    // The create's own failure (its Tucreate refused) leaves nothing behind: the run passes.
    expect(create([{ kind: "rlerror", message: "Tucreate", nth: 1, errno: "EIO" }]).verdict).toBe("pass")
    // Without a faulted create of the name the ENOENT is not this finding.
    const unfaulted: RunReport = { ...run, ops: run.ops.map(({ faulted: _f, ...o }) => o) }
    expect(createWalkErrorKeepsNegative(unfaulted, run.violations[0]!)).toBe(false)
  })

  it("external-user-under-exclusive-cache: under fscache the client never sees an external mkdir in its cached root; recognized only there", () => {
    const run = replay("gofer-fscache-external-user.jsonl")
    expect(run.verdict).toBe("fail")
    expect(run.ops.find((o) => o.thread === "t0")?.result).toMatchObject({ nlink: 2 })
    expect(goferRunFindings(run)).toEqual({ known: ["external-user-under-exclusive-cache"], unknown: [] })
    const s = run.subject as Scenario
    // Quiet under InteropModeShared, whose contract has other users, and without a successful external op.
    const shared: RunReport = { ...run, subject: { ...s, mount: { kind: "gofer", options: "cache=remote_revalidating" } } }
    expect(run.violations.some((v) => externalUserUnderExclusiveCache(shared, v))).toBe(false)
    const none: RunReport = { ...run, ops: run.ops.filter((o) => o.thread !== "x0") }
    expect(run.violations.some((v) => externalUserUnderExclusiveCache(none, v))).toBe(false)
  })

  it("the recognizer needs every violation to match", () => {
    const zeros = { check: "lincheck" as const, message: 'not linearizable: read of 2 bytes from f by thread t0 (ops[1], events 3-9) saw data "\\u0000\\u0000"; ...', events: [3, 9] }
    const other = { check: "invariants" as const, message: "/a: handle downgraded from w to r", events: [4] }
    expect(knownFinding([zeros])?.id).toBe("otrunc-read-zeros")
    expect(knownFinding([zeros, other])).toBeNull()
    expect(knownFinding([])).toBeNull()
  })
})
