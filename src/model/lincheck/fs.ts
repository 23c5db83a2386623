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

import { apply, describeOp, dialectStep, initialState, stateEquals, stateHash, type Dialect, type ModelState } from "../index.js"
import { isErr, type Cred, type Op, type OpResult, type RootAttrs, type Stat, type Tree } from "../types.js"
import { deepEqual, type Model } from "./check.js"

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
    step: (state, input) => {
      const outcome = apply(state, input.op, input.cred, 0)
      const dialect = options.dialect
      if (dialect === undefined || dialect === null || input.external === true) return { state: outcome.state, output: outcome.result }
      const d = dialectStep(dialect, state, input.op, input.cred, outcome)
      if (d.rule === null) return { state: d.state, output: d.result }
      const output = { ...d.result }
      ruleOf.set(output, d.rule)
      if (d.alternatives.length > 0) alternativesOf.set(output, d.alternatives)
      return { state: d.state, output }
    },
    hash: stateHash,
    equal: stateEquals,
    accepts: (observed, produced) => {
      const o = normalizeResult(observed)
      if (deepEqual(o, normalizeResult(produced))) return true
      const alts = alternativesOf.get(produced)
      return alts !== undefined && alts.some((a) => deepEqual(o, normalizeResult(a)))
    },
    describeInput: (input) => describeOp(input.op) + (isRoot(input.cred) ? "" : ` as uid ${input.cred.uid}`),
    describeOutput: (output, contrast) => {
      const alts = alternativesOf.get(output)
      const text = describeResult(output, contrast)
      return alts === undefined ? text : [text, ...alts.map((a) => describeResult(a, contrast))].join(" or ")
    },
  }
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
