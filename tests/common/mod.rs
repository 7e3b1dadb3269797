//! Shared helpers for the integration tests: they run the real `stockade` binary as the
//! ordinary user the test itself runs as, and check effects in the kernel or on the host.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The stockade binary cargo built for this test run.
pub fn stockade_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stockade"))
}

/// Fails loudly when run as root: stockade is for ordinary users, and root hides bugs
/// (see README: the test command runs test binaries through .ci/as-user).
pub fn require_ordinary_user() {
    assert_ne!(
        nix::unistd::geteuid().as_raw(),
        0,
        "integration tests must run as an ordinary user; use the README's test command"
    );
}

/// `stockade ARGS...`, ready to run.
pub fn stockade<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    require_ordinary_user();
    let mut cmd = Command::new(stockade_bin());
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// `stockade run EXTRA... -- sh -c SCRIPT`, run to completion.
pub fn run_sh(extra: &[&str], script: &str) -> Output {
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    stockade(args).output().expect("running stockade")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts an exit status, showing both streams when it differs.
#[track_caller]
pub fn assert_status(out: &Output, expected: i32) {
    assert_eq!(
        out.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// A fresh directory owned by the test user, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir();
        for n in 0..1000u32 {
            let path = base.join(format!("stockade-test-{tag}-{}-{n}", std::process::id()));
            if std::fs::create_dir(&path).is_ok() {
                return TempDir(path);
            }
        }
        panic!("cannot create a temporary directory in {}", base.display());
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("temporary path is UTF-8")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prints why a check cannot run on this machine. Call it and return: the test is reported as
/// passed by libtest, so the reason must be visible in the output (`--nocapture` shows it and
/// .ci/run greps for these lines).
pub fn skip(reason: &str) {
    println!("SKIPPED: {reason}");
}

/// Whether a program is installed on the host.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
