// The 9P2000.L server: sessions (one per client connection) with their fid
// tables, over a backing filesystem that is the reference model's state,
// changed only through the model's inode-level operations
// (src/model/inode.ts), so every POSIX rule is the model's.
//
// The server acts as root, as gVisor's gofer and diod do (the client does
// the permission checks), but new files belong to the uid and gid the
// create asks for (the attaching uid where the message has none).
//
// Handling a request is one atomic step on the state: the simulated
// transport (sim.ts) and the TCP server (src/cli/tcp.ts, `fsim serve`) decide when it happens.
//
// Fids name files, not paths: a fid holds its inode by an open description
// in the model's fd table (O_PATH until Tlopen), so it keeps naming the same
// file across renames and unlinks by anyone, and an opened fid keeps an
// unlinked file readable and writable, as gVisor's gofer requires. Renames
// and removals that need a fid's name (Trename, Tremove) use the name the
// fid was reached by, kept up to date by this server's own renames and
// checked against the directory when someone else moved the file.

import { apply, initialState, inodeStep, toTree, type DirEntryIno, type Inodes, type InodeStat, type ModelState, type OrErrno } from "../../model/index.js"
import { isErr, type Cred, type Errno, type NodeType, type Op, type OpenFlag, type OpResult, type RootAttrs, type Tree, type XattrFlag } from "../../model/types.js"
import {
  ATTR_BASIC,
  QID_TYPE_DIR,
  QID_TYPE_REGULAR,
  QID_TYPE_SYMLINK,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  SETATTR_ATIME,
  SETATTR_ATIME_SET,
  SETATTR_CTIME,
  SETATTR_GID,
  SETATTR_MODE,
  SETATTR_MTIME,
  SETATTR_MTIME_SET,
  SETATTR_SIZE,
  SETATTR_UID,
  AT_REMOVEDIR,
  type Attr,
  type FSStat,
  type QID,
} from "./api.js"
import { direntSize } from "./codec.js"
import {
  DOTL,
  DT,
  HEADER_SIZE,
  IOHDRSZ,
  MAXWELEM,
  NOGID,
  NOUID,
  parseVersion,
  rlerror,
  V9FS_MAGIC,
  XATTR_CREATE,
  XATTR_REPLACE,
  type Rmessage,
  type Tmessage,
  type WireDirent,
} from "./wire.js"

/** The highest gVisor extension level this server speaks ("9P2000.L.Google.11"). */
export const HIGHEST_VERSION = 11
/** The largest msize agreed by default (pkg/p9's client asks for 1 MiB). */
export const DEFAULT_MSIZE_MAX = 1 << 20
/** The smallest msize agreed (Linux's v9fs refuses less, too). */
export const MSIZE_MIN = 4096

/** How qid.path is chosen for an inode. */
export type QidPathPolicy =
  /** The model's inode number, which the model never reuses: a qid names one file forever (the default). */
  | "unique"
  /**
   * Paths are recycled as soon as the inode they named is gone (no name, no
   * fid or open description left), most recently freed first, as a host
   * filesystem recycles inode numbers: a client cache that still holds the
   * old qid then confuses two files. For reproducing the bugs that need it.
   */
  | "reuse"

export interface P9ServerOptions {
  readonly msizeMax?: number
  readonly versionMax?: number
  readonly qidPaths?: QidPathPolicy
  /**
   * The tree is an overlay layer's (scenario.md 1.3: the server of an
   * overlay's gofer layer): `whiteout` nodes are 0:0 character devices and
   * opaque directories carry trusted.overlay.opaque, as on a host's layer
   * directory; `tree()` writes them back the same way.
   */
  readonly layer?: boolean
}

const ROOT: Cred = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] })

/** An opened fid's access. */
interface Opened {
  readonly readable: boolean
  readonly writable: boolean
}

/** A fid turned into an xattr value by Txattrwalk (to read) or Txattrcreate (to write, set at clunk). */
type XattrFid =
  | { readonly kind: "read"; readonly value: string }
  | { readonly kind: "write"; readonly name: string; readonly size: number; readonly flags: readonly XattrFlag[]; data: string }

interface Fid {
  /** The file this fid names: immutable. */
  readonly ino: number
  /** The directory the fid's file was reached from and its name there; null for an attach root. */
  parent: number | null
  name: string
  /** Whom files created through this fid belong to, when the message names nobody (the attach's uid). */
  readonly uid: number
  /** The model description that holds the inode (O_PATH until opened). */
  readonly fd: string
  opened: Opened | null
  xattr: XattrFid | null
  /** Treaddir's listing, taken at offset 0 and read by index (offset = index of the next entry). */
  listing: readonly WireDirent[] | null
}

/** One client connection: its negotiated msize and version, and its fids. */
export class Session {
  msize: number
  /** The negotiated extension level; null before Tversion. */
  version: number | null = null
  readonly fids = new Map<number, Fid>()
  constructor(
    readonly id: number,
    readonly name: string,
    msize: number,
  ) {
    this.msize = msize
  }
}

