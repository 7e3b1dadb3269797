//! The proxy's keeper: a process forked from the launcher that owns what the D-Bus stage puts
//! on the host (the socket directory and the proxy in it) and removes it when the launcher is
//! done or gone.
//!
//! Why a process of its own: the socket must be at a host path until the sandbox has bound it
//! into its root, and whoever removes that path must outlive a SIGKILLed launcher, which runs
//! no code after the signal. The sandbox dies with the launcher, and xdg-dbus-proxy never
//! removes the directory (its socket only when it sees the `--fd` pipe close before its
//! parent-death signal lands). So the keeper makes the directory, starts the proxy in it and
//! reports back, then waits on a lifeline pipe whose write end only the launcher holds (and
//! its sandbox, which dies with it): a byte there (the launcher is done) or EOF (it is gone)
//! makes the keeper stop the proxy, remove the directory and exit.
//!
//! The directory is made by the keeper, not the launcher, so no moment exists at which it is
//! on the host with nobody to remove it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid};

use super::{proxy_args, PROXY_PROGRAM};
use crate::error::{self, Failure};
use crate::plan::DbusPolicy;
use crate::sandbox::process;

/// How long the proxy may take to start listening. It only connects to a local bus, so
/// anything near this means it is stuck.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A listening proxy, as the launcher sees it. Dropping it has the keeper stop the proxy and
/// remove the socket directory, and returns once it has.
pub struct Proxy {
    keeper: Pid,
    /// Write end of the lifeline; `None` once the keeper was told to clean up.
    lifeline: Option<OwnedFd>,
    /// The proxy's listening socket on the host, to be bound into the sandbox.
    pub socket: PathBuf,
    /// For --verbose.
    pub pid: i32,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(lifeline) = self.lifeline.take() {
            // A byte rather than only EOF: a copy of the write end that some other process
            // inherited must not hold the keeper up.
            let _ = nix::unistd::write(&lifeline, b"x");
        }
        // The keeper removes the directory before it exits: once it is reaped, nothing is
        // left on the host.
        let _ = waitpid(self.keeper, None);
    }
}

pub enum Started {
    Listening(Proxy),
    NotInstalled,
}

/// Forks the keeper, which starts the proxy for `policy` on `upstream`, and waits for its
/// report.
pub fn start(policy: &DbusPolicy, upstream: &str) -> Result<Started> {
    let (lifeline_r, lifeline_w) = pipe_above_stdio()?;
    let (report_r, report_w) = pipe_above_stdio()?;
    // SAFETY: the launcher is single-threaded here (as for pasta's starter), so the child may
    // do anything.
    let keeper = match unsafe { nix::unistd::fork() }.context("forking the D-Bus proxy's keeper")? {
        ForkResult::Child => {
            drop((lifeline_w, report_r));
            keeper_main(policy, upstream, lifeline_r, report_w)
        }
        ForkResult::Parent { child } => child,
    };
    drop((lifeline_r, report_w));
    // From here on every way out reaps the keeper, which cleans up first.
    let mut proxy = Proxy {
        keeper,
        lifeline: Some(lifeline_w),
        socket: PathBuf::new(),
        pid: 0,
    };
    let mut bytes = Vec::new();
    std::fs::File::from(report_r)
        .read_to_end(&mut bytes)
        .context("reading the D-Bus proxy's start report")?;
    match Report::decode(&bytes) {
        Some(Report::Listening { pid, socket }) => {
            (proxy.pid, proxy.socket) = (pid, socket);
            Ok(Started::Listening(proxy))
        }
        Some(Report::NotInstalled) => Ok(Started::NotInstalled),
        Some(Report::Failed(message)) => Err(anyhow!(Failure::setup(message))),
        None => bail!(Failure::setup(format!(
            "the keeper of {PROXY_PROGRAM} ended without a report"
        ))),
    }
}

/// What the keeper tells the launcher, once.
#[derive(Debug, PartialEq)]
enum Report {
    Listening { pid: i32, socket: PathBuf },
    NotInstalled,
    Failed(String),
}

