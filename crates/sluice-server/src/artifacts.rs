//! The artifact proxy: `/api/2.0/mlflow-artifacts/artifacts/{path}` (PUT, GET, DELETE) and the
//! listing `?path=`, over the server's artifact store (a local folder, Azure Blob or S3). Paths
//! are relative to the store's root; anything that could leave it (`..`, absolute paths,
//! backslashes, control characters) is refused. Bodies stream both ways: an upload or a
//! download of any size holds a few parts in memory, never the whole artifact.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sluice_artifacts::store::{Artifacts, StoreError};

use crate::ServerState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::params::Params;

/// Checks a relative artifact path (the key it names in the store).
pub(crate) fn check(rel: &str) -> ApiResult<String> {
    sluice_artifacts::store::key(rel).map_err(|e| store_error(e, rel))
}

/// A store failure as MLflow's error shape: a missing artifact is `RESOURCE_DOES_NOT_EXIST`, a
/// bad path or a broken upload `INVALID_PARAMETER_VALUE`, an unreachable store
/// `TEMPORARILY_UNAVAILABLE` (clients retry).
pub(crate) fn store_error(e: StoreError, shown: &str) -> ApiError {
    match e {
        StoreError::NotFound(_) => {
            ApiError::not_found(format!("Artifact '{shown}' does not exist"))
        }
        StoreError::InvalidPath { path, why } => {
            ApiError::invalid(format!("Invalid path '{path}': {why}"))
        }
        StoreError::Body { .. } => ApiError::invalid(e.to_string()),
        StoreError::Backend { .. } => {
            tracing::warn!(error = %e, "artifact store failure");
            ApiError::new(ErrorCode::TemporarilyUnavailable, e.to_string())
        }
        StoreError::Config { .. } => ApiError::new(ErrorCode::InternalError, e.to_string()),
    }
}

pub(crate) async fn upload(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    check(&rel)?;
    s.artifacts
        .put_stream(&rel, body.into_data_stream())
        .await
        .map_err(|e| store_error(e, &rel))?;
    Ok(Json(json!({})))
}

pub(crate) async fn download(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
) -> ApiResult<Response> {
    send_file(&s.artifacts, &rel, &rel).await
}

/// Extensions MLflow serves as `text/plain` (and its file names without one).
const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "mlmodel",
    "mlproject",
];

/// The `Content-Type` of an artifact, by its name as MLflow gives it: text files (and `MLmodel`)
/// as `text/plain`, common images and PDF as themselves, everything else as bytes. Markup that
/// a browser would run (HTML, SVG) is never served as such: user content is text or bytes.
pub(crate) fn content_type(name: &str) -> &'static str {
    let file = name.rsplit('/').next().unwrap_or(name);
    let ext = match file.rsplit_once('.') {
        Some((_, ext)) => ext,
        None => file,
    }
    .to_ascii_lowercase();
    if TEXT_EXTENSIONS.contains(&ext.as_str()) {
        return "text/plain";
    }
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "pdf" => "application/pdf",
        "html" | "htm" | "xhtml" | "svg" | "svgz" => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Streams the artifact at `rel` as an attachment with MLflow's headers: its content type by
/// name, `Content-Disposition: attachment`, `X-Content-Type-Options: nosniff`, and its length.
pub(crate) async fn send_file(store: &Artifacts, rel: &str, shown: &str) -> ApiResult<Response> {
    let download = store.get(rel).await.map_err(|e| store_error(e, shown))?;
    let name = rel
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace(['"', '\\', '\r', '\n'], "_");
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&name).to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CONTENT_LENGTH, download.size.to_string()),
        ],
        Body::from_stream(download.body),
    )
        .into_response())
}

/// The folder under the artifact root that an `mlflow-artifacts:/` location names.
pub(crate) fn under_root(location: &str, what: &str) -> ApiResult<String> {
    Ok(location
        .strip_prefix("mlflow-artifacts:/")
        .ok_or_else(|| ApiError::invalid(format!("{what} stores artifacts outside this server")))?
        .trim_start_matches('/')
        .to_owned())
}

