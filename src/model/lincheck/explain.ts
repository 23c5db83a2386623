// Explaining a non-linearizable history: shrink it to a core of ops that
// cannot be ordered, then say in words which op saw what it could not have.
//
// The core is found in two stages, both built on one fact: giving ops more
// freedom can only make a history easier to linearize, so if a history with
// some freedoms added is still not linearizable, neither is it with any
// subset of them (monotonicity).
//
// 1. Observers. Ops are relaxed to "output unchecked" (each still takes
//    effect within its interval), greedily, in halving chunks (most ops are
//    usually irrelevant and one search relaxes many at once), while the
//    history stays non-linearizable. The ops whose outputs could not be
//    relaxed are the observers: by monotonicity, unchecking any one of them
//    more makes the history linearizable.
// 2. Causes. With only the observers checked, each op near an observer in
//    time (on each thread, the ops overlapping it and the last one to return
//    before it) is dropped on its own, as if it never took effect: if that
//    makes the history linearizable, its effect is needed for the
//    contradiction. This is the same as making it optional (effect or not,
//    within its interval), since with it taking effect the history is known
//    not to linearize. Ops further back are not tried (each try costs a
//    whole search), so a cause far in the past goes unnamed; the claim made
//    about the core stays true.
//
// The core is the observers and the causes. The other ops still take effect
// within their intervals; only their outputs are ignored.
//
// Why not the first design, which relaxed an op to "never returned" (output
// unchecked, effect optional, no deadline): every such op stays live to the
// end of the history, so a search with k of them explores up to 2^k subsets
// of their effects, and the last searches of a shrink have nearly every op
// relaxed (measured: 0.4 to 40 s to explain one 4 x 25 history). Keeping
// every effect and deadline keeps each search about as cheap as the verdict.
// The causes are tested one by one rather than cumulatively for the same
// reason: dropping ops together is not monotone, and making them optional
// together is exponential.
//
// A search that runs out of budget counts as "could not relax" in stage 1
// and "not a cause" in stage 2; the result says when that happened.

import { search, type FullModel, type Problem } from "./check.js"

export interface Explanation<O> {
  /** Indices of the core ops (observers and causes), in invoke order. */
  readonly core: readonly number[]
  /** The core ops whose outputs contradict each other (the rest of the core are causes). */
  readonly observers: readonly number[]
  /** The op the explanation is about (the observer invoked last that could take effect at all). */
  readonly failing: number
  /**
   * What the model gives `failing` in the orders consistent with real time
   * and the other ops' results (or, if those admit none, the other core
   * ops' results), up to MAX_ALTERNATIVES of them. Null if the budget ran
   * out first.
   */
  readonly possible: readonly O[] | null
  /** One paragraph in plain words. */
  readonly text: string
  /** Model steps spent on explaining. */
  readonly explored: number
  /** False when some search of the shrink ran out of budget: the core may have more observers than needed, or lack causes. */
  readonly minimal: boolean
}

/** How many distinct alternative outputs the explanation lists at most. */
export const MAX_ALTERNATIVES = 6

export interface OpFacts {
  readonly invoke: number
  readonly return: number | null
  readonly thread?: string | undefined
  /** The op's index in the history, where it differs from its index here (an op split in two entries). */
  readonly index?: number
}

/**
 * Explains why `problem` (already known to be non-linearizable) is not.
 * `budget` bounds each search; `total` bounds all of them together. `stuck`
 * is the verdict's hint (CheckResult.stuck), tried first as the only
 * observer.
 */
