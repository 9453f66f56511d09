//! Every endpoint of the server, in process through `sluice_server::router`: status codes,
//! `error_code`s, and the response shapes the real `mlflow` client (2.x and 3.x) was seen
//! exchanging with a real MLflow server (`bench/*.capture.jsonl`).
//!
//! One workspace is shared by every test of this binary; tests keep apart by unique names.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sluice_server::ServerState;
use sluice_store::pool::StorePool;
use tower::ServiceExt;

#[path = "api/governance.rs"]
mod governance;
#[path = "api/graphql.rs"]
mod graphql;
#[path = "api/messages.rs"]
mod messages;
#[path = "api/mlflow_ui.rs"]
mod mlflow_ui;
#[path = "api/security.rs"]
mod security;
#[path = "api/traces.rs"]
mod traces;

fn app() -> Router {
    static APP: OnceLock<(tempfile::TempDir, Router)> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let location = sluice_store::testing::fresh_location(dir.path()).expect("location");
        let store = StorePool::open(location, 4).expect("store");
        let state = ServerState::new(
            store,
            sluice_artifacts::store::Artifacts::local(dir.path().join("artifacts")),
        );
        let router = sluice_server::router(Arc::new(state));
        (dir, router)
    })
    .1
    .clone()
}

/// A name no other test uses.
fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// `path?k=v&...`, encoded as the client encodes it.
fn q(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    format!("{path}?{}", s.finish())
}

async fn send(method: Method, uri: &str, body: Body) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("request");
    let resp = app().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, bytes.to_vec())
}

