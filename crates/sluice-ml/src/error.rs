//! The one error type of the crate.

use std::path::PathBuf;

use crate::Task;

/// What went wrong while fitting, predicting, scoring, saving or loading.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// The data cannot be used as given (shapes, non-finite targets, missing values).
    #[error("invalid data: {0}")]
    Data(String),
    /// A learner parameter is out of range.
    #[error("invalid parameter `{name}`: {reason}")]
    Param { name: &'static str, reason: String },
    /// The learner does not handle the dataset's task.
    #[error("`{learner}` fits {expected} data, but the dataset is {found}")]
    Task {
        learner: &'static str,
        expected: &'static str,
        found: String,
    },
    /// Prediction data whose features differ from the ones the model was fitted on.
    #[error("the data does not match the model's features: {0}")]
    Features(String),
    /// `predict_proba` on a regression model.
    #[error("`{algorithm}` is a regression model and has no class probabilities")]
    NotClassifier { algorithm: &'static str },
    /// A metric whose inputs are empty or of different lengths.
    #[error("metric `{metric}`: {reason}")]
    Metric {
        metric: &'static str,
        reason: String,
    },
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `model.json` that is not a Sluice model, or whose payload does not parse.
    #[error("`{path}` is not a readable Sluice model: {reason}")]
    Format { path: PathBuf, reason: String },
    /// A `model.json` written by a newer Sluice.
    #[error(
        "`{path}` has model format_version {found}, newer than {supported}, the newest this build of Sluice reads"
    )]
    NewerFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
}

impl MlError {
    /// A line telling the user what to do about the error, where there is one.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            MlError::Data(_) => Some(
                "linear and logistic learners need complete numeric features; tree learners accept missing values (NaN)",
            ),
            MlError::Task { .. } => Some(
                "build the dataset with `with_regression_target` or `with_class_labels` to match the learner",
            ),
            MlError::Features(_) => {
                Some("predict with the same feature columns, in the same order, as in training")
            }
            MlError::NewerFormat { .. } => {
                Some("upgrade Sluice to load this model, or retrain it with this version")
            }
            _ => None,
        }
    }

    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        MlError::Param {
            name,
            reason: reason.into(),
        }
    }

    pub(crate) fn task(learner: &'static str, expected: Task, found: Option<Task>) -> Self {
        MlError::Task {
            learner,
            expected: expected.as_str(),
            found: found.map_or_else(|| "unlabelled".to_owned(), |t| t.as_str().to_owned()),
        }
    }
}
