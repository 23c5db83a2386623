// The 9P2000.L wire format: size[4] type[1] tag[2] then the message's
// fields, little endian; strings are s[2] length then the bytes. Each
// message is a list of typed fields (FIELDS below), read and written by one
// interpreter, so a message's layout is written once for both directions.
// Layouts are those of pkg/p9 messages.go (and Linux's net/9p for 9P2000.L).
//
// Decoding is strict: a frame must hold exactly its message (the one
// exception: Tfsync may carry Linux's later datasync[4]). A frame that is
// not a message throws FrameError, which says whether the frame's tag could
// be read (then the peer gets an Rlerror) or not (then the stream is
// unusable and the connection is closed).

import { Buffer } from "node:buffer"
import type { Attr, FSStat, QID, SetAttr } from "./api.js"
import { HEADER_SIZE, MSG, MSG_NAME, QID_SIZE, type Message, type MsgName, type WireDirent } from "./wire.js"

const NS = 1_000_000_000
const NOT_A_BYTE = /[^\x00-\xff]/
const TWO_32 = 4294967296

/** Why a frame could not be decoded. */
export type FrameProblem = "short" | "oversized" | "unknown type" | "malformed"

export class FrameError extends Error {
  constructor(
    readonly problem: FrameProblem,
    message: string,
    /** The frame's tag when its header was readable: the peer can be answered. */
    readonly tag: number | null = null,
  ) {
    super(message)
  }
}

export type FieldKind =
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  /** A u64 kept exact, as a bigint (readdir cookies). */
  | "cookie"
  | "str"
  | "strs"
  | "qid"
  | "qids"
  | "attr"
  | "setattr"
  | "fsstat"
  /** count[4] then that many bytes, as a string (Rread, Twrite's payload). */
  | "data"
  /** count[4] then packed dirents (Rreaddir). */
  | "dirents"

type Fields = readonly (readonly [string, FieldKind])[]

const FID: readonly [string, FieldKind] = ["fid", "u32"]
const QIDF: readonly [string, FieldKind] = ["qid", "qid"]
const OPENED: Fields = [QIDF, ["ioUnit", "u32"]]

