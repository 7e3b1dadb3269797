//! The launch plan: the one data model that every front end (`stockade run` flags, named
//! profiles, the bubblewrap-compatible command line) produces and the executor consumes.
//!
//! A plan is plain data. Building one never touches the kernel, so most behaviour can be tested
//! by comparing plans, and `--dry-run` can print exactly what a launch would do.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// Which namespaces the sandbox gets. The user namespace is always created by `stockade run`;
/// the bwrap front end may leave it out only when the caller already has the privileges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespaces {
    pub user: bool,
    pub mount: bool,
    pub pid: bool,
    pub net: bool,
    pub uts: bool,
    pub ipc: bool,
    pub cgroup: bool,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            user: true,
            mount: true,
            pid: true,
            net: true,
            uts: true,
            ipc: true,
            cgroup: false,
        }
    }
}

/// How a bind mount is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// Read-only, recursively (submounts too), nodev, nosuid.
    ReadOnly,
    /// Read-write, nodev, nosuid.
    ReadWrite,
    /// Read-write with device nodes usable (for `/dev` entries).
    Dev,
}

/// One filesystem operation, applied in order inside the new root.
/// Destinations are absolute paths inside the sandbox; sources are host paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsOp {
    /// Bind-mount host `src` onto `dest`. With `optional`, a missing `src` skips the operation.
    Bind {
        src: PathBuf,
        dest: PathBuf,
        mode: BindMode,
        optional: bool,
    },
    /// A snapshot of host file `src` at `dest`, taken at launch: a small regular file is
    /// copied into the sandbox's own filesystem (no mount to make and tear down); anything
    /// else is bound read-only, as `ro-bind` would. With `optional`, a missing `src` skips it.
    Copy {
        src: PathBuf,
        dest: PathBuf,
        optional: bool,
    },
    /// Bind-mount whatever the open file descriptor `fd` refers to (bwrap `--bind-fd`).
    BindFd {
        fd: i32,
        dest: PathBuf,
        read_only: bool,
    },
    /// A fresh tmpfs. `size` in bytes, `mode` defaults to 0755.
    Tmpfs {
        dest: PathBuf,
        size: Option<u64>,
        mode: Option<u32>,
    },
    /// An empty directory (and its parents).
    Dir { dest: PathBuf, mode: Option<u32> },
    /// A symbolic link `dest -> target`.
    Symlink { target: PathBuf, dest: PathBuf },
    /// A procfs for the sandbox's pid namespace.
    Proc { dest: PathBuf },
    /// A minimal /dev: null, zero, full, random, urandom, tty, devpts with ptmx, shm, fd links.
    Dev { dest: PathBuf },
    /// A POSIX message queue filesystem.
    Mqueue { dest: PathBuf },
    /// Make an existing mount read-only (recursively).
    RemountRo { dest: PathBuf },
    /// A regular file filled from an fd (bwrap `--file`), or a bind of such data
    /// (`--bind-data` / `--ro-bind-data`).
    Data {
        fd: i32,
        dest: PathBuf,
        mode: Option<u32>,
        bind: Option<bool>,
    },
    /// A regular file with literal contents, from a profile (`[[fs]] type = "file"`).
    File {
        dest: PathBuf,
        contents: Vec<u8>,
        mode: Option<u32>,
    },
    /// Change permissions of an existing path in the sandbox (bwrap `--chmod`).
    Chmod { dest: PathBuf, mode: u32 },
    /// A rootless overlayfs. `upper == None` means a read-only overlay; `tmp_upper` keeps
    /// the upper layer in an invisible tmpfs (bwrap `--tmp-overlay`). `lower` is in
    /// command-line order: the last one is the topmost layer, as in bwrap.
    Overlay {
        lower: Vec<PathBuf>,
        upper: Option<PathBuf>,
        work: Option<PathBuf>,
        tmp_upper: bool,
        dest: PathBuf,
    },
}