/** A fid as accounting reports it. */
export interface FidInfo {
  readonly session: string
  readonly fid: number
  readonly ino: number
  readonly qidPath: number
  /** The path the server knows the file by ("/a/b"), or null when it has none left (unlinked, or moved away by another user). */
  readonly path: string | null
  readonly opened: "r" | "w" | "rw" | "path" | "xattr"
}

/** qid.path for inodes, under a policy (see QidPathPolicy). */
class QidPaths {
  private readonly byIno = new Map<number, number>()
  private readonly free: number[] = []
  private next = 1
  constructor(readonly policy: QidPathPolicy) {}

  of(ino: number): number {
    if (this.policy === "unique") return ino
    let p = this.byIno.get(ino)
    if (p === undefined) {
      p = this.free.pop() ?? this.next++
      this.byIno.set(ino, p)
    }
    return p
  }

  /** Frees the paths of inodes gone from `exists`'s view. */
  sweep(exists: (ino: number) => boolean): void {
    if (this.policy === "unique") return
    for (const [ino, p] of this.byIno) {
      if (exists(ino)) continue
      this.byIno.delete(ino)
      this.free.push(p)
    }
  }
}

const S_IF: Readonly<Record<NodeType, number>> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, fifo: S_IFIFO, socket: S_IFSOCK }
const DT_OF: Readonly<Record<NodeType, number>> = { file: DT.REG, dir: DT.DIR, symlink: DT.LNK, fifo: DT.FIFO, socket: DT.SOCK }
/** QTAPPEND, which pkg/p9's FileMode.QIDType gives sockets and FIFOs ("best approximation"). */
const QID_TYPE_APPEND = 0x40

function qidType(t: NodeType): number {
  return t === "dir" ? QID_TYPE_DIR : t === "symlink" ? QID_TYPE_SYMLINK : t === "file" ? QID_TYPE_REGULAR : QID_TYPE_APPEND
}

/** The model's open flags for 9P2000.L open flags (the bits the model knows; the rest change nothing here). */
function openFlags(flags: number): OpenFlag[] {
  const out: OpenFlag[] = []
  const acc = flags & 3
  if (acc === 1) out.push("O_WRONLY")
  else if (acc === 2) out.push("O_RDWR")
  else if (acc === 3) out.push("O_WRONLY", "O_RDWR")
  else out.push("O_RDONLY")
  if ((flags & DOTL.TRUNC) !== 0) out.push("O_TRUNC")
  if ((flags & DOTL.APPEND) !== 0) out.push("O_APPEND")
  if ((flags & DOTL.NONBLOCK) !== 0) out.push("O_NONBLOCK")
  if ((flags & DOTL.DIRECT) !== 0) out.push("O_DIRECT")
  if ((flags & DOTL.DIRECTORY) !== 0) out.push("O_DIRECTORY")
  if ((flags & DOTL.DSYNC) !== 0) out.push("O_DSYNC")
  if ((flags & DOTL.SYNC) !== 0) out.push("O_SYNC")
  return out
}

/** pkg/p9's checkSafeName: one plain component. */
function badName(name: string): boolean {
  return name === "" || name === "." || name === ".." || name.includes("/")
}

function errOf(r: OpResult | OrErrno<unknown>): Errno | null {
  return typeof r === "object" && r !== null && "errno" in r ? (r as { errno: Errno }).errno : null
}

class Failure {
  constructor(readonly errno: Errno) {}
}

/** Throws out of a handler with an Rlerror; handlers read as straight-line code. */
function fail(e: Errno): never {
  throw new Failure(e)
}

function must<T>(r: OrErrno<T>): T {
  const e = errOf(r as OpResult)
  if (e !== null) fail(e)
  return r as T
}

function check(r: OpResult): OpResult {
  if (isErr(r)) fail(r.errno)
  return r
}

export class P9Server {
  /** The backing filesystem: a model state, replaced (never mutated) by every change. */
  state: ModelState
  readonly msizeMax: number
  readonly versionMax: number
  private readonly sessions = new Map<number, Session>()
  private nextSession = 1
  private readonly qids: QidPaths
  private readonly layer: boolean

  constructor(tree: Tree = {}, root?: RootAttrs, options: P9ServerOptions = {}, now = 0) {
    this.layer = options.layer ?? false
    this.state = initialState(tree, root, { layer: this.layer }, now)
    this.msizeMax = options.msizeMax ?? DEFAULT_MSIZE_MAX
    this.versionMax = options.versionMax ?? HIGHEST_VERSION
    if (!(this.msizeMax >= MSIZE_MIN)) throw new RangeError(`p9 server: msizeMax must be at least ${MSIZE_MIN}`)
    if (!(this.versionMax >= 0 && this.versionMax <= HIGHEST_VERSION)) throw new RangeError(`p9 server: versionMax must be in [0, ${HIGHEST_VERSION}]`)
    this.qids = new QidPaths(options.qidPaths ?? "unique")
  }

  /** A new client connection. */
  connect(name: string): Session {
    const s = new Session(this.nextSession++, name, this.msizeMax)
    this.sessions.set(s.id, s)
    return s
  }

