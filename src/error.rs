//! Exit statuses and the error type shared by every front end and the executor.

use std::fmt;

/// Setup failed: bad input, or a kernel step that did not work. Never the command's own status.
pub const EXIT_SETUP: i32 = 125;
/// The command was found but could not be executed (env(1), podman).
pub const EXIT_CANNOT_EXEC: i32 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;
/// The wall-clock limit expired (timeout(1)).
pub const EXIT_TIMEOUT: i32 = 124;

/// An error that carries the exit status stockade should end with. Its message is one line.
#[derive(Debug)]
pub struct Failure {
    pub status: i32,
    pub message: String,
}

impl Failure {
    pub fn setup(message: impl Into<String>) -> Self {
        Failure {
            status: EXIT_SETUP,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The status an `anyhow` error should end stockade with: the one a [`Failure`] carries,
/// else setup failure.
pub fn status_of(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Failure>()
        .map(|f| f.status)
        .unwrap_or(EXIT_SETUP)
}

/// One line for the user: the error and its causes joined, without a backtrace.
pub fn one_line(err: &anyhow::Error) -> String {
    let parts: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    printable(&parts.join(": "))
}

/// `text` with its control characters written as escapes (`\n`, `\t`, `\x1b`): a path or
/// name with a newline must not split a message, nor one with ESC reach the terminal as an
/// escape sequence, and `a\nb` must not read as `a b`.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
