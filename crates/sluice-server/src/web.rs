//! Sluice's own web UI: one page (`/`) and its script and style sheet (`/ui/...`), compiled into
//! the binary, plus the session routes its login uses. The page draws everything in the
//! browser from the same JSON routes the clients use (the MLflow REST API and
//! `/api/sluice/v1/`), so every action is checked by the server exactly as an API call is.
//!
//! Sessions: `POST /api/sluice/v1/session {"token": ...}` checks the token and sets it as an
//! `HttpOnly; SameSite=Strict` cookie; writes made with that cookie must carry the session's
//! CSRF token in `X-Sluice-CSRF` (see `auth.rs`); `GET` says who the page acts as (and hands it
//! the CSRF token); `DELETE` logs out.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sluice_store::governance::Actor;

use crate::ServerState;
use crate::auth::{SESSION_COOKIE, csrf_token, presented_token, session_token};
use crate::error::{ApiError, ApiResult};

const INDEX: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const APP_CSS: &str = include_str!("web/app.css");

/// The pages' security headers: no framing, no inline or foreign scripts, same-origin requests
/// only, no referrer leaking run ids.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

fn page_headers(
    content_type: &'static str,
    cache: &'static str,
) -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::REFERRER_POLICY, "same-origin"),
    ]
}

/// `GET /`: the UI's page (its routes are in the URL's fragment, `#/runs/ID`, ...).
pub(crate) async fn index() -> Response {
    (
        page_headers("text/html; charset=utf-8", "no-cache"),
        [(header::X_FRAME_OPTIONS, "DENY")],
        INDEX,
    )
        .into_response()
}

/// `GET /ui/{file}`: the script and the style sheet.
pub(crate) async fn asset(UrlPath(file): UrlPath<String>) -> ApiResult<Response> {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::not_found(format!("No file '{file}'"))),
    };
    // Served as part of the binary: a new version is a new server, and index.html (never
    // cached) asks for them with the version in the query.
    Ok((page_headers(kind, "public, max-age=86400"), body).into_response())
}

/// `GET /api/sluice/v1/session`: who the page acts as (`null` when it must log in), whether
/// tokens are required, and the CSRF token of the cookie session.
pub(crate) async fn session(
    State(s): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let who = if s.auth {
        match presented_token(&headers) {
            Some(token) => s.store()?.authenticate(&token).ok(),
            None => None,
        }
    } else {
        Some(s.default_actor.clone())
    };
    Ok(Json(json!({
        "auth": s.auth,
        "user": who.map(|a| json!({"name": a.name, "role": a.role.to_string()})),
        "csrf": session_token(&headers).map(|t| csrf_token(&t)),
        "mlflow_ui": s.mlflow_ui.get().is_some(),
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// `POST /api/sluice/v1/session {"token": "..."}`: logs in; the token becomes the session
/// cookie (the page's script never sees it again).
pub(crate) async fn login(
    State(s): State<Arc<ServerState>>,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let token = body["token"].as_str().unwrap_or("").trim().to_owned();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        return Err(ApiError::invalid(
            "give the token `sluice token create` printed",
        ));
    }
    let actor: Actor = s.store()?.authenticate(&token).map_err(ApiError::from)?;
    let body = json!({
        "user": {"name": actor.name, "role": actor.role.to_string()},
        "csrf": csrf_token(&token),
    });
    Ok(([(header::SET_COOKIE, cookie(&s, &token))], Json(body)).into_response())
}

/// `DELETE /api/sluice/v1/session`: logs out (the cookie is dropped).
pub(crate) async fn logout(State(s): State<Arc<ServerState>>) -> Response {
    ([(header::SET_COOKIE, cookie(&s, ""))], Json(json!({}))).into_response()
}

/// The session cookie holding `token` (`HttpOnly`, `SameSite=Strict`, `Secure` over HTTPS); an
/// empty `token` drops it (`Max-Age=0`). `token` is printable ASCII without `;` (checked at login).
fn cookie(s: &ServerState, token: &str) -> HeaderValue {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let drop = if token.is_empty() { "; Max-Age=0" } else { "" };
    let text = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{drop}{secure}");
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""))
}