  /** The connection is gone: every fid it held is clunked. */
  disconnect(s: Session, now: number): void {
    this.clunkAll(s, now)
    this.sessions.delete(s.id)
  }

  /** The tree the server holds, in the contract's format. */
  tree(): { readonly tree: Tree; readonly root: Required<RootAttrs> } {
    return toTree(this.state, { layer: this.layer })
  }

  /** Another user of the share acting on the tree directly (a scenario's `external` op). FIFO opens never block here. */
  external(op: Op, cred: Cred, now: number): OpResult {
    const out = apply(this.state, op, cred, now)
    this.state = out.state
    this.qids.sweep((ino) => this.exists(ino))
    return out.result
  }

  /** Every live fid of every session, in session then fid order. */
  fidTable(): FidInfo[] {
    const out: FidInfo[] = []
    for (const s of this.sessions.values()) {
      for (const fid of [...s.fids.keys()].sort((a, b) => a - b)) {
        const f = s.fids.get(fid)!
        const opened = f.xattr !== null ? "xattr" : f.opened === null ? "path" : f.opened.readable && f.opened.writable ? "rw" : f.opened.writable ? "w" : "r"
        out.push({ session: s.name, fid, ino: f.ino, qidPath: this.qids.of(f.ino), path: this.pathOf(f), opened })
      }
    }
    return out
  }

  /** Handles one request of session `s` at time `now`, atomically. */
  handle(s: Session, msg: Tmessage, now: number): Rmessage {
    try {
      return this.dispatch(s, msg, now)
    } catch (e) {
      if (e instanceof Failure) return rlerror(e.errno)
      throw e
    }
  }

  // -------------------------------------------------------------------------
  // State access.

  private exists(ino: number): boolean {
    return this.read((fs) => fs.stat(ino) !== undefined)
  }

  /** Runs `body` on the state as root, keeping what it changed. */
  private step<T>(now: number, body: (fs: Inodes) => T, owner?: { uid: number; gid: number }): T {
    let value: T
    let thrown: unknown = null
    const out = inodeStep(
      this.state,
      ROOT,
      now,
      (fs) => {
        try {
          value = body(fs)
        } catch (e) {
          // A failure part-way keeps what was done before it, as a server's
          // sequence of syscalls would (Tsetattr's chmod, then chown...).
          thrown = e
        }
        return null
      },
      owner,
    )
    this.state = out.state
    this.qids.sweep((ino) => this.exists(ino))
    if (thrown !== null) throw thrown
    return value!
  }

  /** A look at the state that changes nothing. */
  private read<T>(body: (fs: Inodes) => T): T {
    return inodeStep(this.state, ROOT, 0, body).value
  }

  private qid(st: InodeStat): QID {
    return { type: qidType(st.type), version: st.version, path: this.qids.of(st.ino) }
  }

  private statOf(fs: Inodes, ino: number): InodeStat {
    const st = fs.stat(ino)
    // A fid's description keeps its inode alive; a missing one is a server bug.
    if (st === undefined) throw new Error(`p9 server: inode ${ino} held by a fid is gone`)
    return st
  }

  private attrOf(st: InodeStat): Attr {
    return {
      mode: S_IF[st.type] | st.mode,
      uid: st.uid,
      gid: st.gid,
      nlink: st.nlink,
      rdev: 0,
      size: st.size,
      blockSize: 4096,
      // tmpfs allocates whole pages, counted in 512-byte blocks.
      blocks: st.type === "file" ? Math.ceil(st.size / 4096) * 8 : 0,
      atime: st.atime,
      mtime: st.mtime,
      ctime: st.ctime,
      btime: 0,
      gen: 0,
      dataVersion: 0,
    }
  }

  private fid(s: Session, n: number): Fid {
    const f = s.fids.get(n)
    if (f === undefined) fail("EBADF")
    return f
  }

  /** Installs fid `n` naming `ino`, replacing (and clunking) what `n` named. */
  private install(s: Session, n: number, fs: Inodes, ino: number, parent: number | null, name: string, uid: number): Fid {
    const fd = `\u0000p9/${s.id}/${n}`
    fs.hold(ino, fd)
    const f: Fid = { ino, parent, name, uid, fd, opened: null, xattr: null, listing: null }
    s.fids.set(n, f)
    return f
  }

  private clunkAll(s: Session, now: number): void {
    const fds = [...s.fids.values()].map((f) => f.fd)
    s.fids.clear()
    if (fds.length > 0) this.step(now, (fs) => fds.forEach((fd) => fs.close(fd)))
  }

  /** The fid's file's current name: the one it was reached by if still true, else wherever its directory now lists it. */
  private nameOf(fs: Inodes, f: Fid): { dir: number; name: string } | null {
    if (f.parent === null) return null
    const here = fs.entries(f.parent)?.find((e) => e.name === f.name)
    if (here?.ino === f.ino) return { dir: f.parent, name: f.name }
    const st = fs.stat(f.ino)
    const dir = st?.type === "dir" ? fs.parent(f.ino) : f.parent
    const found = dir === undefined ? undefined : fs.entries(dir)?.find((e) => e.ino === f.ino)
    return found === undefined || dir === undefined ? null : { dir, name: found.name }
  }

