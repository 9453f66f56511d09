//! The typed Azure ML CLI v2 specs Sluice runs.

use indexmap::IndexMap;
use serde::Serialize;

use crate::binding::{Binding, Segment};
use crate::source::{Source, Spanned};

/// Types an input or output may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IoType {
    UriFile,
    UriFolder,
    Mltable,
    MlflowModel,
    CustomModel,
    TritonModel,
    String,
    Integer,
    Number,
    Boolean,
}

impl IoType {
    pub const DATA: [&'static str; 6] = [
        "uri_file",
        "uri_folder",
        "mltable",
        "mlflow_model",
        "custom_model",
        "triton_model",
    ];
    pub const ALL: [&'static str; 10] = [
        "uri_file",
        "uri_folder",
        "mltable",
        "mlflow_model",
        "custom_model",
        "triton_model",
        "string",
        "integer",
        "number",
        "boolean",
    ];

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uri_file" => Self::UriFile,
            "uri_folder" => Self::UriFolder,
            "mltable" => Self::Mltable,
            "mlflow_model" => Self::MlflowModel,
            "custom_model" => Self::CustomModel,
            "triton_model" => Self::TritonModel,
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            _ => return None,
        })
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UriFile => "uri_file",
            Self::UriFolder => "uri_folder",
            Self::Mltable => "mltable",
            Self::MlflowModel => "mlflow_model",
            Self::CustomModel => "custom_model",
            Self::TritonModel => "triton_model",
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    /// True for types whose value is a path to data.
    #[must_use]
    pub fn is_data(self) -> bool {
        !self.is_literal()
    }

    #[must_use]
    pub fn is_literal(self) -> bool {
        matches!(
            self,
            Self::String | Self::Integer | Self::Number | Self::Boolean
        )
    }
}

/// An input value given to a job: a literal, a path to data, or a binding.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    /// A literal (`5`, `"text"`, `true`), kept as JSON.
    Literal(Spanned<serde_json::Value>),
    /// Data at a path or asset reference, with an optional declared type and mode.
    Data {
        ty: Option<Spanned<IoType>>,
        path: Spanned<String>,
        mode: Option<Spanned<String>>,
    },
    /// `${{parent.inputs.x}}` or `${{parent.jobs.J.outputs.x}}`.
    Bound {
        binding: Spanned<Binding>,
        mode: Option<Spanned<String>>,
    },
    /// An input declared with a type but no value (`{type: uri_folder}` with no path).
    Empty { ty: Option<Spanned<IoType>> },
}

/// An output declared on a job.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputValue {
    /// A default output: a new `uri_folder` (a null value, or a mapping without `path`).
    Default {
        ty: Option<Spanned<IoType>>,
        mode: Option<Spanned<String>>,
        name: Option<Spanned<String>>,
        version: Option<Spanned<String>>,
    },
    /// An output written to a given path or datastore URI.
    Path {
        ty: Option<Spanned<IoType>>,
        path: Spanned<String>,
        mode: Option<Spanned<String>>,
    },
    /// `${{parent.outputs.x}}`.
    Bound(Spanned<Binding>),
}

impl OutputValue {
    #[must_use]
    pub fn declared_type(&self) -> Option<IoType> {
        match self {
            OutputValue::Default { ty, .. } | OutputValue::Path { ty, .. } => {
                ty.as_ref().map(|t| t.value)
            }
            OutputValue::Bound(_) => None,
        }
    }
}

/// An input a component declares.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDef {
    pub ty: Spanned<IoType>,
    pub default: Option<Spanned<serde_json::Value>>,
    pub optional: bool,
    pub description: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub allowed: Option<Vec<serde_json::Value>>,
}

/// An output a component declares.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDef {
    pub ty: Spanned<IoType>,
    pub description: Option<String>,
    pub mode: Option<Spanned<String>>,
}

/// An environment: a reference to a registered one, or an inline definition.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvironmentRef {
    Named(Spanned<String>),
    Inline(Box<EnvironmentSpec>),
}

