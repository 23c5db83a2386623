// Path resolution as Linux's namei does it (fs/namei.c: link_path_walk,
// walk_component, lookup_last, filename_parentat, filename_create).
//
// The working directory of every thread is the root; there are no mounts
// below it, so ".." of the root is the root (follow_dotdot at nd->root).

import { MAY_EXEC, MAY_WRITE, mayAccess, permission } from "./perm.js"
import { direntLookup } from "./dirents.js"
import type { Inode, Tx } from "./state.js"
import type { Cred, Errno } from "./types.js"

/** PATH_MAX, counting the terminating NUL (getname). */
export const PATH_MAX = 4096
/** NAME_MAX (simple_lookup). */
export const NAME_MAX = 255
/** MAXSYMLINKS: symlinks one lookup may follow (pick_link). */
export const MAXSYMLINKS = 40

export const enum Last {
  Norm,
  Dot,
  DotDot,
  Root,
}

/** What filename_parentat yields: the directory of the last component, and that component. */
export interface ParentAt {
  readonly dir: number
  readonly name: string
  readonly type: Last
  /** The component was followed by a slash (LOOKUP_DIRECTORY semantics for the last one). */
  readonly slash: boolean
}

/**
 * A point from which the walk of an op's first path can go on: walk `path`
 * from the directory `dir` (or the root, if `path` is absolute) with `links`
 * symlinks already followed. An empty `path` names `dir` itself, whatever
 * its type. The linearizability checker uses cuts to let a path walk take
 * effect before the op it serves (lincheck/fs.ts, "non-atomic walks").
 */
export interface WalkCut {
  readonly dir: number
  readonly path: string
  readonly links: number
}

/** Who a new inode belongs to. */
export interface Owner {
  readonly uid: number
  readonly gid: number
}

/**
 * One step's lookup context: the transaction, the caller, the clock and the
 * symlink budget. `owner` is whom new inodes belong to: the caller, except
 * for a server that checks nothing itself but creates on behalf of a client
 * (a 9P server running as root applies the uid and gid a create asks for).
 */
export class Ctx {
  links = 0
  /** When set, every symlink the walk follows adds the cut just past it. */
  cuts: WalkCut[] | null = null
  /** The unwalked rest of each path being walked, outermost first (for cuts). */
  readonly rests: string[] = []
  /** The cut the walk of the op's first path resumes from; the first walk consumes it. */
  resume: WalkCut | null = null
  /** When set, every path resolved to a file (`resolve`) adds that file's inode. */
  finals: number[] | null = null
  constructor(
    readonly tx: Tx,
    readonly cred: Cred,
    readonly now: number,
    readonly owner: Owner = cred,
  ) {}

  get root(): number {
    return this.tx.rootIno
  }

  get readOnly(): boolean {
    return this.tx.readOnly
  }

  inode(ino: number): Inode {
    return this.tx.must(ino)
  }

  may(i: Inode, mask: number): Errno | undefined {
    return permission(i, this.cred, mask, this.tx.readOnly)
  }

  /** may_lookup: search permission on a directory being walked. */
  mayLookup(dir: number): boolean {
    return mayAccess(this.inode(dir), this.cred, MAY_EXEC)
  }

  /** may_create: a removed directory takes no new entries; then write and search on it (the name is known to be absent). */
  mayCreate(dir: number): Errno | undefined {
    const d = this.inode(dir)
    if (d.nlink === 0) return "ENOENT"
    return this.may(d, MAY_WRITE | MAY_EXEC)
  }

  /** touch_atime (strict atime, see DIVERGENCES.md). */
  touchAtime(ino: number): void {
    this.tx.update(ino, { atime: this.now })
  }
}

export function isErrno(x: unknown): x is Errno {
  return typeof x === "string"
}

/** getname: the path as the kernel copies it; a NUL ends it, as it would end the C string. */
export function cleanPath(path: string): string {
  const nul = path.indexOf("\0")
  return nul >= 0 ? path.slice(0, nul) : path
}

