//! `sluice step sweep-select`: the last step of a sweep. Reads each trial's primary metric from
//! its MLflow run (the run the job made for that step, found by its `sluice.job` and
//! `sluice.step` tags), picks the best by the objective's goal, copies that trial's outputs to
//! the sweep step's outputs and logs the choice to its own run.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::StepError;
use crate::mlflow::Tracking;

/// What the sweep asks (the `SLUICE_SWEEP` variable the job sets), and where the outputs are.
pub struct SelectArgs {
    /// `{"metric": M, "goal": "minimize"|"maximize", "trials": [{"step": S, "params": {...}}],
    /// "point_tag": T}`: a trial whose run has tag `T` (a bayesian sweep's) ran the point it
    /// holds instead of the planned `params`.
    pub sweep: Value,
    pub job: String,
    /// This step's name (`SLUICE_STEP_NAME`): its trials are named `NAME.trial_K`.
    pub step: String,
    pub experiment_id: String,
    /// (trial, as `trial_K`; output name; folder) of every trial's outputs.
    pub trial_outputs: Vec<(String, String, PathBuf)>,
    /// (output name, folder) of the sweep step's outputs.
    pub outputs: Vec<(String, PathBuf)>,
}

/// One trial and what it scored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trial {
    /// The trial's step name, and its name within the sweep (`trial_K`).
    pub step: String,
    #[serde(skip)]
    pub own: String,
    pub params: Value,
    pub run_id: Option<String>,
    /// Its run's status (`FINISHED`, `FAILED`, ...): only finished trials are chosen from.
    pub status: Option<String>,
    pub metric: Option<f64>,
}

/// The trials and the best one.
#[derive(Debug, serde::Serialize)]
pub struct Selected {
    pub metric: String,
    pub goal: String,
    pub best: Trial,
    pub trials: Vec<Trial>,
}

pub fn run(args: &SelectArgs, tracking: Option<&Tracking>) -> Result<Selected, StepError> {
    let Some(t) = tracking else {
        return Err(StepError::Invalid(
            "sweep-select reads the trials' metrics from MLflow: it runs inside a job (MLFLOW_TRACKING_URI and MLFLOW_RUN_ID)".into(),
        ));
    };
    let metric = args.sweep["metric"].as_str().unwrap_or_default().to_owned();
    let goal = args.sweep["goal"].as_str().unwrap_or("minimize").to_owned();
    let Some(listed) = args.sweep["trials"].as_array() else {
        return Err(StepError::Invalid(
            "SLUICE_SWEEP names no trials: this step is written by a `type: sweep` job".into(),
        ));
    };
    let point_tag = args.sweep["point_tag"].as_str();
    let mut trials = Vec::with_capacity(listed.len());
    for trial in listed {
        let own = trial["step"].as_str().unwrap_or_default();
        let step = if args.step.is_empty() {
            own.to_owned()
        } else {
            format!("{}.{own}", args.step)
        };
        let found = trial_metric(t, &args.experiment_id, &args.job, &step, &metric, point_tag)?;
        trials.push(Trial {
            own: own.to_owned(),
            step,
            params: found.point.unwrap_or_else(|| trial["params"].clone()),
            run_id: found.run_id,
            status: found.status,
            metric: found.metric,
        });
    }
    let better = |a: f64, b: f64| if goal == "maximize" { a > b } else { a < b };
    let mut best: Option<&Trial> = None;
    for trial in &trials {
        let Some(v) = trial.metric.filter(|v| !v.is_nan()) else {
            continue;
        };
        if trial.status.as_deref() != Some("FINISHED") {
            continue;
        }
        if best.is_none_or(|b| better(v, b.metric.unwrap_or(f64::NAN))) {
            best = Some(trial);
        }
    }
    let Some(best) = best.cloned() else {
        let finished = trials
            .iter()
            .filter(|t| t.status.as_deref() == Some("FINISHED"))
            .count();
        return Err(StepError::Invalid(if finished == 0 {
            format!(
                "every trial failed ({} of them): nothing to choose from; `sluice job show` lists them and their logs",
                trials.len()
            )
        } else {
            format!(
                "no trial that completed logged the primary metric `{metric}` ({finished} of {} trials completed); each trial must log it with mlflow.log_metric(\"{metric}\", value)",
                trials.len()
            )
        }));
    };
    for (name, dest) in &args.outputs {
        let Some((_, _, from)) = args
            .trial_outputs
            .iter()
            .find(|(s, o, _)| *s == best.own && o == name)
        else {
            return Err(StepError::Invalid(format!(
                "output `{name}` of {} was not given to this step",
                best.step
            )));
        };
        copy_into(from, dest)?;
    }
    let mut params: Vec<(String, String)> = vec![("best_trial".into(), best.step.clone())];
    if let Some(p) = best.params.as_object() {
        for (k, v) in p {
            params.push((
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            ));
        }
    }
    let mut tags = vec![("sluice.sweep.best_trial".to_owned(), best.step.clone())];
    if let Some(run) = &best.run_id {
        tags.push(("sluice.sweep.best_run_id".into(), run.clone()));
    }
    t.log(
        &params,
        &[(metric.clone(), best.metric.unwrap_or(f64::NAN))],
        &tags,
    )?;
    Ok(Selected {
        metric,
        goal,
        best,
        trials,
    })
}

