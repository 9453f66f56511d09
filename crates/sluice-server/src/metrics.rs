//! `/metrics`: Prometheus' text format. Request counts and latencies by method, route (the
//! route's pattern, never the raw path) and status, observed as requests pass; jobs by status,
//! the steps queued or running on each compute and executor, and finished steps' durations, read
//! from the store at each scrape (aggregated in the database).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sluice_store::metrics::STEP_DURATION_BUCKETS;

use crate::ServerState;
use crate::error::ApiError;

/// Upper bounds (seconds) of the request-latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    count: u64,
    sum: f64,
    /// Observations at most each bound (not cumulative; summed when rendered).
    buckets: [u64; LATENCY_BUCKETS.len()],
}

/// Requests seen by this process, by (method, route, status).
#[derive(Default)]
pub(crate) struct RequestMetrics {
    seen: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl RequestMetrics {
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = seen
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        h.count += 1;
        h.sum += seconds;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            h.buckets[i] += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str("# HELP sluice_http_requests_total Requests answered, by method, route and status.\n# TYPE sluice_http_requests_total counter\n");
        for ((method, route, status), h) in seen.iter() {
            let _ = writeln!(
                out,
                "sluice_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP sluice_http_request_duration_seconds Time to answer a request, by method and route.\n# TYPE sluice_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Histogram> = BTreeMap::new();
        for ((method, route, _), h) in seen.iter() {
            let r = by_route.entry((method, route)).or_default();
            r.count += h.count;
            r.sum += h.sum;
            for (i, n) in h.buckets.iter().enumerate() {
                r.buckets[i] += n;
            }
        }
        for ((method, route), h) in &by_route {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "sluice_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "sluice_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\nsluice_http_request_duration_seconds_sum{{{labels}}} {}\nsluice_http_request_duration_seconds_count{{{labels}}} {}",
                h.count, h.sum, h.count
            );
        }
    }
}

/// A label value as the format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(s): State<Arc<ServerState>>) -> Result<Response, ApiError> {
    let jobs = s.store()?.job_metrics()?;
    let mut out = String::new();
    out.push_str(
        "# HELP sluice_jobs Jobs in the workspace, by status.\n# TYPE sluice_jobs gauge\n",
    );
    for (status, n) in &jobs.jobs {
        let _ = writeln!(out, "sluice_jobs{{status=\"{}\"}} {n}", escape(status));
    }
    out.push_str("# HELP sluice_executor_steps Steps queued, preparing, running or finalizing, by compute, executor and status (an executor's queue).\n# TYPE sluice_executor_steps gauge\n");
    for (compute, executor, status, n) in &jobs.active_steps {
        let _ = writeln!(
            out,
            "sluice_executor_steps{{compute=\"{}\",executor=\"{}\",status=\"{}\"}} {n}",
            escape(compute),
            escape(executor),
            escape(status)
        );
    }
    out.push_str("# HELP sluice_step_duration_seconds Run time of finished steps (not reused ones), by compute and final status.\n# TYPE sluice_step_duration_seconds histogram\n");
    for d in &jobs.durations {
        let labels = format!(
            "compute=\"{}\",status=\"{}\"",
            escape(&d.compute),
            escape(&d.status)
        );
        for (bound, n) in STEP_DURATION_BUCKETS.iter().zip(&d.buckets) {
            let _ = writeln!(
                out,
                "sluice_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "sluice_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\nsluice_step_duration_seconds_sum{{{labels}}} {}\nsluice_step_duration_seconds_count{{{labels}}} {}",
            d.count, d.sum_seconds, d.count
        );
    }
    s.requests.render(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
