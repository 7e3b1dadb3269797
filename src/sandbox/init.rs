//! PID 1 of the sandbox and the launcher's watch over it: reap, forward signals, turn the
//! end of a process into an exit status.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals passed on to the command.
pub const FORWARDED: [Signal; 11] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGCONT,
];

/// Job control acts on a whole job: these go to the command's process group wherever they
/// come from.
fn is_job_control(signo: i32) -> bool {
    matches!(
        signo,
        libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU | libc::SIGCONT
    )
}

fn is_stop(signo: i32) -> bool {
    matches!(signo, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
}

/// The signal that does to the command's job what `signo` asks. The job is an orphaned process
/// group (a session of its own, under an init of another one), for which the kernel discards
/// SIGTSTP, SIGTTIN and SIGTTOU: only SIGSTOP stops it.
fn job_signal(signo: i32) -> i32 {
    if is_stop(signo) {
        libc::SIGSTOP
    } else {
        signo
    }
}

/// How the sandbox sits relative to the launcher's terminal and the command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relay {
    /// The sandbox has a session of its own: the terminal's signals (Ctrl-C, Ctrl-Z, resize)
    /// reach only the launcher, which must pass them on to the command's process group.
    /// Otherwise the terminal signals the sandbox's processes itself, and passing its signals
    /// on would deliver them twice.
    pub own_session: bool,
    /// The launcher's child is the command itself (bwrap's --as-pid-1, the fallback), not an
    /// init that forwards.
    pub child_is_command: bool,
}

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

/// Where a signal taken off the queue came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The launcher: "the time is up, terminate the whole sandbox".
    Timeout,
    /// The launcher: "for the command's whole process group", as a terminal would send it.
    ForGroup,
    /// The kernel, on behalf of a terminal: it went to every process of the terminal's
    /// foreground process group at once.
    Terminal,
    /// A process, with kill(2) or the like.
    Sender,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Received {
    signo: i32,
    origin: Origin,
}

/// The values the launcher attaches (sigqueue) to the signals it passes on. Processes inside
/// could forge them, but only to signal their own sandbox.
const TIMEOUT_VALUE: usize = 0x7374_6f63;
const FOR_GROUP_VALUE: usize = 0x7374_6f67;

fn origin_of(info: &libc::siginfo_t) -> Origin {
    if info.si_code == libc::SI_KERNEL {
        return Origin::Terminal;
    }
    if info.si_code != libc::SI_QUEUE {
        return Origin::Sender;
    }
    // SAFETY: si_value is meaningful for SI_QUEUE, checked above.
    match unsafe { info.si_value() }.sival_ptr as usize {
        TIMEOUT_VALUE => Origin::Timeout,
        FOR_GROUP_VALUE => Origin::ForGroup,
        _ => Origin::Sender,
    }
}

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
            return Some(Received {
                signo: ret,
                origin: origin_of(&info),
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
            continue;
        }
        match got.origin {
            Origin::Timeout if own_pid_namespace => {
                // SAFETY: as above; PID 1 itself is not affected by its own kill(-1).
                unsafe { libc::kill(-1, libc::SIGTERM) };
            }
            // Straight from a terminal this init shares with the command: the command's
            // process group got it at the same time.
            Origin::Terminal => {}
            Origin::ForGroup => signal_job(command, job_signal(got.signo)),
            _ => {
                // SAFETY: plain kill(2) to our own child.
                unsafe { libc::kill(command.as_raw(), got.signo) };
            }
        }
    }
}

/// Sends `signo` to the process group `leader` leads, or to `leader` alone when it leads none
/// (it shares its parent's group, or left its own). No other process group can have that
/// number: the kernel does not reuse a pid while a group of that id exists.
fn signal_job(leader: Pid, signo: i32) {
    // SAFETY: plain kill(2) to a process group.
    if unsafe { libc::kill(-leader.as_raw(), signo) } != 0 {
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(leader.as_raw(), signo) };
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
    relay: Relay,
    timeout: Option<std::time::Duration>,
    grace: std::time::Duration,
) -> i32 {
    let (end, timed_out) = supervise_timed(child, relay, timeout, grace);
    if timed_out {
        crate::error::EXIT_TIMEOUT
    } else {
        end.code
    }
}

/// [`supervise`], telling also whether the deadline passed; the status is then PID 1's own.
pub fn supervise_timed(
    child: Pid,
    relay: Relay,
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
            Some(got) => pass_on(child, relay, got),
        }
    }
}

/// The launcher's part of forwarding: what a terminal sends goes to the command's whole
/// process group, as the terminal would have sent it; what a process sends goes to the
/// command. A stop signal then stops the launcher too, so that the caller's shell sees the job
/// stopped (it resumes the launcher with SIGCONT, which is passed on in turn).
fn pass_on(child: Pid, relay: Relay, got: Received) {
    let whole_job = got.origin == Origin::Terminal || is_job_control(got.signo);
    if got.origin == Origin::Terminal && !relay.own_session {
        // The terminal has signalled the sandbox's processes itself.
    } else if !whole_job {
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(child.as_raw(), got.signo) };
    } else if relay.child_is_command {
        let signo = if relay.own_session {
            job_signal(got.signo)
        } else {
            got.signo
        };
        signal_job(child, signo);
    } else {
        queue_signal(child, got.signo, FOR_GROUP_VALUE);
    }
    if is_stop(got.signo) {
        stop_self(got.signo);
    }
}

/// Stops this process with `signo` as if it had not been blocked, and returns once continued.
/// The kernel discards it when this process group is orphaned, as it would have anyway.
fn stop_self(signo: i32) {
    let mut only = SigSet::empty();
    // The number came from sigwaitinfo on a set of valid signals.
    let Ok(sig) = Signal::try_from(signo) else {
        return;
    };
    only.add(sig);
    // SAFETY: raise takes no pointers. While blocked it only queues the signal; unblocking
    // delivers it, with its default action (nothing in stockade handles it): stop.
    unsafe { libc::raise(signo) };
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_UNBLOCK, Some(&only), None);
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&only), None);
}

/// sigqueue with a mark PID 1 reads; a plain kill(2) if that fails.
fn queue_signal(child: Pid, signo: i32, mark: usize) {
    let value = libc::sigval {
        sival_ptr: mark as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes the value by copy; no memory is shared.
    if unsafe { libc::sigqueue(child.as_raw(), signo, value) } != 0 {
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(child.as_raw(), signo) };
    }
}

/// SIGTERM with the timeout mark, so that PID 1 passes it to every process inside instead of
/// only the command (a shell's children would otherwise outlive it until SIGKILL).
fn terminate_sandbox(child: Pid) {
    queue_signal(child, libc::SIGTERM, TIMEOUT_VALUE);
}
