//! Differential tests: the same command lines through Debian's bubblewrap (/usr/bin/bwrap,
//! 0.8.0) and through `stockade-bwrap`, comparing exit status, stdout and what the command
//! sees (ids, environment, hostname, files, capabilities, the mount table normalized to
//! mount point, per-mount options and filesystem type, sorted). Options newer than 0.8.0 are
//! tested directly at the end.
//!
//! Run as an ordinary user (see README): the runner in .ci/as-user does that.

mod common;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{require_ordinary_user, skip, stderr, stdout, TempDir};

const DEBIAN_BWRAP: &str = "/usr/bin/bwrap";

fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stockade-bwrap"))
}

/// The host's /usr, read-only, with the merged-/usr links: enough to run sh and coreutils.
const BASE: &[&str] = &[
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/sbin",
    "/sbin",
];

/// Prints the mount table in a comparable form (mount ids and devices differ run to run).
const MOUNTS: &str = "awk '{print $5, $6, $(NF-2), $(NF-1)}' /proc/self/mountinfo | sort";

/// One row of the table.
struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Shell script run by `sh -c` in the sandbox; `None` when `args` holds the command.
    script: Option<&'static str>,
    stdin: Vec<u8>,
    /// Descriptors the caller passes, each open on a file (read side) at a number.
    fd_files: Vec<(i32, PathBuf)>,
}

fn case(name: &'static str, args: &[&str], script: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        script: Some(script),
        stdin: Vec::new(),
        fd_files: Vec::new(),
    }
}

fn raw(name: &'static str, args: &[&str]) -> Case {
    Case {
        script: None,
        ..case(name, args, "")
    }
}

impl Case {
    fn stdin(mut self, data: &[u8]) -> Case {
        self.stdin = data.to_vec();
        self
    }

    fn fd(mut self, fd: i32, path: &Path) -> Case {
        self.fd_files.push((fd, path.to_path_buf()));
        self
    }
}

