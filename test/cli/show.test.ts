// `fsim show` as a user runs it: the terminal view, --at, --export perfetto,
// and the HTML page rendered by headless Chromium (Debian's `chromium`,
// driven by playwright-core), with a screenshot kept in test-artifacts/.

import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { chromium } from "playwright-core"
import { describe, expect, it } from "vitest"
import { loadTrace } from "../../src/sim/trace.js"
import { fsim, ROOT, tempDir } from "./helpers.js"

const TRACE = join(ROOT, "traces", "lincheck-model-mutant-rename-not-atomic-2692.jsonl")
const CHROMIUM = "/usr/bin/chromium"
const ARTIFACTS = join(ROOT, "test-artifacts")

describe("fsim show", () => {
  const trace = loadTrace(TRACE)

  it("prints one column per thread, the violation marked", () => {
    const r = fsim(["show", TRACE, "--width", "120"])
    expect(r.status).toBe(0)
    const lines = r.stdout.split("\n")
    expect(lines[0]).toMatch(/^generated · mount model-mutant-rename-not-atomic \(mutant=rename-not-atomic\) · seed \d+ · strategy shrunk\(random\) · verdict fail · \d+ events$/)
    expect(r.stdout).toMatch(/^VIOLATION \[lincheck\] not linearizable/m)
    const header = lines.find((l) => /^\s+t0\s+t1/.test(l))!
    expect(header).toBeDefined()
    // An op of t1 is printed in t1's column.
    const t1col = header.indexOf("t1")
    const rename = lines.find((l) => l.includes("▶ #0 rename a -> c"))!
    expect(rename.indexOf("▶")).toBe(t1col)
    // The events the violation names carry a star.
    for (const seq of trace.header.violations[0]!.events) expect(lines.some((l) => new RegExp(`^\\s*${seq}\\*`).test(l))).toBe(true)
    expect(r.stdout).toMatch(/✗ VIOLATION \[lincheck\]/)
  })

  it("--at N prints the model's tree at event N, and what differs from the model", () => {
    const before = fsim(["show", TRACE, "--at", "0"])
    expect(before.status).toBe(0)
    expect(before.stdout).toMatch(/^state at event 0 \(t0: thread starts\):\n\nthe model's tree \(0 ops applied, in the order they took effect\):\n {2}\/ dir 0755 0:0\n {2}└─ a fifo 0644 0:0\n/)
    const last = trace.events.length - 1
    const after = fsim(["show", TRACE, "--at", String(last)])
    expect(after.stdout).toMatch(/└─ c fifo 0644 0:0/)
    expect(after.stdout).toMatch(/results that differ from the model's where the op took effect:\n {2}t0#1 getxattr user.k of a: returned \{"errno":"ENODATA"\}, the model where it took effect: \{"errno":"ENOENT"\}/)
    const bad = fsim(["show", TRACE, "--at", String(last + 1)])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/^fsim: --at: the trace has events 0 to \d+\n$/)
  })

  it("--export perfetto writes Chrome trace-event JSON", () => {
    const out = join(tempDir("perfetto"), "t.json")
    const r = fsim(["show", TRACE, "--export", "perfetto", "-o", out])
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe(out)
    const j = JSON.parse(readFileSync(out, "utf8"))
    expect(Array.isArray(j.traceEvents)).toBe(true)
    expect(j.traceEvents.some((e: { ph: string; cat?: string }) => e.ph === "i" && e.cat === "violation")).toBe(true)
  })

  const haveChromium = existsSync(CHROMIUM)
  it.skipIf(!haveChromium && process.env["CI"] === undefined)("--html renders in headless Chromium: the timeline and the slider work", async () => {
    const out = join(tempDir("html"), "t.html")
    const r = fsim(["show", TRACE, "--html", "-o", out])
    expect(r.status).toBe(0)
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    })
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 800 } })
      const errors: string[] = []
      page.on("pageerror", (e) => errors.push(String(e)))
      await page.goto(`file://${out}`)
      // The timeline: a row per thread, a bar per op, the violation line.
      const ops = trace.events.filter((e) => e.kind === "op_invoke").length
      expect(await page.locator("#timeline rect.op").count()).toBe(ops)
      expect(await page.locator("#timeline text.thread").allTextContents()).toEqual(["t0", "t1", "fsim.final"])
      expect(await page.locator("#timeline line.violation").count()).toBe(1)
      // The slider: starts at the violation, moves the cursor, shows the event and the state there.
      const slider = page.locator("#slider")
      const last = trace.events.length - 1
      expect(await slider.getAttribute("max")).toBe(String(last))
      const at = async (n: number): Promise<{ x: string | null; current: string; state: string }> => {
        await slider.evaluate((el, v) => {
          // Runs in the page (no DOM types here: this project's lib is es2023).
          const input = el as unknown as { value: string; dispatchEvent(e: Event): boolean }
          input.value = String(v)
          input.dispatchEvent(new Event("input", { bubbles: true }))
        }, n)
        expect(await page.locator("#slider-value").textContent()).toBe(String(n))
        return { x: await page.locator("#cursor").getAttribute("x1"), current: (await page.locator("#current-event").textContent()) ?? "", state: (await page.locator("#state").textContent()) ?? "" }
      }
      const start = await at(0)
      expect(start.current).toMatch(/^\s+0 {2}t0: thread starts$/)
      expect(start.state).toMatch(/└─ a fifo 0644/)
      const end = await at(last)
      expect(Number(end.x)).toBeGreaterThan(Number(start.x))
      expect(end.current).toMatch(/end: verdict fail/)
      expect(end.state).toMatch(/└─ c fifo 0644/)
      await at(trace.header.violations[0]!.events[3]!)
      mkdirSync(ARTIFACTS, { recursive: true })
      await page.screenshot({ path: join(ARTIFACTS, "fsim-show-html.png"), fullPage: true })
      expect(existsSync(join(ARTIFACTS, "fsim-show-html.png"))).toBe(true)
      expect(errors).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
