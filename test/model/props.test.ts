// Properties of the reducer over random op sequences: patches replay to the
// same state, states are deeply frozen and never mutated, stepping is
// deterministic, hashing agrees with equality, apply never throws.

import fc from "fast-check"
import { describe, expect, test } from "vitest"
import { arbSequentialScenario } from "../../src/model/arbitraries.js"
import { apply, initialState, replayPatches, stateEquals, stateHash, toTree, type ModelState } from "../../src/model/index.js"

const RUNS = Number(process.env["FSIM_PROPERTY_RUNS"] ?? 200)

/** Every object reachable from `v` is frozen. */
function deepFrozen(v: unknown, seen = new Set<unknown>()): boolean {
  if (v === null || typeof v !== "object" || seen.has(v)) return true
  seen.add(v)
  if (!Object.isFrozen(v)) return false
  for (const k of Reflect.ownKeys(v)) if (!deepFrozen((v as Record<PropertyKey, unknown>)[k], seen)) return false
  return true
}

/** A structural snapshot that does not go through the model's caches. */
function snapshot(s: ModelState): string {
  return JSON.stringify(s, (_k, x: unknown) => (x === undefined ? "<undefined>" : x))
}

describe("the reducer", () => {
  test("replaying the emitted patches over the initial state reproduces every state", () => {
    fc.assert(
      fc.property(arbSequentialScenario({ readOnlyFreq: 8 }), (sc) => {
        const initial = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 0)
        let state = initial
        const all: Parameters<typeof replayPatches>[1][number][] = []
        sc.steps.forEach(({ op, cred }, i) => {
          const before = state
          const out = apply(state, op, cred, i + 1)
          // One step's patches take its input to its output...
          const replayed = replayPatches(before, out.patches)
          expect(stateEquals(replayed, out.state)).toBe(true)
          expect(stateHash(replayed)).toBe(stateHash(out.state))
          all.push(...out.patches)
          state = out.state
        })
        // ...and the whole run's patches take the initial state to the last.
        const folded = replayPatches(initial, all)
        expect(stateEquals(folded, state)).toBe(true)
        expect(snapshot(toTree(folded) as unknown as ModelState)).toBe(snapshot(toTree(state) as unknown as ModelState))
      }),
      { numRuns: RUNS },
    )
  })

  test("states are deeply frozen and inputs are never mutated; apply on a deep-frozen replayed state works", () => {
    fc.assert(
      fc.property(arbSequentialScenario(), (sc) => {
        let state = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 0)
        expect(deepFrozen(state)).toBe(true)
        sc.steps.forEach(({ op, cred }, i) => {
          const before = snapshot(state)
          const out = apply(state, op, cred, i + 1)
          expect(snapshot(state)).toBe(before)
          expect(deepFrozen(out.state)).toBe(true)
          // A state rebuilt by immer (deep-frozen by it) steps the same.
          const rebuilt = replayPatches(state, [{ op: "replace", path: ["nextIno"], value: state.nextIno }])
          expect(deepFrozen(rebuilt)).toBe(true)
          const again = apply(rebuilt, op, cred, i + 1)
          expect(again.result).toEqual(out.result)
          expect(stateEquals(again.state, out.state)).toBe(true)
          state = out.state
        })
      }),
      { numRuns: RUNS },
    )
  })

  test("stepping is deterministic and hashes follow equality", () => {
    fc.assert(
      fc.property(arbSequentialScenario(), (sc) => {
        let a = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 0)
        let b = initialState(sc.tree, sc.root, { readOnly: sc.readOnly }, 0)
        expect(stateEquals(a, b)).toBe(true)
        expect(stateHash(a)).toBe(stateHash(b))
        sc.steps.forEach(({ op, cred }, i) => {
          const x = apply(a, op, cred, i + 1)
          const y = apply(b, op, cred, i + 1)
          expect(y.result).toEqual(x.result)
          expect(y.patches).toEqual(x.patches)
          expect(stateEquals(x.state, y.state)).toBe(true)
          expect(stateHash(x.state)).toBe(stateHash(y.state))
          if (x.patches.length === 0) expect(x.state).toBe(a)
          a = x.state
          b = y.state
        })
      }),
      { numRuns: RUNS },
    )
  })

  test("patches replay across new and emptied buckets of the inode table", () => {
    const initial = initialState({})
    let state = initial
    const patches: Parameters<typeof replayPatches>[1][number][] = []
    const step = (op: Parameters<typeof apply>[1]): void => {
      const out = apply(state, op, { uid: 0, gid: 0, groups: [] }, 1)
      expect(out.result).not.toHaveProperty("errno")
      patches.push(...out.patches)
      state = out.state
    }
    for (let i = 0; i < 300; i++) step({ op: "mkdir", path: `/d${i}` })
    for (let i = 0; i < 300; i += 2) step({ op: "rmdir", path: `/d${i}` })
    for (let i = 1; i < 200; i += 2) step({ op: "rmdir", path: `/d${i}` })
    const folded = replayPatches(initial, patches)
    expect(stateEquals(folded, state)).toBe(true)
    expect(stateHash(folded)).toBe(stateHash(state))
    expect(deepFrozen(folded)).toBe(true)
    // The replayed state steps on like the original.
    const a = apply(folded, { op: "mkdir", path: "/x" }, { uid: 0, gid: 0, groups: [] }, 2)
    const b = apply(state, { op: "mkdir", path: "/x" }, { uid: 0, gid: 0, groups: [] }, 2)
    expect(stateEquals(a.state, b.state)).toBe(true)
  })

  test("a state's hash changes when it changes (no collisions on small runs)", () => {
    let s = initialState({ f: { type: "file", data: "" } })
    const seen = new Map<number, ModelState>([[stateHash(s), s]])
    for (let i = 0; i < 200; i++) {
      s = apply(s, { op: "truncate", path: "/f", length: i + 1 }, { uid: 0, gid: 0, groups: [] }, i).state
      const h = stateHash(s)
      expect(seen.has(h)).toBe(false)
      seen.set(h, s)
    }
  })
})
