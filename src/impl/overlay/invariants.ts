// The overlay's invariants, checked after every operation returns (only
// what must hold whenever the protecting lock is free) and at quiescence
// (all FDs closed, nothing in flight), each violation naming the dentry by
// its path:
//
//   references: never below zero; a destroyed dentry is neither reachable
//     from the root nor the dentry of an open description, nor the parent
//     of a live one; at quiescence only the root is left, with the
//     mount's one reference, and every layer mount's reference count is
//     what the live dentries' layer files and the filesystem's own
//     references on the layers' roots account for;
//   copy-up: copiedUp is set iff upperVD is (whenever copyMu is free), and
//     never reverts;
//   whiteouts: no dentry is a whiteout (a character device: fsim has no
//     other kind), no merged dirents cache lists one, and the result of an
//     op that overlapped no other op shows no name the layers whiteout (as
//     the layers are then: isolatedResultViolations).
//
// The mount (mount.ts) adds: at quiescence the lower layers' trees are
// compared with what they were when mounted; after the unmount every
// layer mount holds only its own reference and no dentry is left; after
// the layers' unmounts no layer holds anything (gofer: no fid).

import type { Op, OpResult, Tree } from "../../model/types.js"
import { isLink, nodeAt as layerNodeAt, type FullNode } from "../../model/overlayfs.js"
import { cleanPath } from "../../model/index.js"
import { DT_CHR, S_IFCHR, S_IFMT } from "../vfs/linux.js"
import type { Syscalls } from "../vfs/syscalls.js"
import type { dentry } from "./dentry.js"
import type { filesystem } from "./filesystem.js"
import type { LayerInstance } from "./mount.js"
import { regularFileFD } from "./regular_file.js"

/** Per-dentry history for the monotonic checks. */
export class InvariantState {
  readonly copiedUp = new WeakMap<dentry, boolean>()
}

/** Whether a Mutex or RWMutex is held by no one. */
export function isFree(lock: { readonly holder?: unknown; readonly writer?: unknown; readonly readers?: readonly unknown[] }): boolean {
  if ("holder" in lock) return lock.holder === null
  return lock.writer === null && (lock.readers?.length ?? 0) === 0
}

/** Every dentry reachable from the root through children. */
function reachable(fs: filesystem): dentry[] {
  const out: dentry[] = []
  if (fs.root === null) return out
  const seen = new Set<dentry>()
  const stack: dentry[] = [fs.root]
  while (stack.length > 0) {
    const d = stack.pop()!
    if (seen.has(d)) continue
    seen.add(d)
    out.push(d)
    if (d.children === null) continue
    for (const c of [...d.children.values()].reverse()) stack.push(c)
  }
  return out
}

/** The overlay dentries of the open descriptions (layer descriptions handed out for FIFOs and sockets are the layers'). */
function openDentries(fs: filesystem, sys: Syscalls): { name: string; d: dentry; released: boolean }[] {
  const out: { name: string; d: dentry; released: boolean }[] = []
  for (const [name, fd] of sys.fds) {
    if (fd.Mount().Filesystem() !== fs.vfsfs) continue
    const released = fd.impl instanceof regularFileFD && fd.impl.cachedFD === null
    out.push({ name, d: fd.Dentry().Impl<dentry>(), released })
  }
  return out
}

export function checkOverlay(fs: filesystem, st: InvariantState, quiescent: boolean, sys: Syscalls, layers: readonly LayerInstance[]): string[] {
  const v: string[] = []
  const event = fs.sched.log.nextSeq - 1
  const add = (d: dentry | null, msg: string): void => {
    v.push(d === null ? `${msg} (event ${event})` : `${d.pathForLog()}: ${msg} (event ${event})`)
  }

  // destroyLocked marks a dentry destroyed, drops its layer files, then
  // takes it out of its parent's children, all with renameMu locked for
  // writing: reachability is stable only while renameMu is free.
  const stable = isFree(fs.renameMu)
  for (const d of reachable(fs)) {
    if (d.refs === -1 && stable) add(d, "destroyed but reachable from the root")
    else if (d.refs < -1) add(d, `reference count ${d.refs}`)
  }
  for (const { name, d, released } of openDentries(fs, sys)) {
    if (d.refs === -1) add(d, `destroyed but the dentry of open description ${JSON.stringify(name)}`)
    if (released) add(d, `open description ${JSON.stringify(name)} has released its layer description`)
  }
  for (const d of fs.live) {
    if (d.refs < 0) add(d, `live with reference count ${d.refs}`)
    if (stable && d.parent !== null && d.parent.refs === -1) add(d, `its parent ${d.parent.pathForLog()} is destroyed`)
    if ((d.mode & S_IFMT) === S_IFCHR) add(d, "a whiteout (a 0:0 character device) is visible as a dentry of the overlay")
    if (isFree(d.copyMu)) {
      if (d.copiedUp !== (d.upperVD !== null)) add(d, `copiedUp is ${d.copiedUp} but upperVD is ${d.upperVD === null ? "unset" : "set"}`)
      const prev = st.copiedUp.get(d)
      if (prev === true && !d.copiedUp) add(d, "copiedUp reverted from true to false")
      st.copiedUp.set(d, d.copiedUp)
    }
    if (isFree(d.dirMu) && d.dirents !== null) {
      for (const e of d.dirents) if (e.Type === DT_CHR) add(d, `the merged dirents cache lists the whiteout ${JSON.stringify(e.Name)}`)
    }
  }

  if (quiescent) {
    const live = [...fs.live]
    if (live.length !== 1 || live[0] !== fs.root) add(null, `at quiescence the live dentries are ${live.map((d) => `${d.pathForLog()} (${d.refs} refs)`).join(", ")}, not the root alone`)
    if (fs.root !== null && fs.root.refs !== 1) add(fs.root, `holds ${fs.root.refs} references at quiescence, but only the mount's one is left`)
    for (const l of layers) {
      let held = 0
      for (const d of fs.live) {
        if (d.upperVD !== null && d.upperVD.mount === l.vd.mount) held++
        for (const vd of d.lowerVDs) if (vd.mount === l.vd.mount) held++
      }
      // The mount's own, the filesystem's on the layer's root (FilesystemOptions), and one per dentry layer file.
      const expected = 2 + held
      if (l.vd.mount.refs !== expected) {
        add(null, `${l.label}: its mount holds ${l.vd.mount.refs} references at quiescence, but its own, the filesystem's and ${held} of live dentries account for ${expected}`)
      }
    }
  }
  return v
}

