// The dialect of fsim's tmpfs port (src/impl/tmpfs): gVisor's VFS and
// syscall layers (pkg/sentry/vfs, pkg/sentry/syscalls/linux/vfs2) in front
// of a filesystem that follows Linux. The port runs the model's own rules
// once a path's last component is found, so every departure here is a
// decision gVisor makes before tmpfs is called: which argument it checks
// first, what it refuses on its own. DIALECTS.md lists the rules with their
// sources. Each rule transcribes gVisor's order on the model's state, and
// applies only where that order gives another result than Linux's.

import type { Dialect, DialectToken, Ruling } from "./dialect.js"
import { Ctx, cleanPath, isErrno, lookupChild, MAXSYMLINKS, NAME_MAX, pathError, resolve } from "./path.js"
import { MAY_EXEC, mayAccess } from "./perm.js"
import { Tx, type ModelStateShape } from "./state.js"
import type { Cred, Errno, Op, OpOf, OpResult } from "./types.js"

/** A path with no components ("/"): vfs's `!pop.Path.Begin.Ok()`. */
const NO_COMPONENTS = "no-components" as const

function rule(name: string, results: readonly DialectToken[]): Ruling {
  return { rule: name, results }
}

function onlySlashes(p: string): boolean {
  return p.length > 0 && p.split("/").every((x) => x === "")
}

/**
 * walkParentDirLocked from the root (the working directory): every
 * component but the last, each directory searchable, symlinks followed;
 * the final parent's search permission is not checked (the filesystem's
 * step checks it, as Linux does).
 */
function walkParent(c: Ctx, path: string): { readonly dir: number; readonly name: string } | typeof NO_COMPONENTS | Errno {
  const p = cleanPath(path)
  const queue = p.split("/").filter((x) => x !== "")
  if (queue.length === 0) return NO_COMPONENTS
  let d = c.root
  let links = 0
  while (queue.length > 1) {
    const name = queue.shift()!
    const dir = c.inode(d)
    if (dir.type !== "dir") return "ENOTDIR"
    if (!mayAccess(dir, c.cred, MAY_EXEC)) return "EACCES"
    if (name === ".") continue
    if (name === "..") {
      d = d === c.root ? d : dir.parent
      continue
    }
    if (name.length > NAME_MAX) return "ENAMETOOLONG"
    const child = lookupChild(c, d, name)
    if (isErrno(child)) return child
    const node = c.inode(child)
    if (node.type === "symlink") {
      if (++links > MAXSYMLINKS) return "ELOOP"
      if (node.target.startsWith("/")) d = c.root
      queue.unshift(...node.target.split("/").filter((x) => x !== ""))
      continue
    }
    d = child
  }
  if (c.inode(d).type !== "dir") return "ENOTDIR"
  return { dir: d, name: queue[0]! }
}

/** renameat2: both paths copied, vfs.RenameAt's old parent and its checks, tmpfs's flags check, the new parent; then the model. */
function rename(c: Ctx, op: OpOf<"rename">): Ruling | null {
  const name = "vfs.rename.order"
  const copied = pathError(cleanPath(op.from)) ?? pathError(cleanPath(op.to))
  if (copied !== undefined) return rule(name, [copied])
  if (onlySlashes(cleanPath(op.from))) return rule(name, ["EBUSY"])
  const from = walkParent(c, op.from)
  if (isErrno(from)) return rule(name, [from])
  if (from === NO_COMPONENTS || from.name === "." || from.name === "..") return rule(name, ["EBUSY"])
  if (onlySlashes(cleanPath(op.to))) return rule(name, ["EBUSY"])
  const flags = op.flags ?? []
  if (flags.includes("RENAME_NOREPLACE") && flags.includes("RENAME_EXCHANGE")) return rule(name, ["EINVAL"])
  const to = walkParent(c, op.to)
  if (isErrno(to)) return rule(name, [to])
  return null
}

