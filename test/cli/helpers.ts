// Running the built `fsim` command in a child process, as a user would.

import { spawnSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const ROOT = resolve(import.meta.dirname, "../..")
export const FSIM = join(ROOT, "bin", "fsim.js")

export interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

export function fsim(args: readonly string[], opts: { cwd?: string; input?: string } = {}): Ran {
  const r = spawnSync(process.execPath, [FSIM, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: "utf8",
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fsim-${prefix}-`))
}
