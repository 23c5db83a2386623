import { describe, expect, it } from "vitest"
import { DeclaredOrder, LockGraph, type LockOrderSpec } from "../../src/sim/lockorder.js"
import { runSubject } from "../../src/sim/run.js"
import type { LockWorkload } from "../../src/sim/scenario.js"
import { YIELD, type Sim } from "../../src/sim/scheduler.js"
import { Mutex, RWMutex } from "../../src/sim/sync.js"
import { scripted } from "./helpers.js"

// The gofer seed's lock order, as the gofer port will declare it.
const GOFER: LockOrderSpec = {
  owner: "gofer",
  prefix: "gofer.",
  tree: `
regularFileFD/directoryFD.mu
  filesystem.renameMu
    dentry.dirMu
      filesystem.syncMu
      dentry.metadataMu
        *** "memmap.Mappable locks" below this point
        dentry.mapsMu
          *** "memmap.Mappable locks taken by Translate" below this point
          dentry.handleMu
            dentry.dataMu
`,
  sameClass: [{ class: "gofer.dentry.dirMu", order: "ancestor-first", unlessHeld: { class: "gofer.filesystem.renameMu", mode: "w" } }],
}

function lockOrderMessages(found: readonly { check: string; message: string }[]): string[] {
  return found.filter((v) => v.check === "lock_order").map((v) => v.message)
}

describe("declared order", () => {
  it("reads the seeds' indented trees, alternatives and markers included", () => {
    const d = new DeclaredOrder([GOFER])
    expect(d.before("gofer.filesystem.renameMu", "gofer.dentry.dirMu")).toBe(true)
    expect(d.before("gofer.regularFileFD.mu", "gofer.dentry.dataMu")).toBe(true)
    expect(d.before("gofer.directoryFD.mu", "gofer.filesystem.renameMu")).toBe(true)
    expect(d.before("gofer.dentry.mapsMu", "gofer.dentry.handleMu")).toBe(true)
    expect(d.before("gofer.dentry.dirMu", "gofer.filesystem.renameMu")).toBe(false)
    expect(d.before("gofer.filesystem.syncMu", "gofer.dentry.metadataMu")).toBe(false)
  })

  it("rejects a declaration that orders two classes both ways", () => {
    expect(
      () => new DeclaredOrder([{ owner: "x", prefix: "", tree: "A\n  B\n" }, { owner: "x", prefix: "", tree: "B\n  A\n" }]),
    ).toThrow(/each declared before the other/)
  })
})

