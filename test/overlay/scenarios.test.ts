// Hand-written overlay scenarios: lookup through whiteouts and opaque
// directories, merged readdir, copy-up (what it writes on the upper layer,
// ancestors first, the lower layer untouched), whiteouts made by unlink and
// rmdir, rmdir of merged directories, rename (flags, directories, EXDEV
// across mounts), open descriptions following their file to the upper
// layer, inode numbers, mount options. Each runs as a scenario with every
// check on (lincheck against the model on the merged tree in the
// gvisor-overlay dialect, invariants, deadlock); the lock-order check
// reports only the recognized finding (FINDINGS.md).

import { describe, expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { GetFilesystem } from "../../src/impl/overlay/filesystem.js"
import { unknownViolations } from "../../src/impl/overlay/findings.js"
import { overlayMount, type OverlayMountState } from "../../src/impl/overlay/mount.js"
import { newTmpfs } from "../../src/impl/tmpfs/index.js"
import { Parse } from "../../src/impl/vfs/fspath.js"
import { VirtualFilesystem } from "../../src/impl/vfs/vfs.js"
import type { Cred, Op, OpResult, Tree } from "../../src/model/types.js"
import { EventLog } from "../../src/sim/log.js"
import type { MountContext } from "../../src/sim/mount.js"
import { runSubject, type RunReport } from "../../src/sim/run.js"
import { decodeScenario, type Layer } from "../../src/sim/scenario.js"
import { Scheduler, type Sim } from "../../src/sim/scheduler.js"
import { RandomStrategy } from "../../src/sim/strategy.js"
import { InputError } from "../../src/model/schema.js"

const ENV = defaultEnv()
const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

interface Ran {
  readonly report: RunReport
  readonly results: readonly OpResult[]
  /** The layers' trees after the run, top first. */
  readonly layers: readonly Tree[]
  readonly state: OverlayMountState
}

function run(mount: { upper?: Layer; lower: Layer[]; options?: string }, ops: readonly Op[], opts: { cred?: Cred; remote?: Tree } = {}): Ran {
  let captured: ReturnType<typeof overlayMount> | null = null
  let trees: Tree[] = []
  const factory = (ctx: MountContext) => {
    const m = overlayMount(ctx)
    captured = m
    // Read the layers' trees at the end of the run, before they are unmounted.
    const finish = m.finish.bind(m)
    return {
      ...m,
      *finish(record?: Parameters<typeof m.finish>[0]) {
        trees = m.state().layers.map((l) => l.tree().tree)
        return yield* finish(record)
      },
    }
  }
  const s = decodeScenario({
    format: "fsim.scenario/1",
    name: "overlay scenario",
    mount: { kind: "overlay", ...mount },
    ...(opts.remote !== undefined ? { remote: opts.remote } : {}),
    threads: [{ name: "t0", cred: opts.cred ?? ROOT, ops }],
  })
  const report = runSubject(s, { seed: 1, strategy: { kind: "random" }, mounts: { ...ENV.mounts, overlay: factory }, lockOrders: ENV.lockOrders })
  const results = report.ops.filter((o) => o.thread === "t0").map((o) => o.result!)
  return { report, results, layers: trees, state: (captured as unknown as ReturnType<typeof overlayMount>).state() }
}

/** The run passed every check but for the recognized lock-order finding. */
function clean(r: Ran): void {
  expect(unknownViolations(r.report.violations).map((v) => `${v.check}: ${v.message}`)).toEqual([])
  expect(["pass", "fail"]).toContain(r.report.verdict)
}

const tmpfs = (tree: Tree): Layer => ({ kind: "tmpfs", tree })
const names = (r: OpResult): string[] => ("entries" in r ? r.entries.map((e) => e.name) : [`(${"errno" in r ? r.errno : "?"})`])

describe("lookup", () => {
  test("a whiteout hides the lower layers' file; creating the name replaces the whiteout", () => {
    const r = run({ upper: tmpfs({ a: { type: "whiteout" } }), lower: [tmpfs({ a: { type: "file", data: "lower" }, b: { type: "file" } })] }, [
      { op: "stat", path: "/a" },
      { op: "open", path: "/", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
      { op: "getdents", fd: "d" },
      { op: "open", path: "/a", flags: ["O_WRONLY", "O_CREAT", "O_EXCL"], fd: "f" },
      { op: "write", fd: "f", data: "new" },
      { op: "getdents", fd: "d" },
    ])
    clean(r)
    expect(r.results[0]).toEqual({ errno: "ENOENT" })
    expect(names(r.results[2]!)).toEqual(["b"])
    expect(r.results[3]).toEqual({})
    expect(names(r.results[5]!)).toEqual(["a", "b"])
    // The upper layer has the new file where the whiteout was; the lower one is as it was.
    expect(r.layers[0]).toEqual({ a: { type: "file", data: "new" } })
    expect(r.layers[1]).toEqual({ a: { type: "file", data: "lower" }, b: { type: "file", data: "" } })
  })

  test("an opaque directory hides the lower layers' directory of the same name", () => {
    const r = run({ upper: tmpfs({ d: { type: "dir", opaque: true, children: { x: { type: "file" } } } }), lower: [tmpfs({ d: { type: "dir", children: { y: { type: "file" } } } })] }, [
      { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
      { op: "getdents", fd: "d" },
      { op: "stat", path: "/d/y" },
      { op: "listxattr", path: "/d" },
      { op: "getxattr", path: "/d", name: "trusted.overlay.opaque" },
    ])
    clean(r)
    expect(names(r.results[1]!)).toEqual(["x"])
    expect(r.results[2]).toEqual({ errno: "ENOENT" })
    expect(r.results[3]).toEqual({ names: [] })
    // The overlay's own xattrs are not the caller's (ovl_own_xattr_get).
    expect(r.results[4]).toEqual({ errno: "EOPNOTSUPP" })
  })

  test("readdir merges directories down the layers; a non-directory below stops the merge", () => {
    const r = run(
      {
        upper: tmpfs({ d: { type: "dir", children: { x: { type: "file", data: "up" } } }, e: { type: "dir", children: { u: { type: "file" } } } }),
        lower: [
          tmpfs({ d: { type: "dir", children: { y: { type: "file" }, w: { type: "whiteout" } } }, e: { type: "file" } }),
          tmpfs({ d: { type: "dir", children: { z: { type: "file" }, x: { type: "file", data: "shadowed" }, w: { type: "file" } } }, e: { type: "dir", children: { v: { type: "file" } } } }),
        ],
      },
      [
        { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
        { op: "getdents", fd: "d" },
        { op: "open", path: "/e", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "e" },
        { op: "getdents", fd: "e" },
        { op: "open", path: "/d/x", flags: ["O_RDONLY"], fd: "x" },
        { op: "read", fd: "x", count: 10 },
        { op: "stat", path: "/d/w" },
        { op: "stat", path: "/e/v" },
      ],
      {},
    )
    clean(r)
    expect(names(r.results[1]!)).toEqual(["x", "y", "z"])
    expect(names(r.results[3]!)).toEqual(["u"])
    expect(r.results[5]).toEqual({ data: "up" })
    expect(r.results[6]).toEqual({ errno: "ENOENT" })
    expect(r.results[7]).toEqual({ errno: "ENOENT" })
  })
})

describe("copy-up", () => {
  const lower = (): Layer =>
    tmpfs({ d: { type: "dir", mode: 0o750, uid: 1000, gid: 1000, children: { e: { type: "dir", uid: 1001, children: { f: { type: "file", data: "hello", uid: 1000, gid: 1001, xattrs: { "user.k": "v" } } } } } } })

  test("opening for writing copies the file up, ancestors first, with their metadata; the lower layer stays", () => {
    const r = run({ upper: tmpfs({}), lower: [lower()] }, [
      { op: "open", path: "/d/e/f", flags: ["O_RDONLY"], fd: "r" },
      { op: "open", path: "/d/e/f", flags: ["O_RDWR"], fd: "w" },
      { op: "pwrite", fd: "w", offset: 0, data: "J" },
      // The description opened before copy-up follows the file to the upper layer.
      { op: "pread", fd: "r", offset: 0, count: 10 },
    ])
    clean(r)
    expect(r.results[3]).toEqual({ data: "Jello" })
    expect(r.layers[0]).toEqual({
      d: { type: "dir", mode: 0o750, uid: 1000, gid: 1000, children: { e: { type: "dir", uid: 1001, children: { f: { type: "file", data: "Jello", uid: 1000, gid: 1001, xattrs: { "user.k": "v" } } } } } },
    })
    expect(r.layers[1]).toEqual({ d: { type: "dir", mode: 0o750, uid: 1000, gid: 1000, children: { e: { type: "dir", uid: 1001, children: { f: { type: "file", data: "hello", uid: 1000, gid: 1001, xattrs: { "user.k": "v" } } } } } } })
  })

  test("chmod and truncate copy up; the new attributes are the upper file's", () => {
    const r = run({ upper: tmpfs({}), lower: [lower()] }, [
      { op: "chmod", path: "/d/e/f", mode: 0o600 },
      { op: "truncate", path: "/d/e/f", length: 2 },
      { op: "stat", path: "/d/e/f" },
    ])
    clean(r)
    expect(r.results[2]).toMatchObject({ type: "file", mode: 0o600, size: 2, uid: 1000, gid: 1001 })
    expect((r.layers[0]!["d"] as { children: Tree }).children["e"]).toMatchObject({ children: { f: { type: "file", data: "he", mode: 0o600 } } })
    expect(r.layers[1]).toEqual({ d: { type: "dir", mode: 0o750, uid: 1000, gid: 1000, children: { e: { type: "dir", uid: 1001, children: { f: { type: "file", data: "hello", uid: 1000, gid: 1001, xattrs: { "user.k": "v" } } } } } } })
  })

  test("without an upper layer nothing can be copied up: EROFS after the overlay's own checks", () => {
    const r = run({ lower: [lower(), tmpfs({ a: { type: "file" } })] }, [
      { op: "open", path: "/d/e/f", flags: ["O_WRONLY"], fd: "w" },
      { op: "chmod", path: "/a", mode: 0o600 },
      { op: "mkdir", path: "/n" },
      { op: "chmod", path: "/a", mode: 0o600 },
    ])
    clean(r)
    expect(r.results.slice(0, 3)).toEqual([{ errno: "EROFS" }, { errno: "EROFS" }, { errno: "EROFS" }])
  })
})

describe("removal", () => {
  test("unlink of a lower file leaves a whiteout on the upper layer", () => {
    const r = run({ upper: tmpfs({}), lower: [tmpfs({ d: { type: "dir", children: { a: { type: "file" }, b: { type: "file" } } } })] }, [
      { op: "unlink", path: "/d/a" },
      { op: "stat", path: "/d/a" },
      { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
      { op: "getdents", fd: "d" },
    ])
    clean(r)
    expect(r.results[0]).toEqual({})
    expect(r.results[1]).toEqual({ errno: "ENOENT" })
    expect(names(r.results[3]!)).toEqual(["b"])
    expect(r.layers[0]).toEqual({ d: { type: "dir", children: { a: { type: "whiteout" } } } })
    expect(r.layers[1]).toEqual({ d: { type: "dir", children: { a: { type: "file", data: "" }, b: { type: "file", data: "" } } } })
  })

  test("rmdir of a merged directory: ENOTEMPTY while any layer has a file there, done once every one is whited out", () => {
    const r = run({ upper: tmpfs({ d: { type: "dir", children: { u: { type: "file" } } } }), lower: [tmpfs({ d: { type: "dir", children: { l: { type: "file" } } } })] }, [
      { op: "rmdir", path: "/d" },
      { op: "unlink", path: "/d/u" },
      { op: "rmdir", path: "/d" },
      { op: "unlink", path: "/d/l" },
      { op: "rmdir", path: "/d" },
      { op: "stat", path: "/d" },
      { op: "mkdir", path: "/d" },
      { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
      { op: "getdents", fd: "d" },
    ])
    clean(r)
    expect(r.results.slice(0, 6)).toEqual([{ errno: "ENOTEMPTY" }, {}, { errno: "ENOTEMPTY" }, {}, {}, { errno: "ENOENT" }])
    // A directory made over the whiteout is opaque: the lower one stays hidden.
    expect(names(r.results[8]!)).toEqual([])
    expect(r.layers[0]).toEqual({ d: { type: "dir", opaque: true, children: {} } })
  })
})

describe("rename", () => {
  test("flags are EINVAL (RenameAt: opts.Flags != 0)", () => {
    const r = run({ upper: tmpfs({ a: { type: "file" } }), lower: [tmpfs({ b: { type: "file" } })] }, [
      { op: "rename", from: "/a", to: "/b", flags: ["RENAME_NOREPLACE"] },
      { op: "rename", from: "/a", to: "/b", flags: ["RENAME_EXCHANGE"] },
    ])
    clean(r)
    expect(r.results).toEqual([{ errno: "EINVAL" }, { errno: "EINVAL" }])
  })

  test("a lower directory is copied up with its descendants, made opaque at its new name, and whited out at its old one", () => {
    const r = run({ upper: tmpfs({}), lower: [tmpfs({ d: { type: "dir", children: { x: { type: "file", data: "x" }, s: { type: "dir", children: { y: { type: "file" } } } } }, n: { type: "dir", children: { old: { type: "file" } } } })] }, [
      { op: "rename", from: "/d", to: "/n" },
      { op: "stat", path: "/n/old" },
      { op: "open", path: "/n/s/y", flags: ["O_RDONLY"], fd: "y" },
    ])
    // Renaming over a non-empty directory.
    expect(r.results[0]).toEqual({ errno: "ENOTEMPTY" })
    const r2 = run({ upper: tmpfs({}), lower: [tmpfs({ d: { type: "dir", children: { x: { type: "file", data: "x" }, s: { type: "dir", children: { y: { type: "file" } } } } }, n: { type: "dir" } })] }, [
      { op: "rename", from: "/d", to: "/n" },
      { op: "open", path: "/n", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "n" },
      { op: "getdents", fd: "n" },
      { op: "stat", path: "/d" },
    ])
    clean(r)
    clean(r2)
    expect(r2.results[0]).toEqual({})
    expect(names(r2.results[2]!)).toEqual(["s", "x"])
    expect(r2.results[3]).toEqual({ errno: "ENOENT" })
    expect(r2.layers[0]).toEqual({
      d: { type: "whiteout" },
      n: { type: "dir", opaque: true, children: { s: { type: "dir", children: { y: { type: "file", data: "" } } }, x: { type: "file", data: "x" } } },
    })
  })

  test("EXDEV from another mount: RenameAt and LinkAt refuse an old file on another mount", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog(), budgetSteps: 1_000_000 })
    const scenario = decodeScenario({ format: "fsim.scenario/1", name: "exdev", mount: { kind: "overlay", upper: tmpfs({ m: { type: "dir" } }), lower: [tmpfs({ a: { type: "file" } })] }, threads: [] })
    const mount = overlayMount({ sched, seed: 1, scenario })
    const out: (string | null)[] = []
    sched.spawn("t0", (function* (): Sim<void> {
      expect(yield* mount.setup!()).toBe(null)
      const fs = mount.state().fs!
      const vfs = fs.vfs
      const root = vfs.root!
      const ctx = { sched, creds: ROOT, thread: "t0" }
      // A second filesystem mounted at /m of the overlay.
      const [m, merr] = yield* vfs.GetDentryAt(ctx, ROOT, { Root: root, Start: root, Path: Parse("/m"), FollowFinalSymlink: true }, {})
      expect(merr).toBe(null)
      const other = yield* newTmpfs(vfs, { o: { type: "file" } })
      yield* vfs.MountAt(m!, other.fs, other.root.dentry, { readOnly: false })
      const pop = (p: string) => ({ Root: root, Start: root, Path: Parse(p), FollowFinalSymlink: false })
      out.push(yield* vfs.RenameAt(ctx, ROOT, pop("/m/o"), pop("/x"), { Flags: 0, MustBeDir: false }))
      out.push(yield* vfs.LinkAt(ctx, ROOT, pop("/m/o"), pop("/y")))
      out.push(yield* vfs.RenameAt(ctx, ROOT, pop("/a"), pop("/m/z"), { Flags: 0, MustBeDir: false }))
    })())
    const end = sched.run()
    expect(end.kind).toBe("done")
    // The overlay refuses the first two (its RenameAt and LinkAt); the
    // third is the other filesystem's RenameAt refusing the overlay's parent.
    expect(out).toEqual(["EXDEV", "EXDEV", "EXDEV"])
  })
})

describe("inode and device numbers", () => {
  test("directories get overlay numbers per dentry (newDirIno); files keep their layer's, and change at copy-up", () => {
    const r = run({ upper: tmpfs({}), lower: [tmpfs({ d: { type: "dir" }, f: { type: "file" } })] }, [
      { op: "stat", path: "/" },
      { op: "stat", path: "/" },
      { op: "stat", path: "/d" },
      { op: "stat", path: "/d" },
      { op: "open", path: "/d", flags: ["O_RDONLY", "O_DIRECTORY"], fd: "d" },
      { op: "stat", path: "/d" },
      { op: "stat", path: "/d" },
      { op: "stat", path: "/f" },
      { op: "chmod", path: "/f", mode: 0o600 },
      { op: "stat", path: "/f" },
    ])
    clean(r)
    const ino = (i: number): number => (r.results[i] as { ino: number }).ino
    expect(ino(0)).toBe(ino(1))
    // No dentry survives between the two: two numbers.
    expect(ino(2)).not.toBe(ino(3))
    // The open directory keeps its dentry, and its number.
    expect(ino(5)).toBe(ino(6))
    expect(ino(7)).not.toBe(ino(9))
    const fs = r.state.fs!
    // The root is a directory: the overlay's directory device.
    expect(fs.dirDevMinor).toBeGreaterThan(0)
    expect([...fs.lowerDevMinors.values()]).toHaveLength(1)
    expect(Math.floor(ino(0) / 2 ** 32)).toBe(fs.dirDevMinor)
    expect(Math.floor(ino(7) / 2 ** 32)).toBe([...fs.lowerDevMinors.values()][0])
  })
})

describe("mount", () => {
  const scenario = (options: string) => ({ format: "fsim.scenario/1", name: "opts", mount: { kind: "overlay", upper: tmpfs({}), lower: [tmpfs({})], options }, threads: [] })

  test("unknown options are EINVAL, naming the option (GetFilesystem: unused options)", () => {
    for (const [options, named] of [
      ["bogus", "bogus"],
      ["lowerdir=/a:/b", "lowerdir=/a:/b"],
      ["mutant=nope", "nope"],
    ] as const) {
      const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
      expect(() => overlayMount({ sched, seed: 1, scenario: decodeScenario(scenario(options)) })).toThrow(InputError)
      expect(() => overlayMount({ sched, seed: 1, scenario: decodeScenario(scenario(options)) })).toThrow(/EINVAL.*/)
      try {
        overlayMount({ sched, seed: 1, scenario: decodeScenario(scenario(options)) })
      } catch (e) {
        expect((e as Error).message).toContain(named)
      }
    }
  })

  test("GetFilesystem: no lower layer, or one lower layer and no upper, is EINVAL", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    const out: (string | null)[] = []
    sched.spawn("t0", (function* (): Sim<void> {
      const vfs = new VirtualFilesystem(sched)
      const l = yield* newTmpfs(vfs, {}, { layer: true, readOnly: true })
      const ctx = { sched, creds: ROOT, thread: "t0" }
      out.push((yield* GetFilesystem(ctx, vfs, ROOT, { UpperRoot: null, LowerRoots: [] }, { mutant: null }))[2])
      out.push((yield* GetFilesystem(ctx, vfs, ROOT, { UpperRoot: null, LowerRoots: [l.root] }, { mutant: null }))[2])
    })())
    sched.run()
    expect(out).toEqual(["EINVAL", "EINVAL"])
  })

  test("the model starts from the merged tree of the layers", () => {
    const sched = new Scheduler({ strategy: new RandomStrategy(1), log: new EventLog() })
    const m = overlayMount({
      sched,
      seed: 1,
      scenario: decodeScenario({
        format: "fsim.scenario/1",
        name: "merged",
        mount: { kind: "overlay", upper: tmpfs({ a: { type: "whiteout" }, d: { type: "dir", children: { x: { type: "file" } } } }), lower: [tmpfs({ a: { type: "file" }, b: { type: "file" }, d: { type: "dir", children: { y: { type: "file" } } } })] },
        threads: [],
      }),
    })
    expect(m.initialTree!().tree).toEqual({ b: { type: "file" }, d: { type: "dir", children: { x: { type: "file" }, y: { type: "file" } } } })
  })
})
