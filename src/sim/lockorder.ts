// The lock-order checker, after Linux's lockdep: it watches lock events and
// reports
//   - recursive acquisition of a held lock (Go's locks are not reentrant,
//     and a recursive read lock deadlocks as soon as a writer queues between);
//   - an acquisition against the declared order (the seeds' "Lock order:"
//     comments, given here as the same indented trees);
//   - two locks of one class held together against that class's nesting rule
//     (gofer: several dentry.dirMu only ancestor before descendant, or with
//     filesystem.renameMu held for writing);
//   - a cycle in the observed class-dependency graph ("A held while taking B"
//     edges), even when the run that closes it did not deadlock. The graph may
//     be kept across the runs of a campaign, so an inversion whose halves were
//     seen in different runs is still reported.
// Every report names both acquisition sites: event numbers, threads and lock
// instances.

import type { Event, EventOf, LockMode, Violation } from "./events.js"
import type { Checker } from "./log.js"

/**
 * A nesting rule for locks of one class held together. Instances are told
 * apart by their `name`, a path ("/a/b"): "ancestor-first" allows holding
 * /a then taking /a/b, not the reverse, nor two unrelated paths.
 */
export interface SameClassRule {
  readonly class: string
  readonly order: "ancestor-first"
  /** Any order is allowed while this lock class is held in this mode (gofer: renameMu for writing). */
  readonly unlessHeld?: { readonly class: string; readonly mode: LockMode }
  /** Nesting is allowed only while this class is held, in any mode (overlay: renameMu). */
  readonly requiresHeld?: { readonly class: string }
}

export interface LockOrderSpec {
  /** Which filesystem declares it, for messages ("gofer"). */
  readonly owner: string
  /**
   * The order as an indented tree, one class per line, as in the seeds'
   * package comments: a class may be held while taking any class below it.
   * "A / B" on one line names two classes at the same place; lines starting
   * with "***" are section markers and are skipped. Names are prefixed with
   * `prefix`.
   */
  readonly tree: string
  readonly prefix: string
  readonly sameClass?: readonly SameClassRule[]
}

/** The declared partial order: `before(a, b)` iff a may be held while taking b. */
export class DeclaredOrder {
  private readonly below = new Map<string, Set<string>>()
  private readonly rules = new Map<string, SameClassRule>()
  private readonly owners = new Map<string, string>()

  constructor(specs: readonly LockOrderSpec[]) {
    for (const spec of specs) this.addSpec(spec)
  }

  private addSpec(spec: LockOrderSpec): void {
    const stack: { indent: number; classes: string[] }[] = []
    const lines = spec.tree.split("\n")
    for (let n = 0; n < lines.length; n++) {
      const raw = lines[n]!
      const text = raw.trim()
      if (text === "" || text.startsWith("***")) continue
      const indent = raw.length - raw.trimStart().length
      // Each alternative keeps its suffix: "regularFileFD/directoryFD.mu"
      // names regularFileFD.mu and directoryFD.mu.
      const named = expandAlternatives(text).map((c) => spec.prefix + c)
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop()
      for (const c of named) {
        if (!this.below.has(c)) this.below.set(c, new Set())
        this.owners.set(c, spec.owner)
        for (const frame of stack) for (const above of frame.classes) this.below.get(above)!.add(c)
      }
      stack.push({ indent, classes: named })
    }
    for (const [a, bs] of this.below) {
      for (const b of bs) {
        if (this.below.get(b)?.has(a) === true) {
          throw new Error(`lock order of ${spec.owner}: ${a} and ${b} are each declared before the other`)
        }
      }
    }
    for (const r of spec.sameClass ?? []) this.rules.set(r.class, r)
  }

  declares(c: string): boolean {
    return this.below.has(c)
  }

  owner(c: string): string | undefined {
    return this.owners.get(c)
  }

  before(a: string, b: string): boolean {
    return this.below.get(a)?.has(b) === true
  }

  rule(c: string): SameClassRule | undefined {
    return this.rules.get(c)
  }
}

function expandAlternatives(text: string): string[] {
  const parts = text.split("/").map((s) => s.trim())
  if (parts.length === 1) return parts
  // "regularFileFD/directoryFD.mu": the last part carries the field name.
  const last = parts[parts.length - 1]!
  const dot = last.indexOf(".")
  if (dot < 0) return parts
  const field = last.slice(dot)
  return parts.map((p, i) => (i === parts.length - 1 || p.includes(".") ? p : p + field))
}

interface Held {
  readonly lock: number
  readonly cls: string
  readonly mode: LockMode
  readonly name: string | undefined
  readonly thread: string
  /** The event that acquired it. */
  readonly seq: number
}

/** A request for a lock: the lock_wait of a thread that blocked, or the lock_acquire of one that did not. */
type LockRequest = EventOf<"lock_wait"> | EventOf<"lock_acquire">

