//! The bubblewrap-compatible command line (bubblewrap 0.11.1's contract).
//!
//! Two pure steps, so both can be tested and fuzzed without a kernel:
//! - [`parse_with`] reads the words exactly as bubblewrap does: `--opt VALUE` only, stops at the
//!   first non-option or `--`, filesystem operations kept in order, `--perms`/`--size` bound to
//!   the next operation, `--args FD` read through a caller-supplied reader;
//! - [`to_plan`] applies bubblewrap's cross-option rules (what implies what, what requires what)
//!   given a few facts about the host, and produces the [`Plan`] the executor runs.
//!
//! [`main`] glues them to the real process: reading fds, printing `bwrap: ` diagnostics and
//! returning bubblewrap's exit statuses (0 for --help/--version, 1 for every setup failure).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::plan::{BindMode, EnvOp, FsOp, NetMode, Plan, Seccomp, UsernsOptions};

/// The bubblewrap release whose command line this front end follows.
pub const BWRAP_VERSION: &str = "0.11.1";

/// bubblewrap's status for every usage and setup error.
pub const EXIT_FAILURE: i32 = 1;

/// bubblewrap's cap on the number of words, counting those read with `--args`.
const MAX_ARGS: usize = 9000;

/// tmpfs sizes are capped at half the address space, as bubblewrap does.
const MAX_TMPFS_BYTES: u64 = (usize::MAX >> 1) as u64;

/// A usage or setup error: the one-line message (without the `bwrap: ` prefix) and the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BwrapError {
    pub message: String,
    /// Print the usage text on stderr instead of a message (no command given).
    pub usage: bool,
}

impl BwrapError {
    fn new(message: impl Into<String>) -> Self {
        BwrapError {
            message: message.into(),
            usage: false,
        }
    }

    fn usage() -> Self {
        BwrapError {
            message: String::new(),
            usage: true,
        }
    }
}

impl std::fmt::Display for BwrapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One `--cap-add` / `--cap-drop`, kept in order: `--cap-add ALL --cap-drop CAP_KILL` differs
/// from the reverse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapOp {
    Add(CapName),
    Drop(CapName),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapName {
    All,
    /// Canonical `CAP_...` name.
    One(String),
}

/// What the words asked for, before bubblewrap's cross-option rules are applied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BwrapOptions {
    pub fs: Vec<FsOp>,
    pub env: Vec<EnvOp>,
    pub clearenv: bool,
    pub chdir: Option<PathBuf>,
    pub hostname: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub unshare_user: bool,
    pub unshare_user_try: bool,
    pub unshare_ipc: bool,
    pub unshare_pid: bool,
    pub unshare_net: bool,
    pub unshare_uts: bool,
    pub unshare_cgroup: bool,
    pub unshare_cgroup_try: bool,
    pub userns_fd: Option<i32>,
    pub userns2_fd: Option<i32>,
    pub pidns_fd: Option<i32>,
    pub disable_userns: bool,
    pub assert_userns_disabled: bool,
    pub lock_files: Vec<PathBuf>,
    pub sync_fd: Option<i32>,
    pub block_fd: Option<i32>,
    pub userns_block_fd: Option<i32>,
    pub info_fd: Option<i32>,
    pub json_status_fd: Option<i32>,
    pub seccomp_fd: Option<i32>,
    pub add_seccomp_fds: Vec<i32>,
    pub new_session: bool,
    pub die_with_parent: bool,
    pub as_pid_1: bool,
    pub caps: Vec<CapOp>,
    pub argv0: Option<OsString>,
    pub exec_label: Option<String>,
    pub file_label: Option<String>,
    pub level_prefix: bool,
    /// `Only the last --X option will take effect`, in the order they arose.
    pub warnings: Vec<String>,
    /// The command and its arguments (may be empty: that is a usage error later).
    pub command: Vec<OsString>,
}

/// What the command line asks bwrap to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Help,
    Version,
    Run(Box<BwrapOptions>),
}

/// Modifiers waiting for the next operation, and the words already consumed.
struct State {
    opts: BwrapOptions,
    next_perms: Option<u32>,
    next_size: Option<u64>,
    overlay_srcs: Vec<PathBuf>,
    total_args: usize,
}

/// Parses bwrap's arguments (without argv[0]), reading `--args FD` data through `read_fd`.
pub fn parse_with(
    args: &[OsString],
    read_fd: &mut dyn FnMut(i32) -> std::io::Result<Vec<u8>>,
) -> Result<Parsed, BwrapError> {
    if args.is_empty() {
        return Err(BwrapError::usage());
    }
    let mut st = State {
        opts: BwrapOptions::default(),
        next_perms: None,
        next_size: None,
        overlay_srcs: Vec::new(),
        total_args: args.len(),
    };
    if st.total_args > MAX_ARGS {
        return Err(max_args_error());
    }
    let rest = match parse_words(&mut st, args, false, read_fd)? {
        Step::Done(rest) => rest,
        Step::Help => return Ok(Parsed::Help),
        Step::Version => return Ok(Parsed::Version),
    };
    if !st.overlay_srcs.is_empty() {
        return Err(overlay_src_error());
    }
    st.opts.command = rest;
    Ok(Parsed::Run(Box::new(st.opts)))
}

