//! Escape suite, privileges and syscalls (issue 8): capabilities in any set, no_new_privs,
//! mount/umount/pivot_root/chroot/sethostname after setup, nested user namespaces, and the
//! dangerous syscalls. The attacker is tests/attackers/privs.py (x86_64 syscall numbers).
//! Each check has a control run without the filters that shows which attempts the kernel
//! alone would let through.

mod common;
mod escape_common;

use common::*;
use escape_common::*;

fn x86_64() -> bool {
    if cfg!(target_arch = "x86_64") {
        return true;
    }
    skip("the attacker uses x86_64 syscall numbers");
    false
}

/// `(name, result)` for every line with `key`; result is `ok` or `ERRNO NAME`.
fn results(out: &std::process::Output, key: &str) -> Vec<(String, String)> {
    values(out, key)
        .into_iter()
        .map(|v| match v.split_once(' ') {
            Some((name, result)) => (name.to_string(), result.to_string()),
            None => (v, String::new()),
        })
        .collect()
}

fn denied(result: &str) -> bool {
    // The design note: EPERM, or ENOSYS for what a program may fall back from.
    result == "1 EPERM" || result == "38 ENOSYS"
}

#[test]
fn no_capability_in_any_set_and_no_new_privs() {
    if !x86_64() {
        return;
    }
    for_each_profile(|profile| {
        for extra in [&[][..], &["--uid", "0", "--gid", "0"][..]] {
            let out = attack(profile, extra, PRIV_ATTACKER, &["caps"]);
            assert_finished(&out, profile);
            let status = values(&out, "STATUS");
            for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
                let line = status
                    .iter()
                    .find(|l| l.starts_with(set))
                    .unwrap_or_else(|| panic!("{set} missing"));
                assert_eq!(
                    line,
                    &format!("{set} 0000000000000000"),
                    "{profile} {extra:?}"
                );
            }
            assert!(status.contains(&"NoNewPrivs 1".to_string()), "{status:?}");
            assert_eq!(value(&out, "PRCTL").as_str(), "nnp 1");
            assert!(values(&out, "PRCTL").contains(&"bounding []".to_string()));
            assert!(values(&out, "PRCTL").contains(&"ambient []".to_string()));
            if extra.is_empty() {
                assert_ne!(value(&out, "SETUID0"), "ok", "{profile}: setuid(0) worked");
            }
            assert_eq!(
                value(&out, "AFTER-EXEC"),
                "CapEff: 0000000000000000",
                "{profile} {extra:?}: an exec brought capabilities back"
            );
        }
    });
}

#[test]
fn mount_and_friends_fail_after_setup() {
    if !x86_64() {
        return;
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for_each_profile(|profile| {
        for extra in [&[][..], &["--uid", "0", "--gid", "0"][..]] {
            let token = unique("mount");
            let out = attack(profile, extra, PRIV_ATTACKER, &["mount", &token]);
            assert_finished(&out, profile);
            let results = results(&out, "MOUNT");
            assert!(results.len() >= 15, "{}", stdout(&out));
            for (name, result) in &results {
                if name == "usr-still-ro" {
                    assert_eq!(result, "30 EROFS", "{profile} {extra:?}");
                } else {
                    assert!(denied(result), "{profile} {extra:?}: {name} -> {result}");
                }
            }
            let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(!host_mounts.contains(&token), "a mount reached the host");
        }
    });
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        hostname
    );
}

