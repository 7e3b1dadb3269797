//! `--fallback landlock`: when no user namespace can be created (many CI containers, Ubuntu's
//! AppArmor restriction), run the command without namespaces, confined by Landlock rules
//! derived from the plan's binds, no_new_privs, seccomp and rlimits. What is missing is said
//! on stderr: there is no private /tmp or other tmpfs, no pid namespace, and no network
//! namespace (Landlock ABI 4+ can still forbid TCP; UDP and unix sockets stay open).

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;

use super::{caps, init, landlock, limits, process, seccomp};
use crate::plan::{BindMode, FsOp, LandlockAccess, LandlockPath, LandlockPolicy, NetMode, Plan};

/// Why this process cannot create a user namespace, or `None` when it can. Tried in a
/// throwaway child, so nothing changes here.
pub fn userns_blocked() -> Option<String> {
    // SAFETY: the launcher is single-threaded here; the child only calls unshare and _exit.
    match unsafe { libc::fork() } {
        -1 => Some("fork failed".into()),
        0 => {
            // SAFETY: unshare takes no pointers; _exit ends the child at once.
            unsafe {
                let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
                let errno = *libc::__errno_location();
                libc::_exit(if ok { 0 } else { errno.clamp(1, 255) })
            }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waiting for our own child into a local.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            match libc::WEXITSTATUS(status) {
                0 => None,
                errno => Some(format!(
                    "unshare(CLONE_NEWUSER): {}",
                    std::io::Error::from_raw_os_error(errno)
                )),
            }
        }
    }
}

/// Device nodes the minimal /dev offers, allowed read-write where the plan has a /dev.
const DEV_NODES: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "shm", "pts",
];

/// Landlock rules from the plan's filesystem operations: read-only (and executable) where it
/// binds read-only, read-write where it binds read-write, nothing else. Returns the policy and
/// what cannot be expressed.
pub fn policy_from_plan(plan: &Plan) -> (LandlockPolicy, Vec<String>) {
    let mut paths = Vec::new();
    let mut missing = Vec::new();
    let mut rule = |path: std::path::PathBuf, access, optional| {
        paths.push(LandlockPath {
            path,
            access,
            optional,
        })
    };
    for op in &plan.fs {
        match op {
            FsOp::Bind {
                src,
                dest,
                mode,
                optional,
            } => {
                require_in_place(src, dest, &mut missing);
                let access = match mode {
                    BindMode::ReadOnly => LandlockAccess::Execute,
                    BindMode::ReadWrite | BindMode::Dev => LandlockAccess::Full,
                };
                rule(src.clone(), access, *optional);
            }
            // Without a mount namespace the program reads the host's file itself.
            FsOp::Copy {
                src,
                dest,
                optional,
            } => {
                require_in_place(src, dest, &mut missing);
                rule(src.clone(), LandlockAccess::Execute, *optional);
            }
            FsOp::Proc { dest } => rule(dest.clone(), LandlockAccess::ReadOnly, true),
            FsOp::Dev { dest } => {
                for node in DEV_NODES {
                    rule(dest.join(node), LandlockAccess::ReadWrite, true);
                }
            }
            FsOp::Tmpfs { dest, .. } => missing.push(format!(
                "no private {} (tmpfs needs a mount namespace): it is not accessible",
                dest.display()
            )),
            FsOp::Symlink { .. } | FsOp::Dir { .. } | FsOp::RemountRo { .. } => {}
            other => missing.push(format!("{other}: not possible without namespaces")),
        }
    }
    let no_net = plan.net == NetMode::None;
    let policy = LandlockPolicy {
        paths,
        tcp_bind: no_net.then(Vec::new),
        tcp_connect: no_net.then(Vec::new),
        scope_abstract_unix: true,
        scope_signals: true,
        required: false,
    };
    if plan.dbus.is_some() {
        missing.push(
            "dbus: the filtered bus (xdg-dbus-proxy) needs a mount namespace; the real session \
bus stays reachable"
                .into(),
        );
    }
    if plan.display.is_some() {
        missing.push(
            "display sockets: nothing to bind them into; the host's stay reachable as they are"
                .into(),
        );
    }
    (policy, missing)
}

