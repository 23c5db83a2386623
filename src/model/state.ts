// The model's state and its copy-on-write transaction.
//
// Shape, chosen for cheap steps at 10,000 inodes: inodes live in buckets of
// 64 keyed by `ino >> 6`, so one step copies the bucket table (~n/64
// pointers), one or two buckets (64 pointers each) and the inodes it
// changes; everything else is shared with the previous state. Immer's
// drafting costs more than the step itself, so `Tx` does the copy-on-write
// by hand and writes the same patches immer would (`applyPatches` replays
// them, see index.ts `replayPatches`). Every object a state reaches is
// frozen when created and never mutated afterwards.

import type { Patch } from "immer"
import type { Dirents } from "./dirents.js"
import type { FileData } from "./filedata.js"
import type { NodeType } from "./types.js"

/**
 * An inode's type: the contract's node types, and "chardev", a character
 * device. Only the 0:0 device exists (an overlay whiteout): it comes from an
 * overlay layer's tree or the inode-level mknod the overlay uses, never from
 * a contract op. The contract has no device type: its Stat and directory
 * entries show a chardev as "file" (see `contractType`).
 */
export type InodeType = NodeType | "chardev"

/** The contract's name for an inode type (a device shows as a file: the contract has no device type). */
export function contractType(t: InodeType): NodeType {
  return t === "chardev" ? "file" : t
}

/** One inode. A single shape for every type keeps property access monomorphic. */
export interface Inode {
  readonly ino: number
  readonly type: InodeType
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly nlink: number
  readonly atime: number
  readonly mtime: number
  readonly ctime: number
  /**
   * File contents (sparse past DENSE_MAX, see filedata.ts), or a FIFO's
   * buffered bytes (always a string); "" otherwise. One byte per code unit.
   */
  readonly data: FileData
  /** Symlink target; "" otherwise. */
  readonly target: string
  /** Directory entries; null for non-directories. */
  readonly children: Dirents | null
  /** A directory's ".." (the root's is itself); 0 for non-directories. */
  readonly parent: number
  /** Extended attributes name -> value (null-prototype record), or null when none. */
  readonly xattrs: Readonly<Record<string, string>> | null
  /**
   * Bumped once by every step that changes the inode other than its atime
   * (Linux's i_version, which atime updates leave alone either): a 9P
   * server's qid.version. Not observable through the contract's ops, so
   * state equality and hashes ignore it (see hash.ts).
   */
  readonly version: number
}

/** An open file description, bound to a symbolic fd name. */
export interface OpenFile {
  readonly ino: number
  readonly offset: number
  /** FMODE_READ / FMODE_WRITE as Linux derives them from the access mode (O_WRONLY|O_RDWR gives neither). */
  readonly readable: boolean
  readonly writable: boolean
  readonly append: boolean
  /** O_PATH: only close and fstat work. */
  readonly pathOnly: boolean
  readonly nonblock: boolean
  readonly direct: boolean
}

/** BUCKET_SIZE slots, slot `ino & BUCKET_MASK`; undefined where no inode. */
export type Bucket = readonly (Inode | undefined)[]

export interface ModelStateShape {
  /**
   * Buckets of inodes, index `ino >> BUCKET_BITS`; undefined where a bucket
   * is empty. Arrays, copied by loop: V8 copies a frozen array by `slice`
   * or a frozen record by spread through a slow path.
   */
  readonly inodes: readonly (Bucket | undefined)[]
  /** Open file descriptions by fd name (null-prototype record). */
  readonly fds: Readonly<Record<string, OpenFile>>
  /** The next inode number to hand out (monotonic, never reused). */
  readonly nextIno: number
  readonly rootIno: number
  readonly readOnly: boolean
}

export const BUCKET_BITS = 6
export const BUCKET_SIZE = 1 << BUCKET_BITS
export const BUCKET_MASK = BUCKET_SIZE - 1

export function getInode(s: ModelStateShape, ino: number): Inode | undefined {
  const b = s.inodes[ino >> BUCKET_BITS]
  return b === undefined ? undefined : b[ino & BUCKET_MASK]
}

/** A mutable copy of `a` (length at least `length`, padded with undefined). Frozen arrays copy slowly with slice. */
export function copyArray<T>(a: readonly T[] | undefined, length: number): (T | undefined)[] {
  const out: (T | undefined)[] = []
  const n = a === undefined ? 0 : a.length
  for (let i = 0; i < n; i++) out.push((a as readonly T[])[i])
  for (let i = n; i < length; i++) out.push(undefined)
  return out
}

export function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>
}

/** A frozen shallow copy of a null-prototype record with `key` set (or deleted when value is undefined). */
export function withKey<T>(rec: Readonly<Record<string, T>> | null, key: string, value: T | undefined): Readonly<Record<string, T>> {
  const out = emptyRecord<T>()
  if (rec !== null) for (const k in rec) out[k] = rec[k] as T
  if (value === undefined) delete out[key]
  else out[key] = value
  return Object.freeze(out)
}

function changesMoreThanAtime(change: Partial<Inode>): boolean {
  for (const k in change) if (k !== "atime") return true
  return false
}

export function freezeInode(i: Inode): Inode {
  return Object.freeze(i)
}

