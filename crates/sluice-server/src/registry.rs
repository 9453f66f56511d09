//! The model registry: `registered-models/*`, `model-versions/*`, aliases, stages and tags.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::{delete, get, patch, post};
use serde_json::{Map, Value, json};
use sluice_store::governance::{Actor, Role};
use sluice_store::registry::{ModelVersion, NewModelVersion, RegisteredModel};
use sluice_store::tracking::KeyValue;

use crate::ServerState;
use crate::auth::Route;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, page_token};
use crate::tracking::key_values;

type S = State<Arc<ServerState>>;
type Reply = ApiResult<Json<Value>>;
type Who = Extension<Actor>;

/// Routes under `/api/2.0/mlflow`, with the role each needs.
pub(crate) fn routes() -> Vec<Route> {
    use Role::{Contributor as C, Owner as O, Reader as R};
    vec![
        Route::new(
            Method::POST,
            "/registered-models/create",
            C,
            post(create_registered_model),
        ),
        Route::new(
            Method::GET,
            "/registered-models/get",
            R,
            get(get_registered_model),
        ),
        Route::new(
            Method::POST,
            "/registered-models/rename",
            O,
            post(rename_registered_model),
        ),
        Route::new(
            Method::PATCH,
            "/registered-models/update",
            C,
            patch(update_registered_model),
        ),
        Route::new(
            Method::DELETE,
            "/registered-models/delete",
            O,
            delete(delete_registered_model),
        ),
        Route::new(
            Method::GET,
            "/registered-models/search",
            R,
            get(search_registered_models),
        ),
        Route::new(
            Method::POST,
            "/registered-models/get-latest-versions",
            R,
            post(get_latest_versions),
        ),
        Route::new(
            Method::GET,
            "/registered-models/get-latest-versions",
            R,
            get(get_latest_versions),
        ),
        Route::new(
            Method::POST,
            "/registered-models/set-tag",
            C,
            post(set_registered_model_tag),
        ),
        Route::new(
            Method::DELETE,
            "/registered-models/delete-tag",
            C,
            delete(delete_registered_model_tag),
        ),
        Route::new(Method::POST, "/registered-models/alias", C, post(set_alias)),
        Route::new(
            Method::DELETE,
            "/registered-models/alias",
            C,
            delete(delete_alias),
        ),
        Route::new(
            Method::GET,
            "/registered-models/alias",
            R,
            get(get_by_alias),
        ),
        Route::new(
            Method::POST,
            "/model-versions/create",
            C,
            post(create_model_version),
        ),
        Route::new(
            Method::GET,
            "/model-versions/get",
            R,
            get(get_model_version),
        ),
        Route::new(
            Method::PATCH,
            "/model-versions/update",
            C,
            patch(update_model_version),
        ),
        Route::new(
            Method::DELETE,
            "/model-versions/delete",
            O,
            delete(delete_model_version),
        ),
        Route::new(
            Method::GET,
            "/model-versions/search",
            R,
            get(search_model_versions),
        ),
        Route::new(
            Method::GET,
            "/model-versions/get-download-uri",
            R,
            get(get_download_uri),
        ),
        Route::new(
            Method::POST,
            "/model-versions/transition-stage",
            C,
            post(transition_stage),
        ),
        Route::new(
            Method::POST,
            "/model-versions/set-tag",
            C,
            post(set_model_version_tag),
        ),
        Route::new(
            Method::DELETE,
            "/model-versions/delete-tag",
            C,
            delete(delete_model_version_tag),
        ),
    ]
}

/// Store errors in MLflow's words for the registry and logged models; the rest as usual.
/// A model version as MLflow writes it: `version` is a string, `description`, `run_id` and
/// `run_link` are always there, `tags` and `aliases` only when there are some.
pub(crate) fn version_json(v: &ModelVersion) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(v.name));
    o.insert("version".into(), json!(v.version));
    o.insert("creation_timestamp".into(), json!(v.creation_timestamp));
    o.insert(
        "last_updated_timestamp".into(),
        json!(v.last_updated_timestamp),
    );
    if !v.user_id.is_empty() {
        o.insert("user_id".into(), json!(v.user_id));
    }
    o.insert("current_stage".into(), json!(v.current_stage));
    o.insert("description".into(), json!(v.description));
    o.insert("source".into(), json!(v.source));
    o.insert("run_id".into(), json!(v.run_id));
    o.insert("status".into(), json!(v.status));
    if !v.tags.is_empty() {
        o.insert("tags".into(), kv_json(&v.tags));
    }
    o.insert("run_link".into(), json!(v.run_link));
    if !v.aliases.is_empty() {
        o.insert("aliases".into(), json!(v.aliases));
    }
    Value::Object(o)
}

