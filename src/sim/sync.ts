// Mutex and RWMutex with Go's semantics (gVisor's sync package wraps Go's),
// as simulated locks: every Lock/Unlock is a scheduling point and an event,
// and each lock belongs to a named class (e.g. "gofer.dentry.dirMu") for the
// lock-order checker.
//
// Go's Mutex is not fair in its normal mode: a goroutine arriving while the
// lock is being released may take it before the waiters. So when a Mutex is
// free, every thread waiting for it is runnable and the scheduler's choice is
// who gets it; the strategies explore that nondeterminism.
//
// Go's RWMutex (sync/rwmutex.go) gives writers priority over new readers:
//   Lock: takes the internal writer mutex w, then announces itself by
//     subtracting rwmutexMaxReaders from readerCount; if readers were active it
//     waits for exactly those to leave.
//   RLock: adds 1 to readerCount; if the result is negative a writer has
//     announced, and the reader waits until that writer's Unlock, which
//     admits all such readers at once, before releasing w.
// The states below follow that: `announced` is "readerCount < 0".
//
// The actions are classes defined once, each instance bound to its lock: a
// class made per lock would give every lock its own hidden class and make the
// scheduler's calls to perform/ready megamorphic (measured: a third slower).

import type { LockMode, PointKind } from "./events.js"
import { Action, CONTINUE, WaitList, type Scheduler, type SimThread, type WaitInfo } from "./scheduler.js"

/** Names what a lock instance guards, evaluated when an event is logged (a path can change). */
export type LockName = () => string

abstract class LockBase {
  readonly id: number
  constructor(
    protected readonly sched: Scheduler,
    readonly cls: string,
    private readonly nameOf?: LockName,
  ) {
    this.id = sched.newLockId()
    sched.log.registerLock(this.id, cls)
  }

  get name(): string | undefined {
    return this.nameOf?.()
  }

  /** "gofer.dentry.dirMu#3 (/a/b)" */
  describe(): string {
    const n = this.name
    return n === undefined ? `${this.cls}#${this.id}` : `${this.cls}#${this.id} (${n})`
  }

  emit(kind: "lock_wait" | "lock_acquire" | "lock_release", t: SimThread, mode: LockMode): void {
    const log = this.sched.log
    if (log.enabled) log.addLock(kind, t.id, this.id, mode, this.nameOf === undefined ? undefined : this.nameOf())
  }

  /**
   * Logs that `t` blocks on this lock, once per acquisition: a lock_wait
   * event means the thread had to wait (an uncontended acquisition has only
   * its lock_acquire), which keeps the log, and the scheduler's hot path,
   * short.
   */
  emitWait(t: SimThread, mode: LockMode): void {
    if (t.waitLogged) return
    t.waitLogged = true
    t.pendingSince = this.sched.log.nextSeq
    this.emit("lock_wait", t, mode)
  }
}

// ---------------------------------------------------------------------------
// Mutex

class MutexLock extends Action {
  readonly point: PointKind = "lock"
  constructor(private readonly mu: Mutex) {
    super()
  }
  override arrive(t: SimThread): void {
    this.mu.waiting.add(t)
  }
  override blocked(t: SimThread): void {
    this.mu.emitWait(t, "w")
  }
  ready(): boolean {
    return this.mu.holder === null
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const mu = this.mu
    mu.holder = t
    mu.waiting.remove(t)
    mu.emit("lock_acquire", t, "w")
    if (mu.waiting.length > 0) s.recheck(mu.waiting.threads)
    return undefined
  }
  override waitInfo(t: SimThread): WaitInfo {
    const h = this.mu.holder
    return { holders: h === null ? [] : [h], what: this.mu.describe(), since: t.pendingSince }
  }
}

class MutexUnlock extends Action {
  readonly point: PointKind = "unlock"
  constructor(private readonly mu: Mutex) {
    super()
  }
  ready(): boolean {
    return true
  }
  perform(_t: SimThread, s: Scheduler): unknown {
    const mu = this.mu
    // Go: "fatal error: sync: unlock of unlocked mutex". Go lets another
    // goroutine unlock a held Mutex, so only an unheld one is fatal; the
    // release is recorded for the holder, whose hold ends.
    const holder = mu.holder
    if (holder === null) throw new Error(`sync: unlock of unlocked mutex ${mu.describe()}`)
    mu.holder = null
    mu.emit("lock_release", holder, "w")
    if (mu.waiting.length > 0) s.recheck(mu.waiting.threads)
    return undefined
  }
}

export class Mutex extends LockBase {
  holder: SimThread | null = null
  /** Threads that asked for the lock and do not have it yet. */
  readonly waiting = new WaitList()
  private readonly lockAction = new MutexLock(this)
  private readonly unlockAction = new MutexUnlock(this)

  constructor(sched: Scheduler, cls: string, name?: LockName) {
    super(sched, cls, name)
  }

  Lock(): Action {
    return this.lockAction
  }

  Unlock(): Action {
    return this.unlockAction
  }
}

// ---------------------------------------------------------------------------
// RWMutex

