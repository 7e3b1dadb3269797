//! `stockade run`: flags on top of a profile (the `default` one when none is named).
//!
//! Filesystem flags are applied in the order given, after the profile's own operations, so
//! the flags are read back from clap with their positions rather than field by field.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};

use crate::error::Failure;
use crate::plan::{BindMode, EnvOp, FsOp, NetMode, Plan, Seccomp};

#[derive(Args, Debug, Default)]
#[command(
    about = "Run a command in a sandbox",
    after_help = "Filesystem options apply in the order given, after the profile's. \
Exit status: the command's; 128+N when it was killed by signal N; 125 when setup failed; \
126 when the command cannot be executed; 127 when it is not found."
)]
pub struct RunArgs {
    /// Profile to start from: a name (looked up in ~/.config, /etc, then built in) or a path
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Per-application data for desktop apps: sets ${APP} for the profile and creates
    /// ~/.local/share/stockade/NAME on the host if missing (the desktop profile's $HOME)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,

    /// Bind SRC read-only (recursively) at DEST
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub ro_bind: Vec<PathBuf>,
    /// Like --ro-bind, skipped when SRC does not exist
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub ro_bind_try: Vec<PathBuf>,
    /// Bind SRC read-write at DEST
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub bind: Vec<PathBuf>,
    /// Like --bind, skipped when SRC does not exist
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub bind_try: Vec<PathBuf>,
    /// Bind SRC read-write at DEST with device nodes usable
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub dev_bind: Vec<PathBuf>,
    /// Like --dev-bind, skipped when SRC does not exist
    #[arg(long, num_args = 2, value_names = ["SRC", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub dev_bind_try: Vec<PathBuf>,
    /// Mount a fresh tmpfs at DEST
    #[arg(long, value_name = "DEST", action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub tmpfs: Vec<PathBuf>,
    /// Create an empty directory DEST
    #[arg(long, value_name = "DEST", action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub dir: Vec<PathBuf>,
    /// Create a symbolic link DEST pointing to TARGET
    #[arg(long, num_args = 2, value_names = ["TARGET", "DEST"], action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub symlink: Vec<PathBuf>,
    /// Mount a procfs for the sandbox at DEST
    #[arg(long, value_name = "DEST", action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub proc: Vec<PathBuf>,
    /// Mount a minimal /dev at DEST
    #[arg(long, value_name = "DEST", action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub dev: Vec<PathBuf>,
    /// Make DEST (and its submounts) read-only
    #[arg(long, value_name = "DEST", action = clap::ArgAction::Append, help_heading = "Filesystem")]
    pub remount_ro: Vec<PathBuf>,

