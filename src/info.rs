//! `stockade info [--json]`: what this machine allows and what stockade will do with it.
//!
//! Every fact is probed without changing anything: the user namespace by a throwaway child
//! that tries to create one, cgroup delegation by checking (never enabling) controllers.
//!
//! The JSON form is one object, stable: keys are only ever added, never renamed or removed.
//! ```text
//! {
//!   "version": "0.1.0",                       stockade's version
//!   "kernel": "6.18.0",                       uname release
//!   "user-namespaces": {
//!     "available": true,                      a child of this process could create one
//!     "reason": null,                         else why not (string)
//!     "max-user-namespaces": 63432,           user.max_user_namespaces (null if unreadable)
//!     "unprivileged-userns-clone": null,      kernel.unprivileged_userns_clone (Debian/Ubuntu)
//!     "apparmor-restrict-unprivileged-userns": null
//!   },
//!   "landlock": { "abi": 6 },                 null when Landlock is not enabled
//!   "seccomp": {
//!     "available": true,
//!     "actions": ["kill_process", ...],       /proc/sys/kernel/seccomp/actions_avail
//!     "filtered": false                       this process already runs under a filter
//!   },
//!   "cgroup": {
//!     "v2-mount": "/sys/fs/cgroup",           null when no cgroup2 is mounted
//!     "own": "/user.slice/...",               the 0:: line of /proc/self/cgroup
//!     "delegated": "/sys/fs/cgroup/...",      where --memory/--pids/--cpus would create cgroups
//!     "reason": null                          else why they are unavailable
//!   },
//!   "pasta": { "path": "/usr/bin/pasta", "tun-usable": true, "reason": null },
//!   "profiles": [ { "name": "default", "origin": "built-in" }, ... ]
//! }
//! ```

use anyhow::Result;

use crate::sandbox::{cgroup, landlock, pasta};