impl Report {
    fn encode(&self) -> Vec<u8> {
        match self {
            Report::Listening { pid, socket } => {
                let mut bytes = vec![b'L'];
                bytes.extend_from_slice(&pid.to_ne_bytes());
                bytes.extend_from_slice(socket.as_os_str().as_bytes());
                bytes
            }
            Report::NotInstalled => vec![b'N'],
            Report::Failed(message) => [b"F", message.as_bytes()].concat(),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Report> {
        let (&tag, rest) = bytes.split_first()?;
        match tag {
            b'L' if rest.len() > 4 => {
                let (pid, socket) = rest.split_at(4);
                Some(Report::Listening {
                    pid: i32::from_ne_bytes(pid.try_into().ok()?),
                    socket: PathBuf::from(std::ffi::OsStr::from_bytes(socket)),
                })
            }
            b'N' if rest.is_empty() => Some(Report::NotInstalled),
            b'F' => Some(Report::Failed(String::from_utf8_lossy(rest).into_owned())),
            _ => None,
        }
    }
}

/// The keeper's life: start the proxy, report, wait for the launcher's end, clean up.
fn keeper_main(policy: &DbusPolicy, upstream: &str, lifeline: OwnedFd, report: OwnedFd) -> ! {
    detach(&[lifeline.as_raw_fd(), report.as_raw_fd()]);
    let running = start_proxy(policy, upstream, &lifeline);
    let message = match &running {
        Ok(running) => Report::Listening {
            pid: running.child.id() as i32,
            socket: running.dir.join("bus"),
        },
        Err(SpawnError::NotInstalled) => Report::NotInstalled,
        Err(SpawnError::Other(e)) => Report::Failed(error::one_line(e)),
    };
    // A launcher killed meanwhile reads nothing (EPIPE; Rust's runtime ignores SIGPIPE), and
    // its lifeline is already at EOF: the cleanup below runs either way.
    let _ = std::fs::File::from(report).write_all(&message.encode());
    if let Ok(running) = &running {
        wait_for_end(&lifeline, &running.sync);
    }
    // Stops the proxy and removes the directory.
    drop(running);
    // SAFETY: _exit from a forked child runs none of the launcher's exit handlers.
    unsafe { libc::_exit(0) }
}

/// Loosens the keeper from the launcher's surroundings.
fn detach(keep: &[RawFd]) {
    // Its own process group: a Ctrl-C, or a kill of the caller's process group, that ends the
    // launcher must leave the keeper to clean up, and must not end the bus before the command.
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Descriptors the caller passed (status fds, pipes it reads to EOF) must not stay open in
    // a process that can outlive the launcher. Best effort: without close_range they stay.
    let mut keep = keep.to_vec();
    keep.sort_unstable();
    let _ = process::close_all_except(&keep);
    // Tells it apart from the launcher in ps and top (its command line is the launcher's).
    let _ = nix::sys::prctl::set_name(c"stockade-dbus");
}

/// The proxy as its keeper holds it. Dropping it stops the proxy and removes its directory.
struct Running {
    child: Child,
    dir: PathBuf,
    /// The read end of the `--fd` pipe: ready byte, then EOF when the proxy exits.
    sync: OwnedFd,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The proxy holds no state worth a graceful end; SIGKILL cannot be ignored.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

enum SpawnError {
    NotInstalled,
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for SpawnError {
    fn from(e: E) -> Self {
        SpawnError::Other(e.into())
    }
}

/// Makes the socket directory and starts the proxy listening in it.
fn start_proxy(
    policy: &DbusPolicy,
    upstream: &str,
    lifeline: &OwnedFd,
) -> std::result::Result<Running, SpawnError> {
    let dir = private_dir()?;
    let (child, sync) = match spawn(policy, upstream, &dir.join("bus")) {
        Ok(started) => started,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let running = Running { child, dir, sync };
    wait_ready(&running.sync, lifeline, upstream)?;
    Ok(running)
}

/// A fresh directory only the caller can enter, for the proxy's socket: in
/// `$XDG_RUNTIME_DIR` when there is one we can write (it is per-user and cleaned at logout),
/// else in the temporary directory. mkdtemp's random name cannot be squatted by another user.
fn private_dir() -> Result<PathBuf> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let mut last = None;
    for base in runtime.into_iter().chain([std::env::temp_dir()]) {
        match nix::unistd::mkdtemp(&base.join("stockade-dbus-XXXXXX")) {
            Ok(dir) => return Ok(dir),
            // An inherited XDG_RUNTIME_DIR may be another user's (su, sudo): try the next.
            Err(e) => last = Some((base, e)),
        }
    }
    let (base, e) = last.expect("at least the temporary directory was tried");
    Err(anyhow!(
        "creating a directory for the D-Bus proxy in {}: {}",
        base.display(),
        e.desc()
    ))
}

/// Starts the proxy on `socket`; returns it with the read end of its `--fd` pipe.
fn spawn(
    policy: &DbusPolicy,
    upstream: &str,
    socket: &Path,
) -> std::result::Result<(Child, OwnedFd), SpawnError> {
    let (sync_r, sync_w) = pipe_above_stdio()?;
    let write_fd = sync_w.as_raw_fd();
    let keeper = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(PROXY_PROGRAM);
    cmd.arg(format!("--fd={write_fd}"))
        .args(proxy_args(policy, upstream, socket))
        .stdin(Stdio::null());
    if !policy.log {
        cmd.stdout(Stdio::null());
    }
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (fcntl, prctl, getppid, _exit) on values copied into it.
    unsafe {
        cmd.pre_exec(move || {
            // The write end is the one descriptor the proxy inherits on purpose.
            if libc::fcntl(write_fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Belt and braces with --fd: the proxy also ends when its keeper does.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            if libc::getppid() != keeper {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SpawnError::NotInstalled),
        Err(e) => return Err(anyhow!("starting {PROXY_PROGRAM}: {e}").into()),
    };
    // Only the proxy may hold the write end, or its exit would never show as EOF here.
    drop(sync_w);
    Ok((child, sync_r))
}

/// A close-on-exec pipe whose ends are both at descriptor 3 or above: a caller that closed
/// stdin/stdout/stderr would otherwise get them as 0..2, where the proxy's own stdio (and the
/// command's) would replace them.
fn pipe_above_stdio() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe")?;
    Ok((above_stdio(r)?, above_stdio(w)?))
}

/// The same open file at a descriptor number of at least 3 (close-on-exec).
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; no memory is passed.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error()).context("moving a pipe above stdio");
    }
    // SAFETY: the kernel just returned this descriptor; we are its only owner.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(new) })
}

/// Waits for the proxy's ready byte. EOF means it exited (its own message is already on
/// stderr). Gives up at once when the launcher ends meanwhile: nobody waits for the proxy.
fn wait_ready(sync: &OwnedFd, lifeline: &OwnedFd, upstream: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match poll_in(&[sync, lifeline], Some(left)) {
            Ok(Some(0)) => break,
            Ok(Some(_)) => bail!("stockade ended while {PROXY_PROGRAM} was starting"),
            Ok(None) => bail!(Failure::setup(format!(
                "{PROXY_PROGRAM} did not start listening within {}s",
                READY_TIMEOUT.as_secs()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("waiting for the D-Bus proxy"),
        }
    }
    let mut byte = [0u8; 1];
    let n =
        nix::unistd::read(sync.as_raw_fd(), &mut byte).context("reading the proxy's ready byte")?;
    if n == 0 {
        bail!(Failure::setup(format!(
            "{PROXY_PROGRAM} exited before it was ready (cannot connect to {upstream}?)"
        )));
    }
    Ok(())
}

/// Blocks until the launcher is done (a byte on the lifeline) or gone (EOF), or the proxy
/// has exited (EOF on its `--fd` pipe, which has nothing more to read after the ready byte).
fn wait_for_end(lifeline: &OwnedFd, sync: &OwnedFd) {
    // Any error but an interruption also ends the wait: cleaning up early is the safe side.
    while let Err(e) = poll_in(&[lifeline, sync], None) {
        if e.kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// The first of `fds` that became readable (data, EOF or error) within `timeout` (`None`: no
/// limit).
fn poll_in(fds: &[&OwnedFd], timeout: Option<Duration>) -> std::io::Result<Option<usize>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    // SAFETY: a valid array of `polls.len()` pollfds for the duration of the call.
    let ret = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, millis) };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(polls.iter().position(|p| p.revents != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_survive_the_pipe() {
        let reports = [
            Report::Listening {
                pid: 4242,
                socket: PathBuf::from("/run/user/1000/stockade-dbus-AbC123/bus"),
            },
            Report::NotInstalled,
            Report::Failed("xdg-dbus-proxy exited before it was ready".into()),
            Report::Failed(String::new()),
        ];
        for report in reports {
            assert_eq!(Report::decode(&report.encode()), Some(report));
        }
    }

    #[test]
    fn a_cut_report_is_no_report() {
        for bytes in [&b""[..], b"L", b"L\x01\x02\x03\x04", b"Nx", b"?"] {
            assert_eq!(Report::decode(bytes), None, "{bytes:?}");
        }
    }
}
