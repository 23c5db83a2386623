// gVisor's overlay behaviours that the faithful port reproduces and the
// checks find (src/impl/overlay/FINDINGS.md), each shown by a scenario that
// fails as the finding says and is recognized as that finding.

import { join } from "node:path"
import { expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { chownKeepsCachedSetid, knownOverlayFinding, overlayLockCycleFinding, OVERLAY_FINDINGS, OVERLAY_RUN_FINDINGS, overlayRunFindings, setgidOnly } from "../../src/impl/overlay/findings.js"
import type { Cred, Op, Stat, Tree } from "../../src/model/types.js"
import { replayTrace } from "../../src/sim/replay.js"
import { historyOf, runSubject, type RunReport } from "../../src/sim/run.js"
import { decodeScenario, overlayInitial, type Scenario } from "../../src/sim/scenario.js"
import { checkHistory } from "../../src/model/lincheck/index.js"
import { loadTrace } from "../../src/sim/trace.js"
import { ROOT as REPO } from "../cli/helpers.js"

const ENV = defaultEnv()
const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

function run(upper: Tree, lower: Tree, ops: readonly Op[], checks?: string[]): RunReport {
  const s = decodeScenario({
    format: "fsim.scenario/1",
    name: "finding",
    mount: { kind: "overlay", upper: { kind: "tmpfs", tree: upper }, lower: [{ kind: "tmpfs", tree: lower }] },
    threads: [{ name: "t0", cred: ROOT, ops }],
    ...(checks !== undefined ? { checks } : {}),
  })
  return runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
}

const results = (r: RunReport) => r.ops.filter((o) => o.thread === "t0").map((o) => o.result)

test("unlink-whites-out-lower-directory: unlink(2) of a lower directory with no dentry removes it, contents and all", () => {
  const r = run({}, { d: { type: "dir", children: { x: { type: "file", data: "x" } } } }, [{ op: "unlink", path: "/d" }, { op: "stat", path: "/d/x" }], ["lincheck"])
  expect(results(r)).toEqual([{}, { errno: "ENOENT" }])
  expect(knownOverlayFinding(r.violations)?.id).toBe("unlink-whites-out-lower-directory")
  // With a dentry (an open description of the directory), it is EISDIR.
  const r2 = run({}, { d: { type: "dir", children: { x: { type: "file" } } } }, [{ op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" }, { op: "unlink", path: "/d" }], ["lincheck"])
  expect(results(r2)[1]).toEqual({ errno: "EISDIR" })
  expect(r2.verdict).toBe("pass")
})

test("link-chowns-file: link(2) makes the caller the owner of the file (both names); a cached dentry shows the old owner", () => {
  const r = run({}, { f: { type: "file", uid: 1001, gid: 1001 } }, [
    { op: "open", path: "/f", flags: ["O_RDONLY"], fd: "f" },
    { op: "link", from: "/f", to: "/g" },
    // The open description keeps /f's dentry, with the owner it had.
    { op: "stat", path: "/f" },
    { op: "close", fd: "f" },
    { op: "stat", path: "/f" },
    { op: "stat", path: "/g" },
  ], ["invariants"])
  const res = results(r)
  expect(res[2]).toMatchObject({ uid: 1001, gid: 1001, nlink: 2 })
  expect(res[4]).toMatchObject({ uid: 0, gid: 0, nlink: 2 })
  expect(res[5]).toMatchObject({ uid: 0, gid: 0, nlink: 2 })
})

test("copy-up-dir-setgid: a copied-up directory loses its setgid bit (vfs.MkdirAt masks it, copy-up sets no mode)", () => {
  const r = run({}, { d: { type: "dir", mode: 0o2775, gid: 1000 } }, [
    { op: "mkdir", path: "/d/n" },
    { op: "stat", path: "/d" },
    { op: "stat", path: "/d/n" },
  ])
  const res = results(r)
  expect(res[1]).toMatchObject({ mode: 0o775, gid: 1000 })
  // The new directory neither inherits setgid nor the group.
  expect(res[2]).toMatchObject({ mode: 0o755, gid: 0 })
  expect(r.violations.some((v) => OVERLAY_FINDINGS.find((f) => f.id === "copy-up-dir-setgid")!.matches(v))).toBe(true)
})

test("lower-gofer-none-direct: a gofer lower layer in cache=none refuses O_DIRECT for a file not copied up; copied up, or in another cache mode, it opens", () => {
  const opens = (cache: string, chmodFirst: boolean) => {
    const s = decodeScenario({
      format: "fsim.scenario/1",
      name: "finding",
      mount: { kind: "overlay", upper: { kind: "tmpfs" }, lower: [{ kind: "gofer", options: `cache=${cache}`, tree: "remote" }] },
      remote: { f: { type: "file", data: "x" }, g: { type: "file", data: "y" } },
      threads: [
        {
          name: "t0",
          cred: ROOT,
          ops: [
            ...(chmodFirst ? [{ op: "chmod", path: "/f", mode: 0o644 } as const] : []),
            { op: "open", path: "/f", flags: ["O_RDONLY", "O_DIRECT"], fd: "f" },
          ],
        },
      ],
      checks: ["invariants"],
    })
    return runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders }).ops.filter((o) => o.thread === "t0" && o.op.op === "open").map((o) => o.result)
  }
  expect(opens("none", false)).toEqual([{ errno: "EINVAL" }])
  expect(opens("none", true)).toEqual([{}])
  expect(opens("fscache", false)).toEqual([{}])
})

test("layer-ops-under-dentry-mu: rmdir calls the upper layer between PrepareDeleteDentry and CommitDeleteDentry", () => {
  const r = run({ d: { type: "dir" } }, {}, [{ op: "rmdir", path: "/d" }], ["lock_order"])
  expect(r.violations.length).toBeGreaterThan(0)
  expect(r.violations.every((v) => v.check === "lock_order")).toBe(true)
  expect(knownOverlayFinding(r.violations)?.id).toBe("layer-ops-under-dentry-mu")
  expect(r.violations.some((v) => v.message.includes("asks for vfs.VirtualFilesystem.mountMu") && v.message.includes("while holding vfs.Dentry.mu"))).toBe(true)
})

test("layer-ops-under-dentry-mu: lock-class cycles across runs through mountMu -> Dentry.mu[overlay] are the finding's; others are not", () => {
  const M = "vfs.VirtualFilesystem.mountMu"
  const D = "vfs.Dentry.mu[overlay]"
  expect(overlayLockCycleFinding([D, M])).toBe("layer-ops-under-dentry-mu")
  expect(overlayLockCycleFinding(["tmpfs.filesystem.mu", M, D])).toBe("layer-ops-under-dentry-mu")
  expect(overlayLockCycleFinding(["overlay.dentry.copyMu", D])).toBe("layer-ops-under-dentry-mu")
  // Not entered from mountMu, or not through an overlay dentry: something new.
  expect(overlayLockCycleFinding(["overlay.dentry.dirMu", "overlay.dentry.copyMu"])).toBeNull()
  expect(overlayLockCycleFinding([M, "vfs.Dentry.mu", "tmpfs.filesystem.mu"])).toBeNull()
  expect(overlayLockCycleFinding(["overlay.dentry.copyMu", D, "overlay.dentry.dirMu"])).toBeNull()
})

// ---------------------------------------------------------------------------
// Findings of the concurrent campaigns (properties/overlay.*.test.ts), each
// with its trace in traces/, recognized with the run they come from
// (overlayRunFindings); and a failure that is no finding stays unknown.

function replayOverlay(name: string): RunReport {
  const r = replayTrace(loadTrace(join(REPO, "traces", name)), { mounts: ENV.mounts, lockOrders: ENV.lockOrders })
  expect(r.reproduced).toBe(true)
  return r.run
}

test("copy-up-races-deletion: an O_CREAT open for writing of a lower file that an unlink removes meanwhile returns ENOENT", () => {
  const r = replayOverlay("overlay-finding-copy-up-races-deletion.jsonl")
  expect(r.ops.find((o) => o.op.op === "open" && o.op.flags.includes("O_CREAT"))?.result).toEqual({ errno: "ENOENT" })
  expect(r.events.some((e) => e.kind === "cache" && e.cache === "overlay.copyUp" && e.what === "raced-deletion")).toBe(true)
  expect(overlayRunFindings(r)).toEqual({ known: ["copy-up-races-deletion"], unknown: [] })
})

test("setstat-races-unlink, no longer a finding: a truncate that acts on the file an unlink removed meanwhile is a walk stopped at that file, which the checker follows", () => {
  const r = replayOverlay("overlay-walk-setstat-races-unlink.jsonl")
  expect(r.ops.find((o) => o.op.op === "read")?.result).toEqual({ data: "lower" })
  expect(r.ops.find((o) => o.op.op === "truncate")?.result).toEqual({})
  expect(r.verdict).toBe("pass")
  // Judged with the truncate's walk apart from its effect (Linux's do_truncate acts on the path it looked up, too).
  const s = r.subject as Scenario
  const h = historyOf(s, r.ops, "gvisor-overlay", overlayInitial(s))
  expect(checkHistory(h).departures?.["vfs.walk.non-atomic"]).toBeGreaterThan(0)
})

test("copy-up-dir-setgid: a directory copied up under a setgid upper directory gains the bit, and its new subdirectory inherits it; recognized by the mode, and by the history without setgid bits", () => {
  const r = replayOverlay("overlay-finding-copy-up-dir-setgid.jsonl")
  expect(r.ops.filter((o) => o.thread === "t0" && o.op.op === "stat").map((o) => (o.result as { mode: number }).mode)).toEqual([0o2755, 0o2755])
  expect(overlayRunFindings(r)).toEqual({ known: ["copy-up-dir-setgid"], unknown: [] })
  // The fallback for messages that name no model mode.
  expect(r.violations.every((v) => setgidOnly(r, v))).toBe(true)
})

test("lookup-in-removed-directory: a walk that held /c while an rmdir removed it opens the lower file, which has none of the upper copy's data", () => {
  const r = replayOverlay("overlay-finding-lookup-in-removed-directory.jsonl")
  expect(r.ops.find((o) => o.thread === "t1" && o.op.op === "rmdir")?.result).toEqual({})
  expect(r.ops.find((o) => o.thread === "t0" && o.op.op === "open")?.result).toEqual({})
  expect(r.ops.find((o) => o.op.op === "pread")?.result).toEqual({ data: "" })
  expect(r.events.some((e) => e.kind === "cache" && e.cache === "overlay.lookup" && e.what === "removed-parent")).toBe(true)
  expect(overlayRunFindings(r)).toEqual({ known: ["lookup-in-removed-directory"], unknown: [] })
})

test("security-xattr-unchecked: a user who may write a file sets its security.* xattr (Linux: EPERM without CAP_SYS_ADMIN)", () => {
  const r = replayOverlay("overlay-finding-security-xattr-unchecked.jsonl")
  expect(r.ops.filter((o) => o.thread === "t0").map((o) => o.result)).toEqual([{}, { value: "x" }])
  expect(overlayRunFindings(r)).toEqual({ known: ["security-xattr-unchecked"], unknown: [] })
})

test("chown-keeps-cached-setid: a chown clears setuid on the upper file, and the dentry's cached mode keeps it (seed 534)", () => {
  const r = replayOverlay("overlay-finding-chown-keeps-cached-setid.jsonl")
  expect(r.ops.find((o) => o.op.op === "fstat")?.result).toMatchObject({ mode: 0o4755 })
  // Once the dentry is dropped, the upper file's mode shows.
  expect(r.ops.find((o) => o.thread === "fsim.final" && o.op.op === "lstat")?.result).toMatchObject({ mode: 0o755 })
  expect(overlayRunFindings(r)).toEqual({ known: ["chown-keeps-cached-setid"], unknown: [] })
  // Quiet where taking the setid bits out does not explain the run: a wrong permission bit as well.
  const wrong: RunReport = { ...r, ops: r.ops.map((o) => (o.op.op === "fstat" ? { ...o, result: { ...(o.result as Stat), mode: 0o4711 } } : o)) }
  expect(r.violations.every((v) => chownKeepsCachedSetid(wrong, v))).toBe(false)
  // And without a chown in the run.
  const noChown = { ...r, ops: r.ops.filter((o) => o.op.op !== "chown") }
  expect(r.violations.some((v) => chownKeepsCachedSetid(noChown, v))).toBe(false)
})

test("a failure that is no finding stays unknown: the copy-up-short mutant's lost data", () => {
  const s = decodeScenario({
    format: "fsim.scenario/1",
    name: "mutant",
    mount: { kind: "overlay", upper: { kind: "tmpfs", tree: {} }, lower: [{ kind: "tmpfs", tree: { x: { type: "file", data: "y".repeat(70_000) } } }], options: "mutant=copy-up-short" },
    threads: [{ name: "t0", ops: [{ op: "chmod", path: "/x", mode: 0o600 }, { op: "open", path: "/x", flags: ["O_RDONLY"], fd: "f" }, { op: "read", fd: "f", count: 100_000 }, { op: "unlink", path: "/x" }] }],
    checks: ["lincheck"],
  })
  const r = runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
  expect(r.verdict).toBe("fail")
  const f = overlayRunFindings(r)
  expect(f.known).toEqual([])
  expect(f.unknown.length).toBeGreaterThan(0)
  for (const v of r.violations) for (const f of OVERLAY_RUN_FINDINGS) expect(f.matches(r, v)).toBe(false)
})
