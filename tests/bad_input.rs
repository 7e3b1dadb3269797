//! Every class of bad input, in one table: the exact one-line message, the status (125, or
//! bubblewrap's 1 in bwrap mode), and a host-side check that nothing was created. Each
//! stockade row also asks for `--bind WATCH /w --dir /w/created`, so a launch that went ahead
//! despite the error would leave a directory on the host.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;

struct Case {
    what: &'static str,
    args: Vec<String>,
    status: i32,
    message: String,
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn write_profile(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn cases(profiles: &TempDir, watch: &TempDir) -> Vec<Case> {
    let w = watch.str();
    let malformed = write_profile(
        profiles,
        "malformed.toml",
        "description = \"x\"\nhostname = \n",
    );
    let unknown = write_profile(
        profiles,
        "unknown.toml",
        "description = \"x\"\nnett = \"none\"\n",
    );
    let badsys = write_profile(
        profiles,
        "badsys.toml",
        "extends = \"default\"\n[seccomp]\nallow = [\"@system-service\", \"frobnicate\"]\n",
    );
    let unreadable = write_profile(profiles, "unreadable.toml", "description = \"x\"\n");
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let zero_pids = write_profile(
        profiles,
        "zero.toml",
        "extends = \"default\"\n[limits]\npids = 0\n",
    );
    let bad_dbus = write_profile(
        profiles,
        "dbus.toml",
        "extends = \"default\"\n[dbus]\ntalk = [\"org.ok\", \"not a name\"]\n",
    );
    let bad_uid = write_profile(
        profiles,
        "uid.toml",
        "extends = \"default\"\nuid = 4294967295\n",
    );
    let missing = format!("{}/missing", profiles.str());
    let no_source = write_profile(
        profiles,
        "nosource.toml",
        &format!(
            "extends = \"default\"\nfs = [\n  {{ type = \"ro-bind\", src = \"/usr\", dest = \"/u\" }},\n  \
             {{ type = \"copy\", src = \"{missing}\", dest = \"/m\" }},\n]\n"
        ),
    );
    let child_of_no_source = write_profile(
        profiles,
        "child.toml",
        "extends = \"./nosource.toml\"\nhostname = \"child\"\n",
    );
    let guard = |mut head: Vec<String>| {
        head.extend(strings(&[
            "--bind",
            w,
            "/w",
            "--dir",
            "/w/created",
            "--",
            "true",
        ]));
        let mut args = strings(&["run"]);
        args.append(&mut head);
        args
    };
    let many: Vec<String> = (0..9001).map(|i| format!("--dir=/d{i}")).collect();
    let mut too_many = strings(&["run"]);
    too_many.extend(many.iter().cloned());
    too_many.extend(strings(&["--", "true"]));
    let mut bwrap_too_many = strings(&["bwrap"]);
    for i in 0..4501 {
        bwrap_too_many.extend([String::from("--dir"), format!("/d{i}")]);
    }
    bwrap_too_many.push("true".into());
    vec![
        Case {
            what: "malformed TOML",
            args: guard(strings(&["--profile", &malformed])),
            status: 125,
            message: format!(
                "stockade: {malformed}:2:12: string values must be quoted, expected literal string"
            ),
        },
        Case {
            what: "unknown key",
            args: guard(strings(&["--profile", &unknown])),
            status: 125,
            message: format!(
                "stockade: {unknown}:2:1: nett: unknown field `nett`, expected one of \
                 `description`, `extends`, `hostname`, `uid`, `gid`, `net`, `new_session`, \
                 `die_with_parent`, `fallback`, `chdir`, `fs_remove`, `namespaces`, `fs`, \
                 `env`, `limits`, `seccomp`, `landlock`, `sockets`, `dbus`"
            ),
        },
        Case {
            what: "unknown syscall",
            args: guard(strings(&["--profile", &badsys])),
            status: 125,
            message: format!(
                "stockade: {badsys}:3:29: seccomp.allow[1]: unknown syscall 'frobnicate'"
            ),
        },
        Case {
            what: "unreadable profile",
            args: guard(strings(&["--profile", &unreadable])),
            status: 125,
            message: format!("stockade: {unreadable}: Permission denied"),
        },
        Case {
            what: "missing bind source",
            args: guard(strings(&["--ro-bind", &missing, "/x"])),
            status: 125,
            message: format!(
                "stockade: ro-bind {missing} -> /x: {missing}: No such file or directory"
            ),
        },
        Case {
            what: "missing source in a profile",
            args: guard(strings(&["--profile", &no_source])),
            status: 125,
            message: format!(
                "stockade: {no_source}:4:26: fs[1].src: {missing}: no such file or directory \
                 (add try = true to skip it where it is missing)"
            ),
        },
        Case {
            what: "missing source in the profile a profile extends",
            args: guard(strings(&["--profile", &child_of_no_source])),
            status: 125,
            message: format!(
                "stockade: {no_source}:4:26: fs[1].src: {missing}: no such file or directory \
                 (add try = true to skip it where it is missing)"
            ),
        },
        Case {
            what: "destination outside the root",
            args: guard(strings(&["--tmpfs", "/w/../../../escape"])),
            status: 125,
            message: "stockade: tmpfs /w/../../../escape: the destination contains '..', \
                      which would leave the new root"
                .into(),
        },
        Case {
            what: "uid that cannot be mapped",
            args: guard(strings(&["--uid", "4294967295"])),
            status: 125,
            message: "stockade: --uid 4294967295: cannot be mapped (reserved id)".into(),
        },
        Case {
            what: "fd that is not open",
            args: guard(strings(&["--keep-fd", "77"])),
            status: 125,
            message: "stockade: --keep-fd 77: not an open file descriptor".into(),
        },
        Case {
            what: "zero timeout",
            args: guard(strings(&["--timeout", "0"])),
            status: 125,
            message: "stockade: --timeout 0: expected a duration greater than 0".into(),
        },
        Case {
            what: "negative number",
            args: guard(strings(&["--pids", "-1"])),
            status: 125,
            message: "stockade: --pids -1: expected a positive number of processes".into(),
        },
        Case {
            what: "conflicting flags",
            args: guard(strings(&["--share-net", "--net", "none"])),
            status: 125,
            message: "stockade: the argument '--share-net' cannot be used with '--net <MODE>' \
                      (see --help)"
                .into(),
        },
        Case {
            what: "status descriptor also passed to the command",
            args: guard(strings(&["--json-status-fd", "2", "--keep-fd", "2"])),
            status: 125,
            message: "stockade: --json-status-fd 2: also given to --keep-fd; the command must \
                      not share stockade's status descriptor"
                .into(),
        },
        Case {
            what: "hostname longer than the kernel takes",
            args: guard(strings(&["--hostname", &"h".repeat(65)])),
            status: 125,
            message: format!(
                "stockade: invalid value '{}' for '--hostname <NAME>': hostname of 65 bytes: \
                 at most 64 (the kernel's limit) (see --help)",
                "h".repeat(65)
            ),
        },
        Case {
            what: "profile zero limit",
            args: strings(&["run", "--profile", &zero_pids, "--", "true"]),
            status: 125,
            message: format!(
                "stockade: {zero_pids}:3:8: limits.pids: expected a value greater than 0"
            ),
        },
        Case {
            what: "profile D-Bus rule",
            args: strings(&["run", "--profile", &bad_dbus, "--", "true"]),
            status: 125,
            message: format!(
                "stockade: {bad_dbus}:3:19: dbus.talk[1]: invalid bus name \"not a name\""
            ),
        },
        Case {
            what: "D-Bus name flag",
            args: guard(strings(&["--dbus-talk", "a b"])),
            status: 125,
            message: "stockade: invalid value 'a b' for '--dbus-talk <NAME>': invalid bus name \
                      \"a b\" (see --help)"
                .into(),
        },
        Case {
            what: "profile id that cannot be mapped",
            args: strings(&["run", "--profile", &bad_uid, "--", "true"]),
            status: 125,
            message: format!(
                "stockade: {bad_uid}:2:7: uid: 4294967295 cannot be mapped (reserved id)"
            ),
        },
        Case {
            what: "missing argument of a subcommand",
            args: strings(&["profile", "check"]),
            status: 125,
            message: "stockade: the following required arguments were not provided: <FILE> \
                      (see --help)"
                .into(),
        },
        Case {
            what: "empty command",
            args: guard(strings(&[""])),
            status: 125,
            message: "stockade: the command is an empty string: name a program to run".into(),
        },
        Case {
            what: "control characters in a path",
            args: guard(strings(&["--ro-bind", "/no\nsuch\x1b[31m", "/x"])),
            status: 125,
            message: "stockade: ro-bind /no\\nsuch\\x1b[31m -> /x: /no\\nsuch\\x1b[31m: No such \
                      file or directory"
                .into(),
        },
        Case {
            what: "more than 9000 arguments",
            args: too_many,
            status: 125,
            message: "stockade: too many arguments: 9004 (at most 9000)".into(),
        },
        Case {
            what: "bwrap option missing its value",
            args: strings(&["bwrap", "--bind", w]),
            status: 1,
            message: "bwrap: --bind takes two arguments".into(),
        },
        Case {
            what: "bwrap fd that is not open",
            args: strings(&[
                "bwrap",
                "--bind",
                w,
                "/w",
                "--dir",
                "/w/created",
                "--seccomp",
                "77",
                "true",
            ]),
            status: 1,
            message: "bwrap: Can't read seccomp data: Bad file descriptor".into(),
        },
        Case {
            what: "bwrap: more than 9000 arguments",
            args: bwrap_too_many,
            status: 1,
            message: "bwrap: Exceeded maximum number of arguments 9000".into(),
        },
    ]
}

#[test]
fn every_class_of_bad_input_is_one_exact_line_and_leaves_nothing() {
    let profiles = TempDir::new("bad-profiles");
    let watch = TempDir::new("bad-watch");
    let before = listing(watch.path());
    let mut failures = Vec::new();
    for case in cases(&profiles, &watch) {
        let out = stockade(&case.args).output().unwrap();
        let err = stderr(&out);
        if out.status.code() != Some(case.status) || err != format!("{}\n", case.message) {
            failures.push(format!(
                "{}: status {:?} (want {}), stderr {err:?} (want {:?})",
                case.what,
                out.status.code(),
                case.status,
                case.message
            ));
        }
        if listing(watch.path()) != before {
            failures.push(format!(
                "{}: created {:?} on the host",
                case.what,
                listing(watch.path())
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// In bwrap mode the statuses are bubblewrap's: checked against Debian's bwrap where it is
/// installed.
#[test]
fn bwrap_mode_bad_input_statuses_match_bubblewrap() {
    if !have("bwrap") {
        return skip("bubblewrap is not installed: no reference to compare with");
    }
    let watch = TempDir::new("bad-bwrap");
    for args in [
        strings(&["--bind", watch.str()]),
        strings(&["--bind", watch.str(), "/w", "--seccomp", "77", "true"]),
        strings(&["--frobnicate", "true"]),
    ] {
        let reference = std::process::Command::new("bwrap")
            .args(&args)
            .output()
            .unwrap();
        let mut ours_args = strings(&["bwrap"]);
        ours_args.extend(args.iter().cloned());
        let ours = stockade(&ours_args).output().unwrap();
        assert_eq!(ours.status.code(), reference.status.code(), "{args:?}");
        assert!(stderr(&ours).starts_with("bwrap: "), "{}", stderr(&ours));
    }
}
