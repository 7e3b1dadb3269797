//! The committed man pages are generated from the clap definitions; this fails when they are
//! out of date. Regenerate as the repository's owner:
//! `STOCKADE_BLESS=1 CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=env cargo test --test man_pages`
//! (the `env` runner keeps the test from switching to the unprivileged test user).

use std::path::PathBuf;

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .date("2026")
        .render(&mut out)
        .expect("rendering a man page");
    out
}

/// stockade(1) for the top level, and stockade-SUB(1) for each subcommand.
fn pages() -> Vec<(String, Vec<u8>)> {
    let top = stockade::cli::command();
    let mut pages = vec![("stockade.1".to_string(), render(top.clone()))];
    for sub in top.get_subcommands() {
        let name = format!("stockade-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("stockade {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(sub)));
    }
    pages
}

#[test]
fn man_pages_are_up_to_date() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let bless = std::env::var_os("STOCKADE_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, contents) in pages() {
        let path = dir.join(&name);
        if bless {
            std::fs::write(&path, &contents).expect("writing the man page");
        } else if std::fs::read(&path).ok().as_deref() != Some(contents.as_slice()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "man pages out of date: {stale:?}; run STOCKADE_BLESS=1 cargo test --test man_pages"
    );
}
