// Swarm configurations (src/sim/swarm.ts): each run's configuration is drawn
// from its seed, within what the command line pins; a fixed-configuration
// campaign (--no-swarm) generates exactly what campaigns generated before
// swarms; the configuration is in a saved trace's header, and the trace
// replays with no option.

import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FILESYSTEMS, shapeDefaults } from "../../src/impl/registry.js"
import { arbSteps, OP_GROUPS, type OpProfile } from "../../src/model/arbitraries.js"
import { scenarioForSeed, type ScenarioShape } from "../../src/sim/campaign.js"
import { configJson, drawSwarmConfig, type SwarmPins } from "../../src/sim/swarm.js"
import type { Mount } from "../../src/sim/scenario.js"
import type { Op } from "../../src/model/types.js"
import { fsim, tempDir } from "../cli/helpers.js"

const configs = (pins: SwarmPins, n: number): ScenarioShape[] => Array.from({ length: n }, (_, i) => drawSwarmConfig(FILESYSTEMS, pins, i + 1))
const optionsOf = (m: Mount): string => (m.kind === "overlay" ? (m.lower[m.lower.length - 1]?.kind === "gofer" ? ((m.lower[m.lower.length - 1] as { options?: string }).options ?? "") : "") : (m.options ?? ""))

describe("swarm configurations", () => {
  it("are a function of the seed", () => {
    for (let seed = 1; seed <= 50; seed++) expect(drawSwarmConfig(FILESYSTEMS, { mount: {} }, seed)).toEqual(drawSwarmConfig(FILESYSTEMS, { mount: {} }, seed))
    expect(new Set(configs({ mount: {} }, 20).map((c) => JSON.stringify(c))).size).toBeGreaterThan(15)
  })

  it("cover the space: every gofer cache mode, both overlay lowers, tmpfs, pressure, small msize, external users, faults, op profiles", () => {
    const all = configs({ mount: {} }, 400)
    const labels = new Set(all.map((c) => (c.mount.kind === "gofer" ? `gofer ${/cache=([^,]*)/.exec(c.mount.options ?? "")?.[1]}` : c.mount.kind === "overlay" ? `overlay ${c.mount.lower[c.mount.lower.length - 1]!.kind}` : c.mount.kind)))
    expect([...labels].sort()).toEqual(["gofer fscache", "gofer fscache_writethrough", "gofer none", "gofer remote_revalidating", "overlay gofer", "overlay tmpfs", "tmpfs"])
    // The model is reached only when pinned.
    expect(all.some((c) => c.mount.kind === "model")).toBe(false)
    const opts = all.map((c) => optionsOf(c.mount))
    for (const o of ["page_budget=1", "dentry_cache_limit=1", "msize=4096"]) expect(opts.some((x) => x.includes(o)), o).toBe(true)
    expect(all.some((c) => (c.external ?? 0) > 0)).toBe(true)
    expect(all.some((c) => (c.faults ?? 0) > 0)).toBe(true)
    expect(all.filter((c) => c.mount.kind === "tmpfs").every((c) => c.external === 0 && c.faults === 0)).toBe(true)
    for (const g of OP_GROUPS.filter((g) => g !== "links")) {
      expect(all.some((c) => c.profile!.groups[g] === 0), `${g} off`).toBe(true)
      expect(all.some((c) => c.profile!.groups[g] > 1), `${g} emphasized`).toBe(true)
    }
    expect(all.some((c) => c.profile!.flags.O_DIRECT !== undefined)).toBe(true)
    expect(all.some((c) => c.profile!.symlinkChains)).toBe(true)
    // What each mount can check, from its descriptor.
    for (const c of all) expect(c.externalUnjudged).toBe(shapeDefaults(c.mount).externalUnjudged)
  })

  it("keep what is pinned and draw the rest", () => {
    for (const c of configs({ kinds: ["gofer"], mount: { options: "cache=none" } }, 60)) {
      expect(c.mount.kind).toBe("gofer")
      expect(c.mount.options).toMatch(/^cache=none(,|$)/)
    }
    const mutated = configs({ mount: { mutant: { kind: "gofer", name: "evict-drops-dirty" } } }, 60)
    expect(new Set(mutated.map((c) => c.mount.kind))).toEqual(new Set(["gofer", "overlay"]))
    for (const c of mutated) expect(optionsOf(c.mount)).toContain("mutant=evict-drops-dirty")
    for (const c of configs({ mount: { mutant: { kind: "overlay", name: "copy-up-short" } } }, 30)) {
      expect(c.mount.kind).toBe("overlay")
      expect(c.mount.options).toBe("mutant=copy-up-short")
    }
    for (const c of configs({ mount: {}, threads: 3, ops: 5, external: 1 }, 40)) {
      expect([c.threads, c.ops]).toEqual([3, 5])
      expect(c.external).toBe(c.mount.kind === "tmpfs" || (c.mount.kind === "overlay" && c.mount.lower[0]!.kind === "tmpfs") ? 0 : 1)
    }
  })

  it("an op profile leaves out the groups it switches off and makes emphasized flags common", () => {
    const groups = Object.fromEntries(OP_GROUPS.map((g) => [g, g === "xattrs" || g === "rename" ? 0 : 1])) as OpProfile["groups"]
    const profile: OpProfile = { groups, flags: { O_DIRECT: 0.5 }, symlinkChains: false }
    const steps = fc.sample(arbSteps(1, 12, profile), { seed: 5, numRuns: 200 }).flat()
    expect(steps.some((s) => /xattr/.test(s.op.op) || s.op.op === "rename")).toBe(false)
    const opens = steps.filter((s) => s.op.op === "open")
    const direct = opens.filter((s) => s.op.op === "open" && s.op.flags.includes("O_DIRECT")).length
    expect(direct / opens.length).toBeGreaterThan(0.3)
    // Without a profile, O_DIRECT stays rare.
    const fixed = fc.sample(arbSteps(1, 12), { seed: 5, numRuns: 200 }).flat().filter((s) => s.op.op === "open")
    expect(fixed.filter((s) => s.op.op === "open" && s.op.flags.includes("O_DIRECT")).length / fixed.length).toBeLessThan(0.1)
  })

  it("aim a run's faults at one family of requests; a shape with a server that refuses mknod gets it as faults in the scenario (not drawn yet)", () => {
    const all = configs({ mount: {} }, 400).map((c, i) => ({ c, seed: i + 1 }))
    const focused = all.filter(({ c }) => c.faultFocus !== undefined)
    expect(focused.length).toBeGreaterThan(20)
    expect(focused.every(({ c }) => (c.faults ?? 0) > 0)).toBe(true)
    for (const { c, seed } of focused) for (const f of scenarioForSeed(c, seed).faults ?? []) expect(c.faultFocus).toContain(f.message)
    // Not drawn until synthetic files are in the gofer's dialect (swarm.ts, SYNTHETIC_FILES_JUDGED).
    expect(all.some(({ c }) => c.refuseMknod === true)).toBe(false)
    const gofer = all.find(({ c }) => c.mount.kind === "gofer")!
    const refusing = { ...gofer.c, refuseMknod: true }
    // After the run's own faults (a series may fail a Tumknod with EPERM too).
    const own = (scenarioForSeed(gofer.c, gofer.seed).faults ?? []).length
    const refused = (scenarioForSeed(refusing, gofer.seed).faults ?? []).slice(own).filter((f) => f.kind === "rlerror" && f.message === "Tumknod" && f.errno === "EPERM")
    expect(refused.map((f) => f.nth)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    expect(configJson(refusing)["refuse_mknod"]).toBe(true)
  })

  it("never fail the mount's own requests (its Tgetattr of the root): such a run would test nothing", () => {
    const all = configs({ mount: {} }, 400).map((c, i) => ({ c, seed: i + 1 }))
    const getattrErrors = all.flatMap(({ c, seed }) => (scenarioForSeed(c, seed).faults ?? []).filter((f) => f.kind === "rlerror" && f.message === "Tgetattr"))
    // The swarm does aim error replies at Tgetattr, just never at the first one.
    expect(getattrErrors.length).toBeGreaterThan(2)
    expect(getattrErrors.filter((f) => f.nth === 1)).toEqual([])
  })

  it("aim some runs' faults at every k-th request of one message, never a lookup", () => {
    const all = configs({ mount: {} }, 400).map((c, i) => ({ c, seed: i + 1 }))
    const series = all.filter(({ c }) => c.faultEvery !== undefined)
    expect(series.length).toBeGreaterThan(10)
    for (const { c, seed } of series) {
      expect(c.faultFocus).toHaveLength(1)
      expect(["Twalk", "Twalkgetattr", "Tgetattr", "Trenameat", "Tmknod"]).not.toContain(c.faultFocus![0])
      const k = c.faultEvery!
      const faults = scenarioForSeed(c, seed).faults ?? []
      expect(faults.every((f) => f.message === c.faultFocus![0])).toBe(true)
      expect(faults.filter((f) => f.nth % k === 0).map((f) => f.nth)).toEqual(Array.from({ length: Math.floor(12 / k) }, (_, i) => k * (i + 1)))
      // Off the series only the error after a short reply (a transfer cut short by an error part way).
      for (const f of faults.filter((f) => f.nth % k !== 0)) {
        expect(f.kind).toBe("rlerror")
        expect(faults.some((g) => g.kind === "short" && g.nth === f.nth - 1)).toBe(true)
      }
      expect(configJson(c)["fault_every"]).toBe(c.faultEvery)
    }
  })

  it("an op profile adds I/O blocks: an O_RDWR|O_CREAT open, a write, a read of the file from its start, writes into the cached pages", () => {
    const groups = Object.fromEntries(OP_GROUPS.map((g) => [g, 1])) as OpProfile["groups"]
    const profile: OpProfile = { groups, flags: { O_SYNC: 0.5 }, symlinkChains: false }
    const isBlock = (steps: readonly { op: Op }[]): boolean =>
      steps.some((s, i) => {
        const [w, r, x] = [steps[i + 1]?.op, steps[i + 2]?.op, steps[i + 3]?.op]
        return s.op.op === "open" && s.op.flags.includes("O_RDWR") && s.op.flags.includes("O_CREAT") && w?.op === "write" && r?.op === "pread" && r.offset === 0 && r.count === 4096 && (x?.op === "write" || x?.op === "pwrite")
      })
    const profiled = fc.sample(arbSteps(1, 24, profile), { seed: 7, numRuns: 100 })
    const fixed = fc.sample(arbSteps(1, 24), { seed: 7, numRuns: 100 })
    expect(profiled.filter(isBlock).length).toBeGreaterThan(30)
    expect(fixed.filter(isBlock).length).toBeLessThan(5)
    // A profile's O_SYNC odds apply to the blocks' file opens.
    expect(profiled.flat().some((s) => s.op.op === "open" && s.op.flags.includes("O_SYNC") && s.op.flags.includes("O_CREAT"))).toBe(true)
  })

  it("give tmpfs runs second names in the initial tree, never link ops", () => {
    const runs = configs({ kinds: ["tmpfs"], mount: {} }, 60).map((c, i) => scenarioForSeed(c, i + 1))
    expect(runs.some((s) => Object.values(s.remote ?? {}).some((n) => "link" in n))).toBe(true)
    expect(runs.every((s) => s.threads.every((t) => t.ops.every((o) => o.op !== "link")))).toBe(true)
    // Half of them give a root file a second name at another root name.
    const named = runs.filter((s) => Object.values(s.remote ?? {}).some((n) => "link" in n && /^\/[abc]$/.test(n.link)))
    expect(named.length).toBeGreaterThan(runs.length / 5)
  })

  it("aim a series at a message the run's ops send, and make those ops common; a short Tread is followed by a failed one", () => {
    const all = configs({ kinds: ["gofer"], mount: {} }, 1500).map((c, i) => ({ c, seed: i + 1 }))
    const fsyncs = all.filter(({ c }) => c.faultEvery !== undefined && c.faultFocus![0] === "Tfsync")
    expect(fsyncs.length).toBeGreaterThan(5)
    for (const { c } of fsyncs) expect(c.profile!.groups.sync).toBe(4)
    const setattrs = all.filter(({ c }) => c.faultEvery !== undefined && c.faultFocus![0] === "Tsetattr")
    expect(setattrs.length).toBeGreaterThan(5)
    for (const { c } of setattrs) expect(c.profile!.groups.truncate + c.profile!.groups.attrs).toBeGreaterThan(0)
    const reads = all.filter(({ c }) => c.faultFocus?.includes("Tread") === true)
    const pairs = reads.flatMap(({ c, seed }) => {
      const fs = scenarioForSeed(c, seed).faults ?? []
      return fs.filter((f) => f.kind === "short" && f.message === "Tread" && fs.some((g) => g.kind === "rlerror" && g.message === "Tread" && g.nth === f.nth + 1))
    })
    expect(pairs.length).toBeGreaterThan(10)
  })

  it("profiles draw a directory removed too early, a reader and an appender of one file, a direct write beside dirty pages, syncs after listings", () => {
    const groups = Object.fromEntries(OP_GROUPS.map((g) => [g, 1])) as OpProfile["groups"]
    const profile: OpProfile = { groups, flags: { O_DIRECT: 0.1 }, symlinkChains: false }
    const runs = fc.sample(arbSteps(1, 24, profile), { seed: 11, numRuns: 300 }).map((steps) => steps.map((s) => s.op))
    const has = (ops: readonly Op[], at: (o: Op, i: number) => boolean): boolean => ops.some(at)
    // mkdir d; mknod d/x; rmdir d; unlink d/x; rmdir d
    expect(runs.filter((ops) => has(ops, (o, i) => o.op === "mkdir" && ops[i + 1]?.op === "mknod" && ops[i + 2]?.op === "rmdir" && (ops[i + 2] as { path: string }).path === o.path)).length).toBeGreaterThan(3)
    // open O_RDONLY, read, open O_WRONLY|O_APPEND of the same path
    expect(
      runs.filter((ops) =>
        has(ops, (o, i) => {
          const w = ops[i + 2]
          return o.op === "open" && o.flags.includes("O_RDONLY") && w?.op === "open" && w.flags.includes("O_APPEND") && w.path === o.path
        }),
      ).length,
    ).toBeGreaterThan(3)
    // an I/O block's file opened again O_DIRECT and written or read
    expect(runs.filter((ops) => has(ops, (o) => o.op === "open" && o.flags.length === 2 && o.flags[0] === "O_RDWR" && o.flags[1] === "O_DIRECT")).length).toBeGreaterThan(3)
    // a listing's directory synced, or the filesystem
    expect(runs.filter((ops) => has(ops, (o, i) => o.op === "getdents" && (ops[i + 2]?.op === "fsync" || ops[i + 2]?.op === "sync") && ops[i + 3]?.op === "lseek")).length).toBeGreaterThan(3)
    // None of it without a profile.
    const fixed = fc.sample(arbSteps(1, 24), { seed: 11, numRuns: 300 }).map((steps) => steps.map((s) => s.op))
    expect(fixed.filter((ops) => has(ops, (o) => o.op === "open" && o.flags.length === 2 && o.flags[0] === "O_RDWR" && o.flags[1] === "O_DIRECT")).length).toBe(0)
  })

  it("move a lower layer's symlink aside in overlay runs whose profile has symlinks and renames", () => {
    const all = configs({ kinds: ["overlay"], mount: {} }, 300).map((c, i) => ({ c, seed: i + 1 }))
    let moved = 0
    for (const { c, seed } of all) {
      const s = scenarioForSeed(c, seed)
      const ops = s.threads.flatMap((t) => t.ops)
      const aside = ops.some((o, i) => o.op === "rename" && /\/n$/.test(o.to) && ops[i + 1]?.op === "readlink" && (ops[i + 1] as { path: string }).path === o.to)
      if (aside) {
        moved++
        expect(c.profile!.groups.symlinks > 0 && c.profile!.groups.rename > 0).toBe(true)
      }
    }
    expect(moved).toBeGreaterThan(5)
  })

  it("a fixed configuration (--no-swarm) generates the same scenarios as campaigns did before swarms", () => {
    // The digest of seeds 1-300 of five shapes, recorded before op profiles existed (commit 6ef0c3b).
    const mounts: Mount[] = [
      { kind: "model" },
      { kind: "gofer", options: "cache=fscache" },
      { kind: "tmpfs" },
      { kind: "overlay", lower: [{ kind: "tmpfs" }] },
      { kind: "overlay", lower: [{ kind: "gofer", tree: "remote" }] },
    ]
    const h = createHash("sha256")
    for (const mount of mounts) {
      const shape: ScenarioShape = { mount, threads: 4, ops: 12, names: 3, external: 2, faults: 2, ...shapeDefaults(mount) }
      for (let s = 1; s <= 300; s++) h.update(JSON.stringify(scenarioForSeed(shape, s)))
    }
    expect(h.digest("hex")).toBe("8259a27ba2877194823e8d7c27f194ec711cff5d90794756454a7d4905f313e5")
  })
})

describe("fsim check as a swarm", () => {
  it("draws each run's configuration, reports by mount, and a saved failure records its configuration and replays with no option", { timeout: 600_000 }, () => {
    const dir = tempDir("swarm")
    const r = fsim(["check", "--mutant", "stat-size-wrong", "--runs", "30", "--workers", "1", "--shrink-budget", "200", "--save-dir", dir, "--json"])
    expect(r.status).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j.swarm).not.toBeNull()
    expect(Object.keys(j.by_mount).length).toBeGreaterThan(1)
    const first = j.findings.unexplained[0]
    expect(first.config).toMatch(/^(gofer|overlay over gofer) \(cache=/)
    const saved = j.saved.find((s: { check: string }) => s.check === first.checks[0])
    const header = JSON.parse(readFileSync(saved.trace, "utf8").split("\n")[0]!)
    const explained = fsim(["check", "--mutant", "stat-size-wrong", "--explain-config", String(saved.seed), "--json"])
    expect(explained.status).toBe(0)
    expect(header.config).toEqual(JSON.parse(explained.stdout))
    expect(header.config).toEqual(configJson(drawSwarmConfig(FILESYSTEMS, { mount: { mutant: { kind: "gofer", name: "stat-size-wrong" } } }, saved.seed)))
    const replay = fsim(["replay", saved.trace])
    expect(replay.status).toBe(0)
    expect(replay.stdout).toMatch(/reproduced exactly \(verdict fail\)/)
  })

  it("--explain-config prints the configuration a seed draws, and the same one every time", () => {
    const a = fsim(["check", "--explain-config", "7"])
    expect(a.status).toBe(0)
    expect(a.stdout).toMatch(/^seed 7: (gofer|overlay|tmpfs)/)
    expect(fsim(["check", "--explain-config", "7"]).stdout).toBe(a.stdout)
    expect(fsim(["check", "--mount", "gofer", "--options", "cache=none", "--explain-config", "7"]).stdout).toMatch(/^seed 7: gofer \(cache=none/)
  })
})
