// Campaigns: many seeded runs of generated concurrent scenarios, tallied.
// Run i of a campaign seeded s uses seed s + i for both its scenario and its
// schedule, so any run can be repeated alone (`fsim check --seed s+i --runs 1`)
// and seed ranges can be split between workers: a run's outcome is a
// function of its seed alone (each run has its own lock graph), and tallies
// merge commutatively, so any split of a seed range over any number of
// workers gives the same tally as one worker.

import fc from "fast-check"
import { arbChainedTree, arbCred, arbRoot, arbSteps, arbTree, NAMES, type OpProfile, type SequentialStep } from "../model/arbitraries.js"
import { ERRNOS, type Cred, type Errno, type Op, type Tree, type TreeNode } from "../model/types.js"
import { CHECK_NAMES, type CheckName, type Event, type Verdict, type Violation } from "./events.js"
import { LockGraph, type LockOrderSpec } from "./lockorder.js"
import type { MountRegistry } from "./mount.js"
import { arbOverlayCampaignScenario } from "./overlaygen.js"
import { runSubject, type RunReport } from "./run.js"
import type { Fault, Mount, Scenario, ThreadSpec } from "./scenario.js"
import type { StrategySpec } from "./strategy.js"
import { mountLabelOf, type FilesystemDescriptor } from "./descriptor.js"
import { describeConfig, drawSwarmConfig, type SwarmPins } from "./swarm.js"
import { arbReplacementDraw, withReplacements } from "./externalgen.js"

export interface ScenarioShape {
  /**
   * The mount of every scenario. For an overlay it is a template: its
   * `lower` names the lowest layer's kind (tmpfs, or a gofer with its
   * options) and its `options` are the overlay's; the layers are drawn
   * (overlaygen.ts, arbOverlayCampaignScenario), and `names`, `faults`,
   * `slashOnlySymlinks` and `setIdBits` do not apply.
   */
  readonly mount: Mount
  /** Threads per scenario: between 2 and this (at least 1). */
  readonly threads: number
  /** Ops per thread: between 1 and this (the blocks of fifoPair, filePair and movePair come on top). */
  readonly ops: number
  /** Names per directory, 1 to 3 (the arbitraries' a, b, c): fewer names, more contention. Default 3. */
  readonly names?: number
  /** External users of the 9P share per scenario: between 0 and this (gofer mounts only). Default 0. */
  readonly external?: number
  /** Injected server faults per scenario: between 0 and this (gofer mounts only; the error a focused short reply may bring comes on top). Default 0. */
  readonly faults?: number
  /**
   * Hard links (link ops, second names in the remote tree). Default true.
   * Gofer campaigns leave them out: its cached modes keep a cache per name,
   * and gVisor's LinkAt resolves the old path in a call of its own, so a
   * link racing a rename is not atomic (src/model/DIALECTS.md, "known gaps").
   */
  readonly links?: boolean
  /** Second names of files in the remote tree even without `links` (no link ops). Default false; a swarm sets it from ShapeDefaults.treeLinks. */
  readonly remoteLinks?: boolean
  /**
   * Descriptor names of each thread's own ("t0.f"), so no op races another
   * thread's close or rebinding of its descriptor: a real kernel looks an
   * fd up once, at the start of the syscall. Default false (names shared,
   * as the contract allows; the model mount is atomic).
   */
  readonly privateFds?: boolean
  /**
   * Symlinks whose target is only slashes ("/"). Default true. gVisor's
   * VFS mishandles a path that goes on past one (the gofer's FINDINGS.md):
   * gofer campaigns write "/." instead, which means the same.
   */
  readonly slashOnlySymlinks?: boolean
  /**
   * Setuid and setgid bits in generated modes. Default true. The gofer
   * clears them on write from its cached mode, which under
   * InteropModeShared a chmod does not update (its FINDINGS.md,
   * write-setid-stale-mode), and under fscache keeps showing bits a chown
   * has made the server drop (chown-same-ids) until the dentry is evicted;
   * no per-op rule can follow either: gofer campaigns generate no such bits.
   */
  readonly setIdBits?: boolean
  /** The scenarios' check budget (budget.checks: model steps of the linearizability check); default the run's. */
  readonly checkBudget?: number
  /**
   * External users are outside what the mount promises (its descriptor's
   * externalUnjudged: a gofer in an exclusive cache mode): scenarios with
   * some leave lincheck and coherence out; the other checks stay.
   */
  readonly externalUnjudged?: boolean
  /**
   * Generated error replies skip the requests the mount sends (MOUNT_REQUESTS):
   * a swarm sets it; a fixed configuration keeps drawing the faults its
   * campaigns always drew, some of which fail the mount (unknown runs).
   */
  readonly faultsSpareMount?: boolean
  /** A swarm run's op profile (arbitraries.ts, OpProfile); none: the fixed mix. */
  readonly profile?: OpProfile
  /**
   * The 9P requests generated faults hit (a swarm dimension: faults spread
   * over every request type rarely meet the few Treads or Tmknods a run
   * sends); they may then also answer EPERM, a refusal servers make (of
   * mknod, of chown). Default: every FAULT_MESSAGES type, FAULT_ERRNOS.
   */
  readonly faultFocus?: readonly string[]
  /**
   * The faults fail every k-th request of the focus's first message (up to
   * its FAULT_SERIES_END-th) with an error reply, instead of 0 to `faults`
   * drawn ones: where the request on the path under test comes among the
   * run's requests of its type is unknown in advance. A short Tread of the
   * series fails the next Tread too (arbFaultSeries).
   * Default: none.
   */
  readonly faultEvery?: number
  /**
   * The server refuses to make device files, FIFOs and sockets (EPERM, as a
   * server on a filesystem that allows no mknod does), so the gofer's
   * synthetic FIFOs and sockets stand in. Recorded in the scenario as
   * rlerror faults on the first Tumknods, so a trace replays with no option.
   */
  readonly refuseMknod?: boolean
  /**
   * Two threads meet at a FIFO of their own ("/p", a name no generated op
   * touches): one opens it for reading, the other for writing, both
   * without O_NONBLOCK (so each waits for the other, as processes joined by
   * a named pipe do), each at a point of its ops drawn per scenario, then
   * closes it. Both run as root, so no permission a generated op changes
   * can keep one from its open. Only where the mount's blocking FIFO opens
   * wait as Linux's do (ShapeDefaults.blockingFifoOpens) and in scenarios
   * without server faults (a failed open would leave its peer waiting).
   */
  readonly fifoPair?: boolean
  /**
   * Two threads at one file at once, as a writer and a log rotator or a
   * second writer are: one reads the file's start (so its pages are
   * cached), writes into it (so they are dirty), syncs and closes it; the
   * other truncates it, by path or through a description of its own. Both
   * blocks go in at the same point of their threads' ops, so they overlap
   * as often as the schedule lets them.
   */
  readonly filePair?: boolean
  /**
   * Two threads at two names at once, as a log rotator and a reader of the
   * directory are: one makes sure of a file at one name, frees another and
   * moves the file there; the other looks at both names and lists their
   * directory meanwhile. Both blocks go in at the same point of their
   * threads' ops. Needs two names at least.
   */
  readonly movePair?: boolean
  /**
   * External users replace what the client works with (externalgen.ts): up
   * to `external` more of them (each drawn in two of three), each of whom
   * appends to a file the client opens, renames a new file over one it
   * names, unlinks and re-creates one, swaps a directory its paths go
   * through for a new one, or repoints a symlink of the tree, timed
   * between one client thread's uses of the name. Default false (external
   * users draw from the op mix alone).
   */
  readonly externalReplace?: boolean
}

