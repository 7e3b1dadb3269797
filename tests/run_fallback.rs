//! `--fallback landlock`: stockade inside a stockade sandbox, whose seccomp filter forbids new
//! user namespaces, refuses by default and with the flag runs confined by Landlock.

mod common;

use common::*;

/// `stockade run OUTER... -- /s run INNER...` with the binary bound at /s.
fn nested(dir: &TempDir, inner: &[&str]) -> std::process::Output {
    let bin = stockade_bin();
    let bin = bin.to_str().unwrap();
    let secret = format!("{}/secret", dir.str());
    let work = format!("{}/work", dir.str());
    let mut args = vec![
        "run",
        "--ro-bind",
        bin,
        "/s",
        "--ro-bind",
        &secret,
        &secret,
        "--bind",
        &work,
        &work,
        "--",
        "/s",
        "run",
    ];
    args.extend_from_slice(inner);
    stockade(args).output().unwrap()
}

fn setup() -> Option<TempDir> {
    let dir = TempDir::new("fallback");
    std::fs::write(dir.path().join("secret"), "secret\n").unwrap();
    std::fs::create_dir(dir.path().join("work")).unwrap();
    let probe = nested(&dir, &["--", "true"]);
    if probe.status.code() == Some(0) {
        skip("the outer sandbox allows nested user namespaces, so there is nothing to fall back from");
        return None;
    }
    Some(dir)
}

#[test]
fn without_user_namespaces_stockade_refuses_and_names_the_way_out() {
    let Some(dir) = setup() else { return };
    let out = nested(&dir, &["--", "echo", "ran"]);
    assert_status(&out, 125);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("cannot create a user namespace"), "{err}");
    assert!(err.contains("--fallback landlock"), "{err}");
}

#[test]
fn fallback_landlock_confines_to_the_binds_and_says_what_is_missing() {
    let Some(dir) = setup() else { return };
    let work = format!("{}/work", dir.str());
    let script = format!(
        "echo hi > {work}/out && cat {work}/out; \
         cat {d}/secret 2>/dev/null || echo secret-denied; \
         ls / >/dev/null 2>&1 || echo root-denied; \
         echo x > /tmp/x 2>/dev/null || echo tmp-denied",
        d = dir.str()
    );
    let out = nested(
        &dir,
        &[
            "--fallback",
            "landlock",
            "--bind",
            &work,
            &work,
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "hi\nsecret-denied\nroot-denied\ntmp-denied\n");
    let err = stderr(&out);
    assert!(err.contains("no user namespace"), "{err}");
    assert!(err.contains("no private /tmp"), "{err}");
    assert!(err.contains("no pid"), "{err}");
}

/// A command that cannot be executed under the fallback gets the statuses of the README's
/// table (127 not found, 126 not executable), and one line naming it after the warnings.
#[test]
fn fallback_reports_a_missing_command_as_not_found() {
    let Some(dir) = setup() else { return };
    let out = nested(
        &dir,
        &["--fallback", "landlock", "--", "/nonexistent-command"],
    );
    assert_status(&out, 127);
    let err = stderr(&out);
    assert!(
        err.ends_with("\nstockade: /nonexistent-command: No such file or directory\n"),
        "{err}"
    );
}
