// The reference filesystem model as a sequential specification for the
// checker.
//
// Each op is applied with `now = 0`: times are not compared, so the clock
// does not matter. Results are compared after normalization, each item of
// which is something a correct system may legitimately differ in:
//
// - `atime`, `mtime`, `ctime` of stat results are dropped: the model is run
//   on a clock of its own, not the clock of the system under test.
// - `ino` of stat results is dropped: the model numbers inodes in creation
//   order, and the order in which concurrent creates are linearized decides
//   which file gets which number, so the same correct history would check
//   under one linearization and fail under another. (The contract's
//   "compared only as equal/different within one scenario" is not
//   checkable op by op; it would need a consistent renaming across the
//   whole witness.)
// - `size` of a directory's stat is dropped: each filesystem has its own
//   directory sizes (contract 1.2).
// - Whether an op blocked (`Outcome.blocks`) is ignored: a history records
//   only what each op returned.

import { apply, applyResumed, describeOp, holdInode, release, resumedAsPath, dialectStep, initialState, stateEquals, stateHash, walkCutOf, walksPath, type Dialect, type ModelState, type WalkCut } from "../index.js"
import { isErr, type Cred, type Op, type OpResult, type RootAttrs, type Stat, type Tree } from "../types.js"
import { deepEqual, mix32, type Model, type Operation } from "./check.js"

/** One op as the checker sees it: what was called, and with whose credentials. */
export interface FsInput {
  readonly op: Op
  readonly cred: Cred
  /** An external user of the file server: Linux's semantics, whatever the dialect. */
  readonly external?: boolean
}

export interface FsModelOptions {
  readonly root?: RootAttrs
  readonly readOnly?: boolean
  /** The system's documented departures from Linux (null or absent: Linux). */
  readonly dialect?: Dialect | null
}

/**
 * Other results a dialect allows for an output the model produced (errors
 * whose choice depends on the system's caches), keyed by the output object,
 * which is made fresh for the purpose.
 */
const alternativesOf = new WeakMap<object, readonly OpResult[]>()
/** The dialect rule behind an output, for reports. */
const ruleOf = new WeakMap<object, string>()

/** The dialect rule that produced this output of the model, if one did. */
export function dialectRuleOf(output: OpResult): string | undefined {
  return ruleOf.get(output)
}

/** The reference model over the initial `tree` (throws InputError on a bad tree). */
export function fsModel(tree: Tree, options: FsModelOptions = {}): Model<ModelState, FsInput, OpResult> {
  const init = initialState(tree, options.root, options.readOnly === undefined ? undefined : { readOnly: options.readOnly }, 0)
  return {
    init: () => init,
    step: (state, input) => fsStep(options, state, input),
    hash: stateHash,
    equal: stateEquals,
    accepts,
    describeInput,
    describeOutput,
  }
}

/** One op on the model, under the dialect unless the caller is external. */
function fsStep(options: FsModelOptions, state: ModelState, input: FsInput): { state: ModelState; output: OpResult } {
  const outcome = apply(state, input.op, input.cred, 0)
  const dialect = options.dialect
  if (dialect === undefined || dialect === null || input.external === true) return { state: outcome.state, output: outcome.result }
  const d = dialectStep(dialect, state, input.op, input.cred, outcome)
  if (d.rule === null) return { state: d.state, output: d.result }
  const output = { ...d.result }
  ruleOf.set(output, d.rule)
  if (d.alternatives.length > 0) alternativesOf.set(output, d.alternatives)
  return { state: d.state, output }
}

function accepts(observed: OpResult, produced: OpResult): boolean {
  if (produced === WALKED) return true
  const o = normalizeResult(observed)
  if (deepEqual(o, normalizeResult(produced))) return true
  const alts = alternativesOf.get(produced)
  return alts !== undefined && alts.some((a) => deepEqual(o, normalizeResult(a)))
}

function describeInput(input: FsInput): string {
  return describeOp(input.op) + (isRoot(input.cred) ? "" : ` as uid ${input.cred.uid}`)
}

function describeOutput(output: OpResult, contrast: readonly OpResult[]): string {
  if (output === WALKED) return "its path walked"
  const alts = alternativesOf.get(output)
  const text = describeResult(output, contrast)
  return alts === undefined ? text : [text, ...alts.map((a) => describeResult(a, contrast))].join(" or ")
}

