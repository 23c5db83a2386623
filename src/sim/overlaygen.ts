// Generated overlay scenarios: the layered scenarios of the Linux overlayfs
// differential (src/model/overlay-arbitraries.ts), less what the
// gvisor-overlay dialect cannot follow, and the concurrent scenarios that
// overlay campaigns run (`fsim check --mount overlay`, the property suites
// properties/overlay.*.test.ts).
//
// Left out of generated layers (DIALECTS.md, gvisor-overlay, known gaps;
// src/impl/overlay/FINDINGS.md): setuid and setgid bits (copy-up does not
// keep them: copy-up-dir-setgid), FIFOs and sockets in lower layers (gVisor
// cannot copy them up and opens them on the read-only lower mount:
// lower-special-files), second names of files (each name's dentry caches
// the file's mode and owners: hard-link-caches). Link ops are left out
// unless the shape asks for links (LinkAt chowns the file: link-chowns-file),
// and symlink targets made only of slashes are written "/." (gVisor's VFS
// mishandles a walk through "/": the gofer's FINDINGS.md, symlink-to-root).

import fc from "fast-check"
import { arbCred, arbSteps, ROOT_CRED, type SequentialStep } from "../model/arbitraries.js"
import { mergeLayers } from "../model/overlayfs.js"
import { arbOverlayScenario, arbTargetedSteps, pathsOf, type OverlayScenario, type OverlayScenarioOptions } from "../model/overlay-arbitraries.js"
import type { Cred, Op, Tree, TreeNode } from "../model/types.js"
import type { ScenarioShape } from "./campaign.js"
import { CHECK_NAMES } from "./events.js"
import type { Layer, Scenario, ThreadSpec } from "./scenario.js"

const SET_IDS = 0o6000

/** A target made only of slashes: gVisor's VFS mishandles a walk through it (src/impl/gofer/FINDINGS.md, symlink-to-root); written "/." as the gofer's campaigns do. */
function rootTarget(t: string): string {
  return t.length > 0 && t.split("/").every((x) => x === "") ? "/." : t
}

/**
 * A step as gVisor's overlay is checked with it: link ops left out unless
 * `links`, symlink targets "/" written "/.", and O_DIRECT left out of opens
 * unless `directOpens`.
 */
function gvisorForm(s: SequentialStep, links: boolean, directOpens: boolean): SequentialStep[] {
  if (s.op.op === "link" && !links) return []
  if (s.op.op === "symlink") return [{ ...s, op: { ...s.op, target: rootTarget(s.op.target) } }]
  if (s.op.op === "open" && !directOpens && s.op.flags.includes("O_DIRECT")) return [{ ...s, op: { ...s.op, flags: s.op.flags.filter((f) => f !== "O_DIRECT") } }]
  return [s]
}

function sanitizeTree(t: Tree, lower: boolean): Tree {
  const out: Record<string, TreeNode> = {}
  for (const [name, n] of Object.entries(t)) {
    // No second names (FINDINGS.md, hard-link-caches).
    if ("link" in n && n.link !== undefined) continue
    let node = n as Exclude<TreeNode, { link: string }>
    if (lower && (node.type === "fifo" || node.type === "socket")) node = { type: "file", ...(node.mode !== undefined ? { mode: node.mode } : {}) }
    if (node.type !== "whiteout" && node.mode !== undefined) node = { ...node, mode: node.mode & ~SET_IDS }
    if (node.type === "symlink") node = { ...node, target: rootTarget(node.target) }
    if (node.type === "dir" && node.children !== undefined) node = { ...node, children: sanitizeTree(node.children, lower) }
    out[name] = node
  }
  return out
}

export interface GvisorOverlayScenarioOptions extends OverlayScenarioOptions {
  /** Keep link ops (default false: FINDINGS.md link-chowns-file). */
  readonly links?: boolean
  /**
   * Keep O_DIRECT in opens (default true). A gofer lower layer in
   * cache=none refuses it for a file not copied up, which the dialect
   * cannot tell from the state (FINDINGS.md, lower-gofer-none-direct).
   */
  readonly directOpens?: boolean
}

