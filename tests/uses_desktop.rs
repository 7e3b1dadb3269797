//! The `desktop` use: real X11 clients from Debian's x11-apps under Xvfb map their windows
//! and draw, with only the display's socket and cookie, a per-application home and a D-Bus
//! session bus filtered by xdg-dbus-proxy. Everything is checked from the host: the X server's
//! window tree, a screenshot of the root window, files on the host, the bus service's own log.

mod common;
mod uses_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use uses_support::{processes_matching, wait_for, Guard, SessionBus, Xvfb};

/// Starts Xvfb, or says why not. The sandbox has its own network namespace, so it reaches X
/// only through the path socket in /tmp/.X11-unix, which Xvfb cannot create when run by an
/// ordinary user (CI creates it, mode 1777, as X's own packages do at boot).
fn xvfb_or_skip() -> Option<Xvfb> {
    let x11_dir = Path::new("/tmp/.X11-unix");
    if !x11_dir.is_dir() {
        common::skip("/tmp/.X11-unix is missing (root: install -d -m 1777 /tmp/.X11-unix)");
        return None;
    }
    match Xvfb::start() {
        Ok(x) => {
            let n = x.display.trim_start_matches(':');
            let socket = x11_dir.join(format!("X{n}"));
            if wait_for(Duration::from_secs(5), || socket.exists()) {
                Some(x)
            } else {
                common::skip(&format!("Xvfb made no path socket {}", socket.display()));
                None
            }
        }
        Err(reason) => {
            common::skip(&reason);
            None
        }
    }
}

/// `stockade run ARGS -- PROGRAM...` with the display's variables, left running.
fn start_in_sandbox(x: &Xvfb, args: &[&str], program: &[&str]) -> Guard {
    let mut cmd = common::stockade(["run"]);
    cmd.args(args)
        .arg("--")
        .args(program)
        .env("DISPLAY", &x.display)
        .env("XAUTHORITY", &x.xauthority)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Guard(cmd.spawn().expect("starting stockade"))
}

/// Runs x11-apps clients in the sandbox described by `args` and checks, from the host, that
/// each maps a window and that the screen is no longer blank.
fn clients_map_windows(args: &[&str]) {
    for tool in [
        "xeyes", "xclock", "xmessage", "xdotool", "import", "xwininfo",
    ] {
        if !common::have(tool) {
            common::skip(&format!(
                "{tool} is not installed (x11-apps, x11-utils, xdotool, imagemagick)"
            ));
            return;
        }
    }
    let Some(x) = xvfb_or_skip() else { return };
    let shots = common::TempDir::new("desktop-shots");
    let before = x.screenshot(shots.path()).expect("screenshot before");
    assert_eq!(
        uses_support::grey_variance(&before),
        0.0,
        "Xvfb -br starts with a blank black root window"
    );

    let clients: [(&str, &[&str]); 3] = [
        ("xeyes", &["xeyes"]),
        ("xclock", &["xclock", "-update", "1"]),
        (
            "xmessage",
            &["xmessage", "-geometry", "+300+200", "stockade desktop test"],
        ),
    ];
    let mut running = Vec::new();
    for (class, argv) in clients {
        let mut sandbox = start_in_sandbox(&x, args, argv);
        let mapped = wait_for(Duration::from_secs(15), || {
            !x.windows_of_class(class).is_empty()
        });
        if !mapped {
            let _ = sandbox.0.kill();
            let out = sandbox.0.wait_with_output_lossy();
            panic!("{class} mapped no window through stockade {args:?}; stderr: {out}");
        }
        running.push(sandbox);
    }
    // The X server's own view: every client is a child of the root window.
    let tree = x
        .command("xwininfo")
        .args(["-root", "-tree"])
        .output()
        .expect("xwininfo");
    let tree = String::from_utf8_lossy(&tree.stdout);
    for class in ["xeyes", "xclock", "xmessage"] {
        assert!(
            tree.to_lowercase().contains(class),
            "{class} missing from the window tree:\n{tree}"
        );
    }
    let after = x.screenshot(shots.path()).expect("screenshot after");
    let variance = uses_support::grey_variance(&after);
    println!("root window grey variance with the clients drawn: {variance:.1}");
    assert!(
        variance > 100.0,
        "the screenshot is still (nearly) blank: variance {variance}"
    );
    drop(running);
}

/// Reads the sandbox's stderr after it was killed (for a failure message).
trait LossyOutput {
    fn wait_with_output_lossy(&mut self) -> String;
}

impl LossyOutput for std::process::Child {
    fn wait_with_output_lossy(&mut self) -> String {
        use std::io::Read;
        let mut text = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        let _ = self.wait();
        text
    }
}

#[test]
fn x11_clients_map_windows_through_the_desktop_profile() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let app = format!("stockade-test-x11-{}", std::process::id());
    clients_map_windows(&["--profile", "desktop", "--app", &app]);
    let _ = std::fs::remove_dir_all(uses_support::home().join(".local/share/stockade").join(app));
}

