//! Where profiles come from: a path, the user's and the system's directories, and the
//! profiles built into the binary.
//!
//! A launch reads only the files it needs: for a name, at most one failed open per directory
//! before the built-in copy. Only `profile list` reads the directories.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::error::Failure;

/// Where a profile was found, in lookup order: earlier origins win.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Named by a path (`--profile ./x.toml`, `profile check FILE`, `extends = "./base.toml"`).
    Path,
    /// `$XDG_CONFIG_HOME/stockade/profiles` (default `~/.config/...`).
    User,
    /// `/etc/stockade/profiles`.
    System,
    /// Compiled into the binary from the repository's `profiles/`.
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Path => "file",
            Origin::User => "user",
            Origin::System => "system",
            Origin::BuiltIn => "built-in",
        })
    }
}

/// One profile's text and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The profile's name (the file name without `.toml`).
    pub name: String,
    pub origin: Origin,
    /// How errors name the file: its path, or `(built-in)/NAME.toml`.
    pub file: String,
    /// The directory relative `extends` paths start from.
    pub dir: Option<PathBuf>,
    pub text: Cow<'static, str>,
}

/// The built-in profiles, embedded at compile time.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../../profiles/default.toml")),
    ("build", include_str!("../../profiles/build.toml")),
    ("test", include_str!("../../profiles/test.toml")),
    ("desktop", include_str!("../../profiles/desktop.toml")),
];

/// Finds profiles by name or path.
pub trait Catalog {
    /// The profile called `name` from the first origin after `after` (all origins when
    /// `None`) that has one.
    fn find(&self, name: &str, after: Option<Origin>) -> Result<Option<Source>>;
    /// The profile in the file at `path`.
    fn read_path(&self, path: &Path) -> Result<Source>;
}

/// The real places on this host.
pub struct HostCatalog {
    pub user_dir: Option<PathBuf>,
    pub system_dir: PathBuf,
}

impl HostCatalog {
    pub fn new() -> HostCatalog {
        HostCatalog {
            user_dir: user_profile_dir(),
            system_dir: PathBuf::from("/etc/stockade/profiles"),
        }
    }

    /// The directories to search, in order, with their origin.
    pub fn dirs(&self) -> Vec<(Origin, &Path)> {
        let mut dirs = Vec::new();
        if let Some(user) = &self.user_dir {
            dirs.push((Origin::User, user.as_path()));
        }
        dirs.push((Origin::System, self.system_dir.as_path()));
        dirs
    }
}

impl Default for HostCatalog {
    fn default() -> Self {
        HostCatalog::new()
    }
}

/// `$XDG_CONFIG_HOME/stockade/profiles`, or `~/.config/...`; relative values are ignored, as
/// the XDG Base Directory specification says.
fn user_profile_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| {
        let p = PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".config"))
        })?;
    Some(config.join("stockade/profiles"))
}

/// The largest profile file read; the built-in ones are a few kilobytes.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Reads a file, or `None` when it is not there. Only regular files of at most
/// [`MAX_PROFILE_BYTES`] are read: `--profile /dev/zero` would otherwise read until memory runs
/// out, and a FIFO would block the launch forever (it is opened without blocking, then refused).
fn read_if_present(path: &Path) -> Result<Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |why: String| anyhow!(Failure::setup(format!("{}: {why}", path.display())));
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(fail(crate::sandbox::mounts::io_message(&e))),
    };
    let meta = file
        .metadata()
        .map_err(|e| fail(crate::sandbox::mounts::io_message(&e)))?;
    if meta.is_dir() {
        return Err(fail("Is a directory".into()));
    }
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(crate::sandbox::mounts::io_message(&e)))?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(fail(format!(
            "larger than {} KiB: not a profile",
            MAX_PROFILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| fail("stream did not contain valid UTF-8".into()))
}

/// A profile name is a file name: no slashes (those make it a path), nothing hidden.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.starts_with('.') || name.contains('/') {
        return Err(anyhow!(Failure::setup(format!(
            "{name:?} is not a profile name"
        ))));
    }
    Ok(())
}

pub fn built_in(name: &str) -> Option<Source> {
    BUILT_IN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| Source {
            name: n.to_string(),
            origin: Origin::BuiltIn,
            file: format!("(built-in)/{n}.toml"),
            dir: None,
            text: Cow::Borrowed(text),
        })
}

impl Catalog for HostCatalog {
    fn find(&self, name: &str, after: Option<Origin>) -> Result<Option<Source>> {
        check_name(name)?;
        let wanted = |origin: Origin| after.is_none_or(|a| origin > a);
        for (origin, dir) in self.dirs() {
            if !wanted(origin) {
                continue;
            }
            let path = dir.join(format!("{name}.toml"));
            if let Some(text) = read_if_present(&path)? {
                return Ok(Some(Source {
                    name: name.to_string(),
                    origin,
                    file: path.display().to_string(),
                    dir: Some(dir.to_path_buf()),
                    text: Cow::Owned(text),
                }));
            }
        }
        Ok(built_in(name).filter(|_| wanted(Origin::BuiltIn)))
    }

    fn read_path(&self, path: &Path) -> Result<Source> {
        let text = read_if_present(path)?.ok_or_else(|| {
            anyhow!(Failure::setup(format!(
                "{}: no such profile file",
                path.display()
            )))
        })?;
        Ok(Source {
            name: name_of_path(path),
            origin: Origin::Path,
            file: path.display().to_string(),
            dir: path.parent().map(Path::to_path_buf),
            text: Cow::Owned(text),
        })
    }
}

/// `dir/build.toml` -> `build`.
pub fn name_of_path(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every profile name in a directory (for `profile list`), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| PathBuf::from(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| name_of_path(&p))
        .filter(|n| check_name(n).is_ok())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
pub mod memory {
    //! An in-memory catalog for unit tests.
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct MemoryCatalog {
        pub profiles: BTreeMap<(Origin, String), String>,
    }

    impl MemoryCatalog {
        pub fn with(mut self, origin: Origin, name: &str, text: &str) -> Self {
            self.profiles
                .insert((origin, name.to_string()), text.to_string());
            self
        }
    }

    fn file_of(origin: Origin, name: &str) -> String {
        match origin {
            Origin::BuiltIn => format!("(built-in)/{name}.toml"),
            Origin::User => format!("/u/{name}.toml"),
            Origin::System => format!("/etc/stockade/profiles/{name}.toml"),
            Origin::Path => name.to_string(),
        }
    }

    impl Catalog for MemoryCatalog {
        fn find(&self, name: &str, after: Option<Origin>) -> Result<Option<Source>> {
            check_name(name)?;
            for origin in [Origin::User, Origin::System, Origin::BuiltIn] {
                if after.is_some_and(|a| origin <= a) {
                    continue;
                }
                if let Some(text) = self.profiles.get(&(origin, name.to_string())) {
                    return Ok(Some(Source {
                        name: name.to_string(),
                        origin,
                        file: file_of(origin, name),
                        dir: None,
                        text: Cow::Owned(text.clone()),
                    }));
                }
            }
            Ok(None)
        }

        fn read_path(&self, path: &Path) -> Result<Source> {
            let key = (Origin::Path, path.display().to_string());
            let text = self
                .profiles
                .get(&key)
                .ok_or_else(|| anyhow!("{}: no such profile file", path.display()))?;
            Ok(Source {
                name: name_of_path(path),
                origin: Origin::Path,
                file: key.1,
                dir: path.parent().map(Path::to_path_buf),
                text: Cow::Owned(text.clone()),
            })
        }
    }
}
