// The client page cache of regular files, reduced from gVisor's
// fsutil.FileRangeSet (cached, page-aligned ranges of a file, backed by
// memory-file pages) and fsutil.DirtySet (byte ranges of the cache not yet
// written back), with the fsutil functions the gofer calls (Fill, SyncDirty,
// SyncDirtyAll, Truncate, Drop). Pages hold their bytes as Latin-1 strings.
//
// MemoryFile stands for pgalloc's: it counts the pages every cache holds
// against a budget; past the budget it wakes the filesystem's eviction
// daemon, which asks the least recently filled evictable dentry to write its
// dirty pages back and drop them (gVisor: MemoryFile's eviction goroutine
// calling EvictableMemoryUser.Evict), so memory pressure interleaves with
// everything else.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { PAGE_SIZE, pageRoundDown, pageRoundUp } from "../vfs/linux.js"

/** A byte range [start, end). */
export interface Range {
  readonly start: number
  readonly end: number
}

export function intersect(a: Range, b: Range): Range {
  const start = Math.max(a.start, b.start)
  const end = Math.min(a.end, b.end)
  return { start, end: Math.max(start, end) }
}

/** Sorted, disjoint, coalesced byte ranges. */
export class RangeSet {
  ranges: Range[] = []

  isEmpty(): boolean {
    return this.ranges.length === 0
  }

  add(r: Range): void {
    if (r.end <= r.start) return
    let start = r.start
    let end = r.end
    const out: Range[] = []
    for (const x of this.ranges) {
      if (x.end < start || x.start > end) out.push(x)
      else {
        start = Math.min(start, x.start)
        end = Math.max(end, x.end)
      }
    }
    out.push({ start, end })
    out.sort((a, b) => a.start - b.start)
    this.ranges = out
  }

  remove(r: Range): void {
    if (r.end <= r.start) return
    const out: Range[] = []
    for (const x of this.ranges) {
      if (x.end <= r.start || x.start >= r.end) out.push(x)
      else {
        if (x.start < r.start) out.push({ start: x.start, end: r.start })
        if (x.end > r.end) out.push({ start: r.end, end: x.end })
      }
    }
    this.ranges = out
  }

  /** The parts of the set inside `r`. */
  within(r: Range): Range[] {
    const out: Range[] = []
    for (const x of this.ranges) {
      const i = intersect(x, r)
      if (i.end > i.start) out.push(i)
    }
    return out
  }

  clear(): void {
    this.ranges = []
  }
}

/** Reads `count` bytes at `offset` from the remote file (a handle's readToBlocksAt). */
export type ReadAt = (count: number, offset: number) => Sim<[string, Errno | null]>
/** Writes bytes at `offset` to the remote file (a handle's writeFromBlocksAt). */
export type WriteAt = (data: string, offset: number) => Sim<[number, Errno | null]>

/** A dentry that can give back cached pages under memory pressure. */
export interface EvictableMemoryUser {
  Evict(er: Range): Sim<void>
  pathForLog(): string
}

export class MemoryFile {
  usedPages = 0
  /** Evictable users and their ranges, least recently marked first. */
  readonly evictable: { user: EvictableMemoryUser; range: Range }[] = []
  /** Called when usage goes over the budget (wakes the eviction daemon). */
  onPressure: () => void = () => {}

  constructor(readonly budgetPages: number) {}

  allocate(pages: number): void {
    this.usedPages += pages
    if (this.usedPages > this.budgetPages) this.onPressure()
  }

  free(pages: number): void {
    this.usedPages -= pages
    if (this.usedPages < 0) throw new Error(`pgalloc: more pages freed than allocated (${this.usedPages})`)
  }

  overBudget(): boolean {
    return this.usedPages > this.budgetPages
  }

  MarkEvictable(user: EvictableMemoryUser, range: Range): void {
    for (let i = 0; i < this.evictable.length; i++) {
      if (this.evictable[i]!.user === user) {
        const prev = this.evictable.splice(i, 1)[0]!
        range = { start: Math.min(prev.range.start, range.start), end: Math.max(prev.range.end, range.end) }
        break
      }
    }
    this.evictable.push({ user, range })
  }