#[test]
fn x11_clients_map_windows_with_only_the_display_socket() {
    clients_map_windows(&["--socket", "x11"]);
}

#[test]
fn without_the_cookie_the_x_server_refuses_the_client() {
    if !common::have("xdpyinfo") {
        common::skip("xdpyinfo is not installed (x11-utils)");
        return;
    }
    let Some(x) = xvfb_or_skip() else { return };
    // The socket alone is not enough: Xvfb runs with -auth, so a client without the cookie
    // (no --socket x11, which binds it) must be refused even with the socket bound in.
    let socket = format!("/tmp/.X11-unix/X{}", x.display.trim_start_matches(':'));
    let out = common::stockade(["run", "--ro-bind", &socket, &socket, "--", "xdpyinfo"])
        .env("DISPLAY", &x.display)
        .env_remove("XAUTHORITY")
        .env("HOME", "/nonexistent")
        .output()
        .expect("running stockade");
    assert_ne!(
        out.status.code(),
        Some(0),
        "xdpyinfo worked without a cookie"
    );
    let with = common::stockade(["run", "--socket", "x11", "--", "xdpyinfo"])
        .env("DISPLAY", &x.display)
        .env("XAUTHORITY", &x.xauthority)
        .output()
        .expect("running stockade");
    common::assert_status(&with, 0);
    assert!(common::stdout(&with).contains("dimensions:    640x480"));
}

#[test]
fn only_the_displays_cookie_is_passed() {
    if !common::have("xauth") {
        common::skip("xauth is not installed");
        return;
    }
    let Some(x) = xvfb_or_skip() else { return };
    // A second cookie, for another display, that the sandbox must not get.
    let added = x
        .command("xauth")
        .arg("-f")
        .arg(&x.xauthority)
        .args(["add", ":4242", ".", "0123456789abcdef0123456789abcdef"])
        .status()
        .expect("xauth add");
    assert!(added.success());
    let out = common::stockade([
        "run",
        "--socket",
        "x11",
        "--",
        "sh",
        "-c",
        "xauth -i -f \"$XAUTHORITY\" list; ls -l \"$XAUTHORITY\"",
    ])
    .env("DISPLAY", &x.display)
    .env("XAUTHORITY", &x.xauthority)
    .output()
    .expect("running stockade");
    common::assert_status(&out, 0);
    let text = common::stdout(&out);
    let entries: Vec<&str> = text.lines().filter(|l| l.contains("MIT-MAGIC")).collect();
    assert_eq!(entries.len(), 1, "{text}");
    assert!(
        !text.contains("0123456789abcdef"),
        "another display's cookie leaked:\n{text}"
    );
    assert!(
        text.contains("-rw-------"),
        "the cookie file is readable by others:\n{text}"
    );
}

#[test]
fn desktop_app_gets_its_own_home_and_not_the_real_one() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let home = uses_support::home();
    let app = format!("stockade-test-home-{}", std::process::id());
    let app_dir = home.join(".local/share/stockade").join(&app);
    let canary = home.join(format!("stockade-canary-{}", std::process::id()));
    std::fs::write(&canary, b"secret in the real home\n").expect("writing the canary");
    let script = format!(
        "cat '{canary}' 2>/dev/null; ls -a '{home}' 2>/dev/null; echo HOME=$HOME; echo kept > \"$HOME/settings\"",
        canary = canary.display(),
        home = home.display()
    );
    let out = common::stockade([
        "run",
        "--profile",
        "desktop",
        "--app",
        &app,
        "--",
        "sh",
        "-c",
    ])
    .arg(&script)
    .output()
    .expect("running stockade");
    let _ = std::fs::remove_file(&canary);
    let text = common::stdout(&out);
    let settings = std::fs::read_to_string(app_dir.join("settings"));
    let _ = std::fs::remove_dir_all(&app_dir);
    common::assert_status(&out, 0);
    assert!(
        !text.contains("secret in the real home"),
        "the app read the real home's canary:\n{text}"
    );
    assert!(
        !text.contains(&format!("stockade-canary-{}", std::process::id())),
        "the app could list the real home:\n{text}"
    );
    // The per-app home was created on the host and is what the app writes to, so settings
    // persist.
    assert_eq!(
        settings.as_deref().ok(),
        Some("kept\n"),
        "the app's write to $HOME did not land in {}; output:\n{text}",
        app_dir.display()
    );
}

/// The test bus service: owns the names given, answers `org.stockade.Test.Ping` and logs the
/// bus name every call was addressed to, so the host sees which calls got through.
const SERVICE: &str = r#"
import sys, dbus, dbus.service, dbus.mainloop.glib
from gi.repository import GLib
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
class Service(dbus.service.Object):
    @dbus.service.method("org.stockade.Test", in_signature="", out_signature="s",
                         message_keyword="msg")
    def Ping(self, msg):
        log.write("call to %s\n" % msg.get_destination())
        return "pong"
names = [dbus.service.BusName(n, bus, do_not_queue=True) for n in sys.argv[3:]]
Service(bus, "/org/stockade/Test")
print("ready", flush=True)
GLib.MainLoop().run()
"#;