// ---------------------------------------------------------------------------
// Whiteouts never visible: the result of an op that overlapped no other,
// against the layers as they are when it returns.

/** A layer's node at `path` ("" is the root), following link nodes. */
function nodeAt(tree: Tree, path: string): FullNode | "root" | undefined {
  return path === "" ? "root" : layerNodeAt(tree, path)
}

function isOpaque(n: FullNode): boolean {
  if (n.type !== "dir") return false
  return n.opaque === true || n.xattrs?.["trusted.overlay.opaque"] === "y"
}

/**
 * The children of the merged directory at `dir` (components), layer by
 * layer as lookupLocked merges them, or null if `dir` is no merged
 * directory: for each name, the topmost layer's node.
 */
function mergedChildren(trees: readonly Tree[], dir: readonly string[]): Map<string, FullNode> | null {
  // The layers taking part in the current directory, top first.
  let parts: Tree[] = [...trees]
  for (const name of dir) {
    const next: Tree[] = []
    for (let k = 0; k < parts.length; k++) {
      const raw = Object.prototype.hasOwnProperty.call(parts[k]!, name) ? parts[k]![name]! : undefined
      if (raw === undefined) continue
      const node = isLink(raw) ? undefined : raw
      if (node === undefined || node.type !== "dir") {
        if (next.length === 0) return null
        break
      }
      next.push(node.children ?? {})
      if (isOpaque(node)) break
    }
    if (next.length === 0) return null
    parts = next
  }
  const out = new Map<string, FullNode>()
  for (const p of parts) {
    for (const [name, raw] of Object.entries(p)) {
      if (out.has(name)) continue
      const node = isLink(raw) ? ({ type: "file" } as FullNode) : raw
      out.set(name, node)
    }
  }
  return out
}

/** The names whited out in the merged directory at `path`. */
function whitedOut(trees: readonly Tree[], path: string): Set<string> {
  const comps = path.split("/").filter((c) => c !== "")
  const kids = mergedChildren(trees, comps)
  const out = new Set<string>()
  if (kids === null) return out
  for (const [name, n] of kids) if (n.type === "whiteout") out.add(name)
  return out
}

export function isolatedResultViolations(fs: filesystem, sys: Syscalls, op: Op, r: OpResult, layers: readonly LayerInstance[]): string[] {
  if ("errno" in r) return []
  const out: string[] = []
  const event = fs.sched.log.nextSeq - 1
  const trees = (): Tree[] => layers.map((l) => l.tree().tree)
  if (op.op === "getdents" && "entries" in r) {
    const fd = sys.fds.get(op.fd)
    if (fd === undefined || fd.Mount().Filesystem() !== fs.vfsfs) return out
    const d = fd.Dentry().Impl<dentry>()
    if (d.refs === -1 || d.vfsd.IsDead()) return out
    const path = d.pathForLog()
    const hidden = whitedOut(trees(), path)
    for (const e of r.entries) if (hidden.has(e.name)) out.push(`${path}: getdents lists ${JSON.stringify(e.name)}, which a layer whites out (event ${event})`)
  }
  if (op.op === "lstat" || op.op === "stat") {
    const p = cleanPath(op.path)
    const comps = p.split("/").filter((c) => c !== "" && c !== ".")
    if (comps.length === 0 || comps.includes("..")) return out
    const ts = trees()
    // Only paths the layers resolve without symlinks on the way.
    for (let i = 0; i < comps.length - 1; i++) {
      const kids = mergedChildren(ts, comps.slice(0, i))
      const n = kids?.get(comps[i]!)
      if (n === undefined || n.type !== "dir") return out
    }
    if (whitedOut(ts, comps.slice(0, -1).join("/")).has(comps[comps.length - 1]!)) {
      out.push(`/${comps.join("/")}: ${op.op} succeeds, but a layer whites the name out (event ${event})`)
    }
  }
  return out
}

export { nodeAt }
