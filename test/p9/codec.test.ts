// The 9P2000.L codec: every message type round-trips; known frames decode
// as Linux and pkg/p9 lay them out; and random bytes, to the codec or to a
// running `fsim serve`, get an error reply or a closed connection, never a
// crash.

import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import { decode, encode, FIELDS, FrameError, FrameReader, type FieldKind } from "../../src/sim/p9/codec.js"
import { MSG, type Message, type MsgName, type Rmessage } from "../../src/sim/p9/wire.js"
import { FSIM } from "../cli/helpers.js"
import { freePort } from "./conformance.js"
import { WireClient } from "./wireclient.js"

const latin1 = (max: number): fc.Arbitrary<string> => fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: max }).map((a) => String.fromCharCode(...a))
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const u64 = fc.maxSafeNat()
const ns = fc.maxSafeNat()
const qid = fc.record({ type: fc.integer({ min: 0, max: 255 }), version: u32, path: u64 })

const KIND: Record<FieldKind, fc.Arbitrary<unknown>> = {
  u8: fc.integer({ min: 0, max: 255 }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  u32,
  u64,
  cookie: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  str: latin1(40),
  strs: fc.array(latin1(12), { maxLength: 5 }),
  qid,
  qids: fc.array(qid, { maxLength: 5 }),
  attr: fc.record({
    mode: u32, uid: u32, gid: u32, nlink: u64, rdev: u64, size: u64, blockSize: u64, blocks: u64,
    atime: ns, mtime: ns, ctime: ns, btime: ns, gen: u64, dataVersion: u64,
  }),
  setattr: fc.record({ permissions: u32, uid: u32, gid: u32, size: u64, atime: ns, mtime: ns }),
  fsstat: fc.record({ type: u32, blockSize: u32, blocks: u64, blocksFree: u64, blocksAvailable: u64, files: u64, filesFree: u64, fsid: u64, nameLength: u32 }),
  data: latin1(200),
  dirents: fc.array(fc.record({ qid, offset: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), type: fc.integer({ min: 0, max: 255 }), name: latin1(16) }), { maxLength: 4 }),
}

/** Any message of any type, fields drawn by kind. */
const anyMessage: fc.Arbitrary<Message> = fc.constantFrom(...(Object.keys(FIELDS) as MsgName[])).chain((type) => {
  const rec: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [name, kind] of FIELDS[type]) rec[name] = KIND[kind]
  return fc.record(rec).map((fields) => ({ type, ...fields }) as unknown as Message)
})

describe("codec", () => {
  test("every message type round-trips through encode and decode", () => {
    fc.assert(
      fc.property(anyMessage, fc.integer({ min: 0, max: 0xffff }), (msg, tag) => {
        const frame = encode(tag, msg)
        expect(frame.length).toBe(new DataView(frame.buffer).getUint32(0, true))
        expect(decode(frame)).toEqual({ tag, msg })
      }),
      { numRuns: 3000 },
    )
  })

  test("frames laid out as 9P2000.L says", () => {
    // size[4] Twalk tag[2] fid[4] newfid[4] nwname[2] wname[s]...
    const walk = encode(1, { type: "Twalk", fid: 2, newFid: 3, names: ["ab"] })
    expect([...walk]).toEqual([21, 0, 0, 0, MSG.Twalk, 1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 0x61, 0x62])
    // Rlerror ecode[4].
    expect([...encode(0xffff, { type: "Rlerror", error: 2 })]).toEqual([11, 0, 0, 0, MSG.Rlerror, 0xff, 0xff, 2, 0, 0, 0])
    // Linux's Tfsync carries datasync[4]; pkg/p9's does not: both decode.
    const fsync = [...encode(5, { type: "Tfsync", fid: 9 })]
    const linux = [15, ...fsync.slice(1, 11), 1, 0, 0, 0]
    expect(decode(Uint8Array.from(linux)).msg).toEqual({ type: "Tfsync", fid: 9 })
    // Strings are bytes (UTF-8 text is made bytes before the codec: utf8.ts).
    expect(() => encode(1, { type: "Treadlink", fid: 1 } as Message)).not.toThrow()
    expect(() => encode(1, { type: "Rreadlink", target: "\u0100" })).toThrow(RangeError)
  })

  test("malformed frames: short, oversized, unknown type, bad string length, trailing bytes", () => {
    const problem = (bytes: number[]): string => {
      try {
        decode(Uint8Array.from(bytes))
        return "decoded"
      } catch (e) {
        expect(e).toBeInstanceOf(FrameError)
        const f = e as FrameError
        return `${f.problem} tag ${f.tag}`
      }
    }
    expect(problem([5, 0, 0])).toBe("short tag null")
    expect(problem([7, 0, 0, 0, 99, 4, 0])).toBe("unknown type tag 4")
    // Treadlink declaring a string of 200 bytes in a 13-byte frame.
    expect(problem([13, 0, 0, 0, MSG.Twalk, 7, 0, 1, 0, 0, 0, 200, 0])).toBe("malformed tag 7")
    expect(problem([14, 0, 0, 0, MSG.Tclunk, 7, 0, 1, 0, 0, 0, 0, 0, 0])).toBe("malformed tag 7")
    expect(problem([8, 0, 0, 0, MSG.Tclunk, 7, 0, 1])).toBe("malformed tag 7")
    const r = new FrameReader(64)
    r.push(Uint8Array.from([100, 0, 0, 0]))
    expect(() => r.next()).toThrow(/exceeds msize 64/)
    const s = new FrameReader(64)
    s.push(Uint8Array.from([3, 0, 0, 0]))
    expect(() => s.next()).toThrow(/less than a header/)
  })

  test("random bytes: decode returns a message or throws FrameError, nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, sized) => {
        // Half the time with a truthful size, so that bodies get parsed.
        const b = Uint8Array.from(bytes)
        if (sized && b.length >= 4) new DataView(b.buffer).setUint32(0, b.length, true)
        if (sized && b.length >= 5) b[4] = Object.values(MSG)[b[4]! % Object.values(MSG).length]!
        try {
          decode(b)
        } catch (e) {
          if (!(e instanceof FrameError)) throw e
        }
        const reader = new FrameReader(1 << 16)
        reader.push(b)
        try {
          while (reader.next() !== null);
        } catch (e) {
          if (!(e instanceof FrameError)) throw e
        }
      }),
      { numRuns: 20_000 },
    )
  })
})

