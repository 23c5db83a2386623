// Toy sequential models for testing the generic checker, and a brute-force
// oracle: an independent, obviously correct (and exponential) decision
// procedure to compare the search against on small histories.

import fc from "fast-check"
import { deepEqual, withDefaults, type Model, type Operation } from "../../src/model/lincheck/check.js"

/** A single register holding a number, initially 0. */
export type RegisterInput = { readonly kind: "read" } | { readonly kind: "write"; readonly value: number } | { readonly kind: "cas"; readonly from: number; readonly to: number }
export type RegisterOutput = number | boolean | null

export const register: Model<number, RegisterInput, RegisterOutput> = {
  init: () => 0,
  step: (s, i) => {
    switch (i.kind) {
      case "read":
        return { state: s, output: s }
      case "write":
        return { state: i.value, output: null }
      case "cas":
        return s === i.from ? { state: i.to, output: true } : { state: s, output: false }
    }
  },
  hash: (s) => s | 0,
  equal: (a, b) => a === b,
  describeInput: (i) => (i.kind === "read" ? "read" : i.kind === "write" ? `write ${i.value}` : `cas ${i.from}->${i.to}`),
  describeOutput: (o) => String(o),
}

export const registerInput: fc.Arbitrary<RegisterInput> = fc.oneof(
  fc.constant<RegisterInput>({ kind: "read" }),
  fc.record({ kind: fc.constant("write" as const), value: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant("cas" as const), from: fc.integer({ min: 0, max: 3 }), to: fc.integer({ min: 0, max: 3 }) }),
)

/** A map from string keys to strings; the state is a frozen plain object. */
export type KvInput = { readonly kind: "get"; readonly key: string } | { readonly kind: "put"; readonly key: string; readonly value: string } | { readonly kind: "delete"; readonly key: string }
export type KvState = Readonly<Record<string, string>>

export const kv: Model<KvState, KvInput, string | null> = {
  init: () => ({}),
  step: (s, i) => {
    switch (i.kind) {
      case "get":
        return { state: s, output: s[i.key] ?? null }
      case "put":
        return { state: { ...s, [i.key]: i.value }, output: null }
      case "delete": {
        const { [i.key]: _gone, ...rest } = s
        return { state: rest, output: null }
      }
    }
  },
  hash: (s) => {
    let h = 0
    for (const k of Object.keys(s).sort()) for (const c of `${k}=${s[k]};`) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0
    return h
  },
  equal: (a, b) => deepEqual(a, b),
}

export const kvInput: fc.Arbitrary<KvInput> = fc.oneof(
  fc.record({ kind: fc.constant("get" as const), key: fc.constantFrom("x", "y") }),
  fc.record({ kind: fc.constant("put" as const), key: fc.constantFrom("x", "y"), value: fc.constantFrom("1", "2", "3") }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom("x", "y") }),
)

/** An append-only log: append returns the new length, read returns the whole log. */
export type LogInput = { readonly kind: "append"; readonly item: string } | { readonly kind: "read" }

export const log: Model<readonly string[], LogInput, number | readonly string[]> = {
  init: () => [],
  step: (s, i) => (i.kind === "read" ? { state: s, output: s } : { state: [...s, i.item], output: s.length + 1 }),
  hash: (s) => {
    let h = s.length
    for (const item of s) for (const c of item) h = (Math.imul(h, 31) + c.charCodeAt(0)) | 0
    return h
  },
  equal: (a, b) => deepEqual(a, b),
}

export const logInput: fc.Arbitrary<LogInput> = fc.oneof(
  fc.constant<LogInput>({ kind: "read" }),
  fc.record({ kind: fc.constant("append" as const), item: fc.constantFrom("a", "b", "c") }),
)

/**
 * Decides linearizability by trying every order: the next op may be any
 * unplaced op invoked before every unplaced returned op's return; ops that
 * never returned may be left out. Exponential: small histories only.
 */
export function bruteForce<S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): boolean {
  const full = withDefaults(model)
  const placed = ops.map(() => false)
  const go = (state: S, left: number): boolean => {
    if (left === 0) return true
    const deadline = Math.min(...ops.map((o, i) => (placed[i] || o.return === null ? Infinity : o.return)))
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      if (placed[i] || op.invoke > deadline) continue
      const optional = op.return !== null && op.optional === true
      const step = full.step(state, op.input)
      // An optional op is placed before its deadline either with its effect or as a step that changes nothing.
      for (const after of optional ? [step.state, state] : [step.state]) {
        if (!optional && op.return !== null && op.output !== undefined && !full.accepts(op.output, step.output)) continue
        placed[i] = true
        const ok = go(after, left - (op.return === null ? 0 : 1))
        placed[i] = false
        if (ok) return true
      }
    }
    return false
  }
  return go(full.init(), ops.filter((o) => o.return !== null).length)
}
