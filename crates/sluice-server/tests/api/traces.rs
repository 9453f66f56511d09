//! MLflow's trace routes in process: MLflow 3's (`/api/3.0/mlflow/traces...`) and MLflow 2's
//! (`/api/2.0/mlflow/traces...`), the web UI's `get-trace-artifact` and trace metrics, with the
//! shapes and messages MLflow's server gives.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{BAD, MISSING, call, fails, get, new_experiment, post, q, send};

async fn start(exp: &str, id: &str, at: &str, duration: &str, state: &str, name: &str) -> Value {
    post(
        "/api/3.0/mlflow/traces",
        json!({"trace": {"trace_info": {
            "trace_id": id,
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}},
            "request_time": at, "execution_duration": duration, "state": state,
            "trace_metadata": {"mlflow.trace_schema.version": "3", "mlflow.traceInputs": "{\"q\": 1}"},
            "tags": {"mlflow.traceName": name},
            "request_preview": "{\"q\": 1}",
        }}}),
    )
    .await
}

#[tokio::test]
async fn v3_traces_start_search_tag_serve_and_delete() {
    let exp = new_experiment().await;
    let id = format!("tr-{exp:0>32}");
    let got = start(
        &exp,
        &id,
        "2026-01-02T03:04:05.123Z",
        "1.5s",
        "OK",
        "predict",
    )
    .await;
    let info = &got["trace"]["trace_info"];
    assert_eq!(info["request_time"], "2026-01-02T03:04:05.123Z");
    assert_eq!(info["execution_duration"], "1.500s");
    assert_eq!(
        info["tags"]["mlflow.artifactLocation"],
        format!("mlflow-artifacts:/{exp}/traces/{id}/artifacts")
    );
    assert_eq!(info["trace_metadata"]["mlflow.trace.infoFinalized"], "true");
    assert_eq!(info["request_preview"], "{\"q\": 1}");
    let other = format!("tr-{exp:1>32}");
    start(
        &exp,
        &other,
        "2026-01-02T03:04:06+02:00",
        "0.002s",
        "ERROR",
        "train",
    )
    .await;

    let one = get(&format!("/api/3.0/mlflow/traces/{id}")).await;
    assert_eq!(one["trace"]["trace_info"]["trace_id"], id.as_str());
    let search = |filter: &str| {
        json!({"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
               "filter": filter, "max_results": 10, "order_by": ["timestamp_ms DESC"]})
    };
    let all = post("/ajax-api/3.0/mlflow/traces/search", search("")).await;
    let ids: Vec<&str> = all["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    // The +02:00 time is an hour before the other in UTC.
    assert_eq!(ids, [id.as_str(), other.as_str()]);
    let ok = post(
        "/api/3.0/mlflow/traces/search",
        search("trace.status = 'OK'"),
    )
    .await;
    assert_eq!(ok["traces"].as_array().unwrap().len(), 1);
    let none = post(
        "/api/3.0/mlflow/traces/search",
        search("trace.name = 'nothing'"),
    )
    .await;
    assert_eq!(none, json!({}));
    let msg = fails(
        Method::POST,
        "/api/3.0/mlflow/traces/search",
        Some(search("trace.state = 'OK'")),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert!(
        msg.starts_with("Invalid attribute key 'state' specified."),
        "{msg}"
    );
    let infos = post(
        "/api/3.0/mlflow/traces/batchGetInfos",
        json!({"trace_ids": [other, "tr-unknown"]}),
    )
    .await;
    assert_eq!(infos["trace_infos"].as_array().unwrap().len(), 1);

    // Tags: the client's JSON body, or the web UI's query string.
    ok_call(
        Method::PATCH,
        &format!("/api/2.0/mlflow/traces/{id}/tags"),
        json!({"key": "k", "value": "v"}),
    )
    .await;
    let one = get(&format!("/api/3.0/mlflow/traces/{id}")).await;
    assert_eq!(one["trace"]["trace_info"]["tags"]["k"], "v");
    let (status, _) = call(
        Method::DELETE,
        &q(
            &format!("/ajax-api/3.0/mlflow/traces/{id}/tags"),
            &[("key", "k")],
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let msg = fails(
        Method::DELETE,
        &format!("/api/2.0/mlflow/traces/{id}/tags"),
        Some(json!({"key": "k"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(
        msg,
        format!("No trace tag with key 'k' for trace with ID '{id}'")
    );
    let msg = fails(
        Method::PATCH,
        &format!("/api/2.0/mlflow/traces/{id}/tags"),
        Some(json!({"key": "mlflow.trace.spansLocation", "value": "x"})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert_eq!(
        msg,
        "Tag 'mlflow.trace.spansLocation' is immutable and cannot be set on a trace."
    );

    // The spans: what the client uploaded through the artifact proxy, served back for the UI.
    let spans = r#"{"spans": []}"#;
    let (status, _) = send(
        Method::PUT,
        &format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/traces/{id}/artifacts/traces.json"),
        Body::from(spans),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        Method::GET,
        &q(
            "/ajax-api/3.0/mlflow/get-trace-artifact",
            &[("request_id", &id)],
        ),
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, spans.as_bytes());
    let msg = fails(
        Method::GET,
        &q(
            "/ajax-api/2.0/mlflow/get-trace-artifact",
            &[("request_id", &other)],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "Trace data not found for path=traces.json");

    // Trace metrics for the UI's overview charts.
    let m = post(
        "/ajax-api/3.0/mlflow/traces/metrics",
        json!({"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
               "aggregations": [{"aggregation_type": "COUNT"}], "dimensions": ["trace_status"]}),
    )
    .await;
    assert_eq!(m["data_points"].as_array().unwrap().len(), 2, "{m}");
    assert_eq!(m["data_points"][0]["dimensions"]["trace_status"], "ERROR");
    assert_eq!(m["data_points"][0]["values"]["COUNT"], 1.0);
    let spans_view = post(
        "/ajax-api/3.0/mlflow/traces/metrics",
        json!({"experiment_ids": [exp], "view_type": "SPANS", "metric_name": "total_cost",
               "aggregations": [{"aggregation_type": "SUM"}]}),
    )
    .await;
    assert_eq!(spans_view, json!({}));

    let deleted = post(
        "/api/2.0/mlflow/traces/delete-traces",
        json!({"experiment_id": exp, "request_ids": [id]}),
    )
    .await;
    assert_eq!(deleted, json!({"traces_deleted": 1}));
    let msg = fails(
        Method::GET,
        &format!("/api/3.0/mlflow/traces/{id}"),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, format!("Trace with ID '{id}' not found."));
    let msg = fails(
        Method::POST,
        "/api/2.0/mlflow/traces/delete-traces",
        Some(json!({"experiment_id": exp})),
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert_eq!(
        msg,
        "Either `max_timestamp_millis` or `trace_ids` must be specified."
    );
}

async fn ok_call(method: Method, uri: &str, body: Value) -> Value {
    let (status, v) = call(method.clone(), uri, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{method} {uri}: {v}");
    v
}

#[tokio::test]
async fn v2_traces_start_in_progress_end_and_search() {
    let exp = new_experiment().await;
    let started = post(
        "/api/2.0/mlflow/traces",
        json!({"experiment_id": exp, "timestamp_ms": 1000,
               "request_metadata": [{"key": "mlflow.trace_schema.version", "value": "2"}],
               "tags": [{"key": "mlflow.traceName", "value": "x"}]}),
    )
    .await;
    let info = &started["trace_info"];
    let id = info["request_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(info["status"], "IN_PROGRESS");
    assert_eq!(info["timestamp_ms"], 1000);
    assert!(
        info["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "mlflow.artifactLocation")
    );
    let ended = ok_call(
        Method::PATCH,
        &format!("/api/2.0/mlflow/traces/{id}"),
        json!({"request_id": id, "timestamp_ms": 1250, "status": "OK",
               "request_metadata": [{"key": "mlflow.traceOutputs", "value": "{}"}], "tags": []}),
    )
    .await;
    assert_eq!(ended["trace_info"]["execution_time_ms"], 250);
    assert_eq!(ended["trace_info"]["status"], "OK");
    let got = get(&format!("/api/2.0/mlflow/traces/{id}/info")).await;
    assert_eq!(got["trace_info"]["request_id"], id.as_str());
    let found = get(&q(
        "/api/2.0/mlflow/traces",
        &[
            ("experiment_ids", &exp),
            ("filter", "status = 'OK'"),
            ("max_results", "10"),
        ],
    ))
    .await;
    assert_eq!(found["traces"][0]["request_id"], id.as_str());
    let msg = fails(
        Method::GET,
        "/api/2.0/mlflow/traces",
        None,
        BAD,
        "INVALID_PARAMETER_VALUE",
    )
    .await;
    assert!(
        msg.starts_with("Missing value for required parameter 'experiment_ids'."),
        "{msg}"
    );
    let msg = fails(
        Method::POST,
        "/api/2.0/mlflow/traces",
        Some(json!({"experiment_id": "987654", "timestamp_ms": 1})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "No Experiment with id=987654 exists");
}
