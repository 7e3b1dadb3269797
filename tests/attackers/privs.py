# Privilege attacker for the escape suite (tests/escape_privs.rs), x86_64 syscall numbers.
# Prints `KEY name result` lines, where result is `ok` or `ERRNO NAME`, and `DONE`.
#
#   privs.py caps                 capability sets and no_new_privs
#   privs.py mount TOKEN          mount, umount, pivot_root, chroot, sethostname, new mount API
#   privs.py userns               nested user namespaces (unshare, clone, clone3)
#   privs.py syscalls             the dangerous syscalls, each with arguments that would work
#   privs.py keyring              read the keys of the inherited session keyring, and any key
#                                 /proc/keys lets us see
import ctypes
import errno
import os
import signal
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

NR = dict(ptrace=101, keyctl=250, add_key=248, request_key=249, bpf=321,
          perf_event_open=298, userfaultfd=323, name_to_handle_at=303,
          open_by_handle_at=304, kexec_load=246, kexec_file_load=320, init_module=175,
          finit_module=313, delete_module=176, process_vm_writev=311, process_vm_readv=310,
          io_uring_setup=425, mount=165, umount2=166, pivot_root=155, chroot=161,
          sethostname=170, setdomainname=171, unshare=272, clone=56, clone3=435, fsopen=430,
          open_tree=428, move_mount=429, mount_setattr=442, setns=308, swapon=167, acct=163)

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000


def show(key, name, r):
    if r < 0:
        e = ctypes.get_errno()
        print(f"{key} {name} {e} {errno.errorcode.get(e, '?')}", flush=True)
    else:
        print(f"{key} {name} ok", flush=True)
    return r


def sc(name, *args):
    # syscall(2) is variadic: pass every integer as a full 64-bit long, or the upper half of
    # the register is whatever was there before.
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    return libc.syscall(ctypes.c_long(NR[name]), *args)


def cmd_caps(_):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("Cap", "NoNewPrivs", "Seccomp:", "Uid", "Gid")):
                k, v = line.split(":", 1)
                print(f"STATUS {k} {' '.join(v.split())}", flush=True)
    PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET = 39, 23, 47, 1
    print(f"PRCTL nnp {libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)}", flush=True)
    bnd = [c for c in range(64) if libc.prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1]
    amb = [c for c in range(64) if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1]
    print(f"PRCTL bounding {bnd}", flush=True)
    print(f"PRCTL ambient {amb}", flush=True)
    # Regaining: setuid(0) and a fresh exec as uid 0 would refill the sets from the bounding set.
    try:
        os.setuid(0)
        print("SETUID0 ok", flush=True)
    except OSError as e:
        print(f"SETUID0 {e.errno} {errno.errorcode.get(e.errno, '?')}", flush=True)
    # An exec (as uid 0 if setuid worked or --uid 0 was given) must not bring any back.
    import subprocess
    r = subprocess.run(["/usr/bin/grep", "^CapEff", "/proc/self/status"], capture_output=True,
                       text=True)
    print(f"AFTER-EXEC {' '.join(r.stdout.split())}", flush=True)


