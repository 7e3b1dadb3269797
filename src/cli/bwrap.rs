//! The bubblewrap-compatible command line. (Placeholder until the bwrap issue lands.)

use std::ffi::OsString;

pub fn main(_argv: Vec<OsString>) -> i32 {
    eprintln!("bwrap: not implemented yet");
    1
}