/** How many of a run's first Tumknods a server that refuses mknod answers EPERM: more than a generated run sends. */
const REFUSED_MKNODS = 8

/** 9P requests a generated fault may hit. */
export const FAULT_MESSAGES = [
  "Twalk",
  "Tlopen",
  "Tlcreate",
  "Tread",
  "Twrite",
  "Tgetattr",
  "Tsetattr",
  "Tmkdir",
  "Tsymlink",
  "Tlink",
  "Tmknod",
  "Trenameat",
  "Tunlinkat",
  "Treaddir",
  "Treadlink",
  "Tfsync",
  "Tstatfs",
] as const
const FAULT_ERRNOS: readonly Errno[] = ["EIO", "ENOENT", "EACCES", "ENOSPC", "EAGAIN", "EINTR", "ESTALE"].filter((e): e is Errno =>
  (ERRNOS as readonly string[]).includes(e),
)

/**
 * Requests of each type a 9P mount sends before any scenario thread runs
 * (the gofer's attach: Tversion, Tattach, then a Tgetattr of the root).
 * A swarm's error replies skip them (ScenarioShape.faultsSpareMount): a
 * run whose mount fails tests nothing (its verdict is unknown), and 1
 * default-campaign run in 200 was such a run, a fault aimed at the first
 * Tgetattr.
 */
const MOUNT_REQUESTS: Readonly<Record<string, number>> = { Tversion: 1, Tattach: 1, Tgetattr: 1 }

/** `f`, moved past the mount's requests of its type if it is an error reply that would fail one. */
function pastMount(f: Fault): Fault {
  const sent = MOUNT_REQUESTS[f.message] ?? 0
  return f.kind === "rlerror" && f.nth <= sent ? { ...f, nth: f.nth + sent } : f
}

/** Server faults: an error reply, a short read or write, or a late reply (never a hang: that is a scenario's own choice). */
export const arbFault: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("rlerror" as const), message: fc.constantFrom(...FAULT_MESSAGES), nth: fc.integer({ min: 1, max: 4 }), errno: fc.constantFrom(...FAULT_ERRNOS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("short" as const), message: fc.constantFrom("Tread" as const, "Twrite" as const), nth: fc.integer({ min: 1, max: 4 }), count: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delay" as const), message: fc.constantFrom(...FAULT_MESSAGES), nth: fc.integer({ min: 1, max: 4 }), ns: fc.constantFrom(1_000, 1_000_000, 1_000_000_000) }) },
)

/**
 * A fault on the focus's requests only, answering EPERM too; a short Tread
 * or Twrite is followed half the time by an error on the next of its kind
 * (a read or write cut short by an error part way: the syscall returns the
 * bytes it moved, as gVisor's handleIOError does).
 */
function arbFocusedFault(focus: readonly string[]): fc.Arbitrary<Fault[]> {
  const errnos: readonly Errno[] = [...FAULT_ERRNOS, "EPERM"]
  const io = focus.filter((m): m is "Tread" | "Twrite" => m === "Tread" || m === "Twrite")
  const short = (): fc.Arbitrary<Fault[]> =>
    fc
      .tuple(fc.record({ kind: fc.constant("short" as const), message: fc.constantFrom(...io), nth: fc.integer({ min: 1, max: 4 }), count: fc.nat(4) }), fc.option(fc.constantFrom(...errnos), { nil: undefined, freq: 2 }))
      .map(([f, then]): Fault[] => (then === undefined ? [f] : [f, { kind: "rlerror", message: f.message, nth: f.nth + 1, errno: then }]))
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("rlerror" as const), message: fc.constantFrom(...focus), nth: fc.integer({ min: 1, max: 4 }), errno: fc.constantFrom(...errnos) }).map((f): Fault[] => [f]) },
    ...(io.length > 0 ? [{ weight: 2, arbitrary: short() }] : []),
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delay" as const), message: fc.constantFrom(...focus), nth: fc.integer({ min: 1, max: 4 }), ns: fc.constantFrom(1_000, 1_000_000, 1_000_000_000) }).map((f): Fault[] => [f]) },
  )
}

/** The last request of its type a series of faults (ScenarioShape.faultEvery) may fail: more than most runs send of one type. */
const FAULT_SERIES_END = 12

/**
 * The errnos a server most often answers each message with, drawn for half
 * of a series' errors (the rest from every errno): a refused open is EACCES
 * or EPERM (the file's permissions changed on the host), a failed write
 * ENOSPC or EIO, a failed sync or read EIO.
 */
const LIKELY_ERRNOS: Readonly<Record<string, readonly Errno[]>> = {
  Tlopen: ["EACCES", "EPERM"],
  Tucreate: ["EACCES", "EPERM", "ENOSPC"],
  Twrite: ["ENOSPC", "EIO"],
  Tfsync: ["EIO", "ENOSPC"],
  Tread: ["EIO"],
  Tsetattr: ["EPERM", "EACCES"],
}

/**
 * Error replies to every k-th `message`, each with an errno of its own (or,
 * for a Tread or Twrite, a short one; after it the next request of its
 * kind, where no other fault of the series falls, fails too, as a read or
 * write cut short by an error part way does).
 */
