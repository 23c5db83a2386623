// The conformance driver: generated 9P2000.L message sequences run in
// lockstep against several servers (diod over TCP, `fsim serve` over TCP,
// and fsim's server in process through the codec), replies compared after
// normalizing what legitimately differs (see NORMALIZATIONS, also listed in
// src/sim/p9/README.md).
//
// A sequence works in a fresh directory of its own under the attach root.
// Each step is chosen from what the steps before it returned (the first
// target, fsim's own server, is the reference: until a mismatch, all agree),
// and is sent to every target before the next is chosen.

import { spawn, type ChildProcess } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inodeStep } from "../../src/model/index.js"
import type { NodeType } from "../../src/model/types.js"
import { ATTR_ALL, ATTR_BASIC, QID_TYPE_DIR, QID_TYPE_SYMLINK, type QID } from "../../src/sim/p9/api.js"
import { decode, encode } from "../../src/sim/p9/codec.js"
import { P9Server, type Session } from "../../src/sim/p9/server.js"
import { DOTL, ERRNO_NUMBER, errnoName, IOHDRSZ, NOFID, type Rmessage, type Tmessage } from "../../src/sim/p9/wire.js"
import { Prng, deriveSeed } from "../../src/sim/prng.js"
import { FSIM } from "../cli/helpers.js"
import { WireClient } from "./wireclient.js"

/** What the comparison leaves out, and why (src/sim/p9/README.md lists the same, with what is not generated). */
export const NORMALIZATIONS = [
  "qid.path: compared as a bijection within a sequence, renewed for the qid of every newly created file (a host filesystem reuses freed inode numbers)",
  "qid.version: not compared (diod sends 0; fsim counts changes)",
  "times (atime, mtime, ctime, btime), blocks, block size and directory sizes: not compared (each filesystem has its own)",
  "Rgetattr's valid mask: compared within the request and P9_GETATTR_BASIC (diod echoes the request mask)",
  "Rstatfs: only the type and the name length",
  "Rreaddir: each server's own offsets are followed to the end of the directory; the entries are compared as a set of (name, type, qid)",
  "an unknown fid: EIO from diod, EBADF from fsim (as pkg/p9)",
  'the attach name: diod needs the exported directory\'s path, fsim\'s servers take "" for their root',
] as const

// ---------------------------------------------------------------------------
// Targets.

export interface Target {
  readonly name: string
  /** A new connection (or session) for one sequence. */
  open(): Promise<void>
  send(msg: Tmessage): Promise<Rmessage>
  close(): Promise<void>
  /** Tattach's aname for the root of the share. */
  readonly attachName: string
}

/** fsim's server in this process, every message through the codec both ways. */
export class CoreTarget implements Target {
  readonly name = "fsim (in process)"
  readonly attachName = ""
  readonly server = new P9Server({}, undefined, { msizeMax: 65536 })
  private session: Session | null = null
  private now = 0

  async open(): Promise<void> {
    this.session = this.server.connect("conformance")
  }

  async send(msg: Tmessage): Promise<Rmessage> {
    const req = decode(encode(1, msg)).msg as Tmessage
    this.now += 1000
    const reply = this.server.handle(this.session!, req, this.now)
    return decode(encode(1, reply)).msg as Rmessage
  }

  async close(): Promise<void> {
    this.server.disconnect(this.session!, this.now)
    this.session = null
  }

  /** The type of the file at `path` (names from the root), or null; follows no symlink. */
  typeAt(path: readonly string[]): NodeType | null {
    return inodeStep(this.server.state, { uid: 0, gid: 0, groups: [] }, 0, (fs) => {
      let ino = fs.root
      for (const n of path) {
        const r = fs.lookup(ino, n)
        if ("errno" in r) return null
        ino = r.ino
      }
      return fs.stat(ino)?.type ?? null
    }).value
  }
}

export class TcpTarget implements Target {
  private client: WireClient | null = null
  constructor(
    readonly name: string,
    private readonly host: string,
    private readonly port: number,
    readonly attachName: string,
  ) {}

  async open(): Promise<void> {
    this.client = await WireClient.open(this.host, this.port)
  }