struct Service {
    log: std::path::PathBuf,
    _proc: Guard,
    _dir: common::TempDir,
}

fn start_service(bus: &SessionBus, names: &[&str]) -> Result<Service, String> {
    use std::io::BufRead;
    let ok = Command::new("python3")
        .args(["-c", "import dbus, dbus.mainloop.glib, gi"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err("python3-dbus and python3-gi are not installed".into());
    }
    let dir = common::TempDir::new("dbus-service");
    let log = dir.path().join("calls.log");
    std::fs::write(&log, b"").map_err(|e| e.to_string())?;
    let mut child = Command::new("python3")
        .args(["-c", SERVICE, &bus.address])
        .arg(&log)
        .args(names)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().expect("piped");
    let guard = Guard(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    if line.trim() != "ready" {
        return Err("the test D-Bus service did not start".into());
    }
    Ok(Service {
        log,
        _proc: guard,
        _dir: dir,
    })
}

/// xdg-dbus-proxy processes for the bus at `address`.
fn proxies_of(address: &str) -> Vec<i32> {
    processes_matching(|cmdline| {
        cmdline.starts_with("xdg-dbus-proxy ") && cmdline.contains(address)
    })
}

fn ping(extra: &[&str], bus: &SessionBus, name: &str) -> std::process::Output {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--",
        "dbus-send",
        "--session",
        "--print-reply",
        "--reply-timeout=5000",
    ]);
    let dest = format!("--dest={name}");
    args.push(&dest);
    args.extend_from_slice(&["/org/stockade/Test", "org.stockade.Test.Ping"]);
    common::stockade(args)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .expect("running stockade")
}

fn bus_and_service(names: &[&str]) -> Option<(SessionBus, Service)> {
    for tool in ["dbus-send", "xdg-dbus-proxy"] {
        if !common::have(tool) {
            common::skip(&format!("{tool} is not installed (dbus, xdg-dbus-proxy)"));
            return None;
        }
    }
    let bus = match SessionBus::start() {
        Ok(b) => b,
        Err(r) => {
            common::skip(&r);
            return None;
        }
    };
    match start_service(&bus, names) {
        Ok(s) => Some((bus, s)),
        Err(r) => {
            common::skip(&r);
            None
        }
    }
}

/// The filter lets a call to an allowed name through and stops one to any other name before
/// it reaches the bus (the service's own log shows only the allowed call).
fn filter_allows_only(extra: &[&str], allowed: &str, denied: &str) {
    let Some((bus, service)) = bus_and_service(&[allowed, denied]) else {
        return;
    };
    // Outside the sandbox both names answer: the service and the bus work.
    let host = Command::new("dbus-send")
        .args(["--session", "--print-reply", "--reply-timeout=5000"])
        .arg(format!("--dest={denied}"))
        .args(["/org/stockade/Test", "org.stockade.Test.Ping"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .expect("dbus-send on the host");
    assert!(
        String::from_utf8_lossy(&host.stdout).contains("pong"),
        "the test service does not answer on the host"
    );
    std::fs::write(&service.log, b"").unwrap();

    let out = ping(extra, &bus, allowed);
    common::assert_status(&out, 0);
    assert!(
        common::stdout(&out).contains("pong"),
        "{}",
        common::stdout(&out)
    );

    let out = ping(extra, &bus, denied);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a call to {denied} got through the filter: {}",
        common::stdout(&out)
    );
    let log = std::fs::read_to_string(&service.log).unwrap();
    assert_eq!(
        log,
        format!("call to {allowed}\n"),
        "the service saw other calls than the allowed one"
    );
}

#[test]
fn dbus_call_outside_the_filter_fails_and_an_allowed_one_works() {
    filter_allows_only(
        &["--dbus-talk", "org.stockade.Allowed"],
        "org.stockade.Allowed",
        "org.stockade.Denied",
    );
}

#[test]
fn desktop_profile_filters_the_bus_with_its_talk_list() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    // org.freedesktop.Notifications is on the desktop profile's talk list; a made-up name is
    // on no list.
    let app = format!("stockade-test-dbus-{}", std::process::id());
    filter_allows_only(
        &["--profile", "desktop", "--app", &app],
        "org.freedesktop.Notifications",
        "org.stockade.NotListed",
    );
    let _ = std::fs::remove_dir_all(uses_support::home().join(".local/share/stockade").join(app));
}

#[test]
fn the_real_bus_socket_is_not_in_the_sandbox() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let real = bus
        .address
        .strip_prefix("unix:path=")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("")
        .to_string();
    let out = common::stockade([
        "run",
        "--dbus-talk",
        "org.stockade.Allowed",
        "--",
        "sh",
        "-c",
        "echo $DBUS_SESSION_BUS_ADDRESS; test -e \"$1\" && echo REAL-BUS-VISIBLE; true",
        "sh",
        &real,
    ])
    .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
    // An inherited runtime directory that is not ours (su, sudo) must not stop the proxy.
    .env("XDG_RUNTIME_DIR", "/")
    .output()
    .expect("running stockade");
    common::assert_status(&out, 0);
    let text = common::stdout(&out);
    assert!(text.starts_with("unix:path=/run/user/"), "{text}");
    assert!(!text.contains("REAL-BUS-VISIBLE"), "{text}");
}

