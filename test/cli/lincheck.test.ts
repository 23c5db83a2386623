import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { fsim, ROOT, tempDir } from "./helpers.js"

const STALE = join(ROOT, "scenarios", "stale-read.history.json")
const stale = JSON.parse(readFileSync(STALE, "utf8"))

describe("fsim lincheck", () => {
  it("exits 1 on a non-linearizable history and explains it in words", () => {
    const r = fsim(["lincheck", STALE])
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/NOT linearizable/)
    expect(r.stdout).toMatch(/stat of \/a by thread t1 .* saw size 0, but thread t0's write of 3 bytes to f .* had returned at event 4/)
  })

  it("exits 0 with a witness when the history is linearizable", () => {
    const dir = tempDir("lin")
    const ok = structuredClone(stale)
    ok.ops[2].result.size = 3
    const f = join(dir, "ok.json")
    writeFileSync(f, JSON.stringify(ok))
    const r = fsim(["lincheck", f, "--json"])
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ format: "fsim.lincheck/1", linearizable: true, witness: [0, 1, 2] })
  })

  it("exits 3 when its search budget runs out, answering unknown rather than guessing", () => {
    const r = fsim(["lincheck", STALE, "--budget", "1", "--json"])
    expect(r.status).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({ linearizable: null, witness: null })
  })

  describe("bad input: one line, exit 2", () => {
    const dir = tempDir("linbad")
    const variant = (name: string, edit: (h: typeof stale) => void): string => {
      const h = structuredClone(stale)
      edit(h)
      const f = join(dir, name)
      writeFileSync(f, JSON.stringify(h))
      return f
    }
    const cases: [string, string, RegExp][] = [
      ["unknown op", variant("op.json", (h) => (h.ops[0].op = { op: "frob" })), /^fsim: history: ops\[0\]\.op: unknown op "frob"$/],
      ["missing field", variant("miss.json", (h) => delete h.ops[1].invoke), /^fsim: history: ops\[1\]\.invoke: missing field$/],
      ["wrong type", variant("type.json", (h) => (h.ops[1].return = "4")), /^fsim: history: ops\[1\]\.return: expected .*got "4"$/],
      ["duplicate times", variant("dup.json", (h) => (h.ops[2].invoke = h.ops[1].return)), /^fsim: history: ops\[2\]\.invoke: time 4 is also ops\[1\]\.return \(times are unique\)$/],
      ["bad result", variant("res.json", (h) => (h.ops[1].result = { count: -3 })), /^fsim: history: ops\[1\]\.result: count: expected .*got -3$/],
    ]
    for (const [what, file, message] of cases) {
      it(what, () => {
        const r = fsim(["lincheck", file])
        expect(r.status).toBe(2)
        expect(r.stdout).toBe("")
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1)
        expect(r.stderr.trimEnd()).toMatch(message)
      })
    }
  })
})
