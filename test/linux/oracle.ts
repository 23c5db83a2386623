// The TypeScript end of oracle.py: one python3 process, JSON lines, one
// request in flight at a time.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { Cred, Op, OpResult, RootAttrs, Tree } from "../../src/model/types.js"

/**
 * Overlay layers as read directly (oracle.py read_tree with `layer`):
 * whiteouts, `opaque` directories, and overlayfs's other own xattrs listed
 * as `overlay_xattrs` (not a contract field).
 */
export interface LayerTrees {
  readonly upper: Tree | null
  readonly lower: readonly Tree[]
}

const SCRIPT = fileURLToPath(new URL("./oracle.py", import.meta.url))

export class LinuxOracle {
  private readonly proc: ChildProcessWithoutNullStreams
  private readonly waiting: ((line: string) => void)[] = []
  private stderr = ""
  private exited = false

  constructor() {
    this.proc = spawn("python3", [SCRIPT], { stdio: ["pipe", "pipe", "pipe"] })
    createInterface({ input: this.proc.stdout }).on("line", (line) => this.waiting.shift()?.(line))
    this.proc.stdin.on("error", () => undefined) // reported through "exit"
    this.proc.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()))
    this.proc.on("exit", () => {
      this.exited = true
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: `oracle exited: ${this.stderr.trim()}` }))
    })
  }

  private request(req: object): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`oracle is gone: ${this.stderr.trim()}`))
    return new Promise((resolve, reject) => {
      // A syscall the model did not expect to block (a FIFO) would hang the helper: say which.
      const timer = setTimeout(() => {
        reject(new Error(`oracle did not answer within 10 s (blocked?): ${JSON.stringify(req)}`))
        this.proc.kill("SIGKILL")
      }, 10_000)
      this.waiting.push((line) => {
        clearTimeout(timer)
        const resp = JSON.parse(line) as Record<string, unknown>
        if (typeof resp["error"] === "string") reject(new Error(`oracle: ${resp["error"]}`))
        else resolve(resp)
      })
      this.proc.stdin.write(JSON.stringify(req) + "\n")
    })
  }

  /** Mounts the run's tmpfs; returns the fs.protected_* sysctls. */
  async init(base: string): Promise<Record<string, number>> {
    const r = await this.request({ cmd: "init", base })
    return r["sysctl"] as Record<string, number>
  }

  async begin(id: number, tree: Tree, root: RootAttrs, readOnly: boolean): Promise<void> {
    await this.request({ cmd: "begin", id, tree, root, read_only: readOnly })
  }

  /**
   * Builds the layers (top first) on a fresh tmpfs, mounts overlayfs over
   * them (read-only without an upper layer) and enters the merged
   * directory; returns the layers as read back before the mount.
   */
  async beginOverlay(id: number, upper: Tree | null, lower: readonly Tree[], root: RootAttrs): Promise<LayerTrees> {
    const r = await this.request({ cmd: "begin_overlay", id, upper, lower, root })
    return r["layers"] as LayerTrees
  }

  async op(op: Op, cred: Cred): Promise<OpResult> {
    const r = await this.request({ cmd: "op", op, cred })
    return r["result"] as OpResult
  }

  /** The final tree; after an overlay, also every layer as read back once it is unmounted. */
  async end(): Promise<{ tree: Tree; root: Required<RootAttrs>; layers?: LayerTrees }> {
    return (await this.request({ cmd: "end" })) as unknown as { tree: Tree; root: Required<RootAttrs>; layers?: LayerTrees }
  }

  async quit(): Promise<void> {
    if (this.exited) return
    await this.request({ cmd: "quit" }).catch(() => undefined)
    this.proc.stdin.end()
  }
}
