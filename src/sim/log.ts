// The event log of one run: events in order, numbered from 0, with
// observers (the online checkers) that see each event as it is appended.

import { POINT_KINDS, type Event, type LockMode, type PointKind, type Violation } from "./events.js"

export interface EventObserver {
  onEvent(e: Event): void
  /** Set when the observer wants `sched` events too (most checkers do not). */
  readonly wantsSched?: boolean
}

/** A checker fed by the log; its findings are drained into the log after each step. */
export interface Checker extends EventObserver {
  /** Violations found since the last call, oldest first. */
  drain(): Violation[]
}

// Storage. A run appends hundreds of thousands of events and keeps every one
// until it ends. An object per event that survives makes V8's garbage
// collector copy it twice (young generation, then old): measured at about
// 150 ns an event, several times a whole scheduler step. So the hot kinds
// (scheduling decisions and lock events, nearly all of a run) are kept
// packed in typed-array columns, in fixed-size chunks, with no per-event
// pointer at all (lock classes are known by lock id, instance names are
// interned), and become objects only when read; observers get short-lived
// objects, which are cheap. Other events are kept as objects in a side list.

const TAG_OBJECT = 0
const TAG_SCHED = 1
/** Lock event kinds as the packed log numbers them (numbers, not strings: a keyed lookup per event showed in profiles). */
export const LOCK_WAIT = 2
export const LOCK_ACQUIRE = 3
export const LOCK_RELEASE = 4
export type LockEventTag = typeof LOCK_WAIT | typeof LOCK_ACQUIRE | typeof LOCK_RELEASE

const LOCK_KIND = ["", "", "lock_wait", "lock_acquire", "lock_release"] as const

export const POINT_INDEX: ReadonlyMap<PointKind, number> = new Map(POINT_KINDS.map((p, i) => [p, i]))

/** Events per chunk of columns: fixed, so no append ever copies what is stored. */
const CHUNK_BITS = 13
const CHUNK = 1 << CHUNK_BITS
const CHUNK_MASK = CHUNK - 1

export class EventLog {
  // Columns of the chunk being filled; earlier chunks are in the lists below.
  private tag = new Uint8Array(CHUNK)
  private thread = new Int32Array(CHUNK)
  /** sched: the thread's step; lock events: the lock id; objects: index in `objects`. */
  private num = new Float64Array(CHUNK)
  /** sched: the point kind's index; lock events: 0 read, 1 write. */
  private small = new Uint8Array(CHUNK)
  /** Lock events: index of the instance's name in `names`, or -1. */
  private name = new Int32Array(CHUNK)
  private readonly tags: Uint8Array[] = [this.tag]
  private readonly threads: Int32Array[] = [this.thread]
  private readonly nums: Float64Array[] = [this.num]
  private readonly smalls: Uint8Array[] = [this.small]
  private readonly nameCols: Int32Array[] = [this.name]
  private readonly objects: Event[] = []
  private readonly names: string[] = []
  private readonly nameIndex = new Map<string, number>()
  /** Lock classes by lock id. */
  private readonly lockClasses: string[] = []
  private count = 0
  private flat: Event[] | null = null
  private readonly observers: EventObserver[] = []
  private schedObservers = 0
  /** Thread names by thread number (the scheduler's thread id). */
  private readonly threadNames: string[] = []
  /** The coverage marks logged so far, each once (what a campaign tallies without making the events). */
  private readonly markSet = new Set<string>()

  /**
   * When false, nothing is recorded and observers are not called: used only
   * by the benchmark to measure the scheduler alone.
   */
  constructor(readonly enabled = true) {}

  /** The `seq` the next event must carry. */
  get nextSeq(): number {
    return this.count
  }

  get length(): number {
    return this.count
  }

  /** Names thread number `id` for the packed events that carry it. */
  registerThread(id: number, name: string): void {
    if (this.threadNames[id] !== undefined && this.threadNames[id] !== name) {
      throw new Error(`event log: thread ${id} is already ${this.threadNames[id]}, not ${name}`)
    }
    this.threadNames[id] = name
  }

  /** Names the class of lock `id` for the packed events that carry it. */
  registerLock(id: number, cls: string): void {
    this.lockClasses[id] = cls
  }

  /** All events in order (a snapshot array, cached until the next append). */
  get events(): readonly Event[] {
    if (this.flat === null || this.flat.length !== this.count) {
      const out = new Array<Event>(this.count)
      for (let i = 0; i < this.count; i++) out[i] = this.at(i)!
      this.flat = out
    }
    return this.flat
  }