impl FsOp {
    /// The sandbox path this operation creates or changes.
    pub fn dest(&self) -> &std::path::Path {
        match self {
            FsOp::Bind { dest, .. }
            | FsOp::Copy { dest, .. }
            | FsOp::BindFd { dest, .. }
            | FsOp::Tmpfs { dest, .. }
            | FsOp::Dir { dest, .. }
            | FsOp::Symlink { dest, .. }
            | FsOp::Proc { dest }
            | FsOp::Dev { dest }
            | FsOp::Mqueue { dest }
            | FsOp::RemountRo { dest }
            | FsOp::Data { dest, .. }
            | FsOp::File { dest, .. }
            | FsOp::Chmod { dest, .. }
            | FsOp::Overlay { dest, .. } => dest,
        }
    }
}

/// One change to the command's environment, applied in order after `clear`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvOp {
    Set(OsString, OsString),
    Unset(OsString),
    /// Unset every variable whose name matches the pattern (see [`name_matches`]).
    UnsetMatching(String),
}

/// The host directory a command's relative paths start from: an absolute `--chdir`, which is
/// also a host path, else the caller's working directory (a relative `--chdir` is taken
/// inside the sandbox, where the host cannot follow it).
pub fn working_dir_on_host(chdir: Option<&std::path::Path>) -> Option<PathBuf> {
    match chdir {
        Some(dir) if dir.is_absolute() => Some(dir.to_path_buf()),
        _ => std::env::current_dir().ok(),
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters and letters
/// match in either case: secrets are named `GITHUB_TOKEN` and `npm_config__authToken` alike.
pub fn name_matches(pattern: &str, name: &[u8]) -> bool {
    let pattern = pattern.as_bytes();
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and the name position it has taken up to: on a mismatch it
    // takes one character more.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if c.eq_ignore_ascii_case(&name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((at, taken)) => {
                    p = at + 1;
                    n = taken + 1;
                    star = Some((at, taken + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvPlan {
    /// Start from an empty environment instead of the caller's.
    pub clear: bool,
    pub ops: Vec<EnvOp>,
}

/// The network the sandbox sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetMode {
    /// A private network namespace with only `lo`, which is brought up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A private namespace connected through `pasta` (user-mode networking).
    Pasta {
        publish: Vec<String>,
        /// Whether the gateway address leads to the host's loopback (pasta's default, which
        /// stockade turns off unless asked: services that listen only on the host's 127.0.0.1
        /// trust whoever can connect).
        host_loopback: bool,
        /// Whether pasta answers DNS at its forward address for the host's resolver: set at
        /// launch, when the sandbox's resolv.conf is made to name that address (the host's
        /// names a resolver on the host's loopback). Off otherwise: this pasta (2023) then
        /// stops passing on queries to an ordinary resolver.
        forward_dns: bool,
    },
}

/// What happens when the seccomp filter meets a syscall that is not on the allowlist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DenyAction {
    /// ENOSYS, so that programs fall back from syscalls they think the kernel lacks.
    #[default]
    Enosys,
    Eperm,
    Kill,
}

/// A seccomp policy as names: the front ends resolve groups and check names; the `seccomp`
/// stage turns it into BPF for the running architecture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeccompPolicy {
    /// Syscall names allowed without argument checks (groups already expanded).
    pub allow: Vec<String>,
    /// Syscalls denied with EPERM explicitly (take precedence over `allow`).
    pub deny_eperm: Vec<String>,
    /// What unlisted syscalls get.
    pub default_action: DenyAction,
    /// Allow clone/unshare with namespace flags (nested sandboxes).
    pub allow_namespaces: bool,
    /// Socket address families allowed (AF_* numbers).
    pub socket_families: Vec<i32>,
}

/// Where the seccomp filter comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// No filter (`--seccomp off`, or bwrap without `--seccomp`).
    #[default]
    Off,
    /// A filter built from a named allowlist.
    Policy(SeccompPolicy),
    /// Pre-compiled classic BPF programs read from fds (bwrap `--seccomp` / `--add-seccomp-fd`).
    Fds(Vec<i32>),
}

/// A Landlock path rule, resolved inside the new root after pivot_root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockPath {
    pub path: PathBuf,
    pub access: LandlockAccess,
    /// Skip silently when the path does not exist in the sandbox.
    pub optional: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandlockAccess {
    ReadOnly,
    ReadWrite,
    /// Read and execute.
    Execute,
    /// Read, write and execute.
    Full,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LandlockPolicy {
    pub paths: Vec<LandlockPath>,
    /// TCP ports the sandbox may bind; `None` leaves binding unrestricted.
    pub tcp_bind: Option<Vec<u16>>,
    /// TCP ports the sandbox may connect to; `None` leaves connecting unrestricted.
    pub tcp_connect: Option<Vec<u16>>,
    /// Scope abstract unix sockets to the sandbox (ABI 6).
    pub scope_abstract_unix: bool,
    /// Scope signals to the sandbox (ABI 6).
    pub scope_signals: bool,
    /// A right the kernel cannot enforce is a setup error instead of a warning.
    pub required: bool,
}

/// Resource limits applied before exec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// setrlimit(2) resource name (as, core, cpu, ...) with soft and hard values.
    pub rlimits: Vec<(String, u64, u64)>,
    /// Wall-clock limit in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Grace period between SIGTERM and SIGKILL after a timeout.
    pub kill_after_ms: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub pids: Option<u64>,
    pub cpus: Option<f64>,
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = |v: u64| {
            if v == u64::MAX {
                "unlimited".to_string()
            } else {
                v.to_string()
            }
        };
        let mut parts: Vec<String> = self
            .rlimits
            .iter()
            .map(|(name, soft, hard)| format!("{name}={}:{}", value(*soft), value(*hard)))
            .collect();
        if let Some(ms) = self.timeout_ms {
            let grace = self.kill_after_ms.unwrap_or(5000);
            parts.push(format!("timeout={ms}ms kill-after={grace}ms"));
        }
        if let Some(b) = self.memory_bytes {
            parts.push(format!("memory={b}"));
        }
        if let Some(n) = self.pids {
            parts.push(format!("pids={n}"));
        }
        if let Some(c) = self.cpus {
            parts.push(format!("cpus={c}"));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// The D-Bus session bus as the sandbox sees it: never the real bus, only a filtering
/// `xdg-dbus-proxy` that the launcher starts before the sandbox and stops after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbusPolicy {
    /// Bus names the sandbox may call and see (xdg-dbus-proxy `--talk`).
    pub talk: Vec<String>,
    /// Bus names the sandbox may own (`--own`).
    pub own: Vec<String>,
    /// Bus names the sandbox may see but not call (`--see`).
    pub see: Vec<String>,
    /// `NAME=RULE` call rules (`--call`).
    pub call: Vec<String>,
    /// `NAME=RULE` broadcast rules (`--broadcast`).
    pub broadcast: Vec<String>,
    /// Where the filtered bus socket appears inside; `None` means
    /// `/run/user/<uid inside>/bus` (what `${XDG_RUNTIME_DIR}/bus` is in the desktop profile).
    pub socket: Option<PathBuf>,
    /// The bus to filter; `None` means the caller's `DBUS_SESSION_BUS_ADDRESS`, else
    /// `unix:path=$XDG_RUNTIME_DIR/bus`. With neither, the sandbox gets no bus at all.
    pub upstream: Option<String>,
    /// Let the proxy log every message it filters (xdg-dbus-proxy `--log`), on stderr.
    pub log: bool,
}

impl DbusPolicy {
    /// The socket's path inside the sandbox, for a command running as `uid` inside.
    pub fn socket_inside(&self, uid: u32) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}/bus")))
    }
}

