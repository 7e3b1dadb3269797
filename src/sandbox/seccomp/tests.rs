//! The compiled programs are run through a small classic-BPF interpreter, so every verdict is
//! checked as the kernel would compute it, without installing anything.

use super::*;

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const EAFNOSUPPORT: u32 = libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32;
const EPROTONOSUPPORT: u32 = libc::SECCOMP_RET_ERRNO | libc::EPROTONOSUPPORT as u32;

/// struct seccomp_data, as bytes the way the kernel lays it out (little-endian).
fn data(arch: u32, nr: u32, args: [u64; 6]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&nr.to_le_bytes());
    bytes.extend_from_slice(&arch.to_le_bytes());
    bytes.extend_from_slice(&0x7fff_1234_5678u64.to_le_bytes());
    for a in args {
        bytes.extend_from_slice(&a.to_le_bytes());
    }
    bytes
}

/// Runs the program; panics on anything the kernel's checker would refuse.
fn run(program: &[sock_filter], data: &[u8]) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = program.get(pc).expect("ran off the end of the program");
        let branch = |taken: bool| 1 + usize::from(if taken { ins.jt } else { ins.jf });
        pc += match ins.code {
            LD_W_ABS => {
                let k = ins.k as usize;
                assert!(k % 4 == 0 && k + 4 <= data.len(), "bad load offset {k}");
                a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                1
            }
            JMP_JA => 1 + ins.k as usize,
            JMP_JEQ_K => branch(a == ins.k),
            JMP_JGE_K => branch(a >= ins.k),
            JMP_JSET_K => branch(a & ins.k != 0),
            RET_K => return ins.k,
            other => panic!("unexpected opcode {other:#x}"),
        };
    }
}

struct Compiled {
    arch: Arch,
    audit: u32,
    program: BpfProgram,
}

impl Compiled {
    fn new(policy: &SeccompPolicy, arch: Arch) -> Compiled {
        let audit = match arch {
            Arch::X86_64 => AUDIT_ARCH_X86_64,
            Arch::Aarch64 => AUDIT_ARCH_AARCH64,
        };
        Compiled {
            arch,
            audit,
            program: compile(policy, arch).expect("compiles"),
        }
    }

    fn nr(&self, name: &str) -> u32 {
        self.arch.number(name).unwrap_or_else(|| panic!("{name}"))
    }

    fn call(&self, name: &str, args: [u64; 6]) -> u32 {
        run(&self.program, &data(self.audit, self.nr(name), args))
    }

