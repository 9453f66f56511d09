//! `sluice step train`: fit a model on prepared data and save it as an MLflow-style model folder.
//!
//! - **Inputs**: `--train-data` (a table: file or folder), `--target`, `--algorithm` (one of
//!   [`ALGORITHMS`]), hyperparameters as flags (`--n-estimators 100 --max-depth 8 ...`; a flag an
//!   algorithm does not take is an error), optionally `--validation-data`.
//! - **Outputs**: `--model-output` gets `MLmodel` (flavor `sluice`: algorithm, task, target,
//!   feature names; a signature) and `model.bin` (the versioned, checksummed `sluice-model` binary format).
//! - **Logged**: params `algorithm`, `task`, `target`, `n_features`, every hyperparameter (with
//!   the step's own defaults, [`STEP_DEFAULTS`]: `min_samples_leaf` 5 for a random forest);
//!   metrics `training_*` (and `validation_*`): r2, mse, rmse, mae or accuracy, f1, `log_loss`.
//! - **Deterministic**: the same data, hyperparameters and `--seed` give the same model.
//!
//! ```yaml
//! train_model:
//!   command: >-
//!     sluice step train --algorithm random_forest --n-estimators 50 --max-depth 12
//!     --train-data ${{inputs.train_data}} --target fare_amount --model-output ${{outputs.model_output}}
//! ```

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sluice_data::Table;
use sluice_ml::{Dataset, Model, Predict, Task};

use crate::StepError;
use crate::mlflow::Tracking;

/// The algorithms `--algorithm` takes.
pub const ALGORITHMS: &[&str] = &[
    "linear_regression",
    "ridge",
    "logistic_regression",
    "decision_tree",
    "random_forest",
    "gradient_boosting",
];

/// Hyperparameters the step sets where the command line does not, unlike the learners' own
/// defaults (scikit-learn's): `(algorithm, name, value)`. A random forest of fully grown trees
/// (one row a leaf) keeps a node for every few training rows: 1,000,000 taxi rows made 50 trees
/// of ~880,000 nodes each, 1.07 GB to train and a 721 MB model. Five rows a leaf keeps a quarter
/// of the nodes; on 100,000 taxi rows it scored a validation R² of 0.9916 (0.9912 fully grown)
/// with a 7 MB `model.bin` (27 MB) in 1.7 s (2.9 s). They are logged like given ones.
pub const STEP_DEFAULTS: &[(&str, &str, &str)] = &[("random_forest", "min_samples_leaf", "5")];

pub struct TrainArgs {
    pub algorithm: String,
    pub train_data: PathBuf,
    pub validation_data: Option<PathBuf>,
    pub target: String,
    /// `classification`, `regression`, or `None` to decide from the target (text → classification).
    pub task: Option<String>,
    /// Hyperparameters as given on the command line (`n_estimators` → `"100"`).
    pub hyperparameters: Vec<(String, String)>,
    pub model_output: PathBuf,
}

/// What training produced.
pub struct Trained {
    pub model: Model,
    pub metrics: Vec<(String, f64)>,
    /// The fit alone, in seconds (not reading, scoring or writing the model).
    pub fit_seconds: f64,
}

pub fn run(args: &TrainArgs, tracking: Option<&Tracking>) -> Result<Trained, StepError> {
    if !ALGORITHMS.contains(&args.algorithm.as_str()) {
        return Err(StepError::Invalid(format!(
            "unknown algorithm `{}`; choose one of: {}",
            args.algorithm,
            ALGORITHMS.join(", ")
        )));
    }
    let table = Table::read_path(&args.train_data)?;
    let task = decide_task(args, &table)?;
    // The dataset takes the table's columns, not a copy: one copy of the rows in memory.
    let data = dataset(table, &args.target, None, task)?;
    let mut given = args.hyperparameters.clone();
    for &(algorithm, name, value) in STEP_DEFAULTS {
        if algorithm == args.algorithm && !given.iter().any(|(k, _)| k == name) {
            given.push((name.to_owned(), value.to_owned()));
        }
    }
    let params = hyperparameters(&given);
    let started = std::time::Instant::now();
    let model = fit(&args.algorithm, task, &data, params.clone())?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let mut metrics = score(&model, &data, "training")?;
    if let Some(path) = &args.validation_data {
        let table = Table::read_path(path)?;
        let val = dataset(table, &args.target, Some(model.feature_names()), task)?;
        metrics.extend(score(&model, &val, "validation")?);
    }
    save_model_dir(&model, &args.target, &args.model_output)?;
    if let Some(t) = tracking {
        let mut logged = vec![
            ("algorithm".to_owned(), args.algorithm.clone()),
            ("task".to_owned(), task.as_str().to_owned()),
            ("target".to_owned(), args.target.clone()),
            (
                "n_features".to_owned(),
                model.feature_names().len().to_string(),
            ),
        ];
        logged.extend(given);
        t.log(
            &logged,
            &metrics,
            &[("sluice.algorithm".into(), args.algorithm.clone())],
        )?;
    }
    Ok(Trained {
        model,
        metrics,
        fit_seconds,
    })
}

