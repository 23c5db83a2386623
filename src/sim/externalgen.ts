// What other users of a share do to names a client works with: they replace
// them. An editor or a package manager writes a new file and renames it over
// the old one; a build or a deploy script moves a directory away and makes a
// new one in its place; a log writer appends to a file others have open; a
// tool deletes a file and creates it again; an administrator repoints a
// symlink (a "current" link of a release tree, often reached through others).
// External users that only draw ops at random from the whole op mix rarely
// do any of these to a name the client has cached, and a client's cache is
// only tested against another user when that happens between two of its ops
// on the name. A replacement block is such a change, aimed at a name the
// client's threads use (or, for a directory or a symlink, one of the remote
// tree's that their paths go through) and put into an external user's ops
// after a sleep: external ops take no simulated time, so without one the
// user's whole block is done before the client's first replies come back.
//
// Blocks are plain ops of the external thread (open, write, close, rename,
// unlink, mkdir, symlink, sleep): a trace replays them with no option.

import fc from "fast-check"
import type { Cred, Op, Tree, TreeNode } from "../model/types.js"
import type { ThreadSpec } from "./scenario.js"

/** The kinds of replacement, each a thing real other users of a share do. */
export const REPLACEMENT_KINDS = ["append", "rename-over", "recreate", "replace-dir", "repoint-symlink"] as const
export type ReplacementKind = (typeof REPLACEMENT_KINDS)[number]

/** One external user's replacement, drawn before the names it is aimed at are known. */
export interface ReplacementDraw {
  readonly kind: ReplacementKind
  /** Which candidate name (taken modulo their count). */
  readonly target: number
  /** For a symlink: which other name it is pointed at (taken modulo their count). */
  readonly other: number
  /** Which client thread's uses of the name time the block (taken modulo the threads that use it). */
  readonly thread: number
  /** Where between that thread's first and last use of the name the block lands, in thousandths of the window. */
  readonly when: number
  /** The client's pace the user's think time assumes, in ns per client op. */
  readonly paceNs: number
  readonly data: string
}

// Unbiased: fast-check's bias toward small values would put most blocks at
// the start of the run (a think time of 0), before the client caches anything.
export const arbReplacementDraw: fc.Arbitrary<ReplacementDraw> = fc.noBias(
  fc.record({
    kind: fc.constantFrom(...REPLACEMENT_KINDS),
    target: fc.nat(63),
    other: fc.nat(63),
    thread: fc.nat(5),
    when: fc.nat(999),
    paceNs: fc.constantFrom(60_000, 150_000, 300_000, 600_000),
    data: fc.constantFrom("X", "ext", "0123456789abcdef"),
  }),
)

/**
 * The external users, then one more for each draw that is not null: a user
 * of the share who does that replacement and nothing else (a deploy, an
 * editor's save, a log writer), named on from the others (x2 after x0 and
 * x1). `clients` are the client's threads, `tree` the share's initial tree.
 */
export function withReplacements(users: readonly ThreadSpec[], draws: readonly (ReplacementDraw | null)[], clients: readonly ThreadSpec[], tree: Tree): ThreadSpec[] {
  const names = namesOf(clients, tree)
  const out = [...users]
  for (const d of draws) {
    if (d === null) continue
    const name = `x${out.length}`
    // Where nothing fits the kind (a tree without symlinks, say), the user replaces a file instead.
    const block = replacementOps(d, name, names) ?? replacementOps({ ...d, kind: "recreate" }, name, names)
    if (block === null) continue
    out.push({ name, cred: REPLACER, ops: [{ op: "sleep", ns: thinkTimeNs(d, block, clients, names) }, ...block.ops] })
  }
  return out
}

/**
 * Who replaces: one who may, root (the tree's files are root's, 0644 and
 * the like, and fsim's other users could not touch most of them).
 */
const REPLACER: Cred = { uid: 0, gid: 0, groups: [] }

/** A block's ops and the name it replaces (`through`: the client reaches what it replaces through the name, a directory or symlink). */
interface Block {
  readonly ops: Op[]
  readonly target: string
  readonly through: boolean
}

/**
 * The think time that lands the block between two of one client thread's
 * uses of its name: at op p of the thread, p drawn from just after its first
 * use to its last (just after its only one), p ops at the drawn pace.
 */
