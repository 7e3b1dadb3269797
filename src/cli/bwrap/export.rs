//! The other direction: a [`Plan`] (a profile plus `stockade run` flags) written as the
//! equivalent bwrap command line, to help people migrate (`stockade run --print-bwrap`).
//! What bwrap cannot express (Landlock, named seccomp policies, limits, inline file contents,
//! user-mode networking) is listed as notes instead of being silently dropped.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::plan::{BindMode, EnvOp, FsOp, NetMode, Plan, Seccomp};

/// The bwrap words for `plan` (without the program name), and what they leave out.
pub fn to_bwrap_args(plan: &Plan) -> (Vec<OsString>, Vec<String>) {
    let mut w = Words::default();
    namespaces(plan, &mut w);
    for op in &plan.fs {
        fs_op(op, &mut w);
    }
    if plan.root_read_only {
        w.push(&["--remount-ro", "/"]);
    }
    environment(plan, &mut w);
    process(plan, &mut w);
    w.words.push("--".into());
    w.words.extend(plan.argv.iter().cloned());
    (w.words, w.notes)
}

#[derive(Default)]
struct Words {
    words: Vec<OsString>,
    notes: Vec<String>,
}

impl Words {
    fn push(&mut self, words: &[&str]) {
        self.words.extend(words.iter().map(OsString::from));
    }

    fn push_os(&mut self, flag: &str, values: &[&OsStr]) {
        self.words.push(flag.into());
        self.words.extend(values.iter().map(|v| v.to_os_string()));
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }
}

fn namespaces(plan: &Plan, w: &mut Words) {
    let ns = &plan.namespaces;
    for (on, flag) in [
        (ns.user, "--unshare-user"),
        (ns.pid, "--unshare-pid"),
        (ns.uts, "--unshare-uts"),
        (ns.ipc, "--unshare-ipc"),
        (ns.cgroup, "--unshare-cgroup"),
    ] {
        if on {
            w.push(&[flag]);
        }
    }
    match &plan.net {
        NetMode::None if ns.net => w.push(&["--unshare-net"]),
        NetMode::Pasta { .. } => {
            w.push(&["--unshare-net"]);
            w.note("network: pasta (user-mode networking) has no bwrap option; the sandbox gets no network");
        }
        _ => {}
    }
    if let Some(uid) = plan.uid {
        w.push(&["--uid", &uid.to_string()]);
    }
    if let Some(gid) = plan.gid {
        w.push(&["--gid", &gid.to_string()]);
    }
    if let Some(host) = &plan.hostname {
        w.push(&["--hostname", host]);
    }
}

fn mode_words(mode: &Option<u32>, w: &mut Words) {
    if let Some(mode) = mode {
        w.push(&["--perms", &format!("{mode:04o}")]);
    }
}

/// bwrap's flag for a bind of `mode`.
fn bind_flag(mode: BindMode, optional: bool) -> String {
    let base = match mode {
        BindMode::ReadOnly => "--ro-bind",
        BindMode::ReadWrite => "--bind",
        BindMode::Dev => "--dev-bind",
    };
    if optional {
        format!("{base}-try")
    } else {
        base.to_string()
    }
}

