//! The seccomp filter through the real binary: `stockade run` (the `default` profile) must run
//! its command with a filter (`Seccomp: 2`), refuse what the filter refuses, and keep ordinary
//! programs working. These need the built-in profiles (the profiles work): before they land,
//! `stockade run` has no filter and these tests fail.

mod common;

use common::{assert_status, run_sh, stdout};
use stockade::syscalls::Arch;

fn seccomp_line(extra: &[&str]) -> String {
    let out = run_sh(extra, "grep '^Seccomp:' /proc/self/status");
    assert_status(&out, 0);
    stdout(&out).trim().to_string()
}

#[test]
fn run_installs_a_filter_by_default() {
    assert_eq!(seccomp_line(&[]), "Seccomp:\t2");
}

#[test]
fn the_default_profile_installs_a_filter() {
    assert_eq!(seccomp_line(&["--profile", "default"]), "Seccomp:\t2");
}

#[test]
fn seccomp_off_is_an_announced_escape_hatch() {
    let out = run_sh(&["--seccomp", "off"], "grep '^Seccomp:' /proc/self/status");
    assert_status(&out, 0);
    assert_eq!(stdout(&out).trim(), "Seccomp:\t0");
    assert!(
        common::stderr(&out).contains("seccomp"),
        "{}",
        common::stderr(&out)
    );
}

/// A python3 script that makes raw syscalls and prints `name errno` lines (0 on success).
fn python_probe(calls: &[(&str, String)]) -> String {
    let mut script = String::from(
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.syscall.restype = ctypes.c_long\n\
         def probe(name, *args):\n\
         \x20   ctypes.set_errno(0)\n\
         \x20   r = libc.syscall(*[ctypes.c_ulong(a) for a in args])\n\
         \x20   print(name, ctypes.get_errno() if r < 0 else 0, flush=True)\n",
    );
    for (name, args) in calls {
        script.push_str(&format!("probe({name:?}, {args})\n"));
    }
    script
}

