//! The model registry: `registered-models/*`, `model-versions/*`, aliases, stages and tags.

use std::sync::Arc;

use axum::Router;

use crate::ServerState;

/// Routes under `/api/2.0/mlflow`.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
