//! `stockade run`: what the kernel shows inside the sandbox (issue 2).

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn ro_bind_is_read_only_with_erofs() {
    let dir = TempDir::new("ro");
    let out = run_sh(
        &["--ro-bind", dir.str(), "/ro"],
        "touch /ro/file; echo status=$?",
    );
    assert_status(&out, 0);
    assert!(stdout(&out).contains("status=1"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "expected EROFS, got: {}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("file").exists(),
        "the write reached the host"
    );
}

/// A host mount below `/` that this user can write to: proof that a recursive read-only bind
/// of `/` must cover submounts.
fn writable_host_submount() -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    for line in mountinfo.lines() {
        let point = line.split(' ').nth(4)?;
        if point == "/" || point.starts_with("/proc") || point.starts_with("/sys") {
            continue;
        }
        let probe = format!("{point}/.stockade-probe-{}", std::process::id());
        if std::fs::write(&probe, b"x").is_ok() {
            let _ = std::fs::remove_file(&probe);
            return Some(point.to_string());
        }
    }
    None
}

#[test]
fn ro_bind_makes_submounts_read_only_too() {
    let Some(sub) = writable_host_submount() else {
        return skip("no host submount below / is writable by this user");
    };
    let name = format!("stockade-sub-{}", std::process::id());
    let script = format!("touch /host{sub}/{name}; echo status=$?");
    let out = run_sh(&["--ro-bind", "/", "/host"], &script);
    assert_status(&out, 0);
    assert!(stdout(&out).contains("status=1"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(
        !std::path::Path::new(&sub).join(&name).exists(),
        "write through a submount of a read-only bind reached the host ({sub})"
    );
}

#[test]
fn bind_is_writable_and_files_belong_to_the_caller() {
    let dir = TempDir::new("rw");
    let out = run_sh(&["--bind", dir.str(), "/rw"], "echo hello > /rw/made");
    assert_status(&out, 0);
    let meta = std::fs::metadata(dir.path().join("made")).expect("file created on the host");
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    assert_eq!(meta.gid(), nix::unistd::getegid().as_raw());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("made")).unwrap(),
        "hello\n"
    );
}

#[test]
fn pid_namespace_shows_only_the_sandbox_and_init_is_stockade() {
    let out = run_sh(
        &[],
        "ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '; echo; \
         sed -n 's/^Name:\\t//p' /proc/1/status; echo self=$$",
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    let pids: Vec<u32> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(
        lines.next(),
        Some("stockade"),
        "PID 1 must be stockade's init: {text}"
    );
    assert!(pids.contains(&1), "{text}");
    // init, the shell, ls, and the pipeline helpers: a handful, never the host's hundreds.
    assert!(pids.len() <= 6, "host processes visible: {pids:?}");
    assert!(pids.iter().all(|&p| p < 50), "{pids:?}");
}

#[test]
fn network_namespace_has_only_loopback_and_it_is_up() {
    let out = run_sh(
        &[],
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
         if command -v ip >/dev/null; then ip -o link show; fi",
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("lo"), "{text}");
    let rest: Vec<&str> = lines.collect();
    if common::have("ip") {
        assert_eq!(rest.len(), 1, "ip sees more than lo: {text}");
        assert!(rest[0].contains("lo:") && rest[0].contains("UP"), "{text}");
    } else {
        assert!(rest.is_empty(), "{text}");
        skip("ip(8) missing: checked /proc/net/dev only");
    }
}

#[test]
fn share_net_keeps_the_host_interfaces() {
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    let out = run_sh(&["--share-net"], "cat /proc/net/dev");
    assert_status(&out, 0);
    let names = |s: &str| -> Vec<String> {
        s.lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim().to_string())
            .collect()
    };
    assert_eq!(names(&stdout(&out)), names(&host));
}

#[test]
fn hostname_is_private() {
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = run_sh(
        &["--hostname", "sandboxed"],
        "cat /proc/sys/kernel/hostname",
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "sandboxed\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
}

#[test]
fn every_capability_set_is_empty_and_no_new_privs_is_set() {
    for extra in [&[][..], &["--uid", "0", "--gid", "0"][..]] {
        let out = run_sh(
            extra,
            "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; id -u",
        );
        assert_status(&out, 0);
        let text = stdout(&out);
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            let line = text
                .lines()
                .find(|l| l.starts_with(set))
                .unwrap_or_else(|| panic!("{set} missing: {text}"));
            assert!(line.ends_with("0000000000000000"), "{extra:?}: {line}");
        }
        assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    }
}

