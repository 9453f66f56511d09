//! MLflow 3 logged models: `logged-models` create, get, finalize, delete, tags, params, search.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{delete, get, patch, post};
use serde_json::{Map, Value, json};
use sluice_store::StoreError;
use sluice_store::governance::Role;
use sluice_store::registry::{LoggedModel, LoggedModelOrder, ModelMetric, NewLoggedModel};

use crate::ServerState;
use crate::auth::Route;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, f64_json};
use crate::registry::{kv_json, page};
use crate::tracking::key_values;

type S = State<Arc<ServerState>>;
type Reply = ApiResult<Json<Value>>;

/// Routes under `/api/2.0/mlflow`, with the role each needs.
pub(crate) fn routes() -> Vec<Route> {
    use Role::{Contributor as C, Owner as O, Reader as R};
    vec![
        Route::new(Method::POST, "/logged-models", C, post(create)),
        Route::new(Method::POST, "/logged-models/search", R, post(search)),
        Route::new(
            Method::GET,
            "/logged-models/{model_id}/artifacts/directories",
            R,
            get(crate::artifacts::list_logged_model),
        ),
        Route::new(
            Method::GET,
            "/logged-models/{model_id}/artifacts/files",
            R,
            get(crate::artifacts::get_logged_model_file),
        ),
        Route::new(Method::GET, "/logged-models/{model_id}", R, get(get_model)),
        Route::new(
            Method::PATCH,
            "/logged-models/{model_id}",
            C,
            patch(finalize),
        ),
        Route::new(
            Method::DELETE,
            "/logged-models/{model_id}",
            O,
            delete(delete_model),
        ),
        Route::new(
            Method::PATCH,
            "/logged-models/{model_id}/tags",
            C,
            patch(set_tags),
        ),
        Route::new(
            Method::DELETE,
            "/logged-models/{model_id}/tags/{tag_key}",
            C,
            delete(delete_tag),
        ),
        Route::new(
            Method::POST,
            "/logged-models/{model_id}/params",
            C,
            post(log_params),
        ),
    ]
}

