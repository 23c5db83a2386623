// The merged tree of overlay layers and the linux-overlayfs dialect's rules
// on small hand-made stacks (no root needed: overlay-diff.test.ts measures
// them against a real overlayfs).

import { describe, expect, test } from "vitest"
import { apply, dialectStep, initialState, mergeLayers, overlayfsDialect, withoutStrayWhiteouts, type OverlayLayers } from "../../src/model/index.js"
import type { Cred, Op, OpResult, Tree } from "../../src/model/types.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

function step(layers: OverlayLayers, ops: readonly Op[]): { result: OpResult; rule: string | null; alternatives: readonly OpResult[] }[] {
  const d = overlayfsDialect(layers)
  let s = initialState(mergeLayers(layers), {}, { readOnly: layers.upper === null })
  return ops.map((op) => {
    const out = apply(s, op, ROOT, 0)
    const r = dialectStep(d, s, op, ROOT, { state: out.state, result: out.result })
    s = r.state
    return { result: r.result, rule: r.rule, alternatives: r.alternatives }
  })
}

describe("mergeLayers", () => {
  test("the topmost entry wins; whiteouts hide; directories merge until opaque or a non-directory", () => {
    const upper: Tree = { a: { type: "whiteout" }, d: { type: "dir", mode: 0o700, children: { y: { type: "file", data: "up" } } }, f: { type: "file", data: "upper" } }
    const l0: Tree = { a: { type: "file", data: "hidden" }, d: { type: "dir", children: { x: { type: "file", data: "l0" }, w: { type: "whiteout" } } }, f: { type: "dir" }, o: { type: "dir", opaque: true, children: { p: { type: "file" } } } }
    const l1: Tree = { d: { type: "dir", children: { w: { type: "file" }, z: { type: "file" } } }, o: { type: "dir", children: { q: { type: "file" } } }, n: { type: "file" } }
    expect(mergeLayers({ upper, lower: [l0, l1] })).toEqual({
      d: { type: "dir", mode: 0o700, children: { x: { type: "file", data: "l0" }, y: { type: "file", data: "up" }, z: { type: "file" } } },
      f: { type: "file", data: "upper" },
      n: { type: "file" },
      o: { type: "dir", children: { p: { type: "file" } } },
    })
  })

  test("a directory stops merging at a non-directory below it", () => {
    expect(mergeLayers({ upper: { d: { type: "dir", children: { x: { type: "file" } } } }, lower: [{ d: { type: "file" } }, { d: { type: "dir", children: { y: { type: "file" } } } }] })).toEqual({
      d: { type: "dir", children: { x: { type: "file" } } },
    })
  })

  test("hard links of a layer stay links in the merged tree, carried in full by the first name shown", () => {
    expect(mergeLayers({ upper: { a: { type: "whiteout" } }, lower: [{ a: { type: "file", data: "x" }, b: { link: "/a" } }] })).toEqual({ b: { type: "file", data: "x" } })
    const merged = mergeLayers({ upper: { a: { type: "file", data: "x" }, c: { link: "/a" } }, lower: [{}] })
    expect(merged).toEqual({ a: { type: "file", data: "x" }, c: { link: "/a" } })
  })

  test("stray whiteouts (in directories that merge with nothing) are dropped", () => {
    const layers = withoutStrayWhiteouts({ upper: { u: { type: "dir", children: { w: { type: "whiteout" } } }, v: { type: "whiteout" } }, lower: [{ d: { type: "dir", children: { w: { type: "whiteout" } } } }] })
    expect(layers).toEqual({ upper: { u: { type: "dir", children: {} }, v: { type: "whiteout" } }, lower: [{ d: { type: "dir", children: {} } }] })
  })
})

describe("linux-overlayfs", () => {
  const layers: OverlayLayers = {
    upper: { m: { type: "dir", children: {} }, u: { type: "dir", children: { k: { type: "dir" } } } },
    lower: [{ l: { type: "dir", children: { x: { type: "file" } } }, m: { type: "dir", children: { y: { type: "file" } } }, f: { type: "file" } }],
  }

  test("origins of the initial inodes", () => {
    const d = overlayfsDialect(layers)
    // Inodes in sorted order of the merged tree: / f l l/x m m/y u u/k.
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((i) => d.origin(i))).toEqual(["merged", "lower", "lower", "lower", "merged", "lower", "upper", "upper"])
    expect(d.origin(9)).toBeUndefined()
  })

  test("a directory with a lower part cannot be renamed (EXDEV) after every VFS check; others can", () => {
    const r = step(layers, [
      { op: "rename", from: "/l", to: "/l2" },
      { op: "rename", from: "/m", to: "/m2" },
      { op: "rename", from: "/l", to: "/l" },
      { op: "rename", from: "/l", to: "/nothere/x" },
      { op: "rename", from: "/u", to: "/u2" },
      { op: "rename", from: "/f", to: "/f2" },
      { op: "rename", from: "/u2", to: "/l", flags: ["RENAME_EXCHANGE"] },
      { op: "rename", from: "/u2", to: "/l" },
      { op: "mkdir", path: "/l/n" },
      { op: "rename", from: "/l/n", to: "/l" },
    ])
    expect(r.map((x) => ("errno" in x.result ? x.result.errno : "ok"))).toEqual(["EXDEV", "EXDEV", "ok", "ENOENT", "ok", "ok", "EXDEV", "ENOTEMPTY", "ok", "ENOTEMPTY"])
    expect(r[0]!.rule).toBe("overlayfs.rename.lower-dir-exdev")
    expect(r[7]!.rule).toBeNull()
  })

  test("merged directories show one link; a lower one either its own count or one", () => {
    const r = step(layers, [{ op: "stat", path: "/" }, { op: "stat", path: "/m" }, { op: "stat", path: "/l" }, { op: "stat", path: "/u" }])
    const nlinks = r.map((x) => [x.result, ...x.alternatives].map((s) => ("nlink" in s ? s.nlink : -1)))
    expect(nlinks).toEqual([[1], [1], [2, 1], [3]])
  })
})
