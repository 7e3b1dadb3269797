//! Parsing one profile file and checking what serde cannot: which fields each `[[fs]]` kind
//! takes, environment names set and unset at once, and syscall names.

use anyhow::Result;
use serde::Deserialize;
use toml::Spanned;

use super::catalog::Source;
use super::compiled;
use super::locate::error_at;
use super::schema::{EnvPattern, FsEntry, FsKind, ProfileFile};

/// A parsed, checked profile file.
#[derive(Clone, Debug)]
pub struct Layer {
    pub source: Source,
    pub profile: ProfileFile,
}

impl Layer {
    /// The error for a problem at `span` of this file.
    pub fn error(&self, span: std::ops::Range<usize>, message: &str) -> anyhow::Error {
        error_at(&self.source.file, &self.source.text, Some(span), message)
    }
}

/// Parses and checks a profile. `check_syscalls` resolves the seccomp names (skipped when the
/// launch runs without a filter).
pub fn parse(source: Source, check_syscalls: bool) -> Result<Layer> {
    let profile: Result<ProfileFile, toml::de::Error> = match compiled::document(&source.text) {
        Some(document) => ProfileFile::deserialize(toml::de::Deserializer::from(document)),
        None => toml::from_str(&source.text),
    };
    let profile =
        profile.map_err(|e| error_at(&source.file, &source.text, e.span(), e.message()))?;
    let layer = Layer { source, profile };
    for entry in &layer.profile.fs {
        check_fs_entry(&layer, entry)?;
    }
    check_env(&layer)?;
    if check_syscalls {
        check_seccomp_names(&layer)?;
    }
    Ok(layer)
}

/// The fields an `[[fs]]` kind takes, required ones first.
fn fields_of(kind: FsKind) -> (&'static [&'static str], &'static [&'static str]) {
    use FsKind::*;
    match kind {
        RoBind | Bind | DevBind | Copy => (&["src"], &["dest", "try"]),
        Tmpfs => (&["dest"], &["mode", "size"]),
        Dir => (&["dest"], &["mode"]),
        Symlink => (&["target", "dest"], &[]),
        Proc | Dev | Mqueue | RemountRo | Mirror => (&["dest"], &[]),
        File => (&["dest", "contents"], &["mode"]),
        Chmod => (&["dest", "mode"], &[]),
    }
}

/// The optional fields present in an entry, with their spans.
fn present_fields(entry: &FsEntry) -> Vec<(&'static str, std::ops::Range<usize>)> {
    let mut present = Vec::new();
    let mut note = |name, span: Option<std::ops::Range<usize>>| {
        if let Some(span) = span {
            present.push((name, span));
        }
    };
    note("src", entry.src.as_ref().map(Spanned::span));
    note("dest", entry.dest.as_ref().map(Spanned::span));
    note("target", entry.target.as_ref().map(Spanned::span));
    note("try", entry.optional.as_ref().map(Spanned::span));
    note("mode", entry.mode.as_ref().map(Spanned::span));
    note("size", entry.size.as_ref().map(Spanned::span));
    note("contents", entry.contents.as_ref().map(Spanned::span));
    present
}

fn check_fs_entry(layer: &Layer, entry: &Spanned<FsEntry>) -> Result<()> {
    let kind = *entry.get_ref().kind.get_ref();
    let (required, optional) = fields_of(kind);
    let present = present_fields(entry.get_ref());
    let name = kind.name();
    for (field, span) in &present {
        if !required.contains(field) && !optional.contains(field) {
            return Err(layer.error(
                span.clone(),
                &format!("type \"{name}\" does not take `{field}`"),
            ));
        }
    }
    for field in required {
        if !present.iter().any(|(f, _)| f == field) {
            return Err(layer.error(
                entry.get_ref().kind.span(),
                &format!("type \"{name}\" needs `{field}`"),
            ));
        }
    }
    Ok(())
}

fn check_env(layer: &Layer) -> Result<()> {
    let Some(env) = &layer.profile.env else {
        return Ok(());
    };
    let set_here = |n: &&Spanned<EnvPattern>| {
        n.get_ref()
            .as_name()
            .is_some_and(|name| env.set.contains_key(&name))
    };
    // A pattern may match a name set here: patterns apply first, so the value stays.
    if let Some(name) = env.unset.iter().find(set_here) {
        // Both in one file would depend on an order the file cannot express.
        return Err(layer.error(
            name.span(),
            &format!("{} is both set and unset in this profile", name.get_ref().0),
        ));
    }
    Ok(())
}

/// Unknown syscall or group names are reported at their entry. Only the names are checked:
/// the merged lists are resolved once, when the plan is built.
fn check_seccomp_names(layer: &Layer) -> Result<()> {
    let Some(seccomp) = &layer.profile.seccomp else {
        return Ok(());
    };
    for list in [&seccomp.allow, &seccomp.deny_eperm] {
        let names = list.iter().map(|s| s.get_ref().as_str());
        if let Err(e) = crate::syscalls::check_entries(names) {
            let span = list.get(e.index).map(Spanned::span).unwrap_or(0..0);
            return Err(layer.error(span, &e.message));
        }
    }
    Ok(())
}
