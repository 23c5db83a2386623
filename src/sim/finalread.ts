// Where the final read-back reads a file too long to read whole.
//
// A file of at most DENSE_MAX bytes is read whole, as it always was. A
// longer one (a write at 2^40 makes one) cannot be: a 9P read moves at most
// msize bytes, so a terabyte of holes is millions of RPCs. Instead the
// read-back reads every range the run could have put bytes in, and takes
// the rest for the holes it must be. Every byte a run writes lies at most W
// bytes past some offset the run named or was told, W being the bytes all
// its writes and reads moved: a description's offset starts at 0, at an
// lseek's result or at the file's size (O_APPEND), and only reads and
// writes move it on; a size is an initial size, a truncate's length or the
// end of a write. So reading [p, p + W] for every such p reads every byte
// written, wherever a port put it (a byte put at a wrong offset shows as
// one missing at the right one). What is not read is a byte no op wrote:
// a port inventing data in a hole would go unseen (README, "Final tree").

import { DENSE_MAX } from "../model/filedata.js"
import type { Op, OpResult, Tree, TreeNode } from "../model/types.js"

/** A byte range [start, end). */
export interface Span {
  readonly start: number
  readonly end: number
}

/**
 * The most the read-back reads of files longer than DENSE_MAX in one run:
 * past it the run ends `unknown` (an internal limit, not a verdict on the
 * filesystem).
 */
export const FINAL_SPARSE_READ_MAX = 64 << 20

/** The ranges to read of a file of `size` bytes, sorted and apart. */
export type FinalSpans = (size: number) => readonly Span[]

/** An op as the read-back needs it: what it asked and what it was told. */
export interface OpSeen {
  readonly op: Op
  readonly result: OpResult | null
}

/**
 * The read-back's ranges for a run whose ops (with their results) are `ops`
 * and whose trees at the start are `trees` (the server's, the layers').
 */
export function finalSpans(ops: readonly OpSeen[], trees: readonly (Tree | undefined)[]): FinalSpans {
  const starts = new Set<number>([0])
  const exact: Span[] = []
  let width = 0
  for (const { op, result } of ops) {
    switch (op.op) {
      case "write":
        width += op.data.length
        break
      case "pwrite":
        width += op.data.length
        starts.add(op.offset)
        break
      case "read":
        if (result !== null && "data" in result) width += result.data.length
        break
      case "truncate":
      case "ftruncate":
        starts.add(op.length)
        break
    }
    if (result !== null && "offset" in result) starts.add(result.offset)
    if (result !== null && "size" in result) starts.add(result.size)
  }
  for (const t of trees) if (t !== undefined) treeSpans(t, starts, exact)
  const windows = [...starts].map((p) => ({ start: p, end: p + width + 1 }))
  return (size) => merge([...windows, ...exact], size)
}

function treeSpans(t: Tree, starts: Set<number>, exact: Span[]): void {
  for (const name of Object.keys(t)) {
    const n = t[name] as TreeNode
    if (n.type === "dir" && n.children !== undefined) treeSpans(n.children, starts, exact)
    if (n.type !== "file") continue
    if (n.data !== undefined) exact.push({ start: 0, end: n.data.length })
    if (n.size !== undefined) starts.add(n.size)
    for (const e of n.extents ?? []) exact.push({ start: e.offset, end: e.offset + e.data.length })
  }
}

/** The spans within [0, size), sorted, overlapping ones merged. */
function merge(spans: readonly Span[], size: number): Span[] {
  const clipped = spans
    .map((s) => ({ start: Math.max(0, s.start), end: Math.min(size, s.end) }))
    .filter((s) => s.end > s.start)
    .sort((a, b) => a.start - b.start || a.end - b.end)
  const out: Span[] = []
  for (const s of clipped) {
    const last = out[out.length - 1]
    if (last !== undefined && s.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, s.end) }
    else out.push(s)
  }
  return out
}

/** Without a run's ops to go by: the first and last DENSE_MAX bytes. */
export const EDGE_SPANS: FinalSpans = (size) => merge([{ start: 0, end: DENSE_MAX }, { start: size - DENSE_MAX, end: size }], size)