  send(msg: Tmessage): Promise<Rmessage> {
    return this.client!.request(msg)
  }

  async close(): Promise<void> {
    this.client?.close()
    this.client = null
  }
}

// ---------------------------------------------------------------------------
// Servers to talk to.

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

async function waitListening(port: number, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with status ${child.exitCode}`)
    try {
      const c = await WireClient.open("127.0.0.1", port)
      c.close()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`${what} is not listening on port ${port}`)
}

export interface Running {
  readonly port: number
  readonly child: ChildProcess
  /** The exported directory (diod) or the scenario file (fsim serve). */
  readonly path: string
  readonly stderr: () => string
  stop(): void
}

function running(child: ChildProcess, port: number, path: string): Running {
  let err = ""
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString()
  })
  return { port, child, path, stderr: () => err, stop: () => child.kill("SIGKILL") }
}

/** diod serving a fresh temporary directory on a free loopback port, as root without authentication. */
export async function startDiod(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "fsim-diod-"))
  const port = await freePort()
  // Run from a scratch directory: diod 1.0.24 has assertions a client can
  // trip, and it raises its own core limit, so a core file lands there.
  const cwd = mkdtempSync(join(tmpdir(), "fsim-diod-cwd-"))
  const child = spawn("diod", ["-f", "-n", "-l", `127.0.0.1:${port}`, "-e", dir, "-L", "stderr"], { cwd, stdio: ["ignore", "ignore", "pipe"] })
  const r = running(child, port, dir)
  await waitListening(port, child, "diod")
  return r
}

/** `fsim serve` of an empty tree on a free loopback port. */
export async function startServe(): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "fsim-serve-"))
  const file = join(dir, "scenario.json")
  writeFileSync(file, JSON.stringify({ format: "fsim.scenario/1", name: "conformance", mount: { kind: "gofer" }, threads: [] }))
  const port = await freePort()
  const child = spawn(process.execPath, [FSIM, "serve", "--listen", `127.0.0.1:${port}`, "--tree", file, "--msize-max", "65536"], { stdio: ["ignore", "ignore", "pipe"] })
  const r = running(child, port, file)
  await waitListening(port, child, "fsim serve")
  return r
}

// ---------------------------------------------------------------------------
// Normalization.

const EIO = ERRNO_NUMBER.EIO
const EBADF = ERRNO_NUMBER.EBADF

/** qid paths as first-seen indices, per target and sequence. */
class QidNames {
  private readonly index = new Map<number, number>()
  private next = 0

  name(q: QID): unknown {
    let i = this.index.get(q.path)
    if (i === undefined) {
      i = this.next++
      this.index.set(q.path, i)
    }
    const type = q.type === QID_TYPE_DIR ? "dir" : q.type === QID_TYPE_SYMLINK ? "symlink" : "file"
    return `${type}#${i}`
  }

  /** A newly created file: its path number starts a new identity. */
  fresh(q: QID): unknown {
    this.index.delete(q.path)
    return this.name(q)
  }
}

interface Context {
  /** The request named an fid the client never had (or had clunked). */
  readonly unknownFid: boolean
  /** Tgetattr's request mask. */
  readonly attrMask?: number
}

function normalize(r: Rmessage, q: QidNames, ctx: Context): unknown {
  switch (r.type) {
    case "Rlerror":
      return { error: ctx.unknownFid && (r.error === EIO || r.error === EBADF) ? "unknown fid" : r.error }
    case "Rversion":
      return r
    case "Rattach":
    case "Rlopen":
      return { type: r.type, qid: q.name(r.qid), ...("ioUnit" in r ? { ioUnit: r.ioUnit } : {}) }
    case "Rlcreate":
    case "Rmkdir":
    case "Rsymlink":
      return { type: r.type, qid: q.fresh(r.qid), ...("ioUnit" in r ? { ioUnit: r.ioUnit } : {}) }
    case "Rwalk":
      return { type: r.type, qids: r.qids.map((x) => q.name(x)) }
    case "Rgetattr": {
      const a = r.attr
      const isDir = (a.mode & 0o170000) === 0o040000
      return {
        type: r.type,
        valid: r.valid & ATTR_BASIC & (ctx.attrMask ?? ATTR_ALL),
        qid: q.name(r.qid),
        attr: { mode: a.mode.toString(8), uid: a.uid, gid: a.gid, nlink: a.nlink, rdev: a.rdev, size: isDir ? "dir" : a.size },
      }
    }
    case "Rstatfs":
      return { type: r.type, fsType: r.fsStat.type, nameLength: r.fsStat.nameLength }
    case "Rreaddir":
      // Whole listings are compared by readdirAll.
      return { type: r.type }
    default:
      return r
  }
}

