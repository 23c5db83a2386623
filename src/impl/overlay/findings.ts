// Behaviours of gVisor's overlay that the port reproduces faithfully and
// the checks find (FINDINGS.md beside this file). The ones here are
// recognized in a run's violations, so that tests and campaigns can tell
// them from anything new; the others are dialect rules
// (src/model/gvisor-overlay.ts) or kept out of generated scenarios.

import { checkHistory, type History } from "../../model/lincheck/index.js"
import type { Cred, Op, OpResult, Tree, TreeNode } from "../../model/types.js"
import { sortRunFindings } from "../../sim/campaign.js"
import type { Violation } from "../../sim/events.js"
import { historyOf, type RunReport } from "../../sim/run.js"
import { overlayInitial } from "../../sim/scenario.js"

export interface Finding {
  readonly id: string
  readonly title: string
  /** Whether this violation is an instance of the finding. */
  readonly matches: (v: Violation) => boolean
}

/**
 * The overlay's dentries have a Dentry.mu class of their own (vfs/dentry.ts),
 * so what is left is the one edge gVisor's code makes against vfs.go's
 * order: VirtualFilesystem.mountMu asked for (by a layer's own Prepare*)
 * while an overlay dentry's Dentry.mu is held. Reported directly, or as a
 * cycle that goes from mountMu to an overlay dentry's mu, which only that
 * edge leads back from.
 */
const MOUNTMU_UNDER_OVERLAY_DENTRY =
  /asks for vfs\.VirtualFilesystem\.mountMu#\d+ at event \d+ while holding vfs\.Dentry\.mu\[overlay\]|lock order inversion .*vfs\.VirtualFilesystem\.mountMu then vfs\.Dentry\.mu\[overlay\]: /
/** RenameAt takes the replaced dentry's copyMu before PrepareRenameDentry; UnlinkAt takes copyMu after PrepareDeleteDentry. */
const COPYMU_BOTH_SIDES_OF_DENTRY_MU = /^lock order inversion \(these orders can deadlock\): (?:vfs\.Dentry\.mu\[overlay\] then overlay\.dentry\.copyMu: [^;]*; overlay\.dentry\.copyMu then vfs\.Dentry\.mu\[overlay\]: [^;]*|overlay\.dentry\.copyMu then vfs\.Dentry\.mu\[overlay\]: [^;]*; vfs\.Dentry\.mu\[overlay\] then overlay\.dentry\.copyMu: [^;]*)$/

export const OVERLAY_FINDINGS: readonly Finding[] = [
  {
    id: "layer-ops-under-dentry-mu",
    title:
      "UnlinkAt, RmdirAt and RenameAt call the upper layer (whose own unlink and rename take VirtualFilesystem.mountMu, then the layer's Dentry.mu) between vfs.Prepare*Dentry and Commit*Dentry, i.e. holding the overlay dentry's Dentry.mu, against vfs.go's order (mountMu before Dentry.mu); and RenameAt takes the replaced dentry's copyMu before PrepareRenameDentry where UnlinkAt takes copyMu after PrepareDeleteDentry",
    matches: (v) => v.check === "lock_order" && (MOUNTMU_UNDER_OVERLAY_DENTRY.test(v.message) || COPYMU_BOTH_SIDES_OF_DENTRY_MU.test(v.message)),
  },
  {
    id: "unlink-whites-out-lower-directory",
    title:
      "unlink(2) of a directory that has no upper part and no dentry succeeds and whites it out, contents and all: UnlinkAt asks lookupLayerLocked only whether the name exists, and the EISDIR check is made on a dentry only when one is cached",
    matches: (v) => v.check === "lincheck" && /\bunlink of \S+ by thread \S+ \([^)]*\) saw success; .*would have returned EISDIR instead/.test(v.message),
  },
  {
    id: "copy-up-dir-setgid",
    title:
      "copy-up of a directory makes it with vfs.MkdirAt, which keeps only 0777|S_ISVTX of the mode, and sets no mode afterwards: the upper copy loses a setgid bit, or gains its upper parent's (a setgid directory's new subdirectory inherits it); a dentry that stays cached shows the old mode meanwhile",
    matches: (v) => {
      if (v.check !== "lincheck") return false
      const m = /saw mode 0([0-7]+)[;,].*?would have returned mode 0([0-7]+)[ ,]/.exec(v.message)
      return m !== null && (parseInt(m[1]!, 8) ^ parseInt(m[2]!, 8)) === 0o2000
    },
  },
]

