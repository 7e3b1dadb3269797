//! `stockade seccomp export`: the default profile's compiled filter works as a bubblewrap
//! `--seccomp FD` program, so bubblewrap users can adopt stockade's allowlist as is.

mod common;

use common::*;
use std::process::{Command, Stdio};

#[test]
fn exported_filter_is_whole_bpf_instructions() {
    let out = stockade(["seccomp", "export", "--profile", "default"])
        .output()
        .unwrap();
    assert_status(&out, 0);
    assert!(!out.stdout.is_empty());
    assert_eq!(
        out.stdout.len() % 8,
        0,
        "struct sock_filter records are 8 bytes"
    );
    // The first instruction loads seccomp_data.arch (BPF_LD|BPF_W|BPF_ABS, k = 4).
    assert_eq!(u16::from_ne_bytes([out.stdout[0], out.stdout[1]]), 0x20);
    assert_eq!(u32::from_ne_bytes(out.stdout[4..8].try_into().unwrap()), 4);
}

#[test]
fn bubblewrap_enforces_the_exported_filter() {
    if !have("bwrap") || !have("python3") {
        return skip("bubblewrap and python3 are needed to load the exported filter");
    }
    let dir = TempDir::new("export");
    let bpf = dir.path().join("default.bpf");
    let out = stockade(["seccomp", "export"]).output().unwrap();
    assert_status(&out, 0);
    std::fs::write(&bpf, &out.stdout).unwrap();

    let probe = "import ctypes, os\n\
libc = ctypes.CDLL(None, use_errno=True)\n\
r = libc.unshare(0x10000000)\n\
print('unshare', r, ctypes.get_errno())\n\
print('getpid', os.getpid() > 0)\n";
    let run = |with_filter: bool| {
        let mut args: Vec<String> = "--ro-bind / / --dev /dev --proc /proc --unshare-pid"
            .split(' ')
            .map(String::from)
            .collect();
        if with_filter {
            args.extend(["--seccomp".into(), "9".into()]);
        }
        args.extend(["python3".into(), "-c".into(), probe.into()]);
        let script = format!("exec bwrap \"$@\" 9<'{}'", bpf.display());
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Control: without the filter, bubblewrap lets the probe make a user namespace.
    let control = run(false);
    assert_status(&control, 0);
    assert!(
        stdout(&control).contains("unshare 0 0"),
        "control: {}",
        stdout(&control)
    );

    let filtered = run(true);
    assert_status(&filtered, 0);
    let text = stdout(&filtered);
    assert!(
        text.contains(&format!("unshare -1 {}", libc::EPERM)),
        "{text}"
    );
    assert!(text.contains("getpid True"), "{text}");
}
