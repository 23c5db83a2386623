// revalidate.go (the 2022 version, of the seeds' era): under
// InteropModeShared, cached dentries are checked against the server before
// use. Attributes are refreshed; a dentry whose file was deleted or
// replaced (another qid at that name) is invalidated. Revalidation stops at
// symlinks, mount points and uncached children (the caller revalidates
// again after resolving a symlink), and takes metadata locks parent to
// child only, so a ".." splits it into a partial revalidation.

import type { Sim } from "../../sim/scheduler.js"
import type { P9File } from "../../sim/p9/api.js"
import type { Ctx, Err } from "../vfs/context.js"
import type { ResolvingPath } from "../vfs/resolving_path.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import { appendDentry, type dentry, type DentryList } from "./dentry.js"
import type { filesystem } from "./filesystem.js"
import { InteropModeShared } from "./options.js"
import { multiGetAttr } from "./p9file.js"

/** revalidatePath. Precondition: fs.renameMu is locked. */
export function* revalidatePath(fs: filesystem, ctx: Ctx, rpOrig: ResolvingPath, start: dentry, ds: DentryList): Sim<Err> {
  // Done even if start is synthetic, for paths like ../non_synthetic_file.
  if (fs.opts.interop !== InteropModeShared || fs.opts.mutant === "missing-revalidation") return null
  const rp = rpOrig.Copy()
  return yield* revalidate(fs, ctx, rp, start, () => rp.Done(), ds)
}

/** revalidateParentDir: as revalidatePath, but stops at the parent. Precondition: fs.renameMu is locked. */
export function* revalidateParentDir(fs: filesystem, ctx: Ctx, rpOrig: ResolvingPath, start: dentry, ds: DentryList): Sim<Err> {
  if (fs.opts.interop !== InteropModeShared || fs.opts.mutant === "missing-revalidation") return null
  const rp = rpOrig.Copy()
  return yield* revalidate(fs, ctx, rp, start, () => rp.Final(), ds)
}

/**
 * revalidateOne: checks the single cached child `name` of parent (skipped
 * where the parent's metadata is authoritative, or the parent is synthetic:
 * its child is synthetic too and cannot be replaced remotely first).
 * Precondition: fs.renameMu is locked.
 */
export function* revalidateOne(fs: filesystem, ctx: Ctx, vfsObj: VirtualFilesystem, parent: dentry, name: string, ds: DentryList): Sim<Err> {
  if (parent.cachedMetadataAuthoritative()) return null
  yield parent.dirMu.Lock()
  const has = parent.children?.has(name) === true
  const child = parent.children?.get(name) ?? null
  yield parent.dirMu.Unlock()
  if (!has) return null
  const state = new revalidateState(parent)
  try {
    state.add(name, child)
    return yield* revalidateHelper(fs, ctx, vfsObj, state, ds)
  } finally {
    yield* state.release()
  }
}

const PARTIAL = "partial revalidation"
const STEP_DONE = "stop revalidation"
type StepResult = [dentry | null, typeof PARTIAL | typeof STEP_DONE | null]

/**
 * revalidate: revalidates components of rp until done() or a mount point or
 * symlink; may send several MultiGetAttr calls to handle "..".
 * Preconditions: fs.renameMu locked; InteropModeShared.
 */
function* revalidate(fs: filesystem, ctx: Ctx, rp: ResolvingPath, start: dentry, done: () => boolean, ds: DentryList): Sim<Err> {
  const state = new revalidateState(start)
  try {
    // A synthetic start is skipped: it cannot have been replaced remotely.
    if (!start.isSynthetic()) state.add("", start)
    let cur: dentry = start
    while (!done()) {
      const [next, err]: StepResult = yield* revalidateStep(rp, cur, state)
      if (err === STEP_DONE) break
      if (err === PARTIAL) {
        const e = yield* revalidateHelper(fs, ctx, rp.VirtualFilesystem(), state, ds)
        if (e !== null) return e
        // Release the remaining locks and go on from where stepping stopped.
        yield* state.reset()
        state.start = next!
        if (!next!.isSynthetic()) state.add("", next!)
      }
      cur = next!
    }
    return yield* revalidateHelper(fs, ctx, rp.VirtualFilesystem(), state, ds)
  } finally {
    yield* state.release()
  }
}

/**
 * revalidateStep walks one element of the path and adds its dentry to the
 * state: ".." asks for a partial revalidation (metadata locks go parent to
 * child only); a symlink or uncached child ends stepping.
 * Preconditions: fs.renameMu locked; !rp.Done(); InteropModeShared (which
 * caches no negative dentries).
 */
