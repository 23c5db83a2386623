// fast-check arbitraries of trees, credentials, ops and sequential
// scenarios over a small namespace (names a, b, c; depth <= 3), built to hit
// the corners of Linux's path and permission rules often: ".", "..",
// trailing slashes, symlinks (loops, dangling, absolute), long names,
// setuid/setgid/sticky modes, several owners. Everything shrinks toward
// fewer, simpler ops and smaller trees. Reused by the differential test
// against Linux and by property suites.

import fc from "fast-check"
import {
  type AccessBit,
  type Cred,
  type Op,
  type OpenFlag,
  type RenameFlag,
  type RootAttrs,
  type TimeSpec,
  type Tree,
  type TreeNode,
  type XattrFlag,
} from "./types.js"

export const NAMES = ["a", "b", "c"] as const
export const FD_NAMES = ["f", "g", "h"] as const
/** One byte over NAME_MAX, and exactly NAME_MAX. */
export const LONG_NAME = "n".repeat(256)
export const MAX_NAME = "m".repeat(255)

export const ROOT_CRED: Cred = { uid: 0, gid: 0, groups: [] }
/** Root, two ordinary users sharing group 1000, and a user whose primary group is another's. */
export const CREDS: readonly Cred[] = [
  ROOT_CRED,
  { uid: 1000, gid: 1000, groups: [1000] },
  { uid: 1001, gid: 1001, groups: [1001, 1000] },
  { uid: 1000, gid: 1001, groups: [] },
]

export const arbCred: fc.Arbitrary<Cred> = fc.oneof({ weight: 1, arbitrary: fc.constant(ROOT_CRED) }, { weight: 1, arbitrary: fc.constantFrom(...CREDS.slice(1)) })

const ids = fc.constantFrom(0, 1000, 1001)

/** Modes that matter (with setuid/setgid/sticky), and any mode. */
export const arbMode: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0o755, 0o644, 0o777, 0o700, 0o600, 0o000, 0o555, 0o311, 0o1777, 0o2775, 0o2755, 0o4755, 0o6755, 0o3777, 0o2745, 0o4644, 0o1755) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0o7777 }) },
)

export const arbName: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.constantFrom(LONG_NAME, MAX_NAME) },
)

const arbComponent: fc.Arbitrary<string> = fc.oneof({ weight: 8, arbitrary: arbName }, { weight: 1, arbitrary: fc.constantFrom(".", "..") })

/** A boolean that is true with probability `p` (and shrinks to false). */
function bit(p: number): fc.Arbitrary<boolean> {
  const w = Math.round(p * 20)
  return fc.oneof({ weight: 20 - w, arbitrary: fc.constant(false) }, { weight: w, arbitrary: fc.constant(true) })
}

/** Paths of 1-3 components (mostly short), absolute or relative, sometimes with a trailing or doubled slash. */
export const arbPath: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constant(3) }).chain((n) => fc.array(arbComponent, { minLength: n, maxLength: n })),
    fc.boolean(),
    fc.nat(9),
  )
  .map(([comps, absolute, shape]) => {
    const p = (absolute ? "/" : "") + comps.join("/")
    if (shape === 0) return p + "/"
    if (shape === 1 && comps.length > 1) return p.replace("/", "//")
    return p
  })
  .chain((p) => fc.oneof({ weight: 30, arbitrary: fc.constant(p) }, { weight: 1, arbitrary: fc.constantFrom("/", "", ".", "..", "/" + "x/".repeat(2048)) }))

/**
 * Paths of a profile's renames and pair blocks: half the time names of the
 * namespace ("b", "a/c", "c/a/b"), which exist in a dense tree or were just
 * made, so renames succeed (within a directory, into another one, over an
 * existing name) as often as arbPath's corners refuse them; arbPath's
 * shapes otherwise. Most arbPath renames fail before reaching the
 * filesystem's rename (".", "..", a trailing slash under a file, a loop).
 */
const arbNearPath: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc
      .oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.constant(2) }, { weight: 1, arbitrary: fc.constant(3) })
      .chain((n) => fc.array(fc.constantFrom(...NAMES), { minLength: n, maxLength: n }))
      .map((c) => c.join("/")),
  },
  { weight: 1, arbitrary: arbPath },
)

const arbData: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("", "x", "hello", "ab\u0000c", "\u00ff\u0080z") },
  { weight: 2, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 12 }) },
)

const arbSymlinkTarget: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: arbPath },
  { weight: 2, arbitrary: fc.constantFrom("a", "b", "c", "../a", "/a/b", "a/", "missing", "c/c/c") },
)

const arbAttrs = fc.record({ mode: fc.option(arbMode, { nil: undefined }), uid: fc.option(ids, { nil: undefined }), gid: fc.option(ids, { nil: undefined }) })

function withAttrs<T extends object>(node: T, attrs: { mode: number | undefined; uid: number | undefined; gid: number | undefined }): T {
  const out = { ...node } as unknown as Record<string, unknown>
  if (attrs.mode !== undefined) out["mode"] = attrs.mode
  if (attrs.uid !== undefined) out["uid"] = attrs.uid
  if (attrs.gid !== undefined) out["gid"] = attrs.gid
  return out as T
}

