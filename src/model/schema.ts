// Effect Schemas for the contract's shared values (operations, trees,
// credentials, results, histories), and the one-line error formatter every
// reader of fsim's files uses. Decoding is strict: extra fields are errors,
// as the contract demands ("a typo must never be silently ignored").

import { Result, Schema, SchemaIssue } from "effect"
import type * as SchemaAST from "effect/SchemaAST"
import {
  ACCESS_BITS,
  ERRNOS,
  MKNOD_TYPES,
  OPEN_FLAGS,
  OP_NAMES,
  RENAME_FLAGS,
  WHENCES,
  XATTR_FLAGS,
  type Cred,
  type Op,
  type OpResult,
  type RootAttrs,
  type Tree,
} from "./types.js"

/** A non-negative safe integer. */
export const Nat = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** Permission bits with setuid/setgid/sticky. */
export const ModeBits = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0o7777 }))

/** A string of code points 0-255, one byte each (contract 1.2). */
export const Bytes = Schema.String.check(
  Schema.makeFilter((s: string) => {
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 255) return `code point ${s.charCodeAt(i)} at offset ${i} is above 255 (data is one byte per code point)`
    }
    return true
  }),
)

const Id = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff_ffff }))

export const CredSchema = Schema.Struct({
  uid: Id,
  gid: Id,
  groups: Schema.Array(Id),
})

const Flags = <const L extends readonly string[]>(names: L) => Schema.Array(Schema.Literals(names))
const TimeSpecSchema = Schema.Union([Nat, Schema.Literal("UTIME_NOW")])

const opStructs = {
  open: Schema.Struct({ op: Schema.Literal("open"), path: Schema.String, flags: Flags(OPEN_FLAGS), mode: Schema.optionalKey(ModeBits), fd: Schema.String }),
  close: Schema.Struct({ op: Schema.Literal("close"), fd: Schema.String }),
  read: Schema.Struct({ op: Schema.Literal("read"), fd: Schema.String, count: Nat }),
  write: Schema.Struct({ op: Schema.Literal("write"), fd: Schema.String, data: Bytes }),
  pread: Schema.Struct({ op: Schema.Literal("pread"), fd: Schema.String, offset: Schema.Int, count: Nat }),
  pwrite: Schema.Struct({ op: Schema.Literal("pwrite"), fd: Schema.String, offset: Schema.Int, data: Bytes }),
  lseek: Schema.Struct({ op: Schema.Literal("lseek"), fd: Schema.String, offset: Schema.Int, whence: Schema.Literals(WHENCES) }),
  ftruncate: Schema.Struct({ op: Schema.Literal("ftruncate"), fd: Schema.String, length: Schema.Int }),
  fsync: Schema.Struct({ op: Schema.Literal("fsync"), fd: Schema.String }),
  fdatasync: Schema.Struct({ op: Schema.Literal("fdatasync"), fd: Schema.String }),
  fstat: Schema.Struct({ op: Schema.Literal("fstat"), fd: Schema.String }),
  getdents: Schema.Struct({ op: Schema.Literal("getdents"), fd: Schema.String }),
  stat: Schema.Struct({ op: Schema.Literal("stat"), path: Schema.String }),
  lstat: Schema.Struct({ op: Schema.Literal("lstat"), path: Schema.String }),
  access: Schema.Struct({ op: Schema.Literal("access"), path: Schema.String, mode: Schema.Union([Schema.Literal("F_OK"), Flags(ACCESS_BITS)]) }),
  truncate: Schema.Struct({ op: Schema.Literal("truncate"), path: Schema.String, length: Schema.Int }),
  mkdir: Schema.Struct({ op: Schema.Literal("mkdir"), path: Schema.String, mode: Schema.optionalKey(ModeBits) }),
  rmdir: Schema.Struct({ op: Schema.Literal("rmdir"), path: Schema.String }),
  unlink: Schema.Struct({ op: Schema.Literal("unlink"), path: Schema.String }),
  rename: Schema.Struct({ op: Schema.Literal("rename"), from: Schema.String, to: Schema.String, flags: Schema.optionalKey(Flags(RENAME_FLAGS)) }),
  link: Schema.Struct({ op: Schema.Literal("link"), from: Schema.String, to: Schema.String }),
  symlink: Schema.Struct({ op: Schema.Literal("symlink"), target: Schema.String, path: Schema.String }),
  readlink: Schema.Struct({ op: Schema.Literal("readlink"), path: Schema.String }),
  mknod: Schema.Struct({ op: Schema.Literal("mknod"), path: Schema.String, type: Schema.Literals(MKNOD_TYPES), mode: Schema.optionalKey(ModeBits) }),
  chmod: Schema.Struct({ op: Schema.Literal("chmod"), path: Schema.String, mode: ModeBits }),
  chown: Schema.Struct({ op: Schema.Literal("chown"), path: Schema.String, uid: Schema.optionalKey(Id), gid: Schema.optionalKey(Id) }),
  utimens: Schema.Struct({ op: Schema.Literal("utimens"), path: Schema.String, atime: Schema.optionalKey(TimeSpecSchema), mtime: Schema.optionalKey(TimeSpecSchema) }),
  getxattr: Schema.Struct({ op: Schema.Literal("getxattr"), path: Schema.String, name: Schema.String }),
  setxattr: Schema.Struct({ op: Schema.Literal("setxattr"), path: Schema.String, name: Schema.String, value: Bytes, flags: Schema.optionalKey(Flags(XATTR_FLAGS)) }),
  listxattr: Schema.Struct({ op: Schema.Literal("listxattr"), path: Schema.String }),
  removexattr: Schema.Struct({ op: Schema.Literal("removexattr"), path: Schema.String, name: Schema.String }),
  statfs: Schema.Struct({ op: Schema.Literal("statfs"), path: Schema.String }),
  sync: Schema.Struct({ op: Schema.Literal("sync") }),
  sleep: Schema.Struct({ op: Schema.Literal("sleep"), ns: Nat }),
} as const

