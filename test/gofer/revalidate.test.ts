// Revalidation under InteropModeShared (revalidate.go): a cached dentry whose
// file another user replaced is invalidated, and then destroyed once no one
// references it, giving back its reference on its parent.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { runSubject } from "../../src/sim/run.js"
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
})
