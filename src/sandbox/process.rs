//! The process stage: which descriptors the command gets, its session, its environment,
//! and the exec itself.

use std::convert::Infallible;
use std::ffi::{CStr, CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::plan::{EnvOp, Plan};

/// Closes every descriptor except 0, 1, 2 and `keep` (which must be sorted), with as few
/// close_range calls as there are gaps. This includes what the caller leaked to us: an
/// inherited directory fd would otherwise be a way back to the host tree.
pub fn close_all_except(keep: &[i32]) -> Result<()> {
    let mut next: u32 = 3;
    for &fd in keep.iter().filter(|&&fd| fd >= 3) {
        let fd = fd as u32;
        if fd > next {
            close_range(next, fd - 1)?;
        }
        next = next.max(fd + 1);
    }
    close_range(next, u32::MAX)
}

fn close_range(first: u32, last: u32) -> Result<()> {
    // SAFETY: close_range takes no pointers; closing descriptors we do not use is the point.
    if unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("close_range");
    }
    Ok(())
}

/// Closes the descriptors this process inherited from its caller, except 0, 1, 2 and `keep`.
/// They are told from stockade's own by close-on-exec: the kernel closed every inherited one
/// that had it when stockade was executed, and stockade opens all of its own with it. Once the
/// sandbox has its copies, a copy kept here would hold a pipe open after the command closed
/// its end, and the reader would wait for the whole sandbox to end.
pub fn close_inherited_except(keep: &[i32]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collected first: closing while listing would close the listing's own descriptor.
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd <= 2 || keep.contains(&fd) {
            continue;
        }
        // SAFETY: F_GETFD only reads the descriptor table; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: a descriptor the caller handed down, which this process does not use.
            unsafe { libc::close(fd) };
        }
    }
}

/// Makes the kept descriptors survive exec.
pub fn clear_cloexec(fds: &[i32]) -> Result<()> {
    for &fd in fds {
        // SAFETY: fcntl on a descriptor number; no memory is passed.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("fd {fd}"));
        }
    }
    Ok(())
}

/// A new session with no controlling terminal: TIOCSTI needs the terminal to be the
/// caller's controlling one, so this alone stops input injection into the caller's shell.
pub fn new_session() -> Result<()> {
    nix::unistd::setsid().context("setsid")?;
    Ok(())
}

/// Whether a job-control shell could continue this process's group if it stopped: a member's
/// parent is in the same session but another group (POSIX: the group is not orphaned). The
/// kernel discards the stop signals a job raises itself only in an orphaned group, so this
/// tells whether the command, run here outside a sandbox, could stop itself. The member asked
/// is this process when its parent is outside the group (started by a shell as a job), else
/// the group's leader, whose parent made the group: a job-control shell, or whatever started
/// the script stockade runs in. A group kept from being orphaned only by another member, or
/// whose leader has gone, counts as orphaned, which costs the command only its own stops, as
/// before. Two or three system calls and at most one read of /proc, on every launch.
pub fn group_can_be_resumed() -> bool {
    let group = nix::unistd::getpgrp();
    let Ok(session) = nix::unistd::getsid(None) else {
        return false;
    };
    let mut parent = nix::unistd::getppid();
    // 0: a parent outside this pid namespace, whose session cannot be this one (and getpgid
    // would take 0 for this process).
    if parent.as_raw() <= 0 {
        return false;
    }
    if nix::unistd::getpgid(Some(parent)) == Ok(group) {
        match parent_of(group) {
            Some(leaders) => parent = leaders,
            None => return false,
        }
    }
    nix::unistd::getpgid(Some(parent)).is_ok_and(|g| g != group)
        && nix::unistd::getsid(Some(parent)) == Ok(session)
}