export const OpSchema: Schema.Codec<Op> = Schema.Union(Object.values(opStructs)) as unknown as Schema.Codec<Op>

// A tree node's shape depends on its `type`, and a hard link has only `link`
// (and optionally `type`), so nodes are a union discriminated by `type`.
const nodeCommon = {
  mode: Schema.optionalKey(ModeBits),
  uid: Schema.optionalKey(Id),
  gid: Schema.optionalKey(Id),
  xattrs: Schema.optionalKey(Schema.Record(Schema.String, Bytes)),
}

export interface TreeEncoded {
  readonly [name: string]: unknown
}

const TreeSchemaLazy: Schema.Codec<Tree> = Schema.suspend(
  (): Schema.Codec<Tree> =>
    Schema.Record(
      Schema.String,
      Schema.Union([
        Schema.Struct({
          type: Schema.Literal("file"),
          data: Schema.optionalKey(Bytes),
          size: Schema.optionalKey(Nat),
          extents: Schema.optionalKey(Schema.Array(Schema.Struct({ offset: Nat, data: Bytes }))),
          ...nodeCommon,
        }),
        Schema.Struct({ type: Schema.Literal("dir"), children: Schema.optionalKey(TreeSchemaLazy), opaque: Schema.optionalKey(Schema.Boolean), ...nodeCommon }),
        Schema.Struct({ type: Schema.Literal("symlink"), target: Schema.String, ...nodeCommon }),
        Schema.Struct({ type: Schema.Literals(["fifo", "socket"]), ...nodeCommon }),
        Schema.Struct({ type: Schema.Literal("whiteout") }),
        Schema.Struct({ link: Schema.String }),
      ]),
    ) as unknown as Schema.Codec<Tree>,
)
export const TreeSchema = TreeSchemaLazy

export const RootAttrsSchema: Schema.Codec<RootAttrs> = Schema.Struct({
  mode: Schema.optionalKey(ModeBits),
  uid: Schema.optionalKey(Id),
  gid: Schema.optionalKey(Id),
})

const NodeTypeSchema = Schema.Literals(["file", "dir", "symlink", "fifo", "socket"])

const StatSchema = Schema.Struct({
  type: NodeTypeSchema,
  mode: ModeBits,
  uid: Id,
  gid: Id,
  size: Nat,
  nlink: Nat,
  ino: Nat,
  atime: Schema.Int,
  mtime: Schema.Int,
  ctime: Schema.Int,
})

