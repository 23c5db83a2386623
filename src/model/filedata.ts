// File contents as Linux's tmpfs keeps them: pages that were never written
// are holes that read as zeros and cost nothing, so a write at offset 2^40
// costs what a small one costs.
//
// A file of at most DENSE_MAX bytes is a string (one byte per code unit),
// as it always was: small files, which are nearly all, pay nothing for
// holes, and states, hashes and trees of such files are what they were
// before. A longer file is a SparseData: its size and its extents, kept in
// one canonical form (below), so two equal contents are equal objects field
// by field and hash alike whatever writes made them.

/** The largest file kept as one string; longer ones are SparseData. */
export const DENSE_MAX = 1 << 20

/**
 * Extents closer than this are one extent (the zeros between kept): a
 * binary file with a few zero bytes stays one extent.
 */
export const EXTENT_GAP = 4096

/** A run of bytes of a sparse file: `data` at `offset`, neither end a zero byte. */
export interface Extent {
  readonly offset: number
  readonly data: string
}

/**
 * Contents longer than DENSE_MAX. Canonical: extents sorted, each starting
 * and ending with a non-zero byte, each further than EXTENT_GAP bytes from
 * the next, all below `size`. Immutable (frozen on creation).
 */
export class SparseData {
  constructor(
    readonly size: number,
    readonly extents: readonly Extent[],
  ) {
    Object.freeze(extents)
    Object.freeze(this)
  }
}

export type FileData = string | SparseData

export function sizeOf(d: FileData): number {
  return typeof d === "string" ? d.length : d.size
}

let zeroChunk = ""

/** `n` zero bytes (n is at most a read's or a dense file's length). */
export function zeros(n: number): string {
  if (n <= 0) return ""
  // One shared run of zeros, sliced (V8 slices without copying).
  if (n > DENSE_MAX) return "\0".repeat(n)
  if (zeroChunk.length === 0) zeroChunk = "\0".repeat(DENSE_MAX)
  return zeroChunk.slice(0, n)
}


/** The bytes [pos, pos + count) that exist (none past the end); holes are zeros. */
export function readRange(d: FileData, pos: number, count: number): string {
  if (typeof d === "string") return pos >= d.length ? "" : d.slice(pos, pos + count)
  const end = Math.min(d.size, pos + count)
  if (pos >= end) return ""
  let out = ""
  let at = pos
  for (const e of d.extents) {
    const eEnd = e.offset + e.data.length
    if (eEnd <= at) continue
    if (e.offset >= end) break
    if (e.offset > at) {
      out += zeros(e.offset - at)
      at = e.offset
    }
    const stop = Math.min(end, eEnd)
    out += e.data.slice(at - e.offset, stop - e.offset)
    at = stop
  }
  return out + zeros(end - at)
}

/** Runs of non-zero bytes of `s` (placed at `base`), merged across gaps under EXTENT_GAP. */
function runsOf(s: string, base: number): Extent[] {
  const out: Extent[] = []
  let i = 0
  const n = s.length
  while (i < n) {
    while (i < n && s.charCodeAt(i) === 0) i++
    if (i >= n) break
    const start = i
    let last = i
    // Extend while the next non-zero byte is within EXTENT_GAP of the last one.
    for (let j = i + 1; j < n; j++) {
      if (s.charCodeAt(j) === 0) {
        if (j - last > EXTENT_GAP) break
        continue
      }
      last = j
    }
    out.push({ offset: base + start, data: s.slice(start, last + 1) })
    i = last + 1
  }
  return out
}

/** The canonical form of `size` bytes whose non-hole part is `extents` (sorted, disjoint). */
function canonical(size: number, extents: readonly Extent[]): FileData {
  if (size <= DENSE_MAX) return readRange(new SparseData(size, extents), 0, size)
  return new SparseData(size, extents)
}

/** A sparse view of a dense string (for one that grows past DENSE_MAX). */
function sparseOf(d: FileData): SparseData {
  return typeof d === "string" ? new SparseData(d.length, runsOf(d, 0)) : d
}

