//! Front ends: the `stockade` command line (clap) and the bubblewrap-compatible one.

pub mod bwrap;
pub mod run;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::{self, EXIT_SETUP};

#[derive(Parser, Debug)]
#[command(
    name = "stockade",
    version,
    about = "A rootless sandbox for Linux",
    long_about = "stockade runs a command in a rootless sandbox: new user, mount, pid, net, uts and \
ipc namespaces, a fresh tmpfs root with read-only host binds, no capabilities, no_new_privs, \
Landlock and a seccomp allowlist taken from a named profile.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a sandbox
    Run(Box<run::RunArgs>),
    /// Run with bubblewrap's command line (same options, same semantics)
    #[command(disable_help_flag = true)]
    Bwrap {
        /// bubblewrap options and the command
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// List, show and check profiles
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// List seccomp syscall groups and show their members
    #[command(subcommand)]
    Seccomp(SeccompCommand),
    /// Show what this machine allows: user namespaces, Landlock, seccomp, cgroups, pasta
    Info {
        /// Print one JSON object (stable keys; see the stockade-info documentation)
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// List the profiles stockade can find: name, origin and description
    List,
    /// Print a profile fully merged, as TOML that `profile check` accepts
    Show {
        /// Profile name or path
        name: String,
    },
    /// Check a profile file and report the first error with file:line:column
    Check {
        /// Path of the profile file
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum SeccompCommand {
    /// List the syscall groups and their descriptions
    List,
    /// Show the syscalls of a group, expanded
    Show {
        /// A group name such as @file-system
        group: String,
    },
    /// Write a profile's compiled filter to stdout as raw BPF (struct sock_filter records), the
    /// format of bubblewrap's --seccomp FD
    Export {
        /// Profile whose [seccomp] section is compiled
        #[arg(long, value_name = "NAME", default_value = "default")]
        profile: String,
    },
}

/// The clap command, for help and the man page.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses `argv` and runs what it asks. Returns the process exit status.
/// The bound bubblewrap sets on its command line, kept for `stockade` too: no real use comes
/// near it, and a runaway generated command line gets one clear error instead of thousands of
/// mounts.
const MAX_ARGS: usize = 9000;

pub fn main(argv: Vec<OsString>) -> i32 {
    crate::sandbox::mark_process_start();
    // bubblewrap's contract: invoked as `bwrap` (a symlink to stockade), or `stockade bwrap`,
    // every word goes to the bwrap parser untouched (clap would claim --help and --version).
    if invoked_as_bwrap(&argv) {
        return bwrap::main(argv);
    }
    if argv.get(1).is_some_and(|a| a == "bwrap") {
        let mut rest = argv;
        rest.remove(0);
        return bwrap::main(rest);
    }
    if argv.len() > MAX_ARGS + 1 {
        eprintln!(
            "stockade: too many arguments: {} (at most {MAX_ARGS})",
            argv.len() - 1
        );
        return EXIT_SETUP;
    }
    let matches = match command().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return report_clap_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return report_clap_error(e),
    };
    let result = match cli.command {
        Command::Run(args) => {
            let run_matches = matches
                .subcommand_matches("run")
                .expect("clap matched the run subcommand");
            run::execute(*args, run_matches)
        }
        Command::Bwrap { args } => {
            let mut full = vec![OsString::from("bwrap")];
            full.extend(args);
            return bwrap::main(full);
        }
        Command::Profile(cmd) => crate::profile::command(cmd),
        Command::Seccomp(cmd) => crate::syscalls::command(cmd),
        Command::Info { json } => crate::info::command(json),
    };
    match result {
        Ok(status) => status,
        Err(err) => {
            eprintln!("stockade: {}", error::one_line(&err));
            error::status_of(&err)
        }
    }
}

/// Whether argv[0]'s last component is `bwrap`.
fn invoked_as_bwrap(argv: &[OsString]) -> bool {
    argv.first()
        .and_then(|a| std::path::Path::new(a).file_name().map(|n| n == "bwrap"))
        .unwrap_or(false)
}

/// clap's errors are several lines; the user gets the first paragraph on one line (a list of
/// missing arguments continues it), and status 125 so that a typo in a flag is never mistaken
/// for the command's own failure.
fn report_clap_error(err: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            EXIT_SETUP
        }
        _ => {
            let rendered = err.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let first = match first.join(" ") {
                joined if joined.is_empty() => "invalid arguments".to_string(),
                joined => joined.trim_start_matches("error: ").to_string(),
            };
            eprintln!("stockade: {first} (see --help)");
            EXIT_SETUP
        }
    }
}
