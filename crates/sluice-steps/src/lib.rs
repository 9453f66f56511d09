//! The built-in steps. Each is an ordinary command (`sluice step train ...`) with the same
//! contract as a user's script: files in, files out, params and metrics through MLflow.

pub mod evaluate;
pub mod mlflow;
pub mod prep;
pub mod register;
pub mod sweep;
pub mod train;

use std::path::{Path, PathBuf};

/// Why a step failed. Every message names the file or column at fault.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tracking: {0}")]
    Tracking(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Data(#[from] sluice_data::DataError),
    #[error(transparent)]
    Prep(#[from] sluice_data::PrepError),
}

impl StepError {
    /// How to fix it, when there is more to say than the message.
    #[must_use]
    pub fn hint(&self) -> Option<String> {
        match self {
            StepError::Data(e) => e.hint(),
            StepError::Prep(e) => e.hint(),
            StepError::Tracking(_) => {
                Some("the step logs to MLFLOW_TRACKING_URI; is the tracking server up?".into())
            }
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StepError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A metric value as MLflow's JSON writes it: non-finite values as strings.
pub(crate) fn json_f64(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
    } else if v.is_nan() {
        serde_json::Value::String("NaN".into())
    } else if v > 0.0 {
        serde_json::Value::String("Infinity".into())
    } else {
        serde_json::Value::String("-Infinity".into())
    }
}