/** Lock, phase 1: take the internal writer mutex and announce. */
class RWLock extends Action {
  readonly point: PointKind = "lock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  override arrive(t: SimThread): void {
    this.rw.writersWaiting.add(t)
  }
  override blocked(t: SimThread): void {
    this.rw.emitWait(t, "w")
  }
  ready(): boolean {
    return this.rw.announced === null
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    rw.writersWaiting.remove(t)
    rw.announced = t
    if (rw.writersWaiting.length > 0) s.recheck(rw.writersWaiting.threads)
    if (rw.readers.length === 0) {
      rw.writer = t
      rw.emit("lock_acquire", t, "w")
      return undefined
    }
    return s.continueWith(t, rw.drainAction)
  }
  override waitInfo(t: SimThread): WaitInfo {
    const a = this.rw.announced
    return { holders: a === null ? [] : [a], what: `${this.rw.describe()} for writing`, since: t.pendingSince }
  }
}

/** Lock, phase 2: the announced writer waits for the active readers to leave. */
class RWDrain extends Action {
  readonly point: PointKind = "lock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  override arrive(t: SimThread): void {
    this.rw.draining.add(t)
  }
  override blocked(t: SimThread): void {
    this.rw.emitWait(t, "w")
  }
  ready(): boolean {
    return this.rw.readers.length === 0
  }
  perform(t: SimThread): unknown {
    const rw = this.rw
    rw.draining.remove(t)
    rw.writer = t
    rw.emit("lock_acquire", t, "w")
    return undefined
  }
  override waitInfo(t: SimThread): WaitInfo {
    return { holders: [...new Set(this.rw.readers)], what: `${this.rw.describe()} for writing (readers to leave)`, since: t.pendingSince }
  }
}

class RWUnlock extends Action {
  readonly point: PointKind = "unlock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  ready(): boolean {
    return true
  }
  perform(_t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    const w = rw.writer
    if (w === null) throw new Error(`sync: Unlock of unlocked RWMutex ${rw.describe()}`)
    rw.writer = null
    rw.emit("lock_release", w, "w")
    // Admit every reader that queued behind this writer, before any other
    // writer can announce.
    const admit = rw.blockedReaders.splice(0)
    for (const r of admit) {
      rw.readers.push(r)
      rw.admitted.add(r)
      rw.emit("lock_acquire", r, "r")
    }
    rw.announced = null
    if (admit.length > 0) s.recheck(admit)
    if (rw.writersWaiting.length > 0) s.recheck(rw.writersWaiting.threads)
    return undefined
  }
}

class RWRLock extends Action {
  readonly point: PointKind = "rlock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  ready(): boolean {
    // RLock's atomic add can always run; whether the reader then waits is
    // decided in perform.
    return true
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    if (rw.announced !== null) {
      rw.blockedReaders.push(t)
      return s.continueWith(t, rw.admitAction)
    }
    rw.readers.push(t)
    rw.emit("lock_acquire", t, "r")
    return undefined
  }
}

/** A reader that queued behind a writer waits for that writer's Unlock to admit it. */
class RWAdmit extends Action {
  readonly point: PointKind = "rlock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  override blocked(t: SimThread): void {
    this.rw.emitWait(t, "r")
  }
  ready(t: SimThread): boolean {
    return this.rw.admitted.has(t)
  }
  perform(t: SimThread): unknown {
    this.rw.admitted.delete(t)
    return undefined
  }
  override waitInfo(t: SimThread): WaitInfo {
    const w = this.rw.writer ?? this.rw.announced
    return { holders: w === null ? [] : [w], what: `${this.rw.describe()} for reading (a writer is waiting or holds it)`, since: t.pendingSince }
  }
}

class RWRUnlock extends Action {
  readonly point: PointKind = "runlock"
  constructor(private readonly rw: RWMutex) {
    super()
  }
  ready(): boolean {
    return true
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    if (rw.readers.length === 0) throw new Error(`sync: RUnlock of unlocked RWMutex ${rw.describe()}`)
    // Go's read locks are not owned; release this thread's hold if it has one.
    const i = rw.readers.indexOf(t)
    const r = rw.readers.splice(i >= 0 ? i : 0, 1)[0]!
    rw.emit("lock_release", r, "r")
    if (rw.readers.length === 0 && rw.draining.length > 0) s.recheck(rw.draining.threads)
    return undefined
  }
}

export class RWMutex extends LockBase {
  /** The writer holding the lock. */
  writer: SimThread | null = null
  /** The writer holding the internal mutex w: announced, and waiting for readers or holding. */
  announced: SimThread | null = null
  /** Threads holding the lock for reading (a thread may appear twice: recursive read locking). */
  readonly readers: SimThread[] = []
  /** Readers that arrived after a writer announced; the writer's Unlock admits them. */
  readonly blockedReaders: SimThread[] = []
  readonly admitted = new Set<SimThread>()
  /** Writers waiting for w. */
  readonly writersWaiting = new WaitList()
  /** The announced writer, while it waits for active readers to leave. */
  readonly draining = new WaitList()

  readonly drainAction: Action = new RWDrain(this)
  readonly admitAction: Action = new RWAdmit(this)
  private readonly lockAction: Action = new RWLock(this)
  private readonly unlockAction: Action = new RWUnlock(this)
  private readonly rlockAction: Action = new RWRLock(this)
  private readonly runlockAction: Action = new RWRUnlock(this)

  constructor(sched: Scheduler, cls: string, name?: LockName) {
    super(sched, cls, name)
  }

  Lock(): Action {
    return this.lockAction
  }
  Unlock(): Action {
    return this.unlockAction
  }
  RLock(): Action {
    return this.rlockAction
  }
  RUnlock(): Action {
    return this.runlockAction
  }
}

export { CONTINUE }