fn metric_json(m: &ModelMetric) -> Value {
    let mut o = json!({
        "key": m.key,
        "value": f64_json(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
        "model_id": m.model_id,
        "run_id": m.run_id,
    });
    if let Some(d) = &m.dataset_name {
        o["dataset_name"] = json!(d);
    }
    if let Some(d) = &m.dataset_digest {
        o["dataset_digest"] = json!(d);
    }
    o
}

/// `{"info": {...}, "data": {"params", "metrics"}}` as MLflow writes it: `model_type` always,
/// the optional fields and empty lists left out.
fn model_json(m: &LoggedModel) -> Value {
    let mut info = Map::new();
    info.insert("model_id".into(), json!(m.model_id));
    info.insert("experiment_id".into(), json!(m.experiment_id));
    info.insert("name".into(), json!(m.name));
    info.insert(
        "creation_timestamp_ms".into(),
        json!(m.creation_timestamp_ms),
    );
    info.insert(
        "last_updated_timestamp_ms".into(),
        json!(m.last_updated_timestamp_ms),
    );
    info.insert("artifact_uri".into(), json!(m.artifact_uri));
    info.insert("status".into(), json!(m.status));
    info.insert("model_type".into(), json!(m.model_type));
    if let Some(r) = &m.source_run_id {
        info.insert("source_run_id".into(), json!(r));
    }
    if let Some(msg) = &m.status_message {
        info.insert("status_message".into(), json!(msg));
    }
    if !m.tags.is_empty() {
        info.insert("tags".into(), kv_json(&m.tags));
    }
    let mut data = Map::new();
    if !m.params.is_empty() {
        data.insert("params".into(), kv_json(&m.params));
    }
    if !m.metrics.is_empty() {
        data.insert(
            "metrics".into(),
            m.metrics.iter().map(metric_json).collect(),
        );
    }
    json!({"info": info, "data": data})
}

/// A string sent as a string or, by some clients, as a number (ids, enum values).
fn str_or_number(p: &Params, key: &str) -> ApiResult<String> {
    match p.0.get(key) {
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => p.str(key),
    }
}

async fn create(State(s): S, p: Params) -> Reply {
    let experiment_id = str_or_number(&p, "experiment_id")?;
    let name = p.opt_str("name")?;
    let source_run_id = p.opt_str("source_run_id")?;
    let model_type = p.opt_str("model_type")?;
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    let params = key_values(p.obj_list("params")?, "param")?;
    let new = NewLoggedModel {
        experiment_id: &experiment_id,
        name: name.as_deref(),
        source_run_id: source_run_id.as_deref(),
        model_type: model_type.as_deref(),
        tags: &tags,
        params: &params,
    };
    let m = s.store()?.create_logged_model(&new)?;
    Ok(Json(json!({"model": model_json(&m)})))
}

async fn get_model(State(s): S, Path(id): Path<String>) -> Reply {
    let m = s.store()?.get_logged_model(&id)?;
    Ok(Json(json!({"model": model_json(&m)})))
}

/// PATCH: sets the status (`LOGGED_MODEL_READY` once the artifacts are uploaded).
async fn finalize(State(s): S, Path(id): Path<String>, p: Params) -> Reply {
    let status = str_or_number(&p, "status")?;
    let m = s.store()?.finalize_logged_model(&id, &status)?;
    Ok(Json(json!({"model": model_json(&m)})))
}

async fn delete_model(State(s): S, Path(id): Path<String>) -> Reply {
    s.store()?.delete_logged_model(&id)?;
    Ok(Json(json!({})))
}

async fn set_tags(State(s): S, Path(id): Path<String>, p: Params) -> Reply {
    let tags = key_values(p.obj_list("tags")?, "tag")?;
    s.store()?.set_logged_model_tags(&id, &tags)?;
    Ok(Json(json!({})))
}

async fn delete_tag(State(s): S, Path((id, key)): Path<(String, String)>) -> Reply {
    s.store()?
        .delete_logged_model_tag(&id, &key)
        .map_err(|e| match e {
            StoreError::NotFound {
                what: sluice_store::Entity::LoggedModelTag,
                ..
            } => ApiError::not_found(format!(
                "No tag with key '{key}' found for model with ID '{id}'."
            )),
            other => other.into(),
        })?;
    Ok(Json(json!({})))
}

async fn log_params(State(s): S, Path(id): Path<String>, p: Params) -> Reply {
    let params = key_values(p.obj_list("params")?, "param")?;
    s.store()?.log_logged_model_params(&id, &params)?;
    Ok(Json(json!({})))
}

/// `order_by` entries: `{"field_name": "metrics.rmse" | "creation_timestamp" | ..., "ascending"}`.
fn order_by(p: &Params) -> ApiResult<Vec<LoggedModelOrder>> {
    p.obj_list("order_by")?
        .into_iter()
        .map(|o| {
            let field_name = match o.get("field_name") {
                Some(Value::String(f)) if !f.is_empty() => f.clone(),
                _ => {
                    return Err(ApiError::invalid(
                        "every `order_by` entry needs a string `field_name`",
                    ));
                }
            };
            let ascending = match o.get("ascending") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "Invalid value {other} for `ascending` in `order_by`"
                    )));
                }
            };
            Ok(LoggedModelOrder {
                field_name,
                ascending,
            })
        })
        .collect()
}

async fn search(State(s): S, p: Params) -> Reply {
    let experiment_ids = p.str_list("experiment_ids")?;
    let filter = p.opt_str("filter")?;
    let order = order_by(&p)?;
    let max = p.max_results(100, 50_000)?;
    let offset = p.offset()?;
    let (models, next) =
        s.store()?
            .search_logged_models(&experiment_ids, filter.as_deref(), &order, max, offset)?;
    let items = models.iter().map(model_json).collect();
    Ok(Json(page("models", items, next)))
}
