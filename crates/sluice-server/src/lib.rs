//! Sluice's HTTP server: the MLflow REST API (tracking, the `mlflow-artifacts` proxy and the
//! model registry) over the workspace's store, so the unmodified `mlflow` client works against
//! it with only `MLFLOW_TRACKING_URI` changed.

mod artifacts;
mod error;
mod logged_models;
mod params;
mod registry;
mod tracking;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use sluice_store::Store;

pub use error::{ApiError, ErrorCode};

/// What every handler shares: the store and where artifacts live.
pub struct ServerState {
    store: Arc<Mutex<Store>>,
    artifact_root: PathBuf,
}

impl ServerState {
    #[must_use]
    pub fn new(store: Arc<Mutex<Store>>, artifact_root: PathBuf) -> Self {
        Self {
            store,
            artifact_root,
        }
    }

    /// The store, locked for one operation.
    #[expect(
        clippy::unnecessary_wraps,
        reason = "handlers write `s.store()?`; a lock that can fail must not change them all"
    )]
    pub(crate) fn store(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        Ok(self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// The router `sluice server` and the in-process server of `job create` both use.
pub fn router(state: Arc<ServerState>) -> Router {
    use tracking as t;
    let api = Router::new()
        .route("/experiments/create", post(t::create_experiment))
        .route("/experiments/get", get(t::get_experiment))
        .route("/experiments/get-by-name", get(t::get_experiment_by_name))
        .route(
            "/experiments/search",
            post(t::search_experiments).get(t::search_experiments),
        )
        .route("/experiments/list", get(t::search_experiments))
        .route("/experiments/update", post(t::update_experiment))
        .route("/experiments/delete", post(t::delete_experiment))
        .route("/experiments/restore", post(t::restore_experiment))
        .route(
            "/experiments/set-experiment-tag",
            post(t::set_experiment_tag),
        )
        .route(
            "/experiments/delete-experiment-tag",
            post(t::delete_experiment_tag),
        )
        .route("/runs/create", post(t::create_run))
        .route("/runs/get", get(t::get_run))
        .route("/runs/update", post(t::update_run))
        .route("/runs/delete", post(t::delete_run))
        .route("/runs/restore", post(t::restore_run))
        .route("/runs/log-metric", post(t::log_metric))
        .route("/runs/log-parameter", post(t::log_param))
        .route("/runs/set-tag", post(t::set_tag))
        .route("/runs/delete-tag", post(t::delete_tag))
        .route("/runs/log-batch", post(t::log_batch))
        .route("/runs/log-inputs", post(t::log_inputs))
        .route("/runs/outputs", post(t::log_outputs))
        .route("/runs/log-model", post(t::log_model))
        .route("/runs/search", post(t::search_runs).get(t::search_runs))
        .route("/metrics/get-history", get(t::metric_history))
        .route("/artifacts/list", get(artifacts::list_run))
        .merge(registry::routes())
        .merge(logged_models::routes());
    Router::new()
        .nest("/api/2.0/mlflow", api.clone())
        .nest("/ajax-api/2.0/mlflow", api)
        .route("/api/2.0/mlflow-artifacts/artifacts", get(artifacts::list))
        .route(
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            get(artifacts::download)
                .put(artifacts::upload)
                .delete(artifacts::delete),
        )
        .route("/api/3.0/mlflow/server-info", get(server_info))
        .route("/api/2.0/mlflow/server-info", get(server_info))
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(params::MAX_BODY))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One structured log line per request: method, path, status, duration (`--verbose` shows
/// client errors, `--verbose --verbose` every request; server errors always show).
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if status >= 500 {
        tracing::error!(%method, %path, status, micros, "request");
    } else if status >= 400 {
        tracing::info!(%method, %path, status, micros, "request");
    } else {
        tracing::debug!(%method, %path, status, micros, "request");
    }
    res
}

async fn server_info() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": {},
    }))
}

async fn not_found(uri: axum::http::Uri, method: axum::http::Method) -> ApiError {
    ApiError::new(
        ErrorCode::EndpointNotFound,
        format!("No API endpoint for {method} {}", uri.path()),
    )
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (use port 0 for any free port) and returns the listener and the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
