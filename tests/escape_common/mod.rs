//! Shared pieces of the escape suite (issue 8): run an attacker program inside stockade under
//! every built-in profile, run the same attacker on the host as a control, and read what the
//! attacker reported. The verdict is taken on the host wherever it can be.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::{self, stockade, stockade_bin};

/// The profiles every attack runs under (issue 8).
pub const PROFILES: [&str; 4] = ["default", "build", "test", "desktop"];

/// Flags that turn off the two filters, for control runs that must show an attack *can*
/// succeed when only the namespaces remain.
pub const FILTERS_OFF: [&str; 4] = ["--seccomp", "off", "--landlock", "off"];

/// The names `stockade profile list` reports (first word of each line), or `None` when the
/// command is not available on this build.
fn listed_profiles() -> &'static Option<Vec<String>> {
    static LISTED: OnceLock<Option<Vec<String>>> = OnceLock::new();
    LISTED.get_or_init(|| {
        let out = Command::new(stockade_bin())
            .args(["profile", "list"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(|w| w.trim_end_matches(':').to_string())
                .collect(),
        )
    })
}

/// The profiles of [`PROFILES`] that this build of stockade has. Those it lacks are reported
/// with a `SKIPPED:` line so the gap is visible. `default` is always run: without a profile
/// list, `stockade run` still starts from it.
pub fn profiles() -> Vec<&'static str> {
    let listed = listed_profiles();
    let mut have = Vec::new();
    for name in PROFILES {
        let present = match listed {
            Some(names) => names.iter().any(|n| n == name),
            None => name == "default",
        };
        if present {
            have.push(name);
        } else {
            common::skip(&format!(
                "profile {name}: not reported by `stockade profile list` on this build"
            ));
        }
    }
    have
}

/// Runs `check` once per available profile.
pub fn for_each_profile(mut check: impl FnMut(&str)) {
    for profile in profiles() {
        println!("-- profile {profile}");
        check(profile);
    }
}

/// The attacker programs, kept as files in tests/attackers and passed with `python3 -c`, so
/// nothing has to be bound into the sandbox to run them.
pub const FS_ATTACKER: &str = include_str!("../attackers/fs.py");
pub const PROC_ATTACKER: &str = include_str!("../attackers/proc.py");
pub const NET_ATTACKER: &str = include_str!("../attackers/net.py");
pub const TTY_ATTACKER: &str = include_str!("../attackers/tty.py");
pub const PRIV_ATTACKER: &str = include_str!("../attackers/privs.py");

/// `stockade run --profile P EXTRA... -- python3 -c ATTACKER ARGS...`, not yet started.
pub fn attack_cmd<S: AsRef<OsStr>>(
    profile: &str,
    extra: &[&str],
    attacker: &str,
    args: &[S],
) -> Command {
    let mut cmd = stockade(["run", "--profile", profile]);
    cmd.args(extra)
        .args(["--", "/usr/bin/python3", "-c", attacker])
        .args(args);
    cmd
}

/// Runs an attacker in the sandbox to completion (with a generous time limit).
pub fn attack<S: AsRef<OsStr>>(
    profile: &str,
    extra: &[&str],
    attacker: &str,
    args: &[S],
) -> Output {
    let cmd = attack_cmd(profile, extra, attacker, args);
    common::finish(cmd, Duration::from_secs(60))
}

/// The same attacker run directly on the host, as the same user: the control that shows the
/// attack works when nothing stands in its way.
pub fn on_host<S: AsRef<OsStr>>(attacker: &str, args: &[S]) -> Output {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", attacker]).args(args).stdin(Stdio::null());
    common::finish(cmd, Duration::from_secs(60))
}

