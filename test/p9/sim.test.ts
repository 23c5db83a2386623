// The simulated 9P server through the client the gofer port uses: fid
// semantics, faults, latency and reply order, external users, qid policy,
// version negotiation, and determinism of the whole event log.

import { describe, expect, test } from "vitest"
import type { Tree } from "../../src/model/types.js"
import type { Event } from "../../src/sim/events.js"
import { EventLog } from "../../src/sim/log.js"
import { ATTR_BASIC, AT_REMOVEDIR, OPEN_READ_WRITE, OPEN_READ_ONLY, type P9Client, type P9File } from "../../src/sim/p9/api.js"
import { drawFaults } from "../../src/sim/p9/faults.js"
import { SimP9Server, type SimClient, type SimP9Options } from "../../src/sim/p9/sim.js"
import type { Fault } from "../../src/sim/scenario.js"
import { Scheduler, sleep, type RunEnd, type Sim } from "../../src/sim/scheduler.js"
import { RandomStrategy } from "../../src/sim/strategy.js"

const TREE: Tree = {
  d: { type: "dir", children: { f: { type: "file", data: "hello" }, g: { type: "file", data: "gg" } } },
  x: { type: "file", data: "xyz" },
}

interface World {
  readonly sched: Scheduler
  readonly server: SimP9Server
}

/** Runs `threads` (each given the world) under a seeded random strategy. */
function simulate(seed: number, threads: Record<string, (w: World) => Sim<void>>, options: SimP9Options = {}, tree: Tree = TREE): World & { end: RunEnd; events: readonly Event[] } {
  const sched = new Scheduler({ strategy: new RandomStrategy(seed), log: new EventLog(), budgetSteps: 100_000 })
  const server = new SimP9Server(sched, seed, tree, options)
  const w = { sched, server }
  for (const [name, body] of Object.entries(threads)) sched.spawn(name, body(w))
  const end = sched.run()
  return { ...w, end, events: sched.log.events }
}

function* mount(w: World, name = "gofer"): Sim<[SimClient, P9File]> {
  const [client, err] = yield* w.server.connect(name)
  expect(err).toBeNull()
  const [root, aerr] = yield* client!.attach("", 0, "root")
  expect(aerr).toBeNull()
  return [client as SimClient, root!]
}

function* must<T extends unknown[]>(g: Sim<T>): Sim<T> {
  const r = yield* g
  expect(r[r.length - 1], `errno of ${JSON.stringify(r.slice(0, -1))}`).toBeNull()
  return r
}

