// The `model` mount: the reference model alone, as the filesystem under
// test. Each operation is one scheduling point followed by one atomic step of
// the model, so concurrent histories are linearizable by construction; this
// is what the runtime, the checkers and the model's mutants are tested with.

import { apply, fifoOpenEnds, initialState, toTree, type ModelState } from "../model/index.js"
import { isErr, type Op, type OpResult } from "../model/types.js"
import type { MountContext, MountInstance, OpThread } from "./mount.js"
import { parseModelOptions } from "./scenario.js"
import { OP_POINT, Signal, type Sim } from "./scheduler.js"

interface FifoWaiter {
  readonly ino: number
  readonly end: "read" | "write"
  readonly signal: Signal
}

export function modelMount(ctx: MountContext): MountInstance {
  const s = ctx.scenario
  const options = s.mount.kind === "model" ? parseModelOptions(s.mount.options ?? "") : { readOnly: false }
  let state: ModelState = initialState(s.remote ?? {}, s.root, { readOnly: options.readOnly }, ctx.sched.now)
  const mutant = options.mutant
  const fifoWaiters: FifoWaiter[] = []
  const boundFds = new Set<string>()

  // A blocking FIFO open commits at once (Linux counts a waiting reader as a
  // reader, fs/pipe.c fifo_open) but returns only once the other end is open.
  const wakeFifoWaiters = (): void => {
    for (let i = 0; i < fifoWaiters.length; i++) {
      const w = fifoWaiters[i]!
      const ends = fifoOpenEnds(state, w.ino)
      if ((w.end === "read" ? ends.writers : ends.readers) > 0) {
        fifoWaiters.splice(i--, 1)
        w.signal.set()
      }
    }
  }

  function* exec(thread: OpThread, op: Op): Sim<OpResult> {
    yield OP_POINT
    if (mutant === "rename-not-atomic" && op.op === "rename" && (op.flags ?? []).length === 0) {
      const torn = yield* tornRename(thread, op)
      if (torn !== null) return torn
    }
    const out = apply(state, op, thread.cred, ctx.sched.now)
    state = out.state
    if (op.op === "open" && !("errno" in out.result)) boundFds.add(op.fd)
    if (fifoWaiters.length > 0) wakeFifoWaiters()
    if (out.blocks !== undefined) {
      const signal = new Signal(ctx.sched, `the ${out.blocks.end === "read" ? "write" : "read"} end of the FIFO (inode ${out.blocks.ino}) to be opened`)
      fifoWaiters.push({ ino: out.blocks.ino, end: out.blocks.end, signal })
      yield signal.wait()
    }
    return out.result
  }

  /**
   * The mutant `rename-not-atomic`: where the real rename would succeed and
   * a link of the source to the target would too, do the link, let another
   * thread run, then unlink the source. Returns null where it does not apply
   * (the caller then renames atomically).
   */
  function* tornRename(thread: OpThread, op: Extract<Op, { op: "rename" }>): Sim<OpResult | null> {
    const real = apply(state, op, thread.cred, ctx.sched.now)
    if (isErr(real.result)) return null
    const linked = apply(state, { op: "link", from: op.from, to: op.to }, thread.cred, ctx.sched.now)
    if (isErr(linked.result)) return null
    state = linked.state
    yield OP_POINT
    state = apply(state, { op: "unlink", path: op.from }, thread.cred, ctx.sched.now).state
    if (fifoWaiters.length > 0) wakeFifoWaiters()
    return real.result
  }

  function* finish(): Sim<ReturnType<typeof toTree>> {
    yield OP_POINT
    for (const fd of [...boundFds].sort()) {
      state = apply(state, { op: "close", fd }, { uid: 0, gid: 0, groups: [] }, ctx.sched.now).state
    }
    return toTree(state)
  }

  return { exec, finish }
}
