//! A merged profile becomes a launch plan: variables expanded, `mirror` entries decided from
//! the host, seccomp groups resolved, limits converted.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::load::Layer;
use super::merge::fs_dest;
use super::schema::{
    Action, Fallback, FamilyEntry, FsEntry, FsKind, LandlockTable, LimitsTable, Net, ProfileFile,
    SeccompTable, SocketKind, FAMILIES,
};
use super::vars::{PathTemplate, Vars};
use crate::error::Failure;
use crate::plan::{
    BindMode, DbusPolicy, DenyAction, EnvOp, FsOp, LandlockAccess, LandlockPath, LandlockPolicy,
    Limits, NetMode, Plan, Seccomp, SeccompPolicy,
};

/// What the caller wants besides the profile.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Report skipped syscall names and similar details on stderr.
    pub verbose: bool,
    /// Build no seccomp filter (`--seccomp off`): the names are then not resolved at all.
    pub seccomp_off: bool,
}

/// The plan a merged profile describes (without a command).
pub fn to_plan(profile: &ProfileFile, vars: &Vars, opts: &Options) -> Result<Plan> {
    let mut plan = Plan::default();
    apply_scalars(profile, vars, &mut plan)?;
    for entry in &profile.fs {
        if let Some(op) = fs_op(entry.get_ref(), vars)? {
            crate::cli::run::check_destination(&op)?;
            plan.fs.push(op);
        }
    }
    if let Some(env) = &profile.env {
        plan.env.clear = env.clear.unwrap_or(false);
        // Patterns first: they clear what is inherited, and a value the profile sets stays
        // even where a pattern of a profile it extends matches its name.
        let (patterns, names): (Vec<_>, Vec<_>) =
            env.unset.iter().partition(|p| p.get_ref().is_pattern());
        for pattern in patterns {
            plan.env
                .ops
                .push(EnvOp::UnsetMatching(pattern.get_ref().0.clone()));
        }
        for (name, value) in &env.set {
            plan.env.ops.push(EnvOp::Set(
                name.0.clone().into(),
                value.expand(vars)?.into(),
            ));
        }
        for name in names {
            plan.env
                .ops
                .push(EnvOp::Unset(name.get_ref().0.clone().into()));
        }
    }
    if let Some(limits) = &profile.limits {
        plan.limits = limits_of(limits);
    }
    if let Some(seccomp) = profile
        .seccomp
        .as_ref()
        .filter(|s| s.enabled != Some(false))
    {
        if !opts.seccomp_off {
            plan.seccomp = Seccomp::Policy(seccomp_policy(seccomp, opts.verbose)?);
        }
    }
    if let Some(landlock) = profile
        .landlock
        .as_ref()
        .filter(|l| l.enabled != Some(false))
    {
        plan.landlock = Some(landlock_policy(landlock, vars)?);
    }
    if !profile.sockets.is_empty() {
        let display = plan.display.get_or_insert_with(Default::default);
        for kind in &profile.sockets {
            match kind {
                SocketKind::X11 => display.x11 = true,
                SocketKind::Wayland => display.wayland = true,
                SocketKind::Audio => display.audio = true,
            }
        }
    }
    if let Some(dbus) = &profile.dbus {
        if dbus.enabled == Some(false) {
            plan.env
                .ops
                .push(EnvOp::Unset("DBUS_SESSION_BUS_ADDRESS".into()));
        } else {
            let policy = DbusPolicy {
                talk: dbus.talk.clone(),
                own: dbus.own.clone(),
                see: dbus.see.clone(),
                call: dbus.call.clone(),
                broadcast: dbus.broadcast.clone(),
                socket: match &dbus.socket {
                    Some(p) => Some(PathBuf::from(p.expand(vars)?)),
                    None => None,
                },
                upstream: None,
                log: dbus.log.unwrap_or(false),
            };
            plan.dbus = Some(policy);
        }
    }
    plan.process.verbose = opts.verbose;
    Ok(plan)
}

