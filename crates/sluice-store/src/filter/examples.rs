//! MLflow's own filter examples (its search documentation and the tests of its SQL stores),
//! run against a real store of every entity: what each filter matches, in order, or the error
//! it gives. The expectations are MLflow's semantics: the latest metric value for runs, any
//! value for logged models; a missing key matches nothing, not even `!=`; a NaN metric matches
//! only `!=` and sorts after numbers but before runs without it; `LIKE` is case-sensitive,
//! `ILIKE` is not. The same table runs on SQLite and, with `SLUICE_TEST_POSTGRES`, on
//! PostgreSQL.

use std::collections::BTreeMap;

use crate::Store;
use crate::registry::{LoggedModelOrder, NewLoggedModel, NewModelVersion};
use crate::traces::{TraceInfo, TraceSearch};
use crate::tracking::{KeyValue, Metric, ViewType};

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

fn metric(key: &str, value: f64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp: 1000 + step,
        step,
    }
}

/// What a search gives: names in order, or an error containing the text.
type Outcome = Result<Vec<String>, String>;

fn outcome<T>(got: crate::Result<Vec<T>>, name: impl Fn(&T) -> String) -> Outcome {
    got.map(|v| v.iter().map(name).collect())
        .map_err(|e| e.to_string())
}

/// Checks each `(filter or order, expected)` row; `Ok` lists what matches, in order, `Err`
/// a part of the message.
fn check(entity: &str, rows: &[(&str, Result<&[&str], &str>)], search: impl Fn(&str) -> Outcome) {
    let mut failures = Vec::new();
    for (query, want) in rows {
        let got = search(query);
        let ok = match (want, &got) {
            (Ok(names), Ok(found)) => found == names,
            (Err(part), Err(msg)) => msg.contains(part),
            _ => false,
        };
        if !ok {
            failures.push(format!("{entity} `{query}`: wanted {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

struct Runs {
    ids: BTreeMap<String, String>,
}

/// Four runs started at 1000..4000 (newest first by default: delta, gamma, beta, alpha).
fn seed_runs(s: &mut Store, exp: &str) -> Runs {
    let mut ids = BTreeMap::new();
    for (start, name) in [
        (1000, "alpha"),
        (2000, "beta"),
        (3000, "gamma"),
        (4000, "Delta"),
    ] {
        let r = s
            .create_run(exp, "u", Some(name), Some(start), &[])
            .unwrap();
        ids.insert(name.to_owned(), r.info.run_uuid);
    }
    let id = |n: &str| ids[n].clone();
    // alpha: acc 0.9 then 0.5 (latest); rmse 1.
    s.log_batch(
        &id("alpha"),
        &[
            metric("acc", 0.9, 1),
            metric("acc", 0.5, 2),
            metric("rmse", 1.0, 0),
        ],
        &[kv("model", "LR"), kv("lr", "0.1")],
        &[kv("env", "prod"), kv("team", "A b")],
    )
    .unwrap();
    s.log_batch(
        &id("beta"),
        &[metric("acc", 0.95, 0), metric("rmse", f64::NAN, 0)],
        &[kv("model", "RF"), kv("lr", "0_1")],
        &[kv("env", "dev")],
    )
    .unwrap();
    s.log_batch(
        &id("gamma"),
        &[],
        &[kv("model", "lr-other")],
        &[kv("env", "")],
    )
    .unwrap();
    s.log_batch(
        &id("Delta"),
        &[metric("acc", -1.0, 0)],
        &[kv("model-type", "x")],
        &[kv("my tag", "v")],
    )
    .unwrap();
    s.update_run(&id("alpha"), Some("FINISHED"), Some(1500), None)
        .unwrap();
    let dataset = |name: &str, digest: &str, context: &str| {
        serde_json::json!({
            "tags": [{"key": "mlflow.data.context", "value": context}],
            "dataset": {"name": name, "digest": digest, "source_type": "local", "source": "{}"}
        })
    };
    s.log_inputs(&id("alpha"), &[dataset("train-set", "d1", "training")], &[])
        .unwrap();
    s.log_inputs(&id("beta"), &[dataset("eval-set", "d2", "eval")], &[])
        .unwrap();
    Runs { ids }
}

#[test]
fn mlflow_run_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::testing::fresh_store(dir.path()).unwrap();
    let exp = s.create_experiment("runs", None, &[]).unwrap();
    let runs = seed_runs(&mut s, &exp);
    let names: BTreeMap<String, String> = runs
        .ids
        .iter()
        .map(|(n, id)| (id.clone(), n.clone()))
        .collect();
    let search = |filter: &str, order: &[String]| {
        outcome(
            s.search_runs(
                std::slice::from_ref(&exp),
                Some(filter),
                ViewType::ActiveOnly,
                order,
                100,
                0,
            )
            .map(|(r, _)| r),
            |r| names[&r.info.run_uuid].clone(),
        )
    };
    let in_list = format!(
        "run_id IN ('{}', '{}')",
        runs.ids["alpha"], runs.ids["beta"]
    );
    let all: &[&str] = &["Delta", "gamma", "beta", "alpha"];
    check(
        "runs",
        &[
            ("", Ok(all)),
            // The latest value counts: alpha logged 0.9, then 0.5.
            ("metrics.acc > 0.6", Ok(&["beta"])),
            ("metric.acc >= 0.5", Ok(&["beta", "alpha"])),
            ("metrics.acc < 0", Ok(&["Delta"])),
            // NaN matches `!=` only; a run without the metric matches nothing.
            ("metrics.rmse != 1", Ok(&["beta"])),
            ("metrics.rmse = 0", Ok(&[])),
            ("metrics.rmse <= 1", Ok(&["alpha"])),
            // A run without the param does not match `!=`.
            ("params.model != 'LR'", Ok(&["gamma", "beta"])),
            ("params.model LIKE 'L%'", Ok(&["alpha"])),
            ("params.model ILIKE 'l%'", Ok(&["gamma", "alpha"])),
            ("params.model like '%R%'", Ok(&["beta", "alpha"])),
            ("parameters.model = \"RF\"", Ok(&["beta"])),
            ("params.\"model-type\" = 'x'", Ok(&["Delta"])),
            // `_` is a wildcard; a backslash escapes it (alike on both engines).
            ("params.lr LIKE '0_1'", Ok(&["beta", "alpha"])),
            ("params.lr LIKE '0\\_1'", Ok(&["beta"])),
            ("tags.env IS NULL", Ok(&["Delta"])),
            ("tags.env IS NOT NULL", Ok(&["gamma", "beta", "alpha"])),
            ("tags.env = ''", Ok(&["gamma"])),
            ("tags.`my tag` = 'v'", Ok(&["Delta"])),
            ("tags.team = 'A b' and tag.env != 'dev'", Ok(&["alpha"])),
            (
                "tags.env IS NULL AND params.`model-type` = 'x'",
                Ok(&["Delta"]),
            ),
            ("attributes.status = 'FINISHED'", Ok(&["alpha"])),
            ("run.status != 'FINISHED'", Ok(&["Delta", "gamma", "beta"])),
            ("status = 'finished'", Ok(&[])),
            (&in_list, Ok(&["beta", "alpha"])),
            ("attributes.run_name = 'alpha'", Ok(&["alpha"])),
            ("`Run name` ILIKE 'd%'", Ok(&["Delta"])),
            ("run_name LIKE 'd%'", Ok(&[])),
            ("attributes.start_time >= 3000", Ok(&["Delta", "gamma"])),
            ("created < 2000", Ok(&["alpha"])),
            ("end_time = 1500", Ok(&["alpha"])),
            ("datasets.name = 'train-set'", Ok(&["alpha"])),
            ("datasets.digest LIKE 'd%'", Ok(&["beta", "alpha"])),
            ("dataset.context IN ('eval', 'other')", Ok(&["beta"])),
            ("datasets.context != 'eval'", Ok(&["alpha"])),
            ("metrics.acc > 0 AND params.model = 'RF'", Ok(&["beta"])),
            // Errors, with MLflow's reasons.
            ("metric.acc = '5'", Err("Expected numeric value type")),
            ("params.model = 5", Err("Expected a quoted string value")),
            (
                "attribute.status = 1",
                Err("Expected a quoted string value"),
            ),
            ("m.acc >= 0.94", Err("Invalid entity type 'm'")),
            ("acc >= 0.94", Err("Invalid attribute key 'acc'")),
            (
                "attribute.experiment_id != '1'",
                Err("Invalid attribute key"),
            ),
            (
                "metrics.acc > 0.1 OR params.model = 'LR'",
                Err("`OR` is not supported"),
            ),
            (
                "metrics.acc IS NULL",
                Err("IS NULL / IS NOT NULL is only supported"),
            ),
            ("params.model > 'a'", Err("Invalid comparator '>'")),
            (
                "attributes.start_time LIKE 1234",
                Err("Invalid comparator 'LIKE'"),
            ),
            ("status IN ('FINISHED')", Err("Invalid comparator 'IN'")),
            ("params.model IN ('LR')", Err("Invalid comparator 'IN'")),
            ("params.model RLIKE 'L'", Err("Invalid comparator 'RLIKE'")),
            ("datasets.status = 'x'", Err("Invalid dataset key")),
            ("params.model = 'LR", Err("unterminated")),
            (
                "params.model LIKE 'a\\'",
                Err("ends with the escape character"),
            ),
        ],
        |f| search(f, &[]),
    );
    check(
        "runs order_by",
        &[
            ("metrics.acc ASC", Ok(&["Delta", "alpha", "beta", "gamma"])),
            ("metrics.acc DESC", Ok(&["beta", "alpha", "Delta", "gamma"])),
            // Numbers, then NaN, then runs without the metric (newest first).
            ("metrics.rmse", Ok(&["alpha", "beta", "Delta", "gamma"])),
            (
                "metrics.rmse DESC",
                Ok(&["alpha", "beta", "Delta", "gamma"]),
            ),
            // Binary order: lower case after upper case; runs without the param last.
            (
                "params.model DESC",
                Ok(&["gamma", "beta", "alpha", "Delta"]),
            ),
            ("params.model ASC", Ok(&["alpha", "beta", "gamma", "Delta"])),
            (
                "attributes.end_time DESC",
                Ok(&["alpha", "Delta", "gamma", "beta"]),
            ),
            ("run_name", Ok(&["Delta", "alpha", "beta", "gamma"])),
            ("`tags`.env", Ok(&["gamma", "beta", "alpha", "Delta"])),
            ("datasets.name", Err("cannot be ordered")),
            ("metrics.acc sideways", Err("not a direction")),
        ],
        |o| search("", &[o.to_owned()]),
    );
    // A filter that guarantees the value (`metrics.acc > -5`: every match has a number) sorts by
    // it alone, the way an index can; one that does not (`!=` also matches NaN, `IS NULL` no
    // value) keeps MLflow's rank: numbers, then NaN, then none. The results are the same.
    check(
        "runs filtered and ordered by the same key",
        &[
            (
                "metrics.acc > -5 | metrics.acc DESC",
                Ok(&["beta", "alpha", "Delta"]),
            ),
            ("metrics.acc >= 0.5 | metrics.acc", Ok(&["alpha", "beta"])),
            ("metrics.rmse != 2 | metrics.rmse", Ok(&["alpha", "beta"])),
            (
                "metrics.rmse != 2 | metrics.rmse DESC",
                Ok(&["alpha", "beta"]),
            ),
            (
                "params.model != 'x' | params.model DESC",
                Ok(&["gamma", "beta", "alpha"]),
            ),
            ("tags.env IS NULL | tags.env", Ok(&["Delta"])),
            (
                "metrics.acc > -5 AND params.model LIKE '%' | params.model",
                Ok(&["alpha", "beta"]),
            ),
            // Other comparisons on the joined value test it in place, with the same meaning.
            (
                "metrics.acc > -5 AND metrics.acc != 0.5 | metrics.acc",
                Ok(&["Delta", "beta"]),
            ),
            (
                "params.model IS NOT NULL AND params.model != 'LR' | params.model",
                Ok(&["beta", "gamma"]),
            ),
            ("tags.env = 'dev' AND tags.env IS NULL | tags.env", Ok(&[])),
        ],
        |q| {
            let (filter, order) = q.split_once(" | ").unwrap();
            search(filter, &[order.to_owned()])
        },
    );
    // Sorted by a value some runs lack, a search is read part by part (numbers, NaN, none):
    // pages of any size walk the same order, and later keys order each part.
    let walk = |order: &[&str], size: usize| -> Vec<String> {
        let order: Vec<String> = order.iter().map(|o| (*o).to_owned()).collect();
        let (mut seen, mut offset) = (Vec::new(), 0);
        loop {
            let (page, next) = s
                .search_runs(
                    std::slice::from_ref(&exp),
                    None,
                    ViewType::ActiveOnly,
                    &order,
                    size,
                    offset,
                )
                .unwrap();
            assert!(page.len() <= size);
            seen.extend(page.iter().map(|r| names[&r.info.run_uuid].clone()));
            match next {
                Some(n) => offset = n,
                None => return seen,
            }
        }
    };
    for size in [1, 2, 3, 100] {
        assert_eq!(
            walk(&["metrics.rmse"], size),
            ["alpha", "beta", "Delta", "gamma"],
            "pages of {size}"
        );
        assert_eq!(
            walk(&["metrics.acc DESC"], size),
            ["beta", "alpha", "Delta", "gamma"],
            "pages of {size}"
        );
        // Without rmse: Delta (no model param) before gamma only by the second key.
        assert_eq!(
            walk(&["metrics.rmse", "params.model DESC"], size),
            ["alpha", "beta", "gamma", "Delta"],
            "pages of {size}"
        );
        assert_eq!(
            walk(&["tags.env DESC", "metrics.acc"], size),
            ["alpha", "beta", "gamma", "Delta"],
            "pages of {size}"
        );
    }
    let dup = search("", &["start_time".into(), "created DESC".into()]).unwrap_err();
    assert!(dup.contains("duplicate fields"), "{dup}");
}

#[test]
fn mlflow_experiment_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::testing::fresh_store(dir.path()).unwrap();
    let mut ids = BTreeMap::new();
    for name in ["a", "ab", "Abc", "x != y and z"] {
        ids.insert(name, s.create_experiment(name, None, &[]).unwrap());
    }
    s.set_experiment_tag(&ids["a"], "owner", "me").unwrap();
    s.set_experiment_tag(&ids["ab"], "owner", "you").unwrap();
    let search = |filter: &str, order: &[String]| {
        let order = if order.is_empty() {
            vec!["name ASC".to_owned()]
        } else {
            order.to_vec()
        };
        outcome(
            s.search_experiments(ViewType::ActiveOnly, Some(filter), &order, 100, 0)
                .map(|(e, _)| e),
            |e| e.name.clone(),
        )
    };
    let id_in = format!("experiment_id IN ('{}', '{}')", ids["a"], ids["Abc"]);
    let id_eq = format!("attribute.experiment_id = '{}'", ids["ab"]);
    check(
        "experiments",
        &[
            ("name LIKE 'a%'", Ok(&["a", "ab"])),
            ("name ILIKE 'a%'", Ok(&["Abc", "a", "ab"])),
            (
                "attribute.`name` != 'a'",
                Ok(&["Abc", "Default", "ab", "x != y and z"]),
            ),
            ("name = 'x != y and z'", Ok(&["x != y and z"])),
            ("tags.owner = 'me'", Ok(&["a"])),
            ("tags.owner != 'me'", Ok(&["ab"])),
            (
                "tags.owner IS NULL",
                Ok(&["Abc", "Default", "x != y and z"]),
            ),
            ("tag.owner IS NOT NULL and name LIKE '%b'", Ok(&["ab"])),
            (&id_in, Ok(&["Abc", "a"])),
            (&id_eq, Ok(&["ab"])),
            (
                "creation_time > 0 AND last_update_time > 0 AND name = 'a'",
                Ok(&["a"]),
            ),
            ("experiment_id = 1", Err("Expected a quoted string value")),
            ("experiment_id > '1'", Err("Invalid comparator '>'")),
            ("experiment_id = 'x'", Err("Invalid value 'x'")),
            ("name IN ('a')", Err("Invalid comparator 'IN'")),
            ("creation_time = '1'", Err("Expected numeric value type")),
            (
                "name IS NULL",
                Err("IS NULL / IS NOT NULL is only supported"),
            ),
            ("params.x = 'a'", Err("Invalid entity type 'params'")),
            ("size = 'a'", Err("Invalid attribute key 'size'")),
        ],
        |f| search(f, &[]),
    );
    check(
        "experiments order_by",
        &[
            (
                "name DESC",
                Ok(&["x != y and z", "ab", "a", "Default", "Abc"]),
            ),
            ("tags.owner", Err("Invalid order_by entity")),
        ],
        |o| search("", &[o.to_owned()]),
    );
}

#[test]
fn mlflow_registry_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::testing::fresh_store(dir.path()).unwrap();
    let exp = s.create_experiment("e", None, &[]).unwrap();
    let r1 = s
        .create_run(&exp, "u", Some("r1"), None, &[])
        .unwrap()
        .info
        .run_uuid;
    let r2 = s
        .create_run(&exp, "u", Some("r2"), None, &[])
        .unwrap()
        .info
        .run_uuid;
    for name in ["RM4a", "rm4b", "other"] {
        s.create_registered_model(name, &[], None).unwrap();
    }
    s.create_registered_model("my-prompt", &[kv("mlflow.prompt.is_prompt", "true")], None)
        .unwrap();
    s.set_registered_model_tag("RM4a", "t3", "XYZ").unwrap();
    for (name, source, run) in [
        ("RM4a", "s3://a/1", &r1),
        ("RM4a", "s3://b/2", &r2),
        ("rm4b", "s3://c/1", &r1),
    ] {
        s.create_model_version(&NewModelVersion {
            name,
            source,
            run_id: Some(run),
            ..NewModelVersion::default()
        })
        .unwrap();
    }
    s.set_model_version_tag("RM4a", "2", "stage", "x").unwrap();
    let models = |filter: &str, order: &[String]| {
        outcome(
            s.search_registered_models(Some(filter), order, 100, 0)
                .map(|(m, _)| m),
            |m| m.name.clone(),
        )
    };
    check(
        "registered models",
        &[
            ("", Ok(&["RM4a", "other", "rm4b"])),
            ("name ILIKE '%rm4a%'", Ok(&["RM4a"])),
            ("name LIKE 'rm%'", Ok(&["rm4b"])),
            ("name IN ('RM4a', 'other')", Ok(&["RM4a", "other"])),
            ("name NOT IN ('RM4a')", Ok(&["other", "rm4b"])),
            ("tags.t3 = 'XYz'", Ok(&[])),
            ("tags.T3 = 'XYZ'", Ok(&[])),
            ("tag.t3 = 'XYZ'", Ok(&["RM4a"])),
            ("tags.t3 != 'x'", Ok(&["RM4a"])),
            (
                "tags.`mlflow.prompt.is_prompt` = 'false'",
                Ok(&["RM4a", "other", "rm4b"]),
            ),
            (
                "tags.`mlflow.prompt.is_prompt` != 'true'",
                Ok(&["RM4a", "other", "rm4b"]),
            ),
            (
                "tags.`mlflow.prompt.is_prompt` = 'true'",
                Ok(&["my-prompt"]),
            ),
            ("name!=something", Err("expected a value")),
            ("run_id='somerunID'", Err("Invalid attribute name: run_id")),
            (
                "tags.t3 IS NULL",
                Err("IS NULL / IS NOT NULL is only supported"),
            ),
            ("name > 'a'", Err("Invalid comparator '>'")),
        ],
        |f| models(f, &[]),
    );
    check(
        "registered models order_by",
        &[
            ("name DESC", Ok(&["rm4b", "other", "RM4a"])),
            ("creation_timestamp DESC", Err("Invalid order by key")),
        ],
        |o| models("", &[o.to_owned()]),
    );
    let versions = |filter: &str| {
        outcome(
            s.search_model_versions(
                Some(filter),
                &["name ASC".into(), "version_number DESC".into()],
                100,
                0,
            )
            .map(|(v, _)| v),
            |v| format!("{}/{}", v.name, v.version),
        )
    };
    let by_run = format!("run_id IN ('{r1}')");
    check(
        "model versions",
        &[
            ("name = 'RM4a'", Ok(&["RM4a/2", "RM4a/1"])),
            (&by_run, Ok(&["RM4a/1", "rm4b/1"])),
            ("version_number > 1", Ok(&["RM4a/2"])),
            ("version_number = '1'", Ok(&["RM4a/1", "rm4b/1"])),
            ("source_path LIKE 's3://a/%'", Ok(&["RM4a/1"])),
            ("tags.stage = 'x'", Ok(&["RM4a/2"])),
            ("tags.stage != 'y'", Ok(&["RM4a/2"])),
            ("source_path IN ('x')", Err("Invalid comparator 'IN'")),
            ("version_number LIKE '1'", Err("Invalid comparator 'LIKE'")),
            (
                "version_number = 'abc'",
                Err("Invalid value for numeric attribute"),
            ),
            ("name = 1", Err("Expected a quoted string value")),
            ("creation_timestamp > 1", Err("Invalid attribute name")),
        ],
        versions,
    );
}

#[test]
fn mlflow_logged_model_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::testing::fresh_store(dir.path()).unwrap();
    let exp = s.create_experiment("e", None, &[]).unwrap();
    let run = s
        .create_run(&exp, "u", None, None, &[])
        .unwrap()
        .info
        .run_uuid;
    let mut ids = BTreeMap::new();
    for (name, tags, params) in [
        ("m1", vec![], vec![kv("lr", "0.1")]),
        ("m2", vec![kv("tag 3", "val3")], vec![]),
        ("m3", vec![], vec![]),
    ] {
        let m = s
            .create_logged_model(&NewLoggedModel {
                experiment_id: &exp,
                name: Some(name),
                source_run_id: Some(&run),
                model_type: Some("sklearn"),
                tags: &tags,
                params: &params,
            })
            .unwrap();
        ids.insert(m.model_id.clone(), name.to_owned());
    }
    let id = |n: &str| ids.iter().find(|(_, v)| *v == n).unwrap().0.clone();
    s.log_batch_for_model(
        &run,
        &[metric("acc", 0.5, 1), metric("acc", 0.9, 2)],
        &[],
        &[],
        Some(&id("m1")),
    )
    .unwrap();
    s.log_batch_for_model(&run, &[metric("acc", 0.7, 1)], &[], &[], Some(&id("m2")))
        .unwrap();
    let search = |filter: &str, order: &[LoggedModelOrder]| {
        let mut order = order.to_vec();
        if order.is_empty() {
            order.push(LoggedModelOrder {
                field_name: "name".into(),
                ascending: true,
            });
        }
        outcome(
            s.search_logged_models(std::slice::from_ref(&exp), Some(filter), &order, 100, 0)
                .map(|(m, _)| m),
            |m| ids[&m.model_id].clone(),
        )
    };
    check(
        "logged models",
        &[
            ("name IN ('m1')", Ok(&["m1"])),
            ("name NOT IN ('m1', 'foo')", Ok(&["m2", "m3"])),
            // Any value the model logged counts (m1 logged 0.5, then 0.9).
            ("metrics.acc < 0.6", Ok(&["m1"])),
            ("metrics.acc > 0.8", Ok(&["m1"])),
            ("metrics.acc > 0.6", Ok(&["m1", "m2"])),
            ("tags.`tag 3` = 'val3'", Ok(&["m2"])),
            ("params.lr = '0.1'", Ok(&["m1"])),
            ("params.lr != '0.2'", Ok(&["m1"])),
            (
                "model_type = 'sklearn' AND name LIKE 'm%'",
                Ok(&["m1", "m2", "m3"]),
            ),
            ("foo.bar = 'a'", Err("Invalid entity type 'foo'")),
            ("name > 'foo'", Err("Invalid comparator '>'")),
            ("metrics.foo LIKE 0", Err("Invalid comparator 'LIKE'")),
            ("Foo", Err("expected a comparator")),
        ],
        |f| search(f, &[]),
    );
    let by = |field: &str, ascending: bool| {
        search(
            "",
            &[LoggedModelOrder {
                field_name: field.into(),
                ascending,
            }],
        )
    };
    // The latest value sorts (m1's is 0.9); a model without the metric is last either way.
    assert_eq!(by("metrics.acc", true).unwrap(), ["m2", "m1", "m3"]);
    assert_eq!(by("metrics.acc", false).unwrap(), ["m1", "m2", "m3"]);
    assert_eq!(by("name", false).unwrap(), ["m3", "m2", "m1"]);
    assert!(by("tags.x", true).unwrap_err().contains("Only metrics"));
}

#[test]
fn mlflow_trace_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::testing::fresh_store(dir.path()).unwrap();
    let exp = s.create_experiment("e", None, &[]).unwrap();
    for (id, at, ms, state, name, run) in [
        ("tr-a", 1000, 5, "OK", "predict", Some("run0")),
        ("tr-b", 2000, 50, "ERROR", "train", Some("run1")),
        ("tr-c", 3000, 500, "OK", "predict", None),
    ] {
        s.start_trace(&TraceInfo {
            trace_id: id.into(),
            experiment_id: exp.clone(),
            request_time: at,
            execution_duration: Some(ms),
            state: state.into(),
            tags: BTreeMap::from([("mlflow.traceName".into(), name.into())]),
            metadata: run
                .map(|r| BTreeMap::from([("mlflow.sourceRun".into(), r.into())]))
                .unwrap_or_default(),
            ..TraceInfo::default()
        })
        .unwrap();
    }
    let search = |filter: &str, order: &[String]| {
        outcome(
            s.search_traces(&TraceSearch {
                experiment_ids: std::slice::from_ref(&exp),
                filter: Some(filter),
                order_by: order,
                max_results: 100,
                offset: 0,
            })
            .map(|(t, _)| t),
            |t| t.trace_id.clone(),
        )
    };
    check(
        "traces",
        &[
            ("", Ok(&["tr-c", "tr-b", "tr-a"])),
            (
                "`timestamp` >= 1 AND execution_time < 100",
                Ok(&["tr-b", "tr-a"]),
            ),
            ("metadata.mlflow.sourceRun != 'run0'", Ok(&["tr-b"])),
            ("request_metadata.`mlflow.sourceRun` IS NULL", Ok(&["tr-c"])),
            ("run_id = 'run0'", Ok(&["tr-a"])),
            ("name = 'predict'", Ok(&["tr-c", "tr-a"])),
            ("trace.name LIKE 'tr%'", Ok(&["tr-b"])),
            ("status IN ('ERROR')", Ok(&["tr-b"])),
            ("attributes.status != 'ERROR'", Ok(&["tr-c", "tr-a"])),
            ("end_time_ms > 2040", Ok(&["tr-c", "tr-b"])),
            ("timestamp_ms > '1500'", Ok(&["tr-c", "tr-b"])),
            ("tags.missing IS NULL", Ok(&["tr-c", "tr-b", "tr-a"])),
            // RLIKE: a regular expression found anywhere, case-sensitive.
            ("name RLIKE '^pre'", Ok(&["tr-c", "tr-a"])),
            ("trace.name RLIKE 'ai'", Ok(&["tr-b"])),
            ("status RLIKE 'ERR|FAIL'", Ok(&["tr-b"])),
            (
                "metadata.mlflow.sourceRun RLIKE 'run[0-9]$'",
                Ok(&["tr-b", "tr-a"]),
            ),
            ("name RLIKE 'ICT'", Ok(&[])),
            ("name RLIKE '('", Err("is invalid")),
            ("trace.status < 'OK'", Err("Invalid comparator '<'")),
            ("name IN ('foo', 'bar')", Err("Invalid comparator 'IN'")),
            (
                "trace.tags.foo = 'bar'",
                Err("Invalid attribute key 'tags.foo'"),
            ),
            ("state = 'OK'", Err("Invalid attribute key 'state'")),
            (
                "timestamp_ms > 'soon'",
                Err("Invalid value for numeric attribute"),
            ),
        ],
        |f| search(f, &[]),
    );
    check(
        "traces order_by",
        &[
            // Ties (two OK traces) newest first.
            ("status", Ok(&["tr-b", "tr-c", "tr-a"])),
            ("execution_time_ms DESC", Ok(&["tr-c", "tr-b", "tr-a"])),
            ("tags.missing", Ok(&["tr-c", "tr-b", "tr-a"])),
        ],
        |o| search("", &[o.to_owned()]),
    );
}
