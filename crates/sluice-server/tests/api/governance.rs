//! Governance through the REST API, with authentication on: the role of every route (one
//! matrix generated from the router's own table), and promotion policies enforced on the MLflow
//! endpoints.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sluice_server::ServerState;
use sluice_store::governance::{Actor, Approvals, Direction, Gate, Policy, Role};
use sluice_store::pool::StorePool;
use tower::ServiceExt;

use super::unique;

struct Secure {
    _dir: tempfile::TempDir,
    store: StorePool,
    router: Router,
    reader: String,
    contributor: String,
    owner: String,
}

/// One server with authentication on, and a token per role.
fn secure() -> &'static Secure {
    static SECURE: OnceLock<Secure> = OnceLock::new();
    SECURE.get_or_init(|| {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let location = sluice_store::testing::fresh_location(dir.path()).expect("location");
        let store = StorePool::open(location, 4).expect("store");
        let mut first = store.get().expect("store");
        let admin = Actor::new("admin", Role::Owner);
        let mut token = |name: &str, role| {
            first
                .governed(&admin)
                .create_token(name, role, None)
                .expect("token")
                .token
        };
        let (reader, contributor, owner) = (
            token("rita", Role::Reader),
            token("cody", Role::Contributor),
            token("olga", Role::Owner),
        );
        drop(first);
        // A web UI bundle, so its public routes answer (the matrix asks for `0/nothing.txt`).
        let bundle = dir.path().join("ui");
        std::fs::create_dir_all(bundle.join("static/js")).expect("bundle");
        std::fs::create_dir_all(bundle.join("0")).expect("bundle");
        std::fs::write(bundle.join("index.html"), "<!doctype html>").expect("bundle");
        std::fs::write(bundle.join("0/nothing.txt"), "").expect("bundle");
        let state = ServerState::new(
            store.clone(),
            sluice_artifacts::store::Artifacts::local(dir.path().join("artifacts")),
        )
        .with_auth(true)
        .with_mlflow_ui(Some(bundle));
        Secure {
            router: sluice_server::router(Arc::new(state)),
            _dir: dir,
            store,
            reader,
            contributor,
            owner,
        }
    })
}

async fn call(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("authorization", b))
        .into_iter()
        .collect();
    let (status, _, value) = raw(method, uri, &headers, body).await;
    (status, value)
}

