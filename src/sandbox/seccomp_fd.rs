//! Pre-compiled seccomp programs read from descriptors (bwrap `--seccomp FD`,
//! `--add-seccomp-fd FD`): raw arrays of classic BPF `struct sock_filter`, 8 bytes each, in
//! the machine's byte order, installed in the order given.

use std::io::Read;
use std::os::fd::FromRawFd;

use anyhow::{anyhow, bail, Result};

use crate::plan::Seccomp;

/// Reads every program the plan names (each fd to its end, then closed, as bubblewrap does).
pub fn load(seccomp: &Seccomp) -> Result<Vec<seccompiler::BpfProgram>> {
    match seccomp {
        Seccomp::Fds(fds) => fds.iter().map(|&fd| load_one(fd)).collect(),
        _ => Ok(Vec::new()),
    }
}

/// Installs the programs in order with prctl(PR_SET_SECCOMP), not seccomp(2): callers'
/// filters (Flatpak's) allow prctl so that the next program can still be added, and only the
/// last may deny it. no_new_privs is already set.
pub fn install(programs: &[seccompiler::BpfProgram]) -> Result<()> {
    for program in programs {
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            // seccompiler's sock_filter has the kernel's layout (repr(C), same fields).
            filter: program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points into `program`, which outlives the call; the kernel copies it.
        let ret = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                bail!(
                    "Unable to set up system call filtering as requested: prctl(PR_SET_SECCOMP) \
reported EINVAL. (Hint: this requires a kernel configured with CONFIG_SECCOMP and \
CONFIG_SECCOMP_FILTER.)"
                );
            }
            bail!("prctl(PR_SET_SECCOMP): {}", super::mounts::io_message(&e));
        }
    }
    Ok(())
}

fn load_one(fd: i32) -> Result<seccompiler::BpfProgram> {
    // SAFETY: F_GETFD only checks that the number is open before we take ownership.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        let e = std::io::Error::last_os_error();
        bail!("Can't read seccomp data: {}", super::mounts::io_message(&e));
    }
    // SAFETY: the caller handed this descriptor over to be consumed; we close it when done.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| anyhow!("Can't read seccomp data: {}", super::mounts::io_message(&e)))?;
    decode(&data)
}

/// Splits raw bytes into instructions.
pub fn decode(data: &[u8]) -> Result<seccompiler::BpfProgram> {
    if data.len() % 8 != 0 {
        bail!("Invalid seccomp data, must be multiple of 8");
    }
    Ok(data
        .chunks_exact(8)
        .map(|c| seccompiler::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_instructions_and_refuses_partial_ones() {
        // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
        let mut raw = Vec::new();
        raw.extend_from_slice(&0x06u16.to_ne_bytes());
        raw.extend_from_slice(&[0, 0]);
        raw.extend_from_slice(&0x7fff_0000u32.to_ne_bytes());
        let prog = decode(&raw).unwrap();
        assert_eq!(prog.len(), 1);
        assert_eq!(prog[0].code, 6);
        assert_eq!(prog[0].k, 0x7fff_0000);
        let err = decode(&raw[..7]).unwrap_err().to_string();
        assert_eq!(err, "Invalid seccomp data, must be multiple of 8");
    }
}
