//! Times gradient boosting's fit alone on numeric CSV files without a header (features, then the
//! target in the last column), for profiling the learner apart from the step around it.
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo run --release -p sluice-ml --example fit_csv -- TRAIN.csv VAL.csv [FITS]
//! ```
//!
//! Prints one JSON line per fit: the fit time and the validation R².

use std::time::Instant;

use sluice_ml::metrics::r2;
use sluice_ml::{BoostingParams, Dataset};

type Columns = (Vec<Vec<f64>>, Vec<f64>);

fn read(path: &str) -> Result<Columns, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut columns: Vec<Vec<f64>> = Vec::new();
    let mut target = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let values: Vec<f64> = line
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let Some((&y, x)) = values.split_last() else {
            continue;
        };
        if columns.is_empty() {
            columns = vec![Vec::new(); x.len()];
        }
        if x.len() != columns.len() {
            return Err(format!(
                "{path}:{}: {} values, expected {}",
                n + 1,
                values.len(),
                columns.len() + 1
            )
            .into());
        }
        for (c, &v) in columns.iter_mut().zip(x) {
            c.push(v);
        }
        target.push(y);
    }
    Ok((columns, target))
}

fn dataset(path: &str) -> Result<Dataset, Box<dyn std::error::Error>> {
    let (x, y) = read(path)?;
    let names = (0..x.len()).map(|j| format!("x{j}")).collect();
    Ok(Dataset::new(names, x)?.with_regression_target(y)?)
}

#[expect(
    clippy::print_stdout,
    reason = "the benchmark's output is its JSON lines"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(train), Some(val)) = (args.get(1), args.get(2)) else {
        return Err("usage: fit_csv TRAIN.csv VAL.csv [FITS]".into());
    };
    let fits: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let (train, val) = (dataset(train)?, dataset(val)?);
    for _ in 0..fits {
        let start = Instant::now();
        let model = BoostingParams::default().fit(&train)?;
        let seconds = start.elapsed().as_secs_f64();
        let score = r2(val.target(), &model.predict(&val)?)?;
        println!("{{\"fit_seconds\": {seconds:.3}, \"validation_r2\": {score:.6}}}");
    }
    Ok(())
}
