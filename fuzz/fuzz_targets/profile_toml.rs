//! The profile parser and merger: any TOML text, extending a built-in profile or a second
//! fuzzed one, must give a plan or an error (never a panic, a hang or unbounded memory).
//! Nothing is read from the disk: the profiles come from the input through an in-memory
//! catalog, with the built-in ones behind them.
//!
//! Input layout: the text of profile `fuzz`, then optionally a 0xFF byte and the text of
//! profile `base` (which `fuzz` may extend, as may `base` extend `fuzz`: cycles must be
//! reported, not followed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stockade::profile::{plan_from_catalog, Options};
use stockade_fuzz::{fixed_vars, FuzzCatalog};

fuzz_target!(|data: &[u8]| {
    let (first, second) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(first), Ok(second)) = (std::str::from_utf8(first), std::str::from_utf8(second))
    else {
        return;
    };
    let catalog = FuzzCatalog {
        profiles: vec![("fuzz", first), ("base", second)],
    };
    let vars = fixed_vars();
    for seccomp_off in [false, true] {
        let opts = Options {
            seccomp_off,
            ..Options::default()
        };
        if let Ok(plan) = plan_from_catalog(&catalog, "fuzz", &opts, &vars) {
            let _ = plan.to_string();
        }
    }
});