/// A trial's newest run, its status and its latest value of the metric (each `None` when
/// there is no such run, or no such value).
#[derive(Default)]
struct Found {
    run_id: Option<String>,
    status: Option<String>,
    metric: Option<f64>,
    /// The point in its `point_tag` tag.
    point: Option<Value>,
}

/// The newest run of `step` in this job, its status, its latest value of `metric`, and the
/// point in its tag `point_tag`.
fn trial_metric(
    t: &Tracking,
    experiment_id: &str,
    job: &str,
    step: &str,
    metric: &str,
    point_tag: Option<&str>,
) -> Result<Found, StepError> {
    let quote = |s: &str| s.replace('\'', "''");
    let found = t.post(
        "runs/search",
        &json!({
            "experiment_ids": [experiment_id],
            "filter": format!("tags.`sluice.job` = '{}' and tags.`sluice.step` = '{}'", quote(job), quote(step)),
            "order_by": ["attributes.start_time DESC"],
            "max_results": 1,
        }),
    )?;
    let Some(run) = found["runs"].as_array().and_then(|r| r.first()) else {
        return Ok(Found::default());
    };
    let run_id = run["info"]["run_id"].as_str().map(str::to_owned);
    let status = run["info"]["status"].as_str().map(str::to_owned);
    let value = run["data"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["key"] == metric)
        .and_then(|m| match &m["value"] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s == "NaN" => Some(f64::NAN),
            Value::String(s) if s == "Infinity" => Some(f64::INFINITY),
            Value::String(s) if s == "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        });
    let point = point_tag.and_then(|tag| {
        let text = run["data"]["tags"]
            .as_array()?
            .iter()
            .find(|t| t["key"] == tag)?["value"]
            .as_str()?;
        serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
    });
    Ok(Found {
        run_id,
        status,
        metric: value,
        point,
    })
}

/// Copies a file or folder's contents into `dest` (a folder the job made, or a file path).
fn copy_into(from: &Path, dest: &Path) -> Result<(), StepError> {
    let meta = std::fs::metadata(from).map_err(|e| StepError::io(from, e))?;
    if meta.is_file() {
        let target = if dest.is_dir() {
            dest.join(from.file_name().unwrap_or_default())
        } else {
            dest.to_path_buf()
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StepError::io(parent, e))?;
        }
        return copy_file(from, &target);
    }
    std::fs::create_dir_all(dest).map_err(|e| StepError::io(dest, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| StepError::io(from, e))? {
        let entry = entry.map_err(|e| StepError::io(from, e))?;
        let path = entry.path();
        let target = dest.join(entry.file_name());
        if path.is_dir() {
            copy_into(&path, &target)?;
        } else {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

/// Copies file `from` to `to` through a file of its own beside `to`, renamed over it: a file
/// already at `to` (a model another process may have mapped) is replaced, never rewritten.
fn copy_file(from: &Path, to: &Path) -> Result<(), StepError> {
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let tmp = to.with_file_name(format!(".{name}.{}.copy", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| StepError::io(from, e))?;
    std::fs::rename(&tmp, to).map_err(|e| StepError::io(to, e))
}