fn apply_scalars(profile: &ProfileFile, vars: &Vars, plan: &mut Plan) -> Result<()> {
    plan.hostname.clone_from(&profile.hostname);
    plan.uid = profile.uid;
    plan.gid = profile.gid;
    plan.net = match profile.net.unwrap_or(Net::None) {
        Net::None => NetMode::None,
        Net::Host => NetMode::Host,
        Net::Pasta => NetMode::Pasta {
            publish: Vec::new(),
            host_loopback: false,
            forward_dns: false,
        },
    };
    plan.namespaces.net = plan.net != NetMode::Host;
    if let Some(ns) = &profile.namespaces {
        let n = &mut plan.namespaces;
        n.pid = ns.pid.unwrap_or(n.pid);
        n.uts = ns.uts.unwrap_or(n.uts);
        n.ipc = ns.ipc.unwrap_or(n.ipc);
        n.cgroup = ns.cgroup.unwrap_or(n.cgroup);
    }
    if let Some(v) = profile.new_session {
        plan.process.new_session = v;
    }
    if let Some(v) = profile.die_with_parent {
        plan.process.die_with_parent = v;
    }
    if let Some(fallback) = profile.fallback {
        plan.process.fallback_landlock = fallback == Fallback::Landlock;
    }
    if let Some(dir) = &profile.chdir {
        plan.chdir = Some(dir.expand(vars)?.into());
    }
    Ok(())
}

/// One `[[fs]]` entry as a plan operation; `None` when a `mirror` finds nothing on the host.
fn fs_op(entry: &FsEntry, vars: &Vars) -> Result<Option<FsOp>> {
    // The loader checked that each kind has its required fields.
    let expand = |p: Option<&PathTemplate>| -> Result<PathBuf> {
        let p = p.ok_or_else(|| anyhow!("a required path is missing"))?;
        Ok(PathBuf::from(p.expand(vars)?))
    };
    let src = || expand(entry.src.as_ref().map(toml::Spanned::get_ref));
    let dest = || expand(fs_dest(entry));
    let mode = entry.mode.as_ref().map(|m| m.get_ref().0);
    let optional = entry.optional.as_ref().is_some_and(|t| *t.get_ref());
    let bind = |mode: BindMode| -> Result<Option<FsOp>> {
        if optional {
            // `try = true` also covers a variable with no value at this launch
            // (`${COMMAND_DIR}` for a command given by name), as it covers a missing source.
            let present = |p: Option<&PathTemplate>| match p {
                Some(p) => p.expand_if_present(vars).map(|v| v.is_some()),
                None => Ok(true),
            };
            if !present(entry.src.as_ref().map(toml::Spanned::get_ref))?
                || !present(fs_dest(entry))?
            {
                return Ok(None);
            }
        }
        Ok(Some(FsOp::Bind {
            src: src()?,
            dest: dest()?,
            mode,
            optional,
        }))
    };
    let op = match *entry.kind.get_ref() {
        FsKind::RoBind => return bind(BindMode::ReadOnly),
        FsKind::Bind => return bind(BindMode::ReadWrite),
        FsKind::DevBind => return bind(BindMode::Dev),
        FsKind::Copy => FsOp::Copy {
            src: src()?,
            dest: dest()?,
            optional: entry.optional.as_ref().is_some_and(|t| *t.get_ref()),
        },
        FsKind::Tmpfs => FsOp::Tmpfs {
            dest: dest()?,
            size: entry.size.as_ref().map(|s| s.get_ref().0),
            mode,
        },
        FsKind::Dir => FsOp::Dir {
            dest: dest()?,
            mode,
        },
        FsKind::Symlink => FsOp::Symlink {
            target: entry
                .target
                .as_ref()
                .ok_or_else(|| anyhow!("a symlink target is missing"))?
                .get_ref()
                .expand(vars)?
                .into(),
            dest: dest()?,
        },
        FsKind::Proc => FsOp::Proc { dest: dest()? },
        FsKind::Dev => FsOp::Dev { dest: dest()? },
        FsKind::Mqueue => FsOp::Mqueue { dest: dest()? },
        FsKind::RemountRo => FsOp::RemountRo { dest: dest()? },
        FsKind::File => FsOp::File {
            dest: dest()?,
            contents: entry
                .contents
                .as_ref()
                .map(|c| c.get_ref().clone().into_bytes())
                .unwrap_or_default(),
            mode,
        },
        FsKind::Chmod => FsOp::Chmod {
            dest: dest()?,
            mode: mode.ok_or_else(|| anyhow!("a chmod mode is missing"))?,
        },
        FsKind::Mirror => {
            let dest = dest()?;
            return Ok(crate::plan::mirror_top_level(&dest.to_string_lossy()));
        }
    };
    Ok(Some(op))
}

