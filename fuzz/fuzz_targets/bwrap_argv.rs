//! The bubblewrap-compatible command line, `--args FD` data included: any words must give
//! options (and a plan) or an error, never a panic, a hang or unbounded memory.
//!
//! Input layout: the command line's words separated by NUL bytes; a 0xFF byte starts the
//! `--args` files, themselves separated by 0xFE bytes. `--args N` reads file N (modulo their
//! number); with no files it fails as a closed descriptor would.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use stockade::cli::bwrap::{parse_with, to_plan, Host, Parsed};

fuzz_target!(|data: &[u8]| {
    let (line, files) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let args: Vec<OsString> = line
        .split(|&b| b == 0)
        .map(|w| OsString::from_vec(w.to_vec()))
        .collect();
    let files: Vec<&[u8]> = if files.is_empty() {
        Vec::new()
    } else {
        files.split(|&b| b == 0xfe).collect()
    };
    let mut reads = 0usize;
    let mut read_fd = |fd: i32| -> std::io::Result<Vec<u8>> {
        reads += 1;
        if files.is_empty() || fd < 0 {
            return Err(std::io::Error::from_raw_os_error(libc_ebadf()));
        }
        Ok(files[fd as usize % files.len()].to_vec())
    };
    if let Ok(Parsed::Run(opts)) = parse_with(&args, &mut read_fd) {
        // Facts about the host fixed, so the run is reproducible: an ordinary user with user
        // namespaces, and root, whose rules differ.
        for uid in [1000, 0] {
            let host = Host {
                uid,
                gid: uid,
                effective_caps: Vec::new(),
                userns_available: true,
                cgroupns_available: true,
                selinux_enabled: false,
            };
            if let Ok(plan) = to_plan(&opts, &host) {
                let _ = plan.to_string();
            }
        }
    }
});

fn libc_ebadf() -> i32 {
    9
}
