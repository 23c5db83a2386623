import { describe, expect, it } from "vitest"
import { EventLog } from "../../src/sim/log.js"
import { RandomStrategy } from "../../src/sim/strategy.js"
import { Scheduler, YIELD, sleep, type Sim } from "../../src/sim/scheduler.js"
import { Mutex, RWMutex } from "../../src/sim/sync.js"
import { kinds, lockTrail, scripted } from "./helpers.js"

describe("scheduler", () => {
  it("keeps a Mutex mutually exclusive under many random schedules", () => {
    let violations = 0
    for (let seed = 0; seed < 200; seed++) {
      const sched = new Scheduler({ strategy: new RandomStrategy(seed), log: new EventLog() })
      const mu = new Mutex(sched, "test.mu")
      let inside = 0
      function* worker(): Sim<void> {
        for (let i = 0; i < 5; i++) {
          yield mu.Lock()
          inside++
          if (inside !== 1) violations++
          yield YIELD
          inside--
          yield mu.Unlock()
        }
      }
      for (let t = 0; t < 4; t++) sched.spawn(`t${t}`, worker())
      expect(sched.run().kind).toBe("done")
    }
    expect(violations).toBe(0)
  })

  it("gives an RWMutex's waiting writer priority over readers arriving after it (Go semantics)", () => {
    // t0 reads; t1 asks to write (announces, waits for t0); t2 asks to read
    // after t1 announced, so it must wait for t1's Unlock, which admits it.
    const { sched } = scripted(["t0", "t0", "t1", "t1", "t2", "t2", "t0", "t0", "t1", "t1", "t2", "t2"])
    const rw = new RWMutex(sched, "test.rw")
    sched.spawn("t0", (function* () {
      yield rw.RLock()
      yield YIELD
      yield rw.RUnlock()
    })())
    sched.spawn("t1", (function* () {
      yield rw.Lock()
      yield rw.Unlock()
    })())
    sched.spawn("t2", (function* () {
      yield rw.RLock()
      yield rw.RUnlock()
    })())
    const end = sched.run()
    expect(end.kind).toBe("done")
    expect(lockTrail(sched.log.events)).toEqual([
      "t0 acquire test.rw r",
      "t0 release test.rw r",
      "t1 acquire test.rw w",
      "t1 release test.rw w",
      "t2 acquire test.rw r",
      "t2 release test.rw r",
    ])
  })

  it("lets readers share an RWMutex and excludes writers from them", () => {
    let bad = 0
    for (let seed = 0; seed < 200; seed++) {
      const sched = new Scheduler({ strategy: new RandomStrategy(seed), log: new EventLog() })
      const rw = new RWMutex(sched, "test.rw")
      let readers = 0
      let writers = 0
      let maxReaders = 0
      function* reader(): Sim<void> {
        for (let i = 0; i < 3; i++) {
          yield rw.RLock()
          readers++
          maxReaders = Math.max(maxReaders, readers)
          if (writers !== 0) bad++
          yield YIELD
          readers--
          yield rw.RUnlock()
        }
      }
      function* writer(): Sim<void> {
        for (let i = 0; i < 3; i++) {
          yield rw.Lock()
          writers++
          if (writers !== 1 || readers !== 0) bad++
          yield YIELD
          writers--
          yield rw.Unlock()
        }
      }
      sched.spawn("r0", reader())
      sched.spawn("r1", reader())
      sched.spawn("r2", reader())
      sched.spawn("w0", writer())
      sched.spawn("w1", writer())
      expect(sched.run().kind).toBe("done")
      if (seed === 199) expect(maxReaders).toBeGreaterThanOrEqual(1)
    }
    expect(bad).toBe(0)
  })

  it("advances the simulated clock to the earliest sleeper only when no thread can run", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    const woke: string[] = []
    sched.spawn("slow", (function* () {
      yield sleep(100)
      woke.push(`slow@${sched.now}`)
    })())
    sched.spawn("fast", (function* () {
      yield sleep(50)
      woke.push(`fast@${sched.now}`)
    })())
    expect(sched.run().kind).toBe("done")
    expect(woke).toEqual(["fast@50", "slow@100"])
    expect(kinds(sched.log.events, "clock").map((e) => (e as { now: number }).now)).toEqual([50, 100])
  })

  it("reports a real deadlock with its wait-for cycle", () => {
    const { sched } = scripted(["t0", "t0", "t1", "t1", "t0", "t1"])
    const a = new Mutex(sched, "test.A")
    const b = new Mutex(sched, "test.B")
    sched.spawn("t0", (function* () {
      yield a.Lock()
      yield b.Lock()
      yield b.Unlock()
      yield a.Unlock()
    })())
    sched.spawn("t1", (function* () {
      yield b.Lock()
      yield a.Lock()
      yield a.Unlock()
      yield b.Unlock()
    })())
    const end = sched.run()
    expect(end.kind).toBe("deadlock")
    const dl = sched.found.filter((v) => v.check === "deadlock")
    expect(dl).toHaveLength(1)
    expect(dl[0]!.message).toMatch(/^deadlock: thread t0 waits \(since event \d+\) for test\.B#1, held by t1; thread t1 waits \(since event \d+\) for test\.A#0, held by t0$/)
    expect(dl[0]!.events).toHaveLength(2)
    expect(sched.verdictOf(end)).toBe("fail")
  })

  it("reports an exhausted step budget as such, never as a pass", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(), budgetSteps: 500 })
    sched.spawn("spin", (function* () {
      for (;;) yield YIELD
    })())
    const end = sched.run()
    expect(end.kind).toBe("budget_exhausted")
    expect(sched.verdictOf(end)).toBe("budget_exhausted")
    expect(sched.steps).toBe(500)
  })

  it("turns a thread's panic into an invariants violation that ends the run", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    sched.spawn("p", (function* () {
      yield YIELD
      throw new Error("dentry refcount below zero")
    })())
    sched.spawn("q", (function* () {
      for (let i = 0; i < 100; i++) yield YIELD
    })())
    const end = sched.run()
    expect(end.kind).toBe("stopped")
    expect(sched.found[0]).toMatchObject({ check: "invariants", message: "thread p panicked: dentry refcount below zero" })
  })

  it("treats unlocking an unlocked mutex as a panic (Go's fatal error)", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    const mu = new Mutex(sched, "test.mu")
    sched.spawn("t", (function* () {
      yield mu.Unlock()
    })())
    sched.run()
    expect(sched.found[0]?.message).toMatch(/unlock of unlocked mutex test\.mu#0/)
  })

  it("numbers events in order and records one sched event per step", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(9), log: new EventLog() })
    const mu = new Mutex(sched, "test.mu")
    for (let t = 0; t < 3; t++) {
      sched.spawn(`t${t}`, (function* () {
        yield mu.Lock()
        yield mu.Unlock()
      })())
    }
    sched.run()
    const ev = sched.log.events
    ev.forEach((e, i) => expect(e.seq).toBe(i))
    expect(kinds(ev, "sched")).toHaveLength(sched.steps)
  })
})
