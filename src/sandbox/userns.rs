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
