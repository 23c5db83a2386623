// Deliberate bugs in the overlay port, each switched on by the fsim-only
// mount option `mutant=NAME` (off by default, unreachable otherwise): one
// per class of overlay bug the issue names, and a few more. They prove that
// the overlay's checks fire: test/overlay/mutants.test.ts finds each one
// with the property suite's concurrent campaign within a stated budget of
// runs, by a violation that is no instance of a known finding (FINDINGS.md);
// test/overlay/invariants.test.ts has hand-written runs for some.

export const OVERLAY_MUTANTS = {
  // A lock taken while holding a lower lock, in the wrong order.
  "lock-order-inversion":
    "dentry.setStatLocked, holding the dentry's copyMu, takes its parent's dirMu to drop the parent's dirents cache (the declared order is dirMu, then copyMu)",
  // A layer reference not released on an error path.
  "ref-leak-on-error":
    "lookupLocked, when a layer's file is a whiteout that makes the lookup fail (ENOENT), or cannot be stat'ed, returns without releasing that layer file (childVD.DecRef skipped)",
  "leak-upper-ref": "dentry.destroyLocked keeps its reference on the upper layer's file (a leaked layer dentry)",
  // The dirents cache not invalidated on create.
  "dirents-stale-on-create":
    "doCreateAt (mkdir, mknod, symlink, link) and createAndOpenLocked (open O_CREAT) leave the parent's merged dirents cache in place after creating the file",
  // Copy-up of a child before its parent.
  "copy-up-child-first":
    "copyUpLocked copies the file up before its parent directory: it creates the upper file by its path from the upper root without first copying the ancestors up, so the layer says ENOENT while the parent is only on a lower layer",
  // A whiteout left visible.
  "whiteout-visible": "getDirentsLocked lists whiteouts as files instead of leaving them out",
  // Unlink of a directory without the type check.
  "unlink-dir-no-type-check":
    "UnlinkAt skips the EISDIR check on a cached child dentry (gVisor makes it only there: the uncached case is the finding unlink-whites-out-lower-directory)",
  "rename-over-dir-no-type-check":
    "RenameAt of a non-directory skips the type check on the file it replaces: renamed over a directory that is only on lower layers, it replaces it, contents and all (the directory is unlinked without the type check; with an upper part, the upper layer's rename refuses)",
  "write-lower": "lower layers are mounted writable and OpenAt for writing skips copy-up: writes go to the lower layer",
  "copy-up-short": "copy-up drops the last chunk of a regular file's data",
} as const

export type OverlayMutant = keyof typeof OVERLAY_MUTANTS

export function isOverlayMutant(name: string): name is OverlayMutant {
  return Object.hasOwn(OVERLAY_MUTANTS, name)
}
