// The `model` mount: the reference model alone, as the filesystem under
// test. Each operation is one scheduling point followed by one atomic step of
// the model, so concurrent histories are linearizable by construction; this
// is what the runtime, the checkers and the model's mutants are tested with.

import { apply, fifoOpenEnds, initialState, toTree, type ModelState } from "../model/index.js"
import type { Op, OpResult } from "../model/types.js"
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
  let state: ModelState = initialState(s.remote ?? {}, s.root, options, ctx.sched.now)
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

  function* finish(): Sim<ReturnType<typeof toTree>> {
    yield OP_POINT
    for (const fd of [...boundFds].sort()) {
      state = apply(state, { op: "close", fd }, { uid: 0, gid: 0, groups: [] }, ctx.sched.now).state
    }
    return toTree(state)
  }

  return { exec, finish }
}