async fn call(method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let (status, bytes) = send(method, uri, body).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// The JSON of a successful call.
async fn ok(method: Method, uri: &str, body: Option<Value>) -> Value {
    let (status, v) = call(method.clone(), uri, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {uri}: {v}");
    v
}

async fn get(uri: &str) -> Value {
    ok(Method::GET, uri, None).await
}

async fn post(uri: &str, body: Value) -> Value {
    ok(Method::POST, uri, Some(body)).await
}

/// Asserts that a call fails with `status` and MLflow's `error_code`; returns the message.
async fn fails(
    method: Method,
    uri: &str,
    body: Option<Value>,
    status: StatusCode,
    code: &str,
) -> String {
    let (got, v) = call(method.clone(), uri, body).await;
    assert_eq!(got, status, "{method} {uri}: {v}");
    assert_eq!(v["error_code"], code, "{method} {uri}: {v}");
    v["message"].as_str().unwrap_or_default().to_owned()
}

const API: &str = "/api/2.0/mlflow";
const BAD: StatusCode = StatusCode::BAD_REQUEST;
const MISSING: StatusCode = StatusCode::NOT_FOUND;

fn api(path: &str) -> String {
    format!("{API}/{path}")
}

/// The structure of a JSON value: keys, and `int`/`float`/`string`/`bool` at the leaves.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(n) if n.is_f64() => json!("float"),
        Value::Number(_) => json!("int"),
        Value::String(_) => json!("string"),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

fn assert_shape(actual: &Value, expected: &Value) {
    assert_eq!(
        shape(actual),
        shape(expected),
        "\nactual:   {actual}\nexpected: {expected}"
    );
}

async fn new_experiment() -> String {
    let v = post(&api("experiments/create"), json!({"name": unique("exp")})).await;
    v["experiment_id"].as_str().expect("id").to_owned()
}

async fn new_run(experiment_id: &str) -> Value {
    let v = post(
        &api("runs/create"),
        json!({"experiment_id": experiment_id, "user_id": "root", "run_name": unique("run"), "start_time": 1000}),
    )
    .await;
    v["run"].clone()
}

fn run_id(run: &Value) -> String {
    run["info"]["run_id"].as_str().expect("run id").to_owned()
}

/// Many `log-batch` requests at once are written in groups (one transaction, a savepoint
/// each): every request is answered for its own batch, a batch that breaks a rule writes
/// nothing and fails alone, and every point of the others is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_log_batches_each_succeed_or_fail_on_their_own() {
    let (groups_before, batches_before) = group_counts().await;
    let exp = new_experiment().await;
    let mut runs = Vec::new();
    for _ in 0..4 {
        let id = run_id(&new_run(&exp).await);
        post(
            &api("runs/log-parameter"),
            json!({"run_id": id, "key": "fixed", "value": "1"}),
        )
        .await;
        runs.push(id);
    }
    // A deleted run and one that never existed: their batches (metrics only, written with the
    // others' in one statement) fail alone.
    let deleted = run_id(&new_run(&exp).await);
    post(&api("runs/delete"), json!({"run_id": deleted})).await;
    let mut calls = Vec::new();
    for (id, status, code) in [
        (deleted.clone(), BAD, "INVALID_PARAMETER_VALUE"),
        (
            "0123456789abcdef0123456789abcdef".to_owned(),
            MISSING,
            "RESOURCE_DOES_NOT_EXIST",
        ),
    ] {
        for step in 0..5 {
            let body = json!({"run_id": id, "metrics": [{"key": "m0", "value": 1.0, "timestamp": 1, "step": step}]});
            calls.push(tokio::spawn(async move {
                let (got, v) = call(Method::POST, &api("runs/log-batch"), Some(body)).await;
                assert_eq!((got, v["error_code"].as_str()), (status, Some(code)), "{v}");
                (false, (StatusCode::OK, Value::Null))
            }));
        }
    }
    for step in 0..25 {
        for (r, id) in runs.iter().enumerate() {
            // Every fifth batch of run 0 changes a logged param: refused, writes nothing.
            let bad = r == 0 && step % 5 == 0;
            let mut body = json!({
                "run_id": id,
                "metrics": (0..20).map(|k| json!({
                    "key": format!("m{k}"), "value": f64::from(step) + f64::from(k), "timestamp": 1000 + step, "step": step
                })).collect::<Vec<_>>(),
            });
            if bad {
                body["metrics"] =
                    json!([{"key": "refused", "value": 1.0, "timestamp": 1, "step": step}]);
                body["params"] = json!([{"key": "fixed", "value": "2"}]);
            }
            calls.push(tokio::spawn(async move {
                (
                    bad,
                    call(Method::POST, &api("runs/log-batch"), Some(body)).await,
                )
            }));
        }
    }
    for c in calls {
        let (bad, (status, v)) = c.await.expect("request task");
        if bad {
            assert_eq!(status, BAD, "{v}");
            assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{v}");
        } else {
            assert_eq!(status, StatusCode::OK, "{v}");
        }
    }
    for (r, id) in runs.iter().enumerate() {
        for key in ["m0", "m19"] {
            let h = get(&q(
                &api("metrics/get-history"),
                &[("run_id", id), ("metric_key", key)],
            ))
            .await;
            let steps: Vec<i64> = h["metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|m| m["step"].as_i64().expect("step"))
                .collect();
            let want: Vec<i64> = (0..25).filter(|s| r != 0 || s % 5 != 0).collect();
            assert_eq!(steps, want, "run {r} {key}");
        }
        let refused = get(&q(
            &api("metrics/get-history"),
            &[("run_id", id), ("metric_key", "refused")],
        ))
        .await;
        assert_eq!(refused["metrics"], json!([]));
    }
    // Requests that arrived while a group was written shared the next one: over this test,
    // /metrics counted more batches than transactions (other tests' batches, written meanwhile,
    // only add groups of one or more).
    let (groups, batches) = group_counts().await;
    let (groups, batches) = (groups - groups_before, batches - batches_before);
    assert!(
        batches >= 110 && groups >= 1 && batches > groups,
        "{groups} groups, {batches} batches"
    );
}

/// `/metrics`' group commit counters: (transactions, batches they wrote).
async fn group_counts() -> (u64, u64) {
    let (status, text) = send(Method::GET, "/metrics", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(text).unwrap();
    let counter = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{name}` in\n{text}"))
    };
    (
        counter("sluice_log_batch_groups_total "),
        counter("sluice_log_batch_grouped_total "),
    )
}

// ---- server -----------------------------------------------------------------------------------

#[tokio::test]
async fn server_info_health_version_and_unknown_endpoints() {
    for path in ["/api/3.0/mlflow/server-info", "/api/2.0/mlflow/server-info"] {
        assert_eq!(get(path).await["store_type"], "SqlStore");
    }
    let (status, body) = send(Method::GET, "/health", Body::empty()).await;
    assert_eq!(
        (status, body.as_slice()),
        (StatusCode::OK, b"OK".as_slice())
    );
    let (status, body) = send(Method::GET, "/version", Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
    let msg = fails(
        Method::GET,
        &api("no/such/endpoint"),
        None,
        MISSING,
        "ENDPOINT_NOT_FOUND",
    )
    .await;
    assert!(msg.contains("/api/2.0/mlflow/no/such/endpoint"), "{msg}");
    fails(
        Method::POST,
        "/nothing",
        None,
        MISSING,
        "ENDPOINT_NOT_FOUND",
    )
    .await;
    // A path served for another method only (MLflow's `traces/link-to-run` beside Sluice's
    // `traces/{id}`): MLflow's JSON answer for an endpoint this server has not, not a bare 405.
    fails(
        Method::POST,
        "/api/2.0/mlflow/traces/link-to-run",
        Some(json!({"trace_ids": ["tr-1"], "run_id": "r"})),
        MISSING,
        "ENDPOINT_NOT_FOUND",
    )
    .await;
    fails(
        Method::GET,
        &api("runs/create"),
        None,
        MISSING,
        "ENDPOINT_NOT_FOUND",
    )
    .await;
    // Proxied multipart upload: not offered, said in MLflow's words so clients fall back.
    let msg = fails(
        Method::POST,
        "/api/2.0/mlflow-artifacts/mpu/create/1/run/artifacts/big.bin",
        Some(json!({"path": "big.bin", "num_parts": 3})),
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
    )
    .await;
    assert!(
        msg.starts_with("Multipart upload is not supported for the current artifact repository"),
        "{msg}"
    );
    // The same API under the UI's prefix.
    let id = new_experiment().await;
    let v = get(&q(
        "/ajax-api/2.0/mlflow/experiments/get",
        &[("experiment_id", &id)],
    ))
    .await;
    assert_eq!(v["experiment"]["experiment_id"], id.as_str());
}

#[tokio::test]
async fn malformed_requests_are_400_not_500() {
    for body in ["{not json", "[1, 2]", "\"text\""] {
        let (status, bytes) =
            send(Method::POST, &api("experiments/create"), Body::from(body)).await;
        let v: Value = serde_json::from_slice(&bytes).expect("json error");
        assert_eq!(status, BAD, "{body}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{body}");
    }
    // Wrong types and missing fields.
    fails(
        Method::POST,
        &api("experiments/create"),
        Some(json!({"name": 5})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    let msg = fails(
        Method::POST,
        &api("experiments/create"),
        Some(json!({})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert!(msg.contains("'name'"), "{msg}");
    fails(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": ["x"]})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("model-versions/create"),
        Some(json!({"name": "x"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("runs/search"),
        Some(json!({"experiment_ids": ["0"], "max_results": 0})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("runs/search"),
        Some(json!({"experiment_ids": ["0"], "page_token": "garbage"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::GET,
        &q(&api("registered-models/search"), &[("max_results", "1001")]),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::PATCH,
        &api("logged-models/m-x"),
        Some(json!({"status": {"a": 1}})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

// ---- experiments ------------------------------------------------------------------------------

#[tokio::test]
async fn experiments_lifecycle_and_errors() {
    let name = unique("experiment");
    let v = post(
        &api("experiments/create"),
        json!({"name": name, "tags": [{"key": "team", "value": "a"}]}),
    )
    .await;
    let id = v["experiment_id"].as_str().expect("id").to_owned();
    let e = get(&q(&api("experiments/get"), &[("experiment_id", &id)])).await["experiment"].clone();
    assert_eq!(e["name"], name.as_str());
    assert_eq!(e["artifact_location"], format!("mlflow-artifacts:/{id}"));
    assert_eq!(e["lifecycle_stage"], "active");
    assert_eq!(e["tags"], json!([{"key": "team", "value": "a"}]));
    assert!(e["creation_time"].is_i64());
    let by_name = get(&q(
        &api("experiments/get-by-name"),
        &[("experiment_name", &name)],
    ))
    .await;
    assert_eq!(by_name["experiment"]["experiment_id"], id.as_str());

    fails(
        Method::POST,
        &api("experiments/create"),
        Some(json!({"name": name})),
        BAD,
        "RESOURCE_ALREADY_EXISTS",
    )
    .await;
    fails(
        Method::GET,
        &q(
            &api("experiments/get-by-name"),
            &[("experiment_name", "no-such-experiment")],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::GET,
        &q(&api("experiments/get"), &[("experiment_id", "987654")]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::GET,
        &q(&api("experiments/get"), &[("experiment_id", "abc")]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::POST,
        &api("experiments/delete"),
        Some(json!({"experiment_id": "0"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    // Tags.
    post(
        &api("experiments/set-experiment-tag"),
        json!({"experiment_id": id, "key": "k", "value": "v"}),
    )
    .await;
    post(
        &api("experiments/delete-experiment-tag"),
        json!({"experiment_id": id, "key": "team"}),
    )
    .await;
    let e = get(&q(&api("experiments/get"), &[("experiment_id", &id)])).await["experiment"].clone();
    assert_eq!(e["tags"], json!([{"key": "k", "value": "v"}]));
    fails(
        Method::POST,
        &api("experiments/set-experiment-tag"),
        Some(json!({"experiment_id": "987654", "key": "k", "value": "v"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;

    // Rename, delete, restore.
    let renamed = unique("renamed");
    post(
        &api("experiments/update"),
        json!({"experiment_id": id, "new_name": renamed}),
    )
    .await;
    fails(
        Method::POST,
        &api("experiments/update"),
        Some(json!({"experiment_id": id, "new_name": " "})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    post(&api("experiments/delete"), json!({"experiment_id": id})).await;
    let found = |v: &Value| {
        v["experiments"]
            .as_array()
            .is_some_and(|es| es.iter().any(|e| e["experiment_id"] == id.as_str()))
    };
    let filter = format!("name = '{renamed}'");
    let active = post(&api("experiments/search"), json!({"filter": filter})).await;
    assert!(!found(&active));
    let deleted = post(
        &api("experiments/search"),
        json!({"filter": filter, "view_type": "DELETED_ONLY"}),
    )
    .await;
    assert!(found(&deleted));
    post(&api("experiments/restore"), json!({"experiment_id": id})).await;
    let v = get(&q(&api("experiments/search"), &[("filter", &filter)])).await;
    assert!(found(&v));
    let v = get(&q(&api("experiments/list"), &[("max_results", "50000")])).await;
    assert!(found(&v));
    fails(
        Method::POST,
        &api("experiments/search"),
        Some(json!({"view_type": "SOMETIMES"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("experiments/search"),
        Some(json!({"filter": "colour = 'x'"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

#[tokio::test]
async fn experiment_search_pages() {
    let prefix = unique("paged");
    for i in 0..3 {
        post(
            &api("experiments/create"),
            json!({"name": format!("{prefix}-{i}")}),
        )
        .await;
    }
    let filter = format!("name LIKE '{prefix}-%'");
    let first = post(
        &api("experiments/search"),
        json!({"filter": filter, "max_results": 2, "order_by": ["name ASC"]}),
    )
    .await;
    assert_eq!(first["experiments"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["experiments"][0]["name"], format!("{prefix}-0"));
    let token = first["next_page_token"].as_str().expect("token");
    let second = post(
        &api("experiments/search"),
        json!({"filter": filter, "max_results": 2, "order_by": ["name ASC"], "page_token": token}),
    )
    .await;
    assert_eq!(second["experiments"][0]["name"], format!("{prefix}-2"));
    assert!(second.get("next_page_token").is_none());
}

// ---- runs -------------------------------------------------------------------------------------

#[tokio::test]
async fn runs_lifecycle_metrics_params_tags() {
    let exp = new_experiment().await;
    let run = new_run(&exp).await;
    let id = run_id(&run);
    assert_eq!(run["info"]["status"], "RUNNING");
    assert_eq!(
        run["info"]["artifact_uri"],
        format!("mlflow-artifacts:/{exp}/{id}/artifacts")
    );
    assert_eq!(run["inputs"], json!({}));

    post(
        &api("runs/log-metric"),
        json!({"run_id": id, "key": "m", "value": 1.5, "timestamp": 5, "step": 1}),
    )
    .await;
    post(
        &api("runs/log-metric"),
        json!({"run_uuid": id, "key": "m", "value": "NaN", "timestamp": 6, "step": 2}),
    )
    .await;
    // The same point again is a no-op.
    post(
        &api("runs/log-metric"),
        json!({"run_id": id, "key": "m", "value": 1.5, "timestamp": 5, "step": 1}),
    )
    .await;
    post(
        &api("runs/log-parameter"),
        json!({"run_id": id, "key": "p", "value": "1"}),
    )
    .await;
    post(
        &api("runs/log-parameter"),
        json!({"run_id": id, "key": "p", "value": "1"}),
    )
    .await;
    let msg = fails(
        Method::POST,
        &api("runs/log-parameter"),
        Some(json!({"run_id": id, "key": "p", "value": "2"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert!(
        msg.starts_with("Changing param values is not allowed. Param with key='p'"),
        "{msg}"
    );
    post(
        &api("runs/set-tag"),
        json!({"run_id": id, "key": "t", "value": "x"}),
    )
    .await;
    post(
        &api("runs/set-tag"),
        json!({"run_id": id, "key": "gone", "value": "x"}),
    )
    .await;
    post(
        &api("runs/delete-tag"),
        json!({"run_id": id, "key": "gone"}),
    )
    .await;
    fails(
        Method::POST,
        &api("runs/delete-tag"),
        Some(json!({"run_id": id, "key": "gone"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::POST,
        &api("runs/log-metric"),
        Some(json!({"run_id": id, "key": "m"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("runs/log-metric"),
        Some(json!({"run_id": id, "key": "m", "value": "high"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("runs/log-metric"),
        Some(json!({"run_id": id, "key": "../m", "value": 1})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    let got = get(&q(&api("runs/get"), &[("run_id", &id)])).await["run"].clone();
    assert_eq!(
        got["data"]["metrics"],
        json!([{"key": "m", "value": "NaN", "timestamp": 6, "step": 2}])
    );
    assert_eq!(got["data"]["params"], json!([{"key": "p", "value": "1"}]));
    let tags = got["data"]["tags"].as_array().expect("tags");
    assert!(tags.iter().any(|t| t["key"] == "t"));
    assert!(!tags.iter().any(|t| t["key"] == "gone"));
    let hist = get(&q(
        &api("metrics/get-history"),
        &[("run_id", &id), ("metric_key", "m")],
    ))
    .await;
    assert_eq!(hist["metrics"].as_array().map(Vec::len), Some(2));

    let info = post(
        &api("runs/update"),
        json!({"run_id": id, "status": "FINISHED", "end_time": 2000, "run_name": "renamed"}),
    )
    .await["run_info"]
        .clone();
    assert_eq!(
        (
            info["status"].clone(),
            info["end_time"].clone(),
            info["run_name"].clone()
        ),
        (json!("FINISHED"), json!(2000), json!("renamed"))
    );
    fails(
        Method::POST,
        &api("runs/update"),
        Some(json!({"run_id": id, "status": "DONE"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    post(&api("runs/delete"), json!({"run_id": id})).await;
    assert_eq!(
        get(&q(&api("runs/get"), &[("run_id", &id)])).await["run"]["info"]["lifecycle_stage"],
        "deleted"
    );
    fails(
        Method::POST,
        &api("runs/log-metric"),
        Some(json!({"run_id": id, "key": "m", "value": 1})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    post(&api("runs/restore"), json!({"run_id": id})).await;
    assert_eq!(
        get(&q(&api("runs/get"), &[("run_id", &id)])).await["run"]["info"]["lifecycle_stage"],
        "active"
    );

    for (method, path, body) in [
        (
            Method::GET,
            q(&api("runs/get"), &[("run_id", "nope")]),
            None,
        ),
        (
            Method::POST,
            api("runs/update"),
            Some(json!({"run_id": "nope", "status": "FINISHED"})),
        ),
        (
            Method::POST,
            api("runs/delete"),
            Some(json!({"run_id": "nope"})),
        ),
        (
            Method::POST,
            api("runs/restore"),
            Some(json!({"run_id": "nope"})),
        ),
        (
            Method::POST,
            api("runs/log-metric"),
            Some(json!({"run_id": "nope", "key": "m", "value": 1})),
        ),
        (
            Method::POST,
            api("runs/log-parameter"),
            Some(json!({"run_id": "nope", "key": "p", "value": "1"})),
        ),
        (
            Method::POST,
            api("runs/set-tag"),
            Some(json!({"run_id": "nope", "key": "t", "value": "1"})),
        ),
        (
            Method::POST,
            api("runs/log-batch"),
            Some(json!({"run_id": "nope"})),
        ),
        (
            Method::POST,
            api("runs/log-inputs"),
            Some(json!({"run_id": "nope"})),
        ),
        (
            Method::POST,
            api("runs/outputs"),
            Some(json!({"run_id": "nope"})),
        ),
        (
            Method::GET,
            q(
                &api("metrics/get-history"),
                &[("run_id", "nope"), ("metric_key", "m")],
            ),
            None,
        ),
        (
            Method::GET,
            q(&api("artifacts/list"), &[("run_id", "nope")]),
            None,
        ),
    ] {
        fails(method, &path, body, MISSING, "RESOURCE_DOES_NOT_EXIST").await;
    }
    fails(
        Method::POST,
        &api("runs/create"),
        Some(json!({"experiment_id": "987654"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::GET,
        &api("runs/get"),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

#[tokio::test]
async fn log_batch_limits_and_atomicity() {
    let exp = new_experiment().await;
    let id = run_id(&new_run(&exp).await);
    let metrics = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"key": "m", "value": 1.0, "timestamp": 1, "step": i}))
            .collect()
    };
    let kvs = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
            .collect()
    };
    for body in [
        json!({"run_id": id, "metrics": metrics(1001)}),
        json!({"run_id": id, "params": kvs(101)}),
        json!({"run_id": id, "tags": kvs(101)}),
        json!({"run_id": id, "metrics": metrics(900), "params": kvs(100), "tags": kvs(1)}),
    ] {
        let msg = fails(
            Method::POST,
            &api("runs/log-batch"),
            Some(body),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
        assert!(msg.contains("at most"), "{msg}");
    }
    // The limits themselves are fine.
    post(
        &api("runs/log-batch"),
        json!({"run_id": id, "metrics": metrics(1000)}),
    )
    .await;
    post(
        &api("runs/log-batch"),
        json!({"run_id": id, "params": kvs(100), "tags": kvs(100)}),
    )
    .await;

    // A batch that breaks a rule writes nothing.
    let bad = json!({
        "run_id": id,
        "metrics": [{"key": "atomic", "value": 1, "timestamp": 1, "step": 0}],
        "params": [{"key": "k0", "value": "changed"}],
        "tags": [{"key": "atomic", "value": "x"}],
    });
    fails(
        Method::POST,
        &api("runs/log-batch"),
        Some(bad),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    let run = get(&q(&api("runs/get"), &[("run_id", &id)])).await["run"].clone();
    let has = |section: &str| {
        run["data"][section]
            .as_array()
            .is_some_and(|xs| xs.iter().any(|x| x["key"] == "atomic"))
    };
    assert!(!has("metrics") && !has("tags"));
    let hist = get(&q(
        &api("metrics/get-history"),
        &[("run_id", &id), ("metric_key", "atomic")],
    ))
    .await;
    assert_eq!(hist["metrics"], json!([]));
    // Duplicate params with different values in one batch, malformed entries.
    for body in [
        json!({"run_id": id, "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "2"}]}),
        json!({"run_id": id, "metrics": [{"value": 1}]}),
        json!({"run_id": id, "metrics": [{"key": "m", "value": 1, "step": "x"}]}),
        json!({"run_id": id, "metrics": "m"}),
        json!({"run_id": id, "metrics": [{"key": "m", "value": 1, "model_id": 7}]}),
    ] {
        fails(
            Method::POST,
            &api("runs/log-batch"),
            Some(body),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
}

#[tokio::test]
async fn run_search_filters_orders_and_pages() {
    let exp = new_experiment().await;
    for i in 0..5_i32 {
        let id = run_id(&new_run(&exp).await);
        post(
            &api("runs/log-batch"),
            json!({
                "run_id": id,
                "metrics": [{"key": "rmse", "value": f64::from(i) / 10.0, "timestamp": 1, "step": 0}],
                "params": [{"key": "i", "value": i.to_string()}],
                "tags": [{"key": "even", "value": (i % 2 == 0).to_string()}],
            }),
        )
        .await;
    }
    let search = |body: Value| async move { post(&api("runs/search"), body).await };
    let rmse = |v: &Value| -> Vec<f64> {
        v["runs"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter_map(|r| r["data"]["metrics"][0]["value"].as_f64())
                    .collect()
            })
            .unwrap_or_default()
    };
    let v = search(json!({"experiment_ids": [exp], "filter": "metrics.rmse < 0.35 and tags.even = 'true'", "order_by": ["metrics.rmse DESC"]})).await;
    assert_eq!(rmse(&v), [0.2, 0.0]);
    let first = search(
        json!({"experiment_ids": [exp], "order_by": ["metrics.rmse ASC"], "max_results": 2}),
    )
    .await;
    assert_eq!(rmse(&first), [0.0, 0.1]);
    let token = first["next_page_token"].as_str().expect("token").to_owned();
    let second = search(json!({"experiment_ids": [exp], "order_by": ["metrics.rmse ASC"], "max_results": 2, "page_token": token})).await;
    assert_eq!(rmse(&second), [0.2, 0.3]);
    let v = get(&q(
        &api("runs/search"),
        &[("experiment_ids", &exp), ("filter", "params.i = '4'")],
    ))
    .await;
    assert_eq!(rmse(&v), [0.4]);
    // No match: no `runs` key at all.
    assert_eq!(
        search(json!({"experiment_ids": [exp], "filter": "params.i = 'x'"})).await,
        json!({})
    );
    for bad in [
        "metrics.rmse < 'a'",
        "rmse < 1",
        "params.i = '1' or params.i = '2'",
        "metrics.rmse <",
    ] {
        fails(
            Method::POST,
            &api("runs/search"),
            Some(json!({"experiment_ids": [exp], "filter": bad})),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    fails(
        Method::POST,
        &api("runs/search"),
        Some(json!({"experiment_ids": [exp], "order_by": ["metrics.rmse sideways"]})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

#[tokio::test]
async fn metric_history_pages() {
    let exp = new_experiment().await;
    let id = run_id(&new_run(&exp).await);
    let metrics: Value = (0..5)
        .map(|i| json!({"key": "loss", "value": 1.0 / f64::from(i + 1), "timestamp": 10 + i, "step": i}))
        .collect();
    post(
        &api("runs/log-batch"),
        json!({"run_id": id, "metrics": metrics}),
    )
    .await;
    let page = |token: Option<String>| {
        let id = id.clone();
        async move {
            let mut pairs = vec![
                ("run_id", id.as_str()),
                ("metric_key", "loss"),
                ("max_results", "2"),
            ];
            let t = token.unwrap_or_default();
            if !t.is_empty() {
                pairs.push(("page_token", t.as_str()));
            }
            get(&q(&api("metrics/get-history"), &pairs)).await
        }
    };
    let mut steps = Vec::new();
    let mut token = None;
    loop {
        let v = page(token).await;
        steps.extend(
            v["metrics"]
                .as_array()
                .expect("metrics")
                .iter()
                .map(|m| m["step"].as_i64()),
        );
        token = v["next_page_token"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(steps, [0, 1, 2, 3, 4].map(Some));
    fails(
        Method::GET,
        &q(
            &api("metrics/get-history"),
            &[
                ("run_id", &id),
                ("metric_key", "loss"),
                ("max_results", "25001"),
            ],
        ),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

#[tokio::test]
async fn inputs_outputs_and_2x_log_model() {
    let exp = new_experiment().await;
    let id = run_id(&new_run(&exp).await);
    let dataset = json!({"dataset": {"name": "d", "digest": "abc", "source_type": "local", "source": "{}"}, "tags": []});
    post(
        &api("runs/log-inputs"),
        json!({"run_id": id, "datasets": [dataset]}),
    )
    .await;
    post(
        &api("runs/log-inputs"),
        json!({"run_id": id, "datasets": [dataset]}),
    )
    .await;
    post(
        &api("runs/outputs"),
        json!({"run_id": id, "models": [{"model_id": "m-1", "step": 3}]}),
    )
    .await;
    fails(
        Method::POST,
        &api("runs/outputs"),
        Some(json!({"run_id": id, "models": [{"step": 3}]})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    let model = json!({"artifact_path": "model", "flavors": {}}).to_string();
    post(
        &api("runs/log-model"),
        json!({"run_id": id, "model_json": model}),
    )
    .await;
    post(
        &api("runs/log-model"),
        json!({"run_id": id, "model_json": model}),
    )
    .await;
    fails(
        Method::POST,
        &api("runs/log-model"),
        Some(json!({"run_id": id, "model_json": "{"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    let run = get(&q(&api("runs/get"), &[("run_id", &id)])).await["run"].clone();
    assert_eq!(run["inputs"]["dataset_inputs"], json!([dataset]));
    assert_eq!(
        run["outputs"]["model_outputs"],
        json!([{"model_id": "m-1", "step": 3}])
    );
    let history = run["data"]["tags"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["key"] == "mlflow.log-model.history"))
        .and_then(|t| t["value"].as_str())
        .expect("history tag");
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(history)
            .expect("json")
            .len(),
        2
    );
}

// ---- artifacts --------------------------------------------------------------------------------

#[tokio::test]
async fn artifacts_upload_download_list_delete() {
    let exp = new_experiment().await;
    let run = new_run(&exp).await;
    let id = run_id(&run);
    let base = format!("{exp}/{id}/artifacts");
    let url = |rel: &str| format!("/api/2.0/mlflow-artifacts/artifacts/{base}/{rel}");
    for (rel, body) in [
        ("notes.txt", "hello"),
        ("extra/notes.txt", "nested"),
        ("model/MLmodel", "flavors: {}"),
    ] {
        let (status, bytes) = send(Method::PUT, &url(rel), Body::from(body)).await;
        assert_eq!(status, StatusCode::OK, "{rel}");
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).expect("json"),
            json!({})
        );
    }
    let (status, bytes) = send(Method::GET, &url("extra/notes.txt"), Body::empty()).await;
    assert_eq!(
        (status, bytes.as_slice()),
        (StatusCode::OK, b"nested".as_slice())
    );
    // A file cannot replace a folder: a client error, and the folder stays.
    fails(
        Method::PUT,
        &url("extra"),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    // Large bodies stream through (past the 16 MB request limit of JSON calls), whole.
    let big: Vec<u8> = (0..20_000_017u32).map(|i| (i % 251) as u8).collect();
    let (status, _) = send(Method::PUT, &url("big.bin"), Body::from(big.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let (status, bytes) = send(Method::GET, &url("big.bin"), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == big, "the downloaded bytes differ");
    let (status, _) = send(Method::DELETE, &url("big.bin"), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);

    let listing = get(&q(
        "/api/2.0/mlflow-artifacts/artifacts",
        &[("path", &base)],
    ))
    .await;
    assert_eq!(
        listing,
        json!({"files": [
            {"path": "extra", "is_dir": true},
            {"path": "model", "is_dir": true},
            {"path": "notes.txt", "is_dir": false, "file_size": 5},
        ]})
    );
    // Listing a file (or nothing) is `{}`, as in MLflow.
    for path in [format!("{base}/notes.txt"), format!("{base}/absent")] {
        assert_eq!(
            get(&q(
                "/api/2.0/mlflow-artifacts/artifacts",
                &[("path", &path)]
            ))
            .await,
            json!({})
        );
    }
    let listing = get(&q(
        &api("artifacts/list"),
        &[("run_id", &id), ("path", "extra")],
    ))
    .await;
    assert_eq!(listing["root_uri"], run["info"]["artifact_uri"]);
    assert_eq!(
        listing["files"],
        json!([{"path": "extra/notes.txt", "is_dir": false, "file_size": 6}])
    );

    let (status, _) = send(Method::DELETE, &url("extra"), Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    fails(
        Method::GET,
        &url("extra/notes.txt"),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::DELETE,
        &url("extra"),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
}

#[tokio::test]
async fn artifact_paths_cannot_escape_the_root() {
    let prefix = "/api/2.0/mlflow-artifacts/artifacts";
    for rel in [
        "../escape.txt",
        "a/../../escape.txt",
        "%2e%2e/escape.txt",
        "a/%2E%2E/%2e%2e/x",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "a%5C..%5Cb",
    ] {
        let uri = format!("{prefix}/{rel}");
        for method in [Method::PUT, Method::GET, Method::DELETE] {
            let (status, bytes) = send(method.clone(), &uri, Body::from("x")).await;
            assert_eq!(status, BAD, "{method} {uri}");
            let v: Value = serde_json::from_slice(&bytes).expect("json");
            assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE", "{method} {uri}");
        }
    }
    for path in ["..", "../..", "/etc", "a/../../b"] {
        fails(
            Method::GET,
            &q(prefix, &[("path", path)]),
            None,
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    let exp = new_experiment().await;
    let id = run_id(&new_run(&exp).await);
    fails(
        Method::GET,
        &q(
            &api("artifacts/list"),
            &[("run_id", &id), ("path", "../..")],
        ),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

// ---- registered models ------------------------------------------------------------------------

#[tokio::test]
async fn registered_models_crud_and_errors() {
    let name = unique("model");
    let created = post(
        &api("registered-models/create"),
        json!({"name": name, "description": "d", "tags": [{"key": "team", "value": "a"}]}),
    )
    .await["registered_model"]
        .clone();
    assert_eq!(created["description"], "d");
    assert_eq!(created["tags"], json!([{"key": "team", "value": "a"}]));
    assert_eq!(
        created["creation_timestamp"],
        created["last_updated_timestamp"]
    );
    let msg = fails(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": name})),
        BAD,
        "RESOURCE_ALREADY_EXISTS",
    )
    .await;
    assert_eq!(
        msg,
        format!("Registered Model (name={name}) already exists.")
    );
    fails(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": ""})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": "x", "tags": [{"value": "v"}]})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    let updated = ok(
        Method::PATCH,
        &api("registered-models/update"),
        Some(json!({"name": name, "description": "new"})),
    )
    .await;
    assert_eq!(updated["registered_model"]["description"], "new");

    post(
        &api("registered-models/set-tag"),
        json!({"name": name, "key": "k", "value": "v"}),
    )
    .await;
    ok(
        Method::DELETE,
        &api("registered-models/delete-tag"),
        Some(json!({"name": name, "key": "team"})),
    )
    .await;
    let got = get(&q(&api("registered-models/get"), &[("name", &name)])).await["registered_model"]
        .clone();
    assert_eq!(got["tags"], json!([{"key": "k", "value": "v"}]));
    fails(
        Method::POST,
        &api("registered-models/set-tag"),
        Some(json!({"name": name, "key": "", "value": "v"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    let new_name = unique("renamed-model");
    post(
        &api("model-versions/create"),
        json!({"name": name, "source": "s3://b/m"}),
    )
    .await;
    let renamed = post(
        &api("registered-models/rename"),
        json!({"name": name, "new_name": new_name}),
    )
    .await["registered_model"]
        .clone();
    assert_eq!(renamed["name"], new_name.as_str());
    assert_eq!(renamed["latest_versions"][0]["name"], new_name.as_str());
    let other = unique("other-model");
    post(&api("registered-models/create"), json!({"name": other})).await;
    fails(
        Method::POST,
        &api("registered-models/rename"),
        Some(json!({"name": new_name, "new_name": other})),
        BAD,
        "RESOURCE_ALREADY_EXISTS",
    )
    .await;

    let missing = unique("missing-model");
    for (method, path, body) in [
        (
            Method::GET,
            q(&api("registered-models/get"), &[("name", &missing)]),
            None,
        ),
        (
            Method::POST,
            api("registered-models/rename"),
            Some(json!({"name": missing, "new_name": unique("x")})),
        ),
        (
            Method::PATCH,
            api("registered-models/update"),
            Some(json!({"name": missing, "description": "x"})),
        ),
        (
            Method::DELETE,
            api("registered-models/delete"),
            Some(json!({"name": missing})),
        ),
        (
            Method::POST,
            api("registered-models/get-latest-versions"),
            Some(json!({"name": missing})),
        ),
        (
            Method::POST,
            api("registered-models/set-tag"),
            Some(json!({"name": missing, "key": "k", "value": "v"})),
        ),
        (
            Method::DELETE,
            api("registered-models/delete-tag"),
            Some(json!({"name": missing, "key": "k"})),
        ),
        (
            Method::POST,
            api("model-versions/create"),
            Some(json!({"name": missing, "source": "s3://x"})),
        ),
    ] {
        let msg = fails(method, &path, body, MISSING, "RESOURCE_DOES_NOT_EXIST").await;
        assert_eq!(
            msg,
            format!("Registered Model with name={missing} not found")
        );
    }

    // Deleting a model deletes its versions (and their tags and aliases).
    post(
        &api("model-versions/set-tag"),
        json!({"name": new_name, "version": "1", "key": "k", "value": "v"}),
    )
    .await;
    post(
        &api("registered-models/alias"),
        json!({"name": new_name, "alias": "prod", "version": "1"}),
    )
    .await;
    ok(
        Method::DELETE,
        &api("registered-models/delete"),
        Some(json!({"name": new_name})),
    )
    .await;
    fails(
        Method::GET,
        &q(&api("registered-models/get"), &[("name", &new_name)]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    let v = get(&q(
        &api("model-versions/search"),
        &[("filter", &format!("name = '{new_name}'"))],
    ))
    .await;
    assert_eq!(v, json!({}));
    // Re-creating the name starts over.
    post(&api("registered-models/create"), json!({"name": new_name})).await;
    let v = post(
        &api("model-versions/create"),
        json!({"name": new_name, "source": "s3://x"}),
    )
    .await;
    assert_eq!(v["model_version"]["version"], "1");
    assert!(
        v["model_version"].get("tags").is_none() && v["model_version"].get("aliases").is_none()
    );
}

#[tokio::test]
async fn registered_model_search() {
    let prefix = unique("rms");
    for suffix in ["b", "a", "c"] {
        post(&api("registered-models/create"), json!({"name": format!("{prefix}-{suffix}"), "tags": [{"key": "group", "value": prefix}]})).await;
    }
    let search = |pairs: Vec<(&'static str, String)>| async move {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        get(&q(&api("registered-models/search"), &pairs)).await
    };
    let names = |v: &Value| -> Vec<String> {
        v["registered_models"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let like = format!("name LIKE '{prefix}-%'");
    let v = search(vec![("filter", like.clone())]).await;
    assert_eq!(
        names(&v),
        [
            format!("{prefix}-a"),
            format!("{prefix}-b"),
            format!("{prefix}-c")
        ]
    );
    let v = search(vec![
        ("filter", like.clone()),
        ("order_by", "name DESC".into()),
        ("max_results", "2".into()),
    ])
    .await;
    assert_eq!(names(&v), [format!("{prefix}-c"), format!("{prefix}-b")]);
    let token = v["next_page_token"].as_str().expect("token").to_owned();
    let v = search(vec![
        ("filter", like.clone()),
        ("order_by", "name DESC".into()),
        ("max_results", "2".into()),
        ("page_token", token),
    ])
    .await;
    assert_eq!(names(&v), [format!("{prefix}-a")]);
    assert!(v.get("next_page_token").is_none());
    // The 3.x client leaves prompts out this way; models without the tag still match.
    let v = search(vec![(
        "filter",
        format!("{like} AND tag.`mlflow.prompt.is_prompt` != 'true'"),
    )])
    .await;
    assert_eq!(names(&v).len(), 3);
    let v = search(vec![("filter", format!("name = '{prefix}-b'"))]).await;
    assert_eq!(names(&v), [format!("{prefix}-b")]);
    let v = search(vec![(
        "filter",
        format!("name ILIKE '{}-%'", prefix.to_uppercase()),
    )])
    .await;
    assert_eq!(names(&v).len(), 3);
    let v = search(vec![
        ("filter", format!("tags.group = '{prefix}'")),
        ("order_by", "last_updated_timestamp DESC".into()),
    ])
    .await;
    assert_eq!(names(&v).len(), 3);
    assert_eq!(
        search(vec![("filter", format!("name = '{prefix}-zzz'"))]).await,
        json!({})
    );
    for bad in [
        "run_id = 'x'",
        "name = 1",
        "name LIKE",
        "name = 'a' OR name = 'b'",
    ] {
        fails(
            Method::GET,
            &q(&api("registered-models/search"), &[("filter", bad)]),
            None,
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    fails(
        Method::GET,
        &q(
            &api("registered-models/search"),
            &[("order_by", "size ASC")],
        ),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
}

// ---- model versions ---------------------------------------------------------------------------

#[tokio::test]
async fn model_versions_stages_tags_aliases_and_errors() {
    let name = unique("mv");
    post(&api("registered-models/create"), json!({"name": name})).await;
    let exp = new_experiment().await;
    let run = new_run(&exp).await;
    let rid = run_id(&run);
    let v1 = post(
        &api("model-versions/create"),
        json!({"name": name, "source": format!("runs:/{rid}/model"), "run_id": rid, "description": "first",
               "tags": [{"key": "k", "value": "v"}], "run_link": "http://x"}),
    )
    .await["model_version"]
        .clone();
    assert_eq!(v1["version"], "1");
    assert_eq!(
        (v1["status"].clone(), v1["current_stage"].clone()),
        (json!("READY"), json!("None"))
    );
    assert_eq!(v1["tags"], json!([{"key": "k", "value": "v"}]));
    assert_eq!(v1["run_link"], "http://x");
    assert_eq!(
        v1["source"],
        format!("runs:/{rid}/model"),
        "the source is kept as sent"
    );
    let uri = get(&q(
        &api("model-versions/get-download-uri"),
        &[("name", &name), ("version", "1")],
    ))
    .await;
    assert_eq!(
        uri,
        json!({"artifact_uri": format!("{}/model", run["info"]["artifact_uri"].as_str().unwrap_or_default())})
    );
    for i in 2..=3 {
        let v = post(
            &api("model-versions/create"),
            json!({"name": name, "source": "s3://bucket/model"}),
        )
        .await;
        assert_eq!(v["model_version"]["version"], i.to_string());
        assert_eq!(v["model_version"]["run_id"], "");
    }
    let uri = get(&q(
        &api("model-versions/get-download-uri"),
        &[("name", &name), ("version", "2")],
    ))
    .await;
    assert_eq!(uri, json!({"artifact_uri": "s3://bucket/model"}));

    // Only description, tags and stage change.
    let v = ok(
        Method::PATCH,
        &api("model-versions/update"),
        Some(
            json!({"name": name, "version": "1", "description": "changed", "source": "s3://evil"}),
        ),
    )
    .await;
    assert_eq!(v["model_version"]["description"], "changed");
    assert_eq!(v["model_version"]["source"], format!("runs:/{rid}/model"));
    post(
        &api("model-versions/set-tag"),
        json!({"name": name, "version": "1", "key": "k2", "value": "v2"}),
    )
    .await;
    ok(
        Method::DELETE,
        &api("model-versions/delete-tag"),
        Some(json!({"name": name, "version": "1", "key": "k"})),
    )
    .await;
    let v = get(&q(
        &api("model-versions/get"),
        &[("name", &name), ("version", "1")],
    ))
    .await;
    assert_eq!(
        v["model_version"]["tags"],
        json!([{"key": "k2", "value": "v2"}])
    );

    // Stages.
    let v = post(&api("model-versions/transition-stage"), json!({"name": name, "version": "1", "stage": "production", "archive_existing_versions": false})).await;
    assert_eq!(v["model_version"]["current_stage"], "Production");
    let v = post(&api("model-versions/transition-stage"), json!({"name": name, "version": "2", "stage": "Production", "archive_existing_versions": true})).await;
    assert_eq!(v["model_version"]["current_stage"], "Production");
    let v1 = get(&q(
        &api("model-versions/get"),
        &[("name", &name), ("version", "1")],
    ))
    .await;
    assert_eq!(v1["model_version"]["current_stage"], "Archived");
    fails(
        Method::POST,
        &api("model-versions/transition-stage"),
        Some(json!({"name": name, "version": "1", "stage": "Shipped"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(Method::POST, &api("model-versions/transition-stage"), Some(json!({"name": name, "version": "1", "stage": "None", "archive_existing_versions": true})), BAD, "INVALID_PARAMETER_VALUE").await;
    fails(Method::POST, &api("model-versions/transition-stage"), Some(json!({"name": name, "version": "1", "stage": "None", "archive_existing_versions": "maybe"})), BAD, "INVALID_PARAMETER_VALUE").await;
    let latest = post(
        &api("registered-models/get-latest-versions"),
        json!({"name": name, "stages": ["production"]}),
    )
    .await;
    assert_eq!(latest["model_versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(latest["model_versions"][0]["version"], "2");
    let all = get(&q(
        &api("registered-models/get-latest-versions"),
        &[("name", &name)],
    ))
    .await;
    let stages: Vec<&str> = all["model_versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["current_stage"].as_str())
        .collect();
    assert_eq!(stages, ["Archived", "Production", "None"]);
    assert_eq!(
        post(
            &api("registered-models/get-latest-versions"),
            json!({"name": name, "stages": ["Staging"]})
        )
        .await,
        json!({})
    );
    fails(
        Method::POST,
        &api("registered-models/get-latest-versions"),
        Some(json!({"name": name, "stages": ["Nowhere"]})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    // Aliases.
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "champion", "version": "3"}),
    )
    .await;
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "champion", "version": 1}),
    )
    .await;
    let v = get(&q(
        &api("registered-models/alias"),
        &[("name", &name), ("alias", "champion")],
    ))
    .await;
    assert_eq!(
        (
            v["model_version"]["version"].clone(),
            v["model_version"]["aliases"].clone()
        ),
        (json!("1"), json!(["champion"]))
    );
    let msg = fails(
        Method::GET,
        &q(
            &api("registered-models/alias"),
            &[("name", &name), ("alias", "nobody")],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "Registered model alias nobody not found.");
    fails(
        Method::POST,
        &api("registered-models/alias"),
        Some(json!({"name": name, "alias": "x", "version": "99"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    for alias in ["latest", "v2", ""] {
        fails(
            Method::POST,
            &api("registered-models/alias"),
            Some(json!({"name": name, "alias": alias, "version": "1"})),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    ok(
        Method::DELETE,
        &api("registered-models/alias"),
        Some(json!({"name": name, "alias": "champion"})),
    )
    .await;
    fails(
        Method::GET,
        &q(
            &api("registered-models/alias"),
            &[("name", &name), ("alias", "champion")],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;

    // Search.
    let search = |filter: String, extra: Vec<(&'static str, &'static str)>| async move {
        let mut pairs = vec![("filter", filter.as_str())];
        pairs.extend(extra);
        get(&q(&api("model-versions/search"), &pairs)).await
    };
    let versions = |v: &Value| -> Vec<String> {
        v["model_versions"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| v["version"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let by_name = format!("name='{name}'");
    assert_eq!(
        versions(&search(by_name.clone(), vec![("order_by", "version_number DESC")]).await),
        ["3", "2", "1"]
    );
    assert_eq!(
        versions(&search(format!("run_id = '{rid}'"), vec![]).await),
        ["1"]
    );
    assert_eq!(
        versions(&search(format!("{by_name} and tags.k2 = 'v2'"), vec![]).await),
        ["1"]
    );
    let first = search(
        by_name.clone(),
        vec![("max_results", "2"), ("order_by", "version_number ASC")],
    )
    .await;
    assert_eq!(versions(&first), ["1", "2"]);
    let token = first["next_page_token"].as_str().expect("token").to_owned();
    let pairs = [
        ("filter", by_name.as_str()),
        ("max_results", "2"),
        ("order_by", "version_number ASC"),
        ("page_token", token.as_str()),
    ];
    assert_eq!(
        versions(&get(&q(&api("model-versions/search"), &pairs)).await),
        ["3"]
    );
    // MLflow 3 lists names too (`SearchModelVersionUtils.LIST_SUPPORTED_KEYS`).
    get(&q(
        &api("model-versions/search"),
        &[("filter", "name IN ('a')")],
    ))
    .await;
    for bad in [
        "colour = 'x'",
        "version_number IN ('1')",
        "version_number = 'x'",
        "name = 'a' OR name = 'b'",
    ] {
        fails(
            Method::GET,
            &q(&api("model-versions/search"), &[("filter", bad)]),
            None,
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    fails(
        Method::GET,
        &q(&api("model-versions/search"), &[("order_by", "size")]),
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    // Deleting a version keeps its number taken and drops its aliases.
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "gone", "version": "3"}),
    )
    .await;
    ok(
        Method::DELETE,
        &api("model-versions/delete"),
        Some(json!({"name": name, "version": "3"})),
    )
    .await;
    fails(
        Method::GET,
        &q(
            &api("registered-models/alias"),
            &[("name", &name), ("alias", "gone")],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    let v = post(
        &api("model-versions/create"),
        json!({"name": name, "source": "s3://x"}),
    )
    .await;
    assert_eq!(v["model_version"]["version"], "4");

    for (method, path, body) in [
        (
            Method::GET,
            q(
                &api("model-versions/get"),
                &[("name", &name), ("version", "3")],
            ),
            None,
        ),
        (
            Method::PATCH,
            api("model-versions/update"),
            Some(json!({"name": name, "version": "3", "description": "x"})),
        ),
        (
            Method::DELETE,
            api("model-versions/delete"),
            Some(json!({"name": name, "version": "3"})),
        ),
        (
            Method::GET,
            q(
                &api("model-versions/get-download-uri"),
                &[("name", &name), ("version", "3")],
            ),
            None,
        ),
        (
            Method::POST,
            api("model-versions/transition-stage"),
            Some(json!({"name": name, "version": "3", "stage": "Staging"})),
        ),
        (
            Method::POST,
            api("model-versions/set-tag"),
            Some(json!({"name": name, "version": "3", "key": "k", "value": "v"})),
        ),
        (
            Method::DELETE,
            api("model-versions/delete-tag"),
            Some(json!({"name": name, "version": "3", "key": "k"})),
        ),
    ] {
        let msg = fails(method, &path, body, MISSING, "RESOURCE_DOES_NOT_EXIST").await;
        assert_eq!(
            msg,
            format!("Model Version (name={name}, version=3) not found")
        );
    }
    for version in ["one", "-1", "1.5"] {
        fails(
            Method::GET,
            &q(
                &api("model-versions/get"),
                &[("name", &name), ("version", version)],
            ),
            None,
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    fails(
        Method::POST,
        &api("model-versions/create"),
        Some(json!({"name": name, "source": "runs:/no-such-run/model"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::POST,
        &api("model-versions/create"),
        Some(json!({"name": name, "source": "models:/m-nope"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::POST,
        &api("model-versions/create"),
        Some(json!({"name": name, "source": ""})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    // `models:/NAME/VERSION` and `@ALIAS` resolve to that version's location.
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "best", "version": "2"}),
    )
    .await;
    for source in [format!("models:/{name}/2"), format!("models:/{name}@best")] {
        let v = post(
            &api("model-versions/create"),
            json!({"name": name, "source": source}),
        )
        .await;
        let version = v["model_version"]["version"]
            .as_str()
            .expect("version")
            .to_owned();
        let uri = get(&q(
            &api("model-versions/get-download-uri"),
            &[("name", &name), ("version", &version)],
        ))
        .await;
        assert_eq!(uri["artifact_uri"], "s3://bucket/model", "{source}");
    }
}

// ---- logged models ----------------------------------------------------------------------------

#[tokio::test]
async fn logged_models_lifecycle_and_errors() {
    let exp = new_experiment().await;
    let rid = run_id(&new_run(&exp).await);
    let m = post(
        &api("logged-models"),
        json!({"experiment_id": exp, "source_run_id": rid, "model_type": "agent"}),
    )
    .await["model"]
        .clone();
    let id = m["info"]["model_id"].as_str().expect("id").to_owned();
    assert!(
        id.starts_with("m-") && id.len() == 34 && id[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        m["info"]["artifact_uri"],
        format!("mlflow-artifacts:/{exp}/models/{id}/artifacts")
    );
    assert_eq!(m["info"]["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(m["info"]["model_type"], "agent");
    assert!(m["info"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(m["data"], json!({}));

    ok(
        Method::PATCH,
        &api(&format!("logged-models/{id}/tags")),
        Some(json!({"tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]})),
    )
    .await;
    ok(
        Method::DELETE,
        &api(&format!("logged-models/{id}/tags/b")),
        None,
    )
    .await;
    let msg = fails(
        Method::DELETE,
        &api(&format!("logged-models/{id}/tags/b")),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(
        msg,
        format!("No tag with key 'b' found for model with ID '{id}'.")
    );
    post(
        &api(&format!("logged-models/{id}/params")),
        json!({"params": [{"key": "lr", "value": "0.1"}]}),
    )
    .await;
    let m = get(&api(&format!("logged-models/{id}"))).await["model"].clone();
    assert_eq!(m["info"]["tags"], json!([{"key": "a", "value": "1"}]));
    assert_eq!(m["data"]["params"], json!([{"key": "lr", "value": "0.1"}]));

    // Metrics logged to the run with this model id (log-metric and log-batch).
    post(&api("runs/log-metric"), json!({"run_id": rid, "key": "acc", "value": 0.9, "timestamp": 7, "step": 1, "model_id": id})).await;
    post(
        &api("runs/log-batch"),
        json!({"run_id": rid, "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": 8, "step": 1, "model_id": id},
            {"key": "other", "value": 1.0, "timestamp": 8, "step": 1},
        ]}),
    )
    .await;
    let m = ok(
        Method::PATCH,
        &api(&format!("logged-models/{id}")),
        Some(json!({"model_id": id, "status": "LOGGED_MODEL_READY"})),
    )
    .await["model"]
        .clone();
    assert_eq!(m["info"]["status"], "LOGGED_MODEL_READY");
    assert_eq!(
        m["data"]["metrics"],
        json!([
            {"key": "acc", "value": 0.9, "timestamp": 7, "step": 1, "model_id": id, "run_id": rid},
            {"key": "loss", "value": 0.5, "timestamp": 8, "step": 1, "model_id": id, "run_id": rid},
        ])
    );
    fails(
        Method::PATCH,
        &api(&format!("logged-models/{id}")),
        Some(json!({"status": "SHIPPED"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    fails(
        Method::PATCH,
        &api(&format!("logged-models/{id}")),
        Some(json!({})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;

    // Search.
    let other = post(
        &api("logged-models"),
        json!({"experiment_id": exp, "name": "other"}),
    )
    .await["model"]["info"]["model_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ids = |v: &Value| -> Vec<String> {
        v["models"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["info"]["model_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let search = |body: Value| async move { post(&api("logged-models/search"), body).await };
    assert_eq!(
        ids(&search(json!({"experiment_ids": [exp]})).await),
        [other.clone(), id.clone()]
    );
    assert_eq!(
        ids(&search(json!({"experiment_ids": [exp], "filter": "name = 'other'"})).await),
        std::slice::from_ref(&other)
    );
    assert_eq!(
        ids(&search(
            json!({"experiment_ids": [exp], "filter": "metrics.acc >= 0.9 AND tags.a = '1'"})
        )
        .await),
        std::slice::from_ref(&id)
    );
    assert_eq!(ids(&search(json!({"experiment_ids": [exp], "order_by": [{"field_name": "creation_timestamp", "ascending": true}]})).await), [id.clone(), other.clone()]);
    assert_eq!(ids(&search(json!({"experiment_ids": [exp], "order_by": [{"field_name": "metrics.acc", "ascending": false}]})).await), [id.clone(), other.clone()]);
    let first = search(json!({"experiment_ids": [exp], "max_results": 1})).await;
    assert_eq!(ids(&first), std::slice::from_ref(&other));
    let token = first["next_page_token"].as_str().expect("token");
    assert_eq!(
        ids(&search(json!({"experiment_ids": [exp], "max_results": 1, "page_token": token})).await),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        search(json!({"experiment_ids": [exp], "filter": "name = 'notes.txt'"})).await,
        json!({})
    );
    for body in [
        json!({"experiment_ids": [exp], "filter": "colour = 'x'"}),
        json!({"experiment_ids": [exp], "filter": "metrics.acc > 'x'"}),
        json!({"experiment_ids": [exp], "order_by": [{"ascending": true}]}),
        json!({"experiment_ids": [exp], "order_by": [{"field_name": "colour"}]}),
        json!({"experiment_ids": []}),
        json!({"experiment_ids": ["abc"]}),
    ] {
        fails(
            Method::POST,
            &api("logged-models/search"),
            Some(body),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }

    // Delete.
    ok(
        Method::DELETE,
        &api(&format!("logged-models/{other}")),
        None,
    )
    .await;
    assert_eq!(
        ids(&search(json!({"experiment_ids": [exp]})).await),
        std::slice::from_ref(&id)
    );
    let msg = fails(
        Method::GET,
        &api(&format!("logged-models/{other}")),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, format!("Logged model with ID '{other}' not found."));
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("logged-models/{other}"),
            Some(json!({"status": "LOGGED_MODEL_READY"})),
        ),
        (Method::DELETE, format!("logged-models/{other}"), None),
        (
            Method::PATCH,
            format!("logged-models/{other}/tags"),
            Some(json!({"tags": [{"key": "a", "value": "1"}]})),
        ),
        (
            Method::DELETE,
            format!("logged-models/{other}/tags/a"),
            None,
        ),
        (
            Method::POST,
            format!("logged-models/{other}/params"),
            Some(json!({"params": [{"key": "a", "value": "1"}]})),
        ),
    ] {
        fails(
            method,
            &api(&path),
            body,
            MISSING,
            "RESOURCE_DOES_NOT_EXIST",
        )
        .await;
    }

    // Creation errors.
    fails(
        Method::POST,
        &api("logged-models"),
        Some(json!({"experiment_id": "987654"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    fails(
        Method::POST,
        &api("logged-models"),
        Some(json!({"name": "x"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    for name in ["a/b", "a.b", "", "it's"] {
        fails(
            Method::POST,
            &api("logged-models"),
            Some(json!({"experiment_id": exp, "name": name})),
            BAD,
            "INVALID_PARAMETER_VALUE",
        )
        .await;
    }
    let gone = new_experiment().await;
    post(&api("experiments/delete"), json!({"experiment_id": gone})).await;
    fails(
        Method::POST,
        &api("logged-models"),
        Some(json!({"experiment_id": gone})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    let (status, _) = send(Method::GET, &api("logged-models/search"), Body::empty()).await;
    assert!(status.is_client_error(), "{status}");
}

// ---- the real clients' flows, shape for shape -------------------------------------------------

/// The MLflow 3.x client: log a model (a logged model), register it twice, alias it, load it.
#[tokio::test]
async fn mlflow_3_client_flow_matches_the_capture() {
    let exp = new_experiment().await;
    let rid = run_id(&new_run(&exp).await);
    post(&api("runs/log-metric"), json!({"run_uuid": rid, "key": "rmse", "value": 1.2, "timestamp": 1_795_671_544_660_i64, "step": 0, "run_id": rid})).await;

    let created = post(
        &api("logged-models"),
        json!({"experiment_id": exp, "name": "model", "source_run_id": rid,
               "params": [{"key": "model_type", "value": "LinearRegression"}, {"key": "alpha", "value": "0.5"}],
               "tags": [{"key": "mlflow.user", "value": "root"}, {"key": "mlflow.source.name", "value": "e2e.py"}]}),
    )
    .await;
    assert_shape(
        &created,
        &json!({"model": {"info": {"model_id": "m-2669d897cc674608b16622bf246464aa", "experiment_id": "1", "name": "model",
            "creation_timestamp_ms": 1_795_671_545_650_i64, "last_updated_timestamp_ms": 1_795_671_545_650_i64,
            "artifact_uri": "mlflow-artifacts:/1/models/m-2669d897cc674608b16622bf246464aa/artifacts",
            "status": "LOGGED_MODEL_PENDING", "model_type": "", "source_run_id": "ab4ed42ed880411e92006d5ce8f70f5b",
            "tags": [{"key": "mlflow.source.name", "value": "mlflow-client-e2e.py"}, {"key": "mlflow.user", "value": "root"}]},
            "data": {"params": [{"key": "alpha", "value": "0.5"}, {"key": "model_type", "value": "LinearRegression"}]}}}),
    );
    let info = &created["model"]["info"];
    assert_eq!(
        info["tags"][0]["key"], "mlflow.source.name",
        "tags are sorted by key"
    );
    assert_eq!(
        created["model"]["data"]["params"][0]["key"], "alpha",
        "params are sorted by key"
    );
    let id = info["model_id"].as_str().expect("id").to_owned();
    let artifact_uri = info["artifact_uri"].as_str().expect("uri").to_owned();

    assert_eq!(
        post(
            &api("runs/outputs"),
            json!({"run_id": rid, "models": [{"model_id": id, "step": 0}]})
        )
        .await,
        json!({})
    );
    // The client re-logs the run's metric for the model: the run already has this exact point.
    post(&api("runs/log-batch"), json!({"run_id": rid, "metrics": [{"key": "rmse", "value": 1.2, "timestamp": 1_795_671_544_660_i64, "step": 0, "model_id": id}]})).await;
    let finalized = ok(
        Method::PATCH,
        &api(&format!("logged-models/{id}")),
        Some(json!({"model_id": id, "status": "LOGGED_MODEL_READY"})),
    )
    .await;
    let mut expected = created.clone();
    expected["model"]["data"]["metrics"] = json!([{"key": "rmse", "value": 1.2, "timestamp": 1_795_671_544_660_i64, "step": 0,
        "model_id": "m-2669d897cc674608b16622bf246464aa", "run_id": "ab4ed42ed880411e92006d5ce8f70f5b"}]);
    assert_shape(&finalized, &expected);
    assert_eq!(finalized["model"]["data"]["metrics"][0]["value"], 1.2);
    let run = get(&q(
        &api("runs/get"),
        &[("run_uuid", &rid), ("run_id", &rid)],
    ))
    .await;
    assert_eq!(
        run["run"]["outputs"]["model_outputs"],
        json!([{"model_id": id, "step": 0}])
    );
    assert!(
        run["run"]["data"]["metrics"][0].get("model_id").is_none(),
        "run metrics carry no model id"
    );
    let hist = get(&q(
        &api("metrics/get-history"),
        &[
            ("run_id", &rid),
            ("metric_key", "rmse"),
            ("max_results", "25000"),
        ],
    ))
    .await;
    assert_eq!(hist["metrics"].as_array().map(Vec::len), Some(1));
    // Searching for a logged model by an artifact's name finds nothing: `{}`.
    assert_eq!(
        post(
            &api("logged-models/search"),
            json!({"experiment_ids": [exp], "filter": "name = 'notes.txt'"})
        )
        .await,
        json!({})
    );

    let name = unique("e2e-model");
    let rm = post(&api("registered-models/create"), json!({"name": name})).await;
    assert_shape(
        &rm,
        &json!({"registered_model": {"name": "e2e-model-acde08f5", "creation_timestamp": 1_795_671_557_806_i64, "last_updated_timestamp": 1_795_671_557_806_i64}}),
    );
    let source = format!("models:/{id}");
    let v1 = post(
        &api("model-versions/create"),
        json!({"name": name, "source": source, "model_id": id}),
    )
    .await;
    // One addition to the capture: `user_id`, the version's creator, which Sluice records
    // for governance (MLflow leaves it empty).
    let version_shape = json!({"name": "e2e-model-acde08f5", "version": "1", "creation_timestamp": 1_795_671_557_930_i64,
        "last_updated_timestamp": 1_795_671_557_930_i64, "user_id": "tester", "current_stage": "None", "description": "",
        "source": "models:/m-2669d897cc674608b16622bf246464aa", "run_id": "ab4ed42ed880411e92006d5ce8f70f5b",
        "status": "READY", "run_link": ""});
    assert_shape(&v1, &json!({"model_version": version_shape}));
    assert_eq!(
        v1["model_version"]["run_id"],
        rid.as_str(),
        "the run comes from the logged model"
    );
    assert_eq!(v1["model_version"]["source"], source.as_str());
    // The client records the registration on the logged model.
    let tag = json!([{"name": name, "version": 1}]).to_string();
    assert_eq!(
        ok(
            Method::PATCH,
            &api(&format!("logged-models/{id}/tags")),
            Some(json!({"tags": [{"key": "mlflow.modelVersions", "value": tag}]}))
        )
        .await,
        json!({})
    );
    let m = get(&api(&format!("logged-models/{id}"))).await;
    assert_eq!(
        m["model"]["info"]["tags"][0],
        json!({"key": "mlflow.modelVersions", "value": tag})
    );

    let err = call(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(err.0, BAD);
    assert_eq!(err.1["error_code"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        err.1["message"],
        format!("Registered Model (name={name}) already exists.")
    );
    let found = post(
        &api("logged-models/search"),
        json!({"experiment_ids": [exp], "filter": "name = 'model'"}),
    )
    .await;
    assert_eq!(found["models"].as_array().map(Vec::len), Some(1));
    assert_eq!(found["models"][0]["info"]["model_id"], id.as_str());

    let v2 = post(
        &api("model-versions/create"),
        json!({"name": name, "source": source, "run_id": rid, "model_id": id}),
    )
    .await;
    assert_eq!(v2["model_version"]["version"], "2");
    let got = get(&q(
        &api("model-versions/get"),
        &[("name", &name), ("version", "1")],
    ))
    .await;
    assert_shape(&got, &json!({"model_version": version_shape}));
    let rm = get(&q(&api("registered-models/get"), &[("name", &name)])).await;
    assert_shape(
        &rm,
        &json!({"registered_model": {"name": "x", "creation_timestamp": 1, "last_updated_timestamp": 2, "latest_versions": [version_shape]}}),
    );
    assert_eq!(rm["registered_model"]["latest_versions"][0]["version"], "2");
    assert_eq!(
        rm["registered_model"]["last_updated_timestamp"],
        v2["model_version"]["creation_timestamp"]
    );

    assert_eq!(
        post(
            &api("registered-models/alias"),
            json!({"name": name, "alias": "champion", "version": "1"})
        )
        .await,
        json!({})
    );
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "challenger", "version": "2"}),
    )
    .await;
    let by_alias = get(&q(
        &api("registered-models/alias"),
        &[("name", &name), ("alias", "champion")],
    ))
    .await;
    let mut aliased = version_shape.clone();
    aliased["aliases"] = json!(["champion"]);
    assert_shape(&by_alias, &json!({"model_version": aliased}));
    assert_eq!(by_alias["model_version"]["aliases"], json!(["champion"]));
    let rm = get(&q(&api("registered-models/get"), &[("name", &name)])).await;
    assert_eq!(
        rm["registered_model"]["aliases"],
        json!([{"alias": "challenger", "version": "2"}, {"alias": "champion", "version": "1"}])
    );
    assert!(
        rm["registered_model"]["latest_versions"][0]
            .get("aliases")
            .is_none(),
        "latest_versions list no aliases"
    );

    let search = get(&q(
        &api("model-versions/search"),
        &[
            ("filter", &format!("name='{name}'")),
            ("max_results", "10000"),
        ],
    ))
    .await;
    assert_shape(
        &search,
        &json!({"model_versions": [version_shape, version_shape]}),
    );
    assert_eq!(search["model_versions"][0]["version"], "2", "newest first");

    assert_eq!(
        ok(
            Method::DELETE,
            &api("registered-models/alias"),
            Some(json!({"name": name, "alias": "challenger"}))
        )
        .await,
        json!({})
    );
    let rm = get(&q(&api("registered-models/get"), &[("name", &name)])).await;
    assert_eq!(
        rm["registered_model"]["aliases"],
        json!([{"alias": "champion", "version": "1"}])
    );
    for version in ["1", "2"] {
        let uri = get(&q(
            &api("model-versions/get-download-uri"),
            &[("name", &name), ("version", version)],
        ))
        .await;
        assert_eq!(uri, json!({"artifact_uri": artifact_uri}));
    }
}

/// The MLflow 2.x client: a model logged as run artifacts, registered by its artifact URI.
#[tokio::test]
async fn mlflow_2_client_flow_matches_the_capture() {
    let exp = new_experiment().await;
    let rid = run_id(&new_run(&exp).await);
    let source = format!("mlflow-artifacts:/{exp}/{rid}/artifacts/model");
    let name = unique("e2e2-model");
    post(&api("registered-models/create"), json!({"name": name})).await;
    let v1 = post(
        &api("model-versions/create"),
        json!({"name": name, "source": source, "run_id": rid}),
    )
    .await;
    assert_eq!(
        v1["model_version"]
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(
            [
                "name",
                "version",
                "creation_timestamp",
                "last_updated_timestamp",
                "user_id",
                "current_stage",
                "description",
                "source",
                "run_id",
                "status",
                "run_link"
            ]
            .map(str::to_owned)
            .to_vec()
        )
    );
    assert_eq!(v1["model_version"]["source"], source.as_str());
    post(
        &api("model-versions/create"),
        json!({"name": name, "source": source, "run_id": rid}),
    )
    .await;
    post(
        &api("registered-models/alias"),
        json!({"name": name, "alias": "champion", "version": "1"}),
    )
    .await;
    let v = get(&q(
        &api("registered-models/alias"),
        &[("name", &name), ("alias", "champion")],
    ))
    .await;
    assert_eq!(v["model_version"]["aliases"], json!(["champion"]));
    let uri = get(&q(
        &api("model-versions/get-download-uri"),
        &[("name", &name), ("version", "1")],
    ))
    .await;
    assert_eq!(uri, json!({"artifact_uri": source}));
}

#[tokio::test]
async fn engine_run_tags_cannot_be_set_or_deleted_by_clients() {
    let exp = new_experiment().await;
    let run = new_run(&exp).await;
    let id = run_id(&run);
    for (path, body) in [
        (
            "runs/set-tag",
            json!({"run_id": id, "key": "sluice.job", "value": "someone-elses-job"}),
        ),
        (
            "runs/log-batch",
            json!({"run_id": id, "tags": [{"key": "sluice.step", "value": "train"}]}),
        ),
        (
            "runs/delete-tag",
            json!({"run_id": id, "key": "sluice.job"}),
        ),
        (
            "runs/create",
            json!({"experiment_id": exp, "tags": [{"key": "sluice.job", "value": "x"}]}),
        ),
    ] {
        let (status, body) = call(Method::POST, &api(path), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error_code"], "PERMISSION_DENIED", "{path}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("set by Sluice's engine"),
            "{body}"
        );
    }
    // Other `sluice.` tags and ordinary tags are the client's.
    post(
        &api("runs/set-tag"),
        json!({"run_id": id, "key": "sluice.note", "value": "mine"}),
    )
    .await;
}

/// A request's status, headers and body.
async fn raw(uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let resp = app().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.expect("body");
    (parts.status, parts.headers, bytes.to_vec())
}

/// Downloads carry MLflow's content type by file name (never `text/html` for user content),
/// `X-Content-Type-Options: nosniff` and an attachment disposition, on the artifact proxy and
/// on the UI's `/get-artifact` and `/model-versions/get-artifact`.
#[tokio::test]
async fn artifact_downloads_are_typed_by_name_and_never_sniffed() {
    let exp = new_experiment().await;
    let run = new_run(&exp).await;
    let id = run_id(&run);
    let base = format!("{exp}/{id}/artifacts");
    let files = [
        ("model/MLmodel", "text/plain"),
        ("notes.txt", "text/plain"),
        ("plot.png", "image/png"),
        ("report.pdf", "application/pdf"),
        ("page.html", "text/plain"),
        ("model/model.pkl", "application/octet-stream"),
    ];
    for (rel, _) in files {
        let url = format!("/api/2.0/mlflow-artifacts/artifacts/{base}/{rel}");
        let (status, _) = send(Method::PUT, &url, Body::from(format!("<b>{rel}</b>"))).await;
        assert_eq!(status, StatusCode::OK, "{rel}");
    }
    let name = unique("typed-model");
    post(&api("registered-models/create"), json!({"name": name})).await;
    post(
        &api("model-versions/create"),
        json!({"name": name, "source": format!("mlflow-artifacts:/{base}/model"), "run_id": id}),
    )
    .await;
    for (rel, ty) in files {
        let file = rel.rsplit('/').next().unwrap();
        let mut urls = vec![
            format!("/api/2.0/mlflow-artifacts/artifacts/{base}/{rel}"),
            q("/get-artifact", &[("run_uuid", &id), ("path", rel)]),
        ];
        if let Some(inner) = rel.strip_prefix("model/") {
            urls.push(q(
                "/model-versions/get-artifact",
                &[("name", &name), ("version", "1"), ("path", inner)],
            ));
        }
        for url in urls {
            let (status, headers, body) = raw(&url).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(body, format!("<b>{rel}</b>").into_bytes(), "{url}");
            assert_eq!(headers[header::CONTENT_TYPE], ty, "{url}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{url}");
            assert_eq!(
                headers[header::CONTENT_DISPOSITION],
                format!("attachment; filename=\"{file}\""),
                "{url}"
            );
        }
    }
    // A missing file is MLflow's 404, and a path may not leave the run's artifacts.
    let (status, _, _) = raw(&q(
        "/get-artifact",
        &[("run_uuid", &id), ("path", "absent.txt")],
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = raw(&q(
        "/get-artifact",
        &[("run_uuid", &id), ("path", "../../x")],
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
}

/// `metrics/get-history-bulk` (the MLflow UI's charts, under `/ajax-api` as MLflow serves it):
/// one metric across runs, each point tagged with its run, runs in id order.
#[tokio::test]
async fn metric_history_bulk_tags_points_with_their_runs() {
    let exp = new_experiment().await;
    let mut ids = Vec::new();
    for base in [0.0, 10.0] {
        let id = run_id(&new_run(&exp).await);
        for (step, ts) in [(1, 200), (0, 100)] {
            post(
                &api("runs/log-metric"),
                json!({"run_id": id, "key": "loss", "value": base + f64::from(step), "timestamp": ts, "step": step}),
            )
            .await;
        }
        post(
            &api("runs/log-metric"),
            json!({"run_id": id, "key": "other", "value": 1.0, "timestamp": 1, "step": 0}),
        )
        .await;
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    let url = q(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
        &[
            ("run_id", &ids[1]),
            ("run_id", &ids[0]),
            ("metric_key", "loss"),
        ],
    );
    let v = get(&url).await;
    let points = v["metrics"].as_array().expect("metrics");
    assert_eq!(points.len(), 4, "{v}");
    let got: Vec<(&str, i64, i64)> = points
        .iter()
        .map(|m| {
            assert_eq!(m["key"], "loss");
            (
                m["run_id"].as_str().unwrap(),
                m["step"].as_i64().unwrap(),
                m["timestamp"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (sorted[0].as_str(), 0, 100),
            (sorted[0].as_str(), 1, 200),
            (sorted[1].as_str(), 0, 100),
            (sorted[1].as_str(), 1, 200)
        ]
    );
    let capped = get(&format!("{url}&max_results=3")).await;
    assert_eq!(capped["metrics"].as_array().map(Vec::len), Some(3));
    // MLflow's messages for a request it refuses.
    for (query, message) in [
        (
            "metric_key=loss".to_owned(),
            "GetMetricHistoryBulk request must specify at least one run_id.",
        ),
        (
            format!("run_id={}", ids[0]),
            "GetMetricHistoryBulk request must specify a metric_key.",
        ),
        (
            (0..101)
                .map(|i| format!("run_id=r{i}"))
                .collect::<Vec<_>>()
                .join("&")
                + "&metric_key=loss",
            "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101 run_ids.",
        ),
    ] {
        let (status, v) = call(
            Method::GET,
            &format!("{}?{query}", api("metrics/get-history-bulk")),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert_eq!(v["message"], message);
    }
}

/// `experiments/search-datasets`: each dataset logged to an experiment's runs, once per
/// (experiment, name, digest, context), with MLflow's limits and messages.
#[tokio::test]
async fn search_datasets_lists_each_logged_dataset_once() {
    let dataset = |name: &str, digest: &str, context: &str| {
        json!({
            "tags": [{"key": "mlflow.data.context", "value": context}],
            "dataset": {"name": name, "digest": digest, "source_type": "local", "source": "{}"},
        })
    };
    let (e1, e2, e3) = (
        new_experiment().await,
        new_experiment().await,
        new_experiment().await,
    );
    for (exp, sets) in [
        (
            &e1,
            vec![
                dataset("taxi", "d1", "training"),
                dataset("taxi", "d1", "eval"),
            ],
        ),
        (&e1, vec![dataset("taxi", "d1", "training")]),
        (&e2, vec![dataset("iris", "d2", "training")]),
        (&e3, vec![dataset("other", "d3", "training")]),
    ] {
        let id = run_id(&new_run(exp).await);
        post(
            &api("runs/log-inputs"),
            json!({"run_id": id, "datasets": sets}),
        )
        .await;
    }
    let v = post(
        "/ajax-api/2.0/mlflow/experiments/search-datasets",
        json!({"experiment_ids": [e1, e2]}),
    )
    .await;
    assert_eq!(
        v,
        json!({"dataset_summaries": [
            {"experiment_id": e1, "name": "taxi", "digest": "d1", "context": "training"},
            {"experiment_id": e1, "name": "taxi", "digest": "d1", "context": "eval"},
            {"experiment_id": e2, "name": "iris", "digest": "d2", "context": "training"},
        ]})
    );
    for (body, message) in [
        (json!({}), "SearchDatasets request must specify at least one experiment_id.".to_owned()),
        (
            json!({"experiment_ids": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
            "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids.".to_owned(),
        ),
    ] {
        let (status, v) = call(Method::POST, &api("experiments/search-datasets"), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error_code"], "INVALID_PARAMETER_VALUE");
        assert_eq!(v["message"], message);
    }
}

/// `/metrics` in Prometheus' text format: requests counted under their route's pattern (never
/// the raw path or its query), with a cumulative latency histogram; the jobs gauge.
#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let name = unique("metrics-exp");
    let (status, created) = call(
        Method::POST,
        "/api/2.0/mlflow/experiments/create",
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["experiment_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (status, _) = call(
            Method::GET,
            &q("/api/2.0/mlflow/experiments/get", &[("experiment_id", &id)]),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = call(Method::GET, "/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let resp = app().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(
        to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
    };
    // Other tests share the app: at least this test's requests are there.
    let gets = value(
        "sluice_http_requests_total{method=\"GET\",route=\"/api/2.0/mlflow/experiments/get\",status=\"200\"}",
    );
    assert!(gets >= 3.0, "{gets}");
    let count = value(
        "sluice_http_request_duration_seconds_count{method=\"GET\",route=\"/api/2.0/mlflow/experiments/get\"}",
    );
    let inf = value(
        "sluice_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/2.0/mlflow/experiments/get\",le=\"+Inf\"}",
    );
    assert!(count >= gets && (inf - count).abs() < f64::EPSILON);
    let fast = value(
        "sluice_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/2.0/mlflow/experiments/get\",le=\"0.001\"}",
    );
    assert!(fast <= count, "buckets are cumulative");
    assert!(
        value("sluice_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}")
            >= 1.0
    );
    assert!(
        !text.contains("experiment_id=") && !text.contains("/no/such/route"),
        "a raw path or query leaked into a label:\n{text}"
    );
    assert!(text.contains("# TYPE sluice_jobs gauge"));
    assert!(text.contains("# TYPE sluice_step_duration_seconds histogram"));
    assert!(text.contains("# TYPE sluice_executor_steps gauge"));
}