/// The parent of another process, from /proc (there is no system call for it).
fn parent_of(pid: nix::unistd::Pid) -> Option<nix::unistd::Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": the name may hold spaces and parentheses, not the rest.
    let (_, rest) = stat.rsplit_once(") ")?;
    let ppid: i32 = rest.split(' ').nth(1)?.parse().ok()?;
    (ppid > 0).then(|| nix::unistd::Pid::from_raw(ppid))
}

/// Gives the sandbox a new, empty, anonymous session keyring. The caller's session keyring
/// would otherwise be inherited, and a possessor may read every key in it (Kerberos tickets,
/// ecryptfs and other secrets that pam_keyinit, kinit or the desktop keep there). Best effort:
/// a kernel without keys, or a host seccomp filter that denies keyctl, leaves nothing to hide
/// and must not stop the launch.
pub fn new_session_keyring() {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a NULL name asks for a new anonymous keyring; no other memory is passed.
    unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
}

/// The command's environment: the caller's (or none), with the plan's changes in order.
pub fn environment(plan: &Plan) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = if plan.env.clear {
        Vec::new()
    } else {
        std::env::vars_os().collect()
    };
    for op in &plan.env.ops {
        match op {
            EnvOp::Set(k, v) => {
                env.retain(|(name, _)| name != k);
                env.push((k.clone(), v.clone()));
            }
            EnvOp::Unset(k) => env.retain(|(name, _)| name != k),
            EnvOp::UnsetMatching(pattern) => {
                env.retain(|(name, _)| !crate::plan::name_matches(pattern, name.as_bytes()))
            }
        }
    }
    env
}

/// Everything exec needs, as C strings, made before fork so the child only calls execve.
#[derive(Clone)]
pub struct ExecSpec {
    pub candidates: Vec<CString>,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub display_name: String,
}

pub fn exec_spec(plan: &Plan) -> Result<ExecSpec> {
    let program = plan
        .argv
        .first()
        .ok_or_else(|| anyhow!("missing command"))?;
    if program.is_empty() {
        bail!(crate::error::Failure::setup(
            "the command is an empty string: name a program to run"
        ));
    }
    let env = environment(plan);
    let to_c =
        |bytes: Vec<u8>| CString::new(bytes).map_err(|_| anyhow!("argument contains a NUL byte"));
    let mut argv = Vec::with_capacity(plan.argv.len());
    for (i, arg) in plan.argv.iter().enumerate() {
        let arg = match (&plan.argv0, i) {
            (Some(argv0), 0) => argv0,
            _ => arg,
        };
        argv.push(to_c(arg.as_bytes().to_vec())?);
    }
    let mut envp = Vec::with_capacity(env.len());
    for (k, v) in &env {
        let mut kv = k.clone().into_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        envp.push(to_c(kv)?);
    }
    // PATH is searched as the command's environment has it, inside the sandbox.
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let candidates = if program.as_bytes().contains(&b'/') {
        vec![to_c(program.as_bytes().to_vec())?]
    } else {
        let mut list = Vec::new();
        for dir in path.as_bytes().split(|&b| b == b':') {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            let full = Path::new(std::ffi::OsStr::from_bytes(dir)).join(program);
            list.push(to_c(full.into_os_string().into_vec())?);
        }
        list
    };
    Ok(ExecSpec {
        candidates,
        argv,
        envp,
        display_name: crate::error::printable(&program.to_string_lossy()),
    })
}