/** One "held A while asking for B" edge, as first seen. */
interface Witness {
  readonly run: string
  readonly thread: string
  readonly held: Held
  readonly wait: LockRequest
}

/**
 * The observed class-dependency graph. Keep one across a campaign's runs to
 * see inversions whose halves occur in different runs.
 */
export class LockGraph {
  readonly edges = new Map<string, Map<string, Witness>>()
  readonly reportedCycles = new Set<string>()

  addEdge(from: string, to: string, w: Witness): boolean {
    let m = this.edges.get(from)
    if (m === undefined) {
      m = new Map()
      this.edges.set(from, m)
    }
    if (m.has(to)) return false
    m.set(to, w)
    return true
  }

  /** A path of edges from `from` to `to` (breadth-first, so shortest), or null. */
  path(from: string, to: string): Witness[] | null {
    const prev = new Map<string, { cls: string; w: Witness }>()
    const queue = [from]
    const seen = new Set([from])
    while (queue.length > 0) {
      const c = queue.shift()!
      if (c === to) {
        const out: Witness[] = []
        let x = to
        while (x !== from) {
          const p = prev.get(x)!
          out.push(p.w)
          x = p.cls
        }
        return out.reverse()
      }
      for (const [next, w] of this.edges.get(c) ?? []) {
        if (seen.has(next)) continue
        seen.add(next)
        prev.set(next, { cls: c, w })
        queue.push(next)
      }
    }
    return null
  }

  /** Lock-class pairs ever held together, for coverage reports. */
  pairs(): [string, string][] {
    const out: [string, string][] = []
    for (const [a, m] of this.edges) for (const b of m.keys()) out.push([a, b])
    return out.sort((x, y) => (x[0] + " " + x[1] < y[0] + " " + y[1] ? -1 : 1))
  }
}

export interface LockOrderOptions {
  readonly declared?: DeclaredOrder
  /** Shared across a campaign to catch inversions spread over runs. */
  readonly graph?: LockGraph
  /** Names this run in reports about edges seen in other runs ("seed 7"). */
  readonly run?: string
}

export class LockOrderChecker implements Checker {
  private readonly held = new Map<string, Held[]>()
  /** Per thread, the lock whose request was checked at its lock_wait. */
  private readonly checkedAtWait = new Map<string, number>()
  private readonly found: Violation[] = []
  private readonly reported = new Set<string>()
  readonly graph: LockGraph
  private readonly declared: DeclaredOrder
  private readonly run: string

  constructor(options: LockOrderOptions = {}) {
    this.graph = options.graph ?? new LockGraph()
    this.declared = options.declared ?? new DeclaredOrder([])
    this.run = options.run ?? "this run"
  }

  drain(): Violation[] {
    return this.found.splice(0)
  }

  onEvent(e: Event): void {
    switch (e.kind) {
      case "lock_wait":
        // A thread that blocks is checked when it starts waiting (so an
        // inversion that deadlocks is still reported); one that gets the
        // lock at once is checked at its acquisition.
        this.checkedAtWait.set(e.thread, e.lock)
        this.onRequest(e)
        break
      case "lock_acquire": {
        if (this.checkedAtWait.get(e.thread) === e.lock) this.checkedAtWait.delete(e.thread)
        else this.onRequest(e)
        let list = this.held.get(e.thread)
        if (list === undefined) {
          list = []
          this.held.set(e.thread, list)
        }
        list.push({ lock: e.lock, cls: e.class, mode: e.mode, name: e.name, thread: e.thread, seq: e.seq })
        break
      }
      case "lock_release": {
        const list = this.held.get(e.thread)
        const i = list === undefined ? -1 : lastIndex(list, (h) => h.lock === e.lock && h.mode === e.mode)
        if (list === undefined || i < 0) {
          this.report(`release-${e.lock}`, {
            check: "lock_order",
            message: `thread ${e.thread} releases ${describeLock(e)} at event ${e.seq} without holding it`,
            events: [e.seq],
          })
        } else list.splice(i, 1)
        break
      }
      default:
        break
    }
  }

  /** Locks `thread` holds now, oldest first. */
  heldBy(thread: string): readonly Held[] {
    return this.held.get(thread) ?? []
  }

  private onRequest(e: LockRequest): void {
    const held = this.held.get(e.thread) ?? []
    for (const h of held) {
      if (h.lock === e.lock) {
        this.report(`recursive-${e.thread}-${e.lock}`, {
          check: "lock_order",
          message:
            `recursive locking: thread ${e.thread} asks for ${describeLock(e)} for ${modeWord(e.mode)} at event ${e.seq} ` +
            `while holding it for ${modeWord(h.mode)} since event ${h.seq}` +
            (h.mode === "r" && e.mode === "r"
              ? " (a writer arriving in between deadlocks both: Go's RWMutex is not reentrant)"
              : " (Go's locks are not reentrant: this deadlocks)"),
          events: [h.seq, e.seq],
        })
        continue
      }
      if (h.cls === e.class) this.checkSameClass(e, h, held)
      else {
        this.checkDeclared(e, h)
        this.observeEdge(e, h)
      }
    }
  }

