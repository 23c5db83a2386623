// Deliberate bugs in the gofer port, each switched on by the fsim-only
// mount option `mutant=NAME` (off by default, unreachable otherwise): first
// one per bug class the seeds warn about, then real bugs that gVisor fixed
// upstream, re-created by inverting the fix where the port has its code
// (GOFER_MUTANT_UPSTREAM names each one's commit). They prove that
// campaigns find each, and which check fires (test/gofer/mutants.test.ts).

import type { Upstream } from "../../sim/mutants.js"

export const GOFER_MUTANTS = {
  "lock-order-inversion": "dentry.setStat takes dataMu before metadataMu (the declared order is metadataMu, then handleMu, then dataMu)",
  "missing-revalidation": "revalidatePath and revalidateParentDir return at once: under remote_revalidating the client trusts what it cached",
  "evict-drops-dirty": "destroyLocked drops a dentry's dirty pages without writing them back",
  "negative-dentry-after-create": "doCreateAt leaves a cached negative entry in place after creating the file",
  "truncate-keeps-pages": "a size-reducing setStat keeps the cached pages (and dirty ranges) past the new size",
  "ref-leak-on-error": "getChildLocked takes a reference on the parent for a lookup that fails, and never drops it",
  "handle-downgrade": "ensureSharedHandle, asked for a read handle while holding a read-write one, replaces it with a read-only handle",
  "append-stale-size": "an O_APPEND write uses a stale size: read before taking metadataMu (two appends race to one offset), and not refreshed from the server where metadata is not authoritative",
  "stat-size-wrong": "every stat, lstat and fstat of a file that succeeds answers a size one more than the file's (a bug that makes every result of one op kind wrong: the checkers' budgets must still end every run)",
  // Re-created upstream bugs (GOFER_MUTANT_UPSTREAM).
  "rename-dir-over-dir-links": "RenameAt of a directory adds a link to the new parent even when it replaces a directory there (whose link the parent loses), so the parent's cached nlink is one too many",
  "open-trunc-keeps-size": "open(O_TRUNC) truncates the remote file but neither holds metadataMu across the open nor sets the cached size to 0 and drops the cached pages (nor touches mtime/ctime), so the client still reports and reads the old contents",
  "direct-write-keeps-size": "a write that skips the page cache (O_DIRECT, or InteropModeShared) never updates d.size, so a file extended by an O_DIRECT write keeps its old cached size",
  "direct-read-atime-deadlock": "an O_DIRECT read, holding metadataMu for the whole read, updates atime with touchAtime, which locks metadataMu again: the thread deadlocks on itself",
  "create-open-ref-leak": "createAndOpenChildLocked sets the new child's reference count to 1 for the new FD (which takes its own reference in Init) and queues only the parent for checkCachingLocked: every open(O_CREAT) that creates leaks a reference",
  "short-write-reports-full": "the handle's write, given a short Twrite with no error, stops there (as pkg/p9's chunk does) but reports every byte it was asked to write, so the cached size grows past what the server holds",
  "getattr-before-metadata-lock": "updateFromGetattr sends the Tgetattr before locking metadataMu, and locks it only to store the reply: a write that lands between them is overwritten by the stale size (an O_APPEND write then lands inside another thread's data)",
  "sync-refs-destroyed": "filesystem.Sync takes a reference on every syncable dentry under renameMu for reading, as before the fix; destroyLocked drops renameMu, so Sync may take one on a dentry being destroyed (refs -1) and drop it again",
  "truncate-without-datamu": "setStat sends the size-changing Tsetattr without holding dataMu, and takes it only afterwards to update d.size: a writeback in between (fsync, sync, the page-cache evictor) writes dirty pages up to the old size after the remote file was truncated",
  "destroy-not-idempotent": "destroyLocked leaves a destroyed dentry's reference count at 0 instead of marking it -1, so when one operation queued the dentry twice for checkCachingLocked (a walk appends a parent once per child it caches), the second call finds a dead dentry without references and destroys it again, dropping its reference on its parent a second time (a rename over an uncached file queues the replaced one twice)",
  "setstat-resends-mode": "a setStat that changes the size, owner or group sends the cached mode (setuid and setgid cleared) in the same Tsetattr whether or not it changed, so under InteropModeShared (where setStat does not store what it sent, and an FD's ftruncate does not revalidate) an ftruncate puts back the mode the client last saw, undoing a chmod by another user or by the client itself",
  "sync-refs-unlocked": "filesystem.Sync takes a reference on every syncable dentry without renameMu, and one on every special file FD with IncRef, as before gVisor's first fix: a dentry being destroyed after eviction (refs 0 or -1), or an FD being closed (refs 0), is revived and its reference dropped again",
  "append-no-refresh": "an O_APPEND write where metadata is not authoritative (remote_revalidating, none) appends at the cached size without first asking the server for the current one, overwriting what another user of the share appended",
  "invalidate-keeps-descendants": "revalidation invalidates a replaced directory alone (the code before 7d0bf706d): its cached descendants stay in the LRU, each holding a reference on its parent, so the dead directory, its fids and its reference on its former parent live on until the LRU evicts them",
  "symlink-chain-unrevalidated": "stepLocked follows every symlink of a chain within one step (the code before f7712ab50): a symlink's target's first component is looked up in the directory's cache with no revalidation, so another user's replacement of a symlink (or file) it names is not seen under remote_revalidating",
} as const

