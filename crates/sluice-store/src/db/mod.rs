//! The one place that talks to a database engine. The store's SQL is written once, in the subset
//! SQLite and PostgreSQL share (`ON CONFLICT` upserts, `RETURNING`, `?` placeholders); this layer
//! runs it on either engine: [`Conn`] over an embedded SQLite file (`rusqlite`) or a PostgreSQL
//! server (`tokio-postgres`), with one row, parameter and error type for both.
//!
//! What the engines do differently lives here and nowhere else: placeholders (`?N` becomes
//! `$N`), how a write transaction takes the store's one write lock (SQLite's `BEGIN IMMEDIATE`,
//! a PostgreSQL advisory lock), how the schema version is kept, and how values convert.

mod pg;
mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

pub use value::{FromSql, ToSql, Value, ValueRef};

/// Which engine a [`Conn`] talks to; the store asks where SQL must differ (pattern matching).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Errors from the database engine, one type for both.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", pg::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the query returned no rows")]
    NoRows,
    #[error("column {index}: cannot read {found} as {wanted}")]
    Conversion {
        index: usize,
        wanted: &'static str,
        found: &'static str,
    },
    #[error("{0}")]
    Connect(String),
}

impl DbError {
    /// A unique, primary-key or foreign-key constraint refused the write.
    #[must_use]
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            Self::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            _ => false,
        }
    }

    /// The database cannot be reached (server down, connection lost, SQLite busy past its
    /// timeout): the request may succeed if retried later.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            Self::Postgres(e) => pg::is_unavailable(e),
            Self::Connect(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// `.optional()` on a single-row query: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Values bound to a statement's placeholders, in order.
pub trait Params {
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for () {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

impl<T: ToSql, const N: usize> Params for &[T; N] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_value).collect()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_value).collect()
    }
}

impl<T: ToSql> Params for &[T] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_value).collect()
    }
}

/// Parameters from an iterator (an `IN (...)` list, a filter's values).
pub struct ParamsFromIter<T>(Vec<T>);

impl<T: ToSql> Params for ParamsFromIter<T> {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.0.iter().map(ToSql::to_value).collect()
    }
}

pub fn params_from_iter<I: IntoIterator>(iter: I) -> ParamsFromIter<I::Item>
where
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().collect())
}

/// `params![a, b, c]`: a statement's parameters of mixed types.
#[macro_export]
#[doc(hidden)]
macro_rules! __db_params {
    () => { &[] as &[&dyn $crate::db::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::db::ToSql),+] as &[&dyn $crate::db::ToSql] };
}
pub use crate::__db_params as params;

/// One result row; `get` reads a column by position or name.
pub struct Row<'a>(RowInner<'a>);

enum RowInner<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a tokio_postgres::Row),
}

/// A column by position.
pub trait RowIndex {
    fn index(&self, row: &Row<'_>) -> Result<usize>;
}

impl RowIndex for usize {
    fn index(&self, _: &Row<'_>) -> Result<usize> {
        Ok(*self)
    }
}

impl Row<'_> {
    /// The column's value converted to `T` (integers widen to floats, NULL reads as `None`).
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`r.get(0)` reads best by value"
    )]
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let index = idx.index(self)?;
        self.with_ref(index, T::from_sql)?
            .map_err(|found| conversion::<T>(index, found))
    }

    /// `f` of the column's value as it lies in the row, unconverted: a blob or text is read
    /// where it is, without a copy.
    #[expect(
        clippy::needless_pass_by_value,
        reason = "`r.with_ref(0, ..)` reads best by value, as `get`"
    )]
    pub fn with_ref<I: RowIndex, T>(&self, idx: I, f: impl FnOnce(ValueRef<'_>) -> T) -> Result<T> {
        let index = idx.index(self)?;
        match &self.0 {
            RowInner::Sqlite(r) => Ok(f(ValueRef::from(r.get_ref(index)?))),
            RowInner::Postgres(r) => {
                let raw: pg::Raw<'_> = r.try_get(index)?;
                Ok(f(raw.value()?))
            }
        }
    }
}