    fn call_nr(&self, nr: u32) -> u32 {
        run(&self.program, &data(self.audit, nr, [0; 6]))
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn service_policy(arch: Arch) -> SeccompPolicy {
    SeccompPolicy {
        allow: syscalls::resolve_for(arch, &names(&["@system-service"]))
            .unwrap()
            .syscalls,
        deny_eperm: Vec::new(),
        default_action: DenyAction::Enosys,
        allow_namespaces: false,
        socket_families: vec![libc::AF_UNIX, libc::AF_INET, libc::AF_INET6],
    }
}

/// Argument patterns that must not change the verdict of an unconditionally allowed call.
const ARG_PATTERNS: [[u64; 6]; 4] = [
    [0; 6],
    [u64::MAX; 6],
    [0x5412, 0x5412, 0x1000_0000, 0x0040_0000, 17, 0],
    [0x1_0000_5412, 0xffff_ffff_0000_0000, 1, 2, 3, 4],
];

const ARG_CHECKED: [&str; 6] = [
    "ioctl",
    "clone",
    "unshare",
    "personality",
    "socket",
    "clone3",
];

#[test]
fn every_syscall_gets_the_policy_verdict() {
    for arch in Arch::ALL {
        let policy = service_policy(arch);
        let c = Compiled::new(&policy, arch);
        for (name, nr) in arch.table() {
            if ARG_CHECKED.contains(name) {
                continue;
            }
            let expected = if policy.allow.iter().any(|a| a == name) {
                ALLOW
            } else {
                ENOSYS
            };
            for args in ARG_PATTERNS {
                let got = run(&c.program, &data(c.audit, *nr, args));
                assert_eq!(got, expected, "{}: {name} {args:x?}", arch.name());
            }
        }
    }
}

#[test]
fn dangerous_calls_are_refused_by_the_service_policy() {
    let c = Compiled::new(&service_policy(Arch::X86_64), Arch::X86_64);
    for name in [
        "ptrace",
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
        "iopl",
        "io_uring_setup",
    ] {
        assert_eq!(c.call(name, [0; 6]), ENOSYS, "{name}");
    }
    for name in ["read", "write", "openat", "execve", "getpid", "exit_group"] {
        assert_eq!(c.call(name, [0; 6]), ALLOW, "{name}");
    }
}

#[test]
fn deny_eperm_wins_over_allow() {
    let mut policy = service_policy(Arch::X86_64);
    policy.deny_eperm = names(&["getppid", "ptrace"]);
    let c = Compiled::new(&policy, Arch::X86_64);
    assert_eq!(c.call("getppid", [0; 6]), EPERM);
    assert_eq!(c.call("ptrace", [0; 6]), EPERM);
    assert_eq!(c.call("getpid", [0; 6]), ALLOW);
}

#[test]
fn the_default_action_is_the_policys() {
    let mut policy = service_policy(Arch::X86_64);
    policy.default_action = DenyAction::Eperm;
    assert_eq!(
        Compiled::new(&policy, Arch::X86_64).call("ptrace", [0; 6]),
        EPERM
    );
    policy.default_action = DenyAction::Kill;
    let c = Compiled::new(&policy, Arch::X86_64);
    assert_eq!(c.call("ptrace", [0; 6]), KILL);
    assert_eq!(c.call_nr(999), KILL);
    assert_eq!(c.call("read", [0; 6]), ALLOW);
}

#[test]
fn clone3_is_always_enosys() {
    for action in [DenyAction::Enosys, DenyAction::Eperm, DenyAction::Kill] {
        let mut policy = service_policy(Arch::X86_64);
        policy.default_action = action;
        policy.allow_namespaces = true;
        assert!(policy.allow.contains(&"clone3".to_string()));
        let c = Compiled::new(&policy, Arch::X86_64);
        assert_eq!(c.call("clone3", [0; 6]), ENOSYS, "{action:?}");
        policy.allow.retain(|n| n != "clone3");
        let c = Compiled::new(&policy, Arch::X86_64);
        assert_eq!(c.call("clone3", [0; 6]), ENOSYS, "{action:?}");
    }
}

#[test]
fn tiocsti_and_tioclinux_are_refused_whatever_the_high_bits() {
    for arch in Arch::ALL {
        let c = Compiled::new(&service_policy(arch), arch);
        for request in [0x5412u64, 0x541c] {
            for high in [0u64, 1 << 32, 0xffff_ffff << 32, 0x8000_0000 << 32] {
                assert_eq!(c.call("ioctl", [1, request | high, 0, 0, 0, 0]), EPERM);
            }
        }
        for request in [libc::TCGETS, libc::FIONREAD, 0x5413, 0x5411, 0] {
            assert_eq!(c.call("ioctl", [1, request, 0, 0, 0, 0]), ALLOW);
            assert_eq!(c.call("ioctl", [0x5412, request, 0x5412, 0, 0, 0]), ALLOW);
        }
    }
}

#[test]
fn namespace_flags_are_refused_in_clone_and_unshare() {
    let ns_flags = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWCGROUP,
    ];
    for arch in Arch::ALL {
        let c = Compiled::new(&service_policy(arch), arch);
        for flag in ns_flags {
            let flags = (flag | libc::SIGCHLD) as u64;
            assert_eq!(c.call("clone", [flags, 0, 0, 0, 0, 0]), EPERM, "{flag:#x}");
            assert_eq!(c.call("unshare", [flag as u64, 0, 0, 0, 0, 0]), EPERM);
            assert_eq!(
                c.call("unshare", [flag as u64 | 1 << 40, 0, 0, 0, 0, 0]),
                EPERM
            );
        }
        assert_eq!(
            c.call("unshare", [libc::CLONE_NEWTIME as u64, 0, 0, 0, 0, 0]),
            EPERM
        );
        // What glibc's fork, pthread_create and posix_spawn pass.
        let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
        let thread = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_SETTLS
            | libc::CLONE_PARENT_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        let spawn = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
        for flags in [fork, thread, spawn] {
            assert_eq!(c.call("clone", [flags, 1, 2, 3, 4, 5]), ALLOW, "{flags:#x}");
        }
        let files = libc::CLONE_FILES as u64;
        assert_eq!(c.call("unshare", [files, 0, 0, 0, 0, 0]), ALLOW);
    }
}

#[test]
fn allow_namespaces_lifts_the_flag_checks() {
    let mut policy = service_policy(Arch::X86_64);
    policy.allow_namespaces = true;
    let c = Compiled::new(&policy, Arch::X86_64);
    let newuser = libc::CLONE_NEWUSER as u64;
    assert_eq!(c.call("unshare", [newuser, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(c.call("clone", [newuser | 17, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(c.call("clone3", [0; 6]), ENOSYS);
}

#[test]
fn only_harmless_personas_are_allowed() {
    let c = Compiled::new(&service_policy(Arch::X86_64), Arch::X86_64);
    for persona in [0u64, 0x0008, 0x0020000, 0x0020008, 0xffff_ffff, 1 << 32] {
        assert_eq!(c.call("personality", [persona, 0, 0, 0, 0, 0]), ALLOW);
    }
    for persona in [
        libc::ADDR_NO_RANDOMIZE as u64,
        libc::READ_IMPLIES_EXEC as u64,
        0x0100000, // MMAP_PAGE_ZERO
        0x0200000, // ADDR_COMPAT_LAYOUT
        0x0800000, // ADDR_LIMIT_32BIT
        0x0001,    // PER_SVR4's base
        0x0008 | libc::ADDR_NO_RANDOMIZE as u64,
        libc::ADDR_NO_RANDOMIZE as u64 | 1 << 32,
        0xffff_fffe,
    ] {
        assert_eq!(
            c.call("personality", [persona, 0, 0, 0, 0, 0]),
            EPERM,
            "{persona:#x}"
        );
    }
}

#[test]
fn socket_families_follow_the_policy() {
    let c = Compiled::new(&service_policy(Arch::X86_64), Arch::X86_64);
    for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
        assert_eq!(c.call("socket", [family as u64, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            c.call("socket", [family as u64 | 1 << 32, 1, 0, 0, 0, 0]),
            ALLOW
        );
    }
    for family in [
        libc::AF_PACKET,
        libc::AF_NETLINK,
        libc::AF_BLUETOOTH,
        0,
        1000,
    ] {
        let got = c.call("socket", [family as u64, 3, 0, 0, 0, 0]);
        assert_eq!(got, EAFNOSUPPORT, "{family}");
    }
    // socketpair and the calls on an existing socket are not argument-checked.
    assert_eq!(
        c.call("socketpair", [libc::AF_PACKET as u64, 1, 0, 0, 0, 0]),
        ALLOW
    );
}

#[test]
fn netlink_when_listed_is_route_only() {
    let mut policy = service_policy(Arch::Aarch64);
    policy.socket_families.push(libc::AF_NETLINK);
    let c = Compiled::new(&policy, Arch::Aarch64);
    let netlink = libc::AF_NETLINK as u64;
    assert_eq!(c.call("socket", [netlink, 3, 0, 0, 0, 0]), ALLOW);
    assert_eq!(c.call("socket", [netlink, 3, 9, 0, 0, 0]), EPROTONOSUPPORT);
    assert_eq!(c.call("socket", [netlink, 3, 15, 0, 0, 0]), EPROTONOSUPPORT);
    for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6] {
        assert_eq!(c.call("socket", [family as u64, 1, 0, 0, 0, 0]), ALLOW);
    }
    assert_eq!(
        c.call("socket", [libc::AF_PACKET as u64, 3, 0, 0, 0, 0]),
        EAFNOSUPPORT
    );
}

#[test]
fn empty_socket_family_list_refuses_every_socket() {
    let mut policy = service_policy(Arch::X86_64);
    policy.socket_families.clear();
    let c = Compiled::new(&policy, Arch::X86_64);
    assert_eq!(
        c.call("socket", [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]),
        EAFNOSUPPORT
    );
}

#[test]
fn foreign_abis_are_killed() {
    let c = Compiled::new(&service_policy(Arch::X86_64), Arch::X86_64);
    const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
    for nr in [0, 20, 39, 120] {
        assert_eq!(run(&c.program, &data(AUDIT_ARCH_I386, nr, [0; 6])), KILL);
        assert_eq!(run(&c.program, &data(AUDIT_ARCH_AARCH64, nr, [0; 6])), KILL);
    }
    // x32: the same numbers with bit 30 set, including x32's own 512.. range.
    for nr in [0, 1, 39, 59, 514, 521, 0x3fff_ffff] {
        assert_eq!(c.call_nr(X32_SYSCALL_BIT | nr), KILL, "{nr}");
    }
    assert_eq!(c.call_nr(u32::MAX), ENOSYS, "-1 stays with the default");
    assert_eq!(c.call_nr(X32_SYSCALL_BIT - 1), ENOSYS);
    assert_eq!(c.call_nr(1000), ENOSYS);

    let a = Compiled::new(&service_policy(Arch::Aarch64), Arch::Aarch64);
    const AUDIT_ARCH_ARM: u32 = 40 | 0x4000_0000;
    assert_eq!(run(&a.program, &data(AUDIT_ARCH_ARM, 63, [0; 6])), KILL);
    assert_eq!(run(&a.program, &data(AUDIT_ARCH_X86_64, 63, [0; 6])), KILL);
    assert_eq!(a.call_nr(X32_SYSCALL_BIT | 63), ENOSYS, "no x32 on aarch64");
}

#[test]
fn long_programs_keep_their_jumps_right() {
    // Allowing every other syscall defeats range merging and makes the left halves of the
    // search tree longer than a conditional jump can skip.
    for arch in Arch::ALL {
        let mut table: Vec<(&str, u32)> = arch.table().to_vec();
        table.sort_by_key(|(_, nr)| *nr);
        let allowed: Vec<&str> = table
            .iter()
            .step_by(2)
            .map(|(n, _)| *n)
            .filter(|n| !ARG_CHECKED.contains(n))
            .collect();
        let policy = SeccompPolicy {
            allow: names(&allowed),
            ..SeccompPolicy::default()
        };
        let c = Compiled::new(&policy, arch);
        assert!(c.program.iter().any(|i| i.code == JMP_JA), "no long jump");
        for (name, nr) in &table {
            if ARG_CHECKED.contains(name) {
                continue;
            }
            let expected = if allowed.contains(name) {
                ALLOW
            } else {
                ENOSYS
            };
            assert_eq!(c.call_nr(*nr), expected, "{name}");
        }
    }
}

#[test]
fn everything_known_is_allowed_by_at_known() {
    let policy = SeccompPolicy {
        allow: syscalls::resolve_for(Arch::X86_64, &names(&["@known"]))
            .unwrap()
            .syscalls,
        allow_namespaces: true,
        socket_families: vec![libc::AF_UNIX],
        ..SeccompPolicy::default()
    };
    let c = Compiled::new(&policy, Arch::X86_64);
    for (name, nr) in Arch::X86_64.table() {
        let expected = if *name == "clone3" { ENOSYS } else { ALLOW };
        // Family 1 (AF_UNIX) for socket; argument 0 for everything else.
        let first = u64::from(*name == "socket");
        let got = run(&c.program, &data(c.audit, *nr, [first, 0, 0, 0, 0, 0]));
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn names_are_checked() {
    let mut policy = service_policy(Arch::X86_64);
    policy.allow.push("frobnicate".into());
    let err = compile(&policy, Arch::X86_64).unwrap_err().to_string();
    assert!(err.contains("'frobnicate'"), "{err}");

    let mut policy = service_policy(Arch::X86_64);
    policy.deny_eperm.push("nosuchcall".into());
    assert!(compile(&policy, Arch::X86_64).is_err());

    // x86_64-only names are skipped on aarch64, not refused.
    let policy = SeccompPolicy {
        allow: names(&["open", "openat", "fork"]),
        ..SeccompPolicy::default()
    };
    let c = Compiled::new(&policy, Arch::Aarch64);
    assert_eq!(c.call("openat", [0; 6]), ALLOW);
}

#[test]
fn the_service_program_is_small() {
    for arch in Arch::ALL {
        let c = Compiled::new(&service_policy(arch), arch);
        println!("{}: {} instructions", arch.name(), c.program.len());
        assert!(c.program.len() < 400, "{}", c.program.len());
    }
}

#[test]
fn off_and_fds_compile_to_nothing_here() {
    assert!(prepare(&Seccomp::Off).unwrap().0.is_empty());
    // Programs from descriptors are read and installed by the seccomp_fd stage instead.
    assert!(prepare(&Seccomp::Fds(vec![3])).unwrap().0.is_empty());
    if Arch::native().is_some() {
        let filters = prepare(&Seccomp::Policy(service_policy(Arch::native().unwrap()))).unwrap();
        assert_eq!(filters.0.len(), 1);
    }
}

/// The program as the search builds it, before its returns are shared.
fn unshared(policy: &SeccompPolicy, arch: Arch) -> Vec<sock_filter> {
    let verdicts = verdicts(policy, arch).unwrap();
    let ranges = ranges(&verdicts, &default_verdict(policy.default_action), arch);
    let mut program = check_arch(arch);
    program.push(load(OFFSET_NR));
    search(&ranges, &Leaves::new(policy), &mut program);
    program
}

#[test]
fn shared_returns_change_no_verdict() {
    // Arguments that reach every branch of the argument checks: TIOCSTI, namespace flags, a
    // harmless and a harmful persona, each socket family, netlink route and audit.
    let mut patterns = ARG_PATTERNS.to_vec();
    for first in [0, 1, 2, 10, 16, 17, 0x0010_0000, 0x4000_0000, 0x0002_0008] {
        for second in [0, 0x5412, 0x541c, 3] {
            for third in [0, 9] {
                patterns.push([first, second, third, 0, 0, 0]);
            }
        }
    }
    let mut policies: Vec<SeccompPolicy> = Arch::ALL.into_iter().map(service_policy).collect();
    let mut netlink = service_policy(Arch::X86_64);
    netlink.socket_families.push(libc::AF_NETLINK);
    netlink.default_action = DenyAction::Kill;
    netlink.deny_eperm = names(&["mount", "ptrace"]);
    policies.push(netlink);
    for (policy, arch) in policies
        .iter()
        .zip(Arch::ALL.into_iter().chain([Arch::X86_64]))
    {
        let before = unshared(policy, arch);
        let after = compile(policy, arch).unwrap();
        assert!(
            after.len() < before.len(),
            "{} -> {}",
            before.len(),
            after.len()
        );
        let returns = after.iter().filter(|i| i.code == RET_K).count();
        assert!(returns <= 8, "{returns} returns left");
        let audit = Compiled::new(policy, arch).audit;
        let numbers = (0..1100).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT | 1, u32::MAX]);
        for nr in numbers {
            for args in &patterns {
                for arch_value in [audit, AUDIT_ARCH_X86_64 ^ 0x8000_0000] {
                    let input = data(arch_value, nr, *args);
                    assert_eq!(run(&after, &input), run(&before, &input), "{nr} {args:x?}");
                }
            }
        }
    }
}