/// Lines `KEY rest...` the attacker printed, as (key, rest).
pub fn report(out: &Output) -> Vec<(String, String)> {
    common::stdout(out)
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// The values reported under `key`.
pub fn values(out: &Output, key: &str) -> Vec<String> {
    report(out)
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// The single value reported under `key`; panics with the whole report when missing.
#[track_caller]
pub fn value(out: &Output, key: &str) -> String {
    values(out, key).into_iter().next().unwrap_or_else(|| {
        panic!(
            "attacker did not report {key}\nstdout:\n{}\nstderr:\n{}",
            common::stdout(out),
            common::stderr(out)
        )
    })
}

/// Asserts that the attacker ran to the end (it prints `DONE` last).
#[track_caller]
pub fn assert_finished(out: &Output, what: &str) {
    assert!(
        common::stdout(out).lines().any(|l| l == "DONE"),
        "{what}: the attacker did not finish (status {:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        common::stdout(out),
        common::stderr(out)
    );
}

/// A name nobody else on the machine uses.
pub fn unique(tag: &str) -> String {
    // Tests of one binary run in threads of one process and may ask in the same clock tick
    // (two abstract socket names once collided): the counter keeps them apart.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "stockade-{tag}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// What a plan declares, from `--dry-run`: the host sources of its binds and every
/// destination.
#[derive(Debug, Default)]
pub struct Declared {
    pub sources: Vec<PathBuf>,
    /// Sources bound read-write (`bind`, `dev-bind`).
    pub writable_sources: Vec<PathBuf>,
    pub dests: Vec<PathBuf>,
}

impl Declared {
    /// Whether host `path` is inside a read-write bind the plan declares.
    pub fn writable(&self, path: &Path) -> bool {
        self.writable_sources.iter().any(|s| path.starts_with(s))
    }

    /// Whether host `path` is inside any bind the plan declares.
    pub fn bound(&self, path: &Path) -> bool {
        self.sources.iter().any(|s| path.starts_with(s))
    }
}

pub fn declared(profile: &str, extra: &[&str]) -> Declared {
    declared_from(profile, extra, None)
}

/// [`declared`] for a launch from working directory `cwd` (profiles may bind `${CWD}`).
pub fn declared_from(profile: &str, extra: &[&str], cwd: Option<&Path>) -> Declared {
    let mut cmd = stockade(["run", "--profile", profile]);
    // The attackers' own command: a plan may depend on it (the test profile binds the
    // directory of a command given by path, ${COMMAND_DIR}).
    cmd.args(extra)
        .args(["--dry-run", "--", "/usr/bin/python3", "-c", "pass"]);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let out = cmd.output().expect("stockade --dry-run");
    common::assert_status(&out, 0);
    let mut d = Declared::default();
    let text = common::stdout(&out);
    let mut in_fs = false;
    for line in text.lines() {
        if line == "filesystem:" {
            in_fs = true;
            continue;
        }
        if !line.starts_with("  ") {
            in_fs = false;
        }
        if !in_fs {
            continue;
        }
        let line = line.trim();
        let mut words = line.split_whitespace();
        let kind = words.next().unwrap_or("");
        if kind.contains("bind") {
            if let Some((src, dest)) = line[kind.len()..].trim().split_once(" -> ") {
                d.sources.push(PathBuf::from(src));
                if !kind.starts_with("ro-") {
                    d.writable_sources.push(PathBuf::from(src));
                }
                d.dests.push(PathBuf::from(dest));
            }
        } else if kind == "symlink" {
            // `symlink DEST -> TARGET`: the link itself lives in the sandbox's tmpfs.
            if let Some(dest) = words.next() {
                d.dests.push(PathBuf::from(dest));
            }
        } else if let Some(dest) = words.next() {
            d.dests.push(PathBuf::from(dest));
        }
    }
    d
}

/// Directories on the host this user can create files in: the places a write that escaped
/// the sandbox would land. Walks the host tree a few levels deep, plus $HOME.
pub fn host_writable_dirs() -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
        if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok() {
            found.push(dir.to_path_buf());
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == Path::new("/proc") || path == Path::new("/sys") {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/"), 3, &mut found);
    if let Ok(home) = std::env::var("HOME") {
        walk(Path::new(&home), 1, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

/// Waits until `done` holds, up to `timeout`. Returns whether it did.
pub fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Host processes whose command line contains `token`, except the test itself.
pub fn host_processes_with(token: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid as u32 == std::process::id() {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(token) {
                found.push(pid);
            }
        }
    }
    found
}

/// Whether a host process is alive and not a zombie.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// A host `sleep` the attacker will try to see and kill. Killed and reaped on drop.
pub struct HostVictim {
    pub child: std::process::Child,
    pub token: String,
}

impl HostVictim {
    pub fn start() -> HostVictim {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let token = format!("1000.{}{}", std::process::id(), nanos % 100_000);
        let child = Command::new("sleep")
            .arg(&token)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting the victim sleep");
        HostVictim { child, token }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for HostVictim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
