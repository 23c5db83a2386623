// fileDescription (gofer.go): what the gofer's regular, directory and
// special file descriptions share - stat through the dentry (refreshed from
// the server where metadata is not authoritative) and setstat.

import type { Errno } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import type { Ctx } from "../vfs/context.js"
import { FileDescription } from "../vfs/file_description.js"
import type { Dirent, FileDescriptionImpl, SetStatOptions, StatOptions, Statx } from "../vfs/filesystem.js"
import type { dentry } from "./dentry.js"
import type { p9file } from "./p9file.js"

export abstract class fileDescription implements FileDescriptionImpl {
  readonly vfsfd = new FileDescription()

  constructor(readonly d: dentry) {}

  dentry(): dentry {
    return this.d
  }

  /** The fid to getattr on, if the description has its own (specialFileFD). */
  protected statFile(): p9file {
    return null
  }

  *Stat(ctx: Ctx, opts: StatOptions): Sim<[Statx | null, Errno | null]> {
    const d = this.d
    if (!d.cachedMetadataAuthoritative() && opts.DontSync !== true) {
      // Prefer the description's own opened fid, as updateFromGetattrLocked
      // prefers opened fids.
      yield d.metadataMu.Lock()
      const err = yield* d.updateFromGetattrLocked(ctx, this.statFile())
      yield d.metadataMu.Unlock()
      if (err !== null) return [null, err]
    }
    return [d.statTo(), null]
  }

  *SetStat(ctx: Ctx, opts: SetStatOptions): Sim<Errno | null> {
    return yield* this.d.setStat(ctx, opts, this.vfsfd.Mount())
  }

  abstract Release(ctx: Ctx): Sim<void>
  abstract Read(ctx: Ctx, count: number): Sim<[string, Errno | null]>
  abstract PRead(ctx: Ctx, count: number, offset: number): Sim<[string, Errno | null]>
  abstract Write(ctx: Ctx, data: string): Sim<[number, Errno | null]>
  abstract PWrite(ctx: Ctx, data: string, offset: number): Sim<[number, Errno | null]>
  abstract Seek(ctx: Ctx, offset: number, whence: number): Sim<[number, Errno | null]>
  abstract Sync(ctx: Ctx): Sim<Errno | null>
  abstract IterDirents(ctx: Ctx): Sim<[readonly Dirent[], Errno | null]>
}
