// The filesystems `fsim` can mount, from their descriptors (src/impl/registry.ts).

import type { CampaignOptions, CampaignSpec, FindingsClassifier } from "../sim/campaign.js"
import type { StateFolderRegistry } from "../sim/fold.js"
import type { MountRegistry } from "../sim/mount.js"
import { FILESYSTEMS, SHARED_LOCK_ORDERS } from "../impl/registry.js"
import type { CliEnv } from "./env.js"

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
