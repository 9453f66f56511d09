//! The security middleware (MLflow 3.5+'s settings): hosts checked against DNS rebinding,
//! writes from other sites' pages refused before they are read, CORS answers for the origins
//! allowed, and the security headers — through the router, with the headers a browser sends.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sluice_server::ServerState;
use sluice_server::security::{CROSS_ORIGIN_BLOCKED, INVALID_HOST, Security};
use sluice_store::pool::StorePool;
use tower::ServiceExt;

use super::unique;

/// A server of its own over a fresh store (the folder lives as long as the router).
fn server(security: Security, auth: bool) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let location = sluice_store::testing::fresh_location(dir.path()).expect("location");
    let store = StorePool::open(location, 2).expect("store");
    let state = ServerState::new(
        store,
        sluice_artifacts::store::Artifacts::local(dir.path().join("artifacts")),
    )
    .with_auth(auth)
    .with_security(security);
    (dir, sluice_server::router(Arc::new(state)))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
    content_type: &str,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("infallible");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn json_call(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> Answer {
    send(
        router,
        method,
        uri,
        headers,
        &body.to_string(),
        "application/json",
    )
    .await
}

const LOCAL: (&str, &str) = ("host", "127.0.0.1:5000");

/// A GET of `uri` naming `host` in `Host`.
async fn get_as(router: &Router, uri: &str, host: &str) -> Answer {
    send(
        router,
        Method::GET,
        uri,
        &[("host", host)],
        "",
        "application/json",
    )
    .await
}

/// A page at `origin` creating an experiment on a server it reached as `host`.
async fn page_write(router: &Router, host: &str, origin: &str) -> Answer {
    json_call(
        router,
        Method::POST,
        "/api/2.0/mlflow/experiments/create",
        &[("host", host), ("origin", origin)],
        &json!({"name": unique("page-write")}),
    )
    .await
}

async fn experiment_exists(router: &Router, name: &str) -> bool {
    let a = send(
        router,
        Method::GET,
        &format!("/api/2.0/mlflow/experiments/get-by-name?experiment_name={name}"),
        &[LOCAL],
        "",
        "application/json",
    )
    .await;
    a.status == StatusCode::OK
}

/// Without authentication, a request naming a host this server does not serve is refused with
/// MLflow's answer (a rebound name), whatever its route; loopback, private addresses and no
/// `Host` at all pass; `/health` and `/version` are never checked.
#[tokio::test]
async fn hosts_are_checked_against_dns_rebinding() {
    let (_dir, router) = server(Security::default(), false);
    let search = "/api/2.0/mlflow/experiments/search?max_results=1";
    for host in ["evil.example:5000", "10.evil.example:5000", "198.51.100.7"] {
        for uri in [search, "/", "/api/sluice/v1/session", "/no/such/route"] {
            let a = get_as(&router, uri, host).await;
            assert_eq!(
                (a.status, a.text.as_str()),
                (StatusCode::FORBIDDEN, INVALID_HOST),
                "{host} {uri}"
            );
        }
        for uri in ["/health", "/version"] {
            let a = get_as(&router, uri, host).await;
            assert_eq!(a.status, StatusCode::OK, "{host} {uri}");
        }
    }
    for host in [
        "127.0.0.1:5000",
        "localhost:5000",
        "[::1]:5000",
        "192.168.10.20:5000",
        "10.0.0.5",
    ] {
        let a = get_as(&router, search, host).await;
        assert_eq!(a.status, StatusCode::OK, "{host}: {}", a.text);
    }
    let a = send(&router, Method::GET, search, &[], "", "application/json").await;
    assert_eq!(a.status, StatusCode::OK, "no Host: {}", a.text);

    // Listed hosts replace the defaults.
    let (_dir, listed) = server(
        Security::new(Some("sluice.example.com,*.corp.example:*"), None, None).expect("settings"),
        false,
    );
    for (host, status) in [
        ("sluice.example.com", StatusCode::OK),
        ("ml.corp.example:5000", StatusCode::OK),
        ("127.0.0.1:5000", StatusCode::FORBIDDEN),
    ] {
        let a = get_as(&listed, search, host).await;
        assert_eq!(a.status, status, "{host}");
    }
}

/// With authentication on, a rebound name carries none of the server's credentials: hosts are
/// checked only when the operator listed them.
#[tokio::test]
async fn with_authentication_hosts_are_checked_only_when_listed() {
    let session = "/api/sluice/v1/session";
    let evil = [("host", "sluice.evil.example")];
    let (_dir, open) = server(Security::default(), true);
    let a = send(&open, Method::GET, session, &evil, "", "application/json").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let (_dir, listed) = server(
        Security::new(Some("sluice.example.com"), None, None).expect("settings"),
        true,
    );
    let a = send(&listed, Method::GET, session, &evil, "", "application/json").await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (StatusCode::FORBIDDEN, INVALID_HOST)
    );
}

