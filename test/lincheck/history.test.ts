// Reading `fsim.history/1`: strict decoding and the contract's rules on
// times and threads, each broken input an InputError of one line.

import { describe, expect, it } from "vitest"
import { decodeHistory } from "../../src/model/lincheck/history.js"
import { InputError } from "../../src/model/schema.js"

const good = () => ({
  format: "fsim.history/1",
  initial: { a: { type: "file", data: "" } },
  creds: { t1: { uid: 1000, gid: 1000, groups: [1000] } },
  ops: [
    { thread: "t0", op: { op: "open", path: "/a", flags: ["O_WRONLY"], fd: "f" }, result: {}, invoke: 1, return: 2 },
    { thread: "t0", op: { op: "write", fd: "f", data: "abc" }, result: { count: 3 }, invoke: 3, return: 6 },
    { thread: "t1", op: { op: "stat", path: "/a" }, result: null, invoke: 4, return: null },
  ],
})

describe("decodeHistory", () => {
  it("accepts a well-formed history, with and without the optional fields", () => {
    const h = decodeHistory(good())
    expect(h.ops).toHaveLength(3)
    expect(h.creds?.["t1"]?.uid).toBe(1000)
    const { creds: _c, initial: _i, ...bare } = good()
    expect(decodeHistory(bare).ops).toHaveLength(3)
    expect(decodeHistory({ format: "fsim.history/1", ops: [] }).ops).toEqual([])
    const faulted = good()
    ;(faulted.ops[1] as Record<string, unknown>)["faulted"] = true
    expect(decodeHistory(faulted).ops[1]?.faulted).toBe(true)
  })

  // Each case: a change to a good history, and what the one-line error must say.
  const bad: ReadonlyArray<readonly [string, (h: any) => unknown, RegExp]> = [
    ["not an object", () => [1, 2], /^history: expected an object$/],
    ["missing format", (h) => ({ ...h, format: undefined }), /format: missing field/],
    ["unknown format", (h) => ({ ...h, format: "fsim.history/2" }), /format: unknown format "fsim.history\/2"/],
    ["extra top-level field", (h) => ({ ...h, extra: 1 }), /extra: unknown field/],
    ["missing ops", (h) => ({ format: h.format }), /ops: missing field/],
    ["unknown op", (h) => (h.ops[1].op = { op: "frobnicate", fd: "f" }, h), /ops\[1\]\.op: unknown op "frobnicate"/],
    ["missing op field", (h) => (delete h.ops[1].op.data, h), /ops\[1\]\.op.*data: missing field/],
    ["wrong field type", (h) => (h.ops[0].invoke = "1", h), /ops\[0\]\.invoke: .*"1"/],
    ["extra op field", (h) => (h.ops[2].colour = "red", h), /ops\[2\]\.colour: unknown field/],
    ["faulted not a boolean", (h) => (h.ops[1].faulted = "yes", h), /ops\[1\]\.faulted: .*"yes"/],
    ["faulted op that never returned", (h) => (h.ops[2].faulted = true, h), /ops\[2\]\.faulted: an op that never returned/],
    ["missing thread", (h) => (delete h.ops[0].thread, h), /ops\[0\]\.thread: missing field/],
    ["negative time", (h) => (h.ops[0].invoke = -1, h), /ops\[0\]\.invoke/],
    ["data above 255", (h) => (h.ops[1].op.data = "\u0100", h), /ops\[1\]\.op.*data.*above 255/],
    ["bad result value", (h) => (h.ops[1].result = { count: -3 }, h), /^history: ops\[1\]\.result: count: expected a value greater than or equal to 0/],
    ["unknown result field", (h) => (h.ops[1].result = { bogus: 1 }, h), /^history: ops\[1\]\.result: bogus: unknown field/],
    ["extra result field", (h) => (h.ops[1].result = { count: 3, more: 1 }, h), /^history: ops\[1\]\.result: more: unknown field/],
    ["stat result missing a field", (h) => (h.ops[1].result = { type: "file", mode: 420, uid: 0, gid: 0, size: 1, nlink: 1, ino: 1, atime: 0, mtime: 0 }, h), /^history: ops\[1\]\.result: ctime: missing field/],
    ["unknown errno", (h) => (h.ops[1].result = { errno: "EWHAT" }, h), /^history: ops\[1\]\.result: errno: "EWHAT" is not one of/],
    ["bad cred", (h) => (h.creds.t1.uid = "x", h), /creds\.t1\.uid/],
    ["bad tree", (h) => (h.initial.a.type = "blob", h), /initial\.a/],
    ["tree the model cannot build", (h) => (h.initial.b = { link: "/nope" }, h), /^history: initial: tree: \/b: link to "\/nope"/],
    ["duplicate time", (h) => (h.ops[2].invoke = 3, h), /^history: ops\[2\]\.invoke: time 3 is also ops\[1\]\.invoke \(times are unique\)$/],
    ["invoke equals own return", (h) => (h.ops[1].return = 3, h), /ops\[1\]\.return: 3 is not after invoke 3/],
    ["return before invoke", (h) => (h.ops[1].return = 0, h), /ops\[1\]\.return: 0 is not after invoke 3/],
    ["result without return", (h) => (h.ops[2].result = {}, h), /ops\[2\]\.result: an op that never returned/],
    ["return without result", (h) => (h.ops[1].result = null, h), /ops\[1\]\.result: null, but the op returned at 6/],
    ["overlapping ops of one thread", (h) => (h.ops[0].return = 5, h), /^history: ops\[1\]\.invoke: thread "t0" overlaps itself: ops\[0\] \(1-5\) was still running at 3$/],
    ["an op after one that never returned", (h) => (h.ops.push({ thread: "t1", op: { op: "sync" }, result: {}, invoke: 7, return: 8 }), h), /ops\[3\]\.invoke: thread "t1" overlaps itself: ops\[2\] \(invoked at 4, never returned\)/],
  ]
  for (const [name, change, message] of bad) {
    it(`rejects: ${name}`, () => {
      let error: unknown
      try {
        decodeHistory(change(good()))
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InputError)
      const text = (error as Error).message
      expect(text).toMatch(message)
      expect(text).not.toContain("\n")
      if (process.env["SHOW_ERRORS"]) console.log(text)
    })
  }
})
