// The 9P server's protocol rules, message by message, straight on the core
// (no transport): what the conformance run against diod cannot check
// because diod differs there on purpose, or does not have the message.

import { describe, expect, test } from "vitest"
import type { Tree } from "../../src/model/types.js"
import { ATTR_BASIC, S_IFIFO, S_IFSOCK } from "../../src/sim/p9/api.js"
import { P9Server, type Session } from "../../src/sim/p9/server.js"
import { DOTL, ERRNO_NUMBER, NOFID, versionString, type Rmessage, type Tmessage } from "../../src/sim/p9/wire.js"

const json = (x: unknown): string => JSON.stringify(x, (_, v: unknown) => (typeof v === "bigint" ? `${v}n` : v))

const TREE: Tree = {
  d: { type: "dir", children: { f: { type: "file", data: "hello" } } },
  x: { type: "file", data: "xyz" },
  s: { type: "socket" },
}

class Harness {
  readonly server: P9Server
  readonly s: Session
  private now = 0
  constructor(tree: Tree = TREE, opts: ConstructorParameters<typeof P9Server>[2] = {}) {
    this.server = new P9Server(tree, undefined, opts)
    this.s = this.server.connect("test")
    this.ok({ type: "Tversion", msize: 8192, version: versionString(opts.versionMax ?? 11) })
    this.ok({ type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: "", uid: 0 })
  }
  send(m: Tmessage): Rmessage {
    return this.server.handle(this.s, m, (this.now += 10))
  }
  ok(m: Tmessage): Rmessage {
    const r = this.send(m)
    expect(r.type, `${m.type} -> ${json(r)}`).not.toBe("Rlerror")
    return r
  }
  err(m: Tmessage): string {
    const r = this.send(m)
    if (r.type !== "Rlerror") throw new Error(`${m.type} succeeded: ${json(r)}`)
    return Object.entries(ERRNO_NUMBER).find(([, n]) => n === r.error)![0]
  }
}

describe("versions and sessions", () => {
  test("version negotiation: the extension level, EAGAIN above it, EINVAL for another protocol; msize capped", () => {
    const h = new Harness(TREE, { msizeMax: 65536, versionMax: 7 })
    expect(h.err({ type: "Tversion", msize: 1 << 20, version: "9P2000.L.Google.8" })).toBe("EAGAIN")
    expect(h.err({ type: "Tversion", msize: 1 << 20, version: "9P2000.u" })).toBe("EINVAL")
    expect(h.err({ type: "Tversion", msize: 100, version: "9P2000.L" })).toBe("EINVAL")
    expect(h.send({ type: "Tversion", msize: 1 << 20, version: "9P2000.L.Google.7" })).toEqual({ type: "Rversion", msize: 65536, version: "9P2000.L.Google.7" })
  })

  test("Tversion starts over: every fid is clunked", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["d"] })
    expect(h.server.fidTable().length).toBe(2)
    h.ok({ type: "Tversion", msize: 8192, version: "9P2000.L" })
    expect(h.server.fidTable()).toEqual([])
  })

  test("attach to a subdirectory by name; Tauth answers ENOENT, as diod does", () => {
    const h = new Harness()
    const r = h.ok({ type: "Tattach", fid: 5, afid: NOFID, uname: "", aname: "/d", uid: 1000 }) as Extract<Rmessage, { type: "Rattach" }>
    expect(r.qid.type).toBe(0x80)
    expect(h.server.fidTable().find((f) => f.fid === 5)?.path).toBe("/d")
    expect(h.err({ type: "Tauth", afid: 9, uname: "", aname: "", uid: 0 })).toBe("ENOENT")
    expect(h.err({ type: "Tattach", fid: 6, afid: 3, uname: "", aname: "", uid: 0 })).toBe("EINVAL")
  })
})

describe("walks", () => {
  test("names are single components; a partial walk returns the prefix and creates no fid", () => {
    const h = new Harness()
    for (const bad of ["", ".", "..", "a/b"]) expect(h.err({ type: "Twalk", fid: 1, newFid: 2, names: [bad] })).toBe("EINVAL")
    expect(h.err({ type: "Twalk", fid: 1, newFid: 2, names: Array(17).fill("d") })).toBe("EINVAL")
    expect(h.err({ type: "Twalk", fid: 1, newFid: 2, names: ["nope"] })).toBe("ENOENT")
    const r = h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["d", "nope", "f"] }) as Extract<Rmessage, { type: "Rwalk" }>
    expect(r.qids.length).toBe(1)
    expect(h.err({ type: "Tclunk", fid: 2 })).toBe("EBADF")
    expect((h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["x", "y"] }) as Extract<Rmessage, { type: "Rwalk" }>).qids.length).toBe(1)
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["x"] })
    expect(h.err({ type: "Twalk", fid: 2, newFid: 3, names: ["y"] })).toBe("ENOTDIR")
    expect(h.err({ type: "Twalk", fid: 77, newFid: 2, names: [] })).toBe("EBADF")
  })

  test("Twalkgetattr: the attributes of where the walk ends, and an error unless it gets there", () => {
    const h = new Harness()
    const r = h.ok({ type: "Twalkgetattr", fid: 1, newFid: 2, names: ["d", "f"] }) as Extract<Rmessage, { type: "Rwalkgetattr" }>
    expect([r.qids.length, r.attr.size, r.attr.mode & 0o170000, r.valid]).toEqual([2, 5, 0o100000, ATTR_BASIC])
    expect(h.err({ type: "Twalkgetattr", fid: 1, newFid: 3, names: ["d", "nope"] })).toBe("ENOENT")
  })
})

