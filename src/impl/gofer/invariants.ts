// The gofer's invariants, checked after every operation returns (only what
// must hold whenever the protecting lock is free) and at quiescence (all
// FDs closed, nothing in flight), each violation naming the dentry by path.
//
//   dentry cache: the LRU's length equals cachedDentriesLen, and is within
//     dentry_cache_limit at quiescence; cached iff in the LRU;
//     no cached dentry with references at quiescence;
//   references: a destroyed dentry is neither reachable nor cached; at
//     quiescence every count equals what holds it (children, FDs, the
//     root's two: the mount's and the filesystem's, a synthetic file's own);
//   negative dentries: none under remote_revalidating in real directories;
//     the dirents cache only where metadata is authoritative;
//   handles: only ever upgraded (never downgraded);
//   page cache: dirty bytes are cached, nothing cached past the
//     page-rounded size;
//   fids: at quiescence every fid the client holds belongs to a live
//     dentry or handle; none after unmount.

import type { P9Client, P9File } from "../../sim/p9/api.js"
import type { dentry } from "./dentry.js"
import type { filesystem } from "./filesystem.js"
import { InteropModeShared } from "./options.js"
import { PAGE_SIZE, pageRoundUp } from "../vfs/linux.js"

export interface InvariantViolation {
  readonly message: string
}

/** Per-dentry history for the monotonic checks. */
export class InvariantState {
  readonly handles = new WeakMap<dentry, { r: boolean; w: boolean }>()
  /** Dentries visited by the checks so far: their work, counted against the run's check budget. */
  visited = 0
}

/** Every dentry reachable from the root through children (cached names). */
function reachable(fs: filesystem): dentry[] {
  const out: dentry[] = []
  const seen = new Set<dentry>()
  const stack: dentry[] = [fs.root]
  while (stack.length > 0) {
    const d = stack.pop()!
    if (seen.has(d)) continue
    seen.add(d)
    out.push(d)
    if (d.children === null) continue
    for (const c of [...d.children.values()].reverse()) if (c !== null) stack.push(c)
  }
  return out
}

/** Whether a Mutex or RWMutex is held by no one. */
export function isFree(lock: { readonly holder?: unknown; readonly writer?: unknown; readonly readers?: readonly unknown[] }): boolean {
  if ("holder" in lock) return lock.holder === null
  return lock.writer === null && (lock.readers?.length ?? 0) === 0
}

/**
 * The invariants that hold whenever their locks are free. `openFDs` counts
 * the open descriptions per dentry (for quiescent reference accounting).
 */
