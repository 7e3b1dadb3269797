//! The Landlock stage: restricts the command (and everything it execs) to the policy's paths,
//! TCP ports and IPC scopes.
//!
//! Runs in the command's process after pivot_root and no_new_privs, before seccomp, so paths
//! are resolved inside the new root. The rights used are those of the running kernel's
//! Landlock ABI, computed once from the ABI number: the same number decides what is reported
//! as not enforced, so the report and the ruleset cannot disagree.
//!
//! Semantics (for stockade-profile(5)):
//! - With at least one path rule, every filesystem right the kernel knows is handled, so a
//!   path not listed (nor below a listed one) gets no access at all. Without path rules the
//!   filesystem is left to the mount namespace.
//! - `tcp_bind` / `tcp_connect`: `None` leaves that operation unrestricted; `Some(ports)`
//!   allows exactly those ports (an empty list denies them all).
//! - Best effort: what the kernel cannot enforce is dropped and shown with `--verbose`.
//!   With `required`, it is a setup error instead, before anything is restricted.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use landlock::{
    Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::plan::{LandlockAccess, LandlockPath, LandlockPolicy};

/// `LANDLOCK_CREATE_RULESET_VERSION` from <linux/landlock.h>.
const CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The running kernel's Landlock ABI version, or `None` when Landlock is not built in or not
/// enabled at boot (not in the `lsm=` list).
pub fn abi_version() -> Option<u32> {
    // SAFETY: with the VERSION flag the kernel reads neither the attribute pointer (null) nor
    // the size (0); it only returns the ABI number or an error.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(version).ok().filter(|&v| v > 0)
}

/// What a policy gets on a given kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The kernel's Landlock ABI; 0 when Landlock is unavailable.
    pub abi: u32,
    /// Restrictions the policy asks for that will not hold: the kernel's ABI lacks them, or a
    /// path rule sits inside a broader one (Landlock rights add up along a path, so a
    /// read-only rule below a writable one stays writable). With `required` these are a setup
    /// error; otherwise the sandbox runs without them.
    pub unenforced: Vec<String>,
    /// Differences that do not weaken what the policy asks for: hardening from ABIs newer
    /// than the kernel's, and rights the kernel denies more broadly than asked.
    pub notes: Vec<String>,
}

impl Report {
    /// The one-line setup error for a `required` policy the kernel cannot fully enforce.
    pub fn required_error(&self) -> String {
        format!(
            "landlock: required, but not enforceable (kernel Landlock ABI {}): {}",
            self.abi,
            self.unenforced.join("; ")
        )
    }

    fn print(&self, policy: &LandlockPolicy) {
        eprintln!("stockade: landlock: {}", summary(policy, self.abi));
        for what in &self.unenforced {
            eprintln!("stockade: landlock: not enforced: {what}");
        }
        for note in &self.notes {
            eprintln!("stockade: landlock: note: {note}");
        }
    }
}

/// One Landlock feature a policy may depend on, and the ABI that brought it.
struct Feature {
    abi: u32,
    used_by: fn(&LandlockPolicy) -> bool,
    what: &'static str,
    /// Part of what the policy's words promise: missing it weakens the policy (and fails a
    /// `required` one). Otherwise it is extra hardening, or a difference that only denies more.
    promised: bool,
}

fn has_paths(p: &LandlockPolicy) -> bool {
    !p.paths.is_empty()
}

fn has_write_paths(p: &LandlockPolicy) -> bool {
    p.paths.iter().any(|path| grants_write(path.access))
}

const FEATURES: &[Feature] = &[
    Feature {
        abi: 1,
        used_by: has_paths,
        what: "filesystem path rules",
        promised: true,
    },
    Feature {
        abi: 2,
        used_by: has_write_paths,
        what: "renaming or linking files across directories in writable paths \
               (denied everywhere instead)",
        promised: false,
    },
    Feature {
        abi: 3,
        used_by: has_paths,
        what: "denying truncate(2) and O_TRUNC outside writable paths",
        promised: true,
    },
    Feature {
        abi: 4,
        used_by: |p| p.tcp_bind.is_some(),
        what: "tcp_bind port rules",
        promised: true,
    },
    Feature {
        abi: 4,
        used_by: |p| p.tcp_connect.is_some(),
        what: "tcp_connect port rules",
        promised: true,
    },
    Feature {
        abi: 5,
        used_by: has_paths,
        what: "denying ioctl(2) on devices outside writable paths",
        promised: true,
    },
    Feature {
        abi: 6,
        used_by: |p| p.scope_abstract_unix,
        what: "scope_abstract_unix",
        promised: true,
    },
    Feature {
        abi: 6,
        used_by: |p| p.scope_signals,
        what: "scope_signals",
        promised: true,
    },
    Feature {
        abi: 9,
        used_by: has_paths,
        what: "denying connect(2) to pathname unix sockets outside writable paths",
        promised: false,
    },
];

