//! Group commit for `log-batch`, `log-metric`, `log-parameter` and `set-tag`: requests that
//! arrive while a group is being written wait in a queue and are written together, in one
//! transaction, by the next group. A request is answered only after the commit that holds its
//! batch, so an acknowledged write is as durable as before; each batch still succeeds or fails
//! on its own (a savepoint each, see [`sluice_store::Store::log_batches`]). Under load this
//! turns N commits into one and writes the pages the batches share (the latest-value index,
//! the arrival counter) once; with a single client each group holds one batch and nothing
//! waits. On PostgreSQL several groups commit side by side, each on a connection of its own
//! ([`sluice_store::pool::StorePool::parallel_writers`]): requests go to lanes by their run,
//! one writer drains a lane, so two groups written at once never touch the same run's rows
//! (no lock waits, no deadlock between them) and a run's batches are written in arrival order.

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
struct Lane {
    waiting: Vec<Pending>,
    /// Whether a writer is draining the lane (it takes what arrives until it is empty).
    writing: bool,
}

/// The `log-batch` requests waiting for the next group, in lanes by run.
#[derive(Default)]
pub(crate) struct GroupCommit {
    lanes: Mutex<Vec<Lane>>,
    /// The writers' own connections not in use (see
    /// [`sluice_store::pool::StorePool::writer`]): a writer takes one, or opens one when there
    /// is none, and puts it back after its group unless it is broken.
    idle: Mutex<Vec<Store>>,
    /// Groups committed, and the batches they held (`/metrics`: how much grouping saves),
    /// counted together so that a scrape never sees one without the other.
    counts: Mutex<(u64, u64)>,
}

impl GroupCommit {
    /// Writes `batch` with the next group and answers when it is committed.
    pub(crate) async fn log_batch(state: &Arc<ServerState>, batch: LogBatch) -> ApiResult<()> {
        let (reply, answer) = oneshot::channel();
        let lanes = state.store.parallel_writers();
        let lane = lane_of(&batch.run_id, lanes);
        let lead = {
            let mut all = state.group.lock();
            if all.len() < lanes {
                all.resize_with(lanes, Lane::default);
            }
            let l = &mut all[lane];
            l.waiting.push(Pending { batch, reply });
            !std::mem::replace(&mut l.writing, true)
        };
        if lead {
            let state = Arc::clone(state);
            tokio::task::spawn_blocking(move || state.group.write_until_empty(&state, lane));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::InternalError,
                "the batch writer stopped before answering",
            ))
        })
    }

    /// Groups committed so far, and the batches they held.
    pub(crate) fn counts(&self) -> (u64, u64) {
        *self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Lane>> {
        // A writer that panicked left the lanes themselves consistent.
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes one group on a writer's connection (opening one if none is idle; dropping it if
    /// the database server closed it, so a later group opens a new one).
    fn write(
        &self,
        state: &ServerState,
        batches: &[LogBatch],
    ) -> ApiResult<Vec<sluice_store::Result<()>>> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        // A connection the database server closed while it sat idle (PostgreSQL restarted) is
        // known without a round trip: replaced before use, as the pool does at checkout.
        let mut store = match idle.filter(|s| !s.is_broken()) {
            Some(store) => store,
            None => state.store.writer()?,
        };
        let written = store.log_batches(batches);
        if !store.is_broken() && !matches!(written, Err(sluice_store::StoreError::Unavailable(_))) {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(store);
        }
        Ok(written?)
    }

    /// Writes a lane's groups until none is waiting, then lets its next request lead.
    fn write_until_empty(&self, state: &ServerState, lane: usize) {
        /// If writing panics, the lane's next request leads (and takes what is still waiting).
        struct Handover<'a>(&'a GroupCommit, usize);
        impl Drop for Handover<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock()[self.1].writing = false;
                }
            }
        }
        let _handover = Handover(self, lane);
        loop {
            let (batches, replies): (Vec<LogBatch>, Vec<_>) = {
                let mut all = self.lock();
                let l = &mut all[lane];
                if l.waiting.is_empty() {
                    l.writing = false;
                    return;
                }
                let n = l.waiting.len().min(MAX_GROUP);
                l.waiting.drain(..n).map(|p| (p.batch, p.reply)).unzip()
            };
            let written = self.write(state, &batches);
            match written {
                Ok(results) => {
                    {
                        let mut c = self
                            .counts
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        c.0 += 1;
                        c.1 += batches.len() as u64;
                    }
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

/// The lane of a run's batches among `lanes`: the same run, the same lane.
fn lane_of(run_id: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    if lanes <= 1 {
        return 0;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    run_id.hash(&mut h);
    usize::try_from(h.finish() % lanes as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::lane_of;

    #[test]
    fn a_run_keeps_its_lane_and_runs_spread_over_all() {
        let runs: Vec<String> = (0..64).map(|i| format!("{i:032x}")).collect();
        for lanes in [1, 2, 4] {
            let mut used = vec![0; lanes];
            for run in &runs {
                let lane = lane_of(run, lanes);
                assert_eq!(lane, lane_of(run, lanes));
                used[lane] += 1;
            }
            assert!(used.iter().all(|&n| n > 0), "{lanes} lanes: {used:?}");
        }
    }
}
