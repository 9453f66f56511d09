//! Metric histories' integer keys (migration 0024): each (run, key) gets a `history_id` the
//! first time a point of it is logged (just before the point is written: a batch refused
//! after that leaves its history empty), and the tables every `log-batch` writes
//! (`metric_latest`, `metric_points_recent`, `history_chunks`) name it instead of the run's
//! 32-character id (`metric_latest` keeps the metric's name too, for searches). A connection remembers the ids it has seen
//! committed (a history is never removed or renumbered), so a steady stream of batches looks
//! nothing up.

use std::collections::HashMap;

use crate::db::{OptionalExtension, Value, params, params_from_iter};
use crate::{Result, Store};

/// One metric history's keys: its own, and its run's creation number (`runs.seq`), by which
/// its recent points cluster with the rest of its run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct History {
    pub(super) id: i64,
    pub(super) run_seq: i64,
}

/// The histories a connection has seen committed, by run then key (looked up without
/// allocating). Emptied when it holds [`REMEMBERED`] (a server connection that has seen that
/// many histories reads them again).
#[derive(Debug, Default)]
pub(crate) struct Known {
    by_run: HashMap<String, HashMap<String, History>>,
    len: usize,
}

/// About 80 bytes an entry: at most ~5 MB a connection (a server has `--pool-size` of them and
/// one for its group commits).
const REMEMBERED: usize = if cfg!(test) { 4 } else { 65_536 };

impl Known {
    fn get(&self, run: &str, key: &str) -> Option<History> {
        self.by_run.get(run)?.get(key).copied()
    }

    fn remember(&mut self, run: &str, key: &str, h: History) {
        if self.len >= REMEMBERED {
            self.by_run.clear();
            self.len = 0;
        }
        let keys = self.by_run.entry(run.to_owned()).or_default();
        if keys.insert(key.to_owned(), h).is_none() {
            self.len += 1;
        }
    }
}

impl Store {
    /// How many histories this connection remembers (for tests).
    #[cfg(test)]
    pub(crate) fn known_histories_len(&self) -> usize {
        self.known_histories.len
    }

    /// The histories of `pairs` (run, key) if this connection remembers every one of them.
    pub(super) fn remembered_histories<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<HashMap<(&'a str, &'a str), History>> {
        let mut found = HashMap::new();
        for (run, key) in pairs {
            found.insert((run, key), self.known_histories.get(run, key)?);
        }
        Some(found)
    }

    /// The histories of `pairs` (run, key), made where missing for runs that exist; a pair
    /// whose run does not exist has none. Callers ask only for metrics they have checked
    /// (names, an active run). Made in a transaction of their own when none is open, and then
    /// remembered; inside an open one (which may still roll back) made there and not
    /// remembered. On PostgreSQL the store's write lock is taken shared (writers making the
    /// same history at once: one inserts it, the other's insert waits and does nothing, and
    /// both read it). A history made for a batch that then fails holds no point and no latest
    /// value: readers see nothing of it.
    pub(super) fn histories<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HashMap<(&'a str, &'a str), History>> {
        let mut found: HashMap<(&'a str, &'a str), History> = HashMap::new();
        // Missing ones by run, each key once, in order.
        let mut missing: std::collections::BTreeMap<&'a str, Vec<&'a str>> =
            std::collections::BTreeMap::new();
        for (run, key) in pairs {
            if found.contains_key(&(run, key)) {
                continue;
            }
            match self.known_histories.get(run, key) {
                Some(h) => {
                    found.insert((run, key), h);
                }
                None => missing.entry(run).or_default().push(key),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        for keys in missing.values_mut() {
            keys.sort_unstable();
            keys.dedup();
        }
        let outer = self.conn.begin_shared()?;
        let made = self.make_histories(&missing);
        self.conn.finish(outer, made.is_ok())?;
        for (run, key, h) in made? {
            if outer {
                self.known_histories.remember(run, key, h);
            }
            found.insert((run, key), h);
        }
        Ok(found)
    }

    /// [`Store::histories`]' writes and reads, in its transaction: per run, one multi-row
    /// insert of the keys it lacks and one read of all of them.
    fn make_histories<'a>(
        &self,
        missing: &std::collections::BTreeMap<&'a str, Vec<&'a str>>,
    ) -> Result<Vec<(&'a str, &'a str, History)>> {
        let mut made = Vec::new();
        for (&run, keys) in missing {
            let Some(run_seq) = self
                .conn
                .prepare_cached("SELECT seq FROM runs WHERE run_uuid = ?1")?
                .query_row(params![run], |r| r.get::<_, i64>(0))
                .optional()?
            else {
                continue;
            };
            let rows: Vec<Value> = keys
                .iter()
                .flat_map(|k| {
                    [
                        Value::Text(run.to_owned()),
                        Value::Text((*k).to_owned()),
                        Value::Integer(run_seq),
                    ]
                })
                .collect();
            let statements = super::row_statements(
                "INSERT INTO metric_histories (run_uuid, key, run_seq)",
                3,
                "ON CONFLICT (run_uuid, key) DO NOTHING",
                &rows,
            );
            super::execute_rows(&self.conn, &statements)?;
            // Every key asked for, in one statement (its length varies: a statement cached per
            // length, for the rare batches that bring new histories).
            let sql = format!(
                "SELECT key, history_id, run_seq FROM metric_histories WHERE run_uuid = ? AND key IN ({})",
                vec!["?"; keys.len()].join(", ")
            );
            let mut args = vec![Value::Text(run.to_owned())];
            args.extend(keys.iter().map(|k| Value::Text((*k).to_owned())));
            let got: HashMap<String, History> = self
                .conn
                .prepare(&sql)?
                .query_map(params_from_iter(&args), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        History {
                            id: r.get(1)?,
                            run_seq: r.get(2)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            for &key in keys {
                let h = got.get(key).copied().ok_or_else(|| {
                    crate::StoreError::Corrupt(format!(
                        "the history of metric `{key}` of run {run} was written but cannot be read back"
                    ))
                })?;
                made.push((run, key, h));
            }
        }
        Ok(made)
    }

    /// The history of `key` on `run`, if a point of it was ever written (reads only).
    pub(super) fn history(&self, run: &str, key: &str) -> Result<Option<History>> {
        if let Some(h) = self.known_histories.get(run, key) {
            return Ok(Some(h));
        }
        Ok(self
            .conn
            .prepare_cached(
                "SELECT history_id, run_seq FROM metric_histories WHERE run_uuid = ?1 AND key = ?2",
            )?
            .query_row(params![run, key], |r| {
                Ok(History {
                    id: r.get(0)?,
                    run_seq: r.get(1)?,
                })
            })
            .optional()?)
    }
}
