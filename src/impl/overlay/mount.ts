// The `overlay` mount of a scenario (scenario.md 1.3): the port of gVisor's
// overlay over its layers, each a filesystem of its own on the same VFS
// (tmpfs with a tree literal, or the gofer client over the simulated 9P
// server serving the scenario's `remote` tree), mounted as gVisor's
// callers do: every layer a private mount with no mount point, the lower
// ones read-only (clonePrivateMount), handed to GetFilesystem as
// FilesystemOptions. Checked after every operation and at quiescence
// (invariants.ts), with the model run on the merged tree of the layers
// (`initialTree`) in the gvisor-overlay dialect.

import type { Cred, Errno, Op, OpResult, RootAttrs, Tree } from "../../model/types.js"
import { InputError } from "../../model/schema.js"
import { cleanPath } from "../../model/index.js"
import type { FinalRecorder, MountContext, MountInstance, OpThread } from "../../sim/mount.js"
import { overlayInitial, type Layer as LayerSpec } from "../../sim/scenario.js"
import { SimP9Server, type SimClient } from "../../sim/p9/sim.js"
import { HIGHEST_VERSION } from "../../sim/p9/server.js"
import { parseVersion } from "../../sim/p9/wire.js"
import type { Sim } from "../../sim/scheduler.js"
import type { Ctx } from "../vfs/context.js"
import type { Statx } from "../vfs/filesystem.js"
import { Parse } from "../vfs/fspath.js"
import { PATH_MAX } from "../vfs/linux.js"
import { VirtualDentry, type Filesystem } from "../vfs/mount.js"
import { statResult, Syscalls } from "../vfs/syscalls.js"
import { VirtualFilesystem } from "../vfs/vfs.js"
import { filesystem as goferFilesystem } from "../gofer/filesystem.js"
import { MountOptionError as GoferOptionError, parseGoferOptions, type filesystemOptions as GoferOptions } from "../gofer/options.js"
import { leakedFids } from "../gofer/invariants.js"
import type { dentry } from "./dentry.js"
import { GetFilesystem, type filesystem } from "./filesystem.js"
import { checkOverlay, InvariantState, isolatedResultViolations } from "./invariants.js"
import { MountOptionError, parseOverlayOptions, type OverlayOptions } from "./options.js"
import { makeTmpfsLayer } from "./tmpfs_layer.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }

/** One layer as the mount built it. */
export interface LayerInstance {
  readonly kind: "tmpfs" | "gofer"
  /** "upper", "lower[0]"... */
  readonly label: string
  /** The layer's root on its private mount (the mount's own reference). */
  readonly vd: VirtualDentry
  readonly fs: Filesystem
  /** The layer's tree now, as a layer tree literal (whiteouts, opaque directories). */
  tree(): { readonly tree: Tree; readonly root: Required<RootAttrs> }
  /**
   * The layer's own invariants (tmpfs: references, links, its dentry tree
   * against its model), where it has them, after every op.
   */
  check?(quiescent: boolean): string[]
  /** After the layer's mount is gone: what it still holds (fids, inode references), as messages. */
  leaks(): string[]
  /** Ends the layer's connection, if it has one. */
  close(): Sim<void>
}

/** The parts of an overlay mount a test or checker may look at. */
export interface OverlayMountState {
  readonly fs: filesystem | null
  readonly layers: readonly LayerInstance[]
  readonly server: SimP9Server | null
  readonly opts: OverlayOptions
  /** The overlay's root on its mount (the scenario's view), once mounted. */
  readonly root: VirtualDentry | null
}


/**
 * The stat results of the overlay's syscalls carry the file's identity as
 * (device, inode): the contract's stat has no st_dev, and the overlay's
 * files come from several filesystems whose inode numbers overlap (a lower
 * file and an upper file may both be inode 5). `ino` is then device minor
 * times 2^32 plus the inode number, so that the final read-back (which
 * takes two names with one `ino` for hard links) tells them apart. The
 * checkers compare no inode numbers otherwise.
 */
class OverlaySyscalls extends Syscalls {
  override *exec(ctx: Ctx, op: Op): Sim<OpResult> {
    if (op.op === "stat" || op.op === "lstat") {
      const path = cleanPath(op.path)
      if (path.length >= PATH_MAX) return { errno: "ENAMETOOLONG" }
      if (path.length === 0) return { errno: "ENOENT" }
      const [st, e] = yield* this.vfs.StatAt(ctx, ctx.creds, { Root: this.root, Start: this.root, Path: Parse(path), FollowFinalSymlink: op.op === "stat" }, {})
      return e !== null || st === null ? { errno: e ?? "EIO" } : withIdentity(st)
    }
    if (op.op === "fstat") {
      const fd = this.fds.get(op.fd)
      if (fd === undefined) return { errno: "EBADF" }
      const [st, e] = yield* fd.Stat(ctx, {})
      return e !== null || st === null ? { errno: e ?? "EIO" } : withIdentity(st)
    }
    return yield* super.exec(ctx, op)
  }
}

function withIdentity(st: Statx): OpResult {
  return { ...statResult(st), ino: st.devMinor * 2 ** 32 + st.ino }
}

