// `fsim serve` started as a user starts it, in its own process: its port
// from the line it prints, its stdout and stderr, its memory, its exit.

import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { FSIM, tempDir } from "../cli/helpers.js"

export interface ServeProcess {
  readonly port: number
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resident memory now, in bytes (VmRSS of /proc/PID/status). */
  rss(): number
  /** Signals it and resolves with its exit status. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/** A scenario file serving `remote`. */
export function treeFile(remote: unknown, name = "served"): string {
  const file = join(tempDir("serve"), "s.json")
  writeFileSync(file, JSON.stringify({ format: "fsim.scenario/1", name, mount: { kind: "gofer" }, threads: [], remote }))
  return file
}

export function startServeProcess(tree: string, args: readonly string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [FSIM, "serve", "--listen", "127.0.0.1:0", "--tree", tree, ...args], { stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  let err = ""
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const m = /on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m === null) return
      child.stdout!.off("data", onData)
      resolve({
        port: Number(m[1]),
        child,
        stdout: () => out,
        stderr: () => err,
        rss: () => {
          const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))
          return Number(kb![1]) * 1024
        },
        stop: (signal = "SIGINT") => {
          if (child.exitCode === null) child.kill(signal)
          return exited
        },
      })
    }
    child.stdout!.on("data", onData)
    child.once("exit", (code) => reject(new Error(`fsim serve exited ${code} before listening: ${err}`)))
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
