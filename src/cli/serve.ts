// `fsim serve`: the simulated 9P2000.L server's semantics over real TCP, in
// real time, serving a scenario's `remote` tree, so that real 9P clients and
// test tools (the conformance driver among them) can talk to it.

import { isIPv6 } from "node:net"
import { InvalidArgumentError, Option, type Command } from "commander"
import { InputError } from "../model/schema.js"
import { DEFAULT_MSIZE_MAX, HIGHEST_VERSION, MSIZE_MIN, P9Server, type QidPathPolicy } from "../sim/p9/server.js"
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, serveTcp } from "./tcp.js"
import { NotUnicode, utf8Tree } from "../sim/p9/utf8.js"
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
  readonly maxConnections: number
  readonly idleTimeout: number
  readonly quiet?: boolean
}

const WILDCARD_HINT = "write 0.0.0.0 (every IPv4 interface) or [::] (every interface) if that is meant, else an address such as 127.0.0.1"

/** Whether an IPv4 host, in any form inet_aton takes ("0", "0.0", "0x0", "000.0.0.0"), is the unspecified address. */
function isZeroIPv4(host: string): boolean {
  if (!/^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$/i.test(host)) return false
  return host.split(".").every((part) => /^(0x0*|0+)$/i.test(part))
}

/** Whether an IPv6 literal is the unspecified address (any spelling of ::). */
function isZeroIPv6(host: string): boolean {
  return isIPv6(host) && /^[0:.]*$/.test(host)
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):([0-9]{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !(port >= 0 && port <= 65535)) throw new InvalidArgumentError("expected HOST:PORT, e.g. 127.0.0.1:5640 (port 0 picks a free one)")
  const host = m[1]!.replace(/^\[|\]$/g, "")
  // Node binds an empty host, "0" and the like to every interface, which is
  // a tree anyone on the network can change: only the spelled-out forms do.
  if (host === "") throw new InvalidArgumentError(`no host: this would listen on every interface; ${WILDCARD_HINT}`)
  if ((isZeroIPv4(host) && host !== "0.0.0.0") || (isZeroIPv6(host) && host !== "::")) {
    throw new InvalidArgumentError(`${JSON.stringify(m[1])} is a way of writing every interface; ${WILDCARD_HINT}`)
  }
  return { host, port }
}

/** "300s", "5m", "500ms", "90" (seconds), "0" (never) -> ms. */
function parseIdle(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text)
  if (m === null) throw new InvalidArgumentError("expected a duration: 300s, 5m, 500ms, or 0 for never")
  const ms = Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"])
  // Node's timers hold at most 2^31 - 1 ms (about 24.8 days).
  if (ms > 0x7fff_ffff) throw new InvalidArgumentError("expected a duration of at most 24 days")
  return ms
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
    .requiredOption("--listen <host:port>", "address to listen on (port 0 picks a free one, printed on start); every interface only as 0.0.0.0 or [::]", parseListen)
    .requiredOption("--tree <scenario>", "the scenario (fsim.scenario/1) whose remote tree and root attributes to serve")
    .option("--msize-max <bytes>", "the largest msize agreed in Tversion", parseIntIn(MSIZE_MIN, 1 << 24), DEFAULT_MSIZE_MAX)
    .option("--version-max <n>", `the highest extension level agreed (9P2000.L.Google.N; 0 is plain 9P2000.L)`, parseIntIn(0, HIGHEST_VERSION), HIGHEST_VERSION)
    .option("--qid-paths <policy>", "unique: a qid path names one file forever; reuse: paths are recycled once their file is gone", parseQidPaths, "unique")
    .option("--max-connections <n>", "connections served at once; one more is closed as it arrives", parseIntIn(1, 1 << 20), DEFAULT_MAX_CONNECTIONS)
    .addOption(
      new Option("--idle-timeout <duration>", "close a connection with no traffic either way for this long (300s, 5m, 500ms; 0: never)")
        .argParser(parseIdle)
        .default(DEFAULT_IDLE_TIMEOUT_MS, `${DEFAULT_IDLE_TIMEOUT_MS / 1000}s`),
    )
    .option("--quiet", "print nothing but errors")
    .action(async (flags: ServeFlags) => {
      const say = (line: string): void => {
        if (flags.quiet !== true) process.stderr.write(`fsim serve: ${line}\n`)
      }
      const scenario = decodeScenario(readJsonFile(flags.tree), flags.tree)
      let tree
      try {
        tree = utf8Tree(scenario.remote ?? {})
      } catch (e) {
        if (e instanceof NotUnicode) throw new InputError(`${flags.tree}: remote: a name, target or link ${e.message}`)
        throw e
      }
      const server = new P9Server(tree, scenario.root, { msizeMax: flags.msizeMax, versionMax: flags.versionMax, qidPaths: flags.qidPaths }, wallClockNs())
      let serving
      try {
        serving = await serveTcp(server, {
          host: flags.listen.host,
          port: flags.listen.port,
          clock: wallClockNs,
          maxConnections: flags.maxConnections,
          idleTimeoutMs: flags.idleTimeout,
          onClose: (peer, why) => {
            if (why !== null) say(`closed ${peer}: ${why}`)
          },
          onRefuse: (peer, first) => {
            if (first) say(`${flags.maxConnections} connections open (--max-connections): closing new ones as they arrive, the first from ${peer}`)
          },
          onBelowCap: (refused) => say(`accepting connections again; ${refused} closed at the cap`),
        })
      } catch (e) {
        throw new InputError(`--listen: cannot listen on ${flags.listen.host}:${flags.listen.port} (${(e as NodeJS.ErrnoException).code ?? String(e)})`)
      }
      // The handlers go in before the line that says it is listening: a
      // signal sent on reading that line (as a supervisor or the tests do)
      // must find them, or Node's default action ends the process (no 143).
      const stopped = new Promise<NodeJS.Signals>((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"))
        process.once("SIGTERM", () => resolve("SIGTERM"))
      })
      const a = serving.address
      if (a.address === "0.0.0.0" || a.address === "::") {
        say(`listening on every ${a.address === "::" ? "" : "IPv4 "}interface: whoever can reach this host can read and change the tree`)
      }
      if (flags.quiet !== true) {
        process.stdout.write(`fsim serve: ${scenario.name}'s tree on ${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}, up to ${versionString(flags.versionMax)}, msize up to ${flags.msizeMax}\n`)
      }
      const signal = await stopped
      const st = serving.stats()
      await serving.close()
      if (flags.quiet !== true) {
        process.stdout.write(
          `fsim serve: stopped (${signal}): ${st.connections} connections, ${st.refused} closed at the cap of ${flags.maxConnections}, ${st.idleClosed} closed idle, at most ${st.peak} at once, ${st.throttled} times a connection was not read until its replies drained\n`,
        )
      }
      process.exitCode = signal === "SIGINT" ? EXIT.interrupted : EXIT.terminated
    })
}