  private checkSameClass(e: LockRequest, h: Held, held: readonly Held[]): void {
    const rule = this.declared.rule(e.class)
    const site = `thread ${e.thread} asks for ${describeLock(e)} at event ${e.seq} while holding ${describeHeld(h)} since event ${h.seq}`
    if (rule === undefined) {
      this.report(`same-${e.class}`, {
        check: "lock_order",
        message: `two locks of class ${e.class} held together, and no nesting rule declares how: ${site}`,
        events: [h.seq, e.seq],
      })
      return
    }
    if (rule.requiresHeld !== undefined && !held.some((x) => x.cls === rule.requiresHeld!.class)) {
      this.report(`requires-${e.class}-${e.seq}`, {
        check: "lock_order",
        message: `${e.class} nesting without ${rule.requiresHeld.class} held: ${site}`,
        events: [h.seq, e.seq],
      })
      return
    }
    if (rule.unlessHeld !== undefined && held.some((x) => x.cls === rule.unlessHeld!.class && x.mode === rule.unlessHeld!.mode)) return
    if (h.name !== undefined && e.name !== undefined && isAncestor(h.name, e.name)) return
    const how =
      h.name !== undefined && e.name !== undefined && isAncestor(e.name, h.name)
        ? "a descendant before its ancestor"
        : "two instances neither of which is an ancestor of the other"
    const unless = rule.unlessHeld !== undefined ? `, without ${rule.unlessHeld.class} held for ${modeWord(rule.unlessHeld.mode)}` : ""
    this.report(`nesting-${e.class}-${h.lock}-${e.lock}`, {
      check: "lock_order",
      message: `${e.class} nesting: ${site}: ${how}${unless}`,
      events: [h.seq, e.seq],
    })
  }

  private checkDeclared(e: LockRequest, h: Held): void {
    const d = this.declared
    if (!d.declares(e.class) || !d.declares(h.cls)) return
    if (d.owner(e.class) !== d.owner(h.cls)) return
    if (d.before(h.cls, e.class)) return
    const why = d.before(e.class, h.cls)
      ? `the declared order (${d.owner(e.class)}) puts ${e.class} before ${h.cls}`
      : `the declared order (${d.owner(e.class)}) does not allow holding ${h.cls} while taking ${e.class}`
    this.report(`declared-${h.cls}-${e.class}`, {
      check: "lock_order",
      message: `lock order: thread ${e.thread} asks for ${describeLock(e)} at event ${e.seq} while holding ${describeHeld(h)} since event ${h.seq}; ${why}`,
      events: [h.seq, e.seq],
    })
  }

  private observeEdge(e: LockRequest, h: Held): void {
    const w: Witness = { run: this.run, thread: e.thread, held: h, wait: e }
    if (!this.graph.addEdge(h.cls, e.class, w)) return
    const back = this.graph.path(e.class, h.cls)
    if (back === null) return
    const cycle = [w, ...back]
    const key = cycle
      .map((x) => `${x.held.cls}>${x.wait.class}`)
      .sort()
      .join(",")
    if (this.graph.reportedCycles.has(key)) return
    this.graph.reportedCycles.add(key)
    const parts = cycle.map((x) => {
      const where = x.run === this.run ? "" : ` (in ${x.run})`
      return `${x.held.cls} then ${x.wait.class}: thread ${x.thread} held ${describeHeld(x.held)} since event ${x.held.seq} and asked for ${describeLock(x.wait)} at event ${x.wait.seq}${where}`
    })
    const events = cycle.filter((x) => x.run === this.run).flatMap((x) => [x.held.seq, x.wait.seq])
    this.report(`cycle-${key}`, {
      check: "lock_order",
      message: `lock order inversion (these orders can deadlock): ${parts.join("; ")}`,
      events,
    })
  }

  private report(key: string, v: Violation): void {
    if (this.reported.has(key)) return
    this.reported.add(key)
    this.found.push(v)
  }
}

function isAncestor(a: string, b: string): boolean {
  if (a === b) return false
  if (a === "/") return b.startsWith("/")
  return b.startsWith(a.endsWith("/") ? a : a + "/")
}

function lastIndex<T>(xs: readonly T[], p: (x: T) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (p(xs[i]!)) return i
  return -1
}

function modeWord(m: LockMode): string {
  return m === "r" ? "reading" : "writing"
}

function describeLock(e: { readonly class: string; readonly lock: number; readonly name?: string | undefined }): string {
  return e.name === undefined ? `${e.class}#${e.lock}` : `${e.class}#${e.lock} (${e.name})`
}

function describeHeld(h: Held): string {
  return h.name === undefined ? `${h.cls}#${h.lock}` : `${h.cls}#${h.lock} (${h.name})`
}