/** Every message's fields after size, type and tag (exported for tests that build messages of every type). */
export const FIELDS: Readonly<Record<MsgName, Fields>> = {
  Tlerror: [],
  Rlerror: [["error", "u32"]],
  Tstatfs: [FID],
  Rstatfs: [["fsStat", "fsstat"]],
  Tlopen: [FID, ["flags", "u32"]],
  Rlopen: OPENED,
  Tlcreate: [FID, ["name", "str"], ["openFlags", "u32"], ["permissions", "u32"], ["gid", "u32"]],
  Rlcreate: OPENED,
  Tsymlink: [["directory", "u32"], ["name", "str"], ["target", "str"], ["gid", "u32"]],
  Rsymlink: [QIDF],
  Tmknod: [["directory", "u32"], ["name", "str"], ["mode", "u32"], ["major", "u32"], ["minor", "u32"], ["gid", "u32"]],
  Rmknod: [QIDF],
  Trename: [FID, ["directory", "u32"], ["name", "str"]],
  Rrename: [],
  Treadlink: [FID],
  Rreadlink: [["target", "str"]],
  Tgetattr: [FID, ["attrMask", "u64"]],
  Rgetattr: [["valid", "u64"], QIDF, ["attr", "attr"]],
  Tsetattr: [FID, ["valid", "u32"], ["setAttr", "setattr"]],
  Rsetattr: [],
  Txattrwalk: [FID, ["newFid", "u32"], ["name", "str"]],
  Rxattrwalk: [["size", "u64"]],
  Txattrcreate: [FID, ["name", "str"], ["attrSize", "u64"], ["flags", "u32"]],
  Rxattrcreate: [],
  Tgetxattr: [FID, ["name", "str"], ["size", "u64"]],
  Rgetxattr: [["value", "str"]],
  Tsetxattr: [FID, ["name", "str"], ["value", "str"], ["flags", "u32"]],
  Rsetxattr: [],
  Tlistxattr: [FID, ["size", "u64"]],
  Rlistxattr: [["xattrs", "strs"]],
  Treaddir: [["directory", "u32"], ["offset", "cookie"], ["count", "u32"]],
  Rreaddir: [["entries", "dirents"]],
  Tremovexattr: [FID, ["name", "str"]],
  Rremovexattr: [],
  Tfsync: [FID],
  Rfsync: [],
  Tlink: [["directory", "u32"], ["target", "u32"], ["name", "str"]],
  Rlink: [],
  Tmkdir: [["directory", "u32"], ["name", "str"], ["permissions", "u32"], ["gid", "u32"]],
  Rmkdir: [QIDF],
  Trenameat: [["oldDirectory", "u32"], ["oldName", "str"], ["newDirectory", "u32"], ["newName", "str"]],
  Rrenameat: [],
  Tunlinkat: [["directory", "u32"], ["name", "str"], ["flags", "u32"]],
  Runlinkat: [],
  Tversion: [["msize", "u32"], ["version", "str"]],
  Rversion: [["msize", "u32"], ["version", "str"]],
  Tauth: [["afid", "u32"], ["uname", "str"], ["aname", "str"], ["uid", "u32"]],
  Rauth: [QIDF],
  Tattach: [FID, ["afid", "u32"], ["uname", "str"], ["aname", "str"], ["uid", "u32"]],
  Rattach: [QIDF],
  Tflush: [["oldTag", "u16"]],
  Rflush: [],
  Twalk: [FID, ["newFid", "u32"], ["names", "strs"]],
  Rwalk: [["qids", "qids"]],
  Tread: [FID, ["offset", "u64"], ["count", "u32"]],
  Rread: [["data", "data"]],
  Twrite: [FID, ["offset", "u64"], ["data", "data"]],
  Rwrite: [["count", "u32"]],
  Tclunk: [FID],
  Rclunk: [],
  Tremove: [FID],
  Rremove: [],
  Tflushf: [FID],
  Rflushf: [],
  Twalkgetattr: [FID, ["newFid", "u32"], ["names", "strs"]],
  Rwalkgetattr: [["valid", "u64"], ["attr", "attr"], ["qids", "qids"]],
  Tucreate: [FID, ["name", "str"], ["openFlags", "u32"], ["permissions", "u32"], ["gid", "u32"], ["uid", "u32"]],
  Rucreate: OPENED,
  Tumkdir: [["directory", "u32"], ["name", "str"], ["permissions", "u32"], ["gid", "u32"], ["uid", "u32"]],
  Rumkdir: [QIDF],
  Tumknod: [["directory", "u32"], ["name", "str"], ["mode", "u32"], ["major", "u32"], ["minor", "u32"], ["gid", "u32"], ["uid", "u32"]],
  Rumknod: [QIDF],
  Tusymlink: [["directory", "u32"], ["name", "str"], ["target", "str"], ["gid", "u32"], ["uid", "u32"]],
  Rusymlink: [QIDF],
  Tlconnect: [FID, ["flags", "u32"]],
  Rlconnect: [],
  Tallocate: [FID, ["mode", "u32"], ["offset", "u64"], ["length", "u64"]],
  Rallocate: [],
  Tchannel: [["id", "u32"], ["control", "u32"]],
  Rchannel: [["offset", "u64"], ["length", "u64"]],
}

/** Bytes a dirent takes in an Rreaddir: qid, offset[8], type[1], name[s]. */
export function direntSize(name: string): number {
  return QID_SIZE + 8 + 1 + 2 + name.length
}

// ---------------------------------------------------------------------------
// Writing.

