//! Rows of the store's tables, as the rest of Sluice sees them.

use crate::db::Row;
use indexmap::IndexMap;
use serde::Serialize;

fn json<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

/// One version of a data asset.
#[derive(Debug, Clone, Serialize)]
pub struct DataAssetRow {
    pub name: String,
    pub version: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Where the bytes are stored in the workspace.
    pub path: String,
    /// The path the asset was created from.
    pub source_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub content_hash: String,
    pub size_bytes: i64,
    pub file_count: i64,
    pub created_at: String,
}

impl DataAssetRow {
    pub(crate) const COLUMNS: &'static str = "name, version, type, path, source_path, description, tags, content_hash, size_bytes, file_count, created_at";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            version: r.get(1)?,
            ty: r.get(2)?,
            path: r.get(3)?,
            source_path: r.get(4)?,
            description: r.get(5)?,
            tags: json(&r.get::<_, String>(6)?),
            content_hash: r.get(7)?,
            size_bytes: r.get(8)?,
            file_count: r.get(9)?,
            created_at: r.get(10)?,
        })
    }
}

/// One version of an environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentRow {
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conda_file: Option<String>,
    pub spec: serde_json::Value,
    /// blake3 of the image and conda file: identical specs share a hash.
    pub spec_hash: String,
    pub created_at: String,
}

impl EnvironmentRow {
    pub(crate) const COLUMNS: &'static str =
        "name, version, description, image, conda_file, spec, spec_hash, created_at";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            version: r.get(1)?,
            description: r.get(2)?,
            image: r.get(3)?,
            conda_file: r.get(4)?,
            spec: json(&r.get::<_, String>(5)?),
            spec_hash: r.get(6)?,
            created_at: r.get(7)?,
        })
    }
}

/// One attempt of a step.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub attempt: u32,
    pub status: String,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    /// This attempt's own log.
    pub log_path: String,
}

/// A built Python environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvBuildRow {
    pub hash: String,
    /// The interpreter's full version.
    pub python: String,
    /// The normalised requirement set.
    pub requirements: Vec<String>,
    /// The resolved, pinned set.
    pub lock: Vec<String>,
    /// The venv.
    pub path: String,
    pub build_seconds: f64,
    pub built_at: String,
}

impl EnvBuildRow {
    pub(crate) const SELECT: &'static str =
        "SELECT hash, python, requirements, lock, path, seconds, built_at FROM env_builds";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        let lines = |s: String| -> Vec<String> {
            s.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(Self {
            hash: r.get(0)?,
            python: r.get(1)?,
            requirements: lines(r.get(2)?),
            lock: lines(r.get(3)?),
            path: r.get(4)?,
            build_seconds: r.get(5)?,
            built_at: r.get(6)?,
        })
    }
}

/// A compute target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComputeRow {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub max_instances: i64,
    pub min_instances: i64,
    /// The VM size asked for (`Standard_DS3_v2`), recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// `dedicated` or `low_priority`, recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_time_before_scale_down: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The executor's settings (a Slurm compute's `partition`, `account`, `qos`,
    /// `sbatch_options`), as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
    pub created_at: String,
}

impl ComputeRow {
    pub(crate) const COLUMNS: &'static str = "name, type, max_instances, description, created_at, min_instances, size, tier, idle_time_before_scale_down, settings";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            ty: r.get(1)?,
            max_instances: r.get(2)?,
            description: r.get(3)?,
            created_at: r.get(4)?,
            min_instances: r.get(5)?,
            size: r.get(6)?,
            tier: r.get(7)?,
            idle_time_before_scale_down: r.get(8)?,
            settings: r.get::<_, Option<String>>(9)?.map(|t| json(&t)),
        })
    }
}

/// A datastore: where its objects are, and which kind of credential it uses (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatastoreRow {
    pub name: String,
    /// `azure_blob`, `azure_data_lake_gen2` or `s3`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Account, container, bucket, endpoint, protocol, region: as the YAML gave them.
    pub settings: serde_json::Value,
    /// `account_key`, `sas`, `service_principal`, `access_key` or `none`.
    pub credential: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: indexmap::IndexMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

impl DatastoreRow {
    pub(crate) const COLUMNS: &'static str =
        "name, type, settings, credential, description, tags, created_at, updated_at";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        let settings: String = r.get(2)?;
        let tags: String = r.get(5)?;
        Ok(Self {
            name: r.get(0)?,
            ty: r.get(1)?,
            settings: serde_json::from_str(&settings).unwrap_or_default(),
            credential: r.get(3)?,
            description: r.get(4)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            created_at: r.get(6)?,
            updated_at: r.get(7)?,
        })
    }
}

/// One registered component version.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentRow {
    pub name: String,
    pub version: String,
    /// `command` or `pipeline`.
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The stored component file, which jobs read.
    pub yaml_path: String,
    /// The file it was registered from.
    pub source_path: String,
    /// Inputs, outputs, tags and the files stored with it.
    pub spec: serde_json::Value,
    pub content_hash: String,
    pub created_by: String,
    pub created_at: String,
}

