//! Experiments, runs, metrics, params and tags: `/api/2.0/mlflow/experiments/*`, `runs/*`,
//! `metrics/*`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use sluice_store::tracking::{
    Experiment, HistoryPoint, KeyValue, LogBatch, MAX_BATCH_METRICS, MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS, MAX_BATCH_TOTAL, Metric, Run, ViewType, now_ms,
};

use crate::ServerState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::params::{Params, RawParams, f64_json, page_token, value_f64};

type S = State<Arc<ServerState>>;
type Reply = ApiResult<Json<Value>>;

fn experiment_json(e: &Experiment) -> Value {
    let mut v = json!({
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage,
        "last_update_time": e.last_update_time,
        "creation_time": e.creation_time,
    });
    if !e.tags.is_empty() {
        v["tags"] = serde_json::to_value(&e.tags).unwrap_or_default();
    }
    v
}

pub(crate) fn run_json(run: &Run) -> Value {
    serde_json::to_value(RunOut::of(run)).unwrap_or_default()
}

/// A run as MLflow writes it (`info`, `data`, `inputs`, `outputs`; empty lists left out),
/// serialized straight from the store's rows: a search page holds up to 50,000 runs, and
/// building a tree of JSON values for each first cost more than writing them.
#[derive(serde::Serialize)]
pub(crate) struct RunOut<'a> {
    info: &'a sluice_store::tracking::RunInfo,
    data: RunData<'a>,
    inputs: RunInputs<'a>,
    outputs: RunOutputs<'a>,
}

#[derive(serde::Serialize)]
struct RunData<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    metrics: Vec<MetricRef<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    params: &'a [KeyValue],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [KeyValue],
}

#[derive(serde::Serialize)]
struct RunInputs<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    dataset_inputs: &'a [Value],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    model_inputs: &'a [Value],
}

#[derive(serde::Serialize)]
struct RunOutputs<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    model_outputs: Vec<ModelOutput<'a>>,
}

#[derive(serde::Serialize)]
struct ModelOutput<'a> {
    model_id: &'a str,
    step: i64,
}

impl<'a> RunOut<'a> {
    pub(crate) fn of(run: &'a Run) -> Self {
        RunOut {
            info: &run.info,
            data: RunData {
                metrics: run.metrics.iter().map(MetricRef).collect(),
                params: &run.params,
                tags: &run.tags,
            },
            inputs: RunInputs {
                dataset_inputs: &run.dataset_inputs,
                model_inputs: &run.model_inputs,
            },
            outputs: RunOutputs {
                model_outputs: run
                    .model_outputs
                    .iter()
                    .map(|(model_id, step)| ModelOutput {
                        model_id,
                        step: *step,
                    })
                    .collect(),
            },
        }
    }
}

pub(crate) fn key_values(list: Vec<Map<String, Value>>, what: &str) -> ApiResult<Vec<KeyValue>> {
    list.into_iter()
        .map(|o| {
            let key = match o.get("key") {
                Some(Value::String(k)) => k.clone(),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "every {what} needs a string `key`"
                    )));
                }
            };
            let value = match o.get("value") {
                Some(Value::String(v)) => v.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => other.to_string(),
            };
            Ok(KeyValue { key, value })
        })
        .collect()
}

/// A metric from a request: the body of `log-metric` (`batch: None`) or entry `i` of a
/// `log-batch` list, refused in MLflow's words.
fn metric_from(o: &Map<String, Value>, batch: Option<usize>) -> ApiResult<Metric> {
    let path = |field: &str| match batch {
        None => field.to_owned(),
        Some(i) => format!("metrics[{i}].{field}"),
    };
    let see_docs = " See the API docs for more information about request parameters.";
    let key = match o.get("key") {
        Some(Value::String(k)) if !k.is_empty() => k.clone(),
        _ => {
            return Err(ApiError::invalid(format!(
                "Missing value for required parameter '{}'.{see_docs}",
                path("key")
            )));
        }
    };
    let int = |name: &str, default: i64| -> ApiResult<i64> {
        let parsed = match o.get(name) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        parsed.ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid value {} for parameter '{}' supplied: metric '{key}'. It must be a valid long (64-bit integer).",
                o.get(name).unwrap_or(&Value::Null),
                path(name)
            ))
        })
    };
    let timestamp = int("timestamp", now_ms())?;
    let step = int("step", 0)?;
    let value = match o.get("value") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(format!(
                "Missing value for required parameter '{}'.{see_docs}",
                path("value")
            )));
        }
        Some(v) => value_f64(v).ok_or_else(|| {
            let shown = serde_json::to_string(v).unwrap_or_default();
            ApiError::invalid(match batch {
                None => format!(
                    "Invalid value {shown} for parameter 'value' supplied:  Hint: Value was of type '{}'.{see_docs}",
                    py_type(v)
                ),
                Some(_) => format!(
                    "Invalid value {shown} for parameter '{}' supplied: (timestamp={timestamp}). Please specify value as a valid double (64-bit floating point)",
                    path("value")
                ),
            })
        })?,
    };
    Ok(Metric {
        key,
        value,
        timestamp,
        step,
    })
}

