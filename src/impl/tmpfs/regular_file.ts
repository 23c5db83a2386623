// tmpfs's open file descriptions (regular_file.go's regularFileFD,
// directory.go's directoryFD, named_pipe.go's FIFO descriptions), over the
// model's open descriptions: each description opens the inode in the model
// under a name of its own (its `modelFD`), and every read, write, seek and
// truncation is one step of the model on that description, so the offset,
// O_APPEND, a FIFO's buffer and its readers and writers are the model's.
// The locks are gVisor's: regularFileFD.offMu around what moves the offset,
// inode.mu and regularFile.dataMu around writes, dataMu for reading around
// reads, directory.iterMu around iteration.

import type { Whence } from "../../model/types.js"
import type { Errno, OpResult } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { Mutex } from "../../sim/sync.js"
import type { Ctx } from "../vfs/context.js"
import { FileDescription, type FileDescriptionOptions } from "../vfs/file_description.js"
import type { Dirent, FileDescriptionImpl, SetStatOptions, StatOptions, Statx } from "../vfs/filesystem.js"
import { DT_DIR, SEEK_CUR, SEEK_END, SEEK_SET } from "../vfs/linux.js"
import type { Mount } from "../vfs/mount.js"
import type { filesystem } from "./filesystem.js"
import { direntType, type dentry, type inode } from "./tmpfs.js"

function errnoOf(r: OpResult): Errno | null {
  return "errno" in r ? r.errno : null
}

function whenceName(whence: number): Whence | null {
  return whence === SEEK_SET ? "SEEK_SET" : whence === SEEK_CUR ? "SEEK_CUR" : whence === SEEK_END ? "SEEK_END" : null
}

/** tmpfs.fileDescription: what every kind of description shares. */
export abstract class fileDescription implements FileDescriptionImpl {
  readonly vfsfd = new FileDescription()

  constructor(
    readonly fs: filesystem,
    readonly d: dentry,
    /** The description's name in the model's table. */
    readonly modelFD: string,
  ) {}

  get inode(): inode {
    return this.d.inode
  }

  *Release(_ctx: Ctx): Sim<void> {
    this.fs.step(ROOT_CRED, (m) => m.close(this.modelFD))
    this.fs.openFDs.delete(this)
  }

  *Stat(_ctx: Ctx, _opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    return [this.fs.statTo(this.inode), null]
  }

  *SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null> {
    return (yield* this.fs.setStat(ctx, ctx.creds, this.inode, opts, () => null, this.modelFD)) as Errno | null
  }

  *Sync(ctx: Ctx): Sim<Errno | null> {
    return errnoOf(this.fs.step(ctx.creds, (m) => m.fsync(this.modelFD)))
  }

  *IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]> {
    const r = this.fs.step(ctx.creds, (m) => m.readdir(this.modelFD))
    return "errno" in r ? [[], r.errno] : [[], "ENOTDIR"]
  }

  *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
    return this.data(this.fs.step(ctx.creds, (m) => m.readNext(this.modelFD, count)))
  }

  *PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    return this.data(this.fs.step(ctx.creds, (m) => m.read(this.modelFD, offset, count)))
  }

  *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
    return this.count(this.fs.step(ctx.creds, (m) => m.writeNext(this.modelFD, data)))
  }

  *PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]> {
    return this.count(this.fs.step(ctx.creds, (m) => m.write(this.modelFD, offset, data)))
  }

  *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    return this.seekStep(ctx, offset, whence)
  }

  protected seekStep(ctx: Ctx, offset: number, whence: number): [number, Errno | null] {
    const w = whenceName(whence)
    if (w === null) return [0, "EINVAL"]
    const r = this.fs.step(ctx.creds, (m) => m.lseek(this.modelFD, offset, w))
    return "offset" in r ? [r.offset, null] : [0, errnoOf(r)]
  }

  protected data(r: OpResult): [string, Errno | null] {
    return "data" in r ? [r.data, null] : ["", errnoOf(r)]
  }

  protected count(r: OpResult): [number, Errno | null] {
    return "count" in r ? [r.count, null] : [0, errnoOf(r)]
  }
}

const ROOT_CRED = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] })

/** regularFileFD. */
export class regularFileFD extends fileDescription {
  /** regularFileFD.offMu: protects the description's offset (kept in the model's description). */
  readonly offMu: Mutex

  constructor(fs: filesystem, d: dentry, modelFD: string) {
    super(fs, d, modelFD)
    this.offMu = new Mutex(fs.sched, "tmpfs.regularFileFD.offMu", () => d.pathForLog())
  }

