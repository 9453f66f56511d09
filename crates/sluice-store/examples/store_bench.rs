//! Times the store's hot tracking operations on their own (no HTTP), to see where a request's
//! time goes: `cargo run --release -p sluice-store --example store_bench`.

use std::time::Instant;

use sluice_store::Store;
use sluice_store::tracking::{KeyValue, Metric};

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("bench.db")).expect("open");
    let exp = store
        .create_experiment("bench", None, &[])
        .expect("experiment");

    let n = 2000;
    let t = Instant::now();
    let mut runs = Vec::new();
    for i in 0..n {
        let tags = [KeyValue {
            key: "mlflow.user".into(),
            value: "bench".into(),
        }];
        runs.push(
            store
                .create_run(&exp, "bench", Some(&format!("r{i}")), None, &tags)
                .expect("run")
                .info
                .run_uuid,
        );
    }
    report("runs/create", n, t);

    // As the load harness logs: 8 runs (one per client thread), each batch the next step of
    // the same 100 metrics.
    let batches = 3000;
    let t = Instant::now();
    for b in 0..batches {
        let metrics: Vec<Metric> = (0..100)
            .map(|k| Metric {
                key: format!("m{k}"),
                value: f64::from(b) * 0.5,
                timestamp: 1_700_000_000_000 + i64::from(b),
                step: i64::from(b / 8),
            })
            .collect();
        store
            .log_batch(
                &runs[usize::try_from(b).unwrap_or(0) % 8],
                &metrics,
                &[],
                &[],
            )
            .expect("batch");
    }
    report("runs/log-batch (100 metrics)", batches, t);

    let history_run = &runs[0];
    let metrics: Vec<Metric> = (0..10_000)
        .map(|s| Metric {
            key: "loss".into(),
            value: 1.0 / f64::from(s + 1),
            timestamp: i64::from(s),
            step: i64::from(s),
        })
        .collect();
    for chunk in metrics.chunks(1000) {
        store
            .log_batch(history_run, chunk, &[], &[])
            .expect("history");
    }
    let t = Instant::now();
    for _ in 0..20 {
        let (h, _) = store
            .metric_history(history_run, "loss", 25_000, 0)
            .expect("history");
        assert_eq!(h.len(), 10_000);
    }
    report("metrics/get-history (10k steps)", 20, t);
}

#[expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
fn report(what: &str, n: u32, t: Instant) {
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "{what:<36} {:>10.1} /s  {:>9.3} ms each",
        1.0 / per,
        per * 1000.0
    );
}
