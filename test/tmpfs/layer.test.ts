// tmpfs as an overlay layer: tree literals with whiteouts and opaque
// directories into the model's state and back, and the API an overlay uses
// (newTmpfs on a disconnected mount, lookups through the VFS, whiteouts made
// with mknod of the 0:0 character device, opaque set as root).

import { describe, expect, test } from "vitest"
import { initialState, toTree, OVERLAY_OPAQUE_XATTR } from "../../src/model/index.js"
import { InputError } from "../../src/model/schema.js"
import type { Tree } from "../../src/model/types.js"
import { EventLog } from "../../src/sim/log.js"
import { Scheduler, type Sim } from "../../src/sim/scheduler.js"
import { RandomStrategy } from "../../src/sim/strategy.js"
import { newTmpfs, newTmpfsFilesystem, tmpfsLayerTree, type TmpfsFilesystem } from "../../src/impl/tmpfs/index.js"
import { checkTmpfs } from "../../src/impl/tmpfs/invariants.js"
import type { Ctx } from "../../src/impl/vfs/context.js"
import { Parse } from "../../src/impl/vfs/fspath.js"
import { DT_CHR, S_IFCHR, S_IFDIR, S_IFMT, XATTR_CREATE } from "../../src/impl/vfs/linux.js"
import { STATX_ATIME, STATX_GID, STATX_MODE, STATX_MTIME, STATX_SIZE, STATX_UID } from "../../src/impl/vfs/permissions.js"
import type { VirtualDentry } from "../../src/impl/vfs/mount.js"
import type { PathOperation } from "../../src/impl/vfs/resolving_path.js"
import { VirtualFilesystem } from "../../src/impl/vfs/vfs.js"

const LAYER: Tree = {
  a: { type: "file", data: "lower a" },
  w: { type: "whiteout" },
  d: { type: "dir", opaque: true, children: { x: { type: "whiteout" }, y: { type: "file", data: "y", xattrs: { "user.k": "v" } } } },
  e: { type: "dir", children: {} },
}

describe("layer trees in the model", () => {
  test("whiteouts and opaque directories round-trip through the state", () => {
    const s = initialState(LAYER, {}, { layer: true })
    expect(toTree(s, { layer: true }).tree).toEqual(LAYER)
    // Without `layer`, toTree still writes the 0:0 device as a whiteout, but no "opaque".
    const plain = toTree(s).tree as Record<string, { opaque?: boolean }>
    expect(plain["w"]).toEqual({ type: "whiteout" })
    expect(plain["d"]?.opaque).toBeUndefined()
  })

  test("outside a layer, whiteout and opaque nodes are still input errors", () => {
    expect(() => initialState({ w: { type: "whiteout" } })).toThrow(InputError)
    expect(() => initialState({ d: { type: "dir", opaque: true } })).toThrow(InputError)
    expect(() => initialState({ d: { type: "dir", opaque: false } })).toThrow(InputError)
  })
})

/** Runs `body` as one simulated thread; returns what it returned. */
function run<T>(body: (vfs: VirtualFilesystem, ctx: Ctx) => Sim<T>): T {
  const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(), budgetSteps: 100_000 })
  const vfs = new VirtualFilesystem(sched)
  // The namespace's root (VFS resolves nothing without one): an empty tmpfs.
  const ns = newTmpfsFilesystem(vfs, {})
  vfs.NewRootMount(ns.fs, ns.tmpfs.root.vfsd, { readOnly: false })
  const ctx: Ctx = { sched, creds: { uid: 0, gid: 0, groups: [] }, thread: "t" }
  let out: { v: T } | null = null
  sched.spawn("t", (function* (): Sim<void> {
    out = { v: yield* body(vfs, ctx) }
  })())
  const end = sched.run()
  expect(sched.found).toEqual([])
  expect(end.kind).toBe("done")
  return out!.v
}

function pop(root: VirtualDentry, path: string): PathOperation {
  return { Root: root, Start: root, Path: Parse(path), FollowFinalSymlink: false }
}

