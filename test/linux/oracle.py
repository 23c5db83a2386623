#!/usr/bin/env python3
"""The Linux side of the model's differential test.

One persistent process does every syscall of a run, so open descriptors live
where they are used. It speaks JSON lines on stdin/stdout:

  {"cmd": "init", "base": DIR}            mount a tmpfs at DIR (created)
  {"cmd": "begin", "id": N, "tree": T, "root": R, "read_only": B}
                                          build tree T in DIR/sN (its own
                                          tmpfs, remounted read-only, if B),
                                          then chroot into it
  {"cmd": "begin_overlay", "id": N, "upper": T|null, "lower": [T...], "root": R}
                                          build each layer in its own
                                          directory of a fresh tmpfs at DIR/sN
                                          (whiteouts, opaque directories),
                                          mount overlayfs over them (read-only
                                          without an upper layer), chroot into
                                          the merged directory; answers the
                                          layers as read back before the mount
  {"cmd": "op", "op": OP, "cred": C}      run one contract op as C
  {"cmd": "end"}                          close every fd, read the tree back,
                                          leave the chroot (after an overlay:
                                          unmount it and read every layer back)
  {"cmd": "quit"}                         unmount and exit

Each answer is one JSON object. Scenario paths are used literally inside the
chroot, so "/a", absolute symlink targets and ".." at the root mean what they
mean to the model, and nothing outside the scenario's directory is reachable.
Credentials switch per op with setgroups/setresgid/setresuid, keeping the
saved uid and gid 0 so the process can switch back.
"""

import ctypes
import errno
import json
import os
import re
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.access.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.syncfs.argtypes = [ctypes.c_int]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


libc.utimensat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]
libc.syscall.restype = ctypes.c_long

AT_FDCWD = -100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
MS_RDONLY = 1
MS_REMOUNT = 32
MNT_DETACH = 2
SYS_getdents64 = 217
OVL_OPAQUE = b"trusted.overlay.opaque"
# Overlayfs features off, as gVisor's overlay has none of them (see
# test/linux/overlay.ts): directories from a lower layer cannot be renamed
# (EXDEV), copy-up breaks lower hard links, inode numbers are not remapped.
OVERLAY_OPTIONS = b"redirect_dir=off,index=off,xino=off,metacopy=off"
RENAME_FLAGS = {"RENAME_NOREPLACE": 1, "RENAME_EXCHANGE": 2}
XATTR_FLAGS = {"XATTR_CREATE": os.XATTR_CREATE, "XATTR_REPLACE": os.XATTR_REPLACE}
OPEN_FLAGS = {
    "O_RDONLY": os.O_RDONLY, "O_WRONLY": os.O_WRONLY, "O_RDWR": os.O_RDWR, "O_CREAT": os.O_CREAT,
    "O_EXCL": os.O_EXCL, "O_TRUNC": os.O_TRUNC, "O_APPEND": os.O_APPEND, "O_DIRECTORY": os.O_DIRECTORY,
    "O_NOFOLLOW": os.O_NOFOLLOW, "O_DIRECT": os.O_DIRECT, "O_DSYNC": os.O_DSYNC, "O_SYNC": os.O_SYNC,
    "O_PATH": os.O_PATH, "O_NONBLOCK": os.O_NONBLOCK,
}
WHENCE = {"SEEK_SET": os.SEEK_SET, "SEEK_CUR": os.SEEK_CUR, "SEEK_END": os.SEEK_END}
DEFAULT_MODE = {"file": 0o644, "dir": 0o755, "symlink": 0o777, "fifo": 0o644, "socket": 0o644}
DT = {1: "fifo", 4: "dir", 8: "file", 10: "symlink", 12: "socket"}

real_root = os.open("/", os.O_PATH)
base = None
fds = {}
in_chroot = False
scenario_mount = None
overlay = None  # {"merged": DIR, "upper": DIR|None, "lower": [DIR]} while an overlay scenario runs
root_fd = None  # the scenario's root, opened as root, for syncfs


def b(s):
    return s.encode("latin-1")


def s_(bs):
    return bs.decode("latin-1")


def errname(e):
    if e == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    if e == errno.EAGAIN:
        return "EAGAIN"
    if e == errno.EDEADLK:
        return "EDEADLK"
    return errno.errorcode.get(e, "E%d" % e)


