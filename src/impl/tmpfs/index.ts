// tmpfs: gVisor's in-memory filesystem on fsim's VFS layer, with the
// reference model as its inode store (README.md beside this file). This is
// the package's public API:
//
//   newTmpfs(vfs, tree, opts?): Sim<{ fs, root, tmpfs }>
//     A tmpfs holding `tree` (a contract tree literal, scenario.md 1; with
//     opts.layer also an overlay layer's: `whiteout` nodes are 0:0 character
//     devices, `"opaque": true` directories carry trusted.overlay.opaque =
//     "y"), on a disconnected mount of its own (vfs.NewDisconnectedMount):
//     `root` is that mount's root, holding one reference on it, and `fs` the
//     VFS filesystem. An overlay takes it as a layer; `yield* vfs.Umount(ctx,
//     root.mount)` releases it (the filesystem's Release runs when its last
//     reference goes). Throws InputError for a tree the model cannot build.
//
//   newTmpfsFilesystem(vfs, tree, opts?): { fs, tmpfs }
//     The filesystem alone, for a caller that mounts its root itself
//     (vfs.NewRootMount(fs, tmpfs.root.vfsd, ...), as the scenario mount does).
//
//   tmpfsLayerTree(tmpfs): the filesystem's tree in the contract's format,
//     whiteouts and opaque directories included (the model's toTree with
//     layer: true), read from its state without any operation.
//
//   checkTmpfs(tmpfs, { quiescent, unmounted }): the invariants' violations
//     in words (references, links, pins, the dentry tree against the model;
//     at quiescence no reference beyond a name but a mount's on its root;
//     after unmount no live inode): a layer's leak check.
//
// Creating whiteouts: MknodAt with Mode S_IFCHR and DevMajor = DevMinor = 0
// (what gVisor's overlay does); any other device is EPERM. Opaque: set the
// xattr trusted.overlay.opaque to "y" as root (SetXattrAt). Stat of a
// whiteout: Statx.mode has S_IFCHR (the only device tmpfs has is 0:0, so
// S_IFCHR means a whiteout); its dirent type is DT_CHR. SetStatAt takes a
// request of several attributes at once (size, owners, mode, times, applied
// in that order, all or nothing). Every inode's Statx
// has devMajor 0 and the filesystem's own devMinor (distinct per tmpfs of a
// VirtualFilesystem, in creation order), and the model's inode number.

import { initialState, toTree, type ModelState } from "../../model/index.js"
import type { RootAttrs, Tree } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { Filesystem, VirtualDentry } from "../vfs/mount.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import { filesystem, type TmpfsMutant } from "./filesystem.js"

export { filesystem as TmpfsFilesystem, TMPFS_LOCK_ORDER, TMPFS_MAGIC, TMPFS_MUTANTS, isTmpfsMutant, type TmpfsMutant } from "./filesystem.js"
export { dentry as TmpfsDentry, inode as TmpfsInode } from "./tmpfs.js"
export { tmpfsMount } from "./mount.js"
export { checkTmpfs, type TmpfsCheck } from "./invariants.js"

export interface TmpfsOptions {
  /** The root directory's mode and owners (default 0755, root). */
  readonly root?: RootAttrs
  /** An overlay layer's tree: whiteout and opaque nodes are allowed. */
  readonly layer?: boolean
  /** The mount is read-only (writes through it are EROFS). Default false. */
  readonly readOnly?: boolean
  /** A test-only mutant of the port (see TMPFS_MUTANTS). */
  readonly mutant?: TmpfsMutant
}

/** Minor device numbers handed out per VirtualFilesystem (vfs.GetAnonBlockDevMinor). */
const devMinors = new WeakMap<VirtualFilesystem, number>()

function nextDevMinor(vfs: VirtualFilesystem): number {
  const n = (devMinors.get(vfs) ?? 0) + 1
  devMinors.set(vfs, n)
  return n
}

/** GetFilesystem: a tmpfs holding `tree`, not mounted. */
export function newTmpfsFilesystem(vfs: VirtualFilesystem, tree: Tree, opts: TmpfsOptions = {}): { fs: Filesystem; tmpfs: filesystem } {
  const state: ModelState = initialState(tree, opts.root, { layer: opts.layer ?? false }, vfs.sched.now)
  const impl = new filesystem(vfs, state, { devMinor: nextDevMinor(vfs), ...(opts.mutant !== undefined ? { mutant: opts.mutant } : {}) })
  impl.buildTree()
  impl.vfsfs = vfs.NewFilesystem(impl, "tmpfs")
  return { fs: impl.vfsfs, tmpfs: impl }
}

/** A tmpfs holding `tree` on a disconnected mount; `root` holds a reference on the mount's root (see the file comment). */
export function* newTmpfs(vfs: VirtualFilesystem, tree: Tree, opts: TmpfsOptions = {}): Sim<{ fs: Filesystem; root: VirtualDentry; tmpfs: filesystem }> {
  const { fs, tmpfs } = newTmpfsFilesystem(vfs, tree, opts)
  const mnt = vfs.NewDisconnectedMount(fs, tmpfs.root.vfsd, { readOnly: opts.readOnly ?? false })
  // The mount's reference on its root (dropped by vfs.Umount).
  yield* tmpfs.root.IncRef()
  return { fs, root: new VirtualDentry(mnt, tmpfs.root.vfsd), tmpfs }
}

/** The tree a tmpfs holds (contract format, whiteouts and opaque directories included). */
export function tmpfsLayerTree(tmpfs: filesystem): { readonly tree: Tree; readonly root: Required<RootAttrs> } {
  return toTree(tmpfs.state, { layer: true })
}
