//! Syscall tables per architecture and the named groups built from them (systemd-style
//! `@group` names). Groups are data; this module resolves allowlists against them.

mod aarch64;
mod groups;
mod index;
mod x86_64;

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use crate::cli::SeccompCommand;
use crate::error::Failure;

pub use groups::Group;

/// The architectures stockade has syscall tables for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture stockade was built for, when it has a table. The tables and the
    /// filter's AUDIT_ARCH values are for the little-endian ABIs only.
    pub fn native() -> Option<Arch> {
        if cfg!(target_endian = "big") {
            None
        } else if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Name → number, sorted by name.
    pub fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => x86_64::SYSCALLS,
            Arch::Aarch64 => aarch64::SYSCALLS,
        }
    }

    /// The syscall's number on this architecture.
    pub fn number(self, name: &str) -> Option<u32> {
        // Through the shared index: one hash and a compare or two, where a binary search of
        // the table compares about nine names (the compiler looks up every allowed name).
        let nr = index::number_at(self, index::index_of(name)?);
        (nr != index::NONE).then_some(nr)
    }
}

/// An allowlist entry that could not be resolved, with the entry's index in the input list so
/// that the profile loader can point at its line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub index: usize,
    pub message: String,
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ResolveError {}

/// A resolved allowlist: syscall names that exist on the running architecture, plus the names
/// that were skipped because they exist only on other architectures (shown with --verbose).
/// Both are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub syscalls: Vec<String>,
    pub skipped_other_arch: Vec<String>,
}

/// Resolves entries such as `@default`, `read`, `!@obsolete`, `!ptrace`, in order: additions
/// then removals apply as they come. A name or group that exists on no architecture is an error.
pub fn resolve<S: AsRef<str>>(entries: &[S]) -> std::result::Result<Resolved, ResolveError> {
    match Arch::native() {
        Some(arch) => resolve_for(arch, entries),
        None => {
            // No table for this machine: nothing can be filtered, so everything is "elsewhere".
            let set = apply_entries(entries)?;
            Ok(Resolved {
                syscalls: Vec::new(),
                skipped_other_arch: set.names().map(str::to_owned).collect(),
            })
        }
    }
}

/// [`resolve`] against a chosen architecture's table.
pub fn resolve_for<S: AsRef<str>>(
    arch: Arch,
    entries: &[S],
) -> std::result::Result<Resolved, ResolveError> {
    let set = apply_entries(entries)?;
    // Nearly everything a profile names exists here: size for that.
    let mut here = Vec::with_capacity(set.len());
    let mut elsewhere = Vec::new();
    // The index is in name order, so both lists come out sorted, as a sorted set gave them.
    for i in set.iter() {
        let name = index::NAMES[i].to_owned();
        if index::number_at(arch, i) == index::NONE {
            elsewhere.push(name);
        } else {
            here.push(name);
        }
    }
    Ok(Resolved {
        syscalls: here,
        skipped_other_arch: elsewhere,
    })
}

/// Checks that every entry names a known syscall or group, without resolving the list: the
/// same error (index and message) as [`resolve`] for the first bad entry.
pub fn check_entries<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<(), ResolveError> {
    for (index, entry) in entries.into_iter().enumerate() {
        parse_entry(entry).map_err(|message| ResolveError { index, message })?;
    }
    Ok(())
}

