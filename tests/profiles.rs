//! Named profiles, end to end: the real binary, run as the ordinary test user.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

const BUILT_IN: &[&str] = &["default", "build", "test", "desktop"];

/// `stockade ARGS` in `dir` with `XDG_CONFIG_HOME` pointing at `config`.
fn stockade_in(dir: &Path, config: &Path, args: &[&str]) -> Output {
    stockade(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", config)
        .output()
        .expect("running stockade")
}

/// A scratch directory with an empty configuration directory in it.
fn scratch(tag: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(tag);
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("stockade/profiles")).unwrap();
    (dir, config)
}

fn write_user_profile(config: &Path, name: &str, text: &str) {
    std::fs::write(config.join(format!("stockade/profiles/{name}.toml")), text).unwrap();
}

#[test]
fn every_built_in_profile_runs_sh() {
    let (dir, config) = scratch("builtin-run");
    for name in BUILT_IN {
        let out = stockade_in(
            dir.path(),
            &config,
            &["run", "--profile", name, "--", "sh", "-c", "true"],
        );
        assert_status(&out, 0);
    }
}

/// Everything but the syscall filter, which needs the seccomp tables.
#[test]
fn every_built_in_profile_sets_up_without_the_filter() {
    let (dir, config) = scratch("builtin-nofilter");
    for name in BUILT_IN {
        let out = stockade_in(
            dir.path(),
            &config,
            &[
                "run",
                "--seccomp",
                "off",
                "--profile",
                name,
                "--",
                "sh",
                "-c",
                "true",
            ],
        );
        assert_status(&out, 0);
    }
}

#[test]
fn build_profile_writes_only_the_working_directory() {
    let (dir, config) = scratch("build-cwd");
    let home = std::path::PathBuf::from(std::env::var("HOME").expect("HOME is set"));
    let secret = home.join(format!(".stockade-secret-{}", std::process::id()));
    std::fs::write(&secret, "secret\n").unwrap();
    let canary = home.join(format!(".stockade-canary-{}", std::process::id()));
    // Inside, the home is an empty tmpfs: writable, without the real files.
    let script = format!(
        "echo built > out.txt && touch {canary} && test ! -e {secret}",
        canary = canary.display(),
        secret = secret.display()
    );
    let out = stockade_in(
        dir.path(),
        &config,
        &[
            "run",
            "--seccomp",
            "off",
            "--profile",
            "build",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    let _ = std::fs::remove_file(&secret);
    assert_status(&out, 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "built\n"
    );
    assert!(!canary.exists(), "the real home was written");
}

#[test]
fn show_output_is_accepted_by_check() {
    let (dir, config) = scratch("show-check");
    for name in BUILT_IN {
        let shown = stockade_in(dir.path(), &config, &["profile", "show", name]);
        assert_status(&shown, 0);
        let file = dir.path().join(format!("{name}-shown.toml"));
        std::fs::write(&file, &shown.stdout).unwrap();
        let checked = stockade_in(
            dir.path(),
            &config,
            &["profile", "check", file.to_str().unwrap()],
        );
        assert_status(&checked, 0);
        assert!(stdout(&checked).ends_with(": ok\n"), "{}", stdout(&checked));
    }
}

/// A minimal profile of its own (no `extends`), so it needs no syscall tables.
const USER_BUILD: &str = r#"
description = "my own build"
hostname = "from-user-profile"
fs = [
    { type = "ro-bind", src = "/usr" },
    { type = "mirror", dest = "/bin" },
    { type = "mirror", dest = "/lib" },
    { type = "mirror", dest = "/lib64" },
    { type = "proc", dest = "/proc" },
]
"#;

#[test]
fn a_user_profile_overrides_the_built_in_one() {
    let (dir, config) = scratch("user-override");
    write_user_profile(&config, "build", USER_BUILD);
    let out = stockade_in(
        dir.path(),
        &config,
        &["run", "--profile", "build", "--", "sh", "-c", "hostname"],
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "from-user-profile\n");

    let list = stockade_in(dir.path(), &config, &["profile", "list"]);
    assert_status(&list, 0);
    let line = stdout(&list)
        .lines()
        .find(|l| l.starts_with("build "))
        .map(str::to_string)
        .expect("build is listed");
    assert!(line.contains(" user "), "{line}");
    assert!(line.contains("my own build (overrides built-in)"), "{line}");
    assert!(
        stdout(&list).lines().any(|l| l.starts_with("desktop ")
            && l.contains("built-in")
            && l.contains("Desktop applications")),
        "{}",
        stdout(&list)
    );
}

#[test]
fn a_profile_path_is_read_as_a_path() {
    let (dir, config) = scratch("by-path");
    std::fs::write(dir.path().join("mine.toml"), USER_BUILD).unwrap();
    let out = stockade_in(
        dir.path(),
        &config,
        &[
            "run",
            "--profile",
            "./mine.toml",
            "--",
            "sh",
            "-c",
            "hostname",
        ],
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "from-user-profile\n");
}

#[test]
fn a_bad_profile_gives_one_located_line_and_creates_nothing() {
    let (dir, config) = scratch("bad");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let profile = dir.path().join("bad.toml");
    let text = format!(
        "description = \"bad\"\nfs = [{{ type = \"bind\", src = \"{}\" }}]\n\n[namespaces]\nipc = false\nnett = true\n",
        work.display()
    );
    std::fs::write(&profile, text).unwrap();
    let created = work.join("created");
    let script = format!("touch {}", created.display());
    let out = stockade_in(
        dir.path(),
        &config,
        &[
            "run",
            "--profile",
            profile.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert_status(&out, 125);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "stockade: {}:6:1: namespaces.nett: unknown field `nett`",
            profile.display()
        )),
        "{err}"
    );
    assert!(!created.exists(), "the command ran");
    let entries: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(entries.is_empty(), "something was created: {entries:?}");

    let checked = stockade_in(
        dir.path(),
        &config,
        &["profile", "check", profile.to_str().unwrap()],
    );
    assert_status(&checked, 125);
    assert_eq!(stderr(&checked), err, "check reports the same line");
}

#[test]
fn an_extends_cycle_is_named() {
    let (dir, config) = scratch("cycle");
    write_user_profile(&config, "a", "extends = \"b\"\n");
    write_user_profile(&config, "b", "extends = \"a\"\n");
    let out = stockade_in(
        dir.path(),
        &config,
        &["run", "--profile", "a", "--", "true"],
    );
    assert_status(&out, 125);
    let b = config.join("stockade/profiles/b.toml");
    assert_eq!(
        stderr(&out),
        format!(
            "stockade: {}:1:11: extends: cycle: a -> b -> a\n",
            b.display()
        )
    );
}

#[test]
fn unknown_profile_names_are_setup_errors() {
    let (dir, config) = scratch("unknown");
    let out = stockade_in(
        dir.path(),
        &config,
        &["run", "--profile", "nope", "--", "true"],
    );
    assert_status(&out, 125);
    assert_eq!(
        stderr(&out),
        "stockade: no profile named \"nope\" (see stockade profile list)\n"
    );
}

#[test]
fn list_shows_a_broken_profile_as_invalid_and_the_others_still() {
    let (dir, config) = scratch("list-invalid");
    write_user_profile(&config, "broken", "description = \"x\"\nuid = \"zero\"\n");
    std::fs::create_dir(config.join("stockade/profiles/adir.toml")).unwrap();
    let out = stockade_in(dir.path(), &config, &["profile", "list"]);
    assert_status(&out, 0);
    let text = stdout(&out);
    let broken = config.join("stockade/profiles/broken.toml");
    assert!(
        text.lines().any(|l| l.starts_with("broken ")
            && l.contains(" user ")
            && l.contains(&format!(
                "INVALID: {}:2:7: uid: invalid type",
                broken.display()
            ))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("adir ") && l.contains("INVALID")),
        "{text}"
    );
    for name in BUILT_IN {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing: {text}"
        );
    }
}

