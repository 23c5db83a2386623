// The zoo: every test-only mutant of every filesystem (fsim's own and the
// re-created upstream gVisor bugs), each hunted the way a user would hunt
// it: `fsim check --mutant NAME` (the default swarm campaign, nothing else
// added) or the fixed-configuration campaign of its mount (`--no-swarm
// --mount KIND`), stopped at the first failing run no documented finding
// explains; that run is shrunk and saved by the same command and replayed
// by `fsim replay` in a process of its own. A failure counts as the
// mutant's only if the same run without the mutant does not fail the same
// check in a way no finding explains.

import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { campaignSpecOf, type CheckFlags } from "../../src/cli/check.js"
import { campaignOptions, defaultEnv } from "../../src/cli/mounts.js"
import { FILESYSTEMS } from "../../src/impl/registry.js"
import { failsNew, scenarioForSeed, shapeOfRun, strategyFor } from "../../src/sim/campaign.js"
import type { MountKind } from "../../src/sim/descriptor.js"
import type { CheckName } from "../../src/sim/events.js"
import type { Upstream } from "../../src/sim/mutants.js"
import { runSubject } from "../../src/sim/run.js"
import type { Layer, Mount, Scenario } from "../../src/sim/scenario.js"
import { FSIM, ROOT } from "../cli/helpers.js"

export interface ZooEntry {
  /** What `--mutant` takes: the bare name, or KIND:NAME where two filesystems have a mutant of that name. */
  readonly name: string
  readonly kind: MountKind
  readonly mutant: string
  readonly description: string
  /** The upstream fix it inverts; null for fsim's own mutants. */
  readonly upstream: Upstream | null
}

export function zooEntries(): ZooEntry[] {
  const out: ZooEntry[] = []
  for (const d of FILESYSTEMS) {
    for (const [mutant, description] of Object.entries(d.mutants)) {
      const shared = FILESYSTEMS.some((o) => o !== d && Object.hasOwn(o.mutants, mutant))
      out.push({ name: shared ? `${d.kind}:${mutant}` : mutant, kind: d.kind, mutant, description, upstream: d.upstream[mutant] ?? null })
    }
  }
  return out
}

export type HuntMode = "swarm" | "fixed"

export interface HuntResult {
  readonly name: string
  readonly mode: HuntMode
  /** Runs up to and including the first failure that is the mutant's; null: not found within the budget. */
  readonly runsToFirst: number | null
  readonly seed: number | null
  readonly check: string | null
  /** The shrunk failure's size, as `fsim check` saved it. */
  readonly shrunk: { readonly threads: number; readonly ops: number } | null
  readonly trace: string | null
  /** `fsim replay` of the saved trace, in a process of its own, reproduced it (exit 0). */
  readonly replayed: boolean | null
  /** Failing runs passed over because the same run without the mutant fails the same way. */
  readonly passedOver: number
  readonly config: string | null
}

function flagsFor(e: ZooEntry, mode: HuntMode, seed: number): CheckFlags {
  return {
    ...(mode === "fixed" ? { mount: e.kind } : {}),
    swarm: mode === "swarm",
    threads: 4,
    ops: 12,
    names: 3,
    external: 0,
    faults: 0,
    seed,
    strategy: "portfolio",
    workers: 1,
    saveDir: "traces",
    shrink: true,
    shrinkBudget: 4_000,
    mutant: e.name,
  }
}

function cliArgs(e: ZooEntry, mode: HuntMode): string[] {
  return mode === "fixed" ? ["--no-swarm", "--mount", e.kind, "--mutant", e.name] : ["--mutant", e.name]
}

function withoutMutant(options: string | undefined): string | undefined {
  const kept = (options ?? "").split(",").filter((w) => w !== "" && !w.startsWith("mutant="))
  return kept.length === 0 ? undefined : kept.join(",")
}

/** The scenario with every `mutant=` option taken out (the mount's and its layers'). */
function twinOf(s: Scenario): Scenario {
  const layer = (l: Layer): Layer => (l.kind === "gofer" ? { kind: "gofer", tree: "remote", ...(withoutMutant(l.options) !== undefined ? { options: withoutMutant(l.options)! } : {}) } : l)
  const m = s.mount
  const options = withoutMutant(m.options)
  const mount: Mount = m.kind === "overlay" ? { ...m, lower: m.lower.map(layer), ...(options !== undefined ? { options } : {}) } : ({ kind: m.kind, ...(options !== undefined ? { options } : {}) } as Mount)
  if (m.kind === "overlay" && options === undefined) delete (mount as { options?: string }).options
  return { ...s, mount }
}