function thinkTimeNs(d: ReplacementDraw, b: Block, clients: readonly ThreadSpec[], c: Candidates): number {
  const uses = clients.map((t) => usesOf(t, b, c)).filter((u) => u.length > 0)
  if (uses.length === 0) return Math.max(1, Math.round((d.when / 1000) * 8 * d.paceNs))
  const u = uses[d.thread % uses.length]!
  const first = u[0]!
  const last = u[u.length - 1]!
  const p = last > first ? first + 1 + (d.when / 1000) * (last - first - 1) : first + 1
  return Math.max(1, Math.round(p * d.paceNs))
}

/** The indices of `t`'s ops that use the block's name: by path, below it, through a descriptor opened on it, or (for a symlink) through any symlink of the tree. */
function usesOf(t: ThreadSpec, b: Block, c: Candidates): number[] {
  const fds = new Set<string>()
  const out: number[] = []
  t.ops.forEach((o, i) => {
    const rec = o as unknown as Record<string, unknown>
    const paths = PATH_FIELDS.filter((k) => typeof rec[k] === "string").map((k) => clean(rec[k] as string))
    const names = paths.some((p) => p === b.target || p.startsWith(`${b.target}/`) || (b.through && c.symlinks.includes(b.target) && startsAtSymlink(p, c)))
    if (o.op === "open" && names) fds.add(o.fd)
    if (names || ("fd" in o && fds.has(o.fd))) out.push(i)
  })
  return out
}

/** Whether a path's walk goes through a symlink of the tree (a component of it up to the last is one). */
function startsAtSymlink(p: string, c: Candidates): boolean {
  const parts = p.split("/").filter((x) => x !== "")
  for (let i = 1; i <= parts.length; i++) {
    const n = c.nodes.get(`/${parts.slice(0, i).join("/")}`)
    if (n !== undefined && !("link" in n) && n.type === "symlink") return true
  }
  return false
}

/** The names a replacement may be aimed at, each list in a fixed order (no duplicates). */
interface Candidates {
  /** Paths of the client's opens with O_APPEND (a log its threads write), then of its other opens (files it has open). */
  readonly appended: readonly string[]
  readonly opened: readonly string[]
  /** Paths the client names that are files in the tree, then the paths of its opens, then every path it names. */
  readonly files: readonly string[]
  /** Directories of the tree the client's paths go through; the tree's others and those the client makes. */
  readonly walked: readonly string[]
  readonly dirs: readonly string[]
  /** Symlinks of the tree another symlink names (the middle of a chain); the tree's others and those the client makes. */
  readonly chained: readonly string[]
  readonly symlinks: readonly string[]
  /** Every node of the tree by path. */
  readonly nodes: ReadonlyMap<string, TreeNode>
}

const PATH_FIELDS = ["path", "from", "to"] as const

function namesOf(clients: readonly ThreadSpec[], tree: Tree): Candidates {
  const nodes = new Map<string, TreeNode>()
  const walk = (t: Tree, dir: string): void => {
    for (const [name, node] of Object.entries(t)) {
      const p = `${dir}/${name}`
      nodes.set(p, node)
      if (!("link" in node) && node.type === "dir" && node.children !== undefined) walk(node.children, p)
    }
  }
  walk(tree, "")
  const used: string[] = []
  const opened: string[] = []
  const appended: string[] = []
  const made = { dirs: [] as string[], symlinks: [] as string[] }
  for (const t of clients) {
    for (const o of t.ops) {
      const rec = o as unknown as Record<string, unknown>
      for (const k of PATH_FIELDS) if (typeof rec[k] === "string") used.push(clean(rec[k] as string))
      if (o.op === "open") (o.flags.includes("O_APPEND") ? appended : opened).push(clean(o.path))
      if (o.op === "mkdir") made.dirs.push(clean(o.path))
      if (o.op === "symlink") made.symlinks.push(clean(o.path))
    }
  }
  const typeOf = (p: string): string | undefined => {
    const n = nodes.get(p)
    return n === undefined ? undefined : "link" in n ? "file" : n.type
  }
  const usedSet = new Set(used)
  const dirs = [...nodes.keys()].filter((p) => typeOf(p) === "dir")
  const walked = dirs.filter((d) => used.some((u) => u.startsWith(`${d}/`)))
  const symlinks = [...nodes.keys()].filter((p) => typeOf(p) === "symlink")
  const targets = new Set<string>()
  for (const p of symlinks) {
    const n = nodes.get(p)!
    if (!("link" in n) && n.type === "symlink") targets.add(resolveTarget(p, n.target))
  }
  return {
    appended: unique(appended.filter((p) => p !== "/")),
    opened: unique(opened.filter((p) => p !== "/")),
    files: unique([...[...usedSet].filter((p) => typeOf(p) === "file"), ...appended, ...opened, ...used].filter((p) => p !== "/")),
    walked: unique(walked),
    dirs: unique([...walked, ...dirs, ...made.dirs].filter((p) => p !== "/")),
    chained: symlinks.filter((p) => targets.has(p)),
    symlinks: unique([...symlinks, ...made.symlinks].filter((p) => p !== "/")),
    nodes,
  }
}