/// What a merged profile asks of this host, checked before the launch so that a problem is
/// reported at its line in the profile that asked for it (at launch, inside the new
/// namespaces, the error could only name a path):
/// - the sources it cannot do without (binds and copies without `try`) exist; the launch
///   opens them again, so this is for the message, not a guarantee;
/// - no path made of a variable takes in more than its profile meant (see
///   [`too_wide_a_variable`]).
pub fn check_host_paths(chain: &[Layer], merged: &ProfileFile, vars: &Vars) -> Result<()> {
    for (entry, &layer) in merged.fs.iter().zip(&merged.fs_layers) {
        let Some(layer) = chain.get(layer) else {
            continue;
        };
        let entry = entry.get_ref();
        // A variable with no value at this launch (`${COMMAND_DIR}`) skipped its `try` entry
        // when the plan was built: there is nothing of it to check.
        if let Some(dest) = &entry.dest {
            let Some(path) = dest.get_ref().expand_if_present(vars)? else {
                continue;
            };
            if let Some(why) =
                too_wide_a_variable(dest.get_ref(), &path, vars, PathUse::Destination)
            {
                return Err(layer.error(dest.span(), &why));
            }
        }
        let needs_source = matches!(
            entry.kind.get_ref(),
            FsKind::RoBind | FsKind::Bind | FsKind::DevBind | FsKind::Copy
        );
        let Some(src) = entry.src.as_ref().filter(|_| needs_source) else {
            continue;
        };
        let Some(path) = src.get_ref().expand_if_present(vars)? else {
            continue;
        };
        if let Some(why) = too_wide_a_variable(src.get_ref(), &path, vars, PathUse::Source) {
            return Err(layer.error(src.span(), &why));
        }
        let optional = entry.optional.as_ref().is_some_and(|t| *t.get_ref());
        let missing =
            std::fs::metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if missing && !optional {
            return Err(layer.error(
                src.span(),
                &format!(
                    "{}: no such file or directory (add try = true to skip it where it is \
                     missing)",
                    crate::error::printable(&path)
                ),
            ));
        }
    }
    Ok(())
}

/// What an entry's path is to the sandbox.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathUse {
    /// A host path bound or copied in: too wide, it exposes what the profile hides.
    Source,
    /// A place in the sandbox: too wide, it covers the sandbox's root.
    Destination,
}

/// Why a path written with a variable must not be used here: `${CWD}` run from `/` or from the
/// home directory (or a directory above it) would bind the whole filesystem or the whole home,
/// writable in `build`, which the profile's tmpfs over `${HOME}` is there to hide; and a
/// `${HOME}` of `/` (inherited through su, or a service account's) would put the home's tmpfs
/// over the sandbox's whole root. Literal paths are what their profile says, and are left alone.
fn too_wide_a_variable(
    template: &PathTemplate,
    path: &str,
    vars: &Vars,
    used_as: PathUse,
) -> Option<String> {
    let raw = template.raw();
    let variable = raw.split("${").nth(1)?.split('}').next()?;
    let advice = match variable {
        "CWD" => "run it from a project's directory, or name one with --chdir".to_string(),
        other => format!("set {other} to a directory of its own"),
    };
    let path = Path::new(path);
    let shown = crate::error::printable(&path.to_string_lossy());
    if path.parent().is_none() {
        let (verb, what) = match used_as {
            PathUse::Destination => ("cover", "the sandbox's whole root"),
            PathUse::Source => ("expose", "the whole filesystem"),
        };
        return Some(format!(
            "{raw} is {shown} here, so this would {verb} {what} ({advice})"
        ));
    }
    if used_as == PathUse::Destination {
        return None;
    }
    let home = vars.get("HOME").ok()?;
    // getcwd gives the real path, $HOME may go through a link (/home -> /var/home): compare
    // real paths.
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    real(Path::new(&home)).starts_with(real(path)).then(|| {
        format!(
            "{raw} is {shown} here, which holds your home directory {}, so this would expose \
             all of it ({advice})",
            crate::error::printable(&home)
        )
    })
}

