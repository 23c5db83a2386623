// Mutex and RWMutex with Go's semantics (gVisor's sync package wraps Go's),
// as simulated locks: every Lock/Unlock is a scheduling point and an event,
// and each lock belongs to a named class (e.g. "gofer.dentry.dirMu") for the
// lock-order checker.
//
// Go's Mutex (sync/mutex.go, "normal mode"): waiters queue in FIFO order;
// Unlock wakes the head of the queue, which does not own the mutex but
// competes with goroutines arriving at Lock at that moment; a woken waiter
// that loses goes back to the front of the queue. So when a Mutex is free,
// the runnable contenders are the woken waiter and the newcomers, and the
// scheduler's choice decides who wins. (Starvation mode, entered after a
// waiter waits 1 ms of wall time, has no counterpart: simulated CPU work
// takes no time.)
//
// Go's RWMutex (sync/rwmutex.go) gives writers priority over new readers:
//   Lock: takes the internal writer mutex w, then announces itself by
//     subtracting rwmutexMaxReaders from readerCount; if readers were active it
//     waits for exactly those to leave.
//   RLock: adds 1 to readerCount; if the result is negative a writer has
//     announced, and the reader waits until that writer's Unlock, which
//     admits all such readers at once, before releasing w.
// The states below follow that: `w.owner !== null` is "readerCount < 0".
//
// The actions are classes defined once, each instance bound to its lock: a
// class made per lock would give every lock its own hidden class and make the
// scheduler's calls to perform/ready megamorphic (measured: a third slower).

import type { LockMode } from "./events.js"
import { LOCK_ACQUIRE, LOCK_RELEASE, LOCK_WAIT, type LockEventTag } from "./log.js"
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

  emit(tag: LockEventTag, t: SimThread, mode: LockMode): void {
    const log = this.sched.log
    if (log.enabled) log.addLock(tag, t.id, this.id, mode, this.nameOf === undefined ? undefined : this.nameOf())
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
    this.emit(LOCK_WAIT, t, mode)
  }
}

// ---------------------------------------------------------------------------
// Mutex

/**
 * The state of a Go sync.Mutex: its owner, the sleeping waiters (FIFO), and
 * the contenders that may take it as soon as it is free (newcomers that
 * found it free, and the waiter the last Unlock woke). Also the internal
 * writer mutex of RWMutex.
 */
export class MutexCore {
  owner: SimThread | null = null
  /** Sleeping waiters, front first. */
  readonly queue: SimThread[] = []
  /** Runnable contenders (slot in SimThread.waitSlot). */
  readonly contenders = new WaitList()
  /** The waiter the last Unlock woke, until it wins or loses. */
  woken: SimThread | null = null

  /** `t` arrives at Lock: a contender if the mutex is free, else it queues. */
  arrive(t: SimThread): void {
    if (this.owner === null) this.contenders.add(t)
    else this.queue.push(t)
  }

  canAcquire(t: SimThread): boolean {
    return this.owner === null && this.contenders.has(t)
  }

  /** `t` (a contender) takes the mutex; the other contenders lose and queue. */
  acquire(t: SimThread, s: Scheduler): void {
    this.owner = t
    this.contenders.remove(t)
    if (this.woken === t) this.woken = null
    // The other contenders lose: they queue (a woken waiter at the front, as
    // Go queues it LIFO) and the scheduler files them as blocked.
    const c = this.contenders
    while (c.length > 0) {
      const loser = c.threads[c.length - 1]!
      c.remove(loser)
      if (loser === this.woken) {
        this.woken = null
        this.queue.unshift(loser)
      } else this.queue.push(loser)
      s.recheckOne(loser)
    }
  }

  /** Unlock: the mutex is free; wake the head of the queue unless a woken waiter is still competing. */
  release(s: Scheduler): void {
    this.owner = null
    if (this.woken !== null || this.queue.length === 0) return
    const w = this.queue.shift()!
    this.woken = w
    this.contenders.add(w)
    s.recheckOne(w)
  }

  /** Everyone waiting for the mutex, for deadlock reports. */
  waiters(): SimThread[] {
    return [...this.queue, ...this.contenders.threads]
  }
}

class MutexLock extends Action {
  constructor(private readonly mu: Mutex) {
    super("lock")
  }
  override arrive(t: SimThread): void {
    this.mu.core.arrive(t)
  }
  override blocked(t: SimThread): void {
    this.mu.emitWait(t, "w")
  }
  ready(t: SimThread): boolean {
    return this.mu.core.canAcquire(t)
  }
  perform(t: SimThread, s: Scheduler): unknown {
    this.mu.core.acquire(t, s)
    this.mu.emit(LOCK_ACQUIRE, t, "w")
    return undefined
  }
  override waitInfo(t: SimThread): WaitInfo {
    const h = this.mu.core.owner
    return { holders: h === null ? [] : [h], what: this.mu.describe(), since: t.pendingSince }
  }
}

