//! PID 1 of the sandbox and the launcher's watch over it: reap, forward signals, turn the
//! end of a process into an exit status.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

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

/// The signal that does to the command's job what `signo` asks. An orphaned process group (a
/// session of its own, under an init of another one, when the caller has no job control) has
/// SIGTSTP, SIGTTIN and SIGTTOU discarded by the kernel: SIGSTOP stops it instead. Any other
/// job gets the signal itself, so that a program that handles Ctrl-Z (an editor, a pager,
/// anything that changed the terminal's modes) sets the terminal back before it stops, as it
/// would outside the sandbox, or keeps running if it ignores it.
fn job_signal(signo: i32, orphaned: bool) -> i32 {
    if is_stop(signo) && orphaned {
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
    /// Where the sandbox's init reports the command's stops (the launcher's end of
    /// [`stop_pipe`]); none when the child is the command, whose stops wait(2) shows.
    pub stops: Option<RawFd>,
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
    /// The launcher's own timer, which wakes it at the deadline while the job is stopped.
    Alarm,
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
    if info.si_code == libc::SI_TIMER {
        return Origin::Alarm;
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

/// A change of the command's job that the launcher follows: the caller's shell must see its
/// job stop when the command stops, by itself or by Ctrl-Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobChange {
    /// Stopped by this signal.
    Stopped(i32),
    Continued,
}

impl JobChange {
    fn of(status: WaitStatus) -> Option<JobChange> {
        match status {
            WaitStatus::Stopped(_, sig) => Some(JobChange::Stopped(sig as i32)),
            WaitStatus::Continued(_) => Some(JobChange::Continued),
            _ => None,
        }
    }

    /// One byte on the pipe: the stop signal, or 0 for continued (no signal is numbered 0).
    fn to_byte(self) -> u8 {
        match self {
            JobChange::Stopped(signo) => signo as u8,
            JobChange::Continued => 0,
        }
    }

    fn from_byte(byte: u8) -> JobChange {
        match byte {
            0 => JobChange::Continued,
            signo => JobChange::Stopped(signo.into()),
        }
    }
}

/// fcntl's command for the signal O_ASYNC raises (asm-generic/fcntl.h), which the libc crate
/// defines only for some C libraries.
const F_SETSIG: libc::c_int = 10;

/// The pipe on which the sandbox's init reports the command's stops to the launcher: (read
/// end, write end). The launcher waits for signals, not descriptors, so its end raises SIGCHLD
/// when there is something to read (O_ASYNC): a change of the command comes in as a change of
/// its child would. Both ends are non-blocking: init must never wait on a stopped launcher, and
/// the launcher reads only what is there.
pub fn stop_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let flags = nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK;
    let (read, write) = nix::unistd::pipe2(flags).context("creating the stop pipe")?;
    let fd = read.as_raw_fd();
    // SAFETY: fcntl on a descriptor this process owns, with integer arguments only. The owner
    // and signal are set before O_ASYNC turns the notification on.
    let set = unsafe {
        libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) == 0
            && libc::fcntl(fd, F_SETSIG, libc::SIGCHLD) == 0
            && libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK | libc::O_ASYNC) == 0
    };
    if !set {
        return Err(std::io::Error::last_os_error()).context("arming the stop pipe");
    }
    Ok((read, write))
}

/// Init's side: one byte, dropped if the pipe is full (the launcher is stopped and has not read
/// the last 64 KiB of changes; the latest state is what it needs, and more will come).
fn report(stops: Option<RawFd>, change: JobChange) {
    if let Some(fd) = stops {
        let byte = [change.to_byte()];
        // SAFETY: write(2) of a one-byte local buffer to a descriptor init owns.
        unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
    }
}

/// The launcher's side: the latest change among those waiting on the pipe, if any.
fn latest_report(fd: RawFd) -> Option<JobChange> {
    let mut latest = None;
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: read(2) into a local buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return latest;
        }
        latest = Some(JobChange::from_byte(buf[n as usize - 1]));
    }
}

