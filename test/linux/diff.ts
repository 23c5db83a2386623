// Runs sequential scenarios on the model and on Linux (oracle.py) and
// compares every result and the final tree, normalized as the contract's
// section 1.2 says: inode numbers only as a consistent bijection within a
// scenario, times only as "Linux moved mtime/ctime since this inode's last
// stat, so must the model" (never their values, never atime), directory sizes never, statfs only
// namelen.

import { apply, initialState, toTree, type ModelState } from "../../src/model/index.js"
import { getInode } from "../../src/model/state.js"
import type { SequentialScenario } from "../../src/model/arbitraries.js"
import type { Cred, Op, OpResult, Stat } from "../../src/model/types.js"
import type { LinuxOracle } from "./oracle.js"

export interface Mismatch {
  readonly seed: number
  readonly index: number | "final"
  readonly op?: Op
  readonly cred?: Cred
  readonly model: unknown
  readonly linux: unknown
  readonly scenario: SequentialScenario
}

export interface ScenarioReport {
  readonly compared: number
  readonly skipped: number
  readonly mismatch?: Mismatch
}

/**
 * Ops that cannot be compared, decided on the model's state before the op:
 * an open that would block on a FIFO (the helper would hang), and a read of
 * an empty FIFO through a blocking description that has a writer (it would
 * block forever; the model answers EAGAIN, see DIVERGENCES.md).
 */
export function uncomparable(state: ModelState, op: Op, result: OpResult, blocks: boolean): string | undefined {
  if (blocks) return "blocking FIFO open"
  if (op.op === "read" && "errno" in result && result.errno === "EAGAIN") {
    const f = state.fds[op.fd]
    if (f !== undefined && !f.nonblock && getInode(state, f.ino)?.type === "fifo") return "blocking FIFO read"
  }
  return undefined
}

export class InoMap {
  private readonly toLinux = new Map<number, number>()
  private readonly toModel = new Map<number, number>()
  /** The mtime and ctime each side showed at the last stat of an inode (by model ino). */
  private readonly lastTimes = new Map<number, { mm: number; mc: number; lm: unknown; lc: unknown }>()

  /**
   * Whether the model moved mtime and ctime wherever Linux did since the
   * last stat of this inode. One way only: tmpfs's multigrain timestamps
   * (6.13+) give a fresh stamp only to an inode whose times were queried, and
   * a directory takes its times from the child being created or removed, so
   * Linux may leave a time unchanged within one clock tick where the model
   * (whose clock steps every op) moves it. atime is not compared (Linux
   * mounts relatime, the model keeps strict atime: DIVERGENCES.md).
   */
  sameTimeChanges(m: Stat, l: Stat): boolean {
    const prev = this.lastTimes.get(m.ino)
    this.lastTimes.set(m.ino, { mm: m.mtime, mc: m.ctime, lm: l.mtime, lc: l.ctime })
    if (prev === undefined) return true
    const missed = (model: number, before: number, linux: unknown, linuxBefore: unknown): boolean => model === before && linux !== linuxBefore
    return !missed(m.mtime, prev.mm, l.mtime, prev.lm) && !missed(m.ctime, prev.mc, l.ctime, prev.lc)
  }

  /** Whether model ino `m` and Linux ino `l` are consistent with what was seen so far. */
  same(m: number, l: number): boolean {
    const a = this.toLinux.get(m)
    const b = this.toModel.get(l)
    if (a === undefined && b === undefined) {
      this.toLinux.set(m, l)
      this.toModel.set(l, m)
      return true
    }
    return a === l && b === m
  }
}

function isStat(r: OpResult): r is Stat {
  return "ino" in r
}

/** Result equality under the contract's normalizations. */
export function sameResult(model: OpResult, linux: OpResult, inos: InoMap): boolean {
  if (isStat(model) && isStat(linux)) {
    if (!inos.same(model.ino, linux.ino)) return false
    if (!inos.sameTimeChanges(model, linux)) return false
    return (
      model.type === linux.type &&
      model.mode === linux.mode &&
      model.uid === linux.uid &&
      model.gid === linux.gid &&
      model.nlink === linux.nlink &&
      (model.type === "dir" || model.size === linux.size)
    )
  }
  return canonical(model) === canonical(linux)
}

/** JSON with keys sorted, so objects compare by content. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x === null || typeof x !== "object" || Array.isArray(x)) return x
    const o = x as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(o).sort()) out[k] = o[k]
    return out
  })
}

/** Runs one scenario on both sides; stops at the first mismatch. */
export async function runScenario(oracle: LinuxOracle, id: number, seed: number, sc: SequentialScenario): Promise<ScenarioReport> {
  // The model's clock starts at 1 and steps per op, so no model time equals an explicit utimens value of 0.
  let state = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 1)
  await oracle.begin(id, sc.tree, sc.root, sc.readOnly)
  const inos = new InoMap()
  let compared = 0
  let skipped = 0
  let mismatch: Mismatch | undefined
  for (let i = 0; i < sc.steps.length && mismatch === undefined; i++) {
    const { op, cred } = sc.steps[i] as { op: Op; cred: Cred }
    const out = apply(state, op, cred, i + 2)
    if (uncomparable(state, op, out.result, out.blocks !== undefined) !== undefined) {
      skipped++
      continue
    }
    const linux = await oracle.op(op, cred)
    compared++
    if (!sameResult(out.result, linux, inos)) mismatch = { seed, index: i, op, cred, model: out.result, linux, scenario: sc }
    state = out.state
  }
  // The final tree, read once every description is closed.
  for (const fd of Object.keys(state.fds).sort()) state = apply(state, { op: "close", fd }, { uid: 0, gid: 0, groups: [] }, 0).state
  const linuxFinal = await oracle.end()
  if (mismatch === undefined) {
    const modelFinal = toTree(state)
    if (canonical(modelFinal) !== canonical(linuxFinal)) mismatch = { seed, index: "final", model: modelFinal, linux: linuxFinal, scenario: sc }
  }
  return mismatch === undefined ? { compared, skipped } : { compared, skipped, mismatch }
}

export function describeMismatch(m: Mismatch): string {
  const lines = [`seed ${m.seed}: ${m.index === "final" ? "final tree differs" : `op #${m.index} differs`}`]
  if (m.op !== undefined) lines.push(`  op:     ${JSON.stringify(m.op)} as ${JSON.stringify(m.cred)}`)
  lines.push(`  model:  ${canonical(m.model)}`, `  linux:  ${canonical(m.linux)}`, `  scenario: ${JSON.stringify(m.scenario)}`)
  return lines.join("\n")
}

/**
 * A sequential plan's steps as scenario threads: one per run of steps with
 * the same credential, each after the first starting with a sleep that
 * places it `segmentNs` after the one before, so that they run in turn;
 * `slots` says where each step went.
 */
export function threadsByCred(
  steps: readonly { readonly op: Op; readonly cred: Cred }[],
  segmentNs: number,
): { threads: { name: string; cred: Cred; ops: Op[] }[]; slots: { thread: string; index: number }[] } {
  const threads: { name: string; cred: Cred; ops: Op[] }[] = []
  const slots: { thread: string; index: number }[] = []
  for (const { op, cred } of steps) {
    let t = threads[threads.length - 1]
    if (t === undefined || canonical(t.cred) !== canonical(cred)) {
      const j = threads.length
      t = { name: `s${j}`, cred, ops: j === 0 ? [] : [{ op: "sleep", ns: j * segmentNs }] }
      threads.push(t)
    }
    slots.push({ thread: t.name, index: t.ops.length })
    t.ops.push(op)
  }
  return { threads, slots }
}
