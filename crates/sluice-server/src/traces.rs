//! MLflow's tracing routes: MLflow 3's (`/api/3.0/mlflow/traces...`) and MLflow 2's
//! (`/api/2.0/mlflow/traces...`), so `mlflow.start_span`, `@mlflow.trace`, `mlflow.get_trace`
//! and `mlflow.search_traces` work, and the web UI's traces tab. Spans travel as the trace's
//! `traces.json` artifact (the client uploads it through the artifact proxy to the location the
//! `mlflow.artifactLocation` tag names; `get-trace-artifact` serves it back). The server reports a
//! version below 3.4, so clients use that path rather than OTLP span export.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use serde_json::{Map, Value, json};
use sluice_store::governance::Role;
use sluice_store::traces::{
    ARTIFACT_LOCATION_TAG, Aggregation, MetricsQuery, TraceInfo, TraceSearch,
};
use sluice_store::tracking::KeyValue;

use crate::ServerState;
use crate::auth::Route;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, page_token};
use crate::tracking::key_values;

type S = State<Arc<ServerState>>;
type Reply = ApiResult<Json<Value>>;

/// Every tracing route with the role it needs, full paths.
pub(crate) fn routes() -> Vec<Route> {
    use Role::{Contributor as C, Owner as O, Reader as R};
    const V3: &str = "/api/3.0/mlflow";
    const V2: &str = "/api/2.0/mlflow";
    let r = |method: Method, path: String, role, handler| {
        Route::new(method, crate::leak(path), role, handler)
    };
    vec![
        r(Method::POST, format!("{V3}/traces"), C, post(start_v3)),
        r(
            Method::GET,
            format!("{V3}/traces/{{trace_id}}"),
            R,
            get(get_v3),
        ),
        r(
            Method::POST,
            format!("{V3}/traces/search"),
            R,
            post(search_v3),
        ),
        r(
            Method::GET,
            format!("{V3}/traces/search"),
            R,
            get(search_v3),
        ),
        r(
            Method::POST,
            format!("{V3}/traces/batchGetInfos"),
            R,
            post(batch_get_infos),
        ),
        r(
            Method::PATCH,
            format!("{V3}/traces/{{trace_id}}/tags"),
            C,
            patch(set_tag),
        ),
        r(
            Method::DELETE,
            format!("{V3}/traces/{{trace_id}}/tags"),
            C,
            delete(delete_tag),
        ),
        r(
            Method::POST,
            format!("{V3}/traces/delete-traces"),
            O,
            post(delete_traces),
        ),
        r(
            Method::POST,
            format!("{V3}/traces/metrics"),
            R,
            post(metrics),
        ),
        r(
            Method::GET,
            format!("{V3}/get-trace-artifact"),
            R,
            get(trace_artifact),
        ),
        r(
            Method::POST,
            format!("{V3}/datasets/search"),
            R,
            post(evaluation_datasets),
        ),
        r(
            Method::GET,
            format!("{V3}/datasets/search"),
            R,
            get(evaluation_datasets),
        ),
        r(Method::POST, format!("{V2}/traces"), C, post(start_v2)),
        r(Method::GET, format!("{V2}/traces"), R, get(search_v2)),
        r(
            Method::PATCH,
            format!("{V2}/traces/{{request_id}}"),
            C,
            patch(end_v2),
        ),
        r(
            Method::GET,
            format!("{V2}/traces/{{request_id}}/info"),
            R,
            get(get_v2),
        ),
        r(
            Method::PATCH,
            format!("{V2}/traces/{{request_id}}/tags"),
            C,
            patch(set_tag),
        ),
        r(
            Method::DELETE,
            format!("{V2}/traces/{{request_id}}/tags"),
            C,
            delete(delete_tag),
        ),
        r(
            Method::POST,
            format!("{V2}/traces/delete-traces"),
            O,
            post(delete_traces),
        ),
        r(
            Method::GET,
            format!("{V2}/get-trace-artifact"),
            R,
            get(trace_artifact),
        ),
    ]
}

// ---- wire shapes ------------------------------------------------------------------------------

