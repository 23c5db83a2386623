// The model against hand-written expectations (test/model/cases.ts), which
// test/linux/linux-diff.test.ts also holds against Linux.

import { describe, expect, test } from "vitest"
import { apply, initialState } from "../../src/model/index.js"
import { CASES } from "./cases.js"

describe("Linux semantics", () => {
  for (const c of CASES) {
    test(c.name, () => {
      let state = initialState(c.tree, c.root, { readOnly: c.readOnly ?? false }, 0)
      c.steps.forEach(([op, cred, want], i) => {
        const out = apply(state, op, cred, 1000 + i)
        const where = `step ${i}: ${JSON.stringify(op)}`
        if (want === "blocks") {
          expect(out.blocks, where).toBeDefined()
          return // the runtime parks the thread; the Linux run skips it, and so do we
        }
        expect(out.blocks, where).toBeUndefined()
        if (Object.keys(want).length === 0) expect(out.result, where).not.toHaveProperty("errno")
        for (const [k, v] of Object.entries(want)) expect((out.result as Record<string, unknown>)[k], `${where}: ${k} of ${JSON.stringify(out.result)}`).toEqual(v)
        state = out.state
      })
    })
  }
})