// ---------------------------------------------------------------------------
// The generator's view of a sequence.

type Kind = "dir" | "file" | "symlink" | "other"

interface FidState {
  /** Names from the sequence's own directory. */
  path: string[]
  kind: Kind
  opened: { readonly r: boolean; readonly w: boolean } | null
  /** Its path (or an ancestor's) was renamed or removed: diod's fid now names a path, fsim's the old file, so only I/O on an open fid is still comparable. */
  stale: boolean
  /** The sequence's own directory. */
  readonly base: boolean
}

const NAMES = ["a", "b", "c", "d"]
const UNKNOWN_FID = 4242

function kindOf(q: QID): Kind {
  return q.type === QID_TYPE_DIR ? "dir" : q.type === QID_TYPE_SYMLINK ? "symlink" : q.type === 0 ? "file" : "other"
}

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((n, i) => path[i] === n)
}

export interface SequenceResult {
  /** How often each kind of outcome happened ("Trename ok", "Twalk ENOENT", "Twalk partial"), for coverage checks. */
  readonly marks: ReadonlyMap<string, number>
  readonly steps: number
  /** Messages sent to one target (each target gets the same number). */
  readonly messages: number
  readonly mismatch: string | null
}

export interface SequenceOptions {
  readonly seed: number
  /** Unique per run: the sequence's directory name. */
  readonly dirName: string
  readonly steps: number
}

/**
 * Runs one generated sequence on every target in lockstep. `targets[0]` is
 * the reference: it must be the CoreTarget (the generator asks it what a
 * path names).
 */