fn conversion<T: FromSql>(index: usize, found: &'static str) -> DbError {
    DbError::Conversion {
        index,
        wanted: T::NAME,
        found,
    }
}

enum Engine {
    /// A file, and the gate its writers in this process queue at.
    Sqlite(rusqlite::Connection, Arc<WriteGate>),
    Postgres(pg::PgConn),
}

/// One writer at a time per SQLite file within this process. Connections of one process (a
/// server's pool) queue here, in order, instead of in SQLite's busy handler, which sleeps
/// 1-100 ms between tries; other processes still wait in `busy_timeout`.
#[derive(Default)]
struct WriteGate {
    busy: Mutex<bool>,
    free: Condvar,
}

impl WriteGate {
    /// The gate of the database file at `path` (one per file, shared by its connections).
    fn of(path: &Path) -> Arc<Self> {
        static GATES: OnceLock<Mutex<HashMap<PathBuf, Arc<WriteGate>>>> = OnceLock::new();
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut gates = GATES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(gates.entry(key).or_default())
    }

    fn enter(&self) {
        let mut busy = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *busy {
            busy = self
                .free
                .wait(busy)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *busy = true;
    }

    fn leave(&self) {
        *self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        self.free.notify_one();
    }
}

/// A connection to the store's database.
pub struct Conn {
    engine: Engine,
    /// Savepoints open inside the current transaction (their names are numbered).
    depth: u32,
}

/// `value REGEXP pattern` on SQLite (which has the operator but no function behind it): true
/// where the pattern is found anywhere in the value, as PostgreSQL's `~` (the filter compiler
/// checks patterns first, so both engines refuse the same ones); NULL for a NULL value.
fn define_regexp(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            // Compiled once per statement (SQLite keeps it with the constant pattern).
            let re = ctx.get_or_create_aux(0, |pattern| -> Result<regex::Regex, BoxError> {
                Ok(regex::Regex::new(pattern.as_str()?)?)
            })?;
            Ok(match ctx.get_raw(1) {
                rusqlite::types::ValueRef::Text(t) => {
                    Some(std::str::from_utf8(t).is_ok_and(|v| re.is_match(v)))
                }
                rusqlite::types::ValueRef::Null => None,
                _ => Some(false),
            })
        },
    )
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "parameters are taken by value (`params![...]`, `[x]`, `()`), as rusqlite's are"
)]
impl Conn {
    /// Opens (creating if needed) an SQLite database file: WAL, foreign keys, a busy timeout.
    pub fn open_sqlite(path: &std::path::Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Turning a new database to WAL needs it to itself, and SQLite answers "busy" at once
        // rather than waiting: another process may be creating the same workspace. Retry.
        let started = std::time::Instant::now();
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        // NORMAL in WAL mode: a committed transaction survives a crash of the process; only a
        // power loss can roll back the last few commits, never corrupt the database.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Statement journals and sorts in memory: a multi-row statement inside a transaction
        // keeps a copy of every page it changes until it ends (so it can be undone alone), and
        // SQLite spills that copy to a temporary file after 64 KiB. A metric fold (16,384
        // points) spilled a megabyte each time: an eighth of a log-batch server's write time.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The store runs well over rusqlite's default 16 distinct statements per job step: with
        // the default, a running job re-parsed most of them every time (a sixth of a cached
        // re-run's time went to SQLite's parser).
        conn.set_prepared_statement_cache_capacity(256);
        // Plans that do not depend on bound values (the query planner stability guarantee).
        // Without it, SQLite (with STAT4, as bundled) marks a parameter whose value a plan might
        // use, and re-parses the statement every time that parameter is bound anew: any
        // `col = ?` beside an `ORDER BY`, or a term the planner compares with a partial index's
        // `WHERE`. Cached statements were parsed again on every run (a tenth of a cached
        // pipeline re-run's time). No plan here uses a bound value: the store never runs
        // `ANALYZE`, and filters' `LIKE` patterns are matched without the prefix optimization.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // `LIKE` case-sensitive, as on PostgreSQL and in MLflow's filters (`ILIKE` is written
        // `LOWER(a) LIKE LOWER(b)`, case-insensitive on both engines).
        conn.pragma_update(None, "case_sensitive_like", "ON")?;
        define_regexp(&conn)?;
        Ok(Self {
            engine: Engine::Sqlite(conn, WriteGate::of(path)),
            depth: 0,
        })
    }

