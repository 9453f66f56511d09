//! `sluice step ...`: the built-in steps. Each prints a one-line summary on stderr and its
//! result as JSON on stdout; inside a job it logs to the step's MLflow run.

mod parallel;

use serde_json::{Value, json};
use sluice_data::{Missing, PrepOptions, Split};
use sluice_steps::mlflow::Tracking;

use crate::cli::{StepCommand, StepPrepArgs, StepTrainArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::ui;

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &StepCommand) -> Result<(), CliError> {
    let tracking = Tracking::from_env();
    if tracking.is_none() && !matches!(cmd, StepCommand::SynthTaxi(_)) {
        ui::note(
            "note: MLFLOW_TRACKING_URI and MLFLOW_RUN_ID are not set; nothing is logged to MLflow",
        );
    }
    let t = tracking.as_ref();
    let result = match cmd {
        StepCommand::Prep(args) => {
            let spinner = crate::progress::spinner("Preparing the data");
            let report = sluice_steps::prep::run(&prep_args(args)?, t);
            spinner.finish_and_clear();
            let report = report?;
            let peak = peak_rss_bytes();
            ui::note(&format!(
                "prep: {} rows in, {} dropped; train {}, validation {}, test {}{}",
                report.rows.input,
                report.rows.dropped,
                report.rows.train,
                report.rows.validation,
                report.rows.test,
                peak.map(|b| format!("; peak memory {} MB", b / (1 << 20)))
                    .unwrap_or_default()
            ));
            let mut out = serde_json::to_value(&report).unwrap_or_default();
            if let Some(map) = out.as_object_mut() {
                map.insert("peak_rss_bytes".into(), json!(peak));
            }
            out
        }
        StepCommand::Train(args) => {
            let spinner = crate::progress::spinner(&format!("Training {}", args.algorithm));
            let trained = sluice_steps::train::run(&train_args(args), t);
            spinner.finish_and_clear();
            let trained = trained?;
            let metrics = metrics_json(&trained.metrics);
            if let Some(n) = sluice_ml::onnx_nodes(&trained.model)
                .filter(|&n| n > sluice_steps::train::AUTO_ONNX_MAX_NODES)
            {
                ui::note(&format!(
                    "no model.onnx beside model.bin: the model has {n} tree nodes; `sluice model export --path {} --file model.onnx` writes it",
                    args.model_output.display()
                ));
            }
            let peak = peak_rss_bytes();
            ui::note(&format!(
                "train: {} on {} features in {:.2} s; {}{}",
                args.algorithm,
                trained.model.feature_names().len(),
                trained.fit_seconds,
                summary(&trained.metrics),
                peak.map(|b| format!("; peak memory {} MB", b / (1 << 20)))
                    .unwrap_or_default()
            ));
            json!({"algorithm": args.algorithm, "task": trained.model.task().as_str(), "metrics": metrics, "fit_seconds": trained.fit_seconds, "peak_rss_bytes": peak})
        }
        StepCommand::Evaluate(args) => {
            let eval = sluice_steps::evaluate::run(
                &sluice_steps::evaluate::EvaluateArgs {
                    model: args.model.clone(),
                    test_data: args.test_data.clone(),
                    model_name: args.model_name.clone(),
                    metric: args.metric.clone(),
                    direction: args.direction.clone(),
                    evaluation_output: args.evaluation_output.clone(),
                },
                t,
            )?;
            ui::note(&format!("evaluate: {}", eval.comparison));
            json!({"metrics": metrics_json(&eval.metrics), "deploy_flag": u8::from(eval.deploy), "comparison": eval.comparison})
        }
        StepCommand::Register(args) => {
            let registered = sluice_steps::register::run(
                &sluice_steps::register::RegisterArgs {
                    model: args.model.clone(),
                    model_name: args.model_name.clone(),
                    evaluation_output: args.evaluation_output.clone(),
                    force: args.force,
                    model_info_output: args.model_info_output.clone(),
                },
                t,
                &job_inputs(),
            )?;
            match &registered {
                Some(id) => ui::note(&format!(
                    "register: registered {id}{}",
                    if args.force { " (forced)" } else { "" }
                )),
                None => ui::note("register: deploy_flag is 0, the model is not registered"),
            }
            json!({"registered": registered.is_some(), "id": registered})
        }
        StepCommand::SweepSelect(args) => sweep_select(args, t)?,
        StepCommand::ParallelRun(args) => parallel::run(args)?,
        StepCommand::SynthTaxi(args) => {
            let path = if args.path.extension().is_some() {
                args.path.clone()
            } else {
                args.path.join("taxi.parquet")
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CliError::Workspace(format!("`{}`: {e}", dir.display())))?;
            }
            write_synth_taxi(&path, args.rows, args.seed).map_err(sluice_steps::StepError::from)?;
            ui::note(&format!(
                "synth-taxi: {} rows written to {}",
                args.rows,
                path.display()
            ));
            json!({"rows": args.rows, "seed": args.seed, "path": path})
        }
    };
    // Inside a job the summary line is enough; the JSON result is for scripts.
    if std::env::var_os("SLUICE_STEP_NAME").is_some() {
        return Ok(());
    }
    ctx.printer.print(&result, &[])
}