describe("lock-order checker", () => {
  it("reports an ABBA inversion that never deadlocks (two threads, one after the other)", () => {
    // t0 runs to completion, then t1: no deadlock in this run, but the two
    // orders can deadlock in another interleaving.
    const { sched } = scripted(["t0", "t0", "t0", "t0", "t0", "t1", "t1", "t1", "t1", "t1"])
    const a = new Mutex(sched, "test.A")
    const b = new Mutex(sched, "test.B")
    sched.spawn("t0", (function* (): Sim<void> {
      yield a.Lock()
      yield b.Lock()
      yield b.Unlock()
      yield a.Unlock()
    })())
    sched.spawn("t1", (function* (): Sim<void> {
      yield b.Lock()
      yield a.Lock()
      yield a.Unlock()
      yield b.Unlock()
    })())
    const end = sched.run()
    expect(end.kind).toBe("done")
    const msgs = lockOrderMessages(sched.found)
    expect(msgs).toHaveLength(1)
    expect(msgs[0]).toMatch(/^lock order inversion \(these orders can deadlock\): /)
    expect(msgs[0]).toMatch(/test\.B then test\.A: thread t1 held test\.B#1 since event \d+ and asked for test\.A#0 at event \d+/)
    expect(msgs[0]).toMatch(/test\.A then test\.B: thread t0 held test\.A#0 since event \d+ and asked for test\.B#1 at event \d+/)
    expect(sched.found.find((v) => v.check === "lock_order")!.events).toHaveLength(4)
    expect(sched.found.some((v) => v.check === "deadlock")).toBe(false)
  })

  it("reports an inversion whose halves occur in different runs when the graph is kept", () => {
    const graph = new LockGraph()
    const runOnce = (first: "A" | "B", run: string): string[] => {
      const { sched } = scripted([], { graph, run })
      const locks = { A: new Mutex(sched, "test.A"), B: new Mutex(sched, "test.B") }
      const [x, y] = first === "A" ? [locks.A, locks.B] : [locks.B, locks.A]
      sched.spawn("t0", (function* (): Sim<void> {
        yield x.Lock()
        yield y.Lock()
        yield y.Unlock()
        yield x.Unlock()
      })())
      sched.run()
      return lockOrderMessages(sched.found)
    }
    expect(runOnce("A", "seed 1")).toEqual([])
    const second = runOnce("B", "seed 2")
    expect(second).toHaveLength(1)
    expect(second[0]).toMatch(/test\.A then test\.B: thread t0 .* \(in seed 1\)/)
  })

  it("reports a recursive acquisition of a held Mutex (and the self-deadlock it causes)", () => {
    const { sched } = scripted([])
    const a = new Mutex(sched, "test.A")
    sched.spawn("t0", (function* (): Sim<void> {
      yield a.Lock()
      yield a.Lock()
    })())
    const end = sched.run()
    expect(end.kind).toBe("deadlock")
    expect(lockOrderMessages(sched.found)[0]).toMatch(
      /^recursive locking: thread t0 asks for test\.A#0 for writing at event \d+ while holding it for writing since event \d+/,
    )
    expect(sched.found.find((v) => v.check === "deadlock")!.message).toMatch(/thread t0 waits .* for test\.A#0, held by t0/)
  })

  it("reports read-then-write and read-then-read recursion on an RWMutex", () => {
    const { sched } = scripted([])
    const rw = new RWMutex(sched, "test.rw")
    const rw2 = new RWMutex(sched, "test.rw2")
    sched.spawn("t0", (function* (): Sim<void> {
      yield rw2.RLock()
      yield rw2.RLock()
      yield rw2.RUnlock()
      yield rw2.RUnlock()
      yield rw.RLock()
      yield rw.Lock()
    })())
    sched.run()
    const msgs = lockOrderMessages(sched.found)
    expect(msgs[0]).toMatch(/recursive locking: thread t0 asks for test\.rw2#1 for reading .* while holding it for reading .*a writer arriving in between deadlocks both/)
    expect(msgs[1]).toMatch(/recursive locking: thread t0 asks for test\.rw#0 for writing .* while holding it for reading/)
  })

  it("reports dirMu nesting descendant-before-ancestor, and allows it with renameMu held for writing", () => {
    const run = (withRename: boolean): string[] => {
      const { sched } = scripted([], { specs: [GOFER] })
      const renameMu = new RWMutex(sched, "gofer.filesystem.renameMu")
      const parent = new Mutex(sched, "gofer.dentry.dirMu", () => "/a")
      const child = new Mutex(sched, "gofer.dentry.dirMu", () => "/a/b")
      sched.spawn("t0", (function* (): Sim<void> {
        yield withRename ? renameMu.Lock() : renameMu.RLock()
        yield child.Lock()
        yield parent.Lock()
        yield parent.Unlock()
        yield child.Unlock()
        yield withRename ? renameMu.Unlock() : renameMu.RUnlock()
      })())
      sched.run()
      return lockOrderMessages(sched.found)
    }
    const bad = run(false)
    expect(bad).toHaveLength(1)
    expect(bad[0]).toMatch(
      /^gofer\.dentry\.dirMu nesting: thread t0 asks for gofer\.dentry\.dirMu#1 \(\/a\) at event \d+ while holding gofer\.dentry\.dirMu#2 \(\/a\/b\) since event \d+: a descendant before its ancestor, without gofer\.filesystem\.renameMu held for writing$/,
    )
    expect(run(true)).toEqual([])
  })

  it("allows dirMu ancestor-before-descendant and reports a lock taken against the declared order", () => {
    const { sched } = scripted([], { specs: [GOFER] })
    const renameMu = new RWMutex(sched, "gofer.filesystem.renameMu")
    const parent = new Mutex(sched, "gofer.dentry.dirMu", () => "/a")
    const child = new Mutex(sched, "gofer.dentry.dirMu", () => "/a/b")
    sched.spawn("t0", (function* (): Sim<void> {
      yield renameMu.RLock()
      yield parent.Lock()
      yield child.Lock()
      yield child.Unlock()
      yield parent.Unlock()
      yield renameMu.RUnlock()
    })())
    sched.spawn("t1", (function* (): Sim<void> {
      yield parent.Lock()
      yield renameMu.RLock()
      yield renameMu.RUnlock()
      yield parent.Unlock()
    })())
    sched.run()
    const msgs = lockOrderMessages(sched.found)
    expect(msgs.some((m) => m.includes("nesting"))).toBe(false)
    expect(msgs.find((m) => m.startsWith("lock order: "))).toMatch(
      /^lock order: thread t1 asks for gofer\.filesystem\.renameMu#0 at event \d+ while holding gofer\.dentry\.dirMu#1 \(\/a\) since event \d+; the declared order \(gofer\) puts gofer\.filesystem\.renameMu before gofer\.dentry\.dirMu$/,
    )
  })

  it("stays quiet on correct workloads: ordered locking under 300 seeds", () => {
    const w: LockWorkload = { format: "fsim.workload/1", name: "locks", threads: 6, mutexes: 4, rwmutexes: 2, ops: 12, nesting: 3, ordered: true, sleeps: true }
    let violations = 0
    for (let seed = 0; seed < 300; seed++) {
      const r = runSubject(w, { seed, strategy: { kind: "random" } })
      expect(r.end.kind).toBe("done")
      violations += r.violations.length
    }
    expect(violations).toBe(0)
  })

  it("finds inversions in unordered locking workloads", () => {
    const w: LockWorkload = { format: "fsim.workload/1", name: "locks", threads: 4, mutexes: 3, rwmutexes: 0, ops: 10, nesting: 2, ordered: false, sleeps: false }
    const r = runSubject(w, { seed: 5, strategy: { kind: "random" } })
    expect(r.violations.some((v) => v.check === "lock_order" && v.message.startsWith("lock order inversion"))).toBe(true)
  })

  it("does not count a reader admitted by a writer's Unlock as a recursive acquisition", () => {
    const { sched } = scripted(["t0", "t0", "t1", "t1"])
    const rw = new RWMutex(sched, "test.rw")
    sched.spawn("t0", (function* (): Sim<void> {
      yield rw.Lock()
      yield YIELD
      yield rw.Unlock()
    })())
    sched.spawn("t1", (function* (): Sim<void> {
      yield rw.RLock()
      yield rw.RUnlock()
    })())
    expect(sched.run().kind).toBe("done")
    expect(sched.found).toEqual([])
  })
})
