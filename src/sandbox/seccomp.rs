//! The seccomp stage. (Placeholder: the allowlist compiler lands with the profiles issue.)

use anyhow::{bail, Result};

use crate::plan::Seccomp;

/// Compiled filters, ready to install.
pub struct Filters(pub Vec<seccompiler::BpfProgram>);

/// Compiles the plan's filter before any namespace exists, so errors surface early.
pub fn prepare(seccomp: &Seccomp) -> Result<Filters> {
    match seccomp {
        Seccomp::Off => Ok(Filters(Vec::new())),
        // Loaded and installed by `seccomp_fd` (bwrap's programs go in with prctl).
        Seccomp::Fds(_) => Ok(Filters(Vec::new())),
        _ => bail!("seccomp filters are not supported by this version of stockade"),
    }
}

/// Installs the filters: the last thing before exec.
pub fn install(filters: &Filters) -> Result<()> {
    for program in &filters.0 {
        seccompiler::apply_filter(program)?;
    }
    Ok(())
}