    /// Connects to a PostgreSQL server (`postgresql://user[:password]@host[:port]/db`; libpq's
    /// `options=-c search_path=...` picks a schema).
    pub fn open_postgres(url: &str) -> Result<Self> {
        Ok(Self {
            engine: Engine::Postgres(pg::PgConn::connect(url)?),
            depth: 0,
        })
    }

    #[must_use]
    pub fn dialect(&self) -> Dialect {
        match self.engine {
            Engine::Sqlite(..) => Dialect::Sqlite,
            Engine::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Whether the connection is known to be unusable (a PostgreSQL server that went away).
    #[must_use]
    pub fn is_broken(&self) -> bool {
        match &self.engine {
            Engine::Sqlite(..) => false,
            Engine::Postgres(c) => c.is_closed(),
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        match &self.engine {
            Engine::Sqlite(c, _) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.values()))?)
            }
            Engine::Postgres(c) => c.execute(sql, &params.values()),
        }
    }

    /// Runs several statements with their parameters, in order. On PostgreSQL all are sent
    /// before any answer is awaited (one round trip, not one each); the first error is reported.
    /// For writes whose row counts nobody reads (a batch's inserts), inside a transaction when
    /// they must stand or fall together.
    pub fn execute_all(&self, statements: &[(&str, &[Value])]) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c, _) => {
                for (sql, values) in statements {
                    let mut stmt = c.prepare_cached(sql)?;
                    stmt.execute(rusqlite::params_from_iter(
                        values.iter().map(ToSql::to_value),
                    ))?;
                }
                Ok(())
            }
            Engine::Postgres(c) => c.execute_all(&bound(statements)),
        }
    }

    /// Runs several statements without parameters (migrations).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c, _) => Ok(c.execute_batch(sql)?),
            Engine::Postgres(c) => c.batch(sql),
        }
    }

    /// The first row's mapping; [`DbError::NoRows`] when there is none (see `optional`).
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        match &self.engine {
            Engine::Sqlite(c, _) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.values()))?;
                match rows.next()? {
                    Some(r) => f(&Row(RowInner::Sqlite(r))),
                    None => Err(DbError::NoRows),
                }
            }
            Engine::Postgres(c) => {
                let rows = c.query(sql, &params.values())?;
                match rows.first() {
                    Some(r) => f(&Row(RowInner::Postgres(r))),
                    None => Err(DbError::NoRows),
                }
            }
        }
    }

    /// Every row's mapping.
    pub fn query_map<T, P, F>(&self, sql: &str, params: P, mut f: F) -> Result<Vec<T>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        match &self.engine {
            Engine::Sqlite(c, _) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params.values()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row(RowInner::Sqlite(r)))?);
                }
                Ok(out)
            }
            Engine::Postgres(c) => c
                .query(sql, &params.values())?
                .iter()
                .map(|r| f(&Row(RowInner::Postgres(r))))
                .collect(),
        }
    }

    /// [`Conn::query_map`] for a query whose best plan depends on its values (a search's filter,
    /// order and page): on PostgreSQL it is planned for these values every time, never run
    /// from a generic plan (which, measured on a 10,000-run search, read every match and
    /// sorted them: 16 ms, against 1.6 ms for the plan made for the values).
    pub fn query_map_planned<T, P, F>(&self, sql: &str, params: P, mut f: F) -> Result<Vec<T>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        match &self.engine {
            Engine::Sqlite(..) => self.query_map(sql, params, f),
            Engine::Postgres(c) => c
                .query_planned(sql, &params.values())?
                .iter()
                .map(|r| f(&Row(RowInner::Postgres(r))))
                .collect(),
        }
    }

    /// A statement to run several times (`query_map` / `execute`).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// The same as [`Conn::prepare`]: every statement is cached by its text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }

    /// Begins a write transaction holding the store's write lock (one writer at a time, across
    /// processes: SQLite's `BEGIN IMMEDIATE`; on PostgreSQL an advisory lock per schema), so
    /// read-then-write sequences (the next version number) never interleave. Rolled back when
    /// dropped uncommitted.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.transaction_with(false)
    }

    /// [`Conn::transaction`] for writes that may run beside each other, as
    /// [`Conn::begin_shared`] begins them.
    pub fn shared_transaction(&mut self) -> Result<Transaction<'_>> {
        self.transaction_with(true)
    }

    /// [`Conn::transaction`], `shared` or not (see [`Conn::begin_shared`]).
    fn transaction_with(&mut self, shared: bool) -> Result<Transaction<'_>> {
        if self.in_transaction() {
            return self.savepoint();
        }
        match &self.engine {
            Engine::Sqlite(c, gate) => {
                gate.enter();
                if let Err(e) = c.execute_batch("BEGIN IMMEDIATE") {
                    gate.leave();
                    return Err(e.into());
                }
            }
            Engine::Postgres(c) => c.begin(shared),
        }
        Ok(Transaction {
            conn: self,
            savepoint: None,
            done: false,
        })
    }

    /// Begins a transaction (a savepoint when one is open) that the caller ends with
    /// [`Conn::finish`], for work that needs the whole store rather than a [`Transaction`].
    /// Returns whether it began the outermost transaction.
    pub fn begin(&mut self) -> Result<bool> {
        let outer = !self.in_transaction();
        let tx = self.transaction_with(false)?;
        std::mem::forget(tx);
        Ok(outer)
    }

    /// [`Conn::begin`] for writes that may run beside each other: on PostgreSQL the store's write
    /// lock is taken shared, so such transactions wait for every other write transaction (and
    /// hold them off) but run side by side with each other, each in its own server process; on
    /// SQLite, which has one writer at a time, the same as [`Conn::begin`]. For writes whose
    /// reads no other shared writer changes (metric points, a run's params and tags, written by
    /// one writer per run; a new run, numbered from a sequence): what two of them touch at
    /// once, row locks order.
    pub fn begin_shared(&mut self) -> Result<bool> {
        let outer = !self.in_transaction();
        let tx = self.transaction_with(true)?;
        std::mem::forget(tx);
        Ok(outer)
    }

    /// Commits (`commit`) or rolls back what [`Conn::begin`] began.
    pub fn finish(&mut self, outer: bool, commit: bool) -> Result<()> {
        let savepoint = (!outer).then(|| format!("sp{}", self.depth));
        let tx = Transaction {
            conn: self,
            savepoint,
            done: false,
        };
        if commit {
            tx.commit()
        } else {
            drop(tx);
            Ok(())
        }
    }

    /// A transaction that nests: a savepoint inside an open transaction, a transaction
    /// otherwise.
    pub fn savepoint(&mut self) -> Result<Transaction<'_>> {
        if !self.in_transaction() {
            return self.transaction();
        }
        self.depth += 1;
        let name = format!("sp{}", self.depth);
        if let Err(e) = self.execute_batch(&format!("SAVEPOINT {name}")) {
            self.depth -= 1;
            return Err(e);
        }
        Ok(Transaction {
            conn: self,
            savepoint: Some(name),
            done: false,
        })
    }

    /// How many migrations the database has had (SQLite's `user_version`; on PostgreSQL the
    /// `sluice_schema` table, absent before the first migration).
    pub fn schema_version(&self) -> Result<i64> {
        match &self.engine {
            Engine::Sqlite(c, _) => Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?),
            Engine::Postgres(_) => {
                let exists: bool =
                    self.query_row("SELECT to_regclass('sluice_schema') IS NOT NULL", (), |r| {
                        r.get(0)
                    })?;
                if !exists {
                    return Ok(0);
                }
                self.query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM sluice_schema",
                    (),
                    |r| r.get(0),
                )
            }
        }
    }

    /// Records the schema version (inside the migrating transaction).
    pub fn set_schema_version(&self, version: i64) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c, _) => Ok(c.pragma_update(None, "user_version", version)?),
            Engine::Postgres(_) => {
                self.execute_batch(
                    "CREATE TABLE IF NOT EXISTS sluice_schema (version BIGINT NOT NULL); \
                     DELETE FROM sluice_schema",
                )?;
                self.execute("INSERT INTO sluice_schema (version) VALUES (?1)", [version])?;
                Ok(())
            }
        }
    }

    /// Whether a transaction is open on this connection.
    pub(crate) fn in_transaction(&self) -> bool {
        match &self.engine {
            Engine::Sqlite(c, _) => !c.is_autocommit(),
            Engine::Postgres(c) => c.in_transaction(),
        }
    }

    /// Ends the outermost transaction: commits it (`commit`) or rolls it back. A failed commit
    /// leaves nothing half-done open (SQLite stays in its transaction after a failed `COMMIT`:
    /// it is rolled back).
    fn end_transaction(&self, commit: bool) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c, gate) => {
                let r = c.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" });
                if r.is_err() && commit {
                    let _ = c.execute_batch("ROLLBACK");
                }
                gate.leave();
                Ok(r?)
            }
            Engine::Postgres(c) => c.end(commit),
        }
    }
}

