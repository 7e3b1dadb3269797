//! cgroup v2 limits (`--memory`, `--pids`, `--cpus`): a child cgroup per sandbox inside a
//! subtree delegated to the caller, removed when the sandbox ends.
//!
//! Where: the caller's own cgroup (the `0::` line of /proc/self/cgroup, under the cgroup2 mount
//! found in /proc/self/mountinfo) or the nearest ancestor of it that the caller may write and
//! that can pass the controllers on to children. A cgroup with processes in it cannot enable
//! controllers for its children ("no internal processes"), so inside a
//! `systemd-run --user --scope -p Delegate=yes` scope the sandbox's cgroup usually lands next
//! to the scope, in the user's delegated slice; moving the sandbox there needs write access to
//! the common ancestor's cgroup.procs, which is exactly the cgroup chosen.
//!
//! The launcher creates the cgroup and sets the limits before any namespace exists, moves the
//! sandbox's PID 1 in while PID 1 waits before forking the command, and removes the cgroup
//! after the sandbox ends (a launcher that was SIGKILLed leaves one behind, which the next
//! launch in the same place removes).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::error::Failure;
use crate::plan::Limits;

/// What a sandbox cgroup saw, read just before it is removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// memory.peak (Linux 5.19+), bytes.
    pub memory_peak: Option<u64>,
    /// The memory limit made the kernel kill a process (memory.events oom_kill).
    pub oom_killed: bool,
    /// A fork failed because of pids.max (pids.events max).
    pub pids_limited: bool,
}

/// The controllers a plan's limits need, in the order they are enabled.
pub fn controllers_needed(limits: &Limits) -> Vec<&'static str> {
    let mut c = Vec::new();
    if limits.cpus.is_some() {
        c.push("cpu");
    }
    if limits.memory_bytes.is_some() {
        c.push("memory");
    }
    if limits.pids.is_some() {
        c.push("pids");
    }
    c
}

/// The cgroup2 mount point and the hierarchy path mounted there, from /proc/self/mountinfo.
pub fn v2_mount() -> Option<(PathBuf, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        let root = fields.get(3)?.to_string();
        Some((PathBuf::from(unescape(fields.get(4)?)), root))
    })
}

/// mountinfo escapes spaces and a few other bytes as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The caller's cgroup v2 path (the `0::` line of /proc/self/cgroup).
pub fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end_matches(" (deleted)").to_string())
}

/// The caller's cgroup as a directory under the v2 mount.
pub fn own_cgroup_dir() -> Result<PathBuf, String> {
    let (mount, root) =
        v2_mount().ok_or("cgroup v2 is not mounted (no cgroup2 entry in /proc/self/mountinfo)")?;
    let own =
        own_cgroup().ok_or("this process is in no cgroup v2 (no 0:: line in /proc/self/cgroup)")?;
    let rel = own
        .strip_prefix(root.trim_end_matches('/'))
        .unwrap_or(&own)
        .trim_start_matches('/');
    Ok(mount.join(rel))
}

fn read_words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Why `dir` cannot hold sandbox cgroups with `controllers`, or `None` when it can (after
/// enabling missing controllers in its cgroup.subtree_control).
fn unusable(dir: &Path, controllers: &[&str]) -> Option<String> {
    let uid = nix::unistd::geteuid();
    for file in ["", "cgroup.procs", "cgroup.subtree_control"] {
        let path = dir.join(file);
        if !writable(&path) {
            return Some(format!(
                "{} is not writable by uid {uid} (not delegated to you)",
                path.display()
            ));
        }
    }
    let available = read_words(&dir.join("cgroup.controllers"));
    let missing: Vec<&str> = controllers
        .iter()
        .copied()
        .filter(|c| !available.iter().any(|a| a == c))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "controller(s) {} not available in {} (it offers: {})",
            missing.join(", "),
            dir.join("cgroup.controllers").display(),
            if available.is_empty() {
                "none".into()
            } else {
                available.join(" ")
            }
        ));
    }
    enable(dir, controllers).err()
}

