// tmpfs's dentries and inodes (gVisor pkg/sentry/fsimpl/tmpfs/tmpfs.go and
// directory.go), over the reference model as the inode store.
//
// An inode's attributes, data, directory entries and xattrs live in the
// filesystem's model state (filesystem.state): every change is one atomic
// step of the model's inode-level operations (src/model/inode.ts), which
// hold Linux's rules. What stays here is what gVisor's tmpfs keeps besides:
// the dentry tree that path resolution walks (a directory's children by
// name), the inodes' reference counts, and the locks.
//
// References (tmpfs.go: "tmpfs doesn't count references on dentries ...
// dentry therefore forwards reference counting directly to inode"): an
// inode holds one reference while it has a name (nlink > 0 in the model;
// `linked`), plus one per reference taken on any of its dentries (open
// descriptions, VFS path operations in flight, a mount's root). The model
// frees an inode once it has no name and no open description of its own;
// so while an inode has references beyond its link reference, it pins its
// model inode with an O_PATH description of its own (`held`), as a file
// server's handle would. Differences from gVisor: a directory inode does not
// hold a reference on its parent (nothing here reaches a removed
// directory's parent), and there is no inotify, no memory accounting.

import type { InodeType } from "../../model/index.js"
import type { Sim } from "../../sim/scheduler.js"
import { Mutex, RWMutex } from "../../sim/sync.js"
import { type Ctx, panic } from "../vfs/context.js"
import { Dentry as VfsDentry, type DentryImpl } from "../vfs/dentry.js"
import { S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, S_IFSOCK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK } from "../vfs/linux.js"
import type { filesystem } from "./filesystem.js"

/** The file type bits of an inode type. */
export function typeBits(kind: InodeType): number {
  switch (kind) {
    case "file":
      return S_IFREG
    case "dir":
      return S_IFDIR
    case "symlink":
      return S_IFLNK
    case "fifo":
      return S_IFIFO
    case "socket":
      return S_IFSOCK
    case "chardev":
      return S_IFCHR
  }
}

/** inode.direntType. */
export function direntType(kind: InodeType): number {
  switch (kind) {
    case "file":
      return DT_REG
    case "dir":
      return DT_DIR
    case "symlink":
      return DT_LNK
    case "fifo":
      return DT_FIFO
    case "socket":
      return DT_SOCK
    case "chardev":
      return DT_CHR
  }
}

/** tmpfs.inode: the reference count and locks of one model inode. */
export class inode {
  /** See the file comment. Atomic in gVisor; changed without yielding here. */
  refs = 1
  /** The reference held while the inode has a name (nlink > 0). */
  linked = true
  /** Whether the inode pins its model inode (an O_PATH description named `holdName`). */
  held = false
  /** inode.mu: serializes metadata changes (setStat, writes). */
  readonly mu: Mutex
  /** regularFile.dataMu, for regular files. */
  readonly dataMu: RWMutex | null
  /** directory.iterMu, for directories: serializes their descriptions' iteration. */
  readonly iterMu: Mutex | null
  /** A directory's one dentry (directories cannot be hard-linked): directory.dentry. */
  dirDentry: dentry | null = null
  /** Its dentries still in the tree (one per name), for messages. */
  readonly dentries: dentry[] = []

  constructor(
    readonly fs: filesystem,
    readonly ino: number,
    readonly kind: InodeType,
  ) {
    const name = (): string => this.pathForLog()
    this.mu = new Mutex(fs.sched, "tmpfs.inode.mu", name)
    this.dataMu = kind === "file" ? new RWMutex(fs.sched, "tmpfs.regularFile.dataMu", name) : null
    this.iterMu = kind === "dir" ? new Mutex(fs.sched, "tmpfs.directory.iterMu", name) : null
  }

  get holdName(): string {
    return `\u0000tmpfs.hold.${this.ino}`
  }

  isDir(): boolean {
    return this.kind === "dir"
  }

  /** A path of one of its names, for lock names and messages. */
  pathForLog(): string {
    const d = this.dirDentry ?? this.dentries[0]
    return d === undefined ? `(inode ${this.ino}, no name)` : d.pathForLog()
  }

  /** References beyond the link reference. */
  extraRefs(): number {
    return this.refs - (this.linked ? 1 : 0)
  }

  incRef(): void {
    if (this.refs <= 0) panic(`tmpfs: IncRef of inode ${this.ino} with ${this.refs} references`)
    this.refs++
    this.fs.updateHold(this)
  }

  tryIncRef(): boolean {
    if (this.refs <= 0) return false
    this.refs++
    this.fs.updateHold(this)
    return true
  }

  decRef(): void {
    this.refs--
    if (this.refs < 0) panic(`tmpfs: DecRef of inode ${this.ino} below zero`)
    this.fs.updateHold(this)
    if (this.refs === 0) this.fs.destroyInode(this)
  }

  /** decLinksLocked once the model says the inode has no name left: drops the link reference. */
  dropLinkRef(): void {
    if (!this.linked) panic(`tmpfs: inode ${this.ino} lost its link reference twice`)
    this.linked = false
    this.decRef()
  }
}

/** tmpfs.dentry: one name of an inode in the tree path resolution walks. */
export class dentry implements DentryImpl {
  readonly vfsd: VfsDentry
  /** The parent directory's dentry; null for the root. Protected by filesystem.mu. */
  parent: dentry | null = null
  /** The name in the parent; "" for the root. Protected by filesystem.mu. */
  name = ""
  /** directory.childMap: children by name (directories only). Protected by filesystem.mu. */
  readonly children: Map<string, dentry> | null

  constructor(readonly inode: inode) {
    this.vfsd = new VfsDentry(inode.fs.sched)
    this.vfsd.Init(this)
    this.children = inode.isDir() ? new Map() : null
    if (inode.isDir()) inode.dirDentry = this
  }

  get fs(): filesystem {
    return this.inode.fs
  }

  isDir(): boolean {
    return this.inode.isDir()
  }

  *IncRef(): Sim<void> {
    this.inode.incRef()
  }

  *TryIncRef(): Sim<boolean> {
    return this.inode.tryIncRef()
  }

  *DecRef(_ctx: Ctx): Sim<void> {
    this.inode.decRef()
  }

  pathForLog(): string {
    const parts: string[] = []
    for (let d: dentry | null = this; d !== null && d.parent !== null; d = d.parent) parts.push(d.name)
    return "/" + parts.reverse().join("/")
  }

  /** directory.insertChildLocked. Precondition: filesystem.mu locked for writing; no child named `name`. */
  insertChildLocked(child: dentry, name: string): void {
    if (this.children === null) panic(`tmpfs: insertChildLocked on a non-directory ${this.pathForLog()}`)
    if (this.children.has(name)) panic(`tmpfs: insertChildLocked: ${this.pathForLog()} already has a child ${JSON.stringify(name)}`)
    child.parent = this
    child.name = name
    this.children.set(name, child)
    if (!child.inode.dentries.includes(child)) child.inode.dentries.push(child)
  }

  /** directory.removeChildLocked. Precondition: filesystem.mu locked for writing. */
  removeChildLocked(child: dentry): void {
    if (this.children === null || this.children.get(child.name) !== child) panic(`tmpfs: removeChildLocked of ${child.pathForLog()}, not a child of ${this.pathForLog()}`)
    this.children.delete(child.name)
    const k = child.inode.dentries.indexOf(child)
    if (k >= 0) child.inode.dentries.splice(k, 1)
  }
}