#[test]
fn the_proxy_ends_with_the_sandbox_even_when_stockade_is_killed() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    // A normal end: the proxy (whose command line names the bus address) is gone after.
    let out = ping(
        &["--dbus-talk", "org.stockade.Allowed"],
        &bus,
        "org.stockade.Allowed",
    );
    common::assert_status(&out, 0);
    assert!(
        proxies_of(&bus.address).is_empty(),
        "xdg-dbus-proxy outlived the sandbox"
    );
    // SIGKILL of the launcher: its keeper sees the lifeline close and stops the proxy.
    let marker = format!("{}.{}", 300, std::process::id());
    let mut child = common::stockade([
        "run",
        "--dbus-talk",
        "org.stockade.Allowed",
        "--",
        "sleep",
        &marker,
    ])
    .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
    .spawn()
    .expect("starting stockade");
    // The sleep itself, not stockade's own command line, which names it too.
    let sleeping = || processes_matching(|c| c.starts_with("sleep ") && c.contains(&marker));
    assert!(
        wait_for(Duration::from_secs(10), || !sleeping().is_empty()),
        "the sandboxed sleep did not start"
    );
    assert!(!proxies_of(&bus.address).is_empty(), "no proxy running");
    child.kill().expect("SIGKILL stockade");
    let _ = child.wait();
    assert!(
        wait_for(Duration::from_secs(10), || proxies_of(&bus.address)
            .is_empty()),
        "xdg-dbus-proxy outlived a killed stockade"
    );
    assert!(
        wait_for(Duration::from_secs(10), || sleeping().is_empty()),
        "the sandbox outlived a killed stockade"
    );
}

/// The proxy's socket directories in `runtime`, where a launch given it as XDG_RUNTIME_DIR
/// makes its own. Each test passes a runtime directory of its own, so it sees its launches
/// only.
fn socket_dirs(runtime: &Path) -> Vec<String> {
    std::fs::read_dir(runtime)
        .expect("reading the test's runtime directory")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("stockade-dbus-"))
        .collect()
}

/// `stockade run` with the filtered test bus and `runtime` as XDG_RUNTIME_DIR.
fn run_with_bus(bus: &SessionBus, runtime: &Path, extra: &[&str], program: &[&str]) -> Command {
    let mut cmd = common::stockade(["run", "--dbus-talk", "org.stockade.Allowed"]);
    cmd.args(extra)
        .arg("--")
        .args(program)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("XDG_RUNTIME_DIR", runtime);
    cmd
}

#[test]
fn nothing_of_the_proxy_is_left_on_the_host_however_the_sandbox_ends() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let runtime = common::TempDir::new("dbus-runtime");
    let ping = [
        "dbus-send",
        "--session",
        "--print-reply",
        "--reply-timeout=5000",
        "--dest=org.stockade.Allowed",
        "/org/stockade/Test",
        "org.stockade.Test.Ping",
    ];
    let cases: [(&str, &[&str], &[&str], i32); 5] = [
        ("a call through the proxy", &[], &ping, 0),
        (
            "a failure before the sandbox exists",
            &["--bind", "/nonexistent", "/x"],
            &["true"],
            125,
        ),
        (
            "a setup failure",
            &["--chdir", "/nonexistent"],
            &["true"],
            125,
        ),
        ("a command not found", &[], &["/nonexistent/program"], 127),
        ("--timeout", &["--timeout", "300ms"], &["sleep", "30"], 124),
    ];
    for (case, extra, program, status) in cases {
        let out = run_with_bus(&bus, runtime.path(), extra, program)
            .output()
            .expect("running stockade");
        common::assert_status(&out, status);
        assert!(
            !common::stderr(&out).contains("no D-Bus"),
            "{case}: the proxy did not start: {}",
            common::stderr(&out)
        );
        if status == 0 {
            assert!(common::stdout(&out).contains("pong"), "{case}");
        }
        assert_eq!(
            socket_dirs(runtime.path()),
            Vec::<String>::new(),
            "after {case}, the proxy's socket directory is left on the host"
        );
    }
    // Without xdg-dbus-proxy on PATH, the directory made for it goes too.
    let out = run_with_bus(&bus, runtime.path(), &[], &["/bin/true"])
        .env("PATH", "/nonexistent")
        .output()
        .expect("running stockade");
    common::assert_status(&out, 0);
    assert!(
        common::stderr(&out).contains("not installed"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(socket_dirs(runtime.path()), Vec::<String>::new());
}

/// Waits until the socket directory of every launch in `runtime` is gone. Promptly: a keeper
/// that noticed the launcher's end only at the proxy's 10 s start timeout would fail this.
fn proxy_cleaned_up(runtime: &Path) -> bool {
    wait_for(Duration::from_secs(5), || socket_dirs(runtime).is_empty())
}

/// SIGKILLs `child` (stockade, or its caller) while the proxy's directory exists, and checks
/// that the directory goes.
#[track_caller]
fn kill_and_check_cleanup(child: &mut std::process::Child, runtime: &Path, who: &str) {
    // Else the check below proves nothing.
    assert_eq!(
        socket_dirs(runtime).len(),
        1,
        "no socket directory in XDG_RUNTIME_DIR"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        proxy_cleaned_up(runtime),
        "{who} left {:?}",
        socket_dirs(runtime)
    );
}

/// Pids of `sleep MARKER`, without stockade's own command line (which names it too).
fn sleeping(marker: &str) -> Vec<i32> {
    processes_matching(|c| c.starts_with("sleep ") && c.contains(marker))
}

#[test]
fn nothing_of_the_proxy_is_left_when_stockade_is_killed_while_the_command_runs() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let runtime = common::TempDir::new("dbus-runtime");
    let marker = format!("{}.{}", 302, std::process::id());
    let mut child = run_with_bus(&bus, runtime.path(), &[], &["sleep", &marker])
        .spawn()
        .expect("starting stockade");
    assert!(
        wait_for(Duration::from_secs(10), || !sleeping(&marker).is_empty()),
        "the sandboxed sleep did not start"
    );
    kill_and_check_cleanup(&mut child, runtime.path(), "a SIGKILLed stockade");
}