/// `sluice step sweep-select`: the best trial of a sweep, by the objective in `SLUICE_SWEEP`.
fn sweep_select(
    args: &crate::cli::StepSweepSelectArgs,
    t: Option<&Tracking>,
) -> Result<Value, CliError> {
    let bad = |what: &str, text: &str| {
        CliError::usage(
            format!("`{text}` is not {what}"),
            "this step is written by a `type: sweep` job; run the sweep job instead",
        )
    };
    let sweep: Value = std::env::var(sluice_spec::SWEEP_ENV)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(|| {
            CliError::usage(
                format!("{} is not set", sluice_spec::SWEEP_ENV),
                "this step is written by a `type: sweep` job; run the sweep job instead",
            )
        })?;
    let mut trial_outputs = Vec::new();
    for text in &args.trial_outputs {
        let (head, path) = text
            .split_once('=')
            .ok_or_else(|| bad("STEP:OUTPUT=PATH", text))?;
        let (step, output) = head
            .rsplit_once(':')
            .ok_or_else(|| bad("STEP:OUTPUT=PATH", text))?;
        trial_outputs.push((step.to_owned(), output.to_owned(), path.into()));
    }
    let mut outputs = Vec::new();
    for text in &args.outputs {
        let (name, path) = text
            .split_once('=')
            .ok_or_else(|| bad("OUTPUT=PATH", text))?;
        outputs.push((name.to_owned(), path.into()));
    }
    let selected = sluice_steps::sweep::run(
        &sluice_steps::sweep::SelectArgs {
            sweep,
            job: std::env::var("SLUICE_JOB_NAME").unwrap_or_default(),
            step: std::env::var("SLUICE_STEP_NAME").unwrap_or_default(),
            experiment_id: std::env::var("MLFLOW_EXPERIMENT_ID").unwrap_or_default(),
            trial_outputs,
            outputs,
        },
        t,
    )?;
    for trial in &selected.trials {
        ui::note(&format!(
            "sweep: {} {} -> {} = {}{}",
            trial.step,
            trial.params,
            selected.metric,
            match (trial.status.as_deref(), trial.metric) {
                (Some("FINISHED"), Some(v)) => v.to_string(),
                (Some("FINISHED"), None) => "(not logged)".to_owned(),
                (status, _) => format!("(trial {})", status.unwrap_or("not found").to_lowercase()),
            },
            if trial.step == selected.best.step {
                "  <- best"
            } else {
                ""
            }
        ));
    }
    ui::note(&format!(
        "sweep: best trial {} ({} {} = {})",
        selected.best.step,
        selected.goal,
        selected.metric,
        selected.best.metric.unwrap_or(f64::NAN)
    ));
    Ok(serde_json::to_value(&selected).unwrap_or_default())
}

