//! The D-Bus stage: the sandbox never sees the caller's session bus, only a filtering
//! `xdg-dbus-proxy` that the launcher starts before the sandbox and stops after it.
//!
//! The proxy runs on the host side, before the launcher enters its user namespace, so it
//! authenticates to the real bus as the caller (D-Bus checks the peer's uid with
//! SO_PEERCRED) and reaches an abstract or filesystem bus address the sandbox cannot. Its
//! listening socket sits in a fresh private directory and is bound into the sandbox at
//! the policy's path (`${XDG_RUNTIME_DIR}/bus` in the desktop profile); the command gets
//! `DBUS_SESSION_BUS_ADDRESS` pointing there.
//!
//! Lifetime: nothing of the proxy outlives the launcher, however it ends. A keeper process
//! ([`keeper`]) makes the socket directory, starts the proxy and waits for the launcher; the
//! proxy writes one byte on its `--fd` pipe when it listens (so the command never races it).
//! When the launcher is done, or killed, the keeper stops the proxy and removes the
//! directory; a normal end waits until it has.

mod keeper;

use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use anyhow::{anyhow, Result};

pub use keeper::Proxy;

use crate::error::Failure;
use crate::plan::{caller_uid, BindMode, DbusPolicy, EnvOp, FsOp, Plan};

/// The program, looked up on the caller's PATH (Debian: package `xdg-dbus-proxy`).
pub const PROXY_PROGRAM: &str = "xdg-dbus-proxy";

/// The xdg-dbus-proxy arguments after `--fd`: the bus, the socket, then the filter.
pub fn proxy_args(policy: &DbusPolicy, upstream: &str, socket: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![upstream.into(), socket.into(), "--filter".into()];
    let rules = [
        ("--talk", &policy.talk),
        ("--own", &policy.own),
        ("--see", &policy.see),
        ("--call", &policy.call),
        ("--broadcast", &policy.broadcast),
    ];
    for (flag, values) in rules {
        for value in values {
            args.push(format!("{flag}={value}").into());
        }
    }
    if policy.log {
        args.push("--log".into());
    }
    args
}

/// Names and rules go to the proxy as `--talk=NAME` and `--call=NAME=RULE`: refuse what could
/// be read as more than one, or as another option.
pub fn check_policy(policy: &DbusPolicy) -> Result<()> {
    let names = policy.talk.iter().chain(&policy.own).chain(&policy.see);
    for problem in names.map(|n| check_name(n)).chain(
        policy
            .call
            .iter()
            .chain(&policy.broadcast)
            .map(|r| check_rule(r)),
    ) {
        problem.map_err(|why| anyhow!(Failure::setup(format!("dbus: {why}"))))?;
    }
    Ok(())
}

/// A bus name (wildcards allowed) that the proxy cannot take for anything else.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*' | ':'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid bus name {name:?}"))
    }
}

/// A `NAME=RULE` call or broadcast rule, as one argument.
pub fn check_rule(rule: &str) -> std::result::Result<(), String> {
    if rule.starts_with('-') || !rule.contains('=') || rule.contains(char::is_whitespace) {
        return Err(format!("invalid rule {rule:?} (expected NAME=RULE)"));
    }
    Ok(())
}

/// The bus to filter: the policy's, else the caller's session bus. `None` when the caller
/// has no session bus.
pub fn upstream_address(policy: &DbusPolicy) -> Option<String> {
    if let Some(address) = &policy.upstream {
        return Some(address.clone());
    }
    if let Some(address) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        if !address.is_empty() {
            return Some(address.to_string_lossy().into_owned());
        }
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")?;
    let bus = Path::new(&runtime).join("bus");
    let is_socket = std::fs::metadata(&bus)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    is_socket.then(|| format!("unix:path={}", bus.display()))
}

/// Starts the proxy for `plan.dbus` and returns it with the plan the sandbox should get: the
/// socket bound at the policy's path and `DBUS_SESSION_BUS_ADDRESS` pointing there. Without
/// a session bus or without xdg-dbus-proxy the sandbox gets no bus (the variable is unset),
/// which is never more than the policy allows; the reason is printed.
pub fn start(plan: &Plan) -> Result<(Option<Proxy>, Plan)> {
    let mut adjusted = plan.clone();
    let Some(policy) = &plan.dbus else {
        return Ok((None, adjusted));
    };
    check_policy(policy)?;
    let no_bus = |mut adjusted: Plan, why: &str| {
        eprintln!(
            "{}: warning: {why}: the sandbox gets no D-Bus session bus",
            plan.program_name
        );
        adjusted
            .env
            .ops
            .push(EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into()));
        Ok((None, adjusted))
    };
    let Some(upstream) = upstream_address(policy) else {
        return no_bus(
            adjusted,
            "no session bus (DBUS_SESSION_BUS_ADDRESS and $XDG_RUNTIME_DIR/bus are unset)",
        );
    };
    let proxy = match keeper::start(policy, &upstream)? {
        keeper::Started::Listening(proxy) => proxy,
        keeper::Started::NotInstalled => {
            return no_bus(
                adjusted,
                "xdg-dbus-proxy is not installed (Debian: apt install xdg-dbus-proxy)",
            );
        }
    };
    let inside = policy.socket_inside(plan.uid.unwrap_or_else(caller_uid));
    adjusted.fs.push(FsOp::Bind {
        src: proxy.socket.clone(),
        dest: inside.clone(),
        mode: BindMode::ReadWrite,
        optional: false,
    });
    let mut address = OsString::from("unix:path=");
    address.push(&inside);
    adjusted
        .env
        .ops
        .push(EnvOp::Set("DBUS_SESSION_BUS_ADDRESS".into(), address));
    if plan.process.verbose {
        eprintln!(
            "{}: dbus: proxy of {upstream} at {} (pid {})",
            plan.program_name,
            inside.display(),
            proxy.pid
        );
    }
    Ok((Some(proxy), adjusted))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn policy() -> DbusPolicy {
        DbusPolicy {
            talk: vec!["org.freedesktop.Notifications".into()],
            own: vec!["org.example.App".into()],
            see: vec![],
            call: vec!["org.freedesktop.portal.*=*".into()],
            broadcast: vec![],
            socket: None,
            upstream: None,
            log: false,
        }
    }

    #[test]
    fn arguments_carry_the_filter_in_order() {
        let args = proxy_args(&policy(), "unix:path=/run/user/1/bus", Path::new("/x/bus"));
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "unix:path=/run/user/1/bus",
                "/x/bus",
                "--filter",
                "--talk=org.freedesktop.Notifications",
                "--own=org.example.App",
                "--call=org.freedesktop.portal.*=*",
            ]
        );
    }

    #[test]
    fn names_that_look_like_options_are_refused() {
        for bad in ["--log", "", "a b", "a\nb", "x=y"] {
            let mut p = policy();
            p.talk = vec![bad.into()];
            assert!(check_policy(&p).is_err(), "{bad:?} accepted");
        }
        assert!(check_policy(&policy()).is_ok());
        let mut p = policy();
        p.call = vec!["no-rule".into()];
        assert!(check_policy(&p).is_err());
    }

    #[test]
    fn default_socket_is_in_the_runtime_dir_of_the_uid_inside() {
        assert_eq!(
            policy().socket_inside(1000),
            PathBuf::from("/run/user/1000/bus")
        );
    }
}
