// The lock workload: simulated threads taking and releasing mutexes and
// RWMutexes, sleeping now and then. It exercises the scheduler, the locks and
// the checkers without any filesystem, and is what the determinism tests and
// the benchmark run.

import { deriveSeed, Prng } from "./prng.js"
import { YIELD, sleep, type Scheduler, type Sim } from "./scheduler.js"
import type { LockWorkload } from "./scenario.js"
import { Mutex, RWMutex } from "./sync.js"

export const WORKLOAD_LOCK_CLASS = "workload.mu"
export const WORKLOAD_RWLOCK_CLASS = "workload.rw"

/** Spawns the workload's threads on `sched`; each thread draws its choices from its own PRNG. */
export function spawnLockWorkload(sched: Scheduler, w: LockWorkload, seed: number): void {
  // One class per lock, so the lock-order checker sees the order between
  // them (locks of one class held together would need a nesting rule).
  const locks: (Mutex | RWMutex)[] = []
  for (let i = 0; i < w.mutexes; i++) locks.push(new Mutex(sched, `${WORKLOAD_LOCK_CLASS}${i}`))
  for (let i = 0; i < w.rwmutexes; i++) locks.push(new RWMutex(sched, `${WORKLOAD_RWLOCK_CLASS}${i}`))
  for (let t = 0; t < w.threads; t++) {
    const name = `t${t}`
    const prng = new Prng(deriveSeed(seed, `workload.${name}`))
    sched.spawn(name, lockThread(w, locks, prng))
  }
}

function* lockThread(w: LockWorkload, locks: readonly (Mutex | RWMutex)[], prng: Prng): Sim<void> {
  for (let op = 0; op < w.ops; op++) {
    if (locks.length === 0 || (w.sleeps && prng.chance(0.2))) {
      yield sleep(prng.between(1, 1000))
      continue
    }
    const n = prng.between(1, Math.min(w.nesting, locks.length))
    let chosen = prng.shuffle(locks.map((_, i) => i)).slice(0, n)
    if (w.ordered) chosen = chosen.sort((a, b) => a - b)
    const taken: { lock: Mutex | RWMutex; read: boolean }[] = []
    for (const i of chosen) {
      const lock = locks[i]!
      const read = lock instanceof RWMutex && prng.chance(0.6)
      yield read ? (lock as RWMutex).RLock() : lock.Lock()
      taken.push({ lock, read })
    }
    if (prng.chance(0.3)) yield YIELD
    for (let i = taken.length - 1; i >= 0; i--) {
      const { lock, read } = taken[i]!
      yield read ? (lock as RWMutex).RUnlock() : lock.Unlock()
    }
  }
}