const env = defaultEnv()

/** Whether the run seeded `seed` fails `check` without the mutant too (in a way no finding explains). */
export function twinFails(e: ZooEntry, mode: HuntMode, seed: number, check: CheckName): boolean {
  const spec = campaignSpecOf(flagsFor(e, mode, seed), (k) => k === "mount" && mode === "fixed", FILESYSTEMS)
  const o = campaignOptions(spec, env)
  const shape = shapeOfRun(o, seed)
  const twin = twinOf(scenarioForSeed(shape, seed))
  const r = runSubject(twin, { seed, strategy: strategyFor(spec.strategy, seed), mounts: env.mounts, lockOrders: env.lockOrders })
  return failsNew(r, check, env.findings?.[twin.mount.kind])
}

interface CampaignOut {
  readonly runs: number
  readonly findings: { readonly unexplained: readonly { readonly seed: number; readonly checks: readonly string[]; readonly config?: string }[] }
  readonly saved: readonly { readonly check: string; readonly seed: number; readonly trace: string; readonly shrunk: { readonly after: { readonly threads: number; readonly ops: number } } | null }[]
}

function run(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FSIM, ...args], { cwd: ROOT, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/**
 * Hunts `e` with at most `maxRuns` runs from seed 1: `fsim check ...
 * --first-failure --json`, again from past any failure that is not the
 * mutant's, then `fsim replay` of the trace it saved.
 */
export function hunt(e: ZooEntry, mode: HuntMode, o: { readonly maxRuns: number; readonly dir: string; readonly workers?: number; readonly shrinkBudget?: number }): HuntResult {
  let seed = 1
  let passedOver = 0
  const none = { runsToFirst: null, seed: null, check: null, shrunk: null, trace: null, replayed: null, config: null }
  while (seed <= o.maxRuns) {
    const args = ["check", ...cliArgs(e, mode), "--seed", String(seed), "--runs", String(o.maxRuns - seed + 1), "--first-failure", "--json", "--save-dir", o.dir]
    args.push("--workers", String(o.workers ?? 2), "--shrink-budget", String(o.shrinkBudget ?? 4_000))
    const r = run(args)
    if (r.status === 2 || r.stdout === "") throw new Error(`fsim ${args.join(" ")}: exit ${r.status}: ${r.stderr}`)
    const out = JSON.parse(r.stdout) as CampaignOut
    const first = out.findings.unexplained[0]
    if (first === undefined) return { name: e.name, mode, ...none, passedOver }
    const check = first.checks[0] as CheckName
    if (twinFails(e, mode, first.seed, check)) {
      passedOver++
      seed = first.seed + 1
      continue
    }
    const saved = out.saved.find((s) => s.check === check && s.seed === first.seed)
    const replay = saved === undefined ? null : run(["replay", saved.trace])
    return {
      name: e.name,
      mode,
      runsToFirst: first.seed,
      seed: first.seed,
      check,
      shrunk: saved?.shrunk === null || saved === undefined ? null : { threads: saved.shrunk.after.threads, ops: saved.shrunk.after.ops },
      trace: saved?.trace ?? null,
      replayed: replay === null ? null : replay.status === 0,
      passedOver,
      config: first.config ?? null,
    }
  }
  return { name: e.name, mode, ...none, passedOver }
}

/** The table of the note and of `npm run zoo`: one row per mutant, swarm beside fixed. */
export function zooTable(rows: readonly { readonly entry: ZooEntry; readonly swarm: HuntResult; readonly fixed: HuntResult | null }[]): string {
  const cell = (h: HuntResult | null): string[] =>
    h === null ? ["-", "-", "-", "-"] : h.runsToFirst === null ? ["not found", "", "", ""] : [String(h.runsToFirst), h.check ?? "", h.shrunk === null ? "" : `${h.shrunk.threads}t ${h.shrunk.ops}op`, h.replayed === true ? "yes" : h.replayed === false ? "NO" : "-"]
  const lines = [
    "| mutant | mount | upstream (needs) | swarm: runs to first | check | shrunk | replays | fixed: runs to first | check | shrunk | replays |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for (const r of rows) {
    const up = r.entry.upstream === null ? "fsim's own" : `${r.entry.upstream.commit.slice(0, 10)} (${r.entry.upstream.needs})`
    lines.push(`| ${r.entry.name} | ${r.entry.kind} | ${up} | ${[...cell(r.swarm), ...cell(r.fixed)].join(" | ")} |`)
  }
  return lines.join("\n") + "\n"
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T
}