  private pathOf(f: Fid): string | null {
    return this.read((fs) => {
      if (f.ino === fs.root) return "/"
      const at = this.nameOf(fs, f)
      if (at === null) return null
      const parts = [at.name]
      for (let dir = at.dir; dir !== fs.root; ) {
        const up = fs.parent(dir)
        const entry = up === undefined ? undefined : fs.entries(up)?.find((e) => e.ino === dir)
        // A directory its parent no longer lists has been removed.
        if (up === undefined || entry === undefined) return null
        parts.push(entry.name)
        dir = up
      }
      return "/" + parts.reverse().join("/")
    })
  }

  /** Keeps the names of every session's fids true after this server renamed (or removed, with `to` null) an entry. */
  private moved(from: { dir: number; name: string }, to: { dir: number; name: string } | null, movedIno: number): void {
    for (const s of this.sessions.values()) {
      for (const f of s.fids.values()) {
        if (f.parent === from.dir && f.name === from.name && f.ino === movedIno) {
          if (to === null) f.parent = null
          else {
            f.parent = to.dir
            f.name = to.name
          }
        } else if (to !== null && f.parent === to.dir && f.name === to.name && f.ino !== movedIno) {
          // The file this fid names was replaced by the rename: it has no name left.
          f.parent = null
        }
      }
    }
  }

  // -------------------------------------------------------------------------
  // Requests.

  private dispatch(s: Session, m: Tmessage, now: number): Rmessage {
    switch (m.type) {
      case "Tversion":
        return this.version(s, m.msize, m.version, now)
      case "Tauth":
        // No authentication, said as diod says it: ENOENT, on which diod's
        // and Linux's clients attach with afid NOFID (pkg/p9's ENOSYS makes
        // diod's client tools give up).
        return rlerror("ENOENT")
      case "Tattach":
        return this.attach(s, m.fid, m.afid, m.aname, m.uid, now)
      case "Tflush":
        // Requests are handled atomically and in the order they arrive: by the
        // time a Tflush arrives, the request it names is answered or unknown.
        return { type: "Rflush" }
      case "Twalk":
        return this.walk(s, m.fid, m.newFid, m.names, false, now)
      case "Twalkgetattr":
        return this.walk(s, m.fid, m.newFid, m.names, true, now)
      case "Tclunk":
        return this.clunk(s, m.fid, now)
      case "Tremove":
        return this.remove(s, m.fid, now)
      case "Tstatfs":
        return this.statfs(s, m.fid)
      case "Tlopen":
        return this.lopen(s, m.fid, m.flags, now)
      case "Tlcreate":
        return this.lcreate(s, m.fid, m.name, m.openFlags, m.permissions, NOUID, m.gid, "Rlcreate", now)
      case "Tucreate":
        return this.lcreate(s, m.fid, m.name, m.openFlags, m.permissions, m.uid, m.gid, "Rucreate", now)
      case "Tmkdir":
        return this.mknode(s, m.directory, m.name, NOUID, m.gid, now, "Rmkdir", (fs, dir) => fs.mkdir(dir, m.name, m.permissions))
      case "Tumkdir":
        return this.mknode(s, m.directory, m.name, m.uid, m.gid, now, "Rumkdir", (fs, dir) => fs.mkdir(dir, m.name, m.permissions))
      case "Tsymlink":
        return this.mknode(s, m.directory, m.name, NOUID, m.gid, now, "Rsymlink", (fs, dir) => fs.symlink(dir, m.name, m.target))
      case "Tusymlink":
        return this.mknode(s, m.directory, m.name, m.uid, m.gid, now, "Rusymlink", (fs, dir) => fs.symlink(dir, m.name, m.target))
      case "Tmknod":
        return this.mknode(s, m.directory, m.name, NOUID, m.gid, now, "Rmknod", (fs, dir) => mknodIn(fs, dir, m.name, m.mode))
      case "Tumknod":
        return this.mknode(s, m.directory, m.name, m.uid, m.gid, now, "Rumknod", (fs, dir) => mknodIn(fs, dir, m.name, m.mode))
      case "Tlink":
        return this.link(s, m.directory, m.target, m.name, now)
      case "Trename":
        return this.rename(s, m.fid, m.directory, m.name, now)
      case "Trenameat":
        return this.renameat(s, m.oldDirectory, m.oldName, m.newDirectory, m.newName, now)
      case "Tunlinkat":
        return this.unlinkat(s, m.directory, m.name, m.flags, now)
      case "Treadlink":
        return this.readlink(s, m.fid, now)
      case "Tgetattr": {
        const f = this.fid(s, m.fid)
        return this.read((fs) => {
          const st = this.statOf(fs, f.ino)
          return { type: "Rgetattr", valid: ATTR_BASIC, qid: this.qid(st), attr: this.attrOf(st) }
        })
      }
      case "Tsetattr":
        return this.setattr(s, m.fid, m.valid, m.setAttr, now)
      case "Tread":
        return this.readFid(s, m.fid, m.offset, m.count, now)
      case "Twrite":
        return this.writeFid(s, m.fid, m.offset, m.data, now)
      case "Treaddir":
        return this.readdir(s, m.directory, m.offset, m.count, now)
      case "Tfsync":
        return this.fsync(s, m.fid, now)
      case "Tflushf":
        // Nothing is buffered server-side.
        this.fid(s, m.fid)
        return { type: "Rflushf" }
      case "Txattrwalk":
        return this.xattrwalk(s, m.fid, m.newFid, m.name, now)
      case "Txattrcreate":
        return this.xattrcreate(s, m.fid, m.name, m.attrSize, m.flags)
      case "Tgetxattr":
        return this.getxattr(s, m.fid, m.name, m.size)
      case "Tsetxattr": {
        const f = this.fid(s, m.fid)
        this.step(now, (fs) => check(fs.setxattr(f.ino, m.name, m.value, xattrFlags(m.flags))))
        return { type: "Rsetxattr" }
      }
      case "Tlistxattr":
        return this.listxattr(s, m.fid, m.size)
      case "Tremovexattr": {
        const f = this.fid(s, m.fid)
        this.step(now, (fs) => check(fs.removexattr(f.ino, m.name)))
        return { type: "Rremovexattr" }
      }
      case "Tallocate":
        return this.allocate(s, m.fid, m.mode, m.offset, m.length, now)
      case "Tlconnect": {
        const f = this.fid(s, m.fid)
        const type = this.read((fs) => this.statOf(fs, f.ino).type)
        // A socket file with nothing listening: the simulated world has no listeners.
        return rlerror(type === "socket" ? "ECONNREFUSED" : "EINVAL")
      }
      case "Tchannel":
        // Flipcall channels are a transport detail fsim does not simulate.
        return rlerror("ENOSYS")
    }
  }

