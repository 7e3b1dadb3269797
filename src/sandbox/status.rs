//! Status reports for the caller, in bubblewrap's formats: `--info-fd` (one JSON object,
//! written once the sandbox's first process exists, then closed) and `--json-status-fd` (one
//! JSON document per line: the same facts first, `{ "exit-code": N }` at the end when the
//! command was executed).

//!
//! The end line of a `stockade run` (not bwrap mode, whose callers expect bubblewrap's exact
//! `{ "exit-code": N }`) carries more keys; a reader of bwrap's status fd reads it as well:
//! - `reason`: `exited` (the command returned), `signaled` (a signal killed it), `timeout`
//!   (`--timeout` expired), `limit` (a limit ended it: the cgroup's OOM killer, or SIGXCPU /
//!   SIGXFSZ from `--rlimit cpu` / `--rlimit fsize`);
//! - `signal`: the signal number, when one ended the command;
//! - `limit`: which limit, with reason `limit` (`memory`, `cpu`, `fsize`); `pids-limited`:
//!   true when a fork failed because of `--pids` (that ends nothing by itself);
//! - `memory-peak`: the sandbox cgroup's memory.peak in bytes (with a cgroup and Linux 5.19+);
//! - `max-rss`: the largest resident set of any single process of the sandbox, in bytes
//!   (getrusage, always available).
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{anyhow, Result};

use crate::plan::Plan;

use super::cgroup::Usage;
use super::init::End;

/// The namespaces bubblewrap reports, in its order, and whether this plan creates each.
fn reported_namespaces(plan: &Plan) -> [(&'static str, bool); 6] {
    let ns = &plan.namespaces;
    [
        ("cgroup", ns.cgroup),
        ("ipc", ns.ipc),
        ("mnt", true),
        ("net", ns.net),
        ("pid", ns.pid),
        ("uts", ns.uts),
    ]
}

/// Inode numbers of the sandbox's new namespaces, as `/proc/PID/ns/NAME` shows them.
pub fn namespace_ids(plan: &Plan, pid: i32) -> Vec<(&'static str, u64)> {
    reported_namespaces(plan)
        .into_iter()
        .filter(|(_, created)| *created)
        .filter_map(|(name, _)| {
            let meta = std::fs::metadata(format!("/proc/{pid}/ns/{name}")).ok()?;
            Some((name, meta.ino()))
        })
        .collect()
}

/// The `--info-fd` object.
pub fn info_json(pid: i32, ids: &[(&str, u64)]) -> String {
    let mut s = format!("{{\n    \"child-pid\": {pid}");
    for (name, id) in ids {
        s.push_str(&format!(",\n    \"{name}-namespace\": {id}"));
    }
    s.push_str("\n}\n");
    s
}

/// The first `--json-status-fd` document.
pub fn status_json(pid: i32, ids: &[(&str, u64)]) -> String {
    let mut s = format!("{{ \"child-pid\": {pid}");
    for (name, id) in ids {
        s.push_str(&format!(", \"{name}-namespace\": {id}"));
    }
    s.push_str(" }\n");
    s
}

/// Writes to a caller's descriptor without taking it over.
fn write_fd(fd: i32, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    // SAFETY: the File is never dropped, so the caller's descriptor is only borrowed.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.write_all(text.as_bytes())
}

fn close_fd(fd: i32) {
    // SAFETY: the descriptor was handed to us for this report and is not used after.
    unsafe { libc::close(fd) };
}

/// Called by the launcher once the sandbox's first process `pid` exists.
pub fn announce(plan: &Plan, pid: i32) -> Result<()> {
    let p = &plan.process;
    if p.info_fd.is_none() && p.json_status_fd.is_none() {
        return Ok(());
    }
    let ids = namespace_ids(plan, pid);
    if let Some(fd) = p.info_fd {
        write_fd(fd, &info_json(pid, &ids)).map_err(|e| anyhow!("Write to info_fd: {e}"))?;
        close_fd(fd);
    }
    if let Some(fd) = p.json_status_fd {
        write_fd(fd, &status_json(pid, &ids)).map_err(|e| anyhow!("Write to info_fd: {e}"))?;
    }
    Ok(())
}

/// Called by the launcher at the end: the exit code, only when the command was executed.
pub fn report_exit(plan: &Plan, executed: bool, code: i32) {
    if let Some(fd) = plan.process.json_status_fd {
        if executed {
            let _ = write_fd(fd, &format!("{{ \"exit-code\": {code} }}\n"));
        }
        close_fd(fd);
    }
}

/// Everything the status line reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub exit_code: i32,
    pub end: Option<End>,
    pub timed_out: bool,
    pub usage: Option<Usage>,
    pub max_rss: Option<u64>,
}