export async function runSequence(targets: readonly Target[], opts: SequenceOptions): Promise<SequenceResult> {
  const core = targets[0]
  if (!(core instanceof CoreTarget)) throw new Error("runSequence: the first target must be fsim's in-process server")
  const rng = new Prng(deriveSeed(opts.seed, "p9 conformance"))
  const qids = targets.map(() => new QidNames())
  const fids = new Map<number, FidState>()
  const known = new Set<number>()
  let nextFid = 10
  let messages = 0
  let steps = 0
  const msize = rng.pick([8192, 16384, 65536])
  const payloadMax = msize - IOHDRSZ
  const basePath = [opts.dirName]
  const transcript: string[] = []
  const marks = new Map<string, number>()
  const mark = (m: string): void => {
    marks.set(m, (marks.get(m) ?? 0) + 1)
  }

  for (const t of targets) await t.open()
  try {
    /** Sends one message everywhere; returns the reference reply, or a mismatch. */
    const send = async (make: (t: Target) => Tmessage, fidsUsed: readonly number[]): Promise<Rmessage | string> => {
      const msg = make(core)
      const ctx: Context = { unknownFid: fidsUsed.some((f) => !known.has(f)), ...(msg.type === "Tgetattr" ? { attrMask: msg.attrMask } : {}) }
      const replies: Rmessage[] = []
      for (const t of targets) {
        try {
          replies.push(await t.send(make(t)))
        } catch (e) {
          return `step ${steps} ${JSON.stringify(msg)}: ${t.name}: ${e instanceof Error ? e.message : String(e)}\n  transcript:\n    ${transcript.slice(-25).join("\n    ")}`
        }
      }
      messages++
      const ref = replies[0]!
      const stale = fidsUsed.some((f) => fids.get(f)?.stale === true)
      mark(`${msg.type} ${ref.type === "Rlerror" ? (ctx.unknownFid ? "unknown fid" : (errnoName(ref.error) ?? ref.error)) : msg.type === "Twalk" && ref.type === "Rwalk" && ref.qids.length < msg.names.length ? "partial" : "ok"}${stale ? " (stale fid)" : ""}`)
      const norm = replies.map((r, i) => JSON.stringify(normalize(r, qids[i]!, ctx)))
      transcript.push(`${JSON.stringify(msg)} -> ${norm[0]}`)
      for (let i = 1; i < targets.length; i++) {
        if (norm[i] !== norm[0]) {
          return `step ${steps} ${JSON.stringify(msg)}: ${targets[0]!.name} ${norm[0]} but ${targets[i]!.name} ${norm[i]}\n  raw: ${JSON.stringify(replies[0])} / ${JSON.stringify(replies[i])}\n  transcript:\n    ${transcript.slice(-25).join("\n    ")}`
        }
      }
      return replies[0]!
    }

    // Setup: version, attach, the sequence's directory.
    const setup: Tmessage[] = [{ type: "Tversion", msize, version: "9P2000.L" }]
    for (const m of setup) {
      const r = await send(() => m, [])
      if (typeof r === "string") return { marks, steps, messages, mismatch: r }
    }
    // As diod's and Linux's clients do: Tauth first, and on its ENOENT an attach without an afid.
    let r = await send((t) => ({ type: "Tauth", afid: 0, uname: "", aname: t.attachName, uid: 0 }), [])
    if (typeof r === "string") return { marks, steps, messages, mismatch: r }
    r = await send((t) => ({ type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: t.attachName, uid: 0 }), [])
    if (typeof r === "string") return { marks, steps, messages, mismatch: r }
    known.add(1)
    r = await send(() => ({ type: "Tmkdir", directory: 1, name: opts.dirName, permissions: 0o755, gid: 0 }), [1])
    if (typeof r === "string") return { marks, steps, messages, mismatch: r }
    r = await send(() => ({ type: "Twalk", fid: 1, newFid: 2, names: [opts.dirName] }), [1])
    if (typeof r === "string") return { marks, steps, messages, mismatch: r }
    known.add(2)
    fids.set(2, { path: [], kind: "dir", opened: null, stale: false, base: true })

    const typeAt = (path: readonly string[]): NodeType | null => core.typeAt([...basePath, ...path])
    const pick = <T>(xs: readonly T[]): T => rng.pick(xs)
    const live = (pred: (f: FidState) => boolean): number[] => [...fids].filter(([, f]) => pred(f)).map(([n]) => n)
    const anyFid = (pred: (f: FidState) => boolean): number | null => {
      const c = live(pred)
      return c.length === 0 ? null : pick(c)
    }
    /** Mostly a fid that also passes `better` (so that the step tends to succeed), else any that passes `pred`. */
    const prefer = (pred: (f: FidState) => boolean, better: (f: FidState) => boolean): number | null =>
      (rng.chance(0.8) ? anyFid((f) => pred(f) && better(f)) : null) ?? anyFid(pred)
    const isDir = (f: FidState): boolean => f.kind === "dir"
    const fresh = (): number => nextFid++
    const bytes = (n: number): string => {
      let s = ""
      for (let i = 0; i < n; i++) s += String.fromCharCode(rng.below(256))
      return s
    }
    /** Names to walk from `path`: stops after a symlink (diod would follow it further, fsim says ENOTDIR). */
    const walkNames = (from: readonly string[]): string[] => {
      const n = rng.below(4)
      const out: string[] = []
      for (let i = 0; i < n; i++) {
        out.push(pick(NAMES))
        if (typeAt([...from, ...out]) === "symlink") break
      }
      return out
    }
    /** Marks stale every fid at `path` or below, but `except`. */
    const staleFrom = (path: readonly string[], except: number): void => {
      for (const [n, f] of fids) if (n !== except && startsWith(f.path, path)) f.stale = true
    }
    const dirArg = (f: FidState): boolean => !f.stale && f.kind !== "symlink"

    for (; steps < opts.steps; steps++) {
      const choice = rng.below(100)
      let reply: Rmessage | string
      if (choice < 18) {
        // Twalk (and clones) from a usable fid that is not a symlink.
        const from = anyFid((f) => dirArg(f))
        if (from === null) continue
        const f = fids.get(from)!
        const names = f.kind === "dir" ? walkNames(f.path) : rng.chance(0.5) ? [] : [pick(NAMES)]
        const nf = fresh()
        reply = await send(() => ({ type: "Twalk", fid: from, newFid: nf, names }), [from])
        if (typeof reply !== "string" && reply.type === "Rwalk" && reply.qids.length === names.length) {
          known.add(nf)
          const last = reply.qids[reply.qids.length - 1]
          fids.set(nf, { path: [...f.path, ...names], kind: last === undefined ? f.kind : kindOf(last), opened: null, stale: false, base: false })
        }
      } else if (choice < 26) {
        // Tlopen: not of a symlink (diod opens the target), not of a stale fid (diod opens the path).
        const n = prefer((f) => !f.stale && f.kind !== "symlink", (f) => f.opened === null)
        if (n === null) continue
        const flags = isDir(fids.get(n)!) && rng.chance(0.7) ? pick([0, DOTL.DIRECTORY]) : pick([0, 1, 2, 2, 0 | DOTL.TRUNC, 1 | DOTL.APPEND, 2 | DOTL.TRUNC, 0 | DOTL.DIRECTORY])
        reply = await send(() => ({ type: "Tlopen", fid: n, flags }), [n])
        if (typeof reply !== "string" && reply.type === "Rlopen") fids.get(n)!.opened = { r: (flags & 3) !== 1, w: (flags & 3) !== 0 }
      } else if (choice < 34) {
        // Tlcreate, always exclusive (diod honours O_EXCL's absence, fsim's creates are exclusive as pkg/p9's),
        // mostly on a fresh clone of the directory, as gVisor's gofer does (the fid becomes the new file).
        const dir = prefer(dirArg, (f) => isDir(f) && f.opened === null)
        if (dir === null) continue
        let n = dir
        if (rng.chance(0.7)) {
          const clone = fresh()
          const r = await send(() => ({ type: "Twalk", fid: dir, newFid: clone, names: [] }), [dir])
          if (typeof r === "string") return { marks, steps, messages, mismatch: r }
          if (r.type === "Rwalk") {
            known.add(clone)
            const f = fids.get(dir)!
            fids.set(clone, { path: [...f.path], kind: f.kind, opened: null, stale: false, base: false })
            n = clone
          }
        }
        const name = pick(NAMES)
        const flags = DOTL.EXCL | pick([0, 1, 2, 2 | DOTL.APPEND, 2 | DOTL.TRUNC])
        const permissions = pick([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o7777, 0])
        const gid = pick([0, 0, 1000])
        reply = await send(() => ({ type: "Tlcreate", fid: n, name, openFlags: flags, permissions, gid }), [n])
        if (typeof reply !== "string" && reply.type === "Rlcreate") {
          const f = fids.get(n)!
          fids.set(n, { path: [...f.path, name], kind: "file", opened: { r: (flags & 3) !== 1, w: (flags & 3) !== 0 }, stale: false, base: false })
        }
      } else if (choice < 44) {
        // Tread of an opened fid (stale ones too), or of an unopened one (EBADF).
        const n = prefer((f) => f.opened !== null || !f.stale, (f) => f.opened !== null)
        if (n === null) continue
        const offset = rng.below(12)
        const count = Math.min(payloadMax, rng.below(40))
        reply = await send(() => ({ type: "Tread", fid: n, offset, count }), [n])
      } else if (choice < 54) {
        const n = prefer((f) => f.opened !== null || !f.stale, (f) => f.opened !== null)
        if (n === null) continue
        const offset = rng.below(12)
        const data = bytes(rng.below(14))
        reply = await send(() => ({ type: "Twrite", fid: n, offset, data }), [n])
      } else if (choice < 60) {
        const n = prefer(dirArg, isDir)
        if (n === null) continue
        const name = pick(NAMES)
        const permissions = pick([0o755, 0o700, 0o1777, 0o2775, 0o777])
        const gid = pick([0, 1000])
        reply = await send(() => ({ type: "Tmkdir", directory: n, name, permissions, gid }), [n])
      } else if (choice < 65) {
        // Tremove (diod has no Tunlinkat): always clunks.
        const n = anyFid((f) => !f.stale && f.path.length > 0)
        if (n === null) continue
        const f = fids.get(n)!
        reply = await send(() => ({ type: "Tremove", fid: n }), [n])
        fids.delete(n)
        known.delete(n)
        if (typeof reply !== "string" && reply.type === "Rremove") staleFrom(f.path, n)
      } else if (choice < 71) {
        // Trename (diod has no Trenameat) of an unopened fid: diod 1.0.24 aborts
        // (assertion "path->ioctx == NULL", ioctx.c) renaming an open one.
        const n = anyFid((f) => !f.stale && f.path.length > 0 && f.opened === null)
        const d = prefer(dirArg, isDir)
        if (n === null || d === null) continue
        const name = pick(NAMES)
        const f = fids.get(n)!
        const to = [...fids.get(d)!.path, name]
        reply = await send(() => ({ type: "Trename", fid: n, directory: d, name }), [n, d])
        if (typeof reply !== "string" && reply.type === "Rrename") {
          staleFrom(f.path, n)
          staleFrom(to, n)
          f.path = to
        }
      } else if (choice < 79) {
        const n = anyFid((f) => !f.stale)
        if (n === null) continue
        const mask = pick([ATTR_BASIC, ATTR_ALL, 0x1])
        reply = await send(() => ({ type: "Tgetattr", fid: n, attrMask: mask }), [n])
      } else if (choice < 84) {
        // Tsetattr: a symlink only gets what diod does not follow it for (owner and times).
        const n = anyFid((f) => !f.stale)
        if (n === null) continue
        const f = fids.get(n)!
        const parts = f.kind === "symlink" ? [0x2, 0x4, 0x10, 0x20, 0x40, 0x80 | 0x10, 0x100 | 0x20] : [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80 | 0x10, 0x100 | 0x20]
        let valid = 0
        for (let k = 1 + rng.below(3); k > 0; k--) valid |= pick(parts)
        const setAttr = { permissions: pick([0o644, 0o755, 0o4755, 0o2711, 0o1777, 0o7777]), uid: pick([0, 1000]), gid: pick([0, 1000]), size: rng.below(20), atime: 1_000_000_007 * (1 + rng.below(9)), mtime: 2_000_000_011 }
        reply = await send(() => ({ type: "Tsetattr", fid: n, valid, setAttr }), [n])
      } else if (choice < 88) {
        // The whole listing of a directory, by each server's own offsets. Not of
        // a stale fid: a removed directory's getdents is ENOENT, which glibc's
        // readdir (diod's) reports as the end of the directory.
        const n = prefer((f) => !f.stale, (f) => isDir(f) && f.opened !== null)
        if (n === null) continue
        const count = pick([64, 200, 4000])
        const out = await readdirAll(targets, qids, n, count, known.has(n), transcript)
        messages += out.messages
        mark(`readdir-all ${out.outcome}`)
        reply = out.mismatch === null ? { type: "Rreaddir", entries: [] } : `step ${steps} readdir of fid ${n}: ${out.mismatch}`
      } else if (choice < 90) {
        const n = anyFid((f) => !f.stale)
        if (n === null) continue
        reply = await send(() => ({ type: "Treadlink", fid: n }), [n])
      } else if (choice < 93) {
        const n = prefer(dirArg, isDir)
        if (n === null) continue
        const name = pick(NAMES)
        const target = pick(["a", "../b", "c/d", "/nowhere", "x".repeat(1 + rng.below(40))])
        const gid = pick([0, 1000])
        reply = await send(() => ({ type: "Tsymlink", directory: n, name, target, gid }), [n])
      } else if (choice < 95) {
        const d = prefer(dirArg, isDir)
        const t = prefer((f) => !f.stale, (f) => !isDir(f))
        if (d === null || t === null) continue
        const name = pick(NAMES)
        reply = await send(() => ({ type: "Tlink", directory: d, target: t, name }), [d, t])
      } else if (choice < 98) {
        // Tclunk, now and then of a fid the client does not have.
        const n = rng.chance(0.1) ? UNKNOWN_FID : anyFid((f) => !f.base)
        if (n === null) continue
        reply = await send(() => ({ type: "Tclunk", fid: n }), [n])
        fids.delete(n)
        known.delete(n)
      } else if (choice < 99) {
        const n = anyFid((f) => f.opened !== null || !f.stale)
        if (n === null) continue
        reply = await send(() => ({ type: "Tfsync", fid: n }), [n])
      } else {
        // Not of a symlink: diod's statfs(2) of the path follows it.
        const n = anyFid((f) => !f.stale && f.kind !== "symlink")
        if (n === null) continue
        reply = await send(() => ({ type: "Tstatfs", fid: n }), [n])
      }
      if (typeof reply === "string") return { marks, steps, messages, mismatch: reply }
    }
    return { marks, steps, messages, mismatch: null }
  } finally {
    for (const t of targets) await t.close()
  }
}