/// The display and sound servers a graphical application reaches. The launcher looks each one
/// up in the caller's environment (`$DISPLAY`, `$XAUTHORITY`, `$WAYLAND_DISPLAY`,
/// `$XDG_RUNTIME_DIR`) and binds only the sockets that exist, under `/run/user/<uid>` inside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisplayPolicy {
    /// The X11 socket of `$DISPLAY` and the Xauthority file with its cookie.
    pub x11: bool,
    /// The Wayland socket of `$WAYLAND_DISPLAY`.
    pub wayland: bool,
    /// PulseAudio's native socket and PipeWire's socket.
    pub audio: bool,
}

/// How the sandbox's processes are run and watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOptions {
    /// Kill the sandbox when stockade's parent dies.
    pub die_with_parent: bool,
    /// setsid() before exec, so the command has no controlling terminal (TIOCSTI defence).
    pub new_session: bool,
    /// Exec the command as PID 1 instead of running it under stockade's init.
    pub as_pid_1: bool,
    /// Descriptors passed to the command; every other one except 0, 1, 2 is closed.
    pub keep_fds: Vec<i32>,
    /// Close inherited descriptors not in `keep_fds` (bwrap mode turns this off).
    pub close_fds: bool,
    /// Write the JSON status object to this fd (bwrap `--json-status-fd`).
    pub json_status_fd: Option<i32>,
    /// Write bwrap's info JSON to this fd.
    pub info_fd: Option<i32>,
    /// Wait for this fd to be readable (or closed) before exec (bwrap `--block-fd`).
    pub block_fd: Option<i32>,
    /// Wait on this fd before the user namespace is set up (bwrap `--userns-block-fd`).
    pub userns_block_fd: Option<i32>,
    /// Leave this fd open in the sandbox so it is closed when the sandbox ends (bwrap `--sync-fd`).
    pub sync_fd: Option<i32>,
    /// Hold a lock on this sandbox path for the life of the sandbox (bwrap `--lock-file`).
    pub lock_files: Vec<PathBuf>,
    /// Print how long each stage took.
    pub timings: bool,
    /// Report skipped rules and other details on stderr.
    pub verbose: bool,
    /// Without a user namespace, run confined by Landlock, seccomp and rlimits only.
    pub fallback_landlock: bool,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            die_with_parent: true,
            new_session: true,
            as_pid_1: false,
            keep_fds: Vec::new(),
            close_fds: true,
            json_status_fd: None,
            info_fd: None,
            block_fd: None,
            userns_block_fd: None,
            sync_fd: None,
            lock_files: Vec::new(),
            timings: false,
            verbose: false,
            fallback_landlock: false,
        }
    }
}