fn limits_of(table: &LimitsTable) -> Limits {
    Limits {
        rlimits: table
            .rlimits
            .iter()
            .map(|(name, v)| (name.0.clone(), v.soft, v.hard))
            .collect(),
        timeout_ms: table.timeout.map(|d| d.ms),
        kill_after_ms: table.kill_after.map(|d| d.ms),
        memory_bytes: table.memory.map(|s| s.0),
        pids: table.pids,
        cpus: table.cpus.map(|c| c.0),
    }
}

/// The families a filter allows when no profile names any.
const DEFAULT_FAMILIES: &[&str] = &["unix", "inet", "inet6"];

fn seccomp_policy(table: &SeccompTable, verbose: bool) -> Result<SeccompPolicy> {
    let allow = resolve("allow", &table.allow, verbose)?;
    let deny_eperm = resolve("deny_eperm", &table.deny_eperm, verbose)?;
    let socket_families = match &table.socket_families {
        Some(list) => list
            .iter()
            .map(toml::Spanned::get_ref)
            .filter(|f| !f.remove)
            .map(FamilyEntry::number)
            .collect(),
        None => FAMILIES
            .iter()
            .filter(|(n, _)| DEFAULT_FAMILIES.contains(n))
            .map(|(_, af)| *af)
            .collect(),
    };
    Ok(SeccompPolicy {
        allow,
        deny_eperm,
        default_action: match table.default_action.unwrap_or(Action::Enosys) {
            Action::Enosys => DenyAction::Enosys,
            Action::Eperm => DenyAction::Eperm,
            Action::Kill => DenyAction::Kill,
        },
        allow_namespaces: table.allow_namespaces.unwrap_or(false),
        socket_families,
    })
}

/// Group and syscall names to the syscalls of this architecture. The names were checked when
/// each file was loaded, so an error here has no better location than the list's name.
fn resolve(key: &str, entries: &[toml::Spanned<String>], verbose: bool) -> Result<Vec<String>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = entries.iter().map(|e| e.get_ref().as_str()).collect();
    let resolved = crate::syscalls::resolve(&names).map_err(|e| {
        anyhow!(Failure::setup(format!(
            "seccomp.{key}: {}: {}",
            names.get(e.index).copied().unwrap_or("?"),
            e.message
        )))
    })?;
    if verbose && !resolved.skipped_other_arch.is_empty() {
        eprintln!(
            "stockade: seccomp.{key}: skipped (not syscalls on this architecture): {}",
            resolved.skipped_other_arch.join(" ")
        );
    }
    Ok(resolved.syscalls)
}

fn landlock_policy(table: &LandlockTable, vars: &Vars) -> Result<LandlockPolicy> {
    let mut paths = Vec::new();
    for (list, access) in [
        (&table.read, LandlockAccess::ReadOnly),
        (&table.write, LandlockAccess::ReadWrite),
        (&table.execute, LandlockAccess::Execute),
    ] {
        for entry in list {
            paths.push(LandlockPath {
                path: entry.path.expand(vars)?.into(),
                access,
                optional: entry.optional,
            });
        }
    }
    Ok(LandlockPolicy {
        paths,
        tcp_bind: table.tcp_bind.clone(),
        tcp_connect: table.tcp_connect.clone(),
        scope_abstract_unix: table.scope_abstract_unix.unwrap_or(false),
        scope_signals: table.scope_signals.unwrap_or(false),
        required: table.required.unwrap_or(false),
    })
}