/// What one entry stands for.
enum Members {
    Group(&'static index::Set),
    One(usize),
}

/// An entry as (removal?, members), or the message for an unknown or empty name.
fn parse_entry(entry: &str) -> std::result::Result<(bool, Members), String> {
    let (remove, name) = match entry.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    if name.is_empty() {
        return Err("empty syscall name".into());
    }
    let members = if name.starts_with('@') {
        index::group(name)
            .map(Members::Group)
            .ok_or_else(|| format!("unknown syscall group '{name}'"))?
    } else {
        index::index_of(name)
            .map(Members::One)
            .ok_or_else(|| format!("unknown syscall '{name}'"))?
    };
    Ok((remove, members))
}

/// Applies additions and removals in order, over the names of every architecture.
fn apply_entries<S: AsRef<str>>(entries: &[S]) -> std::result::Result<index::Set, ResolveError> {
    let mut set = index::Set::EMPTY;
    for (index, entry) in entries.iter().enumerate() {
        let (remove, members) =
            parse_entry(entry.as_ref()).map_err(|message| ResolveError { index, message })?;
        apply_entry(&mut set, remove, members);
    }
    Ok(set)
}

/// Adds or removes one entry's members; false for a removal that took nothing away.
fn apply_entry(set: &mut index::Set, remove: bool, members: Members) -> bool {
    match (remove, members) {
        (false, Members::Group(group)) => set.add_all(group),
        (true, Members::Group(group)) => return set.remove_all(group),
        (false, Members::One(i)) => set.insert(i),
        (true, Members::One(i)) => return set.remove(i),
    }
    true
}

/// The index of the first removal (`!name`, `!@group`) that takes away nothing the entries
/// before it added: a typo, or a syscall that was never allowed. None when every removal
/// removes something, or at an entry that does not parse (which `check_entries` reports).
pub fn first_idle_removal<S: AsRef<str>>(entries: &[S]) -> Option<usize> {
    let mut set = index::Set::EMPTY;
    for (index, entry) in entries.iter().enumerate() {
        let (remove, members) = parse_entry(entry.as_ref()).ok()?;
        if !apply_entry(&mut set, remove, members) {
            return Some(index);
        }
    }
    None
}

/// Whether the entries, applied in order, include the syscall `name`; None when an entry does
/// not parse (which `check_entries` reports).
pub fn includes<S: AsRef<str>>(entries: &[S], name: &str) -> Option<bool> {
    let wanted = index::index_of(name)?;
    let set = apply_entries(entries).ok()?;
    let found = set.iter().any(|i| i == wanted);
    Some(found)
}

/// Whether a syscall name exists on any architecture.
pub fn is_known(name: &str) -> bool {
    index::index_of(name).is_some()
}

/// Every group, in listing order.
pub fn groups() -> &'static [Group] {
    groups::GROUPS
}

/// A group's members with nested groups expanded, over every architecture; `None` when no
/// group has that name.
pub fn expand_group(name: &str) -> Option<BTreeSet<&'static str>> {
    index::group(name).map(|set| set.names().collect())
}

/// `stockade seccomp list` and `stockade seccomp show @GROUP`.
pub fn command(cmd: SeccompCommand) -> Result<i32> {
    match cmd {
        SeccompCommand::List => {
            let width = groups().iter().map(|g| g.name.len()).max().unwrap_or(0);
            for group in groups() {
                println!("{:width$}  {}", group.name, group.description);
            }
            Ok(0)
        }
        SeccompCommand::Show { group } => {
            let Some(members) = expand_group(&group) else {
                bail!(Failure::setup(format!(
                    "unknown syscall group '{group}' (see `stockade seccomp list`)"
                )));
            };
            for name in members {
                println!("{name}");
            }
            Ok(0)
        }
        SeccompCommand::Export { profile } => export(&profile),
    }
}

/// The compiled filter of a profile, as the raw program bubblewrap's `--seccomp FD` reads.
fn export(profile: &str) -> Result<i32> {
    use std::io::Write;
    let plan = crate::profile::plan_for(profile, false)?;
    let filters = crate::sandbox::seccomp::prepare(&plan.seccomp)?;
    let Some(program) = filters.0.first() else {
        bail!(Failure::setup(format!(
            "profile {profile} has no seccomp allowlist to export"
        )));
    };
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    std::io::stdout().write_all(&bytes)?;
    Ok(0)
}

#[cfg(test)]
mod tests;