const arbXattrs = fc.option(fc.dictionary(fc.constantFrom("user.k", "user.x"), arbData, { maxKeys: 2, minKeys: 1 }), { nil: undefined, freq: 4 })

function arbNode(depth: number, sparse: boolean): fc.Arbitrary<TreeNode> {
  const leaves: fc.Arbitrary<TreeNode>[] = [
    fc.tuple(arbData, arbAttrs, arbXattrs).map(([data, a, x]) => withAttrs({ type: "file" as const, data, ...(x === undefined ? {} : { xattrs: x }) }, a)),
    arbSymlinkTarget.filter((t) => t !== "" && t.length < 4096).map((target) => ({ type: "symlink" as const, target })),
    arbAttrs.map((a) => withAttrs({ type: "fifo" as const }, a)),
  ]
  const dir =
    depth <= 1
      ? fc.constant<TreeNode>({ type: "dir", children: {} })
      : fc.tuple(arbTreeAt(depth - 1, sparse), arbAttrs).map(([children, a]) => withAttrs({ type: "dir" as const, children }, a) as TreeNode)
  return fc.oneof({ weight: 4, arbitrary: leaves[0] as fc.Arbitrary<TreeNode> }, { weight: 3, arbitrary: dir }, { weight: 2, arbitrary: leaves[1] as fc.Arbitrary<TreeNode> }, { weight: 1, arbitrary: leaves[2] as fc.Arbitrary<TreeNode> })
}

function arbTreeAt(depth: number, sparse: boolean): fc.Arbitrary<Tree> {
  // An absent slot is a name free for creating; a dense tree exercises lookups, a sparse one creation.
  const slot = fc.option(arbNode(depth, sparse), { nil: undefined, freq: sparse ? 2 : depth >= 3 ? 5 : 3 })
  return fc.tuple(slot, slot, slot).map((nodes) => {
    const t: Record<string, TreeNode> = {}
    nodes.forEach((n, i) => {
      if (n !== undefined) t[NAMES[i] as string] = n
    })
    return t
  })
}

/** Trees of depth <= 3 over names a, b, c, dense or sparse; "/c" may be a hard link to "/a" when that is a file. */
export const arbTree: fc.Arbitrary<Tree> = fc
  .boolean()
  .chain((sparse) => fc.tuple(arbTreeAt(3, sparse), fc.boolean()))
  .map(([t, linkC]) => {
    const a = t["a"]
    if (!linkC || a === undefined || !("type" in a) || a.type !== "file") return t
    return { ...t, c: { link: "/a" } }
  })

export const arbRoot: fc.Arbitrary<RootAttrs> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.record({ mode: fc.constantFrom(0o755, 0o777, 0o1777, 0o2775, 0o711, 0o700), uid: ids, gid: ids }) },
)

const arbFd = fc.constantFrom(...FD_NAMES)
const arbCount = fc.oneof({ weight: 5, arbitrary: fc.nat(8) }, { weight: 1, arbitrary: fc.constantFrom(0, 100, 4096) })
const arbOffset = fc.oneof({ weight: 6, arbitrary: fc.nat(12) }, { weight: 1, arbitrary: fc.constantFrom(-1, 4096, 70000) })

const ACCESS_MODES: readonly OpenFlag[][] = [[], ["O_RDONLY"], ["O_WRONLY"], ["O_RDWR"], ["O_WRONLY", "O_RDWR"]]
/** Each flag with the probability it appears in an open. */
const FLAG_ODDS: readonly (readonly [OpenFlag, number])[] = [
  ["O_CREAT", 0.5],
  ["O_TRUNC", 0.2],
  ["O_APPEND", 0.2],
  ["O_EXCL", 0.1],
  ["O_DIRECTORY", 0.1],
  ["O_NOFOLLOW", 0.1],
  ["O_PATH", 0.05],
  ["O_NONBLOCK", 0.3],
  ["O_DIRECT", 0.05],
  ["O_DSYNC", 0.05],
  ["O_SYNC", 0.05],
]

/**
 * A swarm run's op profile (Groce et al., "Swarm Testing", ISSTA 2012): which
 * groups of ops it generates, each off (0), on (1) or emphasized (a weight
 * multiplier above 1), the odds of the open flags whose paths are rare, and
 * whether symlink targets are drawn to form chains. Leaving features out
 * makes the rest collide more; emphasizing one makes its rare paths common.
 * No profile: the fixed mix below, the same generation as before profiles.
 */
export interface OpProfile {
  readonly groups: Readonly<Record<OpGroup, number>>
  /** Odds of these flags in an open (default FLAG_ODDS'), and in an open block's and an I/O block's file opens. */
  readonly flags: Readonly<Partial<Record<ProfileFlag, number>>>
  /** Symlink targets drawn from names nearby, climbing with ".." and absolute, so walks meet chains of 2-4 links. */
  readonly symlinkChains: boolean
  /**
   * Who runs the ops: root and ordinary users alike (the fixed mix), root
   * only, or ordinary users only (permission checks, sticky directories,
   * setid clearing: the paths root bypasses). Default "mixed".
   */
  readonly creds?: "mixed" | "root" | "users"
}

