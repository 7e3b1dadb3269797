# Filesystem attacker for the escape suite (tests/escape_fs.rs). Runs inside stockade (and on
# the host as the control). Prints one line per attempt, `KEY details`, and `DONE` at the end;
# the test judges the effects on the host.
#
#   fs.py write TOKEN [--walk] PATH...   create/modify entries in each PATH (dirs and files)
#   fs.py read SECRET_PATH               read a file outside the binds by every route we know
#   fs.py fds TOKEN RELPATH              abuse every inherited descriptor (openat through it)
#   fs.py mknod DIR...                   make device nodes
#   fs.py setuid BIN...                  run setuid binaries, report what they got
#   fs.py plant DIR VICTIM               plant symlinks for a later sandbox's mount destinations
import ctypes
import errno
import os
import stat
import subprocess
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


def err(e):
    code = e.errno if isinstance(e, OSError) else e
    return f"{code} {errno.errorcode.get(code, '?')}"


def attempt(key, what, fn):
    try:
        fn()
        print(f"WROTE {key} {what}", flush=True)
    except OSError as e:
        print(f"DENIED {key} {what} {err(e)}", flush=True)


def attack_dir(d, token):
    p = os.path.join(d, token)
    attempt(p, "create", lambda: os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)))
    attempt(p + ".d", "mkdir", lambda: os.mkdir(p + ".d"))
    attempt(p + ".l", "symlink", lambda: os.symlink("/", p + ".l"))
    attempt(p + ".p", "mkfifo", lambda: os.mkfifo(p + ".p"))


def attack_file(f, token):
    def append():
        fd = os.open(f, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, token.encode())
        finally:
            os.close(fd)

    attempt(f, "append", append)
    attempt(f, "truncate", lambda: os.truncate(f, 0))
    attempt(f, "chmod", lambda: os.chmod(f, 0o777))
    attempt(f, "utime", lambda: os.utime(f, (0, 0)))
    attempt(f, "setxattr", lambda: os.setxattr(f, "user.stockade", token.encode()))
    attempt(f, "link", lambda: os.link(f, f + "." + token + ".h"))
    attempt(f, "rename", lambda: os.rename(f, f + "." + token))
    attempt(f, "unlink", lambda: os.unlink(f))


def walk(top, depth):
    out = [top]
    if depth == 0:
        return out
    try:
        names = os.listdir(top)
    except OSError:
        return out
    for n in names:
        p = os.path.join(top, n)
        if p in ("/proc", "/sys"):
            continue
        if os.path.isdir(p) and not os.path.islink(p):
            out.extend(walk(p, depth - 1))
    return out


def cmd_write(args):
    token, rest = args[0], args[1:]
    paths = []
    if rest and rest[0] == "--walk":
        rest = rest[1:]
        paths.extend(walk("/", 3))
    paths.extend(rest)
    for p in paths:
        if os.path.isdir(p):
            attack_dir(p, token)
        elif os.path.lexists(p):
            attack_file(p, token)
        else:
            print(f"ABSENT {p}", flush=True)


def try_read(route, path):
    try:
        with open(path, "rb") as f:
            data = f.read(4096)
        print(f"READ {route} {data.decode(errors='replace').strip()}", flush=True)
    except OSError as e:
        print(f"NOREAD {route} {err(e)}", flush=True)


def cmd_read(args):
    secret = args[0]
    rel = secret.lstrip("/")
    try_read("direct", secret)
    for pid in ["self", "1", "thread-self"]:
        try_read(f"/proc/{pid}/root", f"/proc/{pid}/root/{rel}")
    try_read("/proc/1/cwd", f"/proc/1/cwd/{rel}")
    try_read("dotdot", "/../../../../" + rel)
    for fd in sorted(int(f) for f in os.listdir("/proc/self/fd")):
        try:
            dfd = os.open(rel, os.O_RDONLY, dir_fd=fd)
            data = os.read(dfd, 4096)
            os.close(dfd)
            print(f"READ fd{fd} {data.decode(errors='replace').strip()}", flush=True)
        except OSError as e:
            print(f"NOREAD fd{fd} {err(e)}", flush=True)
    # Any pid whose root might be the host's.
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            p = f"/proc/{pid}/root/{rel}"
            if os.path.exists(p):
                try_read(f"/proc/{pid}/root", p)


def cmd_fds(args):
    token, rel = args
    for name in sorted(os.listdir("/proc/self/fd"), key=int):
        fd = int(name)
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "other"
        print(f"FD {fd} {kind} {os.readlink('/proc/self/fd/' + name) if fd > 2 else ''}", flush=True)
        if kind != "dir":
            continue
        # Write through it onto the host...
        for sub in ["tmp", "var/tmp", "dev/shm", "."]:
            p = os.path.join(sub, token)
            try:
                os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=fd))
                print(f"WROTE fd{fd} {sub}", flush=True)
            except OSError as e:
                print(f"DENIED fd{fd} {sub} {err(e)}", flush=True)
        # ...read a host secret through it...
        try:
            sfd = os.open(rel, os.O_RDONLY, dir_fd=fd)
            print(f"READ fd{fd} {os.read(sfd, 4096).decode(errors='replace').strip()}", flush=True)
            os.close(sfd)
        except OSError as e:
            print(f"NOREAD fd{fd} {err(e)}", flush=True)
        # ...and make it the working directory (CVE-2024-21626 shape).
        try:
            os.fchdir(fd)
            print(f"CHDIR fd{fd} {os.getcwd()}", flush=True)
            os.chdir("/")
        except OSError as e:
            print(f"NOCHDIR fd{fd} {err(e)}", flush=True)


def cmd_mknod(args):
    for d in args:
        for kind, mode, dev in [("char", stat.S_IFCHR, os.makedev(1, 3)),
                                ("block", stat.S_IFBLK, os.makedev(7, 0))]:
            p = os.path.join(d, f"stockade-node-{kind}")
            try:
                os.mknod(p, mode | 0o666, dev)
                print(f"MADE {p}", flush=True)
            except OSError as e:
                print(f"DENIED {p} {err(e)}", flush=True)


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    return fields


def cmd_setuid(args):
    me = os.geteuid()
    for b in args:
        if not os.path.exists(b):
            print(f"ABSENT {b}", flush=True)
            continue
        p = subprocess.Popen([b], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        try:
            f = status_fields(p.pid)
            euid = int(f["Uid"][1])
            print(f"RAN {b} euid={euid} me={me} capeff={f['CapEff'][0]} "
                  f"nnp={f['NoNewPrivs'][0]} gained={'yes' if euid != me or int(f['CapEff'][0], 16) else 'no'}",
                  flush=True)
        except (OSError, KeyError) as e:
            print(f"EXITED {b} {p.poll()} {e}", flush=True)
        p.kill()
        p.wait()


def cmd_plant(args):
    d, victim = args
    for name, target in [("evil", "/"), ("link", victim), ("up", "../../../../../../../../tmp"),
                         ("self", "/proc/self/root/tmp")]:
        attempt(os.path.join(d, name), "symlink", lambda: os.symlink(target, os.path.join(d, name)))


cmd = {"plant": cmd_plant, "write": cmd_write, "read": cmd_read, "fds": cmd_fds, "mknod": cmd_mknod,
       "setuid": cmd_setuid}[sys.argv[1]]
cmd(sys.argv[2:])
print("DONE", flush=True)