/** Each kind of result, by the field that names it. */
const RESULT_VARIANTS: Readonly<Record<string, Schema.Codec<unknown>>> = {
  errno: Schema.Struct({ errno: Schema.Literals(ERRNOS) }),
  data: Schema.Struct({ data: Bytes }),
  count: Schema.Struct({ count: Nat }),
  offset: Schema.Struct({ offset: Nat }),
  entries: Schema.Struct({ entries: Schema.Array(Schema.Struct({ name: Schema.String, type: NodeTypeSchema })) }),
  target: Schema.Struct({ target: Schema.String }),
  value: Schema.Struct({ value: Bytes }),
  names: Schema.Struct({ names: Schema.Array(Schema.String) }),
  namelen: Schema.Struct({ namelen: Nat }),
  type: StatSchema,
} as unknown as Record<string, Schema.Codec<unknown>>

export const ResultSchema: Schema.Codec<OpResult> = Schema.Union([
  ...Object.values(RESULT_VARIANTS),
  // `{}`: an empty Struct would accept any object (its keys are not excess
  // to a union member), so the empty result is a record of nothing.
  Schema.Record(Schema.String, Schema.Never),
]) as unknown as Schema.Codec<OpResult>

const STAT_FIELDS = new Set(["type", "mode", "uid", "gid", "size", "nlink", "ino", "atime", "mtime", "ctime"])

/**
 * Decodes an op's result with a precise one-line error: the variant is
 * chosen by the field that names it (errno, data, count, ... or a stat's
 * fields), and the value decoded strictly against that variant alone.
 */
export function decodeResult(input: unknown, where: string): OpResult {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new InputError(`${where}: expected a result object, got ${show(input)}`)
  }
  const keys = Object.keys(input)
  if (keys.length === 0) return {}
  const key = keys.includes("errno") ? "errno" : keys.some((k) => STAT_FIELDS.has(k)) ? "type" : keys.find((k) => k in RESULT_VARIANTS)
  if (key === undefined) throw new InputError(`${where}: ${keys[0]}: unknown field (extra fields are errors)`)
  return decodeStrict(RESULT_VARIANTS[key]! as Schema.Codec<OpResult>, input, where)
}

export type { Cred }

// ---------------------------------------------------------------------------
// Decoding with one-line errors.

/** Thrown by `decodeStrict`: one line naming the field and what is wrong. */
export class InputError extends Error {
  override readonly name = "InputError"
}

const parseOptions: SchemaAST.ParseOptions = { onExcessProperty: "error", errors: "first" }

/**
 * Decodes `input` against `schema`, rejecting extra fields. On failure throws
 * an InputError whose message is `where: field: problem`, on one line.
 */
export function decodeStrict<T>(schema: Schema.Codec<T>, input: unknown, where: string): T {
  const r = Schema.decodeUnknownResult(schema as Schema.Codec<T, unknown>, parseOptions)(input)
  if (Result.isSuccess(r)) return r.success
  throw new InputError(`${where}${describeIssue(r.failure.issue, input)}`)
}

const leafFormatter = SchemaIssue.makeFormatterDefault()

/** Names the first problem of an issue tree as `path: message` (one line). */
export function describeIssue(issue: SchemaIssue.Issue, input: unknown): string {
  const path: PropertyKey[] = []
  let node: SchemaIssue.Issue = issue
  let value: unknown = input
  for (;;) {
    switch (node._tag) {
      case "Pointer":
        for (const k of node.path) {
          path.push(k)
          value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[k] : undefined
        }
        node = node.issue
        continue
      case "Composite":
      case "AnyOf": {
        const first = node.issues[0]
        if (first === undefined) {
          const literals = node._tag === "AnyOf" ? literalChoices(node) : undefined
          if (literals !== undefined) return render(path, `${show(value)} is not one of ${literals}`)
          if (value === null || typeof value !== "object") return render(path, `${oneLine(leafFormatter(node))}, got ${show(value)}`)
          return render(path, unmatched(value))
        }
        if (node._tag === "AnyOf" && node.issues.length > 1) {
          // No member of a union matched. Follow the member that got furthest
          // into the value (its discriminator matched); if none stands out,
          // name the allowed literals or the discriminator, since listing
          // every member's shape helps nobody.
          const best = furthest(node.issues)
          if (best !== undefined) {
            node = best
            continue
          }
          const literals = literalChoices(node)
          if (literals !== undefined) return render(path, `${show(value)} is not one of ${literals}`)
          if (value === null || typeof value !== "object") return render(path, `${oneLine(leafFormatter(node))}, got ${show(value)}`)
          return render(path, unmatched(value))
        }
        node = first
        continue
      }
      case "Filter":
      case "Encoding":
        if (node._tag === "Filter") {
          const text = oneLine(leafFormatter(node))
          return render(path, `${text}, got ${show(value)}`)
        }
        node = node.issue
        continue
      case "UnexpectedKey":
        return render(path, "unknown field (extra fields are errors)")
      case "MissingKey":
        return render(path, "missing field")
      default:
        return render(path, `${oneLine(leafFormatter(node))}, got ${show(value)}`)
    }
  }
}