  MarkAllUnevictable(user: EvictableMemoryUser): void {
    const i = this.evictable.findIndex((e) => e.user === user)
    if (i >= 0) this.evictable.splice(i, 1)
  }

  /** The next victim, taken off the evictable list. */
  takeVictim(): { user: EvictableMemoryUser; range: Range } | undefined {
    return this.evictable.shift()
  }
}

/** d.cache and d.dirty of one regular file. */
export class FileCache {
  /** Cached pages by page index; each is PAGE_SIZE bytes. */
  readonly pages = new Map<number, string>()
  readonly dirty = new RangeSet()

  constructor(private readonly mf: MemoryFile) {}

  isEmpty(): boolean {
    return this.pages.size === 0
  }

  isCached(page: number): boolean {
    return this.pages.has(page)
  }

  /** The cached and uncached stretches of [start, end), in order. */
  segments(r: Range): { cached: boolean; range: Range }[] {
    // Walks the cached pages inside r, not every page of r (r may span a hole of any size).
    const inside = [...this.pages.keys()].filter((p) => (p + 1) * PAGE_SIZE > r.start && p * PAGE_SIZE < r.end).sort((a, b) => a - b)
    const out: { cached: boolean; range: Range }[] = []
    const push = (cached: boolean, start: number, end: number): void => {
      if (end <= start) return
      const last = out[out.length - 1]
      if (last !== undefined && last.cached === cached && last.range.end === start) out[out.length - 1] = { cached, range: { start: last.range.start, end } }
      else out.push({ cached, range: { start, end } })
    }
    let off = r.start
    for (const p of inside) {
      const ps = Math.max(r.start, p * PAGE_SIZE)
      const pe = Math.min(r.end, (p + 1) * PAGE_SIZE)
      push(false, off, ps)
      push(true, ps, pe)
      off = pe
    }
    push(false, off, r.end)
    return out
  }

  /** The uncached pages around `off`, as a page-aligned range (the gap FileRangeSet.Find would return). */
  gapAround(off: number, limit: number): Range {
    // From the cached pages on either side, not page by page: a gap before
    // a write at 2^40 is 2^28 pages.
    const page = Math.floor(off / PAGE_SIZE)
    let below = -1
    let above = Infinity
    for (const p of this.pages.keys()) {
      if (p < page && p > below) below = p
      if (p > page && p < above) above = p
    }
    const start = (below + 1) * PAGE_SIZE
    const end = Math.max(pageRoundDown(off) + PAGE_SIZE, Math.min(limit, above * PAGE_SIZE))
    return { start, end }
  }

  read(r: Range): string {
    let out = ""
    for (let off = r.start; off < r.end; ) {
      const page = Math.floor(off / PAGE_SIZE)
      const data = this.pages.get(page)
      if (data === undefined) throw new Error(`page cache: read of uncached page ${page}`)
      const inPage = off - page * PAGE_SIZE
      const n = Math.min(r.end - off, PAGE_SIZE - inPage)
      out += data.slice(inPage, inPage + n)
      off += n
    }
    return out
  }

  /** Writes into cached pages and marks the bytes dirty. */
  write(offset: number, data: string): void {
    let done = 0
    while (done < data.length) {
      const off = offset + done
      const page = Math.floor(off / PAGE_SIZE)
      const cur = this.pages.get(page)
      if (cur === undefined) throw new Error(`page cache: write to uncached page ${page}`)
      const inPage = off - page * PAGE_SIZE
      const n = Math.min(data.length - done, PAGE_SIZE - inPage)
      this.pages.set(page, cur.slice(0, inPage) + data.slice(done, done + n) + cur.slice(inPage + n))
      done += n
    }
    this.dirty.add({ start: offset, end: offset + data.length })
  }

