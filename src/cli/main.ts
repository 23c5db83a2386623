// The `fsim` command.

import { Command, CommanderError } from "commander"
import { InputError } from "../model/schema.js"
import { FSIM_VERSION } from "../sim/version.js"
import { defaultEnv } from "./mounts.js"
import { EXIT } from "./io.js"
import { registerCheck } from "./check.js"
import { registerLincheck } from "./lincheck.js"
import { registerReplay } from "./replay.js"
import { registerRun } from "./run.js"
import { registerShow } from "./show.js"
import { registerShrink } from "./shrink.js"
import { registerServe } from "./serve.js"

export function buildProgram(): Command {
  const env = defaultEnv()
  const program = new Command("fsim")
    .description("deterministic, event-sourced simulator for testing filesystem client code")
    .version(FSIM_VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // One line, prefixed, as every fsim error.
      outputError: (str, write) => write(`fsim: ${str.replace(/^error: /, "").trim().split("\n")[0]}\n`),
    })
  registerRun(program, env)
  registerReplay(program, env)
  registerCheck(program, env)
  registerLincheck(program)
  registerShrink(program, env)
  registerShow(program, env)
  registerServe(program, env)
  return program
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv as string[], { from: "node" })
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return EXIT.ok
      return EXIT.usage
    }
    if (e instanceof InputError) {
      process.stderr.write(`fsim: ${e.message.split("\n")[0]}\n`)
      return EXIT.usage
    }
    throw e
  }
}
