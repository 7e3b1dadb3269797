//! Variables in profile paths and values: `${HOME}`, `${CWD}`, `${XDG_RUNTIME_DIR}`, `${UID}`,
//! `${GID}`, `${USER}`, `${APP}`, `${COMMAND_DIR}`; `$$` is a literal `$`.
//!
//! Templates are checked when a profile is parsed (so an unknown variable is reported at its
//! line and column) and expanded only when a plan is built, so `profile show` prints them as
//! written and the result stays portable.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Failure;

/// The variables a profile may use, in the order the manual lists them.
pub const KNOWN: &[&str] = &[
    "HOME",
    "CWD",
    "XDG_RUNTIME_DIR",
    "UID",
    "GID",
    "USER",
    "APP",
    "COMMAND_DIR",
];

/// Variables whose value is an absolute path, so a template may start with them.
const ABSOLUTE: &[&str] = &["HOME", "CWD", "XDG_RUNTIME_DIR", "COMMAND_DIR"];

/// Variables that may have no value at a launch: an entry with `try = true` that uses one
/// is then skipped, like one whose source is missing.
const MAY_BE_ABSENT: &[&str] = &["COMMAND_DIR"];

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits a template into text and variables, or says what is wrong with it.
fn pieces(raw: &str) -> std::result::Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        if at > 0 {
            out.push(Piece::Text(&rest[..at]));
        }
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push(Piece::Text("$"));
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unterminated variable in {raw:?}"))?;
            let name = &body[..end];
            if !KNOWN.contains(&name) {
                return Err(format!(
                    "unknown variable ${{{name}}} (known: {})",
                    KNOWN
                        .iter()
                        .map(|k| format!("${{{k}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            out.push(Piece::Var(name));
            rest = &body[end + 1..];
        } else {
            return Err(format!(
                "{raw:?}: '$' starts a variable such as ${{HOME}}; write $$ for a literal '$'"
            ));
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// A string that may contain variables (environment values, symlink targets).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Template(String);

impl Template {
    pub fn parse(raw: &str) -> std::result::Result<Template, String> {
        pieces(raw)?;
        Ok(Template(raw.to_string()))
    }

    /// The template as written.
    pub fn raw(&self) -> &str {
        &self.0
    }

    pub fn expand(&self, vars: &Vars) -> Result<String> {
        // Most paths of a profile are plain (`/usr`, `/etc/passwd`): without a `$` the
        // template is its own text, with no pieces to split (one allocation instead of three).
        if !self.0.contains('$') {
            return Ok(self.0.clone());
        }
        let mut out = String::with_capacity(self.0.len());
        // Checked at parse time, so this cannot fail on syntax.
        for piece in pieces(&self.0).map_err(|e| anyhow!(Failure::setup(e)))? {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(name) => out.push_str(&vars.get(name)?),
            }
        }
        Ok(out)
    }
}

/// An absolute path that may contain variables: it starts with `/` or with a variable whose
/// value is an absolute path, and has no `..` component (which could climb out of the root).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathTemplate(Template);

impl PathTemplate {
    pub fn parse(raw: &str) -> std::result::Result<PathTemplate, String> {
        let template = Template::parse(raw)?;
        let starts_absolute = raw.starts_with('/')
            || ABSOLUTE
                .iter()
                .any(|v| raw.starts_with(&format!("${{{v}}}")));
        if !starts_absolute {
            return Err(format!(
                "{raw:?} is not an absolute path (start it with / or ${{HOME}}, ${{CWD}}, \
${{XDG_RUNTIME_DIR}}, ${{COMMAND_DIR}})"
            ));
        }
        if raw.split('/').any(|c| c == "..") {
            return Err(format!("{raw:?} contains '..'"));
        }
        Ok(PathTemplate(template))
    }

    pub fn raw(&self) -> &str {
        self.0.raw()
    }

    /// The path as written without a trailing slash, for comparing destinations.
    pub fn normalized(&self) -> &str {
        let raw = self.raw();
        match raw.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        }
    }

    /// Whether this path is `other` or lies below it (compared as written).
    pub fn is_at_or_below(&self, other: &PathTemplate) -> bool {
        let (me, base) = (self.normalized(), other.normalized());
        me == base || base == "/" || me.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
    }

    pub fn expand(&self, vars: &Vars) -> Result<String> {
        self.0.expand(vars)
    }

    /// The expanded path, or `None` when a variable that may be absent (`${COMMAND_DIR}`)
    /// has no value at this launch.
    pub fn expand_if_present(&self, vars: &Vars) -> Result<Option<String>> {
        let absent = pieces(self.raw())
            .unwrap_or_default()
            .iter()
            .any(|p| matches!(p, Piece::Var(name) if MAY_BE_ABSENT.contains(name) && vars.is_absent(name)));
        if absent {
            return Ok(None);
        }
        self.expand(vars).map(Some)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw())
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        super::schema::parse_str(d, Template::parse)
    }
}

impl<'de> Deserialize<'de> for PathTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        super::schema::parse_str(d, PathTemplate::parse)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Serialize for PathTemplate {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.raw())
    }
}

