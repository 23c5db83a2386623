// The linearizability search: Wing and Gong's algorithm with Lowe's
// memoization, shaped as Porcupine shapes it (see shared/STYLE.md).
//
// A history is a set of operations, each an interval [invoke, return] of
// event times with an input and an observed output. It is linearizable when
// some total order of the operations (a) respects real time: an op that
// returned before another was invoked comes first, and (b) replays through
// the sequential model giving every observed output. An op that never
// returned may or may not have taken effect; its output is unknown.
//
// The search walks a doubly linked list of call and return entries sorted by
// time. Linearizing an op takes its call entry and its return entry out of
// the list (O(1)); backtracking puts them back (O(1)), so the list always
// holds exactly the ops not yet linearized. Reaching a return entry while
// scanning means that op's deadline has passed without it being linearized:
// the last choice was wrong, so the search backtracks. The depth-first walk
// keeps an explicit stack (no recursion). Lowe's memo records every
// (set of linearized ops, model state) pair reached: reaching one again can
// only repeat work already done, so that branch is cut.
//
// Ops that never returned get return time +infinity, so their return entries
// sit at the end of the list and never force a backtrack: the search is done
// as soon as every op that did return is linearized, and pending ops left in
// the list are the ones that did not take effect. The memo compares pending
// ops by inclusion rather than equality (see Memo).
//
// An optional op (one whose outcome an injected server fault decided) did
// return, so it keeps its deadline, but it may or may not take effect and
// its output is not checked: the search places it at its call entry twice,
// first applying it, then, if that fails, as a step that changes nothing.
// Either way it is placed before its deadline, so the memo treats it as any
// returned op, and the ops after it are judged in full.
//
// Every step of the model counts against a budget; when it is spent the
// answer is `null` (unknown), never a guess.

/** One application of the sequential model: the state after the op and what the op returns. */
export interface Step<S, O> {
  readonly state: S
  readonly output: O
}

/**
 * A sequential specification, as a record of pure functions. Only
 * deterministic models are supported (the reference filesystem model is
 * one); `step` must not mutate its argument.
 */
export interface Model<S, I, O> {
  init(): S
  step(state: S, input: I): Step<S, O>
  /** A hash of a state, cheap and consistent with `equal`. */
  hash(state: S): number
  equal(a: S, b: S): boolean
  /**
   * Whether an observed output is what the model produced, after whatever
   * normalization the model documents. Must be an equivalence relation (the
   * explanation also uses it to tell model outputs apart). Default: deep
   * structural equality of JSON-like values.
   */
  accepts?(observed: O, produced: O): boolean
  /** An op in words ("write of 3 bytes to f"). Default: JSON. */
  describeInput?(input: I): string
  /**
   * An output in words. `contrast` are outputs it is being compared with; a
   * describer may name only what differs from them ("size 0" rather than a
   * whole stat). Default: JSON.
   */
  describeOutput?(output: O, contrast: readonly O[]): string
}

export type FullModel<S, I, O> = Required<Model<S, I, O>>

/** The one place where a model's optional parts get their defaults. */
export function withDefaults<S, I, O>(model: Model<S, I, O>): FullModel<S, I, O> {
  return {
    init: model.init.bind(model),
    step: model.step.bind(model),
    hash: model.hash.bind(model),
    equal: model.equal.bind(model),
    accepts: model.accepts?.bind(model) ?? deepEqual,
    describeInput: model.describeInput?.bind(model) ?? ((input: I) => JSON.stringify(input)),
    describeOutput: model.describeOutput?.bind(model) ?? ((output: O) => JSON.stringify(output)),
  }
}

/** An operation of a history. */
export interface Operation<I, O> {
  readonly input: I
  /** The observed output; absent means unchecked. Ignored when `return` is null. */
  readonly output?: O
  /** Event time of the call. */
  readonly invoke: number
  /** Event time of the return, or null for an op that never returned. */
  readonly return: number | null
  /** Who issued it, for explanations. */
  readonly thread?: string
  /**
   * The op returned, but it may or may not have taken effect within its
   * interval, and its output is not checked (an injected server fault
   * decided its outcome). Ignored when `return` is null.
   */
  readonly optional?: boolean
}

