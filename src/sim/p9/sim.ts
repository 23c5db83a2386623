// The 9P server inside a simulation, and the client the gofer port uses
// (api.ts's P9Client and P9File), connected by a simulated transport.
//
// An RPC is two scheduling points of the calling thread on the simulated
// clock: the request in transit (point `rpc_send`, for a latency drawn from
// the run's PRNG), at whose end the server handles it atomically; then the
// reply in transit (point `rpc_reply`, another draw), at whose end the call
// returns. Requests of concurrent threads are therefore served concurrently
// and complete in any order the latencies and the scheduler make. Every
// request and reply is an event (rpc_send, rpc_reply: thread, tag, message
// type, fid, outcome, the latencies drawn, and the event at which the server
// executed the request); faults that fire are `choice` events.
//
// Messages cross as objects (the codec is for TCP): the client keeps to
// msize itself, as pkg/p9's client does, and the server checks it.

import type { Cred, Errno, Op, OpResult, RootAttrs, Tree } from "../../model/types.js"
import { Prng, deriveSeed } from "../prng.js"
import type { Fault } from "../scenario.js"
import { Action, OP_POINT, Signal, type Scheduler, type Sim, type SimThread } from "../scheduler.js"
import {
  ATTR_ALL,
  type Attr,
  type AttrMask,
  type Dirent,
  type FSStat,
  type OpenFlags,
  type P9Client,
  type P9Err,
  type P9File,
  type QID,
  type SetAttr,
  type SetAttrMask,
} from "./api.js"
import { FaultPlan } from "./faults.js"
import { HIGHEST_VERSION, P9Server, type FidInfo, type P9ServerOptions, type Session } from "./server.js"
import { errnoName, fidOf, IOHDRSZ, NOFID, NOTAG, parseVersion, rlerror, versionString, VERSION_SUPPORTS, type MessageOf, type Rmessage, type Tmessage } from "./wire.js"

/** A latency range in ns on the simulated clock, both ends inclusive. */
export interface LatencyRange {
  readonly min: number
  readonly max: number
}

export interface SimP9Options {
  readonly server?: P9ServerOptions
  /** Latencies of the way to the server and of the way back (default 5-100 µs each). */
  readonly latency?: { readonly request: LatencyRange; readonly reply: LatencyRange }
  readonly faults?: readonly Fault[]
  /** The tree's root directory attributes. */
  readonly root?: RootAttrs
}

export const DEFAULT_LATENCY: { readonly request: LatencyRange; readonly reply: LatencyRange } = Object.freeze({
  request: Object.freeze({ min: 5_000, max: 100_000 }),
  reply: Object.freeze({ min: 5_000, max: 100_000 }),
})

/** pkg/p9's client asks for 1 MiB. */
export const DEFAULT_CLIENT_MSIZE = 1 << 20

/** A message in transit for `ns` of simulated time: a scheduling point of the sending thread. */
class Transit extends Action {
  constructor(
    point: "rpc_send" | "rpc_reply",
    private readonly ns: number,
  ) {
    super(point)
  }
  override arrive(t: SimThread, s: Scheduler): void {
    if (this.ns > 0) s.addTimer(t, s.now + this.ns)
  }
  ready(t: SimThread): boolean {
    return t.state !== "sleeping"
  }
  perform(): unknown {
    return undefined
  }
}

function checkRange(r: LatencyRange, what: string): void {
  if (!(Number.isInteger(r.min) && Number.isInteger(r.max) && r.min >= 0 && r.max >= r.min)) {
    throw new RangeError(`p9: ${what} latency must be integers with 0 <= min <= max, got ${r.min}..${r.max}`)
  }
}

/** The server of a simulated run: the 9P server, its latencies, faults and connections. */
export class SimP9Server {
  readonly core: P9Server
  private readonly rng: Prng
  private readonly faults: FaultPlan
  private readonly latency: { readonly request: LatencyRange; readonly reply: LatencyRange }
  /** Set by a hang fault: from then on no request is executed or answered. */
  private stoppedAt: string | null = null