  private version(s: Session, msize: number, version: string, now: number): Rmessage {
    // pkg/p9: an unknown protocol is EINVAL, a level above ours is EAGAIN (the client retries lower).
    const level = parseVersion(version)
    if (level === null || msize < MSIZE_MIN) return rlerror("EINVAL")
    if (level > this.versionMax) return rlerror("EAGAIN")
    // Tversion starts a new session: every fid is clunked.
    this.clunkAll(s, now)
    s.msize = Math.min(msize, this.msizeMax)
    s.version = level
    return { type: "Rversion", msize: s.msize, version }
  }

  private attach(s: Session, fid: number, afid: number, aname: string, uid: number, now: number): Rmessage {
    if (afid !== 0xffff_ffff) return rlerror("EINVAL")
    const names = aname.split("/").filter((n) => n !== "")
    if (names.some(badName)) return rlerror("EINVAL")
    const owner = uid === NOUID ? 0 : uid
    return this.step(now, (fs) => {
      let ino = fs.root
      let parent: number | null = null
      let name = ""
      for (const n of names) {
        const next = must(fs.lookup(ino, n))
        parent = ino
        name = n
        ino = next.ino
      }
      if (this.statOf(fs, ino).type !== "dir") fail("ENOTDIR")
      this.install(s, fid, fs, ino, names.length === 0 ? null : parent, name, owner)
      return { type: "Rattach", qid: this.qid(this.statOf(fs, ino)) }
    })
  }

  private walk(s: Session, fid: number, newFid: number, names: readonly string[], getattr: boolean, now: number): Rmessage {
    const f = this.fid(s, fid)
    if (f.xattr !== null) fail("EBADF")
    if (names.length > MAXWELEM || names.some(badName)) fail("EINVAL")
    return this.step(now, (fs) => {
      const qids: QID[] = []
      let ino = f.ino
      let parent = f.parent
      let name = f.name
      for (let i = 0; i < names.length; i++) {
        const n = names[i]!
        const r = this.statOf(fs, ino).type === "dir" ? fs.lookup(ino, n) : { errno: "ENOTDIR" as const }
        const e = errOf(r)
        if (e !== null) {
          // 9P: a walk failing at its first name is an error; a later one
          // returns the qids walked so far and leaves newfid alone. pkg/p9's
          // Twalkgetattr has attributes only for the whole walk.
          if (i === 0 || getattr) fail(e)
          return { type: "Rwalk", qids }
        }
        parent = ino
        name = n
        ino = (r as { ino: number }).ino
        qids.push(this.qid(this.statOf(fs, ino)))
      }
      this.install(s, newFid, fs, ino, parent, name, f.uid)
      if (!getattr) return { type: "Rwalk", qids }
      const st = this.statOf(fs, ino)
      return { type: "Rwalkgetattr", valid: ATTR_BASIC, attr: this.attrOf(st), qids }
    })
  }

  private clunk(s: Session, fid: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    s.fids.delete(fid)
    return this.step(now, (fs) => {
      fs.close(f.fd)
      // Txattrcreate's value is set when its fid is clunked.
      const x = f.xattr
      if (x?.kind === "write") {
        if (x.data.length !== x.size) fail("EINVAL")
        check(fs.setxattr(f.ino, x.name, x.data, x.flags))
      }
      return { type: "Rclunk" }
    })
  }

