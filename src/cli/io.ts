// Reading fsim's input files and writing its outputs, with the contract's
// one-line errors.

import { readFileSync } from "node:fs"
import { InvalidArgumentError } from "commander"
import { parse as parseTolerant, printParseErrorCode, type ParseError } from "jsonc-parser"
import { InputError } from "../model/schema.js"

/** Exit statuses of the contract (section 5). */
export const EXIT = { ok: 0, violation: 1, usage: 2, inconclusive: 3, interrupted: 130 } as const

/** Reads and parses a JSON file; errors name the file and, for syntax errors, the line. */
export function readJsonFile(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new InputError(`${path}: cannot read${code === "ENOENT" ? " (no such file)" : code === "EISDIR" ? " (a directory)" : ` (${code ?? "error"})`}`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new InputError(`${path}: ${jsonErrorWhere(text, e)}`)
  }
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