/** linkat copies both paths before resolving either. */
function link(op: OpOf<"link">): Ruling | null {
  const copied = pathError(cleanPath(op.from)) ?? pathError(cleanPath(op.to))
  return copied === undefined ? null : rule("vfs.link.copy-paths-first", [copied])
}

function open(c: Ctx, op: OpOf<"open">): Ruling | null {
  const fl = new Set(op.flags)
  if (fl.has("O_PATH")) {
    // vfs.OpenAt opens O_PATH with GetDentryAt of the path as given:
    // O_DIRECTORY is neither checked nor makes a final symlink followed.
    if (!fl.has("O_DIRECTORY")) return null
    return rule("vfs.open.opath-ignores-directory", [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_DIRECTORY") } }])
  }
  if (fl.has("O_CREAT") && fl.has("O_DIRECTORY")) {
    // openat copies the path (ENOENT, ENAMETOOLONG) before the filesystem
    // refuses O_CREAT|O_DIRECTORY (Linux: EINVAL first, build_open_flags).
    const copied = pathError(cleanPath(op.path))
    return copied === undefined ? null : rule("vfs.open.path-copied-first", [copied])
  }
  if (fl.has("O_NOFOLLOW") && fl.has("O_DIRECTORY")) {
    // O_DIRECTORY sets rp.MustBeDir(), and ShouldFollowSymlink() follows a
    // final symlink whenever it is set (Linux: ENOTDIR or ELOOP).
    const ino = resolve(c, op.path, false)
    if (isErrno(ino) || c.inode(ino).type !== "symlink") return null
    return rule("vfs.open.nofollow-directory-follows", [{ as: { ...op, flags: op.flags.filter((f) => f !== "O_NOFOLLOW") } }])
  }
  return null
}

/** Pread64/Pwrite64 look the descriptor up before checking a negative offset. */
function positional(c: Ctx, op: OpOf<"pread"> | OpOf<"pwrite">): Ruling | null {
  if (op.offset >= 0 || c.tx.fd(op.fd) !== undefined) return null
  return rule("vfs.positional.ebadf-first", ["EBADF"])
}

/** vfs.UnlinkAt: a path with no components is EBUSY (Linux: unlink("/") is EISDIR). */
function unlink(op: OpOf<"unlink">): Ruling | null {
  const p = cleanPath(op.path)
  if (pathError(p) !== undefined || !onlySlashes(p)) return null
  return rule("vfs.unlink.root-ebusy", ["EBUSY"])
}

/**
 * chown(-1, -1) reaches the filesystem as a setattr with an empty mask,
 * which tmpfs's setStat returns from at once (Linux still runs
 * notify_change: ctime, ATTR_KILL_SUID and its EPERM).
 */
function chown(c: Ctx, op: OpOf<"chown">): Ruling | null {
  if (op.uid !== undefined || op.gid !== undefined) return null
  const ino = resolve(c, op.path, true)
  if (isErrno(ino)) return null
  return rule("vfs.chown.no-ids-no-op", ["ok"])
}

/** The dialect of the tmpfs port. */
export function gvisorTmpfsDialect(): Dialect {
  return {
    name: "gvisor-tmpfs",
    // vfs.RenameAt and vfs.LinkAt resolve the old path in a filesystem call
    // of their own, and an absolute symlink restarts the walk in a new one:
    // tmpfs's walks are atomic with its steps only within one call.
    nonAtomicWalks: true,
    rule(before: ModelStateShape, op: Op, cred: Cred, _linux: OpResult): Ruling | null {
      // Reads only: the transaction is never committed.
      const c = new Ctx(new Tx(before), cred, 0)
      switch (op.op) {
        case "rename":
          return rename(c, op)
        case "link":
          return link(op)
        case "open":
          return open(c, op)
        case "pread":
        case "pwrite":
          return positional(c, op)
        case "unlink":
          return unlink(op)
        case "chown":
          return chown(c, op)
        default:
          return null
      }
    },
  }
}
