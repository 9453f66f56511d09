//! The errors commands report, each mapped to an exit code.

use sluice_engine::EngineError;
use sluice_spec::SpecError;
use sluice_store::{Entity, StoreError};

use crate::exit::Exit;

/// A failure a command reports to the user.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    Spec(Box<SpecError>),
    #[error("{message}")]
    NotFound {
        message: String,
        hint: Option<String>,
    },
    #[error("{message}")]
    AlreadyExists {
        message: String,
        hint: Option<String>,
    },
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{0}")]
    Workspace(String),
    /// A built-in step failed (its message names the file or column).
    #[error("{message}")]
    Step {
        message: String,
        hint: Option<String>,
    },
    /// No valid token, or a role or policy forbids the action.
    #[error("{message}")]
    Denied {
        message: String,
        hint: Option<String>,
    },
    /// `audit verify` found the chain broken (already printed).
    #[error("the audit log was tampered with")]
    AuditTampered,
    /// A Python environment cannot be had.
    #[error("{message}")]
    Environment {
        message: String,
        hint: Option<String>,
    },
    /// A team server refused the command: its message, and the exit code the command would
    /// have had run locally.
    #[error("{message}")]
    Remote {
        message: String,
        exit: crate::exit::Exit,
    },
    /// A job run to check something (`infra apply --smoke-test`) did not complete.
    #[error("{message}")]
    Check {
        message: String,
        hint: Option<String>,
    },
    /// The job ran and ended `Failed` or `Canceled`: already reported, only the code remains.
    #[error("job `{name}` ended {status}")]
    JobEnded {
        name: String,
        status: sluice_engine::Status,
    },
}

impl CliError {
    pub(crate) fn exit(&self) -> Exit {
        match self {
            CliError::Spec(_) => Exit::InvalidSpec,
            CliError::NotFound { .. } => Exit::NotFound,
            CliError::AlreadyExists { .. } => Exit::AlreadyExists,
            CliError::Usage { .. } => Exit::Usage,
            CliError::Workspace(_) => Exit::Workspace,
            CliError::Step { .. } => Exit::StepFailed,
            CliError::Check { .. } => Exit::JobFailed,
            CliError::Denied { .. } => Exit::PermissionDenied,
            CliError::AuditTampered => Exit::AuditTampered,
            CliError::Environment { .. } => Exit::Environment,
            CliError::Remote { exit, .. } => *exit,
            CliError::JobEnded { status, .. } => {
                if *status == sluice_engine::Status::Canceled {
                    Exit::JobCanceled
                } else {
                    Exit::JobFailed
                }
            }
        }
    }

    pub(crate) fn hint(&self) -> Option<&str> {
        match self {
            CliError::NotFound { hint, .. }
            | CliError::AlreadyExists { hint, .. }
            | CliError::Denied { hint, .. }
            | CliError::Usage { hint, .. }
            | CliError::Step { hint, .. }
            | CliError::Check { hint, .. }
            | CliError::Environment { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl From<SpecError> for CliError {
    fn from(e: SpecError) -> Self {
        CliError::Spec(Box::new(e))
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, name } => CliError::NotFound {
                message: format!("{what} `{name}` does not exist"),
                hint: Some(match what {
                    Entity::Job => "list jobs with `sluice job list -o table`".to_owned(),
                    Entity::DataAsset => "list data assets with `sluice data list -o table`".to_owned(),
                    Entity::Environment => "list environments with `sluice environment list -o table`".to_owned(),
                    Entity::RegisteredModel | Entity::ModelVersion | Entity::Alias => {
                        "list models with `sluice model list -o table`".to_owned()
                    }
                    _ => format!("check the name of the {what}"),
                }),
            },
            StoreError::AlreadyExists { what, name } => CliError::AlreadyExists {
                message: format!("{what} `{name}` already exists"),
                hint: Some(match what {
                    Entity::Approval => "each approver approves a version once".to_owned(),
                    Entity::Token => "pick another name, or revoke the old token with `sluice token revoke -n NAME`".to_owned(),
                    _ => "versions are immutable: pass a new `--version`, or omit it to take the next number".to_owned(),
                }),
            },
            StoreError::Denied(message) => CliError::Denied {
                message,
                hint: Some("see the model's rules with `sluice model status -n NAME`, or act with another token (`SLUICE_TOKEN`)".to_owned()),
            },
            StoreError::Unauthenticated(message) => CliError::Denied {
                message: format!("`SLUICE_TOKEN` / `--token`: {message}"),
                hint: Some("create a token with `sluice token create` (as an owner), or unset `SLUICE_TOKEN` to act as the local user".to_owned()),
            },
            StoreError::Invalid(message) => CliError::Usage {
                message,
                hint: None,
            },
            other => CliError::Workspace(other.to_string()),
        }
    }
}

impl From<EngineError> for CliError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Spec(s) => CliError::Spec(Box::new(s)),
            EngineError::Store(s) => s.into(),
            other => CliError::Workspace(other.to_string()),
        }
    }
}

impl From<sluice_env::EnvError> for CliError {
    fn from(e: sluice_env::EnvError) -> Self {
        CliError::Environment {
            hint: e.help(),
            message: e.to_string(),
        }
    }
}

impl From<sluice_artifacts::ArtifactError> for CliError {
    fn from(e: sluice_artifacts::ArtifactError) -> Self {
        CliError::Workspace(e.to_string())
    }
}

impl From<sluice_steps::StepError> for CliError {
    fn from(e: sluice_steps::StepError) -> Self {
        CliError::Step {
            hint: e.hint(),
            message: e.to_string(),
        }
    }
}