/** Three-valued: true, false, or null when the budget ran out first. */
export type Verdict = boolean | null

export interface CheckResult {
  readonly linearizable: Verdict
  /**
   * When linearizable: op indices in the order they took effect. Ops that
   * never returned, and optional ops, appear only if they took effect.
   */
  readonly witness: readonly number[] | null
  /** Model steps taken. */
  readonly explored: number
  /**
   * When not linearizable: the op whose deadline stopped the longest
   * partial linearization the search built. Usually the op that saw the
   * impossible result; the explanation tries it first.
   */
  readonly stuck?: number
}

export interface CheckOptions {
  /** Model steps the search may take before answering null. Default DEFAULT_BUDGET. */
  readonly budget?: number
}

export const DEFAULT_BUDGET = 1_000_000

/** Decides whether `ops` is linearizable with respect to `model`. */
export function check<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], options: CheckOptions = {}): CheckResult {
  const full = withDefaults(model)
  return search(full, problemOf(full, ops), budgetOf(options.budget))
}

export function budgetOf(budget: number | undefined): number {
  const b = budget ?? DEFAULT_BUDGET
  if (!Number.isSafeInteger(b) || b < 0) throw new RangeError(`lincheck: budget is a non-negative integer, got ${b}`)
  return b
}

// ---------------------------------------------------------------------------
// The search proper, over a normalized problem that the explanation also
// builds variants of (ops relaxed, outputs replaced by predicates).

/** Accepts or rejects what the model produced for one op; null accepts anything. */
export type OutputTest<O> = ((produced: O) => boolean) | null

export interface Problem<I, O> {
  readonly inputs: readonly I[]
  readonly invokes: readonly number[]
  /** +Infinity for an op that never returned (it may or may not take effect). */
  readonly returns: readonly number[]
  readonly tests: readonly OutputTest<O>[]
  /** True for an optional op (Operation.optional); absent: none is. */
  readonly optional?: readonly boolean[]
}

export function problemOf<S, I, O>(model: FullModel<S, I, O>, ops: readonly Operation<I, O>[]): Problem<I, O> {
  const inputs: I[] = []
  const invokes: number[] = []
  const returns: number[] = []
  const tests: OutputTest<O>[] = []
  const optional: boolean[] = []
  let anyOptional = false
  ops.forEach((op, i) => {
    if (!Number.isFinite(op.invoke)) throw new RangeError(`lincheck: op ${i}: invoke time ${op.invoke} is not finite`)
    if (op.return !== null && !(op.return > op.invoke)) {
      throw new RangeError(`lincheck: op ${i}: return time ${op.return} is not after invoke time ${op.invoke}`)
    }
    inputs.push(op.input)
    invokes.push(op.invoke)
    returns.push(op.return ?? Infinity)
    const observed = op.output
    const opt = op.optional === true && op.return !== null
    optional.push(opt)
    anyOptional ||= opt
    tests.push(op.return === null || observed === undefined || opt ? null : (produced: O) => model.accepts(observed, produced))
  })
  return anyOptional ? { inputs, invokes, returns, tests, optional } : { inputs, invokes, returns, tests }
}

// Entries are numbered 2*op (call) and 2*op+1 (return); the list head is a
// sentinel numbered 2*n. NIL ends the list.
const NIL = -1

