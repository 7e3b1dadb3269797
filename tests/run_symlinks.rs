//! Mount destinations are resolved inside the new root: a symlink on the way cannot lead a
//! mount or a new directory onto the host (issue 2).

mod common;

use common::*;
use std::os::unix::fs::symlink;

#[test]
fn destination_through_a_symlink_to_root_stays_inside() {
    let shared = TempDir::new("shared");
    symlink("/", shared.path().join("evil")).unwrap();
    let name = format!("stockade-escape-{}", std::process::id());
    let host_target = std::path::Path::new("/tmp").join(&name);
    let dest = format!("/shared/evil/tmp/{name}");
    let out = stockade([
        "run",
        "--bind",
        shared.str(),
        "/shared",
        "--tmpfs",
        &dest,
        "--",
        "sh",
        "-c",
        &format!("test -d /tmp/{name} && echo inside"),
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    // The link resolved to the sandbox's own root, where the directory was made.
    assert_eq!(stdout(&out), "inside\n");
    assert!(
        !host_target.exists(),
        "a mount point was created on the host: {host_target:?}"
    );
}

#[test]
fn destination_through_a_symlink_to_a_host_directory_stays_inside() {
    let shared = TempDir::new("shared2");
    let victim = TempDir::new("victim");
    symlink(victim.path(), shared.path().join("link")).unwrap();
    let out = stockade([
        "run",
        "--bind",
        shared.str(),
        "/shared",
        "--dir",
        "/shared/link/planted",
        "--",
        "true",
    ])
    .output()
    .unwrap();
    // Inside the new root the link's target path does not exist as a bind, so the directory
    // lands in the sandbox's tmpfs (or setup fails); either way the host is untouched.
    assert!(
        matches!(out.status.code(), Some(0) | Some(125)),
        "{}",
        stderr(&out)
    );
    assert!(
        !victim.path().join("planted").exists(),
        "created on the host through a symlink"
    );
}

#[test]
fn dotdot_in_a_symlink_cannot_climb_out_of_the_root() {
    let shared = TempDir::new("shared3");
    symlink("../../../../../../../../tmp", shared.path().join("up")).unwrap();
    let name = format!("stockade-climb-{}", std::process::id());
    let out = stockade([
        "run",
        "--bind",
        shared.str(),
        "/shared",
        "--dir",
        &format!("/shared/up/{name}"),
        "--",
        "true",
    ])
    .output()
    .unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(125)),
        "{}",
        stderr(&out)
    );
    assert!(
        !std::path::Path::new("/tmp").join(&name).exists(),
        "climbed out to the host's /tmp"
    );
}
