//! Fit-time benchmark of the learners on seeded synthetic data, 200 000 rows x 20 features, the
//! same data `bench/ml/bench_sklearn.py` fits with scikit-learn (this program writes it as CSV).
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p sluice-ml --example bench_fit -- /tmp/data.csv [FITS]
//! ```
//!
//! Fits each learner `FITS` times (default 1) and prints one JSON line per fit: the fit time and
//! R² or accuracy on the last 40 000 rows, the model having been fitted on the first 160 000.
//! `bench/ml/run.sh` runs it in rounds alternating with scikit-learn and reports medians.

use std::fmt::Write as _;
use std::time::Instant;

use sluice_ml::metrics::{accuracy, r2};
use sluice_ml::{
    BoostingParams, Dataset, ForestParams, LinearParams, LogisticParams, MlError, Model,
};

const ROWS: usize = 200_000;
const TRAIN: usize = 160_000;
const FEATURES: usize = 20;

fn normal(rng: &mut fastrand::Rng) -> f64 {
    let u = rng.f64().max(f64::MIN_POSITIVE);
    let v = rng.f64();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Uniform features; a regression target (Friedman #1 extended, plus N(0, 1) noise) and a binary
/// target (a noisy non-linear boundary).
fn generate() -> (Vec<Vec<f64>>, Vec<f64>, Vec<&'static str>) {
    let mut rng = fastrand::Rng::with_seed(20_240_601);
    let mut x: Vec<Vec<f64>> = (0..FEATURES).map(|_| Vec::with_capacity(ROWS)).collect();
    let mut y = Vec::with_capacity(ROWS);
    let mut labels = Vec::with_capacity(ROWS);
    let pi = std::f64::consts::PI;
    for _ in 0..ROWS {
        let row: Vec<f64> = (0..FEATURES).map(|_| rng.f64()).collect();
        y.push(
            10.0 * (pi * row[0] * row[1]).sin()
                + 20.0 * (row[2] - 0.5).powi(2)
                + 10.0 * row[3]
                + 5.0 * row[4]
                + 3.0 * row[5] * row[6]
                - 2.0 * row[7]
                + normal(&mut rng),
        );
        let z = 10.0 * (pi * row[0] * row[1]).sin() + 20.0 * (row[2] - 0.5).powi(2) - 10.0 * row[3]
            + 4.0 * row[8] * row[9]
            + 2.0 * normal(&mut rng);
        labels.push(if z > 2.3 { "1" } else { "0" });
        for (column, v) in x.iter_mut().zip(row) {
            column.push(v);
        }
    }
    (x, y, labels)
}

fn write_csv(path: &str, x: &[Vec<f64>], y: &[f64], labels: &[&str]) -> std::io::Result<()> {
    let mut text = String::with_capacity(ROWS * FEATURES * 22);
    for j in 0..FEATURES {
        let _ = write!(text, "x{j},");
    }
    text.push_str("y_reg,y_cls\n");
    for i in 0..ROWS {
        for column in x {
            // `{}` prints the shortest text that reads back to the same f64.
            let _ = write!(text, "{},", column[i]);
        }
        let _ = writeln!(text, "{},{}", y[i], labels[i]);
    }
    std::fs::write(path, text)
}

#[expect(
    clippy::print_stdout,
    reason = "the benchmark's output is its JSON lines"
)]
fn report(model: &str, seconds: f64, metric: &str, score: f64) {
    println!(
        "{{\"impl\": \"sluice-ml\", \"model\": \"{model}\", \"fit_s\": {seconds:.3}, \"metric\": \"{metric}\", \"score\": {score:.4}}}"
    );
}

type Fit<'a> = Box<dyn Fn() -> Result<Model, MlError> + 'a>;

fn timed(fit: &dyn Fn() -> Result<Model, MlError>) -> Result<(Model, f64), MlError> {
    let start = Instant::now();
    let model = fit()?;
    Ok((model, start.elapsed().as_secs_f64()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/sluice-bench/data.csv".to_owned());
    let fits: usize = match std::env::args().nth(2) {
        Some(n) => n.parse()?,
        None => 1,
    };
    let (x, y, labels) = generate();
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_csv(&path, &x, &y, &labels)?;

    let names: Vec<String> = (0..FEATURES).map(|j| format!("x{j}")).collect();
    let features = Dataset::new(names, x)?;
    let train_rows: Vec<usize> = (0..TRAIN).collect();
    let test_rows: Vec<usize> = (TRAIN..ROWS).collect();
    let reg = features.clone().with_regression_target(y)?;
    let cls = features.with_class_labels(&labels)?;
    let (reg_train, reg_test) = (reg.subset(&train_rows), reg.subset(&test_rows));
    let (cls_train, cls_test) = (cls.subset(&train_rows), cls.subset(&test_rows));

    let regressors: Vec<(&str, Fit)> = vec![
        (
            "linear",
            Box::new(|| Ok(LinearParams::default().fit(&reg_train)?.into())),
        ),
        (
            "random_forest_regressor",
            Box::new(|| {
                let params = ForestParams {
                    n_estimators: 10,
                    ..ForestParams::default()
                };
                Ok(params.fit(&reg_train)?.into())
            }),
        ),
        (
            "gradient_boosting_regressor",
            Box::new(|| Ok(BoostingParams::default().fit(&reg_train)?.into())),
        ),
    ];
    for (name, fit) in regressors {
        for _ in 0..fits {
            let (model, seconds) = timed(&fit)?;
            let score = r2(reg_test.target(), &model.predict(&reg_test)?)?;
            report(name, seconds, "r2", score);
        }
    }

    let classifiers: Vec<(&str, Fit)> = vec![
        (
            "logistic",
            Box::new(|| Ok(LogisticParams::default().fit(&cls_train)?.into())),
        ),
        (
            "random_forest_classifier",
            Box::new(|| {
                let params = ForestParams {
                    n_estimators: 10,
                    ..ForestParams::default()
                };
                Ok(params.fit(&cls_train)?.into())
            }),
        ),
        (
            "gradient_boosting_classifier",
            Box::new(|| Ok(BoostingParams::default().fit(&cls_train)?.into())),
        ),
    ];
    for (name, fit) in classifiers {
        for _ in 0..fits {
            let (model, seconds) = timed(&fit)?;
            let score = accuracy(cls_test.target(), &model.predict(&cls_test)?)?;
            report(name, seconds, "accuracy", score);
        }
    }
    Ok(())
}
