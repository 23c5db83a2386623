// initialState's checks on trees, toTree's format, and their round trip.

import fc from "fast-check"
import { describe, expect, test } from "vitest"
import { arbTree } from "../../src/model/arbitraries.js"
import { apply, describeOp, initialState, toTree } from "../../src/model/index.js"
import { InputError } from "../../src/model/schema.js"
import type { Op, Tree } from "../../src/model/types.js"

const R = { uid: 0, gid: 0, groups: [] }

describe("initialState rejects trees the model cannot build, in one line", () => {
  const bad: [string, Tree, RegExp][] = [
    ["a link to a missing node", { a: { link: "/nothing" } }, /tree: \/a: link to "\/nothing", which names no node/],
    ["a link to a directory", { d: { type: "dir" }, a: { link: "/d" } }, /tree: \/a: link to "\/d", a directory/],
    ["a whiteout", { w: { type: "whiteout" } }, /tree: \/w: whiteout nodes exist only in overlay layers/],
    ["an opaque directory", { d: { type: "dir", opaque: true } }, /tree: \/d: opaque directories exist only in overlay layers/],
    ["a name with a slash", { "a/b": { type: "file" } }, /tree: \/a\/b: bad name "a\/b"/],
    ["the name .", { ".": { type: "file" } }, /bad name "\."/],
    ["the name ..", { d: { type: "dir", children: { "..": { type: "file" } } } }, /tree: \/d\/\.\.: bad name "\.\."/],
    ["an empty name", { "": { type: "file" } }, /bad name ""/],
    ["a name over 255 bytes", { ["x".repeat(256)]: { type: "file" } }, /name is 256 bytes, longer than 255/],
    ["an empty symlink target", { l: { type: "symlink", target: "" } }, /tree: \/l: a symlink target must be non-empty/],
    ["xattrs on a symlink", { l: { type: "symlink", target: "a", xattrs: { "user.k": "v" } } }, /a symlink cannot carry user\. xattrs/],
    ["a non-user xattr", { f: { type: "file", xattrs: { "trusted.k": "v" } } }, /only user\.<name> xattrs/],
  ]
  for (const [what, tree, message] of bad) {
    test(what, () => {
      let thrown: unknown
      try {
        initialState(tree)
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(InputError)
      const m = (thrown as Error).message
      expect(m).toMatch(message)
      expect(m).not.toContain("\n")
    })
  }
})

describe("toTree", () => {
  test("writes the contract format: sorted names, defaults omitted, links to the first path", () => {
    const tree: Tree = {
      z: { type: "file", data: "zz", mode: 0o600, uid: 1000, xattrs: { "user.b": "2", "user.a": "1" } },
      a: { type: "dir", children: { y: { link: "/z" }, q: { type: "fifo" } }, gid: 7 },
      l: { type: "symlink", target: "../z" },
      s: { type: "socket", mode: 0o600 },
    }
    const { tree: out, root } = toTree(initialState(tree, { mode: 0o1777, uid: 5 }))
    expect(root).toEqual({ mode: 0o1777, uid: 5, gid: 0 })
    expect(Object.keys(out)).toEqual(["a", "l", "s", "z"])
    expect(out).toEqual({
      a: { type: "dir", children: { q: { type: "fifo" }, y: { type: "file", data: "zz", mode: 0o600, uid: 1000, xattrs: { "user.a": "1", "user.b": "2" } } }, gid: 7 },
      l: { type: "symlink", target: "../z" },
      s: { type: "socket", mode: 0o600 },
      z: { link: "/a/y" },
    })
  })

  test("round-trips: toTree(initialState(t)) builds the same state again", () => {
    fc.assert(
      fc.property(arbTree, (tree) => {
        const once = toTree(initialState(tree))
        const twice = toTree(initialState(once.tree, once.root))
        expect(twice).toEqual(once)
      }),
      { numRuns: 300 },
    )
  })

  test("names such as __proto__ are plain names", () => {
    const tree = JSON.parse('{"__proto__": {"type": "file", "data": "p"}, "constructor": {"type": "dir"}}') as Tree
    let s = initialState(tree)
    expect(apply(s, { op: "stat", path: "/__proto__" }, R, 1).result).toMatchObject({ type: "file", size: 1 })
    expect(apply(s, { op: "stat", path: "/toString" }, R, 1).result).toEqual({ errno: "ENOENT" })
    s = apply(s, { op: "open", path: "/constructor/x", flags: ["O_CREAT"], fd: "__proto__" }, R, 1).state
    expect(apply(s, { op: "fstat", fd: "__proto__" }, R, 1).result).toMatchObject({ type: "file" })
    expect(apply(s, { op: "fstat", fd: "toString" }, R, 1).result).toEqual({ errno: "EBADF" })
    expect(Object.keys(toTree(s).tree)).toEqual(["__proto__", "constructor"])
  })
})

test("describeOp says what an op does in plain words", () => {
  const cases: [Op, string][] = [
    [{ op: "write", fd: "f", data: "abc" }, "write of 3 bytes to f"],
    [{ op: "stat", path: "/a" }, "stat of /a"],
    [{ op: "rename", from: "/a", to: "/b", flags: ["RENAME_NOREPLACE"] }, "rename /a -> /b (RENAME_NOREPLACE)"],
    [{ op: "open", path: "/a", flags: ["O_WRONLY", "O_CREAT"], mode: 0o600, fd: "f" }, "open /a as f (O_WRONLY|O_CREAT, mode 0600)"],
    [{ op: "read", fd: "f", count: 1 }, "read of 1 byte from f"],
    [{ op: "utimens", path: "/a", atime: "UTIME_NOW" }, "utimens of /a (atime now, mtime unchanged)"],
    [{ op: "stat", path: "" }, 'stat of ""'],
  ]
  for (const [op, words] of cases) expect(describeOp(op)).toBe(words)
})
