//! The `sluice` binary tested from outside: exit codes, stdout and stderr.

mod azure;
mod ci;
mod common;
mod data;
mod datastore;
mod fault;
mod governance;
mod infra;
mod job;
mod misc;
mod python;
mod remote;
mod reuse;
mod slurm;
mod step;