/// Variable values, computed on first use: most launches need only one or two of them, and
/// `${USER}` or `${HOME}` may need a passwd lookup.
pub struct Vars {
    app: Option<String>,
    command: Option<std::ffi::OsString>,
    /// `${COMMAND_DIR}`, looked for once: whether it has a value decides entries, then
    /// their paths and checks use it (stats and a getcwd each time otherwise).
    command_dir: OnceCell<Option<String>>,
    chdir: Option<std::path::PathBuf>,
    fixed: BTreeMap<String, String>,
    cache: BTreeMap<&'static str, OnceCell<String>>,
}

impl Vars {
    /// The caller's values; `app` is the application name for `${APP}` (from `--app`).
    pub fn from_caller(app: Option<String>) -> Vars {
        Vars {
            app,
            command: None,
            command_dir: OnceCell::new(),
            chdir: None,
            fixed: BTreeMap::new(),
            cache: KNOWN.iter().map(|k| (*k, OnceCell::new())).collect(),
        }
    }

    /// Fixed values, for tests and for showing plans without the caller's environment.
    pub fn fixed(values: &[(&str, &str)]) -> Vars {
        let mut vars = Vars::from_caller(None);
        vars.fixed = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars
    }

    /// The command the sandbox will run (its first word as given), for `${COMMAND_DIR}`.
    pub fn with_command(mut self, command: &std::ffi::OsStr) -> Vars {
        self.command = Some(command.to_owned());
        self
    }

    /// The working directory the caller asked for (`--chdir DIR`), which `${CWD}` then names:
    /// the project is where the command starts, not where stockade happened to be started.
    pub fn with_chdir(mut self, dir: &std::path::Path) -> Vars {
        self.chdir = Some(dir.to_owned());
        self
    }

    /// Whether `name` has no value at this launch (only variables in `MAY_BE_ABSENT` can).
    fn is_absent(&self, name: &str) -> bool {
        !self.fixed.contains_key(name)
            && name == "COMMAND_DIR"
            && self.command.is_some()
            && self.command_dir().is_none()
    }

    /// The directory of the command when it is given as a path to an existing file (cargo's
    /// runners get the test binary's absolute path): resolved against the working directory
    /// (`--chdir`'s when given),
    /// not through symlinks, so that it names the path the command is run by. When that
    /// directory is cargo's `deps` (next to `.fingerprint` in a profile directory such as
    /// `target/debug`), the profile directory: integration tests also run the package's own
    /// binaries from there (`CARGO_BIN_EXE_*`). A bare name is looked up in `PATH` inside
    /// the sandbox, so it has none.
    fn command_dir(&self) -> Option<String> {
        self.command_dir
            .get_or_init(|| self.find_command_dir())
            .clone()
    }