/// Enables the controllers for `dir`'s children, which fails (EBUSY) while `dir` has
/// processes of its own.
fn enable(dir: &Path, controllers: &[&str]) -> Result<(), String> {
    let enabled = read_words(&dir.join("cgroup.subtree_control"));
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.iter().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let file = dir.join("cgroup.subtree_control");
    std::fs::write(&file, missing.join(" ")).map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::EBUSY) {
            "it has processes of its own".to_string()
        } else {
            e.to_string()
        };
        format!(
            "cannot write {} to {}: {why}",
            missing.join(" "),
            file.display()
        )
    })
}

/// The deepest of the caller's cgroup and its ancestors that can hold sandbox cgroups.
pub fn find_delegated(controllers: &[&str]) -> Result<PathBuf, String> {
    let own = own_cgroup_dir()?;
    let (mount, _) = v2_mount().ok_or("cgroup v2 is not mounted")?;
    let mut first_reason = None;
    let mut dir = Some(own.as_path());
    while let Some(d) = dir.filter(|d| d.starts_with(&mount)) {
        match unusable(d, controllers) {
            None => return Ok(d.to_path_buf()),
            Some(why) => {
                first_reason.get_or_insert(why);
            }
        }
        dir = d.parent();
    }
    Err(format!(
        "your cgroup {} and its parents cannot hold one: {}",
        own.display(),
        first_reason.unwrap_or_default()
    ))
}

/// The error for a plan that needs cgroup limits on a machine that gives the caller none.
fn not_delegated(controllers: &[&str], why: &str) -> anyhow::Error {
    let flags: Vec<String> = controllers
        .iter()
        .map(|c| match *c {
            "cpu" => "--cpus",
            "memory" => "--memory",
            _ => "--pids",
        })
        .map(String::from)
        .collect();
    anyhow!(Failure::setup(format!(
        "{} need(s) a delegated cgroup v2 subtree with the {} controller(s): {why}; \
run stockade in one, e.g. `systemd-run --user --scope -p Delegate=yes stockade run ...`, \
or have root create a cgroup, enable the controllers in its cgroup.subtree_control and \
chown it to you",
        flags.join("/"),
        controllers.join(", ")
    )))
}

/// A sandbox's own cgroup, removed when dropped.
pub struct SandboxCgroup {
    path: PathBuf,
}

impl SandboxCgroup {
    /// Creates the sandbox's cgroup with the plan's limits, or `None` when it sets none.
    pub fn create(limits: &Limits) -> Result<Option<SandboxCgroup>> {
        let controllers = controllers_needed(limits);
        if controllers.is_empty() {
            return Ok(None);
        }
        let parent =
            find_delegated(&controllers).map_err(|why| not_delegated(&controllers, &why))?;
        remove_stale(&parent);
        let path = parent.join(format!("stockade-{}", std::process::id()));
        let _ = std::fs::remove_dir(&path);
        std::fs::create_dir(&path)
            .with_context(|| format!("creating the sandbox cgroup {}", path.display()))?;
        let cg = SandboxCgroup { path };
        cg.set_limits(limits)?;
        Ok(Some(cg))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let path = self.path.join(file);
        std::fs::write(&path, value)
            .with_context(|| format!("writing {value:?} to {}", path.display()))
    }

