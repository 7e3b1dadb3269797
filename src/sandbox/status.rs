//! The end-of-run status line written to `--json-status-fd`.
//!
//! One JSON object per line. Keys use bubblewrap's spelling (`exit-code`), so a reader of
//! bwrap's status fd can read the end of a stockade run too; the extra keys are:
//! - `reason`: `exited` (the command returned), `signaled` (a signal killed it), `timeout`
//!   (`--timeout` expired), `limit` (a limit ended it: the cgroup's OOM killer, or SIGXCPU /
//!   SIGXFSZ from `--rlimit cpu` / `--rlimit fsize`);
//! - `signal`: the signal number, when one ended the command;
//! - `limit`: which limit, with reason `limit` (`memory`, `cpu`, `fsize`); `pids-limited`:
//!   true when a fork failed because of `--pids` (that ends nothing by itself);
//! - `memory-peak`: the sandbox cgroup's memory.peak in bytes (with a cgroup and Linux 5.19+);
//! - `max-rss`: the largest resident set of any single process of the sandbox, in bytes
//!   (getrusage, always available).

use std::io::Write;

use super::cgroup::Usage;
use super::init::End;

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

/// Writes the line to `fd` (which stays open: the caller owns it).
pub fn write(fd: i32, report: &Report) {
    // SAFETY: the descriptor was checked to be open when the plan was made; ManuallyDrop
    // keeps the File from closing it.
    let mut file = std::mem::ManuallyDrop::new(unsafe {
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    let _ = file.write_all(report.to_json().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

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
