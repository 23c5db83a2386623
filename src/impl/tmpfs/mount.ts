// The `tmpfs` mount of a scenario (a contract extension, see README.md): a
// tmpfs holding the scenario's `remote` tree as the mount namespace's root,
// the scenario's ops run through the syscall layer, with tmpfs's invariants
// checked after every operation, at quiescence and after unmount.
//
// Options: "" or a comma-separated list of `mutant=NAME` (test-only
// deliberate bugs, TMPFS_MUTANTS); anything else is an input error.

import { InputError } from "../../model/schema.js"
import type { Errno, Op, OpResult, RootAttrs, Tree } from "../../model/types.js"
import type { FinalRecorder, MountContext, MountInstance, OpThread } from "../../sim/mount.js"
import type { Sim } from "../../sim/scheduler.js"
import type { Ctx } from "../vfs/context.js"
import { Syscalls } from "../vfs/syscalls.js"
import { VirtualFilesystem } from "../vfs/vfs.js"
import { isTmpfsMutant, TMPFS_MUTANTS, type filesystem, type TmpfsMutant } from "./filesystem.js"
import { newTmpfsFilesystem } from "./index.js"
import { checkTmpfs } from "./invariants.js"

export interface TmpfsMountOptions {
  readonly mutant?: TmpfsMutant
}

export function parseTmpfsOptions(options: string, where = "scenario"): TmpfsMountOptions {
  let mutant: TmpfsMutant | undefined
  for (const o of options.split(",")) {
    if (o === "") continue
    if (o.startsWith("mutant=")) {
      const name = o.slice("mutant=".length)
      if (!isTmpfsMutant(name)) throw new InputError(`${where}: mount.options: unknown tmpfs mutant ${JSON.stringify(name)} (known: ${Object.keys(TMPFS_MUTANTS).join(", ")})`)
      mutant = name
    } else throw new InputError(`${where}: mount.options: unknown option ${JSON.stringify(o)} for a tmpfs mount (known: mutant=NAME)`)
  }
  return mutant === undefined ? {} : { mutant }
}

/** The parts of a tmpfs mount a test may look at. */
export interface TmpfsMountState {
  readonly fs: filesystem
  readonly sys: Syscalls | null
}

const ROOT = { uid: 0, gid: 0, groups: [] as number[] }

export function tmpfsMount(ctx: MountContext): MountInstance & { readonly state: () => TmpfsMountState } {
  const s = ctx.scenario
  const sched = ctx.sched
  const opts = parseTmpfsOptions(s.mount.kind === "tmpfs" ? (s.mount.options ?? "") : "")
  const vfs = new VirtualFilesystem(sched)
  const { fs, tmpfs } = newTmpfsFilesystem(vfs, s.remote ?? {}, { ...(s.root !== undefined ? { root: s.root } : {}), ...(opts.mutant !== undefined ? { mutant: opts.mutant } : {}) })
  let sys: Syscalls | null = null

  const report = (messages: readonly string[]): boolean => {
    for (const m of messages) sched.report({ check: "invariants", message: `tmpfs: ${m}`, events: [sched.log.nextSeq - 1] })
    if (messages.length > 0) sched.stop("a tmpfs invariant broke")
    return messages.length === 0
  }

  function* setup(): Sim<Errno | null> {
    // The mount's reference on its root (dropped by Umount).
    yield* tmpfs.root.IncRef()
    const root = vfs.NewRootMount(fs, tmpfs.root.vfsd, { readOnly: false })
    sys = new Syscalls(vfs, root)
    return null
  }

  function* exec(thread: OpThread, op: Op): Sim<OpResult> {
    if (sys === null) return { errno: "EIO" }
    const c: Ctx = { sched, creds: thread.cred, thread: thread.name }
    const r = yield* sys.exec(c, op)
    report(checkTmpfs(tmpfs, { quiescent: false, unmounted: false }))
    return r
  }

  function* finish(record?: FinalRecorder): Sim<{ readonly tree: Tree; readonly root: Required<RootAttrs> }> {
    if (sys === null) return { tree: {}, root: { mode: 0o755, uid: 0, gid: 0 } }
    const c: Ctx = { sched, creds: ROOT, thread: "fsim.final" }
    yield* sys.closeAll(c)
    const final = yield* sys.readTree(c, record)
    yield* vfs.SyncAllFilesystems(c)
    if (!report(checkTmpfs(tmpfs, { quiescent: true, unmounted: false }))) return final
    // Unmount: every inode goes; none may keep a reference.
    yield* vfs.Umount(c, sys.root.mount)
    report(checkTmpfs(tmpfs, { quiescent: true, unmounted: true }))
    return final
  }

  return { dialect: "gvisor-tmpfs", setup, exec, finish, state: () => ({ fs: tmpfs, sys }) }
}