/// A spec's argument and environment arrays, made before the seccomp filter is installed:
/// after it, the exec must need no memory, which a filter may refuse.
pub struct ExecArgs<'a> {
    spec: &'a ExecSpec,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl<'a> ExecArgs<'a> {
    pub fn new(spec: &'a ExecSpec) -> Self {
        let null_terminated = |list: &[CString]| {
            let mut ptrs: Vec<*const libc::c_char> = list.iter().map(|s| s.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            ptrs
        };
        ExecArgs {
            spec,
            argv: null_terminated(&spec.argv),
            envp: null_terminated(&spec.envp),
        }
    }

    /// execve each candidate in turn. Returns only on failure, with the errno that best
    /// describes it: EACCES (or another error) from a candidate that exists beats ENOENT, as
    /// execvp does.
    pub fn exec(&self) -> i32 {
        let mut best = libc::ENOENT;
        for candidate in &self.spec.candidates {
            // SAFETY: argv and envp are NULL-terminated arrays of pointers into the spec's
            // CStrings, which outlive the call.
            unsafe { libc::execve(candidate.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOENT);
            if errno != libc::ENOENT && errno != libc::ENOTDIR {
                best = errno;
            }
        }
        best
    }
}

/// What a failed exec's report ends with when the command was named by a path that the
/// sandbox does not have; the launcher, which sees the host, turns it into advice.
pub const NOT_IN_SANDBOX: &str = " (not in the sandbox)";

impl ExecArgs<'_> {
    /// Whether the command was named by a path (not looked up in PATH) and nothing is at that
    /// path in the sandbox, so that its ENOENT means "absent" rather than, for a script, "its
    /// interpreter is absent".
    pub fn named_path_is_absent(&self) -> bool {
        let [path] = self.spec.candidates.as_slice() else {
            return false;
        };
        if !path.as_bytes().contains(&b'/') {
            return false;
        }
        // SAFETY: access(2) on a NUL-terminated string the spec owns.
        let missing = unsafe { libc::access(path.as_ptr(), libc::F_OK) } != 0;
        // EACCES on a directory on the way, say, is not "absent".
        missing && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT)
    }
}

/// The status for a command that could not be executed: 127 when it was not found, else 126.
pub fn exec_failure_status(errno: i32) -> i32 {
    if errno == libc::ENOENT {
        crate::error::EXIT_NOT_FOUND
    } else {
        crate::error::EXIT_CANNOT_EXEC
    }
}

/// Writes `before`, errno's text and `after` in one write(2) to `fd`, then ends the process
/// with `status`: for a failed exec under a seccomp filter, which may refuse anything else
/// (allocating, duplicating the descriptor), so this allocates nothing and cannot panic.
pub fn write_errno_and_exit(
    fd: RawFd,
    before: &[&[u8]],
    errno: i32,
    after: &[u8],
    status: i32,
) -> ! {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        let n = bytes.len().min(buf.len() - len);
        buf[len..len + n].copy_from_slice(&bytes[..n]);
        len += n;
    };
    for part in before {
        push(part);
    }
    let mut raw = [0u8; 256];
    // SAFETY: strerror_r (the XSI form in libc) writes at most raw.len() bytes, NUL included.
    let text = match unsafe { libc::strerror_r(errno, raw.as_mut_ptr().cast(), raw.len()) } {
        0 => CStr::from_bytes_until_nul(&raw).map_or(&b"error"[..], CStr::to_bytes),
        _ => b"error",
    };
    push(text);
    push(after);
    // SAFETY: write(2) of a local buffer, then _exit, which runs no handlers a forked or
    // cloned child must not run.
    unsafe {
        libc::write(fd, buf.as_ptr().cast(), len);
        libc::_exit(status)
    }
}

/// Whether the spec has a `PWD` that does not name the working directory as it is inside the
/// sandbox (the check shells make before trusting it): a directory the command is not in, or
/// one that is not there at all (after `--chdir`, or when the caller's directory is absent
/// inside), where make's `$(PWD)` would build. A `PWD` that names it is the caller's to keep,
/// links and all.
pub fn pwd_is_stale(spec: &ExecSpec) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(pwd) = spec
        .envp
        .iter()
        .find_map(|e| e.as_bytes().strip_prefix(b"PWD="))
    else {
        return false;
    };
    let pwd = Path::new(std::ffi::OsStr::from_bytes(pwd));
    match (std::fs::metadata(pwd), std::fs::metadata(".")) {
        (Ok(a), Ok(b)) => !pwd.is_absolute() || a.dev() != b.dev() || a.ino() != b.ino(),
        _ => true,
    }
}