/// A v3 `TraceInfo`: RFC 3339 request time, duration as seconds (`"1.500s"`), maps for metadata
/// and tags.
fn info_v3(t: &TraceInfo) -> Value {
    let mut o = Map::new();
    o.insert("trace_id".into(), json!(t.trace_id));
    o.insert(
        "trace_location".into(),
        json!({"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": t.experiment_id}}),
    );
    o.insert("request_time".into(), json!(rfc3339(t.request_time)));
    if let Some(ms) = t.execution_duration {
        o.insert("execution_duration".into(), json!(duration(ms)));
    }
    o.insert("state".into(), json!(t.state));
    o.insert("trace_metadata".into(), json!(t.metadata));
    o.insert("tags".into(), json!(t.tags));
    for (k, v) in [
        ("client_request_id", &t.client_request_id),
        ("request_preview", &t.request_preview),
        ("response_preview", &t.response_preview),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    Value::Object(o)
}

/// A v2 `TraceInfo`: `request_id`, millisecond numbers, key/value lists.
fn info_v2(t: &TraceInfo) -> Value {
    let list = |m: &BTreeMap<String, String>| -> Value {
        m.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect()
    };
    let status = if t.state == "STATE_UNSPECIFIED" {
        "TRACE_STATUS_UNSPECIFIED"
    } else {
        &t.state
    };
    json!({
        "request_id": t.trace_id,
        "experiment_id": t.experiment_id,
        "timestamp_ms": t.request_time,
        "execution_time_ms": t.execution_duration.unwrap_or(0),
        "status": status,
        "request_metadata": list(&t.metadata),
        "tags": list(&t.tags),
    })
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| "1970-01-01T00:00:00Z".into(),
        |t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

fn duration(ms: i64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}

fn parse_time(v: Option<&Value>) -> ApiResult<i64> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) => s
            .parse::<jiff::Timestamp>()
            .map(jiff::Timestamp::as_millisecond)
            .map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid value \"{s}\" for parameter 'trace.trace_info.request_time' supplied: expected an RFC 3339 time such as 2024-01-02T03:04:05.123Z"
                ))
            }),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ApiError::invalid("request_time must be an RFC 3339 time")),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value {other} for parameter 'trace.trace_info.request_time' supplied."
        ))),
    }
}

fn parse_duration(v: Option<&Value>) -> ApiResult<Option<i64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let secs: f64 = s.trim_end_matches('s').parse().map_err(|_| {
                ApiError::invalid(format!(
                    "Invalid value \"{s}\" for parameter 'trace.trace_info.execution_duration' supplied: expected seconds such as 1.5s"
                ))
            })?;
            #[expect(clippy::cast_possible_truncation, reason = "milliseconds of a trace")]
            Ok(Some((secs * 1000.0).round() as i64))
        }
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value {other} for parameter 'trace.trace_info.execution_duration' supplied."
        ))),
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    match v {
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

// ---- v3 ---------------------------------------------------------------------------------------

async fn start_v3(State(s): S, p: Params) -> Reply {
    let info = match p.0.get("trace").and_then(|t| t.get("trace_info")) {
        Some(Value::Object(o)) => o.clone(),
        _ => {
            return Err(ApiError::invalid(
                "Missing value for required parameter 'trace'. See the API docs for more information about request parameters.",
            ));
        }
    };
    let text = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_owned);
    let experiment_id = info
        .get("trace_location")
        .and_then(|l| l.get("mlflow_experiment"))
        .and_then(|e| e.get("experiment_id"))
        .and_then(Value::as_str)
        .unwrap_or("0")
        .to_owned();
    let trace = TraceInfo {
        trace_id: text("trace_id").unwrap_or_default(),
        experiment_id,
        request_time: parse_time(info.get("request_time"))?,
        execution_duration: parse_duration(info.get("execution_duration"))?,
        state: text("state").unwrap_or_default(),
        client_request_id: text("client_request_id"),
        request_preview: text("request_preview"),
        response_preview: text("response_preview"),
        metadata: string_map(info.get("trace_metadata")),
        tags: string_map(info.get("tags")),
    };
    let stored = s.store()?.start_trace(&trace)?;
    Ok(Json(json!({"trace": {"trace_info": info_v3(&stored)}})))
}

