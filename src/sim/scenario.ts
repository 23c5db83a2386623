// The scenario format (`fsim.scenario/1`, contract section 1) and the
// runtime's own self-test workloads (`fsim.workload/1`, an addition to the
// contract: a trace's header may carry either).

import { Schema } from "effect"
import { CredSchema, decodeStrict, InputError, Nat, OpSchema, RootAttrsSchema, TreeSchema } from "../model/schema.js"
import { mergeLayers } from "../model/overlayfs.js"
import { ERRNOS, type Cred, type Errno, type Op, type RootAttrs, type Tree } from "../model/types.js"
import { CHECK_NAMES, type CheckName } from "./events.js"
import { isMutantName, MUTANTS, type MutantName } from "./mutants.js"

export type Layer =
  | { readonly kind: "tmpfs"; readonly tree?: Tree }
  | { readonly kind: "gofer"; readonly options?: string; readonly tree: "remote" }

export type Mount =
  | { readonly kind: "model"; readonly options?: string }
  | { readonly kind: "gofer"; readonly options?: string }
  /** fsim's port of gVisor's tmpfs alone, holding `remote` (a contract extension: src/impl/tmpfs/README.md). */
  | { readonly kind: "tmpfs"; readonly options?: string }
  | { readonly kind: "overlay"; readonly upper?: Layer; readonly lower: readonly Layer[]; readonly options?: string }

/**
 * Injected server faults; src/sim/p9 (faults.ts, README.md) defines each
 * kind. Requests are counted per message type (a 9P request name, Twalk,
 * Tlopen...) in the order the server receives them, from every client,
 * starting at 1; a fault fires on the request whose count is `nth`.
 */
export type Fault =
  /** The nth request of type `message` is not executed: it is answered Rlerror(errno). */
  | { readonly kind: "rlerror"; readonly message: string; readonly nth: number; readonly errno: Errno }
  /** The nth Tread reads at most `count` bytes; the nth Twrite writes only its first `count` bytes (and says so). */
  | { readonly kind: "short"; readonly message: "Tread" | "Twrite"; readonly nth: number; readonly count: number }
  /** The reply to the nth request of type `message` arrives `ns` later than its drawn latency. */
  | { readonly kind: "delay"; readonly message: string; readonly nth: number; readonly ns: number }
  /** At the nth request of type `message` the server stops: that request and every later one, of any type, is never executed nor answered. */
  | { readonly kind: "hang"; readonly message: string; readonly nth: number }

export interface ThreadSpec {
  readonly name: string
  readonly cred?: Cred
  readonly ops: readonly Op[]
}

export interface Scenario {
  readonly format: "fsim.scenario/1"
  readonly name: string
  readonly mount: Mount
  readonly remote?: Tree
  readonly root?: RootAttrs
  readonly threads: readonly ThreadSpec[]
  readonly external?: readonly ThreadSpec[]
  readonly checks?: readonly CheckName[]
  readonly faults?: readonly Fault[]
  readonly budget?: { readonly steps?: number; readonly checks?: number }
}

const Positive = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const ThreadName = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,64}$/))

const LayerSchema = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("tmpfs"), tree: Schema.optionalKey(TreeSchema) }),
  Schema.Struct({ kind: Schema.Literal("gofer"), options: Schema.optionalKey(Schema.String), tree: Schema.Literal("remote") }),
])

const MountSchema = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("model"), options: Schema.optionalKey(Schema.String) }),
  Schema.Struct({ kind: Schema.Literal("gofer"), options: Schema.optionalKey(Schema.String) }),
  Schema.Struct({ kind: Schema.Literal("tmpfs"), options: Schema.optionalKey(Schema.String) }),
  Schema.Struct({
    kind: Schema.Literal("overlay"),
    upper: Schema.optionalKey(LayerSchema),
    lower: Schema.Array(LayerSchema),
    options: Schema.optionalKey(Schema.String),
  }),
])

const FaultSchema = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("rlerror"), message: Schema.String, nth: Positive, errno: Schema.Literals(ERRNOS) }),
  Schema.Struct({ kind: Schema.Literal("short"), message: Schema.Literals(["Tread", "Twrite"]), nth: Positive, count: Nat }),
  Schema.Struct({ kind: Schema.Literal("delay"), message: Schema.String, nth: Positive, ns: Nat }),
  Schema.Struct({ kind: Schema.Literal("hang"), message: Schema.String, nth: Positive }),
])

