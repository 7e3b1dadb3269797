//! Resource limits set with setrlimit(2) in the command just before exec, and the parsers for
//! the limit flags (`--rlimit`, `--timeout`, `--kill-after`, `--memory`, `--pids`, `--cpus`).
//!
//! The parsers live here rather than in the front ends so that `stockade run` flags and profile
//! keys accept exactly the same spellings.

use anyhow::{anyhow, bail, Result};

use crate::error::Failure;

/// The rlimits a sandbox may set, by the names `ulimit` and prlimit(1) use.
const RESOURCES: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("stack", libc::RLIMIT_STACK),
];

/// The value setrlimit takes for "no limit".
pub const UNLIMITED: u64 = libc::RLIM_INFINITY;

fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    RESOURCES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn resource_names() -> String {
    RESOURCES
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `NAME=SOFT[:HARD]`, values as numbers or `unlimited`; a missing HARD equals SOFT, as with
/// `ulimit -n N`, so the command cannot raise the limit again.
pub fn parse_rlimit(spec: &str) -> Result<(String, u64, u64)> {
    let bad = |why: String| anyhow!(Failure::setup(format!("--rlimit {spec}: {why}")));
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD]".into()))?;
    let name = name.trim().to_ascii_lowercase();
    if resource(&name).is_none() {
        return Err(bad(format!(
            "unknown limit {name:?} (known: {})",
            resource_names()
        )));
    }
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (s, h),
        None => (values, values),
    };
    let value = |v: &str| {
        rlimit_value(v).ok_or_else(|| bad(format!("{v:?} is not a number or 'unlimited'")))
    };
    let (soft, hard) = (value(soft)?, value(hard)?);
    if soft > hard {
        return Err(bad("the soft limit is above the hard limit".into()));
    }
    Ok((name, soft, hard))
}

fn rlimit_value(v: &str) -> Option<u64> {
    match v.trim() {
        "unlimited" | "infinity" => Some(UNLIMITED),
        n => n.parse::<u64>().ok().filter(|&n| n != UNLIMITED),
    }
}

/// Sets every limit on the calling process (the command, just before exec). Raising a hard
/// limit above the caller's fails with EPERM, which is reported rather than ignored.
pub fn apply_rlimits(limits: &[(String, u64, u64)]) -> Result<()> {
    for (name, soft, hard) in limits {
        let res = resource(name).ok_or_else(|| anyhow!("unknown rlimit {name}"))?;
        let lim = libc::rlimit {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        // SAFETY: `lim` is a valid rlimit that outlives the call.
        if unsafe { libc::setrlimit(res, &lim) } != 0 {
            let err = std::io::Error::last_os_error();
            bail!("--rlimit {name}={}:{}: {err}", show(*soft), show(*hard));
        }
    }
    Ok(())
}

fn show(v: u64) -> String {
    if v == UNLIMITED {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// A duration: `90s`, `10m`, `1h`, `2d`, `500ms`, or plain (possibly fractional) seconds.
/// Returns milliseconds.
pub fn parse_duration(flag: &str, spec: &str) -> Result<u64> {
    duration_ms(spec).ok_or_else(|| {
        anyhow!(Failure::setup(format!(
            "{flag} {spec}: expected a duration such as 90s, 10m, 1h, 500ms or plain seconds"
        )))
    })
}

/// `--timeout`: a duration greater than zero (a zero timeout would end every command at once).
pub fn parse_timeout(spec: &str) -> Result<u64> {
    match parse_duration("--timeout", spec)? {
        0 => Err(anyhow!(Failure::setup(format!(
            "--timeout {spec}: expected a duration greater than 0"
        )))),
        ms => Ok(ms),
    }
}

/// Milliseconds in a duration, in the syntax both the flags and the profiles take; None when
/// it is not one.
pub fn duration_ms(spec: &str) -> Option<u64> {
    let s = spec.trim();
    let (number, unit_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else if let Some(n) = s.strip_suffix('d') {
        (n, 86_400_000.0)
    } else {
        (s, 1000.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    let ms = value * unit_ms;
    (ms.is_finite() && ms >= 0.0 && ms <= u64::MAX as f64 / 2.0).then(|| ms.round() as u64)
}

/// A size in bytes with an optional binary suffix: `512M`, `2G`, `64k`, `1048576`.
pub fn parse_bytes(flag: &str, spec: &str) -> Result<u64> {
    let bad = || {
        anyhow!(Failure::setup(format!(
            "{flag} {spec}: expected bytes with an optional K, M, G or T suffix"
        )))
    };
    let s = spec.trim();
    let s = s.strip_suffix(['b', 'B']).unwrap_or(s);
    let s = s.strip_suffix(['i']).unwrap_or(s);
    let (number, shift) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 20),
        Some('g' | 'G') => (&s[..s.len() - 1], 30),
        Some('t' | 'T') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = number.trim().parse().map_err(|_| bad())?;
    match n.checked_mul(1u64 << shift) {
        Some(0) => Err(anyhow!(Failure::setup(format!(
            "{flag} {spec}: expected a size greater than 0"
        )))),
        Some(bytes) => Ok(bytes),
        None => Err(bad()),
    }
}

/// `--pids N`: at least 1 (PID 1 itself counts).
pub fn parse_pids(spec: &str) -> Result<u64> {
    spec.trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            anyhow!(Failure::setup(format!(
                "--pids {spec}: expected a positive number of processes"
            )))
        })
}

/// `--cpus FRACTION`: how many CPUs' worth of time per period, e.g. 0.5 or 2.
pub fn parse_cpus(spec: &str) -> Result<f64> {
    spec.trim()
        .parse::<f64>()
        .ok()
        .filter(|c| c.is_finite() && *c >= 0.01 && *c <= 4096.0)
        .ok_or_else(|| {
            anyhow!(Failure::setup(format!(
                "--cpus {spec}: expected a number of CPUs such as 0.5 or 2 (at least 0.01)"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_specs() {
        assert_eq!(
            parse_rlimit("nofile=100:200").unwrap(),
            ("nofile".into(), 100, 200)
        );
        assert_eq!(parse_rlimit("core=0").unwrap(), ("core".into(), 0, 0));
        assert_eq!(
            parse_rlimit("stack=8388608:unlimited").unwrap(),
            ("stack".into(), 8388608, UNLIMITED)
        );
        for bad in [
            "nofile",
            "files=1",
            "nofile=x",
            "nofile=2:1",
            "nofile=1:",
            "cpu=-1",
        ] {
            let err = parse_rlimit(bad).unwrap_err().to_string();
            assert!(err.starts_with("--rlimit "), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("--timeout", "90s").unwrap(), 90_000);
        assert_eq!(parse_duration("--timeout", "10m").unwrap(), 600_000);
        assert_eq!(parse_duration("--timeout", "500ms").unwrap(), 500);
        assert_eq!(parse_duration("--timeout", "2").unwrap(), 2000);
        assert_eq!(parse_duration("--timeout", "0.25").unwrap(), 250);
        assert_eq!(parse_duration("--timeout", "1h").unwrap(), 3_600_000);
        for bad in ["", "s", "-1s", "ten", "1x", "nan"] {
            assert!(parse_duration("--timeout", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("--memory", "512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("--memory", "2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("--memory", "64k").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("--memory", "1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("--memory", "4096").unwrap(), 4096);
        for bad in ["", "0", "M", "1.5G", "99999999999T", "-1"] {
            assert!(parse_bytes("--memory", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pids_and_cpus() {
        assert_eq!(parse_pids("64").unwrap(), 64);
        assert!(parse_pids("0").is_err());
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("inf").is_err());
    }
}
