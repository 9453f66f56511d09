//! ONNX export checked by a real runtime: `onnxruntime` (from PyPI; `SLUICE_TEST_ONNXRUNTIME`
//! names the folder `tests/ml/setup.sh` installs it into) predicts with the exported tree,
//! forest, boosting and linear regression models, and its predictions equal the native ones to
//! 1e-6 (relative), missing values included; with logistic regression (binary and multinomial)
//! its labels are the native ones and its probabilities equal them to 1e-9. Skipped, and saying
//! so, where the runtime is not installed.

use std::io::Write;
use std::process::Command;

use sluice_ml::{
    BoostingParams, Dataset, ForestParams, LinearParams, LogisticParams, Model, TreeParams, to_onnx,
};

/// A regression dataset with a few missing values, and the rows to predict.
fn data(n: usize, seed: u64) -> Dataset {
    with_missing(n, seed, true)
}

fn with_missing(n: usize, seed: u64, missing: bool) -> Dataset {
    let mut rng = fastrand::Rng::with_seed(seed);
    let p = 6;
    let mut x: Vec<Vec<f64>> = (0..p)
        .map(|_| (0..n).map(|_| rng.f64() * 100.0 - 20.0).collect())
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            3.0 * x[0][i] + (x[1][i] / 7.0).sin() * 20.0 + x[2][i] * x[3][i] / 50.0 + rng.f64()
        })
        .collect();
    for i in (0..n).step_by(17).filter(|_| missing) {
        x[i % p][i] = f64::NAN;
    }
    let names = (0..p).map(|j| format!("x{j}")).collect();
    Dataset::new(names, x)
        .unwrap()
        .with_regression_target(y)
        .unwrap()
}

#[expect(clippy::print_stderr, reason = "a skipped test says why")]
fn runtime() -> Option<String> {
    let dir = std::env::var("SLUICE_TEST_ONNXRUNTIME")
        .ok()
        .filter(|d| !d.is_empty());
    if dir.is_none() {
        eprintln!(
            "skipped: SLUICE_TEST_ONNXRUNTIME is unset, so the ONNX export was not checked with onnxruntime (tests/ml/setup.sh installs it)"
        );
    }
    dir
}

/// onnxruntime's predictions of `rows` (row-major, NaN for missing) with the model in `onnx`.
fn onnxruntime(dir: &str, onnx: &[u8], rows: &[Vec<f64>]) -> Vec<f64> {
    serde_json::from_value(onnxruntime_outputs(dir, onnx, rows)[0].clone()).unwrap()
}

/// Every output of the model in `onnx` for `rows`, in the graph's order, each flattened to a
/// JSON list (numbers, or strings for a string tensor).
fn onnxruntime_outputs(dir: &str, onnx: &[u8], rows: &[Vec<f64>]) -> Vec<serde_json::Value> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("model.onnx"), onnx).unwrap();
    let mut csv = std::fs::File::create(tmp.path().join("x.csv")).unwrap();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .map(|v| {
                if v.is_nan() {
                    "nan".into()
                } else {
                    format!("{v:?}")
                }
            })
            .collect();
        writeln!(csv, "{}", line.join(",")).unwrap();
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, json, numpy as np, onnxruntime as ort\n\
             s = ort.InferenceSession(sys.argv[1] + '/model.onnx', providers=['CPUExecutionProvider'])\n\
             x = np.loadtxt(sys.argv[1] + '/x.csv', delimiter=',', ndmin=2)\n\
             ys = s.run(None, {'X': x})\n\
             conv = lambda v: v if isinstance(v, str) else float(v)\n\
             print(json.dumps([[conv(v) for v in y.reshape(-1).tolist()] for y in ys]))",
        )
        .arg(tmp.path())
        .env("PYTHONPATH", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "onnxruntime failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A decision tree, a random forest (20 trees) and gradient boosting (40 rounds) fitted on
/// `train`.
fn tree_learners(train: &Dataset) -> Vec<(&'static str, Model)> {
    vec![
        (
            "decision_tree",
            TreeParams::default().fit(train).unwrap().into(),
        ),
        (
            "random_forest",
            ForestParams {
                n_estimators: 20,
                seed: 3,
                ..ForestParams::default()
            }
            .fit(train)
            .unwrap()
            .into(),
        ),
        (
            "gradient_boosting",
            BoostingParams {
                max_iter: 40,
                ..BoostingParams::default()
            }
            .fit(train)
            .unwrap()
            .into(),
        ),
    ]
}

#[test]
fn onnxruntime_predicts_what_the_native_tree_models_predict() {
    let Some(dir) = runtime() else {
        return;
    };
    let train = data(3000, 1);
    let test = data(500, 2);
    let rows: Vec<Vec<f64>> = (0..test.n_rows())
        .map(|i| test.features().iter().map(|c| c[i]).collect())
        .collect();
    let models = tree_learners(&train);
    for (name, model) in models {
        let native = model.predict(&test).unwrap();
        let onnx = to_onnx(&model).unwrap();
        let got = onnxruntime(&dir, &onnx, &rows);
        assert_eq!(got.len(), native.len(), "{name}");
        for (i, (a, b)) in native.iter().zip(&got).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "{name}: row {i} ({:?}): native {a}, onnxruntime {b}",
                rows[i]
            );
        }
    }
}

