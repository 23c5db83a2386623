// Mount options as gVisor's GetFilesystem parses them: an unknown or
// malformed option fails the mount with EINVAL and a message naming it, and
// `fsim run` reports that in one line with exit status 2.

import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { MountOptionError, parseGoferOptions, InteropModeExclusive, InteropModeShared, InteropModeWritethrough } from "../../src/impl/gofer/options.js"
import { fsim, tempDir } from "../cli/helpers.js"

function mountError(options: string): string {
  try {
    parseGoferOptions(options)
  } catch (e) {
    if (e instanceof MountOptionError) {
      expect(e.errno).toBe("EINVAL")
      return e.message
    }
    throw e
  }
  throw new Error(`no error for ${options}`)
}

describe("gofer mount options", () => {
  it("parses the cache modes and limits", () => {
    expect(parseGoferOptions("").interop).toBe(InteropModeExclusive)
    expect(parseGoferOptions("cache=fscache_writethrough").interop).toBe(InteropModeWritethrough)
    const none = parseGoferOptions("cache=none")
    expect(none.interop).toBe(InteropModeShared)
    expect(none.regularFilesUseSpecialFileFD).toBe(true)
    const o = parseGoferOptions("cache=remote_revalidating,dentry_cache_limit=3,msize=8192,version=9P2000.L,dfltuid=5,dfltgid=6,page_budget=4")
    expect([o.interop, o.maxCachedDentries, o.msize, o.version, o.dfltuid, o.dfltgid, o.pageBudget]).toEqual([InteropModeShared, 3, 8192, "9P2000.L", 5, 6, 4])
    expect(parseGoferOptions("trans=fd,rfdno=7,wfdno=7").fd).toBe(7)
  })

  it("an unknown option is EINVAL, naming it", () => {
    expect(mountError("cache=fscache,frobnicate=1")).toBe("mount: EINVAL: unknown option: frobnicate=1")
    expect(mountError("nosuchflag")).toBe("mount: EINVAL: unknown option: nosuchflag")
  })

  it("a malformed option is EINVAL, naming it", () => {
    expect(mountError("cache=sometimes")).toBe("mount: EINVAL: invalid cache policy: cache=sometimes")
    expect(mountError("dentry_cache_limit=-1")).toBe("mount: EINVAL: invalid dentry cache limit: dentry_cache_limit=-1")
    expect(mountError("msize=big")).toBe("mount: EINVAL: invalid message size: msize=big")
    expect(mountError("trans=fd,rfdno=3,wfdno=4")).toBe("mount: EINVAL: read FD (3) and write FD (4) must be equal")
    expect(mountError("trans=tcp")).toMatch(/^mount: EINVAL: transport must be specified as 'trans=fd'/)
    expect(mountError("mutant=nosuch")).toMatch(/^mount: EINVAL: unknown mutant: mutant=nosuch \(known: /)
  })

  it("fsim run says so in one line and exits 2", () => {
    const dir = tempDir("gofer-opts")
    const file = join(dir, "s.json")
    writeFileSync(file, JSON.stringify({ format: "fsim.scenario/1", name: "bad", mount: { kind: "gofer", options: "cache=fscache,bogus" }, threads: [{ name: "t0", ops: [{ op: "stat", path: "/" }] }] }))
    const r = fsim(["run", file])
    expect(r.status).toBe(2)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain("unknown option: bogus")
    expect(r.stderr).toContain("EINVAL")
  })
})
