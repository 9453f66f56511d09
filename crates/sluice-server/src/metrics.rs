//! `/metrics`: Prometheus' text format. Request counts and latencies by method, route (the
//! route's pattern, never the raw path) and status, observed as requests pass; jobs by status,
//! the steps queued or running on each compute and executor, and finished steps' durations, read
//! from the store at each scrape (aggregated in the database).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, header};
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

/// Requests seen by this process: by route pattern, then (method, status). Recording one
/// allocates nothing once its route, method and status have been seen.
#[derive(Default)]
pub(crate) struct RequestMetrics {
    seen: Mutex<HashMap<String, RouteRequests>>,
}

/// One route's requests by (method, status).
type RouteRequests = HashMap<(Method, u16), Histogram>;

impl RequestMetrics {
    pub(crate) fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let by_route = match seen.get_mut(route) {
            Some(r) => r,
            None => seen.entry(route.to_owned()).or_default(),
        };
        let h = by_route.entry((method.clone(), status)).or_default();
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
        // Sorted, so that scrapes read alike.
        let mut rows: Vec<(&str, &str, u16, &Histogram)> = seen
            .iter()
            .flat_map(|(route, m)| {
                m.iter()
                    .map(move |((method, status), h)| (route.as_str(), method.as_str(), *status, h))
            })
            .collect();
        rows.sort_by(|a, b| (a.1, a.0, a.2).cmp(&(b.1, b.0, b.2)));
        out.push_str("# HELP sluice_http_requests_total Requests answered, by method, route and status.\n# TYPE sluice_http_requests_total counter\n");
        for (route, method, status, h) in &rows {
            let _ = writeln!(
                out,
                "sluice_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP sluice_http_request_duration_seconds Time to answer a request, by method and route.\n# TYPE sluice_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(&str, &str), Histogram> = BTreeMap::new();
        for (route, method, _, h) in &rows {
            let r = by_route.entry((method, route)).or_default();
            r.count += h.count;
            r.sum += h.sum;
            for (i, n) in h.buckets.iter().enumerate() {
                r.buckets[i] += n;
            }
        }
        for ((method, route), h) in &by_route {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let cumulative = h.buckets.iter().scan(0, |acc, n| {
                *acc += n;
                Some(*acc)
            });
            histogram(
                out,
                "sluice_http_request_duration_seconds",
                &labels,
                LATENCY_BUCKETS.iter().copied().zip(cumulative),
                h.sum,
                h.count,
            );
        }
    }
}

/// One histogram's series: a cumulative count per bucket bound, then `+Inf`, sum and count.
fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: impl Iterator<Item = (f64, u64)>,
    sum: f64,
    count: u64,
) {
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {count}\n{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {count}"
    );
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
        histogram(
            &mut out,
            "sluice_step_duration_seconds",
            &labels,
            STEP_DURATION_BUCKETS
                .iter()
                .copied()
                .zip(d.buckets.iter().map(|n| u64::try_from(*n).unwrap_or(0))),
            d.sum_seconds,
            u64::try_from(d.count).unwrap_or(0),
        );
    }
    let (groups, batches) = s.group.counts();
    let _ = writeln!(
        out,
        "# HELP sluice_log_batch_groups_total Transactions that wrote logged batches (log-batch, log-metric, log-parameter, set-tag): several waiting requests share one.\n# TYPE sluice_log_batch_groups_total counter\nsluice_log_batch_groups_total {groups}\n# HELP sluice_log_batch_grouped_total Batches written by those transactions.\n# TYPE sluice_log_batch_grouped_total counter\nsluice_log_batch_grouped_total {batches}"
    );
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
