// The state of a run at an event, by folding its log: every folder sees the
// events in order and can say, after any of them, what the state is, in
// sections for people (`fsim show --at N`, the HTML view's slider).
//
// The reference model's folder is always there: it applies each op to the
// model in the order the ops took effect (for the model mount, at the op's
// scheduling point, which is where the mount applies it; for other mounts,
// at the op's return) and flags every op whose recorded result differs from
// the model's at that point. A filesystem contributes its own state (dentry
// tree, LRU, page cache, the server's tree) by registering a folder factory
// for its mount kind: it sees the same events (its cache and RPC events
// among them).

import { apply, describeOp, initialState, toTree, type ModelState } from "../model/index.js"
import type { Cred, Op, OpResult, RootAttrs, Tree, TreeNode } from "../model/types.js"
import type { Event } from "./events.js"
import { credOf, overlayInitial, parseModelOptions, type Mount, type Scenario } from "./scenario.js"

/** A titled block of lines. */
export interface StateSection {
  readonly title: string
  readonly lines: readonly string[]
}

export interface StateFolder {
  /** Sees the next event; returns whether the state it shows changed. */
  onEvent(e: Event): boolean
  /** The state after the events seen so far. */
  sections(): StateSection[]
}

export type StateFolderFactory = (scenario: Scenario) => StateFolder

/** Folders contributed by filesystems, by mount kind (the model's folder is always used). */
export type StateFolderRegistry = Readonly<Partial<Record<Mount["kind"], readonly StateFolderFactory[]>>>

export function foldersFor(s: Scenario, registry: StateFolderRegistry = {}): StateFolder[] {
  return [new ModelFolder(s), ...(registry[s.mount.kind] ?? []).map((f) => f(s))]
}

/** The state after events 0..n (inclusive). */
export function stateAt(s: Scenario, events: readonly Event[], n: number, registry: StateFolderRegistry = {}): StateSection[] {
  const folders = foldersFor(s, registry)
  for (let i = 0; i <= n && i < events.length; i++) for (const f of folders) f.onEvent(events[i]!)
  return folders.flatMap((f) => f.sections())
}

/**
 * The state as text after each event that changed it (and after event 0):
 * what a slider over event numbers shows. At most `max` snapshots and
 * about `maxBytes` of text; past that, only every k-th change is kept.
 */
export function stateSnapshots(
  s: Scenario,
  events: readonly Event[],
  registry: StateFolderRegistry = {},
  max = 4000,
  maxBytes = 64 * 1024 * 1024,
): { seq: number; text: string }[] {
  const folders = foldersFor(s, registry)
  const changes: number[] = []
  for (const e of events) {
    let changed = e.seq === 0
    for (const f of folders) changed = f.onEvent(e) || changed
    if (changed) changes.push(e.seq)
  }
  let stride = Math.max(1, Math.ceil(changes.length / max))
  const out: { seq: number; text: string }[] = []
  let bytes = 0
  let k = 0
  const again = foldersFor(s, registry)
  for (const e of events) {
    for (const f of again) f.onEvent(e)
    if (changes[k] !== e.seq) continue
    if (k++ % stride !== 0) continue
    const text = renderSections(again.flatMap((f) => f.sections()))
    out.push({ seq: e.seq, text })
    bytes += text.length
    // A large tree times many changes would outgrow a string (and memory):
    // past the byte budget, every other snapshot goes and the stride doubles,
    // so the page keeps evenly spaced states within the budget.
    while (bytes > maxBytes && out.length > 1) {
      stride *= 2
      const kept = out.filter((_, j) => j % 2 === 0)
      out.splice(0, out.length, ...kept)
      bytes = kept.reduce((n, x) => n + x.text.length, 0)
    }
  }
  return out
}

export function renderSections(sections: readonly StateSection[]): string {
  return sections.map((s) => [`${s.title}:`, ...s.lines.map((l) => `  ${l}`)].join("\n")).join("\n\n")
}

interface InFlight {
  readonly thread: string
  readonly index: number
  readonly op: Op
  applied: boolean
  /** The model's result where the op took effect. */
  model: OpResult | null
}

/** The reference model, applying ops in the order they took effect. */
export class ModelFolder implements StateFolder {
  private state: ModelState
  private now = 0
  private readonly creds = new Map<string, Cred>()
  private readonly inFlight = new Map<string, InFlight>()
  private readonly atPoint: boolean
  private applied = 0
  private readonly mismatches: string[] = []

  constructor(s: Scenario) {
    if (s.mount.kind === "overlay") {
      // The model judges an overlay on the merged tree of its layers, read-only without an upper layer.
      const start = overlayInitial(s)
      this.state = initialState(start.tree, start.root, { readOnly: start.readOnly }, 0)
    } else {
      const readOnly = s.mount.kind === "model" && parseModelOptions(s.mount.options ?? "").readOnly
      this.state = initialState(s.remote ?? {}, s.root, { readOnly }, 0)
    }
    for (const t of [...s.threads, ...(s.external ?? [])]) this.creds.set(t.name, credOf(t))
    this.atPoint = s.mount.kind === "model"
  }

