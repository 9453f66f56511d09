//! Opens each model folder given RUNS times (default 5) both ways, loaded (`Model::load`) and
//! mapped (`MappedModel::open`), and prints, per folder: the median time of each in ms; the
//! private memory (the process's anonymous resident memory, `RssAnon`) each added, in KB, once
//! loaded and once mapped; and the median time in ms of predicting 100,000 rows of seeded
//! values (every feature uniform over [0, 100)) with each:
//! `cargo run --release -p sluice-ml --example model_load -- DIR...`.
//! Used by `bench/ml/model_files.sh`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::time::Instant;

use sluice_ml::{Dataset, MappedModel, Model, Predict};

/// The process's anonymous resident memory, in KB (0 where `/proc` does not say).
fn rss_anon_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for dir in std::env::args().skip(1) {
        let dir = std::path::PathBuf::from(dir);
        let before = rss_anon_kb();
        let mapped = MappedModel::open(&dir).expect("a model");
        let after_map = rss_anon_kb();
        let loaded = Model::load(&dir).expect("a model");
        let after_load = rss_anon_kb();
        std::hint::black_box((&mapped, &loaded));
        drop((mapped, loaded));
        let load = median_ms(runs, || {
            std::hint::black_box(Model::load(&dir).expect("a model"));
        });
        let map = median_ms(runs, || {
            std::hint::black_box(MappedModel::open(&dir).expect("a model"));
        });
        let (loaded, mapped) = (
            Model::load(&dir).expect("a model"),
            MappedModel::open(&dir).expect("a model"),
        );
        let mut seed = 42u64;
        let columns = (0..loaded.feature_names().len())
            .map(|_| {
                (0..100_000)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        (seed >> 11) as f64 / (1u64 << 53) as f64 * 100.0
                    })
                    .collect()
            })
            .collect();
        let data = Dataset::new(loaded.feature_names().to_vec(), columns).expect("rows");
        let predict_loaded = median_ms(runs, || {
            std::hint::black_box(loaded.predict(&data).expect("predictions"));
        });
        let predict_mapped = median_ms(runs, || {
            std::hint::black_box(mapped.predict(&data).expect("predictions"));
        });
        assert_eq!(
            loaded.predict(&data).expect("predictions"),
            mapped.predict(&data).expect("predictions")
        );
        println!(
            "{} {load:.1} {map:.1} {} {} {predict_loaded:.1} {predict_mapped:.1}",
            dir.display(),
            after_load.saturating_sub(after_map),
            after_map.saturating_sub(before)
        );
    }
}