function arbFaultSeries(message: string, every: number): fc.Arbitrary<Fault[]> {
  const n = Math.floor(FAULT_SERIES_END / every)
  const likely = LIKELY_ERRNOS[message]
  const anyErrno = fc.constantFrom<Errno>(...FAULT_ERRNOS, "EPERM")
  const errnos = likely === undefined ? anyErrno : fc.oneof(anyErrno, fc.constantFrom(...likely))
  const errno = errnos.map((errno) => ({ errno }))
  const one: fc.Arbitrary<{ errno: Errno } | { count: number; then: Errno }> =
    message === "Tread" || message === "Twrite" ? fc.oneof({ weight: 2, arbitrary: errno }, { weight: 1, arbitrary: fc.tuple(fc.nat(4), errnos).map(([count, then]) => ({ count, then })) }) : errno
  return fc.array(one, { minLength: n, maxLength: n }).map((xs) =>
    xs.flatMap((x, i): Fault[] => {
      const nth = every * (i + 1) + (MOUNT_REQUESTS[message] ?? 0)
      if ("errno" in x) return [{ kind: "rlerror", message, nth, errno: x.errno }]
      const cut: Fault = { kind: "short", message: message as "Tread" | "Twrite", nth, count: x.count }
      return every === 1 ? [cut] : [cut, { kind: "rlerror", message, nth: nth + 1, errno: x.then }]
    }),
  )
}

function arbFaults(shape: ScenarioShape): fc.Arbitrary<Fault[]> {
  const faults = shape.faults ?? 0
  if (faults === 0) return fc.constant<Fault[]>([])
  const focus = shape.faultFocus !== undefined && shape.faultFocus.length > 0 ? shape.faultFocus : undefined
  if (focus !== undefined && shape.faultEvery !== undefined) return arbFaultSeries(focus[0]!, shape.faultEvery)
  const spare = (xs: Fault[]): Fault[] => (shape.faultsSpareMount === true ? xs.map(pastMount) : xs)
  if (focus !== undefined) return fc.array(arbFocusedFault(focus), { maxLength: faults }).map((xs) => spare(xs.flat()))
  return fc.array(arbFault, { maxLength: faults }).map(spare)
}

/**
 * Concurrent scenarios over the model's small namespace. Generated opens
 * carry O_NONBLOCK, so a FIFO open never waits for a peer the scenario may
 * not have (that would be a deadlock of the scenario, not of the
 * filesystem); a FIFO pair's opens (fifoPair) block, each with its peer.
 * An overlay's scenarios are generated over layers (overlaygen.ts).
 */
export function arbScenario(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  const budget = shape.checkBudget
  // In the scenario itself, so a saved trace replays under the same budget.
  return budget === undefined ? arbUnbudgeted(shape) : arbUnbudgeted(shape).map((s) => ({ ...s, budget: { ...s.budget, checks: budget } }))
}

function arbUnbudgeted(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  if (shape.mount.kind === "overlay") return arbOverlayCampaignScenario(shape)
  const thread: fc.Arbitrary<[Cred, SequentialStep[]]> = fc.tuple(arbCred, arbSteps(1, shape.ops, shape.profile))
  const none = fc.constant<[Cred, SequentialStep[]][]>([])
  const names = shape.names ?? NAMES.length
  const external = shape.external ?? 0
  const links = shape.links ?? true
  const privateFds = shape.privateFds ?? false
  const slashOnly = shape.slashOnlySymlinks ?? true
  const setIdBits = shape.setIdBits ?? true
  return fc
    .record({
      remote: shape.profile?.symlinkChains === true ? arbTree.chain(arbChainedTree) : arbTree,
      root: arbRoot,
      threads: fc.array(thread, { minLength: Math.min(2, shape.threads), maxLength: shape.threads }),
      external: external > 0 ? fc.array(thread, { maxLength: external }) : none,
      faults: arbFaults(shape),
      fifo: shape.fifoPair === true ? arbFifoPair : fc.constant(null),
      file: shape.filePair === true ? arbFilePair : fc.constant(null),
      move: shape.movePair === true ? arbMovePair : fc.constant(null),
      // Up to `external` users who replace something, each drawn in two of three.
      replace: shape.externalReplace === true && external > 0 ? fc.array(fc.noBias(fc.option(arbReplacementDraw, { freq: 3 })), { minLength: external, maxLength: external }) : fc.constant(null),
      second: shape.remoteLinks === true ? fc.option(fc.nat(1), { nil: null }) : fc.constant(null),
    })
    .map(({ remote, root, threads, external, faults, fifo, file, move, replace, second }) => {
      const spec = (prefix: string) => ([cred, steps]: [Cred, SequentialStep[]], i: number): ThreadSpec => {
        const name = `${prefix}${i}`
        let ops = steps.slice(0, shape.ops).map((s) => nonBlocking(narrowOp(s.op, names)))
        if (!links) ops = ops.filter((o) => o.op !== "link")
        if (privateFds) ops = ops.map((o) => ("fd" in o ? { ...o, fd: `${name}.${o.fd}` } : o))
        if (!slashOnly) ops = ops.map((o) => (o.op === "symlink" && isSlashOnly(o.target) ? { ...o, target: "/." } : o))
        if (!setIdBits) ops = ops.map(withoutSetIdBits)
        return { name, cred, ops }
      }
      let specs = threads.map(spec("t"))
      let tree = mapTree(narrowTree(remote, names), { links: links || shape.remoteLinks === true, slashOnly, setIdBits })
      if (second !== null) tree = withSecondName(tree, names, second)
      if (file !== null && specs.length >= 2) specs = withFilePair(specs, file, names)
      if (move !== null && specs.length >= 2 && names >= 2) specs = withMovePair(specs, move, names)
      if (fifo !== null && faults.length === 0 && shape.refuseMknod !== true && specs.length >= 2) {
        specs = withFifoPair(specs, fifo)
        tree = { ...tree, [FIFO_NAME]: { type: "fifo", mode: 0o666 } }
      }
      let users = external.map(spec("x"))
      if (replace !== null) users = withReplacements(users, replace, specs, tree)
      const s: Scenario = {
        format: "fsim.scenario/1" as const,
        name: "generated",
        mount: shape.mount,
        remote: tree,
        root,
        threads: specs,
        ...(users.length > 0 ? { external: users } : {}),
        ...(users.length > 0 && shape.externalUnjudged === true ? { checks: CHECK_NAMES.filter((c) => c !== "lincheck" && c !== "coherence") } : {}),
        ...(faults.length > 0 || shape.refuseMknod === true ? { faults: shape.refuseMknod === true ? [...faults, ...refusedMknods()] : faults } : {}),
      }
      return s
    })
}

