// Bugs of gVisor's gofer that the port reproduces faithfully and the checks
// find (FINDINGS.md beside this file). Most are accepted per op by the
// gVisor dialect (src/model/gvisor.ts) or kept out of generated scenarios
// (src/sim/campaign.ts shapeDefaults); the ones here cannot be, and are
// recognized in a failing run's violations so that the property suites can
// tell them from anything new.

import { checkHistory } from "../../model/lincheck/index.js"
import type { Violation } from "../../sim/events.js"
import { sortRunFindings } from "../../sim/campaign.js"
import { historyOf, type RunReport } from "../../sim/run.js"
import { goferDialect, parseGoferOptions } from "./options.js"

export interface Finding {
  readonly id: string
  readonly title: string
  /** Whether this violation is an instance of the finding. */
  readonly matches: (v: Violation) => boolean
}

export const FINDINGS: readonly Finding[] = [
  {
    id: "otrunc-read-zeros",
    title:
      "an open with O_TRUNC truncates the remote file (Tlopen) before the client's size follows, under metadataMu that reads do not take: a concurrent read fills its cache from the truncated file and returns zeros up to the old size",
    // The explanation may name the read (it "saw" the zeros) or an op its
    // zeros conflict with (the read is then quoted with its "data").
    matches: (v) => v.check === "lincheck" && /\b(?:read|pread) of \d+ bytes? [^;]*?(?:saw )?data "(?:\\u0000)+"/.test(v.message),
  },
]

/** The finding every violation of a failing run is an instance of, or null. */
export function knownFinding(violations: readonly Violation[]): Finding | null {
  if (violations.length === 0) return null
  for (const f of FINDINGS) if (violations.every((v) => f.matches(v))) return f
  return null
}

type OpRec = RunReport["ops"][number]

const STATS = new Set(["stat", "lstat", "fstat"])

function overlaps(a: OpRec, b: OpRec): boolean {
  return a.invoke < (b.return ?? Infinity) && b.invoke < (a.return ?? Infinity)
}

/**
 * The offset of `w`'s description when `w` (a write) ran, from its thread's
 * earlier ops on that name (descriptions are named per thread), or null
 * where it depends on a size the ops do not show (O_APPEND, SEEK_END
 * answered by an error, an unknown open).
 */
function descriptionOffset(r: RunReport, w: OpRec): number | null {
  if (!("fd" in w.op)) return null
  const fd = w.op.fd
  let offset: number | null = null
  for (const o of r.ops) {
    if (o === w) return offset
    if (o.thread !== w.thread || !("fd" in o.op) || o.op.fd !== fd || o.result === null || "errno" in o.result) continue
    const op = o.op
    if (op.op === "open") offset = op.flags.includes("O_APPEND") ? null : 0
    else if (op.op === "close") offset = null
    else if (op.op === "lseek" && "offset" in o.result) offset = o.result.offset
    else if (op.op === "read" && "data" in o.result && offset !== null) offset += o.result.data.length
    else if (op.op === "write" && "count" in o.result && offset !== null) offset += o.result.count
  }
  return null
}

/**
 * Whether a run's lincheck violation is the empty-pwrite-grows-size
 * finding: the run is cache=none; its core holds a stat that overlaps a
 * client's pwrite (or write) of no bytes and reports that write's offset
 * as the size; and the history without such stats is linearizable (the finding
 * changes nothing but what those stats see: the server's file keeps its
 * size, and the next getattr puts it back in the client's cache).
 */
export function emptyPwriteGrowsSize(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const s = r.subject
  if (s.format !== "fsim.scenario/1" || s.mount.kind !== "gofer") return false
  let none: boolean
  try {
    none = parseGoferOptions(s.mount.options ?? "").regularFilesUseSpecialFileFD
  } catch {
    return false
  }
  if (!none) return false
  const external = new Set((s.external ?? []).map((t) => t.name))
  const empties: { readonly o: OpRec; readonly offset: number }[] = []
  for (const o of r.ops) {
    if ((o.op.op !== "pwrite" && o.op.op !== "write") || o.op.data !== "" || external.has(o.thread) || o.result === null || !("count" in o.result)) continue
    const offset = o.op.op === "pwrite" ? o.op.offset : descriptionOffset(r, o)
    if (offset !== null) empties.push({ o, offset })
  }
  if (empties.length === 0) return false
  const grown = (o: OpRec): boolean =>
    STATS.has(o.op.op) &&
    o.result !== null &&
    "size" in o.result &&
    empties.some((p) => p.offset === (o.result as { size: number }).size && overlaps(o, p.o))
  const core = new Set(v.events)
  if (!r.ops.some((o) => core.has(o.invoke) && grown(o))) return false
  const h = historyOf(s, r.ops.filter((o) => !grown(o)), "gvisor-gofer-none")
  return checkHistory(h, { explain: false }).linearizable === true
}

