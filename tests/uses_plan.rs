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