/** Two distinct threads of `n` (n >= 2) from two drawn numbers: the first, and another after it. */
function twoThreads(n: number, first: number, other: number): readonly [number, number] {
  const a = first % n
  return [a, (a + 1 + (other % (n - 1))) % n]
}

/** `t` with `ops` put in at `at` (taken modulo its ops' count plus one). */
function putOps(t: ThreadSpec, at: number, ops: readonly Op[]): ThreadSpec {
  const i = at % (t.ops.length + 1)
  return { ...t, ops: [...t.ops.slice(0, i), ...ops, ...t.ops.slice(i)] }
}

/** The FIFO of a scenario's FIFO pair: not one of the generated names, so only the pair's opens reach it. */
const FIFO_NAME = "p"

interface FifoPair {
  /** Which threads open the reading and the writing end (indices, taken modulo the thread count; distinct). */
  readonly reader: number
  readonly writer: number
  /** Where in each thread's ops its open goes (taken modulo the ops' count plus one). */
  readonly readerAt: number
  readonly writerAt: number
  /** The reader opens with O_CREAT (of the existing FIFO: the open that takes the filesystem's lock for writing), or the writer does. */
  readonly creat: 0 | 1 | 2
  /** The writer writes a few bytes before it closes; the reader looks at its description. */
  readonly write: boolean
}

const arbFifoPair: fc.Arbitrary<FifoPair> = fc.record({
  reader: fc.nat(5),
  writer: fc.nat(4),
  readerAt: fc.nat(24),
  writerAt: fc.nat(24),
  creat: fc.constantFrom(0 as const, 1 as const, 2 as const),
  write: fc.boolean(),
})

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

/** The threads with the pair's blocking opens (and closes) of FIFO_NAME put in. */
function withFifoPair(specs: readonly ThreadSpec[], f: FifoPair): ThreadSpec[] {
  const [r, w] = twoThreads(specs.length, f.reader, f.writer)
  const path = `/${FIFO_NAME}`
  // Both ends open as root: a permission error would leave the peer waiting.
  const put = (t: ThreadSpec, at: number, ops: Op[]): ThreadSpec => putOps({ name: t.name, cred: ROOT, ops: t.ops }, at, ops)
  const rfd = `${specs[r]!.name}.${FIFO_NAME}`
  const wfd = `${specs[w]!.name}.${FIFO_NAME}`
  const reading: Op[] = [{ op: "open", path, flags: f.creat === 1 ? ["O_RDONLY", "O_CREAT"] : ["O_RDONLY"], fd: rfd }, ...(f.write ? [{ op: "fstat" as const, fd: rfd }] : []), { op: "close", fd: rfd }]
  const writing: Op[] = [{ op: "open", path, flags: f.creat === 2 ? ["O_WRONLY", "O_CREAT"] : ["O_WRONLY"], fd: wfd }, ...(f.write ? [{ op: "write" as const, fd: wfd, data: "x" }] : []), { op: "close", fd: wfd }]
  return specs.map((t, i) => (i === r ? put(t, f.readerAt, reading) : i === w ? put(t, f.writerAt, writing) : t))
}

interface FilePair {
  readonly writer: number
  readonly truncater: number
  /** Where both blocks go (taken modulo each thread's ops' count plus one). */
  readonly at: number
  /** The file: one of the namespace's names. */
  readonly name: number
  readonly data: string
  readonly offset: number
  readonly length: number
  /** How the writer syncs (fsync, fdatasync, sync) and how the other truncates (by path, or ftruncate of its own description). */
  readonly sync: 0 | 1 | 2
  readonly byPath: boolean
}

const arbFilePair: fc.Arbitrary<FilePair> = fc.record({
  writer: fc.nat(5),
  truncater: fc.nat(4),
  at: fc.nat(24),
  name: fc.nat(2),
  data: fc.constantFrom("x", "hello", "0123456789"),
  offset: fc.nat(6),
  length: fc.nat(4),
  sync: fc.constantFrom(0 as const, 1 as const, 2 as const),
  byPath: fc.boolean(),
})

/** The threads with a FilePair's two blocks put in (descriptors named after their threads, so no other op closes them). */
function withFilePair(specs: readonly ThreadSpec[], f: FilePair, names: number): ThreadSpec[] {
  const [w, t] = twoThreads(specs.length, f.writer, f.truncater)
  const path = `/${NAMES[f.name % Math.max(1, Math.min(names, NAMES.length))]!}`
  const wfd = `${specs[w]!.name}.w`
  const tfd = `${specs[t]!.name}.w`
  const sync: Op = f.sync === 0 ? { op: "fsync", fd: wfd } : f.sync === 1 ? { op: "fdatasync", fd: wfd } : { op: "sync" }
  const writing: Op[] = [
    { op: "open", path, flags: ["O_RDWR", "O_CREAT", "O_NONBLOCK"], fd: wfd },
    { op: "pread", fd: wfd, offset: 0, count: 4096 },
    { op: "pwrite", fd: wfd, offset: f.offset, data: f.data },
    sync,
    { op: "close", fd: wfd },
  ]
  const truncating: Op[] = f.byPath
    ? [{ op: "truncate", path, length: f.length }]
    : [{ op: "open", path, flags: ["O_WRONLY", "O_NONBLOCK"], fd: tfd }, { op: "ftruncate", fd: tfd, length: f.length }, { op: "close", fd: tfd }]
  return specs.map((th, i) => (i === w ? putOps(th, f.at, writing) : i === t ? putOps(th, f.at, truncating) : th))
}

interface MovePair {
  readonly mover: number
  readonly watcher: number
  readonly at: number
  /** The names moved from and to (distinct, among the namespace's). */
  readonly from: number
  readonly to: number
}

const arbMovePair: fc.Arbitrary<MovePair> = fc.record({ mover: fc.nat(5), watcher: fc.nat(4), at: fc.nat(24), from: fc.nat(2), to: fc.nat(1) })