/**
 * empty-append-write-offset, reached by a failed write: an O_APPEND write
 * whose Twrite failed (an injected error) wrote nothing, yet
 * `regularFileFD.pwrite`/`specialFileFD.pwrite` had set its offset to the
 * file's size and `Write` stores it (Linux's ksys_write stores no position
 * after an error). Lincheck judges a failed faulted write as the whole
 * write or nothing; the run is this finding's when the history, with each
 * failed faulted write taken as the write of no bytes that the gofer's
 * dialect lets move an O_APPEND offset, is linearizable.
 */
export function failedAppendWriteMovesOffset(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const failed = (o: OpRec): boolean => o.faulted === true && o.op.op === "write" && o.op.data !== "" && o.result !== null && "errno" in o.result
  if (!r.ops.some(failed)) return false
  const ops = r.ops.map((o): OpRec => {
    if (!failed(o)) return o
    const { faulted: _judgedAsEmpty, ...rest } = o
    return { ...rest, op: { ...o.op, data: "" } as OpRec["op"], result: { count: 0 } }
  })
  return linearizableAs(r, ops)
}

/** Whether the run's history, with its ops replaced by `ops`, is linearizable in its mount's dialect. */
function linearizableAs(r: RunReport, ops: readonly OpRec[]): boolean {
  const s = r.subject
  if (s.format !== "fsim.scenario/1" || s.mount.kind !== "gofer") return false
  let dialect: ReturnType<typeof goferDialect>
  try {
    dialect = goferDialect(parseGoferOptions(s.mount.options ?? ""))
  } catch {
    return false
  }
  return checkHistory(historyOf(s, ops, dialect), { explain: false }).linearizable === true
}

type WriteOp = Extract<OpRec["op"], { op: "write" | "pwrite" }>

/**
 * The run's ops with each faulted write or pwrite that failed while its
 * thread logged `mark` replaced by `judged(op, offset, o)` (`offset`: where
 * it wrote, the description's for a write), and those offsets; null when
 * there is none, or one whose offset the ops do not show.
 */
function withFailedWrites(r: RunReport, mark: string, judged: (op: WriteOp, offset: number, o: OpRec) => OpRec): { readonly ops: OpRec[]; readonly offsets: ReadonlySet<number> } | null {
  const s = r.subject
  if (s.format !== "fsim.scenario/1" || s.mount.kind !== "gofer") return null
  const marks = markEvents(r, mark)
  if (marks.length === 0) return null
  const failed = (o: OpRec): boolean =>
    o.faulted === true &&
    (o.op.op === "write" || o.op.op === "pwrite") &&
    o.result !== null &&
    "errno" in o.result &&
    marks.some((m) => m.thread === o.thread && m.seq > o.invoke && m.seq < (o.return ?? Infinity))
  const offsets = new Set<number>()
  const ops: OpRec[] = []
  for (const o of r.ops) {
    if (!failed(o)) {
      ops.push(o)
      continue
    }
    const op = o.op as WriteOp
    const offset = op.op === "pwrite" ? op.offset : descriptionOffset(r, o)
    if (offset === null) return null
    offsets.add(offset)
    ops.push(judged(op, offset, o))
  }
  return offsets.size === 0 ? null : { ops, offsets }
}

/** The gofer mount's cache mode (gVisor's default when none is given: fscache). */
function cacheMode(r: RunReport): string | null {
  const s = r.subject
  if (s.format !== "fsim.scenario/1" || s.mount.kind !== "gofer") return null
  const opt = (s.mount.options ?? "").split(",").find((o) => o.startsWith("cache="))
  return opt === undefined ? "fscache" : opt.slice("cache=".length)
}

/**
 * Whether a run's lincheck violation is outside the contract of its cache
 * mode: under cache=fscache (InteropModeExclusive, "the filesystem client is
 * the only user of the remote filesystem") and fscache_writethrough
 * (InteropModeWritethrough, "read-only users of the remote filesystem"; the
 * client's cache is still authoritative, so it never sees their changes,
 * nor their atimes) the client trusts what it has cached, and an external
 * user's op that succeeded may never be seen by the client's threads. Such
 * a run cannot be judged against one tree; every lincheck violation of a
 * run with a successful external op under these modes is this, and so is
 * every coherence violation (the client's tree after sync is not the
 * server's). Generated scenarios leave both checks out there
 * (campaign.ts, cachedGoferMode); this names what a scenario that keeps
 * them shows.
 */