describe("fids name files, not paths", () => {
  test("walk, then rename (by the client or by another user), then getattr: the same file", () => {
    const seen: number[] = []
    let ino = -1
    simulate(1, {
      t0: function* (w) {
        const [, root] = yield* mount(w)
        const [qids, f] = yield* must(root.walk(["d", "f"], "dentry /d/f"))
        ino = qids[1]!.path
        const [, d] = yield* must(root.walk(["d"], "dentry /d"))
        yield* must1(d!.renameAt("f", root, "moved"))
        const [q1, , a1] = yield* must(f!.getAttr(ATTR_BASIC))
        seen.push(q1!.path, a1!.size)
        // Another user renames it again, directly on the server's tree.
        yield* w.server.external({ op: "rename", from: "/moved", to: "/d/back" }, { uid: 0, gid: 0, groups: [] })
        const [q2, , a2] = yield* must(f!.getAttr(ATTR_BASIC))
        seen.push(q2!.path, a2!.size)
        // The fid follows its file for Trename too: the server finds its new name.
        yield* must1(f!.rename(root, "again"))
        expect(w.server.tree().tree["again"]).toMatchObject({ type: "file", data: "hello" })
      },
    })
    expect(seen).toEqual([ino, 5, ino, 5])
  })

  test("an open fid keeps an unlinked file readable and writable; the inode goes with the last fid", () => {
    const out: string[] = []
    const w = simulate(2, {
      t0: function* (w) {
        const [, root] = yield* mount(w)
        const [, f] = yield* must(root.walk(["x"], "handle /x rw"))
        yield* must(f!.open(OPEN_READ_WRITE))
        const [, d] = yield* must(root.walk([], "dentry /"))
        yield* must1(d!.unlinkAt("x", 0))
        expect(w.server.tree().tree["x"]).toBeUndefined()
        const [n] = yield* must(f!.writeAt("ABC", 1))
        const [data] = yield* must(f!.readAt(100, 0))
        const [, , attr] = yield* must(f!.getAttr(ATTR_BASIC))
        out.push(`${n} ${data} nlink ${attr!.nlink}`)
        expect(w.server.fidTable().some((x) => x.path === null && x.opened === "rw")).toBe(true)
        yield* must1(f!.close())
        expect(w.server.fidTable().some((x) => x.opened === "rw")).toBe(false)
      },
    })
    expect(w.end.kind).toBe("done")
    expect(out).toEqual(["3 xABC nlink 0"])
  })

  test("clunk of an unknown fid is an error; so is using a closed fid", () => {
    const got: (string | null)[] = []
    simulate(3, {
      t0: function* (w) {
        const [client, root] = yield* mount(w)
        const [, f] = yield* must(root.walk(["d"], "dentry /d"))
        got.push(yield* f!.close())
        got.push(yield* f!.close())
        const [, , , e] = yield* f!.getAttr(ATTR_BASIC)
        got.push(e)
        // Straight to the server: a Tclunk of a fid this client never had.
        const r = yield* client.conn.rpc({ type: "Tclunk", fid: 999 })
        got.push(r.type === "Rlerror" ? String(r.error) : r.type)
      },
    })
    expect(got).toEqual([null, "EBADF", "EBADF", "9"])
  })

  test("no fid survives a detach, and what only they held is freed", () => {
    let before = 0
    const w = simulate(4, {
      t0: function* (w) {
        const [client, root] = yield* mount(w)
        const [, f] = yield* must(root.walk(["d", "g"], "handle /d/g r"))
        yield* must(f!.open(OPEN_READ_ONLY))
        yield* must(root.walk(["d"], "dentry /d"))
        yield* w.server.external({ op: "unlink", path: "/d/g" }, { uid: 0, gid: 0, groups: [] })
        before = w.server.fidTable().length
        expect(client.liveFids().size).toBe(3)
        yield* client.disconnect()
        expect(client.liveFids().size).toBe(0)
      },
    })
    expect(before).toBe(3)
    expect(w.server.fidTable()).toEqual([])
    // The unlinked /d/g lived only through the open fid.
    expect(w.server.core.state.fds).toEqual({})
  })

  test("the client names each live fid's owner; a create renames the fid's purpose", () => {
    let live: [number, string][] = []
    simulate(5, {
      t0: function* (w) {
        const [client, root] = yield* mount(w)
        const [, d] = yield* must(root.walk(["d"], "dentry /d"))
        const [, nf] = yield* must(d!.walk([], "new file in /d"))
        yield* must(nf!.create("n", OPEN_READ_WRITE, 0o640, 1000, 1000, "handle /d/n rw"))
        live = [...client.liveFids()]
        const [, , a] = yield* must(nf!.getAttr(ATTR_BASIC))
        expect([a!.uid, a!.gid, a!.mode & 0o7777]).toEqual([1000, 1000, 0o640])
      },
    })
    expect(live).toEqual([
      [1, "root"],
      [2, "dentry /d"],
      [3, "handle /d/n rw"],
    ])
  })
})

function* must1(g: Sim<string | null>): Sim<void> {
  const e = yield* g
  expect(e).toBeNull()
}

/** Two threads each walking, reading and stat-ing, for reply-order and determinism checks. */
const busy: Record<string, (w: World) => Sim<void>> = {
  t0: function* (w) {
    const [, root] = yield* mount(w, "c0")
    for (let i = 0; i < 6; i++) {
      const [, f] = yield* root.walk(["d", "f"], `walk ${i}`)
      if (f !== null) {
        yield* f.getAttr(ATTR_BASIC)
        yield* f.close()
      }
    }
  },
  t1: function* (w) {
    const [, root] = yield* mount(w, "c1")
    for (let i = 0; i < 6; i++) {
      const [, f] = yield* root.walk(["x"], `walk ${i}`)
      if (f !== null) {
        yield* f.open(OPEN_READ_ONLY)
        yield* f.readAt(10, 0)
        yield* f.close()
      }
    }
  },
}