fn decide_task(args: &TrainArgs, table: &Table) -> Result<Task, StepError> {
    let column = table
        .column(&args.target)
        .ok_or_else(|| missing_column(&args.target, &args.train_data, table))?;
    match args.task.as_deref() {
        Some("classification") => Ok(Task::Classification),
        Some("regression") => {
            if column.as_numbers().is_none() {
                return Err(StepError::Invalid(format!(
                    "target `{}` is text, so it cannot be a regression target; use `--task classification`",
                    args.target
                )));
            }
            Ok(Task::Regression)
        }
        Some(other) => Err(StepError::Invalid(format!(
            "unknown task `{other}`; use `regression` or `classification`"
        ))),
        None if args.algorithm == "logistic_regression" || column.as_numbers().is_none() => {
            Ok(Task::Classification)
        }
        None => Ok(Task::Regression),
    }
}

pub(crate) fn missing_column(name: &str, path: &Path, table: &Table) -> StepError {
    StepError::Invalid(format!(
        "column `{name}` is not in `{}`; its columns are: {}",
        path.display(),
        table.names().join(", ")
    ))
}

/// The features (in `order` if given, else every column but the target) and the target of a
/// table, whose columns it takes.
pub(crate) fn dataset(
    table: Table,
    target: &str,
    order: Option<&[String]>,
    task: Task,
) -> Result<Dataset, StepError> {
    let all_names = table.names().to_vec();
    let names: Vec<String> = match order {
        Some(o) => o.to_vec(),
        None => all_names.iter().filter(|n| *n != target).cloned().collect(),
    };
    let mut columns: std::collections::HashMap<String, sluice_data::Column> =
        table.into_columns().into_iter().collect();
    let mut features = Vec::with_capacity(names.len());
    for name in &names {
        let column = columns.remove(name).ok_or_else(|| {
            if all_names.contains(name) {
                StepError::Invalid(format!("feature `{name}` is listed twice"))
            } else {
                StepError::Invalid(format!(
                    "the model needs feature `{name}`, which the data does not have; the data's columns are: {}",
                    all_names.join(", ")
                ))
            }
        })?;
        let sluice_data::Column::Number(values) = column else {
            return Err(StepError::Invalid(format!(
                "feature `{name}` is text; prepare the data with `sluice step prep --categorical {name}` (one-hot) or drop it"
            )));
        };
        if values.iter().any(|v| v.is_nan()) {
            return Err(StepError::Invalid(format!(
                "feature `{name}` has missing values; prepare the data with `sluice step prep --missing impute` or `drop`"
            )));
        }
        features.push(values);
    }
    let data = Dataset::new(names, features).map_err(ml)?;
    let target_column = columns.remove(target).ok_or_else(|| {
        StepError::Invalid(format!(
            "the data has no target column `{target}`; its columns are: {}",
            all_names.join(", ")
        ))
    })?;
    match task {
        Task::Regression => {
            let sluice_data::Column::Number(y) = target_column else {
                return Err(StepError::Invalid(format!(
                    "target `{target}` is not numeric"
                )));
            };
            data.with_regression_target(y).map_err(ml)
        }
        Task::Classification => {
            let labels: Vec<String> = target_column
                .to_text()
                .into_iter()
                .map(std::option::Option::unwrap_or_default)
                .collect();
            data.with_class_labels(&labels).map_err(ml)
        }
    }
}

#[expect(clippy::needless_pass_by_value, reason = "used as `map_err(ml)`")]
pub(crate) fn ml(e: sluice_ml::MlError) -> StepError {
    StepError::Invalid(match e.hint() {
        Some(h) => format!("{e} (hint: {h})"),
        None => e.to_string(),
    })
}

