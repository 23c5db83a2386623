// `npm run bench`: every speed figure of fsim, one JSON line each, printed
// last. Each figure that is a ratio is measured against a baseline in the
// same process, so ratios hold on a noisy machine.

import { benchGofer } from "./gofer.js"
import { benchLincheck } from "./lincheck.js"
import { benchModel } from "./model.js"
import { benchOverlay } from "./overlay.js"
import { benchP9 } from "./p9.js"
import { benchSched } from "./sched.js"

async function main(): Promise<void> {
  const figures: Record<string, unknown>[] = []
  const parts: [string, () => Promise<Record<string, unknown>[]> | Record<string, unknown>[]][] = [
    ["scheduler", benchSched],
    ["model", benchModel],
    ["lincheck", benchLincheck],
    ["p9", benchP9],
    ["gofer", benchGofer],
    ["overlay", benchOverlay],
  ]
  for (const [name, run] of parts) {
    process.stderr.write(`bench: ${name}...\n`)
    figures.push(...(await run()))
  }
  for (const f of figures) process.stdout.write(JSON.stringify(f) + "\n")
}

await main()