// ---------------------------------------------------------------------------
// Non-atomic walks.
//
// The model applies an op in one step: its path is walked and the op acts
// in the same instant. A system whose walks are not atomic with the op
// (gVisor's: the VFS resolves a rename's old parent and a link's old file
// in filesystem calls of their own, and restarts the walk at an absolute
// symlink in a new call) may walk part of a path, let other ops run, and
// act later; Linux's own walks are not atomic either, and POSIX promises
// no more. For such systems each client op that walks a path gets, besides
// its effect, WALK_STAGES walk entries with the op's interval: a walk
// entry placed before the effect, and after the previous stage, takes the
// walk to its next stop (`walkCutOf`: past the next symlink, or a rename's
// old parent) and records it in the state; the effect goes on from the
// last stop recorded (`applyResumed`), or does the whole op if there is
// none. A walk entry out of turn changes nothing, so every choice of
// stops, including none (the atomic op), is one of the orders searched.
// The checker tries this only for a history the atomic model rejects, so
// its cost is paid only there.

/** Walk entries per op: stops a walk may make (more symlinks are walked with the effect). */
export const WALK_STAGES = 2

/** The output of a walk entry: accepted whatever the op returned. */
const WALKED: OpResult = Object.freeze({})

/** A walk's stage once its op's effect took place. */
const DONE = -1

/** Where each op's walk has got to, sorted by op (absent: not started). */
export interface WalkState {
  readonly fs: ModelState
  readonly walks: readonly { readonly id: number; readonly stage: number; readonly cut: WalkCut | null }[]
}

export interface SplitInput extends FsInput {
  /** Absent: the op is one entry. 0: the effect. 1..WALK_STAGES: that stage of the walk. */
  readonly stage?: number
  /** The history op the entries belong to. */
  readonly id?: number
}

/** The reference model with non-atomic walks, over `split`'s operations. */
export function fsWalksModel(tree: Tree, options: FsModelOptions = {}): Model<WalkState, SplitInput, OpResult> {
  const init: WalkState = { fs: initialState(tree, options.root, options.readOnly === undefined ? undefined : { readOnly: options.readOnly }, 0), walks: [] }
  const withWalk = (state: WalkState, id: number, stage: number, cut: WalkCut | null): WalkState["walks"] =>
    [...state.walks.filter((x) => x.id !== id), { id, stage, cut }].sort((a, b) => a.id - b.id)
  return {
    init: () => init,
    step: (state, input) => {
      if (input.stage === undefined || input.id === undefined) {
        const s = fsStep(options, state.fs, input)
        return { state: { fs: s.state, walks: state.walks }, output: s.output }
      }
      const id = input.id
      const w = state.walks.find((x) => x.id === id)
      const stage = w?.stage ?? 0
      const from = w?.cut ?? null
      if (input.stage > 0) {
        if (stage !== input.stage - 1) return { state, output: WALKED }
        const cut = walkCutOf(state.fs, input.op, input.cred, from) ?? from
        // A stop at a file (link's) holds it, as the VFS's reference to its dentry does.
        const fs = cut !== null && cut !== from && cut.path === "" ? holdInode(state.fs, cut.dir, holdName(id)) : state.fs
        return { state: { fs, walks: withWalk(state, id, input.stage, cut) }, output: WALKED }
      }
      if (stage === DONE) throw new Error(`lincheck: op ${id}'s effect taken twice`)
      const walks = withWalk(state, id, DONE, null)
      if (from === null) {
        const s = fsStep(options, state.fs, input)
        return { state: { fs: s.state, walks }, output: s.output }
      }
      const outcome = applyResumed(state.fs, input.op, input.cred, 0, from)
      // A stop at a file (a link's, or the file a stat or a chmod acts on) held it until now (`holdInode`).
      const unhold = (fs: ModelState): ModelState => (from.path === "" ? release(fs, holdName(id)) : fs)
      // Going on from the stop did what the whole op does now: the op needed no stop (nor a departure counted).
      const atomic = apply(state.fs, input.op, input.cred, 0)
      if (deepEqual(atomic.result, outcome.result) && stateEquals(atomic.state, outcome.state)) {
        const s = fsStep(options, state.fs, input)
        return { state: { fs: unhold(s.state), walks }, output: s.output }
      }
      // The dialect's rules look at the op's whole path: ask them about the same op by a path
      // that reaches the stop now, where that op does just what going on from the stop does.
      const same = resumedAsPath(state.fs, input.op, from)
      if (same !== null && options.dialect !== undefined && options.dialect !== null) {
        const linux = apply(state.fs, same, input.cred, 0)
        if (deepEqual(linux.result, outcome.result) && stateEquals(linux.state, outcome.state)) {
          const s = fsStep(options, state.fs, { ...input, op: same })
          if (dialectRuleOf(s.output) === undefined) ruleOf.set((s.output = { ...s.output }), WALK_RULE)
          return { state: { fs: s.state, walks }, output: s.output }
        }
      }
      const output = { ...outcome.result }
      ruleOf.set(output, WALK_RULE)
      return { state: { fs: unhold(outcome.state), walks }, output }
    },
    hash: (s) => {
      let h = stateHash(s.fs)
      for (const w of s.walks) h = mix32(h ^ mix32((w.id + 1) * 8 + w.stage + 1) ^ (w.cut === null ? 0 : mix32(w.cut.dir * 64 + w.cut.links) ^ stringHash(w.cut.path)))
      return h
    },
    equal: (a, b) => a.walks.length === b.walks.length && a.walks.every((w, i) => deepEqual(w, b.walks[i])) && stateEquals(a.fs, b.fs),
    accepts,
    describeInput: (input) => (input.stage !== undefined && input.stage > 0 ? `the path walk of ${describeInput(input)}` : describeInput(input)),
    describeOutput,
  }
}