export function search<S, I, O>(model: FullModel<S, I, O>, problem: Problem<I, O>, budget: number): CheckResult {
  const { inputs, invokes, returns, tests } = problem
  const n = inputs.length
  if (invokes.length !== n || returns.length !== n || tests.length !== n) throw new Error("lincheck: problem arrays differ in length")
  const optional = problem.optional
  if (optional !== undefined && optional.length !== n) throw new Error("lincheck: problem arrays differ in length")
  const head = 2 * n
  const next = new Int32Array(2 * n + 1)
  const prev = new Int32Array(2 * n + 1)
  {
    const order = Array.from({ length: 2 * n }, (_, e) => e)
    const time = (e: number): number => ((e & 1) === 0 ? invokes[e >> 1]! : returns[e >> 1]!)
    // At equal times a call sorts before a return: the two ops overlap,
    // which is the weaker (safe) reading of a tie.
    order.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b)
    let last = head
    for (const e of order) {
      next[last] = e
      prev[e] = last
      last = e
    }
    next[last] = NIL
    prev[head] = NIL
  }
  const lift = (op: number): void => {
    const call = 2 * op
    const ret = call + 1
    next[prev[call]!] = next[call]!
    prev[next[call]!] = prev[call]! // a call is always followed, at least by its return
    next[prev[ret]!] = next[ret]!
    if (next[ret] !== NIL) prev[next[ret]!] = prev[ret]!
  }
  const unlift = (op: number): void => {
    // Exactly the reverse of lift: the return goes back first.
    const call = 2 * op
    const ret = call + 1
    next[prev[ret]!] = ret
    if (next[ret] !== NIL) prev[next[ret]!] = ret
    next[prev[call]!] = call
    prev[next[call]!] = call
  }

  let remaining = 0 // ops that returned and are not linearized yet
  for (const r of returns) if (r !== Infinity) remaining++

  // The ops linearized so far (taken out of the list). The memo keys on it with the state.
  const linearized = new Bitset(n, (i) => returns[i] !== Infinity)
  const pendingMask = new Uint32Array(linearized.words.length)
  returns.forEach((r, i) => {
    if (r === Infinity) pendingMask[i >>> 5]! |= 1 << (i & 31)
  })
  const memo = new Memo<S>(model, pendingMask)
  // The stack of choices: the op linearized, the state before it, and
  // whether it was an optional op placed as a step that changes nothing.
  const stackOps = new Int32Array(n)
  const stackSkipped = new Uint8Array(n)
  const stackStates: S[] = new Array<S>(n)
  // At an optional op's call entry: the next try is the skip (its effect left out).
  let skipNext = false
  let depth = 0
  let state = model.init()
  let explored = 0
  let entry = next[head]!
  let deepest = -1
  let stuck = -1
  // Each pass steps the model (at most `budget` times) or undoes one such
  // step, so 2 * budget + 1 passes bound the loop.
  for (let pass = 0; remaining > 0; pass++) {
    if (pass > 2 * budget + 1) throw new Error("lincheck: search loop exceeded its bound")
    if (entry === NIL) throw new Error("lincheck: ran off the list with completed ops left")
    const op = entry >> 1
    if ((entry & 1) === 0) {
      // A skip counts as a step too, so the budget bounds every pass.
      if (explored >= budget) return { linearizable: null, witness: null, explored }
      explored++
      const skip = skipNext
      skipNext = false
      const after = skip ? { state, output: undefined } : model.step(state, inputs[op]!)
      const test = tests[op]!
      if (skip || test === null || test(after.output as O)) {
        linearized.flip(op)
        if (memo.add(linearized, after.state)) {
          stackOps[depth] = op
          stackSkipped[depth] = skip ? 1 : 0
          stackStates[depth] = state
          depth++
          state = after.state
          lift(op)
          if (returns[op] !== Infinity) remaining--
          entry = next[head]!
          continue
        }
        linearized.flip(op)
      }
      if (!skip && optional?.[op] === true) {
        skipNext = true // the same entry again, without the op's effect
        continue
      }
      entry = next[entry]!
      continue
    }
    // The deadline of `op` has come with `op` not linearized: undo the last
    // choice and try what comes after it.
    if (depth > deepest) {
      deepest = depth
      stuck = op
    }
    if (depth === 0) return { linearizable: false, witness: null, explored, stuck }
    depth--
    const undone = stackOps[depth]!
    state = stackStates[depth]!
    stackStates[depth] = undefined as S // let the state be collected
    linearized.flip(undone)
    unlift(undone)
    if (returns[undone] !== Infinity) remaining++
    if (stackSkipped[depth] === 0 && optional?.[undone] === true) {
      // Its effect applied led nowhere: try it as a step that changes nothing.
      skipNext = true
      entry = 2 * undone
    } else entry = next[2 * undone]!
  }
  const witness = Array.from(stackOps.subarray(0, depth)).filter((_, k) => stackSkipped[k] === 0)
  return { linearizable: true, witness, explored }
}