/// Without a mount namespace a host path can only be reached where it is: a bind or copy to
/// another place is something the fallback cannot do, and says so.
fn require_in_place(src: &std::path::Path, dest: &std::path::Path, missing: &mut Vec<String>) {
    if src != dest {
        missing.push(format!(
            "{} is not at {} (no mount namespace); only {} is allowed",
            src.display(),
            dest.display(),
            src.display()
        ));
    }
}

/// Runs the command without namespaces. Landlock is required: without it nothing would
/// separate the command from the caller's files.
pub fn run(plan: &Plan, why: &str) -> Result<i32> {
    if landlock::abi_version().is_none() {
        bail!(crate::error::Failure::setup(format!(
            "no user namespace ({why}) and no Landlock either: refusing to run unconfined"
        )));
    }
    let (policy, missing) = policy_from_plan(plan);
    eprintln!(
        "stockade: warning: no user namespace ({why}); --fallback landlock: running with \
Landlock, seccomp, no_new_privs and rlimits only: no pid, mount, ipc or uts namespace, {}",
        if plan.net == NetMode::None {
            "no network namespace (TCP denied by Landlock; UDP and unix sockets are not)"
        } else {
            "the host's network"
        }
    );
    for m in &missing {
        eprintln!("stockade: warning: {m}");
    }
    let exec = process::exec_spec(plan)?;
    let filters = seccomp::prepare(&plan.seccomp)?;
    let mask = init::block_signals()?;
    // SAFETY: single-threaded; the child only sets itself up and execs.
    match unsafe { nix::unistd::fork() }.context("forking the command")? {
        nix::unistd::ForkResult::Child => {
            let err = confine_and_exec(plan, &policy, &filters, &exec, &mask);
            eprintln!("stockade: {}", crate::error::one_line(&err));
            // SAFETY: _exit from a forked child runs none of the parent's exit handlers.
            unsafe { libc::_exit(crate::error::EXIT_SETUP) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            process::close_inherited_except(&[]);
            Ok(supervise(plan, child))
        }
    }
}

fn supervise(plan: &Plan, child: Pid) -> i32 {
    let timeout = plan.limits.timeout_ms.map(std::time::Duration::from_millis);
    let grace = std::time::Duration::from_millis(plan.limits.kill_after_ms.unwrap_or(5000));
    let relay = init::Relay {
        own_session: plan.process.new_session,
        child_is_command: true,
        stops: None,
    };
    init::supervise(child, relay, timeout, grace)
}

fn confine_and_exec(
    plan: &Plan,
    policy: &LandlockPolicy,
    filters: &seccomp::Filters,
    exec: &process::ExecSpec,
    mask: &nix::sys::signal::SigSet,
) -> anyhow::Error {
    let steps = || -> Result<()> {
        if plan.process.die_with_parent {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
        }
        if let Some(dir) = &plan.chdir {
            nix::unistd::chdir(dir.as_path())
                .with_context(|| format!("--chdir {}", dir.display()))?;
        }
        if plan.process.close_fds {
            let mut keep = plan.process.keep_fds.clone();
            keep.sort_unstable();
            process::close_all_except(&keep)?;
        }
        if plan.process.new_session {
            process::new_session()?;
        }
        caps::set_no_new_privs()?;
        init::restore_mask(mask)?;
        landlock::apply(policy, plan.process.verbose)?;
        limits::apply_rlimits(&plan.limits.rlimits)?;
        seccomp::install(filters)?;
        Ok(())
    };
    // Made before the filter, which may refuse memory to the failure's report (as in
    // the sandbox's exec_command).
    let args = process::ExecArgs::new(exec);
    let prefix = format!("stockade: {}: ", exec.display_name);
    if let Err(e) = steps() {
        return e;
    }
    let errno = args.exec();
    process::write_errno_and_exit(
        libc::STDERR_FILENO,
        &[prefix.as_bytes()],
        errno,
        b"\n",
        process::exec_failure_status(errno),
    )
}
