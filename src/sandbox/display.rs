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

/// libXau's family for "any host": the sandbox has its own hostname (uts namespace), so a
/// cookie tied to the host's name would not be found.
const FAMILY_WILD: u16 = 0xffff;
/// libXau's family for local (unix socket) connections.
const FAMILY_LOCAL: u16 = 256;

/// One Xauthority entry: family, then four length-prefixed fields (big-endian lengths).
struct XauEntry<'a> {
    family: u16,
    fields: [&'a [u8]; 4],
}

fn parse_xauthority(mut data: &[u8]) -> Vec<XauEntry<'_>> {
    fn take_u16(data: &mut &[u8]) -> Option<u16> {
        let (head, rest) = data.split_first_chunk::<2>()?;
        *data = rest;
        Some(u16::from_be_bytes(*head))
    }
    fn take_field<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = take_u16(data)? as usize;
        if data.len() < len {
            return None;
        }
        let (field, rest) = data.split_at(len);
        *data = rest;
        Some(field)
    }
    let mut entries = Vec::new();
    while !data.is_empty() {
        let Some(family) = take_u16(&mut data) else {
            break;
        };
        let mut fields = [&[][..]; 4];
        for field in fields.iter_mut() {
            match take_field(&mut data) {
                Some(f) => *field = f,
                None => return entries,
            }
        }
        entries.push(XauEntry { family, fields });
    }
    entries
}

