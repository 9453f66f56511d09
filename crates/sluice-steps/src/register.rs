//! `sluice step register`: register the model as a new version of a registered model, but only
//! when the evaluation's `deploy_flag` is `1` (or with `--force`, which is recorded).
//!
//! - **Inputs**: `--model` (the model folder), `--model-name`, `--evaluation-output` (the
//!   folder holding `deploy_flag`), `--force`.
//! - **Outputs** in `--model-info-output`: `model_info.json` = `{"id": "NAME:VERSION"}` when a
//!   version was registered.
//! - **Lineage** on the version (tag `sluice.lineage`, JSON): the pipeline job and step, the run,
//!   the job's data inputs with asset versions and content hashes, and the model folder's hash.
//! - The model files are uploaded as the run's artifacts under `model/`; the version's source is
//!   `runs:/RUN_ID/model`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::StepError;
use crate::mlflow::Tracking;

pub struct RegisterArgs {
    pub model: PathBuf,
    pub model_name: String,
    pub evaluation_output: Option<PathBuf>,
    pub force: bool,
    pub model_info_output: PathBuf,
}

/// What registration did: `Some("name:version")`, or `None` when the flag said no.
pub fn run(
    args: &RegisterArgs,
    tracking: Option<&Tracking>,
    lineage_inputs: &Value,
) -> Result<Option<String>, StepError> {
    let flag = match &args.evaluation_output {
        Some(dir) => {
            let path = if dir.is_dir() {
                dir.join("deploy_flag")
            } else {
                dir.clone()
            };
            let text = std::fs::read_to_string(&path).map_err(|e| StepError::io(&path, e))?;
            match text.trim() {
                "1" => true,
                "0" => false,
                other => {
                    return Err(StepError::Invalid(format!(
                        "`{}` holds `{other}`; a deploy flag is `1` or `0`",
                        path.display()
                    )));
                }
            }
        }
        None => false,
    };
    std::fs::create_dir_all(&args.model_info_output)
        .map_err(|e| StepError::io(&args.model_info_output, e))?;
    if !flag && !args.force {
        return Ok(None);
    }
    let Some(t) = tracking else {
        return Err(StepError::Tracking(
            "registering needs the tracking server: run this step inside `sluice job create`, or set MLFLOW_TRACKING_URI and MLFLOW_RUN_ID".into(),
        ));
    };
    let model_hash = sluice_artifacts_hash(&args.model)?;
    t.upload_dir(&args.model, "model")?;
    match t.post(
        "registered-models/create",
        &json!({"name": args.model_name}),
    ) {
        Ok(_) => {}
        Err(StepError::Tracking(m)) if m.contains("RESOURCE_ALREADY_EXISTS") => {}
        Err(e) => return Err(e),
    }
    let lineage = json!({
        "job": std::env::var("SLUICE_JOB_NAME").ok(),
        "step": std::env::var("SLUICE_STEP_NAME").ok(),
        "run_id": t.run_id,
        "inputs": lineage_inputs,
        "model_hash": model_hash,
        "forced": args.force && !flag,
    });
    let mut tags = vec![json!({"key": "sluice.lineage", "value": lineage.to_string()})];
    if args.force && !flag {
        tags.push(json!({"key": "sluice.forced", "value": "true"}));
    }
    let created = t.post(
        "model-versions/create",
        &json!({
            "name": args.model_name,
            "source": format!("runs:/{}/model", t.run_id),
            "run_id": t.run_id,
            "tags": tags,
        }),
    )?;
    let version = created["model_version"]["version"]
        .as_str()
        .ok_or_else(|| StepError::Tracking("model-versions/create returned no version".into()))?
        .to_owned();
    let id = format!("{}:{version}", args.model_name);
    let info = args.model_info_output.join("model_info.json");
    std::fs::write(&info, format!("{}\n", json!({"id": id})))
        .map_err(|e| StepError::io(&info, e))?;
    t.log(&[], &[], &[("sluice.registered_model".into(), id.clone())])?;
    Ok(Some(id))
}

fn sluice_artifacts_hash(dir: &std::path::Path) -> Result<String, StepError> {
    sluice_artifacts::hash_path(dir)
        .map(|h| h.hash)
        .map_err(|e| StepError::Invalid(e.to_string()))
}
