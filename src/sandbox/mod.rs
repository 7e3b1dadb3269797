//! The executor: consumes a [`Plan`] in fixed stages, one module per kernel mechanism.
//!
//! Process model: the launcher checks the plan, enters a new user namespace and writes its
//! own id maps, then clones a child into the other namespaces. The child is PID 1 of the new
//! pid namespace: it builds the root, drops privileges and forks the command, then reaps.
//! The launcher stays in the host's mount and network namespaces, forwards signals to the
//! child and ends with the command's status. Setup errors travel back over a pipe that
//! exec closes, so "nothing on the pipe" means "the command is running".

pub mod bind_fd;
pub mod caps;
pub mod cgroup;
pub mod dbus;
pub mod display;
pub mod fallback;
pub mod handoff;
pub mod init;
pub mod landlock;
pub mod limits;
pub mod mounts;
pub mod namespaces;
pub mod net;
pub mod overlay;
pub mod pasta;
pub mod process;
pub mod seccomp;
pub mod seccomp_fd;
pub mod status;
pub mod userns;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::unistd::Pid;

use crate::error::{self, EXIT_SETUP};
use crate::plan::{NetMode, Plan};

/// Prints how long each stage took when `--timings` is on.
pub struct Timer {
    on: bool,
    last: Instant,
}

impl Timer {
    /// A timer whose first stage starts when the process did (see [`mark_process_start`]), so
    /// that parsing the command line and the profile is counted too.
    pub fn new(on: bool) -> Self {
        Timer {
            on,
            last: *PROCESS_START.get_or_init(Instant::now),
        }
    }

    pub fn mark(&mut self, stage: &str) {
        if self.on {
            let now = Instant::now();
            // Not eprintln: its panic on a failed write would run under a seccomp filter that
            // may refuse write (the last mark comes after the filter).
            let _ = writeln!(
                std::io::stderr(),
                "stockade: timing: {stage}: {} us",
                now.duration_since(self.last).as_micros()
            );
            self.last = now;
        }
    }
}

static PROCESS_START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// Records when stockade started, for `--timings`. Called first thing by the front ends.
pub fn mark_process_start() {
    PROCESS_START.get_or_init(Instant::now);
}

/// What the child needs, computed by the launcher before any namespace exists.
struct Prepared {
    exec: process::ExecSpec,
    filters: seccomp::Filters,
    fd_filters: Vec<seccompiler::BpfProgram>,
    keep_caps: std::collections::HashSet<::caps::Capability>,
    caller_cwd: Option<PathBuf>,
    signal_mask: nix::sys::signal::SigSet,
    launcher: Option<OwnedFd>,
    /// Read end: PID 1 waits here until the launcher has put it in its cgroup and pasta is up.
    go: Option<OwnedFd>,
    /// Write end: PID 1 tells the launcher how the command ended (for --json-status-fd).
    end: Option<OwnedFd>,
    /// Write end: PID 1 reports the command's stops and continues (none with `as_pid_1`).
    stops: Option<OwnedFd>,
    /// The caller could resume a stopped job (see [`process::group_can_be_resumed`]).
    job_control: bool,
    gate: handoff::Gate,
}

