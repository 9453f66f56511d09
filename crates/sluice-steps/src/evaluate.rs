//! `sluice step evaluate`: score a candidate model on test data, compare it with the current
//! champion of the registered model on the same data, and write the `deploy_flag`.
//!
//! - **Inputs**: `--model` (a folder made by `sluice step train`), `--test-data`,
//!   `--model-name` (the registered model to compare with; optional), `--metric` (default `r2`
//!   for regression, `accuracy` for classification) and `--direction` (`higher` or `lower`,
//!   default: `lower` for `mse/rmse/mae/log_loss`, else `higher`).
//! - **Outputs** in `--evaluation-output`: `predictions.parquet` (actual and predicted),
//!   `metrics.json`, `deploy_flag` (`1` or `0`, one character, as in the Azure sample) and
//!   `comparison.txt` (why).
//! - **Compared with**: the version holding the `champion` alias if there is one, else the best
//!   registered version on this test data. Deploy only when the candidate is strictly better
//!   (a tie does not deploy); no registered version → deploy.
//! - **Logged**: metrics `test_*`, `deploy_flag`, and `champion_<metric>` when compared.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sluice_data::{Column, Table};
use sluice_ml::{MappedModel, Predict, Task};

use crate::StepError;
use crate::mlflow::Tracking;
use crate::train::{dataset, ml, model_target, score};

pub struct EvaluateArgs {
    pub model: PathBuf,
    pub test_data: PathBuf,
    pub model_name: Option<String>,
    pub metric: Option<String>,
    pub direction: Option<String>,
    pub evaluation_output: PathBuf,
}

/// The evaluation: metrics, and whether the candidate should be deployed.
pub struct Evaluation {
    pub metrics: Vec<(String, f64)>,
    pub deploy: bool,
    pub comparison: String,
}

fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "mse" | "rmse" | "mae" | "log_loss")
}