/** The hidden description holding the file op `id`'s walk stopped at. */
function holdName(id: number): string {
  return `\u0000walk:${id}`
}

/** `fs` without the hold on the file op `id`'s walk stopped at (`holdInode`). */
export function releaseWalkHold(fs: ModelState, id: number): ModelState {
  return release(fs, holdName(id))
}

/** The departure a result that relied on a non-atomic walk is counted under. */
export const WALK_RULE = "vfs.walk.non-atomic"

function stringHash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * The history's operations with every client op that walks a path split in
 * walk stages and an effect (external users act on the server, atomically).
 * `origin[k]` is the history op of entry k.
 */
export function split(ops: readonly Operation<FsInput, OpResult>[]): { ops: Operation<SplitInput, OpResult>[]; origin: number[] } {
  const out: Operation<SplitInput, OpResult>[] = []
  const origin: number[] = []
  ops.forEach((o, id) => {
    if (o.input.external === true || !walksPath(o.input.op)) {
      out.push(o)
      origin.push(id)
      return
    }
    const stages = o.input.op.op === "rename" || o.input.op.op === "link" ? 1 : WALK_STAGES
    for (let stage = 1; stage <= stages; stage++) {
      // A walk stage changes nothing but the walk's cut: it need not be optional even when its op is.
      const { optional: _optional, ...walk } = o
      out.push({ ...walk, input: { ...o.input, stage, id }, output: WALKED })
      origin.push(id)
    }
    out.push({ ...o, input: { ...o.input, stage: 0, id } })
    origin.push(id)
  })
  return { ops: out, origin }
}

function isRoot(c: Cred): boolean {
  return c.uid === 0 && c.gid === 0 && c.groups.length === 0
}

export function isStat(r: OpResult): r is Stat {
  return "nlink" in r && "type" in r
}

/** The result with what may legitimately differ removed (see the file comment). */
export function normalizeResult(r: OpResult): object {
  if (!isStat(r)) return r
  const { ino: _ino, atime: _atime, mtime: _mtime, ctime: _ctime, ...kept } = r
  if (kept.type !== "dir") return kept
  const { size: _size, ...dir } = kept
  return dir
}

const STAT_FIELDS = ["type", "size", "mode", "uid", "gid", "nlink"] as const

/**
 * A result in words: "ENOENT", "success", "count 3", "data \"abc\"". A stat
 * compared with other stats names only the fields that differ from them
 * ("size 0"), since that is what the reader needs to see.
 */
export function describeResult(r: OpResult, contrast: readonly OpResult[]): string {
  if (isErr(r)) return r.errno
  if (isStat(r)) {
    const n = normalizeResult(r) as Partial<Stat>
    const others = contrast.filter(isStat).map((c) => normalizeResult(c) as Partial<Stat>)
    const differing = STAT_FIELDS.filter((f) => n[f] !== undefined && others.some((o) => o[f] !== n[f]))
    const fields = differing.length > 0 && others.length === contrast.length ? differing : STAT_FIELDS.filter((f) => n[f] !== undefined)
    return fields.map((f) => `${f} ${f === "mode" ? `0${n.mode!.toString(8)}` : String(n[f])}`).join(", ")
  }
  if ("data" in r) return `data ${JSON.stringify(r.data)}`
  if ("count" in r) return `count ${r.count}`
  if ("offset" in r) return `offset ${r.offset}`
  if ("entries" in r) return `entries [${r.entries.map((e) => `${e.name} (${e.type})`).join(", ")}]`
  if ("target" in r) return `target ${JSON.stringify(r.target)}`
  if ("value" in r) return `value ${JSON.stringify(r.value)}`
  if ("names" in r) return `names [${r.names.join(", ")}]`
  if ("namelen" in r) return `namelen ${r.namelen}`
  return "success"
}

/** Marks an output the model made as relying on `rule` (a departure counted in a verdict's `departures`). */
export function markRule(output: OpResult, rule: string): void {
  ruleOf.set(output, rule)
}