def check(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def be_root():
    os.setresuid(0, 0, 0)
    os.setresgid(0, 0, 0)
    os.setgroups([])


def be(cred):
    be_root()
    os.setgroups(cred["groups"])
    os.setresgid(cred["gid"], cred["gid"], 0)
    os.setresuid(cred["uid"], cred["uid"], 0)


def type_of(mode):
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "other"


def stat_result(st):
    return {
        "type": type_of(st.st_mode), "mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid,
        "size": st.st_size, "nlink": st.st_nlink, "ino": st.st_ino,
        # As strings: nanoseconds since 1970 exceed what a JSON number keeps exactly in JavaScript.
        "atime": str(st.st_atime_ns), "mtime": str(st.st_mtime_ns), "ctime": str(st.st_ctime_ns),
    }


# ---------------------------------------------------------------------------
# Building and reading trees (as root, inside the chroot).

def build(tree, where, links):
    for name in sorted(tree):
        node = tree[name]
        path = where + b"/" + b(name)
        if "link" in node:
            links.append((path, b(node["link"])))
            continue
        t = node["type"]
        if t == "file":
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.write(fd, b(node.get("data", "")))
            os.close(fd)
        elif t == "dir":
            os.mkdir(path, 0o700)
            build(node.get("children", {}), path, links)
        elif t == "symlink":
            os.symlink(b(node["target"]), path)
        elif t == "fifo":
            os.mkfifo(path, 0o600)
        elif t == "socket":
            os.mknod(path, 0o600 | stat.S_IFSOCK)
        elif t == "whiteout":
            # Overlay layers only: what overlayfs itself writes (ovl_do_whiteout).
            os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))
            continue
        else:
            raise ValueError("cannot build node type %r" % t)
        if node.get("opaque"):
            os.setxattr(path, OVL_OPAQUE, b"y", follow_symlinks=False)
        settle(path, node, t)


def settle(path, node, t):
    """Owner, xattrs, then mode (chown would clear setuid/setgid)."""
    os.chown(path, node.get("uid", 0), node.get("gid", 0), follow_symlinks=False)
    for k, v in sorted(node.get("xattrs", {}).items()):
        os.setxattr(path, b(k), b(v), follow_symlinks=False)
    if t != "symlink":
        os.chmod(path, node.get("mode", DEFAULT_MODE[t]))


# fsim's spelling of a file longer than 1 MiB (src/model/filedata.ts): its
# runs of non-zero bytes, merged where at most EXTENT_GAP zeros part them.
DENSE_MAX = 1 << 20
EXTENT_GAP = 4096


def sparse_extents(fd, size):
    """The file's canonical extents, reading only its data (SEEK_DATA/SEEK_HOLE)."""
    runs = []
    off = 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        data = os.pread(fd, end - start, start)
        for m in re.finditer(rb"[^\x00]+", data):
            a, z = start + m.start(), start + m.end()
            if runs and a - runs[-1][1] <= EXTENT_GAP:
                runs[-1][1] = z
            else:
                runs.append([a, z])
        off = end
    out = []
    for a, z in runs:
        out.append({"offset": a, "data": s_(os.pread(fd, z - a, a))})
    return out


def read_tree(where, first, layer=False):
    """The tree under `where`. With `layer` (an overlay layer read directly):
    0:0 character devices as whiteouts, trusted.overlay.opaque "y" as
    `opaque`, and any other trusted.overlay.* names listed in `overlay_xattrs`
    (overlayfs's own metadata, e.g. origin, impure)."""
    out = {}
    for name in sorted(os.listdir(where or b"/")):
        path = where + b"/" + name
        st = os.lstat(path)
        t = type_of(st.st_mode)
        key = s_(name)
        if layer and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            # Whiteouts may share one inode (ovl_whiteout links them): never a `link`.
            out[key] = {"type": "whiteout"}
            continue
        if t != "dir":
            if st.st_ino in first:
                out[key] = {"link": s_(first[st.st_ino])}
                continue
            first[st.st_ino] = path
        node = {"type": t}
        if t == "file":
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            if st.st_size > DENSE_MAX:
                node["size"] = st.st_size
                node["extents"] = sparse_extents(fd, st.st_size)
            else:
                chunks = []
                while True:
                    c = os.read(fd, 1 << 20)
                    if not c:
                        break
                    chunks.append(c)
                node["data"] = s_(b"".join(chunks))
            os.close(fd)
        elif t == "symlink":
            node["target"] = s_(os.readlink(path))
        elif t == "dir":
            node["children"] = read_tree(path, first, layer)
        mode = st.st_mode & 0o7777
        if mode != DEFAULT_MODE.get(t, -1):
            node["mode"] = mode
        if st.st_uid != 0:
            node["uid"] = st.st_uid
        if st.st_gid != 0:
            node["gid"] = st.st_gid
        if t in ("file", "dir"):
            names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user."))
            if names:
                node["xattrs"] = {n: s_(os.getxattr(path, n, follow_symlinks=False)) for n in names}
        if layer:
            own = sorted(n for n in os.listxattr(path, follow_symlinks=False) if n.startswith("trusted.overlay."))
            if t == "dir" and "trusted.overlay.opaque" in own:
                if os.getxattr(path, OVL_OPAQUE, follow_symlinks=False) == b"y":
                    node["opaque"] = True
                    own.remove("trusted.overlay.opaque")
            if own:
                node["overlay_xattrs"] = own
        out[key] = node
    return out


