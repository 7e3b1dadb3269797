//! stockade: a rootless sandbox for Linux.
//!
//! Front ends (`cli`, `profile`) build a [`plan::Plan`]; the executor in [`sandbox`] consumes
//! it one kernel mechanism at a time.

pub mod cli;
pub mod error;
pub mod info;
pub mod plan;
pub mod profile;
pub mod sandbox;
pub mod syscalls;