  /**
   * fsutil.FileRangeSet.Fill: reads `fill` (page-aligned) from the remote
   * file into the cache, zero-filling past `fileSize`. Returns the error of
   * the read, after caching whatever it got.
   */
  *Fill(fill: Range, fileSize: number, readAt: ReadAt): Sim<Errno | null> {
    const want = Math.max(0, Math.min(fill.end, fileSize) - fill.start)
    const [data, err] = want > 0 ? yield* readAt(want, fill.start) : ["", null]
    // Only whole pages of what was read (or lies past EOF) are cached.
    const known = err === null ? fill.end : fill.start + pageRoundDown(data.length)
    let added = 0
    for (let off = fill.start; off < known; off += PAGE_SIZE) {
      const page = off / PAGE_SIZE
      if (this.pages.has(page)) continue
      const chunk = data.slice(off - fill.start, off - fill.start + PAGE_SIZE)
      this.pages.set(page, chunk + "\u0000".repeat(PAGE_SIZE - chunk.length))
      added++
    }
    if (added > 0) this.mf.allocate(added)
    return err
  }

  /**
   * fsutil.SyncDirty: writes the dirty bytes within `r` (and below
   * `fileSize`) back with `writeAt`, marking what was written clean.
   */
  *SyncDirty(r: Range, fileSize: number, writeAt: WriteAt): Sim<Errno | null> {
    for (const d of this.dirty.within(intersect(r, { start: 0, end: fileSize }))) {
      const data = this.read(d)
      const [n, err] = yield* writeAt(data, d.start)
      this.dirty.remove({ start: d.start, end: d.start + n })
      if (err !== null) return err
    }
    return null
  }

  *SyncDirtyAll(fileSize: number, writeAt: WriteAt): Sim<Errno | null> {
    return yield* this.SyncDirty({ start: 0, end: Number.MAX_SAFE_INTEGER }, fileSize, writeAt)
  }

  /** FileRangeSet.Truncate: drops pages past the new end and zeroes the tail of the last. */
  Truncate(end: number): void {
    const pgend = pageRoundUp(end)
    let freed = 0
    for (const page of [...this.pages.keys()].sort((a, b) => a - b)) {
      if (page * PAGE_SIZE >= pgend) {
        this.pages.delete(page)
        freed++
      }
    }
    if (end % PAGE_SIZE !== 0) {
      const page = Math.floor(end / PAGE_SIZE)
      const cur = this.pages.get(page)
      if (cur !== undefined) this.pages.set(page, cur.slice(0, end % PAGE_SIZE) + "\u0000".repeat(PAGE_SIZE - (end % PAGE_SIZE)))
    }
    if (freed > 0) this.mf.free(freed)
  }

  /** Drops the cached pages overlapping `r` (dirty state is the caller's business). */
  Drop(r: Range): void {
    let freed = 0
    for (const page of [...this.pages.keys()].sort((a, b) => a - b)) {
      const ps = page * PAGE_SIZE
      if (ps < r.end && ps + PAGE_SIZE > r.start) {
        this.pages.delete(page)
        freed++
      }
    }
    if (freed > 0) this.mf.free(freed)
  }

  DropAll(): void {
    const n = this.pages.size
    this.pages.clear()
    if (n > 0) this.mf.free(n)
  }

  /** The cached byte ranges, page-aligned, for invariants and `fsim show`. */
  cachedRanges(): Range[] {
    const rs = new RangeSet()
    for (const page of this.pages.keys()) rs.add({ start: page * PAGE_SIZE, end: (page + 1) * PAGE_SIZE })
    return rs.ranges
  }
}

/** maxFillRange (regular_file.go): read ahead up to 64 KiB within the gap. */
export function maxFillRange(required: Range, optional: Range): Range {
  const maxReadahead = 64 << 10
  if (required.end - required.start >= maxReadahead) return required
  if (optional.end - optional.start <= maxReadahead) return optional
  let o = { start: required.start, end: optional.end }
  if (o.end - o.start <= maxReadahead) return o
  o = { start: o.start, end: o.start + maxReadahead }
  return o
}
