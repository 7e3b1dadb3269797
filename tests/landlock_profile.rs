//! Landlock end to end through the binary: a user profile in `$XDG_CONFIG_HOME` extends
//! `default` with a `[landlock]` section, and the kernel enforces it on the command.
//!
//! Depends on the profiles work (issue 3): until `stockade profile` and user profiles exist,
//! each test prints `SKIPPED:` with that reason. The kernel-level checks of the same rules,
//! through the library, are in tests/landlock.rs.

mod common;

use std::process::Output;

use common::{assert_status, skip, stderr, stdout, TempDir};
use stockade::sandbox::landlock;

/// Everything readable, programs executable, only /tmp and /dev writable: a bind anywhere
/// else is read-only to Landlock, whatever its mount says. Connecting is allowed to one
/// TCP port only.
const PROFILE: &str = r#"extends = "default"

[landlock]
read = ["/"]
execute = ["/usr"]
write = ["/tmp", "/dev"]
tcp_connect = [4001]
"#;

/// A config home holding the `ll` profile.
fn config_home() -> TempDir {
    let home = TempDir::new("landlock-profile");
    let dir = home.path().join("stockade/profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ll.toml"), PROFILE).unwrap();
    home
}

/// Why this machine or branch cannot run the test, if it cannot.
fn cannot_run(min_abi: u32) -> Option<String> {
    let probe = common::stockade(["profile", "list"]).output().unwrap();
    if stderr(&probe).contains("not implemented") {
        return Some("profiles are not implemented on this branch yet (issue 3)".into());
    }
    match landlock::abi_version() {
        Some(abi) if abi >= min_abi => None,
        Some(abi) => Some(format!(
            "needs Landlock ABI {min_abi}, this kernel has {abi}"
        )),
        None => Some("Landlock is not enabled in this kernel".into()),
    }
}

/// `stockade run [--profile ll] EXTRA... -- sh -c SCRIPT` with the test's config home.
fn run(home: &TempDir, profile: bool, extra: &[&str], script: &str) -> Output {
    let mut args = vec!["run"];
    if profile {
        args.extend_from_slice(&["--profile", "ll"]);
    }
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    common::stockade(args)
        .env("XDG_CONFIG_HOME", home.path())
        .output()
        .expect("running stockade")
}

const WRITE_SCRIPT: &str = "cat /data/existing; \
    if echo x > /data/new; then echo WROTE; else echo DENIED; fi; \
    echo y > /tmp/ok && echo TMP-OK";

#[test]
fn a_write_into_a_bind_the_profile_makes_read_only_fails_with_eacces() {
    if let Some(reason) = cannot_run(1) {
        return skip(&reason);
    }
    let home = config_home();
    let data = TempDir::new("landlock-data");
    std::fs::write(data.path().join("existing"), "hello\n").unwrap();
    let bind = ["--bind", data.str(), "/data"];

    let out = run(&home, true, &bind, WRITE_SCRIPT);
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "hello\nDENIED\nTMP-OK\n", "{}", stderr(&out));
    // EACCES, from Landlock: not EROFS, which a read-only mount would give.
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(
        !data.path().join("new").exists(),
        "the file was created on the host"
    );

    // The same bind without the profile's Landlock rules is writable: the denial above was
    // Landlock's, not the mount's nor the file mode's.
    let out = run(
        &home,
        true,
        &["--landlock", "off", "--bind", data.str(), "/data"],
        WRITE_SCRIPT,
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "hello\nWROTE\nTMP-OK\n", "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data.path().join("new")).unwrap(),
        "x\n"
    );
}

#[test]
fn tcp_connect_outside_the_allowed_ports_fails() {
    if let Some(reason) = cannot_run(4) {
        return skip(&reason);
    }
    if !common::have("python3") {
        return skip("python3 is not installed on the host");
    }
    let home = config_home();
    // Both listeners are the sandbox's own, on the loopback of its private network namespace;
    // binding is not restricted by the profile, connecting only to 4001.
    let script = r#"python3 -c '
import socket
listeners = []
for port in (4001, 4002):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    listeners.append(s)
for port in (4001, 4002):
    try:
        socket.create_connection(("127.0.0.1", port)).close()
        print(port, "connected")
    except OSError as e:
        print(port, "errno", e.errno)
'"#;
    let out = run(&home, true, &[], script);
    assert_status(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("4001 connected\n4002 errno {}\n", libc::EACCES),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verbose_shows_what_landlock_enforces() {
    if let Some(reason) = cannot_run(1) {
        return skip(&reason);
    }
    let home = config_home();
    let out = run(&home, true, &["--verbose"], "true");
    assert_status(&out, 0);
    let abi = landlock::abi_version().unwrap();
    assert!(
        stderr(&out).contains(&format!("stockade: landlock: ABI {abi}, best effort:")),
        "{}",
        stderr(&out)
    );
}
