// `fsim check`: a campaign over generated concurrent scenarios, in this
// thread or over worker threads; the first failure of each check is shrunk
// and saved as a trace; a summary closes it (a table, or --json).

import { createHash } from "node:crypto"
import { join } from "node:path"
import Table from "cli-table3"
import { InvalidArgumentError, Option, type Command } from "commander"
import { InputError } from "../model/schema.js"
import {
  emptyTally,
  lockCycles,
  mergeTally,
  PORTFOLIO,
  shapeOfRun,
  sortedTally,
  strategyLabel,
  type CampaignOptions,
  type CampaignSpec,
  type CampaignStrategy,
  type FailureRecord,
  type FindingsClassifier,
  type LockCycle,
  type ScenarioShape,
  type Tally,
} from "../sim/campaign.js"
import { CHECK_NAMES, type CheckName } from "../sim/events.js"
import { DeclaredOrder } from "../sim/lockorder.js"
import type { FilesystemDescriptor, MountKind, MountPins } from "../sim/descriptor.js"
import { Prng } from "../sim/prng.js"
import type { Mount } from "../sim/scenario.js"
import { configJson, describeConfig, drawSwarmConfig, swarmKinds, type SwarmPins } from "../sim/swarm.js"
import { availableParallelism } from "node:os"
import type { Size } from "../sim/shrink.js"
import { parseStrategy, type StrategySpec } from "../sim/strategy.js"
import type { CliEnv } from "./env.js"
import { checkOutputDir, EXIT, parsePositiveInt, parseSeed, tryWriteOutput } from "./io.js"
import { Aborted, SaveWorker, WorkerRunner, type RangeRunner } from "./pool.js"
import { formatSecs, Progress } from "./progress.js"
import { campaignMarks } from "./mounts.js"
import { mountLabel } from "./run.js"
import { campaignOptions } from "./mounts.js"

export interface CheckFlags {
  readonly mount?: string
  readonly swarm: boolean
  readonly explainConfig?: number
  readonly options?: string
  readonly lower?: "tmpfs" | "gofer"
  readonly lowerOptions?: string
  readonly threads: number
  readonly ops: number
  readonly names: number
  readonly external: number
  readonly faults: number
  readonly links?: boolean
  readonly fds?: "shared" | "private"
  readonly runs?: number
  readonly time?: number
  readonly seed: number
  readonly strategy: string
  readonly workers: number
  readonly saveDir: string
  readonly shrink: boolean
  readonly shrinkBudget: number
  readonly checkBudget?: number
  readonly json?: boolean
  readonly mutant?: string
  readonly allowFindings?: boolean
  readonly firstFailure?: boolean
}

/** Runs of a fixed-configuration campaign (--no-swarm) unless --runs or --time. */
const DEFAULT_RUNS = 50_000
/**
 * Runs of the default swarm campaign: sized so that `npx fsim check` on a
 * fresh clone takes about a minute on 2 cores (the README's main job).
 */
const DEFAULT_SWARM_RUNS = 1_000
/** Unexplained failing runs listed in the text summary (--json lists every one kept). */
const UNEXPLAINED_SHOWN = 20
/** Wall-clock time a range of runs should take, for progress and Ctrl-C latency. */
const RANGE_TARGET_MS = 500