    /// The uid inside the sandbox (default: the caller's)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "N",
        help_heading = "Identity"
    )]
    pub uid: Option<u32>,
    /// The gid inside the sandbox (default: the caller's)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "N",
        help_heading = "Identity"
    )]
    pub gid: Option<u32>,
    /// The hostname inside the sandbox
    #[arg(long, value_parser = hostname_arg, value_name = "NAME", help_heading = "Identity")]
    pub hostname: Option<String>,

    /// Working directory inside (default: the caller's when it exists inside, else /); an
    /// absolute DIR is also the project directory, ${CWD}, that profiles such as build bind
    #[arg(long, value_name = "DIR", help_heading = "Environment")]
    pub chdir: Option<PathBuf>,
    /// Set an environment variable
    #[arg(long, num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append, help_heading = "Environment")]
    pub setenv: Vec<OsString>,
    /// Remove an environment variable
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append, help_heading = "Environment")]
    pub unsetenv: Vec<OsString>,
    /// Start from an empty environment
    #[arg(long, help_heading = "Environment")]
    pub clearenv: bool,

    /// Network: none (private, loopback only), host, or pasta (user-mode)
    #[arg(long, value_name = "MODE", value_parser = ["none", "host", "pasta"], help_heading = "Network")]
    pub net: Option<String>,
    /// Keep the host's network (same as --net host)
    #[arg(long, conflicts_with = "net", help_heading = "Network")]
    pub share_net: bool,
    /// With --net pasta: forward a host port to a sandbox port
    #[arg(long, value_name = "[HOST_IP:]HOST_PORT:SANDBOX_PORT[/tcp|udp]", action = clap::ArgAction::Append, help_heading = "Network")]
    pub publish: Vec<String>,
    /// With --net pasta: the gateway address leads to the host's loopback, so the sandbox can
    /// reach services listening only on the host's 127.0.0.1 and ::1 (off by default)
    #[arg(long, help_heading = "Network")]
    pub host_loopback: bool,

    /// Set a resource limit for the command: as, core, cpu, data, fsize, memlock, nofile, nproc, stack
    #[arg(long, value_name = "NAME=SOFT[:HARD]", action = clap::ArgAction::Append, help_heading = "Limits")]
    pub rlimit: Vec<String>,
    /// Wall-clock limit (90s, 10m, 500ms, plain seconds): then SIGTERM to the sandbox, exit status 124
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "DURATION",
        help_heading = "Limits"
    )]
    pub timeout: Option<String>,
    /// After --timeout, how long to wait before SIGKILL (default 5s)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "DURATION",
        help_heading = "Limits"
    )]
    pub kill_after: Option<String>,
    /// Memory limit in bytes, K/M/G suffixes accepted (needs a delegated cgroup v2 subtree)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "BYTES",
        help_heading = "Limits"
    )]
    pub memory: Option<String>,
    /// Maximum number of processes and threads (needs a delegated cgroup v2 subtree)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "N",
        help_heading = "Limits"
    )]
    pub pids: Option<String>,
    /// CPU time as a number of CPUs, e.g. 0.5 (needs a delegated cgroup v2 subtree)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "FRACTION",
        help_heading = "Limits"
    )]
    pub cpus: Option<String>,

    /// Bind the sockets of a display or sound server that is running: x11 ($DISPLAY and its
    /// Xauthority cookie), wayland ($WAYLAND_DISPLAY), audio (PulseAudio, PipeWire)
    #[arg(long, value_name = "KIND", value_parser = ["x11", "wayland", "audio"], action = clap::ArgAction::Append, help_heading = "Desktop")]
    pub socket: Vec<String>,
    /// Give the sandbox a filtered D-Bus session bus (xdg-dbus-proxy) that may talk to NAME
    #[arg(long, value_name = "NAME", value_parser = bus_name_arg, action = clap::ArgAction::Append, help_heading = "D-Bus")]
    pub dbus_talk: Vec<String>,
    /// Like --dbus-talk, and the sandbox may own NAME
    #[arg(long, value_name = "NAME", value_parser = bus_name_arg, action = clap::ArgAction::Append, help_heading = "D-Bus")]
    pub dbus_own: Vec<String>,
    /// No D-Bus proxy even when the profile has one (the bus variable is unset)
    #[arg(long, conflicts_with_all = ["dbus_talk", "dbus_own"], help_heading = "D-Bus")]
    pub no_dbus: bool,

    /// Pass this file descriptor to the command (all others but 0, 1, 2 are closed)
    #[arg(long, allow_negative_numbers = true, value_name = "N", action = clap::ArgAction::Append, help_heading = "Process")]
    pub keep_fd: Vec<i32>,
    /// Keep the caller's session and terminal (allows TIOCSTI injection when seccomp is off)
    #[arg(long, help_heading = "Process")]
    pub keep_session: bool,
    /// Let the sandbox outlive stockade's caller
    #[arg(long, help_heading = "Process")]
    pub no_die_with_parent: bool,
    /// Without user namespaces, run confined by Landlock, seccomp and rlimits only (says what is missing)
    #[arg(long, value_name = "landlock", value_parser = ["landlock"], help_heading = "Process")]
    pub fallback: Option<String>,
    /// Write a JSON line with the exit code, reason and memory peak to this fd at the end
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "FD",
        help_heading = "Process"
    )]
    pub json_status_fd: Option<i32>,

    /// seccomp filter: on (the profile's allowlist) or off (debugging only)
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"], help_heading = "Confinement")]
    pub seccomp: Option<String>,
    /// Landlock rules: on (the profile's) or off (debugging only)
    #[arg(long, value_name = "on|off", value_parser = ["on", "off"], help_heading = "Confinement")]
    pub landlock: Option<String>,

    /// Print the launch plan and exit without creating anything
    #[arg(long)]
    pub dry_run: bool,
    /// Print the equivalent bwrap command line (and what it cannot express) and exit
    #[arg(long)]
    pub print_bwrap: bool,
    /// Report skipped rules and other details on stderr
    #[arg(short, long)]
    pub verbose: bool,
    /// Print how long each launch stage took, on stderr
    #[arg(long)]
    pub timings: bool,

    /// The command to run and its arguments
    #[arg(trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Runs `stockade run`: builds the plan, then prints or launches it.