/** The finding every violation of a failing run is an instance of, or null. */
export function knownOverlayFinding(violations: readonly Violation[]): Finding | null {
  if (violations.length === 0) return null
  for (const f of OVERLAY_FINDINGS) if (violations.every((v) => f.matches(v))) return f
  return null
}

/** The violations that are no instance of a recognized finding. */
export function unknownViolations(violations: readonly Violation[]): Violation[] {
  return violations.filter((v) => !OVERLAY_FINDINGS.some((f) => f.matches(v)))
}

// ---------------------------------------------------------------------------
// Findings recognized with the run a violation comes from: by re-judging
// the run's history changed in one way that the finding explains (a
// history that is then linearizable fails only by what the change
// accounts for), or by what the port logs where gVisor's code takes the
// branch in question (cache events overlay.*).

type OpRec = RunReport["ops"][number]
type HistoryOp = History["ops"][number]

function overlayOf(r: RunReport): Extract<RunReport["subject"], { readonly format: "fsim.scenario/1" }> | null {
  const s = r.subject
  return s.format === "fsim.scenario/1" && s.mount.kind === "overlay" ? s : null
}

/** The merged tree of the run's layers. */
function mergedOf(r: RunReport): Tree | null {
  const s = overlayOf(r)
  if (s === null) return null
  try {
    return overlayInitial(s).tree
  } catch {
    return null
  }
}

/** The run's history as its lincheck judged it (the merged tree, the gvisor-overlay dialect), its initial tree and root edited. */
function overlayHistory(r: RunReport, edit?: { readonly tree?: (t: Tree) => Tree; readonly root?: (mode: number) => number }): History | null {
  const s = overlayOf(r)
  const merged = mergedOf(r)
  if (s === null || merged === null) return null
  const root = s.root ?? {}
  const editRoot = edit?.root
  return historyOf(s, r.ops, "gvisor-overlay", { tree: edit?.tree?.(merged) ?? merged, root: editRoot !== undefined && root.mode !== undefined ? { ...root, mode: editRoot(root.mode) } : root })
}

function linearizable(r: RunReport, h: History): boolean {
  const s = overlayOf(r)
  const readOnly = s !== null && s.mount.kind === "overlay" && s.mount.upper === undefined
  return checkHistory(h, { explain: false, readOnly }).linearizable === true
}

/** The history with some ops replaced, each by ops of its own thread or of new threads (`pseudo`, with the op's credentials), all with its interval. */
function rewritten(h: History, replace: (o: HistoryOp, i: number) => readonly { readonly thread?: string; readonly op: Op; readonly result: OpResult | null }[] | null): History {
  const creds: Record<string, Cred> = { ...(h.creds ?? {}) }
  const ops: HistoryOp[] = []
  h.ops.forEach((o, i) => {
    const by = replace(o, i)
    if (by === null) {
      ops.push(o)
      return
    }
    for (const x of by) {
      const thread = x.thread ?? o.thread
      if (thread !== o.thread && h.creds?.[o.thread] !== undefined) creds[thread] = h.creds[o.thread]!
      ops.push({ ...o, thread, op: x.op, result: x.result })
    }
  })
  return { ...h, creds, ops }
}

function succeeded(o: { readonly result: OpResult | null }): boolean {
  return o.result !== null && !("errno" in o.result)
}

function inCore(v: Violation): (o: OpRec) => boolean {
  const core = new Set(v.events)
  return (o) => core.has(o.invoke)
}

/** The node of a tree at a path walked without symlinks, "." and "..", or undefined. */
function nodeAtPath(t: Tree, path: string): TreeNode | undefined {
  const comps = path.split("/").filter((c) => c !== "" && c !== ".")
  if (comps.length === 0 || comps.includes("..")) return undefined
  let tree: Tree | undefined = t
  let node: TreeNode | undefined
  for (const c of comps) {
    if (tree === undefined) return undefined
    node = Object.prototype.hasOwnProperty.call(tree, c) ? tree[c] : undefined
    if (node === undefined || "link" in node) return undefined
    tree = node.type === "dir" ? (node.children ?? {}) : undefined
  }
  return node
}

/** A directory's contents as removals, deepest first ("a/b" before "a"), each an unlink or an rmdir. */
function removalsUnder(path: string, t: Tree): Op[] {
  const out: Op[] = []
  for (const [name, n] of Object.entries(t)) {
    const p = `${path.replace(/\/+$/, "")}/${name}`
    if (!("link" in n) && n.type === "dir") {
      out.push(...removalsUnder(p, n.children ?? {}))
      out.push({ op: "rmdir", path: p })
    } else if ("link" in n || n.type !== "whiteout") out.push({ op: "unlink", path: p })
  }
  return out
}

