//! The D-Bus stage: the sandbox never sees the caller's session bus, only a filtering
//! `xdg-dbus-proxy` that the launcher starts before the sandbox and stops after it.
//!
//! The proxy runs on the host side, before the launcher enters its user namespace, so it
//! authenticates to the real bus as the caller (D-Bus checks the peer's uid with
//! SO_PEERCRED) and reaches an abstract or filesystem bus address the sandbox cannot. Its
//! listening socket sits in a fresh private directory and is bound into the sandbox at
//! the policy's path (`${XDG_RUNTIME_DIR}/bus` in the desktop profile); the command gets
//! `DBUS_SESSION_BUS_ADDRESS` pointing there.
//!
//! Lifetime: xdg-dbus-proxy's `--fd` protocol. The proxy gets the write end of a pipe,
//! writes one byte when its socket is listening (so the command never races the proxy),
//! and exits when the read end is closed. The launcher keeps the read end for the life of
//! the sandbox, so even a SIGKILLed launcher takes the proxy with it; a normal end kills
//! and reaps it and removes the socket directory.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::error::Failure;
use crate::plan::{caller_uid, BindMode, DbusPolicy, EnvOp, FsOp, Plan};

/// The program, looked up on the caller's PATH (Debian: package `xdg-dbus-proxy`).
pub const PROXY_PROGRAM: &str = "xdg-dbus-proxy";

/// How long the proxy may take to start listening. It only connects to a local bus, so
/// anything near this means it is stuck.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy. Dropping it stops the proxy and removes its socket.
pub struct Proxy {
    child: Child,
    dir: PathBuf,
    /// The read end of the `--fd` pipe: the proxy exits once every copy is closed.
    _sync: OwnedFd,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The proxy holds no state worth a graceful end; SIGKILL cannot be ignored.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The xdg-dbus-proxy arguments after `--fd`: the bus, the socket, then the filter.
pub fn proxy_args(policy: &DbusPolicy, upstream: &str, socket: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![upstream.into(), socket.into(), "--filter".into()];
    let rules = [
        ("--talk", &policy.talk),
        ("--own", &policy.own),
        ("--see", &policy.see),
        ("--call", &policy.call),
        ("--broadcast", &policy.broadcast),
    ];
    for (flag, values) in rules {
        for value in values {
            args.push(format!("{flag}={value}").into());
        }
    }
    if policy.log {
        args.push("--log".into());
    }
    args
}

/// Names are passed to the proxy as `--talk=NAME`: refuse what could be read as more than
/// one name, or as another option.
pub fn check_policy(policy: &DbusPolicy) -> Result<()> {
    let names = policy.talk.iter().chain(&policy.own).chain(&policy.see);
    for name in names {
        let ok = !name.is_empty()
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | ':'));
        if !ok {
            bail!(Failure::setup(format!("dbus: invalid bus name {name:?}")));
        }
    }
    for rule in policy.call.iter().chain(&policy.broadcast) {
        if rule.starts_with('-') || !rule.contains('=') || rule.contains(char::is_whitespace) {
            bail!(Failure::setup(format!(
                "dbus: invalid rule {rule:?} (expected NAME=RULE)"
            )));
        }
    }
    Ok(())
}

/// The bus to filter: the policy's, else the caller's session bus. `None` when the caller
/// has no session bus.
pub fn upstream_address(policy: &DbusPolicy) -> Option<String> {
    if let Some(address) = &policy.upstream {
        return Some(address.clone());
    }
    if let Some(address) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        if !address.is_empty() {
            return Some(address.to_string_lossy().into_owned());
        }
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")?;
    let bus = Path::new(&runtime).join("bus");
    let is_socket = std::fs::metadata(&bus)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    is_socket.then(|| format!("unix:path={}", bus.display()))
}

