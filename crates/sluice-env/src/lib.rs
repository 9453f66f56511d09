//! Python environments for command steps: a conda file or a requirements file becomes a virtual
//! environment built by [uv](https://docs.astral.sh/uv/) on one of this machine's CPython
//! interpreters.
//!
//! Environments are content-addressed: [`EnvRequest::hash`] covers the exact interpreter version
//! and the normalised requirement set (not the environment's name), so an identical spec reuses
//! the built venv, whoever asks for it. A build happens under a file lock, so concurrent jobs
//! that need the same environment build it once. Interpreters are never downloaded: a version
//! that is not on the machine is a clear error naming it.

mod build;
pub mod curated;
mod process;
mod python;
mod request;
mod uv;

use std::path::PathBuf;

pub use build::{Builder, Built};
pub use python::{Python, find_python, on_path};
pub use request::{CONDA_BASE, CONDA_BASE_ORIGIN, EnvRequest, Requirement};
pub use uv::find_uv;

/// The first 12 characters of a hash, for messages.
#[must_use]
pub fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Why an environment could not be had.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("Python {request} is not installed on this machine{found}")]
    PythonMissing { request: String, found: String },

    #[error(
        "`uv` (the Python package installer Sluice builds environments with) is not available: {detail}"
    )]
    UvMissing { detail: String },

    #[error("{origin}: requirement `{requirement}` cannot be installed:\n{message}")]
    Requirement {
        requirement: String,
        origin: String,
        message: String,
    },

    #[error("the environment could not be built ({step}):\n{message}")]
    Build { step: &'static str, message: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl EnvError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// How to fix it, when there is something to say.
    #[must_use]
    pub fn help(&self) -> Option<String> {
        match self {
            Self::PythonMissing { request, .. } => Some(format!(
                "install CPython {request} (`pyenv install {mm}`, `uv python install {mm}`, conda, or your distribution's packages): Sluice looks for `python{mm}` on PATH, in pyenv's versions folder, among uv-managed Pythons and in conda installs; or ask for a version this machine has in the conda file's `python=` line",
                mm = python::major_minor(request).unwrap_or_else(|| "3".to_owned())
            )),
            Self::UvMissing { .. } => Some(
                "install it with `python3 -m pip install uv` (or put a `uv` binary on PATH), or point SLUICE_UV at one".to_owned(),
            ),
            Self::Requirement { .. } => Some(
                "fix or remove the requirement; a package that needs the network (a `git+https` URL) cannot be installed offline".to_owned(),
            ),
            Self::Build { .. } | Self::Io { .. } => None,
        }
    }
}