/** The open flags whose odds a profile may raise. */
export type ProfileFlag = "O_DIRECT" | "O_APPEND" | "O_TRUNC" | "O_SYNC" | "O_DSYNC"

/** Ops that a profile switches as one (open, close, read, write, lseek, fstat and stat are always on). */
export const OP_GROUPS = ["truncate", "sync", "dirs", "rename", "links", "symlinks", "special", "attrs", "xattrs", "statfs"] as const
export type OpGroup = (typeof OP_GROUPS)[number]

function flagOdds(p: OpProfile | undefined): readonly (readonly [OpenFlag, number])[] {
  if (p === undefined) return FLAG_ODDS
  return FLAG_ODDS.map(([f, odds]) => [f, (p.flags as Partial<Record<string, number>>)[f] ?? odds] as const)
}

function openFlagsOf(p: OpProfile | undefined): fc.Arbitrary<OpenFlag[]> {
  const odds = flagOdds(p)
  return fc
    .tuple(
      fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ACCESS_MODES.slice(0, 4)) }, { weight: 1, arbitrary: fc.constant(ACCESS_MODES[4] as OpenFlag[]) }),
      fc.tuple(...odds.map(([, q]) => bit(q))),
    )
    .map(([acc, on]) => [...acc, ...odds.filter((_, i) => on[i]).map(([f]) => f)])
}

export const arbOpenFlags: fc.Arbitrary<OpenFlag[]> = openFlagsOf(undefined)

/** Targets that make chains among the namespace's names: relative, climbing with "..", absolute, through a directory. */
const CHAIN_TARGETS = ["a", "b", "c", "./b", "../a", "../b/c", "/a", "/b", "/c/a", "b/..", "/a/../c", "c/b"] as const

function symlinkTargetOf(p: OpProfile | undefined): fc.Arbitrary<string> {
  if (p === undefined || !p.symlinkChains) return arbSymlinkTarget
  return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CHAIN_TARGETS) }, { weight: 1, arbitrary: arbSymlinkTarget })
}

const arbTime: fc.Arbitrary<TimeSpec | undefined> = fc.oneof(fc.constant(undefined), fc.constant("UTIME_NOW" as const), fc.constantFrom(0, 86_400_123_456_789))

const arbXattrName = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("user.k", "user.x") },
  { weight: 1, arbitrary: fc.constantFrom("user.", "", "trusted.t", "security.s", "system.x", "other.o", "user." + "q".repeat(251)) },
)

type OpEntry = { readonly weight: number; readonly group: OpGroup | null; readonly arbitrary: fc.Arbitrary<Op> }

