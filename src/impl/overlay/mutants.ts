// Deliberate bugs in the overlay port, each switched on by the fsim-only
// mount option `mutant=NAME` (off by default, unreachable otherwise). They
// prove that the overlay's checks fire (test/overlay/invariants.test.ts).

export const OVERLAY_MUTANTS = {
  "leak-upper-ref": "dentry.destroyLocked keeps its reference on the upper layer's file (a leaked layer dentry)",
  "whiteout-visible": "getDirentsLocked lists whiteouts as files instead of leaving them out",
  "write-lower": "lower layers are mounted writable and OpenAt for writing skips copy-up: writes go to the lower layer",
  "copy-up-short": "copy-up drops the last chunk of a regular file's data",
} as const

export type OverlayMutant = keyof typeof OVERLAY_MUTANTS

export function isOverlayMutant(name: string): name is OverlayMutant {
  return Object.hasOwn(OVERLAY_MUTANTS, name)
}