export function registerCheck(program: Command, env: CliEnv): void {
  program
    .command("check")
    .description("run a campaign: many seeded runs of generated concurrent scenarios, every check on; failures are shrunk and saved as traces")
    .option("--mount <kind>", "pin the filesystem under test (model, gofer, tmpfs, overlay); default: a swarm over the gofer, the overlay and tmpfs")
    .option("--no-swarm", "one fixed configuration for every run (the mount's defaults and the options given), instead of one drawn from each run's seed")
    .option("--explain-config <seed>", "print the configuration run SEED draws (with the other options given), and exit", parseSeed)
    .option("--options <string>", "mount options, as the scenario's mount.options (an overlay's own options); a swarm keeps them and draws the rest")
    .addOption(new Option("--lower <kind>", "overlay: the lowest layer's filesystem (the others are tmpfs; the layers are generated)").choices(["tmpfs", "gofer"]))
    .option("--lower-options <string>", "overlay: the gofer lowest layer's mount options (cache=fscache|fscache_writethrough|remote_revalidating|none, ...)")
    .option("--threads <n>", "most threads per scenario (each draws 2..n; default: drawn per run in a swarm, 4 without)", parsePositiveInt, 4)
    .option("--ops <n>", "most ops per thread (each draws 1..n; default: drawn per run in a swarm, 12 without)", parsePositiveInt, 12)
    .option("--names <n>", "namespace size: names per directory, 1-3 (fewer names, more contention; default: drawn in a swarm, 3 without)", parseNames, 3)
    .option("--external <n>", "most external users of the 9P share per scenario (gofer mounts: judged under cache=remote_revalidating and none; under fscache and fscache_writethrough, which take the client to be the share's only writer, lincheck and coherence are left out: src/impl/gofer/README.md; an overlay's gofer lower layer, whose results are then not judged: src/impl/overlay/README.md)", parseNat, 0)
    .option("--faults <n>", "most injected server faults per scenario (gofer mounts; default: drawn 0-3 in a swarm, 0 without)", parseNat, 0)
    .option("--links", "generate hard links (default: yes for the model, no for the gofer: see src/model/DIALECTS.md)")
    .option("--no-links", "generate no hard links")
    .addOption(new Option("--fds <how>", "descriptor names shared by all threads, or each thread's own (default: shared for the model, private otherwise)").choices(["shared", "private"]))
    .option("--strategy <s>", "random, pct:DEPTH, portfolio (rotates random, pct:2, pct:3) or portfolio:S1,S2,...", "portfolio")
    .option("--runs <n>", `runs in the campaign (default ${DEFAULT_SWARM_RUNS} in a swarm, ${DEFAULT_RUNS} with --no-swarm; unbounded under --time)`, parsePositiveInt)
    .option("--time <duration>", "time budget (90s, 5m, 1h): stop handing out runs after it", parseDuration)
    .option("--seed <n>", "seed of the first run (run i uses seed + i)", parseSeed, 1)
    .option("--workers <n>", "worker threads over disjoint seed ranges (same results as 1; default: the cores available)", parsePositiveInt, Math.max(1, Math.min(8, availableParallelism())))
    .option("--save-dir <dir>", "where failing runs' traces are written", "traces")
    .option("--no-shrink", "save failing runs as found, without shrinking them")
    .option("--shrink-budget <runs>", "most runs spent shrinking each failure", parsePositiveInt, 4_000)
    .option("--check-budget <steps>", "model steps each run's linearizability check may take (its searches together) before the run is unknown (default 1000000; recorded in each scenario's budget.checks)", parsePositiveInt)
    .option("--json", "print the summary as JSON (fsim.campaign/1)")
    .option("--first-failure", "stop handing out runs once a run fails in a way no documented finding explains (the runs in flight finish, so the lowest failing seed is the campaign's first), and save only such failures")
    .option(
      "--allow-findings",
      "exit 0 when every failing run is an instance of a documented gVisor finding (src/impl/gofer/FINDINGS.md, src/impl/overlay/FINDINGS.md); they are still counted and listed",
    )
    .addOption(new Option("--mutant <name>", "TEST ONLY: run under a deliberately wrong mutant of a filesystem (NAME, or KIND:NAME where two have one of that name); the swarm keeps to configurations that mount it").hideHelp())
    .action(async (flags: CheckFlags, cmd: Command) => {
      const spec = campaignSpecOf(flags, (k) => cmd.getOptionValueSource(k) === "cli", env.descriptors)
      if (flags.explainConfig !== undefined) {
        const shape = spec.swarm === undefined ? spec.shape : drawSwarmConfig(env.descriptors, spec.swarm, flags.explainConfig)
        process.stdout.write(flags.json === true ? JSON.stringify(configJson(shape)) + "\n" : `seed ${flags.explainConfig}: ${describeConfig(shape)}\n${JSON.stringify(configJson(shape))}\n`)
        return
      }
      const mount = spec.shape.mount
      checkOutputDir(flags.saveDir, "--save-dir")
      const options: CampaignOptions = campaignOptions(spec, env)
      const runs = flags.runs ?? (flags.time !== undefined ? Infinity : spec.swarm !== undefined ? DEFAULT_SWARM_RUNS : DEFAULT_RUNS)
      const timeMs = flags.time ?? Infinity

      // SIGINT and SIGTERM alike: stop handing out runs, drop the ranges in
      // flight, cut a shrink short, then save what was found and print the
      // summary. Runs and shrinks happen in workers, so this thread sees the
      // signal at once; it writes every file itself, synchronously, so no
      // signal lands in the middle of a write.
      let signal: NodeJS.Signals | null = null
      const interrupted = (): boolean => signal !== null
      const runners: RangeRunner[] = []
      const saver = new SaveWorker(spec)
      const onSignal = (s: NodeJS.Signals): void => {
        if (signal !== null) {
          // A second signal: no more waiting (every file written so far is whole).
          process.stderr.write(`fsim: ${s} again: exiting without the summary\n`)
          process.exit(s === "SIGTERM" ? EXIT.terminated : EXIT.interrupted)
        }
        signal = s
        process.stderr.write(`fsim: ${s}: stopping; the failures found so far are saved, then the summary (${s} again to exit at once)\n`)
        for (const r of runners) r.abort()
        saver.stop()
      }
      process.on("SIGINT", onSignal)
      process.on("SIGTERM", onSignal)
      try {
        const progress = new Progress({ runs, timeMs })
        // Ranges are handed out in seed order and those in flight finish, so the runs done stay a prefix of the seed range.
        const enough = (t: Tally): boolean => flags.firstFailure === true && t.failures.some((f) => f.verdict === "fail" && !f.explained)
        const tally = await runRanges(spec, flags.workers, runs, timeMs, progress, runners, interrupted, enough)
        progress.done()
        const elapsed = progress.elapsedMs()
        const saved = await saveFailures(options, tally, flags, interrupted, saver)
        const repeat = repeatCommand(cmd)
        // A swarm's cycles may join lock classes of several filesystems: any filesystem's findings may name one.
        const classifiers = spec.swarm === undefined ? [env.findings?.[mount.kind]] : Object.values(env.findings ?? {})
        const cycleFinding: FindingsClassifier = { run: () => ({ known: [], unknown: [] }), cycle: (c) => classifiers.map((f) => f?.cycle?.(c) ?? null).find((x) => x !== null) ?? null }
        const summary = campaignJson(flags, spec, tally, saved, signal, elapsed, new DeclaredOrder(env.lockOrders), cycleFinding, repeat)
        process.stdout.write(flags.json === true ? JSON.stringify(summary) + "\n" : describeCampaign(summary))
        // With --allow-findings, what counts is what no documented finding
        // explains: failing runs with other violations, and lock-class
        // cycles that are no finding's and have no edge against the declared
        // order (such an edge is reported, and classified, in the run that
        // took it).
        const allowed = flags.allowFindings === true
        const failing = allowed ? tally.verdicts.fail - tally.explained : tally.verdicts.fail
        const cycles = summary.coverage.lock_cycles.filter((c) => !allowed || (c.against_declared_order.length === 0 && c.finding === null)).length
        process.exitCode = signal !== null
          ? signal === "SIGTERM"
            ? EXIT.terminated
            : EXIT.interrupted
          : failing > 0 || cycles > 0
            ? EXIT.violation
            : tally.verdicts.budget_exhausted + tally.verdicts.unknown > 0
              ? EXIT.inconclusive
              : EXIT.ok
      } finally {
        await Promise.all([...runners.map((r) => r.close()), saver.close()])
        process.off("SIGINT", onSignal)
        process.off("SIGTERM", onSignal)
      }
    })
}

