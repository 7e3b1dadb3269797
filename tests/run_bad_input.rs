//! `stockade run`: bad input gets one line naming the flag or path, status 125, and nothing
//! is created on the host (issue 2).

mod common;

use common::*;

/// Runs stockade with `args` and checks the status, the exact single line on stderr, and that
/// `watch` (a host directory) did not change.
#[track_caller]
fn rejects(args: &[&str], expected_line: &str, watch: &TempDir) {
    let before = listing(watch);
    let out = stockade(args).output().unwrap();
    assert_status(&out, 125);
    assert_eq!(stderr(&out), format!("{expected_line}\n"), "args: {args:?}");
    assert_eq!(listing(watch), before, "the host directory changed");
}

fn listing(dir: &TempDir) -> Vec<String> {
    let mut names: Vec<String> = walk(dir.path());
    names.sort();
    names
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(entry.path().display().to_string());
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        }
    }
    out
}

#[test]
fn bad_input_is_one_line_status_125_and_leaves_nothing() {
    let dir = TempDir::new("bad");
    let d = dir.str();
    let missing = format!("{d}/missing");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "run".into(),
                "--ro-bind".into(),
                missing.clone(),
                "/x".into(),
                "--".into(),
                "true".into(),
            ],
            format!("stockade: ro-bind {missing} -> /x: {missing}: No such file or directory"),
        ),
        (
            vec![
                "run".into(),
                "--bind".into(),
                d.into(),
                "/w".into(),
                "--bind".into(),
                missing.clone(),
                "/w/sub".into(),
                "--".into(),
                "true".into(),
            ],
            format!("stockade: bind {missing} -> /w/sub: {missing}: No such file or directory"),
        ),
        (
            vec![
                "run".into(),
                "--frobnicate".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: unexpected argument '--frobnicate' found (see --help)".into(),
        ),
        (
            vec!["run".into(), "--bind".into(), d.into(), "/w".into()],
            "stockade: run: missing command (give it after --)".into(),
        ),
        (
            vec![
                "run".into(),
                "--uid".into(),
                "4294967295".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: --uid 4294967295: cannot be mapped (reserved id)".into(),
        ),
        (
            vec![
                "run".into(),
                "--uid".into(),
                "-1".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: invalid value '-1' for '--uid <N>': -1 is not in 0..=4294967295 \
             (see --help)"
                .into(),
        ),
        (
            vec![
                "run".into(),
                "--bind".into(),
                d.into(),
                "/w".into(),
                "--dir".into(),
                "/w/../../escape".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: dir /w/../../escape: the destination contains '..', which would leave the \
             new root"
                .into(),
        ),
        (
            vec![
                "run".into(),
                "--tmpfs".into(),
                "relative".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: tmpfs relative: the destination must be an absolute path inside the sandbox"
                .into(),
        ),
        (
            vec![
                "run".into(),
                "--bind".into(),
                d.into(),
                "/w".into(),
                "--chdir".into(),
                "/nowhere".into(),
                "--".into(),
                "true".into(),
            ],
            "stockade: --chdir /nowhere: No such file or directory".into(),
        ),
    ];
    for (args, line) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rejects(&args, &line, &dir);
    }
}

#[test]
fn a_later_setup_failure_inside_the_namespace_is_also_125() {
    // The source exists when checked, but the destination cannot be created: /usr is
    // read-only inside, so making /usr/new-mount-point fails during the mount stage.
    let dir = TempDir::new("late");
    let out = stockade([
        "run",
        "--bind",
        dir.str(),
        "/usr/new-mount-point",
        "--",
        "true",
    ])
    .output()
    .unwrap();
    assert_status(&out, 125);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/usr/new-mount-point") && err.contains("Read-only file system"),
        "{err}"
    );
}

/// `--app NAME` makes the application's home on the host; a launch that fails in setup takes
/// back what it made (a home that existed before stays).
#[test]
fn a_failed_app_launch_leaves_no_app_home() {
    let home = TempDir::new("app-home");
    let app_home = home.path().join(".local/share/stockade/failing");
    let out = stockade([
        "run",
        "--app",
        "failing",
        "--ro-bind",
        "/nonexistent-source",
        "/x",
        "--",
        "true",
    ])
    .env("HOME", home.path())
    .output()
    .unwrap();
    assert_status(&out, 125);
    assert!(!app_home.exists(), "{app_home:?} was left behind");
    std::fs::create_dir_all(&app_home).unwrap();
    let out = stockade([
        "run", "--app", "failing", "--chdir", "/nowhere", "--", "true",
    ])
    .env("HOME", home.path())
    .output()
    .unwrap();
    assert_status(&out, 125);
    assert!(app_home.is_dir(), "an existing app home was removed");
}

/// Under desktop, the user's fonts are bound into the app's home, whose mount points the
/// launch makes in the new app home on the host: a launch that fails after them still takes
/// the home back.
#[test]
fn a_failed_desktop_launch_leaves_no_app_home_behind_its_mount_points() {
    let home = TempDir::new("app-fonts");
    std::fs::create_dir_all(home.path().join(".local/share/fonts")).unwrap();
    let app_home = home.path().join(".local/share/stockade/fonty");
    let out = stockade([
        "run",
        "--profile",
        "desktop",
        "--app",
        "fonty",
        "--bind",
        home.str(),
        "/usr/new-mount-point",
        "--",
        "true",
    ])
    .env("HOME", home.path())
    .env_remove("DBUS_SESSION_BUS_ADDRESS")
    .env_remove("DISPLAY")
    .env_remove("WAYLAND_DISPLAY")
    .output()
    .unwrap();
    assert_status(&out, 125);
    assert!(
        stderr(&out).contains("/usr/new-mount-point"),
        "{}",
        stderr(&out)
    );
    assert!(!app_home.exists(), "{app_home:?} was left behind");
    assert!(home.path().join(".local/share/fonts").is_dir());
}
