// Structural hashing and equality of states. Hashes are cached per immutable
// object (inode, bucket, fd table), so hashing a state that shares most of
// its objects with an already hashed one costs O(what changed).
//
// An inode's `version` (a 9P server's qid.version) is left out of both: no
// contract op can observe it, and two orders of the same ops that reach the
// same files may count different numbers of changes, which must not keep
// the linearizability checker from merging them.

import { direntsEqual, type Dirents } from "./dirents.js"
import { dataEqual, type SparseData } from "./filedata.js"
import type { Bucket, Inode, ModelStateShape, OpenFile } from "./state.js"

const inodeHashes = new WeakMap<Inode, number>()
const bucketHashes = new WeakMap<Bucket, number>()
const fdHashes = new WeakMap<object, number>()

function mix(h: number, k: number): number {
  // murmur3's 32-bit block mix
  k = Math.imul(k, 0xcc9e2d51)
  k = (k << 15) | (k >>> 17)
  k = Math.imul(k, 0x1b873593)
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

function fmix(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

function mixNum(h: number, n: number): number {
  // Numbers up to 2^53: both 32-bit halves.
  return mix(mix(h, n | 0), Math.floor(n / 4294967296) | 0)
}

/** Canonical sparse contents (filedata.ts): equal bytes, equal extents, so equal hashes. */
function mixSparse(h: number, d: SparseData): number {
  h = mixNum(h, d.size)
  for (const e of d.extents) {
    h = mixNum(h, e.offset)
    h = mixStr(h, e.data)
  }
  return h
}

function mixStr(h: number, s: string): number {
  h = mix(h, s.length)
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i))
  return h
}

const TYPE_CODE = { file: 1, dir: 2, symlink: 3, fifo: 4, socket: 5, chardev: 6 } as const

function hashRecord(h: number, r: Readonly<Record<string, string | number>> | null): number {
  if (r === null) return mix(h, 0)
  for (const k of Object.keys(r).sort()) {
    h = mixStr(h, k)
    const v = r[k] as string | number
    h = typeof v === "number" ? mixNum(h, v) : mixStr(h, v)
  }
  return mix(h, 1)
}

function hashDirents(h: number, d: Dirents | null): number {
  if (d === null) return mix(h, 0)
  for (let k = 0; k < d.names.length; k++) {
    h = mixStr(h, d.names[k] as string)
    h = mixNum(h, d.inos[k] as number)
  }
  return mix(h, 1)
}

export function hashInode(i: Inode): number {
  let h = inodeHashes.get(i)
  if (h !== undefined) return h
  h = mixNum(0x9747b28c, i.ino)
  h = mix(h, TYPE_CODE[i.type])
  h = mix(h, i.mode)
  h = mixNum(h, i.uid)
  h = mixNum(h, i.gid)
  h = mix(h, i.nlink)
  h = mixNum(h, i.atime)
  h = mixNum(h, i.mtime)
  h = mixNum(h, i.ctime)
  h = typeof i.data === "string" ? mixStr(h, i.data) : mixSparse(h, i.data)
  h = mixStr(h, i.target)
  h = hashDirents(h, i.children)
  h = mixNum(h, i.parent)
  h = hashRecord(h, i.xattrs)
  h = fmix(h)
  inodeHashes.set(i, h)
  return h
}

function hashBucket(b: Bucket): number {
  let h = bucketHashes.get(b)
  if (h !== undefined) return h
  h = 0x3c6ef372
  for (let k = 0; k < b.length; k++) {
    const i = b[k]
    if (i !== undefined) h = mix(h, hashInode(i))
  }
  h = fmix(h)
  bucketHashes.set(b, h)
  return h
}

function hashFds(t: Readonly<Record<string, OpenFile>>): number {
  let h = fdHashes.get(t)
  if (h !== undefined) return h
  h = 0x5be0cd19
  for (const k of Object.keys(t).sort()) {
    const f = t[k] as OpenFile
    h = mixStr(h, k)
    h = mixNum(h, f.ino)
    h = mixNum(h, f.offset)
    h = mix(h, (f.readable ? 1 : 0) | (f.writable ? 2 : 0) | (f.append ? 4 : 0) | (f.pathOnly ? 8 : 0) | (f.nonblock ? 16 : 0) | (f.direct ? 32 : 0))
  }
  h = fmix(h)
  fdHashes.set(t, h)
  return h
}

export function hashState(s: ModelStateShape): number {
  let h = 0x6a09e667
  for (let k = 0; k < s.inodes.length; k++) {
    const b = s.inodes[k]
    if (b === undefined) continue
    h = mix(h, k)
    h = mix(h, hashBucket(b))
  }
  h = mix(h, hashFds(s.fds))
  h = mixNum(h, s.nextIno)
  h = mix(h, s.rootIno)
  h = mix(h, s.readOnly ? 1 : 0)
  return fmix(h)
}

function recordsEqual<T>(a: Readonly<Record<string, T>> | null, b: Readonly<Record<string, T>> | null): boolean {
  if (a === b) return true
  if (a === null || b === null) return false
  let n = 0
  for (const k in a) {
    n++
    if (a[k] !== b[k]) return false
  }
  for (const _ in b) n--
  return n === 0
}

export function inodesEqual(a: Inode, b: Inode): boolean {
  return (
    a === b ||
    (a.ino === b.ino &&
      a.type === b.type &&
      a.mode === b.mode &&
      a.uid === b.uid &&
      a.gid === b.gid &&
      a.nlink === b.nlink &&
      a.atime === b.atime &&
      a.mtime === b.mtime &&
      a.ctime === b.ctime &&
      dataEqual(a.data, b.data) &&
      a.target === b.target &&
      a.parent === b.parent &&
      (a.children === b.children || (a.children !== null && b.children !== null && direntsEqual(a.children, b.children))) &&
      recordsEqual(a.xattrs, b.xattrs))
  )
}

/** Arrays equal slot by slot, a missing slot (a hole, or past the end) counting as undefined. */
function slotsEqual<T>(a: readonly (T | undefined)[], b: readonly (T | undefined)[], eq: (x: T, y: T) => boolean): boolean {
  if (a === b) return true
  const n = Math.max(a.length, b.length)
  for (let k = 0; k < n; k++) {
    const x = a[k]
    const y = b[k]
    if (x === y) continue
    if (x === undefined || y === undefined || !eq(x, y)) return false
  }
  return true
}

function bucketsEqual(a: Bucket, b: Bucket): boolean {
  return slotsEqual(a, b, inodesEqual)
}

function fdsEqual(a: Readonly<Record<string, OpenFile>>, b: Readonly<Record<string, OpenFile>>): boolean {
  if (a === b) return true
  let n = 0
  for (const k in a) {
    n++
    const x = a[k] as OpenFile
    const y = b[k]
    if (y === undefined) return false
    if (
      x !== y &&
      (x.ino !== y.ino ||
        x.offset !== y.offset ||
        x.readable !== y.readable ||
        x.writable !== y.writable ||
        x.append !== y.append ||
        x.pathOnly !== y.pathOnly ||
        x.nonblock !== y.nonblock ||
        x.direct !== y.direct)
    ) {
      return false
    }
  }
  for (const _ in b) n--
  return n === 0
}

export function statesEqual(a: ModelStateShape, b: ModelStateShape): boolean {
  if (a === b) return true
  if (a.nextIno !== b.nextIno || a.rootIno !== b.rootIno || a.readOnly !== b.readOnly) return false
  if (!fdsEqual(a.fds, b.fds)) return false
  return slotsEqual(a.inodes, b.inodes, bucketsEqual)
}
