// The reference model of POSIX/Linux (tmpfs) filesystem semantics: a pure
// reducer over immutable, frozen states. This file is the model's public
// API; nothing outside src/model imports anything else of it.
//
// Linux behaviour modelled and its deliberate departures: README.md and
// DIVERGENCES.md beside this file.

import { applyPatches, enablePatches, type Patch } from "immer"
import { describe } from "./describe.js"
import { hashState, statesEqual } from "./hash.js"
import { bindPathOnly, openEnds, run, type Blocks } from "./ops.js"
import { Ctx, isErrno, resolve, resolveParent, Last, type WalkCut } from "./path.js"
import type { Dialect } from "./dialect.js"
import { goferDialect } from "./gvisor.js"
import { gvisorOverlayDialect } from "./gvisor-overlay.js"
import { gvisorTmpfsDialect } from "./gvisor-tmpfs.js"
import { Tx, getInode, type ModelStateShape } from "./state.js"
import { buildState, stateToTree } from "./tree.js"
import { ROOT as ROOT_CRED, type Cred, type Op, type OpResult, type RootAttrs, type Tree } from "./types.js"

enablePatches()

export type { Patch } from "immer"
export {
  Inodes,
  inodeExists,
  inodeStep,
  openLastState,
  type Blocks,
  type DirEntryIno,
  type InodeStat,
  type InodeStep,
  type InodeType,
  type OpenLastResult,
  type OpenLastState,
  type OrErrno,
  type Owner,
} from "./inode.js"
export { OVERLAY_OPAQUE_VALUE, OVERLAY_OPAQUE_XATTR } from "./tree.js"

/** A path as the kernel copies it (getname, gVisor's CopyInString): up to its terminating NUL. */
export { cleanPath, type WalkCut } from "./path.js"
export { dialectStep, type Dialect, type DialectStep, type Ruling } from "./dialect.js"
export { goferDialect } from "./gvisor.js"
export { gvisorOverlayDialect } from "./gvisor-overlay.js"
export { gvisorTmpfsDialect } from "./gvisor-tmpfs.js"
/**
 * Linux overlayfs's departures from tmpfs ("linux-overlayfs"): made for one
 * stack of layers (its rules ask which objects come from a lower layer),
 * so not nameable by a history, which carries only the merged tree.
 */
export { mergeLayers, overlayfsDialect, withoutStrayWhiteouts, type Origin, type OverlayDialect, type OverlayLayers } from "./overlayfs.js"

/** The dialects a history or run may name: how each system under test departs from Linux. */
export const DIALECT_NAMES = ["linux", "gvisor-gofer", "gvisor-gofer-shared", "gvisor-gofer-none", "gvisor-overlay", "gvisor-tmpfs"] as const
export type DialectName = (typeof DIALECT_NAMES)[number]

/** What a history says of its system beyond the dialect's name. */
export interface DialectVariant {
  /** The gofer's file server may refuse mknod: synthetic FIFOs and sockets (History.synthetic). */
  readonly synthetic?: boolean
}

/** The dialect named, or null for Linux itself. */
export function dialectNamed(name: DialectName, variant: DialectVariant = {}): Dialect | null {
  const synthetic = variant.synthetic === true ? { synthetic: true } : {}
  switch (name) {
    case "linux":
      return null
    case "gvisor-gofer":
      return goferDialect({ shared: false, specialFileFDs: false, ...synthetic })
    case "gvisor-gofer-shared":
      return goferDialect({ shared: true, specialFileFDs: false, ...synthetic })
    case "gvisor-gofer-none":
      return goferDialect({ shared: true, specialFileFDs: true, ...synthetic })
    case "gvisor-overlay":
      return gvisorOverlayDialect()
    case "gvisor-tmpfs":
      return gvisorTmpfsDialect()
  }
}

export interface ModelOptions {
  /** Mounted read-only: writes are EROFS, with Linux's precedence. */
  readonly readOnly?: boolean
  /**
   * The tree is an overlay layer's (scenario.md 1.3): `whiteout` nodes (0:0
   * character devices) and `"opaque": true` directories (trusted.overlay.opaque
   * = "y") are allowed. Elsewhere they are input errors.
   */
  readonly layer?: boolean
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
  return buildState(tree, root, options?.readOnly ?? false, now, options?.layer ?? false)
}

/** One op by a thread with credentials `cred` at time `now` (ns). Never throws for a decoded Op. */
export function apply(state: ModelState, op: Op, cred: Cred, now: number): Outcome {
  return applyResumed(state, op, cred, now, null)
}

/**
 * Whether `op` walks a path (its first, for ops with two): the ops whose
 * walk may take effect before the op itself (`walkCutOf`).
 */
export function walksPath(op: Op): boolean {
  return "path" in op || op.op === "rename" || op.op === "link"
}