    fn find_command_dir(&self) -> Option<String> {
        let command = std::path::Path::new(self.command.as_deref()?);
        if !command.as_os_str().as_encoded_bytes().contains(&b'/') {
            return None;
        }
        // A relative command is run from the working directory inside: --chdir's, if given.
        let path = crate::plan::working_dir_on_host(self.chdir.as_deref())?.join(command);
        if !path.is_file() {
            return None;
        }
        let mut dir = std::path::absolute(path.parent()?).ok()?;
        if dir
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            // A destination may not contain `..`: name the directory it leads to.
            dir = dir.canonicalize().ok()?;
        }
        let dir = match dir.parent() {
            Some(up) if dir.ends_with("deps") && up.join(".fingerprint").is_dir() => {
                up.to_path_buf()
            }
            _ => dir,
        };
        Some(dir.to_string_lossy().into_owned())
    }

    pub fn get(&self, name: &str) -> Result<String> {
        if let Some(v) = self.fixed.get(name) {
            return Ok(v.clone());
        }
        let cell = self
            .cache
            .get(name)
            .ok_or_else(|| anyhow!(Failure::setup(format!("unknown variable ${{{name}}}"))))?;
        if let Some(v) = cell.get() {
            return Ok(v.clone());
        }
        let value = self.compute(name)?;
        Ok(cell.get_or_init(|| value).clone())
    }

    fn compute(&self, name: &str) -> Result<String> {
        let uid = nix::unistd::getuid();
        let unavailable =
            |why: &str| anyhow!(Failure::setup(format!("variable ${{{name}}}: {why}")));
        match name {
            "HOME" => env_nonempty("HOME")
                .or_else(|| passwd_entry(uid).map(|u| u.home))
                .ok_or_else(|| unavailable("$HOME is unset and the passwd entry has none")),
            "USER" => env_nonempty("USER")
                .or_else(|| passwd_entry(uid).map(|u| u.name))
                .ok_or_else(|| unavailable("$USER is unset and the passwd entry has none")),
            "CWD" => match &self.chdir {
                // A relative --chdir is taken inside the sandbox, not from the caller's
                // directory: only an absolute one names a host directory.
                Some(dir) if dir.is_absolute() => {
                    if !dir.is_dir() {
                        return Err(anyhow!(Failure::setup(format!(
                            "--chdir {}: not a directory on the host, and the profile binds \
                             the working directory (${{CWD}}) from the host",
                            dir.display()
                        ))));
                    }
                    Ok(dir.to_string_lossy().into_owned())
                }
                _ => std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .map_err(|e| unavailable(&format!("the working directory: {e}"))),
            },
            // The XDG Base Directory default location on systemd hosts.
            "XDG_RUNTIME_DIR" => {
                Ok(env_nonempty("XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{uid}")))
            }
            "UID" => Ok(uid.to_string()),
            "GID" => Ok(nix::unistd::getgid().to_string()),
            // Without an application name, one shared "default" app rather than an empty
            // component, which would turn a per-app path into the parent of every app's.
            "APP" => Ok(self.app.clone().unwrap_or_else(|| "default".into())),
            // Without a command (`profile show`, `profile check`, `seccomp export`) the plan
            // is only looked at: a stand-in that names no host directory.
            "COMMAND_DIR" if self.command.is_none() => Ok("/COMMAND_DIR".into()),
            "COMMAND_DIR" => self.command_dir().ok_or_else(|| {
                unavailable(
                    "the command is not given as a path to a file \
                     (an entry that uses it needs try = true)",
                )
            }),
            _ => Err(unavailable("unknown")),
        }
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub struct PasswdEntry {
    pub name: String,
    pub home: String,
}

