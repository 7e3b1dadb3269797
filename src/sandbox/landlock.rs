//! The Landlock stage. (Placeholder: rules land with the profiles issue.)

use anyhow::Result;

use crate::plan::LandlockPolicy;

/// Restricts the calling process (and everything it execs) to the policy.
pub fn apply(_policy: &LandlockPolicy, _verbose: bool) -> Result<()> {
    Ok(())
}
