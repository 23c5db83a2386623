// Names outside ASCII: a scenario's names are text, the wire carries their
// UTF-8 bytes, and the server holds whatever bytes a client sends.

import { spawnSync } from "node:child_process"
import { afterAll, beforeAll, describe, expect, test } from "vitest"
import type { Tree } from "../../src/model/types.js"
import { NotUnicode, utf8Bytes, utf8Text, utf8Tree } from "../../src/sim/p9/utf8.js"
import { NOFID, type Rmessage } from "../../src/sim/p9/wire.js"
import { FSIM } from "../cli/helpers.js"
import { startServeProcess, treeFile, type ServeProcess } from "./serveproc.js"
import { WireClient } from "./wireclient.js"

const TREE: Tree = {
  "é": { type: "file", data: "e acute" },
  "日本": { type: "dir", children: { "🦀.txt": { type: "file", data: "crab" } } },
  ascii: { type: "symlink", target: "日本/🦀.txt" },
  "hård": { link: "日本/🦀.txt" },
  x: { type: "file", xattrs: { "user.ключ": "v" } },
}

describe("utf8Tree", () => {
  test("names, symlink targets, link paths and xattr names become their UTF-8 bytes; data stays", () => {
    const t = utf8Tree(TREE)
    expect(Object.keys(t).sort()).toEqual(["ascii", "h\xc3\xa5rd", "x", "\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac"].sort())
    expect(t["\xc3\xa9"]).toEqual({ type: "file", data: "e acute" })
    const dir = t["\xe6\x97\xa5\xe6\x9c\xac"] as Extract<Tree[string], { type: "dir" }>
    expect(Object.keys(dir.children!)).toEqual(["\xf0\x9f\xa6\x80.txt"])
    expect(t["ascii"]).toEqual({ type: "symlink", target: "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\xa6\x80.txt" })
    expect(t["h\xc3\xa5rd"]).toEqual({ link: "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\xa6\x80.txt" })
    expect(Object.keys((t["x"] as { xattrs: object }).xattrs)).toEqual(["user.\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87"])
    for (const name of Object.keys(t)) expect(utf8Bytes(utf8Text(name))).toBe(name)
  })

  test("a lone surrogate has no UTF-8 form; a deep tree does not overflow the stack", () => {
    expect(() => utf8Tree({ "a\ud800": { type: "file" } })).toThrow(NotUnicode)
    expect(utf8Bytes("\ud83e\udd80")).toBe("\xf0\x9f\xa6\x80")
    let deep: Tree = { f: { type: "file" } }
    for (let i = 0; i < 20_000; i++) deep = { "ü": { type: "dir", children: deep } }
    let t = utf8Tree(deep)
    let depth = 0
    for (let n = t["\xc3\xbc"]; n !== undefined && "children" in n; n = n.children?.["\xc3\xbc"]) {
      depth++
      t = n.children!
    }
    expect(depth).toBe(20_000)
  })
})

describe("fsim serve: UTF-8 names over the wire", () => {
  let s: ServeProcess
  beforeAll(async () => {
    s = await startServeProcess(treeFile(TREE, "utf8"))
  })
  afterAll(async () => {
    await s?.stop("SIGKILL")
  })

  async function list(c: WireClient, fid: number): Promise<string[]> {
    const r = (await c.request({ type: "Treaddir", directory: fid, offset: 0n, count: 8192 })) as Extract<Rmessage, { type: "Rreaddir" }>
    expect(r.type).toBe("Rreaddir")
    return r.entries.map((e) => utf8Text(e.name)).filter((n) => n !== "." && n !== "..").sort()
  }

  test("listed, walked, read and created by a client speaking UTF-8", async () => {
    const c = await WireClient.open("127.0.0.1", s.port)
    await c.request({ type: "Tversion", msize: 65536, version: "9P2000.L" })
    expect((await c.request({ type: "Tattach", fid: 1, afid: NOFID, uname: "", aname: "", uid: 0 })).type).toBe("Rattach")
    expect((await c.request({ type: "Twalk", fid: 1, newFid: 2, names: [] })).type).toBe("Rwalk")
    await c.request({ type: "Tlopen", fid: 2, flags: 0 })
    expect(await list(c, 2)).toEqual(["ascii", "hård", "x", "é", "日本"].sort())
    expect((await c.request({ type: "Twalk", fid: 1, newFid: 3, names: [utf8Bytes("日本"), utf8Bytes("🦀.txt")] })).type).toBe("Rwalk")
    await c.request({ type: "Tlopen", fid: 3, flags: 0 })
    expect(await c.request({ type: "Tread", fid: 3, offset: 0, count: 100 })).toEqual({ type: "Rread", data: "crab" })
    expect(await c.request({ type: "Treadlink", fid: (await c.request({ type: "Twalk", fid: 1, newFid: 4, names: ["ascii"] }), 4) })).toEqual({
      type: "Rreadlink",
      target: utf8Bytes("日本/🦀.txt"),
    })
    // A name the client makes is held as its bytes and listed back the same.
    expect((await c.request({ type: "Twalk", fid: 1, newFid: 5, names: [utf8Bytes("日本")] })).type).toBe("Rwalk")
    expect((await c.request({ type: "Tlcreate", fid: 5, name: utf8Bytes("ñandú"), openFlags: 0o301, permissions: 0o644, gid: 0 })).type).toBe("Rlcreate")
    expect((await c.request({ type: "Twalk", fid: 1, newFid: 6, names: [utf8Bytes("日本")] })).type).toBe("Rwalk")
    await c.request({ type: "Tlopen", fid: 6, flags: 0 })
    expect(await list(c, 6)).toEqual(["ñandú", "🦀.txt"])
    c.close()
    expect(s.stderr()).toBe("")
  })
})

test("fsim serve: a tree name that is not Unicode is one line, exit 2", () => {
  const file = treeFile({ "bad\ud800": { type: "file" } })
  const r = spawnSync(process.execPath, [FSIM, "serve", "--listen", "127.0.0.1:0", "--tree", file], { encoding: "utf8" })
  expect(r.status).toBe(2)
  expect(r.stderr.trim().split("\n")).toHaveLength(1)
  expect(r.stderr).toMatch(/remote: .*not Unicode/)
})
