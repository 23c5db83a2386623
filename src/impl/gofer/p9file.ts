// p9file.go: the gofer's wrapper around a 9P fid. In fsim the client's
// P9File calls are already generators (each RPC is two scheduling points),
// so the wrapper reduces to the nil fid (a synthetic dentry has none) and
// MultiGetAttr, which revalidation needs: pkg/p9's client falls back to
// walking one name at a time when the server has no Tmultigetattr, and so
// does this one.

import type { Sim } from "../../sim/scheduler.js"
import { ATTR_ALL, S_IFDIR, S_IFMT, type Attr, type AttrMask, type P9Err, type P9File, type QID } from "../../sim/p9/api.js"

/** A fid, or null where gVisor's p9file.isNil() would be true. */
export type p9file = P9File | null

export function isNil(f: p9file): f is null {
  return f === null
}

export interface FullStat {
  readonly qid: QID
  readonly valid: AttrMask
  readonly attr: Attr
}

/**
 * File.MultiGetAttr: stats of the files along `names` from `start`. An empty
 * first name stats `start` itself. The walk stops, with the partial result
 * and no error, at a name that does not exist or at a file that is not a
 * directory.
 */
export function* multiGetAttr(start: P9File, names: readonly string[], owner: string): Sim<[readonly FullStat[], P9Err]> {
  const stats: FullStat[] = []
  let rest = names
  if (rest.length > 0 && rest[0] === "") {
    const [qid, valid, attr, err] = yield* start.getAttr(ATTR_ALL)
    if (err !== null || qid === null || attr === null) return [[], err ?? "EIO"]
    stats.push({ qid, valid, attr })
    rest = rest.slice(1)
  }
  let parent: P9File = start
  for (const name of rest) {
    const [qids, child, valid, attr, err] = yield* parent.walkGetAttr([name], owner)
    if (parent !== start) yield* parent.close()
    if (err !== null) {
      if (err === "ENOENT") return [stats, null]
      return [[], err]
    }
    if (child === null || attr === null || qids.length !== 1) return [[], "EIO"]
    stats.push({ qid: qids[0]!, valid, attr })
    parent = child
    if ((attr.mode & S_IFMT) !== S_IFDIR) break
  }
  if (parent !== start) yield* parent.close()
  return [stats, null]
}
