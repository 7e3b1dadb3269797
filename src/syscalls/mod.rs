//! Syscall tables per architecture and the named groups built from them.
//! (Placeholder until the seccomp work lands.)

use anyhow::{bail, Result};

use crate::cli::SeccompCommand;
use crate::error::Failure;

pub fn command(_cmd: SeccompCommand) -> Result<i32> {
    bail!(Failure::setup("seccomp: not implemented yet"))
}
