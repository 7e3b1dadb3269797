//! Landlock in the kernel, through the library: each check forks a child that calls
//! `sandbox::landlock::apply` and then tries real operations, comparing errnos. The child is
//! needed because a Landlock domain can never be left, and because `unshare(CLONE_NEWUSER)`
//! requires a single-threaded caller (a forked child of the test is).
//!
//! The stockade binary reaches Landlock only through a profile's `[landlock]` section; that
//! end-to-end test is tests/landlock_profile.rs.

mod common;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use stockade::plan::{LandlockAccess, LandlockPath, LandlockPolicy};
use stockade::sandbox::landlock;

use common::TempDir;

/// What a check in the child ended with.
enum Outcome {
    Pass,
    Skip(String),
}

type ChildResult = Result<Outcome, String>;

/// One fork at a time from this test binary, so that no child inherits another test's pipe.
static FORK: Mutex<()> = Mutex::new(());

/// Runs `check` in a forked child and turns its outcome into the test's: failures panic with
/// the child's message, skips print `SKIPPED:`.
fn in_child(check: impl FnOnce() -> ChildResult) {
    let _one_at_a_time = FORK.lock().unwrap_or_else(|e| e.into_inner());
    let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only runs the check (plain syscalls and allocation, which glibc keeps
    // usable after fork) and leaves with _exit; it takes no lock another thread could hold.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(reader);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check))
                .unwrap_or_else(|_| Err("the check panicked".into()));
            let (code, message) = match outcome {
                Ok(Outcome::Pass) => (0, String::new()),
                Ok(Outcome::Skip(reason)) => (77, reason),
                Err(message) => (1, message),
            };
            let _ = std::fs::File::from(writer).write_all(message.as_bytes());
            // SAFETY: _exit leaves the forked child without running the test's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let status = waitpid(child, None).expect("waitpid");
            let message = read_available(reader);
            match status {
                WaitStatus::Exited(_, 0) => {}
                WaitStatus::Exited(_, 77) => common::skip(&message),
                other => panic!("child {other:?}: {message}"),
            }
        }
    }
}

/// What the child wrote. Read after it exited and without blocking: a grandchild it left behind
/// may still hold the pipe open.
fn read_available(reader: OwnedFd) -> String {
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&reader),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    );
    let mut bytes = Vec::new();
    let _ = std::fs::File::from(reader).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Skips (from inside the child) unless the kernel has at least Landlock ABI `min`.
fn need_abi(min: u32) -> Result<(), Outcome> {
    match landlock::abi_version() {
        Some(abi) if abi >= min => Ok(()),
        Some(abi) => Err(Outcome::Skip(format!(
            "needs Landlock ABI {min}, this kernel has {abi}"
        ))),
        None => Err(Outcome::Skip(
            "Landlock is not enabled in this kernel".into(),
        )),
    }
}

fn expect_errno<T>(what: &str, result: nix::Result<T>, errno: Errno) -> Result<(), String> {
    match result {
        Err(e) if e == errno => Ok(()),
        Err(e) => Err(format!("{what}: expected {errno}, got {e}")),
        Ok(_) => Err(format!("{what}: expected {errno}, but it succeeded")),
    }
}

fn expect_ok<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Result<T, String> {
    result.map_err(|e| format!("{what}: expected success, got {e}"))
}

fn io_errno<T>(result: std::io::Result<T>) -> nix::Result<T> {
    result.map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
}

fn rule(path: &Path, access: LandlockAccess) -> LandlockPath {
    LandlockPath {
        path: path.to_path_buf(),
        access,
        optional: false,
    }
}

