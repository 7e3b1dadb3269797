//! Escape suite, processes and /proc (issue 8): host processes, the runtime's own binary
//! (runc CVE-2019-5736), /proc/1/root and /proc/1/cwd, the working directory, mountinfo,
//! /proc/sys and /sys, and processes left behind. The attacker is tests/attackers/proc.py.

mod common;
mod escape_common;

use common::*;
use escape_common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[test]
fn host_processes_can_be_neither_seen_nor_signalled() {
    // Control: the same attacker on the host finds the victim and kills it.
    let victim = HostVictim::start();
    let out = on_host(
        PROC_ATTACKER,
        &["procs", &victim.token, &victim.pid().to_string()],
    );
    assert_finished(&out, "control");
    assert!(
        wait_for(Duration::from_secs(3), || !alive(victim.pid())),
        "control: the attacker could not kill a host process:\n{}",
        stdout(&out)
    );

    for_each_profile(|profile| {
        let victim = HostVictim::start();
        let out = attack(
            profile,
            &[],
            PROC_ATTACKER,
            &["procs", &victim.token, &victim.pid().to_string()],
        );
        assert_finished(&out, profile);
        assert!(
            values(&out, "SEEN").is_empty(),
            "{profile}: host process visible:\n{}",
            stdout(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            alive(victim.pid()),
            "{profile}: the host process was killed from inside:\n{}",
            stdout(&out)
        );
    });
}

/// A copy of stockade this user owns and could write on the host: only the sandbox stands
/// between the attacker and the runtime's binary.
fn writable_stockade_copy(dir: &TempDir) -> PathBuf {
    let copy = dir.path().join("stockade");
    std::fs::copy(stockade_bin(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    copy
}

#[test]
fn the_runtime_binary_and_pid1_lead_nowhere() {
    let bin_dir = TempDir::new("runtime-bin");
    let copy = writable_stockade_copy(&bin_dir);
    let original = std::fs::read(&copy).unwrap();
    // Control: on the host this user can open the copy for writing.
    assert!(
        std::fs::OpenOptions::new().append(true).open(&copy).is_ok(),
        "control: the copy is not writable on the host"
    );

    for_each_profile(|profile| {
        // The caller's working directory is a host directory the sandbox does not bind.
        let host_dir = TempDir::new("runtime-cwd");
        let token = unique("runtime");
        // Profiles that bind the working directory (build, test) make it visible on purpose.
        let cwd_bound = declared_from(profile, &[], Some(host_dir.path())).bound(host_dir.path());
        let mut cmd = std::process::Command::new(&copy);
        cmd.args(["run", "--profile", profile, "--", "/usr/bin/python3", "-c"])
            .arg(PROC_ATTACKER)
            .args(["runtime", &token, copy.to_str().unwrap(), host_dir.str()])
            .current_dir(host_dir.path())
            .stdin(Stdio::null());
        let out = finish(cmd, Duration::from_secs(60));
        assert_finished(&out, profile);
        let text = stdout(&out);
        assert!(
            values(&out, "OPENED-W").is_empty(),
            "{profile}: a runtime binary opened for writing:\n{text}"
        );
        assert_eq!(
            std::fs::read(&copy).unwrap(),
            original,
            "{profile}: stockade's binary changed on the host"
        );
        for link in values(&out, "LINK") {
            let (_, target) = link.split_once(' ').unwrap();
            assert!(
                target == "/" || cwd_bound || !target.starts_with(host_dir.str()),
                "{profile}: {link}"
            );
        }
        let cwd = value(&out, "CWD");
        if cwd_bound {
            println!("{profile} binds the working directory: it is reachable by design");
            assert_eq!(cwd, host_dir.str(), "{profile}: the working directory");
        } else {
            assert!(
                values(&out, "REACHED").is_empty(),
                "{profile}: a host directory was reachable:\n{text}"
            );
            assert_eq!(
                cwd, "/",
                "{profile}: the working directory is not the new root's /"
            );
            let planted: Vec<_> = std::fs::read_dir(host_dir.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            assert!(
                planted.is_empty(),
                "{profile}: written on the host: {planted:?}"
            );
        }
        let host_tmp = Path::new("/tmp").join(&token);
        assert!(
            !host_tmp.exists(),
            "{profile}: wrote {}",
            host_tmp.display()
        );
    });
}

/// Mount points and paths inside their filesystem for one mountinfo line.
struct MountLine {
    root: String,
    fstype: String,
    point: String,
    super_options: String,
    line: String,
}

fn parse_mountinfo(lines: &[String]) -> Vec<MountLine> {
    lines
        .iter()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let sep = f.iter().position(|&w| w == "-").unwrap();
            MountLine {
                root: f[3].to_string(),
                fstype: f.get(sep + 1).unwrap_or(&"").to_string(),
                point: f[4].to_string(),
                super_options: f.get(sep + 3).unwrap_or(&"").to_string(),
                line: line.clone(),
            }
        })
        .collect()
}

#[test]
fn mountinfo_shows_no_host_path_beyond_the_declared_binds() {
    let data = TempDir::new("mountinfo");
    for_each_profile(|profile| {
        let extra = ["--ro-bind", data.str(), "/data"];
        let declared = declared(profile, &extra);
        // A bind shows its source as the path inside the source's filesystem, which is the
        // source itself or a tail of it (its canonical form, for links such as /etc/localtime).
        let mut sources: Vec<PathBuf> = declared.sources.clone();
        sources.extend(
            declared
                .sources
                .iter()
                .filter_map(|s| std::fs::canonicalize(s).ok()),
        );
        // The minimal /dev binds these host nodes (README: `--dev`).
        for node in ["null", "zero", "full", "random", "urandom", "tty"] {
            sources.push(Path::new("/dev").join(node));
        }
        let out = attack(profile, &extra, PROC_ATTACKER, &["mountinfo"]);
        assert_finished(&out, profile);
        let mounts = parse_mountinfo(&values(&out, "MOUNTINFO"));
        assert!(mounts.len() > 3, "{}", stdout(&out));
        for m in &mounts {
            let root = Path::new(&m.root);
            // The sandbox's own procfs may be bound over parts of itself (read-only covers of
            // /proc/sys and friends, as bubblewrap does): paths inside the sandbox's proc.
            let own_proc_cover = m.fstype == "proc"
                && ["/sys", "/sysrq-trigger", "/irq", "/bus"].contains(&m.root.as_str());
            let root_ok = m.root == "/"
                || own_proc_cover
                || sources
                    .iter()
                    .any(|s| s.ends_with(root.strip_prefix("/").unwrap()));
            assert!(
                root_ok,
                "{profile}: host path {} is not a declared bind source\n{}",
                m.root, m.line
            );
            let point = Path::new(&m.point);
            let point_ok = m.point == "/" || declared.dests.iter().any(|d| point.starts_with(d));
            assert!(
                point_ok,
                "{profile}: mount point {} not declared\n{}",
                m.point, m.line
            );
            for opt in m.super_options.split(',') {
                let value = opt.split_once('=').map(|(_, v)| v).unwrap_or(opt);
                assert!(
                    !value.starts_with('/'),
                    "{profile}: superblock option names a host path: {}",
                    m.line
                );
            }
        }
        assert!(
            mounts.iter().any(|m| m.point == "/data"),
            "{profile}: the declared bind is missing"
        );
    });
}

#[test]
fn proc_sys_and_sys_cannot_be_written() {
    let watched = [
        "/proc/sys/kernel/hostname",
        "/proc/sys/kernel/domainname",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/fs/protected_symlinks",
    ];
    let before: Vec<Option<String>> = watched
        .iter()
        .map(|p| std::fs::read_to_string(p).ok())
        .collect();
    for_each_profile(|profile| {
        for extra in [&[][..], &["--uid", "0", "--gid", "0"][..]] {
            let token = unique("sys");
            let out = attack(profile, extra, PROC_ATTACKER, &["sys", &token]);
            assert_finished(&out, profile);
            assert!(
                values(&out, "WROTE").is_empty(),
                "{profile} {extra:?}: written:\n{}",
                stdout(&out)
            );
            for mount in values(&out, "MOUNT") {
                // Present at all, /proc/sys and /sys must be read-only mounts.
                assert!(
                    mount
                        .split(' ')
                        .nth(1)
                        .unwrap_or("")
                        .split(',')
                        .any(|o| o == "ro"),
                    "{profile}: {mount}"
                );
            }
        }
    });
    let after: Vec<Option<String>> = watched
        .iter()
        .map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert_eq!(before, after, "a host sysctl changed");
}

/// The ways an attacker keeps a process alive after its command ends: background jobs,
/// a new session, a double fork, ignoring SIGHUP/SIGTERM.
fn leftover_script(token: &str) -> String {
    format!(
        "sleep {token} & \
         setsid sleep {token} & \
         ( trap '' HUP TERM; sleep {token} ) & \
         sh -c 'sleep {token} & exit 0'; \
         echo started"
    )
}

#[test]
fn no_process_is_left_behind() {
    for_each_profile(|profile| {
        // 1. The command exits normally.
        let victim = HostVictim::start(); // only for its unique token
        let token = victim.token.clone();
        let out = stockade([
            "run",
            "--profile",
            profile,
            "--",
            "sh",
            "-c",
            &leftover_script(&token),
        ])
        .output()
        .unwrap();
        assert_status(&out, 0);
        let leftover = |t: &str| -> Vec<i32> {
            host_processes_with(t)
                .into_iter()
                .filter(|&p| p != victim.pid())
                .collect()
        };
        assert!(
            wait_for(Duration::from_secs(3), || leftover(&token).is_empty()),
            "{profile}: left behind after a normal exit: {:?}",
            leftover(&token)
        );

        // 2. The command is SIGKILLed.
        let script = format!("{} ; kill -9 $$", leftover_script(&token));
        let out = stockade(["run", "--profile", profile, "--", "sh", "-c", &script])
            .output()
            .unwrap();
        assert_status(&out, 137);
        assert!(
            wait_for(Duration::from_secs(3), || leftover(&token).is_empty()),
            "{profile}: left behind after SIGKILL of the command: {:?}",
            leftover(&token)
        );

        // 3. stockade's parent is SIGKILLed; 4. stockade itself is SIGKILLed.
        for target in ["parent", "stockade"] {
            let script = format!("{} ; wait", leftover_script(&token));
            let mut parent = std::process::Command::new("sh")
                .args([
                    "-c",
                    "\"$@\"; echo unreachable",
                    "sh",
                    stockade_bin().to_str().unwrap(),
                    "run",
                    "--profile",
                    profile,
                    "--",
                    "sh",
                    "-c",
                    &script,
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            assert!(
                // The four sleeps themselves, not just the shells that name the token.
                wait_for(Duration::from_secs(10), || {
                    leftover(&token)
                        .iter()
                        .filter(|p| {
                            std::fs::read_to_string(format!("/proc/{p}/comm"))
                                .is_ok_and(|c| c == "sleep\n")
                        })
                        .count()
                        >= 4
                }),
                "{profile}: the sandbox did not start its processes"
            );
            if target == "parent" {
                parent.kill().unwrap();
            } else {
                let bin = stockade_bin();
                let launcher = host_processes_with(&token)
                    .into_iter()
                    .find(|p| {
                        std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e == bin)
                            && std::fs::read_to_string(format!("/proc/{p}/status"))
                                .is_ok_and(|s| s.contains(&format!("PPid:\t{}\n", parent.id())))
                    })
                    .expect("stockade's launcher among the host processes");
                // SAFETY: plain kill(2) of a process this test started.
                unsafe { libc::kill(launcher, libc::SIGKILL) };
            }
            let _ = parent.wait();
            assert!(
                wait_for(Duration::from_secs(3), || leftover(&token).is_empty()),
                "{profile}: left behind after SIGKILL of {target}: {:?}",
                leftover(&token)
            );
        }
    });
}