#[test]
fn uid_and_gid_inside_default_to_the_callers_and_can_be_chosen() {
    let me = nix::unistd::geteuid().as_raw();
    let out = run_sh(&[], "id -u; id -g");
    assert_eq!(
        stdout(&out),
        format!("{me}\n{}\n", nix::unistd::getegid().as_raw())
    );
    let out = run_sh(
        &["--uid", "0", "--gid", "0"],
        "id -u; id -g; cat /proc/self/uid_map",
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    let fields: Vec<&str> = text.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(&text.lines().take(2).collect::<Vec<_>>(), &["0", "0"]);
    assert_eq!(fields, vec!["0", &me.to_string(), "1"]);
}

#[test]
fn environment_is_kept_and_changed_in_order() {
    let mut cmd = stockade([
        "run",
        "--setenv",
        "A",
        "1",
        "--unsetenv",
        "DROPME",
        "--setenv",
        "B",
        "2",
        "--",
        "sh",
        "-c",
        "echo ${A}-${B}-${KEEPME}-${DROPME:-gone}",
    ]);
    cmd.env("KEEPME", "kept").env("DROPME", "present");
    let out = cmd.output().unwrap();
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "1-2-kept-gone\n");

    let mut cmd = stockade([
        "run",
        "--clearenv",
        "--setenv",
        "ONLY",
        "x",
        "--",
        "/usr/bin/env",
    ]);
    cmd.env("KEEPME", "kept");
    let out = cmd.output().unwrap();
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "ONLY=x\n");
}

#[test]
fn working_directory_is_the_callers_when_present_inside() {
    let dir = TempDir::new("cwd");
    let out = stockade(["run", "--bind", dir.str(), dir.str(), "--", "pwd"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_status(&out, 0);
    assert_eq!(stdout(&out).trim(), dir.str());

    let out = stockade(["run", "--", "pwd"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "/");

    let out = run_sh(&["--chdir", "/usr/share"], "pwd");
    assert_eq!(stdout(&out).trim(), "/usr/share");
}

#[test]
fn root_is_read_only_tmp_is_fresh_and_writable() {
    let marker = format!("stockade-tmp-{}", std::process::id());
    let out = run_sh(
        &[],
        &format!(
            "touch /newfile 2>/dev/null && echo root-writable; \
             ls -A /tmp | wc -l; echo x > /tmp/{marker} && echo tmp-ok"
        ),
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "0\ntmp-ok\n");
    assert!(!std::path::Path::new("/tmp").join(&marker).exists());
}

#[test]
fn minimal_dev_has_the_usual_nodes_and_a_private_devpts() {
    let out = run_sh(
        &[],
        "for n in null zero full random urandom tty; do test -c /dev/$n && echo $n; done; \
         test -L /dev/ptmx && test -c /dev/pts/ptmx && echo ptmx; \
         test -d /dev/shm && echo shm; stat -c %a /dev/shm; readlink /dev/fd /dev/stdin /dev/stdout /dev/stderr; \
         head -c 4 /dev/zero | od -An -tx1 | tr -d ' '; ls /dev/pts | grep -v ptmx | wc -l",
    );
    assert_status(&out, 0);
    assert_eq!(
        stdout(&out),
        "null\nzero\nfull\nrandom\nurandom\ntty\nptmx\nshm\n1777\n/proc/self/fd\n/proc/self/fd/0\n\
         /proc/self/fd/1\n/proc/self/fd/2\n00000000\n0\n"
    );
}

#[test]
fn home_is_not_visible_by_default() {
    let Ok(home) = std::env::var("HOME") else {
        return skip("HOME is not set");
    };
    if !std::path::Path::new(&home).is_dir() {
        return skip("HOME does not exist on the host");
    }
    let out = run_sh(
        &[],
        &format!("test -e '{home}' && echo visible || echo absent"),
    );
    assert_eq!(stdout(&out), "absent\n");
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let dir = TempDir::new("dry");
    let target = dir.path().join("never");
    let out = stockade([
        "run",
        "--dry-run",
        "--bind",
        dir.str(),
        "/w",
        "--dir",
        "/w/never",
        "--hostname",
        "h",
        "--",
        "true",
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    let text = stdout(&out);
    for expected in [
        "namespaces: user mount pid net uts ipc",
        "setgroups: deny",
        "ro-bind /usr -> /usr",
        &format!("bind {} -> /w", dir.str()),
        "dir /w/never",
        "hostname: h",
        "capabilities: none",
        "command: true",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // bind comes after the defaults and before the dir, as given.
    assert!(text.find("proc /proc").unwrap() < text.find("\n  bind /").unwrap());
    assert!(text.find(&format!("bind {}", dir.str())).unwrap() < text.find("dir /w").unwrap());
    assert!(!target.exists());
}
