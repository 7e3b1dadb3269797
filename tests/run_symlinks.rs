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

// Binds in a row into one directory reuse its lookup: a mount over that directory in between
// must be seen by the next bind, not the directory it covers.

#[test]
fn bind_after_a_tmpfs_over_its_directory_lands_in_the_tmpfs() {
    let out = stockade([
        "run",
        "--ro-bind",
        "/etc/hostname",
        "/x/a",
        "--tmpfs",
        "/x",
        "--ro-bind",
        "/etc/hostname",
        "/x/b",
        "--",
        "ls",
        "-A",
        "/x",
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    assert_eq!(stdout(&out), "b\n");
}

#[test]
fn bind_into_a_directory_an_earlier_bind_covered_resolves_the_cover() {
    // /d/sub is covered by a read-only bind of a host directory after the first bind went into
    // it: the next bind's mount point must be made in the read-only bind, which fails.
    let out = stockade([
        "run",
        "--ro-bind",
        "/etc/hostname",
        "/d/sub/a",
        "--ro-bind",
        "/usr/share",
        "/d/sub",
        "--ro-bind",
        "/etc/hostname",
        "/d/sub/b",
        "--",
        "true",
    ])
    .output()
    .unwrap();
    assert_status(&out, 125);
    let err = stderr(&out);
    assert!(
        err.contains("/d/sub/b") && err.contains("Read-only file system"),
        "{err}"
    );
}

/// The run of binds into one directory reuses its descriptor; a bind that covers that
/// directory (here `/` itself, with the host's root) must not leave the next bind under the
/// cover, where the sandbox cannot see it and the path it was meant to hide stays open.
#[test]
fn bind_after_a_bind_onto_root_lands_on_the_visible_tree() {
    let data = TempDir::new("covered");
    std::fs::create_dir(data.path().join("secret")).unwrap();
    std::fs::write(data.path().join("secret/key"), "sensitive\n").unwrap();
    let empty = TempDir::new("cover");
    let secret = format!("{}/secret", data.str());
    let out = stockade([
        "run",
        "--ro-bind",
        empty.str(),
        &format!("{}/a", data.str()),
        "--bind",
        "/",
        "/",
        "--ro-bind",
        empty.str(),
        &secret,
        "--",
        "sh",
        "-c",
        &format!("ls -A '{secret}'; grep -c ' {secret} ' /proc/self/mountinfo"),
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    // Empty listing (the cover is seen), one mount on the path.
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
}

/// The same through a symbolic link: a bind onto a link, in the directory the previous bind
/// went into, to that directory covers it; the next bind into it must land on the cover.
#[test]
fn bind_after_a_bind_onto_a_link_to_its_directory_lands_on_the_cover() {
    let cover = TempDir::new("link-cover");
    std::fs::write(cover.path().join("b"), "from the cover\n").unwrap();
    let out = stockade([
        "run",
        "--dir",
        "/d",
        "--symlink",
        "/d",
        "/d/l",
        "--ro-bind",
        "/etc/hostname",
        "/d/a",
        "--ro-bind",
        cover.str(),
        "/d/l",
        "--ro-bind",
        "/etc/hostname",
        "/d/b",
        "--",
        "sh",
        "-c",
        "ls -A /d; cat /d/b",
    ])
    .output()
    .unwrap();
    assert_status(&out, 0);
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap();
    assert_eq!(stdout(&out), format!("b\n{hostname}"), "{}", stderr(&out));
}
