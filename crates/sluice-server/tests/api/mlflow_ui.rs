//! MLflow's web UI served from a bundle folder at `/mlflow/` (under a static prefix too), the
//! routes only the UI calls, and Sluice's own UI at `/`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sluice_server::ServerState;
use tower::ServiceExt;

use super::{api, get, post, q, unique};

/// A server over a fresh store with a bundle laid out as the `mlflow` wheel's
/// `mlflow/server/js/build` is (the test writes the files it then asks for).
fn with_ui(prefix: Option<&str>) -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let bundle = dir.path().join("build");
    std::fs::create_dir_all(bundle.join("static/js")).unwrap();
    std::fs::write(
        bundle.join("index.html"),
        "<!doctype html><script src=\"static-files/static/js/main.1.js\"></script>",
    )
    .unwrap();
    std::fs::write(bundle.join("static/js/main.1.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the bundle").unwrap();
    assert!(sluice_server::mlflow_ui::is_bundle(&bundle));
    let location = sluice_store::testing::fresh_location(dir.path()).unwrap();
    let store = sluice_store::pool::StorePool::open(location, 2).unwrap();
    let state = ServerState::new(
        store,
        sluice_artifacts::store::Artifacts::local(dir.path().join("artifacts")),
    )
    .with_mlflow_ui(Some(bundle))
    .with_static_prefix(prefix.map(str::to_owned));
    let router = sluice_server::router(Arc::new(state));
    (dir, router)
}

async fn fetch(router: &Router, method: Method, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::empty())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (status, ctype, body)
}