#[test]
fn desktop_profile_mounts_the_per_app_home_as_home() {
    let (dir, config) = scratch("desktop-home");
    // A home of the test's own, so the real one is never touched.
    let home = dir.path().join("home");
    let app_home = home.join(".local/share/stockade/default");
    std::fs::create_dir_all(&app_home).unwrap();
    std::fs::write(home.join("real-secret"), "x").unwrap();
    let out = stockade([
        "run",
        "--seccomp",
        "off",
        "--profile",
        "desktop",
        "--",
        "sh",
        "-c",
    ])
    .arg("echo kept > \"$HOME/settings\" && test ! -e \"$HOME/real-secret\" && echo home-ok")
    .current_dir(dir.path())
    .env("XDG_CONFIG_HOME", &config)
    .env("HOME", &home)
    .env("XDG_RUNTIME_DIR", dir.path().join("run"))
    .output()
    .unwrap();
    assert_status(&out, 0);
    assert_eq!(
        stdout(&out),
        // (The display's cookie is passed only when there is a display: tests/uses_desktop.rs.)
        "home-ok\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(app_home.join("settings")).unwrap(),
        "kept\n"
    );
}

#[test]
fn test_profile_reads_the_project_and_writes_only_private_places() {
    let (dir, config) = scratch("test-profile");
    std::fs::write(dir.path().join("input.txt"), "data\n").unwrap();
    let script = "cat input.txt && ! touch new.txt 2>/dev/null \
        && touch /tmp/t \"$HOME/h\" && echo private-ok";
    let out = stockade_in(
        dir.path(),
        &config,
        &[
            "run",
            "--seccomp",
            "off",
            "--profile",
            "test",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "data\nprivate-ok\n", "{}", stderr(&out));
    assert!(!dir.path().join("new.txt").exists());
}

/// `copy`: a small regular file becomes a read-only snapshot in the sandbox's own tree (no
/// mount); a directory, a FIFO and a file over 1 MiB are bound read-only instead, and the
/// FIFO is never opened (the launch would hang). Each effect is checked from inside: the
/// mount table, the write refused, and the host's later change not seen.
#[test]
fn copy_snapshots_small_files_and_binds_the_rest() {
    let (dir, config) = scratch("copy");
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let small = src.join("small.conf");
    std::fs::write(&small, "before\n").unwrap();
    let big = src.join("big.bin");
    std::fs::write(&big, vec![b'x'; (1 << 20) + 1]).unwrap();
    let fifo = src.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let profile = dir.path().join("copy.toml");
    std::fs::write(
        &profile,
        format!(
            r#"description = "copy"
fs = [
    {{ type = "ro-bind", src = "/usr" }},
    {{ type = "mirror", dest = "/bin" }},
    {{ type = "mirror", dest = "/lib" }},
    {{ type = "mirror", dest = "/lib64" }},
    {{ type = "proc", dest = "/proc" }},
    {{ type = "copy", src = "{small}", dest = "/c/small.conf" }},
    {{ type = "copy", src = "{big}", dest = "/c/big.bin" }},
    {{ type = "copy", src = "{fifo}", dest = "/c/fifo" }},
    {{ type = "copy", src = "{src}", dest = "/c/dir" }},
    {{ type = "copy", src = "{src}/missing", dest = "/c/missing", try = true }},
]
"#,
            small = small.display(),
            big = big.display(),
            fifo = fifo.display(),
            src = src.display()
        ),
    )
    .unwrap();
    // Inside: wait until the host has changed the original, then report.
    let script = "\
        for f in small.conf big.bin fifo dir; do \
          if grep -q \" /c/$f \" /proc/self/mountinfo; then echo $f mount; else echo $f copy; fi; \
        done; \
        test -p /c/fifo && echo fifo is-fifo; \
        test -e /c/missing || echo missing skipped; \
        if echo changed > /c/small.conf 2>/dev/null; then echo small written; fi; \
        while [ ! -e /c/dir/go ]; do sleep 0.05; done; \
        cat /c/small.conf; stat -c %a /c/small.conf";
    let child = stockade(["run", "--seccomp", "off", "--profile"])
        .arg(&profile)
        .args(["--", "sh", "-c", script])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", &config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running stockade");
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(&small, "after\n").unwrap();
    std::fs::write(src.join("go"), "").unwrap();
    let out = child.wait_with_output().expect("waiting");
    assert_status(&out, 0);
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&small).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(
        stdout(&out),
        format!(
            "small.conf copy\nbig.bin mount\nfifo mount\ndir mount\nfifo is-fifo\n\
missing skipped\nbefore\n{mode:o}\n"
        )
    );
}

