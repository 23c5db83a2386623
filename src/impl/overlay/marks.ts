// The overlay's coverage marks: the rare paths of the port worth reaching,
// each logged by filesystem.mark where the path is taken (src/sim/marks.ts).

export const OVERLAY_MARKS = {
  // Lookup: how layers combine.
  "overlay.lookup.upper-whiteout": "a lookup stopped at a whiteout on the upper layer: the name does not exist",
  "overlay.lookup.opaque-dir": "a lookup found an opaque upper directory: lower layers are not merged into it",
  "overlay.lookup.merged-dir": "a lookup merged a directory from more than one layer",
  "overlay.lookup.dir-hides-file": "a lookup ignored a non-directory below a directory of the same name",
  "overlay.lookup.removed-parent": "a lookup in a directory already removed (gVisor does not refuse it)",
  // Copy-up.
  "overlay.copyup.regular-file": "a regular file was copied up, its data with it",
  "overlay.copyup.directory": "a directory was copied up",
  "overlay.copyup.symlink": "a symlink was copied up",
  "overlay.copyup.raced": "a copy-up found the file copied up by another thread once it held copyMu",
  "overlay.copyup.raced-deletion": "a copy-up found the file deleted by another thread once it held copyMu",
  "overlay.copyup.descendants": "a renamed directory's descendants were copied up before the rename",
  "overlay.copyup.open-fd-switched": "a description opened on a lower file switched to the copied-up file",
  // Whiteouts and opaque directories.
  "overlay.whiteout.created": "a whiteout was created on the upper layer (unlink, rmdir or rename of a lower file)",
  "overlay.whiteout.replaced-by-create": "a create replaced an upper whiteout at its name",
  "overlay.opaque.mkdir-over-whiteout": "a mkdir over a whiteout made the new directory opaque",
  "overlay.opaque.renamed-dir": "a renamed directory was made opaque at its new name",
  "overlay.rmdir.whiteouts-only": "rmdir of a directory that held only whiteouts removed them first",
  "overlay.rename.over-dir": "a rename replaced a directory, after checking it held only whiteouts",
  // Merged readdir.
  "overlay.readdir.cache-hit": "a directory's merged entries came from its dirents cache",
  "overlay.readdir.cache-invalidated": "a change to a directory dropped its cached merged entries",
  "overlay.readdir.whiteout-hidden": "a merged readdir left out a whiteout",
  "overlay.readdir.type-shadowed": "a merged readdir listed a name once whose file on an upper layer hides one of another type below (a whiteout aside)",
} as const

export type OverlayMark = keyof typeof OVERLAY_MARKS