/**
 * The contents with `data` written at `pos` (a hole zero-filled between the
 * old end and `pos`, as a write past the end leaves one).
 */
export function writeRange(d: FileData, pos: number, data: string): FileData {
  const end = pos + data.length
  if (typeof d === "string" && end <= DENSE_MAX) {
    return pos > d.length ? d + zeros(pos - d.length) + data : d.slice(0, pos) + data + d.slice(end)
  }
  const s = sparseOf(d)
  const size = Math.max(s.size, end)
  if (data.length === 0) return canonical(size, s.extents)
  // Zeros into a hole change nothing but the size (a copy of a long sparse
  // file writes mostly these).
  if (data.length <= DENSE_MAX && data === zeros(data.length) && !s.extents.some((e) => e.offset < end && e.offset + e.data.length > pos)) return canonical(size, s.extents)
  // Re-canonicalise only the neighbourhood of the write: extents further
  // than EXTENT_GAP from it are untouched and stay apart from it.
  const lo = pos - EXTENT_GAP
  const hi = end + EXTENT_GAP
  const before: Extent[] = []
  const after: Extent[] = []
  const near: Extent[] = []
  for (const e of s.extents) {
    const eEnd = e.offset + e.data.length
    if (eEnd < lo) before.push(e)
    else if (e.offset > hi) after.push(e)
    else near.push(e)
  }
  const spanStart = Math.min(pos, near.length > 0 ? near[0]!.offset : pos)
  const lastNear = near[near.length - 1]
  const spanEnd = Math.max(end, lastNear !== undefined ? lastNear.offset + lastNear.data.length : end)
  const old = readRange(new SparseData(spanEnd, near), spanStart, spanEnd - spanStart)
  const merged = old.slice(0, pos - spanStart) + data + old.slice(end - spanStart)
  return canonical(size, [...before, ...runsOf(merged, spanStart), ...after])
}

/** The contents cut or extended (with a hole) to `length`. */
export function resize(d: FileData, length: number): FileData {
  if (typeof d === "string" && length <= DENSE_MAX) return length <= d.length ? d.slice(0, length) : d + zeros(length - d.length)
  const s = sparseOf(d)
  const kept: Extent[] = []
  for (const e of s.extents) {
    if (e.offset >= length) break
    if (e.offset + e.data.length <= length) kept.push(e)
    else kept.push(...runsOf(e.data.slice(0, length - e.offset), e.offset))
  }
  return canonical(length, kept)
}

/** Contents from a tree node's `size` and `extents` (validated by the caller: sorted, disjoint, within size). */
export function fromExtents(size: number, extents: readonly Extent[]): FileData {
  let d: FileData = size <= DENSE_MAX ? "" : new SparseData(size, [])
  for (const e of extents) d = writeRange(d, e.offset, e.data)
  return resize(d, size)
}

/** Whether two contents hold the same bytes (both canonical). */
export function dataEqual(a: FileData, b: FileData): boolean {
  if (a === b) return true
  if (typeof a === "string" || typeof b === "string") return false
  if (a.size !== b.size || a.extents.length !== b.extents.length) return false
  for (let k = 0; k < a.extents.length; k++) {
    const x = a.extents[k]!
    const y = b.extents[k]!
    if (x.offset !== y.offset || x.data !== y.data) return false
  }
  return true
}

/**
 * The contract's form of a file's contents in a tree: `data` for a file of
 * at most DENSE_MAX bytes, else `size` and `extents` (holes read as zeros).
 */
export function treeFields(d: FileData): { readonly data: string } | { readonly size: number; readonly extents: readonly Extent[] } {
  if (typeof d === "string") return { data: d }
  return { size: d.size, extents: d.extents.map((e) => ({ offset: e.offset, data: e.data })) }
}

/**
 * The canonical extents of bytes known only in parts: `pieces` (sorted,
 * disjoint) read from a file of `size` bytes whose other bytes are taken to
 * be zeros. For the final read-back of a file too long to read whole.
 */
export function fromPieces(size: number, pieces: readonly Extent[]): FileData {
  return fromExtents(size, pieces)
}