describe("tmpfs as an overlay layer", () => {
  test("lookups, whiteouts by mknod, opaque by setxattr, and the tree read back", () => {
    const got = run(function* (vfs, ctx) {
      const { root, tmpfs } = yield* newTmpfs(vfs, LAYER, { layer: true })
      const creds = ctx.creds
      const [wst, werr] = yield* vfs.StatAt(ctx, creds, pop(root, "w"), {})
      expect(werr).toBeNull()
      expect(wst!.mode & S_IFMT).toBe(S_IFCHR)
      expect(wst!.devMinor).toBe(tmpfs.devMinor)
      // A whiteout over "a", as gVisor's overlay makes one.
      expect(yield* vfs.UnlinkAt(ctx, creds, pop(root, "a"))).toBeNull()
      expect(yield* vfs.MknodAt(ctx, creds, pop(root, "a"), { Mode: S_IFCHR, DevMajor: 0, DevMinor: 0 })).toBeNull()
      expect(yield* vfs.MknodAt(ctx, creds, pop(root, "z"), { Mode: S_IFCHR, DevMajor: 1, DevMinor: 3 })).toBe("EPERM")
      // A whiteout cannot be opened (no driver for 0:0).
      const [, oerr] = yield* vfs.OpenAt(ctx, creds, pop(root, "a"), { Flags: 0, Mode: 0 })
      expect(oerr).toBe("ENXIO")
      // Opaque, as root.
      expect(yield* vfs.SetXattrAt(ctx, creds, pop(root, "e"), { Name: OVERLAY_OPAQUE_XATTR, Value: "y", Flags: XATTR_CREATE })).toBeNull()
      const [v, gerr] = yield* vfs.GetXattrAt(ctx, creds, pop(root, "d"), OVERLAY_OPAQUE_XATTR, 100)
      expect([v, gerr]).toEqual(["y", null])
      // Not for others (trusted.* needs CAP_SYS_ADMIN).
      const user = { uid: 1000, gid: 1000, groups: [] }
      const [, uerr] = yield* vfs.GetXattrAt({ ...ctx, creds: user }, user, pop(root, "d"), OVERLAY_OPAQUE_XATTR, 100)
      expect(uerr).toBe("ENODATA")
      // The directory's entries, with the whiteout's type.
      const [fd, ferr] = yield* vfs.OpenAt(ctx, creds, pop(root, "d"), { Flags: 0, Mode: 0 })
      expect(ferr).toBeNull()
      const [ents] = yield* fd!.IterDirents(ctx)
      expect(ents.map((e) => [e.Name, e.Type])).toEqual([[".", 4], ["..", 4], ["x", DT_CHR], ["y", 8]])
      const [dst] = yield* fd!.Stat(ctx, {})
      expect(dst!.mode & S_IFMT).toBe(S_IFDIR)
      yield* fd!.DecRef(ctx)
      const tree = tmpfsLayerTree(tmpfs).tree
      expect(checkTmpfs(tmpfs, { quiescent: true, unmounted: false })).toEqual([])
      yield* vfs.Umount(ctx, root.mount)
      expect(checkTmpfs(tmpfs, { quiescent: true, unmounted: true })).toEqual([])
      return { tree, tmpfs: tmpfs as TmpfsFilesystem }
    })
    expect(got.tree).toEqual({ ...LAYER, a: { type: "whiteout" }, e: { type: "dir", opaque: true, children: {} } })
  })

  test("a setattr of several attributes at once (an overlay's copy-up) sets them all, or none", () => {
    const got = run(function* (vfs, ctx) {
      const { root } = yield* newTmpfs(vfs, { f: { type: "file", data: "abc" } })
      const creds = ctx.creds
      const all = STATX_MODE | STATX_UID | STATX_GID | STATX_ATIME | STATX_MTIME | STATX_SIZE
      const e = yield* vfs.SetStatAt(ctx, creds, pop(root, "f"), { Stat: { mask: all, mode: 0o4750, uid: 1000, gid: 1001, size: 1, atime: 5, mtime: 7 } })
      const [st] = yield* vfs.StatAt(ctx, creds, pop(root, "f"), {})
      // A non-owner's request fails as a whole.
      const user = { uid: 1001, gid: 1001, groups: [] }
      const e2 = yield* vfs.SetStatAt({ ...ctx, creds: user }, user, pop(root, "f"), { Stat: { mask: STATX_SIZE | STATX_MODE, mode: 0o777, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 } })
      const [st2] = yield* vfs.StatAt(ctx, creds, pop(root, "f"), {})
      return { e, st: st!, e2, st2: st2! }
    })
    expect(got.e).toBeNull()
    expect([got.st.mode & 0o7777, got.st.uid, got.st.gid, got.st.size, got.st.atime, got.st.mtime]).toEqual([0o4750, 1000, 1001, 1, 5, 7])
    expect(got.e2).toBe("EACCES")
    expect([got.st2.mode & 0o7777, got.st2.size]).toEqual([0o4750, 1])
  })

  test("two tmpfs layers of one VFS have distinct device numbers", () => {
    const minors = run(function* (vfs) {
      const a = yield* newTmpfs(vfs, {})
      const b = yield* newTmpfs(vfs, {}, { layer: true })
      return [a.tmpfs.devMinor, b.tmpfs.devMinor]
    })
    expect(minors[0]).not.toBe(minors[1])
  })
})
