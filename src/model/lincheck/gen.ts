// Concurrent filesystem histories for testing the checker: T threads of N
// ops each over a small namespace (names a, b, c, at depth at most 2, and
// the symbolic fds f and g shared by all threads), realized through the
// reference model with random overlapping intervals, each op taking effect
// at a random point inside its interval (plan.ts). They are linearizable by
// construction and come with their witness.
//
// `corruptHistory` changes one returned op's result to one the model cannot
// produce at any point, by construction of the namespace and the alphabet:
//
// - data, xattr values and symlink targets get a "#" appended: generated
//   data, values and targets never contain "#", and neither do the initial
//   trees, so no read can return one;
// - a directory listing gets an entry "#", and an xattr listing a name
//   "user.#": generated names never contain "#";
// - a write's count becomes one more than the bytes it was given;
// - an lseek offset and a stat size grow by 1,000,000, more than the
//   generated ops can ever write (at most 4 bytes at offsets below 8 per op),
//   and so does a directory's nlink (directory sizes are not compared);
// - an errno, or a plain success, becomes ETIMEDOUT, which a local model
//   never returns (it is a network error).
//
// Such a history is not linearizable, whatever the interleaving. Tests also
// confirm it with the checker itself.

import fc from "fast-check"
import type { ModelState } from "../index.js"
import { ROOT, isErr, type Cred, type Op, type OpResult, type OpenFlag, type Tree } from "../types.js"
import { mix32 } from "./check.js"
import { fsModel, isStat, type FsInput } from "./fs.js"
import { HISTORY_FORMAT, type History, type HistoryOp } from "./history.js"
import { planArbitrary, realize, sampleOne, type Plan, type PlanShape } from "./plan.js"

const NAMES = ["a", "b", "c"] as const
const FDS = ["f", "g"] as const
/** Generated data never contains "#": corruptions rely on it. */
const ALPHABET = ["x", "y", "z", "\u00e9"] as const

const nameArb = fc.constantFrom(...NAMES)
const pathArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: nameArb.map((n) => `/${n}`), weight: 5 },
  { arbitrary: fc.tuple(nameArb, nameArb).map(([d, n]) => `/${d}/${n}`), weight: 1 },
)
const fdArb = fc.constantFrom(...FDS)
const dataArb = fc.array(fc.constantFrom(...ALPHABET), { minLength: 0, maxLength: 4 }).map((cs) => cs.join(""))
const smallArb = fc.nat({ max: 7 })
const modeArb = fc.constantFrom(0o644, 0o600, 0o755, 0o000)

// Mostly creating opens, so that later fd ops find something open.
const OPEN_FLAG_SETS: readonly (readonly OpenFlag[])[] = [
  ["O_RDWR", "O_CREAT"],
  ["O_RDWR", "O_CREAT", "O_APPEND"],
  ["O_WRONLY", "O_CREAT", "O_TRUNC"],
  ["O_RDWR", "O_CREAT", "O_EXCL"],
  ["O_RDWR"],
  ["O_RDONLY"],
  ["O_WRONLY", "O_APPEND"],
  ["O_RDONLY", "O_DIRECTORY"],
]

// FIFOs are left out: opening one blocks until its other end is opened, and
// a history records no blocking. Sleep and utimens are left out: times are
// not compared.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("open" as const), path: pathArb, flags: fc.constantFrom(...OPEN_FLAG_SETS), fd: fdArb }), weight: 9 },
  { arbitrary: fc.record({ op: fc.constant("write" as const), fd: fdArb, data: dataArb }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("read" as const), fd: fdArb, count: smallArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("stat" as const), path: pathArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("close" as const), fd: fdArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("pread" as const), fd: fdArb, offset: smallArb, count: smallArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("pwrite" as const), fd: fdArb, offset: smallArb, data: dataArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("mkdir" as const), path: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("unlink" as const), path: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("rename" as const), from: pathArb, to: pathArb }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("getdents" as const), fd: fdArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("lseek" as const), fd: fdArb, offset: smallArb, whence: fc.constantFrom("SEEK_SET" as const, "SEEK_CUR" as const, "SEEK_END" as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("ftruncate" as const), fd: fdArb, length: smallArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("truncate" as const), path: pathArb, length: smallArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("fstat" as const), fd: fdArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("lstat" as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("rmdir" as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("link" as const), from: pathArb, to: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("symlink" as const), target: pathArb, path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("readlink" as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("chmod" as const), path: pathArb, mode: modeArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("access" as const), path: pathArb, mode: fc.constantFrom("F_OK" as const, ["R_OK" as const], ["W_OK" as const, "X_OK" as const]) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("setxattr" as const), path: pathArb, name: fc.constantFrom("user.k", "user.v"), value: dataArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("getxattr" as const), path: pathArb, name: fc.constantFrom("user.k", "user.v") }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("listxattr" as const), path: pathArb }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("fsync" as const), fd: fdArb }), weight: 1 },
) as fc.Arbitrary<Op>

/** Initial trees: empty, one file, or a file, a directory and a symlink. */
const INITIAL_TREES: readonly Tree[] = [
  {},
  { a: { type: "file", data: "xyz" } },
  { a: { type: "file", data: "xy", mode: 0o644 }, b: { type: "dir", children: { c: { type: "file", data: "z" } } }, c: { type: "symlink", target: "/b/c" } },
]

