// The finding layer-ops-under-dentry-mu (src/impl/overlay/FINDINGS.md) is
// a real deadlock in gVisor, not a quirk of the lock-order checker: an
// unlink through the overlay holds the overlay dentry's Dentry.mu (from
// PrepareDeleteDentry to CommitDeleteDentry) while the upper layer's own
// unlink asks for VirtualFilesystem.mountMu; a mount on that dentry holds
// mountMu while it asks for the dentry's Dentry.mu (vfs MountAt, as
// gVisor's lockMountpoint). The campaigns run no mounts, so there the
// checker can only report the order; here a mount races the unlink, and
// some schedules of the faithful port hang with exactly that wait-for cycle.

import { expect, test } from "vitest"
import type { Cred } from "../../src/model/types.js"
import { EventLog } from "../../src/sim/log.js"
import { Scheduler, type RunEnd } from "../../src/sim/scheduler.js"
import { decodeScenario } from "../../src/sim/scenario.js"
import { RandomStrategy } from "../../src/sim/strategy.js"
import type { Ctx } from "../../src/impl/vfs/context.js"
import { Parse } from "../../src/impl/vfs/fspath.js"
import { overlayMount } from "../../src/impl/overlay/mount.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

interface Race {
  readonly end: RunEnd
  readonly deadlocks: readonly string[]
  readonly unlink: unknown
  readonly mounted: boolean
}

/** An unlink of /x (an upper file over a lower one) and a mount on /x, under one random schedule. */
function race(seed: number): Race {
  const sched = new Scheduler({ strategy: new RandomStrategy(seed), log: new EventLog(), budgetSteps: 100_000 })
  const scenario = decodeScenario({
    format: "fsim.scenario/1",
    name: "unlink-vs-mount",
    mount: { kind: "overlay", upper: { kind: "tmpfs", tree: { x: { type: "file", data: "u" } } }, lower: [{ kind: "tmpfs", tree: { x: { type: "file", data: "l" } } }] },
    threads: [{ name: "t0", cred: ROOT, ops: [{ op: "unlink", path: "/x" }] }],
  })
  const m = overlayMount({ sched, seed, scenario })
  let unlink: unknown = null
  let mounted = false
  sched.spawn("fsim.mount", (function* () {
    expect(yield* m.setup!()).toBeNull()
    const { fs, root } = m.state()
    sched.spawn("t0", (function* () {
      unlink = yield* m.exec({ name: "t0", cred: ROOT, external: false }, { op: "unlink", path: "/x" })
    })())
    sched.spawn("mounter", (function* () {
      const ctx: Ctx = { sched, creds: ROOT, thread: "mounter" }
      // mount(2): resolve the mount point, then MountAt (mountMu, then the point's Dentry.mu).
      const [vd, err] = yield* fs!.vfs.GetDentryAt(ctx, ROOT, { Root: root!, Start: root!, Path: Parse("/x"), FollowFinalSymlink: true }, {})
      if (err !== null || vd === null) return
      yield* fs!.vfs.MountAt(vd, fs!.vfsfs, fs!.root!.vfsd, { readOnly: true })
      mounted = true
    })())
  })())
  const end = sched.run()
  return { end, deadlocks: sched.found.filter((v) => v.check === "deadlock").map((v) => v.message), unlink, mounted }
}

test("layer-ops-under-dentry-mu: a mount racing an unlink through the overlay deadlocks the faithful port", () => {
  const runs = Array.from({ length: 200 }, (_, i) => race(i + 1))
  const hung = runs.filter((r) => r.end.kind === "deadlock")
  // Found within the 200 schedules, and each hang is the finding's cycle:
  // the unlinker waits for mountMu held by the mounter, which waits for the
  // overlay dentry's Dentry.mu held by the unlinker.
  expect(hung.length).toBeGreaterThan(0)
  console.log(`unlink vs mount: ${hung.length} of ${runs.length} schedules deadlock`)
  for (const r of hung) {
    expect(r.deadlocks).toHaveLength(1)
    expect(r.deadlocks[0]).toMatch(/thread t0 waits \(since event \d+\) for vfs\.VirtualFilesystem\.mountMu#\d+, held by mounter/)
    expect(r.deadlocks[0]).toMatch(/thread mounter waits \(since event \d+\) for vfs\.Dentry\.mu\[overlay\]#\d+ \(\/x\), held by t0/)
  }
  // The other schedules end: the mount first (the unlink is then EBUSY), or the unlink first.
  const ended = runs.filter((r) => r.end.kind === "done")
  expect(ended.length + hung.length).toBe(runs.length)
  expect(ended.some((r) => r.mounted && (r.unlink as { errno?: string }).errno === "EBUSY")).toBe(true)
  expect(ended.some((r) => !r.mounted && JSON.stringify(r.unlink) === "{}")).toBe(true)
})