/** The threads with a MovePair's two blocks put in. */
function withMovePair(specs: readonly ThreadSpec[], m: MovePair, names: number): ThreadSpec[] {
  const k = Math.min(names, NAMES.length)
  const [mv, wt] = twoThreads(specs.length, m.mover, m.watcher)
  const fromIx = m.from % k
  const from = `/${NAMES[fromIx]!}`
  const to = `/${NAMES[(fromIx + 1 + (m.to % (k - 1))) % k]!}`
  const fd = `${specs[mv]!.name}.m`
  const moving: Op[] = [
    { op: "open", path: from, flags: ["O_WRONLY", "O_CREAT", "O_NONBLOCK"], fd },
    { op: "close", fd },
    { op: "unlink", path: to },
    { op: "rename", from, to },
  ]
  const watching: Op[] = [{ op: "lstat", path: to }, { op: "lstat", path: from }, { op: "stat", path: to }]
  return specs.map((th, i) => (i === mv ? putOps(th, m.at, moving) : i === wt ? putOps(th, m.at, watching) : th))
}

/**
 * The tree with a second name for its root's first regular file, at another
 * of the namespace's first `names` names (`other` picks which), replacing
 * what was there unless a second name points at it: as a system's files
 * have (backups, package managers' hard links), so renames between two names
 * of one file, and writes through one seen through the other, are common. A
 * tree with no such file, or one name only, is unchanged.
 */
function withSecondName(tree: Tree, names: number, other: number): Tree {
  const k = Math.min(names, NAMES.length)
  if (k < 2) return tree
  const fileIx = NAMES.slice(0, k).findIndex((n) => {
    const node = tree[n]
    return node !== undefined && !("link" in node) && node.type === "file"
  })
  if (fileIx < 0) return tree
  const at = NAMES[(fileIx + 1 + (other % (k - 1))) % k]!
  if (Object.values(tree).some((n) => "link" in n && n.link === `/${at}`)) return tree
  return { ...tree, [at]: { link: `/${NAMES[fileIx]!}` } }
}

function refusedMknods(): Fault[] {
  return Array.from({ length: REFUSED_MKNODS }, (_, i) => ({ kind: "rlerror" as const, message: "Tumknod", nth: i + 1, errno: "EPERM" as const }))
}

function isSlashOnly(target: string): boolean {
  return /^\/+$/.test(target)
}

/** The tree without second names of files (`{ link }` nodes) unless `links`, with "/." for slash-only symlink targets unless `slashOnly`, and no setuid/setgid bits unless `setIdBits`. */
const SET_ID = 0o6000

/** The op with setuid/setgid cleared from the mode it gives (open, mkdir, mknod, chmod). */
function withoutSetIdBits(o: Op): Op {
  if (!("mode" in o)) return o
  const mode = o.mode as number | undefined
  return mode === undefined || (mode & SET_ID) === 0 ? o : ({ ...o, mode: mode & ~SET_ID } as Op)
}