  constructor(
    readonly sched: Scheduler,
    seed: number,
    tree: Tree = {},
    options: SimP9Options = {},
  ) {
    this.core = new P9Server(tree, options.root, options.server ?? {}, sched.now)
    this.rng = new Prng(deriveSeed(seed, "p9 latency"))
    this.faults = new FaultPlan(options.faults ?? [])
    this.latency = options.latency ?? DEFAULT_LATENCY
    checkRange(this.latency.request, "request")
    checkRange(this.latency.reply, "reply")
  }

  /**
   * Connects a client named `name` and negotiates the version: pkg/p9's
   * client asks for the highest level it knows and goes down one level per
   * EAGAIN. Two scheduling points (the Tversion RPC) per attempt.
   */
  *connect(name: string, options: { readonly msize?: number; readonly version?: number } = {}): Sim<[P9Client | null, P9Err]> {
    const conn = new Connection(this, this.core.connect(name), name)
    for (let level = options.version ?? HIGHEST_VERSION; level >= 0; level--) {
      const r = yield* conn.rpc({ type: "Tversion", msize: options.msize ?? DEFAULT_CLIENT_MSIZE, version: versionString(level) }, NOTAG)
      if (r.type === "Rversion") {
        const negotiated = parseVersion(r.version)
        if (negotiated === null) return [null, "EINVAL"]
        return [new SimClient(conn, r.msize, negotiated), null]
      }
      const e = replyErrno(r)
      if (e !== "EAGAIN") return [null, e]
    }
    return [null, "EINVAL"]
  }

  /** An external user's op on the tree (a scenario's `external` thread): one scheduling point, then one atomic step. */
  *external(op: Op, cred: Cred): Sim<OpResult> {
    yield OP_POINT
    return this.core.external(op, cred, this.sched.now)
  }

  /** The server's tree now, in the contract's format. */
  tree(): { readonly tree: Tree; readonly root: Required<RootAttrs> } {
    return this.core.tree()
  }

  /** Every live fid the server holds, for every client. */
  fidTable(): FidInfo[] {
    return this.core.fidTable()
  }

  /** A latency draw (ns) in a range. */
  draw(which: "request" | "reply"): number {
    const r = this.latency[which]
    const span = r.max - r.min
    if (span === 0) return r.min
    // Prng.below takes up to 2^21 values; wider ranges are scaled from 32 bits.
    return span < 0x200000 ? r.min + this.rng.below(span + 1) : r.min + Math.floor((this.rng.nextU32() / 4294967296) * (span + 1))
  }

  /** A request reaches the server: faults decide, then the server handles it. Null: no reply, ever. */
  deliver(conn: Connection, msg: Tmessage, tag: number): { readonly reply: Rmessage; readonly delayNs: number } | null {
    if (this.stoppedAt !== null) return null
    const t = this.sched.current
    const d = this.faults.decide(msg, `tag ${tag} of ${conn.name}${t === null ? "" : t.opIndex < 0 ? `, from ${t.name} outside any op` : `, from ${t.name} in its op ${t.opIndex}`}`)
    if (t !== null && d.decided) t.serverDecided++
    const log = this.sched.log
    for (const f of d.fired) if (log.enabled) log.add({ seq: log.nextSeq, kind: "choice", what: f.what, value: f.value })
    if (d.hang) {
      this.stoppedAt = `${msg.type} tag ${tag} of ${conn.name}`
      return null
    }
    const reply = d.rlerror !== undefined ? rlerror(d.rlerror.errno) : this.core.handle(conn.session, d.request ?? msg, this.sched.now)
    return { reply, delayNs: d.delayNs }
  }

  /** No injected fault fires from now on (FaultPlan.disarm). */
  disarmFaults(): void {
    if (this.faults.empty) return
    this.faults.disarm()
    const log = this.sched.log
    if (log.enabled) log.add({ seq: log.nextSeq, kind: "choice", what: "p9 faults disarmed: the scenario's threads are done", value: 0 })
  }

  get stopped(): boolean {
    return this.stoppedAt !== null
  }

  /** Closes a client's connection: the server clunks every fid it held. */
  disconnect(conn: Connection): void {
    this.core.disconnect(conn.session, this.sched.now)
  }
}

