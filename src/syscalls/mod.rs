//! Syscall tables per architecture and the named groups built from them (systemd-style
//! `@group` names). Groups are data; this module resolves allowlists against them.

mod aarch64;
mod groups;
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
        let table = self.table();
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)
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
pub fn resolve(entries: &[String]) -> std::result::Result<Resolved, ResolveError> {
    match Arch::native() {
        Some(arch) => resolve_for(arch, entries),
        None => {
            // No table for this machine: nothing can be filtered, so everything is "elsewhere".
            let names = apply_entries(entries)?;
            Ok(Resolved {
                syscalls: Vec::new(),
                skipped_other_arch: names.into_iter().map(str::to_owned).collect(),
            })
        }
    }
}

/// [`resolve`] against a chosen architecture's table.
pub fn resolve_for(arch: Arch, entries: &[String]) -> std::result::Result<Resolved, ResolveError> {
    let names = apply_entries(entries)?;
    let (here, elsewhere): (Vec<&str>, Vec<&str>) =
        names.into_iter().partition(|n| arch.number(n).is_some());
    Ok(Resolved {
        syscalls: here.into_iter().map(str::to_owned).collect(),
        skipped_other_arch: elsewhere.into_iter().map(str::to_owned).collect(),
    })
}

/// Applies additions and removals in order, over the names of every architecture.
fn apply_entries(entries: &[String]) -> std::result::Result<BTreeSet<&'static str>, ResolveError> {
    let mut set = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let (remove, name) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry.as_str()),
        };
        let members = entry_members(name).map_err(|message| ResolveError { index, message })?;
        for member in members {
            if remove {
                set.remove(member);
            } else {
                set.insert(member);
            }
        }
    }
    Ok(set)
}

/// The syscall names one entry (without its `!`) stands for.
fn entry_members(name: &str) -> std::result::Result<Vec<&'static str>, String> {
    if name.is_empty() {
        return Err("empty syscall name".into());
    }
    if name.starts_with('@') {
        return expand_group(name)
            .map(|set| set.into_iter().collect())
            .ok_or_else(|| format!("unknown syscall group '{name}'"));
    }
    known_name(name)
        .map(|n| vec![n])
        .ok_or_else(|| format!("unknown syscall '{name}'"))
}

/// The table's own copy of a syscall name that exists on some architecture.
fn known_name(name: &str) -> Option<&'static str> {
    Arch::ALL.iter().find_map(|arch| {
        let table = arch.table();
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].0)
    })
}

/// Whether a syscall name exists on any architecture.
pub fn is_known(name: &str) -> bool {
    known_name(name).is_some()
}

/// Every group, in listing order.
pub fn groups() -> &'static [Group] {
    groups::GROUPS
}

/// A group's members with nested groups expanded, over every architecture; `None` when no
/// group has that name.
pub fn expand_group(name: &str) -> Option<BTreeSet<&'static str>> {
    let mut out = BTreeSet::new();
    let mut visiting = Vec::new();
    expand_into(name, &mut out, &mut visiting)?;
    Some(out)
}

fn expand_into(
    name: &str,
    out: &mut BTreeSet<&'static str>,
    visiting: &mut Vec<&'static str>,
) -> Option<()> {
    let group = groups::GROUPS.iter().find(|g| g.name == name)?;
    if group.name == groups::KNOWN {
        out.extend(
            Arch::ALL
                .iter()
                .flat_map(|a| a.table().iter().map(|(n, _)| *n)),
        );
        return Some(());
    }
    // The data is static and tested to be acyclic; the guard only keeps a bad edit from
    // recursing forever.
    if visiting.contains(&group.name) {
        return Some(());
    }
    visiting.push(group.name);
    for member in group.members {
        if member.starts_with('@') {
            expand_into(member, out, visiting)?;
        } else {
            out.insert(member);
        }
    }
    visiting.pop();
    Some(())
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
