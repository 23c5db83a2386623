// Input limits (src/model/limits.ts) and output paths, as a user meets
// them: the real `fsim` command on files that break a limit (one line, exit
// 2, nothing written), on files at a limit (a verdict), and on output paths
// that cannot be written (one line, exit 2, before any work).

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { checkInputLimits, LIMITS } from "../../src/model/limits.js"
import { InputError } from "../../src/model/schema.js"
import { parseTrace } from "../../src/sim/trace.js"
import { fsim, ROOT, tempDir, type Ran } from "./helpers.js"

const SCENARIO = join(ROOT, "scenarios", "append-vs-truncate.json")
const TRACE = join(ROOT, "traces", "lincheck-model-mutant-rename-not-atomic-2692.jsonl")
const isRoot = process.getuid?.() === 0

function expectOneLine(r: Ran, message: RegExp): void {
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  expect(r.stderr.trimEnd()).toMatch(message)
  expect(r.status).toBe(2)
}

/** A chain of `depth` directories under /d, the last holding a file (whose path has depth + 1 names). */
function chainText(depth: number): string {
  return '{"type":"dir","children":{"a":'.repeat(depth) + '{"type":"file","data":"x"}' + "}}".repeat(depth)
}

function scenarioWithTree(depth: number): string {
  return `{"format":"fsim.scenario/1","name":"deep","mount":{"kind":"model"},"remote":{"d":${chainText(depth)}},"threads":[{"name":"t0","ops":[{"op":"stat","path":"/d"}]}]}\n`
}

/** A trace whose header carries `scenario` (text): the recorded run's events stay, so replay reports a difference, not a crash. */
function traceWithScenario(scenario: string): string {
  const text = readFileSync(TRACE, "utf8")
  const nl = text.indexOf("\n")
  const header = JSON.parse(text.slice(0, nl)) as Record<string, unknown>
  return JSON.stringify({ ...header, scenario: "MARK" }).replace('"MARK"', scenario.trimEnd()) + text.slice(nl)
}