function replyErrno(r: Rmessage): Errno {
  if (r.type !== "Rlerror") throw new Error(`p9 client: expected Rlerror, got ${r.type}`)
  return errnoName(r.error) ?? "EIO"
}

/** A message's arguments in words, for the event log: "fid 1, newFid 2, names ["d", "f"]", "qids [dir 2 v0, file 3 v1]". */
function describe(m: Tmessage | Rmessage): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(m)) {
    if (k === "type") continue
    parts.push(k === "data" || k === "value" ? `${k} ${(v as string).length} bytes` : `${k} ${show(v)}`)
  }
  return parts.join(", ")
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)
  if (Array.isArray(v)) return v.length > 8 ? `[${v.length} items]` : `[${v.map(show).join(", ")}]`
  if (typeof v !== "object" || v === null) return String(v)
  const o = v as Record<string, unknown>
  if ("path" in o && "version" in o) {
    const q = o as unknown as QID
    return `${q.type === 0x80 ? "dir" : q.type === 0x02 ? "symlink" : "file"} ${q.path} v${q.version}`
  }
  if ("nlink" in o) {
    const a = o as unknown as Attr
    return `{mode ${a.mode.toString(8)}, size ${a.size}, nlink ${a.nlink}, uid ${a.uid}, gid ${a.gid}}`
  }
  // A dirent.
  if ("name" in o && "qid" in o) return JSON.stringify(o["name"])
  return `{${Object.entries(o).map(([k, x]) => `${k} ${show(x)}`).join(", ")}}`
}

/** One client connection in a simulated run. */
export class Connection {
  private readonly tagsInUse = new Set<number>()

  constructor(
    readonly server: SimP9Server,
    readonly session: Session,
    readonly name: string,
  ) {}

  private allocTag(): number {
    let t = 0
    while (this.tagsInUse.has(t)) t++
    this.tagsInUse.add(t)
    return t
  }

  /** One RPC from the current thread: request in transit, served, reply in transit. */
  *rpc(msg: Tmessage, fixedTag?: number): Sim<Rmessage> {
    const sched = this.server.sched
    const thread = sched.current
    if (thread === null) throw new Error("p9 client: an RPC outside a simulated thread")
    const tag = fixedTag ?? this.allocTag()
    const log = sched.log
    const requestNs = this.server.draw("request")
    const replyNs = this.server.draw("reply")
    const sent = log.nextSeq
    if (log.enabled) {
      const fid = fidOf(msg)
      log.add({ seq: sent, kind: "rpc_send", thread: thread.name, tag, msg: msg.type, ...(fid !== undefined ? { fid } : {}), detail: describe(msg), ns: requestNs })
    }
    yield new Transit("rpc_send", requestNs)
    // The request reaches the server at this step.
    const served = log.nextSeq - 1
    const out = this.server.deliver(this, msg, tag)
    if (out === null) {
      const never = new Signal(sched, `a reply from a server that stopped answering (${msg.type} tag ${tag} of client ${this.name}, sent at event ${sent})`)
      yield never.wait()
      throw new Error("p9 client: a reply arrived from a stopped server")
    }
    const ns = replyNs + out.delayNs
    yield new Transit("rpc_reply", ns)
    if (fixedTag === undefined) this.tagsInUse.delete(tag)
    const r = out.reply
    if (log.enabled) {
      const outcome = r.type === "Rlerror" ? (errnoName(r.error) ?? `errno ${r.error}`) : "ok"
      log.add({ seq: log.nextSeq, kind: "rpc_reply", thread: thread.name, tag, msg: r.type, outcome, detail: describe(r), served, ns })
    }
    return r
  }
}

/** Fid numbers: the most recently freed first, else the next unused (pkg/p9's pool). */
class FidPool {
  private readonly free: number[] = []
  private next = 1
  get(): number {
    return this.free.pop() ?? this.next++
  }
  put(fid: number): void {
    this.free.push(fid)
  }
}

export class SimClient implements P9Client {
  readonly version: string
  /** The negotiated extension level. */
  readonly level: number
  readonly fids = new FidPool()
  /** Live fids and what each is for. */
  private readonly live = new Map<number, string>()