#[test]
fn nothing_of_the_proxy_is_left_when_stockade_is_killed_during_setup() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let runtime = common::TempDir::new("dbus-runtime");
    // A stand-in proxy that never gets ready holds stockade at the point where the socket
    // directory exists and the sandbox does not yet.
    let fake = common::TempDir::new("dbus-fake-proxy");
    let started = fake.path().join("started");
    let marker = format!("{}.{}", 303, std::process::id());
    let script = fake.path().join("xdg-dbus-proxy");
    let body = format!(
        "#!/bin/sh\n: > '{}'\nexec sleep {marker}\n",
        started.display()
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake.str(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = run_with_bus(&bus, runtime.path(), &[], &["true"])
        .env("PATH", path)
        .spawn()
        .expect("starting stockade");
    assert!(
        wait_for(Duration::from_secs(10), || started.exists()),
        "the stand-in proxy did not start"
    );
    kill_and_check_cleanup(
        &mut child,
        runtime.path(),
        "stockade SIGKILLed during setup",
    );
    assert!(
        wait_for(Duration::from_secs(5), || sleeping(&marker).is_empty()),
        "the stand-in proxy outlived stockade"
    );
}

#[test]
fn nothing_of_the_proxy_is_left_when_stockade_dies_with_its_caller() {
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let runtime = common::TempDir::new("dbus-runtime");
    let marker = format!("{}.{}", 304, std::process::id());
    // The caller is a shell that waits for stockade; --die-with-parent is the default.
    let stockade = run_with_bus(&bus, runtime.path(), &[], &["sleep", &marker]);
    let mut caller = Command::new("sh");
    caller
        .args(["-c", "\"$0\" \"$@\" & wait"])
        .arg(stockade.get_program())
        .args(stockade.get_args())
        .envs(stockade.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::null());
    let mut caller = caller.spawn().expect("starting the caller");
    assert!(
        wait_for(Duration::from_secs(10), || !sleeping(&marker).is_empty()),
        "the sandboxed sleep did not start"
    );
    kill_and_check_cleanup(
        &mut caller,
        runtime.path(),
        "stockade ended with its caller and",
    );
    assert!(
        wait_for(Duration::from_secs(10), || sleeping(&marker).is_empty()),
        "the sandbox outlived its caller"
    );
}

/// Wayland, PulseAudio and PipeWire sockets are found in the caller's runtime directory and
/// reach the host's listeners; nothing else of that directory is visible. (No compositor or
/// sound server runs here: the test's own listening sockets stand in for them, which is all
/// the sandbox side can tell apart.)
#[test]
fn wayland_and_audio_sockets_reach_the_host_servers() {
    use std::os::unix::net::UnixListener;
    let runtime = common::TempDir::new("runtime");
    std::fs::create_dir(runtime.path().join("pulse")).unwrap();
    let names = ["wayland-test", "pulse/native", "pipewire-0"];
    let listeners: Vec<UnixListener> = names
        .iter()
        .map(|n| UnixListener::bind(runtime.path().join(n)).expect("binding a socket"))
        .collect();
    for l in &listeners {
        l.set_nonblocking(true).unwrap();
    }
    std::fs::write(runtime.path().join("secret-keyring"), b"x").unwrap();
    let script = r#"
import os, socket
rt = os.environ["XDG_RUNTIME_DIR"]
print("runtime", rt, sorted(os.listdir(rt)))
print("pulse", os.environ.get("PULSE_SERVER"))
for path in [os.path.join(rt, os.environ["WAYLAND_DISPLAY"]),
             os.environ["PULSE_SERVER"].removeprefix("unix:"),
             os.path.join(rt, "pipewire-0")]:
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"hello")
    print("connected", path)
"#;
    let out = common::stockade([
        "run", "--socket", "wayland", "--socket", "audio", "--", "python3", "-c", script,
    ])
    .env("XDG_RUNTIME_DIR", runtime.path())
    .env("WAYLAND_DISPLAY", "wayland-test")
    .output()
    .expect("running stockade");
    common::assert_status(&out, 0);
    let text = common::stdout(&out);
    assert_eq!(text.matches("connected ").count(), 3, "{text}");
    assert!(!text.contains("secret-keyring"), "{text}");
    assert!(text.contains("'wayland-test'"), "{text}");
    // Each host listener got its connection, with what the sandbox sent.
    for (l, name) in listeners.iter().zip(names) {
        let (mut conn, _) = l
            .accept()
            .unwrap_or_else(|e| panic!("{name}: no connection reached the host: {e}"));
        conn.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut conn, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }
}