describe("input limits: every reader answers deep input with one line, exit 2", () => {
  const dir = tempDir("limits")
  const nested = join(dir, "nested.json")
  writeFileSync(nested, "[".repeat(5000) + "]".repeat(5000) + "\n")
  const deepScenario = join(dir, "deep-tree.json")
  writeFileSync(deepScenario, scenarioWithTree(3000))
  const deepTrace = join(dir, "deep-tree.jsonl")
  writeFileSync(deepTrace, traceWithScenario(scenarioWithTree(3000)))
  const out = join(dir, "out")
  const readers: readonly (readonly [string, (f: string) => string[]])[] = [
    ["run", (f) => ["run", f, "--trace", out]],
    ["lincheck", (f) => ["lincheck", f]],
    ["replay", (f) => ["replay", f]],
    ["shrink", (f) => ["shrink", f, "-o", out]],
    ["show", (f) => ["show", f, "--html", "-o", out]],
    ["serve --tree", (f) => ["serve", "--listen", "127.0.0.1:0", "--tree", f]],
  ]
  for (const [name, args] of readers) {
    it(`${name}: 5,000 levels of nesting, and a tree 3,000 directories deep`, () => {
      const traceReader = name === "replay" || name === "shrink" || name === "show"
      expectOneLine(fsim(args(nested)), /nested deeper than fsim's limit of 272 levels/)
      expectOneLine(fsim(args(traceReader ? deepTrace : deepScenario)), /deeper than fsim's limit of 272 levels|deeper than fsim's limit of 128 directory levels/)
      expect(existsSync(out)).toBe(false)
    })
  }

  it("a tree one level past the depth limit is refused, naming the limit; one at the limit runs, replays and shows", () => {
    const past = join(dir, "past.json")
    writeFileSync(past, scenarioWithTree(LIMITS.treeDepth))
    expectOneLine(fsim(["run", past]), /remote: \/d\/a\/a\/\.\.\.\/a: the tree is deeper than fsim's limit of 128 directory levels/)
    const at = join(dir, "at.json")
    writeFileSync(at, scenarioWithTree(LIMITS.treeDepth - 1))
    const t = join(dir, "at.jsonl")
    const r = fsim(["run", at, "--trace", t])
    expect(r.status, r.stderr).toBe(0)
    expect(fsim(["replay", t]).status).toBe(0)
    const shown = fsim(["show", t, "--at", "3"])
    expect(shown.status, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(/state at event 3/)
  })

  it("a history whose initial tree is at the depth limit is judged", () => {
    const h = join(dir, "deep.history.json")
    writeFileSync(h, `{"format":"fsim.history/1","initial":{"d":${chainText(LIMITS.treeDepth - 1)}},"ops":[{"thread":"t0","op":{"op":"stat","path":"/d/a"},"result":{"errno":"ENOENT"},"invoke":1,"return":2}]}`)
    const r = fsim(["lincheck", h])
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/NOT linearizable/)
  })

  it("a file larger than the limit is refused before it is read", () => {
    const big = join(dir, "big.json")
    writeFileSync(big, "")
    truncateSync(big, LIMITS.inputBytes + 1)
    expectOneLine(fsim(["run", big]), new RegExp(`${LIMITS.inputBytes + 1} bytes, more than fsim's limit of ${LIMITS.inputBytes}`))
  })
})

describe("input limits, one by one (checkInputLimits and parseTrace)", () => {
  const scenario = (over: Record<string, unknown>): unknown => ({ format: "fsim.scenario/1", name: "s", mount: { kind: "model" }, threads: [], ...over })
  const refused = (value: unknown): string => {
    try {
      checkInputLimits(value, "f.json")
    } catch (e) {
      expect(e).toBeInstanceOf(InputError)
      return (e as Error).message
    }
    return "accepted"
  }
  const stat = { op: "stat", path: "/a" }

  it("names, paths and strings: at the limit accepted, past it refused with the field", () => {
    expect(refused(scenario({ remote: { ["n".repeat(255)]: { type: "file" } } }))).toBe("accepted")
    expect(refused(scenario({ remote: { ["n".repeat(256)]: { type: "file" } } }))).toMatch(/a name of 256 characters, longer than fsim's limit of 255/)
    expect(refused(scenario({ remote: { a: { type: "file", xattrs: { ["user." + "x".repeat(251)]: "v" } } } }))).toMatch(/an xattr name of 256 characters/)
    const ops = (path: string) => scenario({ threads: [{ name: "t0", ops: [{ op: "stat", path }] }] })
    expect(refused(ops("a".repeat(LIMITS.pathBytes)))).toBe("accepted")
    expect(refused(ops("a".repeat(LIMITS.pathBytes + 1)))).toMatch(/f\.json: threads\[0\]\.ops\[0\]\.path: a path of 16385 characters, longer than fsim's limit of 16384/)
    expect(refused(scenario({ remote: { a: { type: "file", data: "x".repeat(LIMITS.dataBytes + 1) } } }))).toMatch(/remote\.a\.data: a string of 16777217 characters/)
  })

  it("threads, ops per thread, ops in all, tree nodes", () => {
    const threads = (n: number, ops: number) => scenario({ threads: Array.from({ length: n }, (_, i) => ({ name: `t${i}`, ops: Array.from({ length: ops }, () => stat) })) })
    expect(refused(threads(LIMITS.threads, 1))).toBe("accepted")
    expect(refused(threads(LIMITS.threads + 1, 1))).toMatch(/threads: 257 threads \(with external users\), more than fsim's limit of 256/)
    expect(refused(scenario({ threads: [{ name: "t0", ops: new Array(LIMITS.opsPerThread + 1).fill(stat) }] }))).toMatch(/threads\[0\]\.ops: 2000001 ops, more than fsim's limit of 2000000 per thread/)
    expect(refused(scenario({ threads: [1, 2].map((i) => ({ name: `t${i}`, ops: new Array(LIMITS.opsTotal / 2 + 1).fill(stat) })) }))).toMatch(/2000002 ops in all/)
    expect(refused({ format: "fsim.history/1", ops: new Array(LIMITS.opsTotal + 1).fill(null) })).toMatch(/ops: 2000001 ops, more than fsim's limit/)
    expect(refused({ format: "fsim.workload/1", ops: LIMITS.opsPerThread + 1 })).toMatch(/ops per thread/)
    const wide: Record<string, unknown> = {}
    for (let i = 0; i <= LIMITS.treeNodes; i++) wide[`f${i}`] = { type: "file" }
    expect(refused(scenario({ mount: { kind: "overlay", lower: [{ kind: "tmpfs", tree: wide }] } }))).toMatch(/mount\.lower\[0\]\.tree: more than fsim's limit of 100000 nodes/)
  })

  it("a trace's event count is checked before any line is parsed", () => {
    expect(() => parseTrace("x\n".repeat(LIMITS.traceEvents + 2), "t.jsonl")).toThrow(/t\.jsonl: 4000001 events, more than fsim's limit of 4000000/)
  })
})

describe("output paths are checked before any work", () => {
  const dir = tempDir("outputs")
  const file = join(dir, "a-file")
  writeFileSync(file, "")
  const aDir = join(dir, "a-dir")
  mkdirSync(aDir)

  it("run --trace, shrink -o and --save-dir, show --html -o and --export -o, check --save-dir: a file where a directory goes, a directory where a file goes", () => {
    const cases: readonly (readonly [string[], RegExp])[] = [
      [["run", SCENARIO, "--trace", join(file, "t.jsonl")], /--trace: .*a-file: is a file, not a directory/],
      [["run", SCENARIO, "--trace", aDir], /--trace: .*a-dir: is a directory, not a file/],
      [["shrink", TRACE, "-o", aDir], /--out: .*a-dir: is a directory, not a file/],
      [["shrink", TRACE, "--save-dir", join(file, "sub")], /--save-dir: .*a-file\/sub: a path through a file/],
      [["show", TRACE, "--html", "-o", join(file, "x.html")], /-o: .*a-file: is a file, not a directory/],
      [["show", TRACE, "--export", "perfetto", "-o", aDir], /-o: .*a-dir: is a directory, not a file/],
      [["check", "--runs", "3", "--save-dir", file], /--save-dir: .*a-file: is a file, not a directory/],
    ]
    for (const [args, message] of cases) {
      const r = fsim(args)
      expectOneLine(r, message)
      expect(r.stdout).toBe("")
    }
    expect(readdirSync(dir).sort()).toEqual(["a-dir", "a-file"])
    expect(readdirSync(aDir)).toEqual([])
  })

  it.skipIf(isRoot)("a directory without write permission (not as root, who may write anywhere)", () => {
    const ro = join(dir, "read-only")
    mkdirSync(ro)
    chmodSync(ro, 0o555)
    expectOneLine(fsim(["check", "--runs", "3", "--save-dir", join(ro, "traces")]), /--save-dir: .*cannot be made in .*read-only: not writable \(EACCES\)/)
    expectOneLine(fsim(["run", SCENARIO, "--trace", join(ro, "t.jsonl")]), /--trace: .*not writable/)
  })

  // sysfs accepts the access check as root and refuses to create files: a
  // write that fails after the work, as a full disk would.
  it.skipIf(!isRoot || !existsSync("/sys/kernel"))("a write that fails after the run: the result is printed, the loss named, the verdict's status kept", () => {
    const r = fsim(["run", SCENARIO, "--trace", "/sys/kernel/fsim-test.jsonl"])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/verdict: pass/)
    expect(r.stdout).not.toMatch(/trace:/)
    expect(r.stderr).toMatch(/^fsim: cannot write \/sys\/kernel\/fsim-test\.jsonl \(E[A-Z]+\): the trace is lost/)
    const s = fsim(["shrink", TRACE, "-o", "/sys/kernel/fsim-test.jsonl", "--budget", "5"])
    expect(s.status).toBe(2)
    expect(s.stdout).toMatch(/after: .*\n {2}\(not written\)/)
    expect(s.stderr).toMatch(/fsim: cannot write .*: the shrunk trace is lost/)
  })
})
