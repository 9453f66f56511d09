//! `sluice step ...`: the built-in steps on their own, outside a job.

use crate::common::TestContext;

fn taxi(ctx: &TestContext, rows: &str) {
    ctx.ok(&[
        "step",
        "synth-taxi",
        "--rows",
        rows,
        "--seed",
        "3",
        "--path",
        "raw/taxi.csv",
    ]);
}

fn prep(ctx: &TestContext, out: &str, seed: &str) -> std::process::Output {
    ctx.run(&[
        "step",
        "prep",
        "--data",
        "raw/taxi.csv",
        "--target",
        "fare_amount",
        "--drop",
        "pickup_datetime",
        "--categorical",
        "vendor,store_and_fwd_flag",
        "--seed",
        seed,
        "--train-output",
        &format!("{out}/train"),
        "--validation-output",
        &format!("{out}/val"),
        "--test-output",
        &format!("{out}/test"),
    ])
}

#[test]
fn prep_is_byte_identical_for_the_same_seed() {
    let ctx = TestContext::new();
    taxi(&ctx, "500");
    let a = prep(&ctx, "a", "1");
    assert!(a.status.success());
    let report: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(report["rows"]["train"], 350, "{report}");
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0, "{report}");
    assert!(String::from_utf8_lossy(&a.stderr).contains("MB"));
    assert!(prep(&ctx, "b", "1").status.success());
    assert!(prep(&ctx, "c", "2").status.success());
    let read = |p: &str| std::fs::read(ctx.root().join(p)).unwrap();
    for split in ["train", "val", "test"] {
        let file = format!("{split}/data.parquet");
        assert_eq!(
            read(&format!("a/{file}")),
            read(&format!("b/{file}")),
            "{split}"
        );
    }
    assert_ne!(read("a/test/data.parquet"), read("c/test/data.parquet"));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let ctx = TestContext::new();
    taxi(&ctx, "200");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "step",
                "prep",
                "--data",
                "raw/taxi.csv",
                "--target",
                "price",
                "--train-output",
                "t",
                "--test-output",
                "s",
            ],
            "`price`",
        ),
        (
            &[
                "step",
                "prep",
                "--data",
                "raw/taxi.csv",
                "--target",
                "fare_amount",
                "--drop",
                "pickup_datetime",
                "--train-output",
                "t",
                "--test-output",
                "s",
            ],
            "vendor",
        ),
        (
            &[
                "step",
                "prep",
                "--data",
                "raw/taxi.csv",
                "--target",
                "fare_amount",
                "--drop",
                "pickup_datetime,vendor,store_and_fwd_flag",
                "--split",
                "0.999,0,0.001",
                "--train-output",
                "t",
                "--test-output",
                "s",
            ],
            "empty",
        ),
        (
            &[
                "step",
                "prep",
                "--data",
                "raw/nope.csv",
                "--target",
                "fare_amount",
                "--train-output",
                "t",
                "--test-output",
                "s",
            ],
            "nope.csv",
        ),
        (
            &[
                "step",
                "train",
                "--algorithm",
                "magic",
                "--train-data",
                "raw/taxi.csv",
                "--target",
                "fare_amount",
                "--model-output",
                "m",
            ],
            "unknown algorithm `magic`",
        ),
        (
            &[
                "step",
                "train",
                "--algorithm",
                "random_forest",
                "--train-data",
                "raw/taxi.csv",
                "--target",
                "fare_amount",
                "--model-output",
                "m",
            ],
            "feature `vendor` is text",
        ),
    ];
    for (args, expected) in cases {
        let out = ctx.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(11), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A refused prep leaves no output folders behind.
    for folder in ["t", "s"] {
        assert!(!ctx.root().join(folder).exists(), "{folder}");
    }
}

#[test]
fn evaluate_refuses_a_model_trained_on_other_features() {
    let ctx = TestContext::new();
    taxi(&ctx, "300");
    assert!(prep(&ctx, "p", "1").status.success());
    ctx.ok(&[
        "step",
        "train",
        "--algorithm",
        "linear_regression",
        "--train-data",
        "p/train",
        "--target",
        "fare_amount",
        "--model-output",
        "model",
    ]);
    // Test data without one of the model's features.
    ctx.write(
        "other/test.csv",
        "trip_distance,fare_amount\n1.0,5.0\n2.0,8.0\n",
    );
    let out = ctx.run(&[
        "step",
        "evaluate",
        "--model",
        "model",
        "--test-data",
        "other/test.csv",
        "--evaluation-output",
        "e",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{stderr}");
    assert!(stderr.contains("the model needs feature"), "{stderr}");
    // On matching data it scores and writes the flag.
    let eval = ctx.json(&[
        "step",
        "evaluate",
        "--model",
        "model",
        "--test-data",
        "p/test",
        "--evaluation-output",
        "e",
    ]);
    assert!(eval["metrics"]["test_r2"].as_f64().unwrap() > 0.8, "{eval}");
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("e/deploy_flag")).unwrap(),
        "1"
    );
    assert!(ctx.root().join("e/predictions.parquet").exists());
}