/// A write from another site's page is refused before it is read, as JSON or as the form an
/// HTML page can post without asking first; the server's own pages, loopback pages and
/// clients that send no `Origin` (the mlflow client, curl) write.
#[tokio::test]
async fn writes_from_other_sites_pages_are_refused() {
    let (_dir, router) = server(Security::default(), false);
    let create = "/api/2.0/mlflow/experiments/create";
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1:5000.evil.example",
    ] {
        let name = unique("cross-site");
        let a = json_call(
            &router,
            Method::POST,
            create,
            &[LOCAL, ("origin", origin)],
            &json!({"name": name}),
        )
        .await;
        assert_eq!(
            (a.status, a.text.as_str()),
            (StatusCode::FORBIDDEN, CROSS_ORIGIN_BLOCKED),
            "{origin}"
        );
        assert!(!experiment_exists(&router, &name).await, "{origin}");
    }
    for origin in [
        Some("http://127.0.0.1:5000"),
        Some("http://localhost:3000"),
        None,
    ] {
        let name = unique("same-site");
        let mut headers = vec![LOCAL];
        headers.extend(origin.map(|o| ("origin", o)));
        let a = json_call(
            &router,
            Method::POST,
            create,
            &headers,
            &json!({"name": name}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{origin:?}: {}", a.text);
        assert!(experiment_exists(&router, &name).await);
    }

    // With every host allowed and no authentication, a rebound name's page is not taken for
    // the server's own (its origin matches the `Host` it sent).
    let (_dir, any_host) = server(
        Security::new(Some("*"), None, None).expect("settings"),
        false,
    );
    let name = unique("rebound");
    let a = json_call(
        &any_host,
        Method::POST,
        create,
        &[
            ("host", "evil.example:5000"),
            ("origin", "http://evil.example:5000"),
        ],
        &json!({"name": name}),
    )
    .await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (StatusCode::FORBIDDEN, CROSS_ORIGIN_BLOCKED)
    );
    assert!(!experiment_exists(&any_host, &name).await);
    // Nor behind a pattern any name passes.
    let (_dir, any_name) = server(
        Security::new(Some("*:5000"), None, None).expect("settings"),
        false,
    );
    let a = page_write(&any_name, "evil.example:5000", "http://evil.example:5000").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A listed name is vouched for: its own pages write.
    let (_dir, named) = server(
        Security::new(Some("sluice.internal:5000"), None, None).expect("settings"),
        false,
    );
    let a = page_write(
        &named,
        "sluice.internal:5000",
        "http://sluice.internal:5000",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // A Host that is not text is served by no name; an Origin that is not text is no origin
    // the server knows.
    for (name, value) in [
        ("host", &b"h\xffst:5000"[..]),
        ("origin", &b"http://\xff"[..]),
    ] {
        let req = Request::builder()
            .method(Method::POST)
            .uri(create)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                name,
                axum::http::HeaderValue::from_bytes(value).expect("bytes"),
            )
            .body(Body::from(json!({"name": unique("not-text")}).to_string()))
            .expect("request");
        let resp = router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}");
    }

    // A plain HTML form (no preflight) posting a run's deletion from another site.
    let name = unique("form-target");
    let exp = json_call(
        &router,
        Method::POST,
        create,
        &[LOCAL],
        &json!({"name": name}),
    )
    .await;
    let exp_id = exp.json()["experiment_id"].as_str().expect("id").to_owned();
    let run = json_call(
        &router,
        Method::POST,
        "/api/2.0/mlflow/runs/create",
        &[LOCAL],
        &json!({"experiment_id": exp_id}),
    )
    .await;
    let run_id = run.json()["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let a = send(
        &router,
        Method::POST,
        &format!("/api/2.0/mlflow/runs/delete?run_id={run_id}"),
        &[LOCAL, ("origin", "https://evil.example")],
        &format!("run_id={run_id}"),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let got = send(
        &router,
        Method::GET,
        &format!("/api/2.0/mlflow/runs/get?run_id={run_id}"),
        &[LOCAL],
        "",
        "application/json",
    )
    .await;
    assert_eq!(got.json()["run"]["info"]["lifecycle_stage"], "active");

    // Reads from another site are answered, without CORS headers: its page cannot read them.
    let a = send(
        &router,
        Method::GET,
        &format!("/api/2.0/mlflow/runs/get?run_id={run_id}"),
        &[LOCAL, ("origin", "https://evil.example")],
        "",
        "application/json",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("access-control-allow-origin"), None);
}

/// CORS: preflights of loopback pages and listed origins are answered (listed ones with
/// credentials, loopback ones without), others refused; every answer carries
/// `X-Content-Type-Options` and `X-Frame-Options`.
#[tokio::test]
async fn cors_answers_and_security_headers() {
    let (_dir, router) = server(Security::default(), false);
    let create = "/api/2.0/mlflow/experiments/create";
    let preflight = |origin: &'static str| {
        [
            LOCAL,
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,authorization",
            ),
        ]
    };
    let a = send(
        &router,
        Method::OPTIONS,
        create,
        &preflight("http://localhost:3000"),
        "",
        "text/plain",
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(a.header("access-control-allow-credentials"), None);
    assert_eq!(
        a.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    let a = send(
        &router,
        Method::OPTIONS,
        create,
        &preflight("https://evil.example"),
        "",
        "text/plain",
    )
    .await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (StatusCode::FORBIDDEN, CROSS_ORIGIN_BLOCKED)
    );
    assert_eq!(a.header("access-control-allow-origin"), None);
    let a = send(
        &router,
        Method::GET,
        "/api/2.0/mlflow/experiments/search?max_results=1",
        &[LOCAL],
        "",
        "text/plain",
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(a.header("x-frame-options"), Some("SAMEORIGIN"));
    // Sluice's own page keeps its stricter `DENY`.
    let a = send(&router, Method::GET, "/", &[LOCAL], "", "text/plain").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("x-frame-options"), Some("DENY"));

    let (_dir, listed) = server(
        Security::new(None, Some("https://app.example"), Some("deny")).expect("settings"),
        false,
    );
    let name = unique("listed-origin");
    let a = json_call(
        &listed,
        Method::POST,
        create,
        &[LOCAL, ("origin", "https://app.example")],
        &json!({"name": name}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(a.header("x-frame-options"), Some("DENY"));

    // Disabled: no checks, no headers.
    let (_dir, off) = server(Security::disabled(), false);
    let a = json_call(
        &off,
        Method::POST,
        create,
        &[("host", "evil.example"), ("origin", "https://evil.example")],
        &json!({"name": unique("unguarded")}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.header("x-frame-options"), None);
}
