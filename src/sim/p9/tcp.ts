// The server over TCP, in real time: `fsim serve`. Frames are decoded with
// the codec and handled one at a time in arrival order on each connection.
// This is the one path of src/sim that runs outside a simulation: it reads
// a clock it is given (the CLI passes the wall clock) and real sockets.
//
// Bad input never crashes it: a frame whose tag is readable but whose body
// is not a request gets an Rlerror (EINVAL, or ENOSYS for a type that is not
// a request this server knows); a frame that cannot be delimited (declared
// size below a header, or above the connection's msize) closes the
// connection, since nothing after it can be trusted.

import { createServer, type AddressInfo, type Server, type Socket } from "node:net"
import { decode, encode, FrameError, FrameReader } from "./codec.js"
import type { P9Server, Session } from "./server.js"
import { isRequest, rlerror, type Rmessage } from "./wire.js"

export interface TcpServeOptions {
  readonly host: string
  /** 0 picks a free port (see the returned address). */
  readonly port: number
  /** The time (ns) a request is handled at. */
  readonly clock: () => number
  /** Told about each connection's end, with the reason when it was a protocol error. */
  readonly onClose?: (peer: string, why: string | null) => void
}

export interface TcpServing {
  readonly address: AddressInfo
  close(): Promise<void>
}

/** Starts serving `server` on host:port; resolves once listening. */
export function serveTcp(server: P9Server, options: TcpServeOptions): Promise<TcpServing> {
  const sockets = new Set<Socket>()
  const net: Server = createServer((socket) => {
    sockets.add(socket)
    serveConnection(server, socket, options, () => sockets.delete(socket))
  })
  return new Promise((resolve, reject) => {
    net.once("error", reject)
    net.listen(options.port, options.host, () => {
      net.off("error", reject)
      resolve({
        address: net.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            net.close(() => done())
          }),
      })
    })
  })
}

function serveConnection(server: P9Server, socket: Socket, options: TcpServeOptions, gone: () => void): void {
  const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`
  const session = server.connect(`tcp ${peer}`)
  const reader = new FrameReader(session.msize)
  let why: string | null = null
  let closed = false
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
  socket.on("data", (chunk: Buffer) => {
    if (closed) return
    reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    try {
      for (let frame = reader.next(); frame !== null; frame = reader.next()) {
        socket.write(answer(server, session, frame, options.clock))
        reader.maxSize = session.msize
      }
    } catch (e) {
      // A frame that cannot be delimited, or (a bug) a request that threw:
      // either way this connection cannot go on, and the others must.
      why = e instanceof FrameError ? e.message : `internal error: ${e instanceof Error ? e.message : String(e)}`
      socket.destroy()
    }
  })
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