fn metrics_json(metrics: &[(String, f64)]) -> Value {
    metrics
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn summary(metrics: &[(String, f64)]) -> String {
    metrics
        .iter()
        .take(2)
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn prep_args(args: &StepPrepArgs) -> Result<sluice_steps::prep::PrepArgs, CliError> {
    let parts: Vec<f64> = args
        .split
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            CliError::usage(
                format!("`--split {}` is not three numbers", args.split),
                "write e.g. `--split 0.7,0.15,0.15`",
            )
        })?;
    let split = match parts.as_slice() {
        [train, validation, test] => Split {
            train: *train,
            validation: *validation,
            test: *test,
        },
        [train, test] => Split {
            train: *train,
            validation: 0.0,
            test: *test,
        },
        _ => {
            return Err(CliError::usage(
                format!("`--split {}` needs 2 or 3 fractions", args.split),
                "write e.g. `--split 0.7,0.15,0.15`",
            ));
        }
    };
    let missing = match args.missing.as_str() {
        "drop" => Missing::Drop,
        "impute" => Missing::Impute,
        other => {
            return Err(CliError::usage(
                format!("`--missing {other}` is not `drop` or `impute`"),
                "use `--missing drop` or `--missing impute`",
            ));
        }
    };
    let mut options = PrepOptions::new(args.target.clone());
    options.features.clone_from(&args.features);
    options.drop.clone_from(&args.drop);
    options.categorical.clone_from(&args.categorical);
    options.missing = missing;
    options.standardize = args.standardize;
    options.split = split;
    options.seed = args.seed;
    Ok(sluice_steps::prep::PrepArgs {
        data: args.data.clone(),
        options,
        train_output: args.train_output.clone(),
        validation_output: args.validation_output.clone(),
        test_output: args.test_output.clone(),
    })
}

fn train_args(a: &StepTrainArgs) -> sluice_steps::train::TrainArgs {
    let hyper = [
        ("n_estimators", &a.n_estimators),
        ("max_iter", &a.max_iter),
        ("learning_rate", &a.learning_rate),
        ("max_depth", &a.max_depth),
        ("max_leaf_nodes", &a.max_leaf_nodes),
        ("max_features", &a.max_features),
        ("min_samples_leaf", &a.min_samples_leaf),
        ("min_samples_split", &a.min_samples_split),
        ("bootstrap", &a.bootstrap),
        ("alpha", &a.alpha),
        ("c", &a.c),
        ("l2_regularization", &a.l2_regularization),
        ("seed", &a.seed),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
    .collect();
    sluice_steps::train::TrainArgs {
        algorithm: a.algorithm.clone(),
        train_data: a.train_data.clone(),
        validation_data: a.validation_data.clone(),
        target: a.target.clone(),
        task: a.task.clone(),
        hyperparameters: hyper,
        model_output: a.model_output.clone(),
    }
}

/// The data inputs of the job this step runs in (asset versions and content hashes), as the
/// job handed them to the step (`SLUICE_JOB_INPUTS`), else from the workspace it gave the step;
/// `null` outside a job.
fn job_inputs() -> Value {
    job_inputs_from(&|name| std::env::var(name).ok())
}

/// [`job_inputs`] with the variables `var` gives.
fn job_inputs_from(var: &dyn Fn(&str) -> Option<String>) -> Value {
    let handed = var("SLUICE_JOB_INPUTS").or_else(|| {
        var("SLUICE_JOB_INPUTS_FILE").and_then(|file| std::fs::read_to_string(file).ok())
    });
    if let Some(inputs) = handed.and_then(|text| serde_json::from_str::<Value>(&text).ok()) {
        return inputs;
    }
    let (Some(ws), Some(job)) = (var("SLUICE_WORKSPACE"), var("SLUICE_JOB_NAME")) else {
        return Value::Null;
    };
    // The job's store: the one it handed its steps (`SLUICE_STORE`), else the workspace's.
    let ws = std::path::Path::new(&ws);
    let given = var("SLUICE_STORE")
        .filter(|s| !s.trim().is_empty())
        .map(|s| sluice_store::Location::parse(s.trim()));
    let Ok(location) = sluice_engine::Workspace::store_location(ws, given.as_ref()) else {
        return Value::Null;
    };
    // A database file this machine does not have is not made here.
    if let sluice_store::Location::Sqlite(file) = &location
        && !file.exists()
    {
        return Value::Null;
    }
    match sluice_store::Store::open_at(&location).and_then(|s| s.get_job(&job)) {
        Ok(row) => row.inputs,
        Err(_) => Value::Null,
    }
}

/// Writes `rows` synthetic taxi trips to `path` (CSV by its extension, else Parquet) as they
/// are made, a part at a time, so any number of rows fits in memory.
fn write_synth_taxi(
    path: &std::path::Path,
    rows: usize,
    seed: u64,
) -> Result<(), sluice_data::DataError> {
    let parts = sluice_data::synth::TaxiParts::new(rows, seed);
    if path.extension().is_some_and(|e| e == "csv") {
        let mut writer: Option<sluice_data::CsvWriter> = None;
        for part in parts {
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(sluice_data::CsvWriter::create(path, part.names())?),
            };
            w.write(&part)?;
        }
        writer.map_or(Ok(()), sluice_data::CsvWriter::finish)
    } else {
        let mut writer = sluice_data::TableWriter::create(path);
        for part in parts {
            writer.write(&part)?;
        }
        writer.finish()
    }
}