export type GoferMutant = keyof typeof GOFER_MUTANTS

export function isGoferMutant(name: string): name is GoferMutant {
  return Object.hasOwn(GOFER_MUTANTS, name)
}

/** The upstream gVisor fix each re-created bug inverts (the newer mutants). */
export const GOFER_MUTANT_UPSTREAM: Readonly<Partial<Record<GoferMutant, Upstream>>> = {
  "rename-dir-over-dir-links": { commit: "f40d023ad6f8c19898ca105842a88961b3c2994c", subject: "Don't adjust parent link count if we replace a child dir with another.", needs: "sequential" },
  "open-trunc-keeps-size": { commit: "52b44719d6e14ec299d0d953b4dc07a712b897fa", subject: "[vfs2][gofer] Update file size to 0 on O_TRUNC", needs: "sequential" },
  "direct-write-keeps-size": { commit: "122d47aed17abf4301596e19fc8ac9cdad8118d9", subject: "Update cached file size when cache is skipped", needs: "sequential" },
  "direct-read-atime-deadlock": { commit: "c61f6fcf6ab3178da3a297d3e3199379b188ce61", subject: "Fix deadlock in gofer direct IO.", needs: "sequential" },
  "create-open-ref-leak": { commit: "49a9b78f74fca28cc9312dfb29ccbe70e3b5fcc3", subject: "Fix VFS2 gofer open(O_CREAT) reference leak.", needs: "sequential" },
  "short-write-reports-full": { commit: "ec45d969236bb98a83e7da0466bd67e540c5e8b5", subject: "[op] Make gofer client handle return partial write length when err is nil.", needs: "sequential" },
  "getattr-before-metadata-lock": { commit: "4fbd0728ac5e0aa33a7f5e2c5189751b4baa94b5", subject: "[vfs2][gofer] Fix update attributes race condition.", needs: "race" },
  "sync-refs-destroyed": { commit: "628d7d3a4662a14625895df6ff1ca7a9dbf3a5d7", subject: "Fix refcount increments in gofer.filesystem.Sync.", needs: "pressure" },
  "truncate-without-datamu": { commit: "44efc282feb0f02196bc775d25166b3f0bb30b7d", subject: "Lock gofer.dentry.dataMu before SetAttr RPC modifying file size.", needs: "race" },
  "destroy-not-idempotent": { commit: "94319a8241cb299edc812024d6132b7a3819a4dc", subject: "Make gofer.dentry.destroyLocked idempotent", needs: "sequential" },
  "setstat-resends-mode": { commit: "fb4c700d0610ca83048aaf3a71682de0d9619156", subject: "Update gofer dentry permissions only when needed.", needs: "sequential" },
  "sync-refs-unlocked": { commit: "ca9a45f282a08a88df19c93d5968d720b5153c41", subject: "Fix refcount increments in gofer.filesystem.Sync.", needs: "pressure" },
  "append-no-refresh": { commit: "39525d64cbd5901ea80651e323c8554af132f4dd", subject: "Add O_APPEND support in vfs2 gofer.", needs: "external" },
  "invalidate-keeps-descendants": { commit: "7d0bf706d307efc3bf405d21b9e550b3faa4ed99", subject: "gofer,kernfs: invalidate descendants of dentries failing revalidation", needs: "external" },
  "symlink-chain-unrevalidated": { commit: "f7712ab50c593baf4f372d163a7b553081c1857e", subject: "Revalidate symlink chain", needs: "external" },
}