/// The spec with `PWD` set to `pwd` (bwrap sets it to the directory it entered), or unchanged.
pub fn with_pwd(spec: &ExecSpec, pwd: Option<&Path>) -> ExecSpec {
    let mut spec = spec.clone();
    if let Some(pwd) = pwd {
        spec.envp.retain(|e| !e.as_bytes().starts_with(b"PWD="));
        let mut kv = b"PWD=".to_vec();
        kv.extend_from_slice(pwd.as_os_str().as_bytes());
        if let Ok(c) = CString::new(kv) {
            spec.envp.push(c);
        }
    }
    spec
}

/// Whether `fd` is an open descriptor of this process.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor table; no memory is passed.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Reads a descriptor the caller handed over (bwrap's `--args`, `--file`, `--bind-data`) to its
/// end, and closes it, as bubblewrap does.
pub fn consume_fd(fd: i32) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    if !fd_is_open(fd) {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open, and the caller handed it over to be consumed: the File
    // becomes its only owner and closes it when dropped.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// Starts a child that runs `child` in this process's memory, on a stack of its own, while
/// this process waits until the child has called execve or exited (clone with CLONE_VM and
/// CLONE_VFORK, as posix_spawn does). Returns the child's pid.
///
/// Why not fork: a fork copies the page tables, and then each page either side writes takes
/// a copy-on-write fault; for PID 1 starting the command that was about 150 µs of a launch
/// (11 faults and the copy) on the benchmark machine.
///
/// `child` runs as a task of its own (own descriptors, credentials, signal mask, rlimits,
/// seccomp and Landlock state), so what it sets up for the command stays in the command; only
/// memory is shared, and this process touches none while it is suspended. The caller must be
/// single-threaded and have no signal handlers (PID 1 has neither), and `child` must end in
/// execve or _exit.
pub fn spawn_sharing_memory(child: &mut dyn FnMut() -> Infallible) -> Result<libc::pid_t> {
    // Room for exec_command's deepest path (Landlock, error messages), and a guard page below
    // it so that an overflow faults instead of writing into this process's memory.
    const STACK: usize = 256 * 1024;
    const GUARD: usize = 4096;
    // SAFETY: an anonymous private mapping at an address the kernel chooses; checked below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            GUARD + STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error()).context("mapping the command's start stack");
    }
    let unmap = || {
        // SAFETY: the mapping made above, which nothing uses any more (the child has exec'd
        // or exited once clone returns, or was never started).
        unsafe { libc::munmap(base, GUARD + STACK) };
    };
    // SAFETY: the lowest page of the mapping made above.
    if unsafe { libc::mprotect(base, GUARD, libc::PROT_NONE) } != 0 {
        let err = std::io::Error::last_os_error();
        unmap();
        return Err(err).context("guarding the command's start stack");
    }
    let mut child: &mut dyn FnMut() -> Infallible = child;
    // SAFETY: the stack top is inside the mapping (clone aligns it); `child` and the fat
    // pointer to it live in this frame, which stays put while this process is suspended
    // (CLONE_VFORK); the child never returns into this frame's code.
    let pid = unsafe {
        libc::clone(
            run_child,
            base.cast::<u8>().add(GUARD + STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut child as *mut &mut dyn FnMut() -> Infallible).cast(),
        )
    };
    let err = std::io::Error::last_os_error();
    unmap();
    if pid < 0 {
        return Err(err).context("starting the command");
    }
    Ok(pid)
}

// The match on the child's uninhabited result states that it never returns; newer compilers
// see that by themselves and call the match unreachable.
#[allow(unreachable_code)]
extern "C" fn run_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the pointer spawn_sharing_memory passed to clone, to a fat pointer that
    // outlives this child's use of it (the parent is suspended until exec or exit).
    let child = unsafe { &mut *arg.cast::<&mut dyn FnMut() -> Infallible>() };
    match child() {}
}
