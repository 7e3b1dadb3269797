use super::*;

fn entries(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn resolved(arch: Arch, list: &[&str]) -> Resolved {
    resolve_for(arch, &entries(list)).expect("resolves")
}

#[test]
fn tables_are_sorted_by_name_and_unique() {
    for arch in Arch::ALL {
        let table = arch.table();
        for pair in table.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{}: {:?}", arch.name(), pair);
        }
        let mut numbers: Vec<u32> = table.iter().map(|(_, n)| *n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(
            numbers.len(),
            table.len(),
            "{}: duplicate numbers",
            arch.name()
        );
    }
}

#[test]
fn tables_hold_known_numbers() {
    assert_eq!(Arch::X86_64.number("read"), Some(0));
    assert_eq!(Arch::X86_64.number("ioctl"), Some(16));
    assert_eq!(Arch::X86_64.number("clone3"), Some(435));
    assert_eq!(Arch::X86_64.number("file_setattr"), Some(469));
    assert_eq!(Arch::Aarch64.number("read"), Some(63));
    assert_eq!(Arch::Aarch64.number("ioctl"), Some(29));
    assert_eq!(Arch::Aarch64.number("clone"), Some(220));
    assert_eq!(Arch::Aarch64.number("open"), None);
    assert_eq!(Arch::Aarch64.number("fork"), None);
    assert_eq!(Arch::Aarch64.number("stat"), None);
}

#[test]
fn the_native_table_agrees_with_libc() {
    let Some(arch) = Arch::native() else { return };
    let samples: &[(&str, libc::c_long)] = &[
        ("read", libc::SYS_read),
        ("openat", libc::SYS_openat),
        ("ptrace", libc::SYS_ptrace),
        ("socket", libc::SYS_socket),
        ("personality", libc::SYS_personality),
        ("unshare", libc::SYS_unshare),
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("futex_waitv", libc::SYS_futex_waitv),
    ];
    for (name, nr) in samples {
        assert_eq!(arch.number(name), Some(*nr as u32), "{name}");
    }
}

#[test]
fn every_group_member_exists_somewhere_and_groups_are_acyclic() {
    for group in groups() {
        assert!(group.name.starts_with('@'));
        assert!(!group.description.is_empty(), "{}", group.name);
        for member in group.members {
            if member.starts_with('@') {
                assert!(expand_group(member).is_some(), "{} → {member}", group.name);
            } else {
                assert!(is_known(member), "{} → {member}", group.name);
            }
        }
        assert_no_cycle(group.name, &mut Vec::new());
    }
}

fn assert_no_cycle(name: &'static str, path: &mut Vec<&'static str>) {
    assert!(!path.contains(&name), "cycle: {path:?} → {name}");
    let group = groups().iter().find(|g| g.name == name).unwrap();
    path.push(name);
    for member in group.members.iter().filter(|m| m.starts_with('@')) {
        assert_no_cycle(member, path);
    }
    path.pop();
}

#[test]
fn requested_groups_exist() {
    for name in [
        "@default",
        "@basic-io",
        "@file-system",
        "@io-event",
        "@ipc",
        "@memory",
        "@network-io",
        "@process",
        "@signal",
        "@sync",
        "@timer",
        "@privileged",
        "@mount",
        "@module",
        "@raw-io",
        "@reboot",
        "@swap",
        "@debug",
        "@obsolete",
        "@aio",
        "@chown",
        "@clock",
        "@cpu-emulation",
        "@credentials",
        "@keyring",
        "@pkey",
        "@resources",
        "@setuid",
        "@sandbox",
        "@system-service",
        "@known",
    ] {
        assert!(expand_group(name).is_some_and(|s| !s.is_empty()), "{name}");
    }
}

#[test]
fn known_holds_every_syscall_of_every_table() {
    let known = expand_group("@known").unwrap();
    for arch in Arch::ALL {
        for (name, _) in arch.table() {
            assert!(known.contains(name), "{name}");
        }
    }
    assert!(known.contains("open") && known.contains("io_setup"));
}

#[test]
fn nested_groups_expand() {
    let privileged = expand_group("@privileged").unwrap();
    for name in [
        "chown",
        "mount",
        "reboot",
        "swapon",
        "init_module",
        "setuid",
        "bpf",
    ] {
        assert!(privileged.contains(name), "{name}");
    }
    let service = expand_group("@system-service").unwrap();
    for name in [
        "read", "openat", "execve", "clone", "socket", "ioctl", "fchown",
    ] {
        assert!(service.contains(name), "{name}");
    }
}

/// The list of what an ordinary program must not reach, plus the additions judged
/// dangerous in review.
const NEVER_IN_SYSTEM_SERVICE: &[&str] = &[
    "ptrace",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "setns",
    "iopl",
    "ioperm",
    "process_vm_readv",
    "process_vm_writev",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "chroot",
    "sethostname",
    "setdomainname",
    "lookup_dcookie",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "vhangup",
    "pidfd_getfd",
    "modify_ldt",
    "uselib",
    "_sysctl",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "nfsservctl",
    "fanotify_init",
];

#[test]
fn system_service_leaves_out_the_dangerous_calls() {
    let service = expand_group("@system-service").unwrap();
    for name in NEVER_IN_SYSTEM_SERVICE {
        assert!(is_known(name), "{name} is not in any table");
        assert!(!service.contains(name), "@system-service contains {name}");
    }
}

#[test]
fn resolve_adds_and_removes_in_order() {
    let r = resolved(Arch::X86_64, &["@basic-io", "!read", "getpid"]);
    assert!(!r.syscalls.contains(&"read".to_string()));
    assert!(r.syscalls.contains(&"write".to_string()));
    assert!(r.syscalls.contains(&"getpid".to_string()));

    let r = resolved(Arch::X86_64, &["!read", "@basic-io"]);
    assert!(r.syscalls.contains(&"read".to_string()), "a later add wins");

    let r = resolved(Arch::X86_64, &["@system-service", "!@network-io", "socket"]);
    assert!(r.syscalls.contains(&"socket".to_string()));
    assert!(!r.syscalls.contains(&"connect".to_string()));
}

#[test]
fn resolve_output_is_sorted_and_unique() {
    let r = resolved(Arch::X86_64, &["write", "read", "@basic-io", "read"]);
    let mut sorted = r.syscalls.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(r.syscalls, sorted);
}

#[test]
fn resolve_removing_a_group_removes_nested_members() {
    let r = resolved(Arch::X86_64, &["@known", "!@privileged"]);
    for name in ["mount", "chown", "reboot", "setuid"] {
        assert!(!r.syscalls.contains(&name.to_string()), "{name}");
    }
    assert!(r.syscalls.contains(&"read".to_string()));
}

#[test]
fn names_of_other_architectures_are_skipped_not_rejected() {
    let r = resolved(Arch::Aarch64, &["open", "openat", "fork", "@file-system"]);
    assert!(r.skipped_other_arch.contains(&"open".to_string()));
    assert!(r.skipped_other_arch.contains(&"fork".to_string()));
    assert!(r.skipped_other_arch.contains(&"stat".to_string()));
    assert!(r.syscalls.contains(&"openat".to_string()));
    assert!(!r.syscalls.contains(&"open".to_string()));

    let r = resolved(Arch::X86_64, &["open", "fork"]);
    assert_eq!(r.syscalls, vec!["fork".to_string(), "open".to_string()]);
    assert!(r.skipped_other_arch.is_empty());
}

#[test]
fn unknown_names_are_errors_with_their_index() {
    let err = resolve_for(Arch::X86_64, &entries(&["read", "@default", "frobnicate"])).unwrap_err();
    assert_eq!(err.index, 2);
    assert_eq!(err.message, "unknown syscall 'frobnicate'");

    let err = resolve_for(Arch::X86_64, &entries(&["!@nothing"])).unwrap_err();
    assert_eq!(err.index, 0);
    assert_eq!(err.message, "unknown syscall group '@nothing'");

    let err = resolve_for(Arch::X86_64, &entries(&["read", "!nosuchcall"])).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(err.message.contains("'nosuchcall'"));

    let err = resolve_for(Arch::X86_64, &entries(&["read", ""])).unwrap_err();
    assert_eq!(err.index, 1);
    let err = resolve_for(Arch::X86_64, &entries(&["!"])).unwrap_err();
    assert_eq!(err.index, 0);
}

#[test]
fn resolve_uses_the_native_table() {
    let Some(arch) = Arch::native() else { return };
    let list = entries(&["@system-service"]);
    assert_eq!(resolve(&list).unwrap(), resolve_for(arch, &list).unwrap());
}

#[test]
fn system_service_is_a_usable_size() {
    // Sanity: big enough for real programs, far from everything.
    let r = resolved(Arch::X86_64, &["@system-service"]);
    assert!(
        r.syscalls.len() > 250 && r.syscalls.len() < 380,
        "{}",
        r.syscalls.len()
    );
}

#[test]
fn the_index_is_the_sorted_union_of_the_tables() {
    let union: BTreeSet<&str> = Arch::ALL
        .iter()
        .flat_map(|a| a.table().iter().map(|(n, _)| *n))
        .collect();
    assert_eq!(index::NAMES.to_vec(), union.into_iter().collect::<Vec<_>>());
    for (i, name) in index::NAMES.iter().enumerate() {
        assert_eq!(index::index_of(name), Some(i), "{name}");
    }
    for name in ["", "@default", "Read", "rea", "readx", "zzz", "_", "\u{e9}"] {
        assert_eq!(index::index_of(name), None, "{name:?}");
    }
    // Lookups stay a hash and a compare or two.
    assert!(index::longest_probe() <= 6, "{}", index::longest_probe());
}

#[test]
fn index_numbers_agree_with_each_table() {
    for arch in Arch::ALL {
        let table = arch.table();
        for (i, name) in index::NAMES.iter().enumerate() {
            let expected = table
                .binary_search_by(|(n, _)| n.cmp(name))
                .ok()
                .map(|t| table[t].1);
            assert_eq!(arch.number(name), expected, "{} {name}", arch.name());
            assert_eq!(
                index::number_at(arch, i),
                expected.unwrap_or(index::NONE),
                "{} {name}",
                arch.name()
            );
        }
    }
}

/// The group expansion the index replaced: string sets, nested groups expanded recursively.
fn expand_by_name(name: &str, out: &mut BTreeSet<&'static str>) {
    let group = groups().iter().find(|g| g.name == name).unwrap();
    if group.name == "@known" {
        out.extend(index::NAMES.iter().copied());
        return;
    }
    for member in group.members {
        if member.starts_with('@') {
            expand_by_name(member, out);
        } else {
            out.insert(member);
        }
    }
}

#[test]
fn precomputed_groups_match_a_recursive_expansion() {
    for group in groups() {
        let mut expected = BTreeSet::new();
        expand_by_name(group.name, &mut expected);
        assert_eq!(expand_group(group.name), Some(expected), "{}", group.name);
    }
    assert_eq!(expand_group("@nothing"), None);
    assert_eq!(expand_group("default"), None);
}

#[test]
fn resolve_equals_set_operations_in_order() {
    let lists: &[&[&str]] = &[
        &["@system-service"],
        &[
            "@system-service",
            "!@network-io",
            "socket",
            "!read",
            "ptrace",
        ],
        &["@known", "!@privileged", "mount"],
        &["!@default", "@default", "!getpid", "open", "fork", "@aio"],
        &["read", "read", "!read", "read"],
        &[],
    ];
    for list in lists {
        let mut set = BTreeSet::new();
        for entry in *list {
            let (remove, name) = match entry.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, *entry),
            };
            let mut members = BTreeSet::new();
            if name.starts_with('@') {
                expand_by_name(name, &mut members);
            } else {
                members.insert(name);
            }
            for m in members {
                if remove {
                    set.remove(m);
                } else {
                    set.insert(m);
                }
            }
        }
        for arch in Arch::ALL {
            let r = resolved(arch, list);
            let (here, elsewhere): (Vec<&str>, Vec<&str>) =
                set.iter().partition(|n| arch.number(n).is_some());
            assert_eq!(r.syscalls, here, "{} {list:?}", arch.name());
            assert_eq!(r.skipped_other_arch, elsewhere, "{} {list:?}", arch.name());
        }
    }
}

#[test]
fn check_entries_reports_what_resolve_reports() {
    let lists: &[&[&str]] = &[
        &["read", "@default", "frobnicate"],
        &["!@nothing"],
        &["read", "!nosuchcall"],
        &["read", ""],
        &["!"],
        &["@system-service", "!@network-io", "open", "fork"],
        &["@known", "@Default"],
        &[],
    ];
    for list in lists {
        let checked = check_entries(list.iter().copied());
        assert_eq!(checked, resolve(list).map(|_| ()), "{list:?}");
    }
}