  private remove(s: Session, fid: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    // "The remove request asks the file server both to remove the file
    // represented by fid and to clunk the fid, even if the remove fails."
    s.fids.delete(fid)
    return this.step(now, (fs) => {
      fs.close(f.fd)
      if (f.parent === null) fail("EBUSY")
      const at = this.nameOf(fs, f)
      if (at === null) fail("ENOENT")
      const isDir = this.statOf(fs, f.ino).type === "dir"
      check(isDir ? fs.rmdir(at.dir, at.name) : fs.unlink(at.dir, at.name))
      this.moved(at, null, f.ino)
      return { type: "Rremove" }
    })
  }

  private statfs(s: Session, fid: number): Rmessage {
    this.fid(s, fid)
    const fsStat: FSStat = {
      type: V9FS_MAGIC,
      blockSize: 4096,
      blocks: 1 << 20,
      blocksFree: 1 << 20,
      blocksAvailable: 1 << 20,
      files: 1 << 20,
      filesFree: 1 << 20,
      fsid: 0,
      nameLength: this.read((fs) => fs.statfs().namelen),
    }
    return { type: "Rstatfs", fsStat }
  }

  private lopen(s: Session, fid: number, flags: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    if (f.opened !== null || f.xattr !== null) fail("EINVAL")
    return this.step(now, (fs) => {
      const fl = openFlags(flags)
      // The server cannot sleep in an open: a FIFO opens as with O_NONBLOCK.
      if (this.statOf(fs, f.ino).type === "fifo") fl.push("O_NONBLOCK")
      check(fs.open(f.ino, fl, f.fd))
      f.opened = accessOf(flags)
      return { type: "Rlopen", qid: this.qid(this.statOf(fs, f.ino)), ioUnit: 0 }
    })
  }

  private lcreate(s: Session, fid: number, name: string, flags: number, permissions: number, uid: number, gid: number, reply: "Rlcreate" | "Rucreate", now: number): Rmessage {
    const f = this.fid(s, fid)
    if (badName(name)) fail("EINVAL")
    if (f.opened !== null || f.xattr !== null) fail("EINVAL")
    const owner = this.owner(f, uid, gid)
    return this.step(
      now,
      (fs) => {
        // pkg/p9: every create is exclusive.
        const created = must(fs.create(f.ino, name, openFlags(flags), permissions & 0o7777, f.fd))
        const dir = f.ino
        s.fids.set(fid, { ...f, ino: created.ino, parent: dir, name, opened: accessOf(flags), listing: null })
        return { type: reply, qid: this.qid(this.statOf(fs, created.ino)), ioUnit: 0 }
      },
      owner,
    )
  }

  private owner(f: Fid, uid: number, gid: number): { uid: number; gid: number } {
    return { uid: uid === NOUID ? f.uid : uid, gid: gid === NOGID ? 0 : gid }
  }

  private mknode(
    s: Session,
    dirFid: number,
    name: string,
    uid: number,
    gid: number,
    now: number,
    reply: "Rmkdir" | "Rumkdir" | "Rsymlink" | "Rusymlink" | "Rmknod" | "Rumknod",
    make: (fs: Inodes, dir: number) => OrErrno<{ readonly ino: number }>,
  ): Rmessage {
    const d = this.fid(s, dirFid)
    if (badName(name)) fail("EINVAL")
    return this.step(now, (fs) => ({ type: reply, qid: this.qid(this.statOf(fs, must(make(fs, d.ino)).ino)) }), this.owner(d, uid, gid))
  }

  private link(s: Session, dirFid: number, targetFid: number, name: string, now: number): Rmessage {
    const d = this.fid(s, dirFid)
    const t = this.fid(s, targetFid)
    if (badName(name)) fail("EINVAL")
    this.step(now, (fs) => check(fs.link(d.ino, name, t.ino)))
    return { type: "Rlink" }
  }

  private rename(s: Session, fid: number, dirFid: number, name: string, now: number): Rmessage {
    const f = this.fid(s, fid)
    const d = this.fid(s, dirFid)
    if (badName(name)) fail("EINVAL")
    return this.step(now, (fs) => {
      if (f.parent === null) fail("EBUSY")
      const at = this.nameOf(fs, f)
      if (at === null) fail("ENOENT")
      this.renameIn(fs, at, { dir: d.ino, name })
      return { type: "Rrename" }
    })
  }

  private renameat(s: Session, oldDirFid: number, oldName: string, newDirFid: number, newName: string, now: number): Rmessage {
    const od = this.fid(s, oldDirFid)
    const nd = this.fid(s, newDirFid)
    if (badName(oldName) || badName(newName)) fail("EINVAL")
    return this.step(now, (fs) => {
      this.renameIn(fs, { dir: od.ino, name: oldName }, { dir: nd.ino, name: newName })
      return { type: "Rrenameat" }
    })
  }

  private renameIn(fs: Inodes, from: { dir: number; name: string }, to: { dir: number; name: string }): void {
    const moving = fs.lookup(from.dir, from.name)
    check(fs.rename(from.dir, from.name, to.dir, to.name))
    const ino = (moving as { ino: number }).ino
    if (from.dir !== to.dir || from.name !== to.name) this.moved(from, to, ino)
  }