fn fs_op(op: &FsOp, w: &mut Words) {
    match op {
        FsOp::Bind {
            src,
            dest,
            mode,
            optional,
        } => {
            w.push_os(
                &bind_flag(*mode, *optional),
                &[src.as_os_str(), dest.as_os_str()],
            );
        }
        // bwrap has no snapshot copy; a read-only bind shows the same file (live, not frozen).
        FsOp::Copy {
            src,
            dest,
            optional,
        } => w.push_os(
            &bind_flag(BindMode::ReadOnly, *optional),
            &[src.as_os_str(), dest.as_os_str()],
        ),
        FsOp::BindFd {
            fd,
            dest,
            read_only,
        } => {
            let flag = if *read_only {
                "--ro-bind-fd"
            } else {
                "--bind-fd"
            };
            w.push_os(flag, &[OsStr::new(&fd.to_string()), dest.as_os_str()]);
        }
        FsOp::Tmpfs { dest, size, mode } => {
            mode_words(mode, w);
            if let Some(size) = size {
                w.push(&["--size", &size.to_string()]);
            }
            w.push_os("--tmpfs", &[dest.as_os_str()]);
        }
        FsOp::Dir { dest, mode } => {
            mode_words(mode, w);
            w.push_os("--dir", &[dest.as_os_str()]);
        }
        FsOp::Symlink { target, dest } => {
            w.push_os("--symlink", &[target.as_os_str(), dest.as_os_str()])
        }
        FsOp::Proc { dest } => w.push_os("--proc", &[dest.as_os_str()]),
        FsOp::Dev { dest } => w.push_os("--dev", &[dest.as_os_str()]),
        FsOp::Mqueue { dest } => w.push_os("--mqueue", &[dest.as_os_str()]),
        FsOp::RemountRo { dest } => w.push_os("--remount-ro", &[dest.as_os_str()]),
        FsOp::Data {
            fd,
            dest,
            mode,
            bind,
        } => {
            mode_words(mode, w);
            let flag = match bind {
                None => "--file",
                Some(false) => "--bind-data",
                Some(true) => "--ro-bind-data",
            };
            w.push_os(flag, &[OsStr::new(&fd.to_string()), dest.as_os_str()]);
        }
        FsOp::File { dest, mode, .. } => {
            w.note(format!(
                "file {}: bwrap takes file contents from a descriptor (--file FD {}); \
left out",
                dest.display(),
                dest.display()
            ));
            let _ = mode;
        }
        FsOp::Chmod { dest, mode } => w.push_os(
            "--chmod",
            &[OsStr::new(&format!("{mode:04o}")), dest.as_os_str()],
        ),
        FsOp::Overlay {
            lower,
            upper,
            work,
            tmp_upper,
            dest,
        } => {
            for layer in lower {
                w.push_os("--overlay-src", &[layer.as_os_str()]);
            }
            match (upper, work, tmp_upper) {
                (Some(u), Some(wk), _) => w.push_os(
                    "--overlay",
                    &[u.as_os_str(), wk.as_os_str(), dest.as_os_str()],
                ),
                (_, _, true) => w.push_os("--tmp-overlay", &[dest.as_os_str()]),
                _ => w.push_os("--ro-overlay", &[dest.as_os_str()]),
            }
        }
    }
}

fn environment(plan: &Plan, w: &mut Words) {
    if plan.env.clear {
        w.push(&["--clearenv"]);
    }
    for op in &plan.env.ops {
        match op {
            EnvOp::Set(k, v) => w.push_os("--setenv", &[k.as_os_str(), v.as_os_str()]),
            EnvOp::Unset(k) => w.push_os("--unsetenv", &[k.as_os_str()]),
            // bwrap has no patterns: the names they match here, where the line is printed.
            EnvOp::UnsetMatching(pattern) => {
                for (name, _) in std::env::vars_os() {
                    if crate::plan::name_matches(pattern, name.as_bytes()) {
                        w.push_os("--unsetenv", &[name.as_os_str()]);
                    }
                }
            }
        }
    }
    if let Some(dir) = &plan.chdir {
        w.push_os("--chdir", &[dir.as_os_str()]);
    }
}

fn process(plan: &Plan, w: &mut Words) {
    for cap in &plan.caps_keep {
        w.push(&["--cap-add", cap]);
    }
    let p = &plan.process;
    if p.die_with_parent {
        w.push(&["--die-with-parent"]);
    }
    if p.new_session {
        w.push(&["--new-session"]);
    }
    if p.as_pid_1 && plan.namespaces.pid {
        w.push(&["--as-pid-1"]);
    }
    if let Some(argv0) = &plan.argv0 {
        w.push_os("--argv0", &[argv0.as_os_str()]);
    }
    match &plan.seccomp {
        Seccomp::Off => {}
        Seccomp::Fds(fds) => {
            for fd in fds {
                w.push(&["--add-seccomp-fd", &fd.to_string()]);
            }
        }
        Seccomp::Policy(_) => w.note(
            "seccomp: bwrap only loads compiled BPF (--seccomp FD); the named allowlist is left out",
        ),
    }
    if plan.landlock.is_some() {
        w.note("landlock: no bwrap equivalent; left out");
    }
    if plan.dbus.is_some() {
        w.note("dbus: stockade starts xdg-dbus-proxy itself; with bwrap, start it and bind its socket; left out");
    }
    if plan.display.is_some() {
        w.note("display sockets (x11, wayland, audio) are found at launch; bind them with --ro-bind; left out");
    }
    let l = &plan.limits;
    if !l.rlimits.is_empty()
        || l.timeout_ms.is_some()
        || l.memory_bytes.is_some()
        || l.pids.is_some()
        || l.cpus.is_some()
    {
        w.note("limits (rlimits, timeout, memory, pids, cpus): no bwrap equivalent; left out");
    }
    if p.close_fds {
        w.note("stockade closes inherited descriptors; bwrap passes them on");
    }
}

