//! Descriptors and files the caller uses to coordinate with the sandbox (bwrap `--block-fd`,
//! `--sync-fd`, `--lock-file`, and the status fds the sandbox itself must not keep).

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use anyhow::{anyhow, Result};

use crate::plan::Plan;

fn close_fd(fd: i32) {
    // SAFETY: the descriptor was handed over for this purpose and is not used after.
    unsafe { libc::close(fd) };
}

/// The status fds belong to the launcher: the sandbox closes its copies.
pub fn close_status_fds(plan: &Plan) {
    let p = &plan.process;
    for fd in [p.info_fd, p.json_status_fd, p.userns_block_fd]
        .into_iter()
        .flatten()
    {
        close_fd(fd);
    }
}

/// `--block-fd`: wait until the caller writes a byte (or closes its end), then close it.
pub fn wait_block_fd(plan: &Plan) {
    if let Some(fd) = plan.process.block_fd {
        wait_readable(fd);
        close_fd(fd);
    }
}

/// Reads one byte, retrying on EINTR; EOF and errors end the wait too, as in bubblewrap.
pub fn wait_readable(fd: i32) {
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: one-byte buffer, valid for the call.
        let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// `--lock-file`: read locks on paths inside the sandbox, held by its init for its lifetime.
pub fn take_locks(plan: &Plan) -> Result<Vec<OwnedFd>> {
    let mut held = Vec::new();
    for path in &plan.process.lock_files {
        let c = CString::new(path.as_os_str().as_bytes())?;
        // O_NOCTTY: init leads a session without a terminal (--new-session), and opening a
        // terminal would make it that session's controlling one, the command's too.
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: `c` outlives the call.
        let fd = unsafe { libc::open(c.as_ptr(), flags) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(anyhow!(
                "Unable to open lock file {}: {}",
                path.display(),
                super::mounts::io_message(&e)
            ));
        }
        // SAFETY: just opened, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero flock is valid; the fields that matter are set below.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_RDLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: `lock` is a valid flock for F_SETLK.
        if unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::F_SETLK, &lock) } < 0 {
            let e = std::io::Error::last_os_error();
            return Err(anyhow!(
                "Unable to lock file {}: {}",
                path.display(),
                super::mounts::io_message(&e)
            ));
        }
        held.push(fd);
    }
    Ok(held)
}

/// `--sync-fd` stays open in the sandbox's init only: the command does not get it (unless it
/// is PID 1 itself), so the fd closes when the sandbox ends, not when the command closes it.
pub fn close_sync_fd_for_command(plan: &Plan) {
    if let (Some(fd), false) = (plan.process.sync_fd, plan.process.as_pid_1) {
        close_fd(fd);
    }
}

/// Where the sandbox's first process waits, before any setup, while the launcher reports it
/// to the caller. The status fds name its namespaces by /proc/PID/ns/*, which vanish when it
/// exits: a command that ends at once would take them with it before the launcher reads them
/// (bubblewrap too holds its child until the info is written). With `--userns-block-fd` the
/// caller also writes the sandbox's id maps itself, after reading the child's pid from
/// --info-fd, and the gate opens only after its go-ahead on the block fd.
pub struct Gate {
    wait: Option<OwnedFd>,
    open: Option<OwnedFd>,
}

impl Gate {
    /// A closed gate when the plan reports status or has a userns block fd, else a gate that
    /// never waits (and costs nothing).
    pub fn new(plan: &Plan) -> Result<Gate> {
        let p = &plan.process;
        if p.userns_block_fd.is_none() && p.info_fd.is_none() && p.json_status_fd.is_none() {
            return Ok(Gate {
                wait: None,
                open: None,
            });
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| anyhow!("creating the userns gate: {e}"))?;
        Ok(Gate {
            wait: Some(r),
            open: Some(w),
        })
    }

    /// In the sandbox: blocks until the launcher opens the gate (or exits).
    pub fn wait(&self) {
        if let Some(fd) = &self.open {
            // Our copy of the write end would keep the pipe from ever reaching EOF.
            // SAFETY: closing a descriptor this process owns and never uses again.
            unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(fd)) };
        }
        if let Some(fd) = &self.wait {
            wait_readable(std::os::fd::AsRawFd::as_raw_fd(fd));
        }
    }

    /// In the launcher, once the status is written: waits for the caller's byte on the block
    /// fd when there is one, then lets the sandbox go.
    pub fn open_after_caller(self, plan: &Plan) {
        let Gate { wait, open } = self;
        drop(wait);
        if let (Some(fd), Some(_)) = (plan.process.userns_block_fd, &open) {
            wait_readable(fd);
            close_fd(fd);
        }
        drop(open);
    }
}