/// Namespaces joined instead of created, and nested user namespaces (bwrap `--userns`,
/// `--userns2`, `--pidns`, `--disable-userns`, `--assert-userns-disabled`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsernsOptions {
    /// Join this user namespace (an open `/proc/PID/ns/user`) instead of creating one.
    pub join_fd: Option<i32>,
    /// Switch to this user namespace once the sandbox is set up.
    pub join_after_setup_fd: Option<i32>,
    /// Create the sandbox's pid namespace under this one (or join it).
    pub pidns_fd: Option<i32>,
    /// Forbid the command to create user namespaces (max_user_namespaces = 1, then nest).
    pub disable_nested: bool,
    /// Fail unless creating a user namespace inside is impossible.
    pub assert_nested_disabled: bool,
}

/// Everything a launch will do.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub namespaces: Namespaces,
    pub userns: UsernsOptions,
    /// The uid and gid the command sees inside; `None` keeps the caller's.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Filesystem operations in the order they are applied.
    pub fs: Vec<FsOp>,
    /// Make the root tmpfs read-only once the operations are applied.
    pub root_read_only: bool,
    pub env: EnvPlan,
    /// Working directory inside; `None` means the caller's when it exists inside, else `/`.
    pub chdir: Option<PathBuf>,
    pub hostname: Option<String>,
    pub net: NetMode,
    /// Capabilities the command keeps (bwrap `--cap-add`); empty for `stockade run`.
    pub caps_keep: Vec<String>,
    pub seccomp: Seccomp,
    pub landlock: Option<LandlockPolicy>,
    pub limits: Limits,
    /// A filtered D-Bus session bus; `None` gives the sandbox no bus from stockade.
    pub dbus: Option<DbusPolicy>,
    /// Display and sound server sockets; `None` gives the sandbox none of them.
    pub display: Option<DisplayPolicy>,
    pub process: ProcessOptions,
    /// The command and its arguments.
    pub argv: Vec<OsString>,
    /// argv[0] as the command sees it, when different from the program run.
    pub argv0: Option<OsString>,
    /// Diagnostics prefix: `stockade` or `bwrap`.
    pub program_name: &'static str,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            namespaces: Namespaces::default(),
            userns: UsernsOptions::default(),
            uid: None,
            gid: None,
            fs: Vec::new(),
            root_read_only: true,
            env: EnvPlan::default(),
            chdir: None,
            hostname: None,
            net: NetMode::None,
            caps_keep: Vec::new(),
            seccomp: Seccomp::Off,
            landlock: None,
            limits: Limits::default(),
            dbus: None,
            display: None,
            process: ProcessOptions::default(),
            argv: Vec::new(),
            argv0: None,
            program_name: "stockade",
        }
    }
}

