//! Loads each model folder given RUNS times (default 5) and prints, per folder, the file it read
//! and the median load time: `cargo run --release -p sluice-ml --example model_load -- DIR...`.
//! Used by `bench/ml/model_files.sh`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::time::Instant;

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for dir in std::env::args().skip(1) {
        let dir = std::path::PathBuf::from(dir);
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let model = sluice_ml::Model::load(&dir).expect("a model");
                std::hint::black_box(&model);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{} {:.1}", dir.display(), times[times.len() / 2]);
    }
}
