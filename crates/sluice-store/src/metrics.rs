//! What `/metrics` reports about jobs and steps, aggregated in the database (one query each,
//! whatever the history's size): jobs by status, the steps waiting or running on each compute
//! and executor (its queue), and finished steps' durations as a cumulative histogram.

use std::fmt::Write as _;

use serde::Serialize;

use crate::db::Dialect;
use crate::{Result, Store};

/// Upper bounds (seconds) of the step-duration histogram's buckets.
pub const STEP_DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0,
];

/// Jobs and steps, counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JobMetrics {
    /// (status, jobs).
    pub jobs: Vec<(String, i64)>,
    /// (compute, executor, status, steps) of steps `Queued`, `Preparing`, `Running` or
    /// `Finalizing`.
    pub active_steps: Vec<(String, String, String, i64)>,
    pub durations: Vec<StepDurations>,
}

/// Finished steps of one compute that ended with one status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepDurations {
    pub compute: String,
    pub status: String,
    pub count: i64,
    pub sum_seconds: f64,
    /// Steps that took at most each of [`STEP_DURATION_BUCKETS`] (cumulative).
    pub buckets: Vec<i64>,
}

impl Store {
    /// Jobs by status, active steps by compute and executor, finished steps' durations.
    pub fn job_metrics(&self) -> Result<JobMetrics> {
        let jobs = self.conn.query_map(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
            (),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let active_steps = self.conn.query_map(
            "SELECT COALESCE(compute, 'local'), COALESCE(executor, ''), status, COUNT(*) FROM steps
             WHERE status IN ('Queued', 'Preparing', 'Running', 'Finalizing')
             GROUP BY COALESCE(compute, 'local'), COALESCE(executor, ''), status
             ORDER BY 1, 2, 3",
            (),
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        // Timestamps are RFC 3339 text: each engine turns a pair into seconds its own way.
        let seconds = match self.conn.dialect() {
            Dialect::Sqlite => "((julianday(ended_at) - julianday(started_at)) * 86400.0)",
            Dialect::Postgres => {
                "CAST(EXTRACT(EPOCH FROM (CAST(ended_at AS TIMESTAMPTZ) - CAST(started_at AS TIMESTAMPTZ))) AS DOUBLE PRECISION)"
            }
        };
        let mut buckets = String::new();
        for b in STEP_DURATION_BUCKETS {
            let _ = write!(buckets, ", SUM(CASE WHEN d <= {b:.1} THEN 1 ELSE 0 END)");
        }
        let sql = format!(
            "SELECT compute, status, COUNT(*), CAST(SUM(d) AS DOUBLE PRECISION){buckets}
             FROM (SELECT COALESCE(compute, 'local') AS compute, status, {seconds} AS d FROM steps
                   WHERE status IN ('Completed', 'Failed', 'Canceled')
                     AND started_at IS NOT NULL AND ended_at IS NOT NULL AND reused_from IS NULL) AS s
             GROUP BY compute, status ORDER BY compute, status"
        );
        let durations = self.conn.query_map(&sql, (), |r| {
            let mut buckets = Vec::with_capacity(STEP_DURATION_BUCKETS.len());
            for i in 0..STEP_DURATION_BUCKETS.len() {
                buckets.push(r.get::<_, Option<i64>>(4 + i)?.unwrap_or(0));
            }
            Ok(StepDurations {
                compute: r.get(0)?,
                status: r.get(1)?,
                count: r.get(2)?,
                sum_seconds: r.get::<_, Option<f64>>(3)?.unwrap_or(0.0).max(0.0),
                buckets,
            })
        })?;
        Ok(JobMetrics {
            jobs,
            active_steps,
            durations,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{job_row as job, step_row as step};

    #[test]
    fn jobs_queues_and_durations_are_counted_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::testing::fresh_store(dir.path()).unwrap();
        assert_eq!(store.job_metrics().unwrap(), super::JobMetrics::default());
        let steps = [
            step("a", "hpc"),
            step("b", "hpc"),
            step("c", "local"),
            step("d", "hpc"),
        ];
        store.insert_job(&job("j1", "Running"), &steps).unwrap();
        store.insert_job(&job("j2", "Completed"), &[]).unwrap();
        store.insert_job(&job("j3", "Completed"), &[]).unwrap();
        // a: 2.5 s, c: 90 s (both completed); b runs on Slurm; d waits.
        for (name, start, end) in [
            (
                "a",
                "2026-12-05T10:00:00.000000Z",
                "2026-12-05T10:00:02.500000Z",
            ),
            (
                "c",
                "2026-12-05T10:00:00.000000Z",
                "2026-12-05T10:01:30.000000Z",
            ),
        ] {
            store
                .conn
                .execute(
                    "UPDATE steps SET status = 'Completed', started_at = ?2, ended_at = ?3 WHERE name = ?1",
                    crate::db::params![name, start, end],
                )
                .unwrap();
        }
        store.set_step_status("j1", "b", "Running", None).unwrap();
        store
            .set_step_executor("j1", "b", "slurm", Some(("42", 1)))
            .unwrap();
        store.set_step_status("j1", "d", "Queued", None).unwrap();
        let m = store.job_metrics().unwrap();
        assert_eq!(
            m.jobs,
            [("Completed".to_owned(), 2), ("Running".to_owned(), 1)]
        );
        assert_eq!(
            m.active_steps,
            [
                ("hpc".to_owned(), String::new(), "Queued".to_owned(), 1),
                (
                    "hpc".to_owned(),
                    "slurm".to_owned(),
                    "Running".to_owned(),
                    1
                ),
            ]
        );
        assert_eq!(m.durations.len(), 2);
        let hpc = &m.durations[0];
        assert_eq!(
            (hpc.compute.as_str(), hpc.status.as_str(), hpc.count),
            ("hpc", "Completed", 1)
        );
        assert!((hpc.sum_seconds - 2.5).abs() < 0.01, "{hpc:?}");
        // Cumulative: not within 1 s, within 5 s and every larger bound.
        assert_eq!(hpc.buckets, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let local = &m.durations[1];
        assert!((local.sum_seconds - 90.0).abs() < 0.01, "{local:?}");
        assert_eq!(local.buckets, [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
    }
}