/// This process's peak resident memory (`VmHWM` of `/proc/self/status`), where the system says.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch step on another machine, where the workspace's store is not to be opened:
    /// the inputs the job handed it are its lineage's.
    #[test]
    fn a_steps_job_inputs_come_from_the_job_without_opening_the_store() {
        let missing = tempfile::tempdir().unwrap();
        let ws = missing.path().join("not-here").join(".sluice");
        let inputs = r#"{"raw_data":{"kind":"data","path":"/share/inputs/ab/taxi.csv","type":"uri_file","content_hash":"blake3:ab"}}"#;
        let var = |name: &str| match name {
            "SLUICE_JOB_INPUTS" => Some(inputs.to_owned()),
            "SLUICE_WORKSPACE" => Some(ws.display().to_string()),
            "SLUICE_JOB_NAME" => Some("j".to_owned()),
            _ => None,
        };
        let got = job_inputs_from(&var);
        assert_eq!(got["raw_data"]["content_hash"], "blake3:ab", "{got}");
        assert!(!ws.exists(), "no store made where the step runs");
        // Large inputs come in a file; without either, a store this machine lacks is not made.
        let file = missing.path().join("job-inputs.json");
        std::fs::write(&file, inputs).unwrap();
        let by_file = |name: &str| match name {
            "SLUICE_JOB_INPUTS_FILE" => Some(file.display().to_string()),
            "SLUICE_WORKSPACE" => Some(ws.display().to_string()),
            "SLUICE_JOB_NAME" => Some("j".to_owned()),
            _ => None,
        };
        assert_eq!(job_inputs_from(&by_file)["raw_data"]["type"], "uri_file");
        let nothing = |name: &str| match name {
            "SLUICE_WORKSPACE" => Some(ws.display().to_string()),
            "SLUICE_JOB_NAME" => Some("j".to_owned()),
            _ => None,
        };
        assert_eq!(job_inputs_from(&nothing), Value::Null);
        assert!(!ws.exists(), "no store made where the step runs");
        // Outside a job: nothing.
        assert_eq!(job_inputs_from(&|_| None), Value::Null);
    }
}