class Writer {
  buf = new Uint8Array(256)
  view = new DataView(this.buf.buffer)
  pos = 0

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8(v: number): void {
    this.room(1)
    this.view.setUint8(this.pos, v)
    this.pos += 1
  }
  u16(v: number): void {
    this.room(2)
    this.view.setUint16(this.pos, v, true)
    this.pos += 2
  }
  u32(v: number): void {
    this.room(4)
    this.view.setUint32(this.pos, v >>> 0, true)
    this.pos += 4
  }
  u64(v: number): void {
    if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`9p codec: a u64 field must be a non-negative integer, got ${v}`)
    this.room(8)
    this.view.setUint32(this.pos, v % TWO_32, true)
    this.view.setUint32(this.pos + 4, Math.floor(v / TWO_32), true)
    this.pos += 8
  }
  cookie(v: bigint): void {
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`9p codec: a u64 cookie must be in [0, 2^64), got ${v}`)
    this.room(8)
    this.view.setBigUint64(this.pos, v, true)
    this.pos += 8
  }
  /** One byte per code unit (Latin-1); Buffer's latin1 writer would silently keep the low byte of a wider unit, hence the check. */
  bytes(s: string): void {
    if (NOT_A_BYTE.test(s)) throw new RangeError(`9p codec: strings are bytes (code units 0-255), got U+${s.charCodeAt(s.search(NOT_A_BYTE)).toString(16)}`)
    this.room(s.length)
    Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).write(s, this.pos, s.length, "latin1")
    this.pos += s.length
  }
  str(s: string): void {
    if (s.length > 0xffff) throw new RangeError(`9p codec: a string is at most 65535 bytes, got ${s.length}`)
    this.u16(s.length)
    this.bytes(s)
  }
  time(ns: number): void {
    const sec = Math.floor(ns / NS)
    this.u64(sec)
    this.u64(ns - sec * NS)
  }
  qid(q: QID): void {
    this.u8(q.type)
    this.u32(q.version)
    this.u64(q.path)
  }
  attr(a: Attr): void {
    this.u32(a.mode)
    this.u32(a.uid)
    this.u32(a.gid)
    this.u64(a.nlink)
    this.u64(a.rdev)
    this.u64(a.size)
    this.u64(a.blockSize)
    this.u64(a.blocks)
    this.time(a.atime)
    this.time(a.mtime)
    this.time(a.ctime)
    this.time(a.btime)
    this.u64(a.gen)
    this.u64(a.dataVersion)
  }
  setAttr(s: SetAttr): void {
    this.u32(s.permissions)
    this.u32(s.uid)
    this.u32(s.gid)
    this.u64(s.size)
    this.time(s.atime)
    this.time(s.mtime)
  }
  fsStat(f: FSStat): void {
    this.u32(f.type)
    this.u32(f.blockSize)
    this.u64(f.blocks)
    this.u64(f.blocksFree)
    this.u64(f.blocksAvailable)
    this.u64(f.files)
    this.u64(f.filesFree)
    this.u64(f.fsid)
    this.u32(f.nameLength)
  }
}

function writeField(w: Writer, kind: FieldKind, v: unknown): void {
  switch (kind) {
    case "u8":
      return w.u8(v as number)
    case "u16":
      return w.u16(v as number)
    case "u32":
      return w.u32(v as number)
    case "u64":
      return w.u64(v as number)
    case "cookie":
      return w.cookie(v as bigint)
    case "str":
      return w.str(v as string)
    case "strs": {
      const a = v as readonly string[]
      w.u16(a.length)
      for (const s of a) w.str(s)
      return
    }
    case "qid":
      return w.qid(v as QID)
    case "qids": {
      const a = v as readonly QID[]
      w.u16(a.length)
      for (const q of a) w.qid(q)
      return
    }
    case "attr":
      return w.attr(v as Attr)
    case "setattr":
      return w.setAttr(v as SetAttr)
    case "fsstat":
      return w.fsStat(v as FSStat)
    case "data": {
      const s = v as string
      w.u32(s.length)
      w.bytes(s)
      return
    }
    case "dirents": {
      const at = w.pos
      w.u32(0)
      for (const d of v as readonly WireDirent[]) {
        w.qid(d.qid)
        w.cookie(d.offset)
        w.u8(d.type)
        w.str(d.name)
      }
      w.view.setUint32(at, w.pos - at - 4, true)
      return
    }
  }
}