/** Layered sequential scenarios the gvisor-overlay dialect follows. */
export function arbGvisorOverlayScenario(opts: GvisorOverlayScenarioOptions = {}): fc.Arbitrary<OverlayScenario> {
  const links = opts.links ?? false
  const directOpens = opts.directOpens ?? true
  return arbOverlayScenario(opts).map((sc) => ({
    ...sc,
    steps: sc.steps.flatMap((s) => gvisorForm(s, links, directOpens)),
    root: sc.root.mode !== undefined ? { ...sc.root, mode: sc.root.mode & ~SET_IDS } : sc.root,
    layers: {
      upper: sc.layers.upper === null ? null : sanitizeTree(sc.layers.upper, false),
      lower: sc.layers.lower.map((t) => sanitizeTree(t, true)),
    },
  }))
}

// ---------------------------------------------------------------------------
// Concurrent overlay scenarios.

/** Paths of the merged tree's symlinks that the upper layer does not hold (a lower layer's, so copied up when changed). */
function lowerSymlinks(merged: Tree, upper: Tree): string[] {
  const out: string[] = []
  const walk = (t: Tree, up: Tree | undefined, where: string): void => {
    for (const [name, node] of Object.entries(t)) {
      if ("link" in node) continue
      const u = up !== undefined && Object.prototype.hasOwnProperty.call(up, name) ? up[name] : undefined
      if (node.type === "symlink" && u === undefined) out.push(`${where}/${name}`)
      if (node.type === "dir") walk(node.children ?? {}, u !== undefined && !("link" in u) && u.type === "dir" ? (u.children ?? {}) : undefined, `${where}/${name}`)
    }
  }
  walk(merged, upper, "")
  return out
}

/** The lowest layer an overlay shape asks for: the last of its mount's `lower` (tmpfs if none). */
export function lowestLayerOf(shape: ScenarioShape): Layer {
  const m = shape.mount
  if (m.kind !== "overlay") throw new Error(`overlaygen: not an overlay shape (mount kind ${m.kind})`)
  return m.lower[m.lower.length - 1] ?? { kind: "tmpfs" }
}

function nonBlocking(op: Op): Op {
  if (op.op !== "open" || op.flags.includes("O_NONBLOCK")) return op
  return { ...op, flags: [...op.flags, "O_NONBLOCK"] }
}

/** A thread of `steps`, its descriptors its own ("t0.f"), its opens non-blocking, as its first step's credential. */
function threadOf(name: string, steps: readonly SequentialStep[]): ThreadSpec {
  const ops = steps.map((s) => {
    const op = nonBlocking(s.op)
    return "fd" in op ? ({ ...op, fd: `${name}.${op.fd}` } as Op) : op
  })
  const cred: Cred | undefined = steps[0]?.cred
  return { name, ...(cred !== undefined ? { cred } : {}), ops }
}

/**
 * Concurrent scenarios over generated layers, for a campaign whose shape's
 * mount is an overlay: `shape.mount` is a template whose `lower` gives the
 * lowest layer's kind (tmpfs, or a gofer with its options, serving the
 * scenario's `remote`) and whose `options` are the overlay's; the layers
 * themselves (an upper tmpfs layer five times in six, one to three lower
 * layers) are drawn. A layered scenario of up to threads × ops steps
 * (at least 6) is cut into 2..threads contiguous runs of steps, one per
 * thread, so that a thread's open and the reads and writes on its
 * descriptor stay together. `names` does not apply (the layers' own names
 * are a, b, c, and n for new ones).
 *
 * External users (`shape.external`, a gofer lowest layer only) act on the
 * gofer's server, i.e. change a lower layer under the mounted overlay:
 * undefined in Linux, and gVisor's overlay takes its lower layers to be
 * immutable (src/impl/overlay/README.md, "External changes to a lower
 * layer"). A scenario that has some is run without lincheck: its results
 * are not judged, only the overlay's own invariants, lock order and
 * deadlocks are. Their ops mix the model's arbitrary with ops on the lowest
 * layer's paths.
 */
