// Overlay layers and Linux overlayfs's departures from tmpfs.
//
// An overlay mount (scenario.md 1.3) stacks layer trees, top first: an
// optional writable upper layer, then the read-only lower layers. What a
// process sees is the merged tree (`mergeLayers`): the topmost entry of each
// name, a whiteout (a 0:0 character device) hiding the name in the layers
// below, a directory merging with the directories of the same path below it
// until one is opaque (trusted.overlay.opaque "y") or a layer has a
// non-directory there (fs/overlayfs/namei.c: ovl_lookup, ovl_lookup_single;
// Documentation/filesystems/overlayfs.rst, "Directories", "whiteouts and
// opaque directories").
//
// The model runs on the merged tree as on tmpfs. Linux overlayfs departs
// from tmpfs where its layers show through; `overlayfsDialect` says where,
// as rules in the style of gvisor.ts (dialect.ts), each citing the kernel
// source, and DIALECTS.md lists them. The rules need to know which objects
// come from a lower layer: the dialect is made for one stack of layers, and
// classifies the inodes of the initial state built from their merged tree
// (`initialState(mergeLayers(layers))`, whose inode numbers depend on the
// tree alone). Objects a scenario creates later are new inodes: upper-only.
//
// Mount options: redirect_dir=off, index=off, xino=off, metacopy=off (none
// of them exists in gVisor's overlay, which this dialect is the Linux
// reference for); all layers on one tmpfs.

import type { Dialect, Ruling } from "./dialect.js"
import { Ctx, isErrno, Last, lookupChild, resolveParent } from "./path.js"
import { buildState } from "./tree.js"
import { getInode, Tx, type ModelStateShape } from "./state.js"
import { isErr, type Cred, type Op, type OpResult, type RootAttrs, type Stat, type Tree, type TreeNode } from "./types.js"

/** An overlay's layers as tree literals, top first (scenario.md 1.3). */
export interface OverlayLayers {
  /** The writable upper layer; null for a read-only overlay (then at least two lower layers). */
  readonly upper: Tree | null
  readonly lower: readonly Tree[]
}

/**
 * Where a merged object comes from, at the initial state:
 * - `upper`: the upper layer alone;
 * - `lower`: one lower layer alone (a non-directory of a lower layer, or a
 *   directory no other layer merges with);
 * - `merged`: a directory two or more layers make up (the root always).
 */
export type Origin = "upper" | "lower" | "merged"

/** A tree node that is not a second name (`link`) of another. */
export type FullNode = Exclude<TreeNode, { readonly link: string }>

export function isLink(n: TreeNode): n is { readonly link: string } {
  return "link" in n && typeof n.link === "string"
}

/** One layer's directory taking part in a merged directory. */
interface LayerDir {
  /** Index into the layer stack, top first (the upper layer, when there is one, is 0). */
  readonly layer: number
  readonly children: Tree
}

/** The layers top first. Any non-empty stack merges (a mount needs more: scenario.md 1.3, checked where mounts are made). */
function stackOf(layers: OverlayLayers): Tree[] {
  const stack = layers.upper === null ? [...layers.lower] : [layers.upper, ...layers.lower]
  if (stack.length === 0) throw new Error("overlay: no layers")
  return stack
}

/** The node at `path` (from a layer's root), following `link` nodes; undefined where there is none. */
export function nodeAt(tree: Tree, path: string): FullNode | undefined {
  let t: Tree | undefined = tree
  let node: TreeNode | undefined
  const comps = path.split("/").filter((c) => c !== "")
  for (let i = 0; i < comps.length; i++) {
    if (t === undefined) return undefined
    node = Object.prototype.hasOwnProperty.call(t, comps[i]!) ? t[comps[i]!] : undefined
    if (node === undefined) return undefined
    if (i < comps.length - 1) t = !isLink(node) && node.type === "dir" ? (node.children ?? {}) : undefined
  }
  if (node === undefined) return undefined
  return isLink(node) ? nodeAt(tree, node.link) : node
}

/** The canonical path of a layer's non-directory: the link it names, or where it is. */
function identityOf(tree: Tree, path: string, node: TreeNode, hops = 0): string {
  if (!isLink(node) || hops > 64) return path
  const target = node.link.startsWith("/") ? node.link : `/${node.link}`
  const next = nodeAtRaw(tree, target)
  return next === undefined ? target : identityOf(tree, target, next, hops + 1)
}

function nodeAtRaw(tree: Tree, path: string): TreeNode | undefined {
  let t: Tree | undefined = tree
  let node: TreeNode | undefined
  for (const c of path.split("/").filter((x) => x !== "")) {
    if (t === undefined) return undefined
    node = Object.prototype.hasOwnProperty.call(t, c) ? t[c] : undefined
    if (node === undefined) return undefined
    t = !isLink(node) && node.type === "dir" ? (node.children ?? {}) : undefined
  }
  return node
}

