//! Real programs keep working under `stockade run` with no filesystem options (the `default`
//! profile once profiles land): sh and coreutils, python3, gcc, make, git, tar and gzip.
//! Each works in a scratch directory bound read-write at the same path, and each check looks
//! at real output, inside and, where it matters, on the host afterwards.
//!
//! A program missing on the host is skipped with its reason; CI installs them
//! (`apt-get install python3 gcc libc6-dev make git tar gzip`).

mod common;

use std::process::{Command, Output};

use common::{assert_status, skip, stderr, stdout, TempDir};

/// The PATH inside: the caller's may name directories the sandbox does not have.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `stockade run` with `dir` bound read-write at the same path and as the working directory,
/// a fixed PATH and `HOME=dir`, running `sh -c script`.
fn run_in(dir: &TempDir, env: &[(&str, &str)], script: &str) -> Output {
    let mut args: Vec<&str> = vec![
        "run",
        "--bind",
        dir.str(),
        dir.str(),
        "--chdir",
        dir.str(),
        "--setenv",
        "PATH",
        PATH,
        "--setenv",
        "HOME",
        dir.str(),
    ];
    for (name, value) in env {
        args.extend_from_slice(&["--setenv", name, value]);
    }
    args.extend_from_slice(&["--", "sh", "-c", script]);
    common::stockade(args).output().expect("running stockade")
}

/// Skips unless every program is installed on the host.
fn missing(programs: &[&str]) -> bool {
    match programs.iter().find(|p| !common::have(p)) {
        Some(program) => {
            skip(&format!("{program} is not installed on the host"));
            true
        }
        None => false,
    }
}

#[test]
fn sh_and_coreutils() {
    let dir = TempDir::new("coreutils");
    std::fs::write(dir.path().join("words"), "b\na\nc\n").unwrap();
    let out = run_in(
        &dir,
        &[],
        "set -e; ls; sort words; wc -l < words; cat words | sha256sum; \
         for i in 1 2 3; do echo \"n=$i\"; done > loop; cat loop | wc -l",
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    let expected = "words\na\nb\nc\n3\n\
        af8fcee01ae24dc6c3e667d5f3aaba900637223e1cf618b92c4c548cf97e81f5  -\n3\n";
    assert_eq!(text, expected, "stderr:\n{}", stderr(&out));
    let on_host = std::fs::read_to_string(dir.path().join("loop")).unwrap();
    assert_eq!(on_host, "n=1\nn=2\nn=3\n");
}

#[test]
fn python3_runs_a_script() {
    if missing(&["python3"]) {
        return;
    }
    let dir = TempDir::new("python");
    let script = r#"
import hashlib, json, os, sys, tempfile
squares = sum(i * i for i in range(1, 101))
with tempfile.NamedTemporaryFile("w", delete=False) as tmp:
    tmp.write("in /tmp")
with open("result.json", "w") as f:
    json.dump({"squares": squares, "uid": os.getuid(), "tmp": os.path.dirname(tmp.name)}, f)
print("sha", hashlib.sha256(b"stockade").hexdigest()[:16])
print("python", sys.version_info[0])
"#;
    std::fs::write(dir.path().join("script.py"), script).unwrap();
    let out = run_in(&dir, &[], "python3 script.py");
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("sha 901cb15bb7fb628e"), "{text}");
    assert!(text.contains("python 3"), "{text}");
    let result = std::fs::read_to_string(dir.path().join("result.json")).unwrap();
    let uid = nix::unistd::getuid().as_raw();
    assert_eq!(
        result,
        format!(r#"{{"squares": 338350, "uid": {uid}, "tmp": "/tmp"}}"#)
    );
}

#[test]
fn gcc_compiles_and_runs_hello_world() {
    if missing(&["gcc", "cc"]) {
        return;
    }
    let dir = TempDir::new("gcc");
    let source =
        "#include <stdio.h>\nint main(void) { puts(\"hello from the sandbox\"); return 0; }\n";
    std::fs::write(dir.path().join("hello.c"), source).unwrap();
    // `cc` is a link through /etc/alternatives on Debian: it must resolve inside too.
    let out = run_in(
        &dir,
        &[],
        "set -e; gcc -Wall -O2 -o hello hello.c; ./hello; cc -o hello2 hello.c; ./hello2",
    );
    assert_status(&out, 0);
    assert_eq!(
        stdout(&out),
        "hello from the sandbox\nhello from the sandbox\n",
        "stderr:\n{}",
        stderr(&out)
    );
    // The binary was written through the bind: it runs on the host as well.
    let host = Command::new(dir.path().join("hello")).output().unwrap();
    assert_eq!(stdout(&host), "hello from the sandbox\n");
}

#[test]
fn make_builds_a_tiny_project() {
    if missing(&["make", "cc"]) {
        return;
    }
    let dir = TempDir::new("make");
    let files = [
        (
            "Makefile",
            "app: main.o greet.o\n\tcc -o $@ main.o greet.o\n\n\
             %.o: %.c greet.h\n\tcc -c -o $@ $<\n\n\
             .PHONY: clean\nclean:\n\trm -f app *.o\n",
        ),
        ("greet.h", "void greet(const char *who);\n"),
        (
            "greet.c",
            "#include <stdio.h>\n#include \"greet.h\"\n\
             void greet(const char *who) { printf(\"built by make for %s\\n\", who); }\n",
        ),
        (
            "main.c",
            "#include \"greet.h\"\nint main(void) { greet(\"stockade\"); return 0; }\n",
        ),
    ];
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    let out = run_in(&dir, &[], "set -e; make -s; ./app; make");
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with("built by make for stockade\n"),
        "{text}\nstderr:\n{}",
        stderr(&out)
    );
    assert!(text.contains("'app' is up to date"), "{text}");
    for built in ["main.o", "greet.o", "app"] {
        assert!(dir.path().join(built).is_file(), "{built} was not built");
    }
}

