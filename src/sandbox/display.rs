//! The display stage: binds the display and sound server sockets a graphical application
//! needs, found at launch from the caller's environment, and nothing else of the caller's
//! runtime directory.
//!
//! Everything lands under `/run/user/<uid inside>` (the sandbox's `$XDG_RUNTIME_DIR`),
//! except the X11 socket, which clients only look for at `/tmp/.X11-unix/X<N>`: the sandbox
//! has its own network namespace, so X11's abstract socket is out of reach and the path
//! socket is the only way in. A server that is not running is skipped (with `--verbose`, a
//! note says so): the same profile serves X11-only, Wayland-only and headless sessions.

use std::ffi::OsString;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::plan::{caller_uid, BindMode, EnvOp, FsOp, Plan};

/// The X11 display number of a `$DISPLAY` value served on a local socket: `:0`, `:1.0`,
/// `unix:2`. Remote (`host:0`) displays have no socket to bind.
pub fn x11_display_number(display: &str) -> Option<u32> {
    let rest = display
        .strip_prefix("unix:")
        .or_else(|| display.strip_prefix(':'))?;
    let number = rest.split('.').next()?;
    number.parse().ok()
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false)
}

fn bind(src: PathBuf, dest: PathBuf, mode: BindMode) -> FsOp {
    FsOp::Bind {
        src,
        dest,
        mode,
        optional: false,
    }
}

/// The caller's Xauthority file: `$XAUTHORITY`, else `~/.Xauthority`.
fn xauthority() -> Option<PathBuf> {
    std::env::var_os("XAUTHORITY")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".Xauthority")))
        .filter(|p| p.is_file())
}

/// Adds the binds and variables for `plan.display` to the plan.
pub fn add_sockets(plan: &mut Plan) {
    let Some(policy) = plan.display.clone() else {
        return;
    };
    let runtime_inside =
        PathBuf::from(format!("/run/user/{}", plan.uid.unwrap_or_else(caller_uid)));
    let runtime_host = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let mut ops = Vec::new();
    let mut env: Vec<(&str, OsString)> = Vec::new();
    let mut notes = Vec::new();

    if policy.x11 {
        let display = std::env::var("DISPLAY").unwrap_or_default();
        match x11_display_number(&display) {
            Some(n) => {
                let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
                if is_socket(&socket) {
                    ops.push(bind(socket.clone(), socket, BindMode::ReadOnly));
                    env.push(("DISPLAY", display.clone().into()));
                    if let Some(cookie) = xauthority() {
                        let inside = runtime_inside.join("Xauthority");
                        ops.push(bind(cookie, inside.clone(), BindMode::ReadOnly));
                        env.push(("XAUTHORITY", inside.into()));
                    }
                } else {
                    notes.push(format!("X11: no socket {}", socket.display()));
                }
            }
            None if display.is_empty() => notes.push("X11: DISPLAY is unset".into()),
            None => notes.push(format!("X11: DISPLAY={display} is not a local display")),
        }
    }
    if policy.wayland {
        let name = std::env::var_os("WAYLAND_DISPLAY").unwrap_or_else(|| "wayland-0".into());
        let host = match (Path::new(&name).is_absolute(), &runtime_host) {
            (true, _) => Some(PathBuf::from(&name)),
            (false, Some(runtime)) => Some(runtime.join(&name)),
            (false, None) => None,
        };
        match host.filter(|p| is_socket(p)) {
            Some(socket) => {
                let file = socket.file_name().unwrap_or_default().to_owned();
                ops.push(bind(
                    socket,
                    runtime_inside.join(&file),
                    BindMode::ReadWrite,
                ));
                env.push(("WAYLAND_DISPLAY", file));
            }
            None => notes.push("Wayland: no compositor socket".into()),
        }
    }
    if policy.audio {
        let pulse = runtime_host.as_ref().map(|r| r.join("pulse/native"));
        if let Some(socket) = pulse.filter(|p| is_socket(p)) {
            let inside = runtime_inside.join("pulse/native");
            ops.push(bind(socket, inside.clone(), BindMode::ReadWrite));
            let mut server = OsString::from("unix:");
            server.push(inside);
            env.push(("PULSE_SERVER", server));
        } else {
            notes.push("audio: no PulseAudio socket".into());
        }
        let pipewire = runtime_host.as_ref().map(|r| r.join("pipewire-0"));
        if let Some(socket) = pipewire.filter(|p| is_socket(p)) {
            ops.push(bind(
                socket,
                runtime_inside.join("pipewire-0"),
                BindMode::ReadWrite,
            ));
        } else {
            notes.push("audio: no PipeWire socket".into());
        }
    }
    if plan.process.verbose {
        for note in notes {
            eprintln!("{}: display: skipped {note}", plan.program_name);
        }
    }
    if ops.iter().any(|op| op.dest().starts_with(&runtime_inside)) {
        env.push(("XDG_RUNTIME_DIR", runtime_inside.into()));
    }
    plan.fs.extend(ops);
    plan.env
        .ops
        .extend(env.into_iter().map(|(k, v)| EnvOp::Set(k.into(), v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_displays_have_numbers_remote_ones_do_not() {
        assert_eq!(x11_display_number(":0"), Some(0));
        assert_eq!(x11_display_number(":12.1"), Some(12));
        assert_eq!(x11_display_number("unix:3"), Some(3));
        assert_eq!(x11_display_number("remote:0"), None);
        assert_eq!(x11_display_number(""), None);
        assert_eq!(x11_display_number(":x"), None);
    }
}
