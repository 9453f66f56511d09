//! Any fitted model, its predictions, and its versioned on-disk formats.
//!
//! `Model::save(dir)` writes `dir/model.bin`, the binary form (versioned, checksummed, its
//! arrays laid out to be mapped; see `model_bin.rs`). `Model::save_json(dir)` writes the text
//! form, `dir/model.json`, which earlier versions wrote and `Model::load` still reads:
//!
//! ```json
//! {"format": "sluice-model", "format_version": 1, "algorithm": "random_forest",
//!  "task": "classification", "feature_names": ["x0", "x1"], "classes": ["no", "yes"],
//!  "model": {...}}
//! ```
//!
//! The top-level fields are the single record of the schema (the `model` payload does not repeat
//! them), so a registry can read them without knowing the algorithm. Tree models carry their bin
//! edges, so prediction on raw features bins them exactly as training did. A reader refuses a
//! `format_version` newer than [`FORMAT_VERSION`]; a change to the payload of any algorithm bumps
//! it, and the reader keeps reading the older versions.

use std::fs;
use std::path::Path;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::logistic::argmax_rows;
use crate::{
    BoostingModel, Dataset, ForestModel, LinearModel, LogisticModel, MlError, Schema, Task,
    TreeModel,
};

/// The `format` field of every `model.json`.
pub const FORMAT: &str = "sluice-model";
/// The newest `format_version` this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// The file `Model::save` writes in its folder (binary).
pub const MODEL_FILE: &str = crate::model_bin::BINARY_FILE;
/// The text form `Model::save_json` writes (and earlier versions wrote).
pub const JSON_MODEL_FILE: &str = "model.json";

pub(crate) const LINEAR_REGRESSION: &str = "linear_regression";
pub(crate) const LOGISTIC_REGRESSION: &str = "logistic_regression";
pub(crate) const DECISION_TREE: &str = "decision_tree";
pub(crate) const RANDOM_FOREST: &str = "random_forest";
pub(crate) const GRADIENT_BOOSTING: &str = "gradient_boosting";

/// What prediction asks of a model, fitted and in memory ([`Model`]) or opened from its file
/// for prediction ([`crate::MappedModel`]).
pub trait Predict {
    fn task(&self) -> Task;
    /// The features the data must have, by name, in order.
    fn feature_names(&self) -> &[String];
    /// Class labels in class-index order; empty for regression.
    fn classes(&self) -> &[String];
    /// Values (regression) or class indices as `f64` (classification), one per row.
    fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError>;
    /// Class probabilities of every row, `[row][class]`, for a classifier.
    fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError>;

    /// The predicted class label of every row, for a classifier.
    fn predict_labels(&self, data: &Dataset) -> Result<Vec<String>, MlError> {
        let proba = self.predict_proba(data)?;
        Ok(argmax_rows(&proba)
            .into_iter()
            .map(|k| self.classes()[crate::par::to_index(k)].clone())
            .collect())
    }
}

impl Predict for Model {
    fn task(&self) -> Task {
        Model::task(self)
    }

    fn feature_names(&self) -> &[String] {
        Model::feature_names(self)
    }

    fn classes(&self) -> &[String] {
        Model::classes(self)
    }

    fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        Model::predict(self, data)
    }

    fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        Model::predict_proba(self, data)
    }
}

/// A fitted model of any algorithm.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Linear(LinearModel),
    Logistic(LogisticModel),
    Tree(TreeModel),
    Forest(ForestModel),
    Boosting(BoostingModel),
}

impl From<LinearModel> for Model {
    fn from(m: LinearModel) -> Self {
        Model::Linear(m)
    }
}
impl From<LogisticModel> for Model {
    fn from(m: LogisticModel) -> Self {
        Model::Logistic(m)
    }
}
impl From<TreeModel> for Model {
    fn from(m: TreeModel) -> Self {
        Model::Tree(m)
    }
}
impl From<ForestModel> for Model {
    fn from(m: ForestModel) -> Self {
        Model::Forest(m)
    }
}
impl From<BoostingModel> for Model {
    fn from(m: BoostingModel) -> Self {
        Model::Boosting(m)
    }
}