/** Sends `bytes`, half-closes, and collects every reply frame until the server closes. */
function exchange(port: number, bytes: Uint8Array): Promise<{ replies: Rmessage[]; garbage: string | null }> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(1 << 24)
    const replies: Rmessage[] = []
    let garbage: string | null = null
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.end(bytes)
    })
    s.on("data", (chunk: Buffer) => {
      reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
      try {
        for (let f = reader.next(); f !== null; f = reader.next()) replies.push(decode(f).msg as Rmessage)
      } catch (e) {
        garbage = String(e)
      }
    })
    s.on("error", reject)
    s.on("close", () => resolve({ replies, garbage }))
  })
}

describe("fsim serve against random bytes", () => {
  let port = 0
  let child: ReturnType<typeof spawn>
  let stderr = ""
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "fsim-fuzz-"))
    const file = join(dir, "s.json")
    writeFileSync(file, JSON.stringify({ format: "fsim.scenario/1", name: "fuzz", mount: { kind: "gofer" }, threads: [], remote: { a: { type: "file", data: "hello" }, d: { type: "dir" } } }))
    port = await freePort()
    child = spawn(process.execPath, [FSIM, "serve", "--listen", `127.0.0.1:${port}`, "--tree", file, "--msize-max", "8192"], { stdio: ["ignore", "pipe", "pipe"] })
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()))
    for (let i = 0; i < 100; i++) {
      try {
        ;(await WireClient.open("127.0.0.1", port)).close()
        return
      } catch {
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    throw new Error("fsim serve did not start")
  })
  afterAll(() => child?.kill("SIGKILL"))

  test("every reply is a well-formed R-message; the server lives on; no request crashes it", async () => {
    const version = [...encode(0xffff, { type: "Tversion", msize: 8192, version: "9P2000.L" })]
    const attach = [...encode(1, { type: "Tattach", fid: 1, afid: 0xffff_ffff, uname: "", aname: "", uid: 0 })]
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 96 }),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(...Object.values(MSG)),
        async (body, shape, type) => {
          let bytes: number[]
          if (shape === 0) bytes = [...body]
          else {
            // A frame with a plausible header (so the body gets parsed), after a valid session start.
            const size = shape === 3 ? body.length + 7 : body.length + 7 + (shape === 2 ? 1 : 0)
            bytes = [...version, ...attach, size & 0xff, (size >> 8) & 0xff, 0, 0, type, 9, 0, ...body]
          }
          const out = await exchange(port, Uint8Array.from(bytes))
          expect(out.garbage).toBeNull()
          for (const r of out.replies) expect(r.type.startsWith("R")).toBe(true)
        },
      ),
      { numRuns: 1500 },
    )
    // Still serving, and no connection ended on an internal error.
    const c = await WireClient.open("127.0.0.1", port)
    expect(await c.request({ type: "Tversion", msize: 8192, version: "9P2000.L.Google.11" })).toEqual({ type: "Rversion", msize: 8192, version: "9P2000.L.Google.11" })
    c.close()
    expect(child.exitCode).toBeNull()
    expect(stderr).not.toMatch(/internal error/)
  }, 120_000)

  test("specific malformed frames: Rlerror when the tag is readable, a closed connection when the frame cannot be delimited", async () => {
    const version = [...encode(0xffff, { type: "Tversion", msize: 8192, version: "9P2000.L" })]
    const cases: [string, number[], string][] = [
      ["unknown type", [7, 0, 0, 0, 200, 3, 0], "Rlerror 38"],
      ["R-message as request", [...encode(3, { type: "Rclunk" })], "Rlerror 38"],
      ["bad string length", [13, 0, 0, 0, MSG.Twalk, 3, 0, 1, 0, 0, 0, 250, 0], "Rlerror 22"],
      ["short frame", [5, 0, 0, 0, 0], "closed"],
      ["oversized frame", [0, 0, 1, 0, MSG.Tclunk, 3, 0], "closed"],
    ]
    for (const [what, frame, want] of cases) {
      const out = await exchange(port, Uint8Array.from([...version, ...frame]))
      expect(out.replies[0], what).toEqual({ type: "Rversion", msize: 8192, version: "9P2000.L" })
      const second = out.replies[1]
      expect(second === undefined ? "closed" : `${second.type} ${(second as { error?: number }).error ?? ""}`.trim(), what).toBe(want)
    }
  })
})
