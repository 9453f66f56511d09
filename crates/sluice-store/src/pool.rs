//! A pool of open stores for a server: requests run side by side, each on its own connection
//! (SQLite readers in WAL mode, PostgreSQL sessions), and a connection found broken (its
//! PostgreSQL server restarted) is dropped and replaced by a new one on a later request.

use std::time::Duration;

use crate::db::DbError;
use crate::{Location, Result, Store, StoreError};

/// Opens stores at one location for [`r2d2`].
#[derive(Debug)]
pub struct Manager {
    location: Location,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Store;
    type Error = StoreError;

    fn connect(&self) -> Result<Store> {
        Store::open_at(&self.location)
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
}

/// A store checked out of the pool; back in the pool when dropped.
pub type PooledStore = r2d2::PooledConnection<Manager>;

impl StorePool {
    /// Opens the first store at once (so a wrong URL or a database written by a newer Sluice
    /// fails here, with its own message, and migrations run before any request) and keeps up to
    /// `size` open.
    pub fn open(location: Location, size: u32) -> Result<Self> {
        drop(Store::open_at(&location)?);
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
            });
        Ok(Self { pool, location })
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
