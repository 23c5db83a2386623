// Paths as gVisor's pkg/fspath parses them: absolute or relative, a stream
// of non-empty components (repeated slashes collapse), and whether the path
// ends in a slash (so the final file must be a directory).

export class PathIterator {
  constructor(
    private readonly parts: readonly string[],
    private readonly i: number,
  ) {}

  Ok(): boolean {
    return this.i < this.parts.length
  }

  String(): string {
    return this.parts[this.i] ?? ""
  }

  Next(): PathIterator {
    return new PathIterator(this.parts, this.i + 1)
  }

  NextOk(): boolean {
    return this.i + 1 < this.parts.length
  }
}

export interface FsPath {
  readonly Absolute: boolean
  readonly Begin: PathIterator
  /** The path ends in "/" (or is "/", ".", ".."-free with a trailing slash). */
  readonly Dir: boolean
}

export function Parse(path: string): FsPath {
  if (path === "") return { Absolute: false, Begin: new PathIterator([], 0), Dir: false }
  const parts = path.split("/").filter((p) => p !== "")
  return {
    Absolute: path.startsWith("/"),
    Begin: new PathIterator(parts, 0),
    Dir: path.endsWith("/"),
  }
}

export function HasComponents(p: FsPath): boolean {
  return p.Begin.Ok()
}
