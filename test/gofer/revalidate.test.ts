// Revalidation under InteropModeShared (revalidate.go): a cached dentry whose
// file another user replaced is invalidated, and then destroyed once no one
// references it, giving back its reference on its parent.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { goferRunFindings, revalidateDirMuAfterMetadata, staleAfterSymlink } from "../../src/impl/gofer/findings.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"

const env = defaultEnv()
const run = (s: Scenario, seed: number) => runSubject(s, { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })

// t0 caches d (unreferenced, in the LRU) by a stat; x0 renames d away and
// makes a new d on the server; t0's second stat revalidates d, finds another
// qid at the name and invalidates the cached dentry. Before revalidateHelper
// queued every invalidated dentry for checkCachingLocked (as gVisor does),
// the stale dentry stayed in the LRU with its reference on /, and the
// quiescence check counted one reference too many on / in every schedule.
const renameRecreate = (cache: string): Scenario => ({
  format: "fsim.scenario/1",
  name: "reval-rename-recreate",
  mount: { kind: "gofer", options: `cache=${cache}` },
  remote: { d: { type: "dir", children: {} } },
  threads: [{ name: "t0", ops: [{ op: "stat", path: "d" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: "d" }] }],
  external: [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "rename", from: "d", to: "e" }, { op: "mkdir", path: "d" }] }],
})

