// tmpfs's invariants: what holds between any two scheduling points (every
// change of the model state and the dentry tree that goes with it is made
// without yielding), and what holds at quiescence and after unmount.

import type { filesystem } from "./filesystem.js"
import type { dentry } from "./tmpfs.js"

export interface TmpfsCheck {
  /** Every thread has finished and every description is closed. */
  readonly quiescent: boolean
  /** The mount is gone (filesystem.Release has run). */
  readonly unmounted: boolean
}

/** The invariants' violations, in words (empty when all hold). */
export function checkTmpfs(fs: filesystem, o: TmpfsCheck): string[] {
  const out: string[] = []
  const fds = fs.state.fds
  const live = new Set<string>()
  for (const fd of fs.openFDs) live.add(fd.modelFD)

  // References and links, inode by inode.
  for (const [ino, i] of fs.inodes) {
    const where = `${i.pathForLog()} (inode ${ino})`
    if (i.refs <= 0) out.push(`${where}: ${i.refs} references, yet the inode is live`)
    const st = fs.peek((m) => m.stat(ino))
    if (st === undefined) {
      out.push(`${where}: live with ${i.refs} references, but gone from the model`)
      continue
    }
    if (i.linked !== st.nlink > 0) out.push(`${where}: link reference ${i.linked ? "held" : "dropped"}, but the model's nlink is ${st.nlink}`)
    if (i.held !== i.extraRefs() > 0) out.push(`${where}: ${i.extraRefs()} references beyond its name, but the model inode is ${i.held ? "" : "not "}pinned`)
    if (i.held && fds[i.holdName]?.ino !== ino) out.push(`${where}: pinned, but the model has no description ${JSON.stringify(i.holdName)} of it`)
    if (i.kind !== st.kind) out.push(`${where}: a ${i.kind} here, a ${st.kind} in the model`)
  }

  // The model's descriptions: each is an open description's or a pin.
  for (const name of Object.keys(fds)) {
    const f = fds[name]!
    const i = fs.inodes.get(f.ino)
    if (live.has(name)) continue
    if (i !== undefined && i.held && i.holdName === name) continue
    out.push(`the model's description ${JSON.stringify(name)} of inode ${f.ino} belongs to no open description and no pinned inode`)
  }
  for (const fd of fs.openFDs) {
    const f = fds[fd.modelFD]
    if (f === undefined || f.ino !== fd.inode.ino) out.push(`${fd.d.pathForLog()}: an open description whose model description ${JSON.stringify(fd.modelFD)} is ${f === undefined ? "gone" : `of inode ${f.ino}`}`)
  }

  // The dentry tree is the model's directory tree.
  if (!fs.released) {
    const walk = (d: dentry): void => {
      const entries = fs.peek((m) => m.entries(d.inode.ino))
      if (entries === undefined) {
        out.push(`${d.pathForLog()}: a directory dentry, but inode ${d.inode.ino} is no directory in the model`)
        return
      }
      const names = new Set(entries.map((e) => e.name))
      for (const [name, child] of d.children!) {
        if (!names.has(name)) out.push(`${child.pathForLog()}: a dentry with no such entry in the model`)
        if (child.parent !== d || child.name !== name) out.push(`${d.pathForLog()}: child ${JSON.stringify(name)} says its parent is ${child.parent?.pathForLog() ?? "none"} and its name ${JSON.stringify(child.name)}`)
        if (child.vfsd.IsDead()) out.push(`${child.pathForLog()}: dead, yet in the tree`)
        if (fs.inodes.get(child.inode.ino) !== child.inode) out.push(`${child.pathForLog()}: its inode ${child.inode.ino} is not the filesystem's live inode of that number`)
      }
      for (const e of entries) {
        const child = d.children!.get(e.name)
        if (child === undefined) out.push(`${d.pathForLog()}: the model has an entry ${JSON.stringify(e.name)} (inode ${e.ino}) with no dentry`)
        else if (child.inode.ino !== e.ino) out.push(`${child.pathForLog()}: the dentry's inode is ${child.inode.ino}, the model's entry ${e.ino}`)
        else if (child.isDir()) walk(child)
      }
    }
    walk(fs.root)
  }

  if (o.quiescent) {
    if (fs.openFDs.size > 0) out.push(`at quiescence, open descriptions left: ${[...fs.openFDs].map((f) => f.d.pathForLog()).join(", ")}`)
    if (fs.pendingFifoOpens() > 0) out.push(`at quiescence, ${fs.pendingFifoOpens()} FIFO opens still wait for their other end`)
    for (const [ino, i] of fs.inodes) {
      // The mount holds one reference on its root until unmounted.
      const expected = !o.unmounted && i === fs.root.inode ? 1 : 0
      if (i.extraRefs() !== expected) out.push(`at quiescence, ${i.pathForLog()} (inode ${ino}) has ${i.extraRefs()} references beyond its name (expected ${expected}): leaked`)
    }
  }
  if (o.unmounted) {
    for (const [ino, i] of fs.inodes) out.push(`after unmount, ${i.pathForLog()} (inode ${ino}) is still live with ${i.refs} references`)
    const left = Object.keys(fds)
    if (left.length > 0) out.push(`after unmount, the model still has ${left.length} open descriptions`)
  }
  return out
}
