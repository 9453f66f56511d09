//! Sluice's HTTP server: the MLflow REST API (tracking, the `mlflow-artifacts` proxy and the
//! model registry) over the workspace's store, so the unmodified `mlflow` client works against
//! it with only `MLFLOW_TRACKING_URI` changed.

mod artifacts;
mod auth;
mod error;
mod graphql;
mod group;
mod logged_models;
mod metrics;
pub mod mlflow_ui;
mod params;
mod registry;
pub mod security;
pub mod tls;
mod traces;
mod tracking;
mod ui_api;
mod web;
mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use sluice_store::governance::{Actor, Role};
use sluice_store::pool::{PooledStore, StorePool};

use crate::auth::{Guard, Route};

pub use auth::RouteRule;
pub use error::{ApiError, ErrorCode};

/// What every handler shares: the store, where artifacts live, and who may do what.
pub struct ServerState {
    store: StorePool,
    artifacts: sluice_artifacts::store::Artifacts,
    /// Whether requests must present a token.
    auth: bool,
    /// Who requests act as when authentication is off.
    default_actor: Actor,
    /// MLflow's web UI bundle (`mlflow/server/js/build`), served at `/mlflow/` once set (it may
    /// be found after the server started listening: [`ServerState::set_mlflow_ui`]).
    mlflow_ui: std::sync::OnceLock<PathBuf>,
    /// A path every route is served under (MLflow's `--static-prefix`), e.g. `/mlflow`.
    static_prefix: Option<String>,
    /// `log-batch` requests waiting to be written together.
    group: group::GroupCommit,
    /// Requests answered, for `/metrics`.
    requests: metrics::RequestMetrics,
    /// Whether the web UI's session cookie is marked `Secure` (served over HTTPS).
    secure_cookies: bool,
    /// Host and origin checks, security headers.
    security: security::Security,
}

impl ServerState {
    /// Authentication off; requests act as the local user (see [`ServerState::with_auth`]).
    #[must_use]
    pub fn new(store: StorePool, artifacts: sluice_artifacts::store::Artifacts) -> Self {
        Self {
            store,
            artifacts,
            auth: false,
            default_actor: Actor::local(),
            mlflow_ui: std::sync::OnceLock::new(),
            static_prefix: None,
            group: group::GroupCommit::default(),
            requests: metrics::RequestMetrics::default(),
            secure_cookies: false,
            security: security::Security::default(),
        }
    }

    /// The host and origin checks and security headers (MLflow's security middleware).
    #[must_use]
    pub fn with_security(mut self, security: security::Security) -> Self {
        self.security = security;
        self
    }

    /// Marks the web UI's session cookie `Secure` (the server speaks HTTPS).
    #[must_use]
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Where the artifact proxy keeps artifacts (a folder or a URI; never credentials).
    #[must_use]
    pub fn artifacts_location(&self) -> &str {
        self.artifacts.describe()
    }

    /// Serves MLflow's web UI from `dir` (the `mlflow/server/js/build` folder of an install).
    #[must_use]
    pub fn with_mlflow_ui(self, dir: Option<PathBuf>) -> Self {
        if let Some(dir) = dir {
            self.set_mlflow_ui(dir);
        }
        self
    }

    /// Starts serving MLflow's web UI from `dir` on a running server (found after it started
    /// listening); false when one is served already.
    pub fn set_mlflow_ui(&self, dir: PathBuf) -> bool {
        self.mlflow_ui.set(dir).is_ok()
    }

    /// Serves every route under `prefix` (`/mlflow`: the UI at `/mlflow/`, the API at
    /// `/mlflow/api/2.0/mlflow/...`), as MLflow's `--static-prefix` does.
    #[must_use]
    pub fn with_static_prefix(mut self, prefix: Option<String>) -> Self {
        self.static_prefix = prefix
            .map(|p| format!("/{}", p.trim_matches('/')))
            .filter(|p| p != "/");
        self
    }

    /// Requires a token on every request but the public ones (`/health`, `/version`).
    #[must_use]
    pub fn with_auth(mut self, auth: bool) -> Self {
        self.auth = auth;
        self
    }

