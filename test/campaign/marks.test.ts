// Coverage marks: a port logs a mark where it takes a rare path; a scenario
// written to take that path reaches it and one that does not, does not (so
// the machinery can fail); campaigns tally marks commutatively; a mark event
// survives a saved trace and its replay in another process.

import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { allMarks, defaultEnv, marksOf } from "../../src/cli/mounts.js"
import { GOFER_MARKS } from "../../src/impl/gofer/marks.js"
import { OVERLAY_MARKS } from "../../src/impl/overlay/marks.js"
import { TMPFS_MARKS } from "../../src/impl/tmpfs/marks.js"
import { Campaign, emptyTally, mergeTally, sortedTally, type CampaignOptions } from "../../src/sim/campaign.js"
import { EventLog } from "../../src/sim/log.js"
import { logMark, mergeMarks } from "../../src/sim/marks.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"
import { Scheduler } from "../../src/sim/scheduler.js"
import { RandomStrategy } from "../../src/sim/strategy.js"
import { fsim, ROOT, tempDir } from "../cli/helpers.js"

const env = defaultEnv()
const run = (s: Scenario, seed = 1) => runSubject(s, { seed, strategy: { kind: "random" }, mounts: env.mounts, lockOrders: env.lockOrders })

function gofer(name: string, options: string, remote: Scenario["remote"], threads: Scenario["threads"], external?: Scenario["external"]): Scenario {
  return { format: "fsim.scenario/1", name, mount: { kind: "gofer", options }, remote, threads, ...(external !== undefined ? { external } : {}) }
}