fn nr(name: &str) -> u32 {
    Arch::native()
        .and_then(|a| a.number(name))
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn dangerous_calls_fail_inside_the_default_sandbox() {
    if !common::have("python3") {
        common::skip("python3 is not installed");
        return;
    }
    let enosys = libc::ENOSYS.to_string();
    let eperm = libc::EPERM.to_string();
    let mut calls: Vec<(&str, String, &str)> = [
        "ptrace", // first: given its own arguments below
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "kexec_load",
        "init_module",
        "finit_module",
        "open_by_handle_at",
        "name_to_handle_at",
        "mount",
        "umount2",
        "pivot_root",
        "swapon",
        "reboot",
        "acct",
        "setns",
        "process_vm_writev",
        "io_uring_setup",
    ]
    .into_iter()
    .map(|name| {
        (
            name,
            format!("{}, 0, 0, 0, 0, 0", nr(name)),
            enosys.as_str(),
        )
    })
    .collect();
    // ptrace(PTRACE_ATTACH, 1): another process, the sandbox's init.
    calls[0].1 = format!("{}, {}, 1", nr("ptrace"), libc::PTRACE_ATTACH);
    if cfg!(target_arch = "x86_64") {
        calls.push(("iopl", format!("{}, 3", nr("iopl")), enosys.as_str()));
    }
    let newuser = libc::CLONE_NEWUSER as u64;
    calls.push((
        "unshare",
        format!("{}, {newuser}", nr("unshare")),
        eperm.as_str(),
    ));
    calls.push((
        "clone",
        format!("{}, {}", nr("clone"), newuser | libc::SIGCHLD as u64),
        eperm.as_str(),
    ));
    calls.push(("clone3", format!("{}, 0, 0", nr("clone3")), enosys.as_str()));
    let script = python_probe(
        &calls
            .iter()
            .map(|(n, a, _)| (*n, a.clone()))
            .collect::<Vec<_>>(),
    );
    let out = common::stockade(["run", "--", "python3", "-c", &script])
        .output()
        .expect("running stockade");
    assert_status(&out, 0);
    let text = stdout(&out);
    for (name, _, expected) in &calls {
        let line = format!("{name} {expected}");
        assert!(text.lines().any(|l| l == line), "want {line:?} in:\n{text}");
    }
}

#[test]
fn tiocsti_is_refused_inside_the_default_sandbox() {
    if !common::have("python3") {
        common::skip("python3 is not installed");
        return;
    }
    // A pty that the probe's child makes its controlling terminal, so only the filter can
    // refuse the injection; the request is also tried with high bits set.
    let script = format!(
        "import ctypes, os\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         libc.syscall.restype = ctypes.c_long\n\
         master, slave = os.openpty()\n\
         name = os.ttyname(slave)\n\
         pid = os.fork()\n\
         if pid == 0:\n\
         \x20   os.setsid()\n\
         \x20   fd = os.open(name, os.O_RDWR)\n\
         \x20   c = ctypes.c_char(b'x')\n\
         \x20   for req in (0x5412, 0x5412 | (1 << 32)):\n\
         \x20       ctypes.set_errno(0)\n\
         \x20       r = libc.syscall(ctypes.c_long({ioctl}), ctypes.c_long(fd), ctypes.c_ulong(req), ctypes.byref(c))\n\
         \x20       print(hex(req), ctypes.get_errno() if r < 0 else 0, flush=True)\n\
         \x20   os._exit(0)\n\
         os.waitpid(pid, 0)\n",
        ioctl = nr("ioctl")
    );
    let out = common::stockade(["run", "--", "python3", "-c", &script])
        .output()
        .expect("running stockade");
    assert_status(&out, 0);
    let text = stdout(&out);
    let eperm = libc::EPERM;
    assert!(text.contains(&format!("0x5412 {eperm}")), "{text}");
    assert!(text.contains(&format!("0x100005412 {eperm}")), "{text}");
}

#[test]
fn ordinary_programs_work_under_the_filter() {
    let out = run_sh(
        &[],
        "set -e; cd /tmp; echo hello > f; cat f | sort | uniq | wc -l; ls -la >/dev/null; \
         mkdir -p d/e; cp f d/e/g; mv d/e/g d/h; rm -r d; date >/dev/null; id -u >/dev/null; \
         sh -c 'exit 3' || test $? = 3; echo done",
    );
    assert_status(&out, 0);
    assert!(stdout(&out).ends_with("done\n"), "{}", stdout(&out));
}

#[test]
fn python_tar_and_gzip_work_under_the_filter() {
    if !common::have("python3") || !common::have("tar") || !common::have("gzip") {
        common::skip("python3, tar or gzip is not installed");
        return;
    }
    let out = run_sh(
        &[],
        "set -e; cd /tmp; mkdir src; echo data > src/a; tar czf a.tgz src; rm -r src; \
         tar xzf a.tgz; cat src/a; \
         python3 -c 'import os, subprocess, threading, socket, tempfile; \
         t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join(); \
         print(subprocess.run([\"true\"]).returncode); \
         socket.socket(socket.AF_UNIX).close(); print(\"ok\")'",
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "data\nthread\n0\nok\n");
}

#[test]
fn gcc_make_and_git_work_under_the_filter() {
    if !common::have("gcc") || !common::have("make") || !common::have("git") {
        common::skip("gcc, make or git is not installed");
        return;
    }
    let out = run_sh(
        &[],
        "set -e; cd /tmp; printf '#include <stdio.h>\\nint main(void){puts(\"hi\");return 0;}\\n' > h.c; \
         printf 'h: h.c\\n\\tgcc -o h h.c\\n' > Makefile; make -s; ./h; \
         export HOME=/tmp; git init -q r; cd r; echo x > x; git add x; \
         git -c user.name=t -c user.email=t@e commit -qm m; git log --oneline | wc -l",
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "hi\n1\n");
}
