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

/// Gives the command the signal state a shell would: the caller's mask, and SIGPIPE at its
/// default action. Rust's runtime ignores SIGPIPE in stockade before `main` runs, and an
/// ignored signal survives exec: `yes | head` would print "Broken pipe" instead of ending
/// quietly, and a writer that does not check for errors would loop for ever. Default is
/// what `std::process::Command` and bubblewrap give their children too.
pub fn restore_mask(mask: &SigSet) -> Result<()> {
    // SAFETY: SIG_DFL installs no handler code.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) }
        .context("resetting SIGPIPE")?;
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

/// A signal taken off the queue: its number, and whether the launcher sent it to mean
/// "the time is up: terminate the whole sandbox".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Received {
    signo: i32,
    timeout: bool,
}

/// The value the launcher attaches (sigqueue) to the SIGTERM that ends a timed-out sandbox.
/// Processes inside could forge it, but only to terminate their own sandbox.
const TIMEOUT_VALUE: usize = 0x7374_6f63;

/// Waits for the next watched signal, with an optional deadline. Returns `None` on timeout.
fn next_signal(set: &SigSet, deadline: Option<std::time::Instant>) -> Option<Received> {
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
            // SAFETY: si_value is meaningful for SI_QUEUE, which is checked first.
            let timeout = info.si_code == libc::SI_QUEUE
                && unsafe { info.si_value() }.sival_ptr as usize == TIMEOUT_VALUE;
            return Some(Received {
                signo: ret,
                timeout,
            });
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => return None,
            _ => continue,
        }
    }
}

/// How the command ended: the status a shell would show, and the signal that killed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct End {
    pub code: i32,
    pub signal: Option<i32>,
}

impl End {
    fn of(status: WaitStatus) -> Option<End> {
        let signal = match status {
            WaitStatus::Signaled(_, sig, _) => Some(sig as i32),
            _ => None,
        };
        exit_code(status).map(|code| End { code, signal })
    }

    /// Eight bytes for the pipe from PID 1 to the launcher.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.code.to_ne_bytes());
        b[4..].copy_from_slice(&self.signal.unwrap_or(0).to_ne_bytes());
        b
    }

    pub fn from_bytes(b: [u8; 8]) -> End {
        let code = i32::from_ne_bytes(b[..4].try_into().expect("4 bytes"));
        let signal = i32::from_ne_bytes(b[4..].try_into().expect("4 bytes"));
        End {
            code,
            signal: (signal != 0).then_some(signal),
        }
    }
}

/// PID 1's loop: reap every child, forward signals to the command, and when the command
/// ends, kill whatever it left behind and return how it ended. `own_pid_namespace` is false
/// for bwrap's reaper outside a new pid namespace (kept for --lock-file/--sync-fd): kill(-1)
/// would then reach every process of the user, so leftovers are left alone, as bubblewrap does.
/// The launcher's timeout SIGTERM goes to every process of the sandbox, not only the command.
pub fn reap_until_end(command: Pid, own_pid_namespace: bool) -> End {
    let set = watched();
    loop {
        let Some(got) = next_signal(&set, None) else {
            continue;
        };
        if got.signo == libc::SIGCHLD {
            if let Some(end) = reap_children(command) {
                if own_pid_namespace {
                    // SAFETY: kill(-1) from PID 1 reaches every other process in this pid
                    // namespace and nothing outside it.
                    unsafe { libc::kill(-1, libc::SIGKILL) };
                }
                return end;
            }
        } else if got.timeout && own_pid_namespace {
            // SAFETY: as above; PID 1 itself is not affected by its own kill(-1).
            unsafe { libc::kill(-1, libc::SIGTERM) };
        } else {
            // SAFETY: plain kill(2) to our own child.
            unsafe { libc::kill(command.as_raw(), got.signo) };
        }
    }
}

/// Reaps every child that has ended; returns the command's end once it is among them.
fn reap_children(command: Pid) -> Option<End> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(status) => {
                if status.pid() == Some(command) {
                    result = End::of(status);
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
    let (end, timed_out) = supervise_timed(child, timeout, grace);
    if timed_out {
        crate::error::EXIT_TIMEOUT
    } else {
        end.code
    }
}

/// [`supervise`], telling also whether the deadline passed; the status is then PID 1's own.
pub fn supervise_timed(
    child: Pid,
    timeout: Option<std::time::Duration>,
    grace: std::time::Duration,
) -> (End, bool) {
    let set = watched();
    let mut deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut timed_out = false;
    loop {
        match next_signal(&set, deadline) {
            None if timed_out => {
                // The grace period is over: PID 1's death takes the whole namespace along.
                // SAFETY: plain kill(2) to our own child.
                unsafe { libc::kill(child.as_raw(), libc::SIGKILL) };
                deadline = None;
            }
            None => {
                terminate_sandbox(child);
                deadline = Some(std::time::Instant::now() + grace);
                timed_out = true;
            }
            Some(got) if got.signo == libc::SIGCHLD => {
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => {}
                    Ok(status) => {
                        if let Some(end) = End::of(status) {
                            return (end, timed_out);
                        }
                    }
                    Err(_) => {
                        let setup = End {
                            code: crate::error::EXIT_SETUP,
                            signal: None,
                        };
                        return (setup, timed_out);
                    }
                }
            }
            Some(got) => {
                // SAFETY: plain kill(2) to our own child.
                unsafe { libc::kill(child.as_raw(), got.signo) };
            }
        }
    }
}

/// SIGTERM with the timeout mark, so that PID 1 passes it to every process inside instead of
/// only the command (a shell's children would otherwise outlive it until SIGKILL).
fn terminate_sandbox(child: Pid) {
    let value = libc::sigval {
        sival_ptr: TIMEOUT_VALUE as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes the value by copy; no memory is shared.
    let ret = unsafe { libc::sigqueue(child.as_raw(), libc::SIGTERM, value) };
    if ret != 0 {
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(child.as_raw(), libc::SIGTERM) };
    }
}