/// Runs the plan. Returns the exit status stockade should end with.
pub fn launch(plan: &Plan) -> Result<i32> {
    let mut timer = Timer::new(plan.process.timings);
    timer.mark("command line and profile");
    userns::check_ids(plan)?;
    // Without namespaces there is nothing to bind sockets or a filtered bus into: the fallback
    // names what it cannot do (including those) and runs without a proxy.
    if plan.process.fallback_landlock && plan.namespaces.user {
        if let Some(why) = fallback::userns_blocked() {
            return fallback::run(plan, &why);
        }
    }
    let with_resolver;
    let plan = match pasta::with_reachable_resolver(plan) {
        Some(changed) => {
            with_resolver = changed;
            &with_resolver
        }
        None => plan,
    };
    // Desktop sockets are looked up and the D-Bus proxy started first, as the caller on the
    // host; both add binds to a copy of the plan. The proxy is stopped when `_proxy` drops,
    // after the sandbox has ended.
    let (_proxy, mut with_sockets);
    let plan = if plan.dbus.is_some() || plan.display.is_some() {
        let mut found = plan.clone();
        display::add_sockets(&mut found);
        (_proxy, with_sockets) = dbus::start(&found)?;
        display::private_runtime_dir(&mut with_sockets);
        timer.mark("display sockets and D-Bus proxy");
        &with_sockets
    } else {
        plan
    };
    mounts::preflight(plan)?;
    let exec = process::exec_spec(plan)?;
    let filters = seccomp::prepare(&plan.seccomp)?;
    let fd_filters = seccomp_fd::load(&plan.seccomp)?;
    let keep_caps = caps::parse_caps(&plan.caps_keep)?;
    timer.mark("plan checks and seccomp compile");

    if plan.process.die_with_parent {
        die_with_parent()?;
    }
    // Both before the user namespace: the cgroup so that a missing delegation is reported
    // before anything exists, pasta's starter because it must stay in the caller's namespace.
    let cgroup = cgroup::SandboxCgroup::create(&plan.limits)?;
    let pasta = match &plan.net {
        NetMode::Pasta {
            publish,
            host_loopback,
            forward_dns,
        } => Some(pasta::Starter::fork(
            publish,
            *host_loopback,
            *forward_dns,
            plan.process.verbose,
        )?),
        _ => None,
    };
    userns::setup(plan).map_err(|e| {
        if bwrap_mode(plan) || plan.process.fallback_landlock {
            return e;
        }
        // The way out, for machines that forbid user namespaces.
        anyhow!(
            "{}; --fallback landlock runs the command without namespaces, confined by Landlock",
            error::one_line(&e)
        )
    })?;
    timer.mark("user namespace");

    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("creating the setup report pipe")?;
    let (go_r, go_w) = optional_pipe(cgroup.is_some() || pasta.is_some())?;
    let (end_r, end_w) = optional_pipe(plan.process.json_status_fd.is_some())?;
    let (stops_r, stops_w) = match plan.process.as_pid_1 {
        false => init::stop_pipe().map(|(r, w)| (Some(r), Some(w)))?,
        true => (None, None),
    };
    let launcher = pidfd_of_self();
    let signal_mask = init::block_signals()?;
    let gate = handoff::Gate::new(plan)?;
    let mut prepared = Prepared {
        exec,
        filters,
        fd_filters,
        keep_caps,
        caller_cwd: std::env::current_dir().ok(),
        signal_mask,
        launcher,
        go: go_r,
        end: end_w,
        stops: stops_w,
        job_control: command_leads_a_group(plan) && process::group_can_be_resumed(),
        gate,
    };
    let pid = namespaces::fork_into(&plan.namespaces)?;
    if pid == 0 {
        drop(report_r);
        let Err(err) = sandbox_child(plan, &mut prepared, &report_w, &mut timer);
        report_and_exit(&report_w, setup_status(plan), &error::one_line(&err));
    }
    drop(report_w);
    let p = &plan.process;
    let launcher_uses: Vec<i32> = [p.info_fd, p.json_status_fd, p.userns_block_fd]
        .into_iter()
        .flatten()
        .collect();
    process::close_inherited_except(&launcher_uses);
    // Only PID 1 may hold the write end: when the command is the sandbox's first process
    // (no init), nobody writes, and the launcher's read must see EOF rather than wait on its
    // own copy.
    drop(prepared.end.take());
    drop(prepared.stops.take());
    let child = Pid::from_raw(pid);
    let relay = relay(plan, stops_r.as_ref().map(AsRawFd::as_raw_fd));
    let network = match connect(child, cgroup.as_ref(), pasta, go_w) {
        Ok(network) => network,
        Err(err) => {
            abandon(child);
            return match read_report(report_r) {
                Some((_, message)) if message != LAUNCHER_GAVE_UP => {
                    eprintln!("{}: {message}", plan.program_name);
                    Ok(setup_status(plan))
                }
                _ => Err(err),
            };
        }
    };
    // The child waits at the gate meanwhile, so its namespaces still exist to be named.
    if let Err(err) = status::announce(plan, pid) {
        abandon(child);
        return Err(err);
    }
    prepared.gate.open_after_caller(plan);
    let report = read_report(report_r);
    let executed = report.is_none();
    if let Some((status, message)) = report {
        let message = if bwrap_mode(plan) {
            strip_os_error_codes(&message)
        } else {
            advise_binding(plan, message)
        };
        eprintln!("{}: {message}", plan.program_name);
        if status == setup_status(plan) {
            init::supervise(child, relay, None, Duration::ZERO);
            status::report_exit(plan, false, status);
            return Ok(status);
        }
    }
    timer.mark("sandbox ready (command executing)");
    let timeout = plan.limits.timeout_ms.map(Duration::from_millis);
    let grace = Duration::from_millis(plan.limits.kill_after_ms.unwrap_or(5000));
    let (pid1_end, timed_out) = init::supervise_timed(child, relay, timeout, grace);
    drop(network);
    let end = end_r.and_then(read_end).unwrap_or(pid1_end);
    let usage = cgroup.map(cgroup::SandboxCgroup::finish);
    let exit_code = if timed_out {
        error::EXIT_TIMEOUT
    } else {
        end.code
    };
    let report = status::Report {
        exit_code,
        end: Some(end),
        timed_out,
        usage,
        max_rss: status::max_rss_of_children(),
    };
    status::report_end(plan, executed, &report, bwrap_mode(plan));
    Ok(exit_code)
}