function mapTree(t: Tree, o: { readonly links: boolean; readonly slashOnly: boolean; readonly setIdBits: boolean }): Tree {
  if (o.links && o.slashOnly && o.setIdBits) return t
  const out: Record<string, TreeNode> = {}
  for (const [name, node] of Object.entries(t)) {
    if ("link" in node && !o.links) continue
    let value: TreeNode = node
    if (!("link" in node)) {
      if (node.type === "dir" && node.children !== undefined) value = { ...node, children: mapTree(node.children, o) }
      else if (node.type === "symlink" && !o.slashOnly && isSlashOnly(node.target)) value = { ...node, target: "/." }
      if (!o.setIdBits && "mode" in value && value.mode !== undefined && (value.mode & SET_ID) !== 0) value = { ...value, mode: value.mode & ~SET_ID } as TreeNode
    }
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function nonBlocking(op: Op): Op {
  if (op.op !== "open" || op.flags.includes("O_NONBLOCK")) return op
  return { ...op, flags: [...op.flags, "O_NONBLOCK"] }
}

/** Maps the arbitraries' names past the first `n` to the n-th ("c" -> "b" for n = 2). */
function narrowName(name: string, n: number): string {
  const i = (NAMES as readonly string[]).indexOf(name)
  return i >= n ? NAMES[n - 1]! : name
}

function narrowPath(p: string, n: number): string {
  return p
    .split("/")
    .map((c) => narrowName(c, n))
    .join("/")
}

const PATH_FIELDS = ["path", "from", "to", "target"] as const

function narrowOp(op: Op, n: number): Op {
  if (n >= NAMES.length) return op
  const out: Record<string, unknown> = { ...op }
  for (const k of PATH_FIELDS) if (typeof out[k] === "string") out[k] = narrowPath(out[k] as string, n)
  return out as unknown as Op
}

/** The tree with names narrowed; where two names become one, the first (a before b before c) keeps it. */
function narrowTree(t: Tree, n: number): Tree {
  if (n >= NAMES.length) return t
  const out: Record<string, TreeNode> = {}
  for (const [name, node] of Object.entries(t)) {
    const to = narrowName(name, n)
    if (to in out) continue
    out[to] = narrowNode(node, n)
  }
  return out
}

function narrowNode(node: TreeNode, n: number): TreeNode {
  if ("link" in node) return { ...node, link: narrowPath(node.link, n) }
  if (node.type === "dir") return { ...node, children: narrowTree(node.children ?? {}, n) }
  if (node.type === "symlink") return { ...node, target: narrowPath(node.target, n) }
  return node
}

/** The scenario of run `seed` (fast-check's generation is a function of its seed). */
export function scenarioForSeed(shape: ScenarioShape, seed: number): Scenario {
  const [s] = fc.sample(arbScenario(shape), { seed, numRuns: 1 })
  return s!
}

/** A campaign strategy: one strategy, or a portfolio drawn from by seed. */
export type CampaignStrategy = { readonly kind: "one"; readonly spec: StrategySpec } | { readonly kind: "portfolio"; readonly specs: readonly StrategySpec[] }

export const PORTFOLIO: readonly StrategySpec[] = [{ kind: "random" }, { kind: "pct", depth: 2 }, { kind: "pct", depth: 3 }]

/**
 * The strategy of the run seeded `seed`: a function of the seed alone, so
 * `fsim check --seed S --runs 1` repeats run S of any campaign with the same
 * portfolio. Seed S takes the portfolio's strategy (S - 1) mod n, so a
 * campaign from the default seed 1 rotates through them from its first run.
 */
export function strategyFor(c: CampaignStrategy, seed: number): StrategySpec {
  if (c.kind === "one") return c.spec
  const n = c.specs.length
  return c.specs[(((seed - 1) % n) + n) % n]!
}

export function strategyLabel(s: StrategySpec): string {
  return s.kind === "random" ? "random" : `pct:${s.depth}`
}

/** What a campaign is, as plain data (what a worker thread is handed). */
export interface CampaignSpec {
  /** Every run's shape, unless the campaign is a swarm. */
  readonly shape: ScenarioShape
  /**
   * A swarm campaign (swarm.ts): each run draws its whole configuration
   * from its seed, within what these pin; `shape` is then only the
   * campaign's nominal one (its summary's header).
   */
  readonly swarm?: SwarmPins
  /** The seed of run 0. */
  readonly seed: number
  readonly strategy: CampaignStrategy
}

/** The shape of the run seeded `seed`: the campaign's, or its swarm configuration. A function of the seed alone. */
export function shapeOfRun(o: CampaignOptions, seed: number): ScenarioShape {
  if (o.swarm === undefined) return o.shape
  if (o.descriptors === undefined) throw new Error("campaign: a swarm campaign needs the filesystems' descriptors")
  return drawSwarmConfig(o.descriptors, o.swarm, seed)
}

/**
 * Sorts a failing run's violations into instances of a filesystem's
 * documented findings (gVisor's own bugs that a faithful port reproduces,
 * by id) and what none accounts for (`unknown`; an inconclusive verdict
 * counts there too).
 */
export interface FindingsClassifier {
  run(r: RunReport): { readonly known: readonly string[]; readonly unknown: readonly string[] }
  /** The finding a lock-class cycle across runs (campaign.lockCycles) is an instance of, or null. */
  cycle?(classes: readonly string[]): string | null
}

/**
 * A run's failure sorted by `finding` (the id of the documented finding a
 * violation is an instance of, or null): the findings it shows, sorted,
 * and the violations none accounts for, with an inconclusive verdict
 * counted there too.
 */
export function sortRunFindings(r: RunReport, finding: (v: Violation) => string | null): { readonly known: readonly string[]; readonly unknown: readonly string[] } {
  const known = new Set<string>()
  const unknown: string[] = []
  for (const v of r.violations) {
    const id = finding(v)
    if (id !== null) known.add(id)
    else unknown.push(`${v.check}: ${v.message}`)
  }
  if (r.verdict !== "pass" && r.verdict !== "fail" && unknown.length === 0) unknown.push(`verdict ${r.verdict} (${r.end.kind})`)
  return { known: [...known].sort(), unknown }
}

export interface CampaignOptions extends CampaignSpec {
  readonly mounts: MountRegistry
  readonly lockOrders: readonly LockOrderSpec[]
  /** Every filesystem's descriptor: what a swarm draws configurations from (needed by a swarm campaign only). */
  readonly descriptors?: readonly FilesystemDescriptor[]
  /** Classifiers of failing runs by mount kind (the gofer's and the overlay's findings). */
  readonly findings?: Readonly<Record<string, FindingsClassifier>>
}

export interface StrategyStats {
  runs: number
  /** Runs with verdict fail. */
  failures: number
  steps: number
  /** The lowest seed this strategy failed at, or null. */
  firstFailingSeed: number | null
}

/** A failing or inconclusive run, in a few words (its trace is re-made from its seed when needed). */
export interface FailureRecord {
  readonly seed: number
  /** Its index in the campaign (seed - campaign seed). */
  readonly run: number
  /** The strategy as chosen ("pct:3"). */
  readonly strategy: string
  /** The strategy as recorded in a trace ("pct:3:27"). */
  readonly recorded: string
  readonly verdict: Verdict
  /** The checks that failed, in order of first report. */
  readonly checks: readonly CheckName[]
  /** The first violation's message (cut to 300 characters). */
  readonly message: string
  /** FNV-1a of every violation (check, message, events): equal digests, equal violations. */
  readonly digest: string
  /** The documented findings its violations are instances of (by id), when the mount has a classifier. */
  readonly findings: readonly string[]
  /** Every violation is an instance of a documented finding (never for an inconclusive run). */
  readonly explained: boolean
  /**
   * The checks with a violation no documented finding accounts for, in order
   * of first report (every check of the run when its mount has no findings;
   * none for an inconclusive run).
   */
  readonly newChecks: readonly CheckName[]
  /** The first of those violations' message (cut to 300 characters), or null. */
  readonly newMessage: string | null
  /** The run's configuration in a few words (swarm.ts, describeConfig). */
  readonly config: string
}

/** Failure records kept (those of the lowest seeds); the verdict counts cover them all. */
export const FAILURES_KEPT = 10_000

/**
 * What a set of runs found, as plain data: additive, and merged
 * commutatively (mergeTally), so the tally of a seed range does not depend
 * on how it was split or in which order the parts arrived.
 */
export interface Tally {
  runs: number
  steps: number
  events: number
  verdicts: Record<Verdict, number>
  /** Inconclusive runs (unknown or budget_exhausted) by the reason their run gave (RunReport.reason). */
  unknownReasons: Record<string, number>
  violationsByCheck: Partial<Record<CheckName, number>>
  strategies: Record<string, StrategyStats>
  /** Non-passing runs of the lowest seeds, sorted by seed (at most FAILURES_KEPT). */
  failures: FailureRecord[]
  /** 9P requests sent, by message type (Twalk...). */
  rpcs: Record<string, number>
  /** 9P replies that were errors, by message type of the reply (Rlerror...) and errno: "Rlerror ENOENT". */
  rpcErrors: Record<string, number>
  /** Cache transitions seen, by "cache what" ("dentry cached", "page dirtied", "dentry hit"). */
  cache: Record<string, number>
  /** Coverage marks reached (`mark` events): runs that logged each at least once, and the lowest such seed. */
  marks: Record<string, { runs: number; firstSeed: number }>
  /** Lock-class pairs held together ("A\u0000B": A held while taking B), each with the lowest seed that showed it. */
  lockEdges: Record<string, number>
  /** Failing runs showing each documented finding, with the lowest such seed. */
  findings: Record<string, { runs: number; firstSeed: number }>
  /** Failing runs whose every violation is an instance of a documented finding. */
  explained: number
  /** By mount (its label: "gofer-none", "overlay-gofer-fscache"): runs, failing runs, RPCs sent, cache hits and misses. */
  byMount: Record<string, MountStats>
}

export interface MountStats {
  runs: number
  failing: number
  rpcs: number
  hits: number
  misses: number
}

export function emptyTally(): Tally {
  return {
    runs: 0,
    steps: 0,
    events: 0,
    verdicts: { pass: 0, fail: 0, budget_exhausted: 0, unknown: 0 },
    unknownReasons: {},
    violationsByCheck: {},
    strategies: {},
    failures: [],
    rpcs: {},
    rpcErrors: {},
    cache: {},
    marks: {},
    findings: {},
    explained: 0,
    lockEdges: {},
    byMount: {},
  }
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n
}

function minSeed(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b)
}

/** Adds `from` into `into`. Commutative and associative, up to the order of object keys (sortedTally fixes it). */
export function mergeTally(into: Tally, from: Tally): void {
  into.runs += from.runs
  into.steps += from.steps
  into.events += from.events
  for (const v of Object.keys(into.verdicts) as Verdict[]) into.verdicts[v] += from.verdicts[v]
  addCounts(into.unknownReasons, from.unknownReasons)
  addCounts(into.violationsByCheck, from.violationsByCheck)
  for (const [label, st] of Object.entries(from.strategies)) {
    const t = (into.strategies[label] ??= { runs: 0, failures: 0, steps: 0, firstFailingSeed: null })
    t.runs += st.runs
    t.failures += st.failures
    t.steps += st.steps
    t.firstFailingSeed = minSeed(t.firstFailingSeed, st.firstFailingSeed)
  }
  if (from.failures.length > 0) {
    into.failures = [...into.failures, ...from.failures].sort((a, b) => a.seed - b.seed).slice(0, FAILURES_KEPT)
  }
  addCounts(into.rpcs, from.rpcs)
  addCounts(into.rpcErrors, from.rpcErrors)
  addCounts(into.cache, from.cache)
  for (const [k, seed] of Object.entries(from.lockEdges)) into.lockEdges[k] = Math.min(into.lockEdges[k] ?? seed, seed)
  mergeFirstSeen(into.findings, from.findings)
  mergeFirstSeen(into.marks, from.marks)
  into.explained += from.explained
  for (const [k, m] of Object.entries(from.byMount)) {
    const t = (into.byMount[k] ??= { runs: 0, failing: 0, rpcs: 0, hits: 0, misses: 0 })
    t.runs += m.runs
    t.failing += m.failing
    t.rpcs += m.rpcs
    t.hits += m.hits
    t.misses += m.misses
  }
}

/** Adds run counts and keeps the lowest first seed, key by key. */
function mergeFirstSeen(into: Record<string, { runs: number; firstSeed: number }>, from: Readonly<Record<string, { readonly runs: number; readonly firstSeed: number }>>): void {
  for (const [id, f] of Object.entries(from)) {
    const t = (into[id] ??= { runs: 0, firstSeed: f.firstSeed })
    t.runs += f.runs
    t.firstSeed = Math.min(t.firstSeed, f.firstSeed)
  }
}

/** Counts one run (seeded `seed`) under each of `ids`, keeping the lowest seed. */
function countFirstSeen(into: Record<string, { runs: number; firstSeed: number }>, ids: readonly string[], seed: number): void {
  for (const id of ids) {
    const f = (into[id] ??= { runs: 0, firstSeed: seed })
    f.runs++
    f.firstSeed = Math.min(f.firstSeed, seed)
  }
}

function sortKeys<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The tally with every map's keys sorted: equal tallies then print byte-identically. */
export function sortedTally(t: Tally): Tally {
  return {
    ...t,
    unknownReasons: sortKeys(t.unknownReasons),
    violationsByCheck: sortKeys(t.violationsByCheck as Record<string, number>) as Tally["violationsByCheck"],
    strategies: sortKeys(t.strategies),
    rpcs: sortKeys(t.rpcs),
    rpcErrors: sortKeys(t.rpcErrors),
    cache: sortKeys(t.cache),
    marks: sortKeys(t.marks),
    lockEdges: sortKeys(t.lockEdges),
    findings: sortKeys(t.findings),
    byMount: sortKeys(t.byMount),
  }
}

/** FNV-1a, 32 bits, as 8 hex digits. */
export function fnv1a(text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0).toString(16).padStart(8, "0")
}

