//! Two jobs, both for launch speed:
//!
//! 1. Parses the built-in profiles (profiles/*.toml) into the spanned TOML documents their
//!    text gives, written out as static data (src/profile/compiled.rs reads it), so that a
//!    launch with a built-in profile skips the TOML parser.
//! 2. Lays out the code a launch runs contiguously at the front of .text
//!    (bench/order/stockade.order, made by bench/order/order.sh).
//!
//! Why the layout: the kernel's fault-around maps every page-cached page of the 64 KiB window
//! around a text page fault, so a launch whose code is scattered over the whole .text makes
//! nearly all of it resident in each process of the sandbox, which is most of stockade's peak
//! RSS. With the launch's functions packed together, each process touches a few windows
//! instead.
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
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    compile_profiles(
        &manifest.join("profiles"),
        &out.join("compiled_profiles.rs"),
    );
    order_text(&manifest);
}

/// Writes `DOCUMENTS`, each built-in profile's name and its document as a pre-order list of
/// nodes with their byte spans, and `STRINGS`, the text of every string and key, which the
/// nodes point into by offset (see src/profile/compiled.rs). A profile that does not parse is
/// left out; the unit tests report it with its line and column, which a build script's panic
/// would not.
fn compile_profiles(dir: &std::path::Path, dest: &std::path::Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("reading profiles/")
        .map(|e| e.expect("reading profiles/").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut strings = Strings::default();
    let mut code = String::from("pub static DOCUMENTS: &[(&str, &[Spot])] = &[\n");
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = std::fs::read_to_string(&file).expect("reading a built-in profile");
        let Ok(document) = toml::de::DeTable::parse(&text) else {
            continue;
        };
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 name");
        code.push_str(&format!("    ({name:?}, &[\n"));
        let table = toml::de::DeValue::Table(document.get_ref().clone());
        emit_value(&table, document.span(), &mut strings, &mut code);
        code.push_str("    ]),\n");
    }
    code.push_str("];\n");
    code.push_str(&format!("static STRINGS: &str = {:?};\n", strings.all));
    std::fs::write(dest, code).expect("writing the compiled profiles");
}

/// The strings of the documents, each stored once. Offsets instead of `&str`s keep the
/// documents free of pointers, which a position-independent binary would relocate (and so
/// copy a page of) at every start.
#[derive(Default)]
struct Strings {
    all: String,
    at: std::collections::HashMap<String, usize>,
}

impl Strings {
    fn text(&mut self, s: &str) -> String {
        let offset = *self.at.entry(s.to_string()).or_insert_with(|| {
            self.all.push_str(s);
            self.all.len() - s.len()
        });
        format!("Text({offset}, {})", s.len())
    }
}

fn emit_value(
    value: &toml::de::DeValue,
    span: std::ops::Range<usize>,
    strings: &mut Strings,
    code: &mut String,
) {
    use toml::de::DeValue;
    let node = match value {
        DeValue::String(s) => format!("Node::Str({})", strings.text(s)),
        DeValue::Integer(i) => format!("Node::Int({})", strings.text(&i.to_string())),
        DeValue::Float(f) => format!("Node::Float({})", strings.text(&f.to_string())),
        DeValue::Boolean(b) => format!("Node::Bool({b})"),
        DeValue::Datetime(d) => format!("Node::Datetime({})", strings.text(&d.to_string())),
        DeValue::Array(items) => format!("Node::Array({})", items.len()),
        DeValue::Table(table) => format!("Node::Table({})", table.len()),
    };
    code.push_str(&format!(
        "        ({node}, {}, {}),\n",
        span.start, span.end
    ));
    match value {
        DeValue::Array(items) => {
            for item in items.iter() {
                emit_value(item.get_ref(), item.span(), strings, code);
            }
        }
        DeValue::Table(table) => {
            for (key, item) in table {
                let span = key.span();
                let text = strings.text(key.get_ref());
                code.push_str(&format!(
                    "        (Node::Key({text}), {}, {}),\n",
                    span.start, span.end
                ));
                emit_value(item.get_ref(), item.span(), strings, code);
            }
        }
        _ => {}
    }
}

/// Passes lld the symbol ordering file, when the linker takes it.
fn order_text(manifest: &std::path::Path) {
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