/// A prepared statement (its text; both engines cache the prepared form by text).
pub struct Statement<'a> {
    conn: &'a Conn,
    sql: String,
}

impl Statement<'_> {
    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut f = f;
        let rows = self.conn.query_map(&self.sql, params, |r| Ok(f(r)))?;
        Ok(rows.into_iter())
    }

    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.query_row(&self.sql, params, f)
    }

    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }
}

/// An open transaction or savepoint; it reads and writes like the connection.
pub struct Transaction<'a> {
    conn: &'a mut Conn,
    savepoint: Option<String>,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        match self.savepoint.take() {
            Some(name) => {
                self.conn.depth -= 1;
                self.conn.execute_batch(&format!("RELEASE {name}"))
            }
            None => self.conn.end_transaction(true),
        }
    }

    /// Runs `statements` (as [`Conn::execute_all`]) and commits. On PostgreSQL, for the
    /// outermost transaction, the `COMMIT` goes out with them (and with the pending `BEGIN`):
    /// a transaction of writes only is one round trip, and the write lock is held for the
    /// server's work alone, not for the network. A failed statement aborts the transaction
    /// (its `COMMIT` then rolls back) and is the error returned.
    pub fn execute_all_and_commit(mut self, statements: &[(&str, &[Value])]) -> Result<()> {
        let Engine::Postgres(c) = &self.conn.engine else {
            self.conn.execute_all(statements)?;
            return self.commit();
        };
        if self.savepoint.is_some() {
            self.conn.execute_all(statements)?;
            return self.commit();
        }
        self.done = true;
        c.execute_all_and_commit(&bound(statements))
    }
}