def leave_chroot():
    global in_chroot
    if in_chroot:
        os.fchdir(real_root)
        os.chroot(".")
        in_chroot = False


def cmd_init(req):
    global base
    base = b(req["base"])
    os.makedirs(base, exist_ok=True)
    check(libc.mount(b"fsim-linux-diff", base, b"tmpfs", 0, b"mode=0755"))
    os.umask(0)
    return {"ok": True, "sysctl": {
        k: int(open("/proc/sys/fs/" + k).read()) for k in ("protected_hardlinks", "protected_symlinks", "protected_fifos", "protected_regular")
    }}


def cmd_begin(req):
    global in_chroot, scenario_mount
    be_root()
    leave_chroot()
    fds.clear()
    sdir = base + b"/s%d" % req["id"]
    os.mkdir(sdir, 0o755)
    scenario_mount = None
    if req.get("read_only"):
        check(libc.mount(b"fsim-linux-diff-ro", sdir, b"tmpfs", 0, b"mode=0755"))
        scenario_mount = sdir
    os.chroot(sdir)
    os.chdir(b"/")
    in_chroot = True
    links = []
    build(req["tree"], b"", links)
    for path, target in links:
        os.link(target, path, follow_symlinks=False)
    root = req.get("root", {})
    os.chown(b"/", root.get("uid", 0), root.get("gid", 0))
    os.chmod(b"/", root.get("mode", 0o755))
    if scenario_mount is not None:
        check(libc.mount(None, b"/", None, MS_REMOUNT | MS_RDONLY, None))
    global root_fd
    root_fd = os.open(b"/", os.O_RDONLY | os.O_DIRECTORY)
    return {"ok": True}


def build_layer(where, tree, root):
    """One overlay layer: `tree` in the directory `where` (built inside a chroot, as `begin` builds)."""
    global in_chroot
    os.mkdir(where, 0o755)
    os.chroot(where)
    os.chdir(b"/")
    in_chroot = True
    links = []
    build(tree, b"", links)
    for path, target in links:
        os.link(target, path, follow_symlinks=False)
    os.chown(b"/", root.get("uid", 0), root.get("gid", 0))
    os.chmod(b"/", root.get("mode", 0o755))
    leave_chroot()


def read_layer(where):
    global in_chroot
    os.chroot(where)
    os.chdir(b"/")
    in_chroot = True
    try:
        return read_tree(b"", {}, True)
    finally:
        leave_chroot()


def read_layers():
    return {"upper": None if overlay["upper"] is None else read_layer(overlay["upper"]),
            "lower": [read_layer(d) for d in overlay["lower"]]}


def cmd_begin_overlay(req):
    """Every layer on one fresh tmpfs (so overlayfs sees one filesystem:
    samefs), the root attributes on each layer's root."""
    global in_chroot, scenario_mount, overlay, root_fd
    be_root()
    leave_chroot()
    fds.clear()
    sdir = base + b"/s%d" % req["id"]
    os.mkdir(sdir, 0o755)
    check(libc.mount(b"fsim-overlay-layers", sdir, b"tmpfs", 0, b"mode=0755"))
    scenario_mount = sdir
    root = req.get("root", {})
    upper = req.get("upper")
    lowers = req["lower"]
    if len(lowers) == 0 or (upper is None and len(lowers) < 2):
        raise ValueError("an overlay needs a lower layer, and two without an upper layer")
    overlay = {"merged": sdir + b"/m", "upper": None if upper is None else sdir + b"/u", "lower": []}
    for i, t in enumerate(lowers):
        d = sdir + b"/l%d" % i
        build_layer(d, t, root)
        overlay["lower"].append(d)
    opts = b"lowerdir=" + b":".join(overlay["lower"])
    if upper is not None:
        build_layer(overlay["upper"], upper, root)
        os.mkdir(sdir + b"/w", 0o755)
        opts += b",upperdir=" + overlay["upper"] + b",workdir=" + sdir + b"/w"
    opts += b"," + OVERLAY_OPTIONS
    layers = read_layers()
    os.mkdir(overlay["merged"], 0o755)
    check(libc.mount(b"fsim-overlay", overlay["merged"], b"overlay", 0, opts))
    os.chroot(overlay["merged"])
    os.chdir(b"/")
    in_chroot = True
    root_fd = os.open(b"/", os.O_RDONLY | os.O_DIRECTORY)
    return {"ok": True, "layers": layers, "options": s_(opts)}


