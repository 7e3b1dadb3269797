//! The profile file format: what a `.toml` profile may contain, as serde types.
//!
//! The same types describe one file and a fully merged profile (`profile show` serializes
//! them back). Unknown keys are errors everywhere (`deny_unknown_fields`); values with their own
//! syntax (paths with variables, modes, sizes, durations, limits) are checked while parsing so
//! that their errors carry the value's line and column. Fields that later checks need to point
//! at are `Spanned`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Spanned;

use super::vars::{PathTemplate, Template};

/// One profile file (or a merged profile).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// One line for `profile list`.
    pub description: Option<String>,
    /// The profile this one starts from.
    pub extends: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "hostname")]
    pub hostname: Option<String>,
    #[serde(default, deserialize_with = "mappable_id")]
    pub uid: Option<u32>,
    #[serde(default, deserialize_with = "mappable_id")]
    pub gid: Option<u32>,
    pub net: Option<Net>,
    pub new_session: Option<bool>,
    pub die_with_parent: Option<bool>,
    /// What to do where no user namespace can be created: refuse (`none`) or run confined by
    /// Landlock, seccomp and rlimits only (`landlock`).
    pub fallback: Option<Fallback>,
    pub chdir: Option<PathTemplate>,
    /// Inherited filesystem operations to drop: those whose destination is one of these or
    /// lies below it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fs_remove: Vec<Spanned<PathTemplate>>,
    pub namespaces: Option<NamespacesTable>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fs: Vec<Spanned<FsEntry>>,
    /// In a merged profile, the chain index of the layer each `fs` entry came from: spans
    /// are offsets into one file, and a problem found after merging must name that file.
    #[serde(skip)]
    pub fs_layers: Vec<usize>,
    pub env: Option<EnvTable>,
    pub limits: Option<LimitsTable>,
    pub seccomp: Option<SeccompTable>,
    pub landlock: Option<LandlockTable>,
    /// Display and sound servers whose sockets the launcher binds when they are running:
    /// `x11`, `wayland`, `audio`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sockets: Vec<SocketKind>,
    pub dbus: Option<DbusTable>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketKind {
    X11,
    Wayland,
    Audio,
}

/// `[dbus]`: the session bus through xdg-dbus-proxy, filtered to these names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DbusTable {
    /// `false` turns an inherited proxy off (and unsets the bus address).
    pub enabled: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bus_names"
    )]
    pub talk: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bus_names"
    )]
    pub own: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bus_names"
    )]
    pub see: Vec<String>,
    /// `NAME=RULE` call rules.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bus_rules"
    )]
    pub call: Vec<String>,
    /// `NAME=RULE` broadcast rules.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "bus_rules"
    )]
    pub broadcast: Vec<String>,
    /// The socket's path inside (default `/run/user/<uid>/bus`).
    pub socket: Option<PathTemplate>,
    /// xdg-dbus-proxy logs what it filters, on stderr.
    pub log: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    None,
    Landlock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Net {
    None,
    Host,
    Pasta,
}

/// Namespaces besides user and mount (always created) and net (follows `net`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamespacesTable {
    pub pid: Option<bool>,
    pub uts: Option<bool>,
    pub ipc: Option<bool>,
    pub cgroup: Option<bool>,
}

/// The kinds of `[[fs]]` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsKind {
    RoBind,
    Bind,
    DevBind,
    /// A launch-time snapshot of a small host file (see `FsOp::Copy`).
    Copy,
    Tmpfs,
    Dir,
    Symlink,
    Proc,
    Dev,
    Mqueue,
    RemountRo,
    File,
    Chmod,
    /// The host path as the host has it: a symlink becomes the same symlink, a directory a
    /// read-only bind, anything else nothing (for /bin, /lib... on merged-/usr hosts).
    Mirror,
}

impl FsKind {
    /// The name as written in a profile.
    pub fn name(self) -> &'static str {
        use FsKind::*;
        match self {
            RoBind => "ro-bind",
            Bind => "bind",
            DevBind => "dev-bind",
            Copy => "copy",
            Tmpfs => "tmpfs",
            Dir => "dir",
            Symlink => "symlink",
            Proc => "proc",
            Dev => "dev",
            Mqueue => "mqueue",
            RemountRo => "remount-ro",
            File => "file",
            Chmod => "chmod",
            Mirror => "mirror",
        }
    }
}

