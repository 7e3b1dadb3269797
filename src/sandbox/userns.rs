//! The user namespace: created first, by the launcher itself, with the caller's ids mapped.

use anyhow::{anyhow, bail, Result};

use crate::error::Failure;
use crate::plan::{caller_gid, caller_uid, Plan};

/// Ids that can never be mapped: (uid_t)-1 is "no id" to every syscall that takes one.
pub fn check_ids(plan: &Plan) -> Result<()> {
    for (flag, id) in [("--uid", plan.uid), ("--gid", plan.gid)] {
        if id == Some(u32::MAX) {
            bail!(Failure::setup(format!(
                "{flag} {}: cannot be mapped (reserved id)",
                u32::MAX
            )));
        }
    }
    Ok(())
}

/// unshare(CLONE_NEWUSER), then deny setgroups and map the caller's uid and gid to the ones
/// the plan asks for. Unprivileged callers may map exactly one id each: their own.
pub fn enter(plan: &Plan) -> Result<()> {
    let (uid, gid) = (caller_uid(), caller_gid());
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| anyhow!("cannot create a user namespace: {e}{}", why_no_userns()))?;
    write_proc("setgroups", "deny")?;
    write_proc("uid_map", &format!("{} {uid} 1\n", plan.uid.unwrap_or(uid)))?;
    write_proc("gid_map", &format!("{} {gid} 1\n", plan.gid.unwrap_or(gid)))?;
    Ok(())
}

fn write_proc(name: &str, contents: &str) -> Result<()> {
    let path = format!("/proc/self/{name}");
    std::fs::write(&path, contents).map_err(|e| {
        anyhow!(
            "writing {path} ({}): {}",
            contents.trim(),
            super::mounts::io_message(&e)
        )
    })
}

/// The usual reasons a user namespace is refused, for the error message.
fn why_no_userns() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return " (user.max_user_namespaces is 0)".into();
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return " (kernel.unprivileged_userns_clone is 0)".into();
    }
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return " (AppArmor restricts unprivileged user namespaces: \
kernel.apparmor_restrict_unprivileged_userns is 1)"
            .into();
    }
    " (a seccomp filter or security module may forbid it, as in many containers)".into()
}

/// The launcher's user namespace step: join the caller's (`--userns FD`), create one, or
/// neither (bwrap run by root without --unshare-user). Also joins `--pidns FD`, so the
/// sandbox's first process is created inside it.
pub fn setup(plan: &Plan) -> Result<()> {
    if let Some(fd) = plan.userns.join_fd {
        join(fd, plan)?;
    } else if plan.namespaces.user && plan.process.userns_block_fd.is_some() {
        // The caller maps the ids once it has the child's pid (bwrap --userns-block-fd).
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| anyhow!("cannot create a user namespace: {e}{}", why_no_userns()))?;
    } else if plan.namespaces.user {
        enter(plan)?;
    }
    if let Some(fd) = plan.userns.pidns_fd {
        if plan.namespaces.pid {
            bail!(Failure::setup(
                "--pidns together with --unshare-pid is not supported by stockade"
            ));
        }
        set_ns(fd, libc::CLONE_NEWPID).map_err(|e| anyhow!("Setting pidns failed: {e}"))?;
    }
    Ok(())
}

fn set_ns(fd: i32, kind: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setns takes no pointers; a bad fd is reported as an error.
    if unsafe { libc::setns(fd, kind) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `--userns FD`: enter an existing user namespace, then take the uid and gid asked for (the
/// namespace's maps decide which exist).
fn join(fd: i32, plan: &Plan) -> Result<()> {
    set_ns(fd, libc::CLONE_NEWUSER).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            anyhow!(
                "Joining the specified user namespace failed, it might not be a descendant of \
the current user namespace."
            )
        } else {
            anyhow!("Joining specified user namespace failed: {e}")
        }
    })?;
    if let Some(gid) = plan.gid.filter(|g| *g != caller_gid()) {
        nix::unistd::setgid(gid.into())
            .map_err(|e| anyhow!("unable to switch to gid {gid}: {e}"))?;
    }
    if let Some(uid) = plan.uid.filter(|u| *u != caller_uid()) {
        nix::unistd::setuid(uid.into())
            .map_err(|e| anyhow!("unable to switch to uid {uid}: {e}"))?;
    }
    Ok(())
}

/// `--disable-userns` needs /proc/sys/user/max_user_namespaces of the sandbox's user
/// namespace, opened while the host's /proc is still visible.
/// The sandbox may have no /proc of its own, so this process's /proc directory is opened too:
/// through /proc/self, because that /proc belongs to the caller's pid namespace, where this
/// process's number is not getpid()'s once it is PID 1 of a new one (/proc/1 there is the
/// caller's init, whose uid_map is not ours to write).
pub struct NestPrep {
    limit: std::fs::File,
    proc_self: std::os::fd::OwnedFd,
}

pub fn open_userns_limit(plan: &Plan) -> Result<Option<NestPrep>> {
    if !plan.userns.disable_nested {
        return Ok(None);
    }
    let limit = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/user/max_user_namespaces")
        .map_err(|e| anyhow!("cannot open /proc/sys/user/max_user_namespaces: {e}"))?;
    let proc_self = std::fs::File::open("/proc/self")
        .map_err(|e| anyhow!("cannot open /proc/self: {e}"))?
        .into();
    Ok(Some(NestPrep { limit, proc_self }))
}

/// Writes /proc/PID/NAME through the directory opened before pivot_root.
fn write_at(dir: &std::os::fd::OwnedFd, name: &std::ffi::CStr, contents: &str) -> Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: `name` is a valid C string; the result is checked.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        bail!("opening {name:?}: {e}");
    }
    // SAFETY: just opened and owned by nobody else.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    use std::io::Write;
    file.write_all(contents.as_bytes())
        .map_err(|e| anyhow!("writing {name:?} ({}): {e}", contents.trim()))
}

/// After setup: with `--disable-userns`, allow exactly one more user namespace and enter it,
/// so the command can neither create another nor raise the limit (it belongs to the parent);
/// then check (`--assert-userns-disabled` too) that creating one fails. `--userns2` switches
/// namespaces here as well.
pub fn finish(plan: &Plan, nest: Option<NestPrep>) -> Result<()> {
    if let Some(fd) = plan.userns.join_after_setup_fd {
        set_ns(fd, libc::CLONE_NEWUSER).map_err(|e| anyhow!("Setting userns2 failed: {e}"))?;
    }
    if let Some(NestPrep {
        mut limit,
        proc_self,
    }) = nest
    {
        use std::io::Write;
        limit
            .write_all(b"1")
            .map_err(|e| anyhow!("sysctl user.max_user_namespaces = 1: {e}"))?;
        let (uid, gid) = (caller_uid(), caller_gid());
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(|e| anyhow!("unshare user ns: {e}"))?;
        // setgroups is inherited as "deny"; writing it again is harmless where allowed.
        let _ = write_at(&proc_self, c"setgroups", "deny");
        write_at(&proc_self, c"uid_map", &format!("{uid} {uid} 1\n"))?;
        write_at(&proc_self, c"gid_map", &format!("{gid} {gid} 1\n"))?;
    }
    if plan.userns.disable_nested || plan.userns.assert_nested_disabled {
        // A success here leaves this process in a new namespace, but setup fails anyway.
        if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok() {
            bail!("creation of new user namespaces was not disabled as requested");
        }
    }
    Ok(())
}
