// Calling the CLI's main() in-process with its output captured, and the
// contract's judgement of what came back: shared by the fuzz suite and the
// test that proves the judgement catches a crash.

import { main } from "../../src/cli/main.js"

export const READERS = ["run", "lincheck", "replay", "shrink", "show", "serve"] as const
export type Reader = (typeof READERS)[number]

// ---------------------------------------------------------------------------
// main() in-process, its output captured.

export interface Outcome {
  readonly status: number | "threw" | "hung"
  readonly stdout: string
  readonly stderr: string
  readonly error?: string
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

export async function callMain(args: readonly string[], serving: boolean): Promise<Outcome> {
  const out: string[] = []
  const err: string[] = []
  const write = { out: process.stdout.write, err: process.stderr.write }
  const capture = (into: string[]) => ((chunk: string | Uint8Array): boolean => {
    into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))
    return true
  }) as typeof process.stdout.write
  const sigint = new Set(process.listeners("SIGINT"))
  const sigterm = new Set(process.listeners("SIGTERM"))
  process.exitCode = undefined
  process.stdout.write = capture(out)
  process.stderr.write = capture(err)
  try {
    let settled: { status: number } | { error: unknown } | null = null
    const p = main(["node", "fsim", ...args]).then(
      (status) => (settled = { status }),
      (error: unknown) => (settled = { error }),
    )
    if (serving) {
      // serve runs until a signal: once it says it is listening (the tree
      // is loaded), its own SIGINT handler is called, as Ctrl-C would.
      for (let i = 0; settled === null && !out.join("").includes("fsim serve:"); i++) {
        if (i > 200_000) return { status: "hung", stdout: out.join(""), stderr: err.join("") }
        await tick()
      }
      for (const l of process.listeners("SIGTERM")) if (!sigterm.has(l)) process.removeListener("SIGTERM", l)
      for (const l of process.listeners("SIGINT"))
        if (!sigint.has(l)) {
          process.removeListener("SIGINT", l)
          ;(l as (s: NodeJS.Signals) => void)("SIGINT")
        }
    }
    await p
    const s = settled as { status: number } | { error: unknown } | null
    if (s === null || "error" in s) {
      const e = s === null ? "did not settle" : s.error
      return { status: "threw", stdout: out.join(""), stderr: err.join(""), error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}`.slice(0, 2000) : String(e) }
    }
    return { status: s.status, stdout: out.join(""), stderr: err.join("") }
  } finally {
    process.stdout.write = write.out
    process.stderr.write = write.err
    process.exitCode = undefined
  }
}

/** What is wrong with an outcome, or null: the contract's answer to any input. */
export function judge(reader: Reader, o: Outcome, wrote: boolean): string | null {
  if (o.status === "threw") return `main threw: ${o.error}`
  if (o.status === "hung") return "no answer: it hung (or was killed)"
  if (/\n\s+at .*\(.*:\d+:\d+\)/.test(o.stderr)) return "a stack trace on stderr"
  if (o.status === 2) {
    const lines = o.stderr.split("\n")
    if (lines.length !== 2 || lines[1] !== "" || !lines[0]!.startsWith("fsim: ")) return `exit 2 with stderr ${JSON.stringify(o.stderr.slice(0, 300))} (one line expected)`
    if (wrote) return "exit 2, yet an output file was written"
    return null
  }
  const verdicts: readonly number[] = reader === "serve" ? [130] : reader === "show" ? [0] : reader === "replay" ? [0, 1] : reader === "shrink" ? [0, 1, 130] : [0, 1, 3]
  return verdicts.includes(o.status) ? null : `exit ${o.status} (expected 2 or one of ${verdicts.join(", ")})`
}