/// [`parse_with`] reading `--args` fds from this process.
pub fn parse(args: &[OsString]) -> Result<Parsed, BwrapError> {
    parse_with(args, &mut crate::sandbox::process::consume_fd)
}

enum Step {
    Done(Vec<OsString>),
    Help,
    Version,
}

fn max_args_error() -> BwrapError {
    BwrapError::new(format!("Exceeded maximum number of arguments {MAX_ARGS}"))
}

fn overlay_src_error() -> BwrapError {
    BwrapError::new(
        "--overlay-src must be followed by another --overlay-src or one of --overlay, \
--tmp-overlay, or --ro-overlay",
    )
}

/// The words of one level (the command line, or one `--args` file). Returns what follows the
/// options: the command, when at the top level.
fn parse_words(
    st: &mut State,
    words: &[OsString],
    in_file: bool,
    read_fd: &mut dyn FnMut(i32) -> std::io::Result<Vec<u8>>,
) -> Result<Step, BwrapError> {
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let name = word.to_string_lossy();
        let rest = &words[i + 1..];
        let used = match name.as_ref() {
            "--help" => return Ok(Step::Help),
            "--version" => return Ok(Step::Version),
            "--" => return Ok(Step::Done(rest.to_vec())),
            "--args" => {
                if in_file {
                    return Err(BwrapError::new("--args not supported in arguments file"));
                }
                let fd = parse_fd(take(rest, 1, "--args takes an argument")?[0])?;
                let data = read_fd(fd).map_err(|e| {
                    BwrapError::new(format!("Can't read --args data: {}", os_message(&e)))
                })?;
                let inner = split_nul(&data);
                st.total_args += inner.len();
                if st.total_args > MAX_ARGS {
                    return Err(max_args_error());
                }
                // What follows the options inside the file is ignored, as bubblewrap does.
                match parse_words(st, &inner, true, read_fd)? {
                    Step::Done(_) => {}
                    other => return Ok(other),
                }
                1
            }
            _ if name.starts_with('-') => option(st, &name, rest)?,
            _ => return Ok(Step::Done(words[i..].to_vec())),
        };
        check_modifiers(st, &name)?;
        i += 1 + used;
    }
    Ok(Step::Done(Vec::new()))
}

/// After an option that is not a modifier, pending modifiers must have been consumed.
fn check_modifiers(st: &State, name: &str) -> Result<(), BwrapError> {
    let modifier = name == "--perms" || name == "--size";
    if !modifier && st.next_perms.is_some() {
        return Err(BwrapError::new(
            "--perms must be followed by an option that creates a file",
        ));
    }
    if !modifier && st.next_size.is_some() {
        return Err(BwrapError::new("--size must be followed by --tmpfs"));
    }
    if name != "--overlay-src" && !st.overlay_srcs.is_empty() {
        return Err(overlay_src_error());
    }
    Ok(())
}

/// The next `n` words, or bubblewrap's "takes N arguments" error.
fn take<'a>(rest: &'a [OsString], n: usize, msg: &str) -> Result<Vec<&'a OsString>, BwrapError> {
    if rest.len() < n {
        return Err(BwrapError::new(msg));
    }
    Ok(rest[..n].iter().collect())
}

fn path(word: &OsString) -> PathBuf {
    PathBuf::from(word)
}

fn text(word: &OsString) -> String {
    word.to_string_lossy().into_owned()
}

/// Handles one option other than `--help`, `--version`, `--args` and `--`. Returns how many
/// value words it consumed.
fn option(st: &mut State, name: &str, rest: &[OsString]) -> Result<usize, BwrapError> {
    let o = &mut st.opts;
    if let Some(b) = flag_slot(o, name) {
        *b = true;
        if name == "--clearenv" {
            // Variables set before --clearenv are cleared with the rest.
            o.env.clear();
        }
        return Ok(0);
    }
    option_with_value(st, name, rest)
}

/// The field a value-less option sets.
fn flag_slot<'a>(o: &'a mut BwrapOptions, name: &str) -> Option<&'a mut bool> {
    Some(match name {
        "--unshare-user" => &mut o.unshare_user,
        "--unshare-user-try" => &mut o.unshare_user_try,
        "--unshare-ipc" => &mut o.unshare_ipc,
        "--unshare-pid" => &mut o.unshare_pid,
        "--unshare-net" => &mut o.unshare_net,
        "--unshare-uts" => &mut o.unshare_uts,
        "--unshare-cgroup" => &mut o.unshare_cgroup,
        "--unshare-cgroup-try" => &mut o.unshare_cgroup_try,
        "--disable-userns" => &mut o.disable_userns,
        "--assert-userns-disabled" => &mut o.assert_userns_disabled,
        "--new-session" => &mut o.new_session,
        "--die-with-parent" => &mut o.die_with_parent,
        "--as-pid-1" => &mut o.as_pid_1,
        "--level-prefix" => &mut o.level_prefix,
        "--clearenv" => &mut o.clearenv,
        _ => return None,
    })
}

