//! Escape suite, the terminal (issue 8): TIOCSTI (CVE-2017-5226), its high-bit variant
//! (CVE-2019-10063) and TIOCLINUX, from a sandbox whose stdin is a pty that is the caller's
//! controlling terminal. The verdict is what the terminal's master side received.
//! The attacker is tests/attackers/tty.py.

mod common;
mod escape_common;

use common::*;
use escape_common::*;
use std::process::{Command, Output};

fn legacy_tiocsti_disabled() -> bool {
    std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").is_ok_and(|s| s.trim() == "0")
}

fn host_attack(byte: &str) -> Command {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", TTY_ATTACKER, byte]);
    cmd
}

/// The errno name the attacker reported for one ioctl, or `ok`.
fn result_of(out: &Output, name: &str) -> String {
    values(out, "IOCTL")
        .into_iter()
        .find_map(|v| v.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_else(|| panic!("no result for {name}:\n{}", stdout(out)))
}

#[test]
fn tiocsti_cannot_reach_the_callers_terminal() {
    if legacy_tiocsti_disabled() {
        return skip("dev.tty.legacy_tiocsti=0: the kernel refuses TIOCSTI to everyone here");
    }
    // Control: on the host, on its own controlling terminal, the attacker does inject.
    let (out, injected) = on_a_terminal(host_attack("Q"), b'Q');
    assert_finished(&out, "control");
    assert!(injected, "control: no injection seen:\n{}", stdout(&out));
    assert_eq!(result_of(&out, "tiocsti"), "ok");
    assert_eq!(
        result_of(&out, "tiocsti-high-bit"),
        "ok",
        "the kernel uses the low 32 bits"
    );

    for_each_profile(|profile| {
        // The default sandbox: a new session, so the pty is no longer the controlling terminal.
        let (out, injected) = on_a_terminal(attack_cmd(profile, &[], TTY_ATTACKER, &["Q"]), b'Q');
        assert_finished(&out, profile);
        assert!(!injected, "{profile}: injected into the caller's terminal");
        for name in ["tiocsti", "tiocsti-high-bit", "tiocsti-high-bits"] {
            assert_ne!(result_of(&out, name), "ok", "{profile}: {name}");
        }
    });
}

#[test]
fn with_the_session_kept_seccomp_alone_stops_tiocsti_and_tioclinux() {
    if legacy_tiocsti_disabled() {
        return skip("dev.tty.legacy_tiocsti=0: the kernel refuses TIOCSTI to everyone here");
    }
    // Control: --keep-session without the filter: the injection works through the sandbox.
    let mut flags = vec!["--keep-session"];
    flags.extend(FILTERS_OFF);
    let (out, injected) = on_a_terminal(attack_cmd("default", &flags, TTY_ATTACKER, &["Q"]), b'Q');
    assert_finished(&out, "control");
    assert!(
        injected,
        "control: --keep-session --seccomp off should let TIOCSTI through:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let (out, injected) = on_a_terminal(
            attack_cmd(profile, &["--keep-session"], TTY_ATTACKER, &["Q"]),
            b'Q',
        );
        assert_finished(&out, profile);
        assert!(
            !injected,
            "{profile}: --keep-session: TIOCSTI reached the caller's terminal (the seccomp \
             filter must deny it):\n{}",
            stdout(&out)
        );
        // Denied by the filter, not by the tty layer: EPERM for every variant.
        for name in [
            "tiocsti",
            "tiocsti-high-bit",
            "tiocsti-high-bits",
            "tioclinux-setsel",
            "tioclinux-pastesel",
            "tioclinux-high-bit",
        ] {
            assert_eq!(
                result_of(&out, name),
                "1 EPERM",
                "{profile}: {name} must be refused by the seccomp filter"
            );
        }
    });
}

/// bwrap's `--lock-file` is opened by the sandbox's init, which leads a session without a
/// terminal under `--new-session`: a terminal opened there without O_NOCTTY would become the
/// controlling terminal of that session, and so of the command, which shares it.
#[test]
fn a_lock_file_on_a_terminal_gives_the_sandbox_no_controlling_terminal() {
    require_ordinary_user();
    // A terminal that is nobody's controlling one (openpty opens it with O_NOCTTY).
    let pty = nix::pty::openpty(None, None).unwrap();
    let name = nix::unistd::ttyname(&pty.slave).unwrap();
    let name = name.to_str().unwrap();
    let out = stockade([
        "bwrap",
        "--dev-bind",
        "/",
        "/",
        "--unshare-pid",
        "--new-session",
        "--proc",
        "/proc",
        "--lock-file",
        name,
        "--",
        "sh",
        "-c",
        // tty_nr, the 7th field: 0 without a controlling terminal.
        "cut -d' ' -f7 /proc/1/stat /proc/self/stat",
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "0\n0\n", "init, then the command");
}