/// `n_estimators=100` → `{"n_estimators": 100}`: integers, floats, booleans and words as JSON.
fn hyperparameters(given: &[(String, String)]) -> Map<String, Value> {
    given
        .iter()
        .map(|(k, v)| {
            let value = if let Ok(i) = v.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = v.parse::<f64>() {
                Value::from(f)
            } else if let Ok(b) = v.parse::<bool>() {
                Value::Bool(b)
            } else if v == "none" || v == "None" {
                Value::Null
            } else {
                Value::String(v.clone())
            };
            (k.clone(), value)
        })
        .collect()
}

fn params<T: serde::de::DeserializeOwned>(
    algorithm: &str,
    map: Map<String, Value>,
) -> Result<T, StepError> {
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        StepError::Invalid(format!(
            "invalid hyperparameters for `{algorithm}`: {e}; see `sluice step train --help` for the ones each algorithm takes"
        ))
    })
}

fn fit(
    algorithm: &str,
    task: Task,
    data: &Dataset,
    mut map: Map<String, Value>,
) -> Result<Model, StepError> {
    let regression_only = |name: &str| {
        if task == Task::Classification {
            Err(StepError::Invalid(format!(
                "`{name}` is a regression algorithm, but the task is classification"
            )))
        } else {
            Ok(())
        }
    };
    if matches!(
        algorithm,
        "linear_regression" | "ridge" | "logistic_regression"
    ) {
        // These solvers draw nothing at random: a seed changes nothing, so it is accepted.
        map.remove("seed");
    }
    Ok(match algorithm {
        "linear_regression" => {
            regression_only(algorithm)?;
            params::<sluice_ml::LinearParams>(algorithm, map)?
                .fit(data)
                .map_err(ml)?
                .into()
        }
        "ridge" => {
            regression_only(algorithm)?;
            map.entry("alpha").or_insert(Value::from(1.0));
            params::<sluice_ml::LinearParams>(algorithm, map)?
                .fit(data)
                .map_err(ml)?
                .into()
        }
        "logistic_regression" => {
            if task == Task::Regression {
                return Err(StepError::Invalid(
                    "`logistic_regression` is a classifier, but the task is regression".into(),
                ));
            }
            params::<sluice_ml::LogisticParams>(algorithm, map)?
                .fit(data)
                .map_err(ml)?
                .into()
        }
        "decision_tree" => params::<sluice_ml::TreeParams>(algorithm, map)?
            .fit(data)
            .map_err(ml)?
            .into(),
        "random_forest" => params::<sluice_ml::ForestParams>(algorithm, map)?
            .fit(data)
            .map_err(ml)?
            .into(),
        "gradient_boosting" => {
            // scikit-learn's GradientBoosting* call the rounds `n_estimators`.
            if let Some(n) = map.remove("n_estimators") {
                map.entry("max_iter").or_insert(n);
            }
            params::<sluice_ml::BoostingParams>(algorithm, map)?
                .fit(data)
                .map_err(ml)?
                .into()
        }
        other => return Err(StepError::Invalid(format!("unknown algorithm `{other}`"))),
    })
}

/// Scores a model on data: `{prefix}_r2` ... or `{prefix}_accuracy` ...
pub(crate) fn score(
    model: &impl Predict,
    data: &Dataset,
    prefix: &str,
) -> Result<Vec<(String, f64)>, StepError> {
    use sluice_ml::metrics;
    let y = data.target();
    let mut out = Vec::new();
    match model.task() {
        Task::Regression => {
            let pred = model.predict(data).map_err(ml)?;
            out.push(("r2", metrics::r2(y, &pred).map_err(ml)?));
            out.push(("mse", metrics::mse(y, &pred).map_err(ml)?));
            out.push(("rmse", metrics::rmse(y, &pred).map_err(ml)?));
            out.push(("mae", metrics::mae(y, &pred).map_err(ml)?));
        }
        Task::Classification => {
            let pred = model.predict(data).map_err(ml)?;
            let proba = model.predict_proba(data).map_err(ml)?;
            let k = model.classes().len();
            out.push(("accuracy", metrics::accuracy(y, &pred).map_err(ml)?));
            out.push(("precision", metrics::precision(y, &pred, k).map_err(ml)?));
            out.push(("recall", metrics::recall(y, &pred, k).map_err(ml)?));
            out.push(("f1", metrics::f1(y, &pred, k).map_err(ml)?));
            if let Ok(auc) = metrics::roc_auc(y, &proba) {
                out.push(("roc_auc", auc));
            }
            out.push(("log_loss", metrics::log_loss(y, &proba).map_err(ml)?));
        }
    }
    Ok(out
        .into_iter()
        .map(|(k, v)| (format!("{prefix}_{k}"), v))
        .collect())
}

