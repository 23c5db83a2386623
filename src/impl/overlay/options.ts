// Mount options of the overlay, parsed as gVisor's
// FilesystemType.GetFilesystem parses them (vfs.GenericParseMountOptions).
// fsim hands the layers over as gVisor's callers do, in
// GetFilesystemOptions.InternalData (FilesystemOptions: UpperRoot,
// LowerRoots), so GetFilesystem's "upperdir=" and "lowerdir=" branch is not
// taken and every option left over is an error: "unused options", EINVAL.
// fsim's message names the option. The one fsim-only option is the
// test-only `mutant=NAME`.

import { isOverlayMutant, OVERLAY_MUTANTS, type OverlayMutant } from "./mutants.js"

export class MountOptionError extends Error {
  readonly errno = "EINVAL" as const
}

export interface OverlayOptions {
  /** fsim's deliberate bug (mutants.ts), or null; not a gVisor option. */
  readonly mutant: OverlayMutant | null
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

/** Throws MountOptionError naming the first option GetFilesystem would leave unused. */
export function parseOverlayOptions(data: string): OverlayOptions {
  const mopts = parseMountOptions(data)
  let mutant: OverlayMutant | null = null
  const m = mopts.get("mutant")
  if (m !== undefined) {
    if (!isOverlayMutant(m)) {
      throw new MountOptionError(`mount: EINVAL: unknown mutant ${JSON.stringify(m)} (known: ${Object.keys(OVERLAY_MUTANTS).join(", ")})`)
    }
    mutant = m
    mopts.delete("mutant")
  }
  for (const [k, v] of mopts) {
    const shown = v === "" ? k : `${k}=${v}`
    const why =
      k === "upperdir" || k === "lowerdir" || k === "workdir"
        ? " (fsim gives the layers in the scenario's mount.upper and mount.lower, as GetFilesystemOptions.InternalData)"
        : ""
    throw new MountOptionError(`mount: EINVAL: overlay.FilesystemType.GetFilesystem: unused options: ${shown}${why}`)
  }
  return { mutant }
}