/**
 * A set of op indices with an incrementally maintained hash of its members
 * that returned (Zobrist: XOR of a fixed random word per member). Members
 * that never returned are left out of the hash: the memo compares them by
 * inclusion, not equality.
 */
class Bitset {
  readonly words: Uint32Array
  hash = 0
  constructor(
    size: number,
    private readonly hashed: (i: number) => boolean,
  ) {
    this.words = new Uint32Array((size + 31) >>> 5)
  }
  flip(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31)
    if (this.hashed(i)) this.hash ^= zobrist(i)
  }
}

function zobrist(i: number): number {
  return mix32(Math.imul(i + 1, 0x9e3779b9))
}

/** MurmurHash3's finalizer: spreads a 32-bit value. */
export function mix32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

interface MemoEntry<S> {
  readonly words: Uint32Array
  readonly state: S
}

/**
 * Lowe's cache of visited (linearized set, state) pairs, keyed by a combined
 * hash and confirmed by equality, with one refinement for ops that never
 * returned ("pending"). A pending op has no deadline and need not take
 * effect, so a visited node (A, s) dominates a new node (B, s) when B has
 * the same returned ops as A and a superset of A's pending ops: every
 * continuation from (B, s) is open to (A, s) too, which simply never applies
 * the extra pending ops. Plain equality would explore every subset of the
 * pending ops (2^k nodes for k of them); inclusion cuts that to the subsets
 * that lead to distinct states. The explanation relaxes many ops to
 * pending, so this matters there most.
 */
class Memo<S> {
  private readonly buckets = new Map<number, MemoEntry<S>[]>()
  constructor(
    private readonly model: FullModel<S, unknown, unknown>,
    /** Bit i set: op i never returned. */
    private readonly pendingMask: Uint32Array,
  ) {}

  /** Records the node; false if it was visited already or is dominated by a visited node. */
  add(set: Bitset, state: S): boolean {
    const key = (set.hash ^ mix32(this.model.hash(state) ^ 0x5bd1e995)) >>> 0
    const bucket = this.buckets.get(key)
    if (bucket === undefined) {
      this.buckets.set(key, [{ words: set.words.slice(), state }])
      return true
    }
    for (const seen of bucket) {
      if (this.dominates(seen.words, set.words) && this.model.equal(seen.state, state)) return false
    }
    bucket.push({ words: set.words.slice(), state })
    return true
  }

  /** Same returned ops, and the seen pending ops are a subset of the new ones. */
  private dominates(seen: Uint32Array, now: Uint32Array): boolean {
    const mask = this.pendingMask
    for (let i = 0; i < seen.length; i++) {
      const a = seen[i]!
      const b = now[i]!
      const m = mask[i]!
      if (((a ^ b) & ~m) !== 0 || (a & m & ~b) !== 0) return false
    }
    return true
  }
}

/** Structural equality of JSON-like values (objects compared by own enumerable keys; undefined-valued keys count as absent). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined)
  if (ak.length !== bk.length) return false
  for (const k of ak) if (!Object.hasOwn(bo, k) || !deepEqual(ao[k], bo[k])) return false
  return true
}

/**
 * Replays a witness: true when `order` respects real time, contains every op
 * that returned exactly once, and gives every observed output. An
 * independent check of the search's answer (tests and assertions use it).
 */
export function replays<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[], order: readonly number[]): boolean {
  const full = withDefaults(model)
  const placed = new Set<number>()
  let state = full.init()
  let maxInvokeSoFar = -Infinity
  for (const i of order) {
    const op = ops[i]
    if (op === undefined || placed.has(i)) return false
    // Real time: nothing placed earlier may have been invoked after this op returned.
    if (op.return !== null && maxInvokeSoFar > op.return) return false
    maxInvokeSoFar = Math.max(maxInvokeSoFar, op.invoke)
    const step = full.step(state, op.input)
    if (op.return !== null && op.optional !== true && op.output !== undefined && !full.accepts(op.output, step.output)) return false
    state = step.state
    placed.add(i)
  }
  // An optional op left out of the order did not take effect; nothing needs placing it.
  return ops.every((op, i) => op.return === null || op.optional === true || placed.has(i))
}
