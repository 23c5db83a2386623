// Bugs of gVisor's gofer that the port reproduces faithfully and the checks
// find (FINDINGS.md beside this file). Most are accepted per op by the
// gVisor dialect (src/model/gvisor.ts) or kept out of generated scenarios
// (src/sim/campaign.ts shapeDefaults); the ones here cannot be, and are
// recognized in a failing run's violations so that the property suites can
// tell them from anything new.

import type { Violation } from "../../sim/events.js"
import { sortRunFindings } from "../../sim/campaign.js"
import type { RunReport } from "../../sim/run.js"

export interface Finding {
  readonly id: string
  readonly title: string
  /** Whether this violation is an instance of the finding. */
  readonly matches: (v: Violation) => boolean
}

export const FINDINGS: readonly Finding[] = [
  {
    id: "otrunc-read-zeros",
    title:
      "an open with O_TRUNC truncates the remote file (Tlopen) before the client's size follows, under metadataMu that reads do not take: a concurrent read fills its cache from the truncated file and returns zeros up to the old size",
    // The explanation may name the read (it "saw" the zeros) or an op its
    // zeros conflict with (the read is then quoted with its "data").
    matches: (v) => v.check === "lincheck" && /\b(?:read|pread) of \d+ bytes? [^;]*?(?:saw )?data "(?:\\u0000)+"/.test(v.message),
  },
]

/** The finding every violation of a failing run is an instance of, or null. */
export function knownFinding(violations: readonly Violation[]): Finding | null {
  if (violations.length === 0) return null
  for (const f of FINDINGS) if (violations.every((v) => f.matches(v))) return f
  return null
}

/** The gofer mount's cache mode (gVisor's default when none is given: fscache). */
function cacheMode(r: RunReport): string | null {
  const s = r.subject
  if (s.format !== "fsim.scenario/1" || s.mount.kind !== "gofer") return null
  const opt = (s.mount.options ?? "").split(",").find((o) => o.startsWith("cache="))
  return opt === undefined ? "fscache" : opt.slice("cache=".length)
}

/**
 * Whether a run's lincheck violation is outside the contract of its cache
 * mode: under cache=fscache (InteropModeExclusive, "the filesystem client is
 * the only user of the remote filesystem") and fscache_writethrough
 * (InteropModeWritethrough, "read-only users of the remote filesystem"; the
 * client's cache is still authoritative, so it never sees their changes,
 * nor their atimes) the client trusts what it has cached, and an external
 * user's op that succeeded may never be seen by the client's threads. Such
 * a run cannot be judged against one tree; every lincheck violation of a
 * run with a successful external op under these modes is this.
 */
export function externalUserUnderExclusiveCache(r: RunReport, v: Violation): boolean {
  if (v.check !== "lincheck") return false
  const mode = cacheMode(r)
  if (mode !== "fscache" && mode !== "fscache_writethrough") return false
  const s = r.subject
  const external = new Set(s.format === "fsim.scenario/1" ? (s.external ?? []).map((t) => t.name) : [])
  return r.ops.some((o) => external.has(o.thread) && o.result !== null && !("errno" in o.result))
}

/** A run's failure, sorted: the findings its violations are instances of (by id), and what none accounts for. */
export function goferRunFindings(r: RunReport): { readonly known: readonly string[]; readonly unknown: readonly string[] } {
  return sortRunFindings(r, (v) => FINDINGS.find((f) => f.matches(v))?.id ?? (externalUserUnderExclusiveCache(r, v) ? "external-user-under-exclusive-cache" : null))
}
