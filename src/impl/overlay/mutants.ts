// Deliberate bugs in the overlay port, each switched on by the fsim-only
// mount option `mutant=NAME` (off by default, unreachable otherwise): one
// per class of overlay bug the issue names, and a few more. They prove that
// the overlay's checks fire: test/overlay/mutants.test.ts finds each one
// with the property suite's concurrent campaign within a stated budget of
// runs, by a violation that is no instance of a known finding (FINDINGS.md);
// test/overlay/invariants.test.ts has hand-written runs for some.

import type { Upstream } from "../../sim/mutants.js"

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
  // Re-created upstream bugs (OVERLAY_MUTANT_UPSTREAM: the fixing commit; the mutant is the code before it).
  "create-trailing-slash-enoent":
    "doCreateAt refuses a non-directory's trailing slash (ENOENT) before it looks for an existing file: mknod, symlink or link to an existing \"a/\" say ENOENT where Linux says EEXIST",
  "create-perm-before-exists":
    "doCreateAt checks write permission on the parent and the mount's writability before it looks for an existing file: creating an existing name in a directory the caller may not write, or on an overlay with no upper layer, says EACCES or EROFS where Linux says EEXIST",
  "open-ignores-trailing-slash":
    "OpenAt makes none of its rp.MustBeDir() checks: open(\"a/\", O_CREAT) creates a regular file a (Linux: EISDIR), open(\"f/\") opens a regular file f (Linux: ENOTDIR)",
  "sticky-ignores-dir-owner":
    "the VFS's CheckDeleteSticky lets only the child's owner (or CAP_FOWNER) remove a file from a sticky directory, not the directory's owner: unlink, rmdir and rename by the directory's owner say EPERM",
} as const

export type OverlayMutant = keyof typeof OVERLAY_MUTANTS

/** The upstream fix each re-created bug inverts (src/sim/mutants.ts, Upstream). */
export const OVERLAY_MUTANT_UPSTREAM: Readonly<Partial<Record<OverlayMutant, Upstream>>> = {
  "create-trailing-slash-enoent": {
    commit: "fe9442d3270d14c095932d917e4e53e706866217",
    subject: "[vfs] Return EEXIST when file already exists and rp.MustBeDir() is true.",
    needs: "sequential",
  },
  "create-perm-before-exists": { commit: "dbe4176565b56d9e2f5395e410468a4c98aafd37", subject: "Check for existence before permissions", needs: "sequential" },
  "open-ignores-trailing-slash": { commit: "0ca0d8e0110d284120497569dca1b85d3ec227fe", subject: "[vfs] Fix error handling in overlayfs OpenAt.", needs: "sequential" },
  "sticky-ignores-dir-owner": { commit: "f2c881f68498b542f21288559e3cb218673484f0", subject: "[vfs] Make sticky bit check consistent with Linux.", needs: "sequential" },
}

export function isOverlayMutant(name: string): name is OverlayMutant {
  return Object.hasOwn(OVERLAY_MUTANTS, name)
}