function define(out: Record<string, TreeNode>, name: string, node: TreeNode): void {
  Object.defineProperty(out, name, { value: node, enumerable: true, writable: true, configurable: true })
}

/** The result of walking the layers as ovl_lookup does. */
interface Merge {
  readonly tree: Tree
  /** Origin of every merged path ("" is the root). */
  readonly origins: ReadonlyMap<string, Origin>
  /**
   * For an object of one lower layer, its link count in that layer (the
   * names it has there, shown or hidden; a directory's 2 + subdirectories).
   */
  readonly layerNlink: ReadonlyMap<string, number>
}

/** How many names each non-directory of a layer has there, by canonical path. */
function namesPerFile(tree: Tree): Map<string, number> {
  const out = new Map<string, number>()
  const walk = (t: Tree, where: string): void => {
    for (const [name, n] of Object.entries(t)) {
      const path = `${where}/${name}`
      if (!isLink(n) && n.type === "dir") walk(n.children ?? {}, path)
      else if (isLink(n) || n.type !== "whiteout") {
        const id = identityOf(tree, path, n)
        out.set(id, (out.get(id) ?? 0) + 1)
      }
    }
  }
  walk(tree, "")
  return out
}

/**
 * ovl_lookup over the whole stack: the entries of a merged directory are
 * the names of every layer directory taking part in it, each the topmost
 * layer's entry; a whiteout hides the name; a directory merges with the
 * next layers' directories of the same name until one is opaque, or the
 * next entry of that name is a whiteout or a non-directory
 * (ovl_lookup_single: `d->stop`).
 */
function merge(layers: OverlayLayers): Merge {
  const stack = stackOf(layers)
  const upper = layers.upper !== null
  const origins = new Map<string, Origin>()
  const layerNlink = new Map<string, number>()
  const namesIn = stack.map(namesPerFile)
  // Non-directories by identity (layer and canonical path): the first merged path showing one carries it in full.
  const shown = new Map<string, string>()
  const dirOrigin = (parts: readonly LayerDir[]): Origin => (parts.length > 1 ? "merged" : upper && parts[0]!.layer === 0 ? "upper" : "lower")

  const walk = (parts: readonly LayerDir[], where: string): Tree => {
    const out: Record<string, TreeNode> = {}
    const names = new Set<string>()
    for (const p of parts) for (const n of Object.keys(p.children)) names.add(n)
    for (const name of [...names].sort()) {
      const path = `${where}/${name}`
      let top = -1
      for (let k = 0; k < parts.length; k++) if (Object.prototype.hasOwnProperty.call(parts[k]!.children, name)) { top = k; break }
      const part = parts[top]!
      const raw = part.children[name]!
      const layerTree = stack[part.layer]!
      const node = isLink(raw) ? nodeAt(layerTree, raw.link) : raw
      if (node === undefined) throw new Error(`overlay: layer ${part.layer}: ${path}: link to ${JSON.stringify((raw as { link: string }).link)}, which names no node`)
      if (node.type === "whiteout") continue
      if (node.type !== "dir") {
        const canonical = identityOf(layerTree, path, raw)
        const id = `${part.layer}:${canonical}`
        const first = shown.get(id)
        if (first !== undefined) define(out, name, { link: first })
        else {
          shown.set(id, path)
          define(out, name, node)
        }
        origins.set(path, upper && part.layer === 0 ? "upper" : "lower")
        layerNlink.set(path, namesIn[part.layer]!.get(canonical) ?? 1)
        continue
      }
      const sub: LayerDir[] = [{ layer: part.layer, children: node.children ?? {} }]
      if (node.opaque !== true) {
        for (let k = top + 1; k < parts.length; k++) {
          const below = parts[k]!
          if (!Object.prototype.hasOwnProperty.call(below.children, name)) continue
          const b = below.children[name]!
          const bn = isLink(b) ? undefined : b
          if (bn === undefined || bn.type !== "dir") break
          sub.push({ layer: below.layer, children: bn.children ?? {} })
          if (bn.opaque === true) break
        }
      }
      const { opaque: _opaque, children: _children, ...attrs } = node
      define(out, name, { ...attrs, children: walk(sub, path) })
      origins.set(path, dirOrigin(sub))
      layerNlink.set(path, 2 + Object.values(node.children ?? {}).filter((c) => !isLink(c) && c.type === "dir").length)
    }
    return out
  }
  const tree = walk(
    stack.map((children, layer) => ({ layer, children })),
    "",
  )
  origins.set("", "merged")
  return { tree, origins, layerNlink }
}

