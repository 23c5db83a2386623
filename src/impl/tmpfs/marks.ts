// tmpfs's coverage marks: the rare paths of the port worth reaching, each
// logged by filesystem.mark where the path is taken (src/sim/marks.ts).

export const TMPFS_MARKS = {
  "tmpfs.walk.symlink-chain": "a walk followed a symlink whose target began with another symlink",
  "tmpfs.open.trailing-symlink": "an open followed a trailing symlink to the file it opened",
  "tmpfs.mknod.whiteout": "a mknod of a whiteout (the 0:0 character device), as an overlay makes on its upper layer",
  "tmpfs.rename.exchange": "a RENAME_EXCHANGE swapped two names' files",
  "tmpfs.rename.same-file": "a rename between two names of one file did nothing, as Linux's does",
  "tmpfs.rename.replace": "a rename replaced an existing file or directory",
} as const

export type TmpfsMark = keyof typeof TMPFS_MARKS
