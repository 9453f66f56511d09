//! Stores for tests, on the engine the test run asks for: the same suites run unchanged against
//! SQLite (the default) and PostgreSQL (`SLUICE_TEST_POSTGRES=postgresql://...`, which `.ci/run`
//! sets after starting a private server).

use std::path::Path;

use crate::db::Conn;
use crate::{JobRow, Location, Result, StepRow, Store};

/// A runner for tests that claim a job.
pub const RUNNER: crate::Runner<'static> = crate::Runner {
    pid: 1,
    started: "1",
    host: "test-host/test-boot",
};

/// The variable naming the PostgreSQL server tests run against.
pub const POSTGRES_ENV: &str = "SLUICE_TEST_POSTGRES";

/// The PostgreSQL URL tests run against, if any.
#[must_use]
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// A fresh, empty store location for one test: a new schema on the test PostgreSQL server, or
/// an SQLite file in `dir`. Several stores opened at it share its data (several servers on one
/// database).
pub fn fresh_location(dir: &Path) -> Result<Location> {
    let Some(url) = postgres_url() else {
        return Ok(Location::Sqlite(dir.join("db.sqlite")));
    };
    let schema = format!("t_{}_{:016x}", std::process::id(), fastrand::u64(..));
    let conn = Conn::open_postgres(&url)?;
    conn.execute_batch(&format!("CREATE SCHEMA {schema}"))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(Location::Postgres(format!(
        "{url}{sep}options=-c%20search_path%3D{schema}"
    )))
}

/// The store of a test workspace folder (`.sluice/`): with a test PostgreSQL server, a fresh
/// schema named in the folder's `store` file (made on first use, read after), so every `sluice`
/// command and server on that workspace uses it; otherwise the folder's own `sluice.db`.
pub fn workspace_location(ws: &Path) -> Result<Location> {
    let file = ws.join(crate::WORKSPACE_STORE_FILE);
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Ok(Location::parse(url.trim()));
    }
    if postgres_url().is_none() {
        return Ok(Location::Sqlite(ws.join("sluice.db")));
    }
    let location = fresh_location(ws)?;
    std::fs::create_dir_all(ws)
        .and_then(|()| std::fs::write(&file, location.to_string()))
        .map_err(|e| crate::StoreError::Invalid(format!("cannot write {}: {e}", file.display())))?;
    Ok(location)
}

/// A fresh, empty store for one test (see [`fresh_location`]).
pub fn fresh_store(dir: &Path) -> Result<Store> {
    Store::open_at(&fresh_location(dir)?)
}

/// A step row as a job records it before it runs, on `compute`.
#[must_use]
pub fn step_row(name: &str, compute: &str) -> StepRow {
    StepRow {
        name: name.into(),
        display_name: None,
        status: "NotStarted".into(),
        depends_on: Vec::new(),
        command: None,
        environment: None,
        compute: Some(compute.into()),
        inputs: serde_json::Value::Null,
        work_dir: None,
        log_path: None,
        exit_code: None,
        created_at: crate::now(),
        started_at: None,
        ended_at: None,
        error: None,
        env_hash: None,
        code_hash: None,
        reused_from: None,
        reuse_key: None,
        reuse_parts: None,
        executor: None,
        executor_id: None,
        detached: false,
    }
}

/// A pipeline job row with `status`.
#[must_use]
pub fn job_row(name: &str, status: &str) -> JobRow {
    JobRow {
        name: name.into(),
        ty: "pipeline".into(),
        display_name: None,
        experiment_name: "e".into(),
        description: None,
        tags: indexmap::IndexMap::new(),
        status: status.into(),
        spec_path: "p.yml".into(),
        spec_text: String::new(),
        settings: serde_json::json!({}),
        inputs: serde_json::json!({}),
        compute: None,
        created_at: crate::now(),
        started_at: None,
        ended_at: None,
        error: None,
    }
}