def cmd_mount(args):
    token = args[0].encode()
    show("MOUNT", "mount-tmpfs", sc("mount", b"none", b"/tmp", b"tmpfs", 0, b"size=4k," + token))
    show("MOUNT", "mount-bind-usr", sc("mount", b"/usr", b"/tmp", None, 0x1000, None))
    show("MOUNT", "remount-usr-rw", sc("mount", None, b"/usr", None, 0x20 | 0x1000, None))
    show("MOUNT", "umount-usr", sc("umount2", b"/usr", 2))
    show("MOUNT", "umount-proc", sc("umount2", b"/proc", 2))
    show("MOUNT", "pivot_root", sc("pivot_root", b".", b"."))
    show("MOUNT", "chroot", sc("chroot", b"/tmp"))
    show("MOUNT", "sethostname", sc("sethostname", token[:60], len(token[:60])))
    show("MOUNT", "setdomainname", sc("setdomainname", token[:60], len(token[:60])))
    show("MOUNT", "fsopen", sc("fsopen", b"tmpfs", 1))
    show("MOUNT", "open_tree-clone", sc("open_tree", -100, b"/usr", 1 | 0o2000000))
    # mount_setattr clearing MOUNT_ATTR_RDONLY on /usr.
    attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)
    show("MOUNT", "mount_setattr-clear-ro", sc("mount_setattr", -100, b"/usr", 0, attr, 32))
    show("MOUNT", "setns-host-mnt", sc("setns", os.open("/proc/self/ns/mnt", os.O_RDONLY), 0))
    show("MOUNT", "swapon", sc("swapon", b"/tmp", 0))
    show("MOUNT", "acct", sc("acct", b"/tmp/acct"))
    try:
        with open("/usr/" + token.decode(), "w"):
            print("MOUNT usr-still-ro no", flush=True)
    except OSError as e:
        print(f"MOUNT usr-still-ro {e.errno} {errno.errorcode.get(e.errno, '?')}", flush=True)