pub fn execute(args: RunArgs, matches: &ArgMatches) -> Result<i32> {
    let plan = build_plan(&args, matches)?;
    if args.print_bwrap {
        use std::io::Write;
        let _ = write!(std::io::stdout(), "{}", super::bwrap::export::render(&plan));
        return Ok(0);
    }
    if args.dry_run {
        use std::io::Write;
        // A closed pipe (`| head`) is not an error worth a panic.
        let _ = write!(std::io::stdout(), "{plan}");
        return Ok(0);
    }
    let made = match &args.app {
        Some(app) => ensure_app_dir(app)?,
        None => None,
    };
    let result = crate::sandbox::launch(&plan);
    if let Some(dir) = made {
        if !matches!(result, Ok(status) if status != crate::error::EXIT_SETUP) {
            // A launch that failed in setup leaves nothing behind: the directory goes only
            // while it is still as this launch made it, holding at most the mount points
            // the profile's binds into the app's home made (the user's fonts, in desktop).
            remove_if_only_empty_dirs(&dir);
        }
    }
    result
}

/// Removes `dir` if it holds nothing but empty directories; anything else stays, and so does
/// `dir`. Symbolic links are not followed.
fn remove_if_only_empty_dirs(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_if_only_empty_dirs(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// The plan for a `stockade run` command line: the profile's, then the flags on top.
pub fn build_plan(args: &RunArgs, matches: &ArgMatches) -> Result<Plan> {
    let mut vars = crate::profile::vars::Vars::from_caller(args.app.clone());
    if let Some(command) = args.command.first() {
        vars = vars.with_command(command);
    }
    if let Some(dir) = &args.chdir {
        vars = vars.with_chdir(dir);
    }
    build_plan_from(
        args,
        matches,
        &crate::profile::catalog::HostCatalog::new(),
        &vars,
    )
}

/// [`build_plan`] with the profiles from `catalog` and the variables from `vars`.
fn build_plan_from(
    args: &RunArgs,
    matches: &ArgMatches,
    catalog: &dyn crate::profile::catalog::Catalog,
    vars: &crate::profile::vars::Vars,
) -> Result<Plan> {
    if args.command.is_empty() {
        bail!(Failure::setup("run: missing command (give it after --)"));
    }
    if let Some(app) = &args.app {
        check_app_name(app)?;
    }
    let profile = args.profile.as_deref().unwrap_or("default");
    let opts = crate::profile::Options {
        verbose: args.verbose,
        // Without a filter the profile's syscall names need not be resolved.
        seccomp_off: args.seccomp.as_deref() == Some("off"),
    };
    let mut plan = crate::profile::plan_from_catalog(catalog, profile, &opts, vars)?;
    plan.fs.extend(ordered_fs_ops(matches)?);
    apply_identity(args, &mut plan);
    apply_environment(args, matches, &mut plan)?;
    apply_network(args, &mut plan)?;
    apply_sockets(args, &mut plan);
    apply_dbus(args, &mut plan);
    apply_process(args, &mut plan)?;
    apply_limits(args, &mut plan)?;
    apply_confinement(args, &mut plan);
    plan.argv = args.command.clone();
    Ok(plan)
}

/// Parses a full `stockade run ...` argument vector into a plan (tests and fuzzing).
pub fn plan_from_argv(argv: &[OsString]) -> Result<Plan> {
    let (args, run) = parse_run_argv(argv)?;
    build_plan(&args, &run)
}

fn parse_run_argv(argv: &[OsString]) -> Result<(RunArgs, ArgMatches)> {
    let matches = super::command()
        .try_get_matches_from(argv)
        .map_err(|e| Failure::setup(e.to_string().lines().next().unwrap_or("").to_string()))?;
    let run = matches
        .subcommand_matches("run")
        .context("not a run command line")?
        .clone();
    let args = <RunArgs as clap::FromArgMatches>::from_arg_matches(&run)?;
    Ok((args, run))
}

/// [`plan_from_argv`] with the profiles from `catalog` and the variables from `vars`: with an
/// in-memory catalog and fixed variables it reads nothing from the disk or the environment
/// (the fuzz target uses this; `--keep-fd` still checks the descriptor in this process).
pub fn plan_from_argv_with(
    argv: &[OsString],
    catalog: &dyn crate::profile::catalog::Catalog,
    vars: &crate::profile::vars::Vars,
) -> Result<Plan> {
    let (args, run) = parse_run_argv(argv)?;
    build_plan_from(&args, &run, catalog, vars)
}

/// The filesystem flags as they were given, in command-line order.
fn ordered_fs_ops(m: &ArgMatches) -> Result<Vec<FsOp>> {
    let mut ops: Vec<(usize, FsOp)> = Vec::new();
    let binds = [
        ("ro_bind", BindMode::ReadOnly, false),
        ("ro_bind_try", BindMode::ReadOnly, true),
        ("bind", BindMode::ReadWrite, false),
        ("bind_try", BindMode::ReadWrite, true),
        ("dev_bind", BindMode::Dev, false),
        ("dev_bind_try", BindMode::Dev, true),
    ];
    for (id, mode, optional) in binds {
        for (index, pair) in pairs(m, id) {
            ops.push((
                index,
                FsOp::Bind {
                    src: pair.0,
                    dest: pair.1,
                    mode,
                    optional,
                },
            ));
        }
    }
    for (index, (target, dest)) in pairs(m, "symlink") {
        ops.push((index, FsOp::Symlink { target, dest }));
    }
    type MakeOp = fn(PathBuf) -> FsOp;
    let singles: [(&str, MakeOp); 5] = [
        ("tmpfs", |dest| FsOp::Tmpfs {
            dest,
            size: None,
            mode: None,
        }),
        ("dir", |dest| FsOp::Dir { dest, mode: None }),
        ("proc", |dest| FsOp::Proc { dest }),
        ("dev", |dest| FsOp::Dev { dest }),
        ("remount_ro", |dest| FsOp::RemountRo { dest }),
    ];
    for (id, make) in singles {
        for (index, dest) in indexed_values(m, id) {
            ops.push((index, make(dest)));
        }
    }
    ops.sort_by_key(|(index, _)| *index);
    for (_, op) in &ops {
        check_destination(op)?;
    }
    Ok(ops.into_iter().map(|(_, op)| op).collect())
}

/// Destinations are paths inside the new root: relative ones are ambiguous, and `..` could only
/// be meant to climb out of it.
pub fn check_destination(op: &FsOp) -> Result<()> {
    let dest = op.dest();
    if !dest.is_absolute() {
        bail!(Failure::setup(format!(
            "{op}: the destination must be an absolute path inside the sandbox"
        )));
    }
    if dest
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        bail!(Failure::setup(format!(
            "{op}: the destination contains '..', which would leave the new root"
        )));
    }
    Ok(())
}

fn indexed_values<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Vec<(usize, T)> {
    match (m.indices_of(id), m.get_many::<T>(id)) {
        (Some(indices), Some(values)) => indices.zip(values.cloned()).collect(),
        _ => Vec::new(),
    }
}

/// Two-valued flags arrive as a flat list; pair them and keep the first value's position.
fn pairs<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Vec<(usize, (T, T))> {
    let flat = indexed_values::<T>(m, id);
    flat.chunks_exact(2)
        .map(|c| (c[0].0, (c[0].1.clone(), c[1].1.clone())))
        .collect()
}

fn bus_name_arg(name: &str) -> Result<String, String> {
    crate::sandbox::dbus::check_name(name).map(|()| name.to_string())
}

fn hostname_arg(name: &str) -> Result<String, String> {
    crate::plan::check_hostname(name).map(|()| name.to_string())
}

fn apply_identity(args: &RunArgs, plan: &mut Plan) {
    if args.uid.is_some() {
        plan.uid = args.uid;
    }
    if args.gid.is_some() {
        plan.gid = args.gid;
    }
    if let Some(host) = &args.hostname {
        plan.hostname = Some(host.clone());
    }
}

fn apply_environment(args: &RunArgs, m: &ArgMatches, plan: &mut Plan) -> Result<()> {
    if args.clearenv {
        plan.env.clear = true;
        plan.env.ops.clear();
    }
    let mut ops: Vec<(usize, EnvOp)> = pairs::<OsString>(m, "setenv")
        .into_iter()
        .map(|(i, (k, v))| (i, EnvOp::Set(k, v)))
        .collect();
    ops.extend(
        indexed_values::<OsString>(m, "unsetenv")
            .into_iter()
            .map(|(i, k)| (i, EnvOp::Unset(k))),
    );
    ops.sort_by_key(|(i, _)| *i);
    for (_, op) in &ops {
        let (EnvOp::Set(name, _) | EnvOp::Unset(name)) = op else {
            continue;
        };
        if name.is_empty() || name.to_string_lossy().contains('=') {
            bail!(Failure::setup(format!(
                "--setenv/--unsetenv: invalid variable name {:?}",
                name
            )));
        }
    }
    plan.env.ops.extend(ops.into_iter().map(|(_, op)| op));
    if let Some(dir) = &args.chdir {
        plan.chdir = Some(dir.clone());
    }
    Ok(())
}

fn apply_network(args: &RunArgs, plan: &mut Plan) -> Result<()> {
    if args.share_net {
        plan.net = NetMode::Host;
    }
    match args.net.as_deref() {
        Some("host") => plan.net = NetMode::Host,
        Some("none") => plan.net = NetMode::None,
        Some("pasta") => {
            plan.net = NetMode::Pasta {
                publish: Vec::new(),
                host_loopback: false,
                forward_dns: false,
            }
        }
        _ => {}
    }
    if args.host_loopback {
        let NetMode::Pasta { host_loopback, .. } = &mut plan.net else {
            bail!(Failure::setup("--host-loopback needs --net pasta"));
        };
        *host_loopback = true;
    }
    if !args.publish.is_empty() {
        let NetMode::Pasta { publish, .. } = &mut plan.net else {
            bail!(Failure::setup("--publish needs --net pasta"));
        };
        for spec in &args.publish {
            crate::sandbox::pasta::parse_publish(spec)?;
            publish.push(spec.clone());
        }
    }
    plan.namespaces.net = plan.net != NetMode::Host;
    Ok(())
}

/// Limits: parsed by the executor's own parsers, so profiles accept the same spellings.
fn apply_limits(args: &RunArgs, plan: &mut Plan) -> Result<()> {
    use crate::sandbox::limits;
    for spec in &args.rlimit {
        let (name, soft, hard) = limits::parse_rlimit(spec)?;
        plan.limits.rlimits.retain(|(n, _, _)| *n != name);
        plan.limits.rlimits.push((name, soft, hard));
    }
    let l = &mut plan.limits;
    if let Some(t) = &args.timeout {
        l.timeout_ms = Some(limits::parse_timeout(t)?);
    }
    if let Some(t) = &args.kill_after {
        l.kill_after_ms = Some(limits::parse_duration("--kill-after", t)?);
    }
    if let Some(m) = &args.memory {
        l.memory_bytes = Some(limits::parse_bytes("--memory", m)?);
    }
    if let Some(p) = &args.pids {
        l.pids = Some(limits::parse_pids(p)?);
    }
    if let Some(c) = &args.cpus {
        l.cpus = Some(limits::parse_cpus(c)?);
    }
    Ok(())
}

/// The D-Bus flags add names to the profile's filter (or start one); `--no-dbus` drops it.
fn apply_sockets(args: &RunArgs, plan: &mut Plan) {
    if args.socket.is_empty() {
        return;
    }
    let display = plan.display.get_or_insert_with(Default::default);
    for kind in &args.socket {
        match kind.as_str() {
            "x11" => display.x11 = true,
            "wayland" => display.wayland = true,
            _ => display.audio = true,
        }
    }
}

fn apply_dbus(args: &RunArgs, plan: &mut Plan) {
    if args.no_dbus {
        plan.dbus = None;
        plan.env
            .ops
            .push(EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into()));
        return;
    }
    if args.dbus_talk.is_empty() && args.dbus_own.is_empty() {
        return;
    }
    let policy = plan.dbus.get_or_insert_with(Default::default);
    policy.talk.extend(args.dbus_talk.iter().cloned());
    policy.own.extend(args.dbus_own.iter().cloned());
}