/** Hands out ranges of runs to the worker threads until the runs or the time run out, or a signal. */
async function runRanges(
  spec: CampaignSpec,
  workers: number,
  runs: number,
  timeMs: number,
  progress: Progress,
  runners: RangeRunner[],
  stopped: () => boolean,
  enough: (t: Tally) => boolean = () => false,
): Promise<Tally> {
  const total = emptyTally()
  const started = Date.now()
  let next = 0
  for (let w = 0; w < workers; w++) runners.push(new WorkerRunner(spec))
  const loop = async (runner: RangeRunner): Promise<void> => {
    let count = 8
    while (!stopped() && !enough(total) && next < runs && Date.now() - started < timeMs) {
      const first = next
      const n = Math.min(count, runs - next)
      next += n
      const t0 = Date.now()
      let t: Tally
      try {
        t = await runner.run(first, n)
      } catch (e) {
        if (e instanceof Aborted) return
        throw e
      }
      mergeTally(total, t)
      progress.update({ runs: total.runs, failing: total.verdicts.fail, violations: Object.values(total.violationsByCheck).reduce((a, b) => a + (b ?? 0), 0) })
      // Ranges sized to take about RANGE_TARGET_MS (results do not depend on it).
      const ms = Math.max(1, Date.now() - t0)
      count = Math.max(1, Math.min(2_000, Math.round((n * RANGE_TARGET_MS) / ms)))
    }
  }
  await Promise.all(runners.map(loop))
  return total
}

/** The filesystem and name of `--mutant NAME` (or KIND:NAME): the registry's one filesystem with a mutant of that name. */
function mutantOf(name: string, pinned: MountKind | undefined, descriptors: readonly FilesystemDescriptor[]): { readonly kind: MountKind; readonly name: string } {
  const colon = name.indexOf(":")
  const [kind, bare] = colon < 0 ? [pinned, name] : [name.slice(0, colon), name.slice(colon + 1)]
  const owners = descriptors.filter((d) => Object.hasOwn(d.mutants, bare) && (kind === undefined || d.kind === kind || (pinned === "overlay" && d.kind === "gofer")))
  if (owners.length === 0) {
    const known = descriptors.flatMap((d) => Object.keys(d.mutants).map((m) => `${d.kind}:${m}`))
    throw new InputError(`--mutant: unknown mutant ${JSON.stringify(name)} (known: ${known.join(", ")})`)
  }
  // Pinned to an overlay, a name both the overlay and the gofer have is the overlay's.
  const own = owners.find((d) => d.kind === pinned)
  if (owners.length > 1 && own === undefined) throw new InputError(`--mutant: ${JSON.stringify(name)} is a mutant of ${owners.map((d) => d.kind).join(" and ")}: say which (${owners.map((d) => `${d.kind}:${bare}`).join(" or ")})`)
  return { kind: (own ?? owners[0]!).kind, name: bare }
}

/**
 * The campaign the flags ask for: a swarm (each run's configuration drawn
 * from its seed, within what the flags pin) unless --no-swarm, which runs
 * every run in one configuration, the mount's defaults with the flags.
 */