/** The op mix, each entry with its group (null: always on). Its order and weights without a profile are the fixed mix's. */
function opEntries(p: OpProfile | undefined): OpEntry[] {
  const flags = openFlagsOf(p)
  const target = symlinkTargetOf(p)
  const renamePath = p === undefined ? arbPath : arbNearPath
  const entries: OpEntry[] = [
    { weight: 12, group: null, arbitrary: fc.record({ op: fc.constant("open" as const), path: arbPath, flags, fd: arbFd }).chain((o) => fc.option(arbMode, { nil: undefined, freq: 2 }).map((mode) => (mode === undefined ? o : { ...o, mode }))) },
    { weight: 1, group: null, arbitrary: fc.record({ op: fc.constant("close" as const), fd: arbFd }) },
    { weight: 3, group: null, arbitrary: fc.record({ op: fc.constant("read" as const), fd: arbFd, count: arbCount }) },
    { weight: 3, group: null, arbitrary: fc.record({ op: fc.constant("write" as const), fd: arbFd, data: arbData }) },
    { weight: 1, group: null, arbitrary: fc.record({ op: fc.constant("pread" as const), fd: arbFd, offset: arbOffset, count: arbCount }) },
    { weight: 1, group: null, arbitrary: fc.record({ op: fc.constant("pwrite" as const), fd: arbFd, offset: arbOffset, data: arbData }) },
    { weight: 1, group: null, arbitrary: fc.record({ op: fc.constant("lseek" as const), fd: arbFd, offset: fc.integer({ min: -3, max: 12 }), whence: fc.constantFrom("SEEK_SET" as const, "SEEK_CUR" as const, "SEEK_END" as const) }) },
    { weight: 1, group: "truncate", arbitrary: fc.record({ op: fc.constant("ftruncate" as const), fd: arbFd, length: fc.integer({ min: -1, max: 12 }) }) },
    { weight: 1, group: "sync", arbitrary: fc.record({ op: fc.constantFrom("fsync" as const, "fdatasync" as const), fd: arbFd }) },
    { weight: 2, group: null, arbitrary: fc.record({ op: fc.constant("fstat" as const), fd: arbFd }) },
    { weight: 2, group: "dirs", arbitrary: fc.record({ op: fc.constant("getdents" as const), fd: arbFd }) },
    { weight: 4, group: null, arbitrary: fc.record({ op: fc.constantFrom("stat" as const, "lstat" as const), path: arbPath }) },
    {
      weight: 2,
      group: "attrs",
      arbitrary: fc.record({ op: fc.constant("access" as const), path: arbPath, mode: fc.oneof(fc.constant("F_OK" as const), fc.subarray<AccessBit>(["R_OK", "W_OK", "X_OK"], { minLength: 1 })) }),
    },
    { weight: 1, group: "truncate", arbitrary: fc.record({ op: fc.constant("truncate" as const), path: arbPath, length: fc.integer({ min: -1, max: 12 }) }) },
    { weight: 4, group: "dirs", arbitrary: fc.record({ op: fc.constant("mkdir" as const), path: arbPath }).chain((o) => fc.option(arbMode, { nil: undefined }).map((mode) => (mode === undefined ? o : { ...o, mode }))) },
    { weight: 2, group: "dirs", arbitrary: fc.record({ op: fc.constantFrom("rmdir" as const, "unlink" as const), path: arbPath }) },
    {
      weight: 4,
      group: "rename",
      arbitrary: fc
        .record({ op: fc.constant("rename" as const), from: renamePath, to: renamePath })
        .chain((o) =>
          fc
            .oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.subarray<RenameFlag>(["RENAME_NOREPLACE", "RENAME_EXCHANGE"]) })
            .map((flags) => (flags === undefined ? o : { ...o, flags })),
        ),
    },
    { weight: 2, group: "links", arbitrary: fc.record({ op: fc.constant("link" as const), from: arbPath, to: arbPath }) },
    { weight: 2, group: "symlinks", arbitrary: fc.record({ op: fc.constant("symlink" as const), target, path: arbPath }) },
    { weight: 1, group: "symlinks", arbitrary: fc.record({ op: fc.constant("readlink" as const), path: arbPath }) },
    {
      weight: 1,
      group: "special",
      arbitrary: fc
        .record({ op: fc.constant("mknod" as const), path: arbPath, type: fc.constantFrom("fifo" as const, "socket" as const, "file" as const) })
        .chain((o) => fc.option(arbMode, { nil: undefined }).map((mode) => (mode === undefined ? o : { ...o, mode }))),
    },
    { weight: 2, group: "attrs", arbitrary: fc.record({ op: fc.constant("chmod" as const), path: arbPath, mode: arbMode }) },
    {
      weight: 2,
      group: "attrs",
      arbitrary: fc.tuple(arbPath, fc.option(ids, { nil: undefined }), fc.option(ids, { nil: undefined })).map(([path, uid, gid]) => {
        const o: { op: "chown"; path: string; uid?: number; gid?: number } = { op: "chown", path }
        if (uid !== undefined) o.uid = uid
        if (gid !== undefined) o.gid = gid
        return o
      }),
    },
    {
      weight: 1,
      group: "attrs",
      arbitrary: fc.tuple(arbPath, arbTime, arbTime).map(([path, atime, mtime]) => {
        const o: { op: "utimens"; path: string; atime?: TimeSpec; mtime?: TimeSpec } = { op: "utimens", path }
        if (atime !== undefined) o.atime = atime
        if (mtime !== undefined) o.mtime = mtime
        return o
      }),
    },
    { weight: 1, group: "xattrs", arbitrary: fc.record({ op: fc.constant("getxattr" as const), path: arbPath, name: arbXattrName }) },
    {
      weight: 2,
      group: "xattrs",
      arbitrary: fc
        .record({ op: fc.constant("setxattr" as const), path: arbPath, name: arbXattrName, value: arbData })
        .chain((o) => fc.option(fc.subarray<XattrFlag>(["XATTR_CREATE", "XATTR_REPLACE"], { minLength: 1 }), { nil: undefined }).map((flags) => (flags === undefined ? o : { ...o, flags }))),
    },
    { weight: 1, group: "xattrs", arbitrary: fc.record({ op: fc.constant("listxattr" as const), path: arbPath }) },
    { weight: 1, group: "xattrs", arbitrary: fc.record({ op: fc.constant("removexattr" as const), path: arbPath, name: arbXattrName }) },
    { weight: 1, group: "statfs", arbitrary: fc.record({ op: fc.constant("statfs" as const), path: arbPath }) },
    { weight: 1, group: "sync", arbitrary: fc.constant({ op: "sync" as const }) },
  ]
  if (p === undefined) return entries
  return entries.map((e) => (e.group === null ? e : { ...e, weight: e.weight * (p.groups[e.group] ?? 1) })).filter((e) => e.weight > 0)
}

function opOf(p: OpProfile | undefined): fc.Arbitrary<Op> {
  return fc.oneof(...opEntries(p).map(({ weight, arbitrary }) => ({ weight, arbitrary })))
}

/** Every op and flag of the contract, but `sleep` (the runtime's business). */
export const arbOp: fc.Arbitrary<Op> = opOf(undefined)

export interface SequentialStep {
  readonly op: Op
  readonly cred: Cred
}

