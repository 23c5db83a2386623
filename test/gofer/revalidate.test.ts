// Revalidation under InteropModeShared (revalidate.go): a cached dentry whose
// file another user replaced is invalidated, and then destroyed once no one
// references it, giving back its reference on its parent.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { goferRunFindings, revalidateDirMuAfterMetadata } from "../../src/impl/gofer/findings.js"
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
  // create, write 3 bytes); t0 stats l again. gVisor before f7712ab50 went
  // on in the symlink's directory without revalidating f (the old file's
  // size, 2): the port has the fix, and the code before it is the zoo
  // mutant symlink-chain-unrevalidated.
  const replacedBehindSymlink = (cache: string, mutant: boolean): Scenario => ({
    format: "fsim.scenario/1",
    name: "replaced-behind-symlink",
    mount: { kind: "gofer", options: `cache=${cache}${mutant ? ",mutant=symlink-chain-unrevalidated" : ""}` },
    remote: { f: { type: "file", data: "ab" }, l: { type: "symlink", target: "f" } },
    threads: [{ name: "t0", ops: [{ op: "stat", path: "l" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: "l" }] }],
    external: [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "unlink", path: "f" }, { op: "open", path: "f", flags: ["O_WRONLY", "O_CREAT"], mode: 0o644, fd: "g" }, { op: "write", fd: "g", data: "xyz" }, { op: "close", fd: "g" }] }],
  })
  const sizes = (r: RunReport): number[] => r.ops.filter((o) => o.thread === "t0" && o.op.op === "stat").map((o) => (o.result as { size: number }).size)

  for (const cache of ["remote_revalidating", "none"]) {
    it(`(${cache}) a stat through a relative symlink revalidates the file it names: the replaced file's new size; the code before f7712ab50 (the mutant) sees the old one`, () => {
      const fixed = run(replacedBehindSymlink(cache, false), 1)
      expect(fixed.verdict).toBe("pass")
      expect(sizes(fixed)).toEqual([2, 3])
      const before = run(replacedBehindSymlink(cache, true), 1)
      expect(before.verdict).toBe("fail")
      expect(sizes(before)).toEqual([2, 2])
      expect(goferRunFindings(before).unknown.length).toBeGreaterThan(0)
    })
  }

  // 7d0bf706d's case: d/x is cached; x0 replaces d; t0's stat of d/x
  // revalidates d and x together and finds d replaced. The port has the
  // fix (d and its cached descendants are invalidated together); the code
  // before it, which invalidated d alone, is the zoo mutant
  // invalidate-keeps-descendants.
  const replacedDir = (final: string, mutant: boolean): Scenario => ({
    format: "fsim.scenario/1",
    name: "replaced-dir-cached-child",
    mount: { kind: "gofer", options: `cache=remote_revalidating${mutant ? ",mutant=invalidate-keeps-descendants" : ""}` },
    remote: { d: { type: "dir", children: { x: { type: "file", data: "ab" } } } },
    threads: [{ name: "t0", ops: [{ op: "stat", path: "d/x" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: final }] }],
    external: [{ name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "rename", from: "d", to: "e" }, { op: "mkdir", path: "d" }] }],
  })

  it("a replaced directory with a cached child: the dirMu-after-metadataMu pair, recognized; its cached child is invalidated with it (7d0bf706d), so / keeps only its children's references", () => {
    const r = run(replacedDir("d/x", false), 1)
    expect(r.violations.map((v) => v.check)).toEqual(["lock_order"])
    expect(r.violations[0]?.message).toMatch(/dirMu#\d+ \(\/\) .*metadataMu#\d+ \(\/d\/x\)/)
    expect(goferRunFindings(r)).toEqual({ known: ["revalidate-dirmu-after-metadata"], unknown: [] })
    // A stat of d alone revalidates nothing below d: no lock pair, and x is invalidated with d.
    expect(run(replacedDir("d", false), 1).verdict).toBe("pass")
  })

  it("the code before 7d0bf706d (the mutant invalidate-keeps-descendants): the dead directory, kept alive by its cached child, holds a reference on / that no finding explains", () => {
    const expected = "/: holds 5 references at quiescence: its children, open FDs and the root's two account for 4, and 1 is held by invalidated /d, kept alive by cached descendants"
    const r = run(replacedDir("d/x", true), 1)
    expect(r.violations.map((v) => v.check).sort()).toEqual(["invariants", "lock_order"])
    expect(r.violations.find((v) => v.check === "invariants")?.message).toBe(expected)
    expect(goferRunFindings(r)).toEqual({ known: ["revalidate-dirmu-after-metadata"], unknown: [`invariants: ${expected}`] })
    const alone = run(replacedDir("d", true), 1)
    expect(goferRunFindings(alone)).toEqual({ known: [], unknown: [`invariants: ${expected}`] })
  })

  it("revalidate-dirmu-after-metadata stays quiet on other lock pairs, other threads and a lock held outside the stale dentry", () => {
    const r = run(replacedDir("d/x", false), 1)
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