pub fn run(args: &EvaluateArgs, tracking: Option<&Tracking>) -> Result<Evaluation, StepError> {
    let model = MappedModel::open(&args.model).map_err(ml)?;
    let target = model_target(&args.model)?;
    let table = Table::read_path(&args.test_data)?;
    let data = dataset(
        table.clone(),
        &target,
        Some(model.feature_names()),
        model.task(),
    )?;
    if data.n_rows() == 0 {
        return Err(StepError::Invalid(format!(
            "the test data `{}` has no rows",
            args.test_data.display()
        )));
    }
    let metrics = score(&model, &data, "test")?;
    let metric = args.metric.clone().unwrap_or_else(|| match model.task() {
        Task::Regression => "r2".into(),
        Task::Classification => "accuracy".into(),
    });
    let lower = match args.direction.as_deref() {
        None => lower_is_better(&metric),
        Some("lower") => true,
        Some("higher") => false,
        Some(other) => {
            return Err(StepError::Invalid(format!(
                "`--direction {other}`: use `higher` or `lower`"
            )));
        }
    };
    let key = format!("test_{metric}");
    let candidate = metrics
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            StepError::Invalid(format!(
                "metric `{metric}` is not computed for {} models; choose one of: {}",
                model.task().as_str(),
                metrics
                    .iter()
                    .map(|(k, _)| k.trim_start_matches("test_"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;

    // The champion, scored on the same data.
    let mut champion: Option<(String, f64)> = None;
    if let (Some(name), Some(t)) = (&args.model_name, tracking) {
        for (version, dir) in champion_candidates(t, name)? {
            // A registered version that cannot be read must not let the candidate through.
            let m = MappedModel::open(dir.path()).map_err(|e| {
                StepError::Tracking(format!(
                    "cannot read version {version} of the registered model to compare with it ({e}); the candidate is not judged without it"
                ))
            })?;
            let Ok(d) = dataset(table.clone(), &target, Some(m.feature_names()), m.task()) else {
                continue;
            };
            let Ok(s) = score(&m, &d, "test") else {
                continue;
            };
            let Some((_, v)) = s.into_iter().find(|(k, _)| *k == key) else {
                continue;
            };
            let better = champion
                .as_ref()
                .is_none_or(|(_, best)| if lower { v < *best } else { v > *best });
            if better {
                champion = Some((version, v));
            }
        }
    }
    let (deploy, comparison) = match &champion {
        None => (
            true,
            format!(
                "candidate {metric} = {candidate:.6}; no registered version of {} to compare with: deploy",
                args.model_name
                    .as_deref()
                    .map_or("the model".to_owned(), |n| format!("`{n}`"))
            ),
        ),
        Some((version, best)) => {
            // Strictly better: retraining an identical model does not add a version.
            let wins = if lower {
                candidate < *best
            } else {
                candidate > *best
            };
            (
                wins,
                format!(
                    "candidate {metric} = {candidate:.6}; champion (version {version}) {metric} = {best:.6}; {} is better: {}",
                    if lower { "lower" } else { "higher" },
                    if wins { "deploy" } else { "do not deploy" }
                ),
            )
        }
    };

    let out = &args.evaluation_output;
    std::fs::create_dir_all(out).map_err(|e| StepError::io(out, e))?;
    write_predictions(&model, &data, &table, &target, out)?;
    let metrics_json: serde_json::Map<String, Value> =
        metrics.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let report = json!({
        "metrics": metrics_json,
        "metric": metric,
        "direction": if lower { "lower" } else { "higher" },
        "candidate": candidate,
        "champion": champion.as_ref().map(|(v, s)| json!({"version": v, "score": s})),
        "deploy": deploy,
    });
    write(
        &out.join("metrics.json"),
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    write(&out.join("deploy_flag"), if deploy { "1" } else { "0" })?;
    write(&out.join("comparison.txt"), &format!("{comparison}\n"))?;
    if let Some(t) = tracking {
        let mut logged = metrics.clone();
        logged.push(("deploy_flag".into(), if deploy { 1.0 } else { 0.0 }));
        if let Some((_, best)) = &champion {
            logged.push((format!("champion_{metric}"), *best));
        }
        t.log(&[], &logged, &[])?;
    }
    Ok(Evaluation {
        metrics,
        deploy,
        comparison,
    })
}

fn write(path: &Path, text: &str) -> Result<(), StepError> {
    std::fs::write(path, text).map_err(|e| StepError::io(path, e))
}

fn write_predictions(
    model: &impl Predict,
    data: &sluice_ml::Dataset,
    table: &Table,
    target: &str,
    out: &Path,
) -> Result<(), StepError> {
    let actual = table
        .column(target)
        .cloned()
        .unwrap_or_else(|| Column::Number(Vec::new()));
    let predicted = match model.task() {
        Task::Regression => Column::Number(model.predict(data).map_err(ml)?),
        Task::Classification => Column::Text(
            model
                .predict_labels(data)
                .map_err(ml)?
                .into_iter()
                .map(Some)
                .collect(),
        ),
    };
    let t = Table::new([
        ("actual".to_owned(), actual),
        ("predicted".to_owned(), predicted),
    ])?;
    t.write_parquet(out.join("predictions.parquet"))?;
    Ok(())
}

/// The versions to compare with: the `champion` alias if set, else every registered version.
/// Each is downloaded into a new temporary folder of its own (removed when dropped), so files
/// left by an earlier process can never stand in for a version whose files are gone.
fn champion_candidates(
    t: &Tracking,
    name: &str,
) -> Result<Vec<(String, tempfile::TempDir)>, StepError> {
    let absent = |e: &StepError| matches!(e, StepError::Tracking(m) if m.contains("RESOURCE_DOES_NOT_EXIST"));
    // Only "no such alias" (or no such model) means there is no champion to beat; any other
    // failure must not let a candidate through unjudged.
    let versions: Vec<Value> = match t.get(
        "registered-models/alias",
        &[("name", name), ("alias", "champion")],
    ) {
        Ok(v) => vec![v["model_version"].clone()],
        Err(e) if absent(&e) => {
            let found = t.get(
                "model-versions/search",
                &[("filter", &format!("name = '{}'", name.replace('\'', "''")))],
            );
            match found {
                Ok(v) => v["model_versions"].as_array().cloned().unwrap_or_default(),
                Err(e) if absent(&e) => Vec::new(),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for v in versions {
        let Some(version) = v["version"].as_str() else {
            continue;
        };
        let uri = t.get(
            "model-versions/get-download-uri",
            &[("name", name), ("version", version)],
        )?;
        let Some(uri) = uri["artifact_uri"].as_str() else {
            return Err(StepError::Tracking(format!(
                "version {version} of `{name}` has no artifact location; it cannot be compared"
            )));
        };
        let dir = tempfile::Builder::new()
            .prefix("sluice-champion-")
            .tempdir()
            .map_err(|e| StepError::io(&std::env::temp_dir(), e))?;
        t.download_dir(uri, dir.path()).map_err(|e| {
            StepError::Tracking(format!(
                "cannot download version {version} of `{name}` to compare with it ({e}); the candidate is not judged without it"
            ))
        })?;
        out.push((version.to_owned(), dir));
    }
    Ok(out)
}