/// The Python type name of a JSON value, as MLflow's hints name it.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

// ---- experiments ----------------------------------------------------------------------------

pub(crate) async fn create_experiment(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    let location = p.opt_str("artifact_location")?.filter(|l| !l.is_empty());
    let id = s
        .store()?
        .create_experiment(&name, location.as_deref(), &tags)?;
    Ok(Json(json!({"experiment_id": id})))
}

pub(crate) async fn get_experiment(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    let e = s.store()?.get_experiment(&id)?;
    Ok(Json(json!({"experiment": experiment_json(&e)})))
}

pub(crate) async fn get_experiment_by_name(State(s): S, p: Params) -> Reply {
    let name = p.str("experiment_name")?;
    let e = s
        .store()?
        .get_experiment_by_name(&name)
        .map_err(|e| match e {
            sluice_store::StoreError::NotFound { .. } => {
                ApiError::not_found(format!("Could not find experiment with name '{name}'"))
            }
            other => other.into(),
        })?;
    Ok(Json(json!({"experiment": experiment_json(&e)})))
}

pub(crate) async fn search_experiments(State(s): S, p: Params) -> Reply {
    let view = view_type(&p)?;
    let max = p.max_results(1000, 50_000)?;
    let order_by = p.str_list("order_by")?;
    let (exps, next) = s.store()?.search_experiments(
        view,
        p.opt_str("filter")?.as_deref(),
        &order_by,
        max,
        p.offset()?,
    )?;
    let mut out = json!({"experiments": exps.iter().map(experiment_json).collect::<Vec<_>>()});
    if let Some(t) = page_token(next) {
        out["next_page_token"] = Value::String(t);
    }
    Ok(Json(out))
}

fn view_type(p: &Params) -> ApiResult<ViewType> {
    let raw = match p.0.get("view_type").or_else(|| p.0.get("run_view_type")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(ApiError::invalid(format!("Invalid view type {other}"))),
    };
    ViewType::parse(raw.as_deref()).ok_or_else(|| {
        ApiError::invalid(format!("Invalid view type '{}'", raw.unwrap_or_default()))
    })
}

pub(crate) async fn update_experiment(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    if let Some(name) = p.opt_str("new_name")? {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("The experiment name must not be empty"));
        }
        s.store()?.update_experiment(&id, &name)?;
    }
    Ok(Json(json!({})))
}

pub(crate) async fn delete_experiment(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    if id == "0" {
        return Err(ApiError::invalid(
            "Cannot delete the default experiment '0'.",
        ));
    }
    s.store()?.set_experiment_lifecycle(&id, "deleted")?;
    Ok(Json(json!({})))
}

pub(crate) async fn restore_experiment(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    s.store()?.set_experiment_lifecycle(&id, "active")?;
    Ok(Json(json!({})))
}