/** Pairs of scenarios: the first takes the marked path, the second (as close as can be) does not. */
const CASES: { mark: string; hit: Scenario; miss: Scenario }[] = [
  {
    // x0 deletes b on the server between t0's two stats: revalidation finds the dentry stale.
    mark: "gofer.revalidate.stale-dentry",
    hit: gofer("stale", "cache=remote_revalidating", { b: { type: "file", data: "x" } }, [{ name: "t0", ops: [{ op: "stat", path: "b" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: "b" }] }], [
      { name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "unlink", path: "b" }] },
    ]),
    miss: gofer("fresh", "cache=remote_revalidating", { b: { type: "file", data: "x" } }, [{ name: "t0", ops: [{ op: "stat", path: "b" }, { op: "sleep", ns: 20_000_000 }, { op: "stat", path: "b" }] }], [
      { name: "x0", ops: [{ op: "sleep", ns: 10_000_000 }, { op: "stat", path: "b" }] },
    ]),
  },
  {
    // Under fscache a failed lookup leaves a negative dentry, which the second stat hits.
    mark: "gofer.dcache.negative-hit",
    hit: gofer("negative", "cache=fscache", {}, [{ name: "t0", ops: [{ op: "stat", path: "a" }, { op: "stat", path: "a" }] }]),
    // remote_revalidating (InteropModeShared) caches no negative dentries.
    miss: gofer("no-negative", "cache=remote_revalidating", {}, [{ name: "t0", ops: [{ op: "stat", path: "a" }, { op: "stat", path: "a" }] }]),
  },
  {
    mark: "gofer.dcache.negative-replaced",
    hit: gofer("replace-negative", "cache=fscache", {}, [{ name: "t0", ops: [{ op: "stat", path: "a" }, { op: "mkdir", path: "a" }] }]),
    miss: gofer("create-only", "cache=fscache", {}, [{ name: "t0", ops: [{ op: "mkdir", path: "a" }] }]),
  },
  {
    // l1 -> l2 -> b: resolving l1 follows one symlink to another.
    mark: "gofer.walk.symlink-chain",
    hit: gofer("chain", "cache=fscache", { b: { type: "file" }, l2: { type: "symlink", target: "b" }, l1: { type: "symlink", target: "l2" } }, [{ name: "t0", ops: [{ op: "stat", path: "l1" }] }]),
    miss: gofer("one-link", "cache=fscache", { b: { type: "file" }, l2: { type: "symlink", target: "b" }, l1: { type: "symlink", target: "l2" } }, [{ name: "t0", ops: [{ op: "stat", path: "l2" }] }]),
  },
  {
    mark: "gofer.io.direct-read",
    hit: gofer("direct", "cache=fscache", { b: { type: "file", data: "abc" } }, [{ name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDONLY", "O_DIRECT"], fd: "f" }, { op: "read", fd: "f", count: 3 }] }]),
    miss: gofer("buffered", "cache=fscache", { b: { type: "file", data: "abc" } }, [{ name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDONLY"], fd: "f" }, { op: "read", fd: "f", count: 3 }] }]),
  },
  {
    // The page is cached by the read, dirtied by the write, then cut off by the truncate.
    mark: "gofer.truncate.dirty-pages",
    hit: gofer("trunc-dirty", "cache=fscache", { b: { type: "file", data: "abcd" } }, [
      { name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDWR"], fd: "f" }, { op: "read", fd: "f", count: 4 }, { op: "pwrite", fd: "f", offset: 2, data: "zz" }, { op: "ftruncate", fd: "f", length: 1 }] },
    ]),
    // Written back by fsync first: nothing dirty is left to drop.
    miss: gofer("trunc-clean", "cache=fscache", { b: { type: "file", data: "abcd" } }, [
      { name: "t0", ops: [{ op: "open", path: "b", flags: ["O_RDWR"], fd: "f" }, { op: "read", fd: "f", count: 4 }, { op: "pwrite", fd: "f", offset: 2, data: "zz" }, { op: "fsync", fd: "f" }, { op: "ftruncate", fd: "f", length: 1 }] },
    ]),
  },
  {
    // Two files' pages do not fit a budget of one page: the evictor writes b's dirty page back.
    mark: "gofer.pagecache.evict-dirty",
    hit: gofer("pressure", "cache=fscache,page_budget=1", { b: { type: "file", data: "ab" }, c: { type: "file", data: "cd" } }, [
      {
        name: "t0",
        ops: [
          { op: "open", path: "b", flags: ["O_RDWR"], fd: "f" },
          { op: "read", fd: "f", count: 2 },
          { op: "pwrite", fd: "f", offset: 0, data: "z" },
          { op: "open", path: "c", flags: ["O_RDONLY"], fd: "g" },
          { op: "read", fd: "g", count: 2 },
          { op: "sleep", ns: 1_000_000 },
        ],
      },
    ]),
    miss: gofer("no-pressure", "cache=fscache", { b: { type: "file", data: "ab" }, c: { type: "file", data: "cd" } }, [
      {
        name: "t0",
        ops: [
          { op: "open", path: "b", flags: ["O_RDWR"], fd: "f" },
          { op: "read", fd: "f", count: 2 },
          { op: "pwrite", fd: "f", offset: 0, data: "z" },
          { op: "open", path: "c", flags: ["O_RDONLY"], fd: "g" },
          { op: "read", fd: "g", count: 2 },
          { op: "sleep", ns: 1_000_000 },
        ],
      },
    ]),
  },
  {
    // A server that refuses mknod (EPERM, as a swarm's refuseMknod draws it): a synthetic FIFO stands in.
    mark: "gofer.mknod.synthetic-fallback",
    hit: { ...gofer("refused", "cache=remote_revalidating", {}, [{ name: "t0", ops: [{ op: "mknod", path: "a", type: "fifo" }] }]), faults: [{ kind: "rlerror", message: "Tumknod", nth: 1, errno: "EPERM" }] },
    miss: gofer("made", "cache=remote_revalidating", {}, [{ name: "t0", ops: [{ op: "mknod", path: "a", type: "fifo" }] }]),
  },
  {
    // b's dentry is cached by the stat: the rename replaces a cached directory.
    mark: "gofer.rename.over-cached-dir",
    hit: gofer("over-dir", "cache=fscache", { a: { type: "dir", children: {} }, b: { type: "dir", children: {} } }, [{ name: "t0", ops: [{ op: "stat", path: "b" }, { op: "rename", from: "a", to: "b" }] }]),
    miss: gofer("to-free-name", "cache=fscache", { a: { type: "dir", children: {} } }, [{ name: "t0", ops: [{ op: "stat", path: "b" }, { op: "rename", from: "a", to: "b" }] }]),
  },
  {
    // Unlinking a file of the lower layer leaves a whiteout on the upper one.
    mark: "overlay.whiteout.created",
    hit: { format: "fsim.scenario/1", name: "whiteout", mount: { kind: "overlay", upper: { kind: "tmpfs" }, lower: [{ kind: "tmpfs", tree: { b: { type: "file" } } }] }, threads: [{ name: "t0", ops: [{ op: "unlink", path: "b" }] }] },
    miss: { format: "fsim.scenario/1", name: "no-whiteout", mount: { kind: "overlay", upper: { kind: "tmpfs" }, lower: [{ kind: "tmpfs", tree: { b: { type: "file" } } }] }, threads: [{ name: "t0", ops: [{ op: "stat", path: "b" }] }] },
  },
  {
    // x is a file on the upper layer and a directory on the lower one: the
    // merged listing names it once, as the upper's file. (The final read-back
    // lists every directory, so the miss has x of one type on both layers.)
    mark: "overlay.readdir.type-shadowed",
    hit: {
      format: "fsim.scenario/1",
      name: "type-shadowed",
      mount: { kind: "overlay", upper: { kind: "tmpfs", tree: { d: { type: "dir", children: { x: { type: "file" } } } } }, lower: [{ kind: "tmpfs", tree: { d: { type: "dir", children: { x: { type: "dir", children: {} }, y: { type: "file" } } } } }] },
      threads: [{ name: "t0", ops: [{ op: "open", path: "d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "f" }, { op: "getdents", fd: "f" }] }],
    },
    miss: {
      format: "fsim.scenario/1",
      name: "same-type",
      mount: { kind: "overlay", upper: { kind: "tmpfs", tree: { d: { type: "dir", children: { x: { type: "file" } } } } }, lower: [{ kind: "tmpfs", tree: { d: { type: "dir", children: { x: { type: "file" }, y: { type: "file" } } } } }] },
      threads: [{ name: "t0", ops: [{ op: "open", path: "d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "f" }, { op: "getdents", fd: "f" }] }],
    },
  },
  {
    mark: "tmpfs.walk.symlink-chain",
    hit: { format: "fsim.scenario/1", name: "tmpfs-chain", mount: { kind: "tmpfs" }, remote: { b: { type: "file" }, l2: { type: "symlink", target: "b" }, l1: { type: "symlink", target: "l2" } }, threads: [{ name: "t0", ops: [{ op: "stat", path: "l1/" }] }] },
    miss: { format: "fsim.scenario/1", name: "tmpfs-one", mount: { kind: "tmpfs" }, remote: { b: { type: "file" }, l2: { type: "symlink", target: "b" }, l1: { type: "symlink", target: "l2" } }, threads: [{ name: "t0", ops: [{ op: "stat", path: "l2/" }] }] },
  },
]

describe("coverage marks reached by hand-written scenarios", () => {
  for (const c of CASES) {
    it(`${c.mark}: reached where the path is taken, not where it is not`, () => {
      const hit = run(c.hit)
      expect(hit.marks, `${c.hit.name}: ${hit.verdict} ${hit.violations.map((v) => v.message).join("; ")}`).toContain(c.mark)
      // The report's marks are the run's mark events, each once.
      const events = hit.events.flatMap((e) => (e.kind === "mark" ? [e.mark] : []))
      expect([...new Set(events)].sort()).toEqual(hit.marks)
      expect(run(c.miss).marks).not.toContain(c.mark)
    })
  }
})

describe("mark registries", () => {
  /** Source files of a port's folder. */
  const sources = (dir: string): string[] =>
    readdirSync(join(ROOT, "src", "impl", dir))
      .filter((f) => f.endsWith(".ts") && f !== "marks.ts")
      .map((f) => readFileSync(join(ROOT, "src", "impl", dir, f), "utf8"))

  for (const [dir, registry] of [
    ["gofer", GOFER_MARKS],
    ["overlay", OVERLAY_MARKS],
    ["tmpfs", TMPFS_MARKS],
  ] as const) {
    it(`${dir}: every registered mark is logged somewhere in the port, and names are dotted under "${dir}."`, () => {
      const text = sources(dir).join("\n")
      for (const name of Object.keys(registry)) {
        expect(name).toMatch(new RegExp(`^${dir}\\.[a-z]+(\\.[a-z-]+)+$`))
        expect(text.includes(`"${name}"`), `${name} is never logged`).toBe(true)
      }
      // And every name a port logs is registered (the helper's type says so too).
      const calls = [...text.matchAll(/\bmark\(([^)]*)\)/g)].map((m) => m[1]!).join("\n")
      const logged = new Set([...calls.matchAll(new RegExp(`"(${dir}\\.[a-z]+\\.[a-z.-]+)"`, "g"))].map((m) => m[1]!))
      expect(logged.size).toBeGreaterThan(0)
      for (const name of logged) expect(Object.keys(registry), `${name} is logged but not registered`).toContain(name)
    })
  }

  it("the ports register at least 40 marks, each name once", () => {
    expect(Object.keys(allMarks()).length).toBeGreaterThanOrEqual(40)
    expect(() => mergeMarks(GOFER_MARKS, { "gofer.revalidate.stale-dentry": "again" })).toThrow(/registered twice/)
  })

  it("a mount's universe of marks: its filesystem's, an overlay's layers', none for the model", () => {
    expect(Object.keys(marksOf({ kind: "model" }))).toEqual([])
    expect(marksOf({ kind: "gofer" })).toBe(GOFER_MARKS)
    const ov = Object.keys(marksOf({ kind: "overlay", lower: [{ kind: "tmpfs" }] }))
    expect(ov).toContain("overlay.whiteout.created")
    expect(ov).not.toContain("gofer.revalidate.stale-dentry")
    expect(Object.keys(marksOf({ kind: "overlay", lower: [{ kind: "gofer", tree: "remote" }] }))).toContain("gofer.revalidate.stale-dentry")
  })
})

describe("logging a mark", () => {
  it("records an event and the mark's name; a disabled log records nothing and never computes the key", () => {
    const on = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    logMark(on, "gofer.io.direct-read", () => "/b")
    logMark(on, "gofer.io.direct-read")
    expect(on.log.events).toEqual([
      { seq: 0, kind: "mark", thread: "fsim.mount", mark: "gofer.io.direct-read", key: "/b" },
      { seq: 1, kind: "mark", thread: "fsim.mount", mark: "gofer.io.direct-read" },
    ])
    expect(on.log.marks).toEqual(["gofer.io.direct-read"])
    const off = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(false) })
    let computed = false
    logMark(off, "gofer.io.direct-read", () => {
      computed = true
      return "/b"
    })
    expect(off.log.length).toBe(0)
    expect(off.log.marks).toEqual([])
    expect(computed).toBe(false)
  })

  it("is not a scheduling point: a run's decisions are the same with marks as with their events removed", () => {
    const r = run(CASES[0]!.hit, 5)
    const marks = r.events.filter((e) => e.kind === "mark").length
    expect(marks).toBeGreaterThan(0)
    // Every sched event's step count per thread runs 0, 1, 2... with no gap a mark could have made.
    const steps = new Map<string, number>()
    for (const e of r.events) {
      if (e.kind !== "sched") continue
      expect(e.step).toBe(steps.get(e.thread) ?? 0)
      steps.set(e.thread, e.step + 1)
    }
    expect(r.steps).toBe(r.events.filter((e) => e.kind === "sched").length)
  })
})

describe("campaign tally of marks", () => {
  const o: CampaignOptions = {
    shape: { mount: { kind: "gofer", options: "cache=fscache" }, threads: 3, ops: 5, links: false, privateFds: true, slashOnlySymlinks: false, setIdBits: false },
    seed: 1,
    strategy: { kind: "one", spec: { kind: "random" } },
    mounts: env.mounts,
    lockOrders: env.lockOrders,
  }
  const c = new Campaign(o)

  it("counts runs and the first seed per mark, and merges commutatively, the same as one range", () => {
    const whole = c.runRange(0, 24)
    expect(Object.keys(whole.marks).length).toBeGreaterThan(0)
    for (const f of Object.values(whole.marks)) {
      expect(f.runs).toBeGreaterThan(0)
      expect(f.runs).toBeLessThanOrEqual(24)
      expect(f.firstSeed).toBeGreaterThanOrEqual(1)
    }
    const parts = [c.runRange(16, 8), c.runRange(0, 9), c.runRange(9, 7)]
    const ab = emptyTally()
    for (const p of parts) mergeTally(ab, p)
    const ba = emptyTally()
    for (const p of [...parts].reverse()) mergeTally(ba, p)
    expect(JSON.stringify(sortedTally(ab).marks)).toBe(JSON.stringify(sortedTally(ba).marks))
    expect(sortedTally(ab).marks).toEqual(sortedTally(whole).marks)
    // The lowest seed wins whichever part arrives first.
    const later = c.runRange(16, 8)
    for (const [m, f] of Object.entries(later.marks)) expect(sortedTally(ab).marks[m]!.firstSeed).toBeLessThanOrEqual(f.firstSeed)
  })
})

describe("a mark event in a saved trace", () => {
  it("is written by fsim run, read back by the schema and replayed byte for byte in another process", () => {
    const dir = tempDir("marks")
    const scenario = join(dir, "chain.json")
    writeFileSync(scenario, JSON.stringify(CASES.find((k) => k.mark === "gofer.walk.symlink-chain")!.hit))
    const trace = join(dir, "chain.jsonl")
    const r = fsim(["run", scenario, "--seed", "3", "--trace", trace])
    expect(r.status, r.stderr).toBe(0)
    const lines = readFileSync(trace, "utf8").split("\n").filter((l) => l.includes('"kind":"mark"'))
    expect(lines.some((l) => l.includes('"mark":"gofer.walk.symlink-chain"'))).toBe(true)
    const replay = fsim(["replay", trace])
    expect(replay.status, replay.stdout + replay.stderr).toBe(0)
    // A trace whose mark was changed no longer reproduces: replay compares marks too.
    const forged = join(dir, "forged.jsonl")
    writeFileSync(forged, readFileSync(trace, "utf8").replace('"mark":"gofer.walk.symlink-chain"', '"mark":"gofer.walk.symlink-chained"'))
    expect(fsim(["replay", forged]).status).toBe(1)
  })
})