const ThreadSchema = Schema.Struct({
  name: ThreadName,
  cred: Schema.optionalKey(CredSchema),
  ops: Schema.Array(OpSchema),
})

export const ScenarioSchema: Schema.Codec<Scenario> = Schema.Struct({
  format: Schema.Literal("fsim.scenario/1"),
  name: Schema.String,
  mount: MountSchema,
  remote: Schema.optionalKey(TreeSchema),
  root: Schema.optionalKey(RootAttrsSchema),
  threads: Schema.Array(ThreadSchema),
  external: Schema.optionalKey(Schema.Array(ThreadSchema)),
  checks: Schema.optionalKey(Schema.Array(Schema.Literals(CHECK_NAMES))),
  faults: Schema.optionalKey(Schema.Array(FaultSchema)),
  budget: Schema.optionalKey(Schema.Struct({ steps: Schema.optionalKey(Positive), checks: Schema.optionalKey(Positive) })),
}) as unknown as Schema.Codec<Scenario>

/** Decodes and validates a scenario; throws InputError with one line naming the field. */
export function decodeScenario(input: unknown, where = "scenario"): Scenario {
  if (input !== null && typeof input === "object" && "format" in input && (input as { format: unknown }).format !== "fsim.scenario/1") {
    const f = (input as { format: unknown }).format
    throw new InputError(`${where}: format: unknown format ${JSON.stringify(f)} (this fsim reads fsim.scenario/1)`)
  }
  const s = decodeStrict(ScenarioSchema, input, where)
  const names = new Set<string>()
  const all = [...s.threads.map((t, i) => ({ t, at: `threads[${i}]` })), ...(s.external ?? []).map((t, i) => ({ t, at: `external[${i}]` }))]
  for (const { t, at } of all) {
    if (names.has(t.name)) throw new InputError(`${where}: ${at}.name: thread name ${JSON.stringify(t.name)} is used twice`)
    names.add(t.name)
  }
  if ((s.external ?? []).length > 0 && !hasGoferServer(s.mount)) {
    throw new InputError(`${where}: external: external users act on a 9P server's tree, so they need a gofer mount or an overlay with a gofer layer (mount kind is ${s.mount.kind})`)
  }
  if (s.mount.kind === "overlay") {
    const m = s.mount
    if (m.upper === undefined && m.lower.length < 2) {
      throw new InputError(`${where}: mount.lower: an overlay without an upper layer needs at least two lower layers (gVisor requires it)`)
    }
    if (m.lower.length === 0) throw new InputError(`${where}: mount.lower: an overlay needs at least one lower layer`)
    if (m.upper?.kind === "gofer") throw new InputError(`${where}: mount.upper: the upper layer must be tmpfs in fsim`)
  }
  if (s.mount.kind === "model" && s.mount.options !== undefined) parseModelOptions(s.mount.options, where)
  return s
}

function hasGoferServer(m: Mount): boolean {
  if (m.kind === "gofer") return true
  if (m.kind === "overlay") return m.lower.some((l) => l.kind === "gofer")
  return false
}

/** Options of a `model` mount: "ro" (read-only), "rw", and the test-only "mutant=NAME" (see mutants.ts). */
export interface ModelMountOptions {
  readonly readOnly: boolean
  /** A test-only mutant of the mount (never set unless the scenario names one). */
  readonly mutant?: MutantName
}

export function parseModelOptions(options: string, where = "scenario"): ModelMountOptions {
  let readOnly = false
  let mutant: MutantName | undefined
  for (const o of options.split(",")) {
    if (o === "") continue
    if (o === "ro") readOnly = true
    else if (o === "rw") readOnly = false
    else if (o.startsWith("mutant=")) {
      const name = o.slice("mutant=".length)
      if (!isMutantName(name)) throw new InputError(`${where}: mount.options: unknown mutant ${JSON.stringify(name)} (known: ${Object.keys(MUTANTS).join(", ")})`)
      mutant = name
    } else throw new InputError(`${where}: mount.options: unknown option ${JSON.stringify(o)} for a model mount (known: ro, rw)`)
  }
  return mutant === undefined ? { readOnly } : { readOnly, mutant }
}

export function credOf(t: ThreadSpec): Cred {
  return t.cred ?? { uid: 0, gid: 0, groups: [] }
}

