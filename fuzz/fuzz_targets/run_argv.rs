//! `stockade run` argument parser: any argument vector must give a plan or an error, never a
//! panic, a hang or unbounded memory. Input: arguments separated by NUL bytes. Profiles are
//! the built-in ones (no disk reads: `--profile PATH` is refused by the fuzz catalog).
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use stockade_fuzz::{fixed_vars, FuzzCatalog};

fuzz_target!(|data: &[u8]| {
    let mut argv = vec![OsString::from("stockade"), OsString::from("run")];
    argv.extend(
        data.split(|&b| b == 0)
            .take(512)
            .map(|a| OsString::from_vec(a.to_vec())),
    );
    let catalog = FuzzCatalog {
        profiles: Vec::new(),
    };
    if let Ok(plan) = stockade::cli::run::plan_from_argv_with(&argv, &catalog, &fixed_vars()) {
        // Printing the plan (--dry-run) must work for every plan the parser accepts.
        let _ = plan.to_string();
    }
});
