//! The workspace's metadata store, on SQLite (embedded, WAL mode) or PostgreSQL, one [`Store`]
//! over either through [`db::Conn`], its parts in their own modules:
//!
//! - `assets`: data assets, environments and components (named, integer versions), computes
//!   and datastores;
//! - `jobs`: jobs and steps, their status history, attempts, outputs and reuse, runners;
//! - [`tracking`]: MLflow experiments, runs, metrics, params, tags, datasets;
//! - [`registry`]: registered models, versions, aliases, logged models (their mutators reached
//!   through [`governance`] only);
//! - [`governance`]: tokens and roles, promotion policies, approvals, the audit log;
//! - `filter`: the one MLflow filter and `order_by` grammar, compiled per dialect;
//! - [`traces`], [`metrics`], [`pool`] (a server's connections).
//!
//! The schema is created by numbered migrations for both engines, versioned together, only
//! ever added, never edited (`migrations/`, `migrations/postgres/`).

mod assets;
pub mod db;
pub(crate) mod filter;
pub mod governance;
mod jobs;
pub mod metrics;
pub mod pool;
pub mod registry;
mod rows;
pub mod testing;
pub mod traces;
pub mod tracking;

use std::path::Path;

use crate::db::Conn;

pub use rows::{
    AttemptRow, ComponentRow, ComputeRow, DataAssetRow, DatastoreRow, EnvBuildRow, EnvironmentRow,
    JobRow, OutputRow, StatusEvent, StepRow,
};

/// Migrations in order; the database's `user_version` counts how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_tracking.sql"),
    include_str!("../migrations/0003_registry.sql"),
    include_str!("../migrations/0004_runs_seq_index.sql"),
    include_str!("../migrations/0005_job_runner.sql"),
    include_str!("../migrations/0006_environments.sql"),
    include_str!("../migrations/0007_governance.sql"),
    include_str!("../migrations/0008_components.sql"),
    include_str!("../migrations/0009_traces.sql"),
    include_str!("../migrations/0010_metrics_recent.sql"),
    include_str!("../migrations/0011_datastores.sql"),
    include_str!("../migrations/0012_job_runs_index.sql"),
    include_str!("../migrations/0013_step_runs.sql"),
    include_str!("../migrations/0014_executors.sql"),
    include_str!("../migrations/0015_metric_points_unchecked.sql"),
    include_str!("../migrations/0016_metric_chunks.sql"),
    include_str!("../migrations/0017_metrics_recent_unchecked.sql"),
    include_str!("../migrations/0018_detached_steps.sql"),
    include_str!("../migrations/0019_runner_host.sql"),
    include_str!("../migrations/0020_runner_beat.sql"),
    include_str!("../migrations/0021_runner_suspect_orphans.sql"),
    include_str!("../migrations/0022_webhooks.sql"),
    include_str!("../migrations/0023_steps_compute_active.sql"),
    include_str!("../migrations/0024_metric_histories.sql"),
    include_str!("../migrations/0025_run_keys.sql"),
    include_str!("../migrations/0026_model_keys.sql"),
    include_str!("../migrations/0027_histories_by_run.sql"),
    include_str!("../migrations/0028_run_numbers.sql"),
    include_str!("../migrations/0029_metric_points_by_history.sql"),
    include_str!("../migrations/0030_steps_reuse_recent.sql"),
    include_str!("../migrations/0031_alias_history_of_gone_models.sql"),
];

/// The same migrations for PostgreSQL, numbered alike: version N means the same schema on both.
const PG_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_tracking.sql"),
    include_str!("../migrations/postgres/0003_registry.sql"),
    include_str!("../migrations/postgres/0004_runs_seq_index.sql"),
    include_str!("../migrations/postgres/0005_job_runner.sql"),
    include_str!("../migrations/postgres/0006_environments.sql"),
    include_str!("../migrations/postgres/0007_governance.sql"),
    include_str!("../migrations/postgres/0008_components.sql"),
    include_str!("../migrations/postgres/0009_traces.sql"),
    include_str!("../migrations/postgres/0010_metrics_recent.sql"),
    include_str!("../migrations/postgres/0011_datastores.sql"),
    include_str!("../migrations/postgres/0012_job_runs_index.sql"),
    include_str!("../migrations/postgres/0013_step_runs.sql"),
    include_str!("../migrations/postgres/0014_executors.sql"),
    include_str!("../migrations/postgres/0015_metric_points_unchecked.sql"),
    include_str!("../migrations/postgres/0016_metric_chunks.sql"),
    include_str!("../migrations/postgres/0017_metrics_recent_unchecked.sql"),
    include_str!("../migrations/postgres/0018_detached_steps.sql"),
    include_str!("../migrations/postgres/0019_runner_host.sql"),
    include_str!("../migrations/postgres/0020_runner_beat.sql"),
    include_str!("../migrations/postgres/0021_runner_suspect_orphans.sql"),
    include_str!("../migrations/postgres/0022_webhooks.sql"),
    include_str!("../migrations/postgres/0023_steps_compute_active.sql"),
    include_str!("../migrations/postgres/0024_metric_histories.sql"),
    include_str!("../migrations/postgres/0025_run_keys.sql"),
    include_str!("../migrations/postgres/0026_model_keys.sql"),
    include_str!("../migrations/postgres/0027_histories_by_run.sql"),
    include_str!("../migrations/postgres/0028_run_numbers.sql"),
    include_str!("../migrations/postgres/0029_metric_points_by_history.sql"),
    include_str!("../migrations/postgres/0030_steps_reuse_recent.sql"),
    include_str!("../migrations/postgres/0031_alias_history_of_gone_models.sql"),
];
const _: () = assert!(MIGRATIONS.len() == PG_MIGRATIONS.len());

/// What [`Store::reuse_candidates`] asks of completed steps (key, asking job): the newest five.
const REUSE_CANDIDATES: &str = "reuse_key = ?1 AND job_name != ?2 ORDER BY ended_at DESC LIMIT 5";

/// Completed steps matching `filter`, with their job names (see `Store::steps_of_other_jobs`).
fn steps_of_other_jobs_sql(filter: &str) -> String {
    format!(
        "{} WHERE status = 'Completed' AND {filter}",
        StepRow::SELECT.replace("SELECT name,", "SELECT job_name, name,")
    )
}

/// What a [`StoreError::NotFound`] or [`StoreError::AlreadyExists`] is about: callers match on
/// it (the server's MLflow messages, the CLI's hints), never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    Experiment,
    ExperimentTag,
    Run,
    RunTag,
    RegisteredModel,
    ModelVersion,
    Alias,
    LoggedModel,
    LoggedModelTag,
    Approval,
    Trace,
    TraceTag,
    Webhook,
    Token,
    Job,
    Step,
    DataAsset,
    Environment,
    Component,
}

impl Entity {
    /// Its name in messages: `registered model`, `data asset`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Experiment => "experiment",
            Entity::ExperimentTag => "experiment tag",
            Entity::Run => "run",
            Entity::RunTag => "run tag",
            Entity::RegisteredModel => "registered model",
            Entity::ModelVersion => "model version",
            Entity::Alias => "alias",
            Entity::LoggedModel => "logged model",
            Entity::LoggedModelTag => "logged model tag",
            Entity::Approval => "approval",
            Entity::Trace => "trace",
            Entity::TraceTag => "trace tag",
            Entity::Webhook => "webhook",
            Entity::Token => "token",
            Entity::Job => "job",
            Entity::Step => "step",
            Entity::DataAsset => "data asset",
            Entity::Environment => "environment",
            Entity::Component => "component",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} `{name}` was not found")]
    NotFound { what: Entity, name: String },
    #[error("{what} `{name}` already exists")]
    AlreadyExists { what: Entity, name: String },
    #[error(
        "the workspace database was written by a newer Sluice (schema {found}, this build knows {known})"
    )]
    TooNew { found: i64, known: i64 },
    /// The actor's role or the model's policy forbids the change (MLflow's `PERMISSION_DENIED`).
    #[error("{0}")]
    Denied(String),
    /// A token that is malformed, unknown, revoked or expired (MLflow's `UNAUTHENTICATED`).
    #[error("{0}")]
    Unauthenticated(String),
    /// A request that breaks a rule (MLflow's `INVALID_PARAMETER_VALUE`).
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached now (PostgreSQL down or restarting); retrying later may
    /// succeed (MLflow's `TEMPORARILY_UNAVAILABLE`, HTTP 503).
    #[error("the store's database is unavailable: {0}")]
    Unavailable(db::DbError),
    #[error("database error: {0}")]
    Db(db::DbError),
    /// Stored data this build cannot read back (a damaged file, or one edited by hand).
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<db::DbError> for StoreError {
    fn from(e: db::DbError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e)
        } else {
            Self::Db(e)
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The file in a workspace folder that names a shared store (one line: a PostgreSQL URL); the
/// workspace's own `sluice.db` when it is absent.
pub const WORKSPACE_STORE_FILE: &str = "store";

/// How the error of a job whose runner died begins ([`Store::mark_interrupted`]'s reason):
/// [`Store::interrupted_jobs`] finds such jobs by it.
pub const INTERRUPTED: &str = "interrupted:";

/// Where a store lives: an SQLite file (a workspace's own) or a PostgreSQL database shared by a
/// team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// The location as `--store` takes it: the URL, or the SQLite file's path.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => f.write_str(url),
        }
    }
}

impl Location {
    /// A `postgres://` or `postgresql://` URL names PostgreSQL; anything else is an SQLite file
    /// path (`sqlite:///abs/path` and `sqlite:relative` accepted too).
    #[must_use]
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            Self::Postgres(s.to_owned())
        } else {
            let path = s
                .strip_prefix("sqlite://")
                .or_else(|| s.strip_prefix("sqlite:"))
                .unwrap_or(s);
            Self::Sqlite(path.into())
        }
    }

    /// For messages: the URL without its password.
    #[must_use]
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(p) => p.display().to_string(),
            Self::Postgres(url) => redact_password(url),
        }
    }
}

/// `postgresql://user:secret@host/db` → `postgresql://user:***@host/db`.
#[must_use]
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// `SELECT <alias>.<column>, ... FROM <table> <alias> WHERE <conds> ORDER BY <order>` for one
/// page (one row more than `max_results`, to tell whether another page follows).
pub(crate) fn page_query(
    columns: &str,
    table: &str,
    alias: &str,
    conds: &[String],
    order: &[String],
    max_results: usize,
    offset: usize,
) -> String {
    let columns: Vec<String> = columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect();
    format!(
        "SELECT {} FROM {table} {alias} WHERE {} ORDER BY {} LIMIT {} OFFSET {offset}",
        columns.join(", "),
        conds.join(" AND "),
        order.join(", "),
        max_results + 1,
    )
}