/** The frame of `msg` with `tag`. Throws RangeError for a value the format cannot carry. */
export function encode(tag: number, msg: Message): Uint8Array {
  const w = new Writer()
  w.u32(0)
  w.u8(MSG[msg.type])
  w.u16(tag)
  const rec = msg as unknown as Record<string, unknown>
  for (const [name, kind] of FIELDS[msg.type]) writeField(w, kind, rec[name])
  w.view.setUint32(0, w.pos, true)
  return w.buf.slice(0, w.pos)
}

// ---------------------------------------------------------------------------
// Reading.

class Reader {
  private readonly view: DataView
  pos: number
  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly tag: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = start
  }

  fail(message: string): never {
    throw new FrameError("malformed", `9p: ${message}`, this.tag)
  }
  private need(n: number, what: string): void {
    if (this.pos + n > this.end) this.fail(`message ends inside ${what}`)
  }
  get left(): number {
    return this.end - this.pos
  }
  u8(): number {
    this.need(1, "a u8")
    return this.view.getUint8(this.pos++)
  }
  u16(): number {
    this.need(2, "a u16")
    const v = this.view.getUint16(this.pos, true)
    this.pos += 2
    return v
  }
  u32(): number {
    this.need(4, "a u32")
    const v = this.view.getUint32(this.pos, true)
    this.pos += 4
    return v
  }
  u64(): number {
    this.need(8, "a u64")
    const lo = this.view.getUint32(this.pos, true)
    const hi = this.view.getUint32(this.pos + 4, true)
    this.pos += 8
    return hi * TWO_32 + lo
  }
  cookie(): bigint {
    this.need(8, "a u64")
    const v = this.view.getBigUint64(this.pos, true)
    this.pos += 8
    return v
  }
  bytes(n: number, what: string): string {
    this.need(n, what)
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength).toString("latin1", this.pos, this.pos + n)
    this.pos += n
    return s
  }
  str(): string {
    const n = this.u16()
    if (n > this.left) this.fail(`a string of ${n} bytes overruns the message (${this.left} left)`)
    return this.bytes(n, "a string")
  }
  time(): number {
    const sec = this.u64()
    return sec * NS + this.u64()
  }
  qid(): QID {
    return { type: this.u8(), version: this.u32(), path: this.u64() }
  }
  attr(): Attr {
    return {
      mode: this.u32(),
      uid: this.u32(),
      gid: this.u32(),
      nlink: this.u64(),
      rdev: this.u64(),
      size: this.u64(),
      blockSize: this.u64(),
      blocks: this.u64(),
      atime: this.time(),
      mtime: this.time(),
      ctime: this.time(),
      btime: this.time(),
      gen: this.u64(),
      dataVersion: this.u64(),
    }
  }
  setAttr(): SetAttr {
    return { permissions: this.u32(), uid: this.u32(), gid: this.u32(), size: this.u64(), atime: this.time(), mtime: this.time() }
  }
  fsStat(): FSStat {
    return {
      type: this.u32(),
      blockSize: this.u32(),
      blocks: this.u64(),
      blocksFree: this.u64(),
      blocksAvailable: this.u64(),
      files: this.u64(),
      filesFree: this.u64(),
      fsid: this.u64(),
      nameLength: this.u32(),
    }
  }
}