/// A JSON value, just enough for this report (no dependency for one command).
enum Json {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    List(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn opt_str(s: Option<String>) -> Json {
        s.map(Json::Str).unwrap_or(Json::Null)
    }

    fn opt_num(n: Option<u64>) -> Json {
        n.map(Json::Num).unwrap_or(Json::Null)
    }

    fn render(&self, indent: usize, out: &mut String) {
        let pad = "  ".repeat(indent + 1);
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Str(s) => quote(s, out),
            Json::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { ", " });
                    item.render(indent, out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push_str("{\n");
                for (i, (k, v)) in fields.iter().enumerate() {
                    out.push_str(&pad);
                    quote(k, out);
                    out.push_str(": ");
                    v.render(indent + 1, out);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
        }
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn read_num(path: &str) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

fn user_namespaces() -> Json {
    let max = read_num("/proc/sys/user/max_user_namespaces");
    let clone = read_num("/proc/sys/kernel/unprivileged_userns_clone");
    let apparmor = read_num("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let reason = crate::sandbox::fallback::userns_blocked().map(|failure| {
        if max == Some(0) {
            "user.max_user_namespaces is 0".to_string()
        } else if clone == Some(0) {
            "kernel.unprivileged_userns_clone is 0".to_string()
        } else if apparmor == Some(1) {
            "AppArmor restricts unprivileged user namespaces \
(kernel.apparmor_restrict_unprivileged_userns is 1)"
                .to_string()
        } else {
            format!("{failure} (a seccomp filter, as in many containers, or a security module)")
        }
    });
    Json::Obj(vec![
        ("available", Json::Bool(reason.is_none())),
        ("reason", Json::opt_str(reason)),
        ("max-user-namespaces", Json::opt_num(max)),
        ("unprivileged-userns-clone", Json::opt_num(clone)),
        (
            "apparmor-restrict-unprivileged-userns",
            Json::opt_num(apparmor),
        ),
    ])
}

fn seccomp() -> Json {
    let actions = read_trimmed("/proc/sys/kernel/seccomp/actions_avail");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mode = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    Json::Obj(vec![
        ("available", Json::Bool(actions.is_some() || mode.is_some())),
        (
            "actions",
            Json::List(
                actions
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(|a| Json::Str(a.into()))
                    .collect(),
            ),
        ),
        ("filtered", Json::Bool(mode.is_some_and(|m| m != 0))),
    ])
}

fn cgroups() -> Json {
    let mount = cgroup::v2_mount().map(|(m, _)| m.display().to_string());
    let (delegated, reason) = match cgroup::probe(&["memory", "pids", "cpu"]) {
        Ok(dir) => (Some(dir.display().to_string()), None),
        Err(why) => (None, Some(why)),
    };
    Json::Obj(vec![
        ("v2-mount", Json::opt_str(mount)),
        ("own", Json::opt_str(cgroup::own_cgroup())),
        ("delegated", Json::opt_str(delegated)),
        ("reason", Json::opt_str(reason)),
    ])
}

fn pasta_info() -> Json {
    let path = pasta::find().ok();
    let tun = pasta::check_tun();
    let reason = match (&path, &tun) {
        (None, _) => Some("pasta is not installed (package passt)".to_string()),
        (_, Err(e)) => Some(crate::error::one_line(e)),
        _ => None,
    };
    Json::Obj(vec![
        ("path", Json::opt_str(path.map(|p| p.display().to_string()))),
        ("tun-usable", Json::Bool(tun.is_ok())),
        ("reason", Json::opt_str(reason)),
    ])
}

/// Built-in profiles and those installed in the search directories, by name and origin.
fn profiles() -> Json {
    use crate::profile::catalog;
    let mut list: Vec<(String, String)> = catalog::BUILT_IN
        .iter()
        .map(|(n, _)| (n.to_string(), "built-in".to_string()))
        .collect();
    let host = catalog::HostCatalog::new();
    for (origin, dir) in host.dirs() {
        for name in catalog::names_in(dir) {
            list.push((name, origin.to_string()));
        }
    }
    Json::List(
        list.into_iter()
            .map(|(name, origin)| {
                Json::Obj(vec![
                    ("name", Json::Str(name)),
                    ("origin", Json::Str(origin)),
                ])
            })
            .collect(),
    )
}

fn report() -> Json {
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .ok();
    Json::Obj(vec![
        ("version", Json::Str(env!("CARGO_PKG_VERSION").into())),
        ("kernel", Json::opt_str(kernel)),
        ("user-namespaces", user_namespaces()),
        (
            "landlock",
            Json::Obj(vec![(
                "abi",
                Json::opt_num(landlock::abi_version().map(u64::from)),
            )]),
        ),
        ("seccomp", seccomp()),
        ("cgroup", cgroups()),
        ("pasta", pasta_info()),
        ("profiles", profiles()),
    ])
}

/// The human form: one `section.key: value` line per fact, from the same data.
fn flatten(prefix: &str, value: &Json, out: &mut String) {
    match value {
        Json::Obj(fields) => {
            for (k, v) in fields {
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Json::List(items) if items.iter().all(|i| matches!(i, Json::Obj(_))) => {
            let names: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Json::Obj(f) => f
                        .iter()
                        .map(|(_, v)| match v {
                            Json::Str(s) => s.clone(),
                            _ => String::new(),
                        })
                        .collect::<Vec<_>>()
                        .join(" ("),
                    _ => String::new(),
                })
                .map(|s| if s.contains(" (") { s + ")" } else { s })
                .collect();
            out.push_str(&format!("{prefix}: {}\n", names.join(", ")));
        }
        Json::List(items) => {
            let words: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Json::Str(s) => s.clone(),
                    other => {
                        let mut s = String::new();
                        other.render(0, &mut s);
                        s
                    }
                })
                .collect();
            out.push_str(&format!("{prefix}: {}\n", words.join(" ")));
        }
        Json::Null => out.push_str(&format!("{prefix}: -\n")),
        Json::Bool(b) => out.push_str(&format!("{prefix}: {}\n", if *b { "yes" } else { "no" })),
        Json::Num(n) => out.push_str(&format!("{prefix}: {n}\n")),
        Json::Str(s) => out.push_str(&format!("{prefix}: {s}\n")),
    }
}

/// Runs `stockade info`.
pub fn command(json: bool) -> Result<i32> {
    let report = report();
    let mut out = String::new();
    if json {
        report.render(0, &mut out);
        out.push('\n');
    } else {
        flatten("", &report, &mut out);
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rendering() {
        let v = Json::Obj(vec![
            ("a", Json::Str("x\"y".into())),
            ("b", Json::List(vec![Json::Num(1), Json::Null])),
            ("c", Json::Obj(vec![("d", Json::Bool(true))])),
        ]);
        let mut out = String::new();
        v.render(0, &mut out);
        assert_eq!(
            out,
            "{\n  \"a\": \"x\\\"y\",\n  \"b\": [1, null],\n  \"c\": {\n    \"d\": true\n  }\n}"
        );
        let mut flat = String::new();
        flatten("", &v, &mut flat);
        assert_eq!(flat, "a: x\"y\nb: 1 null\nc.d: yes\n");
    }
}
