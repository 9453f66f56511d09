//! The artifact proxy: `/api/2.0/mlflow-artifacts/artifacts/{path}` (PUT, GET, DELETE) and the
//! listing `?path=`. Paths are relative to the workspace's artifact root; anything that could
//! leave it (`..`, absolute paths, backslashes, NUL) is refused.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::ServerState;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;

/// Resolves an artifact path under `root`, refusing anything that escapes it.
pub(crate) fn safe_path(root: &Path, rel: &str) -> ApiResult<PathBuf> {
    let bad = || {
        ApiError::invalid(format!(
            "Invalid path '{rel}': artifact paths are relative and may not contain '..'"
        ))
    };
    if rel.contains('\\') || rel.contains('\0') || rel.starts_with('/') {
        return Err(bad());
    }
    let mut out = root.to_path_buf();
    for comp in Path::new(rel).components() {
        match comp {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

pub(crate) async fn upload(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let path = safe_path(&s.artifact_root, &rel)?;
    if path.is_dir() {
        return Err(ApiError::invalid(format!("'{rel}' is a directory")));
    }
    write_atomically(path, body).await?;
    Ok(Json(json!({})))
}

pub(crate) async fn download(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
) -> ApiResult<Response> {
    send_file(&s.artifact_root, &rel, &rel).await
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

/// Sends the file at `rel` under `root` as an attachment with MLflow's headers: its content
/// type by name, `Content-Disposition: attachment`, and `X-Content-Type-Options: nosniff`.
pub(crate) async fn send_file(root: &Path, rel: &str, shown: &str) -> ApiResult<Response> {
    let path = safe_path(root, rel)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("Artifact '{shown}' does not exist")))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().replace(['"', '\\', '\r', '\n'], "_"))
        .unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, content_type(&name).to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
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
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    safe_path(Path::new(""), &rel)?;
    send_file(&s.artifact_root, &joined, &rel).await
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
    safe_path(Path::new(""), &rel)?;
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    send_file(&s.artifact_root, &joined, &rel).await
}

pub(crate) async fn delete(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let path = safe_path(&s.artifact_root, &rel)?;
    if path == s.artifact_root {
        return Err(ApiError::invalid("refusing to delete the artifact root"));
    }
    let res = if path.is_dir() {
        std::fs::remove_dir_all(&path)
    } else {
        std::fs::remove_file(&path)
    };
    res.map_err(|_| ApiError::not_found(format!("Artifact '{rel}' does not exist")))?;
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
    safe_path(Path::new(""), &rel)?;
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
    let path = safe_path(
        &s.artifact_root,
        &format!("{base}/{}", rel.trim_start_matches('/')),
    )?;
    write_atomically(path, body).await?;
    Ok(Json(json!({})))
}

/// Writes beside, then renames: a reader never sees half a file.
async fn write_atomically(path: PathBuf, body: Bytes) -> ApiResult<()> {
    let parent = path
        .parent()
        .ok_or_else(|| ApiError::invalid("empty artifact path"))?
        .to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&parent)?;
        let tmp = parent.join(format!(".upload-{}", sluice_store::tracking::new_id()));
        std::fs::write(&tmp, &body)?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(|e| ApiError::new(crate::error::ErrorCode::InternalError, e.to_string()))?
    .map_err(|e| {
        ApiError::new(
            crate::error::ErrorCode::InternalError,
            format!("cannot store the artifact: {e}"),
        )
    })
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
        safe_path(Path::new(""), sub)?;
        format!("{base}/{sub}")
    };
    let mut listing = list_dir(&s.artifact_root, &rel)?;
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
    safe_path(Path::new(""), &rel)?;
    let (base, _) = logged_model_base(&s, &id)?;
    let joined = format!("{base}/{}", rel.trim_start_matches('/'));
    send_file(&s.artifact_root, &joined, &rel).await
}

/// Lists a folder: `{"files": [{"path", "is_dir", "file_size"}]}`; a file (or nothing) gives `{}`.
pub(crate) fn list_dir(root: &Path, rel: &str) -> ApiResult<Value> {
    let dir = safe_path(root, rel)?;
    if !dir.is_dir() {
        return Ok(json!({}));
    }
    let mut files = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| ApiError::new(crate::error::ErrorCode::InternalError, e.to_string()))?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with(".upload-"))
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let meta = entry.metadata().ok();
        if meta.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            files.push(json!({"path": name, "is_dir": true}));
        } else {
            files.push(
                json!({"path": name, "is_dir": false, "file_size": meta.map_or(0, |m| m.len())}),
            );
        }
    }
    Ok(if files.is_empty() {
        json!({})
    } else {
        json!({"files": files})
    })
}

pub(crate) async fn list(State(s): State<Arc<ServerState>>, p: Params) -> ApiResult<Json<Value>> {
    let rel = p.opt_str("path")?.unwrap_or_default();
    Ok(Json(list_dir(&s.artifact_root, &rel)?))
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
        format!("{base}/{sub}")
    };
    let mut listing = list_dir(&s.artifact_root, &rel)?;
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
        let root = Path::new("/srv/artifacts");
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "a/\0"] {
            assert!(safe_path(root, bad).is_err(), "{bad}");
        }
        assert_eq!(
            safe_path(root, "1/abc/artifacts/m.txt").unwrap(),
            root.join("1/abc/artifacts/m.txt")
        );
    }
}