/// The caller's uid, which the sandbox keeps: its runtime directory is `/run/user/<uid>`.
fn caller_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

/// The sandbox's `$XDG_RUNTIME_DIR` is a private, writable 0700 directory at
/// `/run/user/<uid>` however the caller's is set: dconf, PulseAudio's client and Qt create
/// files there, and a session that is not systemd's (su, ssh without pam_systemd, a custom
/// login) has it elsewhere, or inherited as `/` or another user's.
#[test]
fn desktop_runtime_dir_is_private_and_writable_whatever_the_callers_is() {
    use std::os::unix::net::UnixListener;
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    // A runtime directory elsewhere than /run/user/<uid>, with a compositor socket the
    // display stage binds from it and a file it must not show.
    let elsewhere = common::TempDir::new("runtime-elsewhere");
    let _listener = UnixListener::bind(elsewhere.path().join("wayland-test")).unwrap();
    std::fs::write(elsewhere.path().join("secret-keyring"), b"x").unwrap();
    let expected = format!("/run/user/{}", caller_uid());
    let script = r#"echo "rt=$XDG_RUNTIME_DIR"; ls "$XDG_RUNTIME_DIR"; stat -c "mode=%a" "$XDG_RUNTIME_DIR"; mkdir "$XDG_RUNTIME_DIR/dconf" && echo WRITABLE"#;
    for (case, value) in [
        ("a directory elsewhere", Some(elsewhere.str())),
        ("/ (inherited through su)", Some("/")),
        ("unset", None),
    ] {
        let mut cmd = common::stockade(["run", "--profile", "desktop", "--no-dbus", "--"]);
        cmd.args(["sh", "-c", script])
            .env("WAYLAND_DISPLAY", "wayland-test")
            .env_remove("DISPLAY");
        match value {
            Some(v) => cmd.env("XDG_RUNTIME_DIR", v),
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
        };
        let out = cmd.output().expect("running stockade");
        let text = common::stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "XDG_RUNTIME_DIR {case}: {text}{}",
            common::stderr(&out)
        );
        assert!(
            text.contains(&format!("rt={expected}\n")),
            "XDG_RUNTIME_DIR {case}: the sandbox's is not {expected}:\n{text}"
        );
        assert!(
            text.contains("mode=700\n") && text.contains("WRITABLE\n"),
            "XDG_RUNTIME_DIR {case}: the sandbox's is not a writable 0700 directory:\n{text}{}",
            common::stderr(&out)
        );
        assert!(!text.contains("secret-keyring"), "{case}: {text}");
        if value == Some(elsewhere.str()) {
            assert!(
                text.contains("wayland-test\n"),
                "the compositor socket is missing:\n{text}"
            );
        }
    }
}

/// A display the caller names but the sandbox cannot be given is said on stderr, in one line
/// naming the variable and the reason, instead of leaving only the application's "unable to
/// open display"; the command still runs and its status is stockade's. An unset variable is
/// a session without that server and stays silent.
#[test]
fn a_display_named_but_unreachable_is_reported_and_an_unset_one_is_not() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    // A display number with no socket: an X server started without /tmp/.X11-unix listens
    // only on its abstract socket, which the sandbox's network namespace cannot reach.
    let free = (200..400u32)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .expect("a display number without a socket");
    let runtime = common::TempDir::new("runtime-empty");
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = common::stockade(["run", "--profile", "desktop", "--no-dbus", "--"]);
        cmd.args(["sh", "-c", "exit 3"])
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().expect("running stockade")
    };
    let missing = format!(":{free}");
    let named = format!("DISPLAY={missing}");
    let socket = format!("/tmp/.X11-unix/X{free}");
    // The caller's variables, and what the warning must name.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 3] = [
        (&[("DISPLAY", &missing)], &[&named, &socket]),
        // ssh -X forwards a TCP display, which the sandbox's own network cannot reach.
        (
            &[("DISPLAY", "localhost:10.0")],
            &["DISPLAY=localhost:10.0"],
        ),
        (
            &[("WAYLAND_DISPLAY", "wayland-7")],
            &["WAYLAND_DISPLAY=wayland-7"],
        ),
    ];
    for (vars, wanted) in cases {
        let out = run(vars);
        common::assert_status(&out, 3);
        let err = common::stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(lines.len(), 1, "{vars:?}: not one warning line:\n{err}");
        for w in wanted {
            assert!(lines[0].contains(w), "{vars:?}: {w:?} not named:\n{err}");
        }
    }
    let out = run(&[]);
    common::assert_status(&out, 3);
    assert_eq!(
        common::stderr(&out),
        "",
        "a session without a display is not an error"
    );
}

