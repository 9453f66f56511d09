//! The local engine: plans a validated job against the workspace and runs its steps as
//! processes on this machine, recording every status change in the store.

mod assets;
mod components;
mod datastore;
pub mod envs;
pub mod executor;
pub mod models;
mod plan;
mod provenance;
mod recover;
mod reuse;
mod run;
mod scheduler;
mod status;
mod tracking;
mod workspace;

use std::path::{Path, PathBuf};

pub use assets::{NewData, register_data, register_data_reference};
pub use components::{component_content_hash, register_component};
pub use datastore::{
    Datastore, Materialized, create_datastore, datastore_changes, datastore_row, delete_datastore,
};
pub use plan::fetch_datastore_path;
pub use plan::{
    DataRef, OutputPlan, Plan, PlanOptions, StepInput, StepPlan, generate_name, literal_text, plan,
};
pub use provenance::record_code_provenance;
pub use recover::{
    cancel_detached, interrupt_runner, interruptions_in_a_row, on_this_machine, process_started,
    recover_interrupted, silent_runner_note,
};
pub use reuse::explain;
pub use run::{Event, Observer, Outcome, resume, run};
pub use status::Status;
pub use tracking::TrackingInfo;
pub use workspace::{
    ARTIFACTS_FILE, SHARED_FILE, SHARED_MARK, STORE_FILE, TRACKING_HOST_FILE, WORKSPACE_DIR,
    Workspace, setting_line,
};

/// Errors from planning or running a job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Spec(#[from] sluice_spec::SpecError),
    #[error(transparent)]
    Store(#[from] sluice_store::StoreError),
    #[error(transparent)]
    Artifact(#[from] sluice_artifacts::ArtifactError),
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// A datastore could not be configured, read or written (never with its secrets).
    #[error("{0}")]
    Datastore(String),
}

impl EngineError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
