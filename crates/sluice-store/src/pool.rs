//! A pool of open stores for a server: requests run side by side, each on its own connection
//! (SQLite readers in WAL mode, PostgreSQL sessions), and a connection found broken (its
//! PostgreSQL server restarted) is dropped and replaced by a new one on a later request.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::db::{Conn, DbError};
use crate::{Location, Result, Store, StoreError};

/// Opens stores at one location for [`r2d2`].
#[derive(Debug)]
pub struct Manager {
    location: Location,
    /// SQLite: a [`Checkpointer`] runs the pool's checkpoints, so its connections run them
    /// only as a backstop ([`WAL_BACKSTOP_PAGES`]).
    checkpointed: bool,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Store;
    type Error = StoreError;

    fn connect(&self) -> Result<Store> {
        open_checkpointed(&self.location, self.checkpointed)
    }

    /// A connection its server closed (PostgreSQL restarted) is known without a round trip:
    /// checked on every checkout, so the first request after a restart gets a new connection
    /// rather than a 503.
    fn is_valid(&self, store: &mut Store) -> Result<()> {
        if store.is_broken() {
            Err(StoreError::Unavailable(DbError::Connect(
                "the connection was closed by the database server".into(),
            )))
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, store: &mut Store) -> bool {
        store.is_broken()
    }
}

/// Stores checked out one request at a time.
#[derive(Clone)]
pub struct StorePool {
    pool: r2d2::Pool<Manager>,
    location: Location,
    /// Stopped when the last clone of the pool is dropped.
    checkpointer: Option<Arc<Checkpointer>>,
    /// See [`StorePool::parallel_writers`]: fixed when the pool opens, so that a run's lane
    /// never changes while the server runs.
    writers: usize,
}

/// A store checked out of the pool; back in the pool when dropped.
pub type PooledStore = r2d2::PooledConnection<Manager>;

impl StorePool {
    /// Opens the first store at once (so a wrong URL or a database written by a newer Sluice
    /// fails here, with its own message, and migrations run before any request) and keeps up to
    /// `size` open.
    pub fn open(location: Location, size: u32) -> Result<Self> {
        drop(Store::open_at(&location)?);
        let checkpointer = match &location {
            Location::Sqlite(path) => Some(Arc::new(Checkpointer::start(path)?)),
            Location::Postgres(_) => None,
        };
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(1))
            // A down database fails a request after this long (503), rather than holding it.
            .connection_timeout(Duration::from_secs(5))
            // `is_valid` asks the connection whether it is closed: no round trip.
            .test_on_check_out(true)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build_unchecked(Manager {
                location: location.clone(),
                checkpointed: checkpointer.is_some(),
            });
        let writers = match location {
            Location::Sqlite(_) => 1,
            Location::Postgres(_) => std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .clamp(1, 4),
        };
        Ok(Self {
            pool,
            location,
            checkpointer,
            writers,
        })
    }

    /// A store of its own for one long-lived writer (a server's group commit), outside the
    /// pool: on SQLite with a larger page cache ([`WRITER_CACHE_KIB`]), since a group's pages
    /// and a metric fold's (about 800 histories) overflow SQLite's default 2 MiB, which then
    /// writes pages to the WAL mid-transaction and reads them back. The caller replaces it when
    /// [`Store::is_broken`] says so.
    pub fn writer(&self) -> Result<Store> {
        let store = open_checkpointed(&self.location, self.checkpointer.is_some())?;
        if let Location::Sqlite(_) = self.location {
            store
                .conn
                .execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}"))?;
        }
        Ok(store)
    }

    /// Makes `store`, a connection to this pool's database kept outside the pool (a
    /// workspace's own, which runs a job's steps beside the server its steps log to), leave its
    /// checkpoints to the pool's checkpointer as the pool's connections do: it then runs one
    /// itself only at `WAL_BACKSTOP_PAGES`. Left to SQLite it would run one inline every
    /// 1,000 pages (copying them and syncing twice, in the middle of a step's bookkeeping).
    /// Nothing changes on PostgreSQL. After the pool is gone `store` still checkpoints at the
    /// backstop, and when the last connection closes SQLite checkpoints what is left.
    pub fn share_checkpoints(&self, store: &Store) -> Result<()> {
        if self.checkpointer.is_some() {
            store
                .conn
                .execute_batch(&format!("PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}"))?;
        }
        Ok(())
    }

    /// How many group writers ([`Self::writer`]) may commit side by side: one on SQLite, which
    /// takes one write transaction at a time; on PostgreSQL one per core (at most 4), since
    /// each connection's work runs in a server process of its own, on one core (a single
    /// writer kept one PostgreSQL process busy while the rest of the machine idled).
    #[must_use]
    pub fn parallel_writers(&self) -> usize {
        self.writers
    }

    /// A store for one operation; waits for a free one (up to 5 s).
    pub fn get(&self) -> Result<PooledStore> {
        self.pool.get().map_err(|e| {
            StoreError::Unavailable(DbError::Connect(format!(
                "no connection to {} within 5 s: {e}",
                self.location.redacted()
            )))
        })
    }
}

/// The page cache of [`StorePool::writer`]'s SQLite connection, in KiB (a log-batch load
/// measured 1,172 req/s with SQLite's default 2 MiB, 1,358 with this).
pub const WRITER_CACHE_KIB: u32 = 8192;

/// The WAL size (in pages) at which a pool's connection checkpoints after its own commit
/// although a [`Checkpointer`] runs: SQLite starts the WAL over only when a write transaction
/// begins with every page of it copied, which a checkpoint on another thread rarely achieves
/// under a steady stream of commits (each adds pages while it copies). At this size the
/// committing connection copies what is left (little: the thread copied the rest) and syncs,
/// so the next write starts the WAL over: it stays within about 64 MB plus what the commits of
/// one checkpoint add (73-78 MB measured under the harness's log-batch load). That backstop
/// runs in the group writer, serial with every write: at 4,000 pages (a 27-29 MB WAL) the same
/// load measured a median 1,317 batches/s over five fresh servers, at 16,000 pages 1,481.
const WAL_BACKSTOP_PAGES: u32 = 16000;