/** A single-threaded scenario: an initial tree, its root, mount options, and ops with their credentials. */
export interface SequentialScenario {
  readonly tree: Tree
  readonly root: RootAttrs
  readonly readOnly: boolean
  readonly steps: readonly SequentialStep[]
}

export const arbStep: fc.Arbitrary<SequentialStep> = fc.record({ op: arbOp, cred: arbCred })

const FD_OPS = new Set(["read", "write", "pread", "pwrite", "lseek", "ftruncate", "fsync", "fdatasync", "fstat", "getdents", "close"])

/** Flags of an open meant to succeed on a regular file (and create it); a profile's flag odds apply to O_TRUNC, O_APPEND and O_DIRECT. */
function fileOpenFlagsOf(p: OpProfile | undefined): fc.Arbitrary<OpenFlag[]> {
  const base = fc.tuple(fc.constantFrom<OpenFlag[]>(["O_RDONLY"], ["O_WRONLY"], ["O_RDWR"], ["O_RDWR"]), bit(0.7), bit(p?.flags.O_TRUNC ?? 0.15), bit(p?.flags.O_APPEND ?? 0.25), bit(0.3))
  const made = base.map(([acc, creat, trunc, append, nonblock]) => [
    ...acc,
    ...(creat ? (["O_CREAT"] as const) : []),
    ...(trunc ? (["O_TRUNC"] as const) : []),
    ...(append ? (["O_APPEND"] as const) : []),
    ...(nonblock ? (["O_NONBLOCK"] as const) : []),
  ])
  // O_DIRECT, O_SYNC and O_DSYNC only under a profile that sets their odds: the fixed mix is unchanged.
  const extra = (["O_DIRECT", "O_SYNC", "O_DSYNC"] as const).flatMap((f) => {
    const odds = p?.flags[f]
    return odds === undefined ? [] : [[f, odds] as const]
  })
  if (extra.length === 0) return made
  return fc.tuple(made, fc.tuple(...extra.map(([, odds]) => bit(odds)))).map(([f, on]) => [...f, ...extra.filter((_, i) => on[i]).map(([flag]) => flag)])
}

interface StepArbitraries {
  readonly step: fc.Arbitrary<SequentialStep>
  readonly openBlock: fc.Arbitrary<SequentialStep[]>
  readonly pairBlock: fc.Arbitrary<SequentialStep[]>
  /** Profiles only: a read-modify-write of one file (null in the fixed mix, which keeps its generation). */
  readonly ioBlock: fc.Arbitrary<SequentialStep[]> | null
  /** Profiles with renames only: renames between names of the namespace (null otherwise). */
  readonly renameBlock: fc.Arbitrary<SequentialStep[]> | null
  /** Profiles with directories only: a directory listed, changed and listed again (null otherwise). */
  readonly listBlock: fc.Arbitrary<SequentialStep[]> | null
}

/** The descriptor name after `fd` (a block's second description of its file). */
function otherFd(fd: string): string {
  return FD_NAMES[(FD_NAMES.indexOf(fd as (typeof FD_NAMES)[number]) + 1) % FD_NAMES.length]!
}

const ACCESS_FLAGS: ReadonlySet<OpenFlag> = new Set(["O_RDONLY", "O_WRONLY", "O_RDWR"])

/**
 * A read-modify-write of one file: an O_RDWR|O_CREAT open (with the
 * profile's flag odds), a write (so even a new file has bytes), a read from
 * the start that caches its pages, writes into them (so they are dirty: a
 * client writes uncached pages straight to the server), then what meets
 * dirty pages: a close, a truncation, a sync, a read, a seek to the end. The
 * fixed mix's open blocks rarely chain a read and a write on one
 * description of a file with bytes, so dirty cached pages were rare there.
 */