const USER: Cred = Object.freeze({ uid: 1000, gid: 1000, groups: Object.freeze([1000]) as readonly number[] })

export interface FsPlan {
  readonly initial: Tree
  /** Per thread: true runs it as uid 1000, else as root. */
  readonly unprivileged: readonly boolean[]
  readonly plan: Plan<Op>
}

export interface FsShape extends PlanShape {
  /** Whether some threads may run as uid 1000 (default true). */
  readonly unprivileged?: boolean
}

export function fsPlanArbitrary(shape: FsShape): fc.Arbitrary<FsPlan> {
  const unprivileged =
    shape.unprivileged === false
      ? fc.constant(Array<boolean>(shape.threads.max).fill(false))
      : fc.array(fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }), {
          minLength: shape.threads.max,
          maxLength: shape.threads.max,
        })
  return fc.record({
    initial: fc.constantFrom(...INITIAL_TREES),
    unprivileged,
    plan: planArbitrary(opArb, shape),
  })
}

export interface Generated {
  readonly history: History
  /** Op indices in the order they took effect: a linearization. */
  readonly witness: readonly number[]
}

/** Runs a plan through the reference model into an `fsim.history/1` document. */
export function realizeFs(p: FsPlan): Generated {
  const model = fsModel(p.initial)
  const credOf = (k: number): Cred | null => (p.unprivileged[k] === true ? USER : null)
  const plan: Plan<FsInput> = {
    ...p.plan,
    threads: p.plan.threads.map((ops, k) => ops.map((op) => ({ op, cred: credOf(k) ?? ROOT }))),
  }
  const { ops, witness } = realize<ModelState, FsInput, OpResult>(model, plan)
  const creds: Record<string, Cred> = {}
  p.plan.threads.forEach((_, k) => {
    const c = credOf(k)
    if (c !== null) creds[`t${k}`] = c
  })
  const historyOps: HistoryOp[] = ops.map((o) => ({
    thread: o.thread!,
    op: o.input.op,
    result: o.return === null ? null : o.output!,
    invoke: o.invoke,
    return: o.return,
  }))
  const history: History = {
    format: HISTORY_FORMAT,
    initial: p.initial,
    ...(Object.keys(creds).length > 0 ? { creds } : {}),
    ops: historyOps,
  }
  return { history, witness }
}

/** Linearizable histories of the given shape, with their witness; shrinks with the plan. */
export function fsHistoryArbitrary(shape: FsShape): fc.Arbitrary<Generated> {
  return fsPlanArbitrary(shape).map(realizeFs)
}

export interface GenerateOptions {
  readonly threads: number
  readonly ops: number
  /** Whether a thread's last op may never return (default true). */
  readonly pending?: boolean
}

/** One history of exactly `threads` x `ops`, drawn deterministically from `seed`. */
export function generateHistory(seed: number, options: GenerateOptions): Generated {
  const { threads, ops } = options
  if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`generateHistory: threads is a positive integer, got ${threads}`)
  if (!Number.isSafeInteger(ops) || ops < 0) throw new RangeError(`generateHistory: ops is a non-negative integer, got ${ops}`)
  const arb = fsPlanArbitrary({ threads: { min: threads, max: threads }, opsPerThread: { min: ops, max: ops }, pending: options.pending ?? true })
  return realizeFs(sampleOne(arb, seed))
}

export interface Corrupted {
  readonly history: History
  /** The op whose result was changed. */
  readonly index: number
  readonly before: OpResult
  readonly after: OpResult
}

/**
 * Changes the result of one returned op (the `choice`-th, modulo their
 * number) to one the model cannot produce (see the file comment). Null when
 * no op returned.
 */
export function corruptHistory(history: History, choice: number): Corrupted | null {
  const returned = history.ops.flatMap((o, i) => (o.result === null ? [] : [i]))
  if (returned.length === 0) return null
  const index = returned[mix32(choice >>> 0) % returned.length]!
  const target = history.ops[index]!
  const before = target.result!
  const after = impossibleResult(target.op, before)
  const ops = history.ops.map((o, i) => (i === index ? { ...o, result: after } : o))
  return { history: { ...history, ops }, index, before, after }
}

/** A result the model cannot give `op` on any generated history (see the file comment). */
export function impossibleResult(op: Op, r: OpResult): OpResult {
  if (isErr(r)) return { errno: r.errno === "ETIMEDOUT" ? "ECONNREFUSED" : "ETIMEDOUT" }
  if (isStat(r)) return r.type === "dir" ? { ...r, nlink: r.nlink + 1_000_000 } : { ...r, size: r.size + 1_000_000 }
  if ("data" in r) return { data: `${r.data}#` }
  if ("value" in r) return { value: `${r.value}#` }
  if ("target" in r) return { target: `${r.target}#` }
  if ("entries" in r) return { entries: [...r.entries, { name: "#", type: "file" }] }
  if ("names" in r) return { names: [...r.names, "user.#"] }
  if ("count" in r) return { count: (op.op === "write" || op.op === "pwrite" ? op.data.length : r.count) + 1 }
  if ("offset" in r) return { offset: r.offset + 1_000_000 }
  if ("namelen" in r) return { namelen: r.namelen + 1_000_000 }
  return { errno: "ETIMEDOUT" }
}
