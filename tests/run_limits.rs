//! Limits: rlimits seen by the command, the wall-clock timeout, cgroup v2 limits (or the
//! error that explains why they are unavailable), and the JSON status line.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn rlimits_are_what_ulimit_shows_inside() {
    let out = run_sh(
        &["--rlimit", "nofile=64:128", "--rlimit", "core=0"],
        "ulimit -Sn; ulimit -Hn; ulimit -c",
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "64\n128\n0\n");
}

#[test]
fn exceeding_fsize_kills_with_sigxfsz() {
    let out = run_sh(
        &["--rlimit", "fsize=4096"],
        "exec head -c 100000 /dev/zero > /tmp/big",
    );
    assert_status(&out, 128 + libc::SIGXFSZ);
}

#[test]
fn bad_rlimits_are_one_line_setup_errors() {
    for spec in ["nofiles=1", "nofile=lots", "nofile=10:5", "nofile"] {
        let out = run_sh(&["--rlimit", spec], "true");
        assert_status(&out, 125);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("--rlimit"), "{err}");
    }
}

fn host_processes_with(token: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if pid != std::process::id() && String::from_utf8_lossy(&cmdline).contains(token) {
                found.push(pid);
            }
        }
    }
    found
}

#[test]
fn timeout_ends_the_whole_sandbox_with_124() {
    let token = unique_sleep(100);
    let start = Instant::now();
    // A background sleep too: SIGTERM must reach every process, not only the shell.
    let out = run_sh(
        &["--timeout", "1s"],
        &format!("sleep {token} & sleep {token}; echo not reached"),
    );
    let took = start.elapsed();
    assert_status(&out, 124);
    assert_eq!(stdout(&out), "");
    assert!(took >= Duration::from_millis(900), "ended early: {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(
        host_processes_with(&token).is_empty(),
        "processes left: {:?}",
        host_processes_with(&token)
    );
}

#[test]
fn a_command_ignoring_sigterm_is_killed_after_kill_after() {
    let token = unique_sleep(100);
    let start = Instant::now();
    let out = run_sh(
        &["--timeout", "300ms", "--kill-after", "700ms"],
        &format!("trap '' TERM; sleep {token}; echo not reached"),
    );
    let took = start.elapsed();
    assert_status(&out, 124);
    assert!(
        took >= Duration::from_millis(950),
        "SIGKILL too early: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(host_processes_with(&token).is_empty());
}

#[test]
fn bad_durations_are_setup_errors() {
    for flag in ["--timeout", "--kill-after"] {
        let out = run_sh(&[flag, "soon"], "true");
        assert_status(&out, 125);
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
}

/// Runs `stockade run EXTRA -- sh -c SCRIPT` with a pipe as --json-status-fd 3; returns the
/// output and the status line.
fn run_with_status(extra: &[&str], script: &str) -> (std::process::Output, String) {
    let (r, w) = nix::unistd::pipe().unwrap();
    let w_raw = w.as_raw_fd();
    let mut args: Vec<&str> = vec!["run", "--json-status-fd", "3"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let mut cmd = stockade(args);
    // SAFETY: dup2 in the forked child before exec, on descriptors that exist.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w_raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    drop(w);
    let mut text = String::new();
    // SAFETY: `r` is ours; converting it into a File transfers ownership.
    let mut file = unsafe { std::fs::File::from_raw_fd(OwnedFd::into_raw_fd(r)) };
    file.read_to_string(&mut text).unwrap();
    // The first line is bubblewrap's (child pid, namespaces); the end line is the last.
    assert!(text.starts_with("{ \"child-pid\": "), "{text}");
    let line = text.lines().last().unwrap_or_default().to_string() + "\n";
    assert_eq!(text.lines().count(), 2, "{text}");
    (out, line)
}

#[test]
fn json_status_reports_exit_reason() {
    let (out, line) = run_with_status(&[], "exit 3");
    assert_status(&out, 3);
    assert!(
        line.starts_with("{ \"exit-code\": 3, \"reason\": \"exited\""),
        "{line}"
    );
    assert!(line.contains("\"max-rss\": "), "{line}");

    let (out, line) = run_with_status(&[], "kill -KILL $$");
    assert_status(&out, 137);
    assert!(
        line.contains("\"reason\": \"signaled\", \"signal\": 9"),
        "{line}"
    );

    let (out, line) = run_with_status(&["--timeout", "200ms"], "sleep 10");
    assert_status(&out, 124);
    assert!(
        line.contains("\"exit-code\": 124, \"reason\": \"timeout\""),
        "{line}"
    );

    let (out, line) = run_with_status(
        &["--rlimit", "fsize=1024"],
        "exec head -c 10000 /dev/zero > /tmp/f",
    );
    assert_status(&out, 153);
    assert!(line.contains("\"reason\": \"limit\""), "{line}");
    assert!(line.contains("\"limit\": \"fsize\""), "{line}");
}

/// Whether this user has a delegated cgroup v2 subtree with these controllers.
fn delegated(controllers: &[&str]) -> Result<std::path::PathBuf, String> {
    stockade::sandbox::cgroup::probe(controllers)
}

#[test]
fn without_a_delegated_cgroup_the_error_says_what_is_missing() {
    if let Ok(dir) = delegated(&["memory", "pids"]) {
        skip(&format!(
            "this user has a delegated cgroup v2 subtree ({}), so the error cannot be seen",
            dir.display()
        ));
        return;
    }
    let out = run_sh(&["--memory", "64M", "--pids", "20"], "echo ran");
    assert_status(&out, 125);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("delegated cgroup v2"), "{err}");
    assert!(
        err.contains("systemd-run --user --scope -p Delegate=yes"),
        "{err}"
    );
}

#[test]
fn bad_cgroup_limits_are_setup_errors() {
    for (flag, value) in [("--memory", "lots"), ("--pids", "0"), ("--cpus", "0")] {
        let out = run_sh(&[flag, value], "true");
        assert_status(&out, 125);
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
}

#[test]
fn pids_limit_stops_a_fork_bomb_and_the_cgroup_is_removed() {
    let parent = match delegated(&["pids"]) {
        Ok(dir) => dir,
        Err(why) => {
            skip(&format!("no delegated cgroup v2 subtree with pids: {why}"));
            return;
        }
    };
    // The shell may die of the failed fork itself; what matters is that forks failed.
    let (_, line) = run_with_status(
        &["--pids", "8"],
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; kill $(jobs -p)",
    );
    assert!(line.contains("\"pids-limited\": true"), "{line}");
    let left: Vec<_> = std::fs::read_dir(&parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("stockade-"))
        .collect();
    assert!(left.is_empty(), "sandbox cgroups left: {left:?}");
}

#[test]
fn memory_limit_ends_the_command_and_reports_the_peak() {
    if let Err(why) = delegated(&["memory"]) {
        skip(&format!(
            "no delegated cgroup v2 subtree with memory: {why}"
        ));
        return;
    }
    // Allocates about 200 MiB in a shell variable.
    let (out, line) = run_with_status(
        &["--memory", "32M"],
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
    );
    assert_ne!(out.status.code(), Some(0), "{line}");
    assert!(line.contains("\"memory-peak\": "), "{line}");
}