def cmd_end(req):
    global scenario_mount, overlay
    be_root()
    global root_fd
    for fd in fds.values():
        os.close(fd)
    fds.clear()
    os.close(root_fd)
    root_fd = None
    st = os.stat(b"/")
    tree = read_tree(b"", {})
    root = {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid}
    leave_chroot()
    out = {"tree": tree, "root": root}
    if overlay is not None:
        check(libc.umount2(overlay["merged"], 0))
        out["layers"] = read_layers()
        overlay = None
    if scenario_mount is not None:
        check(libc.umount2(scenario_mount, MNT_DETACH))
        scenario_mount = None
    return out


# ---------------------------------------------------------------------------
# Operations.

def fd_of(name):
    fd = fds.get(name)
    if fd is None:
        raise OSError(errno.EBADF, "unbound fd name")
    return fd


def getdents(fd):
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        buf = ctypes.create_string_buffer(4096)
        check(libc.syscall(SYS_getdents64, fd, buf, 4096))
        raise OSError(errno.EIO, "getdents64 on a non-directory succeeded")
    # The contract's getdents lists the whole directory and leaves the offset.
    pos = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, 0, os.SEEK_SET)
    entries = []
    buf = ctypes.create_string_buffer(65536)
    try:
        while True:
            n = check(libc.syscall(SYS_getdents64, fd, buf, 65536))
            if n == 0:
                break
            raw = buf.raw[:n]
            off = 0
            while off < n:
                reclen = int.from_bytes(raw[off + 16:off + 18], "little")
                dtype = raw[off + 18]
                name = raw[off + 19:off + reclen].split(b"\0", 1)[0]
                off += reclen
                if name in (b".", b".."):
                    continue
                entries.append({"name": s_(name), "type": DT.get(dtype, "other")})
    finally:
        # Left where it was, even when the listing fails (a removed directory: ENOENT).
        os.lseek(fd, pos, os.SEEK_SET)
    entries.sort(key=lambda e: b(e["name"]))
    return {"entries": entries}