  constructor(
    readonly conn: Connection,
    readonly msize: number,
    level: number,
  ) {
    this.level = level
    this.version = versionString(level)
  }

  /** Whether the server speaks an extension (VERSION_SUPPORTS). */
  supports(feature: keyof typeof VERSION_SUPPORTS): boolean {
    return this.level >= VERSION_SUPPORTS[feature]
  }

  /** What one Tread or Twrite may carry. */
  get payloadMax(): number {
    return this.msize - IOHDRSZ
  }

  *attach(aname: string, uid: number, owner: string): Sim<[P9File | null, P9Err]> {
    const fid = this.fids.get()
    const r = yield* this.conn.rpc({ type: "Tattach", fid, afid: NOFID, uname: "", aname, uid })
    if (r.type !== "Rattach") {
      this.fids.put(fid)
      return [null, replyErrno(r)]
    }
    return [this.adopt(fid, owner), null]
  }

  liveFids(): ReadonlyMap<number, string> {
    return this.live
  }

  /** Closes the connection: the server clunks every fid; none is live any more. */
  *disconnect(): Sim<void> {
    yield OP_POINT
    this.conn.server.disconnect(this.conn)
    this.live.clear()
  }

  /** A new fid the client now holds. */
  adopt(fid: number, owner: string): SimFile {
    this.live.set(fid, owner)
    return new SimFile(this, fid)
  }

  /** The fid is no longer the client's (clunked, removed, or lost to a failed clunk). */
  release(fid: number, reuse: boolean): void {
    this.live.delete(fid)
    if (reuse) this.fids.put(fid)
  }

  rename(fid: number, owner: string): void {
    this.live.set(fid, owner)
  }
}

type Reply<N extends Rmessage["type"]> = MessageOf<N>

export class SimFile implements P9File {
  private closed = false

  constructor(
    private readonly client: SimClient,
    readonly fid: number,
  ) {}

  /** Sends `msg`; the reply of type `want`, or the errno of an Rlerror. */
  private *call<N extends Rmessage["type"]>(msg: Tmessage, want: N): Sim<Reply<N> | Errno> {
    if (this.closed) return "EBADF"
    const r = yield* this.client.conn.rpc(msg)
    if (r.type === want) return r as Reply<N>
    return replyErrno(r)
  }

  *walk(names: readonly string[], owner: string): Sim<[readonly QID[], P9File | null, P9Err]> {
    if (this.closed) return [[], null, "EBADF"]
    const newFid = this.client.fids.get()
    const r = yield* this.call({ type: "Twalk", fid: this.fid, newFid, names }, "Rwalk")
    if (typeof r === "string") {
      this.client.fids.put(newFid)
      return [[], null, r]
    }
    // A walk that stopped short created no fid: the name that failed does not exist (as Linux's client reads it).
    if (r.qids.length < names.length) {
      this.client.fids.put(newFid)
      return [r.qids, null, "ENOENT"]
    }
    return [r.qids, this.client.adopt(newFid, owner), null]
  }

  *walkGetAttr(names: readonly string[], owner: string): Sim<[readonly QID[], P9File | null, AttrMask, Attr | null, P9Err]> {
    if (this.closed) return [[], null, 0, null, "EBADF"]
    if (!this.client.supports("walkGetAttr")) {
      // pkg/p9's fallback: a walk, then a getattr of what it found.
      const [qids, file, err] = yield* this.walk(names, owner)
      if (file === null) return [qids, null, 0, null, err]
      const [, valid, attr, gerr] = yield* file.getAttr(ATTR_ALL)
      if (gerr !== null) {
        yield* file.close()
        return [[], null, 0, null, gerr]
      }
      return [qids, file, valid, attr, null]
    }
    const newFid = this.client.fids.get()
    const r = yield* this.call({ type: "Twalkgetattr", fid: this.fid, newFid, names }, "Rwalkgetattr")
    if (typeof r === "string") {
      this.client.fids.put(newFid)
      return [[], null, 0, null, r]
    }
    return [r.qids, this.client.adopt(newFid, owner), r.valid, r.attr, null]
  }

