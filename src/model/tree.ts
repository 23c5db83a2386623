// Between contract trees (scenario.md 1, "remote") and model states.

import { InputError } from "./schema.js"
import { EMPTY_DIRENTS, direntsOf } from "./dirents.js"
import { BUCKET_BITS, BUCKET_MASK, BUCKET_SIZE, copyArray, emptyRecord, type Bucket, type Inode, type InodeType, type ModelStateShape, type OpenFile } from "./state.js"
import { DENSE_MAX, fromExtents, treeFields, writeRange, type FileData } from "./filedata.js"
import { FILE_SIZE_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX } from "./ops.js"
import { NAME_MAX, PATH_MAX } from "./path.js"
import type { NodeType, RootAttrs, Tree, TreeNode } from "./types.js"

export const ROOT_INO = 1

const DEFAULT_MODE: Record<InodeType, number> = { file: 0o644, dir: 0o755, symlink: 0o777, fifo: 0o644, socket: 0o644, chardev: 0 }

/** The xattr that makes an overlay layer's directory opaque, and its value (overlayfs writes "y"). */
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
export const OVERLAY_OPAQUE_VALUE = "y"

function fail(where: string, message: string): never {
  throw new InputError(`tree: ${where === "" ? "/" : where}: ${message}`)
}

function checkName(where: string, name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    fail(where, `bad name ${JSON.stringify(name)} (a name is 1-255 bytes without "/" or NUL, and not "." or "..")`)
  }
  if (name.length > NAME_MAX) fail(where, `name is ${name.length} bytes, longer than ${NAME_MAX}`)
}

