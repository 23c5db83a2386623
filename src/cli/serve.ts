// `fsim serve`: the simulated 9P2000.L server's semantics over real TCP, in
// real time, serving a scenario's `remote` tree, so that real 9P clients and
// test tools (the conformance driver among them) can talk to it.

import { InvalidArgumentError, type Command } from "commander"
import { InputError } from "../model/schema.js"
import { DEFAULT_MSIZE_MAX, HIGHEST_VERSION, MSIZE_MIN, P9Server, type QidPathPolicy } from "../sim/p9/server.js"
import { serveTcp } from "../sim/p9/tcp.js"
import { versionString } from "../sim/p9/wire.js"
import { decodeScenario } from "../sim/scenario.js"
import type { CliEnv } from "./env.js"
import { EXIT, readJsonFile } from "./io.js"

interface ServeFlags {
  readonly listen: { readonly host: string; readonly port: number }
  readonly tree: string
  readonly msizeMax: number
  readonly versionMax: number
  readonly qidPaths: QidPathPolicy
  readonly quiet?: boolean
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !(port >= 0 && port <= 65535)) throw new InvalidArgumentError("expected HOST:PORT, e.g. 127.0.0.1:5640 (port 0 picks a free one)")
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port }
}

function parseIntIn(lo: number, hi: number): (text: string) => number {
  return (text) => {
    const n = Number(text)
    if (!/^[0-9]+$/.test(text) || n < lo || n > hi) throw new InvalidArgumentError(`expected an integer in [${lo}, ${hi}]`)
    return n
  }
}

function parseQidPaths(text: string): QidPathPolicy {
  if (text !== "unique" && text !== "reuse") throw new InvalidArgumentError('expected "unique" or "reuse"')
  return text
}

/** Nanoseconds since the epoch (a double: sub-microsecond digits are lost, which 9P clients do not see). */
function wallClockNs(): number {
  return Date.now() * 1e6
}

export function registerServe(program: Command, _env: CliEnv): void {
  program
    .command("serve")
    .description("serve a scenario's remote tree over 9P2000.L on TCP, in real time (fsim's simulated server with the wire codec), until interrupted")
    .requiredOption("--listen <host:port>", "address to listen on (port 0 picks a free one, printed on start)", parseListen)
    .requiredOption("--tree <scenario>", "the scenario (fsim.scenario/1) whose remote tree and root attributes to serve")
    .option("--msize-max <bytes>", "the largest msize agreed in Tversion", parseIntIn(MSIZE_MIN, 1 << 24), DEFAULT_MSIZE_MAX)
    .option("--version-max <n>", `the highest extension level agreed (9P2000.L.Google.N; 0 is plain 9P2000.L)`, parseIntIn(0, HIGHEST_VERSION), HIGHEST_VERSION)
    .option("--qid-paths <policy>", "unique: a qid path names one file forever; reuse: paths are recycled once their file is gone", parseQidPaths, "unique")
    .option("--quiet", "print nothing but errors")
    .action(async (flags: ServeFlags) => {
      const scenario = decodeScenario(readJsonFile(flags.tree), flags.tree)
      const server = new P9Server(scenario.remote ?? {}, scenario.root, { msizeMax: flags.msizeMax, versionMax: flags.versionMax, qidPaths: flags.qidPaths }, wallClockNs())
      let serving
      try {
        serving = await serveTcp(server, {
          host: flags.listen.host,
          port: flags.listen.port,
          clock: wallClockNs,
          onClose: (peer, why) => {
            if (why !== null && flags.quiet !== true) process.stderr.write(`fsim serve: closed ${peer}: ${why}\n`)
          },
        })
      } catch (e) {
        throw new InputError(`--listen: cannot listen on ${flags.listen.host}:${flags.listen.port} (${(e as NodeJS.ErrnoException).code ?? String(e)})`)
      }
      const a = serving.address
      if (flags.quiet !== true) {
        process.stdout.write(`fsim serve: ${scenario.name}'s tree on ${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}, up to ${versionString(flags.versionMax)}, msize up to ${flags.msizeMax}\n`)
      }
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"))
        process.once("SIGTERM", () => resolve("SIGTERM"))
      })
      await serving.close()
      process.exitCode = signal === "SIGINT" ? EXIT.interrupted : EXIT.ok
    })
}