describe("latency, reply order and determinism", () => {
  test("the same seed gives the same event log, latencies and faults; another seed differs", () => {
    const faults: Fault[] = [
      { kind: "delay", message: "Twalk", nth: 3, ns: 1_000_000 },
      { kind: "rlerror", message: "Tgetattr", nth: 2, errno: "EIO" },
    ]
    const a = simulate(42, busy, { faults })
    const b = simulate(42, busy, { faults })
    const c = simulate(43, busy, { faults })
    expect(a.end.kind).toBe("done")
    expect(JSON.stringify(a.events)).toBe(JSON.stringify(b.events))
    expect(JSON.stringify(a.events)).not.toBe(JSON.stringify(c.events))
    const fired = a.events.filter((e) => e.kind === "choice").map((e) => (e as { what: string }).what)
    expect(fired).toEqual([expect.stringMatching(/^p9 fault: reply delayed by 1000000 ns for Twalk #3/), expect.stringMatching(/^p9 fault: Rlerror EIO for Tgetattr #2/)])
  })

  test("every RPC is two scheduling points, and replies come back out of order across threads", () => {
    let outOfOrder = 0
    for (let seed = 1; seed <= 20; seed++) {
      const r = simulate(seed, busy)
      const sends = r.events.filter((e) => e.kind === "rpc_send") as Extract<Event, { kind: "rpc_send" }>[]
      const replies = r.events.filter((e) => e.kind === "rpc_reply") as Extract<Event, { kind: "rpc_reply" }>[]
      expect(replies.length).toBe(sends.length)
      const points = r.events.filter((e) => e.kind === "sched" && (e.point === "rpc_send" || e.point === "rpc_reply"))
      expect(points.length).toBe(2 * sends.length)
      // Each reply against the send of its request (same thread and tag, the latest before it).
      const servedOrder = replies.map((x) => x.served!)
      const sentOrder = replies.map((x) => sends.filter((s) => s.thread === x.thread && s.tag === x.tag && s.seq < x.seq).at(-1)!.seq)
      for (let i = 1; i < replies.length; i++) if (sentOrder[i]! < sentOrder[i - 1]!) outOfOrder++
      expect(servedOrder.every((s, i) => s > sentOrder[i]!)).toBe(true)
    }
    expect(outOfOrder).toBeGreaterThan(0)
  })
})

describe("faults", () => {
  test("Rlerror on the nth message of a type; a short read and a short write", () => {
    const got: unknown[] = []
    simulate(7, {
      t0: function* (w) {
        const [, root] = yield* mount(w)
        got.push((yield* root.walk(["d"], "1"))[2])
        got.push((yield* root.walk(["d"], "2"))[2])
        got.push((yield* root.walk(["d"], "3"))[2])
        const [, f] = yield* must(root.walk(["x"], "x"))
        yield* must(f!.open(OPEN_READ_WRITE))
        got.push((yield* f!.readAt(100, 0))[0])
        got.push((yield* f!.writeAt("0123456789", 0))[0])
        got.push((yield* f!.readAt(100, 0))[0])
      },
    }, {
      faults: [
        { kind: "rlerror", message: "Twalk", nth: 2, errno: "EACCES" },
        { kind: "short", message: "Tread", nth: 1, count: 2 },
        { kind: "short", message: "Twrite", nth: 1, count: 4 },
      ],
    })
    expect(got).toEqual([null, "EACCES", null, "xy", 4, "0123"])
  })

  test("a delayed reply arrives that much later on the simulated clock", () => {
    const times: number[] = []
    const lat = { request: { min: 1000, max: 1000 }, reply: { min: 1000, max: 1000 } }
    for (const faults of [[], [{ kind: "delay", message: "Tgetattr", nth: 1, ns: 5_000_000 } as Fault]]) {
      const w = simulate(8, {
        t0: function* (w) {
          const [, root] = yield* mount(w)
          yield* root.getAttr(ATTR_BASIC)
        },
      }, { latency: lat, faults })
      times.push(w.sched.now)
    }
    expect(times[1]! - times[0]!).toBe(5_000_000)
  })

  test("a server that stops answering: the waiting client is reported, in those words", () => {
    const r = simulate(9, {
      t0: function* (w) {
        const [, root] = yield* mount(w)
        yield* root.walk(["d"], "1")
        yield* root.walk(["d"], "never answered")
      },
    }, { faults: [{ kind: "hang", message: "Twalk", nth: 2 }] })
    expect(r.end.kind).toBe("deadlock")
    const v = r.sched.found[0]!
    expect(v.check).toBe("deadlock")
    expect(v.message).toMatch(/thread t0 waits .* for a reply from a server that stopped answering \(Twalk tag 0 of client gofer/)
  })

  test("faults drawn from a seed: the same seed, the same faults", () => {
    expect(drawFaults(5, { count: 4 })).toEqual(drawFaults(5, { count: 4 }))
    expect(drawFaults(5, { count: 4 })).not.toEqual(drawFaults(6, { count: 4 }))
    const r = simulate(5, busy, { faults: drawFaults(5, { count: 3, nthMax: 4 }) })
    expect(r.events.filter((e) => e.kind === "choice").length).toBeGreaterThan(0)
  })

  test("a fault naming no 9P request is an input error", () => {
    expect(() => simulate(1, {}, { faults: [{ kind: "hang", message: "Rwalk", nth: 1 }] })).toThrow(/faults\[0\]\.message: "Rwalk" is not a 9P request type/)
  })
})

describe("external users, qid paths and versions", () => {
  test("external users interleave with the client's RPCs on the server's tree", () => {
    const outcomes = new Set<string>()
    for (let seed = 1; seed <= 30; seed++) {
      simulate(seed, {
        t0: function* (w) {
          const [, root] = yield* mount(w)
          const [, , err] = yield* root.walk(["d", "f"], "probe")
          outcomes.add(err ?? "found")
        },
        x0: function* (w) {
          // Some time in, on the simulated clock: before, during or after the client's walk.
          yield sleep(seed * 20_000)
          yield* w.server.external({ op: "rename", from: "/d/f", to: "/d/h" }, { uid: 0, gid: 0, groups: [] })
        },
      })
    }
    expect([...outcomes].sort()).toEqual(["ENOENT", "found"])
  })

  test("qid paths: unique by default; recycled once the file is gone under the reuse policy", () => {
    const paths = (policy: "unique" | "reuse"): number[] => {
      const out: number[] = []
      simulate(10, {
        t0: function* (w) {
          const [, root] = yield* mount(w)
          for (let i = 0; i < 2; i++) {
            const [q] = yield* must(root.mkdir(`n${i}`, 0o755, 0, 0))
            out.push(q!.path)
            yield* must1(root.unlinkAt(`n${i}`, AT_REMOVEDIR))
          }
        },
      }, { server: { qidPaths: policy } })
      return out
    }
    const unique = paths("unique")
    expect(unique[0]).not.toBe(unique[1])
    const reuse = paths("reuse")
    expect(reuse[0]).toBe(reuse[1])
  })

  test("version negotiation names the extension level; an older server gets pkg/p9's fallbacks", () => {
    const got: unknown[] = []
    for (const versionMax of [11, 2, 0]) {
      simulate(11, {
        t0: function* (w) {
          const [client, err] = yield* w.server.connect("c", { version: 12 })
          expect(err).toBeNull()
          got.push((client as P9Client).version)
          const [root] = yield* client!.attach("", 0, "root")
          const [qids, f, , attr] = yield* must(root!.walkGetAttr(["x"], "x"))
          got.push(qids.length, attr!.size)
          got.push((yield* f!.getXattr("user.a", 0))[1])
        },
      }, { server: { versionMax } })
    }
    expect(got).toEqual(["9P2000.L.Google.11", 1, 3, "ENODATA", "9P2000.L.Google.2", 1, 3, "EOPNOTSUPP", "9P2000.L", 1, 3, "EOPNOTSUPP"])
  })

  test("reads and writes are cut to what msize allows", () => {
    const got: number[] = []
    simulate(12, {
      t0: function* (w) {
        const [client] = yield* w.server.connect("c", { msize: 4096 })
        got.push(client!.msize)
        const [root] = yield* client!.attach("", 0, "root")
        const [, f] = yield* must(root!.walk(["x"], "x"))
        yield* must(f!.open(OPEN_READ_WRITE))
        const [n] = yield* must(f!.writeAt("z".repeat(10_000), 0))
        const [data] = yield* must(f!.readAt(10_000, 0))
        got.push(n, data.length)
      },
    })
    expect(got).toEqual([4096, 4096 - 24, 4096 - 24])
  })
})
