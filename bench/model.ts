// Throughput of the reference model's reducer (`apply`, patches included) at
// 20 and at 10,000 inodes, on a realistic mix: stat, open/write/read/close,
// mkdir/rmdir, rename and unlink/create over the state.

import { apply, initialState, type ModelState } from "../src/model/index.js"
import type { Cred, Op, Tree, TreeNode } from "../src/model/types.js"

const ROOT: Cred = { uid: 0, gid: 0, groups: [] }
const USER: Cred = { uid: 1000, gid: 1000, groups: [1000] }

/** A tree of `dirs` directories of `files` files each (plus the root): 1 + dirs * (files + 1) inodes. */
function wideTree(dirs: number, files: number): Tree {
  const tree: Record<string, TreeNode> = {}
  for (let d = 0; d < dirs; d++) {
    const children: Record<string, TreeNode> = {}
    for (let f = 0; f < files; f++) children[`f${f}`] = { type: "file", data: "0123456789", mode: 0o666 }
    tree[`d${d}`] = { type: "dir", mode: 0o777, children }
  }
  return tree
}

/** A deterministic op stream (LCG); paths mostly name existing files. */
function* opStream(dirs: number, files: number): Generator<Op> {
  let x = 12345
  const rnd = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    return (x >>> 8) % n
  }
  const file = (): string => `/d${rnd(dirs)}/f${rnd(files)}`
  for (let i = 0; ; i++) {
    const k = rnd(16)
    if (k < 4) yield { op: "stat", path: file() }
    else if (k < 8) {
      yield { op: "open", path: file(), flags: ["O_RDWR"], fd: "f" }
      yield { op: "write", fd: "f", data: "abc" }
      yield { op: "pread", fd: "f", offset: 0, count: 8 }
      yield { op: "close", fd: "f" }
    } else if (k < 10) {
      const d = `/d${rnd(dirs)}/sub${i & 3}`
      yield { op: "mkdir", path: d }
      yield { op: "rmdir", path: d }
    } else if (k < 12) {
      const d = rnd(dirs)
      const a = rnd(files)
      yield { op: "rename", from: `/d${d}/f${a}`, to: `/d${d}/g${a}` }
      yield { op: "rename", from: `/d${d}/g${a}`, to: `/d${d}/f${a}` }
    } else if (k < 14) {
      const p = file()
      yield { op: "unlink", path: p }
      yield { op: "open", path: p, flags: ["O_CREAT", "O_WRONLY"], fd: "g" }
      yield { op: "close", fd: "g" }
    } else yield { op: "lstat", path: `/d${rnd(dirs)}` }
  }
}

function measure(dirs: number, files: number, seconds: number): { inodes: number; ops: number; opsPerS: number } {
  let state: ModelState = initialState(wideTree(dirs, files))
  const inodes = 1 + dirs * (files + 1)
  const ops = opStream(dirs, files)
  const cred = (i: number): Cred => (i % 4 === 0 ? USER : ROOT)
  // Warm up the JIT.
  for (let i = 0; i < 20_000; i++) state = apply(state, ops.next().value as Op, cred(i), i).state
  let n = 0
  let patches = 0
  const start = performance.now()
  let now = start
  while (now - start < seconds * 1000) {
    for (let i = 0; i < 1000; i++, n++) {
      const out = apply(state, ops.next().value as Op, cred(n), n)
      patches += out.patches.length
      state = out.state
    }
    now = performance.now()
  }
  if (patches === 0) throw new Error("bench: no patches produced")
  return { inodes, ops: n, opsPerS: n / ((now - start) / 1000) }
}

export function benchModel(): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = []
  for (const [dirs, files] of [
    [3, 5],
    [100, 99],
  ] as const) {
    const r = measure(dirs, files, 2)
    rows.push({ bench: "model", inodes: r.inodes, ops: r.ops, ops_per_s: Math.round(r.opsPerS) })
  }
  return rows
}
