//! Hostile profile files (issue 8, bad input found while fuzzing the run parser): a profile
//! path that is a device, a FIFO or a huge file must fail at once with status 125 instead of
//! reading until memory runs out or blocking forever.

mod common;
mod escape_common;

use common::finish;
use common::*;
use std::time::{Duration, Instant};

fn run_with_profile(profile: &str) -> (std::process::Output, Duration) {
    let start = Instant::now();
    let cmd = stockade(["run", "--profile", profile, "--", "true"]);
    let out = finish(cmd, Duration::from_secs(20));
    (out, start.elapsed())
}

#[test]
fn profile_paths_that_are_not_small_regular_files_fail_at_once() {
    let dir = TempDir::new("profiles");
    // Control: a small regular file is read.
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "extends = \"default\"\n").unwrap();
    let (out, _) = run_with_profile(good.to_str().unwrap());
    assert_status(&out, 0);

    let fifo = dir.path().join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let huge = dir.path().join("huge.toml");
    std::fs::write(&huge, "# padding\n".repeat(200_000)).unwrap();
    let cases = [
        ("/dev/zero".to_string(), "/dev/zero: not a regular file"),
        (fifo.display().to_string(), "fifo.toml: not a regular file"),
        (
            huge.display().to_string(),
            "huge.toml: larger than 1024 KiB",
        ),
        (dir.str().to_string(), "Is a directory"),
    ];
    for (profile, message) in cases {
        let (out, took) = run_with_profile(&profile);
        assert_status(&out, 125);
        assert!(
            stderr(&out).contains(message),
            "{profile}: {}",
            stderr(&out)
        );
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(took < Duration::from_secs(5), "{profile}: took {took:?}");
    }
}