#[test]
fn copy_of_a_missing_file_without_try_names_it() {
    let (dir, config) = scratch("copy-missing");
    let missing = dir.path().join("nope.conf");
    let profile = dir.path().join("copy.toml");
    std::fs::write(
        &profile,
        format!(
            "description = \"copy\"\nfs = [{{ type = \"copy\", src = \"{}\" }}]\n",
            missing.display()
        ),
    )
    .unwrap();
    let out = stockade_in(
        dir.path(),
        &config,
        &["run", "--profile", profile.to_str().unwrap(), "--", "true"],
    );
    assert_status(&out, 125);
    let err = stderr(&out);
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A filter that allows execve but little else: a command that cannot be executed is still
/// reported as such (127 and its name), not as a crash or a hang of the sandbox's process,
/// whose report then runs under a filter that refuses memory and descriptors.
#[test]
fn a_failed_exec_under_a_narrow_filter_is_reported() {
    let (dir, config) = scratch("narrow-filter");
    write_user_profile(
        &config,
        "narrow",
        "[seccomp]\nallow = [\"@default\", \"write\"]\n",
    );
    let out = std::process::Command::new("timeout")
        .args(["-s", "KILL", "30"])
        .arg(stockade_bin())
        .args(["run", "--profile", "narrow", "--", "/nonexistent-command"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .unwrap();
    assert_status(&out, 127);
    assert_eq!(
        stderr(&out),
        "stockade: /nonexistent-command: No such file or directory\n"
    );
}

/// A filter without execve is refused before anything is made, at the entry that took it.
#[test]
fn a_filter_without_execve_is_refused_where_it_is_taken_away() {
    let (dir, config) = scratch("no-execve");
    write_user_profile(
        &config,
        "noexec",
        "extends = \"default\"\n[seccomp]\nallow = [\"!@process\"]\n",
    );
    let out = stockade_in(
        dir.path(),
        &config,
        &["run", "--profile", "noexec", "--", "true"],
    );
    assert_status(&out, 125);
    let err = stderr(&out);
    assert!(
        err.ends_with(
            "noexec.toml:3:10: seccomp.allow[0]: !@process takes away execve, so no command \
             could start\n"
        ),
        "{err}"
    );
}