    /// Who requests act as when authentication is off.
    #[must_use]
    pub fn with_default_actor(mut self, actor: Actor) -> Self {
        self.default_actor = actor;
        self
    }

    /// A store for one operation, checked out of the pool (503 when the database cannot be
    /// reached).
    pub(crate) fn store(&self) -> Result<PooledStore, ApiError> {
        Ok(self.store.get()?)
    }
}

/// The MLflow API's prefix. Every route under `/api/` is also served under `/ajax-api/`, where
/// MLflow's web UI calls it.
const MLFLOW: &str = "/api/2.0/mlflow";

/// Every route, with the role it needs: the one table the router and the role checks use.
fn route_table() -> Vec<Route> {
    use Role::{Contributor as C, Owner as O, Reader as R};
    use tracking as t;
    let mut api = vec![
        Route::new(
            Method::POST,
            "/experiments/create",
            C,
            post(t::create_experiment),
        ),
        Route::new(Method::GET, "/experiments/get", R, get(t::get_experiment)),
        Route::new(
            Method::GET,
            "/experiments/get-by-name",
            R,
            get(t::get_experiment_by_name),
        ),
        Route::new(
            Method::POST,
            "/experiments/search",
            R,
            post(t::search_experiments),
        ),
        Route::new(
            Method::GET,
            "/experiments/search",
            R,
            get(t::search_experiments),
        ),
        Route::new(
            Method::GET,
            "/experiments/list",
            R,
            get(t::search_experiments),
        ),
        Route::new(
            Method::POST,
            "/experiments/search-datasets",
            R,
            post(t::search_datasets),
        ),
        Route::new(
            Method::POST,
            "/experiments/update",
            C,
            post(t::update_experiment),
        ),
        Route::new(
            Method::POST,
            "/experiments/delete",
            O,
            post(t::delete_experiment),
        ),
        Route::new(
            Method::POST,
            "/experiments/restore",
            O,
            post(t::restore_experiment),
        ),
        Route::new(
            Method::POST,
            "/experiments/set-experiment-tag",
            C,
            post(t::set_experiment_tag),
        ),
        Route::new(
            Method::POST,
            "/experiments/delete-experiment-tag",
            C,
            post(t::delete_experiment_tag),
        ),
        Route::new(Method::POST, "/runs/create", C, post(t::create_run)),
        Route::new(Method::GET, "/runs/get", R, get(t::get_run)),
        Route::new(Method::POST, "/runs/update", C, post(t::update_run)),
        Route::new(Method::POST, "/runs/delete", O, post(t::delete_run)),
        Route::new(Method::POST, "/runs/restore", O, post(t::restore_run)),
        Route::new(Method::POST, "/runs/log-metric", C, post(t::log_metric)),
        Route::new(Method::POST, "/runs/log-parameter", C, post(t::log_param)),
        Route::new(Method::POST, "/runs/set-tag", C, post(t::set_tag)),
        Route::new(Method::POST, "/runs/delete-tag", C, post(t::delete_tag)),
        Route::new(Method::POST, "/runs/log-batch", C, post(t::log_batch)),
        Route::new(Method::POST, "/runs/log-inputs", C, post(t::log_inputs)),
        Route::new(Method::POST, "/runs/outputs", C, post(t::log_outputs)),
        Route::new(Method::POST, "/runs/log-model", C, post(t::log_model)),
        Route::new(Method::POST, "/runs/search", R, post(t::search_runs)),
        Route::new(Method::GET, "/runs/search", R, get(t::search_runs)),
        Route::new(
            Method::GET,
            "/metrics/get-history",
            R,
            get(t::metric_history),
        ),
        Route::new(
            Method::GET,
            "/metrics/get-history-bulk",
            R,
            get(t::metric_history_bulk),
        ),
        Route::new(
            Method::GET,
            "/metrics/get-history-bulk-interval",
            R,
            get(t::metric_history_bulk_interval),
        ),
        Route::new(Method::GET, "/artifacts/list", R, get(artifacts::list_run)),
        Route::new(
            Method::POST,
            "/upload-artifact",
            C,
            post(artifacts::upload_run_artifact),
        ),
        Route::new(Method::GET, "/server-info", R, get(server_info)),
        Route::new(Method::GET, "/users/current", R, get(ui_api::current_user)),
        Route::new(Method::GET, "/gateway-proxy", R, get(ui_api::gateway_proxy)),
        Route::new(
            Method::POST,
            "/gateway-proxy",
            R,
            post(ui_api::gateway_proxy),
        ),
    ];
    api.extend(registry::routes());
    api.extend(logged_models::routes());
    api.extend(webhooks::routes());
    let mut all: Vec<Route> = api
        .into_iter()
        .map(|r| Route {
            path: leak(format!("{MLFLOW}{}", r.path)),
            ..r
        })
        .collect();
    all.extend(traces::routes());
    all.extend([
        Route::new(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts",
            R,
            get(artifacts::list),
        ),
        Route::new(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            R,
            get(artifacts::download),
        ),
        Route::new(
            Method::PUT,
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            C,
            put(artifacts::upload),
        ),
        Route::new(
            Method::DELETE,
            "/api/2.0/mlflow-artifacts/artifacts/{*path}",
            O,
            delete(artifacts::delete),
        ),
        Route::new(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/create/{*path}",
            C,
            post(no_multipart_upload),
        ),
        Route::new(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/complete/{*path}",
            C,
            post(no_multipart_upload),
        ),
        Route::new(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/abort/{*path}",
            C,
            post(no_multipart_upload),
        ),
        Route::new(
            Method::GET,
            "/api/3.0/mlflow/server-info",
            R,
            get(server_info),
        ),
        Route::new(
            Method::GET,
            "/api/3.0/mlflow/users/current/permissions",
            R,
            get(ui_api::current_permissions),
        ),
        Route::new(
            Method::GET,
            "/api/3.0/mlflow/assistant/config",
            R,
            get(ui_api::assistant_config),
        ),
        Route::new(
            Method::GET,
            "/api/3.0/mlflow/assistant/providers",
            R,
            get(ui_api::assistant_providers),
        ),
        Route::new(
            Method::GET,
            "/get-artifact",
            R,
            get(artifacts::get_run_artifact),
        ),
        Route::new(
            Method::GET,
            "/model-versions/get-artifact",
            R,
            get(artifacts::get_model_version_artifact),
        ),
        Route::new(Method::GET, "/graphql", R, get(graphql::graphql)),
        Route::new(Method::POST, "/graphql", R, post(graphql::graphql)),
        Route::public(Method::GET, "/api/sluice/v1/session", get(web::session)),
        Route::public(Method::POST, "/api/sluice/v1/session", post(web::login)),
        Route::public(
            Method::DELETE,
            "/api/sluice/v1/session",
            delete(web::logout),
        ),
        Route::public(
            Method::GET,
            "/static-files/{*path}",
            get(mlflow_ui::static_file),
        ),
        Route::public(Method::GET, "/health", get(|| async { "OK" })),
        Route::new(Method::GET, "/metrics", R, get(metrics::metrics)),
        Route::public(
            Method::GET,
            "/version",
            get(|| async { env!("CARGO_PKG_VERSION") }),
        ),
    ]);
    all
}