def in_child(fn):
    """Runs fn in a forked child; returns the child's exit code (fn's errno, 0 for success)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(fn())
        except BaseException:
            os._exit(255)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def nested_try():
    """In a new user namespace: can the locked mounts be undone?"""
    if sc("unshare", CLONE_NEWNS) < 0:
        return 0
    attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)
    r1 = sc("mount_setattr", -100, b"/usr", 0, attr, 32)
    r2 = sc("umount2", b"/usr", 2)
    r3 = sc("mount", None, b"/usr", None, 0x20 | 0x1000, None)
    return 100 + (r1 == 0) + 2 * (r2 == 0) + 4 * (r3 == 0)


def cmd_userns(_):
    def via_unshare():
        if sc("unshare", CLONE_NEWUSER) < 0:
            return ctypes.get_errno()
        return 0

    code = in_child(via_unshare)
    print(f"USERNS unshare {'ok' if code == 0 else f'{code} {errno.errorcode.get(code, chr(63))}'}", flush=True)

    pid = sc("clone", CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    if pid < 0:
        e = ctypes.get_errno()
        print(f"USERNS clone {e} {errno.errorcode.get(e, '?')}", flush=True)
    else:
        os.waitpid(pid, 0)
        print("USERNS clone ok", flush=True)

    # struct clone_args { flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls }
    args = (ctypes.c_uint64 * 8)(CLONE_NEWUSER, 0, 0, 0, signal.SIGCHLD, 0, 0, 0)
    pid = sc("clone3", args, 64)
    if pid == 0:
        os._exit(0)
    if pid < 0:
        e = ctypes.get_errno()
        print(f"USERNS clone3 {e} {errno.errorcode.get(e, '?')}", flush=True)
    else:
        os.waitpid(pid, 0)
        print("USERNS clone3 ok", flush=True)

    def nested():
        if sc("unshare", CLONE_NEWUSER) < 0:
            return 0
        return nested_try()

    code = in_child(nested)
    if code >= 100:
        print(f"NESTED undo-locked-mounts setattr={code & 1} umount={(code - 100) >> 1 & 1} "
              f"remount={(code - 100) >> 2 & 1}", flush=True)


def sleeper():
    """A child that stays alive: the 'other process' to attack."""
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return pid


def cmd_syscalls(_):
    victim = sleeper()
    buf = ctypes.create_string_buffer(b"before", 16)
    try:
        show("SYSCALL", "ptrace-seize-child", sc("ptrace", 0x4206, victim, 0, 0))
        show("SYSCALL", "ptrace-attach-pid1", sc("ptrace", 16, 1, 0, 0))
        show("SYSCALL", "keyctl", sc("keyctl", 0, -3, 1))
        show("SYSCALL", "add_key", sc("add_key", b"user", b"stockade", b"x", 1, -2))
        show("SYSCALL", "request_key", sc("request_key", b"user", b"stockade", None, 0))
        # BPF_MAP_CREATE, array map of one 4-byte entry.
        attr = (ctypes.c_uint32 * 32)(2, 4, 4, 1)
        show("SYSCALL", "bpf", sc("bpf", 0, attr, 128))
        # A software clock counting this process's user time: allowed at paranoid <= 2.
        pattr = (ctypes.c_uint8 * 128)()
        ctypes.memmove(pattr, (ctypes.c_uint32 * 2)(1, 128), 8)   # type=SOFTWARE, size
        ctypes.memmove(ctypes.addressof(pattr) + 40, (ctypes.c_uint64 * 1)(1 | 1 << 5 | 1 << 6), 8)
        show("SYSCALL", "perf_event_open", sc("perf_event_open", pattr, 0, -1, -1, 0))
        show("SYSCALL", "userfaultfd", sc("userfaultfd", 1 | 0o2000000))   # UFFD_USER_MODE_ONLY
        handle = (ctypes.c_uint8 * 136)()
        ctypes.memmove(handle, (ctypes.c_uint32 * 1)(128), 4)
        mount_id = ctypes.c_int()
        show("SYSCALL", "name_to_handle_at", sc("name_to_handle_at", -100, b"/tmp", handle,
                                                ctypes.byref(mount_id), 0))
        mfd = os.open("/tmp", os.O_RDONLY)
        show("SYSCALL", "open_by_handle_at", sc("open_by_handle_at", mfd, handle, 0))
        os.close(mfd)
        show("SYSCALL", "kexec_load", sc("kexec_load", 0, 0, None, 0))
        show("SYSCALL", "kexec_file_load", sc("kexec_file_load", -1, -1, 0, None, 4))
        show("SYSCALL", "init_module", sc("init_module", None, 0, b""))
        show("SYSCALL", "finit_module", sc("finit_module", 0, b"", 0))
        show("SYSCALL", "delete_module", sc("delete_module", b"stockade", 0))
        # Overwrite 6 bytes of the sibling's copy of `buf`.
        local = (ctypes.c_uint64 * 2)(ctypes.addressof(ctypes.create_string_buffer(b"after!", 8)), 6)
        remote = (ctypes.c_uint64 * 2)(ctypes.addressof(buf), 6)
        show("SYSCALL", "process_vm_writev", sc("process_vm_writev", victim, local, 1, remote, 1, 0))
        show("SYSCALL", "process_vm_readv", sc("process_vm_readv", victim, remote, 1, local, 1, 0))
        params = (ctypes.c_uint8 * 120)()
        show("SYSCALL", "io_uring_setup", sc("io_uring_setup", 1, params))
    finally:
        os.kill(victim, signal.SIGKILL)
        os.waitpid(victim, 0)


def cmd_keyring(_):
    KEYCTL_READ, KEY_SPEC_SESSION_KEYRING = 11, -3
    ids = set()
    buf = ctypes.create_string_buffer(4096)
    n = sc("keyctl", KEYCTL_READ, KEY_SPEC_SESSION_KEYRING, buf, 4096)
    show("KEYRING", "list-session", n)
    for i in range(0, max(n, 0) // 4 * 4, 4):
        ids.add(int.from_bytes(buf.raw[i:i + 4], "little", signed=True))
    try:
        with open("/proc/keys") as f:
            for line in f:
                ids.add(int(line.split()[0], 16))
    except OSError:
        pass
    for k in sorted(ids):
        out = ctypes.create_string_buffer(256)
        m = sc("keyctl", KEYCTL_READ, k, out, 256)
        if m >= 0:
            print(f"READ {k} {out.raw[:min(m, 256)].decode(errors='replace')}", flush=True)


cmd = {"keyring": cmd_keyring, "caps": cmd_caps, "mount": cmd_mount, "userns": cmd_userns,
       "syscalls": cmd_syscalls}[sys.argv[1]]
cmd(sys.argv[2:])
print("DONE", flush=True)