/// Runs one case through `bwrap`, from `cwd`.
fn run(bwrap: &Path, c: &Case, cwd: &Path) -> Output {
    let mut cmd = Command::new(bwrap);
    if c.script.is_some() {
        cmd.args(BASE);
    }
    cmd.args(&c.args);
    if let Some(script) = c.script {
        cmd.args(["sh", "-c", script]);
    }
    cmd.current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let files: Vec<(std::fs::File, i32)> = c
        .fd_files
        .iter()
        .map(|(fd, path)| {
            let file = std::fs::File::open(path).expect("opening the case's fd file");
            (file, *fd)
        })
        .collect();
    // SAFETY: dup3 and dup2 only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Each file first goes above every target number, so that placing one cannot
            // overwrite another that happens to sit on its number. (No allocation here: the
            // test process has other threads.)
            for (i, (file, _)) in files.iter().enumerate() {
                let src = std::os::fd::AsRawFd::as_raw_fd(file);
                if libc::dup3(src, 1000 + i as i32, libc::O_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // dup2 clears close-on-exec on the copy it makes.
            for (i, (_, target)) in files.iter().enumerate() {
                if libc::dup2(1000 + i as i32, *target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawning bwrap");
    let data = c.stdin.clone();
    let mut input = child.stdin.take().expect("stdin pipe");
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("waiting for bwrap");
    let _ = writer.join();
    out
}

fn have_debian_bwrap() -> bool {
    if !Path::new(DEBIAN_BWRAP).exists() {
        skip("Debian's /usr/bin/bwrap is not installed: no differential comparison");
        return false;
    }
    let ok = Command::new(DEBIAN_BWRAP)
        .args(BASE)
        .arg("true")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        skip("Debian's bwrap cannot create a sandbox here (user namespaces disabled?)");
    }
    ok
}

/// Compares a table; reports every differing case before failing.
fn compare(cases: Vec<Case>) {
    require_ordinary_user();
    if !have_debian_bwrap() {
        return;
    }
    let cwd = TempDir::new("bwrap-diff-cwd");
    let mut failures = Vec::new();
    for c in &cases {
        let theirs = run(Path::new(DEBIAN_BWRAP), c, cwd.path());
        let mine = run(&ours(), c, cwd.path());
        let same_status = theirs.status.code() == mine.status.code();
        let same_out = theirs.stdout == mine.stdout;
        // Messages differ in wording; a failure must still be a `bwrap: ` diagnostic.
        let prefixed = |o: &Output| o.status.success() || stderr(o).contains("bwrap: ");
        if !(same_status && same_out && prefixed(&theirs) == prefixed(&mine)) {
            failures.push(format!(
                "case {}: status {:?} vs ours {:?}\n--- bwrap stdout\n{}--- ours stdout\n{}\
--- bwrap stderr\n{}--- ours stderr\n{}",
                c.name,
                theirs.status.code(),
                mine.status.code(),
                stdout(&theirs),
                stdout(&mine),
                stderr(&theirs),
                stderr(&mine)
            ));
        } else {
            println!("same: {} (status {:?})", c.name, mine.status.code());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn namespaces_ids_and_identity() {
    compare(vec![
        case("default ids", &[], "id -u; id -g; id -G"),
        case(
            "uid and gid",
            &["--unshare-user", "--uid", "1234", "--gid", "5678"],
            "id -u; id -g",
        ),
        case(
            "root inside",
            &["--unshare-user", "--uid", "0", "--gid", "0"],
            "id -u; id -g",
        ),
        case(
            "hostname",
            &["--unshare-uts", "--hostname", "sandbox-host"],
            "hostname",
        ),
        case("uts without hostname", &["--unshare-uts"], "hostname"),
        case(
            "no network",
            &["--unshare-net", "--proc", "/proc"],
            "wc -l < /proc/net/dev; cat /sys/class/net/lo/operstate 2>/dev/null; echo",
        ),
        case(
            "unshare-all",
            &["--unshare-all", "--proc", "/proc", "--hostname", "h"],
            "hostname; echo $$; wc -l < /proc/net/dev",
        ),
        case(
            "share-net",
            &["--unshare-all", "--share-net", "--proc", "/proc"],
            "test $(wc -l < /proc/net/dev) -gt 3 && echo host-net",
        ),
        case(
            "pid namespace",
            &["--unshare-pid", "--proc", "/proc"],
            // A glob, not `ls | grep`: no helper process may race into the count.
            "echo $$; set -- /proc/[0-9]*; echo $#",
        ),
        case(
            "as pid 1",
            &["--unshare-pid", "--as-pid-1", "--proc", "/proc"],
            "echo $$",
        ),
        case(
            "ipc and cgroup",
            &["--unshare-ipc", "--unshare-cgroup", "--proc", "/proc"],
            "cat /proc/self/cgroup",
        ),
        case(
            "unshare-user-try and cgroup-try",
            &["--unshare-user-try", "--unshare-cgroup-try", "--proc", "/proc"],
            "id -u; cat /proc/self/cgroup",
        ),
        case(
            "no capabilities by default",
            &["--proc", "/proc"],
            "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status",
        ),
        case(
            "cap-add",
            &["--unshare-user", "--cap-add", "CAP_NET_RAW", "--cap-add", "cap_chown", "--proc", "/proc"],
            "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status",
        ),
        case(
            "cap-add all, drop one",
            &["--cap-add", "ALL", "--cap-drop", "CAP_SYS_ADMIN", "--proc", "/proc"],
            "grep -E '^Cap(Inh|Prm|Eff|Amb)' /proc/self/status",
        ),
        case(
            "new session",
            &["--new-session", "--unshare-pid", "--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; [ $sid = $$ ] && echo leader || echo member",
        ),
        case(
            "same session",
            &["--unshare-pid", "--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; [ $sid = $$ ] && echo leader || echo member",
        ),
        case("die-with-parent", &["--die-with-parent"], "echo alive"),
        case(
            "disable-userns",
            &["--unshare-user", "--disable-userns", "--proc", "/proc"],
            "unshare -U true 2>&1; echo $?; cat /proc/sys/user/max_user_namespaces",
        ),
        // In a new pid namespace the sandbox's first process is PID 1 there, yet still sees
        // the caller's /proc while it sets up.
        case(
            "disable-userns in a pid namespace",
            &["--unshare-user", "--unshare-pid", "--disable-userns", "--proc", "/proc"],
            "unshare -U true 2>&1; echo $?; cat /proc/sys/user/max_user_namespaces; id -u",
        ),
        case(
            "disable-userns in a pid namespace, other ids",
            &["--unshare-user", "--unshare-pid", "--uid", "0", "--gid", "0", "--disable-userns"],
            "unshare -U true 2>&1; echo $?; id -u; id -g",
        ),
        case(
            "assert-userns-disabled without disabling",
            &["--assert-userns-disabled"],
            "echo ran",
        ),
        case(
            "labels refused without SELinux",
            &["--exec-label", "x", "--file-label", "y"],
            "echo ran",
        ),
    ]);
}

#[test]
fn environment_and_working_directory() {
    compare(vec![
        case(
            "setenv unsetenv",
            &[
                "--setenv",
                "STOCKADE_A",
                "1",
                "--setenv",
                "STOCKADE_B",
                "two words",
                "--unsetenv",
                "HOME",
            ],
            "echo \"$STOCKADE_A|$STOCKADE_B|${HOME-unset}\"",
        ),
        case(
            "clearenv",
            &[
                "--setenv",
                "LOST",
                "1",
                "--clearenv",
                "--setenv",
                "KEPT",
                "2",
            ],
            "env | sort",
        ),
        case("chdir", &["--chdir", "/usr/share"], "pwd; echo $PWD"),
        case(
            "chdir twice (last wins)",
            &["--chdir", "/usr", "--chdir", "/usr/lib"],
            "pwd",
        ),
        case("cwd not inside", &["--clearenv"], "pwd; echo $PWD"),
        case(
            "home fallback",
            &["--setenv", "HOME", "/usr"],
            "pwd; echo $PWD",
        ),
        case("chdir missing", &["--chdir", "/nonexistent"], "pwd"),
    ]);
}

#[test]
fn filesystem_operations() {
    let host = TempDir::new("bwrap-diff-host");
    std::fs::write(host.path().join("file"), "host file\n").unwrap();
    std::fs::create_dir(host.path().join("sub")).unwrap();
    let h = |rest: &str| format!("{}{}", host.str(), rest);
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let hd = leak(h(""));
    let hfile = leak(h("/file"));
    compare(vec![
        case("tmpfs root shape", &["--proc", "/proc"], MOUNTS),
        case(
            "tmpfs with perms and size",
            &["--proc", "/proc", "--perms", "0700", "--tmpfs", "/t1", "--size", "1048576", "--tmpfs", "/t2"],
            "stat -c '%n %a' /t1 /t2; stat -f -c '%b %S' /t2; awk '{print $5, $6, $(NF-2), $(NF-1)}' /proc/self/mountinfo | sort",
        ),
        case(
            "dirs and parents",
            &["--dir", "/a/b/c", "--perms", "0750", "--dir", "/p/q", "--perms", "1777", "--dir", "/sticky"],
            "stat -c '%n %a' /a /a/b /a/b/c /p /p/q /sticky",
        ),
        case(
            "symlink",
            &["--symlink", "/usr/share", "/share", "--symlink", "relative", "/rel"],
            "readlink /share /rel; ls /share/ | head -3",
        ),
        case(
            "chmod",
            &["--dir", "/d", "--chmod", "0711", "/d", "--tmpfs", "/t", "--chmod", "1777", "/t"],
            "stat -c '%n %a' /d /t",
        ),
        case(
            "chmod missing path",
            &["--chmod", "0700", "/nonexistent"],
            "echo ran",
        ),
        case(
            "file from fd",
            &["--file", "0", "/etc/motd", "--perms", "0640", "--file", "0", "/etc/second"],
            "cat /etc/motd; stat -c '%n %a %s' /etc/motd /etc/second",
        )
        .stdin(b"hello from stdin\n"),
        case(
            "bind-data and ro-bind-data",
            &["--proc", "/proc", "--bind-data", "0", "/bd", "--ro-bind-data", "3", "/rbd"],
            "cat /bd /rbd; stat -c '%n %a' /bd /rbd; echo x >> /bd && echo bd-writable; \
             (echo x >> /rbd) 2>/dev/null || echo rbd-readonly; awk '$5 ~ /bd/ {print $5, $6}' /proc/self/mountinfo | sort",
        )
        .stdin(b"rw data\n")
        .fd(3, &host.path().join("file")),
        case(
            "bind rw",
            &["--bind", hd, "/h"],
            "cat /h/file; touch /h/new && echo wrote; ls /h",
        ),
        case(
            "ro-bind",
            &["--ro-bind", hd, "/h", "--proc", "/proc"],
            "cat /h/file; (touch /h/other) 2>/dev/null || echo read-only; awk '$5 ~ /^\\/h/ {print $5, $6}' /proc/self/mountinfo",
        ),
        case(
            "bind file onto new path",
            &["--ro-bind", hfile, "/deep/er/file"],
            "cat /deep/er/file; stat -c '%n %a' /deep /deep/er",
        ),
        case(
            "try variants with missing sources",
            &["--bind-try", "/nonexistent", "/a", "--ro-bind-try", "/nonexistent", "/b", "--dev-bind-try", "/nonexistent", "/c"],
            "ls -d /a /b /c 2>&1 | sort",
        ),
        case(
            "dev-bind",
            &["--dev-bind", "/dev/null", "/null", "--proc", "/proc"],
            "echo x > /null && echo dev-ok; awk '$5 == \"/null\" {print $6}' /proc/self/mountinfo",
        ),
        case(
            "remount-ro",
            &["--bind", hd, "/h", "--remount-ro", "/h", "--proc", "/proc"],
            "(touch /h/x) 2>/dev/null || echo read-only; awk '$5 == \"/h\" {print $6}' /proc/self/mountinfo",
        ),
        case(
            "proc and dev",
            &["--proc", "/proc", "--dev", "/dev", "--unshare-pid"],
            "ls -A /dev | sort | tr '\\n' ' '; echo; ls -l /dev/null | cut -c1-10; awk '{print $5, $6, $(NF-2), $(NF-1)}' /proc/self/mountinfo | sort",
        ),
        case(
            "mqueue",
            &["--unshare-ipc", "--proc", "/proc", "--mqueue", "/dev/mqueue"],
            MOUNTS,
        ),
        case(
            "mqueue without an ipc namespace",
            &["--mqueue", "/dev/mqueue"],
            "echo ran",
        ),
        case(
            "bind-fd and ro-bind-fd",
            &["--bind-fd", "3", "/bf", "--ro-bind-fd", "4", "/rbf", "--proc", "/proc", "--dev", "/dev"],
            "cat /bf/file /rbf/file; touch /bf/new && echo wrote; (touch /rbf/x) 2>/dev/null || echo ro; \
             for n in 3 4; do [ -e /proc/$$/fd/$n ] && echo fd $n open; done; \
             grep -E ' /r?bf ' /proc/self/mountinfo | cut -d' ' -f5,6 | sort",
        )
        .fd(3, host.path())
        .fd(4, host.path()),
        case(
            "bind-fd of a file",
            &["--unshare-pid", "--bind-fd", "5", "/f", "--ro-bind-fd", "6", "/rf", "--proc", "/proc", "--dev", "/dev"],
            "cat /f /rf; (echo x >> /rf) 2>/dev/null || echo ro; \
             grep -E ' /r?f ' /proc/self/mountinfo | cut -d' ' -f5,6 | sort",
        )
        .fd(5, &host.path().join("file"))
        .fd(6, &host.path().join("file")),
        case(
            "ro-bind-fd covers submounts",
            &["--ro-bind-fd", "3", "/d", "--dev", "/dev"],
            "(touch /d/shm/stockade-test) 2>/dev/null || echo ro",
        )
        .fd(3, Path::new("/dev")),
        case(
            "bind-fd used twice",
            &["--ro-bind-fd", "3", "/a", "--ro-bind-fd", "3", "/b"],
            "echo ran",
        )
        .fd(3, host.path()),
        case(
            "args from fd",
            &["--args", "0"],
            "test -d /from-args && echo $FROM_ARGS",
        )
        .stdin(b"--dir\0/from-args\0--setenv\0FROM_ARGS\0yes\0"),
        case(
            "dest through a symlink",
            &["--dir", "/tmp/dir", "--symlink", "dir", "/tmp/link", "--bind", "/usr/share", "/tmp/link"],
            "ls /tmp/dir | head -2",
        ),
        case(
            "bind over /",
            &["--bind", "/", "/", "--tmpfs", "/tmp"],
            "test -d /work && ls /tmp | wc -l",
        ),
    ]);
    // The host directory saw exactly what both runs did (one `new` file, nothing else).
    let mut names: Vec<String> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["file", "new", "sub"]);
}

/// Classic BPF for x86_64: mkdir and mkdirat fail with EPERM, everything else is allowed.
fn deny_mkdir_bpf() -> Vec<u8> {
    let ins = |code: u16, jt: u8, jf: u8, k: u32| {
        let mut v = code.to_ne_bytes().to_vec();
        v.extend([jt, jf]);
        v.extend(k.to_ne_bytes());
        v
    };
    [
        ins(0x20, 0, 0, 0),               // ld [0] (nr)
        ins(0x15, 2, 0, 83),              // jeq mkdir -> deny
        ins(0x15, 1, 0, 258),             // jeq mkdirat -> deny
        ins(0x06, 0, 0, 0x7fff_0000),     // ret ALLOW
        ins(0x06, 0, 0, 0x0005_0000 | 1), // ret ERRNO(EPERM)
    ]
    .concat()
}

#[test]
fn status_fds_and_seccomp() {
    if std::env::consts::ARCH != "x86_64" {
        skip("the seccomp rows use x86_64 syscall numbers");
        return;
    }
    let dir = TempDir::new("bwrap-diff-bpf");
    let bpf = dir.path().join("deny-mkdir.bpf");
    std::fs::write(&bpf, deny_mkdir_bpf()).unwrap();
    compare(vec![
        case(
            "seccomp from fd",
            &["--tmpfs", "/t", "--seccomp", "3"],
            "mkdir /t/x 2>/dev/null; echo $?; touch /t/y && echo touched",
        )
        .fd(3, &bpf),
        case(
            "add-seccomp-fd",
            &["--tmpfs", "/t", "--add-seccomp-fd", "3"],
            "mkdir /t/x 2>/dev/null; echo $?",
        )
        .fd(3, &bpf),
        case(
            "block-fd with data ready",
            &["--block-fd", "0"],
            "echo unblocked",
        )
        .stdin(b"x"),
        case("sync-fd", &["--sync-fd", "0"], "echo ran"),
        case(
            "lock-file",
            &[
                "--ro-bind",
                "/etc/hostname",
                "/lockme",
                "--lock-file",
                "/lockme",
            ],
            "echo ran",
        ),
    ]);
}

#[test]
fn bad_input() {
    compare(vec![
        raw("no arguments", &[]),
        raw("no command", &["--unshare-pid"]),
        raw("unknown option", &["--frobnicate", "true"]),
        raw("missing value", &["--bind", "/usr"]),
        raw(
            "missing source",
            &["--bind", "/nonexistent-source", "/x", "true"],
        ),
        raw(
            "perms without operation",
            &["--perms", "0700", "--bind", "/usr", "/usr", "true"],
        ),
        raw("bad perms", &["--perms", "9", "--dir", "/d", "true"]),
        raw(
            "size without tmpfs",
            &["--size", "100", "--dir", "/d", "true"],
        ),
        raw("zero size", &["--size", "0", "--tmpfs", "/d", "true"]),
        raw("hostname without uts", &["--hostname", "x", "true"]),
        raw("as-pid-1 without pid", &["--as-pid-1", "true"]),
        raw("invalid fd", &["--sync-fd", "x", "true"]),
        raw("negative fd", &["--info-fd", "-1", "true"]),
        raw("invalid uid", &["--uid", "abc", "true"]),
        raw("unknown cap", &["--cap-add", "CAP_NOPE", "true"]),
        raw(
            "command not found",
            &["--ro-bind", "/usr", "/usr", "/nonexistent-command"],
        ),
        raw("not executable", &["--ro-bind", "/usr", "/usr", "/usr"]),
        raw(
            "double dash",
            &["--ro-bind", "/usr", "/usr", "--", "--dev-bind"],
        ),
        raw(
            "seccomp mixed",
            &["--add-seccomp-fd", "0", "--seccomp", "0", "true"],
        ),
        raw("userns-block-fd alone", &["--userns-block-fd", "0", "true"]),
        raw(
            "disable-userns without unshare-user",
            &["--disable-userns", "true"],
        ),
        raw(
            "as-pid-1 with lock-file",
            &["--unshare-pid", "--as-pid-1", "--lock-file", "/x", "true"],
        ),
        raw("args in args", &["--args", "0", "true"]).stdin(b"--args\x000\0"),
        raw(
            "exit status passes through",
            &["--ro-bind", "/usr", "/usr", "/usr/bin/false"],
        ),
        raw(
            "signal status",
            &[
                "--ro-bind",
                "/usr",
                "/usr",
                "/usr/bin/sh",
                "-c",
                "kill -TERM $$",
            ],
        ),
    ]);
}

#[test]
fn info_and_json_status_have_bubblewrap_shape() {
    require_ordinary_user();
    if !have_debian_bwrap() {
        return;
    }
    // With a pid namespace the status comes from the sandbox's init; without one the command
    // is the sandbox's first process and the launcher reports its end itself.
    for namespaces in ["--unshare-all", "--unshare-user"] {
        json_status_like_bubblewraps(namespaces);
    }
}

fn json_status_like_bubblewraps(namespaces: &str) {
    let shape = |bwrap: &Path| -> (Option<i32>, String, String) {
        let dir = TempDir::new("bwrap-diff-info");
        let info = dir.path().join("info");
        let json = dir.path().join("json");
        // `timeout`: a launcher that waits for a status nobody writes must fail, not hang.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "timeout -k 5 60 \"$0\" {} {namespaces} --info-fd 3 --json-status-fd 4 \
                 /usr/bin/sh -c 'exit 42' 3>'{}' 4>'{}'",
                BASE.join(" "),
                info.display(),
                json.display()
            ))
            .arg(bwrap)
            .output()
            .unwrap();
        let digits = |s: String| -> String {
            s.chars()
                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                .collect::<String>()
                .split('N')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("N")
        };
        (
            out.status.code(),
            digits(std::fs::read_to_string(&info).unwrap()),
            digits(std::fs::read_to_string(&json).unwrap()),
        )
    };
    let theirs = shape(Path::new(DEBIAN_BWRAP));
    let mine = shape(&ours());
    assert_eq!(theirs, mine, "{namespaces}");
    assert_eq!(mine.0, Some(42), "{namespaces}");
    assert!(
        mine.2.contains("\"exit-code\": N"),
        "{namespaces}: {}",
        mine.2
    );
}

#[test]
fn help_starts_with_argv0_as_given() {
    require_ordinary_user();
    let out = Command::new(ours()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "usage: {} [OPTIONS...] [--] COMMAND [ARGS...]",
            ours().display()
        )
    );
    let out = Command::new(ours()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("usage: "));
}

// ---- Options newer than Debian's bubblewrap 0.8.0: direct tests. ----

fn ours_sh(args: &[&str], script: &str) -> Output {
    require_ordinary_user();
    let mut cmd = Command::new(ours());
    cmd.args(BASE).args(args).args(["sh", "-c", script]);
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn version_works_without_namespaces() {
    require_ordinary_user();
    let out = Command::new(ours()).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "bubblewrap 0.11.1\n");
}

#[test]
fn argv0_is_what_the_command_sees() {
    let out = ours_sh(&["--argv0", "renamed"], "echo $0");
    // sh -c uses its next argument for $0; check argv[0] through /proc instead.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = Command::new(ours())
        .args(BASE)
        .args([
            "--proc",
            "/proc",
            "--argv0",
            "renamed",
            "/usr/bin/cat",
            "/proc/self/cmdline",
        ])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"renamed\0/proc/self/cmdline\0");
}

#[test]
fn level_prefix_marks_diagnostics() {
    require_ordinary_user();
    let out = Command::new(ours())
        .args(["--level-prefix", "--bind", "/nonexistent", "/x", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("<3>bwrap: Can't find source path /nonexistent"),
        "{}",
        stderr(&out)
    );
    let out = Command::new(ours())
        .args(BASE)
        .args(["--level-prefix", "--chdir", "/", "--chdir", "/", "true"])
        .output()
        .unwrap();
    assert!(stderr(&out).contains("<4>bwrap: Only the last --chdir option will take effect"));
    // Errors found inside the sandbox carry the prefix too.
    let out = Command::new(ours())
        .args(BASE)
        .args(["--level-prefix", "--chmod", "0700", "/nonexistent", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("<3>bwrap: "), "{}", stderr(&out));
}

#[test]
fn overlays() {
    let dir = TempDir::new("bwrap-overlay");
    let p = |n: &str| dir.path().join(n);
    for d in ["l1", "l2", "up", "work"] {
        std::fs::create_dir(p(d)).unwrap();
    }
    std::fs::write(p("l1/a"), "from l1\n").unwrap();
    std::fs::write(p("l2/a"), "from l2\n").unwrap();
    std::fs::write(p("l2/b"), "only l2\n").unwrap();
    let s = |n: &str| p(n).to_str().unwrap().to_string();
    let (l1, l2, up, work) = (s("l1"), s("l2"), s("up"), s("work"));

    // The last --overlay-src is the top layer.
    let out = ours_sh(
        &[
            "--overlay-src",
            &l1,
            "--overlay-src",
            &l2,
            "--ro-overlay",
            "/o",
        ],
        "cat /o/a /o/b; (touch /o/c) 2>/dev/null || echo read-only",
    );
    if stderr(&out).contains("overlay") && !out.status.success() {
        skip(&format!("rootless overlayfs unavailable: {}", stderr(&out)));
        return;
    }
    assert_eq!(
        stdout(&out),
        "from l2\nonly l2\nread-only\n",
        "{}",
        stderr(&out)
    );

    let out = ours_sh(
        &["--overlay-src", &l1, "--tmp-overlay", "/o"],
        "echo new > /o/a && cat /o/a",
    );
    assert_eq!(stdout(&out), "new\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(p("l1/a")).unwrap(), "from l1\n");

    let out = ours_sh(
        &["--overlay-src", &l1, "--overlay", &up, &work, "/o"],
        "echo written > /o/c && cat /o/a",
    );
    assert_eq!(stdout(&out), "from l1\n", "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(p("up/c")).unwrap(), "written\n");
    assert!(!p("l1/c").exists());
}

#[test]
fn stockade_binary_acts_as_bwrap_by_name() {
    require_ordinary_user();
    let dir = TempDir::new("bwrap-symlink");
    let link = dir.path().join("bwrap");
    std::os::unix::fs::symlink(common::stockade_bin(), &link).unwrap();
    let out = Command::new(&link).arg("--version").output().unwrap();
    assert_eq!(stdout(&out), "bubblewrap 0.11.1\n");
    let out = Command::new(&link)
        .args(BASE)
        .args(["--setenv", "X", "via-link", "sh", "-c", "echo $X"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "via-link\n", "{}", stderr(&out));
    let out = Command::new(common::stockade_bin())
        .args(["bwrap", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&out).starts_with("usage: bwrap "));
}

#[test]
fn reexec_through_proc_self_exe() {
    // bubblewrap's own tests run nested sandboxes with /proc/self/exe.
    let out = Command::new(ours())
        .args([
            "--unshare-user",
            "--uid",
            "0",
            "--gid",
            "0",
            "--cap-add",
            "ALL",
            "--bind",
            "/",
            "/",
            "--bind",
            "/proc",
            "/proc",
            "--",
            "/proc/self/exe",
            "--unshare-all",
            "--bind",
            "/",
            "/",
            "--bind",
            "/proc",
            "/proc",
            "echo",
            "nested",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "nested\n", "{}", stderr(&out));
}

/// The caller maps the ids itself: read the child's pid from --info-fd, write its maps, then
/// unblock it through --userns-block-fd.
const USERNS_BLOCK_SCRIPT: &str = r#"
B=$0; d=$1; mkfifo $d/info $d/block
$B --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
   --unshare-user --info-fd 3 --userns-block-fd 4 sh -c 'id -u; id -g' 4<$d/block 3>$d/info &
exec 5>$d/block
pid=$(grep -o '"child-pid": [0-9]*' $d/info | grep -o '[0-9]*$')
echo deny > /proc/$pid/setgroups
echo "4321 $(id -u) 1" > /proc/$pid/uid_map
echo "8765 $(id -g) 1" > /proc/$pid/gid_map
echo x >&5
wait $!; echo status=$?
"#;

#[test]
fn userns_block_fd_lets_the_caller_map_ids() {
    require_ordinary_user();
    if !have_debian_bwrap() {
        return;
    }
    let run_one = |bwrap: &Path| {
        let dir = TempDir::new("bwrap-diff-ublock");
        Command::new("timeout")
            .args(["20", "sh", "-c", USERNS_BLOCK_SCRIPT])
            .arg(bwrap)
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let theirs = run_one(Path::new(DEBIAN_BWRAP));
    let mine = run_one(&ours());
    assert_eq!(
        stdout(&theirs),
        "4321\n8765\nstatus=0\n",
        "{}",
        stderr(&theirs)
    );
    assert_eq!(stdout(&mine), stdout(&theirs), "{}", stderr(&mine));
}

/// `--die-with-parent` outside a new pid namespace (a reaper is kept for --sync-fd): when the
/// caller is killed, nothing of the sandbox may survive, in bubblewrap or in stockade.
#[test]
fn die_with_parent_leaves_nothing_behind() {
    require_ordinary_user();
    let survivors = |bwrap: &Path, marker: &str| -> String {
        let mut caller = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "\"$0\" {} --die-with-parent --sync-fd 0 sleep {marker} & wait",
                BASE.join(" ")
            ))
            .arg(bwrap)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let pgrep = || {
            let out = Command::new("pgrep")
                .args(["-f", &format!("^sleep {marker}$")])
                .output()
                .unwrap();
            stdout(&out)
        };
        assert!(!pgrep().is_empty(), "the sandbox did not start");
        // Kill the caller (the shell); bwrap, its child, must follow, and the sandbox too.
        caller.kill().unwrap();
        let _ = caller.wait();
        std::thread::sleep(std::time::Duration::from_millis(500));
        pgrep()
    };
    assert_eq!(survivors(&ours(), "3737"), "");
    if Path::new(DEBIAN_BWRAP).exists() {
        assert_eq!(survivors(Path::new(DEBIAN_BWRAP), "3738"), "");
    }
}

/// Runs `sh -c script` in a sandbox through `bwrap`, with `file` open as descriptor 3.
fn with_fd_3(bwrap: &Path, args: &[&str], script: &str, file: std::fs::File) -> Output {
    let mut cmd = Command::new(bwrap);
    cmd.args(BASE).args(args).args(["sh", "-c", script]);
    // SAFETY: dup2 and fcntl only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself (the file may be 3 already) keeps close-on-exec: clear it.
            if libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&file), 3) < 0
                || libc::fcntl(3, libc::F_SETFD, 0) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// `--ro-bind-fd` binds the directory the descriptor refers to, found again by its path in the
/// sandbox's mount namespace; once that path leads elsewhere (the directory was removed and a
/// look-alike made where /proc says it was), the bind is refused rather than made elsewhere.
#[test]
fn bind_fd_binds_the_descriptors_own_directory() {
    require_ordinary_user();
    let host = TempDir::new("bind-fd-identity");
    let dir = host.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "original\n").unwrap();
    let mut bwraps = vec![ours()];
    if Path::new(DEBIAN_BWRAP).exists() {
        bwraps.push(PathBuf::from(DEBIAN_BWRAP));
    }
    for bwrap in &bwraps {
        let out = with_fd_3(
            bwrap,
            &["--ro-bind-fd", "3", "/a"],
            "cat /a/f",
            std::fs::File::open(&dir).unwrap(),
        );
        assert_eq!(out.status.code(), Some(0), "{bwrap:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "original\n");
    }
    let removed = std::fs::File::open(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let look_alike = host.path().join("d (deleted)");
    std::fs::create_dir(&look_alike).unwrap();
    std::fs::write(look_alike.join("f"), "look-alike\n").unwrap();
    for bwrap in &bwraps {
        let out = with_fd_3(
            bwrap,
            &["--ro-bind-fd", "3", "/a"],
            "cat /a/f",
            removed.try_clone().unwrap(),
        );
        assert_eq!(out.status.code(), Some(1), "{bwrap:?}: {}", stdout(&out));
        assert!(stderr(&out).contains("bwrap: "), "{}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
}