/// One `[[fs]]` entry. Which fields a kind takes is checked after parsing (`validate`), so
/// that a misplaced field is reported at its own line.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FsEntry {
    #[serde(rename = "type")]
    pub kind: Spanned<FsKind>,
    pub src: Option<Spanned<PathTemplate>>,
    pub dest: Option<Spanned<PathTemplate>>,
    pub target: Option<Spanned<Template>>,
    #[serde(rename = "try")]
    pub optional: Option<Spanned<bool>>,
    pub mode: Option<Spanned<Mode>>,
    pub size: Option<Spanned<Size>>,
    pub contents: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvTable {
    /// Start from an empty environment.
    pub clear: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<EnvName, Template>,
    /// Names, or patterns with `*` (any run of characters, letters in either case) that
    /// unset every inherited variable they match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<Spanned<EnvPattern>>,
    /// Inherited `set` and `unset` entries to drop (a pattern as it was written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<Spanned<EnvPattern>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsTable {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rlimits: BTreeMap<RlimitName, Rlimit>,
    #[serde(default, deserialize_with = "positive")]
    pub timeout: Option<Duration>,
    pub kill_after: Option<Duration>,
    #[serde(default, deserialize_with = "positive")]
    pub memory: Option<Size>,
    #[serde(default, deserialize_with = "positive")]
    pub pids: Option<u64>,
    pub cpus: Option<Cpus>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeccompTable {
    /// `false` turns an inherited filter off.
    pub enabled: Option<bool>,
    /// Groups and syscall names; `!name` removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_eperm: Vec<Spanned<String>>,
    pub default_action: Option<Action>,
    pub allow_namespaces: Option<bool>,
    /// Address families; `!name` removes an inherited one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_families: Option<Vec<Spanned<FamilyEntry>>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Enosys,
    Eperm,
    Kill,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LandlockTable {
    /// `false` turns inherited rules off.
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<LandlockEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<LandlockEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub execute: Vec<LandlockEntry>,
    /// Inherited paths to drop from read, write and execute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<Spanned<PathTemplate>>,
    pub tcp_bind: Option<Vec<u16>>,
    pub tcp_connect: Option<Vec<u16>>,
    pub scope_abstract_unix: Option<bool>,
    pub scope_signals: Option<bool>,
    pub required: Option<bool>,
}

/// Parses a value from a string, with a message for the user.
trait FromProfileStr: Sized {
    fn from_profile_str(s: &str) -> Result<Self, String>;
}

/// Deserializes a string through `parse`. The parse runs inside the visitor so that its error
/// gets the span of the value itself, also for an element of an array.
pub fn parse_str<'de, D, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T>(fn(&str) -> Result<T, String>);
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
    }
    d.deserialize_str(V(parse))
}

/// A string-typed value with its own syntax, checked while parsing.
macro_rules! string_value {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                parse_str(d, <$t>::from_profile_str)
            }
        }
    };
}

/// One D-Bus name, checked where it is written (the error then points at the entry).
struct BusName(String);

impl FromProfileStr for BusName {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        crate::sandbox::dbus::check_name(s).map(|()| BusName(s.to_string()))
    }
}
string_value!(BusName);

fn bus_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<BusName>::deserialize(d)?
        .into_iter()
        .map(|n| n.0)
        .collect())
}

/// One `NAME=RULE` D-Bus rule, checked where it is written.
struct BusRule(String);

impl FromProfileStr for BusRule {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        crate::sandbox::dbus::check_rule(s).map(|()| BusRule(s.to_string()))
    }
}
string_value!(BusRule);

fn bus_rules<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<BusRule>::deserialize(d)?
        .into_iter()
        .map(|r| r.0)
        .collect())
}

/// A permission mode, written as an octal string such as "0755".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl FromProfileStr for Mode {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        u32::from_str_radix(s, 8)
            .ok()
            .filter(|m| !s.is_empty() && s.len() <= 4 && *m <= 0o7777)
            .map(Mode)
            .ok_or_else(|| format!("mode {s:?}: expected an octal string such as \"0755\""))
    }
}
string_value!(Mode);

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

