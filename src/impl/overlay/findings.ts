// Behaviours of gVisor's overlay that the port reproduces faithfully and
// the checks find (FINDINGS.md beside this file). The ones here are
// recognized in a run's violations, so that tests and campaigns can tell
// them from anything new; the others are dialect rules
// (src/model/gvisor-overlay.ts) or kept out of generated scenarios.

import type { Violation } from "../../sim/events.js"

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
    id: "stat-races-unlink",
    title:
      "StatAt resolves the dentry (each step under its parent's dirMu), then asks the top layer for the file's attributes with no lock of the overlay's held: an unlink in between makes the stat return the removed file, with nlink 0 (Linux's stat can do the same: vfs_getattr after the lookup; the model's stat is one step)",
    matches: (v) => v.check === "lincheck" && /\b(?:stat|lstat) of \S+ by thread \S+ \([^)]*\) saw [^;]*nlink 0; .*would have returned (?:nlink \d+ or ENOENT|ENOENT or nlink \d+|nlink \d+|ENOENT) instead/.test(v.message),
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