/// The caller's cookies for local display `number`, and only those (the file may hold cookies
/// for every display and host the user ever reached), rewritten as "any host" entries.
pub fn cookies_for_display(xauthority: &[u8], number: u32) -> Vec<u8> {
    let number = number.to_string();
    let mut out = Vec::new();
    for entry in parse_xauthority(xauthority) {
        let [_address, display, name, data] = entry.fields;
        let local = entry.family == FAMILY_LOCAL || entry.family == FAMILY_WILD;
        if !local || display != number.as_bytes() {
            continue;
        }
        out.extend_from_slice(&FAMILY_WILD.to_be_bytes());
        for field in [&b""[..], display, name, data] {
            out.extend_from_slice(&(field.len() as u16).to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    out
}

/// The sandbox's `$XDG_RUNTIME_DIR`: `/run/user/<uid inside>`.
fn runtime_inside(plan: &Plan) -> PathBuf {
    PathBuf::from(format!("/run/user/{}", plan.uid.unwrap_or_else(caller_uid)))
}

/// Makes the directory the sockets and the bus were bound into the sandbox's runtime
/// directory: private, writable and 0700, as the XDG Base Directory specification has it
/// (dconf, PulseAudio's client and Qt create files there), and named by `$XDG_RUNTIME_DIR`.
/// A profile's tmpfs there is kept; without one (a profile that has none, or `--uid`, which
/// a profile's `${UID}` does not follow), one is mounted before the first bind into it.
pub fn private_runtime_dir(plan: &mut Plan) {
    let runtime = runtime_inside(plan);
    let Some(first) = plan
        .fs
        .iter()
        .position(|op| op.dest().starts_with(&runtime) && op.dest() != runtime)
    else {
        return;
    };
    let mounted = plan.fs[..first]
        .iter()
        .any(|op| matches!(op, FsOp::Tmpfs { dest, .. } if *dest == runtime));
    if !mounted {
        plan.fs.insert(
            first,
            FsOp::Tmpfs {
                dest: runtime.clone(),
                size: None,
                mode: Some(0o700),
            },
        );
    }
    plan.env
        .ops
        .push(EnvOp::Set("XDG_RUNTIME_DIR".into(), runtime.into()));
}

/// Adds the binds and variables for `plan.display` to the plan.
pub fn add_sockets(plan: &mut Plan) {
    let Some(policy) = plan.display.clone() else {
        return;
    };
    let runtime_inside = runtime_inside(plan);
    let runtime_host = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let mut ops = Vec::new();
    let mut env: Vec<(&str, OsString)> = Vec::new();
    // Notes: a server that is not running, said with --verbose. Warnings: one the caller
    // names in DISPLAY or WAYLAND_DISPLAY that the sandbox cannot be given, always said,
    // since the application would report only "unable to open display".
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    // A display without a socket file is out of reach only from a network namespace of the
    // sandbox's own: with the host's, its abstract socket or TCP port is reachable.
    let own_net = plan.namespaces.net;

    if policy.x11 {
        let display = std::env::var("DISPLAY").unwrap_or_default();
        match x11_display_number(&display) {
            Some(n) => {
                let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
                if is_socket(&socket) {
                    ops.push(bind(socket.clone(), socket, BindMode::ReadOnly));
                    env.push(("DISPLAY", display.clone().into()));
                    let cookies = xauthority()
                        .and_then(|path| std::fs::read(path).ok())
                        .map(|data| cookies_for_display(&data, n))
                        .unwrap_or_default();
                    if cookies.is_empty() {
                        notes.push(format!("X11: no Xauthority cookie for display {n}"));
                    } else {
                        let inside = runtime_inside.join("Xauthority");
                        ops.push(FsOp::File {
                            dest: inside.clone(),
                            contents: cookies,
                            mode: Some(0o600),
                        });
                        env.push(("XAUTHORITY", inside.into()));
                    }
                } else if own_net {
                    warnings.push(format!(
                        "DISPLAY={display}: no socket {} to bind (an X server without it \
                         listens only where the sandbox's own network cannot reach): X11 \
                         clients will not connect",
                        socket.display()
                    ));
                } else {
                    notes.push(format!("X11: no socket {}", socket.display()));
                }
            }
            None if display.is_empty() => notes.push("X11: DISPLAY is unset".into()),
            None if own_net => warnings.push(format!(
                "DISPLAY={display} is not a local display (TCP, as ssh -X forwards), and the \
                 sandbox has its own network: X11 clients will not connect"
            )),
            None => notes.push(format!("X11: DISPLAY={display} is not a local display")),
        }
    }
    if policy.wayland {
        let named = std::env::var_os("WAYLAND_DISPLAY").filter(|v| !v.is_empty());
        let name = named.clone().unwrap_or_else(|| "wayland-0".into());
        let host = match (Path::new(&name).is_absolute(), &runtime_host) {
            (true, _) => Some(PathBuf::from(&name)),
            (false, Some(runtime)) => Some(runtime.join(&name)),
            (false, None) => None,
        };
        match host.clone().filter(|p| is_socket(p)) {
            Some(socket) => {
                let file = socket.file_name().unwrap_or_default().to_owned();
                ops.push(bind(
                    socket,
                    runtime_inside.join(&file),
                    BindMode::ReadWrite,
                ));
                env.push(("WAYLAND_DISPLAY", file));
            }
            None => match (named, host) {
                (Some(named), Some(path)) => warnings.push(format!(
                    "WAYLAND_DISPLAY={}: no socket {} to bind: Wayland clients will not \
                     connect",
                    named.to_string_lossy(),
                    path.display()
                )),
                (Some(named), None) => warnings.push(format!(
                    "WAYLAND_DISPLAY={}: XDG_RUNTIME_DIR is unset, so its socket cannot be \
                     found: Wayland clients will not connect",
                    named.to_string_lossy()
                )),
                (None, _) => notes.push("Wayland: no compositor socket".into()),
            },
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
    for warning in warnings {
        eprintln!("{}: warning: {warning}", plan.program_name);
    }
    if plan.process.verbose {
        for note in notes {
            eprintln!("{}: display: skipped {note}", plan.program_name);
        }
    }
    plan.fs.extend(ops);
    plan.env
        .ops
        .extend(env.into_iter().map(|(k, v)| EnvOp::Set(k.into(), v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(family: u16, address: &[u8], display: &str, cookie: &[u8]) -> Vec<u8> {
        let mut out = family.to_be_bytes().to_vec();
        for field in [address, display.as_bytes(), b"MIT-MAGIC-COOKIE-1", cookie] {
            out.extend_from_slice(&(field.len() as u16).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    #[test]
    fn only_the_displays_local_cookies_are_kept_and_made_host_independent() {
        let mut file = entry(FAMILY_LOCAL, b"myhost", "0", b"zero");
        file.extend(entry(FAMILY_LOCAL, b"myhost", "1", b"one"));
        file.extend(entry(0, &[10, 0, 0, 1], "1", b"remote"));
        file.extend(entry(FAMILY_WILD, b"", "10", b"ten"));
        assert_eq!(
            cookies_for_display(&file, 1),
            entry(FAMILY_WILD, b"", "1", b"one")
        );
        assert_eq!(
            cookies_for_display(&file, 10),
            entry(FAMILY_WILD, b"", "10", b"ten")
        );
        assert!(cookies_for_display(&file, 2).is_empty());
        // A truncated file yields the complete entries before the cut, never a panic.
        assert_eq!(
            cookies_for_display(&file[..file.len() - 1], 0),
            entry(FAMILY_WILD, b"", "0", b"zero")
        );
    }

    #[test]
    fn the_runtime_dir_gets_one_tmpfs_before_the_first_bind_into_it() {
        let tmpfs = |dest: &str| FsOp::Tmpfs {
            dest: dest.into(),
            size: None,
            mode: Some(0o700),
        };
        let socket = bind(
            "/host/bus".into(),
            "/run/user/7/bus".into(),
            BindMode::ReadWrite,
        );
        let mut plan = Plan {
            uid: Some(7),
            ..Default::default()
        };
        plan.fs = vec![tmpfs("/tmp"), socket.clone()];
        private_runtime_dir(&mut plan);
        assert_eq!(
            plan.fs,
            [tmpfs("/tmp"), tmpfs("/run/user/7"), socket.clone()]
        );
        assert_eq!(
            plan.env.ops.last(),
            Some(&EnvOp::Set("XDG_RUNTIME_DIR".into(), "/run/user/7".into()))
        );
        // A profile's tmpfs there is kept, and not doubled.
        plan.fs = vec![tmpfs("/run/user/7"), socket.clone()];
        private_runtime_dir(&mut plan);
        assert_eq!(plan.fs, [tmpfs("/run/user/7"), socket]);
        // Nothing bound there: nothing added.
        plan.fs = vec![tmpfs("/tmp")];
        private_runtime_dir(&mut plan);
        assert_eq!(plan.fs, [tmpfs("/tmp")]);
    }

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