async fn get_v3(State(s): S, UrlPath(id): UrlPath<String>) -> Reply {
    let t = s.store()?.get_trace_info(&id)?;
    Ok(Json(json!({"trace": {"trace_info": info_v3(&t)}})))
}

/// The experiments of `locations` (v3) or `experiment_ids` (v2); `required` names the
/// parameter a search without either is missing.
fn experiments(p: &Params, required: &str) -> ApiResult<Vec<String>> {
    if let Some(Value::Array(locations)) = p.0.get("locations") {
        return Ok(locations
            .iter()
            .filter_map(|l| l.get("mlflow_experiment")?.get("experiment_id")?.as_str())
            .map(str::to_owned)
            .collect());
    }
    let ids = p.str_list("experiment_ids")?;
    if ids.is_empty() {
        return Err(ApiError::invalid(format!(
            "Missing value for required parameter '{required}'. See the API docs for more information about request parameters."
        )));
    }
    Ok(ids)
}

fn search(s: &ServerState, p: &Params, v3: bool) -> Reply {
    let ids = experiments(p, if v3 { "locations" } else { "experiment_ids" })?;
    let max_results = p.max_results(100, 500)?;
    let filter = p.opt_str("filter")?;
    let order_by = p.str_list("order_by")?;
    let (traces, next) = s.store()?.search_traces(&TraceSearch {
        experiment_ids: &ids,
        filter: filter.as_deref(),
        order_by: &order_by,
        max_results,
        offset: p.offset()?,
    })?;
    let mut out = Map::new();
    if !traces.is_empty() {
        let shape = if v3 { info_v3 } else { info_v2 };
        out.insert("traces".into(), traces.iter().map(shape).collect());
    }
    if let Some(token) = page_token(next) {
        out.insert("next_page_token".into(), json!(token));
    }
    Ok(Json(Value::Object(out)))
}

async fn search_v3(State(s): S, p: Params) -> Reply {
    search(&s, &p, true)
}

async fn batch_get_infos(State(s): S, p: Params) -> Reply {
    let ids = p.str_list("trace_ids")?;
    let infos = s.store()?.get_trace_infos(&ids)?;
    Ok(Json(
        json!({"trace_infos": infos.iter().map(info_v3).collect::<Vec<_>>()}),
    ))
}

/// The trace id of a `.../traces/{id}/...` route (v3 names it `trace_id`, v2 `request_id`).
fn trace_id(path: &BTreeMap<String, String>) -> String {
    path.values().next().cloned().unwrap_or_default()
}

async fn set_tag(
    State(s): S,
    UrlPath(path): UrlPath<BTreeMap<String, String>>,
    p: Params,
) -> Reply {
    let key = p.str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    s.store()?.set_trace_tag(&trace_id(&path), &key, &value)?;
    Ok(Json(json!({})))
}

/// The key comes in the JSON body (the client) or the query string (the web UI).
async fn delete_tag(
    State(s): S,
    UrlPath(path): UrlPath<BTreeMap<String, String>>,
    p: Params,
) -> Reply {
    let key = p.str("key")?;
    s.store()?.delete_trace_tag(&trace_id(&path), &key)?;
    Ok(Json(json!({})))
}

async fn delete_traces(State(s): S, p: Params) -> Reply {
    let experiment_id = p.str("experiment_id")?;
    let ids = match p.str_list("trace_ids")? {
        ids if ids.is_empty() => p.str_list("request_ids")?,
        ids => ids,
    };
    let max_timestamp = p.opt_i64("max_timestamp_millis")?;
    let max_traces = p
        .opt_i64("max_traces")?
        .map(|n| usize::try_from(n).unwrap_or(0));
    let n = s
        .store()?
        .delete_traces(&experiment_id, max_timestamp, max_traces, &ids)?;
    Ok(Json(json!({"traces_deleted": n})))
}