impl Model {
    /// The `algorithm` field of `model.json`: `linear_regression`, `logistic_regression`,
    /// `decision_tree`, `random_forest` or `gradient_boosting`.
    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        match self {
            Model::Linear(_) => LINEAR_REGRESSION,
            Model::Logistic(_) => LOGISTIC_REGRESSION,
            Model::Tree(_) => DECISION_TREE,
            Model::Forest(_) => RANDOM_FOREST,
            Model::Boosting(_) => GRADIENT_BOOSTING,
        }
    }

    #[must_use]
    pub fn schema(&self) -> &Schema {
        match self {
            Model::Linear(m) => &m.schema,
            Model::Logistic(m) => &m.schema,
            Model::Tree(m) => &m.schema,
            Model::Forest(m) => &m.schema,
            Model::Boosting(m) => &m.schema,
        }
    }

    fn schema_mut(&mut self) -> &mut Schema {
        match self {
            Model::Linear(m) => &mut m.schema,
            Model::Logistic(m) => &mut m.schema,
            Model::Tree(m) => &mut m.schema,
            Model::Forest(m) => &mut m.schema,
            Model::Boosting(m) => &mut m.schema,
        }
    }

    #[must_use]
    pub fn task(&self) -> Task {
        self.schema().task
    }

    #[must_use]
    pub fn feature_names(&self) -> &[String] {
        &self.schema().feature_names
    }

    /// Class labels in class-index order; empty for regression.
    #[must_use]
    pub fn classes(&self) -> &[String] {
        &self.schema().classes
    }

    /// Predictions for every row: values for regression, class indices (as `f64`) for
    /// classification. The data must have the model's features, by name, in order.
    pub fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        self.schema().check(data)?;
        Ok(self.predict_columns(data.features()))
    }

    /// Predictions for rows given as values in the model's feature order.
    pub fn predict_rows(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>, MlError> {
        let data = Dataset::from_rows(self.feature_names().to_vec(), rows)
            .map_err(|e| MlError::Features(e.to_string()))?;
        self.predict(&data)
    }

    /// The predicted class label of every row, for a classifier.
    pub fn predict_labels(&self, data: &Dataset) -> Result<Vec<String>, MlError> {
        Predict::predict_labels(self, data)
    }

    /// Class probabilities of every row, `[row][class]`, for a classifier.
    pub fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        self.schema().check(data)?;
        if self.task() != Task::Classification {
            return Err(MlError::NotClassifier {
                algorithm: self.algorithm(),
            });
        }
        let columns = data.features();
        Ok(match self {
            Model::Logistic(m) => m.proba_columns(columns),
            Model::Tree(m) => crate::tree::rows_of(&m.leaf_means(columns), self.classes().len()),
            Model::Forest(m) => crate::tree::rows_of(&m.leaf_means(columns), self.classes().len()),
            Model::Boosting(m) => m.proba_columns(columns),
            Model::Linear(_) => unreachable!("linear models are regression models"),
        })
    }

    fn predict_columns(&self, columns: &[Vec<f64>]) -> Vec<f64> {
        match self {
            Model::Linear(m) => m.predict_columns(columns),
            Model::Logistic(m) => argmax_rows(&m.proba_columns(columns)),
            Model::Tree(m) => m.predict_columns(columns),
            Model::Forest(m) => m.predict_columns(columns),
            Model::Boosting(m) => m.predict_columns(columns),
        }
    }

    /// The model with `schema` (what a file's envelope says).
    pub(crate) fn with_schema(mut self, schema: Schema) -> Self {
        *self.schema_mut() = schema;
        self
    }

    /// Writes `dir/model.bin`, creating `dir` if needed; the file is replaced atomically (and a
    /// `model.json` left there by an earlier version is removed, so the folder holds one model).
    pub fn save(&self, dir: &Path) -> Result<(), MlError> {
        let path = dir.join(MODEL_FILE);
        write_atomic(&path, |out| {
            crate::model_bin::encode(self, out).map_err(|reason| MlError::Format {
                path: path.clone(),
                reason,
            })
        })?;
        let stale = dir.join(JSON_MODEL_FILE);
        match fs::remove_file(&stale) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(MlError::Io {
                path: stale,
                source,
            }),
            _ => Ok(()),
        }
    }

    /// Writes the text form (`model.json`'s) to `path`, creating its folder if needed; the file
    /// is replaced atomically. The model is written as it is serialized (no JSON tree of it in
    /// memory: a forest of deep trees is millions of nodes).
    pub fn save_json(&self, path: &Path) -> Result<(), MlError> {
        write_atomic(path, |out| {
            let written = match self {
                Model::Linear(m) => self.write(out, m),
                Model::Logistic(m) => self.write(out, m),
                Model::Tree(m) => self.write(out, m),
                Model::Forest(m) => self.write(out, m),
                Model::Boosting(m) => self.write(out, m),
            };
            written.map_err(|e| MlError::Format {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })
    }

    fn write<M: Serialize>(
        &self,
        out: &mut impl std::io::Write,
        model: &M,
    ) -> serde_json::Result<()> {
        serde_json::to_writer(
            out,
            &Envelope {
                format: FORMAT,
                format_version: FORMAT_VERSION,
                algorithm: self.algorithm(),
                task: self.task(),
                feature_names: self.feature_names(),
                classes: self.classes(),
                model,
            },
        )
    }

    /// Reads the model in `dir`: `model.bin`, else `model.json` (the text form of earlier
    /// versions); refuses a newer format, a damaged file or an inconsistent model.
    pub fn load(dir: &Path) -> Result<Self, MlError> {
        let binary = dir.join(MODEL_FILE);
        match fs::read(&binary) {
            Ok(bytes) => {
                let model = crate::model_bin::decode(&binary, &bytes)?;
                model.validate().map_err(|reason| MlError::Format {
                    path: binary,
                    reason,
                })?;
                return Ok(model);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(MlError::Io {
                    path: binary,
                    source,
                });
            }
        }
        Self::load_json(&dir.join(JSON_MODEL_FILE))
    }

    /// Reads a `model.json` file. The small top-level fields are read first; the model is then
    /// read straight into its type.
    fn load_json(path: &Path) -> Result<Self, MlError> {
        let path = path.to_path_buf();
        let text = fs::read_to_string(&path).map_err(|source| MlError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |reason: String| MlError::Format {
            path: path.clone(),
            reason,
        };
        let header: Header = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match &header.format {
            Some(Value::String(f)) if f == FORMAT => {}
            other => {
                return Err(bad(format!(
                    "`format` is {}, expected `{FORMAT}`",
                    other
                        .as_ref()
                        .map_or_else(|| "absent".to_owned(), Value::to_string)
                )));
            }
        }
        let version = header
            .format_version
            .as_ref()
            .and_then(Value::as_u64)
            .ok_or_else(
                || bad("`format_version` is absent or not a positive integer".to_owned()),
            )?;
        if version > FORMAT_VERSION {
            return Err(MlError::NewerFormat {
                path,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(bad("`format_version` 0 does not exist".to_owned()));
        }
        let schema = Schema {
            task: field(header.task, "task").map_err(&bad)?,
            feature_names: field(header.feature_names, "feature_names").map_err(&bad)?,
            classes: field(header.classes, "classes").map_err(&bad)?,
        };
        let algorithm: String = field(header.algorithm, "algorithm").map_err(&bad)?;
        let mut model = match algorithm.as_str() {
            LINEAR_REGRESSION => Model::Linear(payload(&text).map_err(&bad)?),
            LOGISTIC_REGRESSION => Model::Logistic(payload(&text).map_err(&bad)?),
            DECISION_TREE => Model::Tree(payload(&text).map_err(&bad)?),
            RANDOM_FOREST => Model::Forest(payload(&text).map_err(&bad)?),
            GRADIENT_BOOSTING => Model::Boosting(payload(&text).map_err(&bad)?),
            other => return Err(bad(format!("unknown algorithm `{other}`"))),
        };
        *model.schema_mut() = schema;
        model.validate().map_err(bad)?;
        Ok(model)
    }

    /// Checks that a loaded model is consistent with its schema, so prediction cannot panic.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let schema = self.schema();
        let p = schema.feature_names.len();
        let k = schema.classes.len();
        schema.validate()?;
        match self {
            Model::Linear(m) => {
                if schema.task != Task::Regression || m.coefficients.len() != p {
                    return Err(format!(
                        "a linear regression needs {p} coefficients and a regression task"
                    ));
                }
            }
            Model::Logistic(m) => {
                let rows = if k == 2 { 1 } else { k };
                if k < 2 {
                    return Err(format!(
                        "a logistic regression needs at least 2 classes, the model has {k}"
                    ));
                }
                if schema.task != Task::Classification
                    || m.coefficients.len() != rows
                    || m.intercepts.len() != rows
                    || m.coefficients.iter().any(|w| w.len() != p)
                {
                    return Err(format!(
                        "a logistic regression on {k} classes needs {rows} rows of {p} coefficients"
                    ));
                }
            }
            Model::Tree(m) => m.validate()?,
            Model::Forest(m) => m.validate()?,
            Model::Boosting(m) => m.validate()?,
        }
        Ok(())
    }
}

#[derive(Serialize)]
struct Envelope<'a, M: Serialize> {
    format: &'static str,
    format_version: u64,
    algorithm: &'static str,
    task: Task,
    feature_names: &'a [String],
    classes: &'a [String],
    model: &'a M,
}

/// The top-level fields of `model.json`, the model itself skipped.
#[derive(Deserialize)]
struct Header {
    format: Option<Value>,
    format_version: Option<Value>,
    algorithm: Option<Value>,
    task: Option<Value>,
    feature_names: Option<Value>,
    classes: Option<Value>,
    #[serde(rename = "model")]
    _model: Option<IgnoredAny>,
}

/// `model.json`'s `model`, read as `M` (the other fields skipped).
#[derive(Deserialize)]
struct Payload<M> {
    model: Option<M>,
}

/// Writes `path` through `write` into a temporary file beside it (its folder created if
/// needed), synced, then renamed over `path`: a reader sees the old file or the new, never part.
/// Writes so far by this process, numbering their temporary files.
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> Result<(), MlError>,
) -> Result<(), MlError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| MlError::Io { path: p, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    // A name of its own for every write, so that two saves into one folder never write the same
    // file (a model file is never written in place: a process may have it mapped).
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let file = fs::File::create(&tmp).map_err(io(&tmp))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn field<T: DeserializeOwned>(value: Option<Value>, name: &str) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("`{name}` is absent"))?;
    serde_json::from_value(value).map_err(|e| format!("`{name}`: {e}"))
}

fn payload<M: DeserializeOwned>(text: &str) -> Result<M, String> {
    let read: Payload<M> = serde_json::from_str(text).map_err(|e| format!("`model`: {e}"))?;
    read.model.ok_or_else(|| "`model` is absent".to_owned())
}