/// What `policy` gets on the running kernel, without restricting anything (for `--verbose`,
/// `stockade profile show` and `stockade info`).
pub fn check(policy: &LandlockPolicy) -> Report {
    check_against(policy, abi_version().unwrap_or(0))
}

/// What `policy` gets on a kernel with Landlock ABI `abi` (0: no Landlock).
pub fn check_against(policy: &LandlockPolicy, abi: u32) -> Report {
    let mut report = Report {
        abi,
        ..Report::default()
    };
    for feature in FEATURES {
        if feature.abi <= abi || !(feature.used_by)(policy) {
            continue;
        }
        let line = format!("{} (needs Landlock ABI {})", feature.what, feature.abi);
        if feature.promised {
            report.unenforced.push(line);
        } else if abi > 0 {
            report.notes.push(line);
        }
    }
    report.unenforced.extend(shadowed_rules(policy));
    report
}

/// Rules that ask for less than a rule on an ancestor (or the same path) grants. Landlock
/// grants the union of the rights of every rule along a path, so such a rule cannot take
/// rights away. Compared as written (before symlinks are resolved), which is how the
/// profile's author reads them.
fn shadowed_rules(policy: &LandlockPolicy) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, narrow) in policy.paths.iter().enumerate() {
        let asked = fs_rights(narrow.access, ABI::V1);
        let broader = policy.paths.iter().enumerate().find(|(j, wide)| {
            *j != i
                && narrow.path.starts_with(&wide.path)
                && !asked.contains(fs_rights(wide.access, ABI::V1))
        });
        let Some((_, wide)) = broader else {
            continue;
        };
        let (asked, wider) = (access_name(narrow.access), access_name(wide.access));
        let path = narrow.path.display();
        lines.push(if narrow.path == wide.path {
            format!("{path} is listed as {asked} and as {wider}: it gets both")
        } else {
            format!(
                "{path} is {asked} but inside {}, which is {wider} \
                 (Landlock rights add up along a path)",
                wide.path.display()
            )
        });
    }
    lines
}

fn access_name(access: LandlockAccess) -> &'static str {
    match access {
        LandlockAccess::ReadOnly => "read-only",
        LandlockAccess::ReadWrite => "writable",
        LandlockAccess::Execute => "read and execute",
        LandlockAccess::Full => "writable and executable",
    }
}

/// Restricts the calling process (and everything it execs) to the policy. Returns what the
/// kernel could not enforce; fails instead when the policy is `required`, when a path that is
/// not `optional` is missing, or when the kernel refuses the ruleset.
pub fn apply(policy: &LandlockPolicy, verbose: bool) -> Result<Report> {
    let report = check(policy);
    if policy.required && !report.unenforced.is_empty() {
        bail!(report.required_error());
    }
    if verbose {
        report.print(policy);
    }
    if report.abi == 0 || is_empty(policy) {
        return Ok(report);
    }
    // From the kernel's own number: the crate caps it at the newest ABI it knows.
    let abi = ABI::from(report.abi as i32);
    let ruleset = build(policy, abi, verbose)?;
    let status = ruleset
        .restrict_self()
        .context("landlock: restricting the command")?;
    if status.ruleset != RulesetStatus::FullyEnforced {
        bail!("landlock: the kernel did not enforce the ruleset ({status:?})");
    }
    Ok(report)
}

/// A policy that restricts nothing: creating a ruleset for it would fail (ENOMSG).
fn is_empty(policy: &LandlockPolicy) -> bool {
    policy.paths.is_empty()
        && policy.tcp_bind.is_none()
        && policy.tcp_connect.is_none()
        && !policy.scope_abstract_unix
        && !policy.scope_signals
}

/// The ruleset for `abi`, with every rule added. Only rights `abi` has are asked for, so the
/// crate runs in hard-requirement mode: a disagreement with our ABI table is an error, never a
/// silently weaker sandbox.
fn build(policy: &LandlockPolicy, abi: ABI, verbose: bool) -> Result<RulesetCreated> {
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    if !policy.paths.is_empty() {
        ruleset = ruleset.handle_access(AccessFs::from_all(abi))?;
    }
    let net = handled_net(policy, abi);
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    let scopes = scopes(policy, abi);
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes)?;
    }
    let mut created = ruleset.create().context("landlock: creating the ruleset")?;
    for rule in &policy.paths {
        created = add_path(created, rule, abi)?;
    }
    created = add_ports(created, policy, net)?;
    if verbose && abi >= ABI::V7 {
        // Denials of the command are otherwise not audited, because it runs after an exec.
        created = created.log_new_exec(true)?;
    }
    Ok(created)
}