/// Options that take values (and the two that reset namespace flags). Returns how many value
/// words were consumed.
fn option_with_value(st: &mut State, name: &str, rest: &[OsString]) -> Result<usize, BwrapError> {
    let o = &mut st.opts;
    match name {
        "--unshare-all" => {
            o.unshare_user_try = true;
            o.unshare_ipc = true;
            o.unshare_pid = true;
            o.unshare_uts = true;
            o.unshare_cgroup_try = true;
            o.unshare_net = true;
            Ok(0)
        }
        "--share-net" => {
            o.unshare_net = false;
            Ok(0)
        }
        "--argv0" => {
            let v = take(rest, 1, "--argv0 takes one argument")?;
            if o.argv0.is_some() {
                return Err(BwrapError::new("--argv0 used multiple times"));
            }
            o.argv0 = Some(v[0].clone());
            Ok(1)
        }
        "--chdir" => {
            let v = take(rest, 1, "--chdir takes one argument")?;
            warn_if_set(o, o.chdir.is_some(), name);
            o.chdir = Some(path(v[0]));
            Ok(1)
        }
        "--remount-ro" => {
            let v = take(rest, 1, "--remount-ro takes one argument")?;
            o.fs.push(FsOp::RemountRo { dest: path(v[0]) });
            Ok(1)
        }
        "--bind" | "--bind-try" | "--ro-bind" | "--ro-bind-try" | "--dev-bind"
        | "--dev-bind-try" => {
            let v = take(rest, 2, &format!("{name} takes two arguments"))?;
            let mode = if name.starts_with("--ro") {
                BindMode::ReadOnly
            } else if name.starts_with("--dev") {
                BindMode::Dev
            } else {
                BindMode::ReadWrite
            };
            o.fs.push(FsOp::Bind {
                src: path(v[0]),
                dest: path(v[1]),
                mode,
                optional: name.ends_with("-try"),
            });
            Ok(2)
        }
        "--bind-fd" | "--ro-bind-fd" => {
            let v = take(rest, 2, "--bind-fd takes two arguments")?;
            let fd = parse_fd(v[0])?;
            o.fs.push(FsOp::BindFd {
                fd,
                dest: path(v[1]),
                read_only: name == "--ro-bind-fd",
            });
            Ok(2)
        }
        "--overlay-src" => {
            // bubblewrap does not check for the value here: a missing one is reported as an
            // --overlay-src not followed by an overlay.
            match rest.first() {
                Some(src) => st.overlay_srcs.push(path(src)),
                None => return Err(overlay_src_error()),
            }
            Ok(1)
        }
        "--overlay" => {
            let v = take(rest, 3, "--overlay takes three arguments")?;
            if st.overlay_srcs.is_empty() {
                return Err(BwrapError::new(
                    "--overlay requires at least one --overlay-src",
                ));
            }
            let lower = std::mem::take(&mut st.overlay_srcs);
            st.opts.fs.push(FsOp::Overlay {
                lower,
                upper: Some(path(v[0])),
                work: Some(path(v[1])),
                tmp_upper: false,
                dest: path(v[2]),
            });
            Ok(3)
        }
        "--tmp-overlay" | "--ro-overlay" => {
            let tmp = name == "--tmp-overlay";
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let (needed, msg) = if tmp {
                (1, "--tmp-overlay requires at least one --overlay-src")
            } else {
                (2, "--ro-overlay requires at least two --overlay-src")
            };
            if st.overlay_srcs.len() < needed {
                return Err(BwrapError::new(msg));
            }
            let lower = std::mem::take(&mut st.overlay_srcs);
            st.opts.fs.push(FsOp::Overlay {
                lower,
                upper: None,
                work: None,
                tmp_upper: tmp,
                dest: path(v[0]),
            });
            Ok(1)
        }
        "--proc" | "--dev" | "--mqueue" => {
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let dest = path(v[0]);
            o.fs.push(match name {
                "--proc" => FsOp::Proc { dest },
                "--dev" => FsOp::Dev { dest },
                _ => FsOp::Mqueue { dest },
            });
            Ok(1)
        }
        "--exec-label" | "--file-label" => {
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let slot = if name == "--exec-label" {
                &mut o.exec_label
            } else {
                &mut o.file_label
            };
            let was_set = slot.is_some();
            *slot = Some(text(v[0]));
            warn_if_set(o, was_set, name);
            Ok(1)
        }
        "--tmpfs" => {
            let v = take(rest, 1, "--tmpfs takes an argument")?;
            let mode = Some(st.next_perms.take().unwrap_or(0o755));
            let size = st.next_size.take();
            st.opts.fs.push(FsOp::Tmpfs {
                dest: path(v[0]),
                size,
                mode,
            });
            Ok(1)
        }
        "--dir" => {
            let v = take(rest, 1, "--dir takes an argument")?;
            let mode = Some(st.next_perms.take().unwrap_or(0o755));
            st.opts.fs.push(FsOp::Dir {
                dest: path(v[0]),
                mode,
            });
            Ok(1)
        }
        "--file" | "--bind-data" | "--ro-bind-data" => {
            let v = take(rest, 2, &format!("{name} takes two arguments"))?;
            let fd = parse_fd(v[0])?;
            let (bind, default_mode) = match name {
                "--file" => (None, 0o666),
                "--bind-data" => (Some(false), 0o600),
                _ => (Some(true), 0o600),
            };
            let mode = Some(st.next_perms.take().unwrap_or(default_mode));
            st.opts.fs.push(FsOp::Data {
                fd,
                dest: path(v[1]),
                mode,
                bind,
            });
            Ok(2)
        }
        "--symlink" => {
            let v = take(rest, 2, "--symlink takes two arguments")?;
            o.fs.push(FsOp::Symlink {
                target: path(v[0]),
                dest: path(v[1]),
            });
            Ok(2)
        }
        "--chmod" => {
            let v = take(rest, 2, "--chmod takes two arguments")?;
            let mode = parse_octal(v[0])
                .ok_or_else(|| BwrapError::new("--chmod takes an octal argument <= 07777"))?;
            o.fs.push(FsOp::Chmod {
                dest: path(v[1]),
                mode,
            });
            Ok(2)
        }
        "--lock-file" => {
            let v = take(rest, 1, "--lock-file takes an argument")?;
            o.lock_files.push(path(v[0]));
            Ok(1)
        }
        "--sync-fd" | "--block-fd" | "--userns-block-fd" | "--info-fd" | "--json-status-fd"
        | "--userns" | "--userns2" | "--pidns" => {
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let slot = match name {
                "--sync-fd" => &mut o.sync_fd,
                "--block-fd" => &mut o.block_fd,
                "--userns-block-fd" => &mut o.userns_block_fd,
                "--info-fd" => &mut o.info_fd,
                "--json-status-fd" => &mut o.json_status_fd,
                "--userns" => &mut o.userns_fd,
                "--userns2" => &mut o.userns2_fd,
                _ => &mut o.pidns_fd,
            };
            let was_set = slot.is_some();
            *slot = Some(parse_fd(v[0])?);
            warn_if_set(o, was_set, name);
            Ok(1)
        }
        "--seccomp" => {
            let v = take(rest, 1, "--seccomp takes an argument")?;
            if !o.add_seccomp_fds.is_empty() {
                return Err(BwrapError::new(
                    "--seccomp cannot be combined with --add-seccomp-fd",
                ));
            }
            warn_if_set(o, o.seccomp_fd.is_some(), name);
            o.seccomp_fd = Some(parse_fd(v[0])?);
            Ok(1)
        }
        "--add-seccomp-fd" => {
            let v = take(rest, 1, "--add-seccomp-fd takes an argument")?;
            if o.seccomp_fd.is_some() {
                return Err(BwrapError::new(
                    "--add-seccomp-fd cannot be combined with --seccomp",
                ));
            }
            o.add_seccomp_fds.push(parse_fd(v[0])?);
            Ok(1)
        }
        "--setenv" => {
            let v = take(rest, 2, "--setenv takes two arguments")?;
            o.env.push(EnvOp::Set(v[0].clone(), v[1].clone()));
            Ok(2)
        }
        "--unsetenv" => {
            let v = take(rest, 1, "--unsetenv takes an argument")?;
            o.env.push(EnvOp::Unset(v[0].clone()));
            Ok(1)
        }
        "--uid" | "--gid" => {
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let kind = &name[2..];
            let id = parse_c_int(v[0])
                .filter(|n| *n >= 0)
                .ok_or_else(|| BwrapError::new(format!("Invalid {kind}: {}", text(v[0]))))?;
            let slot = if kind == "uid" {
                &mut o.uid
            } else {
                &mut o.gid
            };
            let was_set = slot.is_some();
            *slot = Some(id as u32);
            warn_if_set(o, was_set, name);
            Ok(1)
        }
        "--hostname" => {
            let v = take(rest, 1, "--hostname takes an argument")?;
            warn_if_set(o, o.hostname.is_some(), name);
            o.hostname = Some(text(v[0]));
            Ok(1)
        }
        "--cap-add" | "--cap-drop" => {
            let v = take(rest, 1, &format!("{name} takes an argument"))?;
            let cap = parse_cap(v[0])?;
            o.caps.push(if name == "--cap-add" {
                CapOp::Add(cap)
            } else {
                CapOp::Drop(cap)
            });
            Ok(1)
        }
        "--perms" => {
            let v = take(rest, 1, "--perms takes an argument")?;
            if st.next_perms.is_some() {
                return Err(BwrapError::new("--perms given twice for the same action"));
            }
            st.next_perms = Some(
                parse_octal(v[0])
                    .ok_or_else(|| BwrapError::new("--perms takes an octal argument <= 07777"))?,
            );
            Ok(1)
        }
        "--size" => {
            let v = take(rest, 1, "--size takes an argument")?;
            if st.next_size.is_some() {
                return Err(BwrapError::new("--size given twice for the same action"));
            }
            st.next_size = Some(parse_size(v[0])?);
            Ok(1)
        }
        _ => Err(BwrapError::new(format!("Unknown option {name}"))),
    }
}