pub(crate) async fn set_experiment_tag(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    let key = p.str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    s.store()?.set_experiment_tag(&id, &key, &value)?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_experiment_tag(State(s): S, p: Params) -> Reply {
    let id = p.str("experiment_id")?;
    let key = p.str("key")?;
    s.store()?.delete_experiment_tag(&id, &key)?;
    Ok(Json(json!({})))
}

// ---- runs -----------------------------------------------------------------------------------

/// Run tags the engine sets and that lineage and the promotion gate trust: which job and step a
/// run belongs to. Clients cannot set or remove them.
const ENGINE_TAGS: &[&str] = &[
    "sluice.job",
    "sluice.step",
    "sluice.reused_from",
    "sluice.reused_from_run",
];

fn refuse_engine_tags<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
    for key in keys {
        if ENGINE_TAGS.contains(&key) {
            return Err(ApiError::new(
                crate::error::ErrorCode::PermissionDenied,
                format!(
                    "the run tag `{key}` is set by Sluice's engine and cannot be set or deleted through the API"
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn create_run(State(s): S, p: Params) -> Reply {
    let experiment_id = p.opt_str("experiment_id")?.unwrap_or_else(|| "0".into());
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    refuse_engine_tags(tags.iter().map(|t| t.key.as_str()))?;
    let user = p
        .opt_str("user_id")?
        .or_else(|| {
            tags.iter()
                .find(|t| t.key == "mlflow.user")
                .map(|t| t.value.clone())
        })
        .unwrap_or_default();
    let run = s.store()?.create_run(
        &experiment_id,
        &user,
        p.opt_str("run_name")?.as_deref(),
        p.opt_i64("start_time")?,
        &tags,
    )?;
    Ok(Json(json!({"run": run_json(&run)})))
}

pub(crate) async fn get_run(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let run = s.store()?.get_run(&id)?;
    Ok(Json(json!({"run": run_json(&run)})))
}

pub(crate) async fn update_run(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let info = s.store()?.update_run(
        &id,
        p.opt_str("status")?.as_deref(),
        p.opt_i64("end_time")?,
        p.opt_str("run_name")?.as_deref().filter(|n| !n.is_empty()),
    )?;
    Ok(Json(json!({"run_info": info})))
}

pub(crate) async fn delete_run(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    s.store()?.set_run_lifecycle(&id, "deleted")?;
    Ok(Json(json!({})))
}

pub(crate) async fn restore_run(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    s.store()?.set_run_lifecycle(&id, "active")?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_metric(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let metric = metric_from(&p.0, None)?;
    let model_id = p.opt_str("model_id")?;
    let one = LogBatch {
        run_id: id,
        metrics: vec![metric],
        model_ids: vec![model_id],
        single: true,
        ..LogBatch::default()
    };
    crate::group::GroupCommit::log_batch(&s, one).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_param(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let kv = KeyValue {
        key: p.str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    let one = LogBatch {
        run_id: id,
        params: vec![kv],
        single: true,
        ..LogBatch::default()
    };
    crate::group::GroupCommit::log_batch(&s, one).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn set_tag(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let kv = KeyValue {
        key: p.str("key")?,
        value: p.opt_str("value")?.unwrap_or_default(),
    };
    refuse_engine_tags([kv.key.as_str()])?;
    let one = LogBatch {
        run_id: id,
        tags: vec![kv],
        single: true,
        ..LogBatch::default()
    };
    crate::group::GroupCommit::log_batch(&s, one).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn delete_tag(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let key = p.str("key")?;
    refuse_engine_tags([key.as_str()])?;
    s.store()?.delete_tag(&id, &key)?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_batch(State(s): S, raw: RawParams) -> Reply {
    let batch = match raw.typed::<TypedBatch>().and_then(TypedBatch::into_batch) {
        Some(batch) => {
            check_batch_sizes(batch.metrics.len(), batch.params.len(), batch.tags.len())?;
            batch
        }
        None => batch_from(&raw.params()?)?,
    };
    refuse_engine_tags(batch.tags.iter().map(|t| t.key.as_str()))?;
    crate::group::GroupCommit::log_batch(&s, batch).await?;
    Ok(Json(json!({})))
}

/// The usual `log-batch` body, read without building a JSON tree: string keys and ids, numbers
/// where MLflow's client sends numbers. Anything else (a value as a string, `NaN`, an empty
/// key, a query string) is read by [`batch_from`], which refuses in MLflow's words.
#[derive(serde::Deserialize)]
struct TypedBatch {
    run_id: Option<String>,
    run_uuid: Option<String>,
    metrics: Option<Vec<TypedMetric>>,
    params: Option<Vec<TypedKeyValue>>,
    tags: Option<Vec<TypedKeyValue>>,
}

#[derive(serde::Deserialize)]
struct TypedMetric {
    key: String,
    value: f64,
    timestamp: Option<i64>,
    step: Option<i64>,
    model_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct TypedKeyValue {
    key: String,
    value: Option<String>,
}

impl TypedBatch {
    /// The batch, or `None` when something in it needs [`batch_from`]'s reading.
    fn into_batch(self) -> Option<LogBatch> {
        let run_id = [self.run_id, self.run_uuid]
            .into_iter()
            .flatten()
            .find(|id| !id.is_empty())?;
        let metrics = self.metrics.unwrap_or_default();
        if metrics.iter().any(|m| m.key.is_empty()) {
            return None;
        }
        let mut model_ids = Vec::with_capacity(metrics.len());
        let metrics = metrics
            .into_iter()
            .map(|m| {
                model_ids.push(m.model_id.filter(|id| !id.is_empty()));
                Metric {
                    key: m.key,
                    value: m.value,
                    timestamp: m.timestamp.unwrap_or_else(now_ms),
                    step: m.step.unwrap_or(0),
                }
            })
            .collect();
        let pairs = |list: Option<Vec<TypedKeyValue>>| -> Vec<KeyValue> {
            list.unwrap_or_default()
                .into_iter()
                .map(|kv| KeyValue {
                    key: kv.key,
                    value: kv.value.unwrap_or_default(),
                })
                .collect()
        };
        Some(LogBatch {
            run_id,
            metrics,
            model_ids,
            params: pairs(self.params),
            tags: pairs(self.tags),
            single: false,
        })
    }
}

/// Refuses a batch past MLflow's limits, in its words.
fn check_batch_sizes(metrics: usize, params: usize, tags: usize) -> ApiResult<()> {
    for (what, n, limit) in [
        ("metrics", metrics, MAX_BATCH_METRICS),
        ("params", params, MAX_BATCH_PARAMS),
        ("tags", tags, MAX_BATCH_TAGS),
    ] {
        if n > limit {
            return Err(ApiError::invalid(format!(
                "A batch logging request can contain at most {limit} {what}. Got {n} {what}. Please split up {what} across multiple requests and try again."
            )));
        }
    }
    let total = metrics + params + tags;
    if total > MAX_BATCH_TOTAL {
        return Err(ApiError::invalid(format!(
            "A batch logging request can contain at most {MAX_BATCH_TOTAL} metrics, params, and tags in total. Got {total}."
        )));
    }
    Ok(())
}

/// A `log-batch` request read from its parameters, refused in MLflow's words.
fn batch_from(p: &Params) -> ApiResult<LogBatch> {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let metrics = p.obj_list("metrics")?;
    let params = p.obj_list("params")?;
    let tags = p.obj_list("tags")?;
    check_batch_sizes(metrics.len(), params.len(), tags.len())?;
    // MLflow 3 sends each metric's logged model as its `model_id`.
    let model_ids = metrics
        .iter()
        .map(|m| match m.get("model_id") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(id)) => Ok(Some(id.as_str()).filter(|id| !id.is_empty())),
            Some(other) => Err(ApiError::invalid(format!(
                "Invalid value {other} for parameter 'model_id' supplied."
            ))),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let metrics = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| metric_from(m, Some(i)))
        .collect::<ApiResult<Vec<_>>>()?;
    let params = key_values(params, "param")?;
    let tags = key_values(tags, "tag")?;
    Ok(LogBatch {
        run_id: id,
        metrics,
        model_ids: model_ids
            .into_iter()
            .map(|m| m.map(str::to_owned))
            .collect(),
        params,
        tags,
        single: false,
    })
}

pub(crate) async fn log_inputs(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let datasets: Vec<Value> = p
        .obj_list("datasets")?
        .into_iter()
        .map(Value::Object)
        .collect();
    let models: Vec<Value> = p
        .obj_list("models")?
        .into_iter()
        .map(Value::Object)
        .collect();
    s.store()?.log_inputs(&id, &datasets, &models)?;
    Ok(Json(json!({})))
}

pub(crate) async fn log_outputs(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let models = p
        .obj_list("models")?
        .iter()
        .map(|m| {
            let model_id = m
                .get("model_id")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("every model output needs a `model_id`"))?;
            let step = m.get("step").and_then(Value::as_i64).unwrap_or(0);
            Ok((model_id.to_owned(), step))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    s.store()?.log_outputs(&id, &models)?;
    Ok(Json(json!({})))
}

/// MLflow 2.x `log_model`: the model's metadata is appended to the `mlflow.log-model.history`
/// tag of the run.
pub(crate) async fn log_model(State(s): S, p: Params) -> Reply {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let model_json = p.str("model_json")?;
    let model: Value = serde_json::from_str(&model_json)
        .map_err(|e| ApiError::invalid(format!("`model_json` is not JSON: {e}")))?;
    let mut store = s.store()?;
    let run = store.get_run(&id)?;
    let mut history: Vec<Value> = run
        .tags
        .iter()
        .find(|t| t.key == "mlflow.log-model.history")
        .and_then(|t| serde_json::from_str(&t.value).ok())
        .unwrap_or_default();
    history.push(model);
    let tag = KeyValue {
        key: "mlflow.log-model.history".into(),
        value: Value::Array(history).to_string(),
    };
    store.log_batch(&id, &[], &[], &[tag])?;
    Ok(Json(json!({})))
}

pub(crate) async fn search_runs(State(s): S, p: Params) -> ApiResult<Json<RunsPage>> {
    let experiment_ids = p.str_list("experiment_ids")?;
    let max = p.max_results(1000, 50_000)?;
    let order_by = p.str_list("order_by")?;
    let view = view_type(&p)?;
    let (runs, next) = s.store()?.search_runs(
        &experiment_ids,
        p.opt_str("filter")?.as_deref(),
        view,
        &order_by,
        max,
        p.offset()?,
    )?;
    Ok(Json(RunsPage {
        runs,
        next_page_token: page_token(next),
    }))
}

/// A page of `runs/search`, written straight from the runs (see [`RunOut`]).
pub(crate) struct RunsPage {
    runs: Vec<Run>,
    next_page_token: Option<String>,
}

impl serde::Serialize for RunsPage {
    fn serialize<Ser: serde::Serializer>(&self, ser: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(None)?;
        if !self.runs.is_empty() {
            let runs: Vec<RunOut<'_>> = self.runs.iter().map(RunOut::of).collect();
            map.serialize_entry("runs", &runs)?;
        }
        if let Some(t) = &self.next_page_token {
            map.serialize_entry("next_page_token", t)?;
        }
        map.end()
    }
}

pub(crate) async fn metric_history(State(s): S, p: Params) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let key = p.str("metric_key")?;
    let max = p.max_results(25_000, 25_000)?;
    let (points, next) = s
        .store()?
        .metric_history_points(&id, &key, max, p.offset()?)?;
    let body = history_json(&key, &points, page_token(next).as_deref())
        .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// A `get-history` page as [`MetricRef`] would write each point, written straight into one
/// buffer of about the right size: a page can hold 25,000 points, and the key, the same in
/// each, is escaped once.
fn history_json(
    key: &str,
    points: &[HistoryPoint],
    next: Option<&str>,
) -> std::io::Result<Vec<u8>> {
    use serde_json::ser::{CompactFormatter, Formatter};
    let key = serde_json::to_vec(key)?;
    // A point takes at most 103 bytes besides its key (a 24-character value, two 20-character
    // integers, the names and punctuation): sized so the buffer never moves while written.
    let mut out =
        Vec::with_capacity(64 + next.map_or(0, str::len) + points.len() * (key.len() + 103));
    out.extend_from_slice(b"{\"metrics\":[");
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        out.extend_from_slice(&key);
        out.extend_from_slice(b",\"value\":");
        if p.value.is_finite() {
            CompactFormatter.write_f64(&mut out, p.value)?;
        } else {
            serde_json::to_writer(&mut out, &f64_json(p.value))?;
        }
        out.extend_from_slice(b",\"timestamp\":");
        CompactFormatter.write_i64(&mut out, p.timestamp)?;
        out.extend_from_slice(b",\"step\":");
        CompactFormatter.write_i64(&mut out, p.step)?;
        out.push(b'}');
    }
    out.push(b']');
    if let Some(token) = next {
        out.extend_from_slice(b",\"next_page_token\":");
        serde_json::to_writer(&mut out, token)?;
    }
    out.push(b'}');
    Ok(out)
}

/// `GET metrics/get-history-bulk?run_id=A&run_id=B&metric_key=K[&max_results=N]`: one metric's
/// history across runs (the MLflow UI's charts), each point with its `run_id`; runs in id order,
/// points by (timestamp, step, value); at most 100 runs and 25,000 points.
pub(crate) async fn metric_history_bulk(State(s): S, p: Params) -> ApiResult<Json<Value>> {
    const MAX_RUNS: usize = 100;
    const MAX_POINTS: usize = 25_000;
    let mut run_ids = p.str_list("run_id")?;
    if run_ids.is_empty() {
        return Err(ApiError::invalid(
            "GetMetricHistoryBulk request must specify at least one run_id.",
        ));
    }
    if run_ids.len() > MAX_RUNS {
        return Err(ApiError::invalid(format!(
            "GetMetricHistoryBulk request cannot specify more than {MAX_RUNS} run_ids. Received {} run_ids.",
            run_ids.len()
        )));
    }
    let Some(key) = p.opt_str("metric_key")? else {
        return Err(ApiError::invalid(
            "GetMetricHistoryBulk request must specify a metric_key.",
        ));
    };
    let max = p.max_results(MAX_POINTS, MAX_POINTS)?;
    run_ids.sort();
    run_ids.dedup();
    let store = s.store()?;
    let mut out = Vec::new();
    for id in &run_ids {
        let (mut points, _) = store.metric_history(id, &key, max, 0)?;
        points.sort_by(|a, b| {
            (a.timestamp, a.step)
                .cmp(&(b.timestamp, b.step))
                .then(a.value.total_cmp(&b.value))
        });
        for m in points {
            let mut v = serde_json::to_value(MetricOut(m)).unwrap_or_default();
            v["run_id"] = Value::String(id.clone());
            out.push(v);
            if out.len() == max {
                return Ok(Json(json!({ "metrics": out })));
            }
        }
    }
    Ok(Json(json!({ "metrics": out })))
}

/// `GET metrics/get-history-bulk-interval?run_ids=A&run_ids=B&metric_key=K[&start_step=S&end_step=E][&max_results=N]`:
/// one metric across runs, sampled to about `max_results` steps (default and limit 2,500) between
/// `start_step` and `end_step` (default: 0 to the last step), every run's first and last step
/// kept; MLflow's sampling, so charts look the same.
pub(crate) async fn metric_history_bulk_interval(State(s): S, p: Params) -> ApiResult<Json<Value>> {
    const MAX_RUNS: usize = 100;
    const MAX_PER_RUN: i64 = 2500;
    let run_ids = p.str_list("run_ids")?;
    if run_ids.is_empty() {
        return Err(ApiError::invalid(
            "Missing value for required parameter 'run_ids'. See the API docs for more information about request parameters.",
        ));
    }
    if run_ids.len() > MAX_RUNS {
        return Err(ApiError::invalid(format!(
            "GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS} run_ids. Received {} run_ids. See the API docs for more information about request parameters.",
            run_ids.len()
        )));
    }
    let key = p.str("metric_key")?;
    let max_results = match p.opt_i64("max_results")? {
        None => MAX_PER_RUN,
        Some(n) if (1..=MAX_PER_RUN).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "max_results must be between 1 and {MAX_PER_RUN}. See the API docs for more information about request parameters."
            )));
        }
    };
    let range = match (p.opt_i64("start_step")?, p.opt_i64("end_step")?) {
        (Some(a), Some(b)) if a > b => {
            return Err(ApiError::invalid(format!(
                "end_step must be greater than start_step. Found start_step={a} and end_step={b}."
            )));
        }
        (Some(a), Some(b)) => Some((a, b)),
        (None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "If either start step or end step are specified, both must be specified.",
            ));
        }
    };
    let histories = {
        let store = s.store()?;
        run_ids
            .iter()
            .map(|id| Ok((id, store.metric_history(id, &key, usize::MAX >> 1, 0)?.0)))
            .collect::<ApiResult<Vec<_>>>()?
    };
    let max_results = usize::try_from(max_results).unwrap_or(1);
    let steps = sampled_steps(
        histories
            .iter()
            .map(|(_, h)| h.iter().map(|m| m.step).collect()),
        range,
        max_results,
    );
    let per_run = max_results.max(steps.len());
    let mut out = Vec::new();
    for (id, history) in histories {
        let mut points: Vec<Metric> = history
            .into_iter()
            .filter(|m| steps.binary_search(&m.step).is_ok())
            .collect();
        points.sort_by_key(|m| (m.step, m.timestamp));
        for i in evenly_spaced(points.len(), per_run) {
            let mut v = serde_json::to_value(MetricOut(points[i].clone())).unwrap_or_default();
            v["run_id"] = Value::String(id.clone());
            out.push(v);
        }
    }
    Ok(Json(json!({ "metrics": out })))
}

/// The steps MLflow samples: every step within the range when there are at most `max` of them,
/// else `max` evenly spaced ones and the last; each run's first and last step in range always.
fn sampled_steps(
    runs: impl Iterator<Item = Vec<i64>>,
    range: Option<(i64, i64)>,
    max: usize,
) -> Vec<i64> {
    let runs: Vec<Vec<i64>> = runs.collect();
    let mut all: Vec<i64> = runs.iter().flatten().copied().collect();
    all.sort_unstable();
    all.dedup();
    let (start, end) = range.unwrap_or((0, all.last().copied().unwrap_or(0)));
    let mut picked: std::collections::BTreeSet<i64> = runs
        .iter()
        .filter(|r| !r.is_empty())
        .flat_map(|r| [*r.iter().min().unwrap_or(&0), *r.iter().max().unwrap_or(&0)])
        .filter(|s| (start..=end).contains(s))
        .collect();
    let lo = all.partition_point(|s| *s < start);
    let hi = all.partition_point(|s| *s <= end);
    let n = hi.saturating_sub(lo);
    if n <= max {
        picked.extend(&all[lo..hi]);
    } else {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "index within n"
        )]
        for i in 0..max {
            let idx = lo + (i as f64 * (n as f64 / max as f64)) as usize;
            if idx < hi {
                picked.insert(all[idx]);
            }
        }
        picked.insert(all[hi - 1]);
    }
    picked.into_iter().collect()
}

/// At most `max` evenly spaced indices into `total` items, the first and last always.
fn evenly_spaced(total: usize, max: usize) -> Vec<usize> {
    if total <= max {
        return (0..total).collect();
    }
    if max <= 1 {
        return vec![total - 1];
    }
    let step = (total - 1) as f64 / (max - 1) as f64;
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "index below total"
    )]
    let mut idx: Vec<usize> = (0..max)
        .map(|i| (i as f64 * step).round_ties_even() as usize)
        .collect();
    idx.dedup();
    idx
}

/// `POST experiments/search-datasets {"experiment_ids": [...]}`: the datasets logged to those
/// experiments' runs (the MLflow UI's dataset filter); 1 to 20 experiments.
pub(crate) async fn search_datasets(State(s): S, p: Params) -> ApiResult<Json<Value>> {
    const MAX_EXPERIMENTS: usize = 20;
    let ids = p.str_list("experiment_ids")?;
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "SearchDatasets request must specify at least one experiment_id.",
        ));
    }
    if ids.len() > MAX_EXPERIMENTS {
        return Err(ApiError::invalid(format!(
            "SearchDatasets request cannot specify more than {MAX_EXPERIMENTS} experiment_ids. Received {} experiment_ids.",
            ids.len()
        )));
    }
    let summaries = s.store()?.search_dataset_summaries(&ids)?;
    Ok(Json(json!({ "dataset_summaries": summaries })))
}