function ioBlockOf(p: OpProfile, fdOpsOn: { truncate: boolean; sync: boolean }): fc.Arbitrary<SequentialStep[]> {
  const flags = fileOpenFlagsOf(p).map((f) => ["O_RDWR" as const, "O_CREAT" as const, ...f.filter((x) => !ACCESS_FLAGS.has(x) && x !== "O_CREAT")])
  const bytes = arbData.filter((d) => d.length > 0)
  const write = fc.oneof(
    fc.record({ op: fc.constant("pwrite" as const), fd: arbFd, offset: fc.nat(6), data: bytes }),
    fc.record({ op: fc.constant("write" as const), fd: arbFd, data: bytes }),
  )
  // Each tail is made for the block's path and descriptor.
  type Tail = (path: string, fd: string) => Op[]
  const one = (a: fc.Arbitrary<Op>): fc.Arbitrary<Tail> => a.map((o) => (_path: string, fd: string) => [{ ...o, fd } as Op])
  const tails: fc.Arbitrary<Tail>[] = [
    one(fc.record({ op: fc.constant("close" as const), fd: arbFd })),
    one(fc.record({ op: fc.constant("read" as const), fd: arbFd, count: fc.constantFrom(4, 4096) })),
    one(fc.record({ op: fc.constant("lseek" as const), fd: arbFd, offset: fc.constant(0), whence: fc.constant("SEEK_END" as const) })),
    ...(fdOpsOn.truncate ? [one(fc.record({ op: fc.constant("ftruncate" as const), fd: arbFd, length: fc.nat(3) }))] : []),
    ...(fdOpsOn.sync ? [one(fc.record({ op: fc.constantFrom("fsync" as const, "fdatasync" as const), fd: arbFd })), fc.constant<Tail>(() => [{ op: "sync" }])] : []),
    // Under a profile that makes O_DIRECT common: the file written through a
    // second, O_DIRECT description while the first one's pages are dirty (a
    // program mixing direct and buffered I/O on one file, as a database and
    // a backup tool may).
    ...(p.flags.O_DIRECT !== undefined
      ? [
          fc.tuple(fc.nat(6), bytes, fc.boolean()).map(([offset, data, read]): Tail => (path, fd) => {
            const direct = otherFd(fd)
            return [
              { op: "open", path, flags: ["O_RDWR", "O_DIRECT"], fd: direct },
              read ? { op: "pread", fd: direct, offset, count: 4 } : { op: "pwrite", fd: direct, offset, data },
              { op: "close", fd: direct },
            ]
          }),
        ]
      : []),
  ]
  const path = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: arbPath })
  return fc
    .tuple(path, flags, arbFd, arbCred, bytes, fc.array(write, { minLength: 1, maxLength: 2 }), fc.array(fc.oneof(...tails), { minLength: 1, maxLength: 2 }))
    .map(([path, flags, fd, cred, first, writes, tail]) => {
      const ops: Op[] = [{ op: "open", path, flags, fd }, { op: "write", fd, data: first }, { op: "pread", fd, offset: 0, count: 4096 }, ...writes.map((o) => ({ ...o, fd })), ...tail.flatMap((t) => t(path, fd))]
      return ops.map((op) => ({ op, cred }))
    })
}

/**
 * Renames between names of the namespace, in the root or in one of its
 * directories: two names renamed onto one another (replacing, swapped with
 * RENAME_EXCHANGE, refused with RENAME_NOREPLACE), which in a dense initial
 * tree are both there (files, directories, a file and its second name); or
 * a directory made and moved into another one, over an empty directory of
 * the same name the block made first or not. Renames drawn from paths alone
 * rarely get past the path walk, and almost never move a directory.
 */
function renameBlockOf(cred: fc.Arbitrary<Cred>): fc.Arbitrary<SequentialStep[]> {
  // Two different names (narrowing to fewer names may still make them one).
  const pair = fc.constantFrom(...NAMES.flatMap((x) => NAMES.filter((y) => y !== x).map((y) => [x, y] as const)))
  const dir = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...NAMES) })
  const flags = fc.constantFrom<RenameFlag[] | undefined>(undefined, ["RENAME_EXCHANGE"], ["RENAME_NOREPLACE"])
  return fc.tuple(dir, pair, fc.nat(2), flags, cred).map(([dir, [x, y], kind, f, cred]): SequentialStep[] => {
    const ops: Op[] =
      kind === 0
        ? [
            { op: "rename", from: dir === undefined ? x : `${dir}/${x}`, to: dir === undefined ? y : `${dir}/${y}`, ...(f !== undefined ? { flags: f } : {}) },
            { op: "lstat", path: x },
            { op: "lstat", path: y },
          ]
        : [{ op: "mkdir", path: x }, { op: "mkdir", path: y }, ...(kind === 2 ? [{ op: "mkdir" as const, path: `${y}/${x}` }] : []), { op: "rename", from: x, to: `${y}/${x}` }]
    return ops.map((op) => ({ op, cred }))
  })
}

/**
 * A directory opened and listed, a name in it made or removed (then, where
 * the profile syncs, the directory or the filesystem synced), the listing
 * read again from the start of the same description (rewinddir), and the
 * description kept open (a
 * directory's handle is one a sync meets). getdents otherwise comes from an
 * open block's random fd ops, so on a directory rarely.
 */
function listBlockOf(cred: fc.Arbitrary<Cred>, syncs: boolean): fc.Arbitrary<SequentialStep[]> {
  const dir = fc.oneof({ weight: 1, arbitrary: fc.constantFrom("/", ".") }, { weight: 3, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: arbNearPath })
  const change = fc.tuple(fc.constantFrom("mkdir" as const, "unlink" as const, "rmdir" as const), fc.constantFrom(...NAMES))
  // Where the profile syncs: the directory fsynced after the change (as a program making a new name durable
  // does), or the filesystem synced (sync(1)), or neither.
  const sync = syncs ? fc.nat(2) : fc.constant(2)
  return fc.tuple(dir, arbFd, change, cred, sync).map(([d, fd, [op, n], cred, s]): SequentialStep[] => {
    const path = d === "/" ? `/${n}` : d === "." ? n : `${d}/${n}`
    const ops: Op[] = [
      { op: "open", path: d, flags: ["O_RDONLY", "O_DIRECTORY"], fd },
      { op: "getdents", fd },
      { op, path },
      ...(s === 0 ? [{ op: "fsync" as const, fd }] : s === 1 ? [{ op: "sync" as const }] : []),
      { op: "lseek", fd, offset: 0, whence: "SEEK_SET" },
      { op: "getdents", fd },
    ]
    return ops.map((o) => ({ op: o, cred }))
  })
}

