// FIFOs on tmpfs: an open with no peer waits (outside filesystem.mu) for
// the other end, and the run stays linearizable.

import { expect, test } from "vitest"
import { defaultEnv } from "../../src/cli/mounts.js"
import { runSubject } from "../../src/sim/run.js"
import type { Scenario } from "../../src/sim/scenario.js"

const ENV = defaultEnv()

test("a blocking FIFO open returns once the other end is opened; data goes through", () => {
  const s: Scenario = {
    format: "fsim.scenario/1",
    name: "tmpfs-fifo",
    mount: { kind: "tmpfs" },
    remote: { p: { type: "fifo", mode: 0o666 }, d: { type: "dir", children: {} } },
    threads: [
      { name: "r", ops: [{ op: "open", path: "/p", flags: ["O_RDONLY"], fd: "r.f" }, { op: "read", fd: "r.f", count: 10 }, { op: "close", fd: "r.f" }] },
      {
        name: "w",
        ops: [
          { op: "sleep", ns: 1_000_000 },
          { op: "mkdir", path: "/d/e" },
          { op: "open", path: "/p", flags: ["O_WRONLY"], fd: "w.f" },
          { op: "write", fd: "w.f", data: "hi" },
          { op: "close", fd: "w.f" },
        ],
      },
    ],
  }
  for (let seed = 1; seed <= 30; seed++) {
    const r = runSubject(s, { seed, strategy: { kind: "random" }, mounts: ENV.mounts, lockOrders: ENV.lockOrders })
    expect(r.violations, `seed ${seed}`).toEqual([])
    expect(r.verdict).toBe("pass")
    const open = r.ops.find((o) => o.thread === "r" && o.index === 0)!
    const wopen = r.ops.find((o) => o.thread === "w" && o.index === 2)!
    // The reader's open returned only after the writer's open began.
    expect(open.return!).toBeGreaterThan(wopen.invoke)
    const read = r.ops.find((o) => o.thread === "r" && o.index === 1)!
    // Before the write: EAGAIN (the model's answer for a blocking read with a writer, DIVERGENCES.md) or, after its close, end of file.
    expect(["hi", "", "EAGAIN"]).toContain("data" in read.result! ? read.result.data : "errno" in read.result! ? read.result.errno : null)
  }
})
