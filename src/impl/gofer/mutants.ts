// Deliberate bugs in the gofer port, one per bug class the seeds warn
// about, each switched on by the fsim-only mount option `mutant=NAME` (off
// by default, unreachable otherwise). They prove that the property suites
// find each class, and which check fires (test/gofer/mutants.test.ts).

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
} as const

export type GoferMutant = keyof typeof GOFER_MUTANTS

export function isGoferMutant(name: string): name is GoferMutant {
  return Object.hasOwn(GOFER_MUTANTS, name)
}