/// Statements with their values as the engine binds them.
fn bound<'a>(statements: &[(&'a str, &'a [Value])]) -> Vec<(&'a str, Vec<ValueRef<'a>>)> {
    statements
        .iter()
        .map(|(sql, values)| (*sql, values.iter().map(ToSql::to_value).collect()))
        .collect()
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.savepoint.take() {
            Some(name) => {
                self.conn.depth -= 1;
                let _ = self
                    .conn
                    .execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
            }
            None => {
                let _ = self.conn.end_transaction(false);
            }
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl std::ops::DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
    }
}

/// The SQL of a statement written with SQLite's `?` / `?N` placeholders, for PostgreSQL (`$N`).
/// Quoted strings and identifiers are left alone.
#[must_use]
pub fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut next = 0u32;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    next += 1;
                    next
                } else {
                    let n = digits.parse().unwrap_or(0);
                    next = next.max(n);
                    n
                };
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Engine, Value, postgres_sql};

    /// A cached SQLite statement runs again without being parsed again, whatever its values:
    /// `col = ?` beside an `ORDER BY`, and a term beside a partial index's `WHERE`, made SQLite
    /// re-parse it on every new value.
    #[test]
    fn cached_sqlite_statements_are_not_parsed_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::Conn::open_sqlite(&dir.path().join("db.sqlite")).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (a TEXT NOT NULL, b TEXT NOT NULL, c TEXT, PRIMARY KEY (a, b));
             CREATE INDEX t_c ON t (c) WHERE c IS NOT NULL;",
        )
        .unwrap();
        let queries = [
            "SELECT b FROM t WHERE a = ?1 ORDER BY b",
            "SELECT a FROM t WHERE c = ?1 AND a != ?2 ORDER BY b DESC LIMIT 5",
        ];
        for sql in queries {
            for i in 0..10 {
                let values = [Value::Text(format!("x{i}")), Value::Text(format!("y{i}"))];
                let n = sql.matches('?').count();
                conn.query_map(sql, &values[..n], |r| r.get::<_, String>(0))
                    .unwrap();
            }
            let Engine::Sqlite(c, _) = &conn.engine else {
                unreachable!("opened on SQLite")
            };
            let stmt = c.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql}"
            );
        }
    }

    /// Statements run and committed together (one round trip on PostgreSQL) stand or fall
    /// together: a failing one leaves nothing of the others, is the error returned, and the
    /// connection is ready for the next transaction.
    #[test]
    fn statements_committed_together_stand_or_fall_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::testing::fresh_store(dir.path()).unwrap();
        let conn = &mut store.conn;
        conn.execute_batch("CREATE TABLE pairs (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
            .unwrap();
        let insert = "INSERT INTO pairs (k, v) VALUES (?1, ?2)";
        let one = [Value::Integer(1), Value::Text("one".into())];
        let two = [Value::Integer(2), Value::Text("two".into())];
        let again = [Value::Integer(1), Value::Text("again".into())];
        let failed = conn.transaction().unwrap().execute_all_and_commit(&[
            (insert, &one),
            (insert, &two),
            (insert, &again),
        ]);
        assert!(
            failed
                .as_ref()
                .is_err_and(super::DbError::is_constraint_violation),
            "{failed:?}"
        );
        let count = |c: &super::Conn| -> i64 {
            c.query_row("SELECT COUNT(*) FROM pairs", (), |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(conn), 0);
        conn.transaction()
            .unwrap()
            .execute_all_and_commit(&[(insert, &one), (insert, &two)])
            .unwrap();
        assert_eq!(count(conn), 2);
        // Inside an open transaction it is a savepoint's work, undone with the transaction.
        let mut outer = conn.transaction().unwrap();
        outer
            .savepoint()
            .unwrap()
            .execute_all_and_commit(&[(insert, &[Value::Integer(3), Value::Text("three".into())])])
            .unwrap();
        assert_eq!(count(&outer), 3);
        drop(outer);
        assert_eq!(count(conn), 2);
    }

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            postgres_sql("SELECT a FROM t WHERE b = ? AND c = '?' AND \"d?\" = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND \"d?\" = $2"
        );
        assert_eq!(
            postgres_sql("UPDATE t SET a = ?2 WHERE b = ?1 OR c = ?1"),
            "UPDATE t SET a = $2 WHERE b = $1 OR c = $1"
        );
        assert_eq!(postgres_sql("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
    }
}
