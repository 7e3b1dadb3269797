//! bwrap `--bind-fd` and `--ro-bind-fd`: binding the file a caller's descriptor refers to.
//!
//! The descriptor cannot be handed to open_tree(2) as it is: it refers to a mount of the
//! caller's mount namespace, and open_tree clones only mounts of the namespace the calling
//! process is in (EINVAL for any other), while cloning in the caller's namespace would need
//! CAP_SYS_ADMIN over it (EPERM). So the file is found again by its path in the sandbox's
//! new mount namespace, which starts as a copy of the caller's, and the tree found there is
//! accepted only if its root is the very file the descriptor refers to (same device and
//! inode): a path that was renamed over, deleted or covered by a mount since is refused, never
//! bound in its place.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use anyhow::{anyhow, bail, Result};

use super::mounts::open_tree;

/// Descriptors the caller handed over to the plan's operations, each taken once: a second
/// use of a number fails as a closed descriptor would, instead of taking whatever stockade
/// opened under that number since.
#[derive(Default)]
pub struct HandedOver(Vec<RawFd>);

impl HandedOver {
    /// Marks `fd` as taken; EBADF when it is not open or was taken already.
    pub fn claim(&mut self, fd: RawFd) -> std::io::Result<()> {
        if self.0.contains(&fd) || !super::process::fd_is_open(fd) {
            return Err(std::io::Error::from_raw_os_error(libc::EBADF));
        }
        self.0.push(fd);
        Ok(())
    }

    /// Takes ownership of `fd`: it is closed when the result is dropped.
    pub fn take(&mut self, fd: RawFd) -> std::io::Result<OwnedFd> {
        self.claim(fd)?;
        // SAFETY: `fd` is open, the caller handed it over for this one operation, and the
        // claim above makes this the only OwnedFd ever made from it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// A detached, recursive copy of the mount tree at the file `fd` refers to, taken in this
/// process's mount namespace. `fd` is closed on return, so the command never inherits it.
pub fn open(fd: OwnedFd) -> Result<OwnedFd> {
    let number = fd.as_raw_fd();
    let link = format!("/proc/self/fd/{number}");
    let path = std::fs::read_link(&link).map_err(|e| anyhow!("reading {link}: {e}"))?;
    // Pipes, sockets and anonymous inodes read as "type:[inode]": nothing a path leads to.
    if !path.is_absolute() {
        bail!(
            "fd {number} ({}) is not a file reachable by path",
            path.display()
        );
    }
    let tree = open_tree(libc::AT_FDCWD, &path, true)
        .map_err(|e| anyhow!("fd {number}: {}: {e}", path.display()))?;
    if identity(&fd)? != identity(&tree)? {
        bail!(
            "fd {number}: {} no longer leads to the file the descriptor refers to",
            path.display()
        );
    }
    Ok(tree)
}

/// Device and inode of what `fd` refers to.
fn identity(fd: &OwnedFd) -> Result<(u64, u64)> {
    // SAFETY: an all-zero stat is a valid buffer for fstat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer; fstat accepts O_PATH descriptors.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        bail!("fstat: {}", std::io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_is_taken_once() {
        let file: OwnedFd = std::fs::File::open("/").unwrap().into();
        let fd = file.as_raw_fd();
        let mut handed = HandedOver::default();
        handed.claim(fd).unwrap();
        let again = handed.claim(fd).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn a_pipe_has_no_path() {
        let (read, _write) = nix::unistd::pipe().unwrap();
        let err = open(read).unwrap_err().to_string();
        assert!(err.contains("not a file reachable by path"), "{err}");
    }
}