export function externalUserUnderExclusiveCache(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck" && v.check !== "coherence") return false
  const mode = cacheMode(r)
  if (mode !== "fscache" && mode !== "fscache_writethrough") return false
  const s = r.subject
  const external = new Set(s.format === "fsim.scenario/1" ? (s.external ?? []).map((t) => t.name) : [])
  return r.ops.some((o) => external.has(o.thread) && o.result !== null && !("errno" in o.result))
}

/** The run's mark events named `mark`, as {thread, seq, key}. */
function markEvents(r: RunReport, mark: string): { readonly thread: string; readonly seq: number; readonly key: string | undefined }[] {
  const at = r.eventAt ?? ((seq: number) => r.events[seq])
  const out: { thread: string; seq: number; key: string | undefined }[] = []
  for (let seq = 0; seq < r.eventCount; seq++) {
    const e = at(seq)
    if (e !== undefined && e.kind === "mark" && e.mark === mark) out.push({ thread: e.thread, seq, key: e.key })
  }
  return out
}

const DIRMU_AFTER_METADATA =
  /^lock order: thread (\S+) asks for gofer\.dentry\.dirMu#\d+ \((\S+)\) at event (\d+) while holding gofer\.dentry\.metadataMu#\d+ \((\S+)\) since event (\d+); the declared order \(gofer\) puts gofer\.dentry\.dirMu before gofer\.dentry\.metadataMu$/

const parentOf = (p: string): string => (p.lastIndexOf("/") <= 0 ? "/" : p.slice(0, p.lastIndexOf("/")))
const strictlyUnder = (p: string, dir: string): boolean => p.startsWith(dir === "/" ? "/" : `${dir}/`) && p !== dir

/**
 * Whether a lock-order violation is revalidateHelper's undeclared pair: a
 * thread, while invalidating a stale dentry K (the mark
 * gofer.revalidate.stale-dentry, logged by it between taking the held lock
 * and asking for the other), asks for dirMu of K's parent while still
 * holding the metadataMu of a dentry under K (a later one of its state).
 */
export function revalidateDirMuAfterMetadata(r: RunReport, v: Violation): boolean {
  if (v.check !== "lock_order") return false
  const m = DIRMU_AFTER_METADATA.exec(v.message)
  if (m === null) return false
  const [, thread, asked, askedAt, held, heldSince] = m
  return markEvents(r, "gofer.revalidate.stale-dentry").some(
    (k) => k.thread === thread && k.key !== undefined && Number(heldSince) < k.seq && k.seq < Number(askedAt) && parentOf(k.key) === asked && strictlyUnder(held!, k.key),
  )
}

/**
 * Whether a run's lincheck or coherence violation comes after the port
 * discarded dirty pages whose write-back had failed (destroyLocked, on a
 * dentry's eviction: an injected error reply or short write on the
 * write-back's Twrite). The port logs that as a `cache` event `page
 * dirty-dropped`; the violation is this finding when such an event comes
 * before every event the violation names, so a failure that began earlier
 * is not claimed.
 */
export function evictWritebackErrorDropsDirty(r: RunReport, v: Violation): boolean {
  return (v.check === "lincheck" || v.check === "coherence") && pageEventBefore(r, v, "dirty-dropped")
}

/** Whether a gofer run logged the `cache` event `page WHAT` before every event `v` names (before its end if it names none). */
function pageEventBefore(r: RunReport, v: Violation, what: string): boolean {
  if (r.subject.format !== "fsim.scenario/1" || r.subject.mount.kind !== "gofer") return false
  const first = v.events.length > 0 ? Math.min(...v.events) : r.eventCount
  for (let seq = 0; seq < Math.min(first, r.eventCount); seq++) {
    const e = r.eventAt !== undefined ? r.eventAt(seq) : r.events[seq]
    if (e?.kind === "cache" && e.cache === "page" && e.what === what) return true
  }
  return false
}

/**
 * direct-write-orphans-dirty: a lincheck, coherence or invariants violation
 * after an O_DIRECT write dropped pages that still had dirty bytes outside
 * its range (the port logs a `page dirty-orphaned` cache event there).
 */
export function directWriteOrphansDirty(r: RunReport, v: Violation): boolean {
  return (v.check === "lincheck" || v.check === "coherence" || v.check === "invariants") && pageEventBefore(r, v, "dirty-orphaned")
}

