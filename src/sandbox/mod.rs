//! The executor: consumes a [`Plan`] in fixed stages, one module per kernel mechanism.
//!
//! Process model: the launcher checks the plan, enters a new user namespace and writes its
//! own id maps, then clones a child into the other namespaces. The child is PID 1 of the new
//! pid namespace: it builds the root, drops privileges and forks the command, then reaps.
//! The launcher stays in the host's mount and network namespaces, forwards signals to the
//! child and ends with the command's status. Setup errors travel back over a pipe that
//! exec closes, so "nothing on the pipe" means "the command is running".

pub mod caps;
pub mod init;
pub mod landlock;
pub mod mounts;
pub mod namespaces;
pub mod net;
pub mod process;
pub mod seccomp;
pub mod userns;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::unistd::Pid;

use crate::error::{self, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_SETUP};
use crate::plan::{NetMode, Plan};

/// Prints how long each stage took when `--timings` is on.
pub struct Timer {
    on: bool,
    last: Instant,
}

impl Timer {
    pub fn new(on: bool) -> Self {
        Timer {
            on,
            last: Instant::now(),
        }
    }

    pub fn mark(&mut self, stage: &str) {
        if self.on {
            let now = Instant::now();
            eprintln!(
                "stockade: timing: {stage}: {} us",
                now.duration_since(self.last).as_micros()
            );
            self.last = now;
        }
    }
}

/// What the child needs, computed by the launcher before any namespace exists.
struct Prepared {
    exec: process::ExecSpec,
    filters: seccomp::Filters,
    keep_caps: std::collections::HashSet<::caps::Capability>,
    caller_cwd: Option<PathBuf>,
    signal_mask: nix::sys::signal::SigSet,
    launcher: Option<OwnedFd>,
}

/// Runs the plan. Returns the exit status stockade should end with.
pub fn launch(plan: &Plan) -> Result<i32> {
    let mut timer = Timer::new(plan.process.timings);
    userns::check_ids(plan)?;
    mounts::preflight(plan)?;
    let exec = process::exec_spec(plan)?;
    let filters = seccomp::prepare(&plan.seccomp)?;
    let keep_caps = caps::parse_caps(&plan.caps_keep)?;
    timer.mark("plan checks and seccomp compile");

    if plan.process.die_with_parent {
        die_with_parent()?;
    }
    if plan.namespaces.user {
        userns::enter(plan)?;
    }
    timer.mark("user namespace");

    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("creating the setup report pipe")?;
    let launcher = pidfd_of_self();
    let signal_mask = init::block_signals()?;
    let prepared = Prepared {
        exec,
        filters,
        keep_caps,
        caller_cwd: std::env::current_dir().ok(),
        signal_mask,
        launcher,
    };
    let pid = namespaces::fork_into(&plan.namespaces)?;
    if pid == 0 {
        drop(report_r);
        let Err(err) = sandbox_child(plan, &prepared, &report_w, &mut timer);
        report_and_exit(&report_w, EXIT_SETUP, &error::one_line(&err));
    }
    drop(report_w);
    drop(prepared);
    let child = Pid::from_raw(pid);
    if let Some((status, message)) = read_report(report_r) {
        eprintln!("{}: {message}", plan.program_name);
        if status == EXIT_SETUP {
            init::supervise(child, None, Duration::ZERO);
            return Ok(EXIT_SETUP);
        }
    }
    timer.mark("sandbox ready (command executing)");
    let timeout = plan.limits.timeout_ms.map(Duration::from_millis);
    let grace = Duration::from_millis(plan.limits.kill_after_ms.unwrap_or(5000));
    Ok(init::supervise(child, timeout, grace))
}

/// The launcher dies with its caller, and the sandbox dies with the launcher (PID 1 has its
/// own death signal), so the whole tree goes when the caller does.
fn die_with_parent() -> Result<()> {
    let parent = nix::unistd::getppid();
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("setting the parent-death signal")?;
    if nix::unistd::getppid() != parent {
        return Err(anyhow!("the calling process has already exited"));
    }
    Ok(())
}

/// A pidfd for the launcher, so the child can tell whether the launcher died before the
/// child's own death signal was armed.
fn pidfd_of_self() -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the kernel just returned this descriptor; we are its only owner.
    let fd: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) };
    let _ = nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Some(fd)
}

fn launcher_is_gone(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut poll, 1, 0) == 1 }
}

/// Writes a setup report (status byte, then one line) and ends the process.
fn report_and_exit(report: &OwnedFd, status: i32, message: &str) -> ! {
    let mut bytes = vec![status as u8];
    bytes.extend_from_slice(message.as_bytes());
    let mut file = std::fs::File::from(report.try_clone().expect("dup of the report pipe"));
    let _ = file.write_all(&bytes);
    // SAFETY: _exit ends the process without running the parent's atexit handlers, which a
    // forked child must not run.
    unsafe { libc::_exit(status) }
}