fn handled_net(policy: &LandlockPolicy, abi: ABI) -> BitFlags<AccessNet> {
    let mut net = BitFlags::EMPTY;
    if policy.tcp_bind.is_some() {
        net |= AccessNet::BindTcp;
    }
    if policy.tcp_connect.is_some() {
        net |= AccessNet::ConnectTcp;
    }
    net & AccessNet::from_all(abi)
}

fn scopes(policy: &LandlockPolicy, abi: ABI) -> BitFlags<Scope> {
    let mut scopes = BitFlags::EMPTY;
    if policy.scope_abstract_unix {
        scopes |= Scope::AbstractUnixSocket;
    }
    if policy.scope_signals {
        scopes |= Scope::Signal;
    }
    scopes & Scope::from_all(abi)
}

fn add_ports(
    mut created: RulesetCreated,
    policy: &LandlockPolicy,
    handled: BitFlags<AccessNet>,
) -> Result<RulesetCreated> {
    let lists = [
        (AccessNet::BindTcp, &policy.tcp_bind),
        (AccessNet::ConnectTcp, &policy.tcp_connect),
    ];
    for (access, ports) in lists {
        if !handled.contains(access) {
            continue;
        }
        for &port in ports.iter().flatten() {
            created = created
                .add_rule(NetPort::new(port, access))
                .with_context(|| format!("landlock: TCP port {port}"))?;
        }
    }
    Ok(created)
}

/// The filesystem rights one kind of path rule grants on `abi`.
pub fn fs_rights(access: LandlockAccess, abi: ABI) -> BitFlags<AccessFs> {
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let all = AccessFs::from_all(abi);
    match access {
        LandlockAccess::ReadOnly => read,
        LandlockAccess::Execute => read | AccessFs::Execute,
        LandlockAccess::ReadWrite => all & !AccessFs::Execute,
        LandlockAccess::Full => all,
    }
}

fn grants_write(access: LandlockAccess) -> bool {
    matches!(access, LandlockAccess::ReadWrite | LandlockAccess::Full)
}

fn add_path(created: RulesetCreated, rule: &LandlockPath, abi: ABI) -> Result<RulesetCreated> {
    let Some(fd) = open_path(rule)? else {
        return Ok(created);
    };
    let mut rights = fs_rights(rule.access, abi);
    if !is_directory(&fd, &rule.path)? {
        // The kernel rejects directory-only rights (make, remove, read_dir) on a file.
        rights &= AccessFs::from_file(abi);
    }
    created
        .add_rule(PathBeneath::new(fd, rights))
        .with_context(|| format!("landlock: {}", rule.path.display()))
}

/// An O_PATH descriptor for the rule's path (symlinks followed, as the command would see it),
/// or `None` for a missing optional path.
fn open_path(rule: &LandlockPath) -> Result<Option<OwnedFd>> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    match nix::fcntl::open(rule.path.as_path(), flags, Mode::empty()) {
        Ok(raw) => {
            // SAFETY: open just returned this descriptor and nothing else owns it.
            Ok(Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) }))
        }
        Err(Errno::ENOENT | Errno::ENOTDIR) if rule.optional => Ok(None),
        Err(errno) => Err(path_error(&rule.path, errno)),
    }
}

fn path_error(path: &Path, errno: Errno) -> anyhow::Error {
    anyhow!("landlock: {}: {}", path.display(), errno.desc())
}

