//! Group commit for `log-batch`, `log-metric`, `log-parameter` and `set-tag`: requests that
//! arrive while a group is being written wait in a queue and are written together, in one
//! transaction, by the next group. A request is answered only after the commit that holds its
//! batch, so an acknowledged write is as durable as before; each batch still succeeds or fails
//! on its own (a savepoint each, see [`sluice_store::Store::log_batches`]). Under load this
//! turns N commits into one and writes the pages the batches share (the latest-value index,
//! the arrival counter) once; with a single client each group holds one batch and nothing
//! waits.

use std::sync::{Arc, Mutex};

use sluice_store::Store;
use sluice_store::tracking::LogBatch;
use tokio::sync::oneshot;

use crate::ServerState;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The most batches one transaction writes (up to 1,000 metrics each); more wait for the next.
const MAX_GROUP: usize = 64;

struct Pending {
    batch: LogBatch,
    reply: oneshot::Sender<ApiResult<()>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Pending>,
    /// Whether a writer is draining the queue (it takes what arrives until it is empty).
    writing: bool,
}

/// The queue of `log-batch` requests waiting for the next group.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
    /// The writer's own connection (see [`sluice_store::pool::StorePool::writer`]), opened by
    /// the first group and replaced when broken. Only the writer draining the queue takes it.
    writer: Mutex<Option<Store>>,
}

impl GroupCommit {
    /// Writes `batch` with the next group and answers when it is committed.
    pub(crate) async fn log_batch(state: &Arc<ServerState>, batch: LogBatch) -> ApiResult<()> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut q = state.group.lock();
            q.waiting.push(Pending { batch, reply });
            !std::mem::replace(&mut q.writing, true)
        };
        if lead {
            let state = Arc::clone(state);
            tokio::task::spawn_blocking(move || state.group.write_until_empty(&state));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::InternalError,
                "the batch writer stopped before answering",
            ))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A writer that panicked left the queue itself consistent.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one group on the writer's connection (opening it if there is none; dropping it
    /// if the database server closed it, so the next group opens a new one).
    fn write(
        &self,
        state: &ServerState,
        batches: &[LogBatch],
    ) -> ApiResult<Vec<sluice_store::Result<()>>> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A connection the database server closed while it sat idle (PostgreSQL restarted) is
        // known without a round trip: replaced before use, as the pool does at checkout.
        if writer.as_ref().is_some_and(Store::is_broken) {
            *writer = None;
        }
        let store = match writer.as_mut() {
            Some(store) => store,
            None => writer.insert(state.store.writer()?),
        };
        let written = store.log_batches(batches);
        if store.is_broken() || matches!(written, Err(sluice_store::StoreError::Unavailable(_))) {
            *writer = None;
        }
        Ok(written?)
    }

    /// Writes groups until none is waiting, then lets the next request lead.
    fn write_until_empty(&self, state: &ServerState) {
        /// If writing panics, the next request leads (and takes what is still waiting).
        struct Handover<'a>(&'a GroupCommit);
        impl Drop for Handover<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock().writing = false;
                }
            }
        }
        let _handover = Handover(self);
        loop {
            let (batches, replies): (Vec<LogBatch>, Vec<_>) = {
                let mut q = self.lock();
                if q.waiting.is_empty() {
                    q.writing = false;
                    return;
                }
                let n = q.waiting.len().min(MAX_GROUP);
                q.waiting.drain(..n).map(|p| (p.batch, p.reply)).unzip()
            };
            let written = self.write(state, &batches);
            match written {
                Ok(results) => {
                    for (reply, r) in replies.into_iter().zip(results) {
                        let _ = reply.send(r.map_err(ApiError::from));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(ApiError::new(e.code, e.message.clone())));
                    }
                }
            }
        }
    }
}