export function campaignSpecOf(flags: CheckFlags, given: (option: keyof CheckFlags) => boolean, descriptors: readonly FilesystemDescriptor[]): CampaignSpec {
  const known = descriptors.map((d) => d.kind)
  if (flags.mount !== undefined && !(known as string[]).includes(flags.mount)) {
    throw new InputError(`--mount: unknown mount kind ${JSON.stringify(flags.mount)} (expected ${known.join(", ")})`)
  }
  const pinnedKind = flags.mount as MountKind | undefined
  const mutant = flags.mutant !== undefined ? mutantOf(flags.mutant, pinnedKind, descriptors) : undefined
  if ((flags.lower !== undefined || flags.lowerOptions !== undefined) && pinnedKind !== undefined && pinnedKind !== "overlay") {
    throw new InputError(`--${flags.lower !== undefined ? "lower" : "lower-options"}: only an overlay mount has layers (--mount overlay)`)
  }
  const lowerKind = flags.lower ?? (flags.lowerOptions !== undefined ? "gofer" : undefined)
  if (lowerKind === "tmpfs" && flags.lowerOptions !== undefined) throw new InputError("--lower-options: a tmpfs layer takes no options (give --lower gofer)")
  const pins: MountPins = {
    ...(flags.options !== undefined && flags.options !== "" ? { options: flags.options } : {}),
    ...(lowerKind !== undefined ? { lower: { kind: lowerKind, ...(flags.lowerOptions !== undefined && flags.lowerOptions !== "" ? { options: flags.lowerOptions } : {}) } } : {}),
    ...(mutant !== undefined ? { mutant } : {}),
  }
  // --lower pins the overlay; a mutant pins its own filesystem unless a swarm can reach it through others.
  const kinds: MountKind[] | undefined = pinnedKind !== undefined ? [pinnedKind] : lowerKind !== undefined ? ["overlay"] : mutant !== undefined && !flags.swarm ? [mutant.kind] : mutant?.kind === "model" ? ["model"] : undefined
  const strategy = parseCampaignStrategy(flags.strategy)
  const checkBudget = flags.checkBudget !== undefined ? { checkBudget: flags.checkBudget } : {}
  if (!flags.swarm) {
    if (kinds === undefined) throw new InputError("--no-swarm: give the filesystem (--mount KIND) whose one configuration every run uses")
    const d = descriptors.find((x) => x.kind === kinds[0])!
    if (pins.mutant !== undefined && d.drawMount(new Prng(1), pins) === null) throw new InputError(`--mutant: ${pins.mutant.kind}:${pins.mutant.name} is not a mutant of the ${d.kind} mount`)
    const mount = d.fixedMount(pins)
    checkFixed(flags, given, d, mount)
    const dflt = d.shapeDefaults(mount)
    const shape: ScenarioShape = {
      mount,
      threads: flags.threads,
      ops: flags.ops,
      names: flags.names,
      external: flags.external,
      faults: flags.faults,
      links: flags.links ?? dflt.links,
      privateFds: flags.fds === undefined ? dflt.privateFds : flags.fds === "private",
      slashOnlySymlinks: dflt.slashOnlySymlinks,
      setIdBits: dflt.setIdBits,
      externalUnjudged: d.externalUnjudged(mount),
      ...checkBudget,
    }
    return { shape, seed: flags.seed, strategy }
  }
  const swarm: SwarmPins = {
    ...(kinds !== undefined ? { kinds } : {}),
    mount: pins,
    ...(given("threads") ? { threads: flags.threads } : {}),
    ...(given("ops") ? { ops: flags.ops } : {}),
    ...(given("names") ? { names: flags.names } : {}),
    ...(given("external") ? { external: flags.external } : {}),
    ...(given("faults") ? { faults: flags.faults } : {}),
    ...(flags.fds !== undefined ? { privateFds: flags.fds === "private" } : {}),
    ...(flags.links !== undefined ? { links: flags.links } : {}),
    ...(flags.checkBudget !== undefined ? { checkBudget: flags.checkBudget } : {}),
  }
  // Pinned to one filesystem, the flags are checked as for its fixed campaign (the same messages).
  if (kinds?.length === 1) {
    const only = descriptors.find((x) => x.kind === kinds[0])!
    checkFixed(flags, given, only, only.fixedMount(pins))
  }
  const eligible = swarmKinds(descriptors, swarm)
  if (eligible.length === 0) {
    const what = pins.mutant !== undefined ? `--mutant ${pins.mutant.kind}:${pins.mutant.name}` : "the options given"
    throw new InputError(`${what}: no filesystem${kinds !== undefined ? ` of ${kinds.join(", ")}` : ""} can be mounted with ${what === "the options given" ? "them" : "it"}`)
  }
  if (given("external") && flags.external > 0 && eligible.every(([d]) => d.drawMount(new Prng(1), pins)!.external === 0)) {
    throw new InputError("--external: external users act on a 9P server's share: give a filesystem with one (--mount gofer, or --mount overlay --lower gofer)")
  }
  if (given("faults") && flags.faults > 0 && eligible.every(([d]) => d.drawMount(new Prng(1), pins)!.faults === 0)) {
    throw new InputError("--faults: server faults need a gofer mount (overlay campaigns inject none: the gvisor-overlay dialect has no rules for them)")
  }
  // The nominal shape: the summary's header; each run draws its own.
  const first = drawSwarmConfig(descriptors, swarm, flags.seed)
  return { shape: first, swarm, seed: flags.seed, strategy }
}

/** The checks a fixed-configuration campaign makes of its flags: what its filesystem refuses (its descriptor's refusals). */
function checkFixed(flags: CheckFlags, given: (option: keyof CheckFlags) => boolean, d: FilesystemDescriptor, mount: Mount): void {
  const r = d.refusals(mount)
  if (flags.external > 0 && r.external !== undefined) throw new InputError(`--external: ${r.external}`)
  if (flags.faults > 0 && r.faults !== undefined) throw new InputError(`--faults: ${r.faults}`)
  if (given("names") && r.names !== undefined) throw new InputError(`--names: ${r.names}`)
  if (flags.fds === "shared" && r.sharedFds !== undefined) throw new InputError(`--fds: ${r.sharedFds}`)
}

export function parseCampaignStrategy(text: string): CampaignStrategy {
  if (text === "portfolio") return { kind: "portfolio", specs: PORTFOLIO }
  if (text.startsWith("portfolio:")) {
    const specs = text.slice("portfolio:".length).split(",").map((s) => parseStrategy(s.trim()))
    if (specs.length === 0) throw new InputError(`strategy ${text}: a portfolio needs at least one strategy`)
    return { kind: "portfolio", specs: specs.map(withoutEstimate) }
  }
  return { kind: "one", spec: withoutEstimate(parseStrategy(text)) }
}

function withoutEstimate(s: StrategySpec): StrategySpec {
  // A campaign's runs have different lengths: pct estimates each one's.
  return s.kind === "pct" ? { kind: "pct", depth: s.depth } : s
}

function campaignStrategyLabel(c: CampaignStrategy): string {
  return c.kind === "one" ? strategyLabel(c.spec) : `portfolio(${c.specs.map(strategyLabel).join(",")})`
}

function parseNames(text: string): number {
  const n = Number(text)
  if (!/^\d+$/.test(text) || n < 1 || n > 3) throw new InvalidArgumentError("expected 1, 2 or 3 (the generated namespace is a, b, c)")
  return n
}

function parseNat(text: string): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new InvalidArgumentError("expected a non-negative integer")
  return Number(text)
}