// ---------------------------------------------------------------------------
// Self-test workloads of the runtime (no filesystem): an addition to the
// contract, so that a trace can record a run of the scheduler and locks alone.

export interface LockWorkload {
  readonly format: "fsim.workload/1"
  readonly name: "locks"
  /** Simulated threads. */
  readonly threads: number
  readonly mutexes: number
  readonly rwmutexes: number
  /** Critical sections (or sleeps) per thread. */
  readonly ops: number
  /** Most locks held at once. */
  readonly nesting: number
  /** Take nested locks in index order (no deadlock) or in random order (may deadlock). */
  readonly ordered: boolean
  /** Some ops sleep on the simulated clock. */
  readonly sleeps: boolean
  readonly budget?: { readonly steps?: number; readonly checks?: number }
}

export type Workload = LockWorkload

export const WorkloadSchema: Schema.Codec<Workload> = Schema.Struct({
  format: Schema.Literal("fsim.workload/1"),
  name: Schema.Literal("locks"),
  threads: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 256 })),
  mutexes: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 256 })),
  rwmutexes: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 256 })),
  ops: Nat,
  nesting: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 16 })),
  ordered: Schema.Boolean,
  sleeps: Schema.Boolean,
  budget: Schema.optionalKey(Schema.Struct({ steps: Schema.optionalKey(Positive), checks: Schema.optionalKey(Positive) })),
}) as unknown as Schema.Codec<Workload>

export function decodeWorkload(input: unknown, where = "workload"): Workload {
  const w = decodeStrict(WorkloadSchema, input, where)
  if (w.mutexes + w.rwmutexes === 0 && !w.sleeps) {
    throw new InputError(`${where}: a lock workload needs at least one lock or sleeps`)
  }
  return w
}

/** A scenario or a workload, told apart by `format`. */
export type RunSubject = Scenario | Workload

export function decodeSubject(input: unknown, where: string): RunSubject {
  const format = input !== null && typeof input === "object" ? (input as { format?: unknown }).format : undefined
  if (format === "fsim.workload/1") return decodeWorkload(input, where)
  if (format === "fsim.scenario/1") return decodeScenario(input, where)
  throw new InputError(`${where}: format: expected "fsim.scenario/1" or "fsim.workload/1", got ${format === undefined ? "nothing" : JSON.stringify(format)}`)
}

/** An overlay scenario's layer trees as the contract gives them, top first, and the merged tree's root (the top layer's). */
function layerTrees(s: Scenario): { readonly upper: Tree | null; readonly lower: readonly Tree[]; readonly root: RootAttrs } {
  if (s.mount.kind !== "overlay") throw new Error("overlay: not an overlay scenario")
  const treeOf = (l: Layer): Tree => (l.kind === "gofer" ? (s.remote ?? {}) : (l.tree ?? {}))
  return {
    upper: s.mount.upper === undefined ? null : treeOf(s.mount.upper),
    lower: s.mount.lower.map(treeOf),
    // The scenario's `root` is every layer's root directory (the server's
    // for a gofer layer, each tmpfs's), so the merged root has it too.
    root: s.root ?? {},
  }
}

/**
 * What the model judges an overlay scenario on: the merged tree of its
 * layers, its root's attributes, and read-only without an upper layer.
 * Throws (mergeLayers) for layers that cannot be merged.
 */
export function overlayInitial(s: Scenario): { readonly tree: Tree; readonly root: RootAttrs; readonly readOnly: boolean } {
  const layers = layerTrees(s)
  return { tree: mergeLayers({ upper: layers.upper, lower: layers.lower }), root: layers.root, readOnly: layers.upper === null }
}

/**
 * The subject in its one canonical form: encoded to JSON and decoded by the
 * contract's schema, whatever made it (a file, fast-check's generators, the
 * shrinker's rewrites). Every run starts from this form, so what a run
 * records (the trace header, each `op_invoke`'s op) does not depend on the
 * order in which the maker happened to write an object's keys, and a trace
 * saved by any path replays byte for byte. Throws InputError for a subject
 * the contract would not accept: a generator that makes one has a bug.
 */
export function canonicalSubject(s: RunSubject, where = "scenario"): RunSubject {
  return decodeSubject(JSON.parse(JSON.stringify(s)), where)
}