/// Decision tree, random forest and gradient boosting classifiers (two and three classes, missing
/// values): probabilities equal to 1e-6, and the same labels wherever the top class is not a tie.
#[test]
fn onnxruntime_predicts_what_the_native_tree_classifiers_predict() {
    let labelled = |n, seed, cuts: &[f64]| {
        let d = data(n, seed);
        let x = d.features();
        let labels: Vec<&str> = (0..d.n_rows())
            .map(|i| {
                let v = 3.0 * x[0][i].max(-20.0) + x[2][i].max(-20.0);
                ["low", "mid", "high"][cuts.iter().filter(|c| v > **c).count() * (3 - cuts.len())]
            })
            .collect();
        d.with_class_labels(&labels).unwrap()
    };
    let Some(dir) = runtime() else {
        return;
    };
    for cuts in [vec![100.0], vec![60.0, 150.0]] {
        let (train, test) = (labelled(2000, 3, &cuts), labelled(400, 4, &cuts));
        let rows: Vec<Vec<f64>> = (0..test.n_rows())
            .map(|i| test.features().iter().map(|c| c[i]).collect())
            .collect();
        let models = tree_learners(&train);
        for (algorithm, model) in models {
            let k = model.classes().len();
            let name = format!("{algorithm}, {k} classes");
            let outputs = onnxruntime_outputs(&dir, &to_onnx(&model).unwrap(), &rows);
            let labels: Vec<String> = serde_json::from_value(outputs[0].clone()).unwrap();
            let proba: Vec<f64> = serde_json::from_value(outputs[1].clone()).unwrap();
            let native = model.predict_proba(&test).unwrap();
            assert_eq!(proba.len(), native.len() * k, "{name}");
            for (i, row) in native.iter().enumerate() {
                for (c, p) in row.iter().enumerate() {
                    let q = proba[i * k + c];
                    assert!(
                        (p - q).abs() <= 1e-6,
                        "{name}: row {i} class {c}: native {p}, onnxruntime {q}"
                    );
                }
            }
            // Labels agree wherever the most probable class is not a tie (the runtime may break
            // a tie in float differently).
            let native_labels = model.predict_labels(&test).unwrap();
            for (i, row) in native.iter().enumerate() {
                let mut sorted = row.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                if sorted.len() < 2 || sorted[0] - sorted[1] > 1e-6 {
                    assert_eq!(labels[i], native_labels[i], "{name}: row {i} ({row:?})");
                }
            }
        }
    }
}

/// Linear regression, and logistic regression with two and three classes, as onnxruntime runs
/// them: the same predictions, labels and probabilities as the native models.
#[test]
fn onnxruntime_predicts_what_the_native_linear_models_predict() {
    let Some(dir) = runtime() else {
        return;
    };
    let clean = |n, seed| with_missing(n, seed, false);
    let (train, test) = (clean(2000, 5), clean(300, 6));
    let rows: Vec<Vec<f64>> = (0..test.n_rows())
        .map(|i| test.features().iter().map(|c| c[i]).collect())
        .collect();
    let linear: Model = LinearParams::default().fit(&train).unwrap().into();
    let native = linear.predict(&test).unwrap();
    let got = onnxruntime(&dir, &to_onnx(&linear).unwrap(), &rows);
    assert_eq!(got.len(), native.len());
    for (i, (a, b)) in native.iter().zip(&got).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(1.0),
            "linear_regression: row {i}: native {a}, onnxruntime {b}"
        );
    }

    // Classes from the regression target's value: two, then three, named.
    let target = |d: &Dataset| -> Vec<f64> {
        let x = d.features();
        (0..d.n_rows())
            .map(|i| 3.0 * x[0][i] + (x[1][i] / 7.0).sin() * 20.0)
            .collect()
    };
    for cuts in [vec![100.0], vec![60.0, 150.0]] {
        let label = |v: f64| {
            let k = cuts.iter().filter(|c| v > **c).count();
            ["low", "mid", "high"][if cuts.len() == 1 { k * 2 } else { k }]
        };
        let labels = |d: &Dataset| -> Vec<&str> { target(d).into_iter().map(label).collect() };
        let (tr, te) = (
            clean(2000, 5)
                .with_class_labels(&labels(&clean(2000, 5)))
                .unwrap(),
            clean(300, 6)
                .with_class_labels(&labels(&clean(300, 6)))
                .unwrap(),
        );
        let model: Model = LogisticParams::default().fit(&tr).unwrap().into();
        let name = format!("logistic_regression, {} classes", model.classes().len());
        let native_labels = model.predict_labels(&te).unwrap();
        let native_proba = model.predict_proba(&te).unwrap();
        let outputs = onnxruntime_outputs(&dir, &to_onnx(&model).unwrap(), &rows);
        let got_labels: Vec<String> = serde_json::from_value(outputs[0].clone()).unwrap();
        let got_proba: Vec<f64> = serde_json::from_value(outputs[1].clone()).unwrap();
        assert_eq!(got_labels, native_labels, "{name}");
        let k = model.classes().len();
        assert_eq!(got_proba.len(), native_proba.len() * k, "{name}");
        for (i, row) in native_proba.iter().enumerate() {
            for (c, p) in row.iter().enumerate() {
                let q = got_proba[i * k + c];
                assert!(
                    (p - q).abs() <= 1e-9,
                    "{name}: row {i} class {c}: native {p}, onnxruntime {q}"
                );
            }
        }
    }
}
