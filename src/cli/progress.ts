// A campaign's progress on stderr: a bar on a terminal (cli-progress: it
// redraws in place, hides the cursor and throttles redraws), plain lines
// otherwise (a line once the first runs are done, when a run fails, at each
// tenth of the way, and at least every 10 s).
// Wall-clock time is read here, in the CLI, never inside a run.

import cliProgress from "cli-progress"

export interface ProgressState {
  readonly runs: number
  readonly failing: number
  readonly violations: number
}

export interface ProgressOptions {
  /** Runs planned (Infinity under a time budget alone). */
  readonly runs: number
  /** The time budget in ms, or Infinity. */
  readonly timeMs: number
  /** Writes on a terminal as a bar; default: whether stderr is one. */
  readonly tty?: boolean
  readonly stream?: NodeJS.WritableStream
}

const PLAIN_EVERY_MS = 10_000

export class Progress {
  private readonly start = Date.now()
  private readonly bar: cliProgress.SingleBar | null = null
  private readonly stream: NodeJS.WritableStream
  private lastTenth = 0
  private lastLine = this.start
  private shown = false
  private state: ProgressState = { runs: 0, failing: 0, violations: 0 }

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr
    if (o.tty ?? process.stderr.isTTY === true) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          hideCursor: true,
          clearOnComplete: false,
          fps: 5,
          format: (options, params) => `${cliProgress.Format.BarFormat(params.progress, options)} ${this.line()}`,
        },
        cliProgress.Presets.shades_classic,
      )
      this.bar.start(1, 0)
    }
  }

  elapsedMs(): number {
    return Date.now() - this.start
  }

  /** How far along, from 0 to 1: by runs, or by time, whichever is further. */
  private fraction(): number {
    const byRuns = Number.isFinite(this.o.runs) ? this.state.runs / this.o.runs : 0
    const byTime = Number.isFinite(this.o.timeMs) ? this.elapsedMs() / this.o.timeMs : 0
    return Math.min(1, Math.max(byRuns, byTime))
  }

  update(s: ProgressState): void {
    const newFailure = s.failing > this.state.failing
    this.state = s
    const f = this.fraction()
    if (this.bar !== null) {
      this.bar.update(f)
      return
    }
    const tenth = Math.floor(f * 10)
    const now = Date.now()
    // The first runs done get a line at once (a campaign shows it is under
    // way), and so does a new failing run: a log shows when it was found.
    if (tenth > this.lastTenth || now - this.lastLine >= PLAIN_EVERY_MS || !this.shown || newFailure) {
      this.shown = true
      this.lastTenth = Math.max(this.lastTenth, tenth)
      this.lastLine = now
      this.stream.write(`${this.line()}\n`)
    }
  }

  /** A line of its own (the bar is moved out of the way on a terminal). */
  note(text: string): void {
    if (this.bar !== null) this.bar.stop()
    this.stream.write(`${text}\n`)
  }

  done(): void {
    if (this.bar !== null) {
      this.bar.update(this.fraction())
      this.bar.stop()
    } else if (this.lastTenth < 10 && this.state.runs > 0) {
      this.stream.write(`${this.line()}\n`)
    }
  }

  line(): string {
    const s = this.state
    const secs = this.elapsedMs() / 1000
    const rate = secs > 0 ? s.runs / secs : 0
    const f = this.fraction()
    const eta = f > 0 && f < 1 ? (secs / f) * (1 - f) : 0
    const total = Number.isFinite(this.o.runs) ? `/${this.o.runs}` : ""
    return `${s.runs}${total} runs | ${rate.toFixed(0)} runs/s | ${s.violations} violations in ${s.failing} runs | ${formatSecs(secs)} elapsed | ETA ${formatSecs(eta)}`
  }
}

export function formatSecs(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}