/// A hostname the kernel takes: at most 64 bytes (HOST_NAME_MAX); sethostname(2) would say
/// only EINVAL.
pub fn check_hostname(name: &str) -> Result<(), String> {
    const HOST_NAME_MAX: usize = 64;
    if name.len() > HOST_NAME_MAX {
        return Err(format!(
            "hostname of {} bytes: at most {HOST_NAME_MAX} (the kernel's limit)",
            name.len()
        ));
    }
    Ok(())
}

/// The usable default of `stockade run` without filesystem options (and the base of the
/// `default` profile): the host's /usr read-only with the top-level links as the host has
/// them, what programs commonly need from /etc, /proc, a minimal /dev, a fresh /tmp.
pub fn default_fs_ops() -> Vec<FsOp> {
    let mut ops = vec![ro_bind("/usr", "/usr", false)];
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        ops.extend(mirror_top_level(top));
    }
    for etc in DEFAULT_ETC {
        ops.push(ro_bind(etc, etc, true));
    }
    ops.push(FsOp::Proc {
        dest: "/proc".into(),
    });
    ops.push(FsOp::Dev {
        dest: "/dev".into(),
    });
    ops.push(FsOp::Tmpfs {
        dest: "/tmp".into(),
        size: None,
        mode: Some(0o1777),
    });
    ops
}

/// Files and directories from the host's /etc that ordinary programs read: name service,
/// the dynamic linker's cache, time zone, TLS roots, and Debian's alternatives (without which
/// /usr/bin/cc and friends are dangling links).
pub const DEFAULT_ETC: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/os-release",
    "/etc/locale.alias",
    "/etc/mime.types",
    "/etc/inputrc",
    "/etc/bash.bashrc",
    "/etc/profile",
    "/etc/environment",
    "/etc/magic",
    "/etc/gitconfig",
    "/etc/pki",
    "/etc/crypto-policies",
];

pub fn ro_bind(src: &str, dest: &str, optional: bool) -> FsOp {
    FsOp::Bind {
        src: src.into(),
        dest: dest.into(),
        mode: BindMode::ReadOnly,
        optional,
    }
}