  *getAttr(req: AttrMask): Sim<[QID | null, AttrMask, Attr | null, P9Err]> {
    const r = yield* this.call({ type: "Tgetattr", fid: this.fid, attrMask: req }, "Rgetattr")
    return typeof r === "string" ? [null, 0, null, r] : [r.qid, r.valid, r.attr, null]
  }

  *setAttr(valid: SetAttrMask, attr: SetAttr): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Tsetattr", fid: this.fid, valid, setAttr: attr }, "Rsetattr"))
  }

  *statFS(): Sim<[FSStat | null, P9Err]> {
    const r = yield* this.call({ type: "Tstatfs", fid: this.fid }, "Rstatfs")
    return typeof r === "string" ? [null, r] : [r.fsStat, null]
  }

  *open(flags: OpenFlags): Sim<[QID | null, number, P9Err]> {
    const r = yield* this.call({ type: "Tlopen", fid: this.fid, flags }, "Rlopen")
    return typeof r === "string" ? [null, 0, r] : [r.qid, r.ioUnit, null]
  }

  *create(name: string, flags: OpenFlags, permissions: number, uid: number, gid: number, owner: string): Sim<[P9File | null, QID | null, number, P9Err]> {
    const r = this.client.supports("uCreation")
      ? yield* this.call({ type: "Tucreate", fid: this.fid, name, openFlags: flags, permissions, gid, uid }, "Rucreate")
      : yield* this.call({ type: "Tlcreate", fid: this.fid, name, openFlags: flags, permissions, gid }, "Rlcreate")
    if (typeof r === "string") return [null, null, 0, r]
    // pkg/p9: this fid now names the new, open file.
    this.client.rename(this.fid, owner)
    return [this, r.qid, r.ioUnit, null]
  }

  *mkdir(name: string, permissions: number, uid: number, gid: number): Sim<[QID | null, P9Err]> {
    const r = this.client.supports("uCreation")
      ? yield* this.call({ type: "Tumkdir", directory: this.fid, name, permissions, gid, uid }, "Rumkdir")
      : yield* this.call({ type: "Tmkdir", directory: this.fid, name, permissions, gid }, "Rmkdir")
    return qidOnly(r)
  }

  *symlink(target: string, newName: string, uid: number, gid: number): Sim<[QID | null, P9Err]> {
    const r = this.client.supports("uCreation")
      ? yield* this.call({ type: "Tusymlink", directory: this.fid, name: newName, target, gid, uid }, "Rusymlink")
      : yield* this.call({ type: "Tsymlink", directory: this.fid, name: newName, target, gid }, "Rsymlink")
    return qidOnly(r)
  }

  *link(target: P9File, newName: string): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Tlink", directory: this.fid, target: target.fid, name: newName }, "Rlink"))
  }

  *mknod(name: string, mode: number, major: number, minor: number, uid: number, gid: number): Sim<[QID | null, P9Err]> {
    const r = this.client.supports("uCreation")
      ? yield* this.call({ type: "Tumknod", directory: this.fid, name, mode, major, minor, gid, uid }, "Rumknod")
      : yield* this.call({ type: "Tmknod", directory: this.fid, name, mode, major, minor, gid }, "Rmknod")
    return qidOnly(r)
  }

  *rename(newDir: P9File, newName: string): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Trename", fid: this.fid, directory: newDir.fid, name: newName }, "Rrename"))
  }

  *renameAt(oldName: string, newDir: P9File, newName: string): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Trenameat", oldDirectory: this.fid, oldName, newDirectory: newDir.fid, newName }, "Rrenameat"))
  }

  *unlinkAt(name: string, flags: number): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Tunlinkat", directory: this.fid, name, flags }, "Runlinkat"))
  }

  *readdir(offset: number, count: number): Sim<[readonly Dirent[], P9Err]> {
    const r = yield* this.call({ type: "Treaddir", directory: this.fid, offset: BigInt(offset), count: Math.min(count, this.client.payloadMax) }, "Rreaddir")
    if (typeof r === "string") return [[], r]
    // fsim's server numbers entries from 1: its cookies are small, exact numbers.
    return [r.entries.map((e) => ({ qid: e.qid, offset: Number(e.offset), type: e.type, name: e.name })), null]
  }

  *readlink(): Sim<[string, P9Err]> {
    const r = yield* this.call({ type: "Treadlink", fid: this.fid }, "Rreadlink")
    return typeof r === "string" ? ["", r] : [r.target, null]
  }

  get chunkSize(): number {
    return this.client.payloadMax
  }

  *readAt(count: number, offset: number): Sim<[string, P9Err]> {
    const r = yield* this.call({ type: "Tread", fid: this.fid, offset, count: Math.min(count, this.client.payloadMax) }, "Rread")
    return typeof r === "string" ? ["", r] : [r.data, null]
  }

  *writeAt(data: string, offset: number): Sim<[number, P9Err]> {
    const r = yield* this.call({ type: "Twrite", fid: this.fid, offset, data: data.slice(0, this.client.payloadMax) }, "Rwrite")
    return typeof r === "string" ? [0, r] : [r.count, null]
  }

  *fsync(): Sim<P9Err> {
    return errOnly(yield* this.call({ type: "Tfsync", fid: this.fid }, "Rfsync"))
  }

  *allocate(mode: number, offset: number, length: number): Sim<P9Err> {
    if (!this.client.supports("allocate")) return this.closed ? "EBADF" : "EOPNOTSUPP"
    return errOnly(yield* this.call({ type: "Tallocate", fid: this.fid, mode, offset, length }, "Rallocate"))
  }

  *flush(): Sim<P9Err> {
    // pkg/p9: without Tflushf there is nothing to flush.
    if (!this.client.supports("flushf")) return this.closed ? "EBADF" : null
    return errOnly(yield* this.call({ type: "Tflushf", fid: this.fid }, "Rflushf"))
  }

  *getXattr(name: string, size: number): Sim<[string, P9Err]> {
    if (!this.client.supports("getSetXattr")) return ["", this.closed ? "EBADF" : "EOPNOTSUPP"]
    const r = yield* this.call({ type: "Tgetxattr", fid: this.fid, name, size }, "Rgetxattr")
    return typeof r === "string" ? ["", r] : [r.value, null]
  }

  *setXattr(name: string, value: string, flags: number): Sim<P9Err> {
    if (!this.client.supports("getSetXattr")) return this.closed ? "EBADF" : "EOPNOTSUPP"
    return errOnly(yield* this.call({ type: "Tsetxattr", fid: this.fid, name, value, flags }, "Rsetxattr"))
  }

  *listXattr(size: number): Sim<[readonly string[], P9Err]> {
    if (!this.client.supports("listRemoveXattr")) return [[], this.closed ? "EBADF" : "EOPNOTSUPP"]
    const r = yield* this.call({ type: "Tlistxattr", fid: this.fid, size }, "Rlistxattr")
    return typeof r === "string" ? [[], r] : [r.xattrs, null]
  }

  *removeXattr(name: string): Sim<P9Err> {
    if (!this.client.supports("listRemoveXattr")) return this.closed ? "EBADF" : "EOPNOTSUPP"
    return errOnly(yield* this.call({ type: "Tremovexattr", fid: this.fid, name }, "Rremovexattr"))
  }

  *connect(flags: number): Sim<P9Err> {
    if (!this.client.supports("connect")) return this.closed ? "EBADF" : "ECONNREFUSED"
    return errOnly(yield* this.call({ type: "Tlconnect", fid: this.fid, flags }, "Rlconnect"))
  }

  *close(): Sim<P9Err> {
    if (this.closed) return "EBADF"
    this.closed = true
    const r = yield* this.client.conn.rpc({ type: "Tclunk", fid: this.fid })
    // pkg/p9: a failed clunk loses the fid (the server forgot it anyway).
    this.client.release(this.fid, r.type === "Rclunk")
    return r.type === "Rclunk" ? null : replyErrno(r)
  }
}

function errOnly(r: Rmessage | Errno): P9Err {
  return typeof r === "string" ? r : null
}

function qidOnly(r: { readonly qid: QID } | Errno): [QID | null, P9Err] {
  return typeof r === "string" ? [null, r] : [r.qid, null]
}