function* revalidateStep(rp: ResolvingPath, d: dentry, state: revalidateState): Sim<StepResult> {
  const name = rp.Component()
  if (name === "..") {
    const [isRoot, err] = rp.CheckRoot(d.vfsd)
    if (err !== null) return [null, STEP_DONE]
    if (isRoot || d.parent === null) {
      rp.Advance()
      d.fs.mark("gofer.revalidate.dotdot-partial", d)
      return [d, PARTIAL]
    }
    // d.parent must be assumed correct: if d moved on the server there is no
    // way to find its new parent. CheckMount first: on another mount the
    // parent's metadata does not matter.
    if (rp.CheckMount(d.parent.vfsd) !== null) return [null, STEP_DONE]
    rp.Advance()
    d.fs.mark("gofer.revalidate.dotdot-partial", d)
    return [d.parent, PARTIAL]
  }
  if (name !== ".") {
    yield d.dirMu.Lock()
    const has = d.children?.has(name) === true
    const child = d.children?.get(name) ?? null
    yield d.dirMu.Unlock()
    // Not cached: nothing further to validate.
    if (!has) return [null, STEP_DONE]
    state.add(name, child)
    // A symlink must be resolved before revalidation goes on.
    if (child === null || child.isSymlink()) return [null, STEP_DONE]
    d = child
  }
  rp.Advance()
  return [d, null]
}

/**
 * revalidateHelper stats every dentry of the state in one MultiGetAttr and
 * updates or invalidates them. Preconditions: fs.renameMu locked;
 * InteropModeShared.
 */
function* revalidateHelper(fs: filesystem, ctx: Ctx, vfsObj: VirtualFilesystem, state: revalidateState, ds: DentryList): Sim<Err> {
  if (state.names.length === 0) return null
  // Metadata is locked on every dentry *before* their attributes are fetched.
  yield* state.lockAllMetadata()
  const [stats, err] = yield* multiGetAttr(state.start.file as P9File, state.names, `revalidate ${state.start.pathForLog()}`)
  if (err !== null) {
    fs.mark("gofer.revalidate.error", state.start)
    return err
  }
  let i = -1
  // As gVisor's `for d := popFront(); d != nil`, a negative entry (none
  // exist under InteropModeShared) ends the loop.
  for (let d = state.popFront(); d !== undefined && d !== null; d = state.popFront()) {
    i++
    const found = i < stats.length
    if (i === 0 && state.names[0]!.length === 0) {
      // The starting dentry cannot be replaced: just refresh it.
      if (found && !d.isSynthetic()) yield* d.updateFromP9AttrsLocked(stats[i]!.valid, stats[i]!.attr)
      yield d.metadataMu.Unlock()
      continue
    }
    // Synthetic dentries always fail this comparison.
    if (!found || d.qidPath !== stats[i]!.qid.path) {
      yield d.metadataMu.Unlock()
      // A synthetic file that no remote file has replaced stays.
      if (!found && d.isSynthetic()) {
        fs.mark("gofer.revalidate.synthetic-kept", d)
        return null
      }
      // The file at this path changed or is gone: invalidate the dentry and
      // recheck its caching (dropped if unreferenced); it is looked up anew
      // next time. (gVisor takes d.parent.dirMu here while the dentries
      // after d in the state still hold metadataMu: see GOFER_LOCK_ORDER.)
      fs.cacheEvent("dentry", "invalidated", d)
      fs.mark(d.isSynthetic() ? "gofer.revalidate.stale-synthetic" : "gofer.revalidate.stale-dentry", d)
      if (fs.opts.mutant === "invalidate-keeps-descendants") {
        yield* invalidateAlone(vfsObj, d, state.names[i]!, ds)
        return null
      }
      yield* invalidate(vfsObj, d, state.names[i]!, ds)
      return null
    }
    // Unchanged: refresh the cached metadata.
    yield* d.updateFromP9AttrsLocked(stats[i]!.valid, stats[i]!.attr)
    fs.cacheEvent("dentry", "revalidated", d)
    yield d.metadataMu.Unlock()
  }
  void ctx
  return null
}

/**
 * dentry.invalidate as gVisor has it since 7d0bf706d: d leaves its parent,
 * then d and every dentry cached below it are invalidated and queued for
 * checkCachingLocked, each directory giving up its children on the way (an
 * invalidated directory's cached children would otherwise stay in the LRU,
 * keeping it, its fids and its reference on its parent alive until they are
 * evicted). Precondition: fs.renameMu is locked.
 */
