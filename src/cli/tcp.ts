// The server over TCP, in real time: `fsim serve`. Frames are decoded with
// the codec and handled one at a time in arrival order on each connection.
// It runs outside any simulation (real sockets, a clock it is given, idle
// timers), so it lives with the CLI, not in src/sim, whose code only ever
// runs under the simulated scheduler and clock.
//
// Bad input never crashes it: a frame whose tag is readable but whose body
// is not a request gets an Rlerror (EINVAL, or ENOSYS for a type that is not
// a request this server knows); a frame that cannot be delimited (declared
// size below a header, or above the connection's msize) closes the
// connection, since nothing after it can be trusted.
//
// Nor can one client starve the process or the others: a connection whose
// replies pile up unsent (a client that pipelines reads and never reads the
// replies) is not read from until they drain, so the server holds at most
// about `maxUnsent` plus one reply per connection; connections beyond
// `maxConnections` are closed as they arrive, and a connection with no
// traffic either way for `idleTimeoutMs` is closed.

import { createServer, type AddressInfo, type Server, type Socket } from "node:net"
import { decode, encode, FrameError, FrameReader } from "../sim/p9/codec.js"
import type { P9Server, Session } from "../sim/p9/server.js"
import { isRequest, rlerror, type Rmessage } from "../sim/p9/wire.js"

/** Unsent reply bytes past which a connection is no longer read (a few replies at the largest msize). */
export const DEFAULT_MAX_UNSENT = 4 << 20
export const DEFAULT_MAX_CONNECTIONS = 256
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000

export interface TcpServeOptions {
  readonly host: string
  /** 0 picks a free port (see the returned address). */
  readonly port: number
  /** The time (ns) a request is handled at. */
  readonly clock: () => number
  /** Connections served at once; one more is closed on arrival. */
  readonly maxConnections?: number
  /** A connection with no bytes in either direction for this long is closed; 0: never. */
  readonly idleTimeoutMs?: number
  /** See DEFAULT_MAX_UNSENT. */
  readonly maxUnsent?: number
  /** Told about each connection's end, with the reason when it was not the client's doing. */
  readonly onClose?: (peer: string, why: string | null) => void
  /** Told when a connection is refused at the cap: `first` for the first of a run of refusals. */
  readonly onRefuse?: (peer: string, first: boolean) => void
  /** Told when connections are accepted again after `refused` were turned away at the cap. */
  readonly onBelowCap?: (refused: number) => void
}

/** What a serving has seen so far. */
export interface TcpStats {
  /** Connections that arrived, refused ones included. */
  readonly connections: number
  readonly refused: number
  readonly idleClosed: number
  /** The most connections served at once. */
  readonly peak: number
  /** Times a connection stopped being read because its replies were not being taken. */
  readonly throttled: number
}

export interface TcpServing {
  readonly address: AddressInfo
  stats(): TcpStats
  close(): Promise<void>
}

/** Starts serving `server` on host:port; resolves once listening. */
export function serveTcp(server: P9Server, options: TcpServeOptions): Promise<TcpServing> {
  const sockets = new Set<Socket>()
  const cap = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  const stats = { connections: 0, refused: 0, idleClosed: 0, peak: 0, throttled: 0 }
  // Refusals since the server was last below its cap: reported once when the
  // run starts and once when it ends, not once per connection.
  let refusedRun = 0
  const net: Server = createServer((socket) => {
    stats.connections++
    if (sockets.size >= cap) {
      stats.refused++
      options.onRefuse?.(peerOf(socket), refusedRun++ === 0)
      socket.destroy()
      return
    }
    if (refusedRun > 0) {
      options.onBelowCap?.(refusedRun)
      refusedRun = 0
    }
    sockets.add(socket)
    stats.peak = Math.max(stats.peak, sockets.size)
    serveConnection(server, socket, options, stats, () => sockets.delete(socket))
  })
  return new Promise((resolve, reject) => {
    net.once("error", reject)
    net.listen(options.port, options.host, () => {
      net.off("error", reject)
      resolve({
        address: net.address() as AddressInfo,
        stats: () => ({ ...stats }),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            net.close(() => done())
          }),
      })
    })
  })
}

function peerOf(socket: Socket): string {
  const host = socket.remoteAddress ?? "?"
  return `${host.includes(":") ? `[${host}]` : host}:${socket.remotePort ?? "?"}`
}

function serveConnection(server: P9Server, socket: Socket, options: TcpServeOptions, stats: { idleClosed: number; throttled: number }, gone: () => void): void {
  const peer = peerOf(socket)
  const session = server.connect(`tcp ${peer}`)
  const reader = new FrameReader(session.msize)
  const maxUnsent = options.maxUnsent ?? DEFAULT_MAX_UNSENT
  let why: string | null = null
  let closed = false
  let paused = false
  const end = (): void => {
    if (closed) return
    closed = true
    server.disconnect(session, options.clock())
    gone()
    options.onClose?.(peer, why)
  }
  socket.on("close", end)
  socket.on("error", (e) => {
    why ??= e.message
    end()
  })
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  if (idle > 0) {
    socket.setTimeout(idle, () => {
      why ??= `idle for ${idle / 1000}s`
      stats.idleClosed++
      socket.destroy()
    })
  }
  // Answers buffered frames until none is left or the replies not yet taken
  // by the client pass the bound; then reading waits for 'drain'. Checked
  // before each frame, not each chunk: one chunk can hold thousands of
  // small requests whose replies are large.
  const pump = (): void => {
    try {
      while (!closed) {
        if (socket.writableLength > maxUnsent) {
          if (!paused) {
            paused = true
            stats.throttled++
            socket.pause()
          }
          return
        }
        const frame = reader.next()
        if (frame === null) break
        socket.write(answer(server, session, frame, options.clock))
        reader.maxSize = session.msize
      }
      if (paused) {
        paused = false
        socket.resume()
      }
    } catch (e) {
      // A frame that cannot be delimited, or (a bug) a request that threw:
      // either way this connection cannot go on, and the others must.
      why = e instanceof FrameError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`
      socket.destroy()
    }
  }
  socket.on("data", (chunk: Buffer) => {
    if (closed) return
    reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    pump()
  })
  socket.on("drain", pump)
}

/** The reply frame to one request frame; throws FrameError when the connection must close. */
function answer(server: P9Server, session: Session, frame: Uint8Array, clock: () => number): Uint8Array {
  let tag: number
  let reply: Rmessage
  try {
    const d = decode(frame)
    tag = d.tag
    reply = isRequest(d.msg) ? server.handle(session, d.msg, clock()) : rlerror("ENOSYS")
  } catch (e) {
    if (!(e instanceof FrameError) || e.tag === null) throw e
    tag = e.tag
    reply = rlerror(e.problem === "unknown type" ? "ENOSYS" : "EINVAL")
  }
  return encode(tag, reply)
}