export function explain<S, I, O>(
  model: FullModel<S, I, O>,
  problem: Problem<I, O>,
  facts: readonly OpFacts[],
  outputs: readonly (O | undefined)[],
  budget: number,
  total: number,
  stuck?: number,
): Explanation<O> {
  const n = problem.inputs.length
  let explored = 0
  let minimal = true
  let lastWitness: readonly number[] | null = null
  let proofCost = 0 // steps of the latest search that proved non-linearizability
  const spend = (p: Problem<I, O>, shrinking = false, cap = budget): boolean | null => {
    const r = search(model, p, Math.min(cap, Math.max(0, total - explored)))
    explored += r.explored
    if (r.linearizable === null && shrinking) minimal = false
    if (r.linearizable === false) proofCost = r.explored
    lastWitness = r.witness
    return r.linearizable
  }

  // Stage 1: observers. Only ops that returned and whose output is checked are candidates.
  const unchecked = problem.tests.map((t, i) => t === null || problem.returns[i] === Infinity)
  const uncheckedProblem = (extra: readonly number[]): Problem<I, O> => {
    const tests = problem.tests.map((t, i) => (unchecked[i] ? null : t))
    for (const i of extra) tests[i] = null
    return { ...problem, tests }
  }
  const candidates = [...Array(n).keys()].filter((i) => !unchecked[i])
  // Chunks are tried first-half-first; a chunk that cannot be relaxed as a
  // whole (or whose search runs out of budget) is split, down to single ops.
  // Most contradictions have a single observer, and the verdict's search
  // usually got stuck on it: the first chunk is every other op, so one
  // search (which may use the whole budget) often settles stage 1, and the
  // stuck op itself is tried last. No other search may take more than an
  // eighth of the budget, so a chunk too costly to decide leaves room for
  // smaller ones.
  const first = stuck !== undefined && candidates.includes(stuck) ? candidates.filter((i) => i !== stuck) : candidates
  const chunks: number[][] = first === candidates ? [candidates] : [first, [stuck!]]
  const chunkCap = Math.max(1000, Math.floor(total / 8))
  for (let round = 0; chunks.length > 0; round++) {
    if (round > 2 * n + 2) throw new Error("lincheck: shrink loop exceeded its bound")
    const chunk = chunks.shift()!
    if (chunk.length === 0) continue
    if (spend(uncheckedProblem(chunk), true, round === 0 && chunk !== candidates ? total : chunkCap) === false) {
      for (const i of chunk) unchecked[i] = true
    } else if (chunk.length > 1) {
      const half = chunk.length >> 1
      chunks.unshift(chunk.slice(0, half), chunk.slice(half))
    }
  }
  const observers = candidates.filter((i) => !unchecked[i])
  if (observers.length === 0) throw new Error("lincheck: explain called on a linearizable history")

  // Stage 2: causes. They are looked for among the ops nearest in time to
  // the observers (on each other thread: the ops that overlapped an
  // observer, and the last one that returned before it was invoked), the
  // latest first: dropping a non-cause costs about what the last proof did,
  // too much to try every op of a long history. Each try gets a few times
  // that cost.
  const observed = uncheckedProblem([])
  const suspects = nearby(problem, facts, observers)
  const causes: number[] = []
  const cap = 4 * proofCost + 1000
  for (const i of suspects) {
    const r = spend(without(observed, i), false, cap)
    if (r === true) causes.push(i)
    else if (r === null) minimal = false
  }
  const core = [...observers, ...causes].sort((a, b) => problem.invokes[a]! - problem.invokes[b]!)

  // The failing op: the latest-invoked observer that can take effect at all.
  // What the model would have given it: first with every other op held to
  // its observed result (the most telling answer, when this op is the only
  // contradiction), else with only the other observers held, which the core
  // guarantees to be a contradiction.
  // Null when the budget ran out before the list was complete or shown empty.
  const enumerate = (base: Problem<I, O>, c: number): O[] | null => {
    const found: O[] = []
    for (let round = 0; round < MAX_ALTERNATIVES; round++) {
      const tests = base.tests.slice()
      tests[c] = (produced: O) => !found.some((f) => model.accepts(f, produced))
      const p: Problem<I, O> = { ...base, tests }
      const r = spend(p)
      if (r === null) return found.length > 0 ? found : null
      if (r === false) break
      found.push(outputAt(model, p, lastWitness!, c))
    }
    return found
  }
  let failing = observers[observers.length - 1]!
  let possible: O[] | null = null
  const byInvoke = [...observers].sort((a, b) => problem.invokes[a]! - problem.invokes[b]!)
  for (let k = byInvoke.length - 1; k >= 0; k--) {
    const c = byInvoke[k]!
    let found = enumerate(problem, c)
    if (found !== null && found.length === 0) found = enumerate(observed, c)
    if (found === null || found.length > 0 || k === 0) {
      failing = c
      possible = found
      break
    }
  }

  return {
    core,
    observers,
    failing,
    possible,
    text: describe(model, problem, facts, outputs, core, failing, possible),
    explored,
    minimal,
  }
}

/**
 * For each observer and each thread: the ops of that thread that overlapped
 * the observer, and the last one that returned before the observer was
 * invoked. Latest first; observers and ops that never returned excluded.
 */