function* invalidate(vfsObj: VirtualFilesystem, d: dentry, name: string, ds: DentryList): Sim<void> {
  const parent = d.parent!
  yield parent.dirMu.Lock()
  if (d.isSynthetic()) yield* deleteSynthetic(d, parent, ds)
  // dirMu was released and taken again: only touch the entry if it is
  // still this dentry.
  if (parent.children?.get(name) === d) parent.children.delete(name)
  yield parent.dirMu.Unlock()

  // Depth first, with one stack for the whole subtree.
  const toInvalidate: dentry[] = [d]
  while (toInvalidate.length > 0) {
    const e = toInvalidate.pop()!
    // The reference taken around InvalidateDentry is gVisor's guard against
    // lock recursion when e is a mount point (da30d5dd1); its other effect
    // matters here: e goes on ds whatever it is, so the deferred
    // checkCachingLocked destroys it once unreferenced, dropping its
    // reference on its parent.
    yield* e.IncRef()
    yield* vfsObj.InvalidateDentry(e.vfsd)
    yield* e.decRefNoCaching()
    appendDentry(ds, e)
    if (e.isDir()) yield* disownAllChildrenForInvalidation(e, toInvalidate, ds)
  }
}

/** deleteSynthetic: invalidated synthetic files become unreachable, so their invalidation is a deletion. Precondition: parent.dirMu is locked. */
function* deleteSynthetic(d: dentry, parent: dentry, ds: DentryList): Sim<void> {
  yield* d.setDeleted()
  yield* d.decRefNoCaching()
  appendDentry(ds, d)
  parent.syntheticChildren--
  parent.dirents = null
}

/**
 * disownAllChildrenForInvalidation moves every cached child of d onto
 * `children` (synthetic ones deleted, as invalidate does). Under
 * InteropModeShared no negative entries exist; any other null entry is
 * dropped with the rest. Precondition: fs.renameMu is locked.
 */
function* disownAllChildrenForInvalidation(d: dentry, children: dentry[], ds: DentryList): Sim<void> {
  yield d.dirMu.Lock()
  if (d.children !== null) {
    for (const [name, child] of [...d.children]) {
      d.children.delete(name)
      if (child === null) continue
      children.push(child)
      if (child.isSynthetic()) yield* deleteSynthetic(child, d, ds)
    }
  }
  yield d.dirMu.Unlock()
}

/**
 * The invalidation of the 2022 code, before 7d0bf706d (the mutant
 * invalidate-keeps-descendants): d alone is invalidated and leaves its
 * parent; its cached descendants stay in the LRU, each holding a reference
 * on its own parent, so the dead d lives on with its fids and its
 * reference on its former parent until the LRU evicts them all.
 * Precondition: fs.renameMu is locked.
 */
function* invalidateAlone(vfsObj: VirtualFilesystem, d: dentry, name: string, ds: DentryList): Sim<void> {
  yield* d.IncRef()
  yield* vfsObj.InvalidateDentry(d.vfsd)
  yield* d.decRefNoCaching()
  appendDentry(ds, d)
  const parent = d.parent!
  yield parent.dirMu.Lock()
  if (d.isSynthetic()) yield* deleteSynthetic(d, parent, ds)
  if (parent.children?.get(name) === d) parent.children.delete(name)
  yield parent.dirMu.Unlock()
}

/**
 * The {name, dentry} list being revalidated, in ancestry order (each the
 * child of the one before), and whether their metadata locks are held.
 */
class revalidateState {
  names: string[] = []
  dentries: (dentry | null)[] = []
  private locked = false

  constructor(public start: dentry) {}

  /** Precondition: d is a descendant of every dentry already added. */
  add(name: string, d: dentry | null): void {
    this.names.push(name)
    this.dentries.push(d)
  }

  *lockAllMetadata(): Sim<void> {
    for (const d of this.dentries) if (d !== null) yield d.metadataMu.Lock()
    this.locked = true
  }

  popFront(): dentry | null | undefined {
    return this.dentries.shift()
  }

  /** Releases the metadata locks still held, and clears the lists. */
  *reset(): Sim<void> {
    if (this.locked) {
      for (const d of this.dentries) if (d !== null) yield d.metadataMu.Unlock()
      this.locked = false
    }
    this.names = []
    this.dentries = []
  }

  *release(): Sim<void> {
    yield* this.reset()
  }
}