/**
 * writethrough-error-keeps-write: under InteropModeWritethrough a write
 * copies its bytes into the page cache (growing the cached size), then
 * writes them through; when that fails (mark gofer.io.writethrough-error)
 * it answers 0 bytes and the error, its offset unmoved, while the bytes
 * stay cached (dirty) and the size stays grown: later reads and stats see
 * a write the caller was told failed. The run is this finding's when the
 * history, with each such write taken as a pwrite of all its bytes at the
 * description's offset (which moves no offset), is linearizable.
 */
export function writethroughErrorKeepsWrite(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const kept = withFailedWrites(r, "gofer.io.writethrough-error", (op, offset, o) => {
    const { faulted: _judgedAsDone, ...rest } = o
    return { ...rest, op: { op: "pwrite", fd: op.fd, offset, data: op.data }, result: { count: op.data.length } }
  })
  return kept !== null && linearizableAs(r, kept.ops)
}

/**
 * failed-write-grows-size: dentryReadWriter.WriteFromBlocks writes an
 * uncached range straight to the server, and after its loop stores
 * `rw.off` (the write's start plus what was written) as the cached size
 * when it is larger: a write past the end whose Twrite failed (mark
 * gofer.io.short-write, nothing written) still grows the cached size to
 * the write's offset, a hole the server's file never gets. Where cached
 * metadata is authoritative (fscache, fscache_writethrough) stats report
 * it. The run is this finding's when the history, with each such failed
 * write taken as an ftruncate to its offset that may or may not have
 * happened, is linearizable.
 */
export function failedWriteGrowsSize(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck" && v.check !== "coherence") return false
  // Still faulted: the checker may take it as done or not.
  const grown = withFailedWrites(r, "gofer.io.short-write", (op, offset, o) => ({ ...o, op: { op: "ftruncate", fd: op.fd, length: offset }, result: {} }))
  if (grown === null) return false
  return v.check === "coherence" ? onlyGrownByHoles(v.message, grown.offsets) : linearizableAs(r, grown.ops)
}

const SERVER_AND_CLIENT = /^fscache: after sync the server's tree differs from the client's view: server (.*), client (.*)$/

/**
 * Whether fscache's coherence report (the server's tree against the
 * client's view after sync) differs only in files the client holds longer,
 * by zeros up to one of `sizes`: the hole a failed write left in the
 * client's size alone.
 */
function onlyGrownByHoles(message: string, sizes: ReadonlySet<number>): boolean {
  const m = SERVER_AND_CLIENT.exec(message)
  if (m === null) return false
  let server: unknown
  let client: unknown
  try {
    server = JSON.parse(m[1]!)
    client = JSON.parse(m[2]!)
  } catch {
    return false
  }
  let grown = 0
  const same = (a: unknown, b: unknown): boolean => {
    if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return JSON.stringify(a) === JSON.stringify(b)
    const x = a as Record<string, unknown>
    const y = b as Record<string, unknown>
    if (x["type"] === "file" && y["type"] === "file" && typeof x["data"] === "string" && typeof y["data"] === "string" && x["data"] !== y["data"]) {
      const d = x["data"]
      const e = y["data"]
      if (!(e.length > d.length && e.startsWith(d) && /^\u0000+$/.test(e.slice(d.length)) && sizes.has(e.length))) return false
      grown++
      return same({ ...x, data: "" }, { ...y, data: "" })
    }
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()
    return keys.every((k) => same(x[k], y[k]))
  }
  return same(server, client) && grown > 0
}

/**
 * create-walk-error-keeps-negative: an open(O_CREAT) of a name the client
 * has looked up and found missing (a cached negative entry) creates the
 * file on the server, then walks to it; when that walk fails the open
 * answers the error and the negative entry stays, so where cached entries
 * are trusted (fscache, fscache_writethrough) the client keeps answering
 * ENOENT for a file the server has, and a listing (read from the server)
 * shows, and a later open(O_CREAT) of the name (no O_EXCL) gets EEXIST from
 * the server's refused create. The run is this finding's when it has such
 * a faulted, failed open, and the history without the later ops of that
 * name that saw ENOENT (or such an EEXIST) is linearizable.
 */
