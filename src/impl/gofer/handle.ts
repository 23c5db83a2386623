// handle.go: a remote "open file descriptor": an opened fid. (gVisor may
// also hold a host FD donated by the gofer; fsim has none, so every I/O goes
// through 9P.)

import type { Sim } from "../../sim/scheduler.js"
import { OPEN_READ_ONLY, OPEN_READ_WRITE, OPEN_TRUNCATE, OPEN_WRITE_ONLY, type P9Err, type P9File } from "../../sim/p9/api.js"
import { isNil, type p9file } from "./p9file.js"

export class handle {
  constructor(public file: p9file) {}

  isOpen(): boolean {
    return !isNil(this.file)
  }

  *close(): Sim<void> {
    if (this.file !== null) yield* this.file.close()
    this.file = null
  }

  /**
   * Reads up to `count` bytes at `offset`, as pkg/p9's client ReadAt does
   * (its `chunk`): Treads of at most one chunk (msize less the header) until
   * the count is met, an error, or a Tread that returns less than a whole
   * chunk (a short read or EOF), which ends the read with what it has. A
   * read of one chunk or less is therefore a single Tread: it cannot see
   * another writer's bytes past a short first reply.
   */
  *readToBlocksAt(count: number, offset: number): Sim<[string, P9Err]> {
    if (count === 0 || this.file === null) return ["", null]
    const chunk = this.file.chunkSize
    let out = ""
    while (out.length < count) {
      const [data, err] = yield* this.file.readAt(Math.min(count - out.length, chunk), offset + out.length)
      out += data
      if (err !== null) return [out, err]
      if (data.length < chunk) break
    }
    return [out, null]
  }

  /**
   * Writes `data` at `offset` with Twrites until all is written or one fails
   * or writes nothing. A nonzero `shortWriteChunk` (what one Twrite may
   * carry) is the short-write-reports-full mutant: gVisor before its fix,
   * where pkg/p9 ends a write at a Twrite shorter than its chunk without an
   * error, and the handle answered the length it was given.
   */
  *writeFromBlocksAt(data: string, offset: number, shortWriteChunk = 0): Sim<[number, P9Err]> {
    if (data.length === 0 || this.file === null) return [0, null]
    let done = 0
    while (done < data.length) {
      const [n, err] = yield* this.file.writeAt(data.slice(done), offset + done)
      done += n
      if (err !== null) return [done, err]
      if (n === 0) return [done, "EIO"]
      if (shortWriteChunk !== 0 && done < data.length && n < shortWriteChunk) return [data.length, null]
    }
    return [done, null]
  }
}

/** openHandle: a new fid for `file` (a Twalk with no names), opened as asked. Precondition: read || write. */
export function* openHandle(file: P9File, read: boolean, write: boolean, trunc: boolean, owner: string): Sim<[handle, P9Err]> {
  const [, newfile, err] = yield* file.walk([], owner)
  if (err !== null || newfile === null) return [new handle(null), err ?? "EIO"]
  let flags = OPEN_READ_ONLY
  if (read && !write) flags = OPEN_READ_ONLY
  else if (!read && write) flags = OPEN_WRITE_ONLY
  else if (read && write) flags = OPEN_READ_WRITE
  if (trunc) flags |= OPEN_TRUNCATE
  const [, , openErr] = yield* newfile.open(flags)
  if (openErr !== null) {
    yield* newfile.close()
    return [new handle(null), openErr]
  }
  return [new handle(newfile), null]
}