/// A font file of the host's, to stand for one the user installed.
fn some_host_font() -> Option<std::path::PathBuf> {
    let out = Command::new("fc-list").args([":", "file"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches([' ', ':']))
        .find(|f| f.ends_with(".ttf") || f.ends_with(".otf"))
        .map(std::path::PathBuf::from)
}

/// Fonts the user installed (`~/.local/share/fonts`, the older `~/.fonts`) reach the
/// application read-only, as under flatpak and firejail: a document that uses them looks the
/// same inside. Nothing else of the real home comes with them.
#[test]
fn desktop_app_sees_the_users_own_fonts_read_only() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    if !common::have("fc-list") {
        common::skip("fc-list is not installed (fontconfig)");
        return;
    }
    let Some(font) = some_host_font() else {
        common::skip("no .ttf or .otf font installed (fonts-dejavu-core)");
        return;
    };
    // A home of the test's own, so the real one is never touched.
    let dir = common::TempDir::new("desktop-fonts");
    let home = dir.path().join("home");
    let ext = font.extension().unwrap().to_string_lossy().into_owned();
    let placed = [
        home.join(format!(".local/share/fonts/StockadeUserFont.{ext}")),
        home.join(format!(".fonts/StockadeLegacyFont.{ext}")),
    ];
    for file in &placed {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::copy(&font, file).expect("copying a font");
    }
    std::fs::write(home.join("real-secret"), b"secret in the real home\n").unwrap();
    let script = "fc-list : file; cat \"$HOME/real-secret\" 2>/dev/null; \
        touch \"$HOME/.local/share/fonts/new\" 2>/dev/null && echo FONTS-WRITABLE; true";
    let out = common::stockade(["run", "--profile", "desktop", "--no-dbus", "--"])
        .args(["sh", "-c", script])
        .env("HOME", &home)
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("running stockade");
    common::assert_status(&out, 0);
    let text = common::stdout(&out);
    for file in &placed {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            text.contains(&format!("{}:", file.display())),
            "fontconfig inside does not list {name}:\n{text}"
        );
    }
    assert!(!text.contains("secret in the real home"), "{text}");
    assert!(!text.contains("FONTS-WRITABLE"), "{text}");
    assert!(!home.join(".local/share/fonts/new").exists());
}

/// A GApplication (most GNOME programs; Gtk.Application is one) with the given id: it
/// registers the id on the session bus, prints each activation, and quits at the second.
/// A second instance finds the first on the bus, asks it to activate, and ends with 0.
const GAPPLICATION: &str = r#"
import sys
from gi.repository import Gio
app = Gio.Application(application_id=sys.argv[1])
count = [0]
def activate(a):
    count[0] += 1
    print("activated", count[0], flush=True)
    if count[0] == 2:
        a.release()
app.connect("activate", activate)
app.connect("startup", lambda a: a.hold())
sys.exit(app.run([]))
"#;

/// A GApplication registers its id on the bus before it does anything else: through the
/// filter it may do so only when the id is one the sandbox may own (`--dbus-own`, or `own`
/// in a profile), and it then ends with "Failed to register" (what the README tells users).
/// With the id owned, a second instance in another sandbox reaches the first through both
/// filters, as on the host.
#[test]
fn a_gapplication_registers_only_an_owned_id_and_a_second_instance_reaches_the_first() {
    use std::io::BufRead;
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let ok = Command::new("python3")
        .args(["-c", "from gi.repository import Gio"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        common::skip("python3-gi is not installed");
        return;
    }
    let Some((bus, _service)) = bus_and_service(&["org.stockade.Allowed"]) else {
        return;
    };
    let id = format!("org.stockade.GApp{}", std::process::id());
    let app = |extra: &[&str]| {
        let mut cmd = common::stockade(["run", "--profile", "desktop", "--app", &id]);
        cmd.args(extra)
            .args(["--", "python3", "-c", GAPPLICATION, &id])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null());
        cmd
    };
    let app_dir = uses_support::home().join(".local/share/stockade").join(&id);

    let refused = app(&[]).output().expect("running stockade");
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a GApplication registered an id the filter does not let it own: {}{}",
        common::stdout(&refused),
        common::stderr(&refused)
    );
    assert!(
        common::stderr(&refused).contains("Failed to register"),
        "{}",
        common::stderr(&refused)
    );

    let mut first = app(&["--dbus-own", &id]);
    first.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut first = Guard(first.spawn().expect("starting the first instance"));
    let mut lines = std::io::BufReader::new(first.0.stdout.take().unwrap()).lines();
    let line = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(line, "activated 1", "the first instance did not start");
    let second = app(&["--dbus-own", &id])
        .output()
        .expect("running the second instance");
    common::assert_status(&second, 0);
    assert_eq!(
        common::stdout(&second),
        "",
        "the second instance ran on its own instead of activating the first"
    );
    let line = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert_eq!(line, "activated 2", "the first instance was not activated");
    let ended = wait_for(Duration::from_secs(15), || {
        matches!(first.0.try_wait(), Ok(Some(_)))
    });
    assert!(ended, "the first instance did not end");
    assert_eq!(first.0.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(app_dir);
}