/// `GET /get-artifact?run_uuid=R&path=P` (the MLflow UI's download of a run artifact).
pub(crate) async fn get_run_artifact(
    State(s): State<Arc<ServerState>>,
    p: Params,
) -> ApiResult<Response> {
    let id = p.str_any(&["run_uuid", "run_id"])?;
    let rel = p.str("path")?;
    let run = s.store()?.get_run(&id)?;
    let base = under_root(&run.info.artifact_uri, &format!("run '{id}'"))?;
    check(&rel)?;
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    send_file(&s.artifacts, &joined, &rel).await
}

/// `GET /model-versions/get-artifact?name=N&version=V&path=P` (a model version's files).
pub(crate) async fn get_model_version_artifact(
    State(s): State<Arc<ServerState>>,
    p: Params,
) -> ApiResult<Response> {
    let name = p.str("name")?;
    let version = p.str("version")?;
    let rel = p.str("path")?;
    let mv = s.store()?.get_model_version(&name, &version)?;
    let location = if mv.storage_location.is_empty() {
        mv.source.clone()
    } else {
        mv.storage_location.clone()
    };
    let base = under_root(&location, &format!("model '{name}' version {version}"))?;
    check(&rel)?;
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    send_file(&s.artifacts, &joined, &rel).await
}

pub(crate) async fn delete(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    if check(&rel)?.is_empty() {
        return Err(ApiError::invalid("refusing to delete the artifact root"));
    }
    let found = s
        .artifacts
        .delete(&rel)
        .await
        .map_err(|e| store_error(e, &rel))?;
    if !found {
        return Err(ApiError::not_found(format!(
            "Artifact '{rel}' does not exist"
        )));
    }
    Ok(Json(json!({})))
}

/// The most the UI's `upload-artifact` takes, as MLflow (10 MB).
const MAX_UI_UPLOAD: usize = 10 * 1024 * 1024;

/// `POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=R&path=P` with the file as the body: the
/// web UI's upload into a run's artifacts (at most 10 MB), with MLflow's messages.
pub(crate) async fn upload_run_artifact(
    State(s): State<Arc<ServerState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let args: std::collections::HashMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let arg = |k: &str| args.get(k).filter(|v| !v.is_empty()).cloned();
    let run_id =
        arg("run_uuid").ok_or_else(|| ApiError::invalid("Request must specify run_uuid."))?;
    let rel = arg("path").ok_or_else(|| ApiError::invalid("Request must specify path."))?;
    check(&rel)?;
    if body.is_empty() {
        return Err(ApiError::invalid("Request must specify data."));
    }
    if body.len() > MAX_UI_UPLOAD {
        return Err(ApiError::invalid(
            "Artifact size is too large. Max size is 10MB.",
        ));
    }
    let run = s.store()?.get_run(&run_id)?;
    let base = under_root(&run.info.artifact_uri, &format!("run '{run_id}'"))?;
    let target = format!("{base}/{}", rel.trim_start_matches('/'));
    s.artifacts
        .put_bytes(&target, body)
        .await
        .map_err(|e| store_error(e, &rel))?;
    Ok(Json(json!({})))
}

/// The folder under the artifact root that holds a logged model's files.
fn logged_model_base(s: &ServerState, id: &str) -> ApiResult<(String, String)> {
    let model = s.store()?.get_logged_model(id)?;
    let base = under_root(&model.artifact_uri, &format!("logged model '{id}'"))?;
    Ok((base, model.artifact_uri))
}

/// `GET /api/2.0/mlflow/logged-models/{id}/artifacts/directories?artifact_directory_path=D`:
/// a logged model's files (paths relative to the model), and its `root_uri`.
pub(crate) async fn list_logged_model(
    State(s): State<Arc<ServerState>>,
    UrlPath(id): UrlPath<String>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let sub = p.opt_str("artifact_directory_path")?.unwrap_or_default();
    let (base, root_uri) = logged_model_base(&s, &id)?;
    let sub = sub.trim_matches('/');
    let rel = if sub.is_empty() {
        base
    } else {
        check(sub)?;
        format!("{base}/{sub}")
    };
    let mut listing = list_dir(&s.artifacts, &rel).await?;
    if let Some(files) = listing.get_mut("files").and_then(Value::as_array_mut) {
        for f in files {
            let name = f["path"].as_str().unwrap_or_default().to_owned();
            if !sub.is_empty() {
                f["path"] = Value::String(format!("{sub}/{name}"));
            }
        }
    }
    listing["root_uri"] = Value::String(root_uri);
    Ok(Json(listing))
}