/** Counts a run's RPCs and cache transitions into `t`, and into its mount's row. */
function countEvents(events: readonly Event[], t: Tally, m: MountStats): void {
  for (const e of events) {
    if (e.kind === "rpc_send") {
      t.rpcs[e.msg] = (t.rpcs[e.msg] ?? 0) + 1
      m.rpcs++
    } else if (e.kind === "rpc_reply" && e.outcome !== "ok") {
      const k = `${e.msg} ${e.outcome}`
      t.rpcErrors[k] = (t.rpcErrors[k] ?? 0) + 1
    } else if (e.kind === "cache") {
      const k = `${e.cache} ${e.what}`
      t.cache[k] = (t.cache[k] ?? 0) + 1
      if (e.what === "hit") m.hits++
      else if (e.what === "miss") m.misses++
    }
  }
}

/** Tallies one run into `t`. */
export function tallyRun(t: Tally, r: RunReport, run: number, label: string, graph: LockGraph, classify?: FindingsClassifier, config = "", mount?: string): void {
  const ms = (t.byMount[mount ?? (r.subject.format === "fsim.workload/1" ? "workload" : r.subject.mount.kind)] ??= { runs: 0, failing: 0, rpcs: 0, hits: 0, misses: 0 })
  ms.runs++
  if (r.verdict === "fail") ms.failing++
  t.runs++
  t.steps += r.steps
  t.events += r.events.length
  t.verdicts[r.verdict]++
  const st = (t.strategies[label] ??= { runs: 0, failures: 0, steps: 0, firstFailingSeed: null })
  st.runs++
  st.steps += r.steps
  for (const v of r.violations) t.violationsByCheck[v.check] = (t.violationsByCheck[v.check] ?? 0) + 1
  countEvents(r.events, t, ms)
  // From the report, not the events: a run's marks are kept apart by its log.
  countFirstSeen(t.marks, r.marks, r.seed)
  for (const [a, b] of graph.pairs()) {
    const k = `${a}\u0000${b}`
    t.lockEdges[k] = Math.min(t.lockEdges[k] ?? r.seed, r.seed)
  }
  if (r.verdict === "pass") return
  if (r.verdict === "unknown" || r.verdict === "budget_exhausted") {
    const why = r.reason ?? r.verdict
    t.unknownReasons[why] = (t.unknownReasons[why] ?? 0) + 1
  }
  if (r.verdict === "fail") {
    st.failures++
    st.firstFailingSeed = minSeed(st.firstFailingSeed, r.seed)
  }
  const checks = [...new Set(r.violations.map((v) => v.check))]
  // Only failing runs are sorted (an inconclusive one is never explained).
  const sorted = r.verdict === "fail" && classify !== undefined ? classify.run(r) : null
  const known = sorted?.known ?? []
  countFirstSeen(t.findings, known, r.seed)

  const explained = sorted !== null && sorted.known.length > 0 && sorted.unknown.length === 0
  if (explained) t.explained++
  const fresh = r.verdict === "fail" ? newViolations(r, sorted) : []
  const first = r.violations[0]?.message ?? (r.verdict === "budget_exhausted" ? "the step budget ran out" : `a checker gave up (unknown: ${r.reason ?? "no reason given"})`)
  t.failures.push({
    seed: r.seed,
    run,
    strategy: label,
    recorded: r.strategy,
    verdict: r.verdict,
    checks,
    message: cut300(first),
    digest: fnv1a(JSON.stringify(r.violations)),
    findings: known,
    explained,
    newChecks: [...new Set(fresh.map((v) => v.check))],
    newMessage: fresh[0] === undefined ? null : cut300(fresh[0].message),
    config,
  })
  if (t.failures.length > FAILURES_KEPT) t.failures.length = FAILURES_KEPT
}