/**
 * Whether a run's lincheck violation is the unlink-whites-out-lower-directory
 * finding, whichever op the checker names (an op that met the whited-out
 * directory, an open then ENOENT, rather than the unlink): the run holds a
 * successful unlink of a directory of the merged initial tree, and the
 * history is linearizable with each such unlink replaced by the removal of
 * the directory and what the merged tree had in it (its children first,
 * each an op of its own within the unlink's interval, the rmdir last, in
 * the unlink's thread). Or, where the directory's contents changed before
 * the unlink (so that removal does not reproduce it), the violation's core
 * holds such an unlink.
 */
export function unlinkedLowerDirectory(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const merged = mergedOf(r)
  if (merged === null) return false
  const dirOf = (o: OpRec | HistoryOp): TreeNode | undefined => {
    if (o.op.op !== "unlink" || !succeeded(o)) return undefined
    const n = nodeAtPath(merged, o.op.path)
    return n !== undefined && !("link" in n) && n.type === "dir" ? n : undefined
  }
  const unlinks = r.ops.filter((o) => dirOf(o) !== undefined)
  if (unlinks.length === 0) return false
  if (unlinks.some(inCore(v))) return true
  const h = overlayHistory(r)
  if (h === null) return false
  return linearizable(
    r,
    rewritten(h, (o, i) => {
      const n = dirOf(o)
      if (n === undefined || "link" in n || n.type !== "dir" || o.op.op !== "unlink") return null
      const path = o.op.path
      return [...removalsUnder(path, n.children ?? {}).map((op, k) => ({ thread: `${o.thread}\u0000whiteout:${i}:${k}`, op, result: {} })), { op: { op: "rmdir", path }, result: {} }]
    }),
  )
}

/** The events the port logs for a finding (cache events of the overlay), with the thread that logged them. */
function logged(r: RunReport, cache: string, what: string): { readonly seq: number; readonly thread: string }[] {
  return r.events.filter((e) => e.kind === "cache" && e.cache === cache && e.what === what) as { readonly seq: number; readonly thread: string }[]
}

function during(e: { readonly seq: number; readonly thread: string }, o: OpRec): boolean {
  return e.thread === o.thread && e.seq > o.invoke && (o.return === null || e.seq < o.return)
}

/**
 * Whether a run's lincheck violation is the copy-up-races-deletion finding:
 * its core holds an op that failed with ENOENT while its thread's copy-up
 * found the dentry deleted ("Raced with deletion of d": copyUpLocked logs
 * it as the cache event overlay.copyUp raced-deletion).
 */
export function copyUpRacedDeletion(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const raced = logged(r, "overlay.copyUp", "raced-deletion")
  if (raced.length === 0) return false
  return r.ops.some((o) => inCore(v)(o) && o.result !== null && "errno" in o.result && o.result.errno === "ENOENT" && raced.some((e) => during(e, o)))
}

/**
 * Whether a run's lincheck violation is the lookup-in-removed-directory
 * finding: an op that succeeded looked a name up in a directory's dentry
 * after the directory was removed (lookupLocked logs it as the cache event
 * overlay.lookup removed-parent), and the violation's core holds that op,
 * or an op of its thread on the description it opened.
 */
export function lookupInRemovedDirectory(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const looked = logged(r, "overlay.lookup", "removed-parent")
  if (looked.length === 0) return false
  const core = inCore(v)
  return r.ops.some((o) => {
    if (!succeeded(o) || !looked.some((e) => during(e, o))) return false
    if (core(o)) return true
    if (o.op.op !== "open" || o.return === null) return false
    const fd = o.op.fd
    return r.ops.some((x) => x.thread === o.thread && x.invoke > o.return! && "fd" in x.op && x.op.fd === fd && core(x))
  })
}

const SETGID = 0o2000
const SETUID = 0o4000

function withoutBitsTree(t: Tree, bits: number): Tree {
  const out: Record<string, TreeNode> = {}
  for (const [name, n] of Object.entries(t)) {
    if ("link" in n) out[name] = n
    else {
      let node = n.type !== "whiteout" && n.mode !== undefined ? ({ ...n, mode: n.mode & ~bits } as TreeNode) : n
      if (!("link" in node) && node.type === "dir" && node.children !== undefined) node = { ...node, children: withoutBitsTree(node.children, bits) }
      out[name] = node
    }
  }
  return out
}