/** getname's errors: empty is ENOENT; PATH_MAX bytes or more (with the NUL) is ENAMETOOLONG. */
export function pathError(path: string): Errno | undefined {
  if (path.length === 0) return "ENOENT"
  if (path.length >= PATH_MAX) return "ENAMETOOLONG"
  return undefined
}

function components(path: string): string[] {
  const out: string[] = []
  for (const c of path.split("/")) if (c !== "") out.push(c)
  return out
}

/** The ".." of a directory. */
function dotdot(c: Ctx, dir: number): number {
  return dir === c.root ? dir : c.inode(dir).parent
}

/** simple_lookup: a missing name longer than NAME_MAX is ENAMETOOLONG, else ENOENT. */
export function lookupChild(c: Ctx, dir: number, name: string): number | Errno {
  const children = c.inode(dir).children
  const ino = children === null ? undefined : direntLookup(children, name)
  if (ino !== undefined) return ino
  return name.length > NAME_MAX ? "ENAMETOOLONG" : "ENOENT"
}

/** pick_link: count the link against MAXSYMLINKS, touch its atime, and start walking its body. */
export function followLink(c: Ctx, dir: number, link: number, slash = false): ParentAt | Errno {
  if (++c.links > MAXSYMLINKS) return "ELOOP"
  c.touchAtime(link)
  const body = c.inode(link).target
  const base = body.startsWith("/") ? c.root : dir
  if (c.cuts !== null) {
    // What is left to walk: the body, then what follows the link in each enclosing path.
    let rest = body
    for (let i = c.rests.length - 1; i >= 0; i--) rest += "/" + (c.rests[i] as string)
    c.cuts.push({ dir: base, path: slash ? rest + "/" : rest, links: c.links })
  }
  return parentAt(c, base, body)
}

/**
 * The start of the op's first path walk: the root, or the cut it resumes
 * from (a cut's directory may have been removed since: ENOENT, as a walk
 * in a removed directory finds nothing).
 */
export function startWalk(c: Ctx, path: string): ParentAt | Errno {
  const r = c.resume
  if (r === null) return parentAt(c, c.root, path)
  c.resume = null
  if (c.tx.inode(r.dir) === undefined) return "ENOENT"
  c.links = r.links
  if (r.path === "") return { dir: r.dir, name: "", type: Last.Root, slash: false }
  if (!r.path.startsWith("/") && c.inode(r.dir).type !== "dir") return "ENOTDIR"
  return parentAt(c, r.dir, r.path)
}

/**
 * link_path_walk from `start`: walks every component but the last (each
 * must be a searchable directory, symlinks followed), then checks search
 * permission for the last one as Linux does before hashing it.
 */
export function parentAt(c: Ctx, start: number, path: string): ParentAt | Errno {
  const comps = components(path)
  let dir = path.startsWith("/") ? c.root : start
  if (comps.length === 0) return { dir, name: "", type: Last.Root, slash: false }
  for (let i = 0; i < comps.length - 1; i++) {
    if (!c.mayLookup(dir)) return "EACCES"
    if (c.cuts !== null) c.rests.push(comps.slice(i + 1).join("/") + (path.endsWith("/") ? "/" : ""))
    const next = walkOne(c, dir, comps[i] as string)
    if (c.cuts !== null) c.rests.pop()
    if (isErrno(next)) return next
    dir = next
  }
  return lastOf(c, dir, comps[comps.length - 1] as string, path.endsWith("/"))
}

/** link_path_walk's last step: search permission on `dir`, then the kind of the last component. */
function lastOf(c: Ctx, dir: number, name: string, slash: boolean): ParentAt | Errno {
  if (!c.mayLookup(dir)) return "EACCES"
  const type = name === "." ? Last.Dot : name === ".." ? Last.DotDot : Last.Norm
  return { dir, name, type, slash }
}

