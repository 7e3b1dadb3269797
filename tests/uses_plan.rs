//! Plans for the desktop flags (`--app`, `--socket`, `--dbus-talk`, `--dbus-own`,
//! `--no-dbus`), compared without running anything, and `--app`'s effect on the host.

mod common;

use std::ffi::OsString;

use stockade::cli::run::plan_from_argv;
use stockade::plan::{DisplayPolicy, EnvOp};

fn plan(args: &[&str]) -> anyhow::Result<stockade::plan::Plan> {
    let mut argv: Vec<OsString> = vec!["stockade".into(), "run".into()];
    argv.extend(args.iter().map(OsString::from));
    argv.extend(["--".into(), "true".into()]);
    plan_from_argv(&argv)
}

#[test]
fn dbus_flags_build_one_policy_in_order() {
    let p = plan(&[
        "--dbus-talk",
        "org.a.A",
        "--dbus-own",
        "org.b.B",
        "--dbus-talk",
        "org.c.C",
    ])
    .unwrap();
    let dbus = p.dbus.expect("a D-Bus policy");
    assert_eq!(dbus.talk, ["org.a.A", "org.c.C"]);
    assert_eq!(dbus.own, ["org.b.B"]);
    assert!(dbus.upstream.is_none());
}

#[test]
fn no_dbus_drops_the_policy_and_the_variable() {
    let p = plan(&["--no-dbus"]).unwrap();
    assert!(p.dbus.is_none());
    assert!(p
        .env
        .ops
        .contains(&EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into())));
    assert!(plan(&["--no-dbus", "--dbus-talk", "org.a.A"]).is_err());
}

#[test]
fn bus_names_that_look_like_proxy_options_are_refused() {
    for bad in ["--log", "a b", "x=y"] {
        let err = plan(&["--dbus-talk", bad]).unwrap_err();
        assert_eq!(stockade::error::status_of(&err), 125, "{bad:?}");
    }
}

#[test]
fn socket_kinds_accumulate() {
    let p = plan(&["--socket", "x11", "--socket", "audio"]).unwrap();
    assert_eq!(
        p.display,
        Some(DisplayPolicy {
            x11: true,
            wayland: false,
            audio: true
        })
    );
    assert!(plan(&["--socket", "nope"]).is_err());
    assert_eq!(plan(&[]).unwrap().display, None);
}

#[test]
fn app_names_cannot_leave_the_app_directory() {
    for bad in ["..", "../x", "a/b", ".hidden", "-x", "", "a b"] {
        assert!(plan(&["--app", bad]).is_err(), "{bad:?} accepted");
    }
    assert!(plan(&["--app", "org.example.App_2-x"]).is_ok());
}

#[test]
fn dry_run_shows_the_bus_and_creates_nothing() {
    let home = common::TempDir::new("app-home");
    let out = common::stockade([
        "run",
        "--app",
        "dryrun-app",
        "--dbus-talk",
        "org.a.A",
        "--dry-run",
        "--",
        "true",
    ])
    .env("HOME", home.path())
    .output()
    .unwrap();
    common::assert_status(&out, 0);
    let text = common::stdout(&out);
    assert!(text.contains("dbus: xdg-dbus-proxy"), "{text}");
    assert!(text.contains("talk=[\"org.a.A\"]"), "{text}");
    assert!(!home
        .path()
        .join(".local/share/stockade/dryrun-app")
        .exists());
}

#[test]
fn app_creates_its_private_home_on_the_host() {
    use std::os::unix::fs::PermissionsExt;
    let home = common::TempDir::new("app-home");
    let out = common::stockade(["run", "--app", "some-app", "--", "true"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    common::assert_status(&out, 0);
    let dir = home.path().join(".local/share/stockade/some-app");
    let meta = std::fs::metadata(&dir).expect("the app directory exists");
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // A second run finds it and leaves what is inside alone.
    std::fs::write(dir.join("settings"), b"x").unwrap();
    let again = common::stockade(["run", "--app", "some-app", "--", "true"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    common::assert_status(&again, 0);
    assert_eq!(std::fs::read(dir.join("settings")).unwrap(), b"x");
}

#[test]
fn desktop_profile_asks_for_the_sockets_and_a_filtered_bus() {
    let p = plan(&["--profile", "desktop", "--app", "x"]).unwrap();
    assert_eq!(
        p.display,
        Some(DisplayPolicy {
            x11: true,
            wayland: true,
            audio: true
        })
    );
    let dbus = p.dbus.expect("the desktop profile filters the bus");
    assert!(dbus
        .talk
        .contains(&"org.freedesktop.Notifications".to_string()));
    assert!(dbus.own.is_empty());
    // --dbus-talk adds to the profile's list.
    let p = plan(&["--profile", "desktop", "--dbus-talk", "org.example.Extra"]).unwrap();
    assert!(p
        .dbus
        .unwrap()
        .talk
        .contains(&"org.example.Extra".to_string()));
}

#[test]
fn a_profile_extending_desktop_can_add_names_or_turn_the_bus_off() {
    let dir = common::TempDir::new("dbus-profiles");
    let more = dir.path().join("more.toml");
    std::fs::write(
        &more,
        "extends = \"desktop\"\n[dbus]\ntalk = [\"org.example.More\"]\nown = [\"org.example.App\"]\n",
    )
    .unwrap();
    let p = plan(&["--profile", more.to_str().unwrap()]).unwrap();
    let dbus = p.dbus.unwrap();
    assert!(dbus
        .talk
        .contains(&"org.freedesktop.Notifications".to_string()));
    assert!(dbus.talk.contains(&"org.example.More".to_string()));
    assert_eq!(dbus.own, ["org.example.App"]);

    let off = dir.path().join("off.toml");
    std::fs::write(&off, "extends = \"desktop\"\n[dbus]\nenabled = false\n").unwrap();
    let p = plan(&["--profile", off.to_str().unwrap()]).unwrap();
    assert!(p.dbus.is_none());
    assert!(p
        .env
        .ops
        .contains(&EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into())));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[dbus]\ntalk = [\"--log\"]\n").unwrap();
    let err = plan(&["--profile", bad.to_str().unwrap()]).unwrap_err();
    assert_eq!(stockade::error::status_of(&err), 125);

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "sockets = [\"x12\"]\n").unwrap();
    assert!(plan(&["--profile", typo.to_str().unwrap()]).is_err());
}