pub(crate) fn kv_json(kvs: &[KeyValue]) -> Value {
    serde_json::to_value(kvs).unwrap_or_default()
}

fn registered_model_json(m: &RegisteredModel) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(m.name));
    o.insert("creation_timestamp".into(), json!(m.creation_timestamp));
    o.insert(
        "last_updated_timestamp".into(),
        json!(m.last_updated_timestamp),
    );
    if let Some(d) = m.description.as_deref().filter(|d| !d.is_empty()) {
        o.insert("description".into(), json!(d));
    }
    if !m.latest_versions.is_empty() {
        o.insert(
            "latest_versions".into(),
            m.latest_versions.iter().map(version_json).collect(),
        );
    }
    if !m.tags.is_empty() {
        o.insert("tags".into(), kv_json(&m.tags));
    }
    if !m.aliases.is_empty() {
        o.insert(
            "aliases".into(),
            m.aliases
                .iter()
                .map(|a| json!({"alias": a.alias, "version": a.version}))
                .collect(),
        );
    }
    Value::Object(o)
}

/// `{"<key>": [...], "next_page_token": ...}`, each part left out when empty (as MLflow does).
pub(crate) fn page(key: &str, items: Vec<Value>, next: Option<usize>) -> Value {
    let mut out = Map::new();
    if !items.is_empty() {
        out.insert(key.into(), Value::Array(items));
    }
    if let Some(t) = page_token(next) {
        out.insert("next_page_token".into(), Value::String(t));
    }
    Value::Object(out)
}

/// The version number: a string, or a number from clients that send one.
fn version_param(p: &Params) -> ApiResult<String> {
    match p.0.get("version") {
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => p.str("version"),
    }
}

/// A boolean sent as JSON or, in a query string, as `true`/`false`.
fn flag(p: &Params, key: &str) -> ApiResult<bool> {
    match p.0.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => Ok(false),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value {other} for parameter '{key}' supplied."
        ))),
    }
}

fn tags(p: &Params) -> ApiResult<Vec<KeyValue>> {
    key_values(p.obj_list("tags")?, "tag")
}

// ---- registered models ----------------------------------------------------------------------

async fn create_registered_model(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let tags = tags(&p)?;
    let description = p.opt_str("description")?.filter(|d| !d.is_empty());
    let m =
        s.store()?
            .governed(&who)
            .create_registered_model(&name, &tags, description.as_deref())?;
    crate::webhooks::model_created(&s, &name, &tags, description.as_deref());
    Ok(Json(json!({"registered_model": registered_model_json(&m)})))
}

async fn get_registered_model(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let m = s.store()?.get_registered_model(&name)?;
    Ok(Json(json!({"registered_model": registered_model_json(&m)})))
}

async fn rename_registered_model(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let new_name = p.str("new_name")?;
    let m = s
        .store()?
        .governed(&who)
        .rename_registered_model(&name, &new_name)?;
    Ok(Json(json!({"registered_model": registered_model_json(&m)})))
}

async fn update_registered_model(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let description = p.opt_str("description")?;
    let m = s
        .store()?
        .governed(&who)
        .update_registered_model(&name, description.as_deref())?;
    Ok(Json(json!({"registered_model": registered_model_json(&m)})))
}

async fn delete_registered_model(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    s.store()?.governed(&who).delete_registered_model(&name)?;
    Ok(Json(json!({})))
}

async fn search_registered_models(State(s): S, p: Params) -> Reply {
    let max = p.max_results(100, 1000)?;
    let order_by = p.str_list("order_by")?;
    let filter = p.opt_str("filter")?;
    let offset = p.offset()?;
    let (models, next) =
        s.store()?
            .search_registered_models(filter.as_deref(), &order_by, max, offset)?;
    let items = models.iter().map(registered_model_json).collect();
    Ok(Json(page("registered_models", items, next)))
}

async fn get_latest_versions(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let stages = p.str_list("stages")?;
    let versions = s.store()?.get_latest_versions(&name, &stages)?;
    let items = versions.iter().map(version_json).collect();
    Ok(Json(page("model_versions", items, None)))
}