/** "90", "90s", "5m", "1.5h" -> ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text)
  if (m === null) throw new InvalidArgumentError("expected a duration: 90s, 5m, 1h")
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"]
  const ms = Number(m[1]) * unit
  if (!(ms > 0)) throw new InvalidArgumentError("expected a duration above 0")
  return ms
}

// ---------------------------------------------------------------------------
// Saving failures: the first failing run of each check is re-made from its
// seed in this thread (identical to the worker's), shrunk, and written
// atomically. Inconclusive runs are saved as found.

interface Saved {
  readonly check: string
  /** The campaign's run it was found in. */
  readonly seed: number
  /** The seed in the trace's header (the shrunk run's, which may be a neighbour). */
  readonly traceSeed: number
  /** The documented findings the saved run shows (all of its violations, when explained). */
  readonly findings: readonly string[]
  readonly explained: boolean
  readonly trace: string
  readonly shrunk: { readonly before: Size; readonly after: Size; readonly runsUsed: number; readonly cut: boolean } | null
}

/** A failing run to save, and the check its trace is saved (and shrunk) for. */
interface Representative {
  readonly failure: FailureRecord
  readonly check: CheckName | "budget_exhausted" | "unknown"
  /** The check's violation is one no documented finding explains: the shrink must keep it so. */
  readonly isNew: boolean
}

/**
 * The failing runs to save: for each check with a violation no documented
 * finding explains, the lowest seed showing one (saved first, for that
 * check, so a new bug is never hidden behind a known one nor shrunk into
 * it); then, for each check no such run covers, the lowest seed failing it,
 * whose trace shows a known finding; then one run per inconclusive verdict.
 */
function representatives(t: Tally): Representative[] {
  const out: Representative[] = []
  const seen = new Set<string>()
  for (const f of t.failures) {
    if (f.verdict !== "fail") continue
    for (const c of f.newChecks) {
      if (seen.has(c)) continue
      seen.add(c)
      out.push({ failure: f, check: c, isNew: true })
    }
  }
  for (const f of t.failures) {
    if (f.verdict === "pass") continue
    const check = f.verdict === "fail" ? f.checks[0]! : f.verdict
    if (seen.has(check)) continue
    seen.add(check)
    out.push({ failure: f, check, isNew: false })
  }
  const order = (r: Representative): number =>
    (r.isNew ? 0 : 100) + (r.failure.verdict === "fail" ? CHECK_NAMES.indexOf(r.check as CheckName) : CHECK_NAMES.length + (r.failure.verdict === "budget_exhausted" ? 0 : 1))
  return out.sort((a, b) => order(a) - order(b))
}

/** How often a shrink's progress (runs used of its budget) is shown. */
const SHRINK_PROGRESS_MS = 3_000

/**
 * Re-makes each representative failure in the save worker, shrinks it there
 * (unless stopped), and writes its trace here. After a signal the shrink in
 * progress stops with the smallest failure so far, and the rest are saved as
 * found.
 */
async function saveFailures(o: CampaignOptions, t: Tally, flags: CheckFlags, stopped: () => boolean, saver: SaveWorker): Promise<Saved[]> {
  const out: Saved[] = []
  // Stopped at the first new failure, only the new failures are what the user came for.
  for (const { failure: f, check, isNew } of representatives(t).filter((r) => flags.firstFailure !== true || r.isNew)) {
    const shrink = f.verdict === "fail" && flags.shrink && !stopped()
    let lastShown = Date.now()
    const r = await saver.save({ run: f.run, seed: f.seed, check, shrink, isNew, budgetRuns: flags.shrinkBudget }, (m) => {
      if (m.kind === "shrinking") process.stderr.write(`shrinking the ${check} failure of seed ${f.seed} (${m.threads} threads, ${m.ops} ops)...\n`)
      else if (m.kind === "progress" && Date.now() - lastShown >= SHRINK_PROGRESS_MS) {
        lastShown = Date.now()
        process.stderr.write(`  shrinking: ${m.runsUsed}/${flags.shrinkBudget} runs\n`)
      }
    })
    if (r.shrunk !== null) process.stderr.write(`  ${describeSize(r.shrunk.before)} -> ${describeSize(r.shrunk.after)} (${r.shrunk.runsUsed} runs${r.shrunk.cut ? ", cut short" : ""})\n`)
    // Named by the seed in its header: a shrink may settle on a neighbouring seed.
    const file = join(flags.saveDir, `${check}-${mountLabel(shapeOfRun(o, f.seed).mount)}-${r.seed}.jsonl`)
    const lost = tryWriteOutput(file, r.text)
    if (lost !== null) {
      // The campaign's summary still follows; this run is lost as a file only.
      process.stderr.write(`fsim: ${lost}: the ${check} failure of seed ${f.seed} is not saved (fsim check --seed ${f.seed} --runs 1 with the same options finds it again)\n`)
      continue
    }
    out.push({ check, seed: f.seed, traceSeed: r.seed, findings: isNew ? [] : f.findings, explained: !isNew && f.explained, trace: file, shrunk: r.shrunk })
  }
  return out
}

/** Lets the event loop run (a Ctrl-C during a long shrink is seen at the next candidate). */
export function letEventsIn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function describeSize(s: Size): string {
  return `${s.threads} threads, ${s.ops} ops, ${s.steps} steps, ${s.preemptions} preemptions`
}

// ---------------------------------------------------------------------------
// The summary.

type CampaignJson = ReturnType<typeof campaignJson>