/// A name from `[A-Za-z_][A-Za-z0-9_]*`, the names a shell can set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EnvName(pub String);

impl FromProfileStr for EnvName {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Ok(EnvName(s.to_string()))
        } else {
            Err(format!("{s:?} is not a valid environment variable name"))
        }
    }
}
string_value!(EnvName);

/// An environment variable name, or a pattern of name characters and `*`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EnvPattern(pub String);

impl EnvPattern {
    /// The name it is, when it has no `*`.
    pub fn as_name(&self) -> Option<EnvName> {
        (!self.is_pattern()).then(|| EnvName(self.0.clone()))
    }

    pub fn is_pattern(&self) -> bool {
        self.0.contains('*')
    }

    /// Whether it takes the variable `name`: a name only itself, exactly (as the plan's
    /// `Unset` does), a pattern what it matches.
    pub fn takes(&self, name: &EnvName) -> bool {
        match self.is_pattern() {
            true => crate::plan::name_matches(&self.0, name.0.as_bytes()),
            false => self.0 == name.0,
        }
    }
}

impl FromProfileStr for EnvPattern {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        if !s.contains('*') {
            return EnvName::from_profile_str(s).map(|n| EnvPattern(n.0));
        }
        let name_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '*');
        if name_chars && s.chars().any(|c| c != '*') {
            Ok(EnvPattern(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a variable name or a pattern of name characters and '*'"
            ))
        }
    }
}
string_value!(EnvPattern);

/// Visits an integer or a string, for values that accept both spellings.
fn int_or_str<'de, D, T>(
    d: D,
    expecting: &'static str,
    from_int: fn(i64) -> Result<T, String>,
    from_str: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T> {
        expecting: &'static str,
        from_int: fn(i64) -> Result<T, String>,
        from_str: fn(&str) -> Result<T, String>,
    }
    impl<T> serde::de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            (self.from_int)(v).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            let v = i64::try_from(v).map_err(|_| E::custom("number too large"))?;
            (self.from_int)(v).map_err(E::custom)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            (self.from_str)(v).map_err(E::custom)
        }
    }
    d.deserialize_any(V {
        expecting,
        from_int,
        from_str,
    })
}

fn hostname<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    crate::plan::check_hostname(&name).map_err(serde::de::Error::custom)?;
    Ok(Some(name))
}

/// (uid_t)-1 means "no id" to every syscall that takes one: refused where it is written
/// rather than at launch, where only the flag's name would be at hand.
fn mappable_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match u32::deserialize(d)? {
        u32::MAX => Err(serde::de::Error::custom(
            "4294967295 cannot be mapped (reserved id)",
        )),
        id => Ok(Some(id)),
    }
}

/// Limits where zero means nothing useful (a timeout that ends every command at once, no
/// memory, no processes): refused at the value.
fn positive<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let value = T::deserialize(d)?;
    if value == T::default() {
        return Err(serde::de::Error::custom("expected a value greater than 0"));
    }
    Ok(Some(value))
}

fn non_negative(v: i64) -> Result<u64, String> {
    u64::try_from(v).map_err(|_| format!("{v} is negative"))
}

/// A size in bytes: an integer, or a string with a K, M or G suffix (powers of 1024).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size(pub u64);

fn parse_size(s: &str) -> Result<Size, String> {
    let bad = || format!("size {s:?}: expected bytes, or a number with K, M or G");
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).map(Size).ok_or_else(bad)
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int_or_str(
            d,
            "a size in bytes",
            |v| non_negative(v).map(Size),
            parse_size,
        )
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// A duration: seconds as an integer, or a string such as "500ms", "90s", "10m", "2h".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Duration {
    pub ms: u64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::sandbox::limits::duration_ms(s)
        .map(|ms| Duration { ms })
        .ok_or_else(|| format!("duration {s:?}: expected a number with ms, s, m, h or d"))
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int_or_str(
            d,
            "a duration",
            |v| {
                non_negative(v).map(|s| Duration {
                    ms: s.saturating_mul(1000),
                })
            },
            parse_duration,
        )
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The largest unit that shows the value exactly.
        let unit = [(3_600_000, "h"), (60_000, "m"), (1000, "s")]
            .into_iter()
            .find(|(scale, _)| self.ms != 0 && self.ms % scale == 0);
        let text = match unit {
            Some((scale, name)) => format!("{}{name}", self.ms / scale),
            None => format!("{}ms", self.ms),
        };
        s.serialize_str(&text)
    }
}

