//! The `test` use: one sandbox per test process in CI. The recipes the README gives are run
//! for real: cargo's target runner (config file and environment variable), cargo-nextest
//! through the same runner, and a real package's pytest suite one file per sandbox; each
//! gives the same results and exit status as without the sandbox. Two concurrent runs do not
//! see each other's /tmp, ports or processes, and nothing is left behind.

mod common;
mod uses_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use uses_support::{processes_with, wait_for, WorkDir};

fn test_profile_or_skip() -> bool {
    if uses_support::profile_available("test") {
        return true;
    }
    common::skip("the test profile is not in this build yet (profiles issue)");
    false
}

/// The runner command line of the README's recipe, with this build's binary.
fn runner() -> String {
    format!("{} run --profile test --", common::stockade_bin().display())
}

/// A cargo the test user can run (root's rustup toolchain is not readable by others;
/// Debian's `cargo` package is).
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

/// A sample crate whose tests touch what a sandbox changes: /tmp, a loopback port, a
/// background process, and one test that fails on request.
fn sample_crate(dir: &Path) {
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"runner-demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "pub fn add(a: u32, b: u32) -> u32 { a + b }\n\n\
         #[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() { assert_eq!(super::add(2, 2), 4); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tests/effects.rs"),
        r#"use std::io::Read;

/// A file name unique to this checkout, so the outer test can look for it on the host.
fn marker() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    format!("/tmp/runner-demo-{}", dir.rsplit('/').nth(1).unwrap())
}

#[test]
fn writes_tmp() {
    std::fs::write(marker(), b"from a test").unwrap();
    let mut text = String::new();
    std::fs::File::open(marker()).unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(text, "from a test");
}

#[test]
fn binds_loopback() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    drop(c);
}

#[test]
fn reads_the_project() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    assert!(std::fs::read_to_string(manifest).unwrap().contains("runner-demo"));
}

#[test]
fn fails_when_asked() {
    if std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/FAIL")).exists() {
        panic!("failing on purpose");
    }
}
"#,
    )
    .unwrap();
}

/// The lines that summarise a run: libtest's `test result:` lines without their timings, or
/// nextest's summary counts; sorted, as tests run in parallel finish in any order.
fn summary(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("test result:")
                || l.contains(" tests run:")
                || l.starts_with("test ") && (l.ends_with(" ok") || l.ends_with("FAILED"))
        })
        .map(|l| match l.find("; finished in") {
            Some(i) => l[..i].to_string(),
            None => match l.find(" tests run:") {
                Some(i) => l[i..].to_string(),
                None => l.to_string(),
            },
        })
        .collect();
    lines.sort();
    lines
}

fn cargo_in(cargo: &Path, dir: &Path, args: &[&str], runner_env: Option<&str>) -> Output {
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null());
    // cargo-nextest is found on PATH by `cargo nextest`.
    if let Some(r) = runner_env {
        cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", r);
    }
    cmd.output().expect("running cargo")
}

fn text(out: &Output) -> String {
    format!("{}{}", common::stdout(out), common::stderr(out))
}

/// The runner recipes: same summary and status as without the sandbox, passing and failing,
/// and the tests' /tmp writes never reach the host.
fn check_runner(cargo: &Path, subcommand: &[&str], via_config: bool) {
    let work = WorkDir::new("runner");
    let dir = work.path().join("demo");
    sample_crate(&dir);
    let marker = PathBuf::from(format!(
        "/tmp/runner-demo-{}",
        work.path().file_name().unwrap().to_str().unwrap()
    ));
    let _ = std::fs::remove_file(&marker);
    // Build first, outside any sandbox, so both runs below only run tests.
    let mut build = subcommand.to_vec();
    build.push("--no-run");
    if subcommand[0] == "nextest" {
        build = vec!["nextest", "list"];
    }
    let out = cargo_in(cargo, &dir, &build, None);
    assert!(out.status.success(), "building the sample: {}", text(&out));

    for failing in [false, true] {
        if failing {
            std::fs::write(dir.join("FAIL"), b"").unwrap();
        }
        let plain = cargo_in(cargo, &dir, subcommand, None);
        assert!(marker.exists(), "the unsandboxed run wrote no marker");
        std::fs::remove_file(&marker).unwrap();

        let sandboxed = if via_config {
            std::fs::create_dir_all(dir.join(".cargo")).unwrap();
            let bin = common::stockade_bin();
            std::fs::write(
                dir.join(".cargo/config.toml"),
                format!(
                    "[target.'cfg(target_os = \"linux\")']\nrunner = [\"{}\", \"run\", \"--profile\", \"test\", \"--\"]\n",
                    bin.display()
                ),
            )
            .unwrap();
            let out = cargo_in(cargo, &dir, subcommand, None);
            std::fs::remove_dir_all(dir.join(".cargo")).unwrap();
            out
        } else {
            cargo_in(cargo, &dir, subcommand, Some(&runner()))
        };
        // Indented, so that CI's reading of closing lines never takes the sample's for ours.
        let shown: Vec<String> = summary(&text(&sandboxed))
            .iter()
            .map(|l| format!("    sample | {l}"))
            .collect();
        println!("{subcommand:?} failing={failing}:\n{}", shown.join("\n"));
        assert_eq!(
            sandboxed.status.code(),
            plain.status.code(),
            "exit status differs; sandboxed:\n{}",
            text(&sandboxed)
        );
        assert_eq!(
            plain.status.success(),
            !failing,
            "unexpected status: {}",
            text(&plain)
        );
        let (s, p) = (summary(&text(&sandboxed)), summary(&text(&plain)));
        assert!(!p.is_empty(), "no summary in: {}", text(&plain));
        assert_eq!(s, p, "results differ");
        assert!(
            !marker.exists(),
            "a sandboxed test wrote {} on the host",
            marker.display()
        );
    }
}

