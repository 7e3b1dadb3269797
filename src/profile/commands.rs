//! `stockade profile list`, `show NAME` and `check FILE`.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, Result};

use super::build::{self, Options};
use super::catalog::{self, Catalog, HostCatalog, Source};
use super::load::{self, Layer};
use super::merge;
use super::schema::ProfileFile;
use super::vars::Vars;
use crate::error::Failure;

/// Writes to stdout; a closed pipe (`| head`) is not an error worth reporting.
fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// One line per profile name: the one a launch would use, its origin and description.
pub fn list(catalog: &HostCatalog) -> Result<i32> {
    let mut names: Vec<String> = catalog::BUILT_IN
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    for (_, dir) in catalog.dirs() {
        names.extend(catalog::names_in(dir));
    }
    names.sort();
    names.dedup();
    let mut out = String::new();
    for name in names {
        // One unreadable file should not hide the others.
        match catalog.find(&name, None) {
            Ok(Some(source)) => out.push_str(&list_line(catalog, source)),
            Ok(None) => {}
            Err(e) => out.push_str(&format!(
                "{name:<12} {:<9} INVALID: {}\n",
                "?",
                crate::error::one_line(&e)
            )),
        }
    }
    print(&out);
    Ok(0)
}

fn list_line(catalog: &HostCatalog, source: Source) -> String {
    let shadows = catalog
        .find(&source.name, Some(source.origin))
        .ok()
        .flatten()
        .map(|below| format!(" (overrides {})", below.origin))
        .unwrap_or_default();
    let (name, origin) = (source.name.clone(), source.origin);
    let description = match load::parse(source, false) {
        Ok(layer) => layer
            .profile
            .description
            .unwrap_or_else(|| "(no description)".into()),
        Err(e) => format!("INVALID: {}", crate::error::one_line(&e)),
    };
    format!(
        "{name:<12} {:<9} {description}{shadows}\n",
        origin.to_string()
    )
}

/// The merged profile as TOML that `profile check` accepts.
pub fn show(catalog: &dyn Catalog, name: &str) -> Result<i32> {
    let (chain, merged) = super::merged_profile(catalog, name, true)?;
    // Building the plan checks what only the plan knows (variables' values, the host).
    let plan = build::to_plan(&merged, &Vars::from_caller(None), &Options::default())?;
    let notes = plan
        .landlock
        .as_ref()
        .map(landlock_notes)
        .unwrap_or_default();
    print(&render(&chain, &merged, &notes)?);
    Ok(0)
}

/// What the running kernel will not enforce of the profile's Landlock rules, as comments.
fn landlock_notes(policy: &crate::plan::LandlockPolicy) -> Vec<String> {
    let report = crate::sandbox::landlock::check(policy);
    let mut notes = vec![format!(
        "landlock: this kernel has Landlock ABI {}",
        report.abi
    )];
    notes.extend(
        report
            .unenforced
            .iter()
            .map(|w| format!("landlock: not enforced: {w}")),
    );
    notes.extend(report.notes.iter().map(|n| format!("landlock: note: {n}")));
    notes
}

/// The TOML text of a merged profile, with comments naming the files it came from and
/// `notes` about this host.
pub fn render(chain: &[Layer], merged: &ProfileFile, notes: &[String]) -> Result<String> {
    let from: Vec<String> = chain
        .iter()
        .rev()
        .map(|l| format!("{} ({})", l.source.file, l.source.origin))
        .collect();
    let body = toml::to_string(merged)
        .map_err(|e| anyhow!(Failure::setup(format!("cannot print the profile: {e}"))))?;
    let notes: String = notes.iter().map(|n| format!("# {n}\n")).collect();
    Ok(format!(
        "# Fully merged from: {}\n# Variables such as ${{HOME}} are expanded at launch.\n{notes}\n{body}",
        from.join(" <- ")
    ))
}

/// Checks a profile file, everything it extends, and the plan it makes.
pub fn check(catalog: &dyn Catalog, file: &Path) -> Result<i32> {
    let source = catalog.read_path(file)?;
    let chain = merge::load_chain(catalog, source, true)?;
    let merged = merge::merge(&chain)?;
    build::to_plan(&merged, &Vars::from_caller(None), &Options::default())?;
    let parents: Vec<String> = chain
        .iter()
        .rev()
        .skip(1)
        .map(|l| format!("{} ({})", l.source.name, l.source.origin))
        .collect();
    let extends = if parents.is_empty() {
        String::new()
    } else {
        format!(" (extends {})", parents.join(" <- "))
    };
    print(&format!("{}: ok{extends}\n", file.display()));
    Ok(0)
}