  private unlinkat(s: Session, dirFid: number, name: string, flags: number, now: number): Rmessage {
    const d = this.fid(s, dirFid)
    if (badName(name)) fail("EINVAL")
    return this.step(now, (fs) => {
      const victim = fs.lookup(d.ino, name)
      check((flags & AT_REMOVEDIR) !== 0 ? fs.rmdir(d.ino, name) : fs.unlink(d.ino, name))
      this.moved({ dir: d.ino, name }, null, (victim as { ino: number }).ino)
      return { type: "Runlinkat" }
    })
  }

  private readlink(s: Session, fid: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    const r = this.step(now, (fs) => check(fs.readlink(f.ino))) as { target: string }
    return { type: "Rreadlink", target: r.target }
  }

  private setattr(s: Session, fid: number, valid: number, a: { permissions: number; uid: number; gid: number; size: number; atime: number; mtime: number }, now: number): Rmessage {
    const f = this.fid(s, fid)
    // diod's order, one change after the other (a failure keeps the earlier ones).
    this.step(now, (fs) => {
      let ctimeMoved = false
      if ((valid & SETATTR_MODE) !== 0) {
        check(fs.chmod(f.ino, a.permissions & 0o7777))
        ctimeMoved = true
      }
      if ((valid & (SETATTR_UID | SETATTR_GID)) !== 0) {
        check(fs.chown(f.ino, (valid & SETATTR_UID) !== 0 ? a.uid : undefined, (valid & SETATTR_GID) !== 0 ? a.gid : undefined))
        ctimeMoved = true
      }
      if ((valid & SETATTR_SIZE) !== 0) {
        check(fs.truncate(f.ino, a.size))
        ctimeMoved = true
      }
      if ((valid & (SETATTR_ATIME | SETATTR_MTIME)) !== 0) {
        const atime = (valid & SETATTR_ATIME) === 0 ? undefined : (valid & SETATTR_ATIME_SET) !== 0 ? a.atime : "UTIME_NOW"
        const mtime = (valid & SETATTR_MTIME) === 0 ? undefined : (valid & SETATTR_MTIME_SET) !== 0 ? a.mtime : "UTIME_NOW"
        check(fs.utimens(f.ino, atime, mtime))
        ctimeMoved = true
      }
      // A ctime-only change is a chown to nobody new.
      if ((valid & SETATTR_CTIME) !== 0 && !ctimeMoved) check(fs.chown(f.ino, undefined, undefined))
    })
    return { type: "Rsetattr" }
  }

  /** What reads, writes and readdirs may carry: msize less the header room. */
  private payloadMax(s: Session): number {
    return s.msize - IOHDRSZ
  }

  private readFid(s: Session, fid: number, offset: number, count: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    const n = Math.min(count, this.payloadMax(s))
    if (f.xattr !== null) {
      if (f.xattr.kind !== "read") fail("EBADF")
      return { type: "Rread", data: f.xattr.value.slice(offset, offset + n) }
    }
    if (f.opened === null) fail("EBADF")
    // A FIFO has no offsets: its next bytes (pread would be ESPIPE).
    const r = this.step(now, (fs) => check(this.isFifo(fs, f) ? fs.readNext(f.fd, n) : fs.read(f.fd, offset, n))) as { data: string }
    return { type: "Rread", data: r.data }
  }

  private writeFid(s: Session, fid: number, offset: number, data: string, now: number): Rmessage {
    const f = this.fid(s, fid)
    // Framed messages cannot exceed msize; an object handed over unframed is held to the same bound.
    if (data.length + IOHDRSZ - 1 > s.msize) fail("EINVAL")
    const x = f.xattr
    if (x !== null) {
      if (x.kind !== "write" || offset !== x.data.length || x.data.length + data.length > x.size) fail("EINVAL")
      x.data += data
      return { type: "Rwrite", count: data.length }
    }
    if (f.opened === null) fail("EBADF")
    const r = this.step(now, (fs) => check(this.isFifo(fs, f) ? fs.writeNext(f.fd, data) : fs.write(f.fd, offset, data))) as { count: number }
    return { type: "Rwrite", count: r.count }
  }

  private isFifo(fs: Inodes, f: Fid): boolean {
    return this.statOf(fs, f.ino).type === "fifo"
  }

  private readdir(s: Session, dirFid: number, cookie: bigint, count: number, now: number): Rmessage {
    const f = this.fid(s, dirFid)
    if (f.opened === null || f.xattr !== null) fail("EBADF")
    const budget = Math.min(count, this.payloadMax(s))
    return this.step(now, (fs) => {
      if (this.statOf(fs, f.ino).type !== "dir") fail("EINVAL")
      if (cookie === 0n || f.listing === null) f.listing = this.listing(fs, f)
      const out: WireDirent[] = []
      let used = 0
      for (let i = cookie < BigInt(f.listing.length) ? Number(cookie) : f.listing.length; i < f.listing.length; i++) {
        const d = f.listing[i]!
        used += direntSize(d.name)
        if (used > budget) break
        out.push(d)
      }
      return { type: "Rreaddir", entries: out }
    })
  }

