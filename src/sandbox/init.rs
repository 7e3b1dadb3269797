//! PID 1 of the sandbox and the launcher's watch over it: reap, forward signals, turn the
//! end of a process into an exit status.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals passed on to the command.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

fn watched() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// Blocks the forwarded signals and SIGCHLD, so that they queue up for `sigwaitinfo` instead
/// of acting. Returns the caller's mask, which the command gets back before exec.
pub fn block_signals() -> Result<SigSet> {
    // An inherited SIG_IGN for SIGCHLD would make children reap themselves, and wait() lie.
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl) }
        .context("resetting SIGCHLD")?;
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&watched()),
        Some(&mut old),
    )
    .context("blocking signals")?;
    Ok(old)
}

pub fn restore_mask(mask: &SigSet) -> Result<()> {
    nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(mask), None)
        .context("restoring the signal mask")
}

/// The exit status a shell would show for `status`: the code, or 128+N for signal N.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for the next watched signal, with an optional deadline. Returns `None` on timeout.
fn next_signal(set: &SigSet, deadline: Option<std::time::Instant>) -> Option<i32> {
    loop {
        // SAFETY: an all-zero siginfo is a valid buffer for the kernel to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let ret = match deadline {
            None => {
                // SAFETY: `set` and `info` are valid for the call.
                unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) }
            }
            Some(deadline) => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let ts = libc::timespec {
                    tv_sec: left.as_secs() as libc::time_t,
                    tv_nsec: left.subsec_nanos() as libc::c_long,
                };
                // SAFETY: `set`, `info` and `ts` are valid for the call.
                unsafe { libc::sigtimedwait(set.as_ref(), &mut info, &ts) }
            }
        };
        if ret >= 0 {
            return Some(ret);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => return None,
            _ => continue,
        }
    }
}

/// PID 1's loop: reap every child, forward signals to the command, and when the command
/// ends, kill whatever it left behind and return its status. `own_pid_namespace` is false for
/// bwrap's reaper outside a new pid namespace (kept for --lock-file/--sync-fd): kill(-1) would
/// then reach every process of the user, so leftovers are left alone, as bubblewrap does.
pub fn reap_until_exit(command: Pid, own_pid_namespace: bool) -> i32 {
    let set = watched();
    loop {
        let Some(sig) = next_signal(&set, None) else {
            continue;
        };
        if sig == libc::SIGCHLD {
            if let Some(code) = reap_children(command) {
                if own_pid_namespace {
                    // SAFETY: kill(-1) from PID 1 reaches every other process in this pid
                    // namespace and nothing outside it.
                    unsafe { libc::kill(-1, libc::SIGKILL) };
                }
                return code;
            }
        } else {
            // SAFETY: plain kill(2) to our own child.
            unsafe { libc::kill(command.as_raw(), sig) };
        }
    }
}

/// Reaps every child that has ended; returns the command's status once it is among them.
fn reap_children(command: Pid) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(status) => {
                if status.pid() == Some(command) {
                    result = exit_code(status);
                }
            }
        }
    }
}

/// What the launcher does after setup: forward signals to the sandbox's PID 1 and return the
/// status it ends with. With a timeout, SIGTERM goes to the sandbox at the deadline and
/// SIGKILL after the grace period; the status is then 124.
pub fn supervise(
    child: Pid,
    timeout: Option<std::time::Duration>,
    grace: std::time::Duration,
) -> i32 {
    let set = watched();
    let mut deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut timed_out = false;
    loop {
        match next_signal(&set, deadline) {
            None => {
                // SAFETY: plain kill(2) to our own child.
                unsafe {
                    libc::kill(
                        child.as_raw(),
                        if timed_out {
                            libc::SIGKILL
                        } else {
                            libc::SIGTERM
                        },
                    )
                };
                deadline = if timed_out {
                    None
                } else {
                    Some(std::time::Instant::now() + grace)
                };
                timed_out = true;
            }
            Some(libc::SIGCHLD) => match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => {
                    if timed_out {
                        return crate::error::EXIT_TIMEOUT;
                    }
                    if let Some(code) = exit_code(status) {
                        return code;
                    }
                }
                Err(_) => return crate::error::EXIT_SETUP,
            },
            Some(sig) => {
                // SAFETY: plain kill(2) to our own child.
                unsafe { libc::kill(child.as_raw(), sig) };
            }
        }
    }
}