async fn ok(method: Method, uri: &str, token: &str, body: Value) -> Value {
    let (status, v) = call(method.clone(), uri, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{method} {uri}: {v}");
    v
}

/// A concrete path for a route template.
fn concrete(template: &str) -> String {
    template
        .replace("{model_id}", "m-0000")
        .replace("{tag_key}", "k")
        .replace("{trace_id}", "tr-0")
        .replace("{request_id}", "0")
        .replace("{*path}", "0/nothing.txt")
        .replace("{file}", "app.js")
        .replace("{webhook_id}", "00000000-0000-4000-8000-000000000000")
}

/// Every route and the role it needs, written out here rather than read from the table under
/// test: a write route marked `reader` there fails this test. A new route must be added here.
#[rustfmt::skip]
const EXPECTED_ROLES: &[(&str, &str, Option<Role>)] = {
    use Role::{Contributor as C, Owner as O, Reader as R};
    &[
    ("POST", "/api/2.0/mlflow/experiments/create", Some(C)),
    ("GET", "/api/2.0/mlflow/experiments/get", Some(R)),
    ("GET", "/api/2.0/mlflow/experiments/get-by-name", Some(R)),
    ("POST", "/api/2.0/mlflow/experiments/search", Some(R)),
    ("GET", "/api/2.0/mlflow/experiments/search", Some(R)),
    ("GET", "/api/2.0/mlflow/experiments/list", Some(R)),
    ("POST", "/api/2.0/mlflow/experiments/search-datasets", Some(R)),
    ("POST", "/api/2.0/mlflow/experiments/update", Some(C)),
    ("POST", "/api/2.0/mlflow/experiments/delete", Some(O)),
    ("POST", "/api/2.0/mlflow/experiments/restore", Some(O)),
    ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/experiments/delete-experiment-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/create", Some(C)),
    ("GET", "/api/2.0/mlflow/runs/get", Some(R)),
    ("POST", "/api/2.0/mlflow/runs/update", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/delete", Some(O)),
    ("POST", "/api/2.0/mlflow/runs/restore", Some(O)),
    ("POST", "/api/2.0/mlflow/runs/log-metric", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/log-parameter", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/set-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/delete-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/log-batch", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/log-inputs", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/outputs", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/log-model", Some(C)),
    ("POST", "/api/2.0/mlflow/runs/search", Some(R)),
    ("GET", "/api/2.0/mlflow/runs/search", Some(R)),
    ("GET", "/api/2.0/mlflow/metrics/get-history", Some(R)),
    ("GET", "/api/2.0/mlflow/metrics/get-history-bulk", Some(R)),
    ("GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval", Some(R)),
    ("GET", "/api/2.0/mlflow/artifacts/list", Some(R)),
    ("POST", "/api/2.0/mlflow/upload-artifact", Some(C)),
    ("GET", "/api/2.0/mlflow/server-info", Some(R)),
    ("GET", "/api/2.0/mlflow/users/current", Some(R)),
    ("GET", "/api/2.0/mlflow/gateway-proxy", Some(R)),
    ("POST", "/api/2.0/mlflow/gateway-proxy", Some(R)),
    ("GET", "/api/3.0/mlflow/users/current/permissions", Some(R)),
    ("GET", "/api/3.0/mlflow/assistant/config", Some(R)),
    ("GET", "/api/3.0/mlflow/assistant/providers", Some(R)),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts", Some(R)),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/{*path}", Some(R)),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/{*path}", Some(C)),
    ("DELETE", "/api/2.0/mlflow-artifacts/artifacts/{*path}", Some(O)),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/create/{*path}", Some(C)),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/complete/{*path}", Some(C)),
    ("POST", "/api/2.0/mlflow-artifacts/mpu/abort/{*path}", Some(C)),
    ("GET", "/api/3.0/mlflow/server-info", Some(R)),
    ("GET", "/get-artifact", Some(R)),
    ("GET", "/model-versions/get-artifact", Some(R)),
    ("POST", "/api/2.0/mlflow/registered-models/create", Some(C)),
    ("GET", "/api/2.0/mlflow/registered-models/get", Some(R)),
    ("POST", "/api/2.0/mlflow/registered-models/rename", Some(O)),
    ("PATCH", "/api/2.0/mlflow/registered-models/update", Some(C)),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete", Some(O)),
    ("GET", "/api/2.0/mlflow/registered-models/search", Some(R)),
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions", Some(R)),
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions", Some(R)),
    ("POST", "/api/2.0/mlflow/registered-models/set-tag", Some(C)),
    ("DELETE", "/api/2.0/mlflow/registered-models/delete-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/registered-models/alias", Some(C)),
    ("DELETE", "/api/2.0/mlflow/registered-models/alias", Some(C)),
    ("GET", "/api/2.0/mlflow/registered-models/alias", Some(R)),
    ("POST", "/api/2.0/mlflow/model-versions/create", Some(C)),
    ("GET", "/api/2.0/mlflow/model-versions/get", Some(R)),
    ("PATCH", "/api/2.0/mlflow/model-versions/update", Some(C)),
    ("DELETE", "/api/2.0/mlflow/model-versions/delete", Some(O)),
    ("GET", "/api/2.0/mlflow/model-versions/search", Some(R)),
    ("GET", "/api/2.0/mlflow/model-versions/get-download-uri", Some(R)),
    ("POST", "/api/2.0/mlflow/model-versions/transition-stage", Some(C)),
    ("POST", "/api/2.0/mlflow/model-versions/set-tag", Some(C)),
    ("DELETE", "/api/2.0/mlflow/model-versions/delete-tag", Some(C)),
    ("POST", "/api/2.0/mlflow/logged-models", Some(C)),
    ("POST", "/api/2.0/mlflow/logged-models/search", Some(R)),
    ("GET", "/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories", Some(R)),
    ("GET", "/api/2.0/mlflow/logged-models/{model_id}/artifacts/files", Some(R)),
    ("GET", "/api/2.0/mlflow/logged-models/{model_id}", Some(R)),
    ("PATCH", "/api/2.0/mlflow/logged-models/{model_id}", Some(C)),
    ("DELETE", "/api/2.0/mlflow/logged-models/{model_id}", Some(O)),
    ("PATCH", "/api/2.0/mlflow/logged-models/{model_id}/tags", Some(C)),
    ("DELETE", "/api/2.0/mlflow/logged-models/{model_id}/tags/{tag_key}", Some(C)),
    ("POST", "/api/2.0/mlflow/logged-models/{model_id}/params", Some(C)),
    ("POST", "/api/2.0/mlflow/webhooks", Some(O)),
    ("GET", "/api/2.0/mlflow/webhooks", Some(O)),
    ("GET", "/api/2.0/mlflow/webhooks/{webhook_id}", Some(O)),
    ("PATCH", "/api/2.0/mlflow/webhooks/{webhook_id}", Some(O)),
    ("DELETE", "/api/2.0/mlflow/webhooks/{webhook_id}", Some(O)),
    ("POST", "/api/2.0/mlflow/webhooks/{webhook_id}/test", Some(O)),
    ("POST", "/api/3.0/mlflow/traces", Some(C)),
    ("GET", "/api/3.0/mlflow/traces/{trace_id}", Some(R)),
    ("POST", "/api/3.0/mlflow/traces/search", Some(R)),
    ("GET", "/api/3.0/mlflow/traces/search", Some(R)),
    ("POST", "/api/3.0/mlflow/traces/batchGetInfos", Some(R)),
    ("PATCH", "/api/3.0/mlflow/traces/{trace_id}/tags", Some(C)),
    ("DELETE", "/api/3.0/mlflow/traces/{trace_id}/tags", Some(C)),
    ("POST", "/api/3.0/mlflow/traces/delete-traces", Some(O)),
    ("POST", "/api/3.0/mlflow/traces/metrics", Some(R)),
    ("GET", "/api/3.0/mlflow/get-trace-artifact", Some(R)),
    ("POST", "/api/3.0/mlflow/datasets/search", Some(R)),
    ("GET", "/api/3.0/mlflow/datasets/search", Some(R)),
    ("POST", "/api/2.0/mlflow/traces", Some(C)),
    ("GET", "/api/2.0/mlflow/traces", Some(R)),
    ("PATCH", "/api/2.0/mlflow/traces/{request_id}", Some(C)),
    ("GET", "/api/2.0/mlflow/traces/{request_id}/info", Some(R)),
    ("PATCH", "/api/2.0/mlflow/traces/{request_id}/tags", Some(C)),
    ("DELETE", "/api/2.0/mlflow/traces/{request_id}/tags", Some(C)),
    ("POST", "/api/2.0/mlflow/traces/delete-traces", Some(O)),
    ("GET", "/api/2.0/mlflow/get-trace-artifact", Some(R)),
    ("GET", "/graphql", Some(R)),
    ("POST", "/graphql", Some(R)),
    ("GET", "/", None),
    ("GET", "/ui/{file}", None),
    ("GET", "/mlflow/", None),
    ("GET", "/api/sluice/v1/session", None),
    ("POST", "/api/sluice/v1/session", None),
    ("DELETE", "/api/sluice/v1/session", None),
    ("GET", "/static-files/{*path}", None),
    ("GET", "/health", None),
    ("GET", "/version", None),
    ("GET", "/metrics", Some(R)),
    ]
};

/// The table the router is built from holds exactly the routes above, with the roles above.
#[test]
fn every_route_needs_the_role_this_test_states() {
    let actual: Vec<(String, String, Option<Role>)> = sluice_server::route_rules()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path, r.role))
        .collect();
    for (method, path, role) in &actual {
        let expected = EXPECTED_ROLES
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .unwrap_or_else(|| panic!("{method} {path} is served but not in EXPECTED_ROLES"));
        assert_eq!(&expected.2, role, "{method} {path}");
    }
    for (method, path, _) in EXPECTED_ROLES {
        assert!(
            actual.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is in EXPECTED_ROLES but not served"
        );
    }
}

