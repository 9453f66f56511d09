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

/// `GET /api/3.0/mlflow/users/current/permissions`: what the acting identity may do, as MLflow's
/// authentication app lists it (the UI enables its edit controls from it). Sluice's roles apply
/// to every experiment and model: reader → `READ`, contributor → `EDIT`, owner → `MANAGE`.
pub(crate) async fn current_permissions(Extension(who): Extension<Actor>) -> Json<Value> {
    let permission = match who.role {
        Role::Reader => "READ",
        Role::Contributor => "EDIT",
        Role::Owner => "MANAGE",
    };
    let row = |resource: &str| {
        json!({"role_id": 0, "role_name": who.role.to_string(), "workspace": null,
               "resource_type": resource, "resource_pattern": "*", "permission": permission})
    };
    Json(json!({
        "is_admin": who.role == Role::Owner,
        "permissions": [row("experiment"), row("registered_model")],
    }))
}

/// `GET|POST /api/2.0/mlflow/gateway-proxy`: MLflow answers `{"endpoints": []}` when no AI
/// gateway is configured; Sluice has none.
pub(crate) async fn gateway_proxy() -> Json<Value> {
    Json(json!({"endpoints": []}))
}
