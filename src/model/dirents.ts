// A directory's entries: names sorted (by code unit, which is byte order for
// our one-byte-per-code-unit names) in one array, their inode numbers in a
// parallel one. Arrays copy far faster than records (and a frozen record
// copies slowly in V8), lookups are a binary search, and getdents' order is
// the storage order. Both arrays are frozen and never mutated.

export interface Dirents {
  readonly names: readonly string[]
  readonly inos: readonly number[]
}

export const EMPTY_DIRENTS: Dirents = Object.freeze({ names: Object.freeze([]) as readonly string[], inos: Object.freeze([]) as readonly number[] })

/** The index of `name`, or -(insertion point) - 1. */
function search(names: readonly string[], name: string): number {
  let lo = 0
  let hi = names.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const m = names[mid] as string
    if (m < name) lo = mid + 1
    else if (m > name) hi = mid - 1
    else return mid
  }
  return -lo - 1
}

export function direntLookup(d: Dirents, name: string): number | undefined {
  const i = search(d.names, name)
  return i >= 0 ? d.inos[i] : undefined
}

/** A copy with `name` bound to `ino` (added or replaced). */
export function direntSet(d: Dirents, name: string, ino: number): Dirents {
  const i = search(d.names, name)
  const n = d.names.length
  const names: string[] = []
  const inos: number[] = []
  if (i >= 0) {
    for (let k = 0; k < n; k++) {
      names.push(d.names[k] as string)
      inos.push(k === i ? ino : (d.inos[k] as number))
    }
  } else {
    const at = -i - 1
    for (let k = 0; k < n; k++) {
      if (k === at) {
        names.push(name)
        inos.push(ino)
      }
      names.push(d.names[k] as string)
      inos.push(d.inos[k] as number)
    }
    if (at === n) {
      names.push(name)
      inos.push(ino)
    }
  }
  return Object.freeze({ names: Object.freeze(names), inos: Object.freeze(inos) })
}

/** A copy without `name` (the same object if absent). */
export function direntDelete(d: Dirents, name: string): Dirents {
  const i = search(d.names, name)
  if (i < 0) return d
  const names: string[] = []
  const inos: number[] = []
  for (let k = 0; k < d.names.length; k++) {
    if (k === i) continue
    names.push(d.names[k] as string)
    inos.push(d.inos[k] as number)
  }
  return Object.freeze({ names: Object.freeze(names), inos: Object.freeze(inos) })
}

/** Dirents from unsorted pairs (tree building). */
export function direntsOf(pairs: readonly (readonly [string, number])[]): Dirents {
  const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  return Object.freeze({ names: Object.freeze(sorted.map((p) => p[0])), inos: Object.freeze(sorted.map((p) => p[1])) })
}

export function direntsEqual(a: Dirents, b: Dirents): boolean {
  if (a === b) return true
  const n = a.names.length
  if (n !== b.names.length) return false
  for (let k = 0; k < n; k++) if (a.names[k] !== b.names[k] || a.inos[k] !== b.inos[k]) return false
  return true
}