impl Report {
    /// Why the sandbox ended, and the limit responsible when there is one.
    pub fn reason(&self) -> (&'static str, Option<&'static str>) {
        if self.timed_out {
            return ("timeout", None);
        }
        let signal = self.end.and_then(|e| e.signal);
        if self.usage.as_ref().is_some_and(|u| u.oom_killed) && signal == Some(libc::SIGKILL) {
            return ("limit", Some("memory"));
        }
        match signal {
            Some(libc::SIGXCPU) => ("limit", Some("cpu")),
            Some(libc::SIGXFSZ) => ("limit", Some("fsize")),
            Some(_) => ("signaled", None),
            None => ("exited", None),
        }
    }

    /// The JSON line, keys in a fixed order.
    pub fn to_json(&self) -> String {
        let (reason, limit) = self.reason();
        let mut fields = vec![
            format!("\"exit-code\": {}", self.exit_code),
            format!("\"reason\": \"{reason}\""),
        ];
        if let Some(sig) = self.end.and_then(|e| e.signal) {
            fields.push(format!("\"signal\": {sig}"));
        }
        if let Some(limit) = limit {
            fields.push(format!("\"limit\": \"{limit}\""));
        }
        if let Some(usage) = &self.usage {
            if usage.pids_limited {
                fields.push("\"pids-limited\": true".into());
            }
            if let Some(peak) = usage.memory_peak {
                fields.push(format!("\"memory-peak\": {peak}"));
            }
        }
        if let Some(rss) = self.max_rss {
            fields.push(format!("\"max-rss\": {rss}"));
        }
        format!("{{ {} }}\n", fields.join(", "))
    }
}

/// The largest resident set among the reaped descendants (PID 1 waits for the command and its
/// orphans, the launcher for PID 1), in bytes.
pub fn max_rss_of_children() -> Option<u64> {
    // SAFETY: an all-zero rusage is a valid buffer for the kernel to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return None;
    }
    u64::try_from(usage.ru_maxrss).ok().map(|kib| kib * 1024)
}

/// Called by the launcher at the end of a sandbox whose command ran to its end (or was
/// ended): bubblewrap's exit line in bwrap mode, the fuller one otherwise.
pub fn report_end(plan: &Plan, executed: bool, report: &Report, bwrap: bool) {
    if bwrap || !executed {
        return report_exit(plan, executed, report.exit_code);
    }
    if let Some(fd) = plan.process.json_status_fd {
        let _ = write_fd(fd, &report.to_json());
        close_fd(fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_bubblewrap() {
        let ids = [("mnt", 4026531841u64), ("pid", 4026531842)];
        assert_eq!(
            info_json(42, &ids),
            "{\n    \"child-pid\": 42,\n    \"mnt-namespace\": 4026531841,\n    \"pid-namespace\": 4026531842\n}\n"
        );
        assert_eq!(
            status_json(42, &ids),
            "{ \"child-pid\": 42, \"mnt-namespace\": 4026531841, \"pid-namespace\": 4026531842 }\n"
        );
    }

    #[test]
    fn reasons() {
        let mut r = Report {
            exit_code: 0,
            ..Report::default()
        };
        assert_eq!(
            r.to_json(),
            "{ \"exit-code\": 0, \"reason\": \"exited\" }\n"
        );
        r.end = Some(End {
            code: 153,
            signal: Some(libc::SIGXFSZ),
        });
        r.exit_code = 153;
        assert_eq!(r.reason(), ("limit", Some("fsize")));
        r.end = Some(End {
            code: 137,
            signal: Some(libc::SIGKILL),
        });
        assert_eq!(r.reason(), ("signaled", None));
        r.usage = Some(Usage {
            memory_peak: Some(4096),
            oom_killed: true,
            pids_limited: false,
        });
        assert_eq!(r.reason(), ("limit", Some("memory")));
        assert!(r.to_json().contains("\"memory-peak\": 4096"));
        r.timed_out = true;
        assert_eq!(r.reason(), ("timeout", None));
    }
}