/** Reads a directory to its end on every target with its own offsets; compares the entries as sets. */
async function readdirAll(targets: readonly Target[], qids: readonly QidNames[], fid: number, count: number, known: boolean, transcript: string[]): Promise<{ messages: number; outcome: string; mismatch: string | null }> {
  const listings: string[] = []
  let messages = 0
  let first = ""
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!
    const entries: string[] = []
    let offset = 0n
    let sent = 0
    let outcome: string | null = null
    for (let page = 0; page < 64; page++) {
      const r = await t.send({ type: "Treaddir", directory: fid, offset, count })
      sent++
      if (r.type === "Rlerror") {
        outcome = JSON.stringify(normalize(r, qids[i]!, { unknownFid: !known }))
        break
      }
      if (r.type !== "Rreaddir") throw new Error(`readdir: ${t.name} answered ${r.type}`)
      if (r.entries.length === 0) break
      for (const e of r.entries) entries.push(`${e.name}:${e.type}:${String(qids[i]!.name(e.qid))}`)
      offset = r.entries[r.entries.length - 1]!.offset
    }
    listings.push(outcome ?? JSON.stringify(entries.sort()))
    if (i === 0) {
      messages = sent
      first = outcome === null ? (sent > 2 ? "paged" : "ok") : "error"
    }
  }
  transcript.push(`readdir-all fid ${fid} count ${count} -> ${listings[0]}`)
  for (let i = 1; i < targets.length; i++) {
    if (listings[i] !== listings[0]) return { messages, outcome: first, mismatch: `${targets[0]!.name} ${listings[0]} but ${targets[i]!.name} ${listings[i]}\n  transcript:\n    ${transcript.slice(-25).join("\n    ")}` }
  }
  return { messages, outcome: first, mismatch: null }
}

export interface Campaign {
  readonly marks: ReadonlyMap<string, number>
  readonly sequences: number
  readonly messages: number
  readonly mismatches: readonly string[]
}

/** Runs `count` sequences from `seed` against the targets; stops collecting after a few mismatches. */
export async function runCampaign(targets: readonly Target[], count: number, seed: number, steps = 24): Promise<Campaign> {
  let messages = 0
  const mismatches: string[] = []
  let sequences = 0
  const marks = new Map<string, number>()
  for (let i = 0; i < count; i++) {
    const s = (seed + i) >>> 0
    let out: SequenceResult
    try {
      out = await runSequence(targets, { seed: s, dirName: `seq${s}`, steps })
    } catch (e) {
      out = { marks: new Map(), steps: 0, messages: 0, mismatch: `failed: ${e instanceof Error ? e.message : String(e)}` }
    }
    for (const [k, v] of out.marks) marks.set(k, (marks.get(k) ?? 0) + v)
    sequences++
    messages += out.messages
    if (out.mismatch !== null) {
      mismatches.push(`sequence seed ${s}: ${out.mismatch}`)
      if (mismatches.length >= 3) break
    }
  }
  return { marks, sequences, messages, mismatches }
}