  override *Read(ctx: Ctx, count: number): Sim<[string, Errno | null]> {
    yield this.offMu.Lock()
    try {
      return yield* this.readLocked(ctx, () => this.fs.step(ctx.creds, (m) => m.readNext(this.modelFD, count)))
    } finally {
      yield this.offMu.Unlock()
    }
  }

  override *PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]> {
    return yield* this.readLocked(ctx, () => this.fs.step(ctx.creds, (m) => m.read(this.modelFD, offset, count)))
  }

  /** regularFileReadWriter.ReadToBlocks: under dataMu for reading. */
  private *readLocked(_ctx: Ctx, read: () => OpResult): Sim<[string, Errno | null]> {
    const dataMu = this.inode.dataMu!
    yield dataMu.RLock()
    try {
      return this.data(read())
    } finally {
      yield dataMu.RUnlock()
    }
  }

  override *Write(ctx: Ctx, data: string): Sim<[number, Errno | null]> {
    yield this.offMu.Lock()
    try {
      return yield* this.writeLocked(ctx, () => this.fs.step(ctx.creds, (m) => m.writeNext(this.modelFD, data)))
    } finally {
      yield this.offMu.Unlock()
    }
  }

  override *PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]> {
    return yield* this.writeLocked(ctx, () => this.fs.step(ctx.creds, (m) => m.write(this.modelFD, offset, data)))
  }

  /** pwrite: under inode.mu, and dataMu (WriteFromBlocks) to change the data and size. */
  private *writeLocked(_ctx: Ctx, write: () => OpResult): Sim<[number, Errno | null]> {
    const i = this.inode
    yield i.mu.Lock()
    yield i.dataMu!.Lock()
    try {
      return this.count(write())
    } finally {
      yield i.dataMu!.Unlock()
      yield i.mu.Unlock()
    }
  }

  override *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    yield this.offMu.Lock()
    try {
      return this.seekStep(ctx, offset, whence)
    } finally {
      yield this.offMu.Unlock()
    }
  }
}

/** directoryFD: the entries come from the model's readdir of the description, "." and ".." first. */
export class directoryFD extends fileDescription {
  /** Protected by directory.iterMu. */
  off = 0

  override *IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]> {
    const fs = this.fs
    const iterMu = this.inode.iterMu!
    // fs.mu is required to read d.parent.
    yield fs.mu.RLock()
    yield iterMu.Lock()
    try {
      const r = fs.step(ctx.creds, (m) => m.readdir(this.modelFD))
      if ("errno" in r) return [[], r.errno]
      const d = this.d
      const parent = d.parent ?? d
      const all: Dirent[] = [
        { Name: ".", Type: DT_DIR, Ino: d.inode.ino, NextOff: 1 },
        { Name: "..", Type: DT_DIR, Ino: parent.inode.ino, NextOff: 2 },
      ]
      for (const e of r) all.push({ Name: e.name, Type: direntType(fs.statOf(e.ino).kind), Ino: e.ino, NextOff: all.length + 1 })
      const out = all.slice(this.off)
      this.off = Math.max(this.off, all.length)
      return [out, null]
    } finally {
      yield iterMu.Unlock()
      yield fs.mu.RUnlock()
    }
  }

  override *Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]> {
    const iterMu = this.inode.iterMu!
    yield iterMu.Lock()
    try {
      const [off, err] = this.seekStep(ctx, offset, whence)
      if (err === null) this.off = off
      return [off, err]
    } finally {
      yield iterMu.Unlock()
    }
  }
}

/** A FIFO's description (named_pipe.go over the model's pipe): no offset, no positional I/O. */
export class namedPipeFD extends fileDescription {}

/** Any other description the model lets open (none today: sockets and devices are ENXIO). */
export class otherFD extends fileDescription {}

/** dentry.open's part after the model's open: the description of the inode's kind. */
export function* newFD(fs: filesystem, mnt: Mount, d: dentry, flags: number, modelFD: string): Sim<[FileDescription | null, Errno | null]> {
  let fd: fileDescription
  let opts: FileDescriptionOptions = {}
  switch (d.inode.kind) {
    case "file":
      fd = new regularFileFD(fs, d, modelFD)
      break
    case "dir":
      fd = new directoryFD(fs, d, modelFD)
      break
    case "fifo":
      fd = new namedPipeFD(fs, d, modelFD)
      opts = { DenyPRead: true, DenyPWrite: true }
      break
    default:
      fd = new otherFD(fs, d, modelFD)
  }
  const err = yield* fd.vfsfd.Init(fd, flags, mnt, d.vfsd, opts)
  if (err !== null) return [null, err]
  fs.openFDs.add(fd)
  return [fd.vfsfd, null]
}
