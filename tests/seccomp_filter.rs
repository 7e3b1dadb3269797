//! The compiled seccomp filter, checked in the kernel without profiles: a forked child installs
//! the filter (after no_new_privs), makes the syscalls and sends their results back through a
//! pipe. An unfiltered control child makes the same calls, so each check shows that the filter,
//! not the kernel's own permission checks, produced the errno.

mod common;

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use stockade::plan::{DenyAction, Seccomp, SeccompPolicy};
use stockade::sandbox::seccomp::{self, Filters};
use stockade::syscalls;

/// A syscall made in the child: a name for messages and the call itself. It returns the
/// result, or minus the errno.
type Probe = (&'static str, fn() -> i64);

const MAX_PROBES: usize = 64;

/// The result of one child: a value per probe, or the signal that killed it.
#[derive(Debug)]
struct Outcome {
    results: Vec<(&'static str, i64)>,
    signal: Option<i32>,
}

impl Outcome {
    #[track_caller]
    fn get(&self, name: &str) -> i64 {
        assert_eq!(self.signal, None, "the child was killed: {self:?}");
        self.results
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no probe {name}"))
            .1
    }
}

/// A raw syscall. Every probe passes integers, null, or pointers to memory that outlives the
/// call.
fn raw(nr: libc::c_long, args: [usize; 6]) -> i64 {
    // SAFETY: see above; the kernel validates the arguments and reports errors as -1/errno.
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if r < 0 {
        -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        r as i64
    }
}

fn policy() -> SeccompPolicy {
    SeccompPolicy {
        allow: syscalls::resolve(&["@system-service".to_string()])
            .expect("@system-service resolves")
            .syscalls,
        deny_eperm: Vec::new(),
        default_action: DenyAction::Enosys,
        allow_namespaces: false,
        socket_families: vec![libc::AF_UNIX, libc::AF_INET, libc::AF_INET6],
    }
}

fn filters_for(policy: SeccompPolicy) -> Filters {
    seccomp::prepare(&Seccomp::Policy(policy)).expect("the policy compiles")
}

/// The controlling terminal the child's ioctl probes use (-1 when none could be set up).
static PTY_SLAVE: AtomicI32 = AtomicI32::new(-1);

/// Forks a child that runs `probes`, under `filters` when given.
fn in_child(filters: Option<&Filters>, probes: &[Probe]) -> Outcome {
    assert!(probes.len() <= MAX_PROBES);
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child only makes raw syscalls, writes to the pipe and _exits: nothing that
    // needs a lock another thread of the test harness might hold.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child(filters, probes, fds[1]);
    }
    // SAFETY: the write end is ours to close; the read end becomes an OwnedFd once.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] came from pipe2 and nothing else owns it.
    let mut reader = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .expect("reading the child's results");
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let signal = libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status));
    let results = bytes
        .chunks_exact(8)
        .zip(probes)
        .map(|(b, (name, _))| (*name, i64::from_ne_bytes(b.try_into().unwrap())))
        .collect();
    Outcome { results, signal }
}

fn child(filters: Option<&Filters>, probes: &[Probe], out: i32) -> ! {
    set_up_controlling_pty();
    if let Some(filters) = filters {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0
            || seccomp::install(filters).is_err()
        {
            // SAFETY: ends the forked child without running the harness's exit handlers.
            unsafe { libc::_exit(99) };
        }
    }
    let mut results = [0i64; MAX_PROBES];
    for (slot, (_, probe)) in results.iter_mut().zip(probes) {
        *slot = probe();
    }
    let len = probes.len() * 8;
    // SAFETY: results is a live array of at least `len` bytes.
    unsafe { libc::write(out, results.as_ptr().cast(), len) };
    // SAFETY: as above.
    unsafe { libc::_exit(0) }
}

/// Gives the child a new session whose controlling terminal is a fresh pty, so that TIOCSTI
/// is allowed by the kernel (it refuses it on a terminal that is not the caller's own).
fn set_up_controlling_pty() {
    // SAFETY: plain libc calls on descriptors this child owns; ptsname's static buffer is
    // safe in this single-threaded child.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        if master < 0 || libc::grantpt(master) != 0 || libc::unlockpt(master) != 0 {
            return;
        }
        let name = libc::ptsname(master);
        if name.is_null() || libc::setsid() < 0 {
            return;
        }
        let slave = libc::open(name, libc::O_RDWR);
        if slave >= 0 {
            PTY_SLAVE.store(slave, Ordering::Relaxed);
        }
    }
}

