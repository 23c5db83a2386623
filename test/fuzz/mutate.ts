// Mutations of fsim's valid input files, drawn by fast-check: what a
// careless hand, a bad tool or a hostile file does to a scenario, history
// or trace. A mutation is a small record (drawn and shrunk cheaply); the
// text it stands for is made only when the input is fed to a reader.

import fc from "fast-check"

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Key = string | number

export const KINDS = ["none", "cross", "drop", "retype", "number", "deep", "truncate", "unicode", "dupkey", "long", "deeptree"] as const
export type Kind = (typeof KINDS)[number]

export interface Mutation {
  readonly kind: Kind
  /** Which seed file (modulo the pool). */
  readonly seed: number
  /** Which node, line or offset (modulo what there is). */
  readonly pick: number
  /** Which variant of the mutation (modulo the choices). */
  readonly variant: number
  /** Drawn text, for unicode mutations. */
  readonly text: string
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  // "none" and "cross" keep inputs valid (or valid for another reader), so the readers' verdict paths run too.
  kind: fc.oneof(
    { weight: 2, arbitrary: fc.constant<Kind>("none") },
    { weight: 8, arbitrary: fc.constantFrom<Kind>(...KINDS.filter((k) => k !== "none")) },
  ),
  seed: fc.nat(),
  pick: fc.nat(),
  variant: fc.nat(),
  text: fc.string({ unit: "binary", maxLength: 6 }),
})

const HUGE: readonly number[] = [-1, -2147483649, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 0.5, -0, 1e-7, 255, 256, 65536]
const RETYPED: readonly Json[] = [null, true, false, 0, -1, "", "x", [], {}, [1, "a"], { a: 1 }, "fsim.scenario/1"]
const UNICODE: readonly string[] = ["é", "\u0100", "日本", "😀", "\ud800", "\udfff", "\u0000", "a/b", "..", ".", "", "\u202e", "x\ny"]
const DEEP_LEVELS: readonly number[] = [271, 273, 300, 1000, 5000, 20000]
const LONG: readonly number[] = [255, 256, 4097, 16_385, 70_000, 17 * 1024 * 1024]
const TREE_DEPTHS: readonly number[] = [127, 128, 129, 3000]

const MARK = "__fsim_fuzz_mark__"

/** Every node of a value, with its path: an explicit stack, since inputs may be deep. */
function nodes(v: Json): { path: Key[]; value: Json }[] {
  const out: { path: Key[]; value: Json }[] = []
  const stack: { path: Key[]; value: Json }[] = [{ path: [], value: v }]
  while (stack.length > 0) {
    const n = stack.pop()!
    out.push(n)
    if (Array.isArray(n.value)) n.value.forEach((c, i) => stack.push({ path: [...n.path, i], value: c }))
    else if (n.value !== null && typeof n.value === "object") for (const [k, c] of Object.entries(n.value)) stack.push({ path: [...n.path, k], value: c })
  }
  return out
}

function setAt(root: Json, path: readonly Key[], value: Json | undefined): Json {
  if (path.length === 0) return value ?? null
  let parent = root as Record<Key, Json>
  for (const k of path.slice(0, -1)) parent = parent[k] as unknown as Record<Key, Json>
  const last = path[path.length - 1]!
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1)
    else delete parent[last]
  } else parent[last] = value
  return root
}

function pickOf<T>(xs: readonly T[], n: number): T {
  return xs[n % xs.length]!
}

function deepText(levels: number, objects: boolean): string {
  return objects ? '{"a":'.repeat(levels) + "1" + "}".repeat(levels) : "[".repeat(levels) + "]".repeat(levels)
}

function deepTreeText(depth: number): string {
  // `depth` directories, the last holding a file: its path has depth + 1 names.
  return '{"type":"dir","children":{"a":'.repeat(depth) + '{"type":"file","data":"x"}' + "}}".repeat(depth)
}