fn open(path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

/// The files the filesystem check works on, made on the host before the child restricts itself.
struct FsTree {
    _dir: TempDir,
    ro: PathBuf,
    rw: PathBuf,
    exec: PathBuf,
    unlisted: PathBuf,
}

fn fs_tree() -> FsTree {
    let dir = TempDir::new("landlock-fs");
    let [ro, rw, exec, unlisted] = ["ro", "rw", "exec", "unlisted"].map(|d| dir.path().join(d));
    for d in [&ro, &rw, &exec, &unlisted] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(ro.join("data"), "hello\n").unwrap();
    std::fs::write(unlisted.join("secret"), "no\n").unwrap();
    for d in [&ro, &exec] {
        std::fs::copy("/usr/bin/true", d.join("true")).unwrap();
    }
    FsTree {
        _dir: dir,
        ro,
        rw,
        exec,
        unlisted,
    }
}

#[test]
fn paths_get_exactly_the_rights_their_rules_give() {
    let tree = fs_tree();
    in_child(|| {
        if let Err(skip) = need_abi(3) {
            return Ok(skip);
        }
        let policy = LandlockPolicy {
            paths: vec![
                rule(&tree.ro, LandlockAccess::ReadOnly),
                rule(&tree.rw, LandlockAccess::ReadWrite),
                rule(&tree.exec, LandlockAccess::Execute),
                // The dynamic loader and libc of the copied `true`.
                rule(Path::new("/usr"), LandlockAccess::Execute),
            ],
            ..LandlockPolicy::default()
        };
        let report = expect_ok("apply", landlock::apply(&policy, false))?;
        if !report.unenforced.is_empty() {
            return Err(format!("unexpected gaps: {:?}", report.unenforced));
        }
        check_read_only(&tree.ro)?;
        check_read_write(&tree.rw)?;
        check_unlisted(&tree.unlisted)?;
        check_exec(&tree.exec, &tree.ro)?;
        Ok(Outcome::Pass)
    });
}

fn check_read_only(ro: &Path) -> Result<(), String> {
    let data = expect_ok("read ro/data", std::fs::read_to_string(ro.join("data")))?;
    if data != "hello\n" {
        return Err(format!("read ro/data: got {data:?}"));
    }
    expect_ok("list ro", std::fs::read_dir(ro))?;
    let create = OFlag::O_WRONLY | OFlag::O_CREAT;
    expect_errno(
        "create ro/new",
        open(&ro.join("new"), create),
        Errno::EACCES,
    )?;
    expect_errno(
        "open ro/data for writing",
        open(&ro.join("data"), OFlag::O_WRONLY),
        Errno::EACCES,
    )?;
    expect_errno(
        "truncate ro/data",
        nix::unistd::truncate(&ro.join("data"), 0),
        Errno::EACCES,
    )?;
    expect_errno(
        "unlink ro/data",
        nix::unistd::unlink(&ro.join("data")),
        Errno::EACCES,
    )?;
    expect_errno(
        "mkdir ro/sub",
        nix::unistd::mkdir(&ro.join("sub"), Mode::from_bits_truncate(0o755)),
        Errno::EACCES,
    )
}

fn check_read_write(rw: &Path) -> Result<(), String> {
    let file = rw.join("new");
    expect_ok("write rw/new", std::fs::write(&file, "written\n"))?;
    expect_ok(
        "truncate rw/new",
        io_errno(std::fs::OpenOptions::new().write(true).open(&file)).and_then(|f| {
            f.set_len(1)
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        }),
    )?;
    expect_ok("mkdir rw/sub", std::fs::create_dir(rw.join("sub")))?;
    // Moving into a subdirectory needs the `refer` right (ABI 2), which writable paths get.
    expect_ok(
        "rename rw/new to rw/sub/moved",
        std::fs::rename(&file, rw.join("sub/moved")),
    )?;
    expect_ok(
        "unlink rw/sub/moved",
        std::fs::remove_file(rw.join("sub/moved")),
    )?;
    expect_ok("rmdir rw/sub", std::fs::remove_dir(rw.join("sub")))
}

fn check_unlisted(unlisted: &Path) -> Result<(), String> {
    expect_errno(
        "read a file under no rule",
        io_errno(std::fs::read(unlisted.join("secret"))),
        Errno::EACCES,
    )?;
    expect_errno(
        "list /etc (under no rule)",
        io_errno(std::fs::read_dir("/etc")),
        Errno::EACCES,
    )
}

/// Exec works from an `execute` path and fails with EACCES from a read-only one.
fn check_exec(exec: &Path, ro: &Path) -> Result<(), String> {
    let denied = CString::new(ro.join("true").into_os_string().into_encoded_bytes()).unwrap();
    expect_errno(
        "exec ro/true",
        nix::unistd::execv(&denied, &[&denied]),
        Errno::EACCES,
    )?;
    let allowed = CString::new(exec.join("true").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: this child is single-threaded; the grandchild only execs or _exits.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let errno = nix::unistd::execv(&allowed, &[&allowed]).unwrap_err();
            // SAFETY: leaving the forked grandchild without running any handler.
            unsafe { libc::_exit(100 + errno as i32) }
        }
        ForkResult::Parent { child } => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(WaitStatus::Exited(_, code)) if code > 100 => Err(format!(
                "exec exec/true: expected success, got {}",
                Errno::from_raw(code - 100)
            )),
            other => Err(format!("exec exec/true: {other:?}")),
        },
    }
}

