# Process and /proc attacker for the escape suite (tests/escape_proc.rs). Prints one line per
# attempt, `KEY details`, and `DONE` at the end.
#
#   proc.py procs TOKEN HOSTPID          find and kill a host process
#   proc.py runtime TOKEN EXE HOSTDIR    the runtime's binary, /proc/1/{exe,root,cwd}, the cwd
#   proc.py sys TOKEN                    write to /proc/sys, /proc/sysrq-trigger and /sys
#   proc.py mountinfo                    print /proc/self/mountinfo
import ctypes
import errno
import os
import signal
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_pidfd_open = 434
SYS_pidfd_send_signal = 424


def err(e):
    code = e.errno if isinstance(e, OSError) else e
    return f"{code} {errno.errorcode.get(code, '?')}"


def cmd_procs(args):
    token, hostpid = args[0], int(args[1])
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token in cmdline and "python3" not in cmdline:
            print(f"SEEN {pid} {cmdline.strip()}", flush=True)
            try:
                os.kill(int(pid), signal.SIGKILL)
                print(f"KILLED {pid}", flush=True)
            except OSError as e:
                print(f"NOKILL {pid} {err(e)}", flush=True)
    # The host pid number, as if it leaked (it names nothing, or a sandbox process, inside).
    try:
        os.kill(hostpid, 0)
        print(f"EXISTS {hostpid}", flush=True)
    except OSError as e:
        print(f"NOEXIST {hostpid} {err(e)}", flush=True)
    fd = libc.syscall(ctypes.c_long(SYS_pidfd_open), ctypes.c_long(hostpid), ctypes.c_long(0))
    if fd >= 0:
        r = libc.syscall(ctypes.c_long(SYS_pidfd_send_signal), ctypes.c_long(fd), ctypes.c_long(signal.SIGKILL), None, ctypes.c_long(0))
        print(f"PIDFD {hostpid} send={r if r == 0 else err(ctypes.get_errno())}", flush=True)
    else:
        print(f"NOPIDFD {hostpid} {err(ctypes.get_errno())}", flush=True)
    if hostpid != me and hostpid != 1:
        try:
            os.kill(hostpid, signal.SIGKILL)
            print(f"KILLED {hostpid} by-number", flush=True)
        except OSError as e:
            print(f"NOKILL {hostpid} {err(e)}", flush=True)


def try_open_write(route, path, flags=os.O_WRONLY | os.O_APPEND):
    try:
        fd = os.open(path, flags)
        print(f"OPENED-W {route} {os.readlink(f'/proc/self/fd/{fd}')}", flush=True)
        os.close(fd)
        return True
    except OSError as e:
        print(f"DENIED-W {route} {err(e)}", flush=True)
        return False


def cmd_runtime(args):
    token, exe, hostdir = args
    try_open_write("/proc/1/exe", "/proc/1/exe")
    try_open_write("/proc/self/exe", "/proc/self/exe")
    try_open_write("stockade", exe)
    # CVE-2019-5736 shape: hold an O_PATH to the runtime, reopen it for writing through the fd.
    for target in ["/proc/1/exe", "/proc/self/exe"]:
        try:
            fd = os.open(target, os.O_PATH)
            try_open_write(f"reopen {target}", f"/proc/self/fd/{fd}")
            os.close(fd)
        except OSError as e:
            print(f"DENIED-PATH {target} {err(e)}", flush=True)
    for pid in os.listdir("/proc"):
        if pid.isdigit() and pid not in ("1", str(os.getpid())):
            try_open_write(f"/proc/{pid}/exe", f"/proc/{pid}/exe")
    try:
        for name in os.listdir("/proc/1/map_files"):
            try_open_write(f"/proc/1/map_files/{name}", f"/proc/1/map_files/{name}", os.O_RDWR)
    except OSError as e:
        print(f"DENIED-MAPFILES {err(e)}", flush=True)
    # Where do /proc/1/root and /proc/1/cwd lead?
    for link in ["/proc/1/root", "/proc/1/cwd", "/proc/self/root", "/proc/self/cwd"]:
        try:
            print(f"LINK {link} {os.readlink(link)}", flush=True)
        except OSError as e:
            print(f"NOLINK {link} {err(e)}", flush=True)
        probe = link + hostdir
        print(f"{'REACHED' if os.path.exists(probe) else 'UNREACHED'} {probe}", flush=True)
        try:
            os.close(os.open(f"{link}{hostdir}/{token}", os.O_CREAT | os.O_WRONLY, 0o644))
            print(f"WROTE {link}{hostdir}", flush=True)
        except OSError as e:
            print(f"DENIED {link}{hostdir} {err(e)}", flush=True)
    # The working directory must be inside the new root.
    try:
        print(f"CWD {os.getcwd()}", flush=True)
    except OSError as e:
        print(f"CWD (unreachable: {err(e)})", flush=True)
    print(f"CWDLINK {os.readlink('/proc/self/cwd')}", flush=True)
    for rel in [".", "..", "../..", "../../..", "../../../.."]:
        p = os.path.join(rel, token)
        try:
            os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            print(f"WROTE cwd:{rel}", flush=True)
        except OSError as e:
            print(f"DENIED cwd:{rel} {err(e)}", flush=True)
        print(f"{'REACHED' if os.path.exists(rel + hostdir) else 'UNREACHED'} cwd:{rel}{hostdir}",
              flush=True)


def try_write(path, data):
    try:
        with open(path, "w") as f:
            f.write(data)
        print(f"WROTE {path}", flush=True)
    except OSError as e:
        print(f"DENIED {path} {err(e)}", flush=True)


def cmd_sys(args):
    token = args[0]
    try_write("/proc/sys/kernel/hostname", token[:60])
    try_write("/proc/sys/kernel/domainname", token[:60])
    try_write("/proc/sys/kernel/core_pattern", "|/tmp/" + token)
    try_write("/proc/sys/vm/drop_caches", "3")
    try_write("/proc/sys/net/ipv4/ip_forward", "1")
    try_write("/proc/sys/net/ipv4/ping_group_range", "0 0")
    try_write("/proc/sys/user/max_user_namespaces", "0")
    try_write("/proc/sys/fs/protected_symlinks", "0")
    try_write("/proc/sysrq-trigger", "h")
    for p in ["/sys/kernel/uevent_helper", "/sys/kernel/profiling", "/sys/class/net/lo/mtu",
              "/sys/fs/cgroup/cgroup.procs", "/sys/power/state"]:
        if os.path.exists(p):
            try_write(p, "0")
        else:
            print(f"ABSENT {p}", flush=True)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4]
            if point in ("/proc/sys", "/proc/sysrq-trigger") or point == "/sys" or \
                    point.startswith(("/sys/", "/proc/sys/")):
                print(f"MOUNT {fields[4]} {fields[5]}", flush=True)


def cmd_mountinfo(args):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            print(f"MOUNTINFO {line.rstrip()}", flush=True)


cmd = {"procs": cmd_procs, "runtime": cmd_runtime, "sys": cmd_sys,
       "mountinfo": cmd_mountinfo}[sys.argv[1]]
cmd(sys.argv[2:])
print("DONE", flush=True)
