//! Named profiles (TOML): lookup, `extends` merging, variables, validation, and the
//! `stockade profile list|show|check` commands.
//!
//! The pipeline: `catalog` finds the file, `load` parses and checks it (errors carry
//! `file:line:column` and the key; a built-in's text comes parsed already, from `compiled`),
//! `merge` follows `extends` and merges base first, `build` turns the merged profile into a
//! [`Plan`]. The format is documented in stockade-profile(5).

pub mod build;
pub mod catalog;
pub mod commands;
pub mod compiled;
pub mod load;
pub mod locate;
pub mod merge;
pub mod schema;
pub mod vars;

#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::Result;

use crate::cli::ProfileCommand;
use crate::plan::Plan;
pub use build::Options;
use catalog::{Catalog, HostCatalog, Source};
use schema::ProfileFile;
use vars::Vars;

/// The plan a named profile (or a path to one) describes.
pub fn plan_for(name: &str, verbose: bool) -> Result<Plan> {
    let opts = Options {
        verbose,
        ..Options::default()
    };
    plan_for_with(name, &opts, &Vars::from_caller(None))
}

/// Like [`plan_for`], with every option (`--seccomp off`, `--app`).
pub fn plan_for_with(name: &str, opts: &Options, vars: &Vars) -> Result<Plan> {
    plan_from_catalog(&HostCatalog::new(), name, opts, vars)
}

/// Like [`plan_for_with`], with the profiles taken from `catalog`: with an in-memory one,
/// nothing is read from the disk (the fuzz targets use this).
pub fn plan_from_catalog(
    catalog: &dyn Catalog,
    name: &str,
    opts: &Options,
    vars: &Vars,
) -> Result<Plan> {
    let (chain, merged) = merged_profile(catalog, name, !opts.seccomp_off)?;
    let plan = build::to_plan(&merged, vars, opts)?;
    build::check_host_paths(&chain, &merged, vars)?;
    Ok(plan)
}

/// A name contains no `/`; anything with one is a path, as with `--profile ./mine.toml`.
pub fn is_path(name: &str) -> bool {
    name.contains('/')
}

/// The source a `--profile` value names.
pub fn source_for(catalog: &dyn Catalog, name: &str) -> Result<Source> {
    if is_path(name) {
        return catalog.read_path(Path::new(name));
    }
    catalog.find(name, None)?.ok_or_else(|| {
        let hint = if name.ends_with(".toml") {
            format!("a path needs a /, as in ./{name}")
        } else {
            "see stockade profile list".to_string()
        };
        anyhow::anyhow!(crate::error::Failure::setup(format!(
            "no profile named {name:?} ({hint})"
        )))
    })
}

/// The chain a name leads to and the merged profile.
pub fn merged_profile(
    catalog: &dyn Catalog,
    name: &str,
    check_syscalls: bool,
) -> Result<(Vec<load::Layer>, ProfileFile)> {
    let source = source_for(catalog, name)?;
    let chain = merge::load_chain(catalog, source, check_syscalls)?;
    let merged = merge::merge(&chain)?;
    Ok((chain, merged))
}

pub fn command(cmd: ProfileCommand) -> Result<i32> {
    let catalog = HostCatalog::new();
    match cmd {
        ProfileCommand::List => commands::list(&catalog),
        ProfileCommand::Show { name } => commands::show(&catalog, &name),
        ProfileCommand::Check { file } => commands::check(&catalog, &file),
    }
}