/// A command component: the reusable definition of a step.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    pub source: Source,
    pub name: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub inputs: IndexMap<String, (Spanned<String>, InputDef)>,
    pub outputs: IndexMap<String, (Spanned<String>, OutputDef)>,
    pub command: Spanned<String>,
    pub template: Vec<Segment>,
    pub code: Option<Spanned<String>>,
    pub environment: Option<EnvironmentRef>,
    pub environment_variables: IndexMap<String, String>,
    pub is_deterministic: bool,
    /// True when the job wrote its command inline: input types were inferred from the values.
    pub inline: bool,
}

/// One job of a pipeline (or the only job of a command job).
#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: Spanned<String>,
    /// The file the step is written in (the job file, or a pipeline component's file), against
    /// which its input and output paths resolve.
    pub source: Source,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    /// The component the step runs: loaded from `component:` or built from inline fields.
    pub component: ComponentSpec,
    pub inputs: IndexMap<String, (Spanned<String>, InputValue)>,
    pub outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
    pub compute: Option<Spanned<String>>,
    pub environment_variables: IndexMap<String, String>,
    /// `limits.timeout` in seconds.
    pub timeout: Option<u64>,
    /// `retry:` on the job (else the pipeline's `settings.default_retry`).
    pub retry: Option<Retry>,
    /// `resources.instance_count` and `distribution:`.
    pub scale: crate::Scale,
    /// Steps that must complete before this one, besides those it reads from (a sweep's
    /// picking step waits for every trial).
    pub after: Vec<String>,
    /// A group of steps of which at most this many run at once (a sweep's
    /// `limits.max_concurrent_trials`), by group name.
    pub concurrency: Option<(String, usize)>,
    /// A failure of this step leaves the job running and its dependants free to start (a
    /// sweep's trial: the pick chooses among the trials that completed).
    pub may_fail: bool,
    /// A sweep's trial under an `early_termination` policy: what the runner watches.
    pub watch: Option<crate::SweepWatch>,
}

/// How often a failed step is tried again, and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Retry {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Seconds to wait before each further attempt.
    pub backoff_seconds: f64,
}

/// Settings of a pipeline job.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub default_compute: Option<Spanned<String>>,
    pub default_datastore: Option<Spanned<String>>,
    pub default_environment: Option<EnvironmentRef>,
    pub continue_on_step_failure: bool,
    pub force_rerun: bool,
    /// `settings.default_retry`: the retry policy of steps that have none of their own.
    pub default_retry: Option<Retry>,
}

/// Whether the file was a pipeline job or a single command job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Pipeline,
    Command,
}

/// A job file, validated: a pipeline with its steps, or a command job as a one-step pipeline.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub source: Source,
    pub kind: JobKind,
    pub schema: Option<String>,
    pub name: Option<Spanned<String>>,
    pub display_name: Option<String>,
    pub experiment_name: Option<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub settings: Settings,
    pub compute: Option<Spanned<String>>,
    pub inputs: IndexMap<String, (Spanned<String>, InputValue)>,
    pub outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
    pub steps: IndexMap<String, StepSpec>,
}

/// A data asset (`data create -f data.yml`) or a model (`model create -f model.yml`): a named,
/// typed file or folder.
#[derive(Debug, Clone)]
pub struct FileAssetSpec {
    pub source: Source,
    pub name: Spanned<String>,
    pub version: Option<Spanned<String>>,
    pub ty: Spanned<IoType>,
    pub path: Spanned<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
}

/// An environment (`environment create -f env.yml`, or inline in a job).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSpec {
    pub name: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub description: Option<String>,
    pub image: Option<String>,
    /// The conda file's path as written and its text.
    pub conda_file: Option<(Spanned<String>, String)>,
    pub tags: IndexMap<String, String>,
    /// `build.path`/`dockerfile_path`, recorded.
    pub build: Option<serde_json::Value>,
    /// Everything written, as JSON, for recording.
    pub raw: serde_json::Value,
}

/// A data asset: `type` is `uri_file`, `uri_folder` or `mltable`.
pub type DataSpec = FileAssetSpec;

/// A model: `type` is `mlflow_model`, `custom_model` or `triton_model`.
pub type ModelSpec = FileAssetSpec;