/// Every route × {no token, bad token, reader, contributor, owner}: 401 without a valid token,
/// 403 `PERMISSION_DENIED` below the route's role (as `EXPECTED_ROLES` states it), neither at or
/// above it.
#[tokio::test]
async fn rbac_matrix_covers_every_route() {
    let s = secure();
    let rules = sluice_server::route_rules();
    assert_eq!(rules.len(), EXPECTED_ROLES.len());
    let identities: [(&str, Option<&str>, Option<Role>); 5] = [
        ("no token", None, None),
        ("bad token", Some("slu_000000000000_00"), None),
        ("reader", Some(&s.reader), Some(Role::Reader)),
        ("contributor", Some(&s.contributor), Some(Role::Contributor)),
        ("owner", Some(&s.owner), Some(Role::Owner)),
    ];
    let mut checked = 0;
    for rule in &rules {
        let mut paths = vec![concrete(&rule.path)];
        if let Some(rest) = rule.path.strip_prefix("/api/") {
            paths.push(concrete(&format!("/ajax-api/{rest}")));
        }
        for path in &paths {
            for (who, token, role) in &identities {
                let body = (rule.method != Method::GET).then(|| json!({}));
                let (status, v) = call(rule.method.clone(), path, *token, body).await;
                let label = format!("{} {path} as {who}: {status} {v}", rule.method);
                let need = EXPECTED_ROLES
                    .iter()
                    .find(|(m, p, _)| *m == rule.method.as_str() && *p == rule.path)
                    .map_or(rule.role, |e| e.2);
                match (need, role) {
                    // Logging in with no token is a bad request, not a refusal.
                    (None, _) if rule.method == Method::POST && rule.path.ends_with("/session") => {
                        assert_eq!(status, StatusCode::BAD_REQUEST, "public: {label}");
                    }
                    (None, _) => assert_eq!(status, StatusCode::OK, "public: {label}"),
                    (Some(_), None) => {
                        assert_eq!(status, StatusCode::UNAUTHORIZED, "{label}");
                        assert_eq!(v["error_code"], "UNAUTHENTICATED", "{label}");
                    }
                    (Some(need), Some(have)) if *have < need => {
                        assert_eq!(status, StatusCode::FORBIDDEN, "{label}");
                        assert_eq!(v["error_code"], "PERMISSION_DENIED", "{label}");
                    }
                    (Some(_), Some(_)) => assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "allowed: {label}"
                    ),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
    // Basic auth with the token as the password works like a bearer token.
    let basic = format!("Basic {}", b64(&format!("rita:{}", s.reader)));
    let req = Request::builder()
        .uri("/api/2.0/mlflow/experiments/search?max_results=1")
        .header(header::AUTHORIZATION, basic)
        .body(Body::empty())
        .expect("request");
    let resp = s.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
}

fn b64(text: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const API: &str = "/api/2.0/mlflow";

/// A run (logged by the contributor) with `test r2` = `r2`, registered as a new version.
async fn register(name: &str, r2: f64) -> (StatusCode, Value) {
    let s = secure();
    let exp = ok(
        Method::POST,
        &format!("{API}/experiments/create"),
        &s.contributor,
        json!({"name": unique("gov-exp")}),
    )
    .await;
    let run = ok(
        Method::POST,
        &format!("{API}/runs/create"),
        &s.contributor,
        json!({"experiment_id": exp["experiment_id"], "start_time": 1}),
    )
    .await;
    let rid = run["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    ok(
        Method::POST,
        &format!("{API}/runs/log-metric"),
        &s.contributor,
        json!({"run_id": rid, "key": "test r2", "value": r2, "timestamp": 1, "step": 0}),
    )
    .await;
    call(
        Method::POST,
        &format!("{API}/model-versions/create"),
        Some(&s.contributor),
        Some(json!({"name": name, "source": format!("runs:/{rid}/model"), "run_id": rid})),
    )
    .await
}

fn set_policy(name: &str, required: u32, on_registration: bool) {
    let policy = Policy {
        gate: Some(Gate {
            metric: "test r2".into(),
            direction: Direction::Higher,
            min: Some(0.7),
            max: None,
            min_improvement: Some(0.0),
        }),
        approvals: Approvals {
            required,
            distinct_from_creator: true,
        },
        require_gate_for_registration: on_registration,
        ..Policy::default()
    };
    let mut store = secure().store.get().expect("store");
    store
        .governed(&Actor::new("admin", Role::Owner))
        .set_policy(name, &policy)
        .expect("policy");
}

#[tokio::test]
async fn promotion_policy_is_enforced_on_the_mlflow_endpoints() {
    let s = secure();
    let name = unique("gov-model");
    ok(
        Method::POST,
        &format!("{API}/registered-models/create"),
        &s.contributor,
        json!({"name": name}),
    )
    .await;
    set_policy(&name, 1, false);
    let (status, v1) = register(&name, 0.65).await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(
        v1["model_version"]["user_id"], "cody",
        "the creator is the token's identity"
    );
    let alias = format!("{API}/registered-models/alias");
    // A contributor may set an unprotected alias, not a protected one.
    ok(
        Method::POST,
        &alias,
        &s.contributor,
        json!({"name": name, "alias": "challenger", "version": "1"}),
    )
    .await;
    let (status, err) = call(
        Method::POST,
        &alias,
        Some(&s.contributor),
        Some(json!({"name": name, "alias": "champion", "version": "1"})),
    )
    .await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PERMISSION_DENIED")),
        "{err}"
    );
    // An owner is refused too while the gate fails, with the metric, threshold and value.
    let (status, err) = call(
        Method::POST,
        &alias,
        Some(&s.owner),
        Some(json!({"name": name, "alias": "champion", "version": "1"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("metric `test r2` of version 1 is 0.65, below the threshold min 0.7"),
        "{msg}"
    );
    assert!(msg.contains("0 of the 1 approval(s)"), "{msg}");

    let (_, v2) = register(&name, 0.9).await;
    assert_eq!(v2["model_version"]["version"], "2");
    let (status, err) = call(
        Method::POST,
        &alias,
        Some(&s.owner),
        Some(json!({"name": name, "alias": "champion", "version": "2"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "needs an approval: {err}");
    let (status, err) = call(
        Method::POST,
        &format!("{API}/model-versions/transition-stage"),
        Some(&s.owner),
        Some(json!({"name": name, "version": "2", "stage": "Production", "archive_existing_versions": false})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`Production` stage"),
        "{err}"
    );
    {
        let mut store = s.store.get().expect("store");
        store
            .governed(&Actor::new("otto", Role::Owner))
            .approve(&name, "2", Some("ok"))
            .expect("approve");
    }
    ok(
        Method::POST,
        &alias,
        &s.owner,
        json!({"name": name, "alias": "champion", "version": "2"}),
    )
    .await;
    let v = ok(
        Method::GET,
        &format!("{API}/registered-models/alias?name={name}&alias=champion"),
        &s.reader,
        Value::Null,
    )
    .await;
    assert_eq!(v["model_version"]["version"], "2");
    // Removing the protected alias needs an owner.
    let (status, _) = call(
        Method::DELETE,
        &alias,
        Some(&s.contributor),
        Some(json!({"name": name, "alias": "champion"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn registration_can_require_the_gate() {
    let s = secure();
    let name = unique("gov-reg");
    ok(
        Method::POST,
        &format!("{API}/registered-models/create"),
        &s.contributor,
        json!({"name": name}),
    )
    .await;
    set_policy(&name, 1, true);
    let (status, err) = register(&name, 0.5).await;
    assert_eq!(
        (status, err["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("PERMISSION_DENIED")),
        "{err}"
    );
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("requires registration to pass the gate")
            && msg.contains("is 0.5, below the threshold min 0.7"),
        "{msg}"
    );
    let (status, v) = register(&name, 0.75).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["model_version"]["version"], "1",
        "the refused registration used no number"
    );
}

#[tokio::test]
async fn every_registry_change_is_audited_with_its_actor() {
    let s = secure();
    let name = unique("gov-audit");
    ok(
        Method::POST,
        &format!("{API}/registered-models/create"),
        &s.contributor,
        json!({"name": name}),
    )
    .await;
    ok(
        Method::POST,
        &format!("{API}/registered-models/set-tag"),
        &s.contributor,
        json!({"name": name, "key": "team", "value": "fares"}),
    )
    .await;
    let (status, _) = register(&name, 0.8).await;
    assert_eq!(status, StatusCode::OK);
    ok(
        Method::POST,
        &format!("{API}/registered-models/alias"),
        &s.contributor,
        json!({"name": name, "alias": "staging", "version": "1"}),
    )
    .await;
    let store = s.store.get().expect("store");
    let entries = store.list_audit(Some(&name), 100).expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "model.create",
            "model.tag.set",
            "version.create",
            "alias.set"
        ]
    );
    assert!(
        entries.iter().all(|e| e.actor.starts_with("cody (token ")),
        "{entries:?}"
    );
    assert!(store.verify_audit().expect("verify").ok);
    // No entry holds a token's secret.
    let all =
        serde_json::to_string(&store.list_audit(None, 100_000).expect("audit")).expect("json");
    for t in [&s.reader, &s.contributor, &s.owner] {
        let secret = t.rsplit_once('_').expect("secret").1;
        assert!(!all.contains(secret));
    }
}

/// One request to the secure server with the given headers; status, headers and JSON body.
async fn raw(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let resp = secure()
        .router
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("infallible");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The web UI's login: a token becomes an `HttpOnly; SameSite=Strict` cookie that authenticates
/// reads; writes made with it need the session's CSRF token; a bad token is refused; logout
/// drops the cookie.
#[tokio::test]
async fn web_sessions_use_a_strict_cookie_and_a_csrf_token_for_writes() {
    let s = secure();
    let session = "/api/sluice/v1/session";
    let (status, _, v) = raw(Method::GET, session, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["auth"].clone(), v["user"].clone()),
        (json!(true), Value::Null),
        "{v}"
    );
    let (status, headers, v) = raw(
        Method::POST,
        session,
        &[],
        Some(json!({"token": "slu_000000000000_00"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert!(headers.get(header::SET_COOKIE).is_none());

    let (status, headers, v) = raw(
        Method::POST,
        session,
        &[],
        Some(json!({"token": s.contributor})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["role"], "contributor");
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let csrf = v["csrf"].as_str().expect("a CSRF token").to_owned();
    assert_ne!(
        csrf, s.contributor,
        "the CSRF token is not the session token"
    );

    // Reads with the cookie; the session route hands the page the same CSRF token.
    let (status, _, v) = raw(Method::GET, session, &[("cookie", &pair)], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (v["user"]["role"].clone(), v["csrf"].clone()),
        (json!("contributor"), json!(csrf))
    );
    let (status, _, _) = raw(
        Method::GET,
        "/api/2.0/mlflow/experiments/search?max_results=1",
        &[("cookie", &pair)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A write with the cookie alone (what another site's form could send) is refused.
    let create = |name: String| Some(json!({"name": name}));
    let uri = "/api/2.0/mlflow/experiments/create";
    for bad in [None, Some("0000")] {
        let mut h = vec![("cookie", pair.as_str())];
        if let Some(t) = bad {
            h.push(("x-sluice-csrf", t));
        }
        let (status, _, v) = raw(Method::POST, uri, &h, create(unique("web"))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        assert!(v["message"].as_str().unwrap_or("").contains("CSRF"), "{v}");
    }
    let (status, _, v) = raw(
        Method::POST,
        uri,
        &[("cookie", &pair), ("x-sluice-csrf", &csrf)],
        create(unique("web")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // A bearer token needs no CSRF token (no browser sends it by itself).
    let bearer = format!("Bearer {}", s.contributor);
    let (status, _, _) = raw(
        Method::POST,
        uri,
        &[("authorization", &bearer)],
        create(unique("web")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A reader's session with its CSRF token is still a reader.
    let (_, headers, v) = raw(Method::POST, session, &[], Some(json!({"token": s.reader}))).await;
    let reader = headers[header::SET_COOKIE].to_str().expect("ascii");
    let reader = reader.split(';').next().expect("pair").to_owned();
    let reader_csrf = v["csrf"].as_str().expect("csrf").to_owned();
    assert_ne!(reader_csrf, csrf);
    let (status, _, v) = raw(
        Method::POST,
        uri,
        &[("cookie", &reader), ("x-sluice-csrf", &reader_csrf)],
        create(unique("web")),
    )
    .await;
    assert_eq!(
        (status, v["error_code"].clone()),
        (StatusCode::FORBIDDEN, json!("PERMISSION_DENIED"))
    );

    let (status, headers, _) = raw(Method::DELETE, session, &[("cookie", &pair)], None).await;
    assert_eq!(status, StatusCode::OK);
    let cleared = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cleared.starts_with("sluice_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}
