//! Rootless overlayfs (bwrap `--overlay`, `--tmp-overlay`, `--ro-overlay`).
//!
//! Mounted with `userxattr`, which lets an unprivileged user namespace own the overlay. Layers
//! are opened as host paths before the sandbox root exists and handed to the kernel as
//! `/proc/self/fd/N`, so nothing is looked up by name once the root covers the host tree, and
//! each lower layer goes in with its own `lowerdir+` (no escaping of `:` or `,` in paths).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use super::mounts::{new_fs, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use crate::plan::FsOp;

/// An overlay's layers, opened.
pub struct Layers {
    /// Command-line order: the last is the topmost.
    lower: Vec<OwnedFd>,
    upper: Upper,
}

enum Upper {
    /// No upper layer: a read-only overlay.
    None,
    /// Host directories for the upper layer and overlayfs's work directory.
    Host { upper: OwnedFd, work: OwnedFd },
    /// A private tmpfs that nothing else can see.
    Tmp,
}

fn open_path(path: &Path) -> Result<OwnedFd> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(path)
        .map_err(|e| {
            anyhow!(
                "Can't open overlay layer {}: {}",
                path.display(),
                super::mounts::io_message(&e)
            )
        })?;
    Ok(file.into())
}

use std::os::unix::fs::OpenOptionsExt;

/// Opens the host directories an overlay operation names.
pub fn open_layers(op: &FsOp) -> Result<Layers> {
    let FsOp::Overlay {
        lower,
        upper,
        work,
        tmp_upper,
        ..
    } = op
    else {
        return Err(anyhow!("internal error: not an overlay"));
    };
    let lower = lower
        .iter()
        .map(|p| open_path(p))
        .collect::<Result<Vec<_>>>()?;
    let upper = match (upper, work, tmp_upper) {
        (Some(upper), Some(work), _) => Upper::Host {
            upper: open_path(upper)?,
            work: open_path(work)?,
        },
        (_, _, true) => Upper::Tmp,
        _ => Upper::None,
    };
    Ok(Layers { lower, upper })
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// A detached overlay mount of `layers`.
pub fn mount(layers: Layers) -> Result<OwnedFd> {
    // For --tmp-overlay: a private tmpfs holding upper and work; it stays alive as long as the
    // overlay references it.
    let scratch = match layers.upper {
        Upper::Tmp => Some(tmp_upper()?),
        _ => None,
    };
    let mut strings: Vec<(&str, String)> = Vec::new();
    // lowerdir+ takes layers from the top down: the last on the command line first.
    for fd in layers.lower.iter().rev() {
        strings.push(("lowerdir+", fd_path(fd)));
    }
    let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    match (&layers.upper, &scratch) {
        (Upper::Host { upper, work }, _) => {
            strings.push(("upperdir", fd_path(upper)));
            strings.push(("workdir", fd_path(work)));
        }
        (Upper::Tmp, Some(scratch)) => {
            strings.push(("upperdir", format!("{}/upper", fd_path(scratch))));
            strings.push(("workdir", format!("{}/work", fd_path(scratch))));
        }
        _ => attrs |= MOUNT_ATTR_RDONLY,
    }
    let mut options: Vec<(&str, Option<&str>)> = vec![("userxattr", None)];
    options.extend(strings.iter().map(|(k, v)| (*k, Some(v.as_str()))));
    new_fs("overlay", &options, attrs).context("overlayfs (rootless overlays need Linux 5.11+)")
}

/// A detached tmpfs with empty `upper` and `work` directories.
fn tmp_upper() -> Result<OwnedFd> {
    let fs = new_fs(
        "tmpfs",
        &[("mode", Some("0755"))],
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )
    .context("tmpfs for --tmp-overlay")?;
    for name in [c"upper", c"work"] {
        // SAFETY: static names; the mount fd refers to the tmpfs's root directory.
        if unsafe { libc::mkdirat(fs.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
            return Err(std::io::Error::last_os_error()).context("--tmp-overlay upper directory");
        }
    }
    Ok(fs)
}
