// Mount options of the gofer filesystem, parsed as gVisor's
// FilesystemType.GetFilesystem parses them (vfs.GenericParseMountOptions:
// comma-separated key=value or flag). An unknown or malformed option is a
// mount failure with EINVAL; fsim's message names the option.

import { GOFER_MUTANTS, isGoferMutant, type GoferMutant } from "./mutants.js"

export const InteropModeExclusive = 0
export const InteropModeWritethrough = 1
export const InteropModeShared = 2
export type InteropMode = typeof InteropModeExclusive | typeof InteropModeWritethrough | typeof InteropModeShared

export const INTEROP_NAMES = ["fscache", "fscache_writethrough", "remote_revalidating"] as const

export interface filesystemOptions {
  readonly fd: number
  readonly aname: string
  readonly interop: InteropMode
  readonly dfltuid: number
  readonly dfltgid: number
  readonly msize: number
  readonly version: string
  /** dentry_cache_limit: most dentries with no references kept. */
  readonly maxCachedDentries: number
  readonly forcePageCache: boolean
  readonly limitHostFDTranslation: boolean
  readonly overlayfsStaleRead: boolean
  /** cache=none: regular files use special file FDs (no client caching). */
  readonly regularFilesUseSpecialFileFD: boolean
  /** fsim's page budget for the client page cache (pages of 4 KiB); not a gVisor option. */
  readonly pageBudget: number
  /** fsim's deliberate bug (mutants.ts), or null; not a gVisor option. */
  readonly mutant: GoferMutant | null
}

/** The rfdno/wfdno fsim hands the simulated connection when the scenario gives none. */
export const SIMULATED_TRANSPORT_FD = 3

export class MountOptionError extends Error {
  readonly errno = "EINVAL" as const
}

/** vfs.GenericParseMountOptions: "a=b,c" -> {a: "b", c: ""}. Later duplicates win, as in Go's map. */
function parseMountOptions(data: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const opt of data.split(",")) {
    if (opt === "") continue
    const eq = opt.indexOf("=")
    if (eq < 0) m.set(opt, "")
    else m.set(opt.slice(0, eq), opt.slice(eq + 1))
  }
  return m
}

function parseUint(s: string, bits: 32 | 64): number | null {
  if (!/^\d+$/.test(s)) return null
  const n = Number(s)
  if (!Number.isSafeInteger(n) || (bits === 32 && n > 0xffff_ffff)) return null
  return n
}

/**
 * GetFilesystem's option parsing. The transport options may be omitted
 * (fsim supplies the simulated connection); given, they are checked as
 * gVisor checks them. Throws MountOptionError naming the bad option.
 */
export function parseGoferOptions(data: string): filesystemOptions {
  const mopts = parseMountOptions(data)
  const fail = (msg: string): never => {
    throw new MountOptionError(`mount: EINVAL: ${msg}`)
  }

  // getFDFromMountOptionsMap: trans=fd with equal rfdno and wfdno.
  let fd = SIMULATED_TRANSPORT_FD
  if (mopts.has("trans") || mopts.has("rfdno") || mopts.has("wfdno")) {
    const trans = mopts.get("trans")
    if (trans !== "fd") fail(`transport must be specified as 'trans=fd' (got ${trans === undefined ? "no trans" : `trans=${trans}`})`)
    mopts.delete("trans")
    const rfdstr = mopts.get("rfdno")
    if (rfdstr === undefined) fail("read FD must be specified as 'rfdno=<file descriptor>'")
    mopts.delete("rfdno")
    const rfd = parseUint(rfdstr!, 32)
    if (rfd === null) fail(`invalid read FD: rfdno=${rfdstr}`)
    const wfdstr = mopts.get("wfdno")
    if (wfdstr === undefined) fail("write FD must be specified as 'wfdno=<file descriptor>'")
    mopts.delete("wfdno")
    const wfd = parseUint(wfdstr!, 32)
    if (wfd === null) fail(`invalid write FD: wfdno=${wfdstr}`)
    if (rfd !== wfd) fail(`read FD (${rfd}) and write FD (${wfd}) must be equal`)
    fd = rfd!
  }

  let aname = "/"
  if (mopts.has("aname")) {
    aname = mopts.get("aname")!
    mopts.delete("aname")
  }

  // For historical reasons the default is the least generally applicable
  // policy, InteropModeExclusive.
  let interop: InteropMode = InteropModeExclusive
  let regularFilesUseSpecialFileFD = false
  if (mopts.has("cache")) {
    const cache = mopts.get("cache")!
    mopts.delete("cache")
    switch (cache) {
      case "fscache":
        interop = InteropModeExclusive
        break
      case "fscache_writethrough":
        interop = InteropModeWritethrough
        break
      case "none":
        regularFilesUseSpecialFileFD = true
        interop = InteropModeShared
        break
      case "remote_revalidating":
        interop = InteropModeShared
        break
      default:
        fail(`invalid cache policy: cache=${cache}`)
    }
  }

  const uintOption = (key: string, dflt: number, bits: 32 | 64, what: string): number => {
    if (!mopts.has(key)) return dflt
    const s = mopts.get(key)!
    mopts.delete(key)
    const n = parseUint(s, bits)
    if (n === null) fail(`invalid ${what}: ${key}=${s}`)
    return n!
  }
  const dfltuid = uintOption("dfltuid", 4294967294, 32, "default UID")
  const dfltgid = uintOption("dfltgid", 4294967294, 32, "default GID")
  const msize = uintOption("msize", 1024 * 1024, 32, "message size")
  let version = "9P2000.L.Google.12"
  if (mopts.has("version")) {
    version = mopts.get("version")!
    mopts.delete("version")
  }
  const maxCachedDentries = uintOption("dentry_cache_limit", 1000, 64, "dentry cache limit")
  const pageBudget = uintOption("page_budget", 1 << 20, 64, "page budget")

  let mutant: GoferMutant | null = null
  if (mopts.has("mutant")) {
    const name = mopts.get("mutant")!
    mopts.delete("mutant")
    if (!isGoferMutant(name)) fail(`unknown mutant: mutant=${name} (known: ${Object.keys(GOFER_MUTANTS).join(", ")})`)
    mutant = name as GoferMutant
  }

  const flag = (key: string): boolean => {
    if (!mopts.has(key)) return false
    mopts.delete(key)
    return true
  }
  const forcePageCache = flag("force_page_cache")
  const limitHostFDTranslation = flag("limit_host_fd_translation")
  const overlayfsStaleRead = flag("overlayfs_stale_read")

  if (mopts.size !== 0) {
    const names = [...mopts.entries()].map(([k, v]) => (v === "" ? k : `${k}=${v}`))
    fail(`unknown option${names.length > 1 ? "s" : ""}: ${names.join(", ")}`)
  }
  return {
    fd,
    aname,
    interop,
    dfltuid,
    dfltgid,
    msize,
    version,
    maxCachedDentries,
    forcePageCache,
    limitHostFDTranslation,
    overlayfsStaleRead,
    regularFilesUseSpecialFileFD,
    pageBudget,
    mutant,
  }
}

/** The lincheck dialect that judges a gofer mount mounted with `opts` (src/model/gvisor.ts). */
export function goferDialect(opts: filesystemOptions): "gvisor-gofer" | "gvisor-gofer-shared" | "gvisor-gofer-none" {
  return opts.regularFilesUseSpecialFileFD ? "gvisor-gofer-none" : opts.interop === InteropModeShared ? "gvisor-gofer-shared" : "gvisor-gofer"
}