/// The caller's line of /etc/passwd, read directly: stockade is linked statically, where
/// glibc's NSS (getpwuid) would have to load modules at run time. Only a fallback for when
/// $HOME or $USER is unset.
pub fn passwd_entry(uid: nix::unistd::Uid) -> Option<PasswdEntry> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse::<u32>().ok()? == uid.as_raw()).then(|| PasswdEntry {
            name: fields[0].to_string(),
            home: fields[5].to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::fixed(&[("HOME", "/home/u"), ("CWD", "/src/p"), ("APP", "")])
    }

    #[test]
    fn expands_known_variables_and_dollar_escape() {
        let t = Template::parse("${HOME}/a$$b/${CWD}").unwrap();
        assert_eq!(t.expand(&vars()).unwrap(), "/home/u/a$b//src/p");
    }

    #[test]
    fn empty_app_expands_to_empty() {
        let t = Template::parse("x${APP}y").unwrap();
        assert_eq!(t.expand(&vars()).unwrap(), "xy");
    }

    #[test]
    fn app_defaults_to_default_without_a_name() {
        let v = Vars::from_caller(None);
        assert_eq!(v.get("APP").unwrap(), "default");
        let v = Vars::from_caller(Some("firefox".into()));
        assert_eq!(v.get("APP").unwrap(), "firefox");
    }

    #[test]
    fn uid_matches_the_caller() {
        let v = Vars::from_caller(None);
        assert_eq!(v.get("UID").unwrap(), nix::unistd::getuid().to_string());
    }

    #[test]
    fn unknown_variable_is_named() {
        let e = Template::parse("${HOMEDIR}/x").unwrap_err();
        assert!(e.starts_with("unknown variable ${HOMEDIR}"), "{e}");
    }

    #[test]
    fn bare_dollar_and_unterminated_are_errors() {
        assert!(Template::parse("$HOME").unwrap_err().contains("write $$"));
        assert!(Template::parse("${HOME")
            .unwrap_err()
            .contains("unterminated"));
    }

    #[test]
    fn paths_must_be_absolute_and_stay_inside() {
        assert!(PathTemplate::parse("/usr").is_ok());
        assert!(PathTemplate::parse("${HOME}/.cargo").is_ok());
        assert!(PathTemplate::parse("${USER}/x")
            .unwrap_err()
            .contains("not an absolute path"));
        assert!(PathTemplate::parse("relative").is_err());
        assert!(PathTemplate::parse("/a/../b").unwrap_err().contains(".."));
    }

    #[test]
    fn below_compares_components() {
        let p = |s| PathTemplate::parse(s).unwrap();
        assert!(p("/home/u").is_at_or_below(&p("/home")));
        assert!(p("/home/").is_at_or_below(&p("/home")));
        assert!(!p("/homework").is_at_or_below(&p("/home")));
        assert!(p("/x").is_at_or_below(&p("/")));
    }

    /// A scratch tree for the command tests, removed at the end.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn command_dir_is_the_directory_of_a_command_given_by_path() {
        let base = std::env::temp_dir().join(format!("stockade-vars-{}", std::process::id()));
        let _scratch = Scratch(base.clone());
        let debug = base.join("target/debug");
        std::fs::create_dir_all(debug.join("deps")).unwrap();
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::write(debug.join("deps/t-0123"), b"").unwrap();
        std::fs::write(base.join("bin/tool"), b"").unwrap();
        let dir = |command: &str| {
            Vars::from_caller(None)
                .with_command(std::ffi::OsStr::new(command))
                .command_dir()
        };
        let at = |p: &std::path::Path| Some(p.to_string_lossy().into_owned());
        assert_eq!(
            dir(base.join("bin/tool").to_str().unwrap()),
            at(&base.join("bin"))
        );
        // cargo's deps only next to .fingerprint: then the profile directory above it.
        assert_eq!(
            dir(debug.join("deps/t-0123").to_str().unwrap()),
            at(&debug.join("deps"))
        );
        std::fs::create_dir(debug.join(".fingerprint")).unwrap();
        assert_eq!(dir(debug.join("deps/t-0123").to_str().unwrap()), at(&debug));
        // `..` is resolved, as a destination may not contain it.
        let up = base.join("bin/../bin/tool");
        assert_eq!(
            dir(up.to_str().unwrap()),
            at(&base.join("bin").canonicalize().unwrap())
        );
        // A bare name, a missing file or a directory: no value, and `try` entries skip.
        assert_eq!(dir("sh"), None);
        assert_eq!(dir(base.join("bin/missing").to_str().unwrap()), None);
        assert_eq!(dir(base.join("bin").to_str().unwrap()), None);
        let vars = Vars::from_caller(None).with_command(std::ffi::OsStr::new("sh"));
        let t = PathTemplate::parse("${COMMAND_DIR}").unwrap();
        assert_eq!(t.expand_if_present(&vars).unwrap(), None);
        assert!(t
            .expand(&vars)
            .unwrap_err()
            .to_string()
            .contains("try = true"));
        // Without a command (profile show and check), a stand-in that names nothing real.
        let none = Vars::from_caller(None);
        assert_eq!(
            t.expand_if_present(&none).unwrap().as_deref(),
            Some("/COMMAND_DIR")
        );
    }
}