  /** The directory's entries now, "." and ".." first, each with the offset of the one after it. */
  private listing(fs: Inodes, f: Fid): WireDirent[] {
    const entries: readonly DirEntryIno[] = must(fs.readdir(f.fd))
    const dot = this.statOf(fs, f.ino)
    const dotdot = this.statOf(fs, fs.parent(f.ino) ?? f.ino)
    const all = [
      { name: ".", st: dot },
      { name: "..", st: dotdot },
      ...entries.map((e) => ({ name: e.name, st: this.statOf(fs, e.ino) })),
    ]
    return all.map((e, i) => ({ qid: this.qid(e.st), offset: BigInt(i + 1), type: DT_OF[e.st.type], name: e.name }))
  }

  private fsync(s: Session, fid: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    if (f.opened === null) fail("EBADF")
    this.step(now, (fs) => check(fs.fsync(f.fd)))
    return { type: "Rfsync" }
  }

  private xattrwalk(s: Session, fid: number, newFid: number, name: string, now: number): Rmessage {
    const f = this.fid(s, fid)
    return this.step(now, (fs) => {
      let value: string
      if (name === "") {
        const r = check(fs.listxattr(f.ino)) as { names: readonly string[] }
        value = r.names.map((n) => n + "\0").join("")
      } else {
        value = (check(fs.getxattr(f.ino, name)) as { value: string }).value
      }
      const nf = this.install(s, newFid, fs, f.ino, f.parent, f.name, f.uid)
      nf.xattr = { kind: "read", value }
      return { type: "Rxattrwalk", size: value.length }
    })
  }

  private xattrcreate(s: Session, fid: number, name: string, size: number, flags: number): Rmessage {
    const f = this.fid(s, fid)
    if (f.opened !== null || f.xattr !== null) fail("EINVAL")
    if (name === "" || name.length > 255) fail("ERANGE")
    if (size > 65536) fail("E2BIG")
    f.xattr = { kind: "write", name, size, flags: xattrFlags(flags), data: "" }
    return { type: "Rxattrcreate" }
  }

  private getxattr(s: Session, fid: number, name: string, size: number): Rmessage {
    const f = this.fid(s, fid)
    const r = this.read((fs) => check(fs.getxattr(f.ino, name))) as { value: string }
    // As getxattr(2): a size of 0 asks for the value's size (sent whole here), a short one is ERANGE.
    if (size !== 0 && r.value.length > size) fail("ERANGE")
    if (r.value.length + HEADER_SIZE + 2 > s.msize) fail("ERANGE")
    return { type: "Rgetxattr", value: r.value }
  }

  private listxattr(s: Session, fid: number, size: number): Rmessage {
    const f = this.fid(s, fid)
    const r = this.read((fs) => check(fs.listxattr(f.ino))) as { names: readonly string[] }
    const bytes = r.names.reduce((n, x) => n + x.length + 1, 0)
    if (size !== 0 && bytes > size) fail("ERANGE")
    if (bytes + r.names.length + HEADER_SIZE + 2 > s.msize) fail("ERANGE")
    return { type: "Rlistxattr", xattrs: r.names }
  }

  private allocate(s: Session, fid: number, mode: number, offset: number, length: number, now: number): Rmessage {
    const f = this.fid(s, fid)
    if (f.opened === null || !f.opened.writable) fail("EBADF")
    const KEEP_SIZE = 0x01
    if ((mode & ~KEEP_SIZE) !== 0) fail("EOPNOTSUPP")
    this.step(now, (fs) => {
      // fallocate(2) mode 0: the file grows to cover the range (the model has no holes to fill).
      const size = this.statOf(fs, f.ino).size
      if (mode === 0 && offset + length > size) check(fs.truncate(f.ino, offset + length))
    })
    return { type: "Rallocate" }
  }
}

function accessOf(flags: number): Opened {
  const acc = flags & 3
  return { readable: acc === 0 || acc === 2, writable: acc === 1 || acc === 2 }
}

function xattrFlags(flags: number): XattrFlag[] {
  const out: XattrFlag[] = []
  if ((flags & XATTR_CREATE) !== 0) out.push("XATTR_CREATE")
  if ((flags & XATTR_REPLACE) !== 0) out.push("XATTR_REPLACE")
  return out
}

/** Tmknod's node types: what the model has (regular files, FIFOs, sockets); devices are EPERM, as for a caller without CAP_MKNOD. */
function mknodIn(fs: Inodes, dir: number, name: string, mode: number): OrErrno<{ readonly ino: number }> {
  const type = mode & S_IFMT
  const perm = mode & 0o7777
  if (type === 0 || type === S_IFREG) return fs.mknod(dir, name, "file", perm)
  if (type === S_IFIFO) return fs.mknod(dir, name, "fifo", perm)
  if (type === S_IFSOCK) return fs.mknod(dir, name, "socket", perm)
  if (type === S_IFDIR) return { errno: "EPERM" }
  return { errno: type === 0o020000 || type === 0o060000 ? "EPERM" : "EINVAL" }
}