fn apply_process(args: &RunArgs, plan: &mut Plan) -> Result<()> {
    for &fd in &args.keep_fd {
        if fd < 0 || !crate::sandbox::process::fd_is_open(fd) {
            bail!(Failure::setup(format!(
                "--keep-fd {fd}: not an open file descriptor"
            )));
        }
        plan.process.keep_fds.push(fd);
    }
    if args.keep_session {
        plan.process.new_session = false;
    }
    if args.no_die_with_parent {
        plan.process.die_with_parent = false;
    }
    if let Some(fd) = args.json_status_fd {
        if fd < 0 || !crate::sandbox::process::fd_is_open(fd) {
            bail!(Failure::setup(format!(
                "--json-status-fd {fd}: not an open file descriptor"
            )));
        }
        if args.keep_fd.contains(&fd) {
            // The status is written after the command ends, by stockade, into a descriptor
            // the command would also hold and could write to or close first.
            bail!(Failure::setup(format!(
                "--json-status-fd {fd}: also given to --keep-fd; the command must not share \
                 stockade's status descriptor"
            )));
        }
        plan.process.json_status_fd = Some(fd);
    }
    plan.process.fallback_landlock |= args.fallback.is_some();
    plan.process.verbose |= args.verbose;
    plan.process.timings |= args.timings;
    Ok(())
}