/// /bin, /lib and friends are symlinks into /usr on merged-/usr systems and real directories
/// elsewhere; reproduce whichever the host has, and nothing when it has neither.
pub fn mirror_top_level(path: &str) -> Option<FsOp> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).ok()?;
        Some(FsOp::Symlink {
            target,
            dest: path.into(),
        })
    } else if meta.is_dir() {
        Some(ro_bind(path, path, true))
    } else {
        None
    }
}

fn show_mode(mode: &Option<u32>) -> String {
    mode.map(|m| format!(" mode={m:04o}")).unwrap_or_default()
}

impl fmt::Display for FsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsOp::Bind {
                src,
                dest,
                mode,
                optional,
            } => {
                let kind = match mode {
                    BindMode::ReadOnly => "ro-bind",
                    BindMode::ReadWrite => "bind",
                    BindMode::Dev => "dev-bind",
                };
                let opt = if *optional { "-try" } else { "" };
                write!(f, "{kind}{opt} {} -> {}", src.display(), dest.display())
            }
            FsOp::Copy {
                src,
                dest,
                optional,
            } => {
                let opt = if *optional { "-try" } else { "" };
                write!(f, "copy{opt} {} -> {}", src.display(), dest.display())
            }
            FsOp::BindFd {
                fd,
                dest,
                read_only,
            } => {
                let kind = if *read_only { "ro-bind-fd" } else { "bind-fd" };
                write!(f, "{kind} {fd} -> {}", dest.display())
            }
            FsOp::Tmpfs { dest, size, mode } => {
                write!(f, "tmpfs {}{}", dest.display(), show_mode(mode))?;
                if let Some(size) = size {
                    write!(f, " size={size}")?;
                }
                Ok(())
            }
            FsOp::Dir { dest, mode } => write!(f, "dir {}{}", dest.display(), show_mode(mode)),
            FsOp::Symlink { target, dest } => {
                write!(f, "symlink {} -> {}", dest.display(), target.display())
            }
            FsOp::Proc { dest } => write!(f, "proc {}", dest.display()),
            FsOp::Dev { dest } => write!(f, "dev {}", dest.display()),
            FsOp::Mqueue { dest } => write!(f, "mqueue {}", dest.display()),
            FsOp::RemountRo { dest } => write!(f, "remount-ro {}", dest.display()),
            FsOp::Data {
                fd,
                dest,
                mode,
                bind,
            } => {
                let kind = match bind {
                    None => "file",
                    Some(true) => "ro-bind-data",
                    Some(false) => "bind-data",
                };
                write!(f, "{kind} fd {fd} -> {}{}", dest.display(), show_mode(mode))
            }
            FsOp::File {
                dest,
                contents,
                mode,
            } => write!(
                f,
                "file {} ({} bytes){}",
                dest.display(),
                contents.len(),
                show_mode(mode)
            ),
            FsOp::Chmod { dest, mode } => write!(f, "chmod {mode:04o} {}", dest.display()),
            FsOp::Overlay {
                lower,
                upper,
                tmp_upper,
                dest,
                ..
            } => {
                let lowers: Vec<_> = lower.iter().map(|p| p.display().to_string()).collect();
                let kind = match (upper, tmp_upper) {
                    (Some(_), _) => "overlay",
                    (None, true) => "tmp-overlay",
                    (None, false) => "ro-overlay",
                };
                write!(f, "{kind} {} lower={}", dest.display(), lowers.join(":"))?;
                if let Some(upper) = upper {
                    write!(f, " upper={}", upper.display())?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = &self.namespaces;
        let names: Vec<&str> = [
            (ns.user, "user"),
            (ns.mount, "mount"),
            (ns.pid, "pid"),
            (ns.net, "net"),
            (ns.uts, "uts"),
            (ns.ipc, "ipc"),
            (ns.cgroup, "cgroup"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect();
        writeln!(f, "namespaces: {}", names.join(" "))?;
        let (uid, gid) = (caller_uid(), caller_gid());
        writeln!(f, "uid_map: {} {uid} 1", self.uid.unwrap_or(uid))?;
        writeln!(f, "gid_map: {} {gid} 1", self.gid.unwrap_or(gid))?;
        writeln!(f, "setgroups: deny")?;
        writeln!(f, "network: {:?}", self.net)?;
        writeln!(f, "limits: {}", self.limits)?;
        if let Some(host) = &self.hostname {
            writeln!(f, "hostname: {host}")?;
        }
        writeln!(f, "filesystem:")?;
        writeln!(f, "  tmpfs / (new root)")?;
        for op in &self.fs {
            writeln!(f, "  {op}")?;
        }
        if self.root_read_only {
            writeln!(f, "  remount-ro / (new root)")?;
        }
        match &self.chdir {
            Some(dir) => writeln!(f, "chdir: {}", dir.display())?,
            None => writeln!(
                f,
                "chdir: caller's working directory if present inside, else /"
            )?,
        }
        writeln!(
            f,
            "environment: {}",
            if self.env.clear {
                "cleared"
            } else {
                "inherited"
            }
        )?;
        for op in &self.env.ops {
            match op {
                EnvOp::Set(k, v) => {
                    writeln!(f, "  set {}={}", k.to_string_lossy(), v.to_string_lossy())?
                }
                EnvOp::Unset(k) => writeln!(f, "  unset {}", k.to_string_lossy())?,
                EnvOp::UnsetMatching(p) => writeln!(f, "  unset what matches {p}")?,
            }
        }
        if self.caps_keep.is_empty() {
            writeln!(
                f,
                "capabilities: none (bounding, permitted, effective, inheritable, ambient cleared)"
            )?;
        } else {
            writeln!(f, "capabilities: {}", self.caps_keep.join(" "))?;
        }
        writeln!(f, "no_new_privs: yes")?;
        match &self.seccomp {
            Seccomp::Off => writeln!(f, "seccomp: off")?,
            Seccomp::Policy(p) => writeln!(
                f,
                "seccomp: allowlist of {} syscalls, others {:?}, {} denied with EPERM",
                p.allow.len(),
                p.default_action,
                p.deny_eperm.len()
            )?,
            Seccomp::Fds(fds) => writeln!(f, "seccomp: BPF programs from fds {fds:?}")?,
        }
        match &self.landlock {
            None => writeln!(f, "landlock: off")?,
            Some(l) => writeln!(
                f,
                "landlock: {} path rules{}",
                l.paths.len(),
                if l.required {
                    " (required)"
                } else {
                    " (best effort)"
                }
            )?,
        }
        match &self.dbus {
            None => writeln!(f, "dbus: none")?,
            Some(d) => {
                let socket = d.socket_inside(self.uid.unwrap_or_else(caller_uid));
                writeln!(
                    f,
                    "dbus: xdg-dbus-proxy of {} at {} talk={:?} own={:?} see={:?} call={:?} broadcast={:?}",
                    d.upstream.as_deref().unwrap_or("the session bus"),
                    socket.display(),
                    d.talk,
                    d.own,
                    d.see,
                    d.call,
                    d.broadcast
                )?
            }
        }
        if let Some(d) = &self.display {
            writeln!(
                f,
                "display: x11={} wayland={} audio={} (sockets found at launch)",
                d.x11, d.wayland, d.audio
            )?;
        }
        let p = &self.process;
        writeln!(
            f,
            "process: die-with-parent={} new-session={} as-pid-1={} close-fds={} keep-fds={:?}",
            p.die_with_parent, p.new_session, p.as_pid_1, p.close_fds, p.keep_fds
        )?;
        let argv: Vec<_> = self.argv.iter().map(|a| a.to_string_lossy()).collect();
        writeln!(f, "command: {}", argv.join(" "))
    }
}

pub fn caller_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

pub fn caller_gid() -> u32 {
    nix::unistd::getegid().as_raw()
}