#[tokio::test]
async fn the_bundle_is_served_under_mlflow_and_sluice_s_ui_at_the_root() {
    let (_dir, app) = with_ui(None);
    for home in ["/mlflow/", "/mlflow"] {
        let (status, ctype, body) = fetch(&app, Method::GET, home).await;
        assert_eq!(status, StatusCode::OK, "{home}");
        assert_eq!(ctype, "text/html; charset=utf-8");
        assert!(
            String::from_utf8(body).unwrap().contains("main.1.js"),
            "{home}"
        );
    }
    let (status, ctype, body) = fetch(
        &app,
        Method::GET,
        "/mlflow/static-files/static/js/main.1.js",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/javascript; charset=utf-8");
    assert_eq!(body, b"console.log(1)");
    for escape in [
        "/mlflow/static-files/../secret.txt",
        "/mlflow/static-files/%2e%2e/secret.txt",
        "/static-files/%2e%2e/secret.txt",
        "/mlflow/static-files/static/js/missing.js",
    ] {
        let (status, _, body) = fetch(&app, Method::GET, escape).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{escape}");
        assert!(!String::from_utf8_lossy(&body).contains("outside the bundle"));
    }
    // The UI's REST calls go to `ajax-api/` beside its page, versions 2.0 and 3.0 alike.
    for base in ["", "/mlflow"] {
        let (status, _, _) = fetch(
            &app,
            Method::GET,
            &format!("{base}/ajax-api/3.0/mlflow/server-info"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{base}");
        let (status, _, _) = fetch(
            &app,
            Method::GET,
            &format!("{base}/ajax-api/2.0/mlflow-artifacts/artifacts?path="),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{base}");
    }

    // Sluice's own UI: its page, script and style sheet, with a policy that allows no
    // inline or foreign script and no framing.
    let (status, ctype, body) = fetch(&app, Method::GET, "/").await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::OK, "text/html; charset=utf-8")
    );
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains("ui/app.js") && page.contains("ui/app.css"),
        "{page}"
    );
    let req = Request::builder().uri("/").body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    for (file, kind) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
    ] {
        let (status, ctype, body) = fetch(&app, Method::GET, file).await;
        assert_eq!((status, ctype.as_str()), (StatusCode::OK, kind), "{file}");
        assert!(body.len() > 1000, "{file}");
    }
    let (status, _, _) = fetch(&app, Method::GET, "/ui/secret.txt").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_static_prefix_moves_everything_under_it() {
    let (_dir, app) = with_ui(Some("/mlflow/"));
    for home in ["/mlflow/", "/mlflow"] {
        let (status, ctype, _) = fetch(&app, Method::GET, home).await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::OK, "text/html; charset=utf-8"),
            "{home}"
        );
    }
    let (status, _, _) = fetch(
        &app,
        Method::GET,
        "/mlflow/static-files/static/js/main.1.js",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = fetch(
        &app,
        Method::GET,
        "/mlflow/api/2.0/mlflow/experiments/get?experiment_id=0",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = fetch(
        &app,
        Method::GET,
        "/mlflow/ajax-api/2.0/mlflow/users/current",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Nothing is served outside the prefix.
    for outside in [
        "/",
        "/api/2.0/mlflow/experiments/get?experiment_id=0",
        "/health",
    ] {
        let (status, _, _) = fetch(&app, Method::GET, outside).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{outside}");
    }
}

#[tokio::test]
async fn without_a_bundle_the_mlflow_page_says_how_to_get_one() {
    let (status, v) = super::call(Method::GET, "/mlflow/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        v["message"].as_str().unwrap().contains("--mlflow-ui"),
        "{v}"
    );
}

#[tokio::test]
async fn routes_only_the_ui_calls() {
    let me = get("/ajax-api/2.0/mlflow/users/current").await;
    assert_eq!(
        me["user"]["username"],
        sluice_store::governance::local_user()
    );
    assert_eq!(me["user"]["is_admin"], true);
    assert_eq!(me["is_basic_auth"], false);
    let permissions = get("/ajax-api/3.0/mlflow/users/current/permissions").await;
    assert_eq!(permissions["is_admin"], true);
    assert_eq!(permissions["permissions"][0]["permission"], "MANAGE");
    assert_eq!(
        get("/ajax-api/2.0/mlflow/gateway-proxy?gateway_path=api%2F2.0%2Fendpoints%2F").await,
        json!({"endpoints": []})
    );
    let config = get("/ajax-api/3.0/mlflow/assistant/config").await;
    assert_eq!(
        config,
        json!({"providers": {}, "projects": {}, "remote_access_allowed": false})
    );
    let providers = get("/ajax-api/3.0/mlflow/assistant/providers").await;
    assert_eq!(providers["providers"], json!([]));
    assert_eq!(providers["resolved"], Value::Null);
}

#[tokio::test]
async fn the_ui_filters_parse() {
    // The experiments page hides gateway experiments by tag presence.
    let plain = unique("exp");
    let gateway = unique("exp");
    post(&api("experiments/create"), json!({"name": plain})).await;
    post(
        &api("experiments/create"),
        json!({"name": gateway, "tags": [{"key": "mlflow.experiment.isGateway", "value": "true"}]}),
    )
    .await;
    let names = |v: &Value| -> Vec<String> {
        v["experiments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let listed = get(&q(
        &api("experiments/search"),
        &[
            ("max_results", "1000"),
            ("filter", "tags.`mlflow.experiment.isGateway` IS NULL"),
        ],
    ))
    .await;
    assert!(names(&listed).contains(&plain));
    assert!(!names(&listed).contains(&gateway));
    let listed = get(&q(
        &api("experiments/search"),
        &[
            ("max_results", "1000"),
            ("filter", "tags.`mlflow.experiment.isGateway` IS NOT NULL"),
        ],
    ))
    .await;
    assert_eq!(names(&listed), std::slice::from_ref(&gateway));

    // The compare page names runs by an unqualified `run_id`.
    let exp = super::new_experiment().await;
    let a = super::run_id(&super::new_run(&exp).await);
    let b = super::run_id(&super::new_run(&exp).await);
    super::new_run(&exp).await;
    let found = post(
        &api("runs/search"),
        json!({"experiment_ids": [exp], "filter": format!("run_id IN ('{a}','{b}')"), "run_view_type": "ALL"}),
    )
    .await;
    let mut ids: Vec<String> = found["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(super::run_id)
        .collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn the_ui_uploads_into_a_run_and_reads_logged_model_files() {
    use super::{fails, send};
    let exp = super::new_experiment().await;
    let run = super::run_id(&super::new_run(&exp).await);
    let upload = |path: &str| {
        q(
            "/ajax-api/2.0/mlflow/upload-artifact",
            &[("run_uuid", run.as_str()), ("path", path)],
        )
    };
    let (status, _) = send(Method::POST, &upload("notes/a.txt"), Body::from("hello")).await;
    assert_eq!(status, StatusCode::OK);
    let listed = get(&q(
        &api("artifacts/list"),
        &[("run_id", &run), ("path", "notes")],
    ))
    .await;
    assert_eq!(listed["files"][0]["path"], "notes/a.txt");
    for (uri, body, message) in [
        (upload("../x.txt"), "x", "Invalid path"),
        (upload("b.txt"), "", "Request must specify data."),
        (
            q("/ajax-api/2.0/mlflow/upload-artifact", &[("path", "b.txt")]),
            "x",
            "Request must specify run_uuid.",
        ),
    ] {
        let (status, bytes) = send(Method::POST, &uri, Body::from(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v["message"].as_str().unwrap().starts_with(message), "{v}");
    }

    let model = post(
        &api("logged-models"),
        json!({"experiment_id": exp, "name": "m"}),
    )
    .await;
    let id = model["model"]["info"]["model_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let location = model["model"]["info"]["artifact_uri"].as_str().unwrap();
    let rel = location.strip_prefix("mlflow-artifacts:/").unwrap();
    let (status, _) = send(
        Method::PUT,
        &format!("/api/2.0/mlflow-artifacts/artifacts/{rel}/MLmodel"),
        Body::from("flavors: {}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let listing = get(&format!(
        "/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/directories"
    ))
    .await;
    assert_eq!(listing["files"][0]["path"], "MLmodel");
    assert_eq!(listing["root_uri"], location);
    let (status, bytes) = send(
        Method::GET,
        &q(
            &format!("/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files"),
            &[("artifact_file_path", "MLmodel")],
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"flavors: {}");
    let msg = fails(
        Method::GET,
        &format!("/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files"),
        None,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    assert_eq!(
        msg,
        "Request must include the \"artifact_file_path\" query parameter."
    );
}
