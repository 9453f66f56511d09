//! Authentication and role checks. Every route is declared once, in a table with the role it
//! needs ([`Route`]); the router is built from that table and the [`authorize`] middleware reads
//! it, so a route cannot exist without a rule.
//!
//! Credentials: `Authorization: Bearer TOKEN` (what the `mlflow` client sends for
//! `MLFLOW_TRACKING_TOKEN`) or `Basic` with the token as the password (for
//! `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`). No token or a bad one is 401
//! `UNAUTHENTICATED`; a role too low is 403 `PERMISSION_DENIED`. With authentication off, every
//! request acts as the server's default actor.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use sluice_store::governance::Role;

use crate::ServerState;
use crate::error::{ApiError, ErrorCode};

/// One route: method, path (under `/api/2.0/mlflow` for the MLflow API, else absolute), the
/// role it needs (`None`: public) and its handler.
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) role: Option<Role>,
    pub(crate) handler: MethodRouter<Arc<ServerState>>,
}

impl Route {
    pub(crate) fn new(
        method: Method,
        path: &'static str,
        role: Role,
        handler: MethodRouter<Arc<ServerState>>,
    ) -> Self {
        Self {
            method,
            path,
            role: Some(role),
            handler,
        }
    }

    pub(crate) fn public(
        method: Method,
        path: &'static str,
        handler: MethodRouter<Arc<ServerState>>,
    ) -> Self {
        Self {
            method,
            path,
            role: None,
            handler,
        }
    }
}

/// A route as the table lists it, for tests and documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub method: Method,
    /// The full path template, e.g. `/api/2.0/mlflow/runs/create` or
    /// `/api/2.0/mlflow/logged-models/{model_id}`.
    pub path: String,
    /// `None`: public (no token needed even with authentication on).
    pub role: Option<Role>,
}

/// What the middleware needs: the server state and the rule of each route.
pub(crate) struct Guard {
    pub(crate) state: Arc<ServerState>,
    pub(crate) rules: HashMap<(Method, String), Option<Role>>,
}

/// The token a request presents, if any: in `Authorization`, else in the web UI's session
/// cookie.
pub(crate) fn presented_token(headers: &HeaderMap) -> Option<String> {
    header_token(headers).or_else(|| session_token(headers))
}

/// The name of the web UI's session cookie (`HttpOnly`, `SameSite=Strict`): the token itself.
pub(crate) const SESSION_COOKIE: &str = "sluice_session";

/// The header a browser request authenticated by the session cookie carries on every write:
/// the CSRF token the session route handed the page ([`csrf_token`]).
pub(crate) const CSRF_HEADER: &str = "x-sluice-csrf";

/// The web UI's session token, from its cookie.
pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: derived from its token, so only a page that was handed it by
/// the session route (same origin) can send it; another site's form cannot.
pub(crate) fn csrf_token(session: &str) -> String {
    let key = blake3::derive_key("sluice web ui csrf token v1", session.as_bytes());
    key[..16]
        .iter()
        .fold(String::with_capacity(32), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Whether a write made with the session cookie carries its CSRF token (requests that read, or
/// that authenticate with `Authorization`, need none).
fn csrf_ok(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || header_token(headers).is_some()
    {
        return true;
    }
    let Some(session) = session_token(headers) else {
        return true;
    };
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|sent| sent == csrf_token(&session))
}

/// The token in `Authorization` (Bearer, or Basic with it as the password).
fn header_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(base64_decode(rest)?).ok()?;
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        // The token is the password; a token given as the user name is accepted too.
        let token = if password.is_empty() { user } else { password };
        return Some(token.to_owned());
    }
    None
}

/// Standard base64 (RFC 4648, with or without padding); `None` if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(text).ok()
}

/// The most of a refused request's body read before answering.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Answers a refused request after reading its body: a response sent before the body is read
/// makes the server close the connection, and a client that already sent its next request on it
/// (keep-alive) sees "connection closed without response" instead of the error.
async fn refuse(req: Request, error: ApiError) -> Response {
    drained(req, error.into_response()).await
}

/// `response`, sent once the request's body is read (see [`refuse`]).
pub(crate) async fn drained(req: Request, mut response: Response) -> Response {
    if axum::body::to_bytes(req.into_body(), DRAIN_LIMIT)
        .await
        .is_err()
    {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Authenticates the request (when authentication is on), checks the route's role, and hands
/// the acting identity to the handler as an `Extension<Actor>`.
pub(crate) async fn authorize(
    State(guard): State<Arc<Guard>>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let state = &guard.state;
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let template = matched.as_ref().map(MatchedPath::as_str).map(|p| {
        let p = state
            .static_prefix
            .as_deref()
            .and_then(|prefix| p.strip_prefix(prefix))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(p);
        // MLflow's web UI and the routes it calls are served under `/mlflow/` too.
        let p = p
            .strip_prefix(crate::mlflow_ui::MOUNT)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(p);
        p.strip_prefix("/ajax-api/")
            .map_or_else(|| p.to_owned(), |rest| format!("/api/{rest}"))
    });
    // Routes come from the table, so a matched route has a rule; anything else (a wrong
    // method) needs at least a reader before it learns more.
    let required = template
        .and_then(|t| guard.rules.get(&(method, t)).copied())
        .unwrap_or(Some(Role::Reader));
    let Some(required) = required else {
        req.extensions_mut().insert(state.default_actor.clone());
        return next.run(req).await;
    };
    if state.auth && !csrf_ok(req.method(), req.headers()) {
        return refuse(
            req,
            ApiError::new(
                ErrorCode::PermissionDenied,
                format!("a write from the web UI must carry its CSRF token (`{CSRF_HEADER}`): reload the page"),
            ),
        )
        .await;
    }
    let actor = if state.auth {
        let Some(token) = presented_token(req.headers()) else {
            return refuse(
                req,
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "authentication required: send a token as `Authorization: Bearer TOKEN` (MLFLOW_TRACKING_TOKEN)",
                ),
            )
            .await;
        };
        let found = state.store().map(|s| s.authenticate(&token));
        match found {
            Ok(Ok(actor)) => actor,
            Ok(Err(e)) => return refuse(req, ApiError::from(e)).await,
            Err(e) => return refuse(req, e).await,
        }
    } else {
        state.default_actor.clone()
    };
    if actor.role < required {
        let error = ApiError::new(
            ErrorCode::PermissionDenied,
            format!(
                "`{}` has the {} role; {} {} needs the {required} role",
                actor.name,
                actor.role,
                req.method(),
                req.uri().path()
            ),
        );
        return refuse(req, error).await;
    }
    req.extensions_mut().insert(actor);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_what_clients_send() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("!!!!").is_none());
    }

    #[test]
    fn tokens_are_read_from_bearer_and_basic() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer slu_a_b".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("slu_a_b"));
        // "user:slu_a_b"
        h.insert(
            header::AUTHORIZATION,
            "Basic dXNlcjpzbHVfYV9i".parse().unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("slu_a_b"));
        h.insert(header::AUTHORIZATION, "Digest x".parse().unwrap());
        assert_eq!(presented_token(&h), None);
    }
}
