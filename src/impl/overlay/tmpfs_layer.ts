// A tmpfs layer of an overlay mount: the tmpfs port (src/impl/tmpfs)
// holding the layer's tree literal on a private mount of its own (gVisor's
// clonePrivateMount: read-only for a lower layer).

import type { RootAttrs, Tree } from "../../model/types.js"
import type { Sim } from "../../sim/scheduler.js"
import { checkTmpfs, newTmpfs, tmpfsLayerTree } from "../tmpfs/index.js"
import type { VirtualFilesystem } from "../vfs/vfs.js"
import type { LayerInstance } from "./mount.js"

export function* makeTmpfsLayer(vfs: VirtualFilesystem, label: string, tree: Tree, rootAttrs: RootAttrs, readOnly: boolean): Sim<LayerInstance> {
  const { fs, root, tmpfs } = yield* newTmpfs(vfs, tree, { layer: true, readOnly, root: rootAttrs })
  return {
    kind: "tmpfs",
    label,
    vd: root,
    fs,
    tree: () => tmpfsLayerTree(tmpfs),
    // While the overlay is mounted it holds references of its own on the
    // layer (its dentries' layer files, its two on the root), which the
    // overlay's checks account for: the layer's quiescent accounting (only
    // its mount's reference on the root) applies after the overlay's unmount.
    check: () => checkTmpfs(tmpfs, { quiescent: false, unmounted: false }).map((m) => `${label}: ${m}`),
    leaks: () => checkTmpfs(tmpfs, { quiescent: true, unmounted: true }).map((m) => `${label}: ${m}`),
    *close(): Sim<void> {},
  }
}
