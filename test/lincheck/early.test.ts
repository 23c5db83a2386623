// Early permission checks (src/model/lincheck/early.ts): under a dialect
// whose permission checks come before the op's effect, under no lock a
// chmod or chown takes (gVisor's gofer), an op may act after a concurrent
// chmod or chown revoked the permission it had when it checked. The checker
// must accept exactly that: the permission held at some point of the op's
// own interval before its effect. Linux's model, a dialect without the
// property, and an op that began after the revocation returned still
// reject it.

import { describe, expect, it } from "vitest"
import { checkHistory, type History } from "../../src/model/lincheck/index.js"
import type { HistoryOp } from "../../src/model/lincheck/history.js"
import type { Cred, Op, OpResult, Stat, Tree } from "../../src/model/types.js"

const OK: OpResult = {}
const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const USER: Cred = { uid: 1000, gid: 1000, groups: [1000] }
const RULE = "perm.checked-before-effect"

function history(initial: Tree, dialect: History["dialect"], ops: readonly [string, Op, number, number, OpResult][], external: readonly string[] = []): History {
  const hops: HistoryOp[] = ops.map(([thread, op, invoke, ret, result]) => ({ thread, op, invoke, return: ret, result }))
  return {
    format: "fsim.history/1",
    initial,
    ...(dialect !== undefined ? { dialect } : {}),
    creds: { u: USER, r: ROOT },
    ops: hops,
    ...(external.length > 0 ? { external } : {}),
  } as History
}

const dir = (mode: number, nlink: number): Stat => ({ type: "dir", mode, uid: 0, gid: 0, size: 0, nlink, ino: 2, atime: 0, mtime: 0, ctime: 0 })
const file = (mode: number, size: number): Stat => ({ type: "file", mode, uid: 0, gid: 0, size, nlink: 1, ino: 2, atime: 0, mtime: 0, ctime: 0 })

describe("early permission checks", () => {
  // u's mkdir checks /a's write permission before root's chmod takes it away,
  // and creates /a/x after root's stat (nlink 2, the new mode): gofer seed
  // 600624's shape (doCreateAt checks before the RPC; setStat does not take
  // the parent's dirMu).
  const world = { a: { type: "dir", mode: 0o777 } } as const satisfies Tree
  const mkdirAfterChmod = (dialect: History["dialect"], external: readonly string[] = []): History =>
    history(world, dialect, [
      ["u", { op: "mkdir", path: "/a/x" }, 1, 100, OK],
      ["r", { op: "chmod", path: "/a", mode: 0o755 }, 2, 10, OK],
      ["r", { op: "stat", path: "/a" }, 11, 12, dir(0o755, 2)],
      ["r", { op: "stat", path: "/a" }, 101, 102, dir(0o755, 3)],
    ], external)

  it("accept an op acting after a chmod revoked the permission it had checked, and count the rule", () => {
    const out = checkHistory(mkdirAfterChmod("gvisor-gofer"))
    expect(out.linearizable).toBe(true)
    expect(out.witness).toEqual([1, 2, 0, 3])
    expect(out.departures).toEqual({ [RULE]: 1 })
  })

  it("are not Linux's, nor every dialect's, nor an external user's", () => {
    expect(checkHistory(mkdirAfterChmod("linux")).linearizable).toBe(false)
    // A dialect that does not declare early checks (its walks are not atomic either).
    expect(checkHistory(mkdirAfterChmod("gvisor-tmpfs")).linearizable).toBe(false)
    expect(checkHistory(mkdirAfterChmod("gvisor-gofer-shared", ["u"])).linearizable).toBe(false)
  })

  it("need the permission within the op's own interval: an op begun after the chmod returned is still refused", () => {
    const h = history(world, "gvisor-gofer", [
      ["r", { op: "chmod", path: "/a", mode: 0o755 }, 1, 2, OK],
      ["u", { op: "mkdir", path: "/a/x" }, 3, 100, OK],
    ])
    const out = checkHistory(h)
    expect(out.linearizable).toBe(false)
    expect(out.explanation).toMatch(/mkdir \/a\/x as uid 1000/)
  })

  it("accept a truncate checked before a chmod and done after a later O_TRUNC (seed 702411's shape: CheckSetStat before metadataMu)", () => {
    const h = (dialect: History["dialect"]): History =>
      history({ b: { type: "file", data: "", mode: 0o666 } }, dialect, [
        ["u", { op: "truncate", path: "/b", length: 3 }, 1, 100, OK],
        ["r", { op: "chmod", path: "/b", mode: 0o644 }, 2, 10, OK],
        ["r", { op: "open", path: "/b", flags: ["O_WRONLY", "O_TRUNC"], fd: "f" }, 11, 20, OK],
        ["r", { op: "close", fd: "f" }, 21, 22, OK],
        ["r", { op: "stat", path: "/b" }, 101, 102, file(0o644, 3)],
      ])
    expect(checkHistory(h("gvisor-gofer")).departures).toEqual({ [RULE]: 1 })
    expect(checkHistory(h("linux")).linearizable).toBe(false)
  })

  it("create as the server does after the check: a setgid parent's group as it is when the file is made (seed 302204's shape)", () => {
    // u owns the setgid directory /, root chowns it to 0:0; u's mkdir checked
    // its write permission as the owner, and the directory got the new group.
    const h = (gid: number): History => ({
      ...history({}, "gvisor-gofer", [
        ["u", { op: "mkdir", path: "/x" }, 1, 100, OK],
        ["r", { op: "chown", path: "/", uid: 0, gid: 0 }, 2, 10, OK],
        ["r", { op: "stat", path: "/x" }, 101, 102, { ...dir(0o2755, 2), uid: 1000, gid }],
      ]),
      root: { mode: 0o2775, uid: 1000, gid: 1001 },
    })
    expect(checkHistory(h(0)).departures).toEqual({ [RULE]: 1 })
    // The group of the directory before the chown needs the mkdir first: that is Linux's order too.
    expect(checkHistory(h(1001)).linearizable).toBe(true)
    expect(checkHistory(h(1000)).linearizable).toBe(false)
  })
})