export function arbOverlayCampaignScenario(shape: ScenarioShape): fc.Arbitrary<Scenario> {
  const m = shape.mount
  if (m.kind !== "overlay") throw new Error(`overlaygen: not an overlay shape (mount kind ${m.kind})`)
  const lowest = lowestLayerOf(shape)
  const maxThreads = Math.max(1, shape.threads)
  const maxSteps = Math.max(6, maxThreads * shape.ops)
  const externalMax = lowest.kind === "gofer" ? (shape.external ?? 0) : 0
  const cacheNone = lowest.kind === "gofer" && /(?:^|,)cache=none(?:,|$)/.test(lowest.options ?? "")
  const layered = arbGvisorOverlayScenario({ minSteps: Math.min(6, maxSteps), maxSteps, links: shape.links ?? false, directOpens: !cacheNone, ...(shape.profile !== undefined ? { profile: shape.profile } : {}) })
  // Profiles with symlinks and renames: a symlink of a lower layer moved aside (as a package manager
  // replacing an image's link does), which copies the symlink up; rare among the targeted renames.
  const profile = shape.profile
  const movesLinks = profile !== undefined && profile.groups.symlinks > 0 && profile.groups.rename > 0
  return layered.chain((sc) => {
    const lowestTree = sc.layers.lower[sc.layers.lower.length - 1] ?? {}
    const links = movesLinks && sc.layers.upper !== null ? lowerSymlinks(mergeLayers(sc.layers), sc.layers.upper) : []
    const moved = links.length > 0 ? fc.option(fc.tuple(fc.constantFrom(...links), fc.nat(maxSteps)), { nil: null }) : fc.constant(null)
    const extSteps = fc
      .array(fc.oneof({ weight: 1, arbitrary: arbSteps(1, 3, shape.profile) }, { weight: 2, arbitrary: arbTargetedSteps(pathsOf(lowestTree)) }), { minLength: 1, maxLength: shape.ops })
      .map((blocks) => blocks.flat().slice(0, shape.ops))
    const ext = externalMax > 0 ? fc.array(fc.tuple(arbCred, extSteps), { maxLength: externalMax }) : fc.constant<[Cred, SequentialStep[]][]>([])
    return fc.tuple(fc.constant(sc), fc.integer({ min: Math.min(2, maxThreads), max: maxThreads }), ext, moved)
  }).map(([sc, n, ext, moved]) => {
    let steps = sc.steps.slice(0, n * shape.ops)
    if (moved !== null) {
      const [link, at] = moved
      const aside = `${link.slice(0, link.lastIndexOf("/"))}/n`
      const block: SequentialStep[] = [{ op: "rename", from: link, to: aside }, { op: "readlink", path: aside }].map((op) => ({ op: op as Op, cred: ROOT_CRED }))
      const i = at % (steps.length + 1)
      steps = [...steps.slice(0, i), ...block, ...steps.slice(i)].slice(0, n * shape.ops)
    }
    const per = Math.ceil(steps.length / n)
    const threads: ThreadSpec[] = []
    for (let t = 0; t < n; t++) {
      const mine = steps.slice(t * per, (t + 1) * per)
      if (mine.length > 0) threads.push(threadOf(`t${t}`, mine))
    }
    const external = ext.map(([cred, s], i) => ({ ...threadOf(`x${i}`, s), cred }))
    const tmpfs = (tree: Tree): Layer => ({ kind: "tmpfs", tree })
    const lower: Layer[] = sc.layers.lower.map(tmpfs)
    if (lowest.kind === "gofer") lower[lower.length - 1] = { kind: "gofer", ...(lowest.options !== undefined ? { options: lowest.options } : {}), tree: "remote" }
    const s: Scenario = {
      format: "fsim.scenario/1",
      name: "generated overlay",
      mount: { kind: "overlay", ...(sc.layers.upper !== null ? { upper: tmpfs(sc.layers.upper) } : {}), lower, ...(m.options !== undefined ? { options: m.options } : {}) },
      // The gofer's server holds the lowest layer as a host directory would (whiteouts, opaque directories).
      ...(lowest.kind === "gofer" ? { remote: sc.layers.lower[sc.layers.lower.length - 1]! } : {}),
      root: sc.root,
      threads,
      ...(external.length > 0 ? { external, checks: CHECK_NAMES.filter((c) => c !== "lincheck") } : {}),
    }
    return s
  })
}