function replacementOps(d: ReplacementDraw, user: string, c: Candidates): Block | null {
  const fd = `${user}.r`
  const pick = (xs: readonly string[]): string | undefined => (xs.length === 0 ? undefined : xs[d.target % xs.length])
  const file = (target: string, ops: Op[]): Block => ({ ops, target, through: false })
  switch (d.kind) {
    case "append": {
      // A log writer: appends to a file the client appends to (a log), or else one it has open.
      const path = pick(c.appended) ?? pick(c.opened) ?? pick(c.files)
      if (path === undefined) return null
      return file(path, [{ op: "open", path, flags: ["O_WRONLY", "O_APPEND", "O_NONBLOCK"], fd }, { op: "write", fd, data: d.data }, { op: "close", fd }])
    }
    case "rename-over": {
      // An editor's or a package manager's atomic save: a new file at a name of its own, renamed over the old.
      const path = pick(c.files)
      if (path === undefined) return null
      const tmp = `${path}.${user}`
      return file(path, [
        { op: "open", path: tmp, flags: ["O_WRONLY", "O_CREAT", "O_TRUNC", "O_NONBLOCK"], mode: 0o644, fd },
        { op: "write", fd, data: d.data },
        { op: "close", fd },
        { op: "rename", from: tmp, to: path },
      ])
    }
    case "recreate": {
      // rm then create: the name comes back as another file.
      const path = pick(c.files)
      if (path === undefined) return null
      return file(path, [
        { op: "unlink", path },
        { op: "open", path, flags: ["O_WRONLY", "O_CREAT", "O_EXCL", "O_NONBLOCK"], mode: 0o644, fd },
        { op: "write", fd, data: d.data },
        { op: "close", fd },
      ])
    }
    case "replace-dir": {
      // A deploy swapping a directory: the old one moved away, a new one made, with a child at a name the old one had.
      const dir = pick(c.walked) ?? pick(c.dirs)
      if (dir === undefined) return null
      const old = c.nodes.get(dir)
      const childNames = old !== undefined && !("link" in old) && old.type === "dir" ? Object.keys(old.children ?? {}) : []
      const child = childNames.length > 0 ? childNames[d.other % childNames.length]! : "a"
      const ops: Op[] = [
        { op: "rename", from: dir, to: `${dir}.${user}` },
        { op: "mkdir", path: dir, mode: 0o755 },
        { op: "open", path: `${dir}/${child}`, flags: ["O_WRONLY", "O_CREAT", "O_NONBLOCK"], mode: 0o644, fd },
        { op: "write", fd, data: d.data },
        { op: "close", fd },
      ]
      return { ops, target: dir, through: true }
    }
    case "repoint-symlink": {
      // An administrator repointing a link (ln -sfn): removed and made again, naming another entry of its directory.
      const path = pick(c.chained) ?? pick(c.symlinks)
      if (path === undefined) return null
      const node = c.nodes.get(path)
      const current = node !== undefined && !("link" in node) && node.type === "symlink" ? node.target : ""
      const dir = path.slice(0, path.lastIndexOf("/"))
      const siblings = [...c.nodes.keys()].filter((p) => p !== path && p.slice(0, p.lastIndexOf("/")) === dir).map((p) => p.slice(dir.length + 1))
      const others = siblings.filter((s) => s !== current)
      const target = others.length > 0 ? others[d.other % others.length]! : "a"
      return {
        ops: [
          { op: "unlink", path },
          { op: "symlink", target, path },
        ],
        target: path,
        through: true,
      }
    }
  }
}

/** A path without repeated or trailing slashes ("/a//b/" -> "/a/b"). */
function clean(p: string): string {
  const parts = p.split("/").filter((s) => s !== "" && s !== ".")
  return `/${parts.join("/")}`
}

/** Where a symlink at `at` with `target` points, lexically (".." components kept as they are). */
function resolveTarget(at: string, target: string): string {
  return target.startsWith("/") ? clean(target) : clean(`${at.slice(0, at.lastIndexOf("/"))}/${target}`)
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)]
}