function checkXattrs(where: string, type: NodeType, xattrs: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | null {
  if (xattrs === undefined) return null
  const names = Object.keys(xattrs).sort()
  if (names.length === 0) return null
  if (type !== "file" && type !== "dir") fail(where, `a ${type} cannot carry user. xattrs on Linux`)
  const out = emptyRecord<string>()
  for (const n of names) {
    if (!n.startsWith("user.") || n.length === 5) fail(where, `xattr ${JSON.stringify(n)}: only user.<name> xattrs are allowed in a tree`)
    if (n.length > XATTR_NAME_MAX) fail(where, `xattr name ${JSON.stringify(n.slice(0, 20))}... is longer than ${XATTR_NAME_MAX} bytes`)
    const v = xattrs[n] as string
    if (v.length > XATTR_SIZE_MAX) fail(where, `xattr ${n} value is longer than ${XATTR_SIZE_MAX} bytes`)
    out[n] = v
  }
  return Object.freeze(out)
}

/**
 * Builds the inodes of a tree: names in sorted order (so inode numbers are
 * reproducible), hard links resolved after every real node exists. With
 * `layer` (an overlay layer's tree, scenario.md 1.3) a `whiteout` node is
 * the 0:0 character device and an `"opaque": true` directory carries
 * trusted.overlay.opaque = "y"; elsewhere both are input errors.
 */
export function buildState(tree: Tree, root: RootAttrs = {}, readOnly = false, now = 0, layer = false): ModelStateShape {
  const inodes = new Map<number, Inode>()
  // Entries while building (null-prototype: any name is a plain key), made Dirents at the end.
  const entriesOf = new Map<number, Record<string, number>>()
  let nextIno = ROOT_INO + 1
  const links: { dir: number; name: string; link: string; where: string }[] = []
  const mk = (ino: number, type: InodeType, node: { mode?: number; uid?: number; gid?: number }, parent: number, extra: Partial<Inode>): Inode => ({
    ino,
    type,
    mode: (node.mode ?? DEFAULT_MODE[type]) & 0o7777,
    uid: node.uid ?? 0,
    gid: node.gid ?? 0,
    nlink: type === "dir" ? 2 : 1,
    atime: now,
    mtime: now,
    ctime: now,
    data: "",
    target: "",
    children: null,
    parent: type === "dir" ? parent : 0,
    xattrs: null,
    version: 0,
    ...extra,
  })

  const fill = (dirIno: number, children: Tree | undefined, where: string): void => {
    const entries = emptyRecord<number>()
    entriesOf.set(dirIno, entries)
    if (children === undefined) return
    for (const name of Object.keys(children).sort()) {
      const path = `${where}/${name}`
      checkName(path, name)
      const node = children[name] as TreeNode
      if ("link" in node && typeof node.link === "string") {
        links.push({ dir: dirIno, name, link: node.link, where: path })
        continue
      }
      const n = node as Exclude<TreeNode, { link: string }>
      if (n.type === "whiteout" && !layer) fail(path, "whiteout nodes exist only in overlay layers")
      const ino = nextIno++
      switch (n.type) {
        case "whiteout":
          inodes.set(ino, mk(ino, "chardev", {}, dirIno, {}))
          break
        case "file": {
          const data = fileDataOf(path, n)
          inodes.set(ino, mk(ino, "file", n, dirIno, { data, xattrs: checkXattrs(path, "file", n.xattrs) }))
          break
        }
        case "dir": {
          if (n.opaque !== undefined && !layer) fail(path, "opaque directories exist only in overlay layers")
          fill(ino, n.children, path)
          let xattrs = checkXattrs(path, "dir", n.xattrs)
          if (n.opaque === true) {
            const x = emptyRecord<string>()
            if (xattrs !== null) for (const k in xattrs) x[k] = xattrs[k] as string
            x[OVERLAY_OPAQUE_XATTR] = OVERLAY_OPAQUE_VALUE
            xattrs = Object.freeze(x)
          }
          inodes.set(ino, mk(ino, "dir", n, dirIno, { children: EMPTY_DIRENTS, xattrs }))
          break
        }
        case "symlink":
          if (n.target === "" || n.target.includes("\0")) fail(path, "a symlink target must be non-empty and without NUL")
          if (n.target.length >= PATH_MAX) fail(path, `symlink target is ${n.target.length} bytes, at least PATH_MAX (${PATH_MAX})`)
          inodes.set(ino, mk(ino, "symlink", n, dirIno, { target: n.target, xattrs: checkXattrs(path, "symlink", n.xattrs) }))
          break
        case "fifo":
        case "socket":
          inodes.set(ino, mk(ino, n.type, n, dirIno, { xattrs: checkXattrs(path, n.type, n.xattrs) }))
          break
        default:
          fail(path, `unknown node type ${JSON.stringify((n as { type?: unknown }).type)}`)
      }
      entries[name] = ino
    }
  }

  fill(ROOT_INO, tree, "")
  inodes.set(ROOT_INO, mk(ROOT_INO, "dir", root, ROOT_INO, { children: EMPTY_DIRENTS }))

  // Plain walk of a link path through the tree as built (no symlinks, no "." or "..").
  const lookup = (path: string): number | undefined => {
    let ino = ROOT_INO
    for (const comp of path.split("/")) {
      if (comp === "") continue
      const next = entriesOf.get(ino)?.[comp]
      if (next === undefined) return undefined
      ino = next
    }
    return ino
  }
  const linkTargets = new Map<string, string>()
  for (const l of links) linkTargets.set(l.where, l.link)
  for (const l of links) {
    // A link may name another link node; follow at most as many as there are.
    let target = l.link
    let ino = lookup(target)
    for (let hops = 0; ino === undefined && hops <= links.length; hops++) {
      const next = linkTargets.get(target.startsWith("/") ? target : `/${target}`)
      if (next === undefined) break
      target = next
      ino = lookup(target)
    }
    if (ino === undefined) fail(l.where, `link to ${JSON.stringify(l.link)}, which names no node of the tree`)
    const node = inodes.get(ino) as Inode
    if (node.type === "dir") fail(l.where, `link to ${JSON.stringify(l.link)}, a directory (directories cannot be hard-linked)`)
    inodes.set(ino, { ...node, nlink: node.nlink + 1 })
    ;(entriesOf.get(l.dir) as Record<string, number>)[l.name] = ino
  }

  // Entries, and directory link counts: 2 + subdirectories.
  for (const i of [...inodes.values()]) {
    if (i.type !== "dir") continue
    const entries = entriesOf.get(i.ino) as Record<string, number>
    const pairs = Object.keys(entries).map((k) => [k, entries[k] as number] as const)
    const subdirs = pairs.filter(([, ino]) => inodes.get(ino)?.type === "dir").length
    inodes.set(i.ino, { ...i, children: direntsOf(pairs), nlink: 2 + subdirs })
  }

  const table: (Inode | undefined)[][] = []
  for (const ino of [...inodes.keys()].sort((a, b) => a - b)) {
    const bk = ino >> BUCKET_BITS
    while (table.length <= bk) table.push(copyArray<Inode>(undefined, BUCKET_SIZE))
    ;(table[bk] as (Inode | undefined)[])[ino & BUCKET_MASK] = Object.freeze(inodes.get(ino) as Inode)
  }
  const buckets = table.map((b) => (b.every((i) => i === undefined) ? undefined : (Object.freeze(b) as Bucket)))
  return Object.freeze({
    inodes: Object.freeze(buckets),
    fds: Object.freeze(emptyRecord<OpenFile>()),
    nextIno,
    rootIno: ROOT_INO,
    readOnly,
  })
}

/**
 * The tree a state holds (contract format): names sorted, a non-directory's
 * later names written as { link: first path }, the first path being the
 * first met in a depth-first walk over sorted names. A 0:0 character device
 * is a `whiteout` node; with `layer`, a directory whose
 * trusted.overlay.opaque is "y" is written `"opaque": true`.
 */
export function stateToTree(s: ModelStateShape, get: (ino: number) => Inode | undefined, layer = false): { tree: Tree; root: Required<RootAttrs> } {
  const firstPath = new Map<number, string>()
  const walk = (dirIno: number, where: string): Tree => {
    const dir = get(dirIno) as Inode
    const out: Record<string, TreeNode> = {}
    const children = dir.children ?? EMPTY_DIRENTS
    for (let k = 0; k < children.names.length; k++) {
      const name = children.names[k] as string
      const ino = children.inos[k] as number
      const i = get(ino) as Inode
      const path = `${where}/${name}`
      if (i.type !== "dir") {
        const first = firstPath.get(ino)
        if (first !== undefined) {
          defineEntry(out, name, { link: first })
          continue
        }
        firstPath.set(ino, path)
      }
      defineEntry(out, name, nodeOf(i, i.type === "dir" ? walk(ino, path) : undefined, layer))
    }
    return out
  }
  const rootNode = get(s.rootIno) as Inode
  const tree = walk(s.rootIno, "")
  return { tree, root: { mode: rootNode.mode, uid: rootNode.uid, gid: rootNode.gid } }
}

/** Sets a key even when it is "__proto__" (an own property, as JSON.parse makes it). */
function defineEntry(out: Record<string, TreeNode>, name: string, node: TreeNode): void {
  Object.defineProperty(out, name, { value: node, enumerable: true, writable: true, configurable: true })
}

function nodeOf(i: Inode, children: Tree | undefined, layer: boolean): TreeNode {
  if (i.type === "chardev") return { type: "whiteout" }
  const n: Record<string, unknown> = { type: i.type }
  if (i.type === "file") Object.assign(n, treeFields(i.data))
  if (i.type === "symlink") n["target"] = i.target
  if (i.type === "dir") n["children"] = children
  if (layer && i.type === "dir" && i.xattrs !== null && i.xattrs[OVERLAY_OPAQUE_XATTR] === OVERLAY_OPAQUE_VALUE) n["opaque"] = true
  if (i.mode !== DEFAULT_MODE[i.type]) n["mode"] = i.mode
  if (i.uid !== 0) n["uid"] = i.uid
  if (i.gid !== 0) n["gid"] = i.gid
  if (i.xattrs !== null) {
    const user: Record<string, string> = {}
    let any = false
    for (const k of Object.keys(i.xattrs).sort()) {
      if (!k.startsWith("user.")) continue
      user[k] = i.xattrs[k] as string
      any = true
    }
    if (any) n["xattrs"] = user
  }
  return n as TreeNode
}

/**
 * A file node's contents: `data`, or `size` with `extents` sorted, apart and
 * within the size (toTree writes a file longer than DENSE_MAX so). Either
 * spelling is read for any size; both at once is an input error.
 */
function fileDataOf(path: string, n: Extract<TreeNode, { type: "file" }>): FileData {
  if (n.size === undefined && n.extents === undefined) {
    const data = n.data ?? ""
    return data.length <= DENSE_MAX ? data : writeRange("", 0, data)
  }
  if (n.data !== undefined) fail(path, "a file has data, or size and extents, not both")
  const size = n.size ?? 0
  if (size > FILE_SIZE_MAX) fail(path, `file size ${size} is more than ${FILE_SIZE_MAX}`)
  let end = 0
  for (const e of n.extents ?? []) {
    if (e.offset < end) fail(path, `extent at ${e.offset} overlaps or precedes the one before`)
    end = e.offset + e.data.length
    if (end > size) fail(path, `extent at ${e.offset} ends past the file size ${size}`)
  }
  return fromExtents(size, n.extents ?? [])
}