async fn set_registered_model_tag(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let key = p.str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    s.store()?
        .governed(&who)
        .set_registered_model_tag(&name, &key, &value)?;
    crate::webhooks::model_tag(&s, &name, &key, Some(&value));
    Ok(Json(json!({})))
}

async fn delete_registered_model_tag(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let key = p.str("key")?;
    s.store()?
        .governed(&who)
        .delete_registered_model_tag(&name, &key)?;
    crate::webhooks::model_tag(&s, &name, &key, None);
    Ok(Json(json!({})))
}

// ---- aliases --------------------------------------------------------------------------------

async fn set_alias(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let alias = p.str("alias")?;
    let version = version_param(&p)?;
    s.store()?
        .governed(&who)
        .set_alias(&name, &alias, &version)?;
    crate::webhooks::alias(&s, &name, &alias, Some(&version));
    Ok(Json(json!({})))
}

async fn delete_alias(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let alias = p.str("alias")?;
    s.store()?.governed(&who).delete_alias(&name, &alias)?;
    crate::webhooks::alias(&s, &name, &alias, None);
    Ok(Json(json!({})))
}

async fn get_by_alias(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let alias = p.str("alias")?;
    let v = s.store()?.get_model_version_by_alias(&name, &alias)?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

// ---- model versions -------------------------------------------------------------------------

async fn create_model_version(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let source = p.str("source")?;
    let run_id = p.opt_str("run_id")?;
    let tags = tags(&p)?;
    let run_link = p.opt_str("run_link")?;
    let description = p.opt_str("description")?;
    let model_id = p.opt_str("model_id")?;
    let new = NewModelVersion {
        name: &name,
        source: &source,
        run_id: run_id.as_deref(),
        tags: &tags,
        run_link: run_link.as_deref(),
        description: description.as_deref(),
        model_id: model_id.as_deref(),
    };
    let v = s.store()?.governed(&who).create_model_version(&new)?;
    crate::webhooks::version_created(
        &s,
        &name,
        &v.version,
        &v.source,
        Some(v.run_id.as_str()),
        &tags,
        description.as_deref(),
    );
    Ok(Json(json!({"model_version": version_json(&v)})))
}

async fn get_model_version(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let v = s.store()?.get_model_version(&name, &version)?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

async fn update_model_version(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let description = p.opt_str("description")?;
    let v =
        s.store()?
            .governed(&who)
            .update_model_version(&name, &version, description.as_deref())?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

async fn delete_model_version(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    s.store()?
        .governed(&who)
        .delete_model_version(&name, &version)?;
    Ok(Json(json!({})))
}

pub(crate) async fn search_model_versions(State(s): S, p: Params) -> Reply {
    let max = p.max_results(10_000, 200_000)?;
    let order_by = p.str_list("order_by")?;
    let filter = p.opt_str("filter")?;
    let offset = p.offset()?;
    let (versions, next) =
        s.store()?
            .search_model_versions(filter.as_deref(), &order_by, max, offset)?;
    let items = versions.iter().map(version_json).collect();
    Ok(Json(page("model_versions", items, next)))
}

async fn get_download_uri(State(s): S, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let uri = s.store()?.get_model_version_download_uri(&name, &version)?;
    Ok(Json(json!({"artifact_uri": uri})))
}

async fn transition_stage(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let stage = p.str("stage")?;
    let archive = flag(&p, "archive_existing_versions")?;
    let v = s
        .store()?
        .governed(&who)
        .transition_stage(&name, &version, &stage, archive)?;
    Ok(Json(json!({"model_version": version_json(&v)})))
}

async fn set_model_version_tag(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let key = p.str("key")?;
    let value = p.opt_str("value")?.unwrap_or_default();
    s.store()?
        .governed(&who)
        .set_model_version_tag(&name, &version, &key, &value)?;
    crate::webhooks::version_tag(&s, &name, &version, &key, Some(&value));
    Ok(Json(json!({})))
}

async fn delete_model_version_tag(State(s): S, Extension(who): Who, p: Params) -> Reply {
    let name = p.str("name")?;
    let version = version_param(&p)?;
    let key = p.str("key")?;
    s.store()?
        .governed(&who)
        .delete_model_version_tag(&name, &version, &key)?;
    crate::webhooks::version_tag(&s, &name, &version, &key, None);
    Ok(Json(json!({})))
}
