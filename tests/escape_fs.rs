//! Escape suite, filesystem (issue 8): writes to read-only binds and to the host outside the
//! binds, a secret in $HOME, inherited directory descriptors and a working directory taken from
//! one (runc CVE-2024-21626), mount destinations through symlinks an earlier sandbox planted,
//! device nodes, setuid binaries. The attacker is tests/attackers/fs.py; every verdict is
//! taken on the host, and each check has a control that shows the attack works without the
//! defence.

mod common;
mod escape_common;

use common::*;
use escape_common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Entries of `dir` whose name contains `token` (what the attacker creates).
fn planted(dir: &Path, token: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().contains(token))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn remove_planted(dir: &Path, token: &str) {
    for p in planted(dir, token) {
        let _ = std::fs::remove_dir(&p).or_else(|_| std::fs::remove_file(&p));
    }
}

/// A host directory with a file and a subdirectory the attacker will go after.
fn victim_tree(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.path().join("victim"), "original\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("victim"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    dir
}

fn assert_victim_tree_untouched(dir: &Path, token: &str, what: &str) {
    let victim = dir.join("victim");
    assert_eq!(
        std::fs::read_to_string(&victim).ok().as_deref(),
        Some("original\n"),
        "{what}: the host file was changed or removed"
    );
    let meta = std::fs::metadata(&victim).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o644, "{what}: mode changed");
    assert_ne!(meta.mtime(), 0, "{what}: times changed");
    assert_eq!(meta.nlink(), 1, "{what}: a hard link was made");
    assert!(
        xattr_absent(&victim),
        "{what}: an extended attribute was set on the host file"
    );
    for d in [dir.to_path_buf(), dir.join("sub")] {
        let found = planted(&d, token);
        assert!(found.is_empty(), "{what}: created on the host: {found:?}");
    }
}

fn xattr_absent(path: &Path) -> bool {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: `c` and `buf` outlive the call; the size passed is the buffer's.
    let n = unsafe {
        libc::getxattr(
            c.as_ptr(),
            c"user.stockade".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n < 0
}

#[test]
fn writes_to_read_only_binds_do_not_reach_the_host() {
    // Control: through a read-write bind the same attacker does change the host.
    let dir = victim_tree("rw-control");
    let token = unique("rw");
    let mut flags = vec!["--bind", dir.str(), "/target"];
    flags.extend(FILTERS_OFF);
    let out = attack(
        "default",
        &flags,
        FS_ATTACKER,
        &["write", &token, "/target", "/target/sub", "/target/victim"],
    );
    assert_finished(&out, "control");
    assert!(
        !planted(dir.path(), &token).is_empty(),
        "control: the attacker could not write through a read-write bind:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let dir = victim_tree("ro");
        let token = unique("ro");
        let out = attack(
            profile,
            &["--ro-bind", dir.str(), "/target"],
            FS_ATTACKER,
            &["write", &token, "/target", "/target/sub", "/target/victim"],
        );
        assert_finished(&out, profile);
        assert!(values(&out, "WROTE").is_empty(), "{}", stdout(&out));
        assert_victim_tree_untouched(dir.path(), &token, profile);
    });
}

#[test]
fn writes_outside_the_binds_never_land_on_the_host() {
    let host_dirs = host_writable_dirs();
    assert!(
        host_dirs.iter().any(|d| d.starts_with("/tmp")),
        "the host's /tmp should be writable: {host_dirs:?}"
    );
    // Control: run on the host, the attacker does write into the host's directories.
    let control = TempDir::new("outside-control");
    let token = unique("outside");
    let out = on_host(FS_ATTACKER, &["write", &token, control.str()]);
    assert_finished(&out, "control");
    assert!(
        !planted(control.path(), &token).is_empty(),
        "control: {}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let token = unique("outside");
        let declared = declared(profile, &[]);
        let mut args: Vec<String> = vec!["write".into(), token.clone(), "--walk".into()];
        args.extend(host_dirs.iter().map(|d| d.display().to_string()));
        let out = attack(profile, &[], FS_ATTACKER, &args);
        assert_finished(&out, profile);
        let mut landed = Vec::new();
        for dir in &host_dirs {
            let found = planted(dir, &token);
            if !found.is_empty() && !declared.writable(dir) {
                landed.extend(found);
            }
            remove_planted(dir, &token);
        }
        assert!(
            landed.is_empty(),
            "{profile}: writes from the sandbox landed on the host outside the declared \
             read-write binds: {landed:?}"
        );
    });
}

/// A secret in a hidden directory of $HOME, like ~/.ssh. Removed on drop.
struct Canary {
    dir: PathBuf,
    file: PathBuf,
    secret: String,
}

impl Canary {
    fn plant() -> Option<Canary> {
        let home = std::env::var("HOME").ok()?;
        let dir = Path::new(&home).join(format!(".{}", unique("canary")));
        std::fs::create_dir(&dir).ok()?;
        let secret = format!("SECRET-{}", unique("s"));
        let file = dir.join("id_secret");
        std::fs::write(&file, format!("{secret}\n")).ok()?;
        Some(Canary { dir, file, secret })
    }