impl Store {
    /// One page of `sql`'s rows (it asks for one row more than `max_results`, see
    /// [`page_query`]), each mapped, and where the next page starts.
    pub(crate) fn query_page<T>(
        &self,
        sql: &str,
        args: &[db::Value],
        max_results: usize,
        offset: usize,
        map: impl FnMut(&db::Row<'_>) -> db::Result<T>,
    ) -> Result<(Vec<T>, Option<usize>)> {
        let rows = self
            .conn
            .query_map_planned(sql, db::params_from_iter(args.iter()), map)?;
        Ok(page(rows, max_results, offset))
    }
}

/// One page of a paged query. Queries fetch one row more than a page; this cuts the page off and
/// says where the next one starts (`None` on the last page).
pub(crate) fn page<T>(
    mut rows: Vec<T>,
    max_results: usize,
    offset: usize,
) -> (Vec<T>, Option<usize>) {
    let more = rows.len() > max_results;
    rows.truncate(max_results);
    (rows, more.then_some(offset + max_results))
}

/// An unfinished job and the process recorded as running it.
#[derive(Debug, Clone)]
pub struct JobRunner {
    pub job: String,
    pub pid: Option<u32>,
    /// The runner's start time as the kernel gives it.
    pub started: Option<String>,
    /// The runner's machine, `HOSTNAME/BOOT_ID` (none for jobs recorded before 0019).
    pub host: Option<String>,
    /// Seconds since the runner last said it was alive, by the store's clock (none for
    /// runners from before 0020).
    pub silent_for: Option<i64>,
}

/// A step process a runner left when another machine judged it gone
/// ([`Store::orphan_processes_of_machine`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanProcess {
    pub job: String,
    pub step: String,
    pub pid: u32,
    pub started: String,
    /// The runner that launched it, to tell whether it still lives.
    pub runner_pid: Option<u32>,
    pub runner_started: Option<String>,
}

/// The process running a job: its id, its start time as the kernel gives it, and its machine
/// (`HOSTNAME/BOOT_ID`).
#[derive(Debug, Clone, Copy)]
pub struct Runner<'a> {
    pub pid: u32,
    pub started: &'a str,
    pub host: &'a str,
}

/// A step whose runner stopped while its batch job ran on ([`Store::mark_interrupted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedStep {
    pub step: String,
    /// The executor that launched it (`slurm`).
    pub executor: String,
    /// Its id there (a Slurm job id).
    pub executor_id: String,
    /// The attempt its batch job runs.
    pub attempt: u32,
    /// Its MLflow run.
    pub run_id: Option<String>,
}