class MutexUnlock extends Action {
  constructor(private readonly mu: Mutex) {
    super("unlock")
  }
  ready(): boolean {
    return true
  }
  perform(_t: SimThread, s: Scheduler): unknown {
    const core = this.mu.core
    // Go: "fatal error: sync: unlock of unlocked mutex". Go lets another
    // goroutine unlock a held Mutex, so only an unheld one is fatal; the
    // release is recorded for the holder, whose hold ends.
    const holder = core.owner
    if (holder === null) throw new Error(`sync: unlock of unlocked mutex ${this.mu.describe()}`)
    this.mu.emit(LOCK_RELEASE, holder, "w")
    core.release(s)
    return undefined
  }
}

export class Mutex extends LockBase {
  readonly core = new MutexCore()
  private readonly lockAction = new MutexLock(this)
  private readonly unlockAction = new MutexUnlock(this)

  constructor(sched: Scheduler, cls: string, name?: LockName) {
    super(sched, cls, name)
  }

  /** The thread holding the mutex, or null. */
  get holder(): SimThread | null {
    return this.core.owner
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
  constructor(private readonly rw: RWMutex) {
    super("lock")
  }
  override arrive(t: SimThread): void {
    this.rw.w.arrive(t)
  }
  override blocked(t: SimThread): void {
    this.rw.emitWait(t, "w")
  }
  ready(t: SimThread): boolean {
    return this.rw.w.canAcquire(t)
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    rw.w.acquire(t, s)
    if (rw.readers.length === 0) {
      rw.writer = t
      rw.emit(LOCK_ACQUIRE, t, "w")
      return undefined
    }
    return s.continueWith(t, rw.drainAction)
  }
  override waitInfo(t: SimThread): WaitInfo {
    const a = this.rw.w.owner
    return { holders: a === null ? [] : [a], what: `${this.rw.describe()} for writing`, since: t.pendingSince }
  }
}

/** Lock, phase 2: the announced writer waits for the active readers to leave. */
class RWDrain extends Action {
  constructor(private readonly rw: RWMutex) {
    super("lock")
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
    rw.emit(LOCK_ACQUIRE, t, "w")
    return undefined
  }
  override waitInfo(t: SimThread): WaitInfo {
    return { holders: [...new Set(this.rw.readers)], what: `${this.rw.describe()} for writing (readers to leave)`, since: t.pendingSince }
  }
}

class RWUnlock extends Action {
  constructor(private readonly rw: RWMutex) {
    super("unlock")
  }
  ready(): boolean {
    return true
  }
  perform(_t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    const w = rw.writer
    if (w === null) throw new Error(`sync: Unlock of unlocked RWMutex ${rw.describe()}`)
    rw.writer = null
    rw.emit(LOCK_RELEASE, w, "w")
    // Admit every reader that queued behind this writer, before any other
    // writer can announce.
    const admit = rw.blockedReaders.splice(0)
    for (const r of admit) {
      rw.readers.push(r)
      rw.admitted.add(r)
      rw.emit(LOCK_ACQUIRE, r, "r")
    }
    if (admit.length > 0) s.recheck(admit)
    rw.w.release(s)
    return undefined
  }
}

class RWRLock extends Action {
  constructor(private readonly rw: RWMutex) {
    super("rlock")
  }
  ready(): boolean {
    // RLock's atomic add can always run; whether the reader then waits is
    // decided in perform.
    return true
  }
  perform(t: SimThread, s: Scheduler): unknown {
    const rw = this.rw
    if (rw.w.owner !== null) {
      rw.blockedReaders.push(t)
      return s.continueWith(t, rw.admitAction)
    }
    rw.readers.push(t)
    rw.emit(LOCK_ACQUIRE, t, "r")
    return undefined
  }
}

/** A reader that queued behind a writer waits for that writer's Unlock to admit it. */
class RWAdmit extends Action {
  constructor(private readonly rw: RWMutex) {
    super("rlock")
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
    const w = this.rw.writer ?? this.rw.w.owner
    return { holders: w === null ? [] : [w], what: `${this.rw.describe()} for reading (a writer is waiting or holds it)`, since: t.pendingSince }
  }
}

class RWRUnlock extends Action {
  constructor(private readonly rw: RWMutex) {
    super("runlock")
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
    rw.emit(LOCK_RELEASE, r, "r")
    if (rw.readers.length === 0 && rw.draining.length > 0) s.recheck(rw.draining.threads)
    return undefined
  }
}

export class RWMutex extends LockBase {
  /** The writer holding the lock. */
  writer: SimThread | null = null
  /**
   * The internal writer mutex w; its owner has announced itself (Go's
   * readerCount < 0) and is waiting for readers to leave, or holds the lock.
   */
  readonly w = new MutexCore()
  /** Threads holding the lock for reading (a thread may appear twice: recursive read locking). */
  readonly readers: SimThread[] = []
  /** Readers that arrived after a writer announced; the writer's Unlock admits them. */
  readonly blockedReaders: SimThread[] = []
  readonly admitted = new Set<SimThread>()
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
