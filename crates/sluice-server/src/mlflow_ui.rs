//! MLflow's own web UI, served from the static bundle inside the `mlflow` wheel
//! (`mlflow/server/js/build`): `index.html` at `/mlflow/` (Sluice's own UI has `/`) and the
//! bundle's files under `/mlflow/static-files/`, as MLflow's server lays them out under a
//! static prefix. The UI then calls the same REST routes the client does, relative to its page:
//! `/mlflow/ajax-api/...`, `/mlflow/graphql`, `/mlflow/get-artifact`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::ServerState;
use crate::error::{ApiError, ApiResult};

/// Where MLflow's UI is mounted.
pub const MOUNT: &str = "/mlflow";

/// Whether `dir` is a built MLflow UI (it has `index.html` and `static/js`).
#[must_use]
pub fn is_bundle(dir: &Path) -> bool {
    dir.join("index.html").is_file() && dir.join("static").join("js").is_dir()
}

fn bundle(s: &ServerState) -> ApiResult<&Path> {
    s.mlflow_ui.get().map(PathBuf::as_path).ok_or_else(|| {
        ApiError::not_found(
            "No web UI is served here: start `sluice server --mlflow-ui DIR` with DIR the `mlflow/server/js/build` folder of an `mlflow` install, or install `mlflow` in a Python on PATH",
        )
    })
}

pub(crate) async fn index(State(s): State<Arc<ServerState>>) -> ApiResult<Response> {
    let dir = bundle(&s)?;
    send(&dir.join("index.html"), false).await
}

pub(crate) async fn static_file(
    State(s): State<Arc<ServerState>>,
    UrlPath(rel): UrlPath<String>,
) -> ApiResult<Response> {
    let dir = bundle(&s)?;
    let path = inside(dir, &rel).ok_or_else(|| ApiError::not_found(format!("No file '{rel}'")))?;
    send(&path, true).await
}

/// `rel` under `dir`, or `None` when it would leave it (the artifact proxy's rule).
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let key = crate::artifacts::check(rel).ok()?;
    Some(
        key.split('/')
            .fold(dir.to_path_buf(), |p, part| p.join(part)),
    )
}

async fn send(path: &Path, cache: bool) -> ApiResult<Response> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|_| ApiError::not_found(format!("No file '{}'", path.display())))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // The bundle's file names carry a content hash, so they may be cached for long (MLflow: 28
    // days); index.html names the current ones and is never cached.
    let cache_control = if cache {
        "public, max-age=2419200"
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, bundle_type(name)),
            (header::CACHE_CONTROL, cache_control),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

/// Content types of the files a built web app has (the bundle is MLflow's, not user content).
fn bundle_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_bundle() {
        let dir = Path::new("/b");
        assert_eq!(
            inside(dir, "static/js/a.js"),
            Some(PathBuf::from("/b/static/js/a.js"))
        );
        assert_eq!(inside(dir, "../etc/passwd"), None);
        assert_eq!(inside(dir, "/etc/passwd"), None);
        assert_eq!(inside(dir, "a\\..\\b"), None);
    }

    #[test]
    fn bundle_files_have_their_types() {
        assert_eq!(
            bundle_type("main.c2f5.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(bundle_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(bundle_type("x.woff2"), "font/woff2");
        assert_eq!(bundle_type("LICENSE"), "application/octet-stream");
    }
}