/// The ONNX form of a model, where it has one.
pub const ONNX_FILE: &str = "model.onnx";
/// Models of more tree nodes than this (an ONNX file of ~45 MB) get no `model.onnx` at training.
pub const AUTO_ONNX_MAX_NODES: usize = 1_000_000;

/// Writes `model.bin` (and `model.onnx` where the model has an ONNX form) and an `MLmodel`
/// file describing them.
pub fn save_model_dir(model: &Model, target: &str, dir: &Path) -> Result<(), StepError> {
    model.save(dir).map_err(ml)?;
    // Where the model has an ONNX form, it goes beside: any ONNX runtime predicts with it, and
    // MLflow's `mlflow.pyfunc.load_model` loads it through its `onnx` flavor.
    // Not for huge ensembles (a million-row forest of deep trees): `model export` writes it
    // when asked.
    let small = sluice_ml::onnx_nodes(model).is_some_and(|n| n <= AUTO_ONNX_MAX_NODES);
    let bytes = if small {
        sluice_ml::to_onnx(model).ok()
    } else {
        None
    };
    let onnx = match bytes {
        Some(bytes) => {
            let path = dir.join(ONNX_FILE);
            std::fs::write(&path, bytes).map_err(|e| StepError::io(&path, e))?;
            format!(
                "  onnx:\n    code: null\n    data: {ONNX_FILE}\n    providers:\n    - CPUExecutionProvider\n  python_function:\n    data: {ONNX_FILE}\n    loader_module: mlflow.onnx\n"
            )
        }
        None => String::new(),
    };
    let inputs: Vec<Value> = model
        .feature_names()
        .iter()
        .map(|n| serde_json::json!({"type": "double", "name": n, "required": true}))
        .collect();
    let output_type = if model.task() == Task::Classification {
        "string"
    } else {
        "double"
    };
    let outputs = serde_json::json!([{"type": output_type, "name": target, "required": true}]);
    let created = jiff_now();
    let mlmodel = format!(
        "artifact_path: model\nflavors:\n  sluice:\n    algorithm: {}\n    task: {}\n    target: {}\n    data: {}\n    format: {}\n    format_version: {}\n    sluice_version: {}\n    features:\n{}{onnx}model_size_bytes: {}\nsignature:\n  inputs: '{}'\n  outputs: '{}'\n  params: null\nutc_time_created: '{created}'\n",
        model.algorithm(),
        model.task().as_str(),
        yaml_str(target),
        sluice_ml::MODEL_FILE,
        sluice_ml::FORMAT,
        sluice_ml::FORMAT_VERSION,
        env!("CARGO_PKG_VERSION"),
        model
            .feature_names()
            .iter()
            .fold(String::new(), |mut acc, n| {
                use std::fmt::Write as _;
                let _ = writeln!(acc, "    - {}", yaml_str(n));
                acc
            }),
        std::fs::metadata(dir.join(sluice_ml::MODEL_FILE)).map_or(0, |m| m.len()),
        Value::Array(inputs).to_string().replace('\'', "''"),
        outputs.to_string().replace('\'', "''"),
    );
    let path = dir.join("MLmodel");
    std::fs::write(&path, mlmodel).map_err(|e| StepError::io(&path, e))
}

/// Reads the target column's name from a model folder's `MLmodel`.
pub fn model_target(dir: &Path) -> Result<String, StepError> {
    let path = dir.join("MLmodel");
    let text = std::fs::read_to_string(&path).map_err(|e| StepError::io(&path, e))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("target: "))
        .map(|t| t.trim().trim_matches('"').replace("\\\"", "\""))
        .ok_or_else(|| {
            StepError::Invalid(format!(
                "`{}` names no target; was the model made by `sluice step train`?",
                path.display()
            ))
        })
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn jiff_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}