  onEvent(e: Event): boolean {
    switch (e.kind) {
      case "clock":
        this.now = e.now
        return false
      case "op_invoke":
        if (e.op.op !== "sleep") this.inFlight.set(e.thread, { thread: e.thread, index: e.index, op: e.op, applied: false, model: null })
        return true
      case "sched": {
        if (!this.atPoint || e.point !== "op") return false
        const f = this.inFlight.get(e.thread)
        if (f === undefined || f.applied) return false
        this.take(f)
        return true
      }
      case "op_return": {
        const f = this.inFlight.get(e.thread)
        if (f === undefined) return false
        if (!f.applied) this.take(f)
        this.inFlight.delete(e.thread)
        if (f.model !== null && JSON.stringify(f.model) !== JSON.stringify(e.result)) {
          this.mismatches.push(`${f.thread}#${f.index} ${describeOp(f.op)}: returned ${JSON.stringify(e.result)}, the model where it took effect: ${JSON.stringify(f.model)}`)
        }
        return true
      }
      default:
        return false
    }
  }

  private take(f: InFlight): void {
    const out = apply(this.state, f.op, this.creds.get(f.thread) ?? { uid: 0, gid: 0, groups: [] }, this.now)
    this.state = out.state
    f.applied = true
    f.model = out.result
    this.applied++
  }

  sections(): StateSection[] {
    const { tree, root } = toTree(this.state)
    const out: StateSection[] = [
      { title: `the model's tree (${this.applied} ops applied, in the order they took effect${this.atPoint ? "" : ": at their return"})`, lines: renderTree(tree, root) },
    ]
    if (this.inFlight.size > 0) {
      const lines = [...this.inFlight.values()].map((f) => `${f.thread}#${f.index} ${describeOp(f.op)}${f.applied ? ` (took effect: ${JSON.stringify(f.model)}; not returned yet)` : " (not taken effect yet)"}`)
      out.push({ title: "ops in flight", lines })
    }
    if (this.mismatches.length > 0) out.push({ title: "results that differ from the model's where the op took effect", lines: this.mismatches })
    return out
  }
}

/** A tree as indented lines: "/ dir 0755 0:0", "├─ a file 0644 0:0 5 bytes "hello"". */
export function renderTree(tree: Tree, root: Required<RootAttrs>): string[] {
  const lines = [`/ dir ${octal(root.mode)} ${root.uid}:${root.gid}`]
  const walk = (t: Tree, prefix: string): void => {
    const names = Object.keys(t).sort()
    names.forEach((name, i) => {
      const last = i === names.length - 1
      const node = t[name]!
      lines.push(`${prefix}${last ? "└─ " : "├─ "}${shortName(name)} ${describeNode(node)}`)
      if (!("link" in node) && node.type === "dir") walk(node.children ?? {}, prefix + (last ? "   " : "│  "))
    })
  }
  walk(tree, "")
  return lines
}

function shortName(name: string): string {
  return name.length > 24 ? `${name.slice(0, 8)}…(${name.length} bytes)` : name
}

/** Modes a tree leaves out (scenario.md 1: 0644 files, 0755 dirs, 0777 symlinks). */
const DEFAULT_MODE = { file: 0o644, dir: 0o755, symlink: 0o777, fifo: 0o644, socket: 0o644 } as const

function octal(mode: number | undefined): string {
  return (mode ?? 0).toString(8).padStart(4, "0")
}

function describeNode(node: TreeNode): string {
  if ("link" in node) return `hard link to ${node.link}`
  // Kinds without attributes (an overlay's whiteout) by name alone.
  if (node.type !== "file" && node.type !== "dir" && node.type !== "symlink" && node.type !== "fifo" && node.type !== "socket") return node.type
  const attrs = `${node.type} ${octal(node.mode ?? DEFAULT_MODE[node.type])} ${node.uid ?? 0}:${node.gid ?? 0}`
  switch (node.type) {
    case "file": {
      const x = node.xattrs !== undefined ? ` xattrs ${Object.keys(node.xattrs).join(",")}` : ""
      if (node.data === undefined && node.size !== undefined) return `${attrs} ${node.size} bytes in ${(node.extents ?? []).length} extents${x}`
      const data = node.data ?? ""
      return `${attrs} ${data.length} bytes ${JSON.stringify(data.length > 16 ? data.slice(0, 16) + "…" : data)}${x}`
    }
    case "symlink":
      return `symlink -> ${JSON.stringify(node.target)}`
    default:
      return attrs
  }
}