    fn leaked(&self, out: &std::process::Output) -> bool {
        stdout(out).contains(&self.secret) || stderr(out).contains(&self.secret)
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_secret_in_home_cannot_be_read() {
    let Some(canary) = Canary::plant() else {
        return skip("cannot write a canary into $HOME");
    };
    let home = std::env::var("HOME").unwrap();
    let file = canary.file.to_str().unwrap();
    // Control: once $HOME is bound, the attacker does find it.
    let mut flags = vec!["--ro-bind", home.as_str(), home.as_str()];
    flags.extend(FILTERS_OFF);
    let out = attack("default", &flags, FS_ATTACKER, &["read", file]);
    assert!(canary.leaked(&out), "control: {}", stdout(&out));

    for_each_profile(|profile| {
        let declared = declared(profile, &[]);
        assert!(
            !declared.bound(&canary.file),
            "{profile} declares a bind that exposes {}: {:?}",
            canary.file.display(),
            declared.sources
        );
        let out = attack(profile, &[], FS_ATTACKER, &["read", file]);
        assert_finished(&out, profile);
        assert!(
            !canary.leaked(&out),
            "{profile}: the secret was read: {}",
            stdout(&out)
        );
    });
}

/// Leaves a descriptor on host directory `dir` open (without close-on-exec) as `target` in
/// the child: the careless caller.
fn leak_dir_fd(cmd: &mut std::process::Command, dir: &Path, target: i32) {
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: the closure only calls async-signal-safe functions (open, dup2, close).
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            if fd < 0 || libc::dup2(fd, target) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if fd != target {
                libc::close(fd);
            }
            Ok(())
        });
    }
}

fn rel_to_root(path: &Path) -> String {
    path.strip_prefix("/").unwrap().display().to_string()
}

#[test]
fn an_inherited_directory_fd_does_not_lead_to_the_host() {
    let Some(canary) = Canary::plant() else {
        return skip("cannot write a canary into $HOME");
    };
    let rel = rel_to_root(&canary.file);
    let host_dirs = [
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
    ];
    // Control: passed on purpose (--keep-fd), the descriptor is a way to the host.
    let token = unique("fd");
    let mut flags = vec!["--keep-fd", "7"];
    flags.extend(FILTERS_OFF);
    let mut cmd = attack_cmd("default", &flags, FS_ATTACKER, &["fds", &token, &rel]);
    leak_dir_fd(&mut cmd, Path::new("/"), 7);
    let out = finish(cmd, std::time::Duration::from_secs(60));
    assert_finished(&out, "control");
    let reached = Path::new("/tmp").join(&token).exists();
    for d in &host_dirs {
        remove_planted(d, &token);
    }
    assert!(
        reached && canary.leaked(&out),
        "control: the kept fd did not reach the host:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let token = unique("fd");
        let mut cmd = attack_cmd(profile, &[], FS_ATTACKER, &["fds", &token, &rel]);
        leak_dir_fd(&mut cmd, Path::new("/"), 7);
        let out = finish(cmd, std::time::Duration::from_secs(60));
        assert_finished(&out, profile);
        let mut landed = Vec::new();
        for d in &host_dirs {
            landed.extend(planted(d, &token));
            remove_planted(d, &token);
        }
        assert!(
            landed.is_empty(),
            "{profile}: written on the host: {landed:?}"
        );
        assert!(!canary.leaked(&out), "{profile}: {}", stdout(&out));
        assert!(
            !stdout(&out).contains("FD 7 "),
            "{profile}: fd 7 is still open inside:\n{}",
            stdout(&out)
        );
    });
}

/// runc CVE-2024-21626: the working directory named through a leaked descriptor
/// (`/proc/self/fd/N`) would be a directory of the host, outside the new root.
#[test]
fn working_directory_through_a_leaked_fd_stays_inside() {
    if !have("python3") {
        return skip("python3 is needed for the attacker");
    }
    for_each_profile(|profile| {
        for fd in [7, 0] {
            let victim = TempDir::new("cwd-victim");
            let token = unique("cwd");
            let chdir = format!("/proc/self/fd/{fd}");
            // python refuses to start with a directory as stdin: the shell swaps it first,
            // which leaves the working directory alone.
            let mut cmd = stockade([
                "run",
                "--profile",
                profile,
                "--chdir",
                &chdir,
                "--",
                "/bin/sh",
                "-c",
                "exec /usr/bin/python3 -c \"$0\" \"$@\" </dev/null",
                PROC_ATTACKER,
                "runtime",
                &token,
                "/nonexistent",
                victim.str(),
            ]);
            leak_dir_fd(&mut cmd, victim.path(), fd);
            let out = finish(cmd, std::time::Duration::from_secs(60));
            // Refusing the directory (125) is fine; running in a host directory is not.
            let landed = planted(victim.path(), &token);
            assert!(
                landed.is_empty(),
                "{profile}: --chdir {chdir} with a leaked fd gave the command a host \
                 working directory; it wrote {landed:?}\n{}",
                stdout(&out)
            );
            if out.status.code() != Some(125) {
                assert_finished(&out, profile);
                let cwd = value(&out, "CWD");
                assert!(
                    !cwd.contains("unreachable") && !cwd.contains(victim.str()),
                    "{profile}: working directory outside the root: {cwd}"
                );
            }
        }
    });
}