/// Starts the proxy for `plan.dbus` and returns it with the plan the sandbox should get: the
/// socket bound at the policy's path and `DBUS_SESSION_BUS_ADDRESS` pointing there. Without
/// a session bus or without xdg-dbus-proxy the sandbox gets no bus (the variable is unset),
/// which is never more than the policy allows; the reason is printed.
pub fn start(plan: &Plan) -> Result<(Option<Proxy>, Plan)> {
    let mut adjusted = plan.clone();
    let Some(policy) = &plan.dbus else {
        return Ok((None, adjusted));
    };
    check_policy(policy)?;
    let no_bus = |mut adjusted: Plan, why: &str| {
        eprintln!(
            "{}: warning: {why}: the sandbox gets no D-Bus session bus",
            plan.program_name
        );
        adjusted
            .env
            .ops
            .push(EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into()));
        Ok((None, adjusted))
    };
    let Some(upstream) = upstream_address(policy) else {
        return no_bus(
            adjusted,
            "no session bus (DBUS_SESSION_BUS_ADDRESS and $XDG_RUNTIME_DIR/bus are unset)",
        );
    };
    let dir = private_dir()?;
    let socket = dir.join("bus");
    let proxy = match spawn(policy, &upstream, &socket, &dir) {
        Ok(proxy) => proxy,
        Err(SpawnError::NotInstalled) => {
            let _ = std::fs::remove_dir_all(&dir);
            return no_bus(
                adjusted,
                "xdg-dbus-proxy is not installed (Debian: apt install xdg-dbus-proxy)",
            );
        }
        Err(SpawnError::Other(e)) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    let inside = policy.socket_inside(plan.uid.unwrap_or_else(caller_uid));
    adjusted.fs.push(FsOp::Bind {
        src: socket,
        dest: inside.clone(),
        mode: BindMode::ReadWrite,
        optional: false,
    });
    let mut address = OsString::from("unix:path=");
    address.push(&inside);
    adjusted
        .env
        .ops
        .push(EnvOp::Set("DBUS_SESSION_BUS_ADDRESS".into(), address));
    if plan.process.verbose {
        eprintln!(
            "{}: dbus: proxy of {upstream} at {} (pid {})",
            plan.program_name,
            inside.display(),
            proxy.child.id()
        );
    }
    Ok((Some(proxy), adjusted))
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

enum SpawnError {
    NotInstalled,
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for SpawnError {
    fn from(e: E) -> Self {
        SpawnError::Other(e.into())
    }
}

fn spawn(
    policy: &DbusPolicy,
    upstream: &str,
    socket: &Path,
    dir: &Path,
) -> std::result::Result<Proxy, SpawnError> {
    let (sync_r, sync_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("creating the D-Bus proxy's sync pipe")?;
    // A caller that closed stdin/stdout/stderr would get the pipe as 0..2, where the proxy's
    // own stdio (and the command's) would replace it.
    let (sync_r, sync_w) = (above_stdio(sync_r)?, above_stdio(sync_w)?);
    let write_fd = sync_w.as_raw_fd();
    let launcher = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(PROXY_PROGRAM);
    cmd.arg(format!("--fd={write_fd}"))
        .args(proxy_args(policy, upstream, socket))
        .stdin(Stdio::null())
        // Its own process group: a Ctrl-C meant for the command must not end the bus first.
        .process_group(0);
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
            // Belt and braces with --fd: the proxy also ends when the launcher does.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            if libc::getppid() != launcher {
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
    let proxy = Proxy {
        child,
        dir: dir.to_path_buf(),
        _sync: sync_r,
    };
    wait_ready(&proxy._sync, upstream)?;
    Ok(proxy)
}

/// The same open file at a descriptor number of at least 3 (close-on-exec).
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= 3 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; no memory is passed.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error()).context("moving the sync pipe above stdio");
    }
    // SAFETY: the kernel just returned this descriptor; we are its only owner.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(new) })
}

/// Waits for the proxy's ready byte. EOF means it exited (its own message is already on
/// stderr); dropping `proxy` on error reaps it.
fn wait_ready(sync: &OwnedFd, upstream: &str) -> Result<()> {
    let mut poll = libc::pollfd {
        fd: sync.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        // SAFETY: one valid pollfd for the duration of the call.
        let ret = unsafe { libc::poll(&mut poll, 1, left.as_millis() as libc::c_int) };
        if ret < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("waiting for the D-Bus proxy");
        }
        if ret == 0 {
            bail!(Failure::setup(format!(
                "{PROXY_PROGRAM} did not start listening within {}s",
                READY_TIMEOUT.as_secs()
            )));
        }
        break;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DbusPolicy {
        DbusPolicy {
            talk: vec!["org.freedesktop.Notifications".into()],
            own: vec!["org.example.App".into()],
            see: vec![],
            call: vec!["org.freedesktop.portal.*=*".into()],
            broadcast: vec![],
            socket: None,
            upstream: None,
            log: false,
        }
    }

    #[test]
    fn arguments_carry_the_filter_in_order() {
        let args = proxy_args(&policy(), "unix:path=/run/user/1/bus", Path::new("/x/bus"));
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "unix:path=/run/user/1/bus",
                "/x/bus",
                "--filter",
                "--talk=org.freedesktop.Notifications",
                "--own=org.example.App",
                "--call=org.freedesktop.portal.*=*",
            ]
        );
    }

    #[test]
    fn names_that_look_like_options_are_refused() {
        for bad in ["--log", "", "a b", "a\nb", "x=y"] {
            let mut p = policy();
            p.talk = vec![bad.into()];
            assert!(check_policy(&p).is_err(), "{bad:?} accepted");
        }
        assert!(check_policy(&policy()).is_ok());
        let mut p = policy();
        p.call = vec!["no-rule".into()];
        assert!(check_policy(&p).is_err());
    }

    #[test]
    fn default_socket_is_in_the_runtime_dir_of_the_uid_inside() {
        assert_eq!(
            policy().socket_inside(1000),
            PathBuf::from("/run/user/1000/bus")
        );
    }
}