describe("gofer revalidation", () => {
  for (const cache of ["remote_revalidating", "none"]) {
    it(`${cache}: a dentry replaced behind the client is invalidated and destroyed, and / keeps only its children's references`, () => {
      for (let seed = 1; seed <= 8; seed++) {
        const r = run(renameRecreate(cache), seed)
        expect(r.marks).toContain("gofer.revalidate.stale-dentry")
        // The second stat saw the new directory.
        const stats = r.ops.filter((o) => o.thread === "t0" && o.op.op === "stat").map((o) => (o.result as { ino: number }).ino)
        expect(stats[0]).not.toBe(stats[1])
        expect(r.violations).toEqual([])
        expect(r.verdict).toBe("pass")
      }
    })
  }

  // f7712ab50's case, shortened: l -> f is cached; x0 replaces f (unlink,
  // create, write 3 bytes); t0's stat of l follows l in stepLocked and takes
  // the cached f without revalidating it: the old file's size, 2.
  const replacedBehindSymlink = (cache: string, external = true): Scenario => ({
    format: "fsim.scenario/1",
    name: "stale-after-symlink",
    mount: { kind: "gofer", options: `cache=${cache}` },
    remote: { f: { type: "file", data: "ab" }, l: { type: "symlink", target: "f" } },
    threads: [{ name: "t0", ops: [{ op: "stat", path: "l" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: "l" }] }],
    external: external
      ? [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "unlink", path: "f" }, { op: "open", path: "f", flags: ["O_WRONLY", "O_CREAT"], mode: 0o644, fd: "g" }, { op: "write", fd: "g", data: "xyz" }, { op: "close", fd: "g" }] }]
      : [],
  })

  for (const cache of ["remote_revalidating", "none"]) {
    it(`stale-after-symlink (${cache}): a stat through a relative symlink sees a replaced file's old size, recognized as the finding`, () => {
      const r = run(replacedBehindSymlink(cache), 1)
      expect(r.verdict).toBe("fail")
      expect(r.ops.filter((o) => o.thread === "t0" && o.op.op === "stat").map((o) => (o.result as { size: number }).size)).toEqual([2, 2])
      expect(r.violations.map((v) => v.check)).toEqual(["lincheck"])
      expect(goferRunFindings(r)).toEqual({ known: ["stale-after-symlink"], unknown: [] })
    })
  }

  it("stale-after-symlink stays quiet without the replacement, on other checks, and when the stat's walk took no unrevalidated child", () => {
    const quiet = run(replacedBehindSymlink("remote_revalidating", false), 1)
    expect(quiet.marks).toContain("gofer.walk.unrevalidated-after-symlink")
    expect(quiet.verdict).toBe("pass")
    const r = run(replacedBehindSymlink("remote_revalidating"), 1)
    const v = r.violations[0]!
    expect(staleAfterSymlink(r, { ...v, check: "invariants" })).toBe(false)
    // The same violation, with the stats' walks made somewhere else: no mark inside them.
    const unmarked: RunReport = { ...r, ops: r.ops.map((o) => (o.thread === "t0" ? { ...o, thread: "t9" } : o)) }
    expect(staleAfterSymlink(unmarked, v)).toBe(false)
    // A stat that failed (an injected fault's EIO) through such a walk: not this finding.
    const failed: RunReport = { ...r, ops: r.ops.map((o) => (o.thread === "t0" && o.op.op === "stat" ? { ...o, result: { errno: "EIO" } } : o)) }
    expect(staleAfterSymlink(failed, v)).toBe(false)
    // Under fscache the client is the only user: not this finding.
    expect(staleAfterSymlink({ ...r, subject: { ...(r.subject as Scenario), mount: { kind: "gofer", options: "cache=fscache" } } }, v)).toBe(false)
  })

  // 7d0bf706d's case: d/x is cached; x0 replaces d; t0's stat of d/x
  // revalidates d and x together, finds d replaced, and invalidates d alone.
  const replacedDir = (final: string): Scenario => ({
    format: "fsim.scenario/1",
    name: "replaced-dir-cached-child",
    mount: { kind: "gofer", options: "cache=remote_revalidating" },
    remote: { d: { type: "dir", children: { x: { type: "file", data: "ab" } } } },
    threads: [{ name: "t0", ops: [{ op: "stat", path: "d/x" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: final }] }],
    external: [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "rename", from: "d", to: "e" }, { op: "mkdir", path: "d" }] }],
  })

  it("a replaced directory with a cached child: the dirMu-after-metadataMu pair and the dead directory's reference on /, each recognized", () => {
    const r = run(replacedDir("d/x"), 1)
    expect(r.violations.map((v) => v.check).sort()).toEqual(["invariants", "lock_order"])
    expect(r.violations.find((v) => v.check === "lock_order")?.message).toMatch(/dirMu#\d+ \(\/\) .*metadataMu#\d+ \(\/d\/x\)/)
    expect(r.violations.find((v) => v.check === "invariants")?.message).toBe(
      "/: holds 5 references at quiescence: its children, open FDs and the root's two account for 4, and 1 is held by invalidated /d, kept alive by cached descendants",
    )
    expect(goferRunFindings(r)).toEqual({ known: ["invalidated-dir-kept-alive", "revalidate-dirmu-after-metadata"], unknown: [] })
    // A stat of d alone revalidates nothing below d: no lock pair, the reference still held.
    const alone = run(replacedDir("d"), 1)
    expect(goferRunFindings(alone)).toEqual({ known: ["invalidated-dir-kept-alive"], unknown: [] })
  })

  it("revalidate-dirmu-after-metadata stays quiet on other lock pairs, other threads and a lock held outside the stale dentry", () => {
    const r = run(replacedDir("d/x"), 1)
    const v = r.violations.find((x) => x.check === "lock_order")!
    expect(revalidateDirMuAfterMetadata(r, v)).toBe(true)
    expect(revalidateDirMuAfterMetadata(r, { ...v, message: v.message.replace("t0", "t1") })).toBe(false)
    expect(revalidateDirMuAfterMetadata(r, { ...v, message: v.message.replace("(/d/x)", "(/e/x)") })).toBe(false)
    expect(revalidateDirMuAfterMetadata(r, { ...v, message: v.message.replace(/dirMu#(\d+) \(\/\)/, "dirMu#$1 (/d)") })).toBe(false)
    // An unexplained reference count keeps the plain message, which no finding matches.
    const plain = { check: "invariants" as const, message: "/: holds 5 references at quiescence, but its children, open FDs and the root's two account for 4", events: [] }
    expect(goferRunFindings({ ...r, violations: [plain] })).toEqual({ known: [], unknown: [`invariants: ${plain.message}`] })
  })
})