#[test]
fn mount_destinations_through_planted_symlinks_stay_inside() {
    for_each_profile(|profile| {
        let shared = TempDir::new("planted");
        let victim = TempDir::new("planted-victim");
        let source = victim_tree("planted-src");
        // The first sandbox plants the links in a directory it shares with later ones.
        let out = attack(
            profile,
            &["--bind", shared.str(), "/shared"],
            FS_ATTACKER,
            &["plant", "/shared", victim.str()],
        );
        assert_finished(&out, profile);
        assert_eq!(
            values(&out, "WROTE").len(),
            4,
            "{profile}: could not plant: {}",
            stdout(&out)
        );
        let name = unique("planted");
        let host_tmp = Path::new("/tmp").join(&name);
        let cases: Vec<(Vec<String>, PathBuf)> = vec![
            (
                vec!["--tmpfs".into(), format!("/shared/evil/tmp/{name}")],
                host_tmp.clone(),
            ),
            (
                vec!["--dir".into(), "/shared/link/planted".into()],
                victim.path().join("planted"),
            ),
            (
                vec![
                    "--ro-bind".into(),
                    source.str().into(),
                    "/shared/link/bound".into(),
                ],
                victim.path().join("bound"),
            ),
            (
                vec!["--dir".into(), format!("/shared/up/{name}")],
                host_tmp.clone(),
            ),
            (
                vec!["--tmpfs".into(), format!("/shared/self/{name}")],
                host_tmp.clone(),
            ),
        ];
        for (ops, host_path) in cases {
            let mut args = vec![
                "run".to_string(),
                "--profile".into(),
                profile.into(),
                "--bind".into(),
                shared.str().into(),
                "/shared".into(),
            ];
            args.extend(ops.iter().cloned());
            args.extend(["--".into(), "true".into()]);
            let out = stockade(&args).output().unwrap();
            assert!(
                matches!(out.status.code(), Some(0) | Some(125)),
                "{profile} {ops:?}: {}",
                stderr(&out)
            );
            let escaped = host_path.exists();
            let _ = std::fs::remove_dir(&host_path);
            assert!(
                !escaped,
                "{profile} {ops:?}: a mount point was made on the host at {}",
                host_path.display()
            );
        }
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!host_mounts.contains(&name), "{host_mounts}");
    });
}

#[test]
fn device_nodes_cannot_be_made() {
    // No control: the kernel never lets an unprivileged user make device nodes, so the check is
    // that the sandbox gives no new way to (no CAP_MKNOD anywhere, nodev binds).
    for_each_profile(|profile| {
        let dir = TempDir::new("mknod");
        let out = attack(
            profile,
            &["--bind", dir.str(), "/rw"],
            FS_ATTACKER,
            &["mknod", "/rw", "/tmp", "/dev/shm", "/dev"],
        );
        assert_finished(&out, profile);
        assert!(values(&out, "MADE").is_empty(), "{}", stdout(&out));
        let made: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert!(made.is_empty(), "{profile}: on the host: {made:?}");
    });
}

/// Setuid-root programs the host has, which block on their input (so their credentials can
/// be read while they run).
const SETUID_PROGRAMS: [&str; 4] = [
    "/usr/bin/su",
    "/usr/bin/passwd",
    "/usr/bin/newgrp",
    "/usr/bin/chfn",
];

#[test]
fn setuid_binaries_gain_nothing_inside() {
    let present: Vec<&str> = SETUID_PROGRAMS
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.mode() & 0o4000 != 0 && m.uid() == 0))
        .collect();
    if present.is_empty() {
        return skip("no setuid-root program to try on this host");
    }
    let mut args = vec!["setuid"];
    args.extend(&present);
    // Control: on the host they do run with euid 0.
    let out = on_host(FS_ATTACKER, &args);
    assert_finished(&out, "control");
    assert!(
        values(&out, "RAN")
            .iter()
            .any(|v| v.ends_with("gained=yes")),
        "control: no setuid program gained privileges on the host:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let out = attack(profile, &[], FS_ATTACKER, &args);
        assert_finished(&out, profile);
        let ran = values(&out, "RAN");
        for line in &ran {
            assert!(line.ends_with("gained=no"), "{profile}: {line}");
            assert!(line.contains("nnp=1"), "{profile}: {line}");
        }
        if ran.is_empty() {
            skip(&format!(
                "{profile}: no setuid program stayed running long enough to be checked"
            ));
        }
    });
}
