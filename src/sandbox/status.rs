//! Status reports for the caller, in bubblewrap's formats: `--info-fd` (one JSON object,
//! written once the sandbox's first process exists, then closed) and `--json-status-fd` (one
//! JSON document per line: the same facts first, `{ "exit-code": N }` at the end when the
//! command was executed).

use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{anyhow, Result};

use crate::plan::Plan;

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
}
