// gVisor's overlay behaviours that the faithful port reproduces and the
// checks find (src/impl/overlay/FINDINGS.md), each shown by a scenario that
// fails as the finding says and is recognized as that finding.

import { expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { knownOverlayFinding, OVERLAY_FINDINGS } from "../../src/impl/overlay/findings.js"
import type { Cred, Op, Tree } from "../../src/model/types.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import { decodeScenario } from "../../src/sim/scenario.js"

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

test("layer-ops-under-dentry-mu: rmdir calls the upper layer between PrepareDeleteDentry and CommitDeleteDentry", () => {
  const r = run({ d: { type: "dir" } }, {}, [{ op: "rmdir", path: "/d" }], ["lock_order"])
  expect(r.violations.length).toBeGreaterThan(0)
  expect(r.violations.every((v) => v.check === "lock_order")).toBe(true)
  expect(knownOverlayFinding(r.violations)?.id).toBe("layer-ops-under-dentry-mu")
  expect(r.violations.some((v) => v.message.includes("asks for vfs.VirtualFilesystem.mountMu") && v.message.includes("while holding vfs.Dentry.mu"))).toBe(true)
})