export function overlayMount(ctx: MountContext): MountInstance & { readonly state: () => OverlayMountState } {
  const s = ctx.scenario
  const sched = ctx.sched
  if (s.mount.kind !== "overlay") throw new InputError("scenario: mount.kind: the overlay mount needs an overlay scenario")
  const m = s.mount
  let opts: OverlayOptions
  try {
    opts = parseOverlayOptions(m.options ?? "")
  } catch (e) {
    if (e instanceof MountOptionError) throw new InputError(`scenario: mount.options: ${e.message}`)
    throw e
  }
  const specs: { spec: LayerSpec; label: string; upper: boolean }[] = [
    ...(m.upper !== undefined ? [{ spec: m.upper, label: "upper", upper: true }] : []),
    ...m.lower.map((spec, i) => ({ spec, label: `lower[${i}]`, upper: false })),
  ]
  const goferOpts = new Map<string, GoferOptions>()
  for (const { spec, label } of specs) {
    if (spec.kind !== "gofer") continue
    try {
      goferOpts.set(label, parseGoferOptions(spec.options ?? ""))
    } catch (e) {
      if (e instanceof GoferOptionError) throw new InputError(`scenario: mount.${label}.options: ${e.message}`)
      throw e
    }
  }
  // External users change a gofer lower layer under the mounted overlay:
  // undefined in Linux, and gVisor's overlay takes its lower layers to be
  // immutable (README.md, "External changes to a lower layer"). The model
  // on the merged tree cannot say what the overlay then shows, so such a
  // run is not judged by lincheck: the scenario must leave it out.
  if ((s.external ?? []).length > 0 && (s.checks === undefined || s.checks.includes("lincheck"))) {
    throw new InputError(
      "scenario: external: external users change a lower layer under the mounted overlay, which gVisor's overlay takes to be immutable (Linux: undefined), so its results cannot be judged: give checks without lincheck (src/impl/overlay/README.md)",
    )
  }
  let initial: { readonly tree: Tree; readonly root: RootAttrs; readonly readOnly: boolean }
  try {
    initial = overlayInitial(s)
  } catch (e) {
    throw new InputError(`scenario: mount: ${(e as Error).message}`)
  }
  // The server of a gofer layer holds a layer's tree (whiteouts, opaque directories).
  const server = goferOpts.size > 0 ? new SimP9Server(sched, ctx.seed, s.remote ?? {}, { faults: s.faults ?? [], server: { layer: true }, ...(s.root !== undefined ? { root: s.root } : {}) }) : null
  const vfs = new VirtualFilesystem(sched)
  const layers: LayerInstance[] = []
  let fs: filesystem | null = null
  let sys: OverlaySyscalls | null = null
  const inv = new InvariantState()
  const external = (s.external ?? []).length > 0
  /** The lower layers' trees when mounted. */
  const lowerBefore: { label: string; json: string }[] = []
  /** Ops in flight, and invocations so far: an op that overlapped none is checked against the layers. */
  let inFlight = 0
  let invocations = 0

  const report = (message: string): void => {
    sched.report({ check: "invariants", message, events: [sched.log.nextSeq - 1] })
  }

  function* goferLayer(label: string, o: GoferOptions, readOnly: boolean): Sim<[LayerInstance | null, Errno | null]> {
    const level = Math.min(parseVersion(o.version) ?? HIGHEST_VERSION, HIGHEST_VERSION)
    const [c, err] = yield* server!.connect(`overlay ${label}`, { msize: o.msize, version: level })
    if (err !== null || c === null) return [null, err ?? "EIO"]
    const client = c as SimClient
    // The layer's cache events (its dentry and page caches' hits, misses,
    // evictions), named as the gofer layer's, for the thread running.
    const g = new goferFilesystem(vfs, client, o, (cache, what, key) => {
      const log = sched.log
      if (log.enabled) log.add({ seq: log.nextSeq, kind: "cache", thread: sched.current?.name ?? "fsim.mount", cache: `gofer.${cache}`, what, key })
    })
    g.vfsfs = vfs.NewFilesystem(g, "9p")
    const aerr = yield* g.attach({ sched, creds: ROOT, thread: "fsim.mount" })
    if (aerr !== null) return [null, aerr]
    // clonePrivateMount: a mount of its own, with no mount point.
    const mnt = vfs.NewDisconnectedMount(g.vfsfs, g.root.vfsd, { readOnly })
    // The attach's reference on the root (the caller's) is the mount's.
    const layer: LayerInstance = {
      kind: "gofer",
      label,
      vd: new VirtualDentry(mnt, g.root.vfsd),
      fs: g.vfsfs,
      tree: () => server!.tree(),
      leaks: () => {
        const out = leakedFids(g, client, []).map((f) => `${label}: leaked ${f}`)
        if (client.liveFids().size > 0) out.push(`${label}: fids still held after its unmount: ${[...client.liveFids()].map(([fid, owner]) => `fid ${fid} (${owner})`).join(", ")}`)
        return out
      },
      close: () => client.disconnect(),
    }
    return [layer, null]
  }

  function* setup(): Sim<Errno | null> {
    const mctx: Ctx = { sched, creds: ROOT, thread: "fsim.mount" }
    for (const { spec, label, upper } of specs) {
      // Lower layers are read-only mounts (clonePrivateMount forceReadOnly),
      // except under the mutant write-lower.
      const readOnly = !upper && opts.mutant !== "write-lower"
      let layer: LayerInstance | null
      if (spec.kind === "gofer") {
        const [l, err] = yield* goferLayer(label, goferOpts.get(label)!, readOnly)
        if (err !== null) return err
        layer = l
      } else {
        layer = yield* makeTmpfsLayer(vfs, label, spec.tree ?? {}, s.root ?? {}, readOnly)
      }
      layers.push(layer!)
      if (!upper) lowerBefore.push({ label, json: canonical(layer!.tree()) })
    }
    const upperLayer = m.upper !== undefined ? layers[0]! : null
    const lowerLayers = m.upper !== undefined ? layers.slice(1) : layers
    // gVisor mounts an overlay from a mount namespace that has a root
    // already; fsim's VFS refuses path operations until it has one, and the
    // overlay is to be its root. While GetFilesystem runs (its path
    // operations all start at a layer's root), the top layer stands in.
    vfs.root = layers[0]!.vd
    let f: filesystem | null
    let root: dentry | null
    let err: Errno | null
    try {
      ;[f, root, err] = yield* GetFilesystem(mctx, vfs, ROOT, { UpperRoot: upperLayer?.vd ?? null, LowerRoots: lowerLayers.map((l) => l.vd) }, opts)
    } finally {
      vfs.root = null
    }
    if (err !== null || f === null || root === null) return err ?? "EIO"
    fs = f
    const rootVD = vfs.NewRootMount(f.vfsfs, root.vfsd, { readOnly: false })
    sys = new OverlaySyscalls(vfs, rootVD)
    return null
  }

  function check(quiescent: boolean): boolean {
    if (fs === null || sys === null) return true
    const vs = [...checkOverlay(fs, inv, quiescent, sys, layers), ...layers.flatMap((l) => l.check?.(quiescent) ?? [])]
    for (const v of vs) report(v)
    if (vs.length > 0) sched.stop("an overlay invariant broke")
    return vs.length === 0
  }

  function* exec(thread: OpThread, op: Op): Sim<OpResult> {
    if (thread.external) return yield* server!.external(op, thread.cred)
    if (sys === null) return { errno: "EIO" }
    const isolatedAtStart = inFlight === 0
    const myInvocation = ++invocations
    inFlight++
    const c: Ctx = { sched, creds: thread.cred, thread: thread.name }
    let r: OpResult
    try {
      r = yield* sys.exec(c, op)
    } finally {
      inFlight--
    }
    if (check(false) && isolatedAtStart && invocations === myInvocation && fs !== null) {
      // No other op ran while this one did: its result must agree with the
      // layers as they are now.
      const vs = isolatedResultViolations(fs, sys, op, r, layers)
      for (const v of vs) report(v)
      if (vs.length > 0) sched.stop("an overlay invariant broke")
    }
    return r
  }

  function* finish(record?: FinalRecorder): Sim<{ readonly tree: Tree; readonly root: Required<RootAttrs> }> {
    if (sys === null || fs === null) return { tree: {}, root: { mode: 0o755, uid: 0, gid: 0 } }
    const c: Ctx = { sched, creds: ROOT, thread: "fsim.final" }
    yield* sys.closeAll(c)
    const final = yield* sys.readTree(c, record)
    yield* vfs.SyncAllFilesystems(c)
    if (!check(true)) return final
    // No lower layer was modified (external users act on a gofer layer's
    // server directly, which is theirs to change).
    if (!external) {
      for (const before of lowerBefore) {
        const layer = layers.find((l) => l.label === before.label)!
        const now = canonical(layer.tree())
        if (now !== before.json) report(`lower layer ${before.label} was modified: before ${before.json}, after ${now}`)
      }
    }
    // Unmount: the overlay lets go of every layer reference; then the layers go.
    yield* vfs.Umount(c, sys.root.mount)
    for (const l of layers) {
      if (l.vd.mount.refs !== 1) report(`${l.label}: after the overlay's unmount its mount holds ${l.vd.mount.refs} references (1 expected: its own): a layer reference leaked`)
    }
    if (fs.live.size > 0) report(`dentries not destroyed after unmount: ${[...fs.live].map((d) => d.pathForLog()).join(", ")}`)
    for (const l of layers) yield* vfs.Umount(c, l.vd.mount)
    for (const l of layers) for (const msg of l.leaks()) report(msg)
    for (const l of layers) yield* l.close()
    return final
  }

  return {
    dialect: "gvisor-overlay",
    initialTree: () => initial,
    setup,
    exec,
    disarmFaults: () => server?.disarmFaults(),
    finish,
    state: () => ({ fs, layers, server, opts, root: sys?.root ?? null }),
  }
}

/** JSON with keys sorted. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  )
}
