//! Shared helpers for the integration tests: they run the real `stockade` binary as the
//! ordinary user the test itself runs as, and check effects in the kernel or on the host.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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
        if std::fs::remove_dir_all(&self.0).is_ok() {
            return;
        }
        // A sandbox may leave directories their owner cannot list (overlayfs makes the
        // work directory's `work` mode 000), which remove_dir_all cannot empty.
        make_removable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Gives the owner full access to `dir` and every directory under it (symlinks are not
/// followed: nothing outside the tree changes).
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            make_removable(&entry.path());
        }
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

/// Runs `cmd` with piped output, killing it after `limit`.
pub fn finish(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the attacker");
    let pid = child.id() as i32;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            if start.elapsed() > limit {
                // SAFETY: plain kill(2) of the child this thread's caller started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let out = child.wait_with_output().expect("waiting for the attacker");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    out
}

/// Runs `cmd` with a new pty as its controlling terminal on stdin; returns the output and
/// whether `byte` was pushed into the terminal's input (it shows up on the master side).
pub fn on_a_terminal(mut cmd: Command, byte: u8) -> (Output, bool) {
    let master =
        nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY).unwrap();
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let slave_name = nix::pty::ptsname_r(&master).unwrap();
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_name)
        .unwrap()
        .into();
    let slave_fd = slave.as_raw_fd();
    // SAFETY: setsid, ioctl and dup2 are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::dup2(slave_fd, 0);
            Ok(())
        });
    }
    cmd.stdin(Stdio::inherit());
    let out = finish(cmd, Duration::from_secs(60));
    drop(slave);
    let master_fd = master.as_raw_fd();
    // SAFETY: O_NONBLOCK on our own descriptor.
    unsafe { libc::fcntl(master_fd, libc::F_SETFL, libc::O_NONBLOCK) };
    // SAFETY: dup of our own descriptor, owned by the File below.
    let mut file = unsafe { std::fs::File::from_raw_fd(libc::dup(master_fd)) };
    let mut echoed = Vec::new();
    let _ = file.read_to_end(&mut echoed);
    (out, echoed.contains(&byte))
}

/// A `sleep` argument of about `seconds` that nobody else on the machine uses, to find the
/// process from the host.
pub fn unique_sleep(seconds: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{seconds}.{}{}", std::process::id(), nanos % 100_000)
}
