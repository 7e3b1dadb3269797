//! The other namespaces: created for the child in the same clone() that makes it, so the
//! launcher stays in the host's mount and network namespaces.

use anyhow::{anyhow, Result};

use crate::plan::Namespaces;

/// The clone flags for every namespace the plan asks for, except the user namespace, which
/// the launcher has already entered.
pub fn clone_flags(ns: &Namespaces) -> libc::c_ulong {
    let mut flags = 0;
    for (on, flag) in [
        (ns.mount, libc::CLONE_NEWNS),
        (ns.pid, libc::CLONE_NEWPID),
        (ns.net, libc::CLONE_NEWNET),
        (ns.uts, libc::CLONE_NEWUTS),
        (ns.ipc, libc::CLONE_NEWIPC),
        (ns.cgroup, libc::CLONE_NEWCGROUP),
    ] {
        if on {
            flags |= flag;
        }
    }
    flags as libc::c_ulong
}

/// Forks into the new namespaces. Returns 0 in the child (PID 1 of a new pid namespace) and
/// the child's pid in the parent.
pub fn fork_into(ns: &Namespaces) -> Result<libc::pid_t> {
    let flags = clone_flags(ns) | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a raw clone without CLONE_VM and with no new stack behaves like fork(): the child
    // gets a copy of this single-threaded process. No pointers are passed.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        let err = std::io::Error::last_os_error();
        return Err(anyhow!(
            "cannot create the sandbox's namespaces: {}",
            super::mounts::io_message(&err)
        ));
    }
    Ok(pid as libc::pid_t)
}