/** The issue whose failure lies deepest in the value, if exactly one does and it passed the discriminator. */
function furthest(issues: readonly SchemaIssue.Issue[]): SchemaIssue.Issue | undefined {
  let best: SchemaIssue.Issue | undefined
  let bestDepth = -1
  let tie = false
  for (const i of issues) {
    // Deeper is better; at equal depth, a wrong value beats a wrong shape
    // (missing or extra key), which usually means the wrong variant.
    const d = depth(i) * 2 + (isShapeIssue(i) ? 0 : 1)
    if (d > bestDepth) {
      best = i
      bestDepth = d
      tie = false
    } else if (d === bestDepth) tie = true
  }
  return tie || bestDepth < 2 || (bestDepth < 4 && best !== undefined && failsAtDiscriminator(best)) ? undefined : best
}

function isShapeIssue(issue: SchemaIssue.Issue): boolean {
  let n: SchemaIssue.Issue = issue
  for (;;) {
    if (n._tag === "Pointer" || n._tag === "Filter" || n._tag === "Encoding") n = n.issue
    else if ((n._tag === "Composite" || n._tag === "AnyOf") && n.issues.length > 0) n = n.issues[0]!
    else return n._tag === "MissingKey" || n._tag === "UnexpectedKey"
  }
}

function depth(issue: SchemaIssue.Issue): number {
  switch (issue._tag) {
    case "Pointer":
      return issue.path.length + depth(issue.issue)
    case "Composite":
    case "AnyOf":
      return issue.issues.length === 0 ? 0 : Math.max(...issue.issues.map(depth))
    case "Filter":
    case "Encoding":
      return depth(issue.issue)
    case "UnexpectedKey":
      return 0
    default:
      return 0
  }
}

function failsAtDiscriminator(issue: SchemaIssue.Issue): boolean {
  let n: SchemaIssue.Issue = issue
  while (n._tag === "Composite" && n.issues.length > 0) n = n.issues[0]!
  return n._tag === "Pointer" && n.path.length === 1 && ["op", "kind", "type", "format"].includes(String(n.path[0]))
}

function literalChoices(issue: SchemaIssue.AnyOf): string | undefined {
  const ast = issue.ast as { readonly types?: readonly { readonly _tag: string; readonly literal?: unknown }[] }
  if (ast.types === undefined || !ast.types.every((t) => t._tag === "Literal")) return undefined
  return ast.types.map((t) => JSON.stringify(t.literal)).join(", ")
}

function unmatched(value: unknown): string {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    if (typeof o["op"] === "string" && !(OP_NAMES as readonly string[]).includes(o["op"])) {
      return `unknown op ${JSON.stringify(o["op"])}`
    }
    for (const disc of ["op", "kind", "type"]) {
      if (disc in o) return `no variant with ${disc} ${show(o[disc])} has these fields`
    }
  }
  return `unexpected value ${show(value)}`
}

function render(path: readonly PropertyKey[], message: string): string {
  let p = ""
  for (const k of path) p += typeof k === "number" ? `[${k}]` : p === "" ? String(k) : `.${String(k)}`
  return p === "" ? `: ${message}` : `: ${p}: ${message}`
}

function oneLine(s: string): string {
  return (s.split("\n")[0] ?? s).trim().replace(/^Expected/, "expected")
}

function show(v: unknown): string {
  if (v === undefined) return "nothing"
  const s = JSON.stringify(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}