fn read_report(report: OwnedFd) -> Option<(i32, String)> {
    let mut bytes = Vec::new();
    let _ = std::fs::File::from(report).read_to_end(&mut bytes);
    let (&status, message) = bytes.split_first()?;
    Some((status as i32, String::from_utf8_lossy(message).into_owned()))
}

/// PID 1: builds the sandbox, then runs the command under `init` (or execs it directly with
/// `as_pid_1`). Returns only with the error that stopped setup.
fn sandbox_child(
    plan: &Plan,
    prep: &Prepared,
    report: &OwnedFd,
    timer: &mut Timer,
) -> Result<Infallible> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("setting the parent-death signal")?;
    if prep.launcher.as_ref().is_some_and(launcher_is_gone) {
        return Err(anyhow!("stockade exited during setup"));
    }
    timer.mark("clone into the new namespaces");
    if plan.namespaces.mount {
        mounts::make_private()?;
        let sources = mounts::open_sources(plan)?;
        timer.mark("open host sources");
        mounts::build_root(plan, sources)?;
        timer.mark("mounts and pivot_root");
    }
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).with_context(|| format!("--hostname {name}"))?;
    }
    if plan.namespaces.net && plan.net == NetMode::None {
        net::loopback_up()?;
    }
    if plan.process.close_fds {
        let mut keep = plan.process.keep_fds.clone();
        keep.push(report.as_raw_fd());
        keep.sort_unstable();
        process::close_all_except(&keep)?;
    }
    enter_working_directory(plan, prep)?;
    if plan.process.new_session {
        process::new_session()?;
    }
    process::new_session_keyring();
    caps::drop_all_except(&prep.keep_caps)?;
    caps::set_no_new_privs()?;
    // The command must not be able to ptrace or read the memory of its still-privileged-looking
    // init, nor open /proc/1/exe.
    nix::sys::prctl::set_dumpable(false).context("clearing dumpable")?;
    timer.mark("hostname, network, fds, capabilities");

    if plan.process.as_pid_1 {
        return exec_command(plan, prep, report, timer);
    }
    // SAFETY: this process is single-threaded, so the child may do anything after fork.
    match unsafe { nix::unistd::fork() }.context("forking the command")? {
        nix::unistd::ForkResult::Child => {
            let Err(err) = exec_command(plan, prep, report, timer);
            report_and_exit(report, EXIT_SETUP, &error::one_line(&err));
        }
        nix::unistd::ForkResult::Parent { child } => {
            // Only the command holds the report pipe now: its exec closes the last copy.
            // SAFETY: closing our copy of a descriptor we own and no longer use.
            unsafe { libc::close(report.as_raw_fd()) };
            let code = init::reap_until_exit(child);
            // SAFETY: _exit from a forked child; see report_and_exit.
            unsafe { libc::_exit(code) }
        }
    }
}

/// The working directory: the plan's, or the caller's when it exists inside, else `/`.
/// Looked up inside the new root without magic links, so it can never be a directory of the
/// host reached through a leaked descriptor (`--chdir /proc/self/fd/N`).
fn enter_working_directory(plan: &Plan, prep: &Prepared) -> Result<()> {
    let enter = |dir: &std::path::Path| -> std::io::Result<()> {
        let fd = mounts::open_workdir(dir)?;
        nix::unistd::fchdir(fd.as_raw_fd()).map_err(std::io::Error::from)
    };
    match &plan.chdir {
        Some(dir) => enter(dir).map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::ELOOP) {
                "leads through /proc magic links or too many symbolic links".to_string()
            } else {
                mounts::io_message(&e)
            };
            anyhow!("--chdir {}: {why}", dir.display())
        }),
        None => {
            let inside = prep
                .caller_cwd
                .as_ref()
                .is_some_and(|cwd| enter(cwd.as_path()).is_ok());
            if !inside {
                nix::unistd::chdir("/").context("chdir /")?;
            }
            Ok(())
        }
    }
}

/// The command's last steps: its own signal mask and descriptors, Landlock, seccomp, exec.
fn exec_command(
    plan: &Plan,
    prep: &Prepared,
    report: &OwnedFd,
    timer: &mut Timer,
) -> Result<Infallible> {
    init::restore_mask(&prep.signal_mask)?;
    process::clear_cloexec(&plan.process.keep_fds)?;
    if let Some(policy) = &plan.landlock {
        landlock::apply(policy, plan.process.verbose)?;
    }
    timer.mark("landlock");
    seccomp::install(&prep.filters)?;
    timer.mark("seccomp install");
    let errno = process::exec(&prep.exec);
    let status = if errno == libc::ENOENT {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXEC
    };
    let reason = std::io::Error::from_raw_os_error(errno);
    report_and_exit(
        report,
        status,
        &format!(
            "{}: {}",
            prep.exec.display_name,
            mounts::io_message(&reason)
        ),
    );
}