/// The detached steps of `job` as `conn` sees them (in a transaction or not).
fn detached_steps_in(conn: &Conn, job: &str) -> Result<Vec<DetachedStep>> {
    let mut stmt = conn.prepare(
        "SELECT name, executor, executor_id, COALESCE(executor_attempt, attempts + 1), run_id FROM steps
         WHERE job_name = ?1 AND detached = 1 AND executor IS NOT NULL AND executor_id IS NOT NULL
         ORDER BY position",
    )?;
    let rows = stmt.query_map([job], |r| {
        Ok(DetachedStep {
            step: r.get(0)?,
            executor: r.get(1)?,
            executor_id: r.get(2)?,
            attempt: r.get::<_, i64>(3)?.try_into().unwrap_or(1),
            run_id: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<crate::db::Result<_>>()?)
}

/// The current time as an RFC 3339 timestamp (UTC, microseconds).
#[must_use]
pub fn now() -> String {
    let ts = jiff::Timestamp::now();
    format!("{ts:.6}")
}

/// A connection to the workspace database.
pub struct Store {
    conn: Conn,
    /// Who acts for changes that carry no identity of their own (see `governance`).
    actor: governance::Actor,
    /// Experiments' artifact locations (which never change) as this connection last read
    /// them: a new run is then written in one round trip (see `Store::create_run`).
    experiment_locations: std::collections::HashMap<i64, String>,
    /// Metric histories' integer keys this connection has seen committed (see
    /// `tracking::histories`).
    known_histories: tracking::histories::Known,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Self> {
        Self::with_conn(Conn::open_sqlite(path)?)
    }

    /// Connects to a PostgreSQL database (`postgresql://user[:password]@host[:port]/db`) and
    /// brings its schema up to date.
    pub fn open_postgres(url: &str) -> Result<Self> {
        Self::with_conn(Conn::open_postgres(url)?)
    }

    /// Whether the PostgreSQL database at `url` holds a workspace already (it has been
    /// migrated), asked without migrating or writing anything.
    pub fn postgres_holds_workspace(url: &str) -> Result<bool> {
        Ok(Conn::open_postgres(url)?.schema_version()? > 0)
    }

    /// Opens the store at `location`: a PostgreSQL URL or an SQLite file.
    pub fn open_at(location: &Location) -> Result<Self> {
        match location {
            Location::Sqlite(path) => Self::open(path),
            Location::Postgres(url) => Self::open_postgres(url),
        }
    }

    fn with_conn(conn: Conn) -> Result<Self> {
        let mut store = Self {
            conn,
            actor: governance::Actor::local(),
            experiment_locations: std::collections::HashMap::new(),
            known_histories: tracking::histories::Known::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Whether the store's connection is known to be unusable (its PostgreSQL server went
    /// away); a pool drops such a store and opens another.
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.conn.is_broken()
    }

    /// Applies the migrations this database lacks. Two processes may open a new workspace at
    /// once (a job starting while `job show` polls it): the one that takes the write lock
    /// migrates, the other waits for it and then finds nothing left to do.
    fn migrate(&mut self) -> Result<()> {
        let migrations = match self.conn.dialect() {
            db::Dialect::Sqlite => MIGRATIONS,
            db::Dialect::Postgres => PG_MIGRATIONS,
        };
        let known = i64::try_from(migrations.len()).expect("few migrations");
        let too_new = |found: i64| StoreError::TooNew { found, known };
        let current = self.conn.schema_version()?;
        if current > known {
            return Err(too_new(current));
        }
        if current == known {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        if tx.dialect() == db::Dialect::Postgres {
            // A PostgreSQL transaction locks nothing by itself: servers started together on a
            // new database would each create the tables, and all but one fail. The first to
            // take this lock (one per schema) migrates; the others wait for its commit.
            tx.execute_batch("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")?;
        }
        // Read again under the lock: another process may have migrated meanwhile.
        let current = tx.schema_version()?;
        if current > known {
            return Err(too_new(current));
        }
        for sql in migrations
            .iter()
            .skip(usize::try_from(current).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
        }
        tx.set_schema_version(known)?;
        tx.commit()?;
        Ok(())
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.schema_version()?)
    }

    /// How many WAL pages this connection lets build up before it checkpoints them itself
    /// (SQLite's `wal_autocheckpoint`); `None` on PostgreSQL, which has no such thing.
    pub fn checkpoints_every(&self) -> Result<Option<i64>> {
        if self.conn.dialect() != db::Dialect::Sqlite {
            return Ok(None);
        }
        Ok(Some(self.conn.query_row(
            "PRAGMA wal_autocheckpoint",
            (),
            |r| r.get(0),
        )?))
    }
}

fn map_conflict(
    res: crate::db::Result<usize>,
    what: Entity,
    name: impl FnOnce() -> String,
) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.is_constraint_violation() => {
            Err(StoreError::AlreadyExists { what, name: name() })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::params;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::fresh_store(dir.path()).unwrap();
        (dir, store)
    }

    /// A step's reuse candidates are the completed steps of other jobs with its key, the newest
    /// ended first, five at most; on SQLite they are read through an index in that order, not
    /// by sorting every step ever recorded with the key (which made each cached step cost more
    /// with every earlier job). On both engines.
    #[test]
    fn reuse_candidates_are_the_newest_completed_steps_of_other_jobs_with_the_key() {
        use crate::testing::{job_row, step_row};
        let (_d, mut store) = store();
        // Jobs j0..j7 end in an order other than their creation's; j8 failed, j9 has another
        // key, and `now` is the job asking.
        let ended = [3, 7, 1, 6, 0, 5, 2, 4, 8, 9];
        for (i, rank) in ended.iter().enumerate() {
            let job = format!("j{i}");
            store
                .insert_job(&job_row(&job, "Completed"), &[step_row("s", "local")])
                .unwrap();
            let key = if i == 9 { "other" } else { "k" };
            store
                .set_step_reuse(&job, "s", Some(key), &serde_json::json!({}), None)
                .unwrap();
            let status = if i == 8 { "Failed" } else { "Completed" };
            store.set_step_status(&job, "s", status, None).unwrap();
            store
                .conn
                .execute(
                    "UPDATE steps SET ended_at = ?2 WHERE job_name = ?1",
                    params![job, format!("2026-12-07T08:00:0{rank}.000000Z")],
                )
                .unwrap();
        }
        store
            .insert_job(&job_row("now", "Running"), &[step_row("s", "local")])
            .unwrap();
        store
            .set_step_reuse("now", "s", Some("k"), &serde_json::json!({}), None)
            .unwrap();
        store
            .set_step_status("now", "s", "Completed", None)
            .unwrap();
        // The asking job's own step, the newest of all, is never its own candidate.
        store
            .conn
            .execute(
                "UPDATE steps SET ended_at = '2026-12-07T08:00:09.500000Z' WHERE job_name = 'now'",
                (),
            )
            .unwrap();
        let found: Vec<String> = store
            .reuse_candidates("k", "now")
            .unwrap()
            .into_iter()
            .map(|(job, _)| job)
            .collect();
        // Newest ended first: j1 (7), j3 (6), j5 (5), j7 (4), j0 (3).
        assert_eq!(found, ["j1", "j3", "j5", "j7", "j0"]);
        if store.conn.dialect() == db::Dialect::Sqlite {
            let plan: Vec<String> = {
                let sql = format!(
                    "EXPLAIN QUERY PLAN {}",
                    steps_of_other_jobs_sql(REUSE_CANDIDATES)
                );
                let mut stmt = store.conn.prepare(&sql).unwrap();
                stmt.query_map(params!["k", "now"], |r| r.get::<_, String>(3))
                    .unwrap()
                    .collect::<crate::db::Result<_>>()
                    .unwrap()
            };
            assert!(
                plan.iter().any(|d| d.contains("steps_reuse_recent"))
                    && !plan.iter().any(|d| d.contains("TEMP B-TREE")),
                "{plan:?}"
            );
        }
    }

    /// A job's attempts read at once come grouped by step, each step's in order, as each step's
    /// own read gives them; its runs read at once come in the order asked, each as `get_run`
    /// reads it, an id of no run left out. On both engines.
    #[test]
    fn a_jobs_attempts_and_runs_read_at_once_match_their_reads_one_by_one() {
        use crate::testing::{job_row, step_row};
        let (_d, mut store) = store();
        let steps: Vec<StepRow> = ["a", "b", "c"]
            .iter()
            .map(|n| step_row(n, "local"))
            .collect();
        store.insert_job(&job_row("j", "Running"), &steps).unwrap();
        for (step, attempt, status) in [
            ("b", 2, "Completed"),
            ("a", 1, "Completed"),
            ("b", 1, "Failed"),
        ] {
            store
                .record_attempt("j", step, attempt, status, Some(0), None, "l", &now())
                .unwrap();
        }
        let all = store.job_attempts("j").unwrap();
        assert_eq!(all.len(), 2, "c made no attempt");
        for step in ["a", "b"] {
            let one = serde_json::to_value(store.step_attempts("j", step).unwrap()).unwrap();
            assert_eq!(serde_json::to_value(&all[step]).unwrap(), one);
        }
        let attempts: Vec<u32> = all["b"].iter().map(|a| a.attempt).collect();
        assert_eq!(attempts, [1, 2]);

        let mut ids = Vec::new();
        for i in 0..3 {
            let name = format!("r{i}");
            let run = store
                .create_run("0", "u", Some(&name), Some(1), &[])
                .unwrap();
            let id = run.info.run_uuid;
            let m = tracking::Metric {
                key: "m".into(),
                value: f64::from(i),
                timestamp: 5,
                step: 0,
            };
            let p = tracking::KeyValue {
                key: "p".into(),
                value: name.clone(),
            };
            store.log_batch(&id, &[m], &[p], &[]).unwrap();
            ids.push(id);
        }
        let asked = [
            ids[2].as_str(),
            "0123456789abcdef0123456789abcdef",
            ids[0].as_str(),
        ];
        let got = store.get_runs(&asked).unwrap();
        let want = [
            store.get_run(&ids[2]).unwrap(),
            store.get_run(&ids[0]).unwrap(),
        ];
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        assert_eq!(got[0].params[0].value, "r2");
        assert!(store.get_runs(&[]).unwrap().is_empty());
    }

    /// A compute's places: held by the `Preparing`, `Running` and `Finalizing` steps of live
    /// jobs, whichever job; freed when a step ends or its job's runner goes silent; and never
    /// more taken than there are when many connections claim at once.
    #[test]
    fn a_computes_places_are_held_across_jobs_and_taken_atomically() {
        use crate::testing::{RUNNER, job_row, step_row};
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let mut store = Store::open_at(&location).unwrap();
        let steps = |prefix: &str, n: usize, compute: &str| -> Vec<StepRow> {
            (0..n)
                .map(|i| step_row(&format!("{prefix}{i}"), compute))
                .collect()
        };
        let status = |store: &Store, job: &str, step: &str| -> String {
            store
                .list_steps(job)
                .unwrap()
                .into_iter()
                .find(|s| s.name == step)
                .unwrap()
                .status
        };
        // Sets the scene the way other processes would leave it.
        let sql = |store: &Store, statement: &str| {
            store.conn.execute(statement, ()).unwrap();
        };
        store
            .insert_job(&job_row("a", "Running"), &steps("a", 3, "gpu"))
            .unwrap();
        store
            .insert_job(&job_row("b", "Running"), &steps("b", 2, "gpu"))
            .unwrap();
        store
            .insert_job(&job_row("c", "Running"), &[step_row("c0", "cpu")])
            .unwrap();
        assert!(
            store
                .claim_compute_slot("a", "a0", "gpu", 2, 120, 0)
                .unwrap()
        );
        assert!(
            store
                .claim_compute_slot("b", "b0", "gpu", 2, 120, 0)
                .unwrap()
        );
        assert!(
            !store
                .claim_compute_slot("a", "a1", "gpu", 2, 120, 0)
                .unwrap(),
            "both held"
        );
        assert_eq!(status(&store, "a", "a1"), "NotStarted", "nothing written");
        assert!(
            store
                .claim_compute_slot("c", "c0", "cpu", 2, 120, 0)
                .unwrap(),
            "another compute"
        );
        assert_eq!(status(&store, "a", "a0"), "Preparing");
        // Running still holds it; an ended step frees it.
        store.set_step_status("a", "a0", "Running", None).unwrap();
        assert!(
            !store
                .claim_compute_slot("a", "a1", "gpu", 2, 120, 0)
                .unwrap()
        );
        store.set_step_status("a", "a0", "Completed", None).unwrap();
        assert!(
            store
                .claim_compute_slot("a", "a1", "gpu", 2, 120, 0)
                .unwrap()
        );
        // A job whose runner has been silent past the stale limit holds none.
        store.set_job_runner("b", RUNNER).unwrap();
        assert!(
            !store
                .claim_compute_slot("a", "a2", "gpu", 2, 120, 0)
                .unwrap()
        );
        sql(
            &store,
            "UPDATE jobs SET runner_beat = runner_beat - 1000 WHERE name = 'b'",
        );
        assert!(
            store
                .claim_compute_slot("a", "a2", "gpu", 2, 120, 0)
                .unwrap()
        );
        // Unless its batch job runs on: the store names it for the caller to ask.
        assert_eq!(
            store.unattended_batch_steps("a", "a3", "gpu", 120).unwrap(),
            Vec::<(String, String)>::new(),
            "b0 launched nothing"
        );
        sql(
            &store,
            "UPDATE steps SET executor = 'slurm', executor_id = '55' WHERE job_name = 'b' AND name = 'b0'",
        );
        assert_eq!(
            store.unattended_batch_steps("a", "a3", "gpu", 120).unwrap(),
            [("slurm".to_owned(), "55".to_owned())]
        );
        assert!(
            store
                .unattended_batch_steps("a", "a3", "gpu", 5000)
                .unwrap()
                .is_empty(),
            "a runner silent for less than the stale limit still watches its steps"
        );
        // A detached step (its batch job runs on after its runner died, its job marked
        // interrupted) is not counted by the store: nothing would end it but a resume or a
        // cancel. The store names its batch job; the caller asks whether it still runs.
        store
            .insert_job(&job_row("e", "Running"), &[step_row("e0", "hpc")])
            .unwrap();
        store
            .insert_job(&job_row("f", "Running"), &[step_row("f0", "hpc")])
            .unwrap();
        store.set_step_status("e", "e0", "Running", None).unwrap();
        sql(&store, "UPDATE steps SET detached = 1 WHERE job_name = 'e'");
        sql(&store, "UPDATE jobs SET status = 'Failed' WHERE name = 'e'");
        sql(
            &store,
            "UPDATE steps SET executor = 'slurm', executor_id = '77' WHERE job_name = 'e'",
        );
        assert_eq!(
            store.unattended_batch_steps("f", "f0", "hpc", 120).unwrap(),
            [("slurm".to_owned(), "77".to_owned())]
        );
        assert!(
            !store
                .claim_compute_slot("f", "f0", "hpc", 1, 120, 1)
                .unwrap(),
            "held by the batch job that runs on"
        );
        assert!(
            store
                .claim_compute_slot("f", "f0", "hpc", 1, 120, 0)
                .unwrap()
        );
        assert!(
            store
                .unattended_batch_steps("e", "e0", "hpc", 120)
                .unwrap()
                .is_empty(),
            "not the claimant's own step"
        );

        // Ten connections claim ten steps of one compute of three places at once.
        store
            .insert_job(&job_row("d", "Running"), &steps("d", 10, "tpu"))
            .unwrap();
        let taken: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..10)
                .map(|i| {
                    let location = location.clone();
                    scope.spawn(move || {
                        let mut own = Store::open_at(&location).unwrap();
                        usize::from(
                            own.claim_compute_slot("d", &format!("d{i}"), "tpu", 3, 120, 0)
                                .unwrap(),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        drop(dir);
        assert_eq!(taken, 3, "three places, whoever asked first");
    }

    #[test]
    fn a_jobs_runner_is_recorded_with_its_machine() {
        use crate::testing::{RUNNER, job_row, step_row};
        let (_dir, mut store) = store();
        store
            .insert_job(&job_row("j", "Running"), &[step_row("s", "local")])
            .unwrap();
        store.set_job_runner("j", RUNNER).unwrap();
        let runners = store.unfinished_jobs().unwrap();
        assert_eq!(
            (
                runners[0].pid,
                runners[0].started.as_deref(),
                runners[0].host.as_deref()
            ),
            (Some(1), Some("1"), Some("test-host/test-boot"))
        );
        // Claimed now, and it beats while it is the job's runner.
        let silent = runners[0].silent_for.expect("a beat at the claim");
        assert!((0..=5).contains(&silent), "{silent}");
        assert!(store.beat_job_runner("j", RUNNER).unwrap());
        let stranger = crate::Runner {
            pid: 9,
            started: "9",
            host: "test-host/test-boot",
        };
        assert!(!store.beat_job_runner("j", stranger).unwrap());
        // A resume records its own.
        store
            .mark_interrupted("j", None, "interrupted: x", &[], false)
            .unwrap();
        let other = crate::Runner {
            pid: 2,
            started: "2",
            host: "other/boot",
        };
        store.reset_for_resume("j", other).unwrap();
        let runners = store.unfinished_jobs().unwrap();
        assert_eq!(runners[0].host.as_deref(), Some("other/boot"));
        assert!(runners[0].silent_for.is_some());
        assert!(
            !store.beat_job_runner("j", RUNNER).unwrap(),
            "no longer its"
        );
        assert!(store.beat_job_runner("j", other).unwrap());
        // An ended job's runner beats no more.
        store.set_job_status("j", "Completed", None).unwrap();
        assert!(!store.beat_job_runner("j", other).unwrap());
    }

    #[test]
    fn a_silent_runner_is_judged_in_two_looks_and_its_processes_kept_for_its_machine() {
        use crate::testing::{RUNNER, job_row, step_row};
        let (_dir, mut store) = store();
        store
            .insert_job(&job_row("j", "Running"), &[step_row("s", "local")])
            .unwrap();
        store.set_job_runner("j", RUNNER).unwrap();
        store.set_step_pid("j", "s", Some((77, "770"))).unwrap();
        let runner = (RUNNER.pid, RUNNER.started);
        // Beating: not judged.
        assert!(!store.judge_silent_runner("j", runner, 120).unwrap());
        // Silent for 1,000 s: suspected at the first look, not judged.
        let shift = |store: &Store, sql: &str| store.conn.execute(sql, ()).unwrap();
        shift(&store, "UPDATE jobs SET runner_beat = runner_beat - 1000");
        assert!(!store.judge_silent_runner("j", runner, 120).unwrap());
        // A beat after the suspicion: suspected again from now, not judged.
        shift(
            &store,
            "UPDATE jobs SET runner_suspect = runner_suspect - 500",
        );
        assert!(store.beat_job_runner("j", RUNNER).unwrap());
        shift(&store, "UPDATE jobs SET runner_beat = runner_beat - 200");
        assert!(!store.judge_silent_runner("j", runner, 120).unwrap());
        // Still silent a stale limit after the suspicion (500 s on): judged; not for another
        // runner.
        shift(
            &store,
            "UPDATE jobs SET runner_suspect = runner_suspect - 500, runner_beat = runner_beat - 500",
        );
        assert!(!store.judge_silent_runner("j", (2, "2"), 120).unwrap());
        assert!(store.judge_silent_runner("j", runner, 120).unwrap());
        // Ended for its machine to stop its steps: kept apart from the steps' own pids.
        store
            .mark_interrupted("j", Some(runner), "interrupted: silent", &[], true)
            .unwrap()
            .unwrap();
        assert!(store.step_processes("j").unwrap().is_empty());
        assert!(
            store
                .orphan_processes_of_machine("elsewhere")
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .orphan_processes_of_machine("test")
                .unwrap()
                .is_empty()
        );
        let left = store.orphan_processes_of_machine("test-host").unwrap();
        let expected = OrphanProcess {
            job: "j".into(),
            step: "s".into(),
            pid: 77,
            started: "770".into(),
            runner_pid: Some(1),
            runner_started: Some("1".into()),
        };
        assert_eq!(left, [(RUNNER.host.to_owned(), expected.clone())]);
        // Interrupted again with another process for the step: the newer one is kept.
        store.set_step_pid("j", "s", Some((78, "780"))).unwrap();
        store
            .mark_interrupted("j", None, "interrupted: again", &[], true)
            .unwrap();
        let left = store.orphan_processes_of_machine("test-host").unwrap();
        assert_eq!(
            (left.len(), left[0].1.pid, left[0].1.started.as_str()),
            (1, 78, "780")
        );
        store.forget_orphan_process(RUNNER.host, "j", "s").unwrap();
        assert!(
            store
                .orphan_processes_of_machine("test-host")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn interrupted_jobs_are_found_until_resumed_or_canceled() {
        use crate::testing::{job_row, step_row};
        let (_dir, mut store) = store();
        for job in ["a", "b", "c"] {
            store
                .insert_job(&job_row(job, "Running"), &[step_row("s", "local")])
                .unwrap();
            store.set_step_status(job, "s", "Running", None).unwrap();
        }
        let why = format!("{INTERRUPTED} its runner died");
        for job in ["a", "b"] {
            store.mark_interrupted(job, None, &why, &[], false).unwrap();
        }
        // A job that failed otherwise is not interrupted.
        store
            .set_job_status("c", "Failed", Some("step `s` failed"))
            .unwrap();
        assert_eq!(store.interrupted_jobs().unwrap(), ["a", "b"]);
        // Only an interrupted job is claimed by a resume that asks for one.
        assert!(
            store
                .reset_interrupted_for_resume("c", crate::testing::RUNNER)
                .is_err(),
            "c failed otherwise"
        );
        // Resumed: no longer interrupted.
        store
            .reset_interrupted_for_resume("a", crate::testing::RUNNER)
            .unwrap();
        assert_eq!(store.interrupted_jobs().unwrap(), ["b"]);
        // Canceled: no longer interrupted, and said so in its history.
        assert!(!store.cancel_interrupted("a", "no").unwrap(), "a is not");
        assert!(!store.cancel_interrupted("c", "no").unwrap(), "c is not");
        assert_eq!(store.get_job("c").unwrap().status, "Failed");
        assert!(store.cancel_interrupted("b", "canceled").unwrap());
        let b = store.get_job("b").unwrap();
        assert_eq!(
            (b.status.as_str(), b.error.as_deref()),
            ("Canceled", Some("canceled"))
        );
        let last = store.status_history("b").unwrap().pop().unwrap();
        assert_eq!((last.step.as_str(), last.status.as_str()), ("", "Canceled"));
        assert!(store.interrupted_jobs().unwrap().is_empty());
        assert!(
            !store.cancel_interrupted("b", "again").unwrap(),
            "only once"
        );
        // Canceled, it is not claimed by a resume for interrupted jobs (a plain one still can).
        assert!(
            store
                .reset_interrupted_for_resume("b", crate::testing::RUNNER)
                .is_err()
        );
        store.reset_for_resume("b", crate::testing::RUNNER).unwrap();
    }

    #[test]
    fn an_interrupted_jobs_detached_step_keeps_its_batch_job_run_and_token_until_resumed_or_canceled()
     {
        use crate::testing::{job_row, step_row};
        let (_dir, mut store) = store();
        let tag = |k: &str, v: &str| tracking::KeyValue {
            key: k.into(),
            value: v.into(),
        };
        let interrupted = |store: &mut Store, job: &str| {
            store
                .insert_job(
                    &job_row(job, "Running"),
                    &[
                        step_row("done", "hpc"),
                        step_row("far", "hpc"),
                        step_row("near", "local"),
                    ],
                )
                .unwrap();
            store
                .set_step_status(job, "done", "Completed", None)
                .unwrap();
            let mut runs = Vec::new();
            for step in ["far", "near"] {
                store.set_step_status(job, step, "Running", None).unwrap();
                let run = store
                    .create_run("0", "u", Some(step), Some(1), &[tag("sluice.job", job)])
                    .unwrap();
                store.set_step_run(job, step, &run.info.run_uuid).unwrap();
                runs.push(run.info.run_uuid);
            }
            store
                .set_step_executor(job, "far", "slurm", Some(("41", 2)))
                .unwrap();
            store.set_step_pid(job, "near", Some((7, "9"))).unwrap();
            store
                .record_attempt(job, "far", 1, "Failed", Some(1), None, "l", &now())
                .unwrap();
            let actor = governance::Actor::local();
            store.governed(&actor).create_job_token(job).unwrap();
            // Claimed by another runner meanwhile: nothing changes.
            assert_eq!(
                store
                    .mark_interrupted(job, Some((9, "9")), "interrupted", &[], false)
                    .unwrap(),
                None
            );
            let failed = store
                .mark_interrupted(job, None, "interrupted", &["far".to_owned()], false)
                .unwrap();
            assert_eq!(failed.as_deref(), Some(&["near".to_owned()][..]));
            runs
        };
        let runs = interrupted(&mut store, "j");
        let steps = store.list_steps("j").unwrap();
        let by = |n: &str| steps.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(store.get_job("j").unwrap().status, "Failed");
        assert_eq!(
            (by("far").status.as_str(), by("far").detached),
            ("Running", true)
        );
        assert_eq!(
            (by("near").status.as_str(), by("near").detached),
            ("Failed", false)
        );
        assert_eq!(store.get_run(&runs[0]).unwrap().info.status, "RUNNING");
        assert_eq!(store.get_run(&runs[1]).unwrap().info.status, "FAILED");
        let live_tokens = |store: &Store, job: &str| -> i64 {
            store
                .conn
                .query_row(
                    "SELECT COUNT(*) FROM tokens WHERE job_name = ?1 AND revoked_at IS NULL",
                    [job],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(
            live_tokens(&store, "j"),
            1,
            "the detached step still acts with it"
        );
        let detached = store.detached_steps("j").unwrap();
        assert_eq!(
            detached,
            [DetachedStep {
                step: "far".into(),
                executor: "slurm".into(),
                executor_id: "41".into(),
                attempt: 2,
                run_id: Some(runs[0].clone()),
            }]
        );
        // Resumed: the detached step keeps its batch job, attempts and run; the other starts over.
        let again = store.reset_for_resume("j", crate::testing::RUNNER).unwrap();
        assert_eq!(again, ["far", "near"]);
        assert_eq!(store.detached_steps("j").unwrap(), detached);
        let steps = store.list_steps("j").unwrap();
        let far = steps.iter().find(|s| s.name == "far").unwrap();
        assert_eq!(
            (far.status.as_str(), far.executor_id.as_deref()),
            ("NotStarted", Some("41"))
        );
        assert_eq!(store.step_attempts("j", "far").unwrap().len(), 1);
        let near = steps.iter().find(|s| s.name == "near").unwrap();
        assert_eq!((near.executor.as_deref(), near.detached), (None, false));
        // Another interrupted job, canceled instead: the job is Canceled at once, its detached
        // step once its batch job was stopped.
        let runs = interrupted(&mut store, "k");
        let begun = store.begin_cancel_detached("k", "canceled").unwrap();
        assert_eq!(begun.len(), 1);
        assert_eq!(store.get_job("k").unwrap().status, "Canceled");
        assert_eq!(store.detached_steps("k").unwrap(), begun, "not yet stopped");
        store.end_detached_step("k", "far", "canceled").unwrap();
        assert!(store.detached_steps("k").unwrap().is_empty());
        assert!(
            store
                .begin_cancel_detached("k", "canceled")
                .unwrap()
                .is_empty(),
            "nothing left to cancel"
        );
        // A running (resumed) job's detached step is not the cancel's.
        assert!(
            store
                .begin_cancel_detached("j", "canceled")
                .unwrap()
                .is_empty()
        );
        store.end_detached_step("j", "far", "canceled").unwrap();
        assert_eq!(
            store.detached_steps("j").unwrap().len(),
            1,
            "left to its runner"
        );
        let far = store
            .list_steps("k")
            .unwrap()
            .into_iter()
            .find(|s| s.name == "far")
            .unwrap();
        assert_eq!((far.status.as_str(), far.detached), ("Canceled", false));
        assert_eq!(store.get_run(&runs[0]).unwrap().info.status, "KILLED");
        // Without a detached step, the job's token is revoked with it.
        store
            .insert_job(&job_row("m", "Running"), &[step_row("a", "local")])
            .unwrap();
        store
            .governed(&governance::Actor::local())
            .create_job_token("m")
            .unwrap();
        store
            .mark_interrupted("m", None, "interrupted", &[], false)
            .unwrap();
        assert_eq!(live_tokens(&store, "m"), 0);
        // The tracking port a resumed job listens on again.
        assert_eq!(store.job_tracking_port("m").unwrap(), None);
        store.set_job_tracking_port("m", 5123).unwrap();
        assert_eq!(store.job_tracking_port("m").unwrap(), Some(5123));
    }

    fn data(name: &str, version: &str) -> DataAssetRow {
        DataAssetRow {
            name: name.into(),
            version: version.into(),
            ty: "uri_file".into(),
            path: "/x".into(),
            source_path: "./x".into(),
            description: None,
            tags: indexmap::IndexMap::new(),
            content_hash: "abc".into(),
            size_bytes: 1,
            file_count: 1,
            created_at: now(),
        }
    }

    #[test]
    fn processes_opening_a_new_workspace_at_once_both_get_it() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db.sqlite");
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Store::open(&path).map(|s| s.schema_version()))
                })
                .collect();
            for o in openers {
                let version = o.join().unwrap().unwrap().unwrap();
                assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
            }
        }
    }

    #[test]
    fn processes_writing_at_once_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || -> Result<()> {
                    let mut s = Store::open(&path)?;
                    for i in 0..10 {
                        let exp = s.create_experiment(&format!("w{w}-{i}"), None, &[])?;
                        let run = s.create_run(&exp, "u", None, None, &[])?;
                        s.log_batch(
                            &run.info.run_id,
                            &[],
                            &[crate::tracking::KeyValue {
                                key: "p".into(),
                                value: "1".into(),
                            }],
                            &[],
                        )?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap().unwrap();
        }
    }

    #[test]
    fn datastores_are_upserted_listed_and_unchanged_writes_say_so() {
        let (_dir, store) = store();
        let row = DatastoreRow {
            name: "blob".into(),
            ty: "azure_blob".into(),
            settings: serde_json::json!({"account_name": "acct", "container_name": "c", "endpoint": "core.windows.net"}),
            credential: "account_key".into(),
            description: Some("d".into()),
            tags: [("team".to_owned(), "ml".to_owned())].into_iter().collect(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        assert!(store.upsert_datastore(&row).unwrap(), "created");
        assert!(
            !store.upsert_datastore(&row).unwrap(),
            "the same again changes nothing"
        );
        let got = store.get_datastore("blob").unwrap().unwrap();
        assert_eq!(got, row);
        let moved = DatastoreRow {
            settings: serde_json::json!({"account_name": "acct", "container_name": "other", "endpoint": "core.windows.net"}),
            updated_at: "2026-02-01T00:00:00Z".into(),
            ..row.clone()
        };
        assert!(store.upsert_datastore(&moved).unwrap(), "changed");
        let got = store.get_datastore("blob").unwrap().unwrap();
        assert_eq!(got.settings["container_name"], "other");
        assert_eq!(got.created_at, row.created_at, "created_at is kept");
        assert_eq!(got.updated_at, "2026-02-01T00:00:00Z");
        let s3 = DatastoreRow {
            name: "a-s3".into(),
            ty: "s3".into(),
            credential: "none".into(),
            ..row
        };
        store.upsert_datastore(&s3).unwrap();
        let names: Vec<String> = store
            .list_datastores()
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["a-s3", "blob"]);
        assert!(store.get_datastore("nope").unwrap().is_none());
    }

    /// Stores opened at once on a new database (servers started together) all open it: one
    /// migrates, the others wait and find it done.
    #[test]
    fn stores_opened_together_on_a_new_database_all_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let opened: Vec<Result<i64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Store::open_at(&location).and_then(|st| st.schema_version())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in opened {
            assert_eq!(r.unwrap(), i64::try_from(MIGRATIONS.len()).unwrap());
        }
    }

    #[test]
    fn migrations_run_once_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let latest = i64::try_from(MIGRATIONS.len()).unwrap();
        assert_eq!(latest, 31);
        assert_eq!(
            Store::open(&path).unwrap().schema_version().unwrap(),
            latest
        );
        assert_eq!(
            Store::open(&path).unwrap().schema_version().unwrap(),
            latest
        );
    }

    #[test]
    fn locations_parse_and_hide_passwords() {
        assert_eq!(
            Location::parse("postgresql://u:pw@db:5432/mlops"),
            Location::Postgres("postgresql://u:pw@db:5432/mlops".into())
        );
        assert!(matches!(
            Location::parse("postgres://u@db/mlops"),
            Location::Postgres(_)
        ));
        assert_eq!(
            Location::parse("sqlite:///tmp/a.db"),
            Location::Sqlite("/tmp/a.db".into())
        );
        assert_eq!(
            Location::parse("ws/sluice.db"),
            Location::Sqlite("ws/sluice.db".into())
        );
        assert_eq!(
            Location::parse("postgresql://u:pw@db/mlops").redacted(),
            "postgresql://u:***@db/mlops"
        );
        assert_eq!(
            Location::parse("postgresql://u@db/mlops").redacted(),
            "postgresql://u@db/mlops"
        );
    }

    /// A database written by a newer Sluice is refused, not altered.
    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let store = Store::open_at(&location).unwrap();
        store.conn.set_schema_version(99).unwrap();
        drop(store);
        assert!(matches!(
            Store::open_at(&location),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    /// Points not yet folded when a workspace at schema 16 upgrades stay readable, and
    /// `metrics_recent` no longer checks its runs (a fold empties it by freeing its pages).
    #[test]
    fn a_schema_16_workspace_keeps_its_unfolded_points() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let run = {
            let mut store = Store::open(&path).unwrap();
            let exp = store.create_experiment("old", None, &[]).unwrap();
            store
                .create_run(&exp, "u", None, Some(1), &[])
                .unwrap()
                .info
                .run_uuid
        };
        {
            // Back to schema 16: metrics_recent with its foreign key, holding two points (and
            // none of 0018's or 0019's columns, nor 0022's table, nor 0023's index).
            let mut conn = Conn::open_sqlite(&path).unwrap();
            let tx = conn.transaction().unwrap();
            tx.execute_batch(&format!(
                "{UNDO_0031}
                 {UNDO_0030}
                 {UNDO_0029}
                 {UNDO_0028}
                 {UNDO_0027}
                 {UNDO_0026}
                 {UNDO_0025}
                 {UNDO_0024}
                 DROP INDEX steps_compute_active;
                 DROP TABLE webhooks;
                 DROP TABLE orphan_processes;
                 ALTER TABLE jobs DROP COLUMN runner_suspect;
                 ALTER TABLE jobs DROP COLUMN runner_beat;
                 ALTER TABLE jobs DROP COLUMN runner_host;
                 ALTER TABLE steps DROP COLUMN detached;
                 ALTER TABLE steps DROP COLUMN executor_attempt;
                 ALTER TABLE jobs DROP COLUMN tracking_port;
                 DROP TABLE metrics_recent;
                 CREATE TABLE metrics_recent (
                     run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), seq INTEGER NOT NULL,
                     key TEXT NOT NULL, value REAL NOT NULL, timestamp INTEGER NOT NULL,
                     step INTEGER NOT NULL, is_nan INTEGER NOT NULL DEFAULT 0, model_id TEXT,
                     PRIMARY KEY (run_uuid, seq)) WITHOUT ROWID;",
            ))
            .unwrap();
            for (seq, step, value) in [(0, 0, 1.5), (1, 1, 0.5)] {
                tx.execute(
                    "INSERT INTO metrics_recent (run_uuid, seq, key, value, timestamp, step) VALUES (?1, ?2, 'loss', ?3, 7, ?4)",
                    params![run, seq, value, step],
                )
                .unwrap();
            }
            tx.execute("UPDATE metrics_recent_count SET n = 2", ())
                .unwrap();
            tx.set_schema_version(16).unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let (points, _) = store.metric_history_points(&run, "loss", 10, 0).unwrap();
        let got: Vec<(i64, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(got, [(0, 1.5), (1, 0.5)]);
        let checks: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_foreign_key_list('metric_points_recent')",
                (),
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(checks, 0);
    }

    /// The schema version of a workspace with every migration.
    #[expect(clippy::cast_possible_wrap, reason = "a few dozen migrations")]
    const LATEST: i64 = MIGRATIONS.len() as i64;

    /// Takes the database at `location` (at the latest schema) back to schema `version` in
    /// one transaction, by the undo steps below, newest first (each engine's own), lets `old`
    /// write rows in that layout, and commits.
    fn downgrade(location: &Location, version: i64, old: impl FnOnce(&db::Transaction<'_>)) {
        // The undo steps below go back to schema 23 from the latest: a new migration adds its
        // own first.
        assert_eq!(
            LATEST, 31,
            "give `downgrade` the undo step of the new migration"
        );
        assert!(
            (23..LATEST).contains(&version),
            "no undo steps below schema 23"
        );
        let sqlite = matches!(location, Location::Sqlite(_));
        let mut conn = match location {
            Location::Sqlite(path) => Conn::open_sqlite(path).unwrap(),
            Location::Postgres(url) => Conn::open_postgres(url).unwrap(),
        };
        let tx = conn.transaction().unwrap();
        for (undoes, on_sqlite, on_postgres) in [
            (31, UNDO_0031, UNDO_0031),
            (30, UNDO_0030, UNDO_0030),
            (29, UNDO_0029, UNDO_0029_POSTGRES),
            (28, UNDO_0028, UNDO_0028_POSTGRES),
            (27, UNDO_0027, UNDO_0027),
            (26, UNDO_0026, UNDO_0026_POSTGRES),
            (25, UNDO_0025, UNDO_0025_POSTGRES),
            (24, UNDO_0024, UNDO_0024_POSTGRES),
        ] {
            if version < undoes {
                tx.execute_batch(if sqlite { on_sqlite } else { on_postgres })
                    .unwrap();
            }
        }
        old(&tx);
        tx.set_schema_version(version).unwrap();
        tx.commit().unwrap();
    }

    /// Back to schema 30: nothing (0031 only removed rows no model owned).
    const UNDO_0031: &str = "";

    /// Back to schema 29 (both engines): reuse candidates found by their key alone.
    const UNDO_0030: &str = "DROP INDEX steps_reuse_recent;
         CREATE INDEX steps_reuse_key ON steps (reuse_key) WHERE reuse_key IS NOT NULL;";

    /// Back to schema 28: nothing on SQLite (0029 changed nothing there).
    const UNDO_0029: &str = "";

    /// [`UNDO_0029`] on PostgreSQL: points back in `metrics`, keyed by run and name.
    const UNDO_0029_POSTGRES: &str = "CREATE TABLE metrics (
             run_uuid TEXT NOT NULL, key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
             timestamp BIGINT NOT NULL, step BIGINT NOT NULL, is_nan BIGINT NOT NULL DEFAULT 0,
             model_id TEXT, PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan));
         INSERT INTO metrics (run_uuid, key, value, timestamp, step, is_nan, model_id)
             SELECT h.run_uuid, h.key, p.value, p.timestamp, p.step, p.is_nan, p.model_id
             FROM metric_points p JOIN metric_histories h ON h.history_id = p.history_id;
         DROP TABLE metric_points;";

    /// Back to schema 27: nothing on SQLite (0028 changed nothing there).
    const UNDO_0028: &str = "";

    /// [`UNDO_0028`] on PostgreSQL: runs numbered after the newest again.
    const UNDO_0028_POSTGRES: &str = "DROP SEQUENCE runs_seq_numbers;";

    /// Back to schema 26 (on both engines).
    const UNDO_0027: &str = "DROP INDEX metric_histories_run;";

    /// Back to schema 25 (before registered models had integer keys), keeping every row.
    const UNDO_0026: &str = "DROP VIEW model_versions;
         DROP VIEW model_version_tags;
         DROP VIEW registered_model_aliases;
         DROP VIEW registered_model_tags;
         CREATE TABLE old_models (
             name TEXT PRIMARY KEY, creation_time INTEGER NOT NULL,
             last_updated_time INTEGER NOT NULL, description TEXT,
             last_version INTEGER NOT NULL DEFAULT 0);
         INSERT INTO old_models SELECT name, creation_time, last_updated_time, description, last_version FROM registered_models;
         CREATE TABLE model_versions (
             name TEXT NOT NULL REFERENCES old_models (name) ON UPDATE CASCADE,
             version INTEGER NOT NULL, creation_time INTEGER NOT NULL,
             last_updated_time INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '',
             user_id TEXT NOT NULL DEFAULT '', current_stage TEXT NOT NULL DEFAULT 'None',
             source TEXT NOT NULL, storage_location TEXT NOT NULL,
             run_id TEXT NOT NULL DEFAULT '', run_link TEXT NOT NULL DEFAULT '',
             status TEXT NOT NULL DEFAULT 'READY', model_id TEXT, PRIMARY KEY (name, version));
         INSERT INTO model_versions SELECT m.name, v.version, v.creation_time, v.last_updated_time,
             v.description, v.user_id, v.current_stage, v.source, v.storage_location, v.run_id,
             v.run_link, v.status, v.model_id
             FROM versions v JOIN registered_models m ON m.model_key = v.model_key;
         CREATE INDEX model_versions_run ON model_versions (run_id);
         CREATE TABLE model_version_tags (
             name TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
             PRIMARY KEY (name, version, key),
             FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE
         ) WITHOUT ROWID;
         INSERT INTO model_version_tags SELECT m.name, t.version, t.key, t.value
             FROM version_tags t JOIN registered_models m ON m.model_key = t.model_key;
         CREATE TABLE registered_model_aliases (
             name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
             PRIMARY KEY (name, alias),
             FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE
         ) WITHOUT ROWID;
         INSERT INTO registered_model_aliases SELECT m.name, a.alias, a.version
             FROM model_aliases a JOIN registered_models m ON m.model_key = a.model_key;
         CREATE INDEX registered_model_aliases_version ON registered_model_aliases (name, version);
         CREATE TABLE registered_model_tags (
             name TEXT NOT NULL REFERENCES old_models (name) ON UPDATE CASCADE,
             key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, key)) WITHOUT ROWID;
         INSERT INTO registered_model_tags SELECT m.name, t.key, t.value
             FROM model_tags t JOIN registered_models m ON m.model_key = t.model_key;
         DROP TABLE model_aliases;
         DROP TABLE version_tags;
         DROP TABLE versions;
         DROP TABLE model_tags;
         DROP TABLE registered_models;
         ALTER TABLE old_models RENAME TO registered_models;";

    /// [`UNDO_0026`] on PostgreSQL.
    const UNDO_0026_POSTGRES: &str = "DROP VIEW model_versions;
         DROP VIEW model_version_tags;
         DROP VIEW registered_model_aliases;
         DROP VIEW registered_model_tags;
         ALTER TABLE versions RENAME TO model_versions;
         ALTER TABLE version_tags RENAME TO model_version_tags;
         ALTER TABLE model_aliases RENAME TO registered_model_aliases;
         ALTER TABLE model_tags RENAME TO registered_model_tags;
         ALTER INDEX versions_run RENAME TO model_versions_run;
         ALTER TABLE model_versions ADD COLUMN name TEXT;
         UPDATE model_versions SET name = m.name FROM registered_models m WHERE m.model_key = model_versions.model_key;
         ALTER TABLE model_version_tags ADD COLUMN name TEXT;
         UPDATE model_version_tags SET name = m.name FROM registered_models m WHERE m.model_key = model_version_tags.model_key;
         ALTER TABLE registered_model_aliases ADD COLUMN name TEXT;
         UPDATE registered_model_aliases SET name = m.name FROM registered_models m WHERE m.model_key = registered_model_aliases.model_key;
         ALTER TABLE registered_model_tags ADD COLUMN name TEXT;
         UPDATE registered_model_tags SET name = m.name FROM registered_models m WHERE m.model_key = registered_model_tags.model_key;
         ALTER TABLE model_version_tags DROP COLUMN model_key;
         ALTER TABLE registered_model_aliases DROP COLUMN model_key;
         ALTER TABLE registered_model_tags DROP COLUMN model_key;
         ALTER TABLE model_versions DROP COLUMN model_key;
         ALTER TABLE registered_models DROP COLUMN model_key;
         ALTER TABLE model_versions ADD PRIMARY KEY (name, version);
         ALTER TABLE model_versions ADD FOREIGN KEY (name) REFERENCES registered_models (name) ON UPDATE CASCADE;
         ALTER TABLE model_version_tags ADD PRIMARY KEY (name, version, key);
         ALTER TABLE model_version_tags ADD FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE;
         ALTER TABLE registered_model_aliases ADD PRIMARY KEY (name, alias);
         ALTER TABLE registered_model_aliases ADD FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE;
         CREATE INDEX registered_model_aliases_version ON registered_model_aliases (name, version);
         ALTER TABLE registered_model_tags ADD PRIMARY KEY (name, key);
         ALTER TABLE registered_model_tags ADD FOREIGN KEY (name) REFERENCES registered_models (name) ON UPDATE CASCADE;";

    /// A workspace at schema 25 keeps its registry through 0026: models, versions (their
    /// numbers, stages, tags), aliases and model tags read back as before and found by
    /// searches; then renamed (everything follows), registered to (numbering goes on past the
    /// highest ever given), deleted (nothing left behind), and new models made. On both
    /// engines.
    #[test]
    fn a_schema_25_workspace_keeps_its_registry() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let kv = |k: &str, v: &str| tracking::KeyValue {
            key: k.into(),
            value: v.into(),
        };
        let register = |store: &mut Store, name: &str, tags: &[tracking::KeyValue]| {
            store
                .create_model_version(&registry::NewModelVersion {
                    name,
                    source: "file:///tmp/model",
                    run_id: None,
                    tags,
                    run_link: None,
                    description: Some("d"),
                    model_id: None,
                })
                .unwrap()
        };
        // Every model and every version, with their tags and aliases.
        let snapshot =
            |store: &Store| -> Vec<(registry::RegisteredModel, Vec<registry::ModelVersion>)> {
                ["taxi", "other"]
                    .iter()
                    .map(|name| {
                        let versions = ["1", "2", "3"]
                            .iter()
                            .filter_map(|v| store.get_model_version(name, v).ok())
                            .collect();
                        (store.get_registered_model(name).unwrap(), versions)
                    })
                    .collect()
            };
        let before = {
            let mut store = Store::open_at(&location).unwrap();
            store
                .create_registered_model("taxi", &[kv("team", "fare")], Some("fares"))
                .unwrap();
            store.create_registered_model("other", &[], None).unwrap();
            for i in 0..3 {
                register(&mut store, "taxi", &[kv("n", &i.to_string())]);
            }
            register(&mut store, "other", &[]);
            store.delete_model_version("taxi", "3").unwrap();
            store
                .set_registered_model_alias("taxi", "champion", "2")
                .unwrap();
            store
                .transition_model_version_stage("taxi", "1", "Production", false)
                .unwrap();
            snapshot(&store)
        };
        downgrade(&location, 25, |_| ());
        let mut store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        assert_eq!(snapshot(&store), before);
        assert_eq!(
            before.iter().map(|(_, v)| v.len()).collect::<Vec<_>>(),
            [2, 1],
            "taxi's versions 1 and 2 (3 deleted), other's 1"
        );
        let champion = store
            .get_model_version_by_alias("taxi", "champion")
            .unwrap();
        assert_eq!(champion.version, "2");
        assert_eq!(champion.tags, [kv("n", "1")]);
        assert_eq!(champion.aliases, ["champion"]);
        let (found, _) = store
            .search_model_versions(Some("tags.n = '0'"), &[], 10, 0)
            .unwrap();
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|v| (v.name.as_str(), v.version.as_str()))
            .collect();
        assert_eq!(found, [("taxi", "1")]);
        let (models, _) = store
            .search_registered_models(Some("tags.team = 'fare'"), &[], 10, 0)
            .unwrap();
        assert_eq!(models.len(), 1);
        // Renamed: versions, tags and aliases follow; numbering goes on past 3 (deleted).
        store.rename_registered_model("taxi", "fare").unwrap();
        let renamed = store.get_registered_model("fare").unwrap();
        assert_eq!(renamed.tags, before[0].0.tags);
        assert_eq!(renamed.aliases, before[0].0.aliases);
        assert_eq!(
            store.get_model_version("fare", "1").unwrap().current_stage,
            "Production"
        );
        assert_eq!(register(&mut store, "fare", &[]).version, "4");
        // A new model after the upgrade gets a key of its own.
        store
            .create_registered_model("new", &[kv("k", "v")], None)
            .unwrap();
        assert_eq!(register(&mut store, "new", &[kv("x", "y")]).version, "1");
        assert_eq!(
            store.get_registered_model("new").unwrap().tags,
            [kv("k", "v")]
        );
        assert_eq!(
            store.get_model_version("fare", "2").unwrap().tags,
            [kv("n", "1")]
        );
        // Deleted: nothing of it left in any table.
        store.delete_registered_model("other").unwrap();
        store.delete_registered_model("fare").unwrap();
        for table in ["versions", "version_tags", "model_aliases", "model_tags"] {
            let n: i64 = store
                .conn
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM {table} WHERE model_key <> (SELECT model_key FROM registered_models WHERE name = 'new')"
                    ),
                    (),
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    /// Back to schema 24 (before a run's params, tags, inputs and outputs named it by its
    /// number), keeping their rows.
    const UNDO_0025: &str = "CREATE TABLE old_params (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), key TEXT NOT NULL,
             value TEXT NOT NULL, PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;
         INSERT INTO old_params SELECT r.run_uuid, p.key, p.value FROM params p JOIN runs r ON r.seq = p.run_seq;
         DROP TABLE params;
         ALTER TABLE old_params RENAME TO params;
         CREATE TABLE old_tags (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), key TEXT NOT NULL,
             value TEXT NOT NULL, PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;
         INSERT INTO old_tags SELECT r.run_uuid, t.key, t.value FROM tags t JOIN runs r ON r.seq = t.run_seq;
         DROP TABLE tags;
         ALTER TABLE old_tags RENAME TO tags;
         CREATE INDEX tags_sluice_job ON tags (value) WHERE key = 'sluice.job';
         CREATE TABLE old_inputs (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), kind TEXT NOT NULL,
             body TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT);
         INSERT INTO old_inputs SELECT r.run_uuid, i.kind, i.body, i.seq FROM run_inputs i JOIN runs r ON r.seq = i.run_seq;
         DROP TABLE run_inputs;
         ALTER TABLE old_inputs RENAME TO run_inputs;
         CREATE TABLE old_outputs (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), model_id TEXT NOT NULL,
             step INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_uuid, model_id));
         INSERT INTO old_outputs SELECT r.run_uuid, o.model_id, o.step FROM run_outputs o JOIN runs r ON r.seq = o.run_seq;
         DROP TABLE run_outputs;
         ALTER TABLE old_outputs RENAME TO run_outputs;
         DROP INDEX runs_seq;
         CREATE INDEX runs_seq ON runs (seq);";

    /// [`UNDO_0025`] on PostgreSQL.
    const UNDO_0025_POSTGRES: &str = "ALTER TABLE params ADD COLUMN run_uuid TEXT;
         UPDATE params SET run_uuid = r.run_uuid FROM runs r WHERE r.seq = params.run_seq;
         ALTER TABLE params DROP COLUMN run_seq;
         ALTER TABLE params ADD PRIMARY KEY (run_uuid, key);
         ALTER TABLE tags ADD COLUMN run_uuid TEXT;
         UPDATE tags SET run_uuid = r.run_uuid FROM runs r WHERE r.seq = tags.run_seq;
         ALTER TABLE tags DROP COLUMN run_seq;
         ALTER TABLE tags ADD PRIMARY KEY (run_uuid, key);
         DROP INDEX run_inputs_run;
         ALTER TABLE run_inputs ADD COLUMN run_uuid TEXT;
         UPDATE run_inputs SET run_uuid = r.run_uuid FROM runs r WHERE r.seq = run_inputs.run_seq;
         ALTER TABLE run_inputs DROP COLUMN run_seq;
         ALTER TABLE run_outputs ADD COLUMN run_uuid TEXT;
         UPDATE run_outputs SET run_uuid = r.run_uuid FROM runs r WHERE r.seq = run_outputs.run_seq;
         ALTER TABLE run_outputs DROP COLUMN run_seq;
         ALTER TABLE run_outputs ADD PRIMARY KEY (run_uuid, model_id);
         DROP INDEX runs_seq;
         CREATE INDEX runs_seq ON runs (seq);";

    /// A workspace at schema 28 keeps every metric point through 0029 (on PostgreSQL they
    /// move from `metrics` to `metric_points`, keyed by their history): points logged through
    /// the store and rows an older build wrote read back in order, a point in both places once,
    /// and a (run, key) with rows but no history yet gets one. New points land beside them.
    /// On both engines.
    /// A workspace at schema 30 loses, on upgrade, the alias moves left under names no model
    /// holds (a deleted model's, a renamed one's old name), and keeps every live model's.
    #[test]
    fn a_schema_30_workspace_forgets_the_alias_moves_of_gone_models() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        {
            let mut store = Store::open_at(&location).unwrap();
            let actor = governance::Actor::new("o", governance::Role::Owner);
            store
                .governed(&actor)
                .create_registered_model("kept", &[], None)
                .unwrap();
        }
        downgrade(&location, 30, |tx| {
            for name in ["kept", "deleted-before", "old-name"] {
                tx.execute(
                    "INSERT INTO alias_history (name, alias, version, previous, actor, at) VALUES (?1, 'champion', 1, NULL, 'o', 't')",
                    params![name],
                )
                .unwrap();
            }
        });
        let store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let moves = |name: &str| store.alias_history(name).unwrap().len();
        assert_eq!(
            (moves("kept"), moves("deleted-before"), moves("old-name")),
            (1, 0, 0)
        );
    }

    #[test]
    fn a_schema_28_workspace_keeps_its_points_in_their_histories() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let sqlite = matches!(location, Location::Sqlite(_));
        let metric = |key: &str, value: f64, step: i64| tracking::Metric {
            key: key.into(),
            value,
            timestamp: 100 + step,
            step,
        };
        let run = {
            let mut store = Store::open_at(&location).unwrap();
            let exp = store.create_experiment("old", None, &[]).unwrap();
            let run = store
                .create_run(&exp, "u", None, Some(1), &[])
                .unwrap()
                .info
                .run_uuid;
            let loss: Vec<_> = (0..4)
                .map(|s| metric("loss", 1.0 / (1.0 + s as f64), s))
                .collect();
            store.log_batch(&run, &loss, &[], &[]).unwrap();
            run
        };
        downgrade(&location, 28, |tx| {
            // Rows an older build wrote: step 10 of `loss`, step 1 again (the same point), and
            // `drift`, which has no history (nothing logged it through the store).
            for (key, value, step) in [
                ("loss", 0.05, 10),
                ("loss", 0.5, 1),
                ("drift", 2.0, 0),
                ("drift", 3.0, 1),
            ] {
                tx.execute(
                    // (On PostgreSQL the undo step put step 1 there already.)
                    "INSERT INTO metrics (run_uuid, key, value, timestamp, step, is_nan) VALUES (?1, ?2, ?3, ?4, ?5, 0)
                     ON CONFLICT DO NOTHING",
                    params![run, key, value, 100 + step, step],
                )
                .unwrap();
            }
        });
        let mut store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let history = |store: &Store, key: &str| -> Vec<(i64, f64, i64)> {
            let (points, next) = store.metric_history_points(&run, key, 100, 0).unwrap();
            assert_eq!(next, None);
            points
                .iter()
                .map(|p| (p.step, p.value, p.timestamp))
                .collect()
        };
        assert_eq!(
            history(&store, "loss"),
            [
                (0, 1.0, 100),
                (1, 0.5, 101),
                (2, 1.0 / 3.0, 102),
                (3, 0.25, 103),
                (10, 0.05, 110)
            ]
        );
        assert_eq!(history(&store, "drift"), [(0, 2.0, 100), (1, 3.0, 101)]);
        store
            .log_batch(
                &run,
                &[metric("drift", 4.0, 2), metric("loss", 0.01, 11)],
                &[],
                &[],
            )
            .unwrap();
        assert_eq!(
            history(&store, "drift"),
            [(0, 2.0, 100), (1, 3.0, 101), (2, 4.0, 102)]
        );
        assert_eq!(history(&store, "loss").last(), Some(&(11, 0.01, 111)));
        if !sqlite {
            let count = |sql: &str| -> i64 { store.conn.query_row(sql, (), |r| r.get(0)).unwrap() };
            assert_eq!(count("SELECT COUNT(*) FROM metric_points"), 9);
            assert_eq!(
                count(
                    "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'metrics' AND schemaname = current_schema()"
                ),
                0,
                "an older build's writes fail instead of going unread"
            );
        }
    }

    /// A workspace at schema 27 numbers the runs created after 0028 after its newest run (on
    /// PostgreSQL from the sequence 0028 starts there), and the numbers stay the runs' keys:
    /// a new run's tags are its own. On both engines.
    #[test]
    fn a_schema_27_workspace_numbers_new_runs_after_its_newest() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let (exp, old) = {
            let mut store = Store::open_at(&location).unwrap();
            let exp = store.create_experiment("old", None, &[]).unwrap();
            let old: Vec<String> = (0..3)
                .map(|i| {
                    let name = format!("old{i}");
                    store
                        .create_run(&exp, "u", Some(&name), Some(1), &[])
                        .unwrap()
                        .info
                        .run_uuid
                })
                .collect();
            (exp, old)
        };
        // The newest run numbered 40 (a gap, as deleted rows or a failed create leave).
        downgrade(&location, 27, |tx| {
            tx.execute_batch(
                "CREATE TEMP TABLE moved AS SELECT key, value FROM tags WHERE run_seq = 3;
                 DELETE FROM tags WHERE run_seq = 3;
                 UPDATE runs SET seq = 40 WHERE seq = 3;
                 INSERT INTO tags (run_seq, key, value) SELECT 40, key, value FROM moved;
                 DROP TABLE moved;",
            )
            .unwrap();
        });
        let mut store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let tags = [tracking::KeyValue {
            key: "new".into(),
            value: "yes".into(),
        }];
        let new: Vec<String> = (0..2)
            .map(|i| {
                let name = format!("new{i}");
                store
                    .create_run(&exp, "u", Some(&name), Some(2), &tags)
                    .unwrap()
                    .info
                    .run_uuid
            })
            .collect();
        let seqs: Vec<(String, i64)> = store
            .conn
            .query_map("SELECT run_name, seq FROM runs ORDER BY seq", (), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        let want: Vec<(String, i64)> = [
            ("old0", 1),
            ("old1", 2),
            ("old2", 40),
            ("new0", 41),
            ("new1", 42),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
        assert_eq!(seqs, want);
        for run in &new {
            let got = store.get_run(run).unwrap();
            assert!(got.tags.contains(&tags[0]), "{:?}", got.tags);
        }
        let oldest = store.get_run(&old[2]).unwrap();
        assert!(
            oldest
                .tags
                .iter()
                .any(|t| t.key == "mlflow.runName" && t.value == "old2"),
            "{:?}",
            oldest.tags
        );
    }

    /// A workspace at schema 24 keeps every run's params, tags, inputs and outputs through
    /// 0025, read back as before, found by searches, and written to after; runs that share a
    /// number (none should) are numbered anew, their metrics following them. On both engines.
    #[test]
    fn a_schema_24_workspace_keeps_its_runs_data() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let kv = |k: &str, v: &str| tracking::KeyValue {
            key: k.into(),
            value: v.into(),
        };
        let metric = |key: &str, value: f64, step: i64| tracking::Metric {
            key: key.into(),
            value,
            timestamp: 10,
            step,
        };
        let (exp, runs, before) = {
            let mut store = Store::open_at(&location).unwrap();
            let exp = store.create_experiment("old", None, &[]).unwrap();
            let mut runs = Vec::new();
            for (i, lr) in [(0i32, "0.1"), (1, "0.2"), (2, "0.3")] {
                let tags = [kv("team", &format!("t{i}"))];
                let run = store
                    .create_run(
                        &exp,
                        "u",
                        Some(&format!("r{i}")),
                        Some(1 + i64::from(i)),
                        &tags,
                    )
                    .unwrap()
                    .info
                    .run_uuid;
                store
                    .log_batch(
                        &run,
                        &[metric("loss", 1.0 + f64::from(i), 0)],
                        &[kv("lr", lr), kv("depth", "4")],
                        &[kv("sluice.job", "job-1")],
                    )
                    .unwrap();
                store
                    .log_inputs(
                        &run,
                        &[serde_json::json!({"dataset": {"name": format!("d{i}"), "digest": "x"}, "tags": []})],
                        &[],
                    )
                    .unwrap();
                store
                    .log_outputs(&run, &[(format!("m-{i}"), i64::from(i))])
                    .unwrap();
                runs.push(run);
            }
            let before: Vec<tracking::Run> =
                runs.iter().map(|r| store.get_run(r).unwrap()).collect();
            (exp, runs, before)
        };
        downgrade(&location, 24, |tx| {
            // The third run shares the second's number (and its metric history says so).
            tx.execute(
                "UPDATE runs SET seq = 2 WHERE run_uuid = ?1",
                params![runs[2]],
            )
            .unwrap();
            tx.execute(
                "UPDATE metric_histories SET run_seq = 2 WHERE run_uuid = ?1",
                params![runs[2]],
            )
            .unwrap();
        });
        let mut store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let seqs: Vec<i64> = store
            .conn
            .query_map("SELECT seq FROM runs ORDER BY seq", (), |r| r.get(0))
            .unwrap();
        assert_eq!(
            seqs,
            [1, 2, 3],
            "the run sharing 2 is numbered after the newest"
        );
        for (run, was) in runs.iter().zip(&before) {
            let now = store.get_run(run).unwrap();
            assert_eq!(now.params, was.params);
            assert_eq!(now.tags, was.tags);
            assert_eq!(now.dataset_inputs, was.dataset_inputs);
            assert_eq!(now.model_outputs, was.model_outputs);
            assert_eq!(
                now.metrics
                    .iter()
                    .map(|m| (&m.key, m.value, m.step))
                    .collect::<Vec<_>>(),
                was.metrics
                    .iter()
                    .map(|m| (&m.key, m.value, m.step))
                    .collect::<Vec<_>>()
            );
        }
        let found = |store: &Store, filter: &str| -> Vec<String> {
            let (runs, _) = store
                .search_runs(
                    std::slice::from_ref(&exp),
                    Some(filter),
                    tracking::ViewType::All,
                    &["params.lr DESC".to_owned()],
                    10,
                    0,
                )
                .unwrap();
            runs.into_iter().map(|r| r.info.run_uuid).collect()
        };
        assert_eq!(
            found(&store, "params.depth = '4'"),
            [runs[2].clone(), runs[1].clone(), runs[0].clone()]
        );
        assert_eq!(found(&store, "tags.team = 't2'"), [runs[2].clone()]);
        assert_eq!(found(&store, "dataset.name = 'd1'"), [runs[1].clone()]);
        let mut job = store.job_runs("job-1").unwrap();
        job.sort();
        let mut want: Vec<(String, Option<String>)> =
            runs.iter().map(|r| (r.clone(), None)).collect();
        want.sort();
        assert_eq!(job, want);
        // Written to after: the renumbered run's metric, a new param, a tag changed and one
        // deleted, a param's change refused.
        store
            .log_batch(
                &runs[2],
                &[metric("loss", 0.5, 1)],
                &[kv("seed", "7")],
                &[kv("team", "t9")],
            )
            .unwrap();
        let (points, _) = store
            .metric_history_points(&runs[2], "loss", 10, 0)
            .unwrap();
        let got: Vec<(i64, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(got, [(0, 3.0), (1, 0.5)]);
        assert!(
            store
                .log_batch(&runs[2], &[], &[kv("lr", "9")], &[])
                .is_err()
        );
        store.delete_tag(&runs[0], "team").unwrap();
        let third = store.get_run(&runs[2]).unwrap();
        assert!(third.params.contains(&kv("seed", "7")));
        assert!(third.params.contains(&kv("lr", "0.3")));
        assert!(third.tags.contains(&kv("team", "t9")));
        let first = store.get_run(&runs[0]).unwrap();
        assert!(!first.tags.iter().any(|t| t.key == "team"));
    }

    /// Back to schema 23 (before metric histories had integer keys): the tables 0024 replaced,
    /// empty, as 0002, 0016 and 0017 made them.
    const UNDO_0024: &str = "DROP VIEW latest_metrics;
         DROP TABLE metric_latest;
         DROP TABLE metric_points_recent;
         DROP TABLE history_chunks;
         DROP TABLE metric_histories;
         CREATE TABLE latest_metrics (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), key TEXT NOT NULL,
             value REAL NOT NULL, timestamp INTEGER NOT NULL, step INTEGER NOT NULL,
             is_nan INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;
         CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);
         CREATE TABLE metric_chunks (
             run_uuid TEXT NOT NULL REFERENCES runs (run_uuid), key TEXT NOT NULL,
             fold INTEGER NOT NULL, points BLOB NOT NULL,
             PRIMARY KEY (run_uuid, key, fold)) WITHOUT ROWID;
         CREATE TABLE metrics_recent (
             run_uuid TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL,
             value REAL NOT NULL, timestamp INTEGER NOT NULL, step INTEGER NOT NULL,
             is_nan INTEGER NOT NULL DEFAULT 0, model_id TEXT,
             PRIMARY KEY (run_uuid, seq)) WITHOUT ROWID;";

    /// [`UNDO_0024`] on PostgreSQL (whose schema 23 had no chunks: its points went to
    /// `metrics`).
    const UNDO_0024_POSTGRES: &str = "DROP VIEW latest_metrics;
         DROP TABLE metric_latest;
         DROP TABLE metric_points_recent;
         DROP TABLE history_chunks;
         DROP TABLE metric_histories;
         CREATE TABLE latest_metrics (
             run_uuid TEXT NOT NULL, key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
             timestamp BIGINT NOT NULL, step BIGINT NOT NULL, is_nan BIGINT NOT NULL DEFAULT 0,
             PRIMARY KEY (run_uuid, key));
         CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);
         CREATE TABLE metrics_recent (
             run_uuid TEXT NOT NULL, seq BIGINT NOT NULL, key TEXT NOT NULL,
             value DOUBLE PRECISION NOT NULL, timestamp BIGINT NOT NULL, step BIGINT NOT NULL,
             is_nan BIGINT NOT NULL DEFAULT 0, model_id TEXT, PRIMARY KEY (run_uuid, seq));";

    /// A workspace at schema 23 keeps every metric through 0024: its latest values (what
    /// `get_run` and searches read), its unfolded points, its folded chunks (SQLite's) and its
    /// per-point rows, each history read whole and in order, and logging goes on after. On
    /// both engines.
    #[test]
    fn a_schema_23_workspace_keeps_its_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let sqlite = matches!(location, Location::Sqlite(_));
        let (exp, a, b) = {
            let mut store = Store::open_at(&location).unwrap();
            let exp = store.create_experiment("old", None, &[]).unwrap();
            let a = store.create_run(&exp, "u", None, Some(1), &[]).unwrap();
            let b = store.create_run(&exp, "u", None, Some(2), &[]).unwrap();
            (exp, a.info.run_uuid, b.info.run_uuid)
        };
        let point = |step: i64, value: f64| tracking::chunks_encode_for_tests(&[(step, value)]);
        downgrade(&location, 23, |tx| {
            // Run a: `loss` in all three places (steps 0-1 folded on SQLite, rows of `metrics`
            // on PostgreSQL; 2 unfolded; 3 a row of `metrics`); `acc` latest only. Run b:
            // `loss` unfolded only.
            for (run, key, value, step) in [
                (&a, "loss", 0.3, 3),
                (&a, "acc", 0.9, 5),
                (&b, "loss", 7.0, 1),
            ] {
                tx.execute(
                    "INSERT INTO latest_metrics (run_uuid, key, value, timestamp, step) VALUES (?1, ?2, ?3, 10, ?4)",
                    params![run, key, value, step],
                )
                .unwrap();
            }
            for (fold, step, value) in [(1, 0, 1.0), (2, 1, 0.8)] {
                if sqlite {
                    tx.execute(
                        "INSERT INTO metric_chunks (run_uuid, key, fold, points) VALUES (?1, 'loss', ?2, ?3)",
                        params![a, fold, point(step, value)],
                    )
                    .unwrap();
                } else {
                    tx.execute(
                        "INSERT INTO metrics (run_uuid, key, value, timestamp, step) VALUES (?1, 'loss', ?2, 10, ?3)",
                        params![a, value, step],
                    )
                    .unwrap();
                }
            }
            for (run, seq, step, value) in [(&a, 0, 2, 0.5), (&b, 1, 1, 7.0)] {
                tx.execute(
                    "INSERT INTO metrics_recent (run_uuid, seq, key, value, timestamp, step) VALUES (?1, ?2, 'loss', ?3, 10, ?4)",
                    params![run, seq, value, step],
                )
                .unwrap();
            }
            tx.execute(
                "INSERT INTO metrics (run_uuid, key, value, timestamp, step) VALUES (?1, 'loss', 0.3, 10, 3)",
                params![a],
            )
            .unwrap();
            tx.execute("UPDATE metrics_recent_count SET n = 2", ())
                .unwrap();
            if sqlite {
                tx.execute("UPDATE metrics_recent_count SET folds = 2", ())
                    .unwrap();
            }
        });
        let mut store = Store::open_at(&location).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let history = |store: &Store, run: &str, key: &str| -> Vec<(i64, f64)> {
            let (points, _) = store.metric_history_points(run, key, 100, 0).unwrap();
            points.iter().map(|p| (p.step, p.value)).collect()
        };
        assert_eq!(
            history(&store, &a, "loss"),
            [(0, 1.0), (1, 0.8), (2, 0.5), (3, 0.3)]
        );
        assert_eq!(history(&store, &b, "loss"), [(1, 7.0)]);
        assert!(
            history(&store, &a, "acc").is_empty(),
            "a latest value with no points"
        );
        let latest = |store: &Store, run: &str| -> Vec<(String, f64, i64)> {
            let mut m: Vec<_> = store
                .get_run(run)
                .unwrap()
                .metrics
                .into_iter()
                .map(|m| (m.key, m.value, m.step))
                .collect();
            m.sort_by(|x, y| x.0.cmp(&y.0));
            m
        };
        assert_eq!(
            latest(&store, &a),
            [("acc".to_owned(), 0.9, 5), ("loss".to_owned(), 0.3, 3)]
        );
        let found = store
            .search_runs(
                std::slice::from_ref(&exp),
                Some("metrics.loss > 1"),
                tracking::ViewType::All,
                &["metrics.loss DESC".to_owned()],
                10,
                0,
            )
            .unwrap();
        let names: Vec<&str> = found.0.iter().map(|r| r.info.run_uuid.as_str()).collect();
        assert_eq!(names, [b.as_str()], "run b only: its loss 7 > 1");
        // Logging goes on: a new point of an old history, a new history, the latest raised.
        store
            .log_batch(
                &a,
                &[
                    tracking::Metric {
                        key: "loss".into(),
                        value: 0.1,
                        timestamp: 11,
                        step: 4,
                    },
                    tracking::Metric {
                        key: "f1".into(),
                        value: 0.7,
                        timestamp: 11,
                        step: 0,
                    },
                ],
                &[],
                &[],
            )
            .unwrap();
        assert_eq!(
            history(&store, &a, "loss"),
            [(0, 1.0), (1, 0.8), (2, 0.5), (3, 0.3), (4, 0.1)]
        );
        assert_eq!(
            latest(&store, &a),
            [
                ("acc".to_owned(), 0.9, 5),
                ("f1".to_owned(), 0.7, 0),
                ("loss".to_owned(), 0.1, 4)
            ]
        );
    }

    #[test]
    fn a_schema_7_workspace_upgrades_and_keeps_its_computes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        {
            let mut conn = Conn::open_sqlite(&path).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..7] {
                tx.execute_batch(sql).unwrap();
            }
            tx.set_schema_version(7).unwrap();
            tx.execute(
                "INSERT INTO computes (name, type, max_instances, created_at) VALUES ('old', 'local', 2, 't')",
                (),
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), LATEST);
        let old = store.get_compute("old").unwrap().unwrap();
        assert_eq!(
            (old.max_instances, old.min_instances, old.size),
            (2, 0, None)
        );
    }

    #[test]
    fn component_versions_are_numbered_immutable_and_listed_latest_first() {
        let (_d, store) = store();
        let row = |version: &str| ComponentRow {
            name: "train".into(),
            version: version.into(),
            ty: "command".into(),
            display_name: None,
            description: None,
            yaml_path: format!("/c/train/{version}/tree/train.yml"),
            source_path: "/src/train.yml".into(),
            spec: serde_json::json!({}),
            content_hash: format!("blake3:{version}"),
            created_by: "tester".into(),
            created_at: "t".into(),
        };
        assert_eq!(store.next_component_version("train").unwrap(), "1");
        store.insert_component(&row("1")).unwrap();
        store.insert_component(&row("3")).unwrap();
        assert_eq!(store.next_component_version("train").unwrap(), "4");
        assert!(matches!(
            store.insert_component(&row("1")),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert_eq!(store.get_component("train", None).unwrap().version, "3");
        assert_eq!(
            store.get_component("train", Some("1")).unwrap().version,
            "1"
        );
        assert!(matches!(
            store.get_component("train", Some("2")),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.list_components(None).unwrap().len(), 1);
        assert_eq!(store.list_components(Some("train")).unwrap().len(), 2);
    }

    #[test]
    fn data_versions_increment_and_latest_is_newest() {
        let (_d, store) = store();
        assert_eq!(store.next_data_version("taxi").unwrap(), "1");
        store.insert_data(&data("taxi", "1")).unwrap();
        store.insert_data(&data("taxi", "7")).unwrap();
        assert_eq!(store.next_data_version("taxi").unwrap(), "8");
        assert_eq!(store.get_data("taxi", None).unwrap().version, "7");
        assert_eq!(store.get_data("taxi", Some("1")).unwrap().version, "1");
        assert!(matches!(
            store.insert_data(&data("taxi", "1")),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            store.get_data("taxi", Some("2")),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.list_data(None).unwrap().len(), 1);
        assert_eq!(store.list_data(Some("taxi")).unwrap().len(), 2);
    }
}