#[test]
fn cargo_test_through_the_runner_in_cargo_config() {
    if !test_profile_or_skip() {
        return;
    }
    let Some(cargo) = usable_cargo() else {
        common::skip("no cargo this user can run (Debian: apt install cargo)");
        return;
    };
    check_runner(&cargo, &["test"], true);
}

#[test]
fn cargo_test_through_the_runner_variable() {
    if !test_profile_or_skip() {
        return;
    }
    let Some(cargo) = usable_cargo() else {
        common::skip("no cargo this user can run (Debian: apt install cargo)");
        return;
    };
    check_runner(&cargo, &["test"], false);
}

#[test]
fn cargo_nextest_through_the_runner() {
    if !test_profile_or_skip() {
        return;
    }
    let Some(cargo) = usable_cargo() else {
        common::skip("no cargo this user can run (Debian: apt install cargo)");
        return;
    };
    let nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !nextest {
        common::skip("cargo-nextest is not installed on PATH");
        return;
    }
    check_runner(&cargo, &["nextest", "run", "--no-fail-fast"], false);
}

#[test]
fn pytest_suite_of_a_real_package_one_file_per_sandbox() {
    if !test_profile_or_skip() {
        return;
    }
    let have_pytest = Command::new("python3")
        .args(["-c", "import pytest"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !have_pytest {
        common::skip("pytest is not installed for python3 (Debian: python3-pytest)");
        return;
    }
    let source = match uses_support::pypi_sdist("more-itertools", "10.5.0") {
        Ok(s) => s,
        Err(reason) => {
            common::skip(&reason);
            return;
        }
    };
    let work = WorkDir::new("pytest");
    uses_support::copy_tree(&source, work.path());
    let project = work.path().join(source.file_name().unwrap());
    let mut files: Vec<PathBuf> = std::fs::read_dir(project.join("tests"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("test_") && n.ends_with(".py"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the sdist has no test files");
    let pytest = |file: &Path, sandboxed: bool| -> Output {
        let rel = file
            .strip_prefix(&project)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let argv = [
            "python3",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            rel.as_str(),
        ];
        let mut cmd = if sandboxed {
            let mut c = common::stockade(["run", "--profile", "test", "--"]);
            c.args(argv);
            c
        } else {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]).stdin(Stdio::null());
            c
        };
        cmd.current_dir(&project)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("running pytest")
    };
    let last_line = |out: &Output| -> String {
        let stdout = common::stdout(out);
        let line = stdout.lines().last().unwrap_or("").to_string();
        // "1234 passed, 2 skipped in 3.21s": drop the timing.
        match line.rfind(" in ") {
            Some(i) => line[..i].to_string(),
            None => line,
        }
    };
    for file in &files {
        let plain = pytest(file, false);
        let inside = pytest(file, true);
        println!(
            "{}: host {:?} `{}`, sandbox {:?} `{}`",
            file.display(),
            plain.status.code(),
            last_line(&plain),
            inside.status.code(),
            last_line(&inside)
        );
        assert_eq!(
            inside.status.code(),
            plain.status.code(),
            "{}: status differs:\n{}",
            file.display(),
            text(&inside)
        );
        assert!(last_line(&plain).contains("passed"), "{}", text(&plain));
        assert_eq!(last_line(&inside), last_line(&plain));
    }
}

/// What each of two concurrent runs does: claim a file in /tmp, bind one fixed loopback port,
/// leave a background process behind, and report what it saw.
const CONCURRENT: &str = r#"
echo "$1" > /tmp/claimed
python3 - "$2" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("bound", flush=True)
time.sleep(3)
EOF
sleep 1
py=$!
sleep 1
sleep "$3" &
sleep 1
echo "tmp=$(cat /tmp/claimed)"
wait "$py"
"#;

#[test]
fn two_concurrent_runs_are_isolated_and_leave_nothing_behind() {
    if !test_profile_or_skip() {
        return;
    }
    // The port is taken on the host too, for the whole test: each sandbox has its own
    // loopback, so neither the host nor the other sandbox is in the way.
    let host = TcpListener::bind("127.0.0.1:0").expect("binding on the host");
    let port = host.local_addr().unwrap().port().to_string();
    // sleep takes a fractional number: a unique one marks the leftover process.
    let marker = format!("600.{}", std::process::id());
    let host_claim = Path::new("/tmp/claimed");
    let host_claim_before = host_claim.exists();
    let spawn = |id: &str| {
        common::stockade([
            "run",
            "--profile",
            "test",
            "--",
            "sh",
            "-c",
            CONCURRENT,
            "sh",
        ])
        .args([id, &port, &marker])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stockade")
    };
    let a = spawn("first");
    let b = spawn("second");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (out, id) in [(&a, "first"), (&b, "second")] {
        common::assert_status(out, 0);
        let text = common::stdout(out);
        assert!(
            text.contains("bound"),
            "{id} could not bind port {port}:\n{}{}",
            text,
            common::stderr(out)
        );
        assert!(
            text.contains(&format!("tmp={id}")),
            "{id} saw another /tmp:\n{text}"
        );
    }
    assert!(
        wait_for(Duration::from_secs(5), || processes_with(&marker)
            .is_empty()),
        "a background process outlived its sandbox"
    );
    assert_eq!(
        host_claim.exists(),
        host_claim_before,
        "a sandbox wrote the host's /tmp"
    );
    drop(host);
}

/// A cargo workspace: cargo runs each member's test binaries from the member's directory,
/// while the binaries live in the workspace's `target/` (or wherever `CARGO_TARGET_DIR`
/// says), outside that directory. The runner must still run them, and an integration test
/// must still reach the member's own binary (`CARGO_BIN_EXE_*`); the workspace's other
/// files stay out of sight.
#[test]
fn cargo_test_of_a_workspace_member_through_the_runner() {
    if !test_profile_or_skip() {
        return;
    }
    let Some(cargo) = usable_cargo() else {
        common::skip("no cargo this user can run (Debian: apt install cargo)");
        return;
    };
    let work = WorkDir::new("workspace");
    let ws = work.path().join("ws");
    let member = ws.join("tool");
    std::fs::create_dir_all(member.join("src")).unwrap();
    std::fs::create_dir_all(member.join("tests")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\nmembers = [\"tool\"]\n").unwrap();
    std::fs::write(ws.join("NOT-FOR-TESTS"), "workspace root\n").unwrap();
    std::fs::write(
        member.join("Cargo.toml"),
        "[package]\nname = \"tool\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        member.join("src/main.rs"),
        "fn main() { println!(\"tool says hi\"); }\n\n\
         #[cfg(test)]\nmod tests {\n    #[test]\n    fn unit() { assert_eq!(1 + 1, 2); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        member.join("tests/cli.rs"),
        r#"#[test]
fn runs_the_binary() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tool")).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tool says hi\n");
}

#[test]
fn reads_its_manifest() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    assert!(std::fs::read_to_string(manifest).unwrap().contains("tool"));
}

#[test]
fn sees_its_home_and_tmp() {
    std::fs::write("/tmp/scratch", b"x").unwrap();
}
"#,
    )
    .unwrap();
    let build = cargo_in(&cargo, &ws, &["test", "--no-run"], None);
    assert!(build.status.success(), "building: {}", text(&build));
    let plain = cargo_in(&cargo, &ws, &["test"], None);
    assert!(plain.status.success(), "{}", text(&plain));
    let sandboxed = cargo_in(&cargo, &ws, &["test"], Some(&runner()));
    let shown: Vec<String> = summary(&text(&sandboxed))
        .iter()
        .map(|l| format!("    sample | {l}"))
        .collect();
    println!("workspace member:\n{}", shown.join("\n"));
    assert_eq!(
        sandboxed.status.code(),
        Some(0),
        "sandboxed:\n{}",
        text(&sandboxed)
    );
    let (s, p) = (summary(&text(&sandboxed)), summary(&text(&plain)));
    assert!(
        p.iter().any(|l| l.contains("runs_the_binary ... ok")),
        "{p:?}"
    );
    assert_eq!(s, p, "results differ");

    // Only the build output holding the test binaries came in, read-only: not the
    // workspace's other files, and nothing there can be changed. A script in cargo's deps
    // directory stands in for a test binary.
    let debug = ws.join("target/debug");
    let probe = debug.join("deps/probe.sh");
    std::fs::write(
        &probe,
        format!(
            "#!/bin/sh\ntest -x '{tool}' && echo tool-visible\n\
             cat '{root}' 2>/dev/null || echo root-hidden\n\
             touch '{debug}/x' 2>/dev/null || echo read-only\n",
            tool = debug.join("tool").display(),
            root = ws.join("NOT-FOR-TESTS").display(),
            debug = debug.display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&probe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = common::stockade(["run", "--profile", "test", "--"])
        .arg(&probe)
        .current_dir(&member)
        .output()
        .unwrap();
    assert_eq!(
        common::stdout(&out),
        "tool-visible\nroot-hidden\nread-only\n",
        "{}",
        text(&out)
    );
    assert!(!debug.join("x").exists());
}
