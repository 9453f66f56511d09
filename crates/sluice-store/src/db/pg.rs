//! PostgreSQL through `tokio-postgres`, behind the store's blocking interface.
//!
//! Each connection's I/O task runs on one small background runtime owned by this module; callers
//! (CLI commands, engine threads, server handlers on their own runtime) wait for their query's
//! answer on a channel, so blocking on a query never needs a runtime of their own and never
//! nests one runtime inside another.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

use super::{DbError, Result, ValueRef, postgres_sql};

/// The background runtime driving every PostgreSQL connection's socket.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-postgres")
            .enable_all()
            .build()
            .expect("the PostgreSQL I/O runtime starts")
    })
}

/// Waits for a future that needs no reactor of its own (a query's answer arrives on a channel
/// from the connection task), from any thread.
fn wait<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// Prepared statements a connection keeps; past this the cache starts again.
const MAX_STATEMENTS: usize = 256;

pub(super) struct PgConn {
    client: Client,
    /// Prepared statements by their SQLite-dialect text (at most [`MAX_STATEMENTS`]).
    statements: RefCell<HashMap<String, Statement>>,
    in_transaction: Cell<bool>,
    /// A transaction was begun but not yet sent: `BEGIN` and the store's write lock go out with
    /// the transaction's first statement, in the same round trip (see [`PgConn::begin`]).
    begin_pending: Cell<bool>,
    /// What begins it: [`BEGIN`] or [`BEGIN_SHARED`].
    begin_sql: Cell<&'static str>,
}

/// What begins a write transaction: `BEGIN` and the store's write lock (an advisory lock per
/// schema, held to the end of the transaction).
const BEGIN: &str = "BEGIN; SELECT pg_advisory_xact_lock(hashtext('sluice:' || current_schema()))";

/// What begins a write transaction that may run beside others of its kind: the same lock,
/// shared. Such transactions wait for (and hold off) every [`BEGIN`] one, but not each other:
/// for writes that read nothing another of them changes (see [`super::Conn::begin_shared`]).
const BEGIN_SHARED: &str =
    "BEGIN; SELECT pg_advisory_xact_lock_shared(hashtext('sluice:' || current_schema()))";

