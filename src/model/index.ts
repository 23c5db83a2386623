// The reference model of POSIX/Linux (tmpfs) filesystem semantics: a pure
// reducer over immutable, frozen states. This file is the model's public
// API; nothing outside src/model imports anything else of it.
//
// Linux behaviour modelled and its deliberate departures: README.md and
// DIVERGENCES.md beside this file.

import { applyPatches, enablePatches, type Patch } from "immer"
import { describe } from "./describe.js"
import { hashState, statesEqual } from "./hash.js"
import { openEnds, run, type Blocks } from "./ops.js"
import { Ctx } from "./path.js"
import type { Dialect } from "./dialect.js"
import { goferDialect } from "./gvisor.js"
import { Tx, getInode, type ModelStateShape } from "./state.js"
import { buildState, stateToTree } from "./tree.js"
import type { Cred, Op, OpResult, RootAttrs, Tree } from "./types.js"

enablePatches()

export type { Patch } from "immer"
export { Inodes, inodeExists, inodeStep, type DirEntryIno, type InodeStat, type InodeStep, type OrErrno, type Owner } from "./inode.js"

/** A path as the kernel copies it (getname, gVisor's CopyInString): up to its terminating NUL. */
export { cleanPath } from "./path.js"
export { dialectStep, type Dialect, type DialectStep, type Ruling } from "./dialect.js"
export { goferDialect } from "./gvisor.js"

/** The dialects a history or run may name: how each system under test departs from Linux. */
export const DIALECT_NAMES = ["linux", "gvisor-gofer", "gvisor-gofer-shared", "gvisor-gofer-none"] as const
export type DialectName = (typeof DIALECT_NAMES)[number]

/** The dialect named, or null for Linux itself. */
export function dialectNamed(name: DialectName): Dialect | null {
  switch (name) {
    case "linux":
      return null
    case "gvisor-gofer":
      return goferDialect({ shared: false, specialFileFDs: false })
    case "gvisor-gofer-shared":
      return goferDialect({ shared: true, specialFileFDs: false })
    case "gvisor-gofer-none":
      return goferDialect({ shared: true, specialFileFDs: true })
  }
}

export interface ModelOptions {
  /** Mounted read-only: writes are EROFS, with Linux's precedence. */
  readonly readOnly?: boolean
}

/** A model state: frozen, never mutated. Opaque outside src/model. */
export type ModelState = ModelStateShape

export interface Outcome {
  readonly state: ModelState
  readonly result: OpResult
  /** Immer patches turning the input state into `state`. */
  readonly patches: readonly Patch[]
  /**
   * Set when the op is an open of a FIFO without O_NONBLOCK and no
   * description of the other end is open: Linux would block until one is.
   * `state` and `result` are those of the completed open.
   */
  readonly blocks?: Blocks
}

/**
 * The state holding `tree` (scenario.md 1, "remote"), its root directory
 * attributes, with every time set to `now`. Throws InputError (one line)
 * for a tree the model cannot build.
 */
export function initialState(tree: Tree, root?: RootAttrs, options?: ModelOptions, now = 0): ModelState {
  return buildState(tree, root, options?.readOnly ?? false, now)
}

/** One op by a thread with credentials `cred` at time `now` (ns). Never throws for a decoded Op. */
export function apply(state: ModelState, op: Op, cred: Cred, now: number): Outcome {
  const tx = new Tx(state)
  const d = run(new Ctx(tx, cred, now), op)
  const { state: next, patches } = tx.commit()
  return d.blocks === undefined ? { state: next, result: d.result, patches } : { state: next, result: d.result, patches, blocks: d.blocks }
}

/** The state reached by applying `patches` (in order) to `initial`. */
export function replayPatches(initial: ModelState, patches: readonly Patch[]): ModelState {
  if (patches.length === 0) return initial
  return applyPatches(initial, patches as Patch[])
}

/** The tree a state holds, in the contract's format, and its root's attributes. */
export function toTree(state: ModelState): { readonly tree: Tree; readonly root: Required<RootAttrs> } {
  return stateToTree(state, (ino) => getInode(state, ino))
}

/** A 32-bit structural hash; equal states hash equal. */
export function stateHash(state: ModelState): number {
  return hashState(state)
}

/** Structural equality. */
export function stateEquals(a: ModelState, b: ModelState): boolean {
  return statesEqual(a, b)
}

/** The op in plain words: "write of 3 bytes to f", "rename /a -> /b (RENAME_NOREPLACE)". */
export function describeOp(op: Op): string {
  return describe(op)
}

/**
 * How many open descriptions hold each end of the FIFO `ino` (an O_RDWR
 * description counts for both). The runtime wakes a parked FIFO open when
 * the end it waits for appears.
 */
export function fifoOpenEnds(state: ModelState, ino: number): { readonly readers: number; readonly writers: number } {
  return openEnds(state.fds, ino)
}
