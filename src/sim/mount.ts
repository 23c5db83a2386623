// What a filesystem under test provides to the runner. The runner lives in
// sim and cannot import impl, so each mount kind registers a factory and the
// CLI (which imports everything) hands the registry to the runner.

import type { FinalSpans } from "./finalread.js"
import type { DialectName } from "../model/index.js"
import type { Cred, Errno, Op, OpResult, RootAttrs, Tree } from "../model/types.js"
import type { Scenario } from "./scenario.js"
import type { Scheduler, Sim } from "./scheduler.js"

/** A client or external thread as the mount sees it. */
export interface OpThread {
  readonly name: string
  readonly cred: Cred
  /** True for the scenario's `external` users (they act on the server's tree). */
  readonly external: boolean
}

export interface MountContext {
  readonly sched: Scheduler
  readonly seed: number
  readonly scenario: Scenario
}

export interface MountInstance {
  /**
   * The documented departures from Linux its results are checked with
   * (src/model/DIALECTS.md); default "linux".
   */
  readonly dialect?: DialectName
  /**
   * The tree the reference model starts from, and its root's attributes,
   * when it is not the scenario's `remote` (an overlay: the merged tree of
   * its layers). The history's `initial` is this tree; `readOnly`: the
   * model judges the run as a read-only mount (an overlay with no upper layer).
   */
  initialTree?(): { readonly tree: Tree; readonly root?: RootAttrs; readonly readOnly?: boolean }
  /**
   * Mounts the filesystem (a client attaches over RPCs), on a thread of its
   * own before the scenario's threads start. An errno means the mount failed.
   */
  setup?(): Sim<Errno | null>
  /**
   * Runs one operation (never `sleep`, which the runner handles). Yields at
   * its scheduling points; returns the op's result.
   */
  exec(thread: OpThread, op: Op): Sim<OpResult>
  /**
   * Called once every scenario thread has finished, before `finish`: a
   * mount on a simulated server stops its injected faults there, so they
   * hit the scenario's ops and never fsim's final read-back.
   */
  disarmFaults?(): void
  /**
   * Runs once every thread has finished: closes the FDs still bound, runs the
   * quiescence checks and returns the tree as seen through the mount.
   */
  finish(record?: FinalRecorder): Sim<{ readonly tree: Tree; readonly root: Required<RootAttrs> }>
}

/**
 * Runs an op of the final read-back through the mount and records it in the
 * history (thread fsim.final, as root), so the tree the mount shows at the
 * end is checked against the model like any other result.
 */
export type FinalRecorder = ((op: Op, run: () => Sim<OpResult>) => Sim<OpResult>) & {
  /** The ranges to read of a file longer than DENSE_MAX (finalread.ts). */
  readonly spans?: FinalSpans
}

/** Builds the mount; throws InputError for options it rejects. */
export type MountFactory = (ctx: MountContext) => MountInstance

export type MountRegistry = Readonly<Partial<Record<Scenario["mount"]["kind"], MountFactory>>>