/// PID 1's loop: reap every child, forward signals to the command, report its stops and
/// continues on `stops`, and when the command ends, kill whatever it left behind and return
/// how it ended. `own_pid_namespace` is false for bwrap's reaper outside a new pid namespace
/// (kept for --lock-file/--sync-fd): kill(-1) would then reach every process of the user, so
/// leftovers are left alone, as bubblewrap does. The launcher's timeout SIGTERM goes to every
/// process of the sandbox, not only the command.
pub fn reap_until_end(command: Pid, own_pid_namespace: bool, stops: Option<RawFd>) -> End {
    let set = watched();
    loop {
        let Some(got) = next_signal(&set, None) else {
            continue;
        };
        if got.signo == libc::SIGCHLD {
            let (end, change) = reap_children(command);
            if let Some(end) = end {
                if own_pid_namespace {
                    // SAFETY: kill(-1) from PID 1 reaches every other process in this pid
                    // namespace and nothing outside it.
                    unsafe { libc::kill(-1, libc::SIGKILL) };
                }
                return end;
            }
            if let Some(change) = change {
                report(stops, change);
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
            Origin::ForGroup => signal_job(command, job_signal(got.signo, orphaned(command))),
            _ => {
                // SAFETY: plain kill(2) to our own child.
                unsafe { libc::kill(command.as_raw(), got.signo) };
            }
        }
    }
}

/// Whether the command `leader`'s process group is orphaned, as far as init can tell: it is not
/// when the command is in init's session but in another group, since init is its parent. A
/// command leading its own session, or sharing init's group (bwrap's layout, where init's
/// parent is outside the session), is in an orphaned one.
fn orphaned(leader: Pid) -> bool {
    use nix::unistd::{getpgid, getsid};
    let in_session = getsid(Some(leader)).is_ok_and(|s| getsid(None) == Ok(s));
    let own_group = getpgid(Some(leader)).is_ok_and(|g| g != nix::unistd::getpgrp());
    !(in_session && own_group)
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

/// Reaps every child that has ended; returns the command's end once it is among them, and
/// the last stop or continue of the command seen on the way.
fn reap_children(command: Pid) -> (Option<End>, Option<JobChange>) {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
    let (mut end, mut change) = (None, None);
    loop {
        match waitpid(None, Some(flags)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return (end, change),
            Ok(status) if status.pid() == Some(command) => {
                end = end.or(End::of(status));
                change = JobChange::of(status).or(change);
            }
            Ok(_) => {}
        }
    }
}

/// What the launcher does after setup: forward signals to the sandbox's PID 1, stop while the
/// command's job is stopped, and return the status it ends with. With a timeout, SIGTERM goes
/// to the sandbox at the deadline (a stopped launcher wakes for it) and SIGKILL after the
/// grace period; the status is then 124.
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
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut timed_out = false;
    // The stop signal passed on last (Ctrl-Z), which the launcher stops with once the job has.
    let mut asked: Option<i32> = None;
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
                deadline = Some(Instant::now() + grace);
                timed_out = true;
            }
            Some(got) if got.signo == libc::SIGCHLD => {
                let (end, change) = watch_child(child, relay);
                if let Some(end) = end {
                    return (end, timed_out);
                }
                if let Some(JobChange::Stopped(signo)) = change {
                    follow_stop(child, relay, signo, asked.take(), deadline);
                }
            }
            // The deadline has come (or is about to) while the job was stopped: the sandbox is
            // terminated as it would have been had it not stopped. The job stays stopped.
            Some(got) if got.origin == Origin::Alarm => {}
            Some(got) => {
                if is_stop(got.signo) {
                    asked = Some(got.signo);
                } else if got.signo == libc::SIGCONT {
                    asked = None;
                }
                pass_on(child, relay, got);
            }
        }
    }
}

/// What became of the launcher's child, and the latest stop or continue of the command: from
/// wait(2) when the child is the command, else from init's reports.
fn watch_child(child: Pid, relay: Relay) -> (Option<End>, Option<JobChange>) {
    let mut flags = WaitPidFlag::WNOHANG;
    if relay.child_is_command {
        flags |= WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
    }
    let mut change = None;
    // Until nothing is left to report: a stop and an exit may come with one SIGCHLD.
    loop {
        match waitpid(child, Some(flags)) {
            Ok(WaitStatus::StillAlive) => break,
            Ok(status) => {
                if let Some(end) = End::of(status) {
                    return (Some(end), None);
                }
                change = JobChange::of(status).or(change);
            }
            Err(_) => {
                let setup = End {
                    code: crate::error::EXIT_SETUP,
                    signal: None,
                };
                return (Some(setup), None);
            }
        }
    }
    (None, relay.stops.and_then(latest_report).or(change))
}