export function checkGofer(fs: filesystem, st: InvariantState, quiescent: boolean, openFDs: ReadonlyMap<dentry, number>): InvariantViolation[] {
  const v: InvariantViolation[] = []
  const add = (d: dentry | null, msg: string): void => {
    v.push({ message: d === null ? msg : `${d.pathForLog()}: ${msg}` })
  }
  const all = reachable(fs)
  st.visited += all.length

  // The LRU.
  if (isFree(fs.cacheMu)) {
    const lru = fs.lruList()
    if (lru.length !== fs.cachedDentriesLen) add(null, `dentry LRU holds ${lru.length} dentries but cachedDentriesLen is ${fs.cachedDentriesLen}`)
    // checkCachingLocked drops cacheMu before taking renameMu to evict, so
    // the LRU may briefly exceed the limit while another thread runs; only
    // once every thread is done must the evictions have caught up.
    if (quiescent && fs.cachedDentriesLen > fs.opts.maxCachedDentries) {
      add(null, `dentry LRU holds ${fs.cachedDentriesLen} dentries at quiescence, over dentry_cache_limit=${fs.opts.maxCachedDentries}`)
    }
    const inLru = new Set(lru)
    for (const d of lru) {
      if (!d.cached) add(d, "in the dentry LRU but not marked cached")
      if (d.refs === -1) add(d, "destroyed but still in the dentry LRU")
      if (quiescent && d.refs > 0) add(d, `cached with ${d.refs} references at quiescence`)
    }
    for (const d of all) if (d.cached && !inLru.has(d)) add(d, "marked cached but not in the dentry LRU")
  }

  for (const d of all) {
    if (d.refs === -1) add(d, "destroyed but reachable from the root")
    if (d.refs < -1) add(d, `reference count ${d.refs}`)
    if (isFree(d.dirMu) && d.children !== null) {
      if (fs.opts.interop === InteropModeShared && !d.isSynthetic()) {
        for (const [name, c] of d.children) if (c === null) add(d, `negative dentry for "${name}" under remote_revalidating`)
      }
      if (d.dirents !== null && !d.cachedMetadataAuthoritative()) add(d, "dirents cached though metadata is not authoritative")
    }
    // Handles are only ever upgraded.
    if (isFree(d.handleMu)) {
      const now = { r: d.readFile !== null, w: d.writeFile !== null }
      const prev = st.handles.get(d)
      if (prev !== undefined && ((prev.r && !now.r) || (prev.w && !now.w)) && d.refs !== -1) {
        add(d, `handle downgraded from ${prev.r ? "r" : ""}${prev.w ? "w" : ""} to ${now.r ? "r" : ""}${now.w ? "w" : ""}`)
      }
      if (d.refs !== -1) st.handles.set(d, now)
    }
    // The page cache.
    if (isFree(d.dataMu) && isFree(d.metadataMu)) {
      const limit = pageRoundUp(d.size)
      for (const page of d.cache.pages.keys()) {
        if (page * PAGE_SIZE >= limit) add(d, `page ${page} cached past the page-rounded size ${limit}`)
      }
      for (const r of d.cache.dirty.ranges) {
        for (let p = Math.floor(r.start / PAGE_SIZE); p * PAGE_SIZE < r.end; p++) {
          if (!d.cache.isCached(p)) add(d, `dirty bytes [${r.start}, ${r.end}) in uncached page ${p}`)
        }
      }
    }
  }

  if (quiescent) {
    // gVisor before 7d0bf706d (the port has the fix; the mutant
    // invalidate-keeps-descendants has the code before it) invalidated a
    // replaced directory alone: its cached descendants stay in the LRU,
    // keeping the dead dentry alive and with it its reference on its
    // parent, until evicted. Such references are named apart (FINDINGS.md,
    // invalidated-dir-kept-alive), found by climbing from the LRU's
    // unreachable entries to a reachable parent.
    const reach = new Set(all)
    const deadHolders = new Map<dentry, Set<dentry>>()
    if (isFree(fs.cacheMu)) {
      for (const e of fs.lruList()) {
        for (let u: dentry = e; u.parent !== null && !reach.has(u); u = u.parent) {
          if (reach.has(u.parent) && u.vfsd.IsDead() && u.refs > 0) {
            const held = deadHolders.get(u.parent) ?? new Set<dentry>()
            held.add(u)
            deadHolders.set(u.parent, held)
          }
        }
      }
    }
    // Every reference is accounted for.
    for (const d of all) {
      let expected = 0
      if (d.children !== null) for (const c of d.children.values()) if (c !== null) expected++
      if (d === fs.root) expected += 2
      if (d.isSynthetic() && d.refs !== -1 && !d.deleted) expected += 1
      expected += openFDs.get(d) ?? 0
      const held = [...(deadHolders.get(d) ?? [])]
      if (d.refs !== expected && held.length > 0 && d.refs === expected + held.length) {
        add(d, `holds ${d.refs} references at quiescence: its children, open FDs${d === fs.root ? " and the root's two" : ""} account for ${expected}, and ${held.length} ${held.length === 1 ? "is" : "are"} held by invalidated ${held.map((h) => h.pathForLog()).join(", ")}, kept alive by cached descendants`)
      } else if (d.refs !== expected) add(d, `holds ${d.refs} references at quiescence, but its children, open FDs${d === fs.root ? " and the root's two" : ""} account for ${expected}`)
    }
  }
  return v
}

/** Fids the client holds that no live dentry or handle owns (at quiescence). */
export function leakedFids(fs: filesystem, client: P9Client, extra: readonly (P9File | null)[]): string[] {
  const owned = new Set<number>()
  const own = (f: P9File | null): void => {
    if (f !== null) owned.add(f.fid)
  }
  for (const d of fs.syncableDentries) {
    own(d.file)
    own(d.readFile)
    own(d.writeFile)
  }
  for (const fd of fs.specialFileFDs) own(fd.handle.file)
  for (const f of extra) own(f)
  const out: string[] = []
  for (const [fid, owner] of client.liveFids()) if (!owned.has(fid)) out.push(`fid ${fid} (${owner})`)
  return out
}