/** One JSON value mutated; returns its text (the mutations that make unparseable or huge text work on the text). */
function mutateValue(value: Json, m: Mutation): string {
  const v = structuredClone(value)
  const all = nodes(v)
  const node = pickOf(all, m.pick)
  switch (m.kind) {
    case "none":
    case "cross":
    case "truncate":
      return JSON.stringify(v)
    case "drop": {
      const droppable = all.filter((n) => n.path.length > 0)
      if (droppable.length === 0) return JSON.stringify(v)
      return JSON.stringify(setAt(v, pickOf(droppable, m.pick).path, undefined))
    }
    case "retype":
      return JSON.stringify(setAt(v, node.path, pickOf(RETYPED, m.variant)))
    case "number": {
      const numbers = all.filter((n) => typeof n.value === "number")
      const target = numbers.length > 0 ? pickOf(numbers, m.pick) : node
      return JSON.stringify(setAt(v, target.path, pickOf(HUGE, m.variant)))
    }
    case "deep":
      return JSON.stringify(setAt(v, node.path, MARK)).replace(JSON.stringify(MARK), deepText(pickOf(DEEP_LEVELS, m.variant), m.variant % 2 === 1))
    case "unicode": {
      const s = m.variant % 3 === 0 ? m.text : pickOf(UNICODE, m.variant)
      // Odd variants rename an object's key (a tree name, a field name); even ones replace a string.
      const objects = all.filter((n) => n.value !== null && typeof n.value === "object" && !Array.isArray(n.value) && Object.keys(n.value).length > 0)
      if (m.variant % 2 === 1 && objects.length > 0) {
        const o = pickOf(objects, m.pick)
        const rec = o.value as Record<string, Json>
        const keys = Object.keys(rec)
        const k = pickOf(keys, m.variant)
        const renamed: Record<string, Json> = {}
        for (const key of keys) renamed[key === k ? s : key] = rec[key]!
        return JSON.stringify(setAt(v, o.path, renamed))
      }
      const strings = all.filter((n) => typeof n.value === "string")
      return JSON.stringify(setAt(v, (strings.length > 0 ? pickOf(strings, m.pick) : node).path, s))
    }
    case "dupkey": {
      // Raw JSON text with a key repeated: JSON.parse keeps the last, so the
      // repeat goes before the key (the original wins) or after it (the repeat wins).
      const objects = all.filter((n) => n.value !== null && typeof n.value === "object" && !Array.isArray(n.value) && Object.keys(n.value).length > 0)
      if (objects.length === 0) return JSON.stringify(v)
      const o = pickOf(objects, m.pick)
      const rec = o.value as Record<string, Json>
      const k = pickOf(Object.keys(rec), m.variant)
      const dup = `${JSON.stringify(k)}:${JSON.stringify(pickOf(RETYPED, m.variant >> 1))}`
      const marked = m.variant % 2 === 0 ? { [MARK]: null, ...rec } : { ...rec, [MARK]: null }
      return JSON.stringify(setAt(v, o.path, marked)).replace(`${JSON.stringify(MARK)}:null`, dup)
    }
    case "long": {
      const n = pickOf(LONG, m.variant)
      // The 17 MiB strings are few: one variant in 24.
      const length = n > 1_000_000 && m.variant % 4 !== 0 ? 70_000 : n
      const strings = all.filter((x) => typeof x.value === "string")
      const objects = all.filter((x) => x.value !== null && typeof x.value === "object" && !Array.isArray(x.value) && Object.keys(x.value).length > 0)
      if (m.variant % 2 === 1 && objects.length > 0 && length < 100_000) {
        const o = pickOf(objects, m.pick)
        const rec = o.value as Record<string, Json>
        const k = pickOf(Object.keys(rec), m.variant)
        const renamed: Record<string, Json> = {}
        for (const key of Object.keys(rec)) renamed[key === k ? "n".repeat(length) : key] = rec[key]!
        return JSON.stringify(setAt(v, o.path, renamed))
      }
      return JSON.stringify(setAt(v, (strings.length > 0 ? pickOf(strings, m.pick) : node).path, "a".repeat(length)))
    }
    case "deeptree": {
      // A chain of directories in the scenario's tree (or the history's initial tree).
      const obj = v !== null && typeof v === "object" && !Array.isArray(v) ? v : null
      const place = obj === null ? null : "remote" in obj || "threads" in obj ? ["remote"] : "ops" in obj && "format" in obj ? ["initial"] : null
      const withMark = place === null ? setAt(v, node.path, MARK) : setAt(v, place, { deep: MARK })
      return JSON.stringify(withMark).replace(JSON.stringify(MARK), deepTreeText(pickOf(TREE_DEPTHS, m.variant)))
    }
  }
}

/** A JSON file mutated. */
export function mutateJson(text: string, m: Mutation): string {
  if (m.kind === "truncate") return text.slice(0, m.pick % Math.max(1, text.length))
  return mutateValue(JSON.parse(text) as Json, m) + (m.variant % 5 === 0 ? "" : "\n")
}

/** A trace (JSON Lines) mutated: the header (half the time) or one event line, or the whole text truncated. */
export function mutateTrace(text: string, m: Mutation): string {
  if (m.kind === "truncate") return text.slice(0, m.pick % Math.max(1, text.length))
  const lines = text.split("\n")
  lines.pop()
  if (m.kind === "none" || m.kind === "cross") return text
  const i = m.pick % 2 === 0 || m.kind === "deeptree" ? 0 : 1 + ((m.pick >> 1) % Math.max(1, lines.length - 1))
  if (i < lines.length) {
    if (i === 0 && m.kind === "deeptree") {
      // A tree at the depth limit is valid, and a gofer run's final read-back
      // of it costs steps quadratic in its depth: a step budget keeps the
      // shrinker's re-runs of it short.
      const h = JSON.parse(lines[0]!) as { scenario: Record<string, Json> }
      const scenario = h.scenario["format"] === "fsim.scenario/1" ? { ...h.scenario, budget: { steps: 5000 } } : h.scenario
      lines[0] = JSON.stringify({ ...h, scenario: MARK }).replace(JSON.stringify(MARK), mutateValue(scenario, m))
    } else lines[i] = mutateValue(JSON.parse(lines[i]!) as Json, m)
  }
  return lines.join("\n") + "\n"
}