/// A store at `location`; when a [`Checkpointer`] runs the checkpoints (`checkpointed`), one
/// that runs them itself only at [`WAL_BACKSTOP_PAGES`].
fn open_checkpointed(location: &Location, checkpointed: bool) -> Result<Store> {
    let store = Store::open_at(location)?;
    if checkpointed {
        store
            .conn
            .execute_batch(&format!("PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES}"))?;
    }
    Ok(store)
}

/// How often the checkpointer copies what the WAL holds into the database file. A checkpoint
/// copies each page once however many commits rewrote it, so a longer wait copies the pages
/// every group rewrites (latest values, their index) less often: under a log-batch load, 200 ms
/// spent 7.8 s of system time where 50 ms spent 8.9-9.3 s. The WAL then holds about 200 ms of
/// commits (a few MB at 1,300 batches/s).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// A thread that runs an SQLite pool's WAL checkpoints (`PASSIVE`: they copy committed pages
/// into the database file beside readers and the writer, never waiting for either).
///
/// Left to SQLite, the commit that finds the WAL past 1,000 pages runs the checkpoint itself,
/// inside the request that committed: under a log-batch load that was an eighth of the group
/// writer's time (copying pages, then `fsync`), serial with every write. Here it runs on a
/// thread of its own, beside the writer.
struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &std::path::Path) -> Result<Self> {
        let conn = Conn::open_sqlite(path)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let (stopped, wake) = &*signal;
                let mut done = stopped
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                while !*done {
                    done = wake
                        .wait_timeout(done, CHECKPOINT_EVERY)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                    // A failed checkpoint leaves the pages in the WAL, where readers find
                    // them; the next one copies them.
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
                }
            })
            .map_err(|e| {
                crate::StoreError::Unavailable(DbError::Connect(format!(
                    "cannot start the checkpoint thread: {e}"
                )))
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool on a new SQLite file, its writer, and a table to fill.
    fn scratch_pool() -> (tempfile::TempDir, StorePool, Store) {
        let dir = tempfile::tempdir().unwrap();
        let pool = StorePool::open(Location::Sqlite(dir.path().join("db.sqlite")), 2).unwrap();
        let writer = pool.writer().unwrap();
        writer
            .conn
            .execute_batch("CREATE TABLE scratch (b BLOB NOT NULL)")
            .unwrap();
        (dir, pool, writer)
    }

    /// Written back to back (no pause for the checkpointer to catch up), the WAL still starts
    /// over: the committing connection's backstop copies what the thread has not.
    #[test]
    fn a_pools_wal_stays_bounded_under_writes_back_to_back() {
        let (dir, _pool, writer) = scratch_pool(); // the pool (its checkpointer) stays up
        let wal = dir.path().join("db.sqlite-wal");
        let mut largest = 0;
        // 100 transactions of ~400 pages (160 MB, more than twice the backstop), as fast as
        // they commit.
        for _ in 0..100 {
            writer
                .conn
                .execute_batch("INSERT INTO scratch (b) SELECT randomblob(1600000)")
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        // The backstop's pages, and room for the commits whose own checkpoint found the
        // thread's under way (it then skips; the next commit tries again): a few (up to 32 when
        // other tests load the machine), not the 160 MB written.
        let bound = u64::from(WAL_BACKSTOP_PAGES) * 4096 + 32 * 1_600_000;
        assert!(
            largest <= bound,
            "the WAL grew to {largest} bytes (bound {bound}): it never started over"
        );
    }

    /// A connection opened outside the pool checkpoints every 1,000 pages, as SQLite does,
    /// until it shares the pool's checkpointer; then, like the pool's own, only at the backstop.
    #[test]
    fn a_store_outside_the_pool_leaves_its_checkpoints_to_the_pool() {
        let (dir, pool, _writer) = scratch_pool();
        let outside = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let backstop = Some(i64::from(WAL_BACKSTOP_PAGES));
        assert_eq!(outside.checkpoints_every().unwrap(), Some(1000));
        pool.share_checkpoints(&outside).unwrap();
        assert_eq!(outside.checkpoints_every().unwrap(), backstop);
        assert_eq!(pool.get().unwrap().checkpoints_every().unwrap(), backstop);
    }

    /// A pool's connections and its writer leave checkpoints to the pool's checkpointer: under
    /// a stream of writes with pauses the WAL stays small (without it, it would grow to the
    /// backstop's 64 MB), and what was written reads back after the pool is gone.
    #[test]
    fn the_checkpointer_keeps_a_pools_wal_small() {
        let (dir, pool, writer) = scratch_pool();
        let wal = dir.path().join("db.sqlite-wal");
        let mut largest = 0;
        // 20 transactions of ~200 pages each (16 MB in all), by the writer and a pooled store.
        for i in 0..20 {
            let store = if i % 2 == 0 {
                &writer
            } else {
                &*pool.get().unwrap()
            };
            store
                .conn
                .execute_batch("INSERT INTO scratch (b) SELECT randomblob(800000)")
                .unwrap();
            std::thread::sleep(CHECKPOINT_EVERY + Duration::from_millis(20));
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        assert!(
            largest < 4 << 20,
            "the WAL grew to {largest} bytes: nothing checkpointed it"
        );
        drop(writer);
        drop(pool);
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let n: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM scratch", (), |r| r.get(0))
            .unwrap();
        assert_eq!(n, 20);
    }
}