/// One word as a POSIX shell reads it back.
pub fn shell_quote(word: &OsStr) -> String {
    let bytes = word.as_bytes();
    let plain = !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(b));
    if plain {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    format!(
        "'{}'",
        String::from_utf8_lossy(bytes).replace('\'', "'\\''")
    )
}

/// The command line as text: `bwrap WORD...`, then one `# note` line per thing left out.
pub fn render(plan: &Plan) -> String {
    let (words, notes) = to_bwrap_args(plan);
    let mut out = String::from("bwrap");
    for word in &words {
        out.push(' ');
        out.push_str(&shell_quote(word));
    }
    out.push('\n');
    for note in notes {
        out.push_str(&format!("# {note}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::bwrap::{parse, to_plan, Host, Parsed};

    fn host() -> Host {
        Host {
            uid: 1000,
            gid: 1000,
            effective_caps: Vec::new(),
            userns_available: true,
            cgroupns_available: true,
            selinux_enabled: false,
        }
    }

    /// A bwrap command line survives bwrap -> plan -> bwrap -> plan unchanged.
    #[test]
    fn round_trips_through_the_bwrap_parser() {
        let args: Vec<OsString> = [
            "--unshare-all",
            "--uid",
            "0",
            "--hostname",
            "h",
            "--ro-bind",
            "/usr",
            "/usr",
            "--bind-try",
            "/a b",
            "/x",
            "--perms",
            "0700",
            "--size",
            "4096",
            "--tmpfs",
            "/t",
            "--dir",
            "/d",
            "--symlink",
            "usr/lib",
            "/lib",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--chmod",
            "0711",
            "/d",
            "--overlay-src",
            "/l1",
            "--overlay-src",
            "/l2",
            "--ro-overlay",
            "/o",
            "--setenv",
            "K",
            "it's",
            "--chdir",
            "/",
            "--cap-add",
            "CAP_CHOWN",
            "--die-with-parent",
            "--argv0",
            "zero",
            "sh",
            "-c",
            "echo hi",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let plan_of = |args: &[OsString]| match parse(args).unwrap() {
            Parsed::Run(o) => to_plan(&o, &host()).unwrap(),
            other => panic!("{other:?}"),
        };
        let first = plan_of(&args);
        let (words, notes) = to_bwrap_args(&first);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(plan_of(&words), first);
    }

    #[test]
    fn notes_what_bwrap_cannot_express() {
        let plan = Plan {
            fs: vec![FsOp::File {
                dest: "/etc/x".into(),
                contents: b"x".to_vec(),
                mode: None,
            }],
            landlock: Some(Default::default()),
            argv: vec!["true".into()],
            ..Plan::default()
        };
        let text = render(&plan);
        assert!(text.starts_with("bwrap --unshare-user --unshare-pid --unshare-uts"));
        assert!(text.contains("--remount-ro / "), "{text}");
        assert!(text.contains("# landlock"), "{text}");
        assert!(text.contains("# file /etc/x"), "{text}");
        assert!(text.contains("-- true\n"), "{text}");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(OsStr::new("/usr")), "/usr");
        assert_eq!(shell_quote(OsStr::new("a b")), "'a b'");
        assert_eq!(shell_quote(OsStr::new("it's")), "'it'\\''s'");
        assert_eq!(shell_quote(OsStr::new("")), "''");
    }
}
