// The fuzz suite's judgement fires on a real crash and stays quiet on
// good answers. The seeded bug: the input limits switched off, so a tree
// 3,000 directories deep reaches the schema decoder and overflows the
// stack, as every reader did before the limits.

import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { LIMITS } from "../../src/model/limits.js"
import { tempDir } from "../cli/helpers.js"
import { callMain, judge } from "./harness.js"

const saved = { ...LIMITS }
const limits = LIMITS as { -readonly [K in keyof typeof LIMITS]: number }

afterEach(() => {
  Object.assign(limits, saved)
})

function deepScenario(depth: number): string {
  const chain = '{"type":"dir","children":{"a":'.repeat(depth) + '{"type":"file"}' + "}}".repeat(depth)
  return `{"format":"fsim.scenario/1","name":"deep","mount":{"kind":"model"},"remote":{"d":${chain}},"threads":[]}\n`
}

describe("the fuzz judgement", () => {
  const dir = tempDir("fuzz-judge")
  const file = join(dir, "deep.json")
  writeFileSync(file, deepScenario(3000))

  it("fires: with the limits off, a deep tree crashes `run`, and the judgement says so", async () => {
    limits.jsonDepth = 1e9
    limits.treeDepth = 1e9
    const o = await callMain(["run", file, "--no-trace"], false)
    expect(judge("run", o, false)).toMatch(/^main threw: /)
  })

  it("stays quiet: with the limits on, the same file is one line and exit 2", async () => {
    const o = await callMain(["run", file, "--no-trace"], false)
    expect(o.status).toBe(2)
    expect(judge("run", o, false)).toBeNull()
  })

  it("names each wrong answer: two lines for bad input, a stack trace, a status outside the contract, an output written on exit 2", () => {
    expect(judge("run", { status: 2, stdout: "", stderr: "shrinking...\nfsim: bad\n" }, false)).toMatch(/one line expected/)
    expect(judge("run", { status: 1, stdout: "", stderr: "Error: x\n    at f (file.js:1:2)\n" }, false)).toMatch(/stack trace/)
    expect(judge("show", { status: 1, stdout: "", stderr: "" }, false)).toMatch(/exit 1/)
    expect(judge("run", { status: 2, stdout: "", stderr: "fsim: bad\n" }, true)).toMatch(/output file was written/)
    expect(judge("serve", { status: 130, stdout: "fsim serve: ...\n", stderr: "" }, false)).toBeNull()
  })
})
