//! Parser and plan tests: pure, no kernel. `--args` data comes from a fake reader.

use super::*;
use std::collections::HashMap;

fn words(s: &[&str]) -> Vec<OsString> {
    s.iter().map(OsString::from).collect()
}

/// Parses with `--args FD` served from `files`.
fn parse_files(args: &[&str], files: &HashMap<i32, Vec<u8>>) -> Result<Parsed, BwrapError> {
    let mut reader = |fd: i32| {
        files
            .get(&fd)
            .cloned()
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EBADF))
    };
    parse_with(&words(args), &mut reader)
}

fn opts(args: &[&str]) -> BwrapOptions {
    match parse_files(args, &HashMap::new()) {
        Ok(Parsed::Run(o)) => *o,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn err(args: &[&str]) -> String {
    match parse_files(args, &HashMap::new()) {
        Err(e) => e.message,
        other => panic!("{args:?} should fail: {other:?}"),
    }
}

fn user() -> Host {
    Host {
        uid: 1000,
        gid: 1000,
        effective_caps: Vec::new(),
        userns_available: true,
        cgroupns_available: true,
        selinux_enabled: false,
    }
}

fn root() -> Host {
    Host {
        uid: 0,
        gid: 0,
        effective_caps: vec!["CAP_CHOWN".into(), "CAP_KILL".into()],
        ..user()
    }
}

fn plan(args: &[&str], host: &Host) -> Result<Plan, BwrapError> {
    to_plan(&opts(args), host)
}

#[test]
fn no_arguments_is_a_usage_error() {
    let e = parse_files(&[], &HashMap::new()).unwrap_err();
    assert!(e.usage);
}

#[test]
fn help_and_version_act_where_they_appear() {
    assert_eq!(parse_files(&["--help"], &HashMap::new()), Ok(Parsed::Help));
    assert_eq!(
        parse_files(&["--unshare-pid", "--version", "--bogus"], &HashMap::new()),
        Ok(Parsed::Version)
    );
    // After the command, --help is the command's.
    assert_eq!(
        opts(&["true", "--help"]).command,
        words(&["true", "--help"])
    );
}

#[test]
fn usage_line_shows_argv0_as_given() {
    assert!(
        usage("./x/bwrap").starts_with("usage: ./x/bwrap [OPTIONS...] [--] COMMAND [ARGS...]\n\n")
    );
    let text = usage("bwrap");
    for opt in [
        "--overlay RWSRC WORKDIR DEST Mount",
        "--size BYTES",
        "--chmod OCTAL PATH",
    ] {
        assert!(text.contains(opt), "{opt}");
    }
}

#[test]
fn parsing_stops_at_the_first_non_option_or_double_dash() {
    let o = opts(&["--unshare-net", "ls", "--unshare-pid"]);
    assert!(o.unshare_net && !o.unshare_pid);
    assert_eq!(o.command, words(&["ls", "--unshare-pid"]));
    let o = opts(&["--", "--dev-bind", "/dev", "/dev"]);
    assert_eq!(o.command, words(&["--dev-bind", "/dev", "/dev"]));
    assert!(o.fs.is_empty());
}

#[test]
fn unknown_options_and_missing_values() {
    assert_eq!(
        err(&["--frobnicate", "true"]),
        "Unknown option --frobnicate"
    );
    assert_eq!(err(&["-x"]), "Unknown option -x");
    // --opt=VALUE is not bubblewrap syntax.
    assert_eq!(
        err(&["--chdir=/tmp", "true"]),
        "Unknown option --chdir=/tmp"
    );
    assert_eq!(err(&["--bind", "/a"]), "--bind takes two arguments");
    assert_eq!(
        err(&["--ro-bind-try", "/a"]),
        "--ro-bind-try takes two arguments"
    );
    assert_eq!(err(&["--bind-fd", "3"]), "--bind-fd takes two arguments");
    assert_eq!(err(&["--ro-bind-fd", "3"]), "--bind-fd takes two arguments");
    assert_eq!(err(&["--tmpfs"]), "--tmpfs takes an argument");
    assert_eq!(err(&["--chdir"]), "--chdir takes one argument");
    assert_eq!(err(&["--remount-ro"]), "--remount-ro takes one argument");
    assert_eq!(err(&["--argv0"]), "--argv0 takes one argument");
    assert_eq!(
        err(&["--overlay", "a", "b"]),
        "--overlay takes three arguments"
    );
    assert_eq!(err(&["--setenv", "A"]), "--setenv takes two arguments");
    assert_eq!(err(&["--file", "0"]), "--file takes two arguments");
    assert_eq!(err(&["--chmod", "755"]), "--chmod takes two arguments");
    assert_eq!(err(&["--args"]), "--args takes an argument");
    for opt in [
        "--sync-fd",
        "--block-fd",
        "--userns-block-fd",
        "--info-fd",
        "--json-status-fd",
        "--seccomp",
        "--add-seccomp-fd",
        "--userns",
        "--userns2",
        "--pidns",
        "--uid",
        "--gid",
        "--hostname",
        "--cap-add",
        "--cap-drop",
        "--perms",
        "--size",
        "--lock-file",
        "--proc",
        "--dev",
        "--mqueue",
        "--dir",
        "--unsetenv",
        "--exec-label",
        "--file-label",
        "--tmp-overlay",
        "--ro-overlay",
    ] {
        assert_eq!(err(&[opt]), format!("{opt} takes an argument"), "{opt}");
    }
}

#[test]
fn filesystem_operations_keep_command_line_order() {
    let o = opts(&[
        "--ro-bind",
        "/usr",
        "/usr",
        "--bind-try",
        "/a",
        "/b",
        "--dev-bind",
        "/dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/d",
        "--symlink",
        "usr/lib",
        "/lib",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--mqueue",
        "/mq",
        "--remount-ro",
        "/usr",
        "--chmod",
        "700",
        "/d",
        "--bind-fd",
        "5",
        "/fd",
        "--ro-bind-fd",
        "6",
        "/rofd",
        "--file",
        "7",
        "/f",
        "--bind-data",
        "8",
        "/bd",
        "--ro-bind-data",
        "9",
        "/rbd",
        "true",
    ]);
    let kinds: Vec<String> = o.fs.iter().map(|op| op.to_string()).collect();
    assert_eq!(
        kinds,
        [
            "ro-bind /usr -> /usr",
            "bind-try /a -> /b",
            "dev-bind /dev -> /dev",
            "tmpfs /tmp mode=0755",
            "dir /d mode=0755",
            "symlink /lib -> usr/lib",
            "proc /proc",
            "dev /dev",
            "mqueue /mq",
            "remount-ro /usr",
            "chmod 0700 /d",
            "bind-fd 5 -> /fd",
            "ro-bind-fd 6 -> /rofd",
            "file fd 7 -> /f mode=0666",
            "bind-data fd 8 -> /bd mode=0600",
            "ro-bind-data fd 9 -> /rbd mode=0600",
        ]
    );
}

#[test]
fn perms_and_size_bind_to_the_next_operation() {
    let o = opts(&[
        "--perms", "0700", "--size", "4096", "--tmpfs", "/t", "--tmpfs", "/u", "--perms", "1777",
        "--dir", "/d", "--perms", "640", "--file", "0", "/f", "true",
    ]);
    assert_eq!(
        o.fs[0],
        FsOp::Tmpfs {
            dest: "/t".into(),
            size: Some(4096),
            mode: Some(0o700)
        }
    );
    assert_eq!(
        o.fs[1],
        FsOp::Tmpfs {
            dest: "/u".into(),
            size: None,
            mode: Some(0o755)
        }
    );
    assert_eq!(
        o.fs[2],
        FsOp::Dir {
            dest: "/d".into(),
            mode: Some(0o1777)
        }
    );
    assert!(matches!(
        o.fs[3],
        FsOp::Data {
            mode: Some(0o640),
            ..
        }
    ));
}

#[test]
fn modifier_errors() {
    assert_eq!(
        err(&["--perms", "0700", "--bind", "/a", "/b"]),
        "--perms must be followed by an option that creates a file"
    );
    assert_eq!(
        err(&["--size", "10", "--dir", "/d"]),
        "--size must be followed by --tmpfs"
    );
    assert_eq!(
        err(&["--perms", "1", "--perms", "2"]),
        "--perms given twice for the same action"
    );
    assert_eq!(
        err(&["--size", "1", "--size", "2"]),
        "--size given twice for the same action"
    );
    for bad in ["8", "", "-1", "010000", "0x7", "7a"] {
        assert_eq!(
            err(&["--perms", bad, "--dir", "/d"]),
            "--perms takes an octal argument <= 07777",
            "{bad:?}"
        );
        assert_eq!(
            err(&["--chmod", bad, "/d"]),
            "--chmod takes an octal argument <= 07777",
            "{bad:?}"
        );
    }
    for bad in [
        "0",
        "",
        "-5",
        " 5",
        "+5",
        "5k",
        "0x",
        "99999999999999999999999",
    ] {
        assert_eq!(
            err(&["--size", bad, "--tmpfs", "/t"]),
            "--size takes a non-zero number of bytes",
            "{bad:?}"
        );
    }
    assert_eq!(
        err(&["--size", "9223372036854775808", "--tmpfs", "/t"]),
        "--size (for tmpfs) is limited to 9223372036854775807"
    );
    // Like bubblewrap, a pending modifier is not checked when the command starts.
    assert_eq!(opts(&["--perms", "0755", "true"]).command, words(&["true"]));
}

#[test]
fn size_accepts_strtoull_bases() {
    for (word, want) in [("4096", 4096), ("0x1000", 4096), ("010", 8)] {
        let o = opts(&["--size", word, "--tmpfs", "/t", "true"]);
        assert!(
            matches!(o.fs[0], FsOp::Tmpfs { size: Some(s), .. } if s == want),
            "{word}"
        );
    }
}

#[test]
fn fd_parsing_is_strict() {
    for bad in ["", "-1", "0a", "a", "3 ", "2147483648", "0x3"] {
        assert_eq!(
            err(&["--sync-fd", bad, "true"]),
            format!("Invalid fd: {bad}"),
            "{bad:?}"
        );
    }
    // strtol accepts leading white space and a plus sign.
    assert_eq!(opts(&["--sync-fd", " +3", "true"]).sync_fd, Some(3));
    assert_eq!(opts(&["--info-fd", "0", "true"]).info_fd, Some(0));
    assert_eq!(err(&["--uid", "-1", "true"]), "Invalid uid: -1");
    assert_eq!(err(&["--gid", "x", "true"]), "Invalid gid: x");
    assert_eq!(err(&["--file", "x", "/f"]), "Invalid fd: x");
    assert_eq!(err(&["--bind-fd", "-2", "/f"]), "Invalid fd: -2");
    assert_eq!(err(&["--args", "1x"]), "Invalid fd: 1x");
}

#[test]
fn single_valued_options_warn_and_keep_the_last() {
    let o = opts(&[
        "--chdir",
        "/a",
        "--chdir",
        "/b",
        "--uid",
        "1",
        "--uid",
        "2",
        "--hostname",
        "x",
        "--hostname",
        "y",
        "--info-fd",
        "3",
        "--info-fd",
        "4",
        "true",
    ]);
    assert_eq!(o.chdir, Some("/b".into()));
    assert_eq!(o.uid, Some(2));
    assert_eq!(o.hostname.as_deref(), Some("y"));
    assert_eq!(o.info_fd, Some(4));
    assert_eq!(
        o.warnings,
        [
            "Only the last --chdir option will take effect",
            "Only the last --uid option will take effect",
            "Only the last --hostname option will take effect",
            "Only the last --info-fd option will take effect",
        ]
    );
    assert_eq!(
        err(&["--argv0", "a", "--argv0", "b", "true"]),
        "--argv0 used multiple times"
    );
}

#[test]
fn seccomp_options_do_not_mix() {
    assert_eq!(
        err(&["--add-seccomp-fd", "3", "--seccomp", "4", "true"]),
        "--seccomp cannot be combined with --add-seccomp-fd"
    );
    assert_eq!(
        err(&["--seccomp", "4", "--add-seccomp-fd", "3", "true"]),
        "--add-seccomp-fd cannot be combined with --seccomp"
    );
    let o = opts(&["--add-seccomp-fd", "3", "--add-seccomp-fd", "4", "true"]);
    assert_eq!(plan_of(&o).seccomp, Seccomp::Fds(vec![3, 4]));
    let o = opts(&["--seccomp", "3", "--seccomp", "4", "true"]);
    assert_eq!(plan_of(&o).seccomp, Seccomp::Fds(vec![4]));
}

fn plan_of(o: &BwrapOptions) -> Plan {
    to_plan(o, &user()).unwrap()
}

#[test]
fn overlays_take_the_sources_before_them() {
    let o = opts(&[
        "--overlay-src",
        "/l1",
        "--overlay-src",
        "/l2",
        "--overlay",
        "/up",
        "/work",
        "/o",
        "--overlay-src",
        "/l3",
        "--tmp-overlay",
        "/t",
        "--overlay-src",
        "/a",
        "--overlay-src",
        "/b",
        "--ro-overlay",
        "/r",
        "true",
    ]);
    assert_eq!(
        o.fs[0],
        FsOp::Overlay {
            lower: vec!["/l1".into(), "/l2".into()],
            upper: Some("/up".into()),
            work: Some("/work".into()),
            tmp_upper: false,
            dest: "/o".into()
        }
    );
    assert!(
        matches!(&o.fs[1], FsOp::Overlay { tmp_upper: true, upper: None, lower, .. } if lower.len() == 1)
    );
    assert!(
        matches!(&o.fs[2], FsOp::Overlay { tmp_upper: false, upper: None, lower, .. } if lower.len() == 2)
    );
    let dangling = "--overlay-src must be followed by another --overlay-src or one of --overlay, \
--tmp-overlay, or --ro-overlay";
    assert_eq!(err(&["--overlay-src", "/a", "--tmpfs", "/t"]), dangling);
    assert_eq!(err(&["--overlay-src", "/a", "true"]), dangling);
    assert_eq!(err(&["--overlay-src"]), dangling);
    assert_eq!(
        err(&["--overlay", "/u", "/w", "/d"]),
        "--overlay requires at least one --overlay-src"
    );
    assert_eq!(
        err(&["--tmp-overlay", "/d"]),
        "--tmp-overlay requires at least one --overlay-src"
    );
    assert_eq!(
        err(&["--overlay-src", "/a", "--ro-overlay", "/d"]),
        "--ro-overlay requires at least two --overlay-src"
    );
}

#[test]
fn environment_operations_in_order() {
    let o = opts(&[
        "--setenv",
        "A",
        "1",
        "--clearenv",
        "--setenv",
        "B",
        "2",
        "--unsetenv",
        "C",
        "true",
    ]);
    assert!(o.clearenv);
    assert_eq!(
        o.env,
        [EnvOp::Set("B".into(), "2".into()), EnvOp::Unset("C".into())]
    );
}

#[test]
fn capabilities_by_name_number_or_all() {
    let o = opts(&[
        "--cap-add",
        "ALL",
        "--cap-drop",
        "cap_kill",
        "--cap-add",
        "CAP_Chown",
        "--cap-drop",
        "21",
        "true",
    ]);
    assert_eq!(
        o.caps,
        [
            CapOp::Add(CapName::All),
            CapOp::Drop(CapName::One("CAP_KILL".into())),
            CapOp::Add(CapName::One("CAP_CHOWN".into())),
            CapOp::Drop(CapName::One("CAP_SYS_ADMIN".into())),
        ]
    );
    let p = plan_of(&o);
    assert!(!p.caps_keep.contains(&"CAP_KILL".to_string()));
    assert!(!p.caps_keep.contains(&"CAP_SYS_ADMIN".to_string()));
    assert!(p.caps_keep.contains(&"CAP_CHOWN".to_string()));
    assert_eq!(
        err(&["--cap-add", "sys_admin", "true"]),
        "unknown cap: sys_admin"
    );
    assert_eq!(
        err(&["--cap-drop", "CAP_NOPE", "true"]),
        "unknown cap: CAP_NOPE"
    );
}

#[test]
fn args_fd_is_read_recursively_with_limits() {
    let mut files = HashMap::new();
    files.insert(3, b"--dir\0/a\0--setenv\0K\0v w\0".to_vec());
    files.insert(
        4,
        b"--unshare-pid\0ignored-command\0--unshare-net\0".to_vec(),
    );
    let Ok(Parsed::Run(o)) = parse_files(&["--args", "3", "--args", "4", "true"], &files) else {
        panic!()
    };
    assert_eq!(
        o.fs,
        [FsOp::Dir {
            dest: "/a".into(),
            mode: Some(0o755)
        }]
    );
    assert_eq!(o.env, [EnvOp::Set("K".into(), "v w".into())]);
    // What follows the options in a file is ignored, as in bubblewrap.
    assert!(o.unshare_pid && !o.unshare_net);
    assert_eq!(o.command, words(&["true"]));

    files.insert(5, b"--args\x003\0".to_vec());
    assert_eq!(
        parse_files(&["--args", "5", "true"], &files)
            .unwrap_err()
            .message,
        "--args not supported in arguments file"
    );
    let e = parse_files(&["--args", "9", "true"], &files).unwrap_err();
    assert!(e.message.starts_with("Can't read --args data: "), "{e:?}");

    let many: Vec<u8> = "--unshare-pid\0".repeat(9001).into_bytes();
    files.insert(6, many);
    assert_eq!(
        parse_files(&["--args", "6", "true"], &files)
            .unwrap_err()
            .message,
        "Exceeded maximum number of arguments 9000"
    );
}

#[test]
fn args_data_without_trailing_nul_and_empty_words() {
    assert_eq!(split_nul(b"a\0b"), words(&["a", "b"]));
    assert_eq!(split_nul(b"a\0\0b\0"), words(&["a", "", "b"]));
    assert!(split_nul(b"").is_empty());
}

#[test]
fn unprivileged_callers_always_get_a_user_namespace() {
    let p = plan(&["true"], &user()).unwrap();
    assert!(p.namespaces.user && p.namespaces.mount);
    assert!(!p.namespaces.pid && !p.namespaces.net && !p.namespaces.uts && !p.namespaces.ipc);
    assert!(!p.namespaces.cgroup);
    assert_eq!(p.net, NetMode::Host);
    assert_eq!(p.program_name, "bwrap");
    assert!(!p.root_read_only);
    assert!(!p.process.close_fds && !p.process.new_session && !p.process.die_with_parent);
    // No reaper is needed: the command is exec'd directly.
    assert!(p.process.as_pid_1);
    // Root keeps the host's user namespace unless asked.
    let p = plan(&["true"], &root()).unwrap();
    assert!(!p.namespaces.user);
    let p = plan(&["--unshare-user-try", "true"], &root()).unwrap();
    assert!(p.namespaces.user);
    let no_userns = Host {
        userns_available: false,
        ..root()
    };
    assert!(
        !plan(&["--unshare-user-try", "true"], &no_userns)
            .unwrap()
            .namespaces
            .user
    );
}

#[test]
fn unshare_all_and_share_net() {
    let p = plan(&["--unshare-all", "true"], &user()).unwrap();
    let ns = &p.namespaces;
    assert!(ns.user && ns.pid && ns.net && ns.uts && ns.ipc && ns.cgroup);
    assert_eq!(p.net, NetMode::None);
    assert!(!p.process.as_pid_1);
    let p = plan(&["--unshare-all", "--share-net", "true"], &user()).unwrap();
    assert!(!p.namespaces.net);
    let no_cgroupns = Host {
        cgroupns_available: false,
        ..user()
    };
    let p = plan(&["--unshare-all", "true"], &no_cgroupns).unwrap();
    assert!(!p.namespaces.cgroup);
    assert_eq!(
        plan(&["--unshare-cgroup", "true"], &no_cgroupns)
            .unwrap_err()
            .message,
        "Cannot create new cgroup namespace because the kernel does not support it"
    );
}

#[test]
fn cross_option_rules() {
    let e = |args: &[&str], host: &Host| plan(args, host).unwrap_err().message;
    assert_eq!(
        e(&["--hostname", "h", "true"], &user()),
        "Specifying --hostname requires --unshare-uts"
    );
    assert_eq!(
        e(&["--as-pid-1", "true"], &user()),
        "Specifying --as-pid-1 requires --unshare-pid"
    );
    assert_eq!(
        e(
            &["--unshare-pid", "--as-pid-1", "--lock-file", "/l", "true"],
            &user()
        ),
        "Specifying --as-pid-1 and --lock-file is not permitted"
    );
    assert_eq!(
        e(&["--uid", "5", "true"], &root()),
        "Specifying --uid requires --unshare-user or --userns"
    );
    assert_eq!(
        e(&["--gid", "5", "true"], &root()),
        "Specifying --gid requires --unshare-user or --userns"
    );
    assert!(plan(&["--uid", "0", "true"], &root()).is_ok());
    assert_eq!(
        e(
            &["--userns-block-fd", "3", "--info-fd", "4", "true"],
            &user()
        ),
        "--userns-block-fd requires --unshare-user"
    );
    assert_eq!(
        e(
            &["--unshare-user", "--userns-block-fd", "3", "true"],
            &user()
        ),
        "--userns-block-fd requires --info-fd"
    );
    assert_eq!(
        e(&["--unshare-user", "--userns", "3", "true"], &user()),
        "--userns not compatible --unshare-user"
    );
    assert_eq!(
        e(&["--unshare-user-try", "--userns", "3", "true"], &user()),
        "--userns not compatible --unshare-user-try"
    );
    // Implied user namespaces do not count: bubblewrap checks the option itself.
    assert_eq!(
        e(&["--disable-userns", "true"], &user()),
        "--disable-userns requires --unshare-user"
    );
    assert!(plan(&["--unshare-user", "--disable-userns", "true"], &user()).is_ok());
    assert!(
        e(&["--unshare-pid"], &user()).is_empty(),
        "no command: usage"
    );
    assert!(plan(&["--unshare-pid"], &user()).unwrap_err().usage);
}

#[test]
fn userns_join_leaves_user_namespace_creation_off() {
    let p = plan(&["--userns", "11", "--pidns", "12", "true"], &user()).unwrap();
    assert!(!p.namespaces.user);
    assert_eq!(p.userns.join_fd, Some(11));
    assert_eq!(p.userns.pidns_fd, Some(12));
}

#[test]
fn process_options_map_onto_the_plan() {
    let p = plan(
        &[
            "--unshare-pid",
            "--new-session",
            "--die-with-parent",
            "--as-pid-1",
            "--json-status-fd",
            "5",
            "--block-fd",
            "6",
            "--sync-fd",
            "7",
            "--argv0",
            "zero",
            "--chdir",
            "/w",
            "--level-prefix",
            "cmd",
            "arg",
        ],
        &user(),
    )
    .unwrap();
    let pr = &p.process;
    assert!(pr.new_session && pr.die_with_parent && pr.as_pid_1);
    assert_eq!(
        (pr.json_status_fd, pr.block_fd, pr.sync_fd),
        (Some(5), Some(6), Some(7))
    );
    assert_eq!(p.argv0, Some("zero".into()));
    assert_eq!(p.chdir, Some("/w".into()));
    assert_eq!(p.argv, words(&["cmd", "arg"]));
    // A lock file or sync fd needs a reaper to hold it.
    let p = plan(&["--sync-fd", "3", "true"], &user()).unwrap();
    assert!(!p.process.as_pid_1);
    let p = plan(&["--lock-file", "/l", "true"], &user()).unwrap();
    assert!(!p.process.as_pid_1);
    // As in bubblewrap, labels are refused where SELinux is off.
    assert_eq!(
        plan(&["--exec-label", "x", "true"], &user())
            .unwrap_err()
            .message,
        "labeling not supported on this system"
    );
    let selinux = Host {
        selinux_enabled: true,
        ..user()
    };
    assert!(plan(&["--file-label", "x", "true"], &selinux).is_err());
}

#[test]
fn root_keeps_its_capabilities_unless_dropped() {
    let p = plan(&["true"], &root()).unwrap();
    assert_eq!(p.caps_keep, ["CAP_CHOWN", "CAP_KILL"]);
    let p = plan(&["--cap-drop", "CAP_KILL", "true"], &root()).unwrap();
    assert_eq!(p.caps_keep, ["CAP_CHOWN"]);
    let p = plan(&["--cap-drop", "ALL", "true"], &root()).unwrap();
    assert!(p.caps_keep.is_empty());
    assert!(plan(&["true"], &user()).unwrap().caps_keep.is_empty());
}

#[test]
fn os_error_suffixes_are_stripped_from_diagnostics() {
    use crate::sandbox::strip_os_error_codes as strip;
    assert_eq!(
        strip("chmod /x: No such file or directory (os error 2)"),
        "chmod /x: No such file or directory"
    );
    assert_eq!(strip("a (os error 1): b (os error 13)"), "a: b");
    assert_eq!(strip("kept (os error x)"), "kept (os error x)");
}

/// A cheap stand-in for the fuzzer: random mixes of real options and junk never panic, and
/// every error is one line.
#[test]
fn random_command_lines_never_panic() {
    let vocab: Vec<&str> = HELP
        .iter()
        .map(|(opt, _)| opt.split(' ').next().unwrap())
        .chain([
            "--",
            "-",
            "",
            "0",
            "-1",
            "07777",
            "0x10",
            "/",
            "/a",
            "ALL",
            "cap_kill",
            " 3",
            "+4",
            "2147483648",
            "\u{e9}",
            "--perms",
            "--size",
            "--overlay-src",
            "--args",
        ])
        .collect();
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut files = HashMap::new();
    files.insert(3, b"--dir\0/x\0--perms\0".to_vec());
    for _ in 0..5000 {
        let len = (next() % 12) as usize;
        let args: Vec<&str> = (0..len)
            .map(|_| vocab[(next() % vocab.len() as u64) as usize])
            .collect();
        match parse_files(&args, &files) {
            Ok(Parsed::Run(o)) => {
                let _ = to_plan(&o, &user());
            }
            Ok(_) => {}
            Err(e) => assert!(!e.message.contains('\n'), "{args:?}: {e:?}"),
        }
    }
}