/// `POST traces/metrics`: trace counts, latency and token usage of the `TRACES` view. The
/// `SPANS` and `ASSESSMENTS` views need span data the server does not index: no data points.
async fn metrics(State(s): S, p: Params) -> Reply {
    let ids = p.str_list("experiment_ids")?;
    let view = p.opt_str("view_type")?.unwrap_or_else(|| "TRACES".into());
    let metric = p.str("metric_name")?;
    let aggregations = p
        .obj_list("aggregations")?
        .into_iter()
        .map(|a| Aggregation {
            kind: a
                .get("aggregation_type")
                .and_then(Value::as_str)
                .unwrap_or("COUNT")
                .to_owned(),
            percentile: a.get("percentile_value").and_then(Value::as_f64),
        })
        .collect::<Vec<_>>();
    if view != "TRACES" {
        return Ok(Json(json!({})));
    }
    let dimensions = p.str_list("dimensions")?;
    let points = s.store()?.trace_metrics(&MetricsQuery {
        experiment_ids: &ids,
        metric: &metric,
        aggregations: &aggregations,
        dimensions: &dimensions,
        interval_seconds: p.opt_i64("time_interval_seconds")?,
        start_ms: p.opt_i64("start_time_ms")?,
        end_ms: p.opt_i64("end_time_ms")?,
    })?;
    if points.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({"data_points": points})))
}

/// `GET get-trace-artifact?request_id=ID`: the trace's `traces.json` (what the web UI reads).
async fn trace_artifact(State(s): S, p: Params) -> ApiResult<Response> {
    let Some(id) = p.opt_str("request_id")?.or(p.opt_str("trace_id")?) else {
        return Err(ApiError::new(
            crate::error::ErrorCode::BadRequest,
            "Request must include the \"request_id\" query parameter.",
        ));
    };
    let info = s.store()?.get_trace_info(&id)?;
    let location = info
        .tags
        .get(ARTIFACT_LOCATION_TAG)
        .cloned()
        .unwrap_or_default();
    let base = crate::artifacts::under_root(&location, &format!("trace '{id}'"))?;
    let file = match p.opt_str("path")? {
        Some(attachment) => format!("{base}/attachments/{attachment}"),
        None => format!("{base}/traces.json"),
    };
    crate::artifacts::send_file(&s.artifacts, &file, "traces.json")
        .await
        .map_err(|e| match e.code {
            crate::error::ErrorCode::ResourceDoesNotExist => {
                ApiError::not_found("Trace data not found for path=traces.json")
            }
            _ => e,
        })
}

/// MLflow's evaluation datasets (for `GenAI` evaluation); Sluice keeps none, so every search is empty.
async fn evaluation_datasets() -> Json<Value> {
    Json(json!({}))
}

// ---- v2 ---------------------------------------------------------------------------------------

async fn start_v2(State(s): S, p: Params) -> Reply {
    let experiment_id = p.str("experiment_id")?;
    let timestamp = p.opt_i64("timestamp_ms")?.unwrap_or(0);
    let metadata = key_values(p.obj_list("request_metadata")?, "metadata")?;
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    let t = s
        .store()?
        .start_trace_v2(&experiment_id, timestamp, &metadata, &tags)?;
    Ok(Json(json!({"trace_info": info_v2(&t)})))
}

async fn end_v2(State(s): S, UrlPath(id): UrlPath<String>, p: Params) -> Reply {
    let timestamp = p.opt_i64("timestamp_ms")?.unwrap_or(0);
    let status = p.opt_str("status")?.unwrap_or_default();
    let metadata: Vec<KeyValue> = key_values(p.obj_list("request_metadata")?, "metadata")?;
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    let t = s
        .store()?
        .end_trace_v2(&id, timestamp, &status, &metadata, &tags)?;
    Ok(Json(json!({"trace_info": info_v2(&t)})))
}

async fn get_v2(State(s): S, UrlPath(id): UrlPath<String>) -> Reply {
    let t = s.store()?.get_trace_info(&id)?;
    Ok(Json(json!({"trace_info": info_v2(&t)})))
}

async fn search_v2(State(s): S, p: Params) -> Reply {
    search(&s, &p, false)
}