#[test]
fn nested_user_namespaces_are_refused() {
    if !x86_64() {
        return;
    }
    // Control: without the filter the kernel lets the sandbox nest a user namespace (and the
    // nested namespace still cannot undo the locked mounts: kernel behaviour, printed).
    let out = attack("default", &FILTERS_OFF, PRIV_ATTACKER, &["userns"]);
    assert_finished(&out, "control");
    println!(
        "control without filters: {}",
        stdout(&out).replace('\n', "; ")
    );
    assert!(
        values(&out, "NESTED")
            .iter()
            .all(|v| v.contains("setattr=0 umount=0 remount=0")),
        "a nested user namespace undid the sandbox's locked mounts:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let out = attack(profile, &[], PRIV_ATTACKER, &["userns"]);
        assert_finished(&out, profile);
        for (name, result) in results(&out, "USERNS") {
            assert!(
                denied(&result),
                "{profile}: a nested user namespace was created with {name} ({result})"
            );
        }
    });
}

/// The dangerous syscalls of issue 8, each tried with arguments that work when nothing
/// stops them.
const DANGEROUS: [&str; 18] = [
    "ptrace-seize-child",
    "ptrace-attach-pid1",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "name_to_handle_at",
    "open_by_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "process_vm_writev",
    "process_vm_readv",
    "io_uring_setup",
];

#[test]
fn dangerous_syscalls_are_denied_with_an_errno() {
    if !x86_64() {
        return;
    }
    // Control: what the kernel alone allows inside the namespaces.
    let out = attack("default", &FILTERS_OFF, PRIV_ATTACKER, &["syscalls"]);
    assert_finished(&out, "control");
    let allowed: Vec<String> = results(&out, "SYSCALL")
        .into_iter()
        .filter(|(_, r)| r == "ok")
        .map(|(n, _)| n)
        .collect();
    println!("without the filter the kernel allows: {allowed:?}");
    assert!(
        allowed.iter().any(|n| n == "process_vm_writev"),
        "control: the attacker's syscalls do not work: {}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let out = attack(profile, &[], PRIV_ATTACKER, &["syscalls"]);
        assert_finished(&out, profile);
        let results = results(&out, "SYSCALL");
        let mut let_through = Vec::new();
        for name in DANGEROUS {
            let result = results
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r.as_str())
                .unwrap_or_else(|| panic!("{name} not tried:\n{}", stdout(&out)));
            println!("{profile}: {name} -> {result}");
            if !denied(result) {
                let_through.push(format!("{name} -> {result}"));
            }
        }
        assert!(
            let_through.is_empty(),
            "{profile}: dangerous syscalls not denied with EPERM/ENOSYS: {let_through:?}"
        );
    });
}

#[test]
fn the_callers_session_keyring_is_out_of_reach() {
    if !x86_64() {
        return;
    }
    let secret = unique("keyring-secret");
    // The caller keeps a secret in its session keyring (as pam_keyinit, kinit or ecryptfs do).
    let with_secret = |mut cmd: std::process::Command| {
        let desc = std::ffi::CString::new(unique("key")).unwrap();
        let payload = secret.clone().into_bytes();
        // SAFETY: raw syscalls only (async-signal-safe); the buffers outlive the child's exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                libc::syscall(libc::SYS_keyctl, 1 as libc::c_long, std::ptr::null::<u8>());
                let id = libc::syscall(
                    libc::SYS_add_key,
                    c"user".as_ptr(),
                    desc.as_ptr(),
                    payload.as_ptr(),
                    payload.len(),
                    -3 as libc::c_long,
                );
                if id < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        finish(cmd, std::time::Duration::from_secs(60))
    };
    let mut host = std::process::Command::new("/usr/bin/python3");
    host.args(["-c", PRIV_ATTACKER, "keyring"]);
    let out = with_secret(host);
    assert_finished(&out, "control");
    assert!(
        stdout(&out).contains(&secret),
        "control: the attacker cannot read its own session keyring:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        for extra in [&[][..], &["--seccomp", "off"][..]] {
            let out = with_secret(attack_cmd(profile, extra, PRIV_ATTACKER, &["keyring"]));
            assert_finished(&out, profile);
            assert!(
                !stdout(&out).contains(&secret),
                "{profile} {extra:?}: the caller's session keyring was read:\n{}",
                stdout(&out)
            );
        }
    });
}
