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

/** A run's failure, sorted: the findings its violations are instances of (by id), and what none accounts for. */
export function goferRunFindings(r: RunReport): { readonly known: readonly string[]; readonly unknown: readonly string[] } {
  return sortRunFindings(r, (v) => FINDINGS.find((f) => f.matches(v))?.id ?? null)
}