function hitRates(cache: Readonly<Record<string, number>>): Record<string, { hits: number; misses: number; hit_rate: number }> | null {
  const caches = new Map<string, { hits: number; misses: number }>()
  for (const [k, n] of Object.entries(cache)) {
    const [name, what] = k.split(" ") as [string, string]
    if (what !== "hit" && what !== "miss") continue
    const c = caches.get(name) ?? { hits: 0, misses: 0 }
    if (what === "hit") c.hits += n
    else c.misses += n
    caches.set(name, c)
  }
  if (caches.size === 0) return null
  return Object.fromEntries([...caches].sort().map(([name, c]) => [name, { ...c, hit_rate: Number((c.hits / Math.max(1, c.hits + c.misses)).toFixed(4)) }]))
}

/** The violations found, as one hash: equal for two campaigns that found the same violations in the same runs. */
function violationSet(t: Tally): string {
  const lines = t.failures.map((f) => `${f.seed} ${f.verdict} ${f.checks.join(",")} ${f.digest}\n`).join("")
  return createHash("sha256").update(lines).digest("hex")
}

/** Options that say how a campaign runs, not which runs it is made of: left out of a command that repeats one run. */
const NOT_OF_A_RUN = new Set(["runs", "time", "seed", "workers", "saveDir", "shrink", "shrinkBudget", "json", "allowFindings", "explainConfig", "firstFailure"])

