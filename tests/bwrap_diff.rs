//! Differential tests: the same command lines through Debian's bubblewrap (/usr/bin/bwrap,
//! 0.8.0) and through `stockade-bwrap`, comparing exit status, stdout and what the command
//! sees (ids, environment, hostname, files, capabilities, namespaces, the mount table
//! normalized to mount point, per-mount options, filesystem type and source, sorted). Options
//! newer than 0.8.0 are tested directly at the end.
//!
//! Two programs agreeing proves nothing when both failed the same way or both printed
//! nothing, so every case says what a meaningful run looks like (see `Expect`) and a run of
//! either program that does not look like that fails the case.
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
/// Nothing of /etc: a program reached through /etc/alternatives (awk) is not there.
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

/// Shell functions defined before every case's script.
///
/// `mounts` prints the mount table in a comparable form: mount point, per-mount options,
/// filesystem type and source, sorted (mount ids and device numbers differ run to run). It
/// uses sed because awk is not in these sandboxes.
///
/// `ns NAME` says whether the sandbox's NAME namespace is the caller's (`run` passes the
/// caller's in HOST_NS_NAME) or a new one; without /proc it fails loudly, on stderr.
const PRELUDE: &str = r#"mounts() {
    sed -E 's/^([^ ]+ ){4}([^ ]+) ([^ ]+).* - ([^ ]+) ([^ ]+) [^ ]+$/\2 \3 \4 \5/' \
        /proc/self/mountinfo | sort
}
ns() {
    l=$(readlink /proc/self/ns/$1) || return
    if [ "$l" = "$(printenv HOST_NS_$1)" ]; then echo "$1: host"; else echo "$1: new"; fi
}
"#;

/// The namespaces `ns` can tell apart.
const NAMESPACES: &[&str] = &["user", "mnt", "pid", "net", "ipc", "uts", "cgroup"];

/// What both programs must do for a case's comparison to prove anything.
#[derive(Clone, Copy)]
enum Expect {
    /// Exit with `status` having printed something; stderr empty (a shell complaining there
    /// means the script itself is broken), or holding only lines with `warning`.
    Output {
        status: i32,
        warning: Option<&'static str>,
    },
    /// Fail with `status` and a diagnostic of bwrap's own (not the command's) holding
    /// `message`.
    Failure { status: i32, message: &'static str },
}

impl Expect {
    /// Why `out` cannot stand for the case, if it cannot.
    fn check(self, out: &Output) -> Result<(), String> {
        let err = stderr(out);
        let status = out.status.code();
        match self {
            Expect::Output { status: want, .. } | Expect::Failure { status: want, .. }
                if status != Some(want) =>
            {
                Err(format!("exit status {status:?}, expected {want}"))
            }
            Expect::Output { .. } if out.stdout.is_empty() => Err("nothing on stdout".into()),
            Expect::Output { warning: None, .. } if !err.is_empty() => {
                Err("something on stderr".into())
            }
            Expect::Output {
                warning: Some(w), ..
            } if err.is_empty() || err.lines().any(|l| !l.contains(w)) => {
                Err(format!("stderr is not just the warning {w:?}"))
            }
            Expect::Failure { message, .. } if !err.contains(message) => {
                Err(format!("stderr lacks {message:?}"))
            }
            Expect::Failure { .. } if !(err.contains("bwrap: ") || err.starts_with("usage: ")) => {
                Err("stderr holds no diagnostic of bwrap's".into())
            }
            _ => Ok(()),
        }
    }
}

/// One row of the table.
struct Case {
    name: &'static str,
    args: Vec<String>,
    /// Shell script run by `sh -c` in the sandbox, after `PRELUDE`; `None` when `args` holds
    /// the command.
    script: Option<&'static str>,
    stdin: Vec<u8>,
    /// Descriptors the caller passes, each open on a file at a number: for reading, or (when
    /// the flag is set) for writing, created or truncated.
    fd_files: Vec<(i32, PathBuf, bool)>,
    /// Whether `BASE` goes before `args` (when there is a script): the real-world lines
    /// bring their own.
    base: bool,
    expect: Expect,
}

/// A case that must succeed and print something.
fn case(name: &'static str, args: &[&str], script: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|s| s.to_string()).collect(),
        script: Some(script),
        stdin: Vec::new(),
        fd_files: Vec::new(),
        base: true,
        expect: Expect::Output {
            status: 0,
            warning: None,
        },
    }
}

/// A case whose command is in `args` (no base file system); it must fail as `.fails` says.
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
        self.fd_files.push((fd, path.to_path_buf(), false));
        self
    }

    /// Descriptor `fd` open for writing on `path` (status descriptors such as `--info-fd`).
    fn fd_out(mut self, fd: i32, path: &Path) -> Case {
        self.fd_files.push((fd, path.to_path_buf(), true));
        self
    }

    /// `args` is a whole command line's options, without `BASE`.
    fn own_root(mut self) -> Case {
        self.base = false;
        self
    }

    /// The command prints something and exits with `status`.
    fn exits(mut self, status: i32) -> Case {
        self.expect = Expect::Output {
            status,
            warning: None,
        };
        self
    }

    /// The command succeeds, and bwrap warns with `warning` on stderr.
    fn warns(mut self, warning: &'static str) -> Case {
        self.expect = Expect::Output {
            status: 0,
            warning: Some(warning),
        };
        self
    }

    /// bwrap refuses, with `status` and a diagnostic holding `message`.
    fn fails(mut self, status: i32, message: &'static str) -> Case {
        self.expect = Expect::Failure { status, message };
        self
    }
}