/// With `--uid`, the sockets and the bus land in `/run/user/<uid inside>`, which must be the
/// same private, writable directory as without it, and `$XDG_RUNTIME_DIR` must name it.
#[test]
fn desktop_runtime_dir_follows_the_uid_inside() {
    use std::os::unix::net::UnixListener;
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let runtime = common::TempDir::new("runtime-uid");
    let _listener = UnixListener::bind(runtime.path().join("wayland-test")).unwrap();
    let script = r#"echo "rt=$XDG_RUNTIME_DIR"; ls /run/user/0; stat -c "mode=%a" /run/user/0; mkdir /run/user/0/dconf && echo WRITABLE"#;
    let out = common::stockade([
        "run",
        "--profile",
        "desktop",
        "--no-dbus",
        "--uid",
        "0",
        "--",
        "sh",
        "-c",
        script,
    ])
    .env("XDG_RUNTIME_DIR", runtime.path())
    .env("WAYLAND_DISPLAY", "wayland-test")
    .env_remove("DISPLAY")
    .output()
    .expect("running stockade");
    let text = common::stdout(&out);
    common::assert_status(&out, 0);
    assert!(text.contains("rt=/run/user/0\n"), "{text}");
    assert!(text.contains("wayland-test\n"), "{text}");
    assert!(
        text.contains("mode=700\n") && text.contains("WRITABLE\n"),
        "/run/user/0 is not a writable 0700 directory:\n{text}{}",
        common::stderr(&out)
    );
}

/// libdbus aborts a program when it cannot read a machine id, and PulseAudio and browsers
/// read it: the desktop profile gives the host's, read-only, where each looks for it.
#[test]
fn desktop_app_reads_the_hosts_machine_id() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let mut checked = 0;
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        let Ok(host) = std::fs::read_to_string(path) else {
            println!("{path} is not on this host: nothing to compare");
            continue;
        };
        let script = format!("cat {path}; echo x >> {path} || echo READ-ONLY");
        let out = common::stockade([
            "run",
            "--profile",
            "desktop",
            "--no-dbus",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("running stockade");
        common::assert_status(&out, 0);
        assert_eq!(common::stdout(&out), format!("{host}READ-ONLY\n"), "{path}");
        checked += 1;
    }
    if checked == 0 {
        common::skip("this host has no machine id to hand over");
    }
}

/// GTK looks for the accessibility bus (AT-SPI) on every start. stockade does not proxy that
/// bus, so the profile turns GTK's bridge off (NO_AT_BRIDGE) instead of letting every
/// application start the bus's launcher on the host and then warn that it cannot connect.
#[test]
fn a_gtk_window_opens_without_accessibility_bus_noise() {
    if !uses_support::profile_available("desktop") {
        common::skip("the desktop profile is not in this build yet (profiles issue)");
        return;
    }
    let gtk = "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk";
    let have_gtk = Command::new("python3")
        .args(["-c", gtk])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_gtk {
        common::skip("GTK 3 for python3 is not installed (Debian: python3-gi gir1.2-gtk-3.0)");
        return;
    }
    let Some(x) = xvfb_or_skip() else {
        return;
    };
    let bus = match SessionBus::start() {
        Ok(bus) => bus,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    let script = format!(
        "{gtk}, GLib\nw = Gtk.Window()\nw.show_all()\nGLib.timeout_add(300, Gtk.main_quit)\n\
         Gtk.main()\nprint('window shown')"
    );
    let out = common::stockade([
        "run",
        "--profile",
        "desktop",
        "--",
        "python3",
        "-c",
        &script,
    ])
    .env("DISPLAY", &x.display)
    .env("XAUTHORITY", &x.xauthority)
    .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
    .env_remove("WAYLAND_DISPLAY")
    .env_remove("NO_AT_BRIDGE")
    .output()
    .expect("running stockade");
    let err = common::stderr(&out);
    common::assert_status(&out, 0);
    assert_eq!(common::stdout(&out), "window shown\n", "{err}");
    let lower = err.to_lowercase();
    assert!(
        !lower.contains("accessibility") && !lower.contains("at-spi"),
        "{err}"
    );
}