const PAIR_GROUPS: readonly OpGroup[] = ["dirs", "links", "xattrs", "symlinks", "rename", "special"]
/**
 * The pair blocks a profile draws from, each with the groups it needs on:
 * the fixed mix's, then a directory renamed over another, a special file,
 * a file's attributes changed then its size through a description opened
 * before, a symlink replaced atomically, a file moved to a name just
 * freed, a directory removed too early, and a file read while a second
 * description appends to it.
 */
const PAIR_GROUPS_PROFILED: readonly (readonly OpGroup[])[] = [...PAIR_GROUPS.map((g) => [g]), ["rename"], ["special"], ["attrs", "truncate"], ["symlinks", "rename"], ["rename", "dirs"], ["dirs"], []]

function credOf(p: OpProfile | undefined): fc.Arbitrary<Cred> {
  if (p?.creds === "root") return fc.constant(ROOT_CRED)
  if (p?.creds === "users") return fc.constantFrom(...CREDS.slice(1))
  return arbCred
}

function stepArbitraries(p: OpProfile | undefined): StepArbitraries {
  const op = p === undefined ? arbOp : opOf(p)
  const cred = credOf(p)
  const step = p === undefined ? arbStep : fc.record({ op, cred })
  const fdOp = op.filter((o) => FD_OPS.has(o.op))
  const target = symlinkTargetOf(p)
  /** An open followed by a few ops on the same fd (so I/O ops mostly meet a live description). */
  const openBlock = fc
    .tuple(
      fc.oneof(
        op.filter((o) => o.op === "open"),
        fc.record({ op: fc.constant("open" as const), path: arbPath, flags: fileOpenFlagsOf(p), fd: arbFd }),
      ),
      cred,
      fc.array(fc.tuple(fdOp, cred), { maxLength: 4 }),
    )
    .map(([open, cred, rest]) => {
      const fd = (open as { fd: string }).fd
      return [{ op: open, cred }, ...rest.map(([o, c]) => ({ op: "fd" in o ? { ...o, fd } : o, cred: c }))]
    })
  /** Ops that build on one another over the same path, so success paths are reached as often as refusals. */
  const kinds = p === undefined ? [0, 1, 2, 3, 4, 5] : PAIR_GROUPS_PROFILED.flatMap((gs, i) => (gs.every((g) => (p.groups[g] ?? 1) > 0) ? [i] : []))
  // What the profiled blocks draw beyond the fixed mix's (a constant there, so its generation is unchanged).
  const extra =
    p === undefined
      ? fc.constant({ fd: "f", mode: 0, change: 0, target: "a" })
      : fc.record({ fd: arbFd, mode: arbMode, change: fc.nat(2), target })
  const pairBlock = fc
    .tuple(p === undefined ? arbPath : arbNearPath, p === undefined ? arbPath : fc.oneof(arbNearPath, target), cred, arbXattrName, arbData, p === undefined ? fc.nat(5) : kinds.length === 0 ? fc.constant(-1) : fc.constantFrom(...kinds), extra)
    .map(([path, q, cred, name, value, kind, x]): SequentialStep[] => {
      const { fd } = x
      const attrChange: Op = x.change === 0 ? { op: "chmod", path, mode: x.mode } : x.change === 1 ? { op: "chown", path, uid: 1000, gid: 1000 } : { op: "utimens", path, mtime: "UTIME_NOW" }
      const steps: Op[][] = [
        [{ op: "mkdir", path }, { op: "stat", path }, { op: "rmdir", path }],
        [{ op: "link", from: path, to: q }, { op: "lstat", path: q }, { op: "unlink", path }],
        [{ op: "setxattr", path, name, value }, { op: "getxattr", path, name }, { op: "removexattr", path, name }],
        [{ op: "symlink", target: q, path }, { op: "readlink", path }, { op: "stat", path }],
        [{ op: "rename", from: path, to: q }, { op: "lstat", path: q }, { op: "rename", from: q, to: path, flags: ["RENAME_EXCHANGE"] }],
        [{ op: "mknod", path, type: "file" }, { op: "truncate", path, length: 3 }, { op: "unlink", path }],
        // Profiles only (kinds above): a directory renamed over an empty one the rename's lookups have
        // cached, or the two exchanged (the drawn value's parity picks, so the fixed mix draws as before),
        [{ op: "mkdir", path }, { op: "mkdir", path: q }, value.length % 2 === 0 ? { op: "rename", from: path, to: q } : { op: "rename", from: path, to: q, flags: ["RENAME_EXCHANGE"] }],
        // and a FIFO or socket made, looked at and listed with its directory (a server may refuse mknod).
        [{ op: "mknod", path, type: value.length % 2 === 0 ? "fifo" : "socket" }, { op: "stat", path }, { op: "unlink", path }],
        // A file's attributes changed, then its size through a description opened before (as
        // install(1) or a package manager does: open, fchmod or chown, ftruncate), then looked at,
        [{ op: "open", path, flags: ["O_RDWR", "O_CREAT"], fd }, attrChange, { op: "ftruncate", fd, length: value.length % 4 }, { op: "stat", path }, { op: "close", fd }],
        // a symlink replaced atomically (ln -sfn: a new link made beside it, renamed over it),
        [{ op: "symlink", target: x.target, path: q }, { op: "rename", from: q, to: path }, { op: "stat", path }],
        // and a file moved to a name just freed (log rotation: the old name's file goes on being used).
        [{ op: "unlink", path: q }, { op: "rename", from: path, to: q }, { op: "stat", path: q }],
        // A directory made and given a file, removed too early (a cleanup that tries rmdir first: refused
        // ENOTEMPTY, where a client may answer from what it has cached), emptied, removed,
        [{ op: "mkdir", path }, { op: "mknod", path: `${path}/${NAMES[x.change]!}`, type: "file" }, { op: "rmdir", path }, { op: "unlink", path: `${path}/${NAMES[x.change]!}` }, { op: "rmdir", path }],
        // and a file read through one description while another appends to it (tail -f and a logger:
        // a client holding a read-only handle to the file needs one for writing too).
        [
          { op: "open", path, flags: ["O_RDONLY"], fd },
          { op: "read", fd, count: 4 },
          { op: "open", path, flags: ["O_WRONLY", "O_APPEND", "O_CREAT"], fd: otherFd(fd) },
          { op: "write", fd: otherFd(fd), data: value === "" ? "x" : value },
          { op: "read", fd, count: 4096 },
          { op: "close", fd },
          { op: "close", fd: otherFd(fd) },
        ],
      ]
      return kind < 0 ? [{ op: { op: "stat", path }, cred }] : (steps[kind] as Op[]).map((op) => ({ op, cred }))
    })
  const ioBlock = p === undefined ? null : ioBlockOf(p, { truncate: (p.groups.truncate ?? 1) > 0, sync: (p.groups.sync ?? 1) > 0 })
  const renameBlock = p === undefined || (p.groups.rename ?? 1) === 0 ? null : renameBlockOf(cred)
  const listBlock = p === undefined || (p.groups.dirs ?? 1) === 0 ? null : listBlockOf(cred, (p.groups.sync ?? 1) > 0)
  return { step, openBlock, pairBlock, ioBlock, renameBlock, listBlock }
}