function readField(r: Reader, kind: FieldKind): unknown {
  switch (kind) {
    case "u8":
      return r.u8()
    case "u16":
      return r.u16()
    case "u32":
      return r.u32()
    case "u64":
      return r.u64()
    case "cookie":
      return r.cookie()
    case "str":
      return r.str()
    case "strs": {
      const n = r.u16()
      const out: string[] = []
      for (let i = 0; i < n; i++) out.push(r.str())
      return out
    }
    case "qid":
      return r.qid()
    case "qids": {
      const n = r.u16()
      const out: QID[] = []
      for (let i = 0; i < n; i++) out.push(r.qid())
      return out
    }
    case "attr":
      return r.attr()
    case "setattr":
      return r.setAttr()
    case "fsstat":
      return r.fsStat()
    case "data":
      return r.bytes(r.u32(), "the data")
    case "dirents": {
      const n = r.u32()
      const end = r.pos + n
      if (n > r.left) r.fail(`${n} bytes of dirents overrun the message`)
      const out: WireDirent[] = []
      while (r.pos < end) out.push({ qid: r.qid(), offset: r.cookie(), type: r.u8(), name: r.str() })
      if (r.pos !== end) r.fail("a dirent overruns the Rreaddir's count")
      return out
    }
  }
}

/** The size a frame declares (its first four bytes), or null if fewer than four are there. */
export function frameSize(buf: Uint8Array, at = 0): number | null {
  if (buf.length - at < 4) return null
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0
}

/** Decodes one whole frame. Throws FrameError for anything that is not exactly one message. */
export function decode(frame: Uint8Array): { readonly tag: number; readonly msg: Message } {
  if (frame.length < HEADER_SIZE) throw new FrameError("short", `9p: a frame of ${frame.length} bytes is shorter than a header (${HEADER_SIZE})`)
  const size = frameSize(frame)!
  if (size !== frame.length) throw new FrameError("malformed", `9p: the frame declares ${size} bytes but holds ${frame.length}`)
  const typeNumber = frame[4]!
  const tag = frame[5]! | (frame[6]! << 8)
  const type = MSG_NAME.get(typeNumber)
  if (type === undefined) throw new FrameError("unknown type", `9p: unknown message type ${typeNumber}`, tag)
  const r = new Reader(frame, HEADER_SIZE, frame.length, tag)
  const msg: Record<string, unknown> = { type }
  for (const [name, kind] of FIELDS[type]) msg[name] = readField(r, kind)
  // Linux's Tfsync carries datasync[4], pkg/p9's does not: take either.
  const extra = type === "Tfsync" && r.left === 4 ? 4 : 0
  if (r.left !== extra) throw new FrameError("malformed", `9p: ${r.left} bytes after the end of ${type}`, tag)
  return { tag, msg: msg as unknown as Message }
}

/**
 * Splits a byte stream into frames: `push` what arrived, then take frames
 * with `next` until it returns null. A frame declaring fewer than a
 * header's bytes or more than `maxSize` makes the stream unusable
 * (FrameError): the caller closes the connection.
 */
export class FrameReader {
  private chunks: Uint8Array[] = []
  private buffered = 0
  constructor(public maxSize: number) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  next(): Uint8Array | null {
    if (this.buffered < 4) return null
    const head = this.peek(4)
    const size = frameSize(head)!
    if (size < HEADER_SIZE) throw new FrameError("short", `9p: a frame declares ${size} bytes, less than a header`)
    if (size > this.maxSize) throw new FrameError("oversized", `9p: a frame of ${size} bytes exceeds msize ${this.maxSize}`)
    if (this.buffered < size) return null
    return this.take(size)
  }

  private peek(n: number): Uint8Array {
    const all = this.chunks.length === 1 ? this.chunks[0]! : this.join()
    return all.subarray(0, n)
  }

  private join(): Uint8Array {
    const out = new Uint8Array(this.buffered)
    let at = 0
    for (const c of this.chunks) {
      out.set(c, at)
      at += c.length
    }
    this.chunks = [out]
    return out
  }

  private take(n: number): Uint8Array {
    const all = this.chunks.length === 1 ? this.chunks[0]! : this.join()
    const frame = all.slice(0, n)
    const rest = all.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.buffered -= n
    return frame
  }
}
