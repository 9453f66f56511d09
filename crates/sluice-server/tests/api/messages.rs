//! MLflow's validation rules and error messages, word for word: clients and users match on them.
//! Every expected text below is what MLflow 3's server (SQL store) answers for the same request
//! (`mlflow/store/tracking/sqlalchemy_store.py`, `mlflow/utils/validation.py`,
//! `mlflow/store/model_registry/sqlalchemy_store.py`).

use axum::http::Method;
use serde_json::json;

use super::{BAD, MISSING, api, fails, new_experiment, new_run, post, q, run_id, unique};

const INVALID: &str = "INVALID_PARAMETER_VALUE";

#[tokio::test]
async fn missing_and_existing_resources_say_what_mlflow_says() {
    let name = unique("exp");
    let id = post(&api("experiments/create"), json!({"name": name})).await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let msg = fails(
        Method::POST,
        &api("experiments/create"),
        Some(json!({"name": name})),
        BAD,
        "RESOURCE_ALREADY_EXISTS",
    )
    .await;
    assert_eq!(msg, format!("Experiment(name={name}) already exists."));

    let msg = fails(
        Method::GET,
        &q(&api("experiments/get"), &[("experiment_id", "987654")]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "No Experiment with id=987654 exists");

    let msg = fails(
        Method::GET,
        &q(&api("runs/get"), &[("run_id", "0123abc")]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "Run with id=0123abc not found");

    let run = run_id(&new_run(&id).await);
    let msg = fails(
        Method::POST,
        &api("runs/delete-tag"),
        Some(json!({"run_id": run, "key": "never"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, format!("No tag with name: never in run with id {run}"));

    let msg = fails(
        Method::POST,
        &api("experiments/delete-experiment-tag"),
        Some(json!({"experiment_id": id, "key": "never"})),
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(
        msg,
        format!("No tag with name: never in experiment with id {id}")
    );

    let model = unique("model");
    post(&api("registered-models/create"), json!({"name": model})).await;
    let msg = fails(
        Method::POST,
        &api("registered-models/create"),
        Some(json!({"name": model})),
        BAD,
        "RESOURCE_ALREADY_EXISTS",
    )
    .await;
    assert_eq!(
        msg,
        format!("Registered Model (name={model}) already exists.")
    );
    let msg = fails(
        Method::GET,
        &q(&api("registered-models/get"), &[("name", "no-such-model")]),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(msg, "Registered Model with name=no-such-model not found");
    let msg = fails(
        Method::GET,
        &q(
            &api("model-versions/get"),
            &[("name", &model), ("version", "7")],
        ),
        None,
        MISSING,
        "RESOURCE_DOES_NOT_EXIST",
    )
    .await;
    assert_eq!(
        msg,
        format!("Model Version (name={model}, version=7) not found")
    );
}

#[tokio::test]
async fn params_are_logged_once_per_key() {
    let run = run_id(&new_run(&new_experiment().await).await);
    let msg = fails(
        Method::POST,
        &api("runs/log-batch"),
        Some(json!({"run_id": run, "params": [
            {"key": "a", "value": "1"}, {"key": "b", "value": "2"}, {"key": "a", "value": "1"}
        ]})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        "Duplicate parameter keys have been submitted: ['a']. Please ensure the request contains only one param value per param key."
    );

    post(
        &api("runs/log-batch"),
        json!({"run_id": run, "params": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
    )
    .await;
    // The same values again are no change.
    post(
        &api("runs/log-batch"),
        json!({"run_id": run, "params": [{"key": "a", "value": "1"}]}),
    )
    .await;
    let msg = fails(
        Method::POST,
        &api("runs/log-batch"),
        Some(json!({"run_id": run, "params": [
            {"key": "a", "value": "9"}, {"key": "b", "value": "2"}, {"key": "c", "value": "3"}
        ]})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        format!(
            "Changing param values is not allowed. Params were already logged='[{{'key': 'a', 'old_value': '1', 'new_value': '9'}}]' for run ID='{run}'."
        )
    );
    let msg = fails(
        Method::POST,
        &api("runs/log-parameter"),
        Some(json!({"run_id": run, "key": "b", "value": "3"})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        format!(
            "Changing param values is not allowed. Param with key='b' was already logged with value='2' for run ID='{run}'. Attempted logging new value '3'."
        )
    );
    // A refused batch logs nothing: `c` is not there.
    let got = super::get(&q(&api("runs/get"), &[("run_id", &run)])).await;
    let keys: Vec<&str> = got["run"]["data"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a", "b"]);
}

#[tokio::test]
async fn names_follow_mlflow_rules() {
    let run = run_id(&new_run(&new_experiment().await).await);
    let chars = "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).";
    let cases = [
        (
            "runs/log-metric",
            json!({"run_id": run, "key": "bad$name", "value": 1.0, "timestamp": 1, "step": 0}),
            format!("Invalid value \"bad$name\" for parameter 'name' supplied: {chars}"),
        ),
        (
            "runs/log-parameter",
            json!({"run_id": run, "key": "a/../b", "value": "1"}),
            "Invalid value \"a/../b\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'b'".to_owned(),
        ),
        (
            "runs/set-tag",
            json!({"run_id": run, "key": "/abs", "value": "x"}),
            "Invalid value \"/abs\" for parameter 'key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '/abs'".to_owned(),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "metrics": [
                {"key": "ok", "value": 1.0, "timestamp": 1, "step": 0},
                {"key": "no!", "value": 1.0, "timestamp": 1, "step": 0}
            ]}),
            format!("Invalid value \"no!\" for parameter 'metrics[1].name' supplied: {chars}"),
        ),
        (
            "runs/log-batch",
            json!({"run_id": run, "tags": [{"key": "./t", "value": "x"}]}),
            "Invalid value \"./t\" for parameter 'tags[0].key' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 't'".to_owned(),
        ),
        (
            "runs/log-parameter",
            json!({"run_id": run, "key": "k".repeat(251), "value": "1"}),
            "'Param key' exceeds the maximum length of 250 characters".to_owned(),
        ),
    ];
    for (route, body, want) in cases {
        let msg = fails(Method::POST, &api(route), Some(body), BAD, INVALID).await;
        assert_eq!(msg, want, "{route}");
    }
    // Every character class MLflow allows is accepted.
    post(
        &api("runs/log-metric"),
        json!({"run_id": run, "key": "loss/train:epoch 1.x-y_z", "value": 1.0, "timestamp": 1, "step": 0}),
    )
    .await;

    // A metric value that is not a number.
    let msg = fails(
        Method::POST,
        &api("runs/log-metric"),
        Some(json!({"run_id": run, "key": "m", "value": "abc", "timestamp": 1})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        "Invalid value \"abc\" for parameter 'value' supplied:  Hint: Value was of type 'str'. See the API docs for more information about request parameters."
    );
    let msg = fails(
        Method::POST,
        &api("runs/log-batch"),
        Some(json!({"run_id": run, "metrics": [{"key": "m", "value": "abc", "timestamp": 5}]})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        "Invalid value \"abc\" for parameter 'metrics[0].value' supplied: (timestamp=5). Please specify value as a valid double (64-bit floating point)"
    );

    // A deleted run takes nothing more.
    post(&api("runs/delete"), json!({"run_id": run})).await;
    let msg = fails(
        Method::POST,
        &api("runs/set-tag"),
        Some(json!({"run_id": run, "key": "t", "value": "x"})),
        BAD,
        INVALID,
    )
    .await;
    assert_eq!(
        msg,
        format!("The run {run} must be in the 'active' state. Current state is deleted.")
    );
}

#[tokio::test]
async fn model_versions_may_name_a_run_the_server_does_not_know() {
    let model = unique("external");
    post(&api("registered-models/create"), json!({"name": model})).await;
    let v = post(
        &api("model-versions/create"),
        json!({"name": model, "source": "s3://bucket/model", "run_id": "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"}),
    )
    .await;
    assert_eq!(
        v["model_version"]["run_id"],
        "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
    );
    assert_eq!(v["model_version"]["version"], "1");
}
