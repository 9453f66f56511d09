//! Routes MLflow's web UI calls besides the REST API the client uses: who the user is, and the
//! assistant's settings (Sluice has no assistant; the UI is told there is none to offer).

use axum::{Extension, Json};
use serde_json::{Value, json};
use sluice_store::governance::{Actor, Role};

/// `GET /api/2.0/mlflow/users/current`: the identity the request acts as, in the shape of
/// MLflow's authentication app (`is_basic_auth` false: the UI offers no password change).
pub(crate) async fn current_user(Extension(who): Extension<Actor>) -> Json<Value> {
    Json(json!({
        "user": {"id": 0, "username": who.name, "is_admin": who.role == Role::Owner},
        "is_basic_auth": false,
    }))
}

/// `GET /api/3.0/mlflow/assistant/config`: no assistant provider is configured.
pub(crate) async fn assistant_config() -> Json<Value> {
    Json(json!({"providers": {}, "projects": {}, "remote_access_allowed": false}))
}

/// `GET /api/3.0/mlflow/assistant/providers`: none is available.
pub(crate) async fn assistant_providers() -> Json<Value> {
    Json(json!({"providers": [], "resolved": null, "gateway_vendor_options": {}}))
}