#[test]
fn device_ioctl_needs_a_writable_rule() {
    in_child(|| {
        if let Err(skip) = need_abi(5) {
            return Ok(skip);
        }
        let policy = LandlockPolicy {
            paths: vec![
                rule(Path::new("/dev/null"), LandlockAccess::ReadOnly),
                rule(Path::new("/dev/zero"), LandlockAccess::ReadWrite),
            ],
            ..LandlockPolicy::default()
        };
        expect_ok("apply", landlock::apply(&policy, false))?;
        let tcgets = |path: &str| -> nix::Result<libc::c_int> {
            let fd = open(Path::new(path), OFlag::O_RDONLY)?;
            let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
            // SAFETY: TCGETS writes at most one termios into the buffer we pass.
            let rc = unsafe {
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(&fd),
                    libc::TCGETS,
                    termios.as_mut_ptr(),
                )
            };
            Errno::result(rc)
        };
        // Not a terminal: the driver answers ENOTTY when Landlock lets the ioctl through.
        expect_errno("TCGETS on /dev/zero", tcgets("/dev/zero"), Errno::ENOTTY)?;
        expect_errno("TCGETS on /dev/null", tcgets("/dev/null"), Errno::EACCES)?;
        Ok(Outcome::Pass)
    });
}

#[test]
fn a_missing_path_is_an_error_unless_optional() {
    let dir = TempDir::new("landlock-missing");
    let readable = dir.path().to_path_buf();
    in_child(|| {
        if let Err(skip) = need_abi(1) {
            return Ok(skip);
        }
        let missing = Path::new("/nonexistent/stockade-landlock-test");
        let strict = LandlockPolicy {
            paths: vec![rule(missing, LandlockAccess::ReadOnly)],
            ..LandlockPolicy::default()
        };
        let err = match landlock::apply(&strict, false) {
            Ok(_) => return Err("a missing non-optional path was accepted".into()),
            Err(err) => format!("{err:#}"),
        };
        if !err.contains("/nonexistent/stockade-landlock-test") || err.contains('\n') {
            return Err(format!(
                "the error does not name the path on one line: {err}"
            ));
        }
        let lenient = LandlockPolicy {
            paths: vec![
                rule(&readable, LandlockAccess::ReadOnly),
                LandlockPath {
                    optional: true,
                    ..rule(missing, LandlockAccess::ReadWrite)
                },
            ],
            ..LandlockPolicy::default()
        };
        expect_ok(
            "apply with an optional missing path",
            landlock::apply(&lenient, false),
        )?;
        expect_ok("list the listed dir", std::fs::read_dir(&readable))?;
        expect_errno(
            "list / (under no rule)",
            io_errno(std::fs::read_dir("/")),
            Errno::EACCES,
        )?;
        Ok(Outcome::Pass)
    });
}

#[test]
fn a_read_only_rule_inside_a_writable_one_stays_writable_and_is_reported() {
    let dir = TempDir::new("landlock-shadow");
    let outer = dir.path().to_path_buf();
    let inner = outer.join("inner");
    std::fs::create_dir(&inner).unwrap();
    in_child(|| {
        if let Err(skip) = need_abi(1) {
            return Ok(skip);
        }
        let mut policy = LandlockPolicy {
            paths: vec![
                rule(&outer, LandlockAccess::ReadWrite),
                rule(&inner, LandlockAccess::ReadOnly),
            ],
            required: true,
            ..LandlockPolicy::default()
        };
        // Required: refused before anything is restricted, in one line naming the rule.
        let err = match landlock::apply(&policy, false) {
            Ok(_) => return Err("a shadowed rule was accepted as required".into()),
            Err(err) => format!("{err:#}"),
        };
        if !err.contains(&format!("{} is read-only but inside", inner.display())) {
            return Err(format!("unexpected error: {err}"));
        }
        expect_ok("read / before any domain", std::fs::read_dir("/"))?;
        // Best effort: reported, and the kernel indeed lets the write through.
        policy.required = false;
        let report = expect_ok("apply", landlock::apply(&policy, false))?;
        if report.unenforced.len() != 1 {
            return Err(format!("expected one report line: {:?}", report.unenforced));
        }
        expect_ok(
            "write inside the read-only rule",
            std::fs::write(inner.join("file"), "x"),
        )?;
        Ok(Outcome::Pass)
    });
}

/// A private user and network namespace with `lo` up, so that ports are ours alone.
fn private_loopback() -> Result<(), Outcome> {
    let flags = nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNET;
    nix::sched::unshare(flags)
        .map_err(|e| Outcome::Skip(format!("cannot create a user+network namespace: {e}")))?;
    stockade::sandbox::net::loopback_up()
        .map_err(|e| Outcome::Skip(format!("cannot bring lo up in the test namespace: {e:#}")))
}

