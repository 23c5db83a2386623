// External users that replace what the client works with (src/sim/externalgen.ts):
// each kind of block is aimed at the names it should be, swarm runs with
// external users draw them (and fixed-configuration runs never do), and a
// run with them replays from its trace.

import { describe, expect, it } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { FILESYSTEMS } from "../../src/impl/registry.js"
import type { Op } from "../../src/model/types.js"
import { scenarioForSeed, strategyFor, PORTFOLIO } from "../../src/sim/campaign.js"
import { REPLACEMENT_KINDS, withReplacements, type ReplacementDraw, type ReplacementKind } from "../../src/sim/externalgen.js"
import { replayTrace } from "../../src/sim/replay.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario, ThreadSpec } from "../../src/sim/scenario.js"
import { drawSwarmConfig } from "../../src/sim/swarm.js"
import { parseTrace, traceText } from "../../src/sim/trace.js"

const draw = (kind: ReplacementKind, over: Partial<ReplacementDraw> = {}): ReplacementDraw => ({ kind, target: 0, other: 0, thread: 0, when: 0, paceNs: 100_000, data: "ext", ...over })

const tree = {
  d: { type: "dir" as const, children: { x: { type: "file" as const, data: "ab" } } },
  f: { type: "file" as const, data: "12" },
  gen1: { type: "dir" as const },
  gen2: { type: "dir" as const },
  s1: { type: "symlink" as const, target: "s2" },
  s2: { type: "symlink" as const, target: "gen1" },
}
const client: ThreadSpec = {
  name: "t0",
  ops: [
    { op: "open", path: "/f", flags: ["O_WRONLY", "O_APPEND"], fd: "t0.f" },
    { op: "write", fd: "t0.f", data: "xy" },
    { op: "stat", path: "/d/x" },
    { op: "stat", path: "/s1" },
  ],
}
const user: ThreadSpec = { name: "x0", ops: [{ op: "stat", path: "/" }] }

const blockOf = (kind: ReplacementKind, over: Partial<ReplacementDraw> = {}): readonly Op[] => {
  const users = withReplacements([user], [draw(kind, over)], [client], tree)
  // The drawn user keeps its ops; the replacement is another's, as root.
  expect(users[0]).toEqual(user)
  expect(users[1]!.name).toBe("x1")
  expect(users[1]!.cred).toEqual({ uid: 0, gid: 0, groups: [] })
  return users[1]!.ops
}

/** Which kind of block an external user's ops hold, told by its ops (null: none). */
function kindOf(ops: readonly Op[]): ReplacementKind | null {
  const i = ops.findIndex((o) => o.op === "sleep")
  if (i < 0) return null
  const [a, b] = [ops[i + 1], ops[i + 2]]
  if (a?.op === "open" && a.flags.includes("O_APPEND") && b?.op === "write") return "append"
  if (a?.op === "open" && a.flags.includes("O_TRUNC") && ops[i + 4]?.op === "rename") return "rename-over"
  if (a?.op === "unlink" && b?.op === "open") return "recreate"
  if (a?.op === "rename" && b?.op === "mkdir") return "replace-dir"
  if (a?.op === "unlink" && b?.op === "symlink") return "repoint-symlink"
  return null
}