fn tiocsti(high: u64) -> i64 {
    let byte: u8 = b'x';
    let fd = PTY_SLAVE.load(Ordering::Relaxed);
    if fd < 0 {
        return i64::MIN;
    }
    let request = libc::TIOCSTI | high;
    raw(
        libc::SYS_ioctl,
        [
            fd as usize,
            request as usize,
            &byte as *const u8 as usize,
            0,
            0,
            0,
        ],
    )
}

/// clone(flags) without a new stack: the child, if one is created, returns 0 and leaves.
fn clone_with(flags: i32) -> i64 {
    let r = raw(libc::SYS_clone, [flags as usize, 0, 0, 0, 0, 0]);
    if r == 0 {
        // SAFETY: ends the clone child at once.
        unsafe { libc::_exit(0) };
    }
    if r > 0 {
        // SAFETY: reaping our own child; a null status pointer is allowed.
        unsafe { libc::waitpid(r as i32, std::ptr::null_mut(), libc::__WALL) };
        return 0;
    }
    r
}

fn socket(family: i32, kind: i32, protocol: i32) -> i64 {
    let fd = raw(
        libc::SYS_socket,
        [family as usize, kind as usize, protocol as usize, 0, 0, 0],
    );
    if fd >= 0 {
        // SAFETY: closing the socket just created.
        unsafe { libc::close(fd as i32) };
        return 0;
    }
    fd
}

