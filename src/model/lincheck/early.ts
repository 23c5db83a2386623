// Early permission checks: a system that checks an op's permissions on what
// it has cached, and acts later under no lock that a change of mode or
// owner takes, may act after a concurrent chmod or chown revoked the
// permission it was granted.
//
// gVisor's gofer does: `dentry.checkPermissions` (doCreateAt's MayExec and
// MayWrite, unlinkAt's, dentry.open's) and `vfs.CheckSetStat` (setStat)
// read the cached mode, uid and gid with atomic loads; the RPC that the
// file server carries out as root comes after, while `setStat` (chmod,
// chown) holds only `metadataMu`, which neither the checks nor the creations
// hold (doCreateAt holds the parent's `dirMu`; setStat checks before taking
// `metadataMu`). Linux makes the check and the act one step where it
// matters to the model (may_create under the parent's i_rwsem, which
// notify_change holds too), though not everywhere (vfs_truncate checks
// MAY_WRITE before do_truncate takes the inode lock).
//
// With a dialect's `earlyPermissionChecks`, the checker's second search
// (over walk stages and effects, fs.ts "Non-atomic walks") also lets an
// op's checks happen at one of its walk stages: a walk entry placed in turn
// records whether the op, as its caller, would have succeeded there (every
// check passed, going on from the stop it now records); an effect whose op
// had passed them there, and that would now fail as its caller, is done as
// the file server does it (`asServer`: no permission checks, the caller's
// ownership), where that differs, and counted under EARLY_CHECK_RULE.
// Since both points lie in the op's own interval, a history of one thread
// is judged as before, and an op that ignores a permission revoked before
// it began is still rejected.

import { asServer } from "../dialect.js"
import { stateEquals, type ModelState, type WalkCut } from "../index.js"
import { run } from "../ops.js"
import { Ctx } from "../path.js"
import { Tx } from "../state.js"
import { isErr, ROOT, type OpResult } from "../types.js"
import { deepEqual, mix32, type Model } from "./check.js"
import { markRule, normalizeResult, releaseWalkHold, type FsInput, type SplitInput, type WalkState } from "./fs.js"

/** The departure a result that relied on an early permission check is counted under. */
export const EARLY_CHECK_RULE = "perm.checked-before-effect"

export interface EarlyState {
  readonly walk: WalkState
  /** The ops (by id, sorted) whose latest walk stage found that they would have succeeded as their callers. */
  readonly permitted: readonly number[]
}

/** `base` (fsWalksModel) with early permission checks. */
export function withEarlyPermissionChecks(base: Model<WalkState, SplitInput, OpResult>): Model<EarlyState, SplitInput, OpResult> {
  const init: EarlyState = { walk: base.init(), permitted: [] }
  return {
    init: () => init,
    step: (state, input) => {
      const r = base.step(state.walk, input)
      if (input.stage === undefined || input.id === undefined) return { state: { walk: r.state, permitted: state.permitted }, output: r.output }
      const id = input.id
      if (input.stage > 0) {
        // Out of turn, a walk entry changes nothing.
        if (r.state === state.walk) return { state, output: r.output }
        // Would the effect, as the caller's, succeed here (from the stop just recorded)?
        const here = base.step(r.state, { ...input, stage: 0 })
        return { state: { walk: r.state, permitted: flag(state.permitted, id, !isErr(here.output)) }, output: r.output }
      }
      const permitted = flag(state.permitted, id, false)
      if (!state.permitted.includes(id) || !isErr(r.output)) return { state: { walk: r.state, permitted }, output: r.output }
      const from = state.walk.walks.find((w) => w.id === id)?.cut ?? null
      // A link's stop at its old file holds it (fs.ts): left to the atomic effect.
      if (from !== null && from.path === "" && input.op.op === "link") return { state: { walk: r.state, permitted }, output: r.output }
      const served = serverStep(state.walk.fs, input, from)
      // A stop at the file an op acts on held it until the effect (fs.ts).
      const server = from !== null && from.path === "" ? { ...served, state: releaseWalkHold(served.state, id) } : served
      if (deepEqual(normalizeResult(server.output), normalizeResult(r.output)) && stateEquals(server.state, r.state.fs)) {
        return { state: { walk: r.state, permitted }, output: r.output }
      }
      const output = { ...server.output }
      markRule(output, EARLY_CHECK_RULE)
      return { state: { walk: { fs: server.state, walks: r.state.walks }, permitted }, output }
    },
    hash: (s) => {
      let h = base.hash(s.walk)
      for (const id of s.permitted) h = mix32(h ^ mix32(0x5e41 + id))
      return h
    },
    equal: (a, b) => a.permitted.length === b.permitted.length && a.permitted.every((id, i) => id === b.permitted[i]) && base.equal(a.walk, b.walk),
    ...(base.accepts !== undefined ? { accepts: base.accepts } : {}),
    ...(base.describeInput !== undefined ? { describeInput: base.describeInput } : {}),
    ...(base.describeOutput !== undefined ? { describeOutput: base.describeOutput } : {}),
  }
}

/** `ids` with `id` in it or not. */
function flag(ids: readonly number[], id: number, on: boolean): readonly number[] {
  const has = ids.includes(id)
  if (has === on) return ids
  return on ? [...ids, id].sort((a, b) => a - b) : ids.filter((x) => x !== id)
}

/** The op as the file server does it for its caller (no permission checks, the caller's ownership), going on from `from`. */
function serverStep(fs: ModelState, input: FsInput, from: WalkCut | null): { state: ModelState; output: OpResult } {
  if (from === null) {
    const s = asServer(fs, input.op, input.cred)
    return { state: s.state as ModelState, output: s.result }
  }
  const tx = new Tx(fs)
  const c = new Ctx(tx, ROOT, 0, { uid: input.cred.uid, gid: input.cred.gid })
  c.resume = from
  const d = run(c, input.op)
  return { state: tx.commit().state as ModelState, output: d.result }
}