export function createWalkErrorKeepsNegative(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const name = (p: string): string => p.replace(/^\/+/, "")
  const creates = r.ops.filter((o) => o.faulted === true && o.op.op === "open" && o.op.flags.includes("O_CREAT") && o.result !== null && "errno" in o.result)
  if (creates.length === 0) return false
  const created = new Set(creates.map((o) => name((o.op as { path: string }).path)))
  const after = Math.min(...creates.map((o) => o.return ?? Infinity))
  // The stale entry answers ENOENT, and an open(O_CREAT) without O_EXCL
  // through it sends a create the server refuses with EEXIST.
  const missed = (o: OpRec): boolean => {
    if (o.invoke <= after || !("path" in o.op) || !created.has(name(o.op.path)) || o.result === null || !("errno" in o.result)) return false
    if (o.result.errno === "ENOENT") return true
    return o.result.errno === "EEXIST" && o.op.op === "open" && o.op.flags.includes("O_CREAT") && !o.op.flags.includes("O_EXCL")
  }
  if (!r.ops.some(missed)) return false
  return linearizableAs(r, r.ops.filter((o) => !missed(o)))
}

/** Findings recognized from a violation and the run it comes from. */
export const RUN_FINDINGS: readonly { readonly id: string; readonly title: string; readonly matches: (r: RunReport, v: Violation) => boolean }[] = [
  {
    id: "empty-pwrite-grows-size",
    title:
      "specialFileFD.pwrite (regular files under cache=none) sets the client's cached size to the final offset whenever it exceeds it, also after a write of no bytes: a pwrite of nothing past the end grows the size a racing stat reads after its own getattr, while the server's file keeps its size",
    matches: emptyPwriteGrowsSize,
  },
  {
    id: "revalidate-dirmu-after-metadata",
    title:
      "revalidateHelper, invalidating a replaced dentry, takes its parent's dirMu while the dentries below it in the walk still hold metadataMu: a pair against gVisor's declared lock order (dirMu before metadataMu)",
    matches: revalidateDirMuAfterMetadata,
  },
  {
    id: "external-user-under-exclusive-cache",
    title:
      "documented behaviour, not a bug: under cache=fscache (InteropModeExclusive) and fscache_writethrough (InteropModeWritethrough) the client's cached metadata and data are authoritative, so another user's change to the share is never seen while it stays cached",
    matches: externalUserUnderExclusiveCache,
  },
  {
    id: "evict-writeback-error-drops-dirty",
    title:
      "dentry.destroyLocked writes an evicted dentry's dirty pages back and, if that fails (an error reply, a short write), logs a warning and discards them all the same: writes that returned success are lost, and no later op reports an error",
    matches: evictWritebackErrorDropsDirty,
  },
  {
    id: "direct-write-orphans-dirty",
    title:
      "regularFileFD.writeCache (an O_DIRECT write under a caching mode) writes back only the dirty bytes inside the write's range, then drops every page the range touches: dirty bytes of those pages outside it stay in the dirty set with no page behind them and are never written, so a write that returned success is lost",
    matches: directWriteOrphansDirty,
  },
  {
    id: "empty-append-write-offset",
    title:
      "regularFileFD.pwrite (and specialFileFD.pwrite) sets an O_APPEND write's offset to the file's size before it writes anything and returns offset + n, which Write stores even when the write failed: a failed O_APPEND write moves the description's offset to the end of the file",
    matches: failedAppendWriteMovesOffset,
  },
  {
    id: "writethrough-error-keeps-write",
    title:
      "under fscache_writethrough a write copies its bytes into the page cache and grows the cached size before writing them through; when that fails it answers the error with 0 bytes and its offset unmoved, yet the bytes stay cached (dirty, written back later) and the size stays grown: reads and stats see a write the caller was told failed",
    matches: writethroughErrorKeepsWrite,
  },
  {
    id: "failed-write-grows-size",
    title:
      "dentryReadWriter.WriteFromBlocks stores the write's start plus what it wrote as the cached size when that is larger, also when the Twrite of an uncached range failed and wrote nothing: a failed write past the end grows the client's size to the write's offset, a hole the server's file never gets",
    matches: failedWriteGrowsSize,
  },
  {
    id: "create-walk-error-keeps-negative",
    title:
      "an open(O_CREAT) of a name cached as missing creates the file on the server, then walks to it; when that walk fails the open answers the error and the negative entry stays: where cached entries are trusted (fscache, fscache_writethrough) the client answers ENOENT for a file the server has",
    matches: createWalkErrorKeepsNegative,
  },
]

/** A run's failure, sorted: the findings its violations are instances of (by id), and what none accounts for. */
export function goferRunFindings(r: RunReport): { readonly known: readonly string[]; readonly unknown: readonly string[] } {
  return sortRunFindings(r, (v) => (FINDINGS.find((f) => f.matches(v)) ?? RUN_FINDINGS.find((f) => f.matches(r, v)))?.id ?? null)
}