/// A random forest's leaves hold at least 5 rows unless the command line says otherwise (the
/// step's default, not scikit-learn's 1): the same model as `--min-samples-leaf 5`, byte for
/// byte, and smaller than fully grown trees.
#[test]
fn a_random_forest_defaults_to_five_rows_a_leaf() {
    let ctx = TestContext::new();
    taxi(&ctx, "2000");
    assert!(prep(&ctx, "p", "1").status.success());
    let train = |dir: &str, extra: &[&str]| {
        let mut args = vec![
            "step",
            "train",
            "--algorithm",
            "random_forest",
            "--n-estimators",
            "5",
            "--train-data",
            "p/train",
            "--target",
            "fare_amount",
            "--model-output",
            dir,
            "--seed",
            "2",
        ];
        args.extend_from_slice(extra);
        ctx.ok(&args);
        std::fs::read(ctx.root().join(dir).join("model.bin")).unwrap()
    };
    let default = train("d", &[]);
    let five = train("five", &["--min-samples-leaf", "5"]);
    let full = train("full", &["--min-samples-leaf", "1"]);
    assert_eq!(default, five, "the default is 5 rows a leaf");
    assert!(
        full.len() > default.len() * 2,
        "fully grown trees ({} bytes) hold far more nodes than 5-row leaves ({} bytes)",
        full.len(),
        default.len()
    );
}

#[test]
fn every_algorithm_trains_and_classifiers_work_on_text_targets() {
    let ctx = TestContext::new();
    taxi(&ctx, "400");
    assert!(prep(&ctx, "p", "1").status.success());
    for algorithm in [
        "linear_regression",
        "ridge",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
    ] {
        let out = ctx.json(&[
            "step",
            "train",
            "--algorithm",
            algorithm,
            "--train-data",
            "p/train",
            "--validation-data",
            "p/val",
            "--target",
            "fare_amount",
            "--model-output",
            &format!("m-{algorithm}"),
            "--seed",
            "1",
        ]);
        assert!(
            out["metrics"]["validation_r2"].as_f64().unwrap() > 0.5,
            "{algorithm}: {out}"
        );
        // The process's peak memory is reported (Linux's VmHWM): more than nothing, less than
        // the machine.
        let peak = out["peak_rss_bytes"].as_u64().unwrap_or_default();
        assert!((1 << 20..1 << 40).contains(&peak), "{algorithm}: {out}");
        // So is the fit's own time: positive, and less than this test's time limit.
        let fit = out["fit_seconds"].as_f64().unwrap_or(-1.0);
        assert!(fit > 0.0 && fit < 300.0, "{algorithm}: {out}");
    }
    // A text target: vendor from the trip's other columns.
    ctx.ok(&[
        "step",
        "prep",
        "--data",
        "raw/taxi.csv",
        "--target",
        "vendor",
        "--drop",
        "pickup_datetime",
        "--categorical",
        "store_and_fwd_flag",
        "--train-output",
        "c/train",
        "--test-output",
        "c/test",
    ]);
    for algorithm in ["logistic_regression", "random_forest", "gradient_boosting"] {
        let out = ctx.json(&[
            "step",
            "train",
            "--algorithm",
            algorithm,
            "--train-data",
            "c/train",
            "--target",
            "vendor",
            "--model-output",
            &format!("c-{algorithm}"),
        ]);
        assert_eq!(out["task"], "classification", "{algorithm}");
        assert!(
            out["metrics"]["training_accuracy"].as_f64().unwrap() > 0.4,
            "{algorithm}: {out}"
        );
    }
    // Every model has an ONNX form beside `model.bin` (and an `onnx` flavor in `MLmodel`).
    for dir in [
        "m-decision_tree",
        "m-random_forest",
        "m-gradient_boosting",
        "m-ridge",
        "c-logistic_regression",
        "c-random_forest",
        "c-gradient_boosting",
    ] {
        let algorithm = dir;
        let dir = ctx.root().join(dir);
        assert!(dir.join("model.onnx").is_file(), "{algorithm}");
        let mlmodel = std::fs::read_to_string(dir.join("MLmodel")).unwrap();
        assert!(
            mlmodel.contains("  onnx:\n") && mlmodel.contains("loader_module: mlflow.onnx"),
            "{mlmodel}"
        );
        let out = ctx.json(&[
            "model",
            "export",
            "--path",
            dir.to_str().unwrap(),
            "--file",
            "x.onnx",
        ]);
        assert_eq!(out["format"], "onnx");
        assert_eq!(
            std::fs::read(ctx.root().join("x.onnx")).unwrap(),
            std::fs::read(dir.join("model.onnx")).unwrap()
        );
    }
    // The text form, for any model: the same model, larger than the binary file.
    let out = ctx.json(&[
        "model",
        "export",
        "--path",
        "m-random_forest",
        "--format",
        "json",
        "--file",
        "text/model.json",
    ]);
    assert_eq!(out["format"], "json");
    let text = std::fs::read_to_string(ctx.root().join("text/model.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (json["format"].as_str(), json["algorithm"].as_str()),
        (Some("sluice-model"), Some("random_forest"))
    );
    let binary = std::fs::metadata(ctx.root().join("m-random_forest/model.bin")).unwrap();
    assert!(
        binary.len() < text.len() as u64,
        "{} vs {}",
        binary.len(),
        text.len()
    );
    assert!(!ctx.root().join("m-random_forest/model.json").exists());
    let out = ctx.run(&["model", "export", "--path", "c", "--file", "c.onnx"]);
    // A folder without a model is a usage error that says what to give.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no Sluice model"),
        "{out:?}"
    );
}
