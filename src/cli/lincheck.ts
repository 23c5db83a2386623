// `fsim lincheck`: is a recorded history (fsim.history/1) linearizable
// with respect to the reference model?

import type { Command } from "commander"
import { checkHistory, decodeHistory } from "../model/lincheck/index.js"
import { EXIT, parsePositiveInt, readJsonFile } from "./io.js"

export function registerLincheck(program: Command): void {
  program
    .command("lincheck")
    .description("judge a history (fsim.history/1) against the reference model: linearizable (exit 0), not (exit 1, with the smallest set of ops that cannot be ordered, in words), or unknown (exit 3)")
    .argument("<history>", "the history's JSON file")
    .option("--budget <steps>", "model steps the search may take before answering unknown", parsePositiveInt)
    .option("--json", "print fsim.lincheck/1 JSON")
    .action((file: string, flags: { budget?: number; json?: boolean }) => {
      const history = decodeHistory(readJsonFile(file))
      const out = checkHistory(history, flags.budget === undefined ? {} : { budget: flags.budget })
      if (flags.json === true) process.stdout.write(JSON.stringify(out) + "\n")
      else {
        const lines = [`${file}: ${history.ops.length} ops, ${out.explored} model steps explored`]
        if (out.linearizable === true) lines.push(`linearizable; witness order: ${out.witness!.join(", ")}`)
        else if (out.linearizable === false) {
          lines.push("NOT linearizable")
          if (out.core !== undefined) lines.push(`ops that cannot be ordered: ${out.core.join(", ")}`)
        } else lines.push("unknown")
        if (out.explanation !== null) lines.push(out.explanation)
        process.stdout.write(lines.join("\n") + "\n")
      }
      process.exitCode = out.linearizable === true ? EXIT.ok : out.linearizable === false ? EXIT.violation : EXIT.inconclusive
    })
}
