//! The `sluice` binary tested from outside: exit codes, stdout and stderr.

mod common;
mod data;
mod governance;
mod job;
mod misc;
mod step;