function withoutBitsOp(op: Op, bits: number): Op {
  return "mode" in op && typeof op.mode === "number" ? ({ ...op, mode: op.mode & ~bits } as Op) : op
}

function withoutBitsResult(r: OpResult | null, bits: number): OpResult | null {
  return r !== null && "mode" in r && typeof r.mode === "number" ? ({ ...r, mode: r.mode & ~bits } as OpResult) : r
}

/** Whether the run's history, with `bits` taken out of every mode (the layers, the root, the ops' modes and the results), is linearizable. */
function linearizableWithout(r: RunReport, bits: number): boolean {
  const h = overlayHistory(r, { tree: (t) => withoutBitsTree(t, bits), root: (mode) => mode & ~bits })
  if (h === null) return false
  return linearizable(r, { ...h, ops: h.ops.map((o) => ({ ...o, op: withoutBitsOp(o.op, bits), result: withoutBitsResult(o.result, bits) })) })
}

/**
 * Whether a run's lincheck violation is the copy-up-dir-setgid finding seen
 * where the checker could not say what the model would have returned (its
 * explanation's budget ran out) or saw it through a consequence (a new
 * directory inheriting the setgid bit its parent gained at copy-up): the
 * core holds a stat of a directory, and the same history with every setgid
 * bit taken out (of the layers, the root, the ops' modes and the results)
 * is linearizable. Such a history differs from a correct one in setgid bits
 * only; a new file's group inherited from a directory whose setgid bit
 * changed is not taken out, and is not recognized.
 */
export function setgidOnly(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const isDirStat = (o: OpRec): boolean => o.result !== null && "type" in o.result && o.result.type === "dir" && "mode" in o.result
  if (!r.ops.some((o) => inCore(v)(o) && isDirStat(o))) return false
  return linearizableWithout(r, SETGID)
}

/**
 * Whether a run's lincheck violation is the chown-keeps-cached-setid
 * finding: the run holds a successful chown that changes an owner or a
 * group (which the upper layer answers by clearing setuid, and setgid when
 * group-executable, while updateAfterSetStatLocked leaves the dentry's
 * cached mode as it was), the core holds a result with a mode, and the
 * history with every setuid and setgid bit taken out is linearizable. Such
 * a history differs from a correct one in those bits only.
 */
export function chownKeepsCachedSetid(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const chowns = (o: OpRec): boolean => o.op.op === "chown" && (o.op.uid !== undefined || o.op.gid !== undefined) && succeeded(o)
  if (!r.ops.some(chowns)) return false
  if (!r.ops.some((o) => inCore(v)(o) && o.result !== null && "mode" in o.result)) return false
  return linearizableWithout(r, SETUID | SETGID)
}

/**
 * Whether a run's lincheck violation is the security-xattr-unchecked
 * finding: the core holds a setxattr or removexattr of a security.* name by
 * a caller other than root that succeeded, and the history is linearizable
 * with those ops done as root (the overlay checks the caller's write
 * permission, which the op's success shows it had, and no capability for
 * the security namespace, then acts on the layer as its creator).
 */
export function securityXattrUnchecked(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const s = overlayOf(r)
  if (s === null) return false
  const creds = new Map([...s.threads, ...(s.external ?? [])].map((t) => [t.name, t.cred]))
  const isRoot = (thread: string): boolean => (creds.get(thread)?.uid ?? 0) === 0
  const byUser = (o: OpRec | HistoryOp): boolean =>
    (o.op.op === "setxattr" || o.op.op === "removexattr") && o.op.name.startsWith("security.") && succeeded(o) && !isRoot(o.thread)
  if (!r.ops.some((o) => inCore(v)(o) && byUser(o))) return false
  const h = overlayHistory(r)
  if (h === null) return false
  const asRoot = rewritten(h, (o, i) => (byUser(o) ? [{ thread: `${o.thread}\u0000as-root:${i}`, op: o.op, result: o.result }] : null))
  // The new threads run as root: no credentials listed.
  const rootCreds = { ...(asRoot.creds ?? {}) }
  for (const name of Object.keys(rootCreds)) if (name.includes("\u0000as-root:")) delete rootCreds[name]
  return linearizable(r, { ...asRoot, creds: rootCreds })
}

