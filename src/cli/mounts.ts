// The filesystems `fsim` can mount, from their descriptors (src/impl/registry.ts).

import type { CampaignOptions, CampaignSpec, FindingsClassifier } from "../sim/campaign.js"
import type { StateFolderRegistry } from "../sim/fold.js"
import type { MountRegistry } from "../sim/mount.js"
import { FILESYSTEMS, SHARED_LOCK_ORDERS, descriptorOf } from "../impl/registry.js"
import { mergeMarks, type MarkRegistry } from "../sim/marks.js"
import { Prng } from "../sim/prng.js"
import type { Mount } from "../sim/scenario.js"
import { swarmKinds } from "../sim/swarm.js"
import type { CliEnv } from "./env.js"


/** Every coverage mark the ports may log (name -> the path it marks), from their descriptors. */
export function allMarks(): MarkRegistry {
  return mergeMarks(...FILESYSTEMS.map((d) => d.marks))
}

/** The marks a run on `mount` can reach: its filesystem's and its layers' (descriptor.layerKinds). The model mount has none. */
export function marksOf(mount: Mount): MarkRegistry {
  const d = descriptorOf(mount.kind)
  const layers = d.layerKinds?.(mount) ?? []
  return layers.length === 0 ? d.marks : mergeMarks(d.marks, ...layers.map((k) => descriptorOf(k).marks))
}

/** The marks a campaign can reach: its mount's, or for a swarm those of every mount it may draw. */
export function campaignMarks(spec: CampaignSpec): MarkRegistry {
  if (spec.swarm === undefined) return marksOf(spec.shape.mount)
  const out: Record<string, string> = {}
  // The mounts a filesystem may draw differ in their layers, not in much else: a few draws of each show them all.
  for (const [d] of swarmKinds(FILESYSTEMS, spec.swarm)) for (let i = 1; i <= 32; i++) Object.assign(out, marksOf(d.drawMount(new Prng(i), spec.swarm.mount)!.mount))
  return out
}

export function defaultEnv(): CliEnv {
  const mounts: Record<string, unknown> = {}
  const findings: Record<string, FindingsClassifier> = {}
  const folders: Record<string, unknown> = {}
  for (const d of FILESYSTEMS) {
    mounts[d.kind] = d.factory
    if (d.findings !== undefined) findings[d.kind] = d.findings
    if (d.folders.length > 0) folders[d.kind] = d.folders
  }
  return {
    mounts: mounts as MountRegistry,
    lockOrders: [...SHARED_LOCK_ORDERS, ...FILESYSTEMS.flatMap((d) => (d.lockOrder !== null ? [d.lockOrder] : []))],
    findings,
    folders: folders as StateFolderRegistry,
    descriptors: FILESYSTEMS,
  }
}

/** A campaign's options in this process (a worker's too): the spec, with what the environment can mount. */
export function campaignOptions(spec: CampaignSpec, env: CliEnv): CampaignOptions {
  return { ...spec, mounts: env.mounts, lockOrders: env.lockOrders, descriptors: env.descriptors, ...(env.findings !== undefined ? { findings: env.findings } : {}) }
}