  at(seq: number): Event | undefined {
    if (!(seq >= 0 && seq < this.count)) return undefined
    const c = seq >>> CHUNK_BITS
    const i = seq & CHUNK_MASK
    const tag = this.tags[c]![i]!
    const num = this.nums[c]![i]!
    if (tag === TAG_OBJECT) return this.objects[num]
    const thread = this.threadNames[this.threads[c]![i]!]!
    const small = this.smalls[c]![i]!
    if (tag === TAG_SCHED) return { seq, kind: "sched", thread, step: num, point: POINT_KINDS[small]! }
    const kind = LOCK_KIND[tag] as "lock_wait"
    const cls = this.lockClasses[num]!
    const mode: LockMode = small === 1 ? "w" : "r"
    const n = this.nameCols[c]![i]!
    return n < 0 ? { seq, kind, thread, lock: num, class: cls, mode } : { seq, kind, thread, lock: num, class: cls, mode, name: this.names[n]! }
  }

  /** The distinct coverage marks logged so far, sorted. */
  get marks(): readonly string[] {
    return [...this.markSet].sort()
  }

  /**
   * Logs coverage mark `mark` reached by `thread` (at `key`, a path, when
   * known). A port calls it on a rare path (src/sim/marks.ts): it is an
   * event like any other, not a scheduling point.
   */
  mark(thread: string, mark: string, key?: string): void {
    if (!this.enabled) return
    this.add(key === undefined ? { seq: this.count, kind: "mark", thread, mark } : { seq: this.count, kind: "mark", thread, mark, key })
  }

  observe(o: EventObserver): void {
    this.observers.push(o)
    if (o.wantsSched === true) this.schedObservers++
  }

  add(e: Event): void {
    const seq = this.count
    if (e.seq !== seq) throw new Error(`event log: event ${e.kind} carries seq ${e.seq}, expected ${seq}`)
    const i = seq & CHUNK_MASK
    if (i === 0 && seq > 0) this.nextChunk()
    this.tag[i] = TAG_OBJECT
    this.num[i] = this.objects.length
    this.objects.push(e)
    this.count = seq + 1
    if (e.kind === "mark") this.markSet.add(e.mark)
    const obs = this.observers
    for (let k = 0; k < obs.length; k++) obs[k]!.onEvent(e)
  }

  /** Appends a scheduling decision without making an object. */
  addSched(threadId: number, step: number, pointIndex: number): void {
    const seq = this.count
    const i = seq & CHUNK_MASK
    if (i === 0 && seq > 0) this.nextChunk()
    this.tag[i] = TAG_SCHED
    this.thread[i] = threadId
    this.num[i] = step
    this.small[i] = pointIndex
    this.count = seq + 1
    if (this.schedObservers > 0) {
      const e = this.at(seq)!
      for (const o of this.observers) if (o.wantsSched === true) o.onEvent(e)
    }
  }

  /** Appends a lock event (of a lock registered with registerLock) without keeping an object. */
  addLock(tag: LockEventTag, threadId: number, lock: number, mode: LockMode, name: string | undefined): void {
    const seq = this.count
    const i = seq & CHUNK_MASK
    if (i === 0 && seq > 0) this.nextChunk()
    this.tag[i] = tag
    this.thread[i] = threadId
    this.num[i] = lock
    this.small[i] = mode === "w" ? 1 : 0
    this.name[i] = name === undefined ? -1 : this.intern(name)
    this.count = seq + 1
    const obs = this.observers
    if (obs.length > 0) {
      const e = this.at(seq)!
      for (let k = 0; k < obs.length; k++) obs[k]!.onEvent(e)
    }
  }

  private intern(name: string): number {
    let n = this.nameIndex.get(name)
    if (n === undefined) {
      n = this.names.length
      this.names.push(name)
      this.nameIndex.set(name, n)
    }
    return n
  }

  private nextChunk(): void {
    // One buffer per chunk, cut into the five columns: one allocation
    // instead of five (buffer allocation showed in profiles).
    const buf = new ArrayBuffer(CHUNK * 18)
    this.num = new Float64Array(buf, 0, CHUNK)
    this.thread = new Int32Array(buf, CHUNK * 8, CHUNK)
    this.name = new Int32Array(buf, CHUNK * 12, CHUNK)
    this.tag = new Uint8Array(buf, CHUNK * 16, CHUNK)
    this.small = new Uint8Array(buf, CHUNK * 17, CHUNK)
    this.tags.push(this.tag)
    this.threads.push(this.thread)
    this.nums.push(this.num)
    this.smalls.push(this.small)
    this.nameCols.push(this.name)
  }
}