/// A command named by a path the sandbox lacks: when the host has that path, say which bind
/// brings it in (the error alone reads "No such file or directory" about a file the user can
/// see on the host).
fn advise_binding(plan: &Plan, message: String) -> String {
    let Some(failure) = message.strip_suffix(process::NOT_IN_SANDBOX) else {
        return message;
    };
    let Some(command) = plan.argv.first().map(Path::new) else {
        return failure.to_string();
    };
    // Resolved as exec inside resolved it: from the working directory the command got.
    let on_host = crate::plan::working_dir_on_host(plan.chdir.as_deref())
        .map(|b| b.join(command))
        .filter(|p| p.exists());
    match on_host.as_deref().and_then(Path::parent) {
        Some(dir) => {
            // `..` and links resolved: a destination may not contain `..`.
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            let dir = error::printable(&dir.to_string_lossy());
            format!("{failure} (not in the sandbox, but on the host: add --ro-bind {dir} {dir})")
        }
        None => failure.to_string(),
    }
}

/// A close-on-exec pipe when `wanted`.
fn optional_pipe(wanted: bool) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    if !wanted {
        return Ok((None, None));
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    Ok((Some(r), Some(w)))
}

/// The launcher's part while PID 1 waits: the cgroup, pasta, then the go-ahead.
fn connect(
    child: Pid,
    cgroup: Option<&cgroup::SandboxCgroup>,
    pasta: Option<pasta::Starter>,
    go: Option<OwnedFd>,
) -> Result<Option<pasta::Running>> {
    if let Some(cg) = cgroup {
        cg.enter(child.as_raw())?;
    }
    let network = pasta.map(|p| p.start(child)).transpose()?;
    if let Some(go) = go {
        std::fs::File::from(go)
            .write_all(b"g")
            .context("releasing the sandbox")?;
    }
    Ok(network)
}

/// How the command ended, as PID 1 reported it.
fn read_end(pipe: OwnedFd) -> Option<init::End> {
    let mut bytes = [0u8; 8];
    std::fs::File::from(pipe).read_exact(&mut bytes).ok()?;
    Some(init::End::from_bytes(bytes))
}