#[test]
fn tcp_ports_outside_the_allowed_sets_are_denied() {
    in_child(|| {
        if let Err(skip) = need_abi(4).and_then(|()| private_loopback()) {
            return Ok(skip);
        }
        // Listeners made before the domain exists; only the ports matter to Landlock.
        let _allowed = expect_ok("listen on 4001", TcpListener::bind("127.0.0.1:4001"))?;
        let _denied = expect_ok("listen on 4002", TcpListener::bind("127.0.0.1:4002"))?;
        let policy = LandlockPolicy {
            tcp_bind: Some(vec![5001]),
            tcp_connect: Some(vec![4001]),
            required: true,
            ..LandlockPolicy::default()
        };
        expect_ok("apply", landlock::apply(&policy, false))?;
        expect_ok(
            "connect to allowed 4001",
            TcpStream::connect("127.0.0.1:4001"),
        )?;
        expect_errno(
            "connect to 4002",
            io_errno(TcpStream::connect("127.0.0.1:4002")),
            Errno::EACCES,
        )?;
        expect_ok("bind allowed 5001", TcpListener::bind("127.0.0.1:5001"))?;
        expect_errno(
            "bind 5002",
            io_errno(TcpListener::bind("127.0.0.1:5002")),
            Errno::EACCES,
        )?;
        // No path rules: the filesystem is left alone.
        expect_ok("list /etc", std::fs::read_dir("/etc"))?;
        Ok(Outcome::Pass)
    });
}

#[test]
fn abstract_unix_sockets_from_outside_are_scoped() {
    let dir = TempDir::new("landlock-unix");
    let path_socket = dir.path().join("sock");
    in_child(|| {
        if let Err(skip) = need_abi(6) {
            return Ok(skip);
        }
        let name = format!("stockade-test-landlock-{}", std::process::id());
        let outside_addr = expect_ok("address", SocketAddr::from_abstract_name(&name))?;
        let _outside = expect_ok("listen outside", UnixListener::bind_addr(&outside_addr))?;
        let _path_listener = expect_ok("listen on a path", UnixListener::bind(&path_socket))?;
        let policy = LandlockPolicy {
            scope_abstract_unix: true,
            required: true,
            ..LandlockPolicy::default()
        };
        expect_ok("apply", landlock::apply(&policy, false))?;
        expect_errno(
            "connect to the abstract socket made outside",
            io_errno(UnixStream::connect_addr(&outside_addr)),
            Errno::EPERM,
        )?;
        let inside_addr = expect_ok(
            "address",
            SocketAddr::from_abstract_name(format!("{name}-inside")),
        )?;
        let _inside = expect_ok("listen inside", UnixListener::bind_addr(&inside_addr))?;
        expect_ok(
            "connect to the abstract socket made inside",
            UnixStream::connect_addr(&inside_addr),
        )?;
        // Scoping is about abstract names only: pathname sockets stay reachable.
        expect_ok(
            "connect to a pathname socket",
            UnixStream::connect(&path_socket),
        )?;
        Ok(Outcome::Pass)
    });
}

/// A process of the sandboxed child, made after the domain: it is inside.
fn inside_sleeper() -> Result<Pid, String> {
    // SAFETY: this child is single-threaded; the grandchild only waits for a signal.
    match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => loop {
            nix::unistd::pause();
        },
        ForkResult::Parent { child } => Ok(child),
    }
}

#[test]
fn signals_to_processes_outside_the_domain_are_scoped() {
    use nix::sys::signal::{kill, Signal};
    // The process outside is the test's own, so the test can end it: a parent-death signal
    // from the restricted child would itself be scoped and never arrive.
    let mut outside = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawning sleep");
    let outside_pid = Pid::from_raw(outside.id() as i32);
    in_child(|| {
        if let Err(skip) = need_abi(6) {
            return Ok(skip);
        }
        let policy = LandlockPolicy {
            scope_signals: true,
            required: true,
            ..LandlockPolicy::default()
        };
        expect_ok("apply", landlock::apply(&policy, false))?;
        expect_errno(
            "kill a process outside the domain",
            kill(outside_pid, Signal::SIGTERM),
            Errno::EPERM,
        )?;
        let inside = inside_sleeper()?;
        expect_ok(
            "kill a process inside the domain",
            kill(inside, Signal::SIGKILL),
        )?;
        match waitpid(inside, None) {
            Ok(WaitStatus::Signaled(_, Signal::SIGKILL, _)) => {}
            other => return Err(format!("the process inside was not killed: {other:?}")),
        }
        expect_ok("signal itself", kill(nix::unistd::getpid(), None))?;
        Ok(Outcome::Pass)
    });
    let still_running = outside.try_wait().expect("try_wait").is_none();
    let _ = outside.kill();
    let _ = outside.wait();
    assert!(
        still_running,
        "the signal from inside reached the process outside"
    );
}

#[test]
fn this_kernel_reports_its_abi() {
    match landlock::abi_version() {
        Some(abi) => println!("Landlock ABI {abi}"),
        None => common::skip("Landlock is not enabled in this kernel"),
    }
}