fn apply_confinement(args: &RunArgs, plan: &mut Plan) {
    if args.seccomp.as_deref() == Some("off") {
        eprintln!("stockade: warning: --seccomp off: the sandbox runs without a syscall filter");
        plan.seccomp = Seccomp::Off;
    }
    if args.landlock.as_deref() == Some("off") {
        eprintln!("stockade: warning: --landlock off: the sandbox runs without Landlock rules");
        plan.landlock = None;
    }
}

/// An application name becomes one path component under ~/.local/share/stockade: nothing
/// that could climb out of it or hide (`..`, `/`, a leading dot), nothing a shell would mangle.
pub fn check_app_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!(Failure::setup(format!(
            "--app {name:?}: use letters, digits, '.', '_' and '-' (not first), at most 64"
        )));
    }
    Ok(())
}

/// The caller's home: $HOME, else the password database's entry.
pub fn caller_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let user = crate::profile::vars::passwd_entry(nix::unistd::geteuid())
        .ok_or_else(|| Failure::setup("--app: HOME is unset and the user has no passwd entry"))?;
    Ok(PathBuf::from(user.home))
}

/// Where `--app NAME` keeps the application's home on the host.
pub fn app_data_dir(home: &std::path::Path, name: &str) -> PathBuf {
    home.join(".local/share/stockade").join(name)
}

/// Creates the application's home (0700: it holds the app's settings and secrets) when
/// missing, so that the profile can bind it without a separate setup step. Returns it when
/// this call made it.
pub fn ensure_app_dir(name: &str) -> Result<Option<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = app_data_dir(&caller_home()?, name);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--app {name}: creating {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(Some(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(None),
        Err(e) => Err(e).with_context(|| format!("--app {name}: creating {}", dir.display())),
    }
}