function nearby<I, O>(problem: Problem<I, O>, facts: readonly OpFacts[], observers: readonly number[]): number[] {
  const found = new Set<number>()
  for (const o of observers) {
    const lastBefore = new Map<string, number>() // thread -> op
    problem.inputs.forEach((_, i) => {
      if (observers.includes(i) || problem.returns[i] === Infinity) return
      const [oi, or] = [problem.invokes[o]!, problem.returns[o]!]
      const [ii, ir] = [problem.invokes[i]!, problem.returns[i]!]
      if (ir < oi) {
        const thread = facts[i]?.thread ?? `#${i}`
        const prev = lastBefore.get(thread)
        if (prev === undefined || problem.returns[prev]! < ir) lastBefore.set(thread, i)
      } else if (ii < or) {
        found.add(i)
      }
    })
    for (const i of lastBefore.values()) found.add(i)
  }
  return [...found].sort((a, b) => problem.invokes[b]! - problem.invokes[a]!)
}

/** The problem with op `drop` left out (it never took effect). Indices above it shift down. */
function without<I, O>(p: Problem<I, O>, drop: number): Problem<I, O> {
  const keep = <T>(xs: readonly T[]): T[] => xs.filter((_, i) => i !== drop)
  return {
    inputs: keep(p.inputs),
    invokes: keep(p.invokes),
    returns: keep(p.returns),
    tests: keep(p.tests),
    ...(p.optional !== undefined ? { optional: keep(p.optional) } : {}),
  }
}

/** The output the model gives op `target` when `witness` is replayed. */
function outputAt<S, I, O>(model: FullModel<S, I, O>, problem: Problem<I, O>, witness: readonly number[], target: number): O {
  let state = model.init()
  for (const i of witness) {
    const step = model.step(state, problem.inputs[i]!)
    if (i === target) return step.output
    state = step.state
  }
  throw new Error(`lincheck: op ${target} is not in the witness`)
}

function describe<S, I, O>(
  model: FullModel<S, I, O>,
  problem: Problem<I, O>,
  facts: readonly OpFacts[],
  outputs: readonly (O | undefined)[],
  core: readonly number[],
  failing: number,
  possible: readonly O[] | null,
): string {
  const who = (i: number): string => (facts[i]?.thread !== undefined ? `thread ${facts[i]!.thread}` : `op #${i}`)
  const at = (i: number): number => facts[i]!.index ?? i
  const when = (i: number): string => {
    const f = facts[i]!
    return f.return === null ? `ops[${at(i)}], invoked at event ${f.invoke}, never returned` : `ops[${at(i)}], events ${f.invoke}-${f.return}`
  }
  const observed = outputs[failing]
  const seenText = observed === undefined ? "no result" : model.describeOutput(observed, possible ?? [])
  const head = `${model.describeInput(problem.inputs[failing]!)} by ${who(failing)} (${when(failing)}) saw ${seenText}`
  const others = core.filter((i) => i !== failing)
  const clauses = others.map((i) => {
    const out = outputs[i]
    const result = out === undefined ? "" : `, ${model.describeOutput(out, [])}`
    const f = facts[i]!
    const failingFacts = facts[failing]!
    const desc = model.describeInput(problem.inputs[i]!)
    if (f.return !== null && f.return < failingFacts.invoke) return `${who(i)}'s ${desc} (ops[${at(i)}]${result}) had returned at event ${f.return}`
    if (failingFacts.return !== null && f.invoke > failingFacts.return) return `${who(i)}'s ${desc} (${when(i)}${result}) began after it returned`
    return `${who(i)}'s ${desc} (${when(i)}${result}) overlapped it`
  })
  let text = head
  if (clauses.length > 0) text += `, but ${joinWords(clauses)}`
  text +=
    core.length === 1
      ? `; at no point of its interval does the model give ${seenText}`
      : `; no order of these ${core.length} ops consistent with real time gives ${seenText}`
  if (possible !== null && possible.length > 0) {
    const alts = possible.map((p) => model.describeOutput(p, observed === undefined ? [] : [observed]))
    text += `; the model would have returned ${joinWords(alts, "or")}${possible.length >= MAX_ALTERNATIVES ? " (or more)" : ""} instead`
  } else if (possible !== null) {
    text += "; and given the other results, no point in its interval lets it take effect at all"
  }
  const rest = facts.filter((f, i) => f.return !== null && !core.includes(i)).length
  if (rest > 0) text += ` (${rest === 1 ? "the other returned op's result does" : `the other ${rest} returned ops' results do`} not matter)`
  return text
}

function joinWords(parts: readonly string[], conj = "and"): string {
  if (parts.length <= 1) return parts.join("")
  if (parts.length === 2) return `${parts[0]} ${conj} ${parts[1]}`
  return `${parts.slice(0, -1).join(", ")}, ${conj} ${parts[parts.length - 1]}`
}