/// A path built once per router; routers are built a handful of times per process.
pub(crate) fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Every route with the role it needs (`None`: public), as the router enforces them. The
/// `/ajax-api/2.0/mlflow/...` twins of the MLflow routes follow the same rules.
#[must_use]
pub fn route_rules() -> Vec<RouteRule> {
    let pages = PAGES.iter().map(|path| RouteRule {
        method: Method::GET,
        path: (*path).to_owned(),
        role: None,
    });
    route_table()
        .into_iter()
        .map(|r| RouteRule {
            method: r.method,
            path: r.path.to_owned(),
            role: r.role,
        })
        .chain(pages)
        .collect()
}

/// The web UIs' pages, public (what they show comes from routes that check roles): Sluice's at
/// `/` with its script and style sheet, MLflow's at `/mlflow/`.
const PAGES: &[&str] = &["/", "/ui/{file}", "/mlflow/"];

/// The router `sluice server` and the in-process server of `job create` both use.
pub fn router(state: Arc<ServerState>) -> Router {
    router_with(state, Vec::new())
}

/// A route served besides the MLflow API and held to the same rules: the role it needs
/// (`None`: public), checked by the same middleware, under `/ajax-api/` too when under `/api/`.
pub struct ExtraRoute {
    pub method: Method,
    pub path: &'static str,
    pub role: Option<sluice_store::governance::Role>,
    pub handler: axum::routing::MethodRouter<Arc<ServerState>>,
}

