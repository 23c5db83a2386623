// Reading fsim's input files and writing its outputs, with the contract's
// one-line errors.

import { accessSync, constants as fsConstants, mkdirSync, statSync, type Stats } from "node:fs"
import { dirname, resolve } from "node:path"
import { InvalidArgumentError } from "commander"
import { parse as parseTolerant, printParseErrorCode, type ParseError } from "jsonc-parser"
import { checkInputLimits, LIMITS } from "../model/limits.js"
import { InputError } from "../model/schema.js"
import { readTextFile, writeFileAtomic } from "../sim/trace.js"

/** Exit statuses of the contract (section 5). */
export const EXIT = { ok: 0, violation: 1, usage: 2, inconclusive: 3, interrupted: 130, terminated: 143 } as const

/**
 * Reads and parses a JSON file, and checks fsim's input limits (size,
 * nesting, tree depth, string lengths, op counts) before anything decodes
 * it; errors name the file and, for syntax errors, the line.
 */
export function readJsonFile(path: string): unknown {
  const text = readTextFile(path, LIMITS.inputBytes)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new InputError(`${path}: ${jsonErrorWhere(text, e)}`)
  }
  checkInputLimits(value, path)
  return value
}

/**
 * Where a JSON text first goes wrong, as "line:col: not JSON (value
 * expected)". Node 20's JSON.parse names no position, so the strict parse is
 * followed, only on failure, by jsonc-parser's error-tolerant scan, which
 * reports the offset of the first error.
 */
function jsonErrorWhere(text: string, e: unknown): string {
  const errors: ParseError[] = []
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false })
  const first = errors[0]
  if (first === undefined) return `not JSON (${e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e)})`
  const before = text.slice(0, first.offset)
  const line = before.split("\n").length
  const col = first.offset - before.lastIndexOf("\n")
  const what = printParseErrorCode(first.error)
    .replace(/([a-z])([A-Z])/g, "$1 $2")
    .toLowerCase()
  return `${line}:${col}: not JSON (${what})`
}

/** Parses a `--seed`: an integer in [0, 2^32). */
export function parseSeed(text: string): number {
  if (!/^\d+$/.test(text)) throw new InvalidArgumentError("a seed is an integer in [0, 4294967295]")
  const n = Number(text)
  if (n > 0xffff_ffff) throw new InvalidArgumentError("a seed is an integer in [0, 4294967295]")
  return n
}

export function parsePositiveInt(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError("expected a positive integer")
  }
  return Number(text)
}

/** Latin-1 data shown to a person: printable ASCII as is, other bytes escaped. */
export function showBytes(s: string, max = 40): string {
  let out = ""
  for (let i = 0; i < s.length && out.length < max; i++) {
    const c = s.charCodeAt(i)
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? s[i] : c === 0x0a ? "\\n" : `\\x${c.toString(16).padStart(2, "0")}`
  }
  return out.length >= max && s.length > max ? `"${out}..." (${s.length} bytes)` : `"${out}"`
}

// ---------------------------------------------------------------------------
// Output paths: checked before any work starts (so a campaign never runs
// for an hour and then fails to save), and writes that fail later reported
// in one line rather than as a crash.

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message.split("\n")[0]! : String(e))
}

/**
 * Checks that `dir` is, or can be made as, a writable directory, without
 * creating anything: its nearest existing ancestor must be a directory
 * fsim may write and search. Throws an InputError naming `flag`.
 */
export function checkOutputDir(dir: string, flag: string): void {
  let p = resolve(dir)
  for (;;) {
    let st: Stats
    try {
      st = statSync(p)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ENOTDIR") throw new InputError(`${flag}: ${dir}: a path through a file, which cannot hold a directory`)
      if (code !== "ENOENT" || dirname(p) === p) throw new InputError(`${flag}: ${dir}: cannot be made (${errnoOf(e)})`)
      p = dirname(p)
      continue
    }
    if (!st.isDirectory()) throw new InputError(`${flag}: ${dir}: ${p === resolve(dir) ? "" : `${p} `}is a file, not a directory`)
    try {
      accessSync(p, fsConstants.W_OK | fsConstants.X_OK)
    } catch (e) {
      throw new InputError(`${flag}: ${dir}: ${p === resolve(dir) ? "" : `cannot be made in ${p}: `}not writable (${errnoOf(e)})`)
    }
    return
  }
}

/** Checks that a file can be written at `file` (atomically: a temporary file beside it, then a rename): its directory as checkOutputDir, and the name not a directory. */
export function checkOutputFile(file: string, flag: string): void {
  let st: Stats | undefined
  try {
    st = statSync(file)
  } catch {
    st = undefined
  }
  if (st?.isDirectory() === true) throw new InputError(`${flag}: ${file}: is a directory, not a file`)
  checkOutputDir(dirname(resolve(file)), flag)
}

/**
 * Writes an output atomically, making its directory; returns why it could
 * not (one line: the file and the error code) instead of throwing, so the
 * caller can still print what the work found and say what was lost.
 */
export function tryWriteOutput(file: string, text: string | Iterable<string>): string | null {
  try {
    mkdirSync(dirname(file), { recursive: true })
    writeFileAtomic(file, text)
    return null
  } catch (e) {
    return `cannot write ${file} (${errnoOf(e)})`
  }
}