fn is_directory(fd: &OwnedFd, path: &Path) -> Result<bool> {
    let stat = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| path_error(path, e))?;
    Ok(stat.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// One line on what is enforced, for `--verbose`.
fn summary(policy: &LandlockPolicy, abi: u32) -> String {
    if abi == 0 {
        return "not available in this kernel: no rule is enforced".into();
    }
    let mut parts = vec![format!("{} path rules", policy.paths.len())];
    if let Some(ports) = &policy.tcp_bind {
        parts.push(format!("tcp_bind {ports:?}"));
    }
    if let Some(ports) = &policy.tcp_connect {
        parts.push(format!("tcp_connect {ports:?}"));
    }
    if policy.scope_abstract_unix {
        parts.push("abstract unix sockets scoped".into());
    }
    if policy.scope_signals {
        parts.push("signals scoped".into());
    }
    let mode = if policy.required {
        "required"
    } else {
        "best effort"
    };
    format!("ABI {abi}, {mode}: {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LandlockPath;

    fn policy_with_everything() -> LandlockPolicy {
        LandlockPolicy {
            paths: vec![
                LandlockPath {
                    path: "/usr".into(),
                    access: LandlockAccess::Execute,
                    optional: false,
                },
                LandlockPath {
                    path: "/tmp".into(),
                    access: LandlockAccess::ReadWrite,
                    optional: false,
                },
            ],
            tcp_bind: Some(vec![]),
            tcp_connect: Some(vec![443]),
            scope_abstract_unix: true,
            scope_signals: true,
            required: false,
        }
    }

    fn needs(report: &Report) -> Vec<&str> {
        report
            .unenforced
            .iter()
            .map(|line| line.split(" (").next().unwrap())
            .collect()
    }

    #[test]
    fn abi_7_enforces_everything_the_policy_asks() {
        let report = check_against(&policy_with_everything(), 7);
        assert!(report.unenforced.is_empty(), "{report:?}");
        assert_eq!(report.notes.len(), 1, "{report:?}");
        assert!(report.notes[0].contains("pathname unix sockets"));
    }

    #[test]
    fn abi_3_lacks_ports_ioctl_and_scopes() {
        let report = check_against(&policy_with_everything(), 3);
        assert_eq!(
            needs(&report),
            [
                "tcp_bind port rules",
                "tcp_connect port rules",
                "denying ioctl(2) on devices outside writable paths",
                "scope_abstract_unix",
                "scope_signals",
            ]
        );
    }

    #[test]
    fn abi_1_notes_that_refer_is_denied_everywhere() {
        let report = check_against(&policy_with_everything(), 1);
        assert!(report
            .notes
            .iter()
            .any(|n| n.contains("across directories")));
        assert!(needs(&report).contains(&"denying truncate(2) and O_TRUNC outside writable paths"));
    }

    #[test]
    fn no_landlock_means_nothing_is_enforced() {
        let report = check_against(&policy_with_everything(), 0);
        assert_eq!(report.unenforced.len(), 7, "{report:?}");
        assert!(report.notes.is_empty());
        let message = report.required_error();
        assert!(message
            .starts_with("landlock: required, but not enforceable (kernel Landlock ABI 0): "));
        assert!(!message.contains('\n'));
    }

    #[test]
    fn only_what_the_policy_uses_is_reported() {
        let scopes_only = LandlockPolicy {
            scope_signals: true,
            ..LandlockPolicy::default()
        };
        let report = check_against(&scopes_only, 5);
        assert_eq!(needs(&report), ["scope_signals"]);
        assert!(report.notes.is_empty());
    }

    #[test]
    fn a_narrower_rule_inside_a_broader_one_is_reported() {
        let rule = |path: &str, access| LandlockPath {
            path: path.into(),
            access,
            optional: false,
        };
        let policy = LandlockPolicy {
            paths: vec![
                rule("/", LandlockAccess::ReadOnly),
                rule("/usr", LandlockAccess::Execute),
                rule("/tmp", LandlockAccess::ReadWrite),
                rule("/tmp/data", LandlockAccess::ReadOnly),
                rule("/tmpfoo", LandlockAccess::ReadOnly),
                rule("/usr/lib", LandlockAccess::ReadOnly),
                rule("/srv", LandlockAccess::ReadWrite),
                rule("/srv", LandlockAccess::Execute),
            ],
            ..LandlockPolicy::default()
        };
        let report = check_against(&policy, 7);
        assert_eq!(
            report.unenforced,
            [
                "/tmp/data is read-only but inside /tmp, which is writable \
                 (Landlock rights add up along a path)",
                "/usr/lib is read-only but inside /usr, which is read and execute \
                 (Landlock rights add up along a path)",
                "/srv is listed as writable and as read and execute: it gets both",
                "/srv is listed as read and execute and as writable: it gets both",
            ]
        );
    }

    #[test]
    fn rights_follow_the_abi() {
        let rw3 = fs_rights(LandlockAccess::ReadWrite, ABI::V3);
        assert!(rw3.contains(AccessFs::Truncate | AccessFs::Refer | AccessFs::MakeReg));
        assert!(!rw3.contains(AccessFs::IoctlDev));
        assert!(!rw3.contains(AccessFs::Execute));
        assert!(fs_rights(LandlockAccess::ReadWrite, ABI::V5).contains(AccessFs::IoctlDev));
        assert_eq!(
            fs_rights(LandlockAccess::ReadOnly, ABI::V7),
            AccessFs::ReadFile | AccessFs::ReadDir
        );
        assert!(fs_rights(LandlockAccess::Execute, ABI::V7).contains(AccessFs::Execute));
        assert_eq!(
            fs_rights(LandlockAccess::Full, ABI::V7),
            AccessFs::from_all(ABI::V7)
        );
    }

    #[test]
    fn the_kernel_reports_an_abi() {
        // Informational: this machine has ABI 7; a kernel without Landlock gives None.
        if let Some(abi) = abi_version() {
            assert!(abi >= 1);
        }
    }
}