describe("external replacement blocks", () => {
  it("are aimed at the names the client uses, after the user's think time", () => {
    expect(blockOf("append")).toEqual([
      { op: "sleep", ns: 100_000 },
      { op: "open", path: "/f", flags: ["O_WRONLY", "O_APPEND", "O_NONBLOCK"], fd: "x1.r" },
      { op: "write", fd: "x1.r", data: "ext" },
      { op: "close", fd: "x1.r" },
    ])
    // Files of the tree the client names, in the order it names them: /f, then /d/x.
    expect(blockOf("rename-over").slice(1, 5)).toEqual([
      { op: "open", path: "/f.x1", flags: ["O_WRONLY", "O_CREAT", "O_TRUNC", "O_NONBLOCK"], mode: 0o644, fd: "x1.r" },
      { op: "write", fd: "x1.r", data: "ext" },
      { op: "close", fd: "x1.r" },
      { op: "rename", from: "/f.x1", to: "/f" },
    ])
    expect(blockOf("recreate", { target: 1 }).slice(1, 3)).toEqual([
      { op: "unlink", path: "/d/x" },
      { op: "open", path: "/d/x", flags: ["O_WRONLY", "O_CREAT", "O_EXCL", "O_NONBLOCK"], mode: 0o644, fd: "x1.r" },
    ])
    // The directory the client's /d/x goes through, made again with its child.
    expect(blockOf("replace-dir").slice(1, 4)).toEqual([
      { op: "rename", from: "/d", to: "/d.x1" },
      { op: "mkdir", path: "/d", mode: 0o755 },
      { op: "open", path: "/d/x", flags: ["O_WRONLY", "O_CREAT", "O_NONBLOCK"], mode: 0o644, fd: "x1.r" },
    ])
    // The middle of the chain s1 -> s2 -> gen1 first, pointed at another entry of its directory.
    const sym = blockOf("repoint-symlink").slice(1, 3)
    expect(sym[0]).toEqual({ op: "unlink", path: "/s2" })
    expect(sym[1]).toMatchObject({ op: "symlink", path: "/s2" })
    expect((sym[1] as { target: string }).target).not.toBe("gen1")
    // No symlink or directory to aim at: a file is replaced instead.
    const bare = withReplacements([user], [draw("repoint-symlink")], [client], { f: { type: "file", data: "1" } })[1]!.ops
    expect(kindOf(bare)).toBe("recreate")
    // A draw of null: no replacing user.
    expect(withReplacements([user], [null, draw("append")], [client], tree).map((u) => u.name)).toEqual(["x0", "x1"])
  })

  it("are drawn by the swarm for gofer runs with external users, every kind, and never in fixed-configuration runs", () => {
    const seen = new Map<ReplacementKind, number>()
    let withUsers = 0
    let replacing = 0
    for (let seed = 1; seed <= 400; seed++) {
      const shape = drawSwarmConfig(FILESYSTEMS, { kinds: ["gofer"], mount: {} }, seed)
      if ((shape.external ?? 0) > 0) withUsers++
      if (shape.externalReplace !== true) continue
      replacing++
      expect(shape.external).toBeGreaterThan(0)
      for (const x of scenarioForSeed(shape, seed).external ?? []) {
        const k = kindOf(x.ops)
        if (k !== null) seen.set(k, (seen.get(k) ?? 0) + 1)
      }
    }
    // In most runs with external users, not all: the rest keep to the op mix.
    expect(replacing).toBeGreaterThan(withUsers / 2)
    expect(replacing).toBeLessThan(withUsers)
    for (const k of REPLACEMENT_KINDS) expect(seen.get(k) ?? 0, k).toBeGreaterThan(0)
    for (const c of Array.from({ length: 100 }, (_, i) => drawSwarmConfig(FILESYSTEMS, { kinds: ["overlay"], mount: {} }, i + 1))) expect(c.externalReplace).toBeUndefined()
    // Under the exclusive cache modes a run with any external user, replacing ones alone included, is judged without lincheck and coherence.
    for (let seed = 1; seed <= 300; seed++) {
      const shape = drawSwarmConfig(FILESYSTEMS, { kinds: ["gofer"], mount: { options: "cache=fscache" } }, seed)
      const s = scenarioForSeed(shape, seed)
      if ((s.external ?? []).length > 0) expect(s.checks?.includes("lincheck") ?? true, `seed ${seed}`).toBe(false)
    }
    const fixed = { mount: { kind: "gofer" as const, options: "cache=remote_revalidating" }, threads: 4, ops: 12, names: 2, external: 3, faults: 0 }
    for (let seed = 1; seed <= 100; seed++) for (const x of scenarioForSeed(fixed, seed).external ?? []) expect(kindOf(x.ops)).toBeNull()
  })

  it("replay from a run's trace", () => {
    const env = defaultEnv()
    let replayed = 0
    for (let seed = 1; seed <= 200 && replayed < 3; seed++) {
      const shape = drawSwarmConfig(FILESYSTEMS, { kinds: ["gofer"], mount: {} }, seed)
      if (shape.externalReplace !== true) continue
      const s: Scenario = scenarioForSeed(shape, seed)
      if (!(s.external ?? []).some((x) => kindOf(x.ops) !== null)) continue
      const r = runSubject(s, { seed, strategy: strategyFor({ kind: "portfolio", specs: PORTFOLIO }, seed), mounts: env.mounts, lockOrders: env.lockOrders })
      // The block's ops ran as the external user's.
      expect(r.events.some((e) => e.kind === "sleep" && e.thread.startsWith("x"))).toBe(true)
      const back = replayTrace(parseTrace(traceText(r), `seed-${seed}`), { mounts: env.mounts, lockOrders: env.lockOrders })
      expect(back.reproduced, `seed ${seed}`).toBe(true)
      replayed++
    }
    expect(replayed).toBe(3)
  })
})