/// Runs one case through `bwrap`, from `cwd`.
fn run(bwrap: &Path, c: &Case, cwd: &Path) -> Output {
    let mut cmd = Command::new(bwrap);
    if c.script.is_some() && c.base {
        cmd.args(BASE);
    }
    cmd.args(&c.args);
    if let Some(script) = c.script {
        cmd.args(["sh", "-c", &format!("{PRELUDE}{script}")]);
    }
    for ns in NAMESPACES {
        let id = std::fs::read_link(format!("/proc/self/ns/{ns}")).expect("reading our namespace");
        cmd.env(format!("HOST_NS_{ns}"), id);
    }
    cmd.current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let files: Vec<(std::fs::File, i32)> = c
        .fd_files
        .iter()
        .map(|(fd, path, write)| {
            let file = if *write {
                std::fs::File::create(path)
            } else {
                std::fs::File::open(path)
            };
            (file.expect("opening the case's fd file"), *fd)
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

/// Compares a table; reports every differing or meaningless case before failing.
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
        let problems = differences(c, &theirs, &mine);
        if problems.is_empty() {
            println!("same: {} (status {:?})", c.name, mine.status.code());
            continue;
        }
        failures.push(format!(
            "case {}: {}\n--- bwrap stdout\n{}--- ours stdout\n{}\
--- bwrap stderr\n{}--- ours stderr\n{}",
            c.name,
            problems.join("; "),
            stdout(&theirs),
            stdout(&mine),
            stderr(&theirs),
            stderr(&mine)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What keeps a case from passing: either run not being what the case expects, or the two
/// runs disagreeing (stderr wording may differ; status and stdout may not).
fn differences(c: &Case, theirs: &Output, mine: &Output) -> Vec<String> {
    let mut problems = Vec::new();
    for (who, out) in [("bwrap", theirs), ("ours", mine)] {
        if let Err(why) = c.expect.check(out) {
            problems.push(format!("{who}: {why}"));
        }
    }
    if theirs.status.code() != mine.status.code() {
        problems.push(format!(
            "status {:?} vs ours {:?}",
            theirs.status.code(),
            mine.status.code()
        ));
    }
    if theirs.stdout != mine.stdout {
        problems.push("stdout differs".into());
    }
    problems
}

/// The checks above catch what made earlier versions of these tables pass vacuously: a
/// script whose helper is missing (nothing printed, a complaint on stderr), both programs
/// failing alike, or a refusal for another reason than the case's.
#[test]
fn the_harness_refuses_meaningless_runs() {
    use std::os::unix::process::ExitStatusExt;
    let out = |code: i32, stdout: &str, stderr: &str| Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    };
    let succeeds = case("succeeds", &[], "mounts").expect;
    assert!(succeeds.check(&out(0, "/ rw\n", "")).is_ok());
    assert!(succeeds
        .check(&out(0, "", "sh: 1: awk: not found\n"))
        .is_err());
    assert!(succeeds
        .check(&out(0, "2\n", "sh: 1: cannot create /dev/null\n"))
        .is_err());
    assert!(succeeds.check(&out(1, "x\n", "")).is_err());
    let warns = case("warns", &[], "pwd").warns("Only the last").expect;
    assert!(warns
        .check(&out(0, "/\n", "bwrap: Only the last --chdir\n"))
        .is_ok());
    assert!(warns.check(&out(0, "/\n", "")).is_err());
    assert!(warns
        .check(&out(0, "/\n", "bwrap: Only the last\nsh: oops\n"))
        .is_err());
    let fails = raw("fails", &[]).fails(1, "bwrap: Unknown option").expect;
    assert!(fails
        .check(&out(1, "", "bwrap: Unknown option --x\n"))
        .is_ok());
    assert!(fails
        .check(&out(
            1,
            "",
            "bwrap: execvp /usr/bin/false: No such file or directory\n"
        ))
        .is_err());
    assert!(fails
        .check(&out(2, "", "bwrap: Unknown option --x\n"))
        .is_err());
    let bare = raw("bare", &[]).fails(1, "Operation not permitted").expect;
    assert!(bare
        .check(&out(1, "", "mkdir: Operation not permitted\n"))
        .is_err());
}

#[test]
fn namespaces_ids_and_identity() {
    compare(vec![
        case("default ids", &[], "id -u; id -g; id -G"),
        // The baseline for `ns`: what is shared when nothing is asked for, so that the cases
        // below show a change, not a helper that always says "new".
        case(
            "namespaces by default",
            &["--proc", "/proc"],
            "for n in user mnt pid net ipc uts cgroup; do ns $n; done",
        ),
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
        // The host's name, but in a namespace of its own.
        case(
            "uts without hostname",
            &["--unshare-uts", "--proc", "/proc"],
            "ns uts; hostname",
        ),
        case(
            "no network",
            &["--unshare-net", "--proc", "/proc"],
            "ns net; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '",
        ),
        case(
            "unshare-all",
            &["--unshare-all", "--proc", "/proc", "--hostname", "h"],
            "hostname; echo $$; for n in user mnt pid net ipc uts cgroup; do ns $n; done",
        ),
        case(
            "share-net",
            &["--unshare-all", "--share-net", "--proc", "/proc"],
            "ns net; ns ipc; test $(wc -l < /proc/net/dev) -gt 3 && echo host-net",
        ),
        case(
            "pid namespace",
            &["--unshare-pid", "--proc", "/proc"],
            // A glob, not `ls | grep`: no helper process may race into the count.
            "ns pid; echo $$; set -- /proc/[0-9]*; echo $#",
        ),
        case(
            "as pid 1",
            &["--unshare-pid", "--as-pid-1", "--proc", "/proc"],
            "echo $$",
        ),
        case(
            "ipc and cgroup",
            &["--unshare-ipc", "--unshare-cgroup", "--proc", "/proc"],
            "ns ipc; ns cgroup; cat /proc/self/cgroup",
        ),
        case(
            "unshare-user-try and cgroup-try",
            &["--unshare-user-try", "--unshare-cgroup-try", "--proc", "/proc"],
            "id -u; ns user; ns cgroup; cat /proc/self/cgroup",
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
        // The session id as the sandbox's /proc gives it: with a pid namespace, 1 when the
        // sandbox's init leads a new session, 0 (outside the namespace) for the caller's.
        case(
            "new session",
            &["--new-session", "--unshare-pid", "--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; echo $sid",
        ),
        case(
            "same session",
            &["--unshare-pid", "--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; echo $sid",
        ),
        // Without one the command itself is the first process, and leads the new session.
        case(
            "new session without a pid namespace",
            &["--new-session", "--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; [ $sid = $$ ] && echo leader || echo member",
        ),
        case(
            "same session without a pid namespace",
            &["--proc", "/proc"],
            "read p c s pp pg sid rest < /proc/$$/stat; [ $sid = $$ ] && echo leader || echo member",
        ),
        // Only that the option is taken; die_with_parent_leaves_nothing_behind tests its effect.
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
        )
        .fails(
            1,
            "bwrap: creation of new user namespaces was not disabled as requested",
        ),
        case(
            "labels refused without SELinux",
            &["--exec-label", "x", "--file-label", "y"],
            "echo ran",
        )
        .fails(1, "bwrap: labeling not supported on this system"),
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
        )
        .warns("bwrap: Only the last --chdir option will take effect"),
        case("cwd not inside", &["--clearenv"], "pwd; echo $PWD"),
        case(
            "home fallback",
            &["--setenv", "HOME", "/usr"],
            "pwd; echo $PWD",
        ),
        case("chdir missing", &["--chdir", "/nonexistent"], "pwd").fails(
            1,
            "bwrap: Can't chdir to /nonexistent: No such file or directory",
        ),
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
        case("tmpfs root shape", &["--proc", "/proc"], "mounts"),
        case(
            "tmpfs with perms and size",
            &[
                "--proc", "/proc", "--perms", "0700", "--tmpfs", "/t1", "--size", "1048576",
                "--tmpfs", "/t2",
            ],
            "stat -c '%n %a' /t1 /t2; stat -f -c '%b %S' /t2; mounts",
        ),
        case(
            "dirs and parents",
            &[
                "--dir", "/a/b/c", "--perms", "0750", "--dir", "/p/q", "--perms", "1777", "--dir",
                "/sticky",
            ],
            "stat -c '%n %a' /a /a/b /a/b/c /p /p/q /sticky",
        ),
        case(
            "symlink",
            &[
                "--symlink",
                "/usr/share",
                "/share",
                "--symlink",
                "relative",
                "/rel",
            ],
            "readlink /share /rel; ls /share/ | head -3",
        ),
        case(
            "chmod",
            &[
                "--dir", "/d", "--chmod", "0711", "/d", "--tmpfs", "/t", "--chmod", "1777", "/t",
            ],
            "stat -c '%n %a' /d /t",
        ),
        // Wording differs: bwrap says "Can't chmod 0700 ...", stockade "chmod 0700 ...".
        case(
            "chmod missing path",
            &["--chmod", "0700", "/nonexistent"],
            "echo ran",
        )
        .fails(1, "chmod 0700 /nonexistent: No such file or directory"),
        // Two descriptors: one is consumed by the first --file (bwrap closes it).
        case(
            "file from fd",
            &[
                "--file",
                "0",
                "/etc/motd",
                "--perms",
                "0640",
                "--file",
                "3",
                "/etc/second",
            ],
            "cat /etc/motd /etc/second; stat -c '%n %a %s' /etc/motd /etc/second",
        )
        .stdin(b"hello from stdin\n")
        .fd(3, &host.path().join("file")),
        case(
            "file from fd used twice",
            &["--file", "0", "/etc/motd", "--file", "0", "/etc/second"],
            "echo ran",
        )
        .stdin(b"hello from stdin\n")
        .fails(1, "/etc/second"),
        // Without --dev there is no /dev/null: errors that matter go to stdout, compared.
        case(
            "bind-data and ro-bind-data",
            &[
                "--proc",
                "/proc",
                "--bind-data",
                "0",
                "/bd",
                "--ro-bind-data",
                "3",
                "/rbd",
            ],
            "cat /bd /rbd; stat -c '%n %a' /bd /rbd; echo x >> /bd && echo bd-writable; \
             (echo x >> /rbd) 2>&1 || echo rbd-readonly; mounts | grep bd",
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
            "cat /h/file; touch /h/other 2>&1 || echo read-only; mounts | grep '^/h '",
        ),
        case(
            "bind file onto new path",
            &["--ro-bind", hfile, "/deep/er/file"],
            "cat /deep/er/file; stat -c '%n %a' /deep /deep/er",
        ),
        case(
            "try variants with missing sources",
            &[
                "--bind-try",
                "/nonexistent",
                "/a",
                "--ro-bind-try",
                "/nonexistent",
                "/b",
                "--dev-bind-try",
                "/nonexistent",
                "/c",
            ],
            "ls -d /a /b /c 2>&1 | sort",
        ),
        case(
            "dev-bind",
            &["--dev-bind", "/dev/null", "/null", "--proc", "/proc"],
            "echo x > /null && echo dev-ok; mounts | grep '^/null '",
        ),
        case(
            "remount-ro",
            &["--bind", hd, "/h", "--remount-ro", "/h", "--proc", "/proc"],
            "touch /h/x 2>&1 || echo read-only; mounts | grep '^/h '",
        ),
        case(
            "proc and dev",
            &["--proc", "/proc", "--dev", "/dev", "--unshare-pid"],
            "ls -A /dev | sort | tr '\\n' ' '; echo; ls -l /dev/null | cut -c1-10; mounts",
        ),
        case(
            "mqueue",
            &[
                "--unshare-ipc",
                "--proc",
                "/proc",
                "--mqueue",
                "/dev/mqueue",
            ],
            "mounts",
        ),
        // Wording differs: bwrap names /newroot/dev/mqueue, stockade the sandbox's path.
        case(
            "mqueue without an ipc namespace",
            &["--mqueue", "/dev/mqueue"],
            "echo ran",
        )
        .fails(1, "Operation not permitted"),
        case(
            "bind-fd and ro-bind-fd",
            &[
                "--bind-fd",
                "3",
                "/bf",
                "--ro-bind-fd",
                "4",
                "/rbf",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
            ],
            "cat /bf/file /rbf/file; touch /bf/new && echo wrote; touch /rbf/x 2>&1 || echo ro; \
             for n in 3 4; do [ -e /proc/$$/fd/$n ] && echo fd $n open; done; \
             grep -E ' /r?bf ' /proc/self/mountinfo | cut -d' ' -f5,6 | sort",
        )
        .fd(3, host.path())
        .fd(4, host.path()),
        case(
            "bind-fd of a file",
            &[
                "--unshare-pid",
                "--bind-fd",
                "5",
                "/f",
                "--ro-bind-fd",
                "6",
                "/rf",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
            ],
            "cat /f /rf; (echo x >> /rf) 2>&1 || echo ro; \
             grep -E ' /r?f ' /proc/self/mountinfo | cut -d' ' -f5,6 | sort",
        )
        .fd(5, &host.path().join("file"))
        .fd(6, &host.path().join("file")),
        // The host's /dev/shm is a mount of its own under /dev: it must come along (another
        // device than /d), read-only. (The mount table is not compared: the host stacks two
        // mounts there, and bubblewrap leaves the hidden one writable; see README.)
        case(
            "ro-bind-fd covers submounts",
            &["--ro-bind-fd", "3", "/d", "--dev", "/dev"],
            "[ $(stat -c %d /d/shm) != $(stat -c %d /d) ] && echo submount; \
             touch /d/shm/stockade-test 2>&1 || echo ro",
        )
        .fd(3, Path::new("/dev")),
        // The first use closes the descriptor.
        case(
            "bind-fd used twice",
            &["--ro-bind-fd", "3", "/a", "--ro-bind-fd", "3", "/b"],
            "echo ran",
        )
        .fd(3, host.path())
        .fails(1, "Bad file descriptor"),
        case(
            "args from fd",
            &["--args", "0"],
            "test -d /from-args && echo $FROM_ARGS",
        )
        .stdin(b"--dir\0/from-args\0--setenv\0FROM_ARGS\0yes\0"),
        case(
            "dest through a symlink",
            &[
                "--dir",
                "/tmp/dir",
                "--symlink",
                "dir",
                "/tmp/link",
                "--bind",
                "/usr/share",
                "/tmp/link",
            ],
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
            "mkdir /t/x 2>&1; echo $?; touch /t/y && echo touched",
        )
        .fd(3, &bpf),
        case(
            "add-seccomp-fd",
            &["--tmpfs", "/t", "--add-seccomp-fd", "3"],
            "mkdir /t/x 2>&1; echo $?",
        )
        .fd(3, &bpf),
        case(
            "block-fd with data ready",
            &["--block-fd", "0"],
            "echo unblocked",
        )
        .stdin(b"x"),
        // Held open by the sandbox's init for its lifetime, not passed to the command.
        case(
            "sync-fd",
            &["--sync-fd", "3", "--unshare-pid", "--proc", "/proc"],
            "[ -e /proc/1/fd/3 ] && echo init holds it; [ -e /proc/$$/fd/3 ] || echo command has not",
        )
        .fd(3, &bpf),
        // The lock as /proc/locks shows it, the file's device and inode replaced by its name;
        // in a pid namespace only the sandbox's locks are listed.
        case(
            "lock-file",
            &[
                "--ro-bind",
                "/etc/hostname",
                "/lockme",
                "--lock-file",
                "/lockme",
                "--unshare-pid",
                "--proc",
                "/proc",
            ],
            "cut -d' ' -f2- /proc/locks | tr -s ' ' | sed \"s/ [0-9a-f:]*:$(stat -c %i /lockme) / lockme /\"",
        ),
    ]);
}

#[test]
fn bad_input() {
    compare(vec![
        raw("no arguments", &[]).fails(1, "usage: "),
        raw("no command", &["--unshare-pid"]).fails(1, "usage: "),
        raw("unknown option", &["--frobnicate", "true"])
            .fails(1, "bwrap: Unknown option --frobnicate"),
        raw("missing value", &["--bind", "/usr"]).fails(1, "bwrap: --bind takes two arguments"),
        raw(
            "missing source",
            &["--bind", "/nonexistent-source", "/x", "true"],
        )
        .fails(
            1,
            "bwrap: Can't find source path /nonexistent-source: No such file or directory",
        ),
        raw(
            "perms without operation",
            &["--perms", "0700", "--bind", "/usr", "/usr", "true"],
        )
        .fails(
            1,
            "bwrap: --perms must be followed by an option that creates a file",
        ),
        raw("bad perms", &["--perms", "9", "--dir", "/d", "true"])
            .fails(1, "bwrap: --perms takes an octal argument <= 07777"),
        raw(
            "size without tmpfs",
            &["--size", "100", "--dir", "/d", "true"],
        )
        .fails(1, "bwrap: --size must be followed by --tmpfs"),
        raw("zero size", &["--size", "0", "--tmpfs", "/d", "true"])
            .fails(1, "bwrap: --size takes a non-zero number of bytes"),
        raw("hostname without uts", &["--hostname", "x", "true"])
            .fails(1, "bwrap: Specifying --hostname requires --unshare-uts"),
        raw("as-pid-1 without pid", &["--as-pid-1", "true"])
            .fails(1, "bwrap: Specifying --as-pid-1 requires --unshare-pid"),
        raw("invalid fd", &["--sync-fd", "x", "true"]).fails(1, "bwrap: Invalid fd: x"),
        raw("negative fd", &["--info-fd", "-1", "true"]).fails(1, "bwrap: Invalid fd: -1"),
        raw("invalid uid", &["--uid", "abc", "true"]).fails(1, "bwrap: Invalid uid: abc"),
        raw("unknown cap", &["--cap-add", "CAP_NOPE", "true"])
            .fails(1, "bwrap: unknown cap: CAP_NOPE"),
        raw(
            "command not found",
            &["--ro-bind", "/usr", "/usr", "/nonexistent-command"],
        )
        .fails(
            1,
            "bwrap: execvp /nonexistent-command: No such file or directory",
        ),
        raw("not executable", &["--ro-bind", "/usr", "/usr", "/usr"])
            .fails(1, "bwrap: execvp /usr: Permission denied"),
        raw(
            "double dash",
            &["--ro-bind", "/usr", "/usr", "--", "--dev-bind"],
        )
        .fails(1, "bwrap: execvp --dev-bind: No such file or directory"),
        raw(
            "seccomp mixed",
            &["--add-seccomp-fd", "0", "--seccomp", "0", "true"],
        )
        .fails(
            1,
            "bwrap: --seccomp cannot be combined with --add-seccomp-fd",
        ),
        raw("userns-block-fd alone", &["--userns-block-fd", "0", "true"])
            .fails(1, "bwrap: --userns-block-fd requires --unshare-user"),
        raw(
            "disable-userns without unshare-user",
            &["--disable-userns", "true"],
        )
        .fails(1, "bwrap: --disable-userns requires --unshare-user"),
        raw(
            "as-pid-1 with lock-file",
            &["--unshare-pid", "--as-pid-1", "--lock-file", "/x", "true"],
        )
        .fails(
            1,
            "bwrap: Specifying --as-pid-1 and --lock-file is not permitted",
        ),
        raw("args in args", &["--args", "0", "true"])
            .stdin(b"--args\x000\0")
            .fails(1, "bwrap: --args not supported in arguments file"),
        // The command's own status, not 1 for a failed exec: sh needs the base's /lib64.
        case("exit status passes through", &[], "echo before; exit 7").exits(7),
        case("signal status", &[], "echo before; kill -TERM $$").exits(128 + libc::SIGTERM),
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
    assert!(theirs.1.contains("\"mnt-namespace\": N"), "{}", theirs.1);
    // Repeated: the command ends at once, and the namespace ids must still have been read
    // while it existed (once they were missing in most runs).
    for _ in 0..50 {
        let mine = shape(&ours());
        assert_eq!(theirs, mine, "{namespaces}");
        assert_eq!(mine.0, Some(42), "{namespaces}");
        assert!(
            mine.2.contains("\"exit-code\": N"),
            "{namespaces}: {}",
            mine.2
        );
    }
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
    require_ordinary_user();
    // Not `sh -c 'echo $0'`: sh takes $0 from its arguments, not from argv[0].
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
        // No /dev/null here: a redirection there would fail and print "read-only" by itself.
        "cat /o/a /o/b; touch /o/c 2>&1 || echo read-only",
    );
    if stderr(&out).contains("overlay") && !out.status.success() {
        skip(&format!("rootless overlayfs unavailable: {}", stderr(&out)));
        return;
    }
    assert_eq!(
        stdout(&out),
        "from l2\nonly l2\ntouch: cannot touch '/o/c': Read-only file system\nread-only\n",
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
    // overlayfs left work/work mode 000; the test's own cleanup must still remove it all.
    let path = dir.path().to_path_buf();
    drop(dir);
    assert!(!path.exists(), "{} was left behind", path.display());
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

// Real-world command lines: what programs that drive bubblewrap actually build, reconstructed
// from their sources (cited per case) and adapted to a Debian host without their runtimes:
// each line keeps its options and their order, with this machine's paths and a small fake
// runtime where the original mounts a Flatpak one.

/// One classic BPF instruction, in the layout `--seccomp` reads.
fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> Vec<u8> {
    let mut v = code.to_ne_bytes().to_vec();
    v.extend([jt, jf]);
    v.extend(k.to_ne_bytes());
    v
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_KILL: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// The shape of the program Flatpak's `setup_seccomp` exports (and gnome-desktop's copy of
/// it): other architectures killed, a few syscalls failing with EPERM (here unshare, mount,
/// pivot_root), and sockets of families above AF_NETLINK failing with EAFNOSUPPORT.
fn flatpak_like_bpf() -> Vec<u8> {
    [
        bpf(0x20, 0, 0, 4), // ld arch
        bpf(0x15, 1, 0, AUDIT_ARCH_X86_64),
        bpf(0x06, 0, 0, RET_KILL),
        bpf(0x20, 0, 0, 0),   // ld nr
        bpf(0x15, 4, 0, 272), // unshare -> EPERM
        bpf(0x15, 3, 0, 165), // mount -> EPERM
        bpf(0x15, 2, 0, 155), // pivot_root -> EPERM
        bpf(0x15, 2, 0, 41),  // socket -> family check
        bpf(0x06, 0, 0, RET_ALLOW),
        bpf(0x06, 0, 0, RET_ERRNO | libc::EPERM as u32),
        bpf(0x20, 0, 0, 16), // ld args[0] (low half)
        bpf(0x35, 0, 1, 17), // jge AF_NETLINK + 1
        bpf(0x06, 0, 0, RET_ERRNO | libc::EAFNOSUPPORT as u32),
        bpf(0x06, 0, 0, RET_ALLOW),
    ]
    .concat()
}

/// The shape of glycin's loader filter: an allowlist whose default action is SIGSYS (trap).
/// The list is glycin's (x86_64 numbers, in its order); it has `exit` but not
/// `exit_group` or `dup2`, so a shell can run builtins but dies of SIGSYS when it exits.
fn glycin_like_bpf() -> Vec<u8> {
    const ALLOWED: &[u32] = &[
        21, 158, 12, 125, 126, 80, 229, 228, 56, 435, 3, 42, 85, 32, 213, 291, 233, 281, 232, 284,
        290, 59, 60, 269, 221, 81, 72, 5, 138, 77, 202, 239, 79, 217, 108, 107, 104, 39, 110, 318,
        186, 96, 102, 16, 28, 324, 319, 9, 10, 25, 11, 262, 2, 257, 22, 293, 155, 7, 271, 157, 17,
        302, 0, 89, 267, 45, 47, 334, 13, 14, 15, 204, 24, 46, 44, 238, 273, 205, 218, 131, 289,
        41, 4, 137, 332, 99, 283, 286, 234, 272, 61, 1,
    ];
    let n = ALLOWED.len();
    let mut prog = vec![
        bpf(0x20, 0, 0, 4),
        bpf(0x15, 1, 0, AUDIT_ARCH_X86_64),
        bpf(0x06, 0, 0, RET_KILL),
        bpf(0x20, 0, 0, 0),
    ];
    for (i, nr) in ALLOWED.iter().enumerate() {
        // Every match jumps over the rest of the list and the default, to the allow.
        prog.push(bpf(0x15, (n - i) as u8, 0, *nr));
    }
    prog.push(bpf(0x06, 0, 0, RET_TRAP));
    prog.push(bpf(0x06, 0, 0, RET_ALLOW));
    prog.concat()
}

/// A fake Flatpak runtime and app: `files/` trees with `.ref` (locked by `--lock-file`), the
/// runtime's `etc`, and the runtime's bin and lib links pointing at the host's /usr, which
/// each line mounts at /run/host/usr (as Flatpak does for `--filesystem=host-os`).
fn fake_flatpak(dir: &Path) -> (PathBuf, PathBuf) {
    let runtime = dir.join("runtime");
    let app = dir.join("app");
    std::fs::create_dir_all(runtime.join("etc")).unwrap();
    std::fs::create_dir_all(app.join("bin")).unwrap();
    for f in [".ref", "etc/machine-id", "etc/passwd", "etc/group"] {
        std::fs::write(runtime.join(f), "").unwrap();
    }
    std::fs::write(runtime.join("etc/os-release"), "ID=fake-runtime\n").unwrap();
    std::fs::write(app.join(".ref"), "").unwrap();
    for d in ["bin", "lib", "lib64", "sbin", "share"] {
        std::os::unix::fs::symlink(format!("/run/host/usr/{d}"), runtime.join(d)).unwrap();
    }
    let hello = app.join("bin/hello");
    std::fs::write(&hello, "#!/bin/sh\necho app runs from /app\n").unwrap();
    std::fs::set_permissions(&hello, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (runtime, app)
}

/// bubblewrap's `--args` file: NUL-terminated words.
fn args_file(path: &Path, words: &[&str]) {
    let data: Vec<u8> = words
        .iter()
        .flat_map(|w| w.bytes().chain(std::iter::once(0)))
        .collect();
    std::fs::write(path, data).unwrap();
}

#[test]
fn real_world_command_lines() {
    if std::env::consts::ARCH != "x86_64" {
        skip("the seccomp programs of these lines use x86_64 syscall numbers");
        return;
    }
    let dir = TempDir::new("bwrap-diff-real");
    let d =
        |rest: &str| -> &'static str { Box::leak(format!("{}{rest}", dir.str()).into_boxed_str()) };
    let uid = caller_uid();
    let run_user: &'static str = Box::leak(format!("/run/user/{uid}").into_boxed_str());
    let flatpak_bpf = dir.path().join("flatpak.bpf");
    std::fs::write(&flatpak_bpf, flatpak_like_bpf()).unwrap();
    let glycin_bpf = dir.path().join("glycin.bpf");
    std::fs::write(&glycin_bpf, glycin_like_bpf()).unwrap();
    // The caller's passwd and group lines, as the demos' `getent` calls make them.
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        format!("me:x:{uid}:{uid}::/home/me:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
    )
    .unwrap();
    let group = dir.path().join("group");
    std::fs::write(&group, format!("me:x:{uid}:\nnogroup:x:65534:\n")).unwrap();
    let info = dir.path().join("flatpak-info");
    std::fs::write(
        &info,
        "[Application]\nname=org.example.App\nruntime=runtime/org.example.Platform/x86_64/1\n",
    )
    .unwrap();
    let (runtime, app) = fake_flatpak(dir.path());
    let (runtime, app): (&'static str, &'static str) = (
        Box::leak(runtime.to_str().unwrap().to_owned().into_boxed_str()),
        Box::leak(app.to_str().unwrap().to_owned().into_boxed_str()),
    );
    // The thumbnailer's private output directory (bound at /tmp) and its input file.
    std::fs::create_dir(dir.path().join("thumb-out")).unwrap();
    std::fs::write(dir.path().join("picture.png"), "not really a PNG\n").unwrap();
    // The app's data directory, as ~/.var/app/ID, with a cache bound again to be remounted.
    let app_data = d("/var-app/org.example.App");
    std::fs::create_dir_all(format!("{app_data}/cache")).unwrap();
    std::fs::create_dir_all(format!("{app_data}/data")).unwrap();
    let app_cache = d("/var-app/org.example.App/cache");
    // The D-Bus proxy's socket directory, shared with the caller.
    std::fs::create_dir(dir.path().join("proxy-sockets")).unwrap();
    let sockets = d("/proxy-sockets");

    let flatpak_info_link: &'static str =
        Box::leak(format!("{run_user}/flatpak-info").into_boxed_str());
    // `flatpak run`: most of the line goes through `--args` (flatpak_bwrap_bundle_args).
    let flatpak_args = dir.path().join("flatpak-run.args");
    args_file(
        &flatpak_args,
        &[
            "--ro-bind",
            runtime,
            "/usr",
            "--lock-file",
            "/usr/.ref",
            "--ro-bind",
            app,
            "/app",
            "--lock-file",
            "/app/.ref",
            "--ro-bind",
            "/usr",
            "/run/host/usr",
            // flatpak_run_setup_base_argv
            "--proc",
            "/proc",
            "--unshare-pid",
            "--dir",
            "/tmp",
            "--dir",
            "/var/tmp",
            "--dir",
            "/run/host",
            "--perms",
            "0700",
            "--dir",
            run_user,
            "--setenv",
            "XDG_RUNTIME_DIR",
            run_user,
            "--symlink",
            "../run",
            "/var/run",
            "--ro-bind",
            "/sys/block",
            "/sys/block",
            "--ro-bind",
            "/sys/bus",
            "/sys/bus",
            "--ro-bind",
            "/sys/class",
            "/sys/class",
            "--ro-bind",
            "/sys/dev",
            "/sys/dev",
            "--ro-bind",
            "/sys/devices",
            "/sys/devices",
            "--ro-bind-try",
            "/proc/self/ns/user",
            "/run/.userns",
            "--symlink",
            "/etc/timezone",
            "/var/db/zoneinfo",
            "--die-with-parent",
            "--ro-bind-data",
            "5",
            "/etc/passwd",
            "--ro-bind-data",
            "6",
            "/etc/group",
            // The runtime's /usr links and its /etc, entry by entry.
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/sbin",
            "/sbin",
            "--symlink",
            "/usr/etc/os-release",
            "/etc/os-release",
            // flatpak_run_add_environment_args without devices or network
            "--dev",
            "/dev",
            "--unshare-ipc",
            "--unshare-net",
            // flatpak_run_add_app_info_args: a file (survives the namespace) under a bind
            "--perms",
            "0600",
            "--file",
            "7",
            "/.flatpak-info",
            "--ro-bind-data",
            "8",
            "/.flatpak-info",
            "--symlink",
            "../../../.flatpak-info",
            flatpak_info_link,
            "--setenv",
            "container",
            "flatpak",
            // the app's data directory, and a read-only export inside it
            "--bind",
            app_data,
            app_data,
            "--bind",
            app_cache,
            app_cache,
            "--remount-ro",
            app_cache,
            "--chdir",
            app_data,
            "--setenv",
            "PATH",
            "/app/bin:/usr/bin",
            "--seccomp",
            "9",
        ],
    );
    // The D-Bus proxy's sandbox (flatpak-run-dbus.c, start_dbus_proxy): host /usr, the
    // socket directory, .flatpak-info as a file, all through --args, then `--`.
    let proxy_args = dir.path().join("proxy.args");
    args_file(
        &proxy_args,
        &[
            "--ro-bind",
            "/usr",
            "/usr",
            "--ro-bind-try",
            "/etc/ld.so.cache",
            "/etc/ld.so.cache",
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
            "--die-with-parent",
            "--unshare-all",
            "--bind",
            sockets,
            sockets,
            "--perms",
            "0600",
            "--file",
            "4",
            "/.flatpak-info",
        ],
    );
    let info_out = dir.path().join("flatpak-run.info");

    compare(vec![
        // gnome-desktop, libgnome-desktop/gnome-desktop-thumbnail-script.c (add_bwrap and
        // setup_seccomp): the thumbnailer reads its input and writes its PNG into the bound
        // output directory; the exported filter denies unshare and odd socket families.
        case(
            "gnome-desktop thumbnailer",
            &[
                "--ro-bind", "/usr", "/usr",
                "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                "--symlink", "/usr//bin", "/bin", "--symlink", "/usr//lib64", "/lib64",
                "--symlink", "/usr//lib", "/lib", "--symlink", "/usr//sbin", "/sbin",
                "--ro-bind-try", "/var/cache/fontconfig", "/var/cache/fontconfig",
                "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
                "--proc", "/proc", "--dev", "/dev", "--chdir", "/",
                "--setenv", "GIO_USE_VFS", "local",
                "--unshare-all", "--die-with-parent",
                "--bind", d("/thumb-out"), "/tmp",
                "--ro-bind", d("/picture.png"), "/tmp/gnome-desktop-file-to-thumbnail.png",
                "--seccomp", "3",
            ],
            "cat /tmp/gnome-desktop-file-to-thumbnail.png > /tmp/gnome-desktop-thumbnailer.png; \
             ls -l /tmp | tail -n +2 | cut -d' ' -f1,5,9; pwd; echo $GIO_USE_VFS; \
             for n in user mnt pid net ipc uts cgroup; do ns $n; done; mounts; \
             unshare -U true 2>&1; echo unshare $?; \
             perl -e 'socket(S, 17, 3, 0) or print \"AF_PACKET: $!\\n\"; \
                      socket(S, 1, 1, 0) and print \"AF_UNIX: ok\\n\"'; \
             grep -E '^(NoNewPrivs|Seccomp)' /proc/self/status",
        )
        .own_root()
        .fd(3, &flatpak_bpf),
        // glycin, glycin/src/sandbox.rs (bwrap_args, seccomp_filter): no /proc, a cleared
        // environment, scratch HOME and XDG_RUNTIME_DIR, absolute /lib links and an
        // allowlist that traps: the loader (here builtins only) dies of SIGSYS at exit.
        case(
            "glycin loader",
            &[
                "--unshare-all", "--clearenv", "--die-with-parent", "--chdir", "/",
                "--ro-bind", "/usr", "/usr", "--dev", "/dev",
                "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
                "--tmpfs", "/tmp-home", "--setenv", "HOME", "/tmp-home",
                "--tmpfs", "/tmp-run", "--setenv", "XDG_RUNTIME_DIR", "/tmp-run",
                "--ro-bind-try", "/etc/fonts", "/etc/fonts",
                "--ro-bind-try", "/var/cache/fontconfig", "/var/cache/fontconfig",
                "--symlink", "/usr/lib", "/lib", "--symlink", "/usr/lib64", "/lib64",
                "--seccomp", "3",
            ],
            "export -p; [ -d /tmp-home ] && echo home is a directory; \
             [ -e /proc/self ] || echo no proc; [ -e /etc/fonts ] || echo no fonts; \
             [ -L /lib ] && echo lib is a link; [ -c /dev/null ] && echo dev null; \
             [ -w /tmp-run ] && echo runtime dir writable; [ -w /usr ] || echo usr read-only",
        )
        .own_root()
        .fd(3, &glycin_bpf)
        .exits(128 + libc::SIGSYS),
        // bubblewrap, demos/bubblewrap-shell.sh: the host's /usr, passwd and group from
        // descriptors, a runtime directory, a pid namespace.
        case(
            "bubblewrap demo shell",
            &[
                "--ro-bind", "/usr", "/usr", "--dir", "/tmp", "--proc", "/proc",
                "--dev", "/dev",
                "--ro-bind", "/etc/resolv.conf", "/etc/resolv.conf",
                "--file", "11", "/etc/passwd", "--file", "12", "/etc/group",
                "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                "--chdir", "/", "--unshare-pid", "--dir", run_user,
                "--setenv", "XDG_RUNTIME_DIR", run_user,
            ],
            "id -un; id -gn; cat /etc/passwd; echo $$ $XDG_RUNTIME_DIR; pwd; \
             stat -c '%n %a' /etc /etc/passwd /etc/group /tmp /run/user \"$XDG_RUNTIME_DIR\"; \
             touch /tmp/x && echo tmp writable; ns pid; ns net; mounts",
        )
        .own_root()
        .fd(11, &passwd)
        .fd(12, &group),
        // bubblewrap, demos/flatpak-run.sh: a runtime at /usr and an app at /app, both
        // locked; /etc from the runtime; passwd and group as --bind-data over the runtime's
        // files; flatpak-info from a descriptor; sysfs parts; the seccomp program.
        case(
            "bubblewrap demo flatpak-run",
            &[
                "--ro-bind", runtime, "/usr", "--lock-file", "/usr/.ref",
                "--ro-bind", app, "/app", "--lock-file", "/app/.ref",
                "--ro-bind", "/usr", "/run/host/usr",
                "--dev", "/dev", "--proc", "/proc", "--dir", "/tmp",
                "--symlink", "/tmp", "/var/tmp", "--symlink", "/run", "/var/run",
                "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
                "--symlink", "usr/etc", "/etc", "--dir", run_user,
                "--ro-bind", "/etc/machine-id", "/usr/etc/machine-id",
                "--ro-bind", "/etc/resolv.conf", "/run/host/monitor/resolv.conf",
                "--ro-bind", "/sys/block", "/sys/block", "--ro-bind", "/sys/bus", "/sys/bus",
                "--ro-bind", "/sys/class", "/sys/class", "--ro-bind", "/sys/dev", "/sys/dev",
                "--ro-bind", "/sys/devices", "/sys/devices",
                "--bind", app_data, app_data,
                "--unshare-pid",
                "--setenv", "XDG_RUNTIME_DIR", run_user,
                "--setenv", "PATH", "/app/bin:/usr/bin",
                "--setenv", "XDG_DATA_DIRS", "/app/share:/usr/share",
                "--setenv", "SHELL", "/bin/sh",
                "--file", "10", flatpak_info_link,
                "--bind-data", "11", "/usr/etc/passwd", "--bind-data", "12", "/usr/etc/group",
                "--seccomp", "13",
            ],
            "hello; id -un; cat /etc/os-release; wc -c < /etc/machine-id; \
             cut -d' ' -f2- /proc/locks | tr -s ' ' | sort; \
             echo x > \"$XDG_RUNTIME_DIR/x\" && echo runtime dir writable; \
             echo x > /etc/passwd && echo passwd writable; ls /sys | tr '\\n' ' '; echo; \
             unshare -U true 2>&1; echo unshare $?; \
             grep -E '^(NoNewPrivs|Seccomp)' /proc/self/status; mounts",
        )
        .own_root()
        .fd(10, &info)
        .fd(11, &passwd)
        .fd(12, &group)
        .fd(13, &flatpak_bpf),
        // flatpak, common/flatpak-run.c (flatpak_run_app, flatpak_run_setup_base_argv,
        // flatpak_run_add_app_info_args) and common/flatpak-bwrap.c (bundle_args, sync fd):
        // the line in an --args file, --info-fd and --sync-fd outside it. /run/.userns is
        // only checked to exist: which namespace it names is a listed difference.
        case(
            "flatpak run",
            &["--args", "3", "--info-fd", "14", "--sync-fd", "15", "--"],
            "hello; id -un; pwd; echo $container; cat /etc/os-release; \
             stat -c '%n %a' /.flatpak-info \"$XDG_RUNTIME_DIR\"; \
             readlink \"$XDG_RUNTIME_DIR/flatpak-info\" /var/run /var/db/zoneinfo; \
             head -n 2 \"$XDG_RUNTIME_DIR/flatpak-info\"; [ -e /run/.userns ] && echo userns bound; \
             touch cache/y 2>&1 || echo cache read-only; touch data/y && echo data writable; \
             cut -d' ' -f2- /proc/locks | tr -s ' ' | sort; \
             unshare -U true 2>&1; echo unshare $?; \
             for n in user mnt pid net ipc uts cgroup; do ns $n; done; mounts",
        )
            .own_root()
            .fd(3, &flatpak_args)
            .fd(5, &passwd)
            .fd(6, &group)
            .fd(7, &info)
            .fd(8, &info)
            .fd(9, &flatpak_bpf)
            .fd(15, &info)
            .fd_out(14, &info_out),
        // flatpak, common/flatpak-run-dbus.c (start_dbus_proxy): the proxy's sandbox, all
        // options in --args and `--` before the command.
        case(
            "flatpak xdg-dbus-proxy sandbox",
            &["--args", "3", "--"],
            Box::leak(
                format!(
                    "stat -c '%n %a %s' /.flatpak-info; head -n 1 /.flatpak-info; \
                     touch {sockets}/bus && echo socket dir writable; ls /; \
                     [ -e /proc/self ] || echo no proc; echo $$; \
                     readlink /bin /lib64; echo ${{container-unset}}"
                )
                .into_boxed_str(),
            ),
        )
            .own_root()
            .fd(3, &proxy_args)
            .fd(4, &info),
        // WebKitGTK, Source/WebKit/UIProcess/Launcher/glib/BubblewrapLauncher.cpp
        // (bubblewrapSpawn): host /etc, many --ro-bind-try of library directories (some
        // absent, /lib and /lib64 links on merged-/usr hosts), TMPDIR unset.
        case(
            "WebKitGTK web process",
            &[
                "--die-with-parent", "--unshare-pid", "--unshare-uts",
                "--ro-bind", "/etc", "/etc", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--setenv", "TMPDIR", "/var/tmp/caller",
                "--unsetenv", "TMPDIR",
                "--dir", "/run", "--symlink", "../run", "/var/run",
                "--symlink", "../tmp", "/var/tmp",
                "--ro-bind", "/sys/block", "/sys/block", "--ro-bind", "/sys/bus", "/sys/bus",
                "--ro-bind", "/sys/class", "/sys/class", "--ro-bind", "/sys/dev", "/sys/dev",
                "--ro-bind", "/sys/devices", "/sys/devices",
                "--ro-bind-try", "/usr/share", "/usr/share",
                "--ro-bind-try", "/usr/local/share", "/usr/local/share",
                "--ro-bind-try", "/lib", "/lib", "--ro-bind-try", "/usr/lib", "/usr/lib",
                "--ro-bind-try", "/usr/local/lib", "/usr/local/lib",
                "--ro-bind-try", "/lib64", "/lib64", "--ro-bind-try", "/usr/lib64", "/usr/lib64",
                "--ro-bind-try", "/usr/local/lib64", "/usr/local/lib64",
                "--ro-bind-try", "/usr/bin", "/usr/bin",
                "--symlink", "usr/bin", "/bin",
            ],
            "echo ${TMPDIR-unset}; readlink /var/run /var/tmp; [ -L /lib ] || echo lib bound as a directory; \
             ls -d /usr/* | tr '\\n' ' '; echo; hostname >/dev/null && ns uts; ns pid; ns net; echo $$",
        )
        .own_root(),
    ]);
    // Both thumbnailers left their PNG in the caller's directory, and the flatpak line's
    // info descriptor got bubblewrap's JSON.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("thumb-out/gnome-desktop-thumbnailer.png"))
            .unwrap(),
        "not really a PNG\n"
    );
    let info_json = std::fs::read_to_string(&info_out).unwrap();
    assert!(info_json.contains("\"child-pid\""), "{info_json}");
}

fn caller_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// Joining a running instance, as flatpak (common/flatpak-run.c, the `parent_pid` branch of
/// flatpak_run_app) and Steam's pressure-vessel (pressure-vessel/wrap.c) do: `--userns` from
/// the instance's /run/.userns (bound there from /proc/self/ns/user by
/// flatpak_run_setup_base_argv), `--userns2` from /proc/PID/ns/user only when that is another
/// namespace (open_namespace_fd_if_needed), `--pidns` from /proc/PID/ns/pid. Which namespace
/// /run/.userns names differs (see README); what the joined command sees must not.
#[test]
fn joining_an_instance_like_flatpak_parent_pid() {
    require_ordinary_user();
    if !have_debian_bwrap() {
        return;
    }
    const SCRIPT: &str = r#"
b=$0; dir=$1
root="--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev"
"$b" $root --unshare-pid --die-with-parent --ro-bind-try /proc/self/ns/user /run/.userns \
    --info-fd 5 -- sleep 30 5>"$dir/info" >/dev/null 2>&1 &
i=0
# child-pid is reported before the sandbox's mounts are made: wait for the bound file too.
until pid=$(sed -n 's/.*"child-pid": \([0-9]*\).*/\1/p' "$dir/info") && [ -n "$pid" ] &&
    [ -e "/proc/$pid/root/run/.userns" ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "no instance"; kill $!; exit 1; }; sleep 0.1
done
exec 6<"/proc/$pid/root/run/.userns" 8<"/proc/$pid/ns/pid"
userns2=""
if [ "$(stat -L -c %i "/proc/$pid/root/run/.userns")" != "$(stat -L -c %i "/proc/$pid/ns/user")" ]; then
    exec 7<"/proc/$pid/ns/user"; userns2="--userns2 7"
fi
want=$(stat -L -c %i "/proc/$pid/ns/user")
"$b" --userns 6 $userns2 --pidns 8 $root -- sh -c '
    id -u; [ "$(stat -L -c %i /proc/self/ns/user)" = "$1" ] && echo in the instance user namespace
    set -- /proc/[0-9]*; echo "$# processes"' sh "$want"
echo "status $?"
kill $!; wait
"#;
    let run = |bwrap: &Path| {
        let dir = TempDir::new("bwrap-diff-join");
        Command::new("sh")
            .args(["-c", SCRIPT])
            .arg(bwrap)
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let theirs = run(Path::new(DEBIAN_BWRAP));
    let mine = run(&ours());
    assert!(
        stdout(&theirs).contains("in the instance user namespace\n"),
        "{}{}",
        stdout(&theirs),
        stderr(&theirs)
    );
    assert_eq!(stdout(&theirs), stdout(&mine), "ours: {}", stderr(&mine));
}
