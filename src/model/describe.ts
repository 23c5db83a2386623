// Ops in plain words, for people reading reports and traces.

import type { Op, TimeSpec } from "./types.js"

const q = (s: string): string => (/^[\x21-\x7e]*$/.test(s) && s !== "" ? s : JSON.stringify(s))

function bytes(n: number): string {
  return n === 1 ? "1 byte" : `${n} bytes`
}

function time(t: TimeSpec | undefined): string {
  return t === undefined ? "unchanged" : t === "UTIME_NOW" ? "now" : `${t}ns`
}

export function describe(op: Op): string {
  switch (op.op) {
    case "open":
      return `open ${q(op.path)} as ${q(op.fd)} (${op.flags.length === 0 ? "O_RDONLY" : op.flags.join("|")}${op.mode !== undefined ? `, mode 0${op.mode.toString(8)}` : ""})`
    case "close":
      return `close of ${q(op.fd)}`
    case "read":
      return `read of ${bytes(op.count)} from ${q(op.fd)}`
    case "write":
      return `write of ${bytes(op.data.length)} to ${q(op.fd)}`
    case "pread":
      return `pread of ${bytes(op.count)} at offset ${op.offset} from ${q(op.fd)}`
    case "pwrite":
      return `pwrite of ${bytes(op.data.length)} at offset ${op.offset} to ${q(op.fd)}`
    case "lseek":
      return `lseek of ${q(op.fd)} to ${op.offset} (${op.whence})`
    case "ftruncate":
      return `ftruncate of ${q(op.fd)} to ${bytes(op.length)}`
    case "fsync":
    case "fdatasync":
    case "fstat":
    case "getdents":
      return `${op.op} of ${q(op.fd)}`
    case "stat":
    case "lstat":
    case "rmdir":
    case "unlink":
    case "readlink":
    case "listxattr":
    case "statfs":
      return `${op.op} of ${q(op.path)}`
    case "access":
      return `access of ${q(op.path)} (${op.mode === "F_OK" ? "F_OK" : op.mode.length === 0 ? "no bits" : op.mode.join("|")})`
    case "truncate":
      return `truncate of ${q(op.path)} to ${bytes(op.length)}`
    case "mkdir":
      return `mkdir ${q(op.path)}${op.mode !== undefined ? ` (mode 0${op.mode.toString(8)})` : ""}`
    case "rename":
      return `rename ${q(op.from)} -> ${q(op.to)}${op.flags !== undefined && op.flags.length > 0 ? ` (${op.flags.join("|")})` : ""}`
    case "link":
      return `link ${q(op.from)} -> ${q(op.to)}`
    case "symlink":
      return `symlink ${q(op.path)} -> ${q(op.target)}`
    case "mknod":
      return `mknod ${op.type} ${q(op.path)}${op.mode !== undefined ? ` (mode 0${op.mode.toString(8)})` : ""}`
    case "chmod":
      return `chmod of ${q(op.path)} to 0${op.mode.toString(8)}`
    case "chown":
      return `chown of ${q(op.path)} to uid ${op.uid ?? "unchanged"}, gid ${op.gid ?? "unchanged"}`
    case "utimens":
      return `utimens of ${q(op.path)} (atime ${time(op.atime)}, mtime ${time(op.mtime)})`
    case "getxattr":
    case "removexattr":
      return `${op.op} ${q(op.name)} of ${q(op.path)}`
    case "setxattr":
      return `setxattr ${q(op.name)} of ${q(op.path)} to ${bytes(op.value.length)}${op.flags !== undefined && op.flags.length > 0 ? ` (${op.flags.join("|")})` : ""}`
    case "sync":
      return "sync"
    case "sleep":
      return `sleep of ${op.ns}ns`
  }
}