/**
 * What filename_parentat yields for a single component `name` relative to
 * the directory inode `dir` (an *at() syscall's dirfd): the inode-level
 * operations are the *at() syscalls with an inode for the dirfd.
 */
export function parentAtName(c: Ctx, dir: number, name: string, slash = false): ParentAt | Errno {
  if (c.inode(dir).type !== "dir") return "ENOTDIR"
  return lastOf(c, dir, name, slash)
}

/** walk_component for a component that is not the last: follow symlinks; the result must be a directory. */
function walkOne(c: Ctx, dir: number, name: string): number | Errno {
  if (name === ".") return dir
  if (name === "..") return dotdot(c, dir)
  const child = lookupChild(c, dir, name)
  if (isErrno(child)) return child
  const node = c.inode(child)
  if (node.type === "dir") return child
  if (node.type !== "symlink") return "ENOTDIR"
  const body = followLink(c, dir, child)
  if (isErrno(body)) return body
  // The last component of a nested symlink is walked with follow, then must be a directory.
  return lastComponent(c, body, true, true)
}

/**
 * lookup_last plus the trailing symlink loop of path_lookupat: resolve the
 * last component, following a final symlink when `follow` or a trailing
 * slash asks for it; `wantDir` (O_DIRECTORY, or a trailing slash seen) makes
 * a non-directory ENOTDIR.
 */
export function lastComponent(c: Ctx, p: ParentAt, follow: boolean, wantDir: boolean): number | Errno {
  for (;;) {
    let ino: number
    if (p.type === Last.Root || p.type === Last.Dot) ino = p.dir
    else if (p.type === Last.DotDot) ino = dotdot(c, p.dir)
    else {
      const child = lookupChild(c, p.dir, p.name)
      if (isErrno(child)) return child
      ino = child
    }
    const node = c.inode(ino)
    // lookup_last: a trailing slash means LOOKUP_FOLLOW | LOOKUP_DIRECTORY (O_DIRECTORY alone does not follow).
    const slash = p.slash && p.type === Last.Norm
    const dirWanted = wantDir || slash
    if (node.type === "symlink" && (follow || slash)) {
      const body = followLink(c, p.dir, ino, dirWanted)
      if (isErrno(body)) return body
      p = body
      follow = true
      wantDir = dirWanted
      continue
    }
    if (dirWanted && node.type !== "dir") return "ENOTDIR"
    return ino
  }
}

/** user_path_at: the inode a path names. */
export function resolve(c: Ctx, path: string, follow: boolean, wantDir = false): number | Errno {
  const p = cleanPath(path)
  const bad = pathError(p)
  if (bad !== undefined) return bad
  const at = startWalk(c, p)
  if (isErrno(at)) return at
  const ino = lastComponent(c, at, follow, wantDir)
  if (c.finals !== null && !isErrno(ino)) c.finals.push(ino)
  return ino
}

/** filename_parentat on a user path. */
export function resolveParent(c: Ctx, path: string): ParentAt | Errno {
  const p = cleanPath(path)
  const bad = pathError(p)
  if (bad !== undefined) return bad
  return startWalk(c, p)
}

/**
 * filename_create after the parent's lookup: the directory and name for a
 * new entry. Order as Linux: "."/".."/"/" is EEXIST; the lookup
 * (ENAMETOOLONG, EEXIST); a trailing slash on a non-directory is ENOENT;
 * then a read-only mount (EROFS). The caller then runs may_create
 * (`Ctx.mayCreate`), after whatever checks its syscall makes in between
 * (link: may_linkat).
 */
export function createIn(c: Ctx, p: ParentAt, wantDir: boolean): { dir: number; name: string } | Errno {
  if (p.type !== Last.Norm) return "EEXIST"
  const child = lookupChild(c, p.dir, p.name)
  if (child === "ENAMETOOLONG") return child
  if (!isErrno(child)) return "EEXIST"
  if (p.slash && !wantDir) return "ENOENT"
  if (c.readOnly) return "EROFS"
  return { dir: p.dir, name: p.name }
}