/** The tree an overlay of `layers` shows (whiteouts and opaque directories applied), as a contract tree. */
export function mergeLayers(layers: OverlayLayers): Tree {
  return merge(layers).tree
}

/**
 * The layers without the whiteouts overlayfs would list as character
 * devices: a whiteout in a directory that merges with no other layer's
 * (an upper-only or opaque directory, or one alone in its layer) is shown
 * by readdir (the directory is read as a plain one: readdir.c,
 * ovl_dir_is_real) while lookup hides it. overlayfs itself never makes
 * such a whiteout (ovl_remove_and_whiteout is used only where a lower
 * entry exists), so generated layers leave them out (DIALECTS.md).
 */
export function withoutStrayWhiteouts(layers: OverlayLayers): OverlayLayers {
  const stack = stackOf(layers)
  // Paths (per layer) of directories taking part in a merged directory of two or more layers.
  const mergedDirs = stack.map(() => new Set<string>())
  const walk = (parts: readonly LayerDir[], where: string): void => {
    if (parts.length > 1) for (const p of parts) mergedDirs[p.layer]!.add(where)
    const names = new Set<string>()
    for (const p of parts) for (const n of Object.keys(p.children)) names.add(n)
    for (const name of names) {
      const top = parts.findIndex((p) => Object.prototype.hasOwnProperty.call(p.children, name))
      const raw = parts[top]!.children[name]!
      if (isLink(raw) || raw.type !== "dir") continue
      const sub: LayerDir[] = [{ layer: parts[top]!.layer, children: raw.children ?? {} }]
      if (raw.opaque !== true) {
        for (let k = top + 1; k < parts.length; k++) {
          if (!Object.prototype.hasOwnProperty.call(parts[k]!.children, name)) continue
          const b = parts[k]!.children[name]!
          if (isLink(b) || b.type !== "dir") break
          sub.push({ layer: parts[k]!.layer, children: b.children ?? {} })
          if (b.opaque === true) break
        }
      }
      walk(sub, `${where}/${name}`)
    }
  }
  walk(
    stack.map((children, layer) => ({ layer, children })),
    "",
  )
  const clean = (t: Tree, layer: number, where: string): Tree => {
    const out: Record<string, TreeNode> = {}
    const keep = mergedDirs[layer]!.has(where)
    for (const [name, n] of Object.entries(t)) {
      if (!isLink(n) && n.type === "whiteout" && !keep) continue
      define(out, name, !isLink(n) && n.type === "dir" && n.children !== undefined ? { ...n, children: clean(n.children, layer, `${where}/${name}`) } : n)
    }
    return out
  }
  const cleaned = stack.map((t, i) => clean(t, i, ""))
  return layers.upper === null ? { upper: null, lower: cleaned } : { upper: cleaned[0]!, lower: cleaned.slice(1) }
}

/** The linux-overlayfs dialect for one stack of layers, with the origin of each initial inode. */
export interface OverlayDialect extends Dialect {
  /** Where the object that is inode `ino` of the initial state came from; undefined for inodes made later. */
  origin(ino: number): Origin | undefined
}

/** Inode numbers of the initial state of `tree`, by path ("" is the root). */
function inosByPath(tree: Tree, root: RootAttrs): Map<string, number> {
  const s = buildState(tree, root)
  const out = new Map<string, number>()
  const walk = (ino: number, where: string): void => {
    out.set(where, ino)
    const i = getInode(s, ino)!
    if (i.type !== "dir" || i.children === null) return
    i.children.names.forEach((name, k) => {
      const child = i.children!.inos[k]!
      const path = `${where}/${name}`
      if (getInode(s, child)!.type === "dir") walk(child, path)
      else out.set(path, child)
    })
  }
  walk(s.rootIno, "")
  return out
}

const STAT_OPS: ReadonlySet<Op["op"]> = new Set(["stat", "lstat", "fstat"])

function isStat(r: OpResult): r is Stat {
  return "nlink" in r && "ino" in r
}

/**
 * Linux overlayfs over `layers` (mounted with redirect_dir, index, xino and
 * metacopy off): the rules by which it departs from tmpfs on the merged
 * tree. DIALECTS.md, "linux-overlayfs", lists them with their sources.
 */
