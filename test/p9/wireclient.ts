// A plain 9P client over TCP with fsim's codec, in real time: what the
// conformance driver and the fuzz test use to talk to diod and `fsim serve`.

import { connect, type Socket } from "node:net"
import { decode, FrameReader } from "../../src/sim/p9/codec.js"
import type { Rmessage, Tmessage } from "../../src/sim/p9/wire.js"
import { encode } from "../../src/sim/p9/codec.js"

export class WireClient {
  private readonly reader = new FrameReader(1 << 24)
  private readonly waiting = new Map<number, (r: Rmessage) => void>()
  private nextTag = 1
  /** Set once the peer closed the connection (or an error ended it). */
  closed = false
  private closedWaiters: (() => void)[] = []

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) {
        const { tag, msg } = decode(f)
        const w = this.waiting.get(tag)
        if (w === undefined) throw new Error(`wire client: a reply with tag ${tag} nobody waits for`)
        this.waiting.delete(tag)
        w(msg as Rmessage)
      }
    })
    const end = (): void => {
      this.closed = true
      for (const w of this.closedWaiters) w()
      this.closedWaiters = []
    }
    socket.on("close", end)
    socket.on("error", end)
  }

  static open(host: string, port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(new WireClient(s)))
      s.once("error", reject)
    })
  }

  /** Sends `msg` and waits for its reply; rejects if the connection closes first. */
  request(msg: Tmessage): Promise<Rmessage> {
    const tag = this.nextTag
    this.nextTag = (this.nextTag % 0xfffe) + 1
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("wire client: connection closed"))
      this.waiting.set(tag, resolve)
      this.closedWaiters.push(() => {
        if (this.waiting.delete(tag)) reject(new Error("wire client: connection closed"))
      })
      this.socket.write(encode(tag, msg))
    })
  }

  /** Writes bytes as they are (for malformed frames). */
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  /** Resolves once the connection is closed, or after `ms` with false. */
  waitClosed(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.closedWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Raw reply frames for a raw request: collects whatever replies come (any tag) within `ms`. */
  collectRaw(ms: number): Promise<Rmessage[]> {
    const got: Rmessage[] = []
    const onAny = (tag: number, r: Rmessage): void => {
      got.push(r)
      void tag
    }
    for (let t = 0; t <= 0xffff; t++) if (!this.waiting.has(t)) this.waiting.set(t, (r) => onAny(t, r))
    return new Promise((resolve) => {
      setTimeout(() => {
        for (let t = 0; t <= 0xffff; t++) this.waiting.delete(t)
        resolve(got)
      }, ms)
    })
  }

  close(): void {
    this.socket.destroy()
  }
}