/**
 * A step's copy-on-write view of a state: reads see the step's own writes;
 * `commit` builds the new state, sharing everything untouched, and the
 * patches that turn the old state into it.
 */
export class Tx {
  private readonly inodeChanges = new Map<number, Inode | null>()
  /** Inodes of the base state whose version this step has bumped already. */
  private readonly versioned = new Set<number>()
  private fdTable: Record<string, OpenFile> | null = null
  nextIno: number

  constructor(readonly base: ModelStateShape) {
    this.nextIno = base.nextIno
  }

  get rootIno(): number {
    return this.base.rootIno
  }

  get readOnly(): boolean {
    return this.base.readOnly
  }

  inode(ino: number): Inode | undefined {
    const c = this.inodeChanges.get(ino)
    if (c !== undefined) return c === null ? undefined : c
    return getInode(this.base, ino)
  }

  /** The inode, which the caller knows exists (a directory entry or an fd points at it). */
  must(ino: number): Inode {
    const i = this.inode(ino)
    if (i === undefined) throw new Error(`model invariant broken: inode ${ino} is referenced but does not exist`)
    return i
  }

  put(i: Inode): void {
    this.inodeChanges.set(i.ino, Object.isFrozen(i) ? i : Object.freeze(i))
  }

  update(ino: number, change: Partial<Omit<Inode, "ino" | "version">>): Inode {
    const cur = this.must(ino)
    let next: Inode
    if (this.versioned.has(ino) || !changesMoreThanAtime(change) || getInode(this.base, ino) === undefined) {
      next = Object.freeze({ ...cur, ...change })
    } else {
      this.versioned.add(ino)
      next = Object.freeze({ ...cur, ...change, version: cur.version + 1 })
    }
    this.inodeChanges.set(ino, next)
    return next
  }

  remove(ino: number): void {
    this.inodeChanges.set(ino, null)
  }

  allocIno(): number {
    return this.nextIno++
  }

  fd(name: string): OpenFile | undefined {
    const t = this.fdTable ?? this.base.fds
    return t[name]
  }

  fds(): Readonly<Record<string, OpenFile>> {
    return this.fdTable ?? this.base.fds
  }

  setFd(name: string, f: OpenFile | undefined): void {
    if (this.fdTable === null) {
      this.fdTable = emptyRecord<OpenFile>()
      const b = this.base.fds
      for (const k in b) this.fdTable[k] = b[k] as OpenFile
    }
    if (f === undefined) delete this.fdTable[name]
    else this.fdTable[name] = Object.isFrozen(f) ? f : Object.freeze(f)
  }

  /** Whether any open description (other than those being replaced) refers to `ino`. */
  isOpen(ino: number): boolean {
    const t = this.fds()
    for (const k in t) if ((t[k] as OpenFile).ino === ino) return true
    return false
  }

  commit(): { state: ModelStateShape; patches: Patch[] } {
    const base = this.base
    const patches: Patch[] = []
    if (this.inodeChanges.size === 0 && this.fdTable === null && this.nextIno === base.nextIno) {
      return { state: base, patches }
    }
    let inodes = base.inodes
    if (this.inodeChanges.size > 0) {
      let top = 0
      for (const ino of this.inodeChanges.keys()) top = Math.max(top, (ino >> BUCKET_BITS) + 1)
      const table = copyArray(base.inodes, top)
      const touched = new Map<number, (Inode | undefined)[]>()
      for (const [ino, value] of this.inodeChanges) {
        const bk = ino >> BUCKET_BITS
        let bucket = touched.get(bk)
        if (bucket === undefined) {
          bucket = copyArray(base.inodes[bk], BUCKET_SIZE)
          touched.set(bk, bucket)
        }
        bucket[ino & BUCKET_MASK] = value === null ? undefined : value
      }
      // Immer patches on arrays: only "replace" (its "add" and "remove" splice).
      for (const [bk, bucket] of touched) {
        const had = base.inodes[bk]
        const empty = bucket.every((i) => i === undefined)
        const next = empty ? undefined : Object.freeze(bucket)
        table[bk] = next
        if (had === undefined || next === undefined) {
          if (had !== next) patches.push({ op: "replace", path: ["inodes", bk], value: next })
          continue
        }
        for (const [ino, value] of this.inodeChanges) {
          if (ino >> BUCKET_BITS !== bk) continue
          const slot = ino & BUCKET_MASK
          if (had[slot] !== (value ?? undefined)) patches.push({ op: "replace", path: ["inodes", bk, slot], value: value ?? undefined })
        }
      }
      inodes = Object.freeze(table)
    }
    let fds = base.fds
    if (this.fdTable !== null) {
      fds = Object.freeze(this.fdTable)
      // The whole table is replaced: it is small, and fd names such as
      // "__proto__" may not appear in a patch path.
      patches.push({ op: "replace", path: ["fds"], value: fds })
    }
    if (this.nextIno !== base.nextIno) patches.push({ op: "replace", path: ["nextIno"], value: this.nextIno })
    const state = Object.freeze({ inodes, fds, nextIno: this.nextIno, rootIno: base.rootIno, readOnly: base.readOnly })
    return { state, patches }
  }
}