/// A number of CPUs (fractions allowed), greater than zero.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v > 0.0 && v.is_finite() {
            Ok(Cpus(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "cpus {v}: expected a number greater than 0"
            )))
        }
    }
}

/// The resources setrlimit(2) takes, by the names `ulimit` and prlimit(1) use.
pub const RLIMIT_NAMES: &[&str] = &[
    "as", "core", "cpu", "data", "fsize", "memlock", "nofile", "nproc", "stack",
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RlimitName(pub String);

impl FromProfileStr for RlimitName {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        if RLIMIT_NAMES.contains(&s) {
            Ok(RlimitName(s.to_string()))
        } else {
            Err(format!(
                "unknown rlimit {s:?} (known: {})",
                RLIMIT_NAMES.join(", ")
            ))
        }
    }
}
string_value!(RlimitName);

/// Soft and hard values; `u64::MAX` is "unlimited".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub soft: u64,
    pub hard: u64,
}

pub const UNLIMITED: u64 = u64::MAX;

fn rlimit_value(s: &str) -> Option<u64> {
    match s.trim() {
        "unlimited" | "infinity" => Some(UNLIMITED),
        n => n.parse().ok().filter(|&n| n != UNLIMITED),
    }
}

/// "SOFT:HARD" or a single value for both (so the command cannot raise it again).
fn parse_rlimit(s: &str) -> Result<Rlimit, String> {
    let bad = || format!("rlimit {s:?}: expected N, \"SOFT:HARD\" or \"unlimited\"");
    let (soft, hard) = s.split_once(':').unwrap_or((s, s));
    let (soft, hard) = (
        rlimit_value(soft).ok_or_else(bad)?,
        rlimit_value(hard).ok_or_else(bad)?,
    );
    if soft > hard {
        return Err(format!(
            "rlimit {s:?}: the soft limit is above the hard limit"
        ));
    }
    Ok(Rlimit { soft, hard })
}

impl<'de> Deserialize<'de> for Rlimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int_or_str(
            d,
            "an rlimit value",
            |v| non_negative(v).map(|n| Rlimit { soft: n, hard: n }),
            parse_rlimit,
        )
    }
}

impl Serialize for Rlimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let show = |v: u64| {
            if v == UNLIMITED {
                "unlimited".to_string()
            } else {
                v.to_string()
            }
        };
        if self.soft == self.hard && self.soft != UNLIMITED && i64::try_from(self.soft).is_ok() {
            s.serialize_u64(self.soft)
        } else {
            s.serialize_str(&format!("{}:{}", show(self.soft), show(self.hard)))
        }
    }
}

/// Socket address families a profile may allow, with their AF_* numbers.
pub const FAMILIES: &[(&str, i32)] = &[
    ("unix", libc::AF_UNIX),
    ("inet", libc::AF_INET),
    ("inet6", libc::AF_INET6),
    ("netlink", libc::AF_NETLINK),
    ("packet", libc::AF_PACKET),
    ("vsock", libc::AF_VSOCK),
];

/// `"inet"` adds a family, `"!inet"` removes an inherited one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyEntry {
    pub remove: bool,
    pub name: String,
}

impl FamilyEntry {
    pub fn number(&self) -> i32 {
        FAMILIES
            .iter()
            .find(|(n, _)| *n == self.name)
            .map(|(_, af)| *af)
            .expect("checked while parsing")
    }
}

impl FromProfileStr for FamilyEntry {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        let (remove, name) = match s.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if FAMILIES.iter().any(|(n, _)| *n == name) {
            Ok(FamilyEntry {
                remove,
                name: name.to_string(),
            })
        } else {
            let known: Vec<&str> = FAMILIES.iter().map(|(n, _)| *n).collect();
            Err(format!(
                "unknown socket family {name:?} (known: {})",
                known.join(", ")
            ))
        }
    }
}
string_value!(FamilyEntry);