const FIXED_STEPS = stepArbitraries(undefined)

/**
 * Sequences of steps: single ops, open blocks and pair blocks. With a
 * profile, the ops it leaves out are absent and its emphasized ones common,
 * open blocks carry its flag odds (an O_DIRECT open followed by the read
 * or write that matters), and I/O blocks (a read-modify-write of one file)
 * join the mix.
 */
export const arbSteps = (minLength: number, maxLength: number, profile?: OpProfile): fc.Arbitrary<SequentialStep[]> => {
  const a = profile === undefined ? FIXED_STEPS : stepArbitraries(profile)
  const blocks = [{ weight: 4, arbitrary: a.step.map((s) => [s]) }, { weight: 1, arbitrary: a.openBlock }, { weight: 1, arbitrary: a.pairBlock }]
  if (a.ioBlock !== null) blocks.push({ weight: 1, arbitrary: a.ioBlock })
  if (a.renameBlock !== null) blocks.push({ weight: 1, arbitrary: a.renameBlock })
  if (a.listBlock !== null) blocks.push({ weight: 1, arbitrary: a.listBlock })
  return fc
    .array(fc.oneof(...blocks), { minLength, maxLength, size: "max" })
    .map((blocks) => blocks.flat().slice(0, Math.max(maxLength, minLength)))
}

/**
 * The tree with some names of its root replaced by symlinks drawn to form
 * chains (a -> b -> c/.. ...): a profile's `symlinkChains` in the initial tree.
 */
export function arbChainedTree(tree: Tree): fc.Arbitrary<Tree> {
  const slot = fc.option(fc.constantFrom(...CHAIN_TARGETS), { nil: undefined, freq: 2 })
  return fc.tuple(slot, slot, slot).map((targets) => {
    const out: Record<string, TreeNode> = { ...tree }
    targets.forEach((t, i) => {
      if (t !== undefined && t !== NAMES[i]) out[NAMES[i] as string] = { type: "symlink", target: t }
    })
    return out
  })
}

export function arbSequentialScenario(opts: { minSteps?: number; maxSteps?: number; readOnlyFreq?: number } = {}): fc.Arbitrary<SequentialScenario> {
  const freq = opts.readOnlyFreq ?? 12
  return fc.record({
    tree: arbTree,
    root: arbRoot,
    readOnly: freq <= 0 ? fc.constant(false) : fc.oneof({ weight: freq - 1, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    steps: arbSteps(opts.minSteps ?? 4, opts.maxSteps ?? 30),
  })
}