/// `GET /api/2.0/mlflow/logged-models/{id}/artifacts/files?artifact_file_path=F`: one file of a
/// logged model, sent like every other artifact download.
pub(crate) async fn get_logged_model_file(
    State(s): State<Arc<ServerState>>,
    UrlPath(id): UrlPath<String>,
    p: Params,
) -> ApiResult<Response> {
    let Some(rel) = p.opt_str("artifact_file_path")?.filter(|r| !r.is_empty()) else {
        return Err(ApiError::new(
            crate::error::ErrorCode::BadRequest,
            "Request must include the \"artifact_file_path\" query parameter.",
        ));
    };
    check(&rel)?;
    let (base, _) = logged_model_base(&s, &id)?;
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    send_file(&s.artifacts, &joined, &rel).await
}

/// Lists a folder: `{"files": [{"path", "is_dir", "file_size"}]}`; a file (or nothing) gives `{}`.
pub(crate) async fn list_dir(store: &Artifacts, rel: &str) -> ApiResult<Value> {
    let entries = store.list(rel).await.map_err(|e| store_error(e, rel))?;
    let files: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            if e.is_dir {
                json!({"path": e.name, "is_dir": true})
            } else {
                json!({"path": e.name, "is_dir": false, "file_size": e.size})
            }
        })
        .collect();
    Ok(if files.is_empty() {
        json!({})
    } else {
        json!({"files": files})
    })
}

pub(crate) async fn list(State(s): State<Arc<ServerState>>, p: Params) -> ApiResult<Json<Value>> {
    let rel = p.opt_str("path")?.unwrap_or_default();
    Ok(Json(list_dir(&s.artifacts, &rel).await?))
}

/// `/api/2.0/mlflow/artifacts/list?run_id=&path=`: a run's artifacts, with paths relative to the
/// run's artifact root.
pub(crate) async fn list_run(
    State(s): State<Arc<ServerState>>,
    p: Params,
) -> ApiResult<Json<Value>> {
    let id = p.str_any(&["run_id", "run_uuid"])?;
    let sub = p.opt_str("path")?.unwrap_or_default();
    let run = s.store()?.get_run(&id)?;
    let base = under_root(&run.info.artifact_uri, &format!("run '{id}'"))?;
    let rel = if sub.is_empty() {
        base.clone()
    } else {
        check(&sub)?;
        format!("{base}/{sub}")
    };
    let mut listing = list_dir(&s.artifacts, &rel).await?;
    if let Some(files) = listing.get_mut("files").and_then(Value::as_array_mut) {
        for f in files {
            let name = f["path"].as_str().unwrap_or_default().to_owned();
            f["path"] = Value::String(if sub.is_empty() {
                name
            } else {
                format!("{}/{name}", sub.trim_end_matches('/'))
            });
        }
    }
    listing["root_uri"] = Value::String(run.info.artifact_uri);
    Ok(Json(listing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_mlflow_and_never_serve_markup() {
        for (name, ty) in [
            ("model/MLmodel", "text/plain"),
            ("conda.yaml", "text/plain"),
            ("metrics.json", "text/plain"),
            ("notes.TXT", "text/plain"),
            ("plot.png", "image/png"),
            ("photo.JPEG", "image/jpeg"),
            ("report.pdf", "application/pdf"),
            ("page.html", "text/plain"),
            ("logo.svg", "text/plain"),
            ("model.pkl", "application/octet-stream"),
            ("weights", "application/octet-stream"),
        ] {
            assert_eq!(content_type(name), ty, "{name}");
        }
    }

    #[test]
    fn traversal_is_refused() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "a/\0"] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check("1/abc/artifacts/m.txt").unwrap(),
            "1/abc/artifacts/m.txt"
        );
    }
}
