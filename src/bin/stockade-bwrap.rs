//! `stockade-bwrap`: bubblewrap's command line whatever this binary is called (a `bwrap`
//! symlink, its own name, or `/proc/self/exe` when it re-executes itself).

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(stockade::cli::bwrap::main(argv));
}
