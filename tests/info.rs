//! `stockade info`: the facts it reports agree with what the machine does.

mod common;

use common::*;

#[test]
fn json_has_the_documented_keys_and_true_facts() {
    let out = stockade(["info", "--json"]).output().unwrap();
    assert_status(&out, 0);
    let json = stdout(&out);
    for key in [
        "\"version\"",
        "\"kernel\"",
        "\"user-namespaces\"",
        "\"landlock\"",
        "\"seccomp\"",
        "\"cgroup\"",
        "\"pasta\"",
        "\"profiles\"",
        "\"tun-usable\"",
        "\"delegated\"",
    ] {
        assert!(json.contains(key), "{key} missing:\n{json}");
    }
    let release = nix::sys::utsname::uname().unwrap();
    let release = release.release().to_string_lossy();
    assert!(
        json.contains(&format!("\"kernel\": \"{release}\"")),
        "{json}"
    );
    // The test suite runs sandboxes, so user namespaces work here: info must say so.
    let sandbox_works = run_sh(&[], "true").status.success();
    assert_eq!(
        json.contains("\"available\": true,\n    \"reason\": null"),
        sandbox_works,
        "{json}"
    );
    assert!(json.contains("\"name\": \"default\""), "{json}");
}

#[test]
fn human_form_names_the_cgroup_situation() {
    let out = stockade(["info"]).output().unwrap();
    assert_status(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("cgroup.delegated: "), "{text}");
    assert!(text.contains("landlock.abi: "), "{text}");
}
