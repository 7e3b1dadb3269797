//! Named profiles (TOML): lookup, `extends` merging, variables, validation.
//! (Placeholder until the profiles issue lands: only `default`, built from the plan defaults.)

use anyhow::{bail, Result};

use crate::cli::ProfileCommand;
use crate::error::Failure;
use crate::plan::{default_fs_ops, Plan};

/// The plan a named profile (or a path to one) describes.
pub fn plan_for(name: &str, _verbose: bool) -> Result<Plan> {
    if name != "default" {
        bail!(Failure::setup(format!("--profile {name}: no such profile")));
    }
    Ok(Plan {
        fs: default_fs_ops(),
        ..Plan::default()
    })
}

pub fn command(_cmd: ProfileCommand) -> Result<i32> {
    bail!(Failure::setup("profile: not implemented yet"))
}
