//! Azure ML CLI v2 YAML for Sluice: pipeline jobs, command jobs, command components,
//! environments and data assets, parsed into typed specs with every value's place in its file,
//! so that errors can say `file:line:column` and show the offending text.

mod asset;
mod binding;
mod compute;
mod conda;
mod datastore;
mod decode;
mod diag;
mod infra;
mod local;
mod parallel;
mod parse;
mod pipeline;
mod scale;
mod source;
mod sweep;
mod types;
mod validate;
pub mod yaml;

pub use asset::{AssetRef, VersionSel, parse_asset_ref, parse_environment_ref};
pub use binding::{
    Binding, Segment, parse_template, render_template, template_bindings, whole_binding,
};
pub use compute::{ComputeSpec, ExecutorSpec, SlurmSettings, load_compute, parse_compute};
pub use conda::{PythonEnvSpec, parse_conda, parse_requirements};
pub use datastore::{
    DatastoreCredentials, DatastoreKind, DatastoreSpec, load_datastore, parse_datastore,
};
pub use decode::{AssetLookup, suggest};
pub use diag::{SpecError, Warning};
pub use infra::{InfraSpec, PolicyDecl, TokenDecl, WorkspaceDecl, load_infra, parse_infra};
pub use local::{LocalPath, local_paths};
pub use parallel::MiniBatchSize;
pub use parse::{
    load_component, load_data, load_environment, load_job, parse_data, parse_job, parse_model,
    read_source,
};
pub use pipeline::{ComponentInfo, load_component_info};
pub use scale::{Distribution, DistributionKind, Scale};
pub use source::{Source, Span, Spanned, normalize};
pub use sweep::{
    Bayesian, Dist, EarlyTermination, SWEEP_ENV, SWEEP_POINT_TAG, Slack, SweepWatch,
    TerminationPolicy, sweep_env_text,
};
pub use types::{
    ComponentSpec, DataSpec, EnvironmentRef, EnvironmentSpec, FileAssetSpec, InputDef, InputValue,
    IoType, JobKind, JobSpec, ModelSpec, OutputDef, OutputValue, Retry, Settings, StepSpec,
};
pub use validate::dependencies;
