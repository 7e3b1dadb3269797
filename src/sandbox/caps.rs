//! Capabilities: every set emptied (bounding, permitted, effective, inheritable, ambient),
//! except what the plan keeps (bwrap's `--cap-add`), and no_new_privs set.

use std::collections::HashSet;
use std::str::FromStr;

use anyhow::{anyhow, Context, Result};
use caps::{CapSet, Capability};

/// Parses capability names as bubblewrap accepts them: `CAP_SYS_ADMIN`, case-insensitive,
/// or `ALL`.
pub fn parse_caps(names: &[String]) -> Result<HashSet<Capability>> {
    let mut set = HashSet::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        if upper == "ALL" {
            set.extend(caps::all());
            continue;
        }
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        let cap = Capability::from_str(&full).map_err(|_| anyhow!("unknown capability {name}"))?;
        set.insert(cap);
    }
    Ok(set)
}

/// Drops every capability not in `keep` from every set. Bounding goes first: once it is
/// empty, nothing can come back through exec.
pub fn drop_all_except(keep: &HashSet<Capability>) -> Result<()> {
    for cap in caps::all() {
        if !keep.contains(&cap) {
            drop_from_bounding(cap)?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
    let kept: caps::CapsHashSet = keep.iter().copied().collect();
    caps::set(None, CapSet::Inheritable, &kept).context("setting inheritable capabilities")?;
    caps::set(None, CapSet::Effective, &kept).context("setting effective capabilities")?;
    caps::set(None, CapSet::Permitted, &kept).context("setting permitted capabilities")?;
    for cap in keep {
        // Ambient capabilities survive exec for a non-root uid, as bwrap's --cap-add does.
        caps::raise(None, CapSet::Ambient, *cap)
            .with_context(|| format!("raising ambient {cap}"))?;
    }
    Ok(())
}

/// One prctl per capability, without reading the set first (that would double the calls): a
/// capability this kernel does not know (EINVAL) is not in its bounding set anyway.
fn drop_from_bounding(cap: Capability) -> Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes an integer argument and no pointers.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap.index() as libc::c_ulong, 0, 0, 0) };
    if ret == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        return Ok(());
    }
    Err(err).with_context(|| format!("dropping {cap} from the bounding set"))
}

pub fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")
}
