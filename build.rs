//! Lays out the code a launch runs contiguously at the front of .text
//! (bench/order/stockade.order, made by bench/order/order.sh).
//!
//! Why: the kernel's fault-around maps every page-cached page of the 64 KiB window around a
//! text page fault, so a launch whose code is scattered over the whole .text makes nearly all
//! of it resident in each process of the sandbox, which is most of stockade's peak RSS. With
//! the launch's functions packed together, each process touches a few windows instead.
//!
//! Only lld understands --symbol-ordering-file (GNU ld and gold reject it), and which linker
//! rustc ends up using depends on the target, the rustc version (x86_64 Linux switched to
//! rust-lld in 1.90), how that rustc was built and the rustflags, so instead of guessing,
//! this links an empty program for the target with the same rustflags and linker and the
//! same two arguments, and passes them on only if that works. The order is an optimisation:
//! a build without it is correct, just larger in memory. STOCKADE_NO_SYMBOL_ORDER=1 skips it.

use std::env;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let order = manifest.join("bench/order/stockade.order");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=STOCKADE_NO_SYMBOL_ORDER");
    if env::var_os("STOCKADE_NO_SYMBOL_ORDER").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    if !order.is_file() {
        return;
    }
    let Some(order) = order.to_str() else { return };
    // -Wl, splits its argument at commas.
    if order.contains(',') {
        println!("cargo:warning=not ordering .text: the path {order} contains a comma");
        return;
    }
    let args = [
        format!("-Wl,--symbol-ordering-file={order}"),
        // Functions renamed or removed since the file was made must not fail or clutter the
        // link; they only cost some locality until the file is made again.
        "-Wl,--no-warn-symbol-ordering".to_string(),
    ];
    if links_with(&args) {
        for arg in &args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// Whether an empty program links for the target with these extra linker arguments.
fn links_with(args: &[String]) -> bool {
    let (Some(rustc), Some(target), Some(out)) = (
        env::var_os("RUSTC"),
        env::var_os("TARGET"),
        env::var_os("OUT_DIR").map(PathBuf::from),
    ) else {
        return false;
    };
    let mut cmd = Command::new(rustc);
    cmd.arg("--target")
        .arg(target)
        .args(["--crate-type", "bin", "--crate-name", "order_probe", "-o"])
        .arg(out.join("order_probe"));
    if let Some(flags) = env::var("CARGO_ENCODED_RUSTFLAGS")
        .ok()
        .filter(|f| !f.is_empty())
    {
        cmd.args(flags.split('\x1f'));
    }
    // A linker configured for the target (target.<triple>.linker) reaches rustc through
    // cargo, not through the rustflags.
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        cmd.arg("-C").arg({
            let mut arg = std::ffi::OsString::from("linker=");
            arg.push(linker);
            arg
        });
    }
    for arg in args {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    cmd.arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    let fed = child
        .stdin
        .take()
        .is_some_and(|mut stdin| stdin.write_all(b"fn main() {}\n").is_ok());
    child.wait().is_ok_and(|status| status.success()) && fed
}
