// The limits on what fsim reads (scenarios, workloads, histories, traces),
// checked when a file is read and before any schema decoding recurses into
// it: every reader past this point (the tree schema, the model's tree
// building and hashing, the servers' tree loads, show's folding and HTML
// view) recurses once per directory level, so a bounded tree depth bounds
// them all. Each check walks the parsed value with an explicit stack.

import { InputError } from "./schema.js"

const MiB = 1024 * 1024

/** Every limit in one place; README ("Input limits") and docs/contract.md list them. */
export const LIMITS = {
  /**
   * Bytes of a scenario, workload or history file: room for a scenario of
   * two million small ops (about 27 bytes each), the largest op counts
   * below, while keeping the parsed value well under a gigabyte.
   */
  inputBytes: 64 * MiB,
  /** Bytes of a trace: a million-step run's log fits; Node cannot hold a string past 512 MiB anyway. */
  traceBytes: 256 * MiB,
  /** Events in a trace: a run at the default step budget (1,000,000) logs about 3 per step. */
  traceEvents: 4_000_000,
  /**
   * Directory levels of a tree literal (a node at depth d has d names in its
   * path). Real scenarios use a handful; the schema decoder overflows the
   * stack between 300 and 500 levels, and a gofer run's final read-back
   * costs events per level, so 128 keeps a 2x margin and bounded cost.
   */
  treeDepth: 128,
  /**
   * Nesting of any JSON value: a tree at the depth limit nests two levels
   * per directory (the node, its `children`), plus the few levels around
   * it (trace header, scenario, mount, layer, xattrs).
   */
  jsonDepth: 2 * 128 + 16,
  /** Nodes of one tree literal: far beyond any scenario, and each is folded and hashed per event in `show`. */
  treeNodes: 100_000,
  /** Bytes of a name in a tree literal or an xattr name: Linux's NAME_MAX and XATTR_NAME_MAX, 255. */
  nameBytes: 255,
  /** Bytes of a path (`path`, `from`, `to`, `target`, `link`): four times PATH_MAX, so ENAMETOOLONG stays testable. */
  pathBytes: 16_384,
  /** Bytes of any other string (data, xattr values, messages): a file's contents in a tree literal or an op's data. */
  dataBytes: 16 * MiB,
  /** Threads of a scenario (client threads and external users together), as a workload's `threads` maximum. */
  threads: 256,
  /**
   * Ops of one thread, and of a whole scenario or history: large enough for
   * the 1.5-million-op stress scenario the step budget must end, small
   * enough to bound what is held before the run starts.
   */
  opsPerThread: 2_000_000,
  opsTotal: 2_000_000,
} as const

type Json = unknown

const PATH_KEYS = new Set(["path", "from", "to", "target", "link"])

function where(base: string, path: readonly (string | number)[]): string {
  let p = ""
  for (const k of path) p += typeof k === "number" ? `[${k}]` : p === "" ? k : `.${k}`
  return p === "" ? base : `${base}: ${p}`
}

function tooLong(at: string, bytes: number, limit: number, what: string): InputError {
  return new InputError(`${at}: ${what} of ${bytes} characters, longer than fsim's limit of ${limit}`)
}

/** A container met on the walk: its parent and key are kept (not a copied path), so a path is only built for an error. */
interface Frame {
  readonly v: object
  readonly parent: Frame | null
  readonly key: string | number
  readonly depth: number
}

function pathOf(f: Frame | null, last?: string | number): (string | number)[] {
  const out: (string | number)[] = last === undefined ? [] : [last]
  for (let p = f; p !== null && p.parent !== null; p = p.parent) out.push(p.key)
  return out.reverse()
}

/**
 * The limits every JSON value fsim reads must keep, whatever its format:
 * nesting depth and string lengths (paths by their field name). Throws an
 * InputError naming the first place that breaks one.
 */
export function checkJsonLimits(value: Json, base: string): void {
  const checkString = (s: string, parent: Frame | null, key: string | number): void => {
    const limit = typeof key === "string" && PATH_KEYS.has(key) ? LIMITS.pathBytes : LIMITS.dataBytes
    if (s.length > limit) throw tooLong(where(base, pathOf(parent, key)), s.length, limit, limit === LIMITS.pathBytes ? "a path" : "a string")
  }
  if (typeof value === "string") checkString(value, null, "")
  if (value === null || typeof value !== "object") return
  const stack: Frame[] = [{ v: value, parent: null, key: "", depth: 1 }]
  while (stack.length > 0) {
    const f = stack.pop()!
    const visit = (c: Json, key: string | number): void => {
      if (typeof c === "string") checkString(c, f, key)
      else if (c !== null && typeof c === "object") {
        if (f.depth >= LIMITS.jsonDepth) throw new InputError(`${where(base, pathOf(f, key).slice(0, 8))}...: nested deeper than fsim's limit of ${LIMITS.jsonDepth} levels`)
        stack.push({ v: c, parent: f, key, depth: f.depth + 1 })
      }
    }
    if (Array.isArray(f.v)) {
      const a = f.v as Json[]
      for (let i = 0; i < a.length; i++) visit(a[i], i)
    } else {
      const o = f.v as Record<string, Json>
      for (const k in o) {
        if (k.length > LIMITS.pathBytes) throw tooLong(where(base, pathOf(f)), k.length, LIMITS.pathBytes, "a field name")
        visit(o[k], k)
      }
    }
  }
}