/// The token a request presents (`Authorization: Bearer`, or Basic with it as the password).
#[must_use]
pub fn request_token(headers: &axum::http::HeaderMap) -> Option<String> {
    auth::presented_token(headers)
}

/// [`router`] with `extra` routes (the team server's job routes live in the binary, which
/// knows the engine).
pub fn router_with(state: Arc<ServerState>, extra: Vec<ExtraRoute>) -> Router {
    let mut rules = HashMap::new();
    let mut router = Router::new();
    let extra = extra.into_iter().map(|r| Route {
        method: r.method,
        path: r.path,
        role: r.role,
        handler: r.handler,
    });
    for route in route_table().into_iter().chain(extra) {
        rules.insert((route.method.clone(), route.path.to_owned()), route.role);
        if let Some(rest) = route.path.strip_prefix("/api/") {
            router = router.route(&format!("/ajax-api/{rest}"), route.handler.clone());
        }
        router = router.route(route.path, route.handler);
    }
    let guard = Arc::new(Guard {
        state: Arc::clone(&state),
        rules,
    });
    let prefix = state.static_prefix.clone();
    let guarded = router.route_layer(axum::middleware::from_fn_with_state(guard, auth::authorize));
    // Sluice's UI at `/`; MLflow's own UI (its page, files and the API routes it calls, which
    // it asks for relative to its page) under `/mlflow/`. Both pages are public: what they show
    // comes from routes that check roles.
    let mlflow = guarded
        .clone()
        .route("/", get(mlflow_ui::index))
        .method_not_allowed_fallback(not_found)
        .fallback(not_found);
    let [home, assets, mlflow_home] = PAGES else {
        unreachable!("three pages")
    };
    let router = guarded
        .route(home, get(web::index))
        .route(assets, get(web::asset))
        .route(mlflow_home, get(mlflow_ui::index))
        .nest(mlflow_ui::MOUNT, mlflow)
        .method_not_allowed_fallback(not_found)
        .fallback(not_found);
    let router = match prefix {
        // The UI's home is public, so `/PREFIX/` needs no role check.
        Some(prefix) => Router::new()
            .route(&format!("{prefix}/"), get(web::index))
            .nest(&prefix, router)
            .fallback(not_found),
        None => router,
    };
    router
        .layer(DefaultBodyLimit::max(params::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            security::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            log_request,
        ))
        .with_state(state)
}

/// One structured log line per request: method, path, status, duration (`--verbose` shows
/// client errors, `--verbose --verbose` every request; server errors always show). Headers
/// (`Authorization` with its token) and query strings are never logged. Each request is also
/// counted for `/metrics`, under its route's pattern.
async fn log_request(
    State(state): State<Arc<ServerState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state.requests.observe(
        &method,
        route.as_ref().map_or("unmatched", |m| m.as_str()),
        status,
        elapsed.as_secs_f64(),
    );
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    // 501: a feature the client asked about and falls back from (MLflow's multipart upload).
    if status >= 500 && status != 501 {
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

/// MLflow's proxied multipart upload (`MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`): answered as
/// MLflow's server answers it for an artifact store without multipart uploads, so the client
/// uploads the file in one request instead. The request's body is read first: answered
/// unread, the connection would close under the client's next request on it.
async fn no_multipart_upload(_body: axum::body::Bytes) -> ApiError {
    ApiError::new(
        ErrorCode::NotImplemented,
        "Multipart upload is not supported for the current artifact repository",
    )
}

/// No endpoint: answered after reading the request's body, as the multipart answer is (unread,
/// the connection could close under the client's next request on it).
async fn not_found(
    uri: axum::http::Uri,
    method: axum::http::Method,
    _body: axum::body::Bytes,
) -> ApiError {
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
    serve_router(listener, router(state), shutdown).await
}

/// Serves a router built by [`router_with`].
///
/// # Errors
/// When the listener fails.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` (use port 0 for any free port) and returns the listener and the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