/// PID 1's report when the launcher stopped before the go-ahead (its own error says why).
const LAUNCHER_GAVE_UP: &str = "stockade stopped during setup";

/// PID 1 waits for the launcher's go-ahead (cgroup joined, network up) before the command
/// exists. EOF without it means the launcher gave up.
fn wait_for_launcher(prep: &Prepared) -> Result<()> {
    let Some(go) = &prep.go else {
        return Ok(());
    };
    let mut byte = [0u8; 1];
    let mut file = std::fs::File::from(go.try_clone().context("dup of the go pipe")?);
    match file.read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(anyhow!(LAUNCHER_GAVE_UP)),
    }
}

/// bwrap mode (diagnostics prefixed `bwrap`, or `<3>bwrap` with --level-prefix) follows
/// bubblewrap where callers can tell: every setup failure is status 1, exec failures read
/// `execvp CMD: ...`, and PWD is set.
fn bwrap_mode(plan: &Plan) -> bool {
    plan.program_name.ends_with("bwrap")
}

/// Messages without Rust's ` (os error N)` suffixes, as C programs print them.
pub fn strip_os_error_codes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(" (os error ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + " (os error ".len()..];
        match tail.find(')') {
            Some(close) if tail[..close].bytes().all(|b| b.is_ascii_digit()) => {
                rest = &tail[close + 1..];
            }
            _ => {
                out.push_str(" (os error ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The status for a failed setup.
fn setup_status(plan: &Plan) -> i32 {
    if bwrap_mode(plan) {
        1
    } else {
        EXIT_SETUP
    }
}

/// Ends a sandbox whose command has not started (a later setup step failed) and reaps it.
fn abandon(child: Pid) {
    // SAFETY: plain kill(2) to our own child.
    unsafe { libc::kill(child.as_raw(), libc::SIGKILL) };
    init::supervise(child, init::Relay::default(), None, Duration::ZERO);
}

/// Whether the command gets a process group of its own, in a session the sandbox made. Not as
/// PID 1 (`as_pid_1`): it is then init, which leads the new session and its group already; not
/// without a new session, where it shares the caller's; not in bwrap mode, which keeps
/// bubblewrap's layout (the command in init's session and group: callers may look), and with
/// it forwarding to the command alone.
fn command_leads_a_group(plan: &Plan) -> bool {
    plan.process.new_session && !plan.process.as_pid_1 && !bwrap_mode(plan)
}

fn relay(plan: &Plan, stops: Option<std::os::fd::RawFd>) -> init::Relay {
    init::Relay {
        own_session: plan.process.new_session,
        child_is_command: plan.process.as_pid_1,
        stops,
    }
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
    prep: &mut Prepared,
    report: &OwnedFd,
    timer: &mut Timer,
) -> Result<Infallible> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("setting the parent-death signal")?;
    // Needed for this one check only: closed at once, so that nothing in the sandbox (which
    // may ptrace a dumpable PID 1 in bwrap mode) can use it to signal the launcher.
    if prep.launcher.take().as_ref().is_some_and(launcher_is_gone) {
        return Err(anyhow!("stockade exited during setup"));
    }
    // The status fds first: a caller reading --info-fd to EOF must not wait on our copy
    // while we wait for it at the gate.
    handoff::close_status_fds(plan);
    prep.gate.wait();
    let nest = userns::open_userns_limit(plan)?;
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
    if plan.namespaces.net && plan.net != NetMode::Host {
        net::loopback_up()?;
    }
    userns::finish(plan, nest)?;
    if plan.process.close_fds {
        let mut keep = plan.process.keep_fds.clone();
        keep.push(report.as_raw_fd());
        keep.extend(
            [&prep.go, &prep.end, &prep.stops]
                .into_iter()
                .flatten()
                .map(|fd| fd.as_raw_fd()),
        );
        keep.sort_unstable();
        process::close_all_except(&keep)?;
    }
    let cwd = enter_working_directory(plan, prep)?;
    // bubblewrap always sets PWD; `stockade run` corrects one that is wrong inside and adds
    // none to an environment without it (--clearenv means empty).
    let set_pwd = bwrap_mode(plan) || process::pwd_is_stale(&prep.exec);
    let exec = process::with_pwd(&prep.exec, set_pwd.then_some(cwd.as_path()));
    if plan.process.new_session {
        process::new_session()?;
    }
    process::new_session_keyring();
    caps::drop_all_except(&prep.keep_caps)?;
    caps::set_no_new_privs()?;
    // Before dumpable is cleared: pasta opens /proc/PID/ns/* of this process meanwhile.
    wait_for_launcher(prep)?;
    // The command must not be able to ptrace or read the memory of its still-privileged-looking
    // init, nor open /proc/1/exe. bwrap callers rely on opening /proc/PID/ns/* of the
    // reported child-pid (to join with --userns/--pidns), which needs it dumpable, as in
    // bubblewrap; its capabilities are gone by now either way.
    nix::sys::prctl::set_dumpable(bwrap_mode(plan)).context("setting dumpable")?;
    timer.mark("hostname, network, fds, capabilities");
    handoff::wait_block_fd(plan);

    if plan.process.as_pid_1 {
        return exec_command(plan, prep, &exec, report, timer);
    }
    // Held by this init until the sandbox ends.
    let _locks = handoff::take_locks(plan)?;
    let child = process::spawn_sharing_memory(&mut || {
        let Err(err) = exec_command(plan, prep, &exec, report, timer);
        report_and_exit(report, setup_status(plan), &error::one_line(&err));
    })?;
    // Only the command holds the report pipe now: its exec closes the last copy.
    // SAFETY: closing our copy of a descriptor we own and no longer use.
    unsafe { libc::close(report.as_raw_fd()) };
    // What the caller passed is the command's now: a copy here would keep a pipe from
    // reaching EOF when the command closes it (bwrap mode keeps inherited descriptors).
    // --sync-fd is the exception: it is to close when the sandbox ends.
    let mut init_uses: Vec<i32> = _locks
        .iter()
        .chain(&prep.end)
        .chain(&prep.stops)
        .map(|fd| fd.as_raw_fd())
        .collect();
    init_uses.extend(plan.process.sync_fd);
    init_uses.sort_unstable();
    // The command runs already: a failure here must not end the sandbox.
    let _ = process::close_all_except(&init_uses);
    let stops = prep.stops.as_ref().map(AsRawFd::as_raw_fd);
    let end = init::reap_until_end(Pid::from_raw(child), plan.namespaces.pid, stops);
    if let Some(pipe) = &prep.end {
        // SAFETY: write(2) of a local buffer to a descriptor we own.
        unsafe { libc::write(pipe.as_raw_fd(), end.to_bytes().as_ptr().cast(), 8) };
    }
    // SAFETY: _exit from PID 1, which must not run the launcher's atexit handlers; see
    // report_and_exit.
    unsafe { libc::_exit(end.code) }
}

/// The working directory: the plan's, or the caller's when it exists inside, else `/` (in bwrap
/// mode $HOME first, as bubblewrap does). Looked up inside the new root without magic links,
/// so it can never be a directory of the host reached through a leaked descriptor
/// (`--chdir /proc/self/fd/N`). Returns it as PWD should show it.
fn enter_working_directory(plan: &Plan, prep: &Prepared) -> Result<PathBuf> {
    let enter = |dir: &std::path::Path| -> std::io::Result<()> {
        let fd = mounts::open_workdir(dir)?;
        nix::unistd::fchdir(fd.as_raw_fd()).map_err(std::io::Error::from)
    };
    if let Some(dir) = &plan.chdir {
        return match enter(dir) {
            Ok(()) => Ok(dir.clone()),
            Err(e) => {
                let why = if e.raw_os_error() == Some(libc::ELOOP) {
                    "leads through /proc magic links or too many symbolic links".to_string()
                } else {
                    mounts::io_message(&e)
                };
                if bwrap_mode(plan) {
                    Err(anyhow!("Can't chdir to {}: {why}", dir.display()))
                } else {
                    Err(anyhow!("--chdir {}: {why}", dir.display()))
                }
            }
        };
    }
    let mut candidates: Vec<PathBuf> = prep.caller_cwd.iter().cloned().collect();
    if bwrap_mode(plan) {
        let home = process::environment(plan)
            .into_iter()
            .find(|(k, _)| k == "HOME")
            .map(|(_, v)| PathBuf::from(v));
        candidates.extend(home);
    }
    for dir in candidates {
        if enter(&dir).is_ok() {
            return Ok(dir);
        }
    }
    nix::unistd::chdir("/").context("chdir /")?;
    Ok(PathBuf::from("/"))
}

/// The command's last steps: its own signal mask and descriptors, Landlock, seccomp, exec.
fn exec_command(
    plan: &Plan,
    prep: &Prepared,
    exec: &process::ExecSpec,
    report: &OwnedFd,
    timer: &mut Timer,
) -> Result<Infallible> {
    init::restore_mask(&prep.signal_mask)?;
    if command_leads_a_group(plan) {
        // A process group of its own, for the terminal's signals that the launcher passes on
        // (init, which must not get them back, is not in it).
        if prep.job_control {
            // In init's session, which has no controlling terminal either: its parent, init,
            // is then in the same session, so the group is not orphaned and the stop signals
            // the job raises itself (a shell's `kill -TSTP 0`, an editor's ^Z in raw mode)
            // stop it, as they would in the caller's shell; init reports the stop and the
            // launcher stops with it. Being a group leader, the command cannot start a
            // session, which it would need to take a terminal for its own.
            nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))
                .context("making the command a process group")?;
        } else {
            // Nobody could resume the caller's job: a session of its own, whose group is
            // orphaned (its leader's parent is in another session), so that the kernel
            // discards the stop signals the job raises itself, as it would have outside the
            // sandbox. Ctrl-Z comes through as SIGSTOP, which is never discarded.
            nix::unistd::setsid().context("starting the command's session")?;
        }
    }
    handoff::close_sync_fd_for_command(plan);
    if plan.process.die_with_parent {
        // Outside a new pid namespace the command would outlive a killed init: it dies with
        // its parent too, as bubblewrap's does.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .context("setting the parent-death signal")?;
    }
    process::clear_cloexec(&plan.process.keep_fds)?;
    if let Some(policy) = &plan.landlock {
        landlock::apply(policy, plan.process.verbose)?;
    }
    timer.mark("landlock");
    // After Landlock, which needs descriptors a low --rlimit nofile would deny; before
    // seccomp, which may not allow setrlimit.
    limits::apply_rlimits(&plan.limits.rlimits)?;
    // Everything a failed exec reports is made now: the filter may refuse memory and
    // descriptors from here on.
    let args = process::ExecArgs::new(exec);
    let name = &exec.display_name;
    let prefix = if bwrap_mode(plan) {
        format!("execvp {name}: ")
    } else {
        format!("{name}: ")
    };
    // Looked at before the filter, which may kill on access(2) (default_action = "kill").
    let absent = !bwrap_mode(plan) && args.named_path_is_absent();
    seccomp::install(&prep.filters)?;
    seccomp_fd::install(&prep.fd_filters)?;
    timer.mark("seccomp install");
    let errno = args.exec();
    let status = if bwrap_mode(plan) {
        setup_status(plan)
    } else {
        process::exec_failure_status(errno)
    };
    let after = if absent && errno == libc::ENOENT {
        process::NOT_IN_SANDBOX.as_bytes()
    } else {
        b""
    };
    let lead = [status as u8];
    process::write_errno_and_exit(
        report.as_raw_fd(),
        &[&lead, prefix.as_bytes()],
        errno,
        after,
        status,
    );
}