function isObject(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v)
}

/**
 * A tree literal's limits: depth, node count, name lengths. Values of the
 * wrong shape are left to the schema, which names them better.
 */
export function checkTreeLimits(tree: Json, base: string): void {
  if (!isObject(tree)) return
  let nodes = 0
  const stack: { t: Record<string, Json>; path: string[] }[] = [{ t: tree, path: [] }]
  while (stack.length > 0) {
    const { t, path } = stack.pop()!
    for (const [name, node] of Object.entries(t)) {
      if (name.length > LIMITS.nameBytes) throw tooLong(`${base}: ${[...path, name.slice(0, 32) + "..."].join("/")}`, name.length, LIMITS.nameBytes, "a name")
      if (++nodes > LIMITS.treeNodes) throw new InputError(`${base}: more than fsim's limit of ${LIMITS.treeNodes} nodes in one tree`)
      if (!isObject(node)) continue
      const xattrs = node["xattrs"]
      if (isObject(xattrs)) {
        for (const x of Object.keys(xattrs)) if (x.length > LIMITS.nameBytes) throw tooLong(`${base}: /${[...path, name].join("/")}: xattrs`, x.length, LIMITS.nameBytes, "an xattr name")
      }
      const children = node["children"]
      if (!isObject(children)) continue
      if (path.length + 1 >= LIMITS.treeDepth && Object.keys(children).length > 0) {
        throw new InputError(`${base}: /${[...path.slice(0, 3), "...", name].join("/")}: the tree is deeper than fsim's limit of ${LIMITS.treeDepth} directory levels`)
      }
      stack.push({ t: children, path: [...path, name] })
    }
  }
}

function checkThreads(value: Json, base: string): void {
  if (!isObject(value)) return
  const groups = ["threads", "external"].map((k) => ({ k, ts: value[k] })).filter((g): g is { k: string; ts: Json[] } => Array.isArray(g.ts))
  const count = groups.reduce((n, g) => n + g.ts.length, 0)
  if (count > LIMITS.threads) throw new InputError(`${base}: threads: ${count} threads (with external users), more than fsim's limit of ${LIMITS.threads}`)
  let total = 0
  for (const { k, ts } of groups) {
    ts.forEach((t, i) => {
      const ops = isObject(t) ? t["ops"] : undefined
      if (!Array.isArray(ops)) return
      if (ops.length > LIMITS.opsPerThread) throw new InputError(`${base}: ${k}[${i}].ops: ${ops.length} ops, more than fsim's limit of ${LIMITS.opsPerThread} per thread`)
      total += ops.length
    })
  }
  if (total > LIMITS.opsTotal) throw new InputError(`${base}: threads: ${total} ops in all, more than fsim's limit of ${LIMITS.opsTotal}`)
}

/**
 * Every limit of a value read from a file, chosen by its `format`
 * (scenario, workload, history; anything else gets the generic limits and
 * is left to its decoder to reject).
 */
export function checkInputLimits(value: Json, base: string): void {
  // Counts first: they cost nothing, and a file with too many ops is refused before it is walked.
  if (isObject(value) && value["format"] === "fsim.scenario/1") checkThreads(value, base)
  if (isObject(value) && value["format"] === "fsim.history/1" && Array.isArray(value["ops"]) && value["ops"].length > LIMITS.opsTotal) {
    throw new InputError(`${base}: ops: ${value["ops"].length} ops, more than fsim's limit of ${LIMITS.opsTotal}`)
  }
  checkJsonLimits(value, base)
  if (!isObject(value)) return
  switch (value["format"]) {
    case "fsim.scenario/1": {
      checkTreeLimits(value["remote"], `${base}: remote`)
      const mount = value["mount"]
      if (isObject(mount)) {
        if (isObject(mount["upper"])) checkTreeLimits(mount["upper"]["tree"], `${base}: mount.upper.tree`)
        const lower = mount["lower"]
        if (Array.isArray(lower)) lower.forEach((l, i) => isObject(l) && checkTreeLimits(l["tree"], `${base}: mount.lower[${i}].tree`))
      }
      return
    }
    case "fsim.workload/1": {
      const ops = value["ops"]
      if (typeof ops === "number" && ops > LIMITS.opsPerThread) throw new InputError(`${base}: ops: ${ops} ops per thread, more than fsim's limit of ${LIMITS.opsPerThread}`)
      return
    }
    case "fsim.history/1": {
      checkTreeLimits(value["initial"], `${base}: initial`)
      return
    }
  }
}