/** Findings recognized from a violation and the run it comes from. */
export const OVERLAY_RUN_FINDINGS: readonly { readonly id: string; readonly title: string; readonly matches: (r: RunReport, v: Violation) => boolean }[] = [
  {
    id: "unlink-whites-out-lower-directory",
    title: "as OVERLAY_FINDINGS', seen from another op than the unlink: the history is linearizable with the unlink replaced by the removal of the directory and its contents",
    matches: unlinkedLowerDirectory,
  },
  {
    id: "copy-up-dir-setgid",
    title: "as OVERLAY_FINDINGS', where the checker cannot name the mode the model would have given, or the bit reached a new subdirectory: the history differs from a linearizable one in setgid bits only",
    matches: setgidOnly,
  },
  {
    id: "chown-keeps-cached-setid",
    title:
      "setStatLocked chowns the upper file, which clears setuid (and setgid when group-executable) there, as Linux's and gVisor's tmpfs do, and updateAfterSetStatLocked then updates only the dentry's cached owner and group, never its mode: stat and fstat (statInternalTo) show the bits the file no longer has until the dentry is dropped",
    matches: chownKeepsCachedSetid,
  },
  {
    id: "copy-up-races-deletion",
    title:
      "copyUpLocked of a dentry deleted since the op resolved it fails with ENOENT (\"Raced with deletion of d\"): an op that copies up a lower file a concurrent unlink removes returns ENOENT, which an open with O_CREAT never does in Linux (the parent's inode lock held across lookup and create: it creates a new file or opens the old one)",
    matches: copyUpRacedDeletion,
  },
  {
    id: "lookup-in-removed-directory",
    title:
      "stepLocked/getChildLocked/lookupLocked look names up in a directory's dentry with no check that the directory was removed: a walk that holds the dentry of a directory an rmdir removes meanwhile (it waited for the directory's dirMu) finds the names of the removed directory's lower layers, which still have them, and returns a fresh dentry of a file the overlay no longer shows, with none of that file's copy-up (a description of it reads the lower layer's data); Linux's lookup in a dead directory is ENOENT",
    matches: lookupInRemovedDirectory,
  },
  {
    id: "security-xattr-unchecked",
    title:
      "SetXattrAt and RemoveXattrAt check the caller's write permission and vfs.CheckXattrPermissions, which has no rule for the security namespace (Linux: cap_inode_setxattr wants CAP_SYS_ADMIN), then act on the upper layer with the overlay's creator's credentials: a user who may write a file sets or removes its security.* xattrs, where Linux says EPERM",
    matches: securityXattrUnchecked,
  },
]

/** A run's failure, sorted: the findings it shows (by id), and what no finding accounts for. */
export interface OverlayRunFindings {
  readonly known: readonly string[]
  /** Violations no finding recognizes, and a verdict other than pass or fail (budget_exhausted, unknown) as a pseudo-violation. */
  readonly unknown: readonly string[]
}

/**
 * Sorts a run's violations into instances of documented findings
 * (OVERLAY_FINDINGS by the violation alone, OVERLAY_RUN_FINDINGS with its
 * run) and the rest.
 */
export function overlayRunFindings(r: RunReport): OverlayRunFindings {
  return sortRunFindings(r, (v) => (OVERLAY_FINDINGS.find((x) => x.matches(v)) ?? OVERLAY_RUN_FINDINGS.find((x) => x.matches(r, v)))?.id ?? null)
}

/**
 * The finding a lock-class cycle across a campaign's runs is an instance
 * of, or null. Every cycle that enters an overlay dentry's Dentry.mu from
 * mountMu (Prepare*Dentry, as a mount would) and leaves it for a layer's
 * locks or mountMu is layer-ops-under-dentry-mu: the overlay holds that
 * Dentry.mu across calls into its layers, whose own Prepare*Dentry asks for
 * mountMu; and the two-class cycle of copyMu and Dentry.mu is the
 * finding's copyMu half (RenameAt and UnlinkAt take them in opposite
 * orders, which renameMu keeps apart).
 */
export function overlayLockCycleFinding(classes: readonly string[]): string | null {
  const MOUNT = "vfs.VirtualFilesystem.mountMu"
  const OVERLAY_DENTRY = "vfs.Dentry.mu[overlay]"
  const edges = classes.map((a, i) => [a, classes[(i + 1) % classes.length]!] as const)
  if (edges.some(([a, b]) => a === MOUNT && b === OVERLAY_DENTRY)) return "layer-ops-under-dentry-mu"
  const set = new Set(classes)
  if (classes.length === 2 && set.has(OVERLAY_DENTRY) && set.has("overlay.dentry.copyMu")) return "layer-ops-under-dentry-mu"
  return null
}