/// Whether /proc/self/status says "Seccomp:\t2" (filter mode), read with raw calls.
fn seccomp_mode_in_status() -> i64 {
    let path = b"/proc/self/status\0";
    let fd = raw(
        libc::SYS_openat,
        [
            libc::AT_FDCWD as usize,
            path.as_ptr() as usize,
            libc::O_RDONLY as usize,
            0,
            0,
            0,
        ],
    );
    if fd < 0 {
        return fd;
    }
    let mut buf = [0u8; 8192];
    let n = raw(
        libc::SYS_read,
        [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
    );
    raw(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
    if n < 0 {
        return n;
    }
    let text = &buf[..n as usize];
    let needle = b"\nSeccomp:\t";
    match text.windows(needle.len()).position(|w| w == needle) {
        Some(at) => i64::from(text[at + needle.len()] - b'0'),
        None => -1,
    }
}

const ENOSYS: i64 = -(libc::ENOSYS as i64);
const EPERM: i64 = -(libc::EPERM as i64);
const EAFNOSUPPORT: i64 = -(libc::EAFNOSUPPORT as i64);

const NULL: usize = 0;

/// Calls that the @system-service policy leaves out: the filter answers ENOSYS.
const LEFT_OUT: &[Probe] = &[
    ("ptrace", || {
        // Attaching to init: the kernel would refuse with EPERM. (Attaching to the test
        // process itself would succeed without Yama and stop the whole test run.)
        raw(
            libc::SYS_ptrace,
            [libc::PTRACE_ATTACH as usize, 1, 0, 0, 0, 0],
        )
    }),
    ("keyctl", || {
        // KEYCTL_GET_KEYRING_ID of the session keyring: allowed to anyone by the kernel.
        raw(libc::SYS_keyctl, [0, (-3i64) as usize, 0, 0, 0, 0])
    }),
    ("add_key", || {
        let kind = b"user\0";
        let desc = b"stockade-test\0";
        let key_spec_process_keyring = -2i64 as usize;
        let args = [
            kind.as_ptr() as usize,
            desc.as_ptr() as usize,
            desc.as_ptr() as usize,
            1,
        ];
        raw(
            libc::SYS_add_key,
            [
                args[0],
                args[1],
                args[2],
                args[3],
                key_spec_process_keyring,
                0,
            ],
        )
    }),
    ("request_key", || {
        let kind = b"user\0";
        let desc = b"stockade-test\0";
        raw(
            libc::SYS_request_key,
            [kind.as_ptr() as usize, desc.as_ptr() as usize, 0, 0, 0, 0],
        )
    }),
    ("bpf", || raw(libc::SYS_bpf, [0, NULL, 0, 0, 0, 0])),
    ("perf_event_open", || {
        raw(
            libc::SYS_perf_event_open,
            [NULL, 0, usize::MAX, usize::MAX, 0, 0],
        )
    }),
    ("userfaultfd", || raw(libc::SYS_userfaultfd, [0; 6])),
    ("kexec_load", || raw(libc::SYS_kexec_load, [0; 6])),
    ("init_module", || raw(libc::SYS_init_module, [0; 6])),
    ("finit_module", || {
        raw(libc::SYS_finit_module, [usize::MAX, NULL, 0, 0, 0, 0])
    }),
    ("open_by_handle_at", || {
        raw(libc::SYS_open_by_handle_at, [usize::MAX, NULL, 0, 0, 0, 0])
    }),
    ("name_to_handle_at", || {
        raw(
            libc::SYS_name_to_handle_at,
            [usize::MAX, NULL, NULL, NULL, 0, 0],
        )
    }),
    ("mount", || raw(libc::SYS_mount, [0; 6])),
    ("umount2", || raw(libc::SYS_umount2, [0; 6])),
    ("pivot_root", || raw(libc::SYS_pivot_root, [0; 6])),
    ("swapon", || raw(libc::SYS_swapon, [0; 6])),
    ("reboot", || raw(libc::SYS_reboot, [0; 6])),
    ("acct", || raw(libc::SYS_acct, [0; 6])),
    ("setns", || {
        raw(libc::SYS_setns, [usize::MAX, 0, 0, 0, 0, 0])
    }),
    ("process_vm_writev", || {
        raw(libc::SYS_process_vm_writev, [1, NULL, 0, NULL, 0, 0])
    }),
    #[cfg(target_arch = "x86_64")]
    ("iopl", || raw(libc::SYS_iopl, [3, 0, 0, 0, 0, 0])),
    ("io_uring_setup", || raw(libc::SYS_io_uring_setup, [0; 6])),
];

/// Calls the filter checks by argument, and calls that must keep working.
const CHECKED: &[Probe] = &[
    ("getpid", || raw(libc::SYS_getpid, [0; 6])),
    ("seccomp mode", seccomp_mode_in_status),
    ("read /etc/passwd", || {
        let path = b"/etc/passwd\0";
        let fd = raw(
            libc::SYS_openat,
            [libc::AT_FDCWD as usize, path.as_ptr() as usize, 0, 0, 0, 0],
        );
        if fd < 0 {
            return fd;
        }
        let mut buf = [0u8; 64];
        let n = raw(
            libc::SYS_read,
            [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
        );
        raw(libc::SYS_close, [fd as usize, 0, 0, 0, 0, 0]);
        n
    }),
    ("socket AF_UNIX", || {
        socket(libc::AF_UNIX, libc::SOCK_STREAM, 0)
    }),
    ("socket AF_INET", || {
        socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
    }),
    ("socket AF_PACKET", || {
        socket(libc::AF_PACKET, libc::SOCK_DGRAM, 0)
    }),
    ("socket AF_NETLINK", || {
        socket(libc::AF_NETLINK, libc::SOCK_RAW, 0)
    }),
    // Before unshare: after it the child's ids are unmapped, and an unmapped user may not
    // create a further user namespace.
    ("clone CLONE_NEWUSER", || {
        clone_with(libc::CLONE_NEWUSER | libc::SIGCHLD)
    }),
    ("unshare CLONE_NEWUSER", || {
        raw(
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as usize, 0, 0, 0, 0, 0],
        )
    }),
    ("clone (fork)", || clone_with(libc::SIGCHLD)),
    ("clone3", || {
        // struct clone_args with exit_signal = SIGCHLD and nothing else.
        let mut args = [0u64; 11];
        args[4] = libc::SIGCHLD as u64;
        let r = raw(libc::SYS_clone3, [args.as_ptr() as usize, 88, 0, 0, 0, 0]);
        if r == 0 {
            // SAFETY: ends the clone3 child at once.
            unsafe { libc::_exit(0) };
        }
        r.min(0)
    }),
    ("personality query", || {
        raw(libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0])
    }),
    ("personality PER_LINUX32", || {
        raw(libc::SYS_personality, [0x0008, 0, 0, 0, 0, 0])
    }),
    ("personality ADDR_NO_RANDOMIZE", || {
        raw(
            libc::SYS_personality,
            [libc::ADDR_NO_RANDOMIZE as usize, 0, 0, 0, 0, 0],
        )
    }),
    ("personality READ_IMPLIES_EXEC", || {
        raw(
            libc::SYS_personality,
            [libc::READ_IMPLIES_EXEC as usize, 0, 0, 0, 0, 0],
        )
    }),
    ("ioctl TIOCSTI", || tiocsti(0)),
    ("ioctl TIOCSTI high bits", || tiocsti(1 << 32)),
    ("ioctl TIOCGWINSZ", || {
        let mut size = [0u16; 4];
        let fd = PTY_SLAVE.load(Ordering::Relaxed);
        if fd < 0 {
            return i64::MIN;
        }
        raw(
            libc::SYS_ioctl,
            [
                fd as usize,
                libc::TIOCGWINSZ as usize,
                size.as_mut_ptr() as usize,
                0,
                0,
                0,
            ],
        )
    }),
];

#[test]
fn left_out_syscalls_get_the_default_action_from_the_filter() {
    common::require_ordinary_user();
    let control = in_child(None, LEFT_OUT);
    let enosys = in_child(Some(&filters_for(policy())), LEFT_OUT);
    let mut eperm_policy = policy();
    eperm_policy.default_action = DenyAction::Eperm;
    let eperm = in_child(Some(&filters_for(eperm_policy)), LEFT_OUT);
    for (name, _) in LEFT_OUT {
        // The kernel answers some of these itself (EPERM without privileges, ENOSYS when built
        // without the feature); only the filter follows the policy's default both ways.
        println!("{name}: {} without the filter", control.get(name));
        assert_eq!(enosys.get(name), ENOSYS, "{name} under the ENOSYS default");
        assert_eq!(eperm.get(name), EPERM, "{name} under the EPERM default");
    }
}

#[test]
fn argument_checks_and_ordinary_calls_behave() {
    common::require_ordinary_user();
    let control = in_child(None, CHECKED);
    let f = in_child(Some(&filters_for(policy())), CHECKED);

    assert_eq!(control.get("seccomp mode"), 0);
    assert_eq!(f.get("seccomp mode"), 2);
    assert!(f.get("getpid") > 0);
    assert!(f.get("read /etc/passwd") > 0);
    assert_eq!(f.get("socket AF_UNIX"), 0);
    assert_eq!(f.get("socket AF_INET"), 0);
    assert_eq!(f.get("clone (fork)"), 0);
    assert!(f.get("personality query") >= 0);
    assert!(f.get("personality PER_LINUX32") >= 0);

    // The kernel says EPERM for an unprivileged packet socket; the filter says EAFNOSUPPORT.
    assert_ne!(control.get("socket AF_PACKET"), EAFNOSUPPORT);
    assert_eq!(f.get("socket AF_PACKET"), EAFNOSUPPORT);
    assert_eq!(control.get("socket AF_NETLINK"), 0);
    assert_eq!(f.get("socket AF_NETLINK"), EAFNOSUPPORT);

    assert_eq!(control.get("clone3"), 0);
    assert_eq!(f.get("clone3"), ENOSYS);

    // personality returns the previous persona (PER_LINUX32, set by the probe before).
    assert!(control.get("personality ADDR_NO_RANDOMIZE") >= 0);
    assert_eq!(f.get("personality ADDR_NO_RANDOMIZE"), EPERM);
    assert_eq!(f.get("personality READ_IMPLIES_EXEC"), EPERM);

    if control.get("unshare CLONE_NEWUSER") == 0 {
        assert_eq!(control.get("clone CLONE_NEWUSER"), 0);
        assert_eq!(f.get("unshare CLONE_NEWUSER"), EPERM);
        assert_eq!(f.get("clone CLONE_NEWUSER"), EPERM);
    } else {
        common::skip("unprivileged user namespaces are off: the EPERM would prove nothing");
    }

    match control.get("ioctl TIOCSTI") {
        i64::MIN => common::skip("no pty could be opened for the TIOCSTI checks"),
        without => {
            // The kernel allows TIOCSTI on one's own terminal (0), or refuses it for everyone
            // when dev.tty.legacy_tiocsti is 0 (EIO); never EPERM here.
            assert_ne!(without, EPERM, "TIOCSTI without the filter");
            assert_eq!(control.get("ioctl TIOCSTI high bits"), without);
            assert_eq!(f.get("ioctl TIOCSTI"), EPERM);
            assert_eq!(f.get("ioctl TIOCSTI high bits"), EPERM);
            assert_eq!(f.get("ioctl TIOCGWINSZ"), 0);
        }
    }
}

#[test]
fn deny_eperm_and_default_action_reach_the_kernel() {
    common::require_ordinary_user();
    let probes: &[Probe] = &[
        ("getppid", || raw(libc::SYS_getppid, [0; 6])),
        ("mount", || raw(libc::SYS_mount, [0; 6])),
        ("getpid", || raw(libc::SYS_getpid, [0; 6])),
    ];
    let mut p = policy();
    p.deny_eperm = vec!["getppid".into()];
    p.default_action = DenyAction::Eperm;
    let out = in_child(Some(&filters_for(p)), probes);
    assert_eq!(out.get("getppid"), EPERM);
    assert_eq!(out.get("mount"), EPERM);
    assert!(out.get("getpid") > 0);

    let mut p = policy();
    p.default_action = DenyAction::Kill;
    let out = in_child(Some(&filters_for(p)), probes);
    assert_eq!(out.signal, Some(libc::SIGSYS), "{out:?}");
}

#[test]
fn allow_namespaces_lets_unshare_through() {
    common::require_ordinary_user();
    let probes: &[Probe] = &[("unshare CLONE_NEWUSER", || {
        raw(
            libc::SYS_unshare,
            [libc::CLONE_NEWUSER as usize, 0, 0, 0, 0, 0],
        )
    })];
    if in_child(None, probes).get("unshare CLONE_NEWUSER") != 0 {
        common::skip("unprivileged user namespaces are off");
        return;
    }
    let mut p = policy();
    p.allow_namespaces = true;
    assert_eq!(
        in_child(Some(&filters_for(p)), probes).get("unshare CLONE_NEWUSER"),
        0
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x32_and_i386_syscalls_are_killed() {
    common::require_ordinary_user();
    let x32: &[Probe] = &[("x32 getpid", || raw(0x4000_0000 | 39, [0; 6]))];
    let i386: &[Probe] = &[("int 0x80 getpid", || {
        let ret: i32;
        // SAFETY: i386 getpid (20) through the compat entry; it takes no arguments and
        // touches no memory. r8-r11 are declared clobbered for older kernels.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inlateout("eax") 20i32 => ret,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack)
            );
        }
        i64::from(ret)
    })];
    let filters = filters_for(policy());

    // Unfiltered, the kernel either runs the x32 call or answers ENOSYS (no x32 support).
    let control = in_child(None, x32);
    assert_eq!(control.signal, None);
    assert_eq!(in_child(Some(&filters), x32).signal, Some(libc::SIGSYS));

    let control = in_child(None, i386);
    if control.signal.is_some() {
        common::skip("this kernel has no i386 emulation (int 0x80 faults)");
    } else {
        assert!(control.get("int 0x80 getpid") > 0);
        assert_eq!(in_child(Some(&filters), i386).signal, Some(libc::SIGSYS));
    }
}

#[test]
fn compile_time_of_large_allowlists() {
    let everything = SeccompPolicy {
        allow: syscalls::resolve(&["@known".to_string(), "!@obsolete".to_string()])
            .unwrap()
            .syscalls,
        ..policy()
    };
    for (what, policy) in [
        ("@system-service", policy()),
        ("@known !@obsolete", everything),
    ] {
        let names = policy.allow.len();
        let seccomp = Seccomp::Policy(policy);
        let rounds = 200;
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(seccomp::prepare(&seccomp).unwrap());
        }
        let per = start.elapsed() / rounds;
        let len = seccomp::prepare(&seccomp).unwrap().0[0].len();
        println!(
            "prepare {what}: {names} syscalls -> {len} instructions in {per:?} (mean of {rounds})"
        );
        // Generous even for a debug build; release is far below.
        assert!(per.as_millis() < 20, "{per:?}");
    }
}