/**
 * Where the walk of `op`'s first path, gone as far as `from` (null: not
 * started), stops next on `state`, so that the op can go on later
 * (`applyResumed`); null where it would not stop again. A system whose
 * walks are not atomic with the op (gVisor's) may walk part of a path,
 * let other ops run, and go on later:
 *
 * - rename: at the old path's parent (gVisor's VFS resolves it with
 *   GetParentDentryAt, a filesystem call of its own, before RenameAt);
 * - link: at the old path's file (GetDentryAt, before LinkAt);
 * - every op: just past each symlink followed (an absolute symlink
 *   restarts the walk in a new filesystem call; a relative one is read
 *   under renameMu, but the directories after it are looked up under
 *   their own locks, one at a time);
 * - an op that acts on the file its path names rather than on a name
 *   (stat, truncate, chmod, the xattr ops...: FILE_OPS): at that file,
 *   held until the op acts on it, which it then does whether or not the
 *   file still has that name (gVisor's StatAt and SetStatAt resolve the
 *   dentry, then ask the layer or the server; Linux's vfs_getattr and
 *   do_truncate act on the path they looked up, too).
 */
export function walkCutOf(state: ModelState, op: Op, cred: Cred, from: WalkCut | null): WalkCut | null {
  const c = new Ctx(new Tx(state), cred, 0)
  if (from === null && op.op === "rename") {
    const p = resolveParent(c, op.from)
    if (isErrno(p)) return null
    const name = p.type === Last.Root ? "" : p.type === Last.Dot ? "." : p.type === Last.DotDot ? ".." : p.name
    return { dir: p.dir, path: p.slash ? name + "/" : name, links: c.links }
  }
  if (from === null && op.op === "link") {
    const ino = resolve(c, op.from, false)
    return isErrno(ino) ? null : { dir: ino, path: "", links: c.links }
  }
  if (op.op === "rename" || op.op === "link") return null
  // A stop at the file itself is the last.
  if (from !== null && from.path === "") return null
  c.cuts = []
  c.resume = from
  if (FILE_OPS.has(op.op)) c.finals = []
  run(c, op)
  if (c.cuts.length > 0) return c.cuts[0] as WalkCut
  const file = c.finals?.[0]
  return file === undefined ? null : { dir: file, path: "", links: c.links }
}

/** Ops that resolve their path to a file and act on that file: their walk may stop at it (`walkCutOf`). */
const FILE_OPS: ReadonlySet<Op["op"]> = new Set(["stat", "lstat", "access", "truncate", "readlink", "chmod", "chown", "utimens", "getxattr", "setxattr", "listxattr", "removexattr", "statfs"])

/**
 * `op` with its first path replaced by one from the root that reaches the
 * cut's place on `state` (the cut's directory by its names now, then the
 * rest), or null where there is none (the directory was removed; a link's
 * stop at a file). The checker uses it to ask a dialect about an op that
 * went on from a stop, and keeps the answer only where this op does what
 * `applyResumed` does.
 */
export function resumedAsPath(state: ModelState, op: Op, cut: WalkCut): Op | null {
  if (cut.path === "") return null
  let path = cut.path
  if (!path.startsWith("/")) {
    const names: string[] = []
    for (let ino = cut.dir; ino !== state.rootIno; ) {
      const i = getInode(state, ino)
      if (i === undefined || i.type !== "dir" || i.nlink === 0) return null
      const p = getInode(state, i.parent)
      const k = p?.children?.inos.indexOf(ino) ?? -1
      if (p === undefined || k < 0) return null
      names.push(p.children!.names[k] as string)
      ino = i.parent
    }
    path = "/" + [...names.reverse(), path].join("/")
  }
  if (op.op === "rename") return { ...op, from: path }
  if ("path" in op) return { ...op, path } as Op
  return null
}

/**
 * The state with an O_PATH description `name` of inode `ino`: what holds a
 * file found by a walk until the op that walked to it is done (gVisor's
 * VirtualDentry reference between GetDentryAt and LinkAt), so that the
 * file is still there, perhaps with no name left, when the op goes on.
 * `release` closes it.
 */
export function holdInode(state: ModelState, ino: number, name: string): ModelState {
  const tx = new Tx(state)
  bindPathOnly(new Ctx(tx, ROOT_CRED, 0), name, ino)
  return tx.commit().state
}

export function release(state: ModelState, name: string): ModelState {
  return apply(state, { op: "close", fd: name }, ROOT_CRED, 0).state
}

/** `op` with the walk of its first path going on from `cut` (see `walkCutOf`); null: from the start, as `apply`. */
export function applyResumed(state: ModelState, op: Op, cred: Cred, now: number, cut: WalkCut | null): Outcome {
  const tx = new Tx(state)
  const c = new Ctx(tx, cred, now)
  c.resume = cut
  const d = run(c, op)
  const { state: next, patches } = tx.commit()
  return d.blocks === undefined ? { state: next, result: d.result, patches } : { state: next, result: d.result, patches, blocks: d.blocks }
}

/** The state reached by applying `patches` (in order) to `initial`. */
export function replayPatches(initial: ModelState, patches: readonly Patch[]): ModelState {
  if (patches.length === 0) return initial
  return applyPatches(initial, patches as Patch[])
}

/**
 * The tree a state holds, in the contract's format, and its root's
 * attributes. A 0:0 character device is a `whiteout` node; with `layer`
 * (an overlay layer's tree), a directory carrying trusted.overlay.opaque =
 * "y" is written `"opaque": true`.
 */
export function toTree(state: ModelState, options?: { readonly layer?: boolean }): { readonly tree: Tree; readonly root: Required<RootAttrs> } {
  return stateToTree(state, (ino) => getInode(state, ino), options?.layer ?? false)
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
