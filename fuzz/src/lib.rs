//! Helpers shared by the fuzz targets: profiles and variables that come from the input or are
//! fixed, so that no target reads the disk or the caller's environment (a fuzzed
//! `--profile /dev/zero` must not make the fuzzer itself read forever).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, Result};
use stockade::profile::catalog::{built_in, Catalog, Origin, Source};
use stockade::profile::vars::Vars;

/// User profiles given as `(name, text)`, with the built-in ones behind them.
pub struct FuzzCatalog<'a> {
    pub profiles: Vec<(&'a str, &'a str)>,
}

impl Catalog for FuzzCatalog<'_> {
    fn find(&self, name: &str, after: Option<Origin>) -> Result<Option<Source>> {
        if after.is_none_or(|a| Origin::User > a) {
            if let Some((n, text)) = self.profiles.iter().find(|(n, _)| *n == name) {
                return Ok(Some(Source {
                    name: n.to_string(),
                    origin: Origin::User,
                    file: format!("(fuzz)/{n}.toml"),
                    dir: None,
                    text: Cow::Owned(text.to_string()),
                }));
            }
        }
        Ok(built_in(name).filter(|_| after.is_none_or(|a| Origin::BuiltIn > a)))
    }

    fn read_path(&self, path: &Path) -> Result<Source> {
        Err(anyhow!("{}: paths are not read while fuzzing", path.display()))
    }
}

/// Every variable a profile may use, fixed.
pub fn fixed_vars() -> Vars {
    Vars::fixed(&[
        ("HOME", "/home/fuzz"),
        ("CWD", "/home/fuzz/project"),
        ("XDG_RUNTIME_DIR", "/run/user/1000"),
        ("UID", "1000"),
        ("GID", "1000"),
        ("USER", "fuzz"),
        ("APP", "fuzzapp"),
    ])
}