describe("files", () => {
  test("Tlcreate is exclusive and makes the fid the new, open file; Tlopen twice is EINVAL", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["d"] })
    expect(h.err({ type: "Tlcreate", fid: 2, name: "f", openFlags: 2, permissions: 0o644, gid: 0 })).toBe("EEXIST")
    h.ok({ type: "Tucreate", fid: 2, name: "n", openFlags: 2, permissions: 0o600, gid: 7, uid: 1000 })
    expect(h.ok({ type: "Twrite", fid: 2, offset: 0, data: "hi" })).toEqual({ type: "Rwrite", count: 2 })
    const a = h.ok({ type: "Tgetattr", fid: 2, attrMask: ATTR_BASIC }) as Extract<Rmessage, { type: "Rgetattr" }>
    expect([a.attr.uid, a.attr.gid, a.attr.mode]).toEqual([1000, 7, 0o100600])
    expect(h.err({ type: "Tlopen", fid: 2, flags: 0 })).toBe("EINVAL")
  })

  test("qid.version moves with every change but an atime update", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["x"] })
    const v = (): number => (h.ok({ type: "Tgetattr", fid: 2, attrMask: ATTR_BASIC }) as Extract<Rmessage, { type: "Rgetattr" }>).qid.version
    const v0 = v()
    h.ok({ type: "Tlopen", fid: 2, flags: 2 })
    h.ok({ type: "Tread", fid: 2, offset: 0, count: 10 })
    expect(v()).toBe(v0)
    h.ok({ type: "Twrite", fid: 2, offset: 0, data: "Q" })
    const v1 = v()
    expect(v1).toBeGreaterThan(v0)
    h.ok({ type: "Tsetattr", fid: 2, valid: 0x1, setAttr: { permissions: 0o600, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 } })
    expect(v()).toBeGreaterThan(v1)
  })

  test("Tremove clunks the fid even when the removal fails; the root cannot go", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["d"] })
    expect(h.err({ type: "Tremove", fid: 2 })).toBe("ENOTEMPTY")
    expect(h.err({ type: "Tclunk", fid: 2 })).toBe("EBADF")
    h.ok({ type: "Twalk", fid: 1, newFid: 3, names: [] })
    expect(h.err({ type: "Tremove", fid: 3 })).toBe("EBUSY")
  })

  test("Trename and Trenameat keep every fid's name; Tunlinkat with AT_REMOVEDIR", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["d", "f"] })
    h.ok({ type: "Twalk", fid: 1, newFid: 3, names: ["d"] })
    h.ok({ type: "Trenameat", oldDirectory: 3, oldName: "f", newDirectory: 1, newName: "g" })
    expect(h.server.fidTable().find((f) => f.fid === 2)?.path).toBe("/g")
    h.ok({ type: "Trename", fid: 2, directory: 3, name: "h" })
    expect(h.server.fidTable().find((f) => f.fid === 2)?.path).toBe("/d/h")
    expect(h.err({ type: "Tunlinkat", directory: 1, name: "d", flags: 0 })).toBe("EISDIR")
    h.ok({ type: "Tunlinkat", directory: 3, name: "h", flags: 0 })
    h.ok({ type: "Tunlinkat", directory: 1, name: "d", flags: 0x200 })
    expect(h.server.fidTable().find((f) => f.fid === 2)?.path).toBeNull()
  })

  test("readdir pages by exact cookies, '.' and '..' first; only on an open directory", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: [] })
    expect(h.err({ type: "Treaddir", directory: 2, offset: 0n, count: 100 })).toBe("EBADF")
    h.ok({ type: "Tlopen", fid: 2, flags: DOTL.DIRECTORY })
    const names: string[] = []
    let offset = 0n
    for (;;) {
      const r = h.ok({ type: "Treaddir", directory: 2, offset, count: 30 }) as Extract<Rmessage, { type: "Rreaddir" }>
      if (r.entries.length === 0) break
      expect(r.entries.length).toBe(1)
      names.push(...r.entries.map((e) => `${e.name}:${e.type}`))
      offset = r.entries.at(-1)!.offset
    }
    expect(names).toEqual([".:4", "..:4", "d:4", "s:12", "x:8"])
    h.ok({ type: "Twalk", fid: 1, newFid: 3, names: ["x"] })
    h.ok({ type: "Tlopen", fid: 3, flags: 0 })
    expect(h.err({ type: "Treaddir", directory: 3, offset: 0n, count: 100 })).toBe("EINVAL")
  })

  test("mknod of what the model has; devices are EPERM; a socket refuses connections", () => {
    const h = new Harness()
    const q = h.ok({ type: "Tmknod", directory: 1, name: "p", mode: S_IFIFO | 0o600, major: 0, minor: 0, gid: 0 }) as Extract<Rmessage, { type: "Rmknod" }>
    expect(q.qid.type).toBe(0x40)
    h.ok({ type: "Tumknod", directory: 1, name: "k", mode: S_IFSOCK | 0o600, major: 0, minor: 0, gid: 0, uid: 5 })
    expect(h.err({ type: "Tmknod", directory: 1, name: "c", mode: 0o020000 | 0o600, major: 1, minor: 3, gid: 0 })).toBe("EPERM")
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["s"] })
    expect(h.err({ type: "Tlconnect", fid: 2, flags: 0 })).toBe("ECONNREFUSED")
    h.ok({ type: "Twalk", fid: 1, newFid: 3, names: ["p"] })
    // A FIFO opens without waiting for its other end, and streams: offsets mean nothing.
    h.ok({ type: "Tlopen", fid: 3, flags: 0 })
    expect(h.ok({ type: "Tread", fid: 3, offset: 0, count: 10 })).toEqual({ type: "Rread", data: "" })
    h.ok({ type: "Twalk", fid: 1, newFid: 4, names: ["p"] })
    h.ok({ type: "Tlopen", fid: 4, flags: 1 })
    expect(h.ok({ type: "Twrite", fid: 4, offset: 99, data: "abc" })).toEqual({ type: "Rwrite", count: 3 })
    expect(h.ok({ type: "Tread", fid: 3, offset: 50, count: 2 })).toEqual({ type: "Rread", data: "ab" })
    expect(h.ok({ type: "Tread", fid: 3, offset: 0, count: 10 })).toEqual({ type: "Rread", data: "c" })
    expect(h.err({ type: "Tread", fid: 3, offset: 0, count: 10 })).toBe("EAGAIN")
  })

  test("xattrs: gVisor's messages, and Txattrwalk / Txattrcreate", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["x"] })
    h.ok({ type: "Tsetxattr", fid: 2, name: "user.a", value: "1", flags: 0 })
    h.ok({ type: "Txattrcreate", fid: 2, name: "user.b", attrSize: 3, flags: 1 })
    h.ok({ type: "Twrite", fid: 2, offset: 0, data: "two" })
    h.ok({ type: "Tclunk", fid: 2 })
    h.ok({ type: "Twalk", fid: 1, newFid: 3, names: ["x"] })
    expect(h.ok({ type: "Tgetxattr", fid: 3, name: "user.b", size: 0 })).toEqual({ type: "Rgetxattr", value: "two" })
    expect(h.err({ type: "Tgetxattr", fid: 3, name: "user.b", size: 1 })).toBe("ERANGE")
    expect(h.ok({ type: "Tlistxattr", fid: 3, size: 0 })).toEqual({ type: "Rlistxattr", xattrs: ["user.a", "user.b"] })
    expect(h.ok({ type: "Txattrwalk", fid: 3, newFid: 4, name: "" })).toEqual({ type: "Rxattrwalk", size: 14 })
    expect(h.ok({ type: "Tread", fid: 4, offset: 0, count: 100 })).toEqual({ type: "Rread", data: "user.a\0user.b\0" })
    h.ok({ type: "Tremovexattr", fid: 3, name: "user.a" })
    expect(h.err({ type: "Txattrwalk", fid: 3, newFid: 5, name: "user.a" })).toBe("ENODATA")
    // A value whose length does not match what Txattrcreate announced is refused at clunk.
    h.ok({ type: "Txattrcreate", fid: 3, name: "user.c", attrSize: 5, flags: 0 })
    h.ok({ type: "Twrite", fid: 3, offset: 0, data: "ab" })
    expect(h.err({ type: "Tclunk", fid: 3 })).toBe("EINVAL")
  })

  test("Tallocate grows a file opened for writing; Tfsync and Tflushf", () => {
    const h = new Harness()
    h.ok({ type: "Twalk", fid: 1, newFid: 2, names: ["x"] })
    expect(h.err({ type: "Tallocate", fid: 2, mode: 0, offset: 0, length: 10 })).toBe("EBADF")
    expect(h.err({ type: "Tfsync", fid: 2 })).toBe("EBADF")
    h.ok({ type: "Tlopen", fid: 2, flags: 2 })
    h.ok({ type: "Tallocate", fid: 2, mode: 0, offset: 4, length: 6 })
    expect(h.err({ type: "Tallocate", fid: 2, mode: 2, offset: 0, length: 1 })).toBe("EOPNOTSUPP")
    expect((h.ok({ type: "Tgetattr", fid: 2, attrMask: ATTR_BASIC }) as Extract<Rmessage, { type: "Rgetattr" }>).attr.size).toBe(10)
    h.ok({ type: "Tfsync", fid: 2 })
    h.ok({ type: "Tflushf", fid: 2 })
    expect(h.ok({ type: "Tflush", oldTag: 3 })).toEqual({ type: "Rflush" })
  })
})