#[test]
fn git_init_add_commit() {
    if missing(&["git"]) {
        return;
    }
    let dir = TempDir::new("git");
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::fs::write(repo.join("README"), "sandboxed\n").unwrap();
    let identity = [
        ("GIT_AUTHOR_NAME", "Sandbox Tester"),
        ("GIT_AUTHOR_EMAIL", "tester@stockade.invalid"),
        ("GIT_COMMITTER_NAME", "Sandbox Tester"),
        ("GIT_COMMITTER_EMAIL", "tester@stockade.invalid"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];
    let out = run_in(
        &dir,
        &identity,
        "set -e; cd repo; git init -q -b main .; git add README; \
         git commit -q -m 'first commit in a sandbox'; \
         git log --format='%an <%ae> %s'; git status --porcelain; git rev-parse HEAD",
    );
    assert_status(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Sandbox Tester <tester@stockade.invalid> first commit in a sandbox"),
        "{text}\nstderr:\n{}",
        stderr(&out)
    );
    let head = lines.next().expect("HEAD");
    assert_eq!(head.len(), 40, "{text}");
    // The repository is real: the host's git reads the same commit.
    if let Ok(host) = Command::new("git")
        .args(["-C", repo.to_str().unwrap(), "rev-parse", "HEAD"])
        .output()
    {
        assert_eq!(stdout(&host).trim(), head, "{}", stderr(&host));
    }
}

/// Bytes that compress but not trivially: a small linear congruential sequence.
fn sample_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|i| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            if i % 7 == 0 {
                b'\n'
            } else {
                b'a' + ((state >> 16) % 16) as u8
            }
        })
        .collect()
}

#[test]
fn tar_and_gzip_round_trip() {
    if missing(&["tar", "gzip", "cmp"]) {
        return;
    }
    let dir = TempDir::new("tar");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("nested")).unwrap();
    let files = [
        ("data/one.txt", sample_bytes(100_000, 1)),
        ("data/nested/two.bin", sample_bytes(33_333, 2)),
        ("single", sample_bytes(50_000, 3)),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let out = run_in(
        &dir,
        &[],
        "set -e; tar -czf data.tar.gz data; mkdir out; tar -xzf data.tar.gz -C out; \
         tar -tzf data.tar.gz | sort; gzip -k single; gzip -dc single.gz > single.back; \
         cmp single single.back && echo gzip-ok",
    );
    assert_status(&out, 0);
    assert_eq!(
        stdout(&out),
        "data/\ndata/nested/\ndata/nested/two.bin\ndata/one.txt\ngzip-ok\n",
        "stderr:\n{}",
        stderr(&out)
    );
    for (name, bytes) in &files[..2] {
        let back = std::fs::read(dir.path().join("out").join(name)).unwrap();
        assert!(back == *bytes, "{name} did not round-trip byte-identical");
    }
    let gz = std::fs::read(dir.path().join("single.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "single.gz is not gzip data");
    assert!(gz.len() < files[2].1.len(), "gzip did not compress");
    let back = std::fs::read(dir.path().join("single.back")).unwrap();
    assert!(back == files[2].1, "gzip round trip is not byte-identical");
}

#[test]
fn programs_see_the_names_of_their_user() {
    // id(1) and many programs look the user up in /etc/passwd and /etc/group.
    let dir = TempDir::new("id");
    let out = run_in(&dir, &[], "id -un; id -gn");
    assert_status(&out, 0);
    let user = Command::new("id").arg("-un").output().unwrap();
    let group = Command::new("id").arg("-gn").output().unwrap();
    assert_eq!(
        stdout(&out),
        format!("{}{}", stdout(&user), stdout(&group)),
        "stderr:\n{}",
        stderr(&out)
    );
}

#[test]
fn pipeline_writers_die_of_sigpipe_as_on_the_host() {
    // `yes | head -n 1`: when head exits, yes must be killed by SIGPIPE (status 141, silently),
    // as in a shell on the host. With SIGPIPE ignored (Rust's runtime ignores it in the
    // launcher), yes gets EPIPE, prints "Broken pipe" and exits 1, and a writer that does not
    // check for errors (`while :; do echo x; done | head -n 1`) loops for ever.
    if missing(&["yes", "head"]) {
        return;
    }
    let script = "(yes; echo \"writer:$?\" >&2) | head -n 1; \
                  grep '^SigIgn' /proc/self/status >&2";
    let bwrap_line = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "sh",
        "-c",
        script,
    ];
    for (what, args) in [
        (
            "run",
            vec!["run", "--timeout", "60s", "--", "sh", "-c", script],
        ),
        ("bwrap", bwrap_line.to_vec()),
    ] {
        let out = common::finish(common::stockade(&args), std::time::Duration::from_secs(90));
        assert_status(&out, 0);
        assert_eq!(stdout(&out), "y\n", "{what}: stderr:\n{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("writer:141") && !err.contains("Broken pipe"),
            "{what}: the writer did not die of SIGPIPE:\n{err}"
        );
    }
}