pub(crate) struct MetricOut(Metric);

impl serde::Serialize for MetricOut {
    fn serialize<Ser: serde::Serializer>(&self, ser: Ser) -> Result<Ser::Ok, Ser::Error> {
        MetricRef(&self.0).serialize(ser)
    }
}

/// A metric point as MLflow writes it (`NaN` and the infinities as strings).
pub(crate) struct MetricRef<'a>(&'a Metric);

impl serde::Serialize for MetricRef<'_> {
    fn serialize<Ser: serde::Serializer>(&self, ser: Ser) -> Result<Ser::Ok, Ser::Error> {
        use serde::ser::SerializeMap;
        let m = self.0;
        let mut map = ser.serialize_map(Some(4))?;
        map.serialize_entry("key", &m.key)?;
        if m.value.is_finite() {
            map.serialize_entry("value", &m.value)?;
        } else {
            map.serialize_entry("value", &f64_json(m.value))?;
        }
        map.serialize_entry("timestamp", &m.timestamp)?;
        map.serialize_entry("step", &m.step)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: i64, timestamp: i64, value: f64) -> HistoryPoint {
        HistoryPoint {
            step,
            timestamp,
            value,
        }
    }

    #[test]
    fn a_history_page_is_the_json_mlflow_sends() {
        let points = [
            point(0, 1_700_000_000_000, 0.1),
            point(1, 1_700_000_000_001, -2.5e-300),
            point(2, 1_700_000_000_002, 1.0),
            point(-3, -4, f64::NAN),
            point(4, 5, f64::INFINITY),
            point(i64::MAX, i64::MIN, f64::NEG_INFINITY),
        ];
        let key = "val/\"loss\" \u{e9}\n";
        let body = history_json(key, &points, Some("25000")).unwrap();
        let got: Value = serde_json::from_slice(&body).unwrap();
        let expected = json!({
            "metrics": [
                {"key": key, "value": 0.1, "timestamp": 1_700_000_000_000_i64, "step": 0},
                {"key": key, "value": -2.5e-300, "timestamp": 1_700_000_000_001_i64, "step": 1},
                {"key": key, "value": 1.0, "timestamp": 1_700_000_000_002_i64, "step": 2},
                {"key": key, "value": "NaN", "timestamp": -4, "step": -3},
                {"key": key, "value": "Infinity", "timestamp": 5, "step": 4},
                {"key": key, "value": "-Infinity", "timestamp": i64::MIN, "step": i64::MAX},
            ],
            "next_page_token": "25000",
        });
        assert_eq!(got, expected);
        // Each point's fields in MLflow's order, as the client's protobuf parser reads them.
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(
            r#"{"metrics":[{"key":"val/\"loss\" é\n","value":0.1,"timestamp":1700000000000,"step":0},"#
        ));
        // The last page has no token; an empty history is an empty list.
        let last: Value = serde_json::from_slice(&history_json("m", &[], None).unwrap()).unwrap();
        assert_eq!(last, json!({"metrics": []}));
    }

    /// The typed reading of a `log-batch` body gives what the general one gives, and leaves
    /// to the general one every body it would refuse or read otherwise.
    #[test]
    fn a_typed_log_batch_reads_as_the_general_reading_or_not_at_all() {
        use super::{TypedBatch, batch_from};
        let general = |body: &Value| {
            let Value::Object(map) = body.clone() else {
                panic!()
            };
            batch_from(&crate::params::Params(map))
        };
        let typed = |body: &Value| {
            serde_json::from_value::<TypedBatch>(body.clone())
                .ok()
                .and_then(TypedBatch::into_batch)
        };
        let read_alike = [
            json!({"run_id": "r1", "metrics": [
                {"key": "loss", "value": 0.5, "timestamp": 7, "step": 2},
                {"key": "acc", "value": 1, "timestamp": 8, "step": 0, "model_id": "m-1"},
                {"key": "acc", "value": -2.5e-3, "timestamp": 9, "model_id": ""}]}),
            json!({"run_uuid": "r2", "run_id": "", "params": [{"key": "lr", "value": "0.1"}, {"key": "x", "value": null}],
                   "tags": [{"key": "t", "value": "v"}], "metrics": null}),
            json!({"run_id": "r3", "metrics": [], "params": [], "tags": [], "extra": 1}),
        ];
        for body in &read_alike {
            let (t, g) = (typed(body).expect("typed"), general(body).unwrap());
            assert_eq!(format!("{t:?}"), format!("{g:?}"), "{body}");
        }
        let left_to_general = [
            json!({"run_id": "r", "metrics": [{"key": "m", "value": "NaN", "timestamp": 1}]}),
            json!({"run_id": "r", "metrics": [{"key": "m", "value": 1, "timestamp": "12"}]}),
            json!({"run_id": "r", "metrics": [{"key": "", "value": 1, "timestamp": 1}]}),
            json!({"run_id": "r", "metrics": [{"key": "m", "timestamp": 1}]}),
            json!({"run_id": "r", "metrics": [{"key": "m", "value": 1, "step": 1.5}]}),
            json!({"run_id": "r", "params": [{"key": "p", "value": 3}]}),
            json!({"run_id": "", "metrics": []}),
            json!({"metrics": {"key": "m"}}),
        ];
        for body in &left_to_general {
            assert!(typed(body).is_none(), "{body}");
        }
    }
}
