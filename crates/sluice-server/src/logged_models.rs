//! MLflow 3 logged models: `logged-models` create, get, finalize, tags, search.

use std::sync::Arc;

use axum::Router;

use crate::ServerState;

/// Routes under `/api/2.0/mlflow`.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
