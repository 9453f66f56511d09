//! `/graphql` as MLflow's web UI uses it: the UI's own query documents, MLflow's response shape
//! (HTTP 200, `{"data", "errors": [strings] | null}`, keys sorted, longs as strings, unset fields at
//! their defaults), partial results, validation messages and limits; and the sampled metric
//! history route the charts read.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{api, call, get, new_experiment, new_run, post, q, run_id};

/// The run page's query, as the UI sends it (Apollo adds `__typename` everywhere).
const GET_RUN: &str = r#"query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
  mlflowGetRun(input: $data) {
    apiError { helpUrl code message __typename }
    run {
      info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId __typename }
      experiment { experimentId name tags { key value __typename } artifactLocation lifecycleStage lastUpdateTime __typename }
      modelVersions { status version name source __typename }
      data {
        metrics { key value step timestamp __typename }
        params { key value __typename }
        tags { key value __typename }
        __typename
      }
      inputs { datasetInputs { dataset { digest name profile schema source sourceType __typename } tags { key value __typename } __typename } modelInputs { modelId __typename } __typename }
      outputs { modelOutputs { modelId step __typename } __typename }
      __typename
    }
    __typename
  }
}"#;

async fn gql(body: Value) -> Value {
    let (status, v) = call(Method::POST, "/graphql", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// Every object's keys in sorted order, as MLflow's server writes them.
fn assert_sorted(v: &Value) {
    match v {
        Value::Object(o) => {
            let keys: Vec<&String> = o.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            o.values().for_each(assert_sorted);
        }
        Value::Array(items) => items.iter().for_each(assert_sorted),
        _ => {}
    }
}

#[tokio::test]
async fn the_run_page_query_reads_a_run() {
    let exp = new_experiment().await;
    let run = run_id(&new_run(&exp).await);
    post(
        &api("runs/log-batch"),
        json!({"run_id": run, "metrics": [{"key": "loss", "value": 0.5, "timestamp": 7, "step": 3}],
               "params": [{"key": "alpha", "value": "0.1"}], "tags": [{"key": "team", "value": "ml"}]}),
    )
    .await;
    let v = gql(
        json!({"query": GET_RUN, "operationName": "GetRun", "variables": {"data": {"runId": run}}}),
    )
    .await;
    assert_sorted(&v);
    assert_eq!(v["errors"], Value::Null);
    let r = &v["data"]["mlflowGetRun"];
    assert_eq!(r["__typename"], "MlflowGetRunResponse");
    assert_eq!(r["apiError"], Value::Null);
    assert_eq!(r["run"]["__typename"], "MlflowRunExtension");
    assert_eq!(r["run"]["info"]["runUuid"], run.as_str());
    assert_eq!(r["run"]["info"]["status"], "RUNNING");
    assert_eq!(r["run"]["info"]["startTime"], "1000");
    // A running run's unset end time is the protobuf default, as a long string.
    assert_eq!(r["run"]["info"]["endTime"], "0");
    assert_eq!(r["run"]["experiment"]["experimentId"], exp.as_str());
    assert_eq!(r["run"]["modelVersions"], json!([]));
    assert_eq!(
        r["run"]["data"]["metrics"],
        json!([{"__typename": "MlflowMetricExtension", "key": "loss", "step": "3", "timestamp": "7", "value": 0.5}])
    );
    assert_eq!(
        r["run"]["data"]["params"],
        json!([{"__typename": "MlflowParam", "key": "alpha", "value": "0.1"}])
    );
    assert_eq!(r["run"]["inputs"]["datasetInputs"], json!([]));
    assert_eq!(r["run"]["outputs"]["__typename"], "MlflowRunOutputs");
}

#[tokio::test]
async fn failures_are_strings_beside_partial_data() {
    let exp = new_experiment().await;
    let v = gql(json!({"query": format!(
        "{{ b: mlflowGetExperiment(input: {{experimentId: \"{exp}\"}}) {{ experiment {{ name creationTime }} }} a: mlflowGetRun(input: {{runId: \"nope\"}}) {{ run {{ info {{ runId }} }} }} }}"
    )}))
    .await;
    assert_eq!(v["data"]["a"], Value::Null);
    assert!(
        v["data"]["b"]["experiment"]["name"]
            .as_str()
            .unwrap()
            .starts_with("exp-")
    );
    assert!(v["data"]["b"]["experiment"]["creationTime"].is_string());
    assert_eq!(v["errors"], json!(["Run with id=nope not found"]));
    let keys: Vec<&String> = v["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["a", "b"]);

    for (query, error) in [
        (
            "{ mlflowGetRun(input: {runId: \"x\"}) { run { info { bogusField } } } }",
            "Cannot query field 'bogusField' on type 'MlflowRunInfo'.",
        ),
        (
            "{ mlflowGetRun(inp: {runId: \"x\"}) { run { info { runId } } } }",
            "Unknown argument 'inp' on field 'Query.mlflowGetRun'.",
        ),
        (
            "{ mlflowGetRun(input: {runId: \"x\"}) }",
            "Field 'mlflowGetRun' of type 'MlflowGetRunResponse' must have a selection of subfields. Did you mean 'mlflowGetRun { ... }'?",
        ),
        (
            "{ mlflowGetRun(input: {runId: \"x\"}) { run { info { runId @skip(if: true) } } } }",
            "Unknown directive '@skip'.",
        ),
        (
            "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { info { runId } } } }",
            "Variable '$d' of required type 'MlflowGetRunInput!' was not provided.",
        ),
    ] {
        let v = gql(json!({"query": query})).await;
        assert_eq!(v["data"], Value::Null, "{query}");
        assert_eq!(v["errors"], json!([error]), "{query}");
    }
    let v = gql(json!({"query": "{ mlflowGetRun(input: {runId: \"x\"} "})).await;
    assert!(
        v["errors"][0].as_str().unwrap().starts_with("Syntax Error"),
        "{v}"
    );
}

#[tokio::test]
async fn mlflow_limits_apply() {
    let field = |i: usize| format!("f{i}: test(inputString: \"x\") {{ output }}");
    let ten: Vec<String> = (0..10).map(field).collect();
    let v = gql(json!({"query": format!("{{ {} }}", ten.join(" "))})).await;
    assert_eq!(v["errors"], Value::Null, "{v}");
    assert_eq!(v["data"]["f9"]["output"], "x");
    let eleven: Vec<String> = (0..11).map(field).collect();
    let v = gql(json!({"query": format!("{{ {} }}", eleven.join(" "))})).await;
    assert_eq!(
        v["errors"],
        json!([
            "GraphQL queries should have at most 10 root fields, got 11 root fields. To increase the limit, set the MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS environment variable."
        ])
    );
    let deep = format!("{{ {}x{} }}", "a { ".repeat(10), " }".repeat(10));
    let v = gql(json!({"query": deep})).await;
    assert_eq!(v["errors"], json!(["Query exceeds maximum depth of 10"]));
}

#[tokio::test]
async fn fragments_mutations_and_variables() {
    let exp = new_experiment().await;
    let a = run_id(&new_run(&exp).await);
    new_run(&exp).await;
    let query = "mutation SearchRuns($data: MlflowSearchRunsInput!) { mlflowSearchRuns(input: $data) { runs { ...Info } __typename } } fragment Info on MlflowRunExtension { info { runUuid experimentId } }";
    let v = gql(json!({"query": query, "variables": {"data": {"experimentIds": [exp], "filter": format!("attributes.run_id = \"{a}\"")}}})).await;
    assert_eq!(v["errors"], Value::Null, "{v}");
    assert_eq!(
        v["data"]["mlflowSearchRuns"],
        json!({"__typename": "MlflowSearchRunsResponse", "runs": [{"info": {"experimentId": exp, "runUuid": a}}]})
    );
    // Variables given as JSON text (older clients, query strings) are read the same.
    let v = gql(json!({"query": "query Q($i: MlflowGetExperimentInput!) { mlflowGetExperiment(input: $i) { experiment { experimentId } } }",
        "variables": json!({"i": {"experimentId": exp}}).to_string()}))
    .await;
    assert_eq!(
        v["data"]["mlflowGetExperiment"]["experiment"]["experimentId"],
        exp.as_str()
    );
    let v = gql(json!({"query": "query Q($d: MlflowGetRunInput!) { mlflowGetRun(input: $d) { run { info { runId } } } }",
        "variables": {"d": {"runId": 123, "nope": 1}}}))
    .await;
    assert_eq!(v["data"], Value::Null);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2, "{v}");
}

#[tokio::test]
async fn sampled_metric_history_keeps_first_and_last_steps() {
    let exp = new_experiment().await;
    let run = run_id(&new_run(&exp).await);
    let metrics: Vec<Value> = (0..10)
        .map(|s| json!({"key": "loss", "value": f64::from(s), "timestamp": 100 + s, "step": s}))
        .collect();
    post(
        &api("runs/log-batch"),
        json!({"run_id": run, "metrics": metrics}),
    )
    .await;
    let route = api("metrics/get-history-bulk-interval");
    // Ten steps sampled to three: steps 0, 3 and 6 (every 10/3rd), the last (9) always.
    let v = get(&q(
        &route,
        &[
            ("run_ids", &run),
            ("metric_key", "loss"),
            ("max_results", "3"),
        ],
    ))
    .await;
    let steps: Vec<i64> = v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [0, 3, 6, 9]);
    assert_eq!(v["metrics"][0]["run_id"], run.as_str());
    // A range keeps only its steps.
    let v = get(&q(
        &route,
        &[
            ("run_ids", &run),
            ("metric_key", "loss"),
            ("start_step", "2"),
            ("end_step", "4"),
        ],
    ))
    .await;
    assert_eq!(v["metrics"].as_array().unwrap().len(), 3);
    let (status, v) = call(
        Method::GET,
        &q(
            &route,
            &[
                ("run_ids", &run),
                ("metric_key", "loss"),
                ("start_step", "2"),
            ],
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "If either start step or end step are specified, both must be specified."
    );
    // The GraphQL field reads the same route.
    let v = gql(json!({"query": format!(
        "{{ mlflowGetMetricHistoryBulkInterval(input: {{runIds: [\"{run}\"], metricKey: \"loss\", maxResults: 3}}) {{ metrics {{ step value runId }} }} }}"
    )}))
    .await;
    assert_eq!(
        v["data"]["mlflowGetMetricHistoryBulkInterval"]["metrics"][3],
        json!({"runId": run, "step": "9", "value": 9.0})
    );
}