function cut300(m: string): string {
  return m.length > 300 ? m.slice(0, 299) + "…" : m
}

/** A failing run's violations that no documented finding accounts for (all of them without a classifier). */
function newViolations(r: RunReport, sorted: { readonly unknown: readonly string[] } | null): Violation[] {
  if (sorted === null) return [...r.violations]
  const unknown = new Set(sorted.unknown)
  return r.violations.filter((v) => unknown.has(`${v.check}: ${v.message}`))
}

/**
 * Whether a run still fails `check` in a way no documented finding accounts
 * for: what a shrink of an unexplained failure must keep, so it never
 * shrinks into a known finding.
 */
export function failsNew(r: RunReport, check: CheckName, classify: FindingsClassifier | undefined): boolean {
  if (r.verdict !== "fail") return false
  const fresh = newViolations(r, classify === undefined ? null : classify.run(r))
  return fresh.some((v) => v.check === check)
}

/** The seed of run `run` of a campaign seeded `seed`. */
export function seedOf(seed: number, run: number): number {
  return (seed + run) >>> 0
}

/** Re-runs run `run` of a campaign (for its trace): the same report the campaign saw. */
export function rerun(o: CampaignOptions, run: number): RunReport {
  const seed = seedOf(o.seed, run)
  const spec = strategyFor(o.strategy, seed)
  const scenario = scenarioForSeed(shapeOfRun(o, seed), seed)
  return runSubject(scenario, { seed, strategy: spec, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: new LockGraph(), runLabel: `seed ${seed}` })
}

/**
 * A campaign's runs, done in ranges: `runRange` does runs [first, first +
 * count) and returns their tally, so a caller can report progress, stop
 * (Ctrl-C) between ranges, and hand ranges to worker threads.
 */
export class Campaign {
  constructor(private readonly o: CampaignOptions) {}

  runRange(first: number, count: number): Tally {
    const o = this.o
    const t = emptyTally()
    for (let i = first; i < first + count; i++) {
      const seed = seedOf(o.seed, i)
      const spec = strategyFor(o.strategy, seed)
      const shape = shapeOfRun(o, seed)
      const scenario = scenarioForSeed(shape, seed)
      // A lock graph per run: a run's outcome depends on its seed alone. The
      // campaign's union of edges is kept in the tally (lockEdges), and
      // cycles across runs are found in it (lockCycles).
      const graph = new LockGraph()
      const r = runSubject(scenario, { seed, strategy: spec, mounts: o.mounts, lockOrders: o.lockOrders, lockGraph: graph, runLabel: `seed ${seed}` })
      const mount = o.descriptors === undefined ? shape.mount.kind : mountLabelOf(o.descriptors, shape.mount)
      tallyRun(t, r, i, strategyLabel(spec), graph, o.findings?.[shape.mount.kind], o.swarm === undefined ? "" : describeConfig(shape), mount)
    }
    return t
  }
}

/** Runs a whole campaign of `runs` runs at once, in one thread. */
export function runCampaign(o: CampaignOptions, runs: number): Tally {
  return new Campaign(o).runRange(0, runs)
}

/** A cycle in the campaign's lock-class graph: the classes in order, each edge with the lowest seed that showed it. */
export interface LockCycle {
  readonly classes: readonly string[]
  readonly seeds: readonly number[]
}

/**
 * Cycles in the union of the runs' lock-class graphs (at most `max`),
 * including inversions whose halves were seen in different runs. A function
 * of the edge set alone, so of the seed range, not of its split.
 */
export function lockCycles(lockEdges: Readonly<Record<string, number>>, max = 20): LockCycle[] {
  const adj = new Map<string, string[]>()
  const keys = Object.keys(lockEdges).sort()
  for (const k of keys) {
    const [a, b] = k.split("\u0000") as [string, string]
    if (!adj.has(a)) adj.set(a, [])
    adj.get(a)!.push(b)
  }
  const seen = new Set<string>()
  const out: LockCycle[] = []
  for (const k of keys) {
    if (out.length >= max) break
    const [a, b] = k.split("\u0000") as [string, string]
    const path = shortestPath(adj, b, a)
    if (path === null) continue
    // The cycle a -> b -> ... -> a, rotated to start at its least class.
    const cyc = [a, ...path.slice(0, -1)]
    let m = 0
    for (let i = 1; i < cyc.length; i++) if (cyc[i]! < cyc[m]!) m = i
    const rot = [...cyc.slice(m), ...cyc.slice(0, m)]
    const id = rot.join("\u0000")
    if (seen.has(id)) continue
    seen.add(id)
    out.push({ classes: rot, seeds: rot.map((c, i) => lockEdges[`${c}\u0000${rot[(i + 1) % rot.length]!}`]!) })
  }
  return out
}

/** The shortest path from `from` to `to` (both included), neighbours in sorted order; null if none. */
function shortestPath(adj: ReadonlyMap<string, readonly string[]>, from: string, to: string): string[] | null {
  const prev = new Map<string, string | null>([[from, null]])
  const queue = [from]
  for (let q = 0; q < queue.length; q++) {
    const x = queue[q]!
    if (x === to) {
      const path: string[] = []
      for (let c: string | null = x; c !== null; c = prev.get(c)!) path.unshift(c)
      return path
    }
    for (const y of adj.get(x) ?? []) {
      if (prev.has(y)) continue
      prev.set(y, x)
      queue.push(y)
    }
  }
  return null
}