impl ComponentRow {
    pub(crate) const COLUMNS: &'static str = "name, version, type, display_name, description, yaml_path, source_path, spec, content_hash, created_by, created_at";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            version: r.get(1)?,
            ty: r.get(2)?,
            display_name: r.get(3)?,
            description: r.get(4)?,
            yaml_path: r.get(5)?,
            source_path: r.get(6)?,
            spec: json(&r.get::<_, String>(7)?),
            content_hash: r.get(8)?,
            created_by: r.get(9)?,
            created_at: r.get(10)?,
        })
    }
}

/// A job (a pipeline, or a command job run as a one-step pipeline).
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub display_name: Option<String>,
    pub experiment_name: String,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub status: String,
    pub spec_path: String,
    #[serde(skip)]
    pub spec_text: String,
    pub settings: serde_json::Value,
    pub inputs: serde_json::Value,
    pub compute: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub error: Option<String>,
}

impl JobRow {
    pub(crate) const SELECT: &'static str = "SELECT name, type, display_name, experiment_name, description, tags, status, spec_path, spec_text, settings, inputs, compute, created_at, started_at, ended_at, error FROM jobs";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(0)?,
            ty: r.get(1)?,
            display_name: r.get(2)?,
            experiment_name: r.get(3)?,
            description: r.get(4)?,
            tags: json(&r.get::<_, String>(5)?),
            status: r.get(6)?,
            spec_path: r.get(7)?,
            spec_text: r.get(8)?,
            settings: json(&r.get::<_, String>(9)?),
            inputs: json(&r.get::<_, String>(10)?),
            compute: r.get(11)?,
            created_at: r.get(12)?,
            started_at: r.get(13)?,
            ended_at: r.get(14)?,
            error: r.get(15)?,
        })
    }
}

/// One step of a job.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub name: String,
    pub display_name: Option<String>,
    pub status: String,
    pub depends_on: Vec<String>,
    pub command: Option<String>,
    pub environment: Option<String>,
    pub compute: Option<String>,
    pub inputs: serde_json::Value,
    pub work_dir: Option<String>,
    pub log_path: Option<String>,
    pub exit_code: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub error: Option<String>,
    /// The built Python environment the step ran in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_hash: Option<String>,
    /// blake3 of the step's code snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_hash: Option<String>,
    /// `JOB/STEP` whose results this step reused instead of running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// blake3 of the reuse key's parts (absent when reuse was off).
    #[serde(skip)]
    pub reuse_key: Option<String>,
    /// The reuse key's parts and the reuse decision, for `job explain`.
    #[serde(skip)]
    pub reuse_parts: Option<serde_json::Value>,
    /// The executor that ran the step's command (`local`, `slurm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// The executor's id for it (a Slurm job id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<String>,
    /// Its runner stopped while its batch job went on running: `job resume` follows that job,
    /// `job cancel` stops it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
}

impl StepRow {
    pub(crate) const SELECT: &'static str = "SELECT name, display_name, status, depends_on, command, environment, compute, inputs, work_dir, log_path, exit_code, created_at, started_at, ended_at, error, env_hash, code_hash, reused_from, reuse_key, reuse_parts, executor, executor_id, detached FROM steps";

    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Self::from_row_at(r, 0)
    }

    /// Reads the columns of [`Self::SELECT`] starting at column `at`.
    pub(crate) fn from_row_at(r: &Row<'_>, at: usize) -> crate::db::Result<Self> {
        Ok(Self {
            name: r.get(at)?,
            display_name: r.get(at + 1)?,
            status: r.get(at + 2)?,
            depends_on: json(&r.get::<_, String>(at + 3)?),
            command: r.get(at + 4)?,
            environment: r.get(at + 5)?,
            compute: r.get(at + 6)?,
            inputs: json(&r.get::<_, String>(at + 7)?),
            work_dir: r.get(at + 8)?,
            log_path: r.get(at + 9)?,
            exit_code: r.get(at + 10)?,
            created_at: r.get(at + 11)?,
            started_at: r.get(at + 12)?,
            ended_at: r.get(at + 13)?,
            error: r.get(at + 14)?,
            env_hash: r.get(at + 15)?,
            code_hash: r.get(at + 16)?,
            reused_from: r.get(at + 17)?,
            reuse_key: r.get(at + 18)?,
            reuse_parts: r.get::<_, Option<String>>(at + 19)?.map(|t| json(&t)),
            executor: r.get(at + 20)?,
            executor_id: r.get(at + 21)?,
            detached: r.get::<_, i64>(at + 22)? != 0,
        })
    }
}

/// An output folder or file of a step (or of the pipeline, with an empty `step_name`).
#[derive(Debug, Clone, Serialize)]
pub struct OutputRow {
    pub job_name: String,
    pub step_name: String,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub path: String,
    pub content_hash: Option<String>,
    pub size_bytes: Option<i64>,
    pub file_count: Option<i64>,
    pub asset_name: Option<String>,
    pub asset_version: Option<String>,
}

impl OutputRow {
    pub(crate) fn from_row(r: &Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            job_name: r.get(0)?,
            step_name: r.get(1)?,
            name: r.get(2)?,
            ty: r.get(3)?,
            path: r.get(4)?,
            content_hash: r.get(5)?,
            size_bytes: r.get(6)?,
            file_count: r.get(7)?,
            asset_name: r.get(8)?,
            asset_version: r.get(9)?,
        })
    }
}

/// One status change of a job (`step` empty) or of a step.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEvent {
    pub step: String,
    pub status: String,
    pub at: String,
    pub message: Option<String>,
}