impl Serialize for FamilyEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let bang = if self.remove { "!" } else { "" };
        s.serialize_str(&format!("{bang}{}", self.name))
    }
}

/// A Landlock path; a leading `-` makes it optional (skipped when missing in the sandbox), as
/// in systemd's `ReadOnlyPaths=-/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockEntry {
    pub optional: bool,
    pub path: PathTemplate,
}

impl FromProfileStr for LandlockEntry {
    fn from_profile_str(s: &str) -> Result<Self, String> {
        let (optional, path) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        Ok(LandlockEntry {
            optional,
            path: PathTemplate::parse(path)?,
        })
    }
}
string_value!(LandlockEntry);

impl Serialize for LandlockEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dash = if self.optional { "-" } else { "" };
        s.serialize_str(&format!("{dash}{}", self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_strings() {
        assert_eq!(Mode::from_profile_str("1777").unwrap(), Mode(0o1777));
        assert_eq!(Mode::from_profile_str("0700").unwrap(), Mode(0o700));
        assert!(Mode::from_profile_str("0789").is_err());
        assert!(Mode::from_profile_str("17777").is_err());
        assert!(Mode::from_profile_str("").is_err());
    }

    #[test]
    fn sizes_accept_suffixes() {
        assert_eq!(parse_size("64M").unwrap(), Size(64 << 20));
        assert_eq!(parse_size("1g").unwrap(), Size(1 << 30));
        assert_eq!(parse_size("4096").unwrap(), Size(4096));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("500ms").unwrap().ms, 500);
        assert_eq!(parse_duration("90s").unwrap().ms, 90_000);
        assert_eq!(parse_duration("1.5m").unwrap().ms, 90_000);
        assert_eq!(parse_duration("2h").unwrap().ms, 7_200_000);
        assert!(parse_duration("3 days").is_err());
    }

    #[test]
    fn durations_print_in_the_largest_exact_unit() {
        let show = |ms| toml::Value::try_from(Duration { ms }).unwrap().to_string();
        assert_eq!(show(1_800_000), "\"30m\"");
        assert_eq!(show(90_000), "\"90s\"");
        assert_eq!(show(7_200_000), "\"2h\"");
        assert_eq!(show(1500), "\"1500ms\"");
        assert_eq!(show(0), "\"0ms\"");
    }

    #[test]
    fn rlimits_take_one_or_two_values() {
        assert_eq!(
            parse_rlimit("1024:4096").unwrap(),
            Rlimit {
                soft: 1024,
                hard: 4096
            }
        );
        assert_eq!(parse_rlimit("unlimited").unwrap().hard, UNLIMITED);
        assert!(parse_rlimit("10:5").unwrap_err().contains("above the hard"));
        assert!(parse_rlimit("lots").is_err());
    }

    #[test]
    fn env_names_are_shell_names() {
        assert!(EnvName::from_profile_str("LANG").is_ok());
        assert!(EnvName::from_profile_str("_x1").is_ok());
        assert!(EnvName::from_profile_str("1X").is_err());
        assert!(EnvName::from_profile_str("A=B").is_err());
    }

    #[test]
    fn fs_kind_names_match_their_serde_names() {
        use FsKind::*;
        for kind in [
            RoBind, Bind, DevBind, Copy, Tmpfs, Dir, Symlink, Proc, Dev, Mqueue, RemountRo, File,
            Chmod, Mirror,
        ] {
            let serde_name = toml::Value::try_from(kind).unwrap();
            assert_eq!(serde_name.as_str(), Some(kind.name()));
        }
    }

    #[test]
    fn families_and_landlock_entries_keep_their_prefix() {
        let f = FamilyEntry::from_profile_str("!netlink").unwrap();
        assert!(f.remove);
        assert_eq!(f.number(), libc::AF_NETLINK);
        assert!(FamilyEntry::from_profile_str("ipx").is_err());
        let l = LandlockEntry::from_profile_str("-/opt/x").unwrap();
        assert!(l.optional);
        assert_eq!(l.path.raw(), "/opt/x");
    }
}