export function overlayfsDialect(layers: OverlayLayers): OverlayDialect {
  const m = merge(layers)
  const byIno = new Map<number, { origin: Origin; layerNlink: number }>()
  for (const [path, ino] of inosByPath(m.tree, {})) {
    const o = m.origins.get(path)
    if (o !== undefined && !byIno.has(ino)) byIno.set(ino, { origin: o, layerNlink: m.layerNlink.get(path) ?? 1 })
  }
  const origin = (ino: number): Origin | undefined => byIno.get(ino)?.origin
  /** ovl_type_merge_or_lower of a directory: it has a lower layer (made later: never). */
  const lowerDir = (s: ModelStateShape, ino: number): boolean => getInode(s, ino)?.type === "dir" && (origin(ino) === "merged" || origin(ino) === "lower")

  return {
    name: "linux-overlayfs",
    origin,
    rule(before: ModelStateShape, op: Op, cred: Cred, linux: OpResult): Ruling | null {
      if (op.op === "rename") return renameRule(before, op, cred, linux, lowerDir)
      if (STAT_OPS.has(op.op) && isStat(linux)) {
        const o = byIno.get(linux.ino)
        return o === undefined ? null : nlinkRule(linux, o.origin, o.layerNlink)
      }
      return null
    },
  }
}

/**
 * `overlayfs.rename.lower-dir-exdev`: ovl_rename (fs/overlayfs/dir.c) opens
 * with "Don't copy up directory trees": without redirect_dir,
 * `ovl_can_move` is false for a directory that is merged or lower
 * (ovl_type_merge_or_lower), and the rename fails with EXDEV (the caller is
 * expected to copy; overlayfs.rst, "Renaming directories"). The check is the
 * filesystem's, so it comes after every check of do_renameat2 and vfs_rename
 * (flags, lookups, lock_rename's traps, may_delete/may_create), and after
 * vfs_rename's early return for a source that is its own target; before the
 * target directory's emptiness (ovl_check_empty_and_clear). With
 * RENAME_EXCHANGE the target is checked too.
 */
function renameRule(before: ModelStateShape, op: Extract<Op, { op: "rename" }>, cred: Cred, linux: OpResult, lowerDir: (s: ModelStateShape, ino: number) => boolean): Ruling | null {
  if (isErr(linux) && linux.errno !== "ENOTEMPTY") return null
  const c = new Ctx(new Tx(before), cred, 0)
  const from = resolveParent(c, op.from)
  const to = resolveParent(c, op.to)
  if (isErrno(from) || isErrno(to) || from.type !== Last.Norm || to.type !== Last.Norm) return null
  const src = lookupChild(c, from.dir, from.name)
  if (isErrno(src)) return null
  const tgtLookup = lookupChild(c, to.dir, to.name)
  const tgt = isErrno(tgtLookup) ? undefined : tgtLookup
  if (src === tgt) return null
  if (isErr(linux)) {
    // ENOTEMPTY: lock_rename's trap (the target an ancestor of the source) is do_renameat2's, before the filesystem.
    for (let p = from.dir; ; p = c.inode(p).parent) {
      if (p === tgt) return null
      if (p === c.root) break
    }
  }
  const exchange = op.flags?.includes("RENAME_EXCHANGE") ?? false
  if (lowerDir(before, src) || (exchange && tgt !== undefined && lowerDir(before, tgt))) return { rule: "overlayfs.rename.lower-dir-exdev", results: ["EXDEV"] }
  return null
}

/**
 * The link count ovl_getattr (fs/overlayfs/inode.c) reports: the real
 * file's, upper if copied up, else lower (`overlayfs.stat.lower-nlink`),
 * except "Return a constant nlink for merged dirs": 1 for a directory of
 * two or more layers (`overlayfs.stat.merged-dir-nlink`), which a directory
 * of one lower layer becomes once copied up. A change anywhere below a
 * directory copies it up, as writing to a file or changing its attributes
 * does; the model does not track copy-up, so where the result depends on it
 * the rule allows both. Where the model has removed the object (an open
 * description's fstat), a lower file or directory not copied up still has
 * its names in its layer: the lower count (or 1, merged); a copied-up file,
 * 0. Upper-only objects show their real count, the model's.
 */
function nlinkRule(linux: Stat, origin: Origin, layerNlink: number): Ruling | null {
  if (origin === "upper") return null
  const nlink = (n: number) => ({ result: { ...linux, nlink: n } })
  if (linux.type === "dir") {
    if (origin === "merged") return { rule: "overlayfs.stat.merged-dir-nlink", results: [nlink(1)] }
    return { rule: "overlayfs.stat.merged-dir-nlink", results: linux.nlink === 0 ? [nlink(layerNlink), nlink(1)] : ["linux", nlink(1)] }
  }
  if (linux.nlink === 0) return { rule: "overlayfs.stat.lower-nlink", results: ["linux", nlink(layerNlink)] }
  return null
}