fn warn_if_set(o: &mut BwrapOptions, was_set: bool, name: &str) {
    if was_set {
        o.warnings
            .push(format!("Only the last {name} option will take effect"));
    }
}

/// C's strtol(…, 10) as bubblewrap uses it: optional leading white space and sign, then
/// digits, and nothing after. Values beyond `int` are refused instead of truncated.
fn parse_c_int(word: &OsStr) -> Option<i64> {
    let s = std::str::from_utf8(word.as_bytes()).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = digits.parse().ok().filter(|v| *v <= i32::MAX as i64)?;
    Some(if neg { -value } else { value })
}

/// A descriptor number: `Invalid fd: WORD` unless it is a non-negative int.
pub fn parse_fd(word: &OsStr) -> Result<i32, BwrapError> {
    parse_c_int(word)
        .filter(|n| *n >= 0)
        .map(|n| n as i32)
        .ok_or_else(|| BwrapError::new(format!("Invalid fd: {}", word.to_string_lossy())))
}

/// strtoul(…, 8) limited to 07777, as `--perms` and `--chmod` take it.
fn parse_octal(word: &OsStr) -> Option<u32> {
    let s = std::str::from_utf8(word.as_bytes()).ok()?;
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

/// strtoull(…, 0): decimal, 0x hex or 0 octal; must start with a digit and be non-zero.
fn parse_size(word: &OsStr) -> Result<u64, BwrapError> {
    let bad = || BwrapError::new("--size takes a non-zero number of bytes");
    let s = std::str::from_utf8(word.as_bytes()).map_err(|_| bad())?;
    if !s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (16, hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let size = u64::from_str_radix(digits, radix).map_err(|_| bad())?;
    if size == 0 || digits.starts_with(['+', '-']) {
        return Err(bad());
    }
    if size > MAX_TMPFS_BYTES {
        return Err(BwrapError::new(format!(
            "--size (for tmpfs) is limited to {MAX_TMPFS_BYTES}"
        )));
    }
    Ok(size)
}

/// libcap's names (`cap_sys_admin`, any case) or numbers, and `ALL`.
fn parse_cap(word: &OsStr) -> Result<CapName, BwrapError> {
    let s = word.to_string_lossy();
    if s.eq_ignore_ascii_case("ALL") {
        return Ok(CapName::All);
    }
    let unknown = || BwrapError::new(format!("unknown cap: {s}"));
    let upper = s.to_ascii_uppercase();
    let cap = if let Ok(n) = s.parse::<u8>() {
        caps::all()
            .into_iter()
            .find(|c| c.index() == n)
            .ok_or_else(unknown)?
    } else if upper.starts_with("CAP_") {
        upper.parse::<caps::Capability>().map_err(|_| unknown())?
    } else {
        return Err(unknown());
    };
    Ok(CapName::One(cap.to_string()))
}

fn split_nul(data: &[u8]) -> Vec<OsString> {
    let mut words: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|w| OsString::from_vec(w.to_vec()))
        .collect();
    // A trailing NUL ends the last word; it does not start an empty one.
    if data.last() == Some(&0) || data.is_empty() {
        words.pop();
    }
    words
}

fn os_message(e: &std::io::Error) -> String {
    crate::sandbox::mounts::io_message(e)
}

/// Facts about the host that bubblewrap's rules depend on.
#[derive(Clone, Debug)]
pub struct Host {
    pub uid: u32,
    pub gid: u32,
    /// The caller's effective capabilities (bubblewrap keeps them for uid 0).
    pub effective_caps: Vec<String>,
    /// Whether `--unshare-user-try` would create a user namespace.
    pub userns_available: bool,
    /// Whether the kernel has cgroup namespaces.
    pub cgroupns_available: bool,
    /// Whether SELinux is enabled (labels are then not ignorable).
    pub selinux_enabled: bool,
}

impl Host {
    /// The facts for this process.
    pub fn current() -> Host {
        let exists = |p: &str| std::path::Path::new(p).exists();
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let effective_caps = ::caps::read(None, ::caps::CapSet::Effective)
            .map(|set| set.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default();
        let userns_available = exists("/proc/self/ns/user")
            && read("/proc/sys/user/max_user_namespaces").trim() != "0"
            && !read("/sys/module/user_namespace/parameters/enable").starts_with('N');
        Host {
            uid: crate::plan::caller_uid(),
            gid: crate::plan::caller_gid(),
            effective_caps,
            userns_available,
            cgroupns_available: exists("/proc/self/ns/cgroup"),
            selinux_enabled: exists("/sys/fs/selinux/enforce"),
        }
    }
}

/// bubblewrap's cross-option rules, then the plan. Pure given `host`.
pub fn to_plan(o: &BwrapOptions, host: &Host) -> Result<Plan, BwrapError> {
    check_combinations(o)?;
    let unshare_user = o.unshare_user
        || (host.uid != 0 && o.userns_fd.is_none())
        || (o.unshare_user_try && host.userns_available);
    if o.command.is_empty() {
        return Err(BwrapError::usage());
    }
    let user_given = unshare_user || o.userns_fd.is_some();
    if !user_given && o.uid.is_some_and(|u| u != host.uid) {
        return Err(BwrapError::new(
            "Specifying --uid requires --unshare-user or --userns",
        ));
    }
    if !user_given && o.gid.is_some_and(|g| g != host.gid) {
        return Err(BwrapError::new(
            "Specifying --gid requires --unshare-user or --userns",
        ));
    }
    if !o.unshare_uts && o.hostname.is_some() {
        return Err(BwrapError::new(
            "Specifying --hostname requires --unshare-uts",
        ));
    }
    if o.as_pid_1 && !o.unshare_pid {
        return Err(BwrapError::new(
            "Specifying --as-pid-1 requires --unshare-pid",
        ));
    }
    if o.as_pid_1 && !o.lock_files.is_empty() {
        return Err(BwrapError::new(
            "Specifying --as-pid-1 and --lock-file is not permitted",
        ));
    }
    if o.unshare_cgroup && !host.cgroupns_available {
        return Err(BwrapError::new(
            "Cannot create new cgroup namespace because the kernel does not support it",
        ));
    }
    // bubblewrap refuses labels where SELinux is off; where it is on, stockade cannot apply them.
    if o.exec_label.is_some() || o.file_label.is_some() {
        return Err(BwrapError::new(if host.selinux_enabled {
            "SELinux labels are not supported by stockade's bwrap"
        } else {
            "labeling not supported on this system"
        }));
    }
    let mut plan = Plan {
        // The executor prints its own diagnostics with this prefix.
        program_name: if o.level_prefix { "<3>bwrap" } else { "bwrap" },
        root_read_only: false,
        fs: o.fs.clone(),
        uid: o.uid,
        gid: o.gid,
        chdir: o.chdir.clone(),
        hostname: o.hostname.clone(),
        argv: o.command.clone(),
        argv0: o.argv0.clone(),
        ..Plan::default()
    };
    plan.namespaces.user = unshare_user;
    plan.namespaces.mount = true;
    plan.namespaces.pid = o.unshare_pid;
    plan.namespaces.net = o.unshare_net;
    plan.namespaces.uts = o.unshare_uts;
    plan.namespaces.ipc = o.unshare_ipc;
    plan.namespaces.cgroup = o.unshare_cgroup || (o.unshare_cgroup_try && host.cgroupns_available);
    plan.net = if o.unshare_net {
        NetMode::None
    } else {
        NetMode::Host
    };
    plan.env.clear = o.clearenv;
    plan.env.ops = o.env.clone();
    plan.caps_keep = requested_caps(o, host);
    plan.seccomp = match (o.seccomp_fd, o.add_seccomp_fds.is_empty()) {
        (Some(fd), _) => Seccomp::Fds(vec![fd]),
        (None, false) => Seccomp::Fds(o.add_seccomp_fds.clone()),
        (None, true) => Seccomp::Off,
    };
    let p = &mut plan.process;
    p.die_with_parent = o.die_with_parent;
    p.new_session = o.new_session;
    p.close_fds = false;
    // bubblewrap runs a reaper only when it needs one: for a new pid namespace, or to hold
    // lock files and the sync fd. Otherwise the command is exec'd directly.
    p.as_pid_1 = o.as_pid_1 || (!o.unshare_pid && o.lock_files.is_empty() && o.sync_fd.is_none());
    p.json_status_fd = o.json_status_fd;
    p.info_fd = o.info_fd;
    p.block_fd = o.block_fd;
    p.userns_block_fd = o.userns_block_fd;
    p.sync_fd = o.sync_fd;
    p.lock_files = o.lock_files.clone();
    plan.userns = UsernsOptions {
        join_fd: o.userns_fd,
        join_after_setup_fd: o.userns2_fd,
        pidns_fd: o.pidns_fd,
        disable_nested: o.disable_userns,
        assert_nested_disabled: o.assert_userns_disabled,
    };
    Ok(plan)
}

/// The checks bubblewrap makes right after parsing, before anything depends on the host.
fn check_combinations(o: &BwrapOptions) -> Result<(), BwrapError> {
    let rules: [(bool, &str); 6] = [
        (
            o.userns_block_fd.is_some() && !o.unshare_user,
            "--userns-block-fd requires --unshare-user",
        ),
        (
            o.userns_block_fd.is_some() && o.info_fd.is_none(),
            "--userns-block-fd requires --info-fd",
        ),
        (
            o.userns_fd.is_some() && o.unshare_user,
            "--userns not compatible --unshare-user",
        ),
        (
            o.userns_fd.is_some() && o.unshare_user_try,
            "--userns not compatible --unshare-user-try",
        ),
        (
            o.disable_userns && !o.unshare_user,
            "--disable-userns requires --unshare-user",
        ),
        (
            o.disable_userns && o.userns_block_fd.is_some(),
            "--disable-userns is not compatible with  --userns-block-fd",
        ),
    ];
    for (bad, msg) in rules {
        if bad {
            return Err(BwrapError::new(msg));
        }
    }
    Ok(())
}

/// The capabilities the command keeps: uid 0 starts from its own effective set, everyone
/// else from none; then `--cap-add`/`--cap-drop` in order.
fn requested_caps(o: &BwrapOptions, host: &Host) -> Vec<String> {
    let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut set: Vec<String> = if host.uid == 0 {
        host.effective_caps.clone()
    } else {
        Vec::new()
    };
    for op in &o.caps {
        match op {
            CapOp::Add(CapName::All) => set = all.clone(),
            CapOp::Drop(CapName::All) => set.clear(),
            CapOp::Add(CapName::One(c)) => {
                if !set.contains(c) {
                    set.push(c.clone());
                }
            }
            CapOp::Drop(CapName::One(c)) => set.retain(|x| x != c),
        }
    }
    set.sort();
    set
}

/// The usage text; `argv0` is printed as given.
pub fn usage(argv0: &str) -> String {
    let mut s = format!("usage: {argv0} [OPTIONS...] [--] COMMAND [ARGS...]\n\n");
    for (opt, help) in HELP {
        // Options too long for the column get one space, as bubblewrap's text has.
        if opt.len() >= 29 {
            s.push_str(&format!("    {opt} {help}\n"));
        } else {
            s.push_str(&format!("    {opt:<29}{help}\n"));
        }
    }
    s
}

const HELP: &[(&str, &str)] = &[
    ("--help", "Print this help"),
    ("--version", "Print version"),
    ("--args FD", "Parse NUL-separated args from FD"),
    ("--argv0 VALUE", "Set argv[0] to the value VALUE before running the program"),
    ("--level-prefix", "Prepend e.g. <3> to diagnostic messages"),
    ("--unshare-all", "Unshare every namespace we support by default"),
    ("--share-net", "Retain the network namespace (can only combine with --unshare-all)"),
    ("--unshare-user", "Create new user namespace (may be automatically implied if not setuid)"),
    ("--unshare-user-try", "Create new user namespace if possible else continue by skipping it"),
    ("--unshare-ipc", "Create new ipc namespace"),
    ("--unshare-pid", "Create new pid namespace"),
    ("--unshare-net", "Create new network namespace"),
    ("--unshare-uts", "Create new uts namespace"),
    ("--unshare-cgroup", "Create new cgroup namespace"),
    ("--unshare-cgroup-try", "Create new cgroup namespace if possible else continue by skipping it"),
    ("--userns FD", "Use this user namespace (cannot combine with --unshare-user)"),
    ("--userns2 FD", "After setup switch to this user namespace, only useful with --userns"),
    ("--disable-userns", "Disable further use of user namespaces inside sandbox"),
    ("--assert-userns-disabled", "Fail unless further use of user namespace inside sandbox is disabled"),
    ("--pidns FD", "Use this pid namespace (as parent namespace if using --unshare-pid)"),
    ("--uid UID", "Custom uid in the sandbox (requires --unshare-user or --userns)"),
    ("--gid GID", "Custom gid in the sandbox (requires --unshare-user or --userns)"),
    ("--hostname NAME", "Custom hostname in the sandbox (requires --unshare-uts)"),
    ("--chdir DIR", "Change directory to DIR"),
    ("--clearenv", "Unset all environment variables"),
    ("--setenv VAR VALUE", "Set an environment variable"),
    ("--unsetenv VAR", "Unset an environment variable"),
    ("--lock-file DEST", "Take a lock on DEST while sandbox is running"),
    ("--sync-fd FD", "Keep this fd open while sandbox is running"),
    ("--bind SRC DEST", "Bind mount the host path SRC on DEST"),
    ("--bind-try SRC DEST", "Equal to --bind but ignores non-existent SRC"),
    ("--dev-bind SRC DEST", "Bind mount the host path SRC on DEST, allowing device access"),
    ("--dev-bind-try SRC DEST", "Equal to --dev-bind but ignores non-existent SRC"),
    ("--ro-bind SRC DEST", "Bind mount the host path SRC readonly on DEST"),
    ("--ro-bind-try SRC DEST", "Equal to --ro-bind but ignores non-existent SRC"),
    ("--bind-fd FD DEST", "Bind open directory or path fd on DEST"),
    ("--ro-bind-fd FD DEST", "Bind open directory or path fd read-only on DEST"),
    ("--remount-ro DEST", "Remount DEST as readonly (stockade: with its submounts)"),
    ("--overlay-src SRC", "Read files from SRC in the following overlay"),
    ("--overlay RWSRC WORKDIR DEST", "Mount overlayfs on DEST, with RWSRC as the host path for writes and\n                                 WORKDIR an empty directory on the same filesystem as RWSRC"),
    ("--tmp-overlay DEST", "Mount overlayfs on DEST, with writes going to an invisible tmpfs"),
    ("--ro-overlay DEST", "Mount overlayfs read-only on DEST"),
    ("--exec-label LABEL", "Exec label for the sandbox"),
    ("--file-label LABEL", "File label for temporary sandbox content"),
    ("--proc DEST", "Mount new procfs on DEST"),
    ("--dev DEST", "Mount new dev on DEST"),
    ("--tmpfs DEST", "Mount new tmpfs on DEST"),
    ("--mqueue DEST", "Mount new mqueue on DEST"),
    ("--dir DEST", "Create dir at DEST"),
    ("--file FD DEST", "Copy from FD to destination DEST"),
    ("--bind-data FD DEST", "Copy from FD to file which is bind-mounted on DEST"),
    ("--ro-bind-data FD DEST", "Copy from FD to file which is readonly bind-mounted on DEST"),
    ("--symlink SRC DEST", "Create symlink at DEST with target SRC"),
    ("--seccomp FD", "Load and use seccomp rules from FD (not repeatable)"),
    ("--add-seccomp-fd FD", "Load and use seccomp rules from FD (repeatable)"),
    ("--block-fd FD", "Block on FD until some data to read is available"),
    ("--userns-block-fd FD", "Block on FD until the user namespace is ready"),
    ("--info-fd FD", "Write information about the running container to FD"),
    ("--json-status-fd FD", "Write container status to FD as multiple JSON documents"),
    ("--new-session", "Create a new terminal session"),
    ("--die-with-parent", "Kills with SIGKILL child process (COMMAND) when bwrap or bwrap's parent dies."),
    ("--as-pid-1", "Do not install a reaper process with PID=1"),
    ("--cap-add CAP", "Add cap CAP when running as privileged user"),
    ("--cap-drop CAP", "Drop cap CAP when running as privileged user"),
    ("--perms OCTAL", "Set permissions of next argument (--bind-data, --file, etc.)"),
    ("--size BYTES", "Set size of next argument (only for --tmpfs)"),
    ("--chmod OCTAL PATH", "Change permissions of PATH (must already exist)"),
];

/// Diagnostics: `bwrap: ` and, with `--level-prefix`, the syslog level first.
struct Diag {
    level_prefix: bool,
}

impl Diag {
    fn error(&self, msg: &str) {
        let lp = if self.level_prefix { "<3>" } else { "" };
        eprintln!("{lp}bwrap: {msg}");
    }

    fn warn(&self, msg: &str) {
        let lp = if self.level_prefix { "<4>" } else { "" };
        eprintln!("{lp}bwrap: {msg}");
    }
}

/// `bwrap ARGS...`: `argv[0]` is printed in the usage line as given.
pub fn main(argv: Vec<OsString>) -> i32 {
    let argv0 = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bwrap".into());
    let args = argv.get(1..).unwrap_or_default();
    // --version alone must work before anything else (build sandboxes call it).
    if args.len() == 1 && args[0] == "--version" {
        return print_stdout(&format!("bubblewrap {BWRAP_VERSION}\n"));
    }
    let level_prefix = args.iter().any(|a| a == "--level-prefix");
    let diag = Diag { level_prefix };
    let parsed = match parse(args) {
        Ok(p) => p,
        Err(e) => return report(&diag, &argv0, &e),
    };
    let opts = match parsed {
        Parsed::Help => return print_stdout(&usage(&argv0)),
        Parsed::Version => return print_stdout(&format!("bubblewrap {BWRAP_VERSION}\n")),
        Parsed::Run(opts) => opts,
    };
    for w in &opts.warnings {
        diag.warn(w);
    }
    let plan = match to_plan(&opts, &Host::current()) {
        Ok(plan) => plan,
        Err(e) => return report(&diag, &argv0, &e),
    };
    if let Err(msg) = check_fds(&plan).and_then(|()| check_sources(&plan)) {
        diag.error(&msg);
        return EXIT_FAILURE;
    }
    match crate::sandbox::launch(&plan) {
        Ok(status) => status,
        Err(err) => {
            diag.error(&crate::sandbox::strip_os_error_codes(
                &crate::error::one_line(&err),
            ));
            EXIT_FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`bwrap --help | head -1`) is not worth a panic.
fn print_stdout(text: &str) -> i32 {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
    0
}

fn report(diag: &Diag, argv0: &str, e: &BwrapError) -> i32 {
    if e.usage {
        eprint!("{}", usage(argv0));
    } else {
        diag.error(&e.message);
    }
    EXIT_FAILURE
}

/// Descriptors named on the command line must be open now: otherwise the number could
/// later name one of stockade's own descriptors.
fn check_fds(plan: &Plan) -> Result<(), String> {
    let mut fds: Vec<i32> = plan
        .fs
        .iter()
        .filter_map(|op| match op {
            FsOp::BindFd { fd, .. } | FsOp::Data { fd, .. } => Some(*fd),
            _ => None,
        })
        .collect();
    let p = &plan.process;
    fds.extend(
        [
            p.block_fd,
            p.sync_fd,
            p.info_fd,
            p.json_status_fd,
            p.userns_block_fd,
        ]
        .into_iter()
        .flatten(),
    );
    let u = &plan.userns;
    fds.extend(
        [u.join_fd, u.join_after_setup_fd, u.pidns_fd]
            .into_iter()
            .flatten(),
    );
    for fd in fds {
        // SAFETY: F_GETFD takes no pointers.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(format!(
                "Can't use fd {fd}: {}",
                os_message(&std::io::Error::last_os_error())
            ));
        }
    }
    Ok(())
}

/// bubblewrap's message for a missing bind source, before any namespace is made.
fn check_sources(plan: &Plan) -> Result<(), String> {
    for op in &plan.fs {
        let srcs: Vec<&PathBuf> = match op {
            FsOp::Bind {
                src,
                optional: false,
                ..
            } => vec![src],
            FsOp::Overlay { lower, upper, .. } => lower.iter().chain(upper).collect(),
            _ => continue,
        };
        for src in srcs {
            if let Err(e) = std::fs::metadata(src) {
                return Err(format!(
                    "Can't find source path {}: {}",
                    src.display(),
                    os_message(&e)
                ));
            }
        }
    }
    Ok(())
}

pub mod export;

#[cfg(test)]
mod tests;