def timespec(t):
    if t is None:
        return Timespec(0, UTIME_OMIT)
    if t == "UTIME_NOW":
        return Timespec(0, UTIME_NOW)
    return Timespec(t // 1_000_000_000, t % 1_000_000_000)


def run_op(op):
    name = op["op"]
    if name == "open":
        flags = 0
        for f in op["flags"]:
            flags |= OPEN_FLAGS[f]
        fd = os.open(b(op["path"]), flags, op.get("mode", 0o644))
        old = fds.get(op["fd"])
        fds[op["fd"]] = fd
        if old is not None:
            os.close(old)
        return {}
    if name == "close":
        fd = fd_of(op["fd"])
        del fds[op["fd"]]
        os.close(fd)
        return {}
    if name == "read":
        return {"data": s_(os.read(fd_of(op["fd"]), op["count"]))}
    if name == "write":
        return {"count": os.write(fd_of(op["fd"]), b(op["data"]))}
    if name == "pread":
        if op["offset"] < 0:
            raise OSError(errno.EINVAL, "negative offset")
        return {"data": s_(os.pread(fd_of(op["fd"]), op["count"], op["offset"]))}
    if name == "pwrite":
        if op["offset"] < 0:
            raise OSError(errno.EINVAL, "negative offset")
        return {"count": os.pwrite(fd_of(op["fd"]), b(op["data"]), op["offset"])}
    if name == "lseek":
        return {"offset": os.lseek(fd_of(op["fd"]), op["offset"], WHENCE[op["whence"]])}
    if name == "ftruncate":
        if op["length"] < 0:
            raise OSError(errno.EINVAL, "negative length")
        os.ftruncate(fd_of(op["fd"]), op["length"])
        return {}
    if name == "fsync":
        os.fsync(fd_of(op["fd"]))
        return {}
    if name == "fdatasync":
        os.fdatasync(fd_of(op["fd"]))
        return {}
    if name == "fstat":
        return stat_result(os.fstat(fd_of(op["fd"])))
    if name == "getdents":
        return getdents(fd_of(op["fd"]))
    if name == "stat":
        return stat_result(os.stat(b(op["path"])))
    if name == "lstat":
        return stat_result(os.lstat(b(op["path"])))
    if name == "access":
        mode = 0
        if op["mode"] != "F_OK":
            for m in op["mode"]:
                mode |= {"R_OK": os.R_OK, "W_OK": os.W_OK, "X_OK": os.X_OK}[m]
        check(libc.access(b(op["path"]), mode))
        return {}
    if name == "truncate":
        if op["length"] < 0:
            raise OSError(errno.EINVAL, "negative length")
        os.truncate(b(op["path"]), op["length"])
        return {}
    if name == "mkdir":
        os.mkdir(b(op["path"]), op.get("mode", 0o755))
        return {}
    if name == "rmdir":
        os.rmdir(b(op["path"]))
        return {}
    if name == "unlink":
        os.unlink(b(op["path"]))
        return {}
    if name == "rename":
        flags = 0
        for f in op.get("flags", []):
            flags |= RENAME_FLAGS[f]
        check(libc.renameat2(AT_FDCWD, b(op["from"]), AT_FDCWD, b(op["to"]), flags))
        return {}
    if name == "link":
        os.link(b(op["from"]), b(op["to"]), follow_symlinks=False)
        return {}
    if name == "symlink":
        os.symlink(b(op["target"]), b(op["path"]))
        return {}
    if name == "readlink":
        return {"target": s_(os.readlink(b(op["path"])))}
    if name == "mknod":
        kind = {"fifo": stat.S_IFIFO, "socket": stat.S_IFSOCK, "file": stat.S_IFREG}[op["type"]]
        os.mknod(b(op["path"]), op.get("mode", 0o644) | kind)
        return {}
    if name == "chmod":
        os.chmod(b(op["path"]), op["mode"])
        return {}
    if name == "chown":
        os.chown(b(op["path"]), op.get("uid", -1), op.get("gid", -1))
        return {}
    if name == "utimens":
        times = (Timespec * 2)(timespec(op.get("atime")), timespec(op.get("mtime")))
        check(libc.utimensat(AT_FDCWD, b(op["path"]), times, 0))
        return {}
    if name == "getxattr":
        return {"value": s_(os.getxattr(b(op["path"]), b(op["name"])))}
    if name == "setxattr":
        flags = 0
        for f in op.get("flags", []):
            flags |= XATTR_FLAGS[f]
        os.setxattr(b(op["path"]), b(op["name"]), b(op["value"]), flags)
        return {}
    if name == "listxattr":
        return {"names": sorted((n for n in os.listxattr(b(op["path"])) if n.startswith("user.")), key=b)}
    if name == "removexattr":
        os.removexattr(b(op["path"]), b(op["name"]))
        return {}
    if name == "statfs":
        return {"namelen": os.statvfs(b(op["path"])).f_namemax}
    if name == "sync":
        check(libc.syncfs(root_fd))
        return {}
    if name == "sleep":
        return {}
    raise ValueError("unknown op %r" % name)


def cmd_op(req):
    be(req.get("cred", {"uid": 0, "gid": 0, "groups": []}))
    try:
        return {"result": run_op(req["op"])}
    except OSError as e:
        return {"result": {"errno": errname(e.errno)}}
    finally:
        be_root()


def cmd_quit(req):
    be_root()
    leave_chroot()
    if base is not None:
        libc.umount2(base, MNT_DETACH)
        try:
            os.rmdir(base)
        except OSError:
            pass
    return {"ok": True}


COMMANDS = {"init": cmd_init, "begin": cmd_begin, "begin_overlay": cmd_begin_overlay, "op": cmd_op, "end": cmd_end, "quit": cmd_quit}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            resp = COMMANDS[req["cmd"]](req)
        except Exception as e:  # a broken harness must say so, not hang
            resp = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(resp) + "\n")
        sys.stdout.flush()
        if req["cmd"] == "quit":
            break


if __name__ == "__main__":
    main()