impl PgConn {
    pub(super) fn connect(url: &str) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| DbError::Connect(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("sluice");
        }
        let connecting = runtime().spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                // The connection ends when the client is dropped or the server goes away; the
                // client then reports itself closed and its queries fail as unavailable.
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = wait(connecting)
            .map_err(|e| DbError::Connect(format!("PostgreSQL connection task failed: {e}")))?
            .map_err(|e| {
                DbError::Connect(format!("cannot connect to PostgreSQL: {}", describe(&e)))
            })?;
        // The store reads rows by their keys (a page of runs' params, tags and latest metrics
        // by the runs' numbers), from tables that mostly sit in memory: with PostgreSQL's
        // default `random_page_cost` (4, a spinning disk's) the planner scanned whole tables for
        // a page of 100 runs (2.9 ms for their latest metrics, 0.35 ms by index). This session
        // takes the value advised for SSDs, unless something set it: the server's
        // configuration, the database or role (`ALTER ... SET`), the URL's `options`. A `SET`
        // after connecting, not a startup option: poolers (PgBouncer) refuse those they do not
        // know.
        wait(client.batch_execute(
            "SELECT set_config('random_page_cost', '1.1', false) FROM pg_settings
             WHERE name = 'random_page_cost' AND source = 'default'",
        ))
        .map_err(|e| {
            DbError::Connect(format!(
                "cannot set up the PostgreSQL session: {}",
                describe(&e)
            ))
        })?;
        Ok(Self {
            client,
            statements: RefCell::new(HashMap::new()),
            in_transaction: Cell::new(false),
            begin_pending: Cell::new(false),
            begin_sql: Cell::new(BEGIN),
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    pub(super) fn in_transaction(&self) -> bool {
        self.in_transaction.get()
    }

    /// Begins a write transaction. Nothing is sent yet: `BEGIN` and the write lock are pipelined
    /// with the first statement (one round trip where there were two), which then runs inside
    /// the transaction, under the lock; if the lock is refused, the transaction is aborted and
    /// the statement fails with it. A transaction that ran nothing ends without a round trip.
    pub(super) fn begin(&self, shared: bool) {
        self.in_transaction.set(true);
        self.begin_pending.set(true);
        self.begin_sql
            .set(if shared { BEGIN_SHARED } else { BEGIN });
    }

    /// Commits (`commit`) or rolls back the open transaction.
    pub(super) fn end(&self, commit: bool) -> Result<()> {
        self.in_transaction.set(false);
        if self.begin_pending.replace(false) {
            return Ok(());
        }
        self.batch(if commit { "COMMIT" } else { "ROLLBACK" })
    }

    /// Runs `statement` after the pending `BEGIN` (if any), both sent before either answer is
    /// awaited; the `BEGIN`'s error is the one reported when both fail.
    fn after_begin<T>(
        &self,
        statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T> {
        if !self.begin_pending.replace(false) {
            return Ok(wait(statement)?);
        }
        let (begun, done) = wait(async {
            tokio::join!(self.client.batch_execute(self.begin_sql.get()), statement)
        });
        begun?;
        Ok(done?)
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let prepared = wait(self.client.prepare(&postgres_sql(sql)))?;
        let mut statements = self.statements.borrow_mut();
        // Searches make SQL of their own (a filter, a page of ids): keep the cache bounded;
        // dropped statements are closed on the server.
        if statements.len() >= MAX_STATEMENTS {
            statements.clear();
        }
        statements.insert(sql.to_owned(), prepared.clone());
        Ok(prepared)
    }

    pub(super) fn execute(&self, sql: &str, params: &[ValueRef<'_>]) -> Result<usize> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let n = self.after_begin(self.client.execute(&stmt, &params))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Runs several statements, all sent before any answer is awaited (one round trip for all
    /// of them, after the pending `BEGIN` if any), in order; the first error is reported (in a
    /// transaction, a failed statement aborts it, and the rest fail with it).
    pub(super) fn execute_all(&self, statements: &[(&str, Vec<ValueRef<'_>>)]) -> Result<()> {
        self.pipeline(statements, false)
    }

    /// [`PgConn::execute_all`] followed by `COMMIT` in the same round trip; the transaction is
    /// over either way (a `COMMIT` after a failed statement rolls back).
    pub(super) fn execute_all_and_commit(
        &self,
        statements: &[(&str, Vec<ValueRef<'_>>)],
    ) -> Result<()> {
        let done = self.pipeline(statements, true);
        self.in_transaction.set(false);
        done
    }

    fn pipeline(&self, statements: &[(&str, Vec<ValueRef<'_>>)], commit: bool) -> Result<()> {
        let prepared: Vec<Statement> = statements
            .iter()
            .map(|(sql, _)| self.statement(sql))
            .collect::<Result<_>>()?;
        let params: Vec<Vec<&(dyn ToSql + Sync)>> = statements
            .iter()
            .map(|(_, values)| values.iter().map(|p| p as _).collect())
            .collect();
        let mut pending: Vec<BoxedQuery<'_>> = Vec::with_capacity(statements.len() + 1);
        if self.begin_pending.replace(false) {
            pending.push(Box::pin(async {
                self.client
                    .batch_execute(self.begin_sql.get())
                    .await
                    .map(|()| 0)
            }));
        }
        for (stmt, params) in prepared.iter().zip(&params) {
            pending.push(Box::pin(self.client.execute(stmt, params)));
        }
        if commit {
            pending.push(Box::pin(async {
                self.client.batch_execute("COMMIT").await.map(|()| 0)
            }));
        }
        wait(in_order(pending))
    }

    pub(super) fn query(
        &self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.after_begin(self.client.query(&stmt, &params))
    }

    /// [`PgConn::query`] with a statement prepared for this call alone, so PostgreSQL plans it
    /// for these values: a cached statement switches to a generic plan after five runs when
    /// that plan looks cheaper, and for a search the values decide the plan (a selective
    /// filter and a sorted index scan that stops at the page's end, or not).
    pub(super) fn query_planned(
        &self,
        sql: &str,
        params: &[ValueRef<'_>],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let stmt = wait(self.client.prepare(&postgres_sql(sql)))?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.after_begin(self.client.query(&stmt, &params))
    }

    pub(super) fn batch(&self, sql: &str) -> Result<()> {
        if self.begin_pending.replace(false) {
            return Ok(wait(
                self.client
                    .batch_execute(&format!("{}; {sql}", self.begin_sql.get())),
            )?);
        }
        Ok(wait(self.client.batch_execute(sql))?)
    }
}

type BoxedQuery<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + 'a>>;

/// Drives `queries` together, each first polled (and so sent on the connection) in the order
/// given; the first error in that order, once all are done.
async fn in_order(mut queries: Vec<BoxedQuery<'_>>) -> Result<()> {
    let mut results: Vec<Option<Result<u64, tokio_postgres::Error>>> =
        queries.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (q, r) in queries.iter_mut().zip(results.iter_mut()) {
            if r.is_none() {
                match q.as_mut().poll(cx) {
                    std::task::Poll::Ready(done) => *r = Some(done),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results.into_iter().flatten() {
        r?;
    }
    Ok(())
}

/// An error's message with PostgreSQL's own detail (`tokio_postgres::Error`'s display alone
/// says only "db error").
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                s.push_str(" (");
                s.push_str(detail);
                s.push(')');
            }
            s
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// The server is down, restarting or unreachable (not a refusal of this request).
pub(super) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown,
        // cannot connect now (starting up).
        Some(c) => c.code().starts_with("08") || matches!(c.code(), "57P01" | "57P02" | "57P03"),
        // No SQLSTATE: an I/O error on the socket.
        None => e.as_db_error().is_none(),
    }
}

/// A column's raw bytes and type, read without conversion and decoded to a [`ValueRef`].
pub(super) struct Raw<'a> {
    ty: Type,
    raw: Option<&'a [u8]>,
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self {
            ty: ty.clone(),
            raw: Some(raw),
        })
    }

    fn from_sql_null(ty: &Type) -> Result<Self, BoxError> {
        Ok(Self {
            ty: ty.clone(),
            raw: None,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl<'a> Raw<'a> {
    pub(super) fn value(&self) -> Result<ValueRef<'a>> {
        let Some(raw) = self.raw else {
            return Ok(ValueRef::Null);
        };
        let ty = &self.ty;
        let bad =
            |e: BoxError| DbError::Connect(format!("cannot decode a PostgreSQL {ty} value: {e}"));
        Ok(match *ty {
            Type::INT8 => ValueRef::Integer(i64::from_sql(ty, raw).map_err(bad)?),
            Type::INT4 => ValueRef::Integer(i32::from_sql(ty, raw).map_err(bad)?.into()),
            Type::INT2 => ValueRef::Integer(i16::from_sql(ty, raw).map_err(bad)?.into()),
            Type::OID => ValueRef::Integer(u32::from_sql(ty, raw).map_err(bad)?.into()),
            Type::BOOL => ValueRef::Integer(bool::from_sql(ty, raw).map_err(bad)?.into()),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw).map_err(bad)?),
            Type::FLOAT4 => ValueRef::Real(f32::from_sql(ty, raw).map_err(bad)?.into()),
            Type::NUMERIC => numeric(raw).ok_or_else(|| bad("malformed numeric".into()))?,
            Type::BYTEA => ValueRef::Blob(raw),
            Type::JSONB => ValueRef::Text(
                std::str::from_utf8(raw.get(1..).unwrap_or_default()).map_err(|e| bad(e.into()))?,
            ),
            _ => ValueRef::Text(std::str::from_utf8(raw).map_err(|e| bad(e.into()))?),
        })
    }
}

/// PostgreSQL's binary `numeric` (what `SUM` of integers answers): an integer when it has no
/// fractional digits and fits, a float otherwise.
fn numeric(raw: &[u8]) -> Option<ValueRef<'static>> {
    let word = |i: usize| -> Option<i16> {
        Some(i16::from_be_bytes([*raw.get(2 * i)?, *raw.get(2 * i + 1)?]))
    };
    let ndigits = usize::try_from(word(0)?).ok()?;
    let weight = i32::from(word(1)?);
    let sign = u16::from_be_bytes([*raw.get(4)?, *raw.get(5)?]);
    let dscale = word(3)?;
    if sign == 0xC000 {
        return Some(ValueRef::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let digits: Vec<i16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    if dscale == 0 {
        let mut acc: i128 = 0;
        for d in &digits {
            acc = acc.checked_mul(10_000)?.checked_add(i128::from(*d))?;
        }
        let trailing = weight - i32::try_from(ndigits).ok()? + 1;
        for _ in 0..trailing.max(0) {
            acc = acc.checked_mul(10_000)?;
        }
        let acc = if negative { -acc } else { acc };
        if let Ok(i) = i64::try_from(acc) {
            return Some(ValueRef::Integer(i));
        }
    }
    let mut f = 0.0f64;
    for (i, d) in digits.iter().enumerate() {
        f += f64::from(*d) * 10_000f64.powi(weight - i32::try_from(i).ok()?);
    }
    Some(ValueRef::Real(if negative { -f } else { f }))
}

/// Binds a value to whatever type PostgreSQL inferred for its placeholder, converting the way
/// SQLite's column affinity would (an integer bound to a `TEXT` column is stored as its
/// digits), so one SQL text serves both engines.
impl ToSql for ValueRef<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        match *self {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                _ => text(&i.to_string(), ty, out),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                Type::INT8 if f.fract() == 0.0 => (f as i64).to_sql(ty, out),
                _ => text(&f.to_string(), ty, out),
            },
            ValueRef::Text(s) => text(s, ty, out),
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => text(std::str::from_utf8(b)?, ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Text bound to a placeholder of type `ty` (numbers parsed when the column is numeric).
fn text(s: &str, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::INT8 => s.trim().parse::<i64>()?.to_sql(ty, out),
        Type::INT4 => s.trim().parse::<i32>()?.to_sql(ty, out),
        Type::INT2 => s.trim().parse::<i16>()?.to_sql(ty, out),
        Type::FLOAT8 => s.trim().parse::<f64>()?.to_sql(ty, out),
        Type::FLOAT4 => s.trim().parse::<f32>()?.to_sql(ty, out),
        Type::BYTEA => s.as_bytes().to_sql(ty, out),
        Type::JSONB => {
            out.put_u8(1);
            out.put_slice(s.as_bytes());
            Ok(IsNull::No)
        }
        _ => {
            out.put_slice(s.as_bytes());
            Ok(IsNull::No)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ValueRef, numeric};

    /// Sluice's connections plan for tables in memory (`random_page_cost` 1.1: a page of
    /// runs read by index, not by scanning whole tables), keeping the URL's `options` (a
    /// test's `search_path`), and a URL that sets `random_page_cost` itself wins.
    #[test]
    #[expect(clippy::print_stderr, reason = "a skipped test says why")]
    fn connections_plan_for_tables_in_memory_unless_the_url_says_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let crate::Location::Postgres(url) = crate::testing::fresh_location(dir.path()).unwrap()
        else {
            eprintln!("skipped: no test PostgreSQL (SLUICE_TEST_POSTGRES)");
            return;
        };
        let show = |url: &str| -> (String, String) {
            let conn = crate::db::Conn::open_postgres(url).unwrap();
            conn.query_row(
                "SELECT current_setting('random_page_cost'), current_schema()",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        let schema = url.rsplit("search_path%3D").next().unwrap().to_owned();
        assert_eq!(show(&url), ("1.1".to_owned(), schema.clone()));
        let told = format!("{url}%20-c%20random_page_cost%3D3");
        assert_eq!(show(&told), ("3".to_owned(), schema));
    }

    fn encode(ndigits: i16, weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight] {
            v.extend(w.to_be_bytes());
        }
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in digits {
            v.extend(d.to_be_bytes());
        }
        v
    }

    #[test]
    fn numerics_decode_to_integers_or_floats() {
        // 123456789 = 1·10000² + 2345·10000 + 6789
        assert_eq!(
            numeric(&encode(3, 2, 0, 0, &[1, 2345, 6789])),
            Some(ValueRef::Integer(123_456_789))
        );
        // 20000 = 2·10000¹ (trailing zero groups omitted)
        assert_eq!(
            numeric(&encode(1, 1, 0, 0, &[2])),
            Some(ValueRef::Integer(20_000))
        );
        assert_eq!(
            numeric(&encode(1, 0, 0x4000, 0, &[7])),
            Some(ValueRef::Integer(-7))
        );
        assert_eq!(
            numeric(&encode(0, 0, 0, 0, &[])),
            Some(ValueRef::Integer(0))
        );
        // 2.5 = 2·10000⁰ + 5000·10000⁻¹
        assert_eq!(
            numeric(&encode(2, 0, 0, 1, &[2, 5000])),
            Some(ValueRef::Real(2.5))
        );
    }
}