/** Quotes a word for a POSIX shell when it needs it. */
function shellWord(w: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`
}

/**
 * The command that repeats one run of this campaign alone: the options the
 * user gave that shape a run (mount, shape, strategy, mutant), then `--seed
 * S --runs 1`. A run is a function of its seed and these (campaign.ts).
 */
function repeatCommand(cmd: Command): (seed: number) => string {
  const words: string[] = []
  const done = new Set<string>()
  for (const opt of cmd.options) {
    const key = opt.attributeName()
    if (done.has(key) || NOT_OF_A_RUN.has(key) || cmd.getOptionValueSource(key) !== "cli") continue
    done.add(key)
    const value: unknown = cmd.getOptionValue(key)
    const flag = (opt.long ?? "").replace(/^--no-/, "--")
    if (typeof value === "boolean") words.push(value ? flag : flag.replace(/^--/, "--no-"))
    else words.push(flag, shellWord(String(value)))
  }
  const fixed = words.join(" ")
  return (seed) => `fsim check ${fixed}${fixed === "" ? "" : " "}--seed ${seed} --runs 1`
}

function campaignJson(
  flags: CheckFlags,
  spec: CampaignSpec,
  raw: Tally,
  saved: Saved[],
  signal: NodeJS.Signals | null,
  elapsedMs: number,
  declared: DeclaredOrder,
  findings: FindingsClassifier | undefined,
  repeat: (seed: number) => string,
) {
  const t = sortedTally(raw)
  const cycles: LockCycle[] = lockCycles(t.lockEdges)
  /** A cycle's edges that go against the declared order ("A -> B": B is declared before A). */
  const against = (c: LockCycle): string[] =>
    c.classes.flatMap((a, i) => {
      const b = c.classes[(i + 1) % c.classes.length]!
      return declared.before(b, a) ? [`${a} -> ${b}`] : []
    })
  const rpcsReported = Object.keys(t.rpcs).length > 0
  const cacheReported = Object.keys(t.cache).length > 0
  return {
    format: "fsim.campaign/1",
    /** A swarm campaign: each run's configuration drawn from its seed (`mount` and `shape` are then the first run's); null: one fixed configuration. */
    swarm: spec.swarm === undefined ? null : { pins: spec.swarm },
    mount: spec.shape.mount,
    mutant: flags.mutant ?? null,
    shape: {
      threads: spec.shape.threads,
      ops: spec.shape.ops,
      names: spec.shape.names ?? 3,
      external: spec.shape.external ?? 0,
      faults: spec.shape.faults ?? 0,
      links: spec.shape.links ?? true,
      fds: spec.shape.privateFds === true ? "private" : "shared",
    },
    strategy: campaignStrategyLabel(spec.strategy),
    seed: spec.seed,
    runs: t.runs,
    interrupted: signal !== null,
    /** The signal that stopped the campaign (SIGINT, SIGTERM), or null. */
    signal,
    steps: t.steps,
    events: t.events,
    verdicts: t.verdicts,
    /** Inconclusive runs (unknown, budget_exhausted) by the reason each gave. */
    unknown_by_reason: t.unknownReasons,
    violations_by_check: t.violationsByCheck,
    strategies: Object.fromEntries(
      Object.entries(t.strategies).map(([k, s]) => [k, { runs: s.runs, failing: s.failures, steps: s.steps, steps_per_run: Number((s.steps / Math.max(1, s.runs)).toFixed(1)), first_failing_seed: s.firstFailingSeed }]),
    ),
    /** By mount (kind and cache mode): runs, failing runs, RPCs sent, cache hits and misses. */
    by_mount: Object.fromEntries(Object.entries(t.byMount).map(([k, m]) => [k, { runs: m.runs, failing: m.failing, rpcs: m.rpcs, rpcs_per_run: Number((m.rpcs / Math.max(1, m.runs)).toFixed(1)), cache_hits: m.hits, cache_misses: m.misses, hit_rate: m.hits + m.misses === 0 ? null : Number((m.hits / (m.hits + m.misses)).toFixed(4)) }])),
    /** null: the filesystem reported no RPCs (the model mount has none). */
    rpcs: rpcsReported ? { by_message: t.rpcs, errors: t.rpcErrors } : null,
    /** null: the filesystem reported no cache hits or misses. */
    cache_hit_rates: hitRates(t.cache),
    coverage: {
      lock_pairs: Object.entries(t.lockEdges).map(([k, seed]) => [...k.split("\u0000"), seed] as [string, string, number]),
      lock_cycles: cycles.map((c) => ({ classes: c.classes, seeds: c.seeds, against_declared_order: against(c), finding: findings?.cycle?.(c.classes) ?? null })),
      cache_transitions: cacheReported ? t.cache : null,
      /** Coverage marks reached: runs that logged each, and the lowest such seed. */
      marks: Object.fromEntries(Object.entries(t.marks).map(([m, f]) => [m, { runs: f.runs, first_seed: f.firstSeed }])),
      /** The marks of the mount's filesystems (their registries) that no run reached, sorted. */
      marks_missed: Object.keys(campaignMarks(spec))
        .filter((m) => t.marks[m] === undefined)
        .sort(),
    },
    failures: {
      count: t.verdicts.fail + t.verdicts.budget_exhausted + t.verdicts.unknown,
      kept: t.failures.length,
      first: t.failures
        .slice(0, 20)
        .map((f) => ({ seed: f.seed, strategy: f.recorded, verdict: f.verdict, checks: f.checks, message: f.message, findings: f.findings, explained: f.explained, digest: f.digest, config: f.config, repeat: repeat(f.seed) })),
    },
    /**
     * Failing runs that are instances of documented findings: gVisor's own
     * bugs, which a faithful port reproduces (each port's FINDINGS.md).
     * `unexplained`: failing runs with any violation no finding accounts for.
     */
    findings: {
      documented: Object.fromEntries(Object.entries(t.findings).map(([id, f]) => [id, { runs: f.runs, first_seed: f.firstSeed }])),
      explained_runs: t.explained,
      unexplained_runs: t.verdicts.fail - t.explained,
      /** Every failing run kept (the lowest FAILURES_KEPT) with a violation no finding explains: its new checks, their first message, the command that repeats it. */
      unexplained: t.failures
        .filter((f) => f.verdict === "fail" && !f.explained)
        .map((f) => ({ seed: f.seed, strategy: f.recorded, checks: f.newChecks, message: f.newMessage ?? f.message, findings: f.findings, config: f.config, repeat: repeat(f.seed) })),
    },
    violation_set_sha256: violationSet(t),
    saved: saved.map((s) => ({ check: s.check, seed: s.seed, trace_seed: s.traceSeed, trace: s.trace, shrunk: s.shrunk, findings: s.findings, explained: s.explained, repeat: repeat(s.seed) })),
    timing: { elapsed_ms: elapsedMs, runs_per_s: Number(((t.runs / Math.max(elapsedMs, 1)) * 1000).toFixed(1)), workers: flags.workers },
  }
}

function table(head: string[]): Table.Table {
  return new Table({ head, style: { head: [], border: [] } })
}

function knownLabel(f: { readonly findings: readonly string[]; readonly explained: boolean }): string {
  if (f.findings.length === 0) return ""
  return ` (${f.explained ? "known" : "also shows known"} gVisor finding${f.findings.length === 1 ? "" : "s"}: ${f.findings.join(", ")})`
}

function describeCampaign(j: CampaignJson): string {
  const lines: string[] = []
  const lowest = j.mount.kind === "overlay" ? j.mount.lower[j.mount.lower.length - 1] : undefined
  const layers = lowest === undefined ? "" : ` over generated layers, the lowest ${lowest.kind}${lowest.kind === "gofer" && lowest.options !== undefined ? ` (${lowest.options})` : ""}`
  const fixedMount = `${j.mount.kind}${j.mount.options !== undefined ? ` (${j.mount.options})` : ""}${layers}`
  const mount = j.swarm === null ? fixedMount : `swarm over ${Object.keys(j.by_mount).length > 0 ? [...new Set(Object.keys(j.by_mount).map((k) => k.split("-")[0]))].join(", ") : "none"}${j.mutant !== null ? ` · mutant ${j.mutant}` : ""} (each run's configuration drawn from its seed: fsim check --explain-config SEED)`
  const seeds = j.runs > 0 && !j.interrupted ? ` · seeds ${j.seed}..${j.seed + j.runs - 1}` : ""
  lines.push(
    `campaign · mount ${mount} · ${j.strategy}${seeds} · ${j.timing.workers} worker${j.timing.workers === 1 ? "" : "s"} · ${formatSecs(j.timing.elapsed_ms / 1000)}, ${j.timing.runs_per_s.toFixed(0)} runs/s${j.interrupted ? ` · INTERRUPTED (${j.signal === "SIGINT" ? "Ctrl-C" : j.signal}): the summary of the runs completed (ranges in flight were dropped)` : ""}`,
  )
  const v = table(["runs", "steps", "pass", "fail", "budget", "unknown"])
  v.push([j.runs, j.steps, j.verdicts.pass, j.verdicts.fail, j.verdicts.budget_exhausted, j.verdicts.unknown])
  lines.push(v.toString())
  const reasons = Object.entries(j.unknown_by_reason)
  if (reasons.length > 0) lines.push(`inconclusive runs by reason: ${reasons.map(([r, n]) => `${r} ${n}`).join(", ")}`)
  if (j.failures.count > 0) {
    lines.push(`failing or inconclusive runs: ${j.failures.count}${j.failures.count > j.failures.first.length ? `, the first ${j.failures.first.length}:` : ":"}`)
    for (const f of j.failures.first.slice(0, 10)) {
      lines.push(`  seed ${f.seed} (${f.strategy}): ${f.verdict}${f.checks.length > 0 ? ` [${f.checks.join(", ")}]` : ""}${knownLabel(f)}: ${f.message}`)
      if (f.config !== "") lines.push(`    config: ${f.config}`)
      lines.push(`    ${f.repeat}`)
    }
  }
  const unexplained = j.findings.unexplained
  if (j.findings.documented !== undefined && Object.keys(j.findings.documented).length > 0 && unexplained.length > 0) {
    // Runs no documented finding explains are what a user came for: each by name, with the command that repeats it.
    const shown = unexplained.slice(0, UNEXPLAINED_SHOWN)
    lines.push(`UNEXPLAINED failing runs (no documented finding accounts for them): ${unexplained.length}${unexplained.length > shown.length ? `, the first ${shown.length} (all in --json)` : ""}`)
    for (const u of shown) {
      lines.push(`  seed ${u.seed} (${u.strategy}) [${u.checks.join(", ")}]: ${u.message}`)
      if (u.config !== "") lines.push(`    config: ${u.config}`)
      lines.push(`    ${u.repeat}`)
    }
  }
  const documented = Object.entries(j.findings.documented)
  if (documented.length > 0) {
    lines.push(
      `documented gVisor findings (FINDINGS.md of the port): ${documented.map(([id, f]) => `${id} in ${f.runs} run${f.runs === 1 ? "" : "s"} (first seed ${f.first_seed})`).join(", ")}; ` +
        `failing runs they explain wholly: ${j.findings.explained_runs}, not: ${j.findings.unexplained_runs}`,
    )
  }
  for (const s of j.saved) {
    const how = s.shrunk === null ? (j.interrupted ? " (not shrunk: interrupted; fsim shrink it)" : " (as found)") : ` (shrunk${s.shrunk.cut ? ", cut short" : ""}: ${describeSize(s.shrunk.after)})`
    const where = s.trace_seed === s.seed ? `seed ${s.seed}` : `seed ${s.seed} (the shrunk run is seed ${s.trace_seed})`
    lines.push(`${s.check} at ${where}${knownLabel(s)}: ${s.trace}${how}`)
    lines.push(`  fsim replay ${s.trace}    fsim show ${s.trace}`)
  }
  const mounts = Object.entries(j.by_mount)
  if (mounts.length > 1 || j.swarm !== null) {
    const mt = table(["mount", "runs", "failing", "RPCs/run", "cache hit rate"])
    for (const [k, m] of mounts) mt.push([k, m.runs, m.failing, m.rpcs_per_run, m.hit_rate === null ? "-" : `${(100 * m.hit_rate).toFixed(1)}% of ${m.cache_hits + m.cache_misses}`])
    lines.push(mt.toString())
  }
  const st = table(["strategy", "runs", "failing", "fail rate", "steps/run", "first failing seed"])
  for (const [name, s] of Object.entries(j.strategies)) st.push([name, s.runs, s.failing, `${((100 * s.failing) / Math.max(1, s.runs)).toFixed(2)}%`, s.steps_per_run, s.first_failing_seed ?? "-"])
  lines.push(st.toString())
  const checks = Object.entries(j.violations_by_check)
  lines.push(checks.length === 0 ? "violations by check: none" : `violations by check: ${checks.map(([c, n]) => `${c} ${n}`).join(", ")}`)
  if (j.rpcs === null) lines.push("RPCs by message type: not reported (this filesystem sends none)")
  else {
    lines.push(`RPCs by message type: ${Object.entries(j.rpcs.by_message).map(([m, n]) => `${m} ${n}`).join(", ")}`)
    const errs = Object.entries(j.rpcs.errors)
    if (errs.length > 0) lines.push(`  error replies: ${errs.map(([m, n]) => `${m} ${n}`).join(", ")}`)
  }
  if (j.cache_hit_rates === null) lines.push("cache hit rates: not reported (this filesystem logs no cache hits or misses)")
  else lines.push(`cache hit rates: ${Object.entries(j.cache_hit_rates).map(([c, r]) => `${c} ${(100 * r.hit_rate).toFixed(1)}% (${r.hits} of ${r.hits + r.misses})`).join(", ")}`)
  lines.push("coverage:")
  const pairs = j.coverage.lock_pairs
  lines.push(pairs.length === 0 ? "  lock-class pairs held together: none (no run held two locks at once)" : `  lock-class pairs held together: ${pairs.length} (each with its first seed in --json)`)
  for (const c of j.coverage.lock_cycles) {
    const reported = c.against_declared_order.length > 0 ? `; against the declared order, so reported in its run: ${c.against_declared_order.join(", ")}` : ""
    const known = c.finding !== null ? `; known gVisor finding: ${c.finding}` : ""
    lines.push(`  LOCK-CLASS CYCLE across runs: ${[...c.classes, c.classes[0]].join(" -> ")} (edges first seen at seeds ${c.seeds.join(", ")}${reported}${known})`)
  }
  const ct = j.coverage.cache_transitions
  lines.push(ct === null ? "  cache transitions: not reported (this filesystem logs no cache events)" : `  cache transitions: ${Object.entries(ct).map(([k, n]) => `${k} ${n}`).join(", ")}`)
  const reached = Object.entries(j.coverage.marks)
  const missed = j.coverage.marks_missed
  if (reached.length === 0 && missed.length === 0) lines.push("  coverage marks: not reported (this filesystem logs none)")
  else {
    lines.push(`  coverage marks reached: ${reached.length} of ${reached.length + missed.length}`)
    // Runs that reached each (its first seed in --json): the rarest first, the paths a longer campaign would see more of.
    if (reached.length > 0) lines.push(`    ${[...reached].sort(([a, x], [b, y]) => x.runs - y.runs || (a < b ? -1 : 1)).map(([name, f]) => `${name} ${f.runs}`).join(", ")}`)
    if (missed.length > 0) lines.push(`  coverage marks never reached (${missed.length}): ${missed.join(", ")}`)
  }

  return lines.join("\n") + "\n"
}
