//! Syscall tables per architecture and the named groups built from them (systemd-style
//! `@group` names). Groups are data; this module resolves allowlists against them.
//! (Interface stub: the tables and groups land with the seccomp work.)

use anyhow::{bail, Result};

use crate::cli::SeccompCommand;
use crate::error::Failure;

/// An allowlist entry that could not be resolved, with the entry's index in the input list so
/// that the profile loader can point at its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub index: usize,
    pub message: String,
}

/// A resolved allowlist: syscall names that exist on the running architecture, plus the names
/// that were skipped because they exist only on other architectures (shown with --verbose).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub syscalls: Vec<String>,
    pub skipped_other_arch: Vec<String>,
}

/// Resolves entries such as `@default`, `read`, `!@obsolete`, `!ptrace`, in order: additions
/// then removals apply as they come. A name or group that exists on no architecture is an error.
pub fn resolve(entries: &[String]) -> std::result::Result<Resolved, ResolveError> {
    let _ = entries;
    Err(ResolveError {
        index: 0,
        message: "syscall groups are not implemented yet".into(),
    })
}

pub fn command(_cmd: SeccompCommand) -> Result<i32> {
    bail!(Failure::setup("seccomp: not implemented yet"))
}