    fn set_limits(&self, limits: &Limits) -> Result<()> {
        if let Some(bytes) = limits.memory_bytes {
            self.write("memory.max", &bytes.to_string())?;
            // Without this the limit only moves the excess to swap.
            if self.path.join("memory.swap.max").exists() {
                self.write("memory.swap.max", "0")?;
            }
        }
        if let Some(n) = limits.pids {
            self.write("pids.max", &n.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            self.write("cpu.max", &cpu_max(cpus))?;
        }
        Ok(())
    }

    /// Moves a process (the sandbox's PID 1, before it forks the command) into the cgroup.
    pub fn enter(&self, pid: libc::pid_t) -> Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// Reads what the sandbox used, kills anything left and removes the cgroup.
    pub fn finish(self) -> Usage {
        let usage = self.usage();
        drop(self);
        usage
    }

    fn usage(&self) -> Usage {
        let events = |file: &str, key: &str| {
            std::fs::read_to_string(self.path.join(file))
                .ok()
                .and_then(|s| {
                    s.lines().find_map(|l| {
                        let (k, v) = l.split_once(' ')?;
                        (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
                    })
                })
                .unwrap_or(0)
        };
        Usage {
            memory_peak: std::fs::read_to_string(self.path.join("memory.peak"))
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            oom_killed: events("memory.events", "oom_kill") > 0,
            pids_limited: events("pids.events", "max") > 0,
        }
    }
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        remove(&self.path);
    }
}

/// cpu.max for a number of CPUs: quota per 100 ms period.
fn cpu_max(cpus: f64) -> String {
    const PERIOD: u64 = 100_000;
    let quota = ((cpus * PERIOD as f64).round() as u64).max(1000);
    format!("{quota} {PERIOD}")
}

/// Kills what is left in a sandbox cgroup (cgroup.kill, 5.14+) and removes it. The pid
/// namespace is already gone by then, but the kernel may take a moment to empty the cgroup.
fn remove(path: &Path) {
    let _ = std::fs::write(path.join("cgroup.kill"), "1");
    for _ in 0..100 {
        match std::fs::remove_dir(path) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
}

/// Removes `stockade-PID` cgroups whose launcher no longer exists.
fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("stockade-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            .map(|_| true)
            .unwrap_or_else(|e| e != nix::errno::Errno::ESRCH);
        if !alive
            && std::fs::metadata(entry.path())
                .map(|m| m.is_dir())
                .unwrap_or(false)
        {
            remove(&entry.path());
        }
    }
}

/// Whether a delegated subtree with these controllers exists, and where (for `stockade info`).
pub fn probe(controllers: &[&str]) -> Result<PathBuf, String> {
    // Probing must not change anything: only report, never enable controllers.
    let own = own_cgroup_dir()?;
    let (mount, _) = v2_mount().ok_or("cgroup v2 is not mounted")?;
    let mut dir = Some(own.as_path());
    let mut first = None;
    while let Some(d) = dir.filter(|d| d.starts_with(&mount)) {
        let ok_files = ["", "cgroup.procs", "cgroup.subtree_control"]
            .iter()
            .all(|f| writable(&d.join(f)));
        let available = read_words(&d.join("cgroup.controllers"));
        let has = controllers.iter().all(|c| available.iter().any(|a| a == c));
        // As create() would find it: the controllers already passed on to children, or no
        // processes inside, so that they could be.
        let enabled = read_words(&d.join("cgroup.subtree_control"));
        let passes = controllers.iter().all(|c| enabled.iter().any(|e| e == c))
            || read_words(&d.join("cgroup.procs")).is_empty();
        if ok_files && has && passes {
            return Ok(d.to_path_buf());
        }
        first.get_or_insert_with(|| {
            let offers = if available.is_empty() {
                "no controllers".to_string()
            } else {
                available.join(" ")
            };
            let access = if ok_files {
                "is writable"
            } else {
                "is not writable by this user"
            };
            format!(
                "{} {access} and offers {offers} (needed: {})",
                d.display(),
                controllers.join(" ")
            )
        });
        dir = d.parent();
    }
    Err(first.unwrap_or_else(|| "no cgroup found".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_quota_per_period() {
        assert_eq!(cpu_max(0.5), "50000 100000");
        assert_eq!(cpu_max(2.0), "200000 100000");
        assert_eq!(cpu_max(0.001), "1000 100000");
    }

    #[test]
    fn controllers_follow_the_limits() {
        let l = Limits {
            memory_bytes: Some(1),
            pids: Some(2),
            ..Limits::default()
        };
        assert_eq!(controllers_needed(&l), ["memory", "pids"]);
        assert!(controllers_needed(&Limits::default()).is_empty());
    }
}