/// The launcher's part of forwarding: what a terminal sends goes to the command's whole
/// process group, as the terminal would have sent it; what a process sends goes to the
/// command. A stop signal stops the launcher too, once the job has stopped (see
/// [`follow_stop`]).
fn pass_on(child: Pid, relay: Relay, got: Received) {
    let whole_job = got.origin == Origin::Terminal || is_job_control(got.signo);
    if got.origin == Origin::Terminal && !relay.own_session {
        // The terminal has signalled the sandbox's processes itself.
    } else if !whole_job {
        // SAFETY: plain kill(2) to our own child.
        unsafe { libc::kill(child.as_raw(), got.signo) };
    } else if relay.child_is_command {
        // A command that leads its own session leads an orphaned group.
        let signo = if relay.own_session {
            job_signal(got.signo, true)
        } else {
            got.signo
        };
        signal_job(child, signo);
    } else {
        queue_signal(child, got.signo, FOR_GROUP_VALUE);
    }
}

/// The command's job has stopped: the launcher stops too, so that the caller's shell sees its
/// job stopped and gets its prompt back; `fg` or `bg` continue the launcher, which passes the
/// SIGCONT on. It stops with the signal it passed on (Ctrl-Z: SIGTSTP), or the one the job
/// stopped itself with, SIGSTOP taken as SIGTSTP: the kernel discards SIGTSTP, SIGTTIN and
/// SIGTTOU in an orphaned process group, where no job-control shell could continue the
/// launcher, and a launcher stopped there would never pass on SIGTERM or reap the sandbox.
/// There the job stays as it would outside a sandbox: stopped by SIGSTOP, going on after the
/// others (which the kernel would have discarded).
fn follow_stop(
    child: Pid,
    relay: Relay,
    stopped_by: i32,
    asked: Option<i32>,
    deadline: Option<Instant>,
) {
    let own = is_stop(stopped_by).then_some(stopped_by);
    let signo = asked.or(own).unwrap_or(libc::SIGTSTP);
    if !stop_self(signo, deadline) && (asked.is_some() || own.is_some()) {
        let resume = Received {
            signo: libc::SIGCONT,
            origin: Origin::Sender,
        };
        pass_on(child, relay, resume);
    }
}

/// Stops this process with `signo` as if it had not been blocked, and returns once continued:
/// true then, false when the kernel discarded the signal (an orphaned process group). With a
/// deadline, a timer continues it then, so that a timeout holds while the job is stopped.
fn stop_self(signo: i32, wake_at: Option<Instant>) -> bool {
    let mut only = SigSet::empty();
    // The number came from sigwaitinfo on a set of valid signals, or from wait(2).
    let Ok(sig) = Signal::try_from(signo) else {
        return false;
    };
    only.add(sig);
    let _alarm = wake_at.and_then(Alarm::at);
    // SAFETY: raise takes no pointers. While blocked it only queues the signal (and takes any
    // pending SIGCONT off the queue); unblocking delivers it, with its default action (nothing
    // in stockade handles it): stop.
    unsafe { libc::raise(signo) };
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_UNBLOCK, Some(&only), None);
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&only), None);
    // Only a SIGCONT continues a stopped process, and blocked it stays pending, to be passed
    // on next; none pending means the stop never happened.
    sigcont_pending()
}

fn sigcont_pending() -> bool {
    // SAFETY: an all-zero sigset_t is a valid buffer for sigpending to fill.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `pending` is valid for both calls.
    unsafe {
        libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, libc::SIGCONT) == 1
    }
}

/// A one-shot timer that sends this process SIGCONT, deleted when dropped.
struct Alarm(libc::timer_t);

impl Alarm {
    fn at(when: Instant) -> Option<Alarm> {
        // SAFETY: an all-zero sigevent is valid; the fields that matter are set below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_SIGNAL;
        event.sigev_signo = libc::SIGCONT;
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` and `timer` are valid for the call.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
            return None;
        }
        let alarm = Alarm(timer);
        // At least 1 ns: a zero time would disarm the timer instead of firing at once.
        let left = when
            .saturating_duration_since(Instant::now())
            .max(std::time::Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a timer this process created, and a valid itimerspec.
        let armed = unsafe { libc::timer_settime(alarm.0, 0, &spec, std::ptr::null_mut()) } == 0;
        armed.then_some(alarm)
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        // SAFETY: a timer this process created and deletes once.
        unsafe { libc::timer_delete(self.0) };
    }
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
