//! Experiment tracking with MLflow's semantics: experiments, runs, metrics, params, tags.

mod chunks;
pub(crate) mod histories;
mod names;
mod search;

use crate::db::Value;
use crate::db::{Conn, OptionalExtension, Transaction, params, params_from_iter};
use serde::Serialize;

use crate::{Result, Store, StoreError};
use chunks::Point;
use names::{Entity, Place, check_name};

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// MLflow's limits on one `log-batch` request.
pub const MAX_BATCH_METRICS: usize = 1000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
pub const MAX_BATCH_TOTAL: usize = 1000;
/// MLflow's limits on values.
pub const MAX_PARAM_VALUE: usize = 6000;
pub const MAX_TAG_VALUE: usize = 8000;
pub const MAX_KEY: usize = 250;

#[derive(Debug, Clone, Serialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: String,
    pub last_update_time: i64,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_uuid: String,
    pub experiment_id: String,
    pub run_name: String,
    pub user_id: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
    pub run_id: String,
    /// The run's number (`runs.seq`), its key in the tables of its params, tags, metrics,
    /// inputs and outputs; `None` for a run just made (not read back).
    #[serde(skip)]
    pub(crate) seq: Option<i64>,
}

/// A dataset logged to an experiment's runs (`SearchDatasets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetSummary {
    pub experiment_id: String,
    pub name: String,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A metric value. NaN and infinities travel as MLflow sends them (strings in JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// One point of a metric's history (its key is the history's): what `get-history` sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPoint {
    pub step: i64,
    pub timestamp: i64,
    /// NaN for a point logged as NaN.
    pub value: f64,
}

/// One `log-batch` request: the metrics (with the logged model each is also logged for, if
/// any), params and tags of one run; or, `single`, one `log-metric`, `log-parameter` or
/// `set-tag` (the same rules, with MLflow's messages for one entity).
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    pub run_id: String,
    pub metrics: Vec<Metric>,
    pub model_ids: Vec<Option<String>>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    pub single: bool,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub info: RunInfo,
    pub metrics: Vec<Metric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
    /// Dataset inputs as logged (JSON objects).
    pub dataset_inputs: Vec<serde_json::Value>,
    pub model_inputs: Vec<serde_json::Value>,
    /// Logged models that are outputs of the run: (model id, step).
    pub model_outputs: Vec<(String, i64)>,
}

/// Which lifecycle stages a search covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewType {
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    #[must_use]
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s {
            None | Some("ACTIVE_ONLY" | "1") => Some(ViewType::ActiveOnly),
            Some("DELETED_ONLY" | "2") => Some(ViewType::DeletedOnly),
            Some("ALL" | "3") => Some(ViewType::All),
            _ => None,
        }
    }

    fn sql(self, column: &str) -> String {
        match self {
            ViewType::ActiveOnly => format!("{column} = 'active'"),
            ViewType::DeletedOnly => format!("{column} = 'deleted'"),
            ViewType::All => "TRUE".to_owned(),
        }
    }
}

fn not_found(what: crate::Entity, name: impl Into<String>) -> StoreError {
    StoreError::NotFound {
        what,
        name: name.into(),
    }
}

fn parse_id(id: &str, what: crate::Entity) -> Result<i64> {
    id.trim().parse().map_err(|_| not_found(what, id))
}

/// A 32-hex-digit id, like MLflow's run ids.
#[must_use]
pub fn new_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A run name in MLflow's style (`adjective-animal-NNN`).
fn new_run_name() -> String {
    const ADJ: &[&str] = &[
        "able", "bold", "bright", "calm", "clever", "eager", "fair", "gentle", "keen", "merry",
        "quick", "silent", "tidy", "upbeat", "wise",
    ];
    const ANIMAL: &[&str] = &[
        "ant", "bat", "crab", "doe", "eel", "fox", "gnu", "hare", "ibis", "jay", "koi", "lark",
        "mole", "newt", "owl",
    ];
    format!(
        "{}-{}-{}",
        ADJ[fastrand::usize(..ADJ.len())],
        ANIMAL[fastrand::usize(..ANIMAL.len())],
        fastrand::u32(100..1000)
    )
}

impl Store {
    // ---- experiments ------------------------------------------------------------------------

    pub fn create_experiment(
        &mut self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[KeyValue],
    ) -> Result<String> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid(
                "experiment name must not be empty".into(),
            ));
        }
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let res = tx.query_row(
            "INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES (?1, '', ?2, ?2) RETURNING experiment_id",
            params![name, now],
            |r| r.get::<_, i64>(0),
        );
        let id = match res {
            Err(e) if e.is_constraint_violation() => {
                return Err(StoreError::AlreadyExists {
                    what: crate::Entity::Experiment,
                    name: name.to_owned(),
                });
            }
            other => other?,
        };
        let location =
            artifact_location.map_or_else(|| format!("mlflow-artifacts:/{id}"), str::to_owned);
        tx.execute(
            "UPDATE experiments SET artifact_location = ?2 WHERE experiment_id = ?1",
            params![id, location],
        )?;
        for t in tags {
            tx.execute(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                params![id, t.key, t.value],
            )?;
        }
        tx.commit()?;
        Ok(id.to_string())
    }

    fn experiment_row(
        &self,
        sql_where: &str,
        param: &dyn crate::db::ToSql,
    ) -> Result<Option<Experiment>> {
        let exp = self
            .conn
            .query_row(
                &format!(
                    "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time FROM experiments WHERE {sql_where}"
                ),
                [param],
                |r| {
                    Ok(Experiment {
                        experiment_id: r.get::<_, i64>(0)?.to_string(),
                        name: r.get(1)?,
                        artifact_location: r.get(2)?,
                        lifecycle_stage: r.get(3)?,
                        creation_time: r.get(4)?,
                        last_update_time: r.get(5)?,
                        tags: Vec::new(),
                    })
                },
            )
            .optional()?;
        let Some(mut exp) = exp else { return Ok(None) };
        exp.tags = self.kv(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
            &exp.experiment_id.parse::<i64>().unwrap_or_default(),
        )?;
        Ok(Some(exp))
    }

    fn kv(&self, sql: &str, param: &dyn crate::db::ToSql) -> Result<Vec<KeyValue>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([param], |r| {
            Ok(KeyValue {
                key: r.get(0)?,
                value: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let n = parse_id(id, crate::Entity::Experiment)?;
        self.experiment_row("experiment_id = ?1", &n)?
            .ok_or_else(|| not_found(crate::Entity::Experiment, id))
    }

    pub fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        self.experiment_row("name = ?1", &name)?
            .ok_or_else(|| not_found(crate::Entity::Experiment, name))
    }

    /// Experiments matching an MLflow filter (`name LIKE 'x%'`, `tags.k = 'v'`,
    /// `creation_time > 0`, `tags.k IS NULL`), ordered, paged by offset.
    pub fn search_experiments(
        &self,
        view: ViewType,
        filter: Option<&str>,
        order_by: &[String],
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<Experiment>, Option<usize>)> {
        let filter = crate::filter::parse(filter.unwrap_or(""))?;
        let compiled = crate::filter::compile(&filter, self.conn.dialect(), |i| {
            search::experiment_field(i).map(Some)
        })?;
        let orders = crate::filter::compile_order(
            &crate::filter::parse_orders(order_by)?,
            search::experiment_order_field,
        )?;
        let mut args = compiled.args;
        // MLflow's order: newest first by default; ties broken by id, descending after an
        // explicit order.
        let mut order: Vec<String> = orders.iter().map(|o| o.plain(&mut args)).collect();
        if order.is_empty() {
            order.push("e.creation_time DESC".into());
            order.push("e.experiment_id ASC".into());
        } else if !orders.iter().any(|o| o.sql == "e.experiment_id") {
            order.push("e.experiment_id DESC".into());
        }
        let sql = format!(
            "SELECT e.experiment_id FROM experiments e WHERE {} AND {} ORDER BY {} LIMIT {} OFFSET {}",
            view.sql("e.lifecycle_stage"),
            compiled.sql,
            order.join(", "),
            max_results + 1,
            offset
        );
        let (ids, next): (Vec<i64>, _) =
            self.query_page(&sql, &args, max_results, offset, |r| r.get(0))?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(e) = self.experiment_row("experiment_id = ?1", &id)? {
                out.push(e);
            }
        }
        Ok((out, next))
    }

    pub fn update_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        let n = parse_id(id, crate::Entity::Experiment)?;
        let res = self.conn.execute(
            "UPDATE experiments SET name = ?2, last_update_time = ?3 WHERE experiment_id = ?1",
            params![n, new_name, now_ms()],
        );
        match res {
            Ok(0) => Err(not_found(crate::Entity::Experiment, id)),
            Ok(_) => Ok(()),
            Err(e) if e.is_constraint_violation() => Err(StoreError::AlreadyExists {
                what: crate::Entity::Experiment,
                name: new_name.to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Marks an experiment (and its runs) deleted or active again.
    pub fn set_experiment_lifecycle(&mut self, id: &str, stage: &str) -> Result<()> {
        let n = parse_id(id, crate::Entity::Experiment)?;
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE experiments SET lifecycle_stage = ?2, last_update_time = ?3 WHERE experiment_id = ?1",
            params![n, stage, now_ms()],
        )?;
        if changed == 0 {
            return Err(not_found(crate::Entity::Experiment, id));
        }
        tx.execute(
            "UPDATE runs SET lifecycle_stage = ?2, deleted_time = CASE WHEN ?2 = 'deleted' THEN CAST(?3 AS BIGINT) ELSE NULL END WHERE experiment_id = ?1",
            params![n, stage, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_experiment_tag(&self, id: &str, key: &str, value: &str) -> Result<()> {
        let n = parse_id(id, crate::Entity::Experiment)?;
        self.get_experiment(id)?;
        self.conn.execute(
            "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
            params![n, key, value],
        )?;
        Ok(())
    }

    pub fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        let n = parse_id(id, crate::Entity::Experiment)?;
        self.get_experiment(id)?;
        let deleted = self.conn.execute(
            "DELETE FROM experiment_tags WHERE experiment_id = ?1 AND key = ?2",
            params![n, key],
        )?;
        if deleted == 0 {
            return Err(not_found(
                crate::Entity::ExperimentTag,
                format!("{key} in experiment with id {id}"),
            ));
        }
        Ok(())
    }

    // ---- runs -------------------------------------------------------------------------------

    pub fn create_run(
        &mut self,
        experiment_id: &str,
        user_id: &str,
        run_name: Option<&str>,
        start_time: Option<i64>,
        tags: &[KeyValue],
    ) -> Result<Run> {
        let exp_id = parse_id(experiment_id, crate::Entity::Experiment)?;
        // Known: the insert below checks it is still active (one round trip); else read first.
        let known = self.experiment_locations.get(&exp_id).cloned();
        let artifact_location = match known.clone() {
            Some(location) => location,
            None => self.active_experiment_location(exp_id, experiment_id)?,
        };
        let created = self.insert_run(
            exp_id,
            &artifact_location,
            user_id,
            run_name,
            start_time,
            tags,
        );
        match created {
            Ok(run) => {
                self.experiment_locations.insert(exp_id, artifact_location);
                Ok(run)
            }
            Err(e) => {
                // Nothing was written: perhaps the experiment was deleted since (the run's
                // tags then had no run to belong to). Say why, as a first create would.
                if known.is_some() {
                    self.experiment_locations.remove(&exp_id);
                    self.active_experiment_location(exp_id, experiment_id)?;
                }
                Err(e)
            }
        }
    }

    /// The artifact location of experiment `exp_id` (`experiment_id` as given), if it exists
    /// and is active.
    fn active_experiment_location(&mut self, exp_id: i64, experiment_id: &str) -> Result<String> {
        let (artifact_location, stage): (String, String) = self
            .conn
            .query_row(
                "SELECT artifact_location, lifecycle_stage FROM experiments WHERE experiment_id = ?1",
                [exp_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| not_found(crate::Entity::Experiment, experiment_id))?;
        if stage != "active" {
            return Err(StoreError::Invalid(format!(
                "the experiment {experiment_id} must be in the 'active' state; it is '{stage}'"
            )));
        }
        Ok(artifact_location)
    }

    /// Writes a new run of experiment `exp_id`, if it is still active with `artifact_location`
    /// (else the run's tags, which always include `mlflow.runName`, have no run and the
    /// transaction fails: nothing is written).
    fn insert_run(
        &mut self,
        exp_id: i64,
        artifact_location: &str,
        user_id: &str,
        run_name: Option<&str>,
        start_time: Option<i64>,
        tags: &[KeyValue],
    ) -> Result<Run> {
        let run_name_tag = tags
            .iter()
            .find(|t| t.key == "mlflow.runName")
            .map(|t| t.value.clone());
        let name = match (run_name.filter(|n| !n.is_empty()), &run_name_tag) {
            (Some(n), Some(t)) if n != t => {
                return Err(StoreError::Invalid(format!(
                    "both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='{n}', mlflow.runName='{t}')"
                )));
            }
            (Some(n), _) => n.to_owned(),
            (None, Some(t)) => t.clone(),
            (None, None) => new_run_name(),
        };
        let mut all_tags = tags.to_vec();
        if run_name_tag.is_none() {
            all_tags.push(KeyValue {
                key: "mlflow.runName".into(),
                value: name.clone(),
            });
        }
        for (i, t) in all_tags.iter().enumerate() {
            check_name(Entity::Tag, Place::Batch(i), &t.key, MAX_KEY)?;
            check_tag_value(t, Place::Batch(i))?;
        }
        // Tags by key, the last value of a key winning (as `get_run` reads them back).
        let tags: std::collections::BTreeMap<String, String> =
            all_tags.into_iter().map(|t| (t.key, t.value)).collect();
        let id = new_id();
        let artifact_uri = format!("{artifact_location}/{id}/artifacts");
        let start = start_time.unwrap_or_else(now_ms);
        let run = [
            Value::Text(id.clone()),
            Value::Integer(exp_id),
            Value::Text(name.clone()),
            Value::Text(user_id.to_owned()),
            Value::Integer(start),
            Value::Text(artifact_uri.clone()),
            Value::Text(artifact_location.to_owned()),
        ];
        let tag_rows: Vec<Value> = tags
            .iter()
            .flat_map(|(k, v)| {
                [
                    Value::Text(id.clone()),
                    Value::Text(k.clone()),
                    Value::Text(v.clone()),
                ]
            })
            .collect();
        // The run and its tags: on PostgreSQL one round trip with the transaction's `BEGIN`
        // and `COMMIT`. Its number comes from a sequence there (migration 0028), under the
        // write lock taken shared, so that runs are created side by side (an experiment's
        // deletion, which takes the lock exclusively, still waits for them and they for it);
        // SQLite has one writer at a time, which numbers it after the newest.
        let pg = self.conn.dialect() == crate::db::Dialect::Postgres;
        let next = if pg {
            "nextval('runs_seq_numbers')"
        } else {
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)"
        };
        let mut statements = vec![(
            format!("INSERT INTO runs (run_uuid, experiment_id, run_name, user_id, status, start_time, artifact_uri, seq)
             SELECT ?1, ?2, ?3, ?4, 'RUNNING', ?5, ?6, {next}
             FROM experiments WHERE experiment_id = ?2 AND lifecycle_stage = 'active' AND artifact_location = ?7"),
            &run[..],
        )];
        // (The tags name the run by its number, NULL when no run was inserted: then they fail,
        // see `create_run`. `(VALUES ...)` names its columns `column1`... on both engines.)
        statements.extend(row_statements(
            "INSERT INTO tags (run_seq, key, value) SELECT (SELECT seq FROM runs WHERE run_uuid = v.column1), v.column2, v.column3 FROM (",
            3,
            ") v",
            &tag_rows,
        ));
        let tx = if pg {
            self.conn.shared_transaction()?
        } else {
            self.conn.transaction()?
        };
        tx.execute_all_and_commit(&as_refs(&statements))?;
        Ok(Run {
            info: RunInfo {
                run_uuid: id.clone(),
                experiment_id: exp_id.to_string(),
                run_name: name,
                user_id: user_id.to_owned(),
                status: "RUNNING".into(),
                start_time: Some(start),
                end_time: None,
                artifact_uri,
                lifecycle_stage: "active".into(),
                run_id: id,
                seq: None,
            },
            metrics: Vec::new(),
            params: Vec::new(),
            tags: tags
                .into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect(),
            dataset_inputs: Vec::new(),
            model_inputs: Vec::new(),
            model_outputs: Vec::new(),
        })
    }

    fn run_info(&self, id: &str) -> Result<RunInfo> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT run_uuid, experiment_id, run_name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, seq FROM runs WHERE run_uuid = ?1",
        )?;
        stmt.query_row([id], run_info_from_row)
            .optional()?
            .ok_or_else(|| not_found(crate::Entity::Run, id))
    }

    pub fn get_run(&self, id: &str) -> Result<Run> {
        let info = self.run_info(id)?;
        self.complete_run(info)
    }

    /// Runs by id, each as [`Self::get_run`] reads it, in the order asked: a few queries
    /// whatever their number. An id of no run is left out.
    pub fn get_runs(&self, ids: &[&str]) -> Result<Vec<Run>> {
        let mut infos = self.rows_by_run(
            "SELECT run_uuid, experiment_id, run_name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, seq FROM runs WHERE run_uuid IN ({})",
            ids,
            run_info_from_row,
        )?;
        let infos: Vec<RunInfo> = ids
            .iter()
            .filter_map(|id| infos.remove(*id).and_then(|mut found| found.pop()))
            .collect();
        self.complete_runs(infos)
    }

    fn complete_run(&self, info: RunInfo) -> Result<Run> {
        Ok(self.complete_runs(vec![info])?.remove(0))
    }

    /// Runs with their latest metrics, params, tags, inputs and outputs: five queries for all
    /// of them (each a round trip on PostgreSQL), not five per run, each reading its table's
    /// rows by the runs' numbers (integer keys: no join back to `runs`).
    fn complete_runs(&self, mut infos: Vec<RunInfo>) -> Result<Vec<Run>> {
        // A safety net: every caller reads its runs with their numbers (`run_info_from_row`),
        // but a run without one (one just made) is looked up (a sixth query), never shown
        // without its rows.
        if infos.iter().any(|i| i.seq.is_none()) {
            let ids: Vec<&str> = infos.iter().map(|i| i.run_uuid.as_str()).collect();
            let mut seqs = self.rows_by_run(
                "SELECT run_uuid, seq FROM runs WHERE run_uuid IN ({})",
                &ids,
                |r| r.get::<_, i64>(1),
            )?;
            for info in &mut infos {
                if info.seq.is_none() {
                    info.seq = seqs.remove(&info.run_uuid).and_then(|mut s| s.pop());
                }
            }
        }
        let seqs: Vec<i64> = infos.iter().filter_map(|i| i.seq).collect();
        let mut metrics = self.rows_by_seq(
            "SELECT h.run_seq, h.key, l.value, l.timestamp, l.step, l.is_nan
             FROM metric_histories h JOIN metric_latest l ON l.history_id = h.history_id
             WHERE h.run_seq IN ({}) ORDER BY h.run_seq, h.key",
            &seqs,
            |r| {
                let is_nan: bool = r.get(5)?;
                Ok(Metric {
                    key: r.get(1)?,
                    value: if is_nan { f64::NAN } else { r.get(2)? },
                    timestamp: r.get(3)?,
                    step: r.get(4)?,
                })
            },
        )?;
        let kv = |r: &crate::db::Row<'_>| {
            Ok(KeyValue {
                key: r.get(1)?,
                value: r.get(2)?,
            })
        };
        let mut params = self.rows_by_seq(
            "SELECT run_seq, key, value FROM params WHERE run_seq IN ({}) ORDER BY run_seq, key",
            &seqs,
            kv,
        )?;
        let mut tags = self.rows_by_seq(
            "SELECT run_seq, key, value FROM tags WHERE run_seq IN ({}) ORDER BY run_seq, key",
            &seqs,
            kv,
        )?;
        let mut inputs = self.rows_by_seq(
            "SELECT run_seq, kind, body FROM run_inputs WHERE run_seq IN ({}) ORDER BY run_seq, seq",
            &seqs,
            |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
        )?;
        let mut outputs = self.rows_by_seq(
            "SELECT run_seq, model_id, step FROM run_outputs WHERE run_seq IN ({}) ORDER BY run_seq, model_id",
            &seqs,
            |r| Ok((r.get(1)?, r.get(2)?)),
        )?;
        Ok(infos
            .into_iter()
            .map(|info| {
                // (A run without a number is one no longer in `runs`: it has no rows.)
                let seq = info.seq.unwrap_or(-1);
                let mut dataset_inputs = Vec::new();
                let mut model_inputs = Vec::new();
                for (kind, body) in inputs.remove(&seq).unwrap_or_default() {
                    let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    if kind == "model" {
                        model_inputs.push(value);
                    } else {
                        dataset_inputs.push(value);
                    }
                }
                Run {
                    metrics: metrics.remove(&seq).unwrap_or_default(),
                    params: params.remove(&seq).unwrap_or_default(),
                    tags: tags.remove(&seq).unwrap_or_default(),
                    dataset_inputs,
                    model_inputs,
                    model_outputs: outputs.remove(&seq).unwrap_or_default(),
                    info,
                }
            })
            .collect())
    }

    /// `sql` (`... WHERE run_uuid IN ({}) ...`, the run id its first column) for the runs
    /// `ids`: see [`Store::rows_by`].
    fn rows_by_run<T>(
        &self,
        sql: &str,
        ids: &[&str],
        map: impl Fn(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<std::collections::HashMap<String, Vec<T>>> {
        self.rows_by(sql, ids, map)
    }

    /// `sql` (`... WHERE run_seq IN ({}) ...`, the run's number its first column) for the runs
    /// numbered `seqs`: see [`Store::rows_by`].
    fn rows_by_seq<T>(
        &self,
        sql: &str,
        seqs: &[i64],
        map: impl Fn(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<std::collections::HashMap<i64, Vec<T>>> {
        self.rows_by(sql, seqs, map)
    }

    /// `sql` (`... WHERE <key> IN ({}) ...`, the key its first column) for the keys `keys`, in
    /// chunks, each row mapped and grouped by key. A chunk's list is padded (repeating a key)
    /// to a power of two, so a few statement texts serve every page size.
    fn rows_by<K: crate::db::ToSql, O: crate::db::FromSql + Eq + std::hash::Hash, T>(
        &self,
        sql: &str,
        keys: &[K],
        map: impl Fn(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<std::collections::HashMap<O, Vec<T>>> {
        let mut out: std::collections::HashMap<O, Vec<T>> = std::collections::HashMap::new();
        for chunk in keys.chunks(512) {
            let n = chunk.len().next_power_of_two();
            let padded = chunk
                .iter()
                .chain(std::iter::repeat_n(&chunk[0], n - chunk.len()));
            let query = sql.replace("{}", &vec!["?"; n].join(", "));
            let mut stmt = self.conn.prepare_cached(&query)?;
            for row in stmt.query_map(params_from_iter(padded), |r| {
                Ok((r.get::<_, O>(0)?, map(r)?))
            })? {
                let (key, item) = row?;
                out.entry(key).or_default().push(item);
            }
        }
        Ok(out)
    }

    pub fn update_run(
        &self,
        id: &str,
        status: Option<&str>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo> {
        self.run_info(id)?;
        if let Some(s) = status
            && !matches!(
                s,
                "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED"
            )
        {
            return Err(StoreError::Invalid(format!("invalid run status `{s}`")));
        }
        self.conn.execute(
            "UPDATE runs SET status = COALESCE(?2, status), end_time = COALESCE(?3, end_time), run_name = COALESCE(?4, run_name) WHERE run_uuid = ?1",
            params![id, status, end_time, run_name],
        )?;
        if let Some(name) = run_name {
            self.conn.execute(
                "INSERT INTO tags (run_seq, key, value) VALUES ((SELECT seq FROM runs WHERE run_uuid = ?1), 'mlflow.runName', ?2) ON CONFLICT (run_seq, key) DO UPDATE SET value = excluded.value",
                params![id, name],
            )?;
        }
        self.run_info(id)
    }

    pub fn set_run_lifecycle(&self, id: &str, stage: &str) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE runs SET lifecycle_stage = ?2, deleted_time = CASE WHEN ?2 = 'deleted' THEN CAST(?3 AS BIGINT) ELSE NULL END WHERE run_uuid = ?1",
            params![id, stage, now_ms()],
        )?;
        if n == 0 {
            return Err(not_found(crate::Entity::Run, id));
        }
        Ok(())
    }

    /// Logs metrics, params and tags atomically, with MLflow's rules: an identical metric is a
    /// no-op, a param may be re-logged only with the same value, the run must be active.
    pub fn log_batch(
        &mut self,
        run_id: &str,
        metrics: &[Metric],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        self.log_batch_for_model(run_id, metrics, params, tags, None)
    }

    /// `log_batch` with every metric also logged for the logged model `model_id` (MLflow 3).
    pub fn log_batch_for_model(
        &mut self,
        run_id: &str,
        metrics: &[Metric],
        params: &[KeyValue],
        tags: &[KeyValue],
        model_id: Option<&str>,
    ) -> Result<()> {
        let model_ids = vec![model_id; metrics.len()];
        self.log_batch_for_models(run_id, metrics, &model_ids, params, tags)
    }

    /// `log_batch` where `model_ids[i]` is the logged model `metrics[i]` is also logged for (MLflow
    /// 3 sends a `model_id` per metric). Those points go to the model's metrics even when the
    /// run already has them.
    pub fn log_batch_for_models(
        &mut self,
        run_id: &str,
        metrics: &[Metric],
        model_ids: &[Option<&str>],
        params: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<()> {
        self.log_entities(run_id, metrics, model_ids, params, tags, true)
    }

    /// Several `log-batch` requests in one transaction (group commit: a server writing many
    /// clients' batches at once pays for one commit, and pages the batches share are written
    /// once). Each batch is all or nothing on its own (a savepoint): its result is its own, as
    /// if logged alone. The outer error is for the whole group (the commit failed).
    ///
    /// On PostgreSQL, groups written by different connections run side by side (the store's
    /// write lock taken shared, see [`crate::db::Conn::begin_shared`]); their callers give each
    /// run's batches to one of them (a server's lanes), and each group writes its runs in id
    /// order, each batch's params and tags by key, and the latest values in history id order,
    /// so that two groups touching the same rows (two server processes) mostly wait for each
    /// other. Two batches of one run in one group, with the same keys in opposite orders
    /// against another server's, can still deadlock: PostgreSQL then fails one side's batch.
    pub fn log_batches(&mut self, batches: &[LogBatch]) -> Result<Vec<Result<()>>> {
        fn pairs(b: &LogBatch) -> impl Iterator<Item = (&str, &str)> {
            b.metrics
                .iter()
                .map(move |m| (b.run_id.as_str(), m.key.as_str()))
        }
        // The metric histories first: all remembered, or made (a transaction of their own, see
        // `histories`) for the batches that can pass these checks: valid names and values, an
        // active run. A batch refused by them makes none (one refused later, a param changed,
        // leaves empty histories: no point, no latest value).
        let ids = match self.remembered_histories(batches.iter().flat_map(pairs)) {
            Some(ids) => ids,
            None => {
                let runs: Vec<&str> = batches
                    .iter()
                    .filter(|b| !b.metrics.is_empty())
                    .map(|b| b.run_id.as_str())
                    .collect();
                let infos = self.run_infos(&runs)?;
                let passing = batches.iter().filter(|b| {
                    !b.metrics.is_empty()
                        && check_entities(&b.metrics, &b.params, &b.tags, !b.single).is_ok()
                        && infos
                            .get(b.run_id.as_str())
                            .is_some_and(|info| check_active(info).is_ok())
                });
                self.histories(passing.flat_map(pairs))?
            }
        };
        let outer = self.conn.begin_shared()?;
        match self.log_batches_in(batches, &ids) {
            Ok(results) => {
                self.conn.finish(outer, true)?;
                Ok(results)
            }
            Err(e) => {
                self.conn.finish(outer, false)?;
                Err(e)
            }
        }
    }

    /// [`Store::log_batches`] inside its transaction. Every batch is checked on its own; the
    /// params and tags of a batch that has some are written in a savepoint of its own (a
    /// refused param writes nothing of its batch); then the points of every batch that passed
    /// are written together in a few statements.
    fn log_batches_in(
        &mut self,
        batches: &[LogBatch],
        ids: &Histories<'_>,
    ) -> Result<Vec<Result<()>>> {
        let runs: Vec<&str> = batches.iter().map(|b| b.run_id.as_str()).collect();
        let infos = self.run_infos(&runs)?;
        // Runs in id order (a run's batches in arrival order): see `log_batches`.
        let mut order: Vec<usize> = (0..batches.len()).collect();
        order.sort_by_key(|&i| batches[i].run_id.as_str());
        let mut results: Vec<Option<Result<()>>> = batches.iter().map(|_| None).collect();
        let mut points: Vec<NewPoint<'_>> = Vec::new();
        for i in order {
            let b = &batches[i];
            // Its run active, and a history for each of its metrics (none is missing unless the
            // run was made, or restored, between `log_batches`' look and this transaction:
            // refused like a missing run; the client's retry finds it).
            let ready = || -> Result<()> {
                let info = infos
                    .get(b.run_id.as_str())
                    .ok_or_else(|| not_found(crate::Entity::Run, &b.run_id))?;
                check_active(info)?;
                if b.metrics
                    .iter()
                    .all(|m| ids.contains_key(&(b.run_id.as_str(), m.key.as_str())))
                {
                    Ok(())
                } else {
                    Err(not_found(crate::Entity::Run, &b.run_id))
                }
            };
            let checked = if b.params.is_empty() && b.tags.is_empty() {
                check_entities(&b.metrics, &[], &[], !b.single).and_then(|()| ready())
            } else {
                // Params and tags now, in a savepoint of their own (a refused param writes
                // nothing of its batch); the batch's points with everyone's, below.
                check_entities(&b.metrics, &b.params, &b.tags, !b.single)
                    .and_then(|()| ready())
                    .and_then(|()| {
                        self.log_entities(&b.run_id, &[], &[], &b.params, &b.tags, !b.single)
                    })
            };
            if checked.is_ok() {
                points.extend(b.metrics.iter().enumerate().map(|(i, metric)| NewPoint {
                    run_id: &b.run_id,
                    metric,
                    model_id: b.model_ids.get(i).and_then(Option::as_deref),
                }));
            }
            results[i] = Some(checked);
        }
        // In the group's transaction (no savepoint: a statement failing here fails the group).
        // Every point in one call, so that the latest values' row locks are taken in one order
        // (after the params' and tags', each in run order).
        insert_points(&self.conn, &points, ids)?;
        Ok(results.into_iter().flatten().collect())
    }

    /// The runs among `ids` that exist, by id (one query).
    fn run_infos(&self, ids: &[&str]) -> Result<std::collections::HashMap<String, RunInfo>> {
        let found = self.rows_by_run(
            "SELECT run_uuid, experiment_id, run_name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, seq FROM runs WHERE run_uuid IN ({})",
            ids,
            run_info_from_row,
        )?;
        Ok(found
            .into_iter()
            .filter_map(|(id, mut infos)| infos.pop().map(|info| (id, info)))
            .collect())
    }

    fn log_entities(
        &mut self,
        run_id: &str,
        metrics: &[Metric],
        model_ids: &[Option<&str>],
        params: &[KeyValue],
        tags: &[KeyValue],
        batch: bool,
    ) -> Result<()> {
        check_entities(metrics, params, tags, batch)?;
        let info = self.run_info(run_id)?;
        check_active(&info)?;
        let ids = self.histories(metrics.iter().map(|m| (run_id, m.key.as_str())))?;
        let tx = self.conn.transaction()?;
        let seq = info
            .seq
            .ok_or_else(|| not_found(crate::Entity::Run, run_id))?;
        insert_params(&tx, run_id, seq, params, batch)?;
        upsert_tags(&tx, seq, tags)?;
        insert_metrics(&tx, run_id, metrics, model_ids, &ids)?;
        tx.commit()?;
        Ok(())
    }

    pub fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let info = self.run_info(run_id)?;
        check_active(&info)?;
        let n = self.conn.execute(
            "DELETE FROM tags WHERE run_seq = (SELECT seq FROM runs WHERE run_uuid = ?1) AND key = ?2",
            params![run_id, key],
        )?;
        if n == 0 {
            return Err(not_found(
                crate::Entity::RunTag,
                format!("{key} in run with id {run_id}"),
            ));
        }
        Ok(())
    }

    /// Every value of one metric, by step then timestamp, paged by offset.
    pub fn metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<Metric>, Option<usize>)> {
        let (points, next) = self.metric_history_points(run_id, key, max_results, offset)?;
        let metrics = points
            .into_iter()
            .map(|p| Metric {
                key: key.to_owned(),
                value: p.value,
                timestamp: p.timestamp,
                step: p.step,
            })
            .collect();
        Ok((metrics, next))
    }

    /// [`Self::metric_history`] without the key repeated in every point: a page can hold
    /// 25,000 of them.
    pub fn metric_history_points(
        &self,
        run_id: &str,
        key: &str,
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<HistoryPoint>, Option<usize>)> {
        self.run_info(run_id)?;
        // Points live in up to three places: `metric_points_recent` (SQLite's since the last
        // fold, PostgreSQL's written by builds before 0024), then chunks (SQLite's folds) and
        // `metrics` (SQLite's folded before chunks) on SQLite, `metric_points` on PostgreSQL.
        // All of them are read, sorted (each part is mostly in order already) and kept once
        // each: a point logged twice is one point.
        let point = |r: &crate::db::Row<'_>| -> crate::db::Result<Point> {
            Ok(Point {
                step: r.get(0)?,
                timestamp: r.get(1)?,
                value: r.get(2)?,
                is_nan: r.get(3)?,
                model_id: None,
            })
        };
        let wanted = offset.saturating_add(max_results).saturating_add(1);
        let limit = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        // Newest place first: a fold that commits between two of these reads moves points to a
        // place read later (read twice, kept once), never to one already read.
        let mut rows: Vec<Point> = Vec::new();
        if let Some(h) = self.history(run_id, key)? {
            rows = self
                .conn
                .prepare_cached(
                    "SELECT step, timestamp, value, is_nan FROM metric_points_recent WHERE run_seq = ?1 AND history_id = ?2",
                )?
                .query_map(params![h.run_seq, h.id], point)?
                .collect::<Result<_, _>>()?;
            match self.conn.dialect() {
                crate::db::Dialect::Sqlite => chunks::read(&self.conn, h.id, run_id, key, &mut rows)?,
                crate::db::Dialect::Postgres => {
                    for p in self
                        .conn
                        .prepare_cached(
                            "SELECT step, timestamp, value, is_nan FROM metric_points WHERE history_id = ?1
                             ORDER BY step, timestamp, value, is_nan LIMIT ?2",
                        )?
                        .query_map(params![h.id, limit(wanted)], point)?
                    {
                        rows.push(p?);
                    }
                }
            }
        }
        if self.conn.dialect() == crate::db::Dialect::Sqlite {
            for p in self
                .conn
                .prepare_cached(
                    "SELECT step, timestamp, value, is_nan FROM metrics WHERE run_uuid = ?1 AND key = ?2
                     ORDER BY step, timestamp, value, is_nan LIMIT ?3",
                )?
                .query_map(params![run_id, key, limit(wanted)], point)?
            {
                rows.push(p?);
            }
        }
        chunks::sort_dedup(&mut rows);
        rows.truncate(wanted);
        let rows: Vec<HistoryPoint> = rows
            .into_iter()
            .skip(offset)
            .map(|p| HistoryPoint {
                value: if p.is_nan { f64::NAN } else { p.value },
                timestamp: p.timestamp,
                step: p.step,
            })
            .collect();
        Ok(crate::page(rows, max_results, offset))
    }

    /// The datasets logged to the runs of some experiments, once each per (experiment, name,
    /// digest, context), at most 1,000, as MLflow's `SearchDatasets` lists them.
    pub fn search_dataset_summaries(
        &self,
        experiment_ids: &[String],
    ) -> Result<Vec<DatasetSummary>> {
        let ids: Vec<i64> = experiment_ids
            .iter()
            .filter_map(|e| e.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT r.experiment_id, i.body FROM run_inputs i JOIN runs r ON r.seq = i.run_seq
             WHERE i.kind = 'dataset' AND r.experiment_id IN ({})
             ORDER BY r.experiment_id, i.seq",
            vec!["?"; ids.len()].join(", ")
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut out: Vec<DatasetSummary> = Vec::new();
        for row in stmt.query_map(params_from_iter(&ids), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })? {
            let (exp, body) = row?;
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
            let context = v["tags"]
                .as_array()
                .and_then(|tags| tags.iter().find(|t| t["key"] == "mlflow.data.context"))
                .map(|t| text(&t["value"]));
            let summary = DatasetSummary {
                experiment_id: exp.to_string(),
                name: text(&v["dataset"]["name"]),
                digest: text(&v["dataset"]["digest"]),
                context,
            };
            if !out.contains(&summary) {
                out.push(summary);
                if out.len() == 1000 {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn log_inputs(
        &mut self,
        run_id: &str,
        datasets: &[serde_json::Value],
        models: &[serde_json::Value],
    ) -> Result<()> {
        self.run_info(run_id)?;
        let tx = self.conn.transaction()?;
        for (kind, items) in [("dataset", datasets), ("model", models)] {
            for item in items {
                let body = serde_json::to_string(item)?;
                let exists: bool = tx
                    .query_row(
                        "SELECT 1 FROM run_inputs WHERE run_seq = (SELECT seq FROM runs WHERE run_uuid = ?1) AND kind = ?2 AND body = ?3",
                        params![run_id, kind, body],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if !exists {
                    tx.execute(
                        "INSERT INTO run_inputs (run_seq, kind, body) VALUES ((SELECT seq FROM runs WHERE run_uuid = ?1), ?2, ?3)",
                        params![run_id, kind, body],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn log_outputs(&mut self, run_id: &str, models: &[(String, i64)]) -> Result<()> {
        self.run_info(run_id)?;
        let tx = self.conn.transaction()?;
        for (model_id, step) in models {
            tx.execute(
                "INSERT INTO run_outputs (run_seq, model_id, step) VALUES ((SELECT seq FROM runs WHERE run_uuid = ?1), ?2, ?3) ON CONFLICT (run_seq, model_id) DO UPDATE SET step = excluded.step",
                params![run_id, model_id, step],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The runs a Sluice job created: `(run id, step)`; the step is `None` for the job's own run.
    pub fn job_runs(&self, job: &str) -> Result<Vec<(String, Option<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.run_uuid, s.value FROM tags t
             JOIN runs r ON r.seq = t.run_seq
             LEFT JOIN tags s ON s.run_seq = t.run_seq AND s.key = 'sluice.step'
             WHERE t.key = 'sluice.job' AND t.value = ?1",
        )?;
        let rows = stmt.query_map([job], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs of the given experiments matching `filter`, sorted by `order_by` (then start time,
    /// newest first), paged by offset.
    pub fn search_runs(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        view: ViewType,
        order_by: &[String],
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<Run>, Option<usize>)> {
        let ids: Vec<i64> = experiment_ids
            .iter()
            .filter_map(|e| e.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok((Vec::new(), None));
        }
        let filter = crate::filter::parse(filter.unwrap_or(""))?;
        let orders = crate::filter::parse_orders(order_by)?;
        let dialect = self.conn.dialect();
        let field = |i: &crate::filter::Ident| search::run_field(i, dialect).map(Some);
        let order_field = |i: &crate::filter::Ident| search::run_order_field(i, dialect);
        // What the filter guarantees decides how the order joins; the filter then tests the
        // rows the order joined in place (compiled again, knowing them).
        let present = crate::filter::compile(&filter, dialect, field)?.present;
        let mut page = RunsPage {
            ids: &ids,
            view,
            want: offset.saturating_add(max_results).saturating_add(1),
            walk: false,
        };
        // Sorted first by a value some runs lack (or hold as NaN), and not narrowed to runs
        // that have it: MLflow's order is the runs with a number by it, then those with NaN,
        // then those without. Asked as one query, every run is ranked and sorted; asked part by
        // part, the first is read in the value's index order and usually fills the page.
        let first = orders.first().map(|o| order_field(&o.ident)).transpose()?;
        let split = first.as_ref().and_then(|f| match &f.target {
            crate::filter::Target::Rows { rows, args, .. }
                if !present.iter().any(|(r, a)| r == rows && a == args) =>
            {
                Some((rows.clone(), args.clone(), f.nan.clone()))
            }
            _ => None,
        });
        let mut infos = Vec::new();
        match split {
            None => {
                let order = crate::filter::compile_order_joined(&orders, &present, order_field)?;
                let compiled =
                    crate::filter::compile_joined(&filter, dialect, &order.inner, field)?;
                infos = self.runs_part(&page, &order, &compiled, None, page.want)?;
            }
            Some((rows, args, nan)) => {
                page.walk =
                    dialect == crate::db::Dialect::Sqlite && self.runs_at_least(&ids, WALK_FROM)?;
                let mut with_value = present.clone();
                with_value.push((rows.clone(), args.clone()));
                let order = crate::filter::compile_order_joined(&orders, &with_value, order_field)?;
                let compiled =
                    crate::filter::compile_joined(&filter, dialect, &order.inner, field)?;
                let joined = &order.inner[0];
                let mut parts: Vec<(String, Vec<Value>)> = Vec::new();
                match &nan {
                    Some(nan) => {
                        parts.push((format!("NOT {}", joined.on_joined(nan)), Vec::new()));
                        parts.push((joined.on_joined(nan), Vec::new()));
                    }
                    None => parts.push(("TRUE".into(), Vec::new())),
                }
                for part in &parts {
                    let left = page.want - infos.len();
                    infos.extend(self.runs_part(&page, &order, &compiled, Some(part), left)?);
                    if infos.len() >= page.want {
                        break;
                    }
                }
                if infos.len() < page.want {
                    // The runs without the value, by the other keys.
                    let rest =
                        crate::filter::compile_order_joined(&orders[1..], &present, order_field)?;
                    let compiled =
                        crate::filter::compile_joined(&filter, dialect, &rest.inner, field)?;
                    let lacking = (format!("NOT EXISTS (SELECT 1 {rows})"), args);
                    let left = page.want - infos.len();
                    infos.extend(self.runs_part(&page, &rest, &compiled, Some(&lacking), left)?);
                }
            }
        }
        let infos: Vec<RunInfo> = infos.into_iter().skip(offset).collect();
        let (infos, next) = crate::page(infos, max_results, offset);
        let runs = self.complete_runs(infos)?;
        Ok((runs, next))
    }

    /// The first `limit` runs of a search in its order, where `extra` (a condition and what it
    /// binds) narrows the filter.
    fn runs_part(
        &self,
        page: &RunsPage<'_>,
        order: &crate::filter::JoinedOrder,
        compiled: &crate::filter::Where,
        extra: Option<&(String, Vec<Value>)>,
        limit: usize,
    ) -> Result<Vec<RunInfo>> {
        // Placeholders in text order: the joins', the experiments', the filter's, the extra
        // condition's, the sort's.
        let mut args = order.join_args.clone();
        args.extend(page.ids.iter().map(|i| Value::Integer(*i)));
        args.extend(compiled.args.iter().cloned());
        let mut conds = compiled.sql.clone();
        if let Some((sql, values)) = extra {
            conds = format!("{conds} AND {sql}");
            args.extend(values.iter().cloned());
        }
        args.extend(order.term_args.iter().cloned());
        // Ties (and runs without the value, which sort last either way, as in MLflow) newest
        // first.
        let mut order_sql = order.terms.clone();
        order_sql.push("r.start_time DESC".into());
        order_sql.push("r.seq DESC".into());
        // `+` keeps SQLite off the experiment index, so it reads the joined value's index in
        // order (see `WALK_FROM`).
        let experiment = if page.walk && !order.inner.is_empty() {
            "+r.experiment_id"
        } else {
            "r.experiment_id"
        };
        let sql = format!(
            "SELECT r.run_uuid, r.experiment_id, r.run_name, r.user_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage, r.seq
             FROM runs r{} WHERE {experiment} IN ({}) AND {} AND {conds} ORDER BY {} LIMIT {limit}",
            order.joins,
            vec!["?"; page.ids.len()].join(", "),
            page.view.sql("r.lifecycle_stage"),
            order_sql.join(", "),
        );
        Ok(self.conn.query_map_planned(
            &sql,
            crate::db::params_from_iter(args.iter()),
            run_info_from_row,
        )?)
    }
}

impl Store {
    /// Whether the experiments `ids` hold at least `n` runs (reading at most `n` index entries).
    fn runs_at_least(&self, ids: &[i64], n: usize) -> Result<bool> {
        let found: i64 = self.conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM runs WHERE experiment_id IN ({}) LIMIT {n})",
                vec!["?"; ids.len()].join(", ")
            ),
            params_from_iter(ids.iter()),
            |r| r.get(0),
        )?;
        Ok(usize::try_from(found).unwrap_or(0) >= n)
    }
}

/// What every part of one run search shares: the experiments, the view, and how many runs it
/// needs (those before the page, the page, and one to tell whether another page follows).
struct RunsPage<'a> {
    ids: &'a [i64],
    view: ViewType,
    want: usize,
    /// Read runs in the order of the joined value's index (see [`WALK_FROM`]).
    walk: bool,
}

/// From how many runs in the searched experiments a search sorted by a joined value reads the
/// value's `(key, value)` index in order (and stops at the page's end) on SQLite, rather than
/// joining every run to its value and sorting them all. SQLite has no statistics to choose by
/// (and `ANALYZE` did not change its choice): the SQLite this project bundles (3.54) took the
/// second way, 30 ms for a 51-run page of a 20,000-run experiment, against 0.23 ms the first
/// way. Below this many runs the sort is cheap, and an experiment small beside the key's other
/// runs is better read from its own index. (Tiny in unit tests, so they take both ways.)
const WALK_FROM: usize = if cfg!(test) { 2 } else { 5_000 };

/// MLflow's rules for what one request logs, before anything is read or written: key names
/// and lengths, value lengths, no param twice (messages name the entity's place in a batch).
fn check_entities(
    metrics: &[Metric],
    params: &[KeyValue],
    tags: &[KeyValue],
    batch: bool,
) -> Result<()> {
    let place = |i: usize| {
        if batch {
            Place::Batch(i)
        } else {
            Place::Single
        }
    };
    for (i, m) in metrics.iter().enumerate() {
        check_name(Entity::Metric, place(i), &m.key, MAX_KEY)?;
    }
    for (i, p) in params.iter().enumerate() {
        check_name(Entity::Param, place(i), &p.key, MAX_KEY)?;
        if p.value.chars().count() > MAX_PARAM_VALUE {
            return Err(StoreError::Invalid(format!(
                "'Param value' exceeds the maximum length of {MAX_PARAM_VALUE} characters"
            )));
        }
    }
    for (i, t) in tags.iter().enumerate() {
        check_name(Entity::Tag, place(i), &t.key, MAX_KEY)?;
        check_tag_value(t, place(i))?;
    }
    let mut dupes: Vec<&str> = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if params[..i].iter().any(|q| q.key == p.key) {
            dupes.push(&p.key);
        }
    }
    if !dupes.is_empty() {
        return Err(StoreError::Invalid(format!(
            "Duplicate parameter keys have been submitted: {}. Please ensure the request contains only one param value per param key.",
            names::py_list(&dupes)
        )));
    }
    Ok(())
}

/// MLflow's rule that a run changes only while active, in its words.
fn check_active(info: &RunInfo) -> Result<()> {
    if info.lifecycle_stage == "active" {
        return Ok(());
    }
    Err(StoreError::Invalid(format!(
        "The run {} must be in the 'active' state. Current state is {}.",
        info.run_uuid, info.lifecycle_stage
    )))
}

fn check_tag_value(t: &KeyValue, place: Place) -> Result<()> {
    if t.value.chars().count() > MAX_TAG_VALUE {
        let path = match place {
            Place::Single => "value".to_owned(),
            Place::Batch(i) => format!("tags[{i}].value"),
        };
        return Err(StoreError::Invalid(format!(
            "'{path}' exceeds the maximum length of {MAX_TAG_VALUE} characters"
        )));
    }
    Ok(())
}

/// Inserts params; one already logged may be logged again only with the same value (MLflow's
/// message for one param, or for a batch, names every change).
fn insert_params(
    tx: &Transaction<'_>,
    run_id: &str,
    run_seq: i64,
    params: &[KeyValue],
    batch: bool,
) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    // Written by key (writers that log the same params at once wait for each other in one
    // order), in multi-row statements; a param another writer is logging at the same moment:
    // its row is waited for, then not inserted, and the value it committed compared below.
    let mut sorted: Vec<(usize, &KeyValue)> = params.iter().enumerate().collect();
    sorted.sort_by(|a, b| a.1.key.cmp(&b.1.key));
    let mut inserted: std::collections::HashSet<String> = std::collections::HashSet::new();
    in_chunks(&sorted, |chunk| {
        let sql = format!(
            "INSERT INTO params (run_seq, key, value) VALUES {} ON CONFLICT (run_seq, key) DO NOTHING RETURNING key",
            run_pairs(chunk.len())
        );
        let values = run_pair_values(&run_seq, chunk.iter().map(|(_, p)| *p));
        inserted.extend(tx.query_map(&sql, values.as_slice(), |r| r.get::<_, String>(0))?);
        Ok(())
    })?;
    // A key inserted here was inserted by its first occurrence; every other occurrence, and
    // every key already logged, is compared with the stored value.
    let mut claimed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let compared: Vec<(usize, &KeyValue)> = sorted
        .iter()
        .filter(|(_, p)| !(inserted.contains(&p.key) && claimed.insert(p.key.as_str())))
        .copied()
        .collect();
    // Their stored values, read in statements of the same few shapes as the writes.
    let mut stored: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let keys: Vec<&String> = compared.iter().map(|(_, p)| &p.key).collect();
    in_chunks(&keys, |chunk| {
        let sql = format!(
            "SELECT key, value FROM params WHERE run_seq = ?1 AND key IN ({})",
            (0..chunk.len())
                .map(|i| format!("?{}", i + 2))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut values: Vec<&dyn crate::db::ToSql> = vec![&run_seq];
        values.extend(chunk.iter().map(|k| k as &dyn crate::db::ToSql));
        stored.extend(tx.query_map(&sql, values.as_slice(), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?);
        Ok(())
    })?;
    let mut changed: Vec<(usize, &KeyValue, String)> = Vec::new();
    for (at, p) in compared {
        let old = stored.get(&p.key).ok_or_else(|| {
            StoreError::Invalid(format!(
                "param `{}` of run {run_id} was neither logged nor found: log the batch again",
                p.key
            ))
        })?;
        if *old != p.value {
            changed.push((at, p, old.clone()));
        }
    }
    changed.sort_by_key(|c| c.0);
    let changed: Vec<(&KeyValue, String)> = changed.into_iter().map(|(_, p, v)| (p, v)).collect();
    match changed.as_slice() {
        [] => Ok(()),
        [(p, old)] if !batch => Err(StoreError::Invalid(format!(
            "Changing param values is not allowed. Param with key='{}' was already logged with value='{old}' for run ID='{run_id}'. Attempted logging new value '{}'.",
            p.key, p.value
        ))),
        all => {
            let shown: Vec<String> = all
                .iter()
                .map(|(p, old)| {
                    format!(
                        "{{'key': {}, 'old_value': {}, 'new_value': {}}}",
                        names::py_repr(&p.key),
                        names::py_repr(old),
                        names::py_repr(&p.value)
                    )
                })
                .collect();
            Err(StoreError::Invalid(format!(
                "Changing param values is not allowed. Params were already logged='[{}]' for run ID='{run_id}'.",
                shown.join(", ")
            )))
        }
    }
}

/// Sets a run's tags in multi-row upserts, by key (writers that set the same tags at once
/// take their row locks in one order); a key given twice is set to its later value, as sent.
fn upsert_tags(tx: &Transaction<'_>, run_seq: i64, tags: &[KeyValue]) -> Result<()> {
    let mut sorted: Vec<&KeyValue> = tags.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    // One row per key (a statement may not upsert a row twice): the last of equal keys.
    let mut last: Vec<&KeyValue> = Vec::with_capacity(sorted.len());
    for t in sorted {
        match last.last_mut() {
            Some(prev) if prev.key == t.key => *prev = t,
            _ => last.push(t),
        }
    }
    in_chunks(&last, |chunk| {
        let sql = format!(
            "INSERT INTO tags (run_seq, key, value) VALUES {} ON CONFLICT (run_seq, key) DO UPDATE SET value = excluded.value",
            run_pairs(chunk.len())
        );
        tx.execute(
            &sql,
            run_pair_values(&run_seq, chunk.iter().copied()).as_slice(),
        )?;
        Ok(())
    })
}

/// `f` of `items` cut into runs of [`CHUNKS`] sizes, largest first: statements built per run
/// take a few shapes whatever the number of items.
fn in_chunks<T>(items: &[T], mut f: impl FnMut(&[T]) -> Result<()>) -> Result<()> {
    let mut rest = items;
    while !rest.is_empty() {
        let n = CHUNKS.into_iter().find(|&c| c <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(n);
        f(chunk)?;
        rest = tail;
    }
    Ok(())
}

/// `n` rows of (run, key, value) for a multi-row `VALUES`: `?1` the run, then pairs.
fn run_pairs(n: usize) -> String {
    (0..n)
        .map(|i| format!("(?1, ?{}, ?{})", 2 * i + 2, 2 * i + 3))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The values of [`run_pairs`]: the run's number, then each key and value.
fn run_pair_values<'a>(
    run_seq: &'a i64,
    pairs: impl Iterator<Item = &'a KeyValue>,
) -> Vec<&'a dyn crate::db::ToSql> {
    let mut values: Vec<&dyn crate::db::ToSql> = vec![run_seq];
    for p in pairs {
        values.push(&p.key);
        values.push(&p.value);
    }
    values
}

/// Rows per multi-row `INSERT`: a batch is written in statements of these sizes, largest
/// first, so three cached statements serve every batch length.
const CHUNKS: [usize; 3] = [100, 10, 1];

/// Points appended to `metric_points_recent` between two folds into chunks (few in unit tests, so
/// they cross folds). A fold writes a chunk row per history whatever its number of points, so
/// fewer, larger folds cost less per point. Under the harness's log-batch load (8 runs of 100
/// metrics; with migration 0017), 16,384 gave ~1,170 batches/s with a p99 of ~68 ms, 65,536
/// ~1,440-1,550 with a p99 of ~53 ms (MLflow's own p99 there: 1.5 s). The table then holds
/// about 5 MB.
const FOLD_EVERY: i64 = if cfg!(test) { 64 } else { 65_536 };

/// Points of one history in one batch from which they are written as a chunk of their own
/// (see [`insert_points`]); fewer go into `metric_points_recent`. MLflow's client sends up to 1,000
/// metrics a batch; its queued (asynchronous) logging sends many steps of few keys.
const BULK_CHUNK: usize = if cfg!(test) { 8 } else { 64 };

/// `head VALUES (?, ...), (?, ...) tail` for `rows` rows of `cols` columns.
fn multi_row_sql(head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    format!("{head} VALUES {} {tail}", vec![row; rows].join(", "))
}

/// The multi-row statements, of the [`CHUNKS`] sizes, that insert `values` (`cols` per row),
/// each with its values; run them with [`crate::db::Conn::execute_all`].
fn row_statements<'v>(
    head: &str,
    cols: usize,
    tail: &str,
    values: &'v [Value],
) -> Vec<(String, &'v [Value])> {
    let mut out = Vec::new();
    let mut rest = values;
    for size in CHUNKS {
        let sql = multi_row_sql(head, cols, size, tail);
        while rest.len() >= size * cols {
            let (now, later) = rest.split_at(size * cols);
            out.push((sql.clone(), now));
            rest = later;
        }
    }
    out
}

/// Runs statements made by [`row_statements`] (one round trip on PostgreSQL).
fn execute_rows(tx: &Conn, statements: &[(String, &[Value])]) -> Result<()> {
    Ok(tx.execute_all(&as_refs(statements))?)
}

/// Statements made by [`row_statements`] as [`Conn::execute_all`] takes them.
fn as_refs<'a>(statements: &'a [(String, &'a [Value])]) -> Vec<(&'a str, &'a [Value])> {
    statements.iter().map(|(s, v)| (s.as_str(), *v)).collect()
}

/// One metric point to write: its run, and the logged model it is also logged for.
struct NewPoint<'a> {
    run_id: &'a str,
    metric: &'a Metric,
    model_id: Option<&'a str>,
}

/// Writes one run's batch of metric points (see [`insert_points`]).
fn insert_metrics(
    tx: &Conn,
    run_id: &str,
    metrics: &[Metric],
    model_ids: &[Option<&str>],
    ids: &Histories<'_>,
) -> Result<()> {
    let points: Vec<NewPoint<'_>> = metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| NewPoint {
            run_id,
            metric,
            model_id: model_ids.get(i).copied().flatten(),
        })
        .collect();
    insert_points(tx, &points, ids)
}

/// A chunk blob holding `points` (step, value; timestamp 10), for tests that write the tables of
/// older schemas.
#[cfg(test)]
pub(crate) fn chunks_encode_for_tests(points: &[(i64, f64)]) -> Vec<u8> {
    let points: Vec<Point> = points
        .iter()
        .map(|&(step, value)| Point {
            step,
            timestamp: 10,
            value,
            is_nan: false,
            model_id: None,
        })
        .collect();
    chunks::encode(&points)
}

/// Metric histories by (run, key), as [`Store::histories`] returns them.
type Histories<'a> = std::collections::HashMap<(&'a str, &'a str), histories::History>;

/// Writes metric points, of one run or several: appended to `metric_points_recent` (folded into
/// chunks when it holds [`FOLD_EVERY`] points, see [`chunks`]) on SQLite, straight into
/// `metric_points` on PostgreSQL; each run's latest value per key raised where a point is later (by step, then
/// timestamp, then value), and points of logged models to theirs. A few statements whatever the
/// number of points and runs.
///
/// Why the engines differ: SQLite keeps a table in its key order, so a batch written into a
/// per-history table dirties a page per metric history, and appending first then folding in
/// bulk (a packed chunk per history) wins. PostgreSQL
/// appends rows to a heap and adds index entries in shared buffers: measured on 8,000 points,
/// 2.9 µs a point straight into its table (then `metrics`), against 2.2 µs into `metrics_recent`
/// and 6.2 µs more to fold it later.
fn insert_points(tx: &Conn, points: &[NewPoint<'_>], ids: &Histories<'_>) -> Result<()> {
    if points.is_empty() {
        return Ok(());
    }
    let direct = tx.dialect() == crate::db::Dialect::Postgres;
    let stored = |m: &Metric| {
        if m.value.is_nan() {
            (0.0, true)
        } else {
            (m.value, false)
        }
    };
    let history = |p: &NewPoint<'_>| {
        ids.get(&(p.run_id, p.metric.key.as_str()))
            .copied()
            .ok_or_else(|| not_found(crate::Entity::Run, p.run_id))
    };
    let mut for_model = tx.prepare_cached(
        "INSERT INTO logged_model_metrics (model_id, run_id, key, value, timestamp, step, is_nan) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )?;
    // On SQLite, a batch's many points of one history (a client flushing its queue, a whole
    // history logged at once) go straight into a chunk of their own instead of a row each in
    // `metric_points_recent`: reading a 10,000-step history is then a few blobs, not 10,000 rows.
    let mut bulk: std::collections::BTreeMap<i64, Vec<Point>> = std::collections::BTreeMap::new();
    let mut in_bulk = 0;
    if !direct {
        let mut per_history: std::collections::HashMap<i64, usize> =
            std::collections::HashMap::new();
        for p in points {
            *per_history.entry(history(p)?.id).or_default() += 1;
        }
        for (history, n) in per_history {
            if n >= BULK_CHUNK {
                in_bulk += n;
                bulk.insert(history, Vec::with_capacity(n));
            }
        }
    }
    let len = i64::try_from(points.len() - in_bulk).unwrap_or(i64::MAX);
    let held: i64 = if direct {
        0
    } else {
        tx.query_row(
            "UPDATE metrics_recent_count SET n = n + ?1 WHERE id = 1 RETURNING n",
            [len],
            |r| r.get(0),
        )?
    };
    let mut seq = held - len;
    let mut rows = Vec::with_capacity(points.len() * 8);
    // The latest point per history: one upsert row each.
    let mut latest: Vec<(&NewPoint<'_>, i64, f64, bool)> = Vec::new();
    let mut latest_at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for p in points {
        let m = p.metric;
        let h = history(p)?;
        let (value, is_nan) = stored(m);
        if let Some(model_id) = p.model_id {
            for_model.execute(params![
                model_id,
                p.run_id,
                m.key,
                value,
                m.timestamp,
                m.step,
                is_nan
            ])?;
        }
        if let Some(chunk) = bulk.get_mut(&h.id) {
            chunk.push(Point {
                step: m.step,
                timestamp: m.timestamp,
                value,
                is_nan,
                model_id: p.model_id.map(str::to_owned),
            });
        } else {
            // The point's place: its history in `metric_points`, (run's seq, arrival, history)
            // in `metric_points_recent`; then what it holds.
            if direct {
                rows.push(Value::Integer(h.id));
            } else {
                seq += 1;
                rows.extend([
                    Value::Integer(h.run_seq),
                    Value::Integer(seq),
                    Value::Integer(h.id),
                ]);
            }
            rows.extend([
                Value::Real(value),
                Value::Integer(m.timestamp),
                Value::Integer(m.step),
                Value::Integer(i64::from(is_nan)),
                p.model_id
                    .map_or(Value::Null, |id| Value::Text(id.to_owned())),
            ]);
        }
        match latest_at.get(&h.id) {
            Some(&at) => {
                let l = &mut latest[at];
                if (m.step, m.timestamp, value) > (l.0.metric.step, l.0.metric.timestamp, l.2) {
                    *l = (p, h.id, value, is_nan);
                }
            }
            None => {
                latest_at.insert(h.id, latest.len());
                latest.push((p, h.id, value, is_nan));
            }
        }
    }
    let mut statements = if direct {
        row_statements(
            "INSERT INTO metric_points (history_id, value, timestamp, step, is_nan, model_id)",
            6,
            "ON CONFLICT DO NOTHING",
            &rows,
        )
    } else {
        row_statements(
            "INSERT INTO metric_points_recent (run_seq, seq, history_id, value, timestamp, step, is_nan, model_id)",
            8,
            "",
            &rows,
        )
    };
    if direct {
        // Row locks taken in one order by every writer (see `Store::log_batches`).
        latest.sort_by_key(|l| l.1);
    }
    let latest_rows: Vec<Value> = latest
        .iter()
        .flat_map(|(p, id, value, is_nan)| {
            [
                Value::Integer(*id),
                Value::Text(p.metric.key.clone()),
                Value::Real(*value),
                Value::Integer(p.metric.timestamp),
                Value::Integer(p.metric.step),
                Value::Integer(i64::from(*is_nan)),
            ]
        })
        .collect();
    statements.extend(row_statements(
        "INSERT INTO metric_latest (history_id, key, value, timestamp, step, is_nan)",
        6,
        "ON CONFLICT (history_id) DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp,
            step = excluded.step, is_nan = excluded.is_nan
         WHERE (excluded.step, excluded.timestamp, excluded.value) > (metric_latest.step, metric_latest.timestamp, metric_latest.value)",
        &latest_rows,
    ));
    execute_rows(tx, &statements)?;
    for (history, mut chunk) in bulk {
        chunks::sort_dedup(&mut chunk);
        chunks::write(tx, history, &chunk)?;
    }
    if held >= FOLD_EVERY {
        chunks::fold(tx)?;
    }
    Ok(())
}

fn run_info_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<RunInfo> {
    let id: String = r.get(0)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        experiment_id: r.get::<_, i64>(1)?.to_string(),
        run_name: r.get(2)?,
        user_id: r.get(3)?,
        status: r.get(4)?,
        start_time: r.get(5)?,
        end_time: r.get(6)?,
        artifact_uri: r.get(7)?,
        lifecycle_stage: r.get(8)?,
        run_id: id,
        seq: Some(r.get(9)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::fresh_store(dir.path()).unwrap();
        (dir, store)
    }

    fn metric(key: &str, value: f64, step: i64) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp: 1000 + step,
            step,
        }
    }

    /// A group holding refused batches (a name MLflow refuses, a NUL in a name, a deleted run,
    /// a missing run) writes the others and makes no history for the refused ones (on
    /// PostgreSQL a NUL in a history's name would have failed the whole group); histories made
    /// inside a transaction that rolls back are not remembered: the next batch makes them again
    /// and its points read back.
    #[test]
    fn refused_batches_make_no_history_and_rolled_back_ones_are_not_remembered() {
        let (_dir, mut s) = store();
        let exp = s.create_experiment("histories", None, &[]).unwrap();
        let run = s
            .create_run(&exp, "u", None, Some(1), &[])
            .unwrap()
            .info
            .run_uuid;
        let gone = s
            .create_run(&exp, "u", None, Some(2), &[])
            .unwrap()
            .info
            .run_uuid;
        s.set_run_lifecycle(&gone, "deleted").unwrap();
        let batch = |run: &str, key: &str| LogBatch {
            run_id: run.to_owned(),
            metrics: vec![metric(key, 1.0, 0)],
            model_ids: vec![None],
            params: Vec::new(),
            tags: Vec::new(),
            single: false,
        };
        let results = s
            .log_batches(&[
                batch(&run, "ok"),
                batch(&run, "bad*name"),
                batch(&run, "nul\u{0}name"),
                batch(&gone, "deleted"),
                batch("0123456789abcdef0123456789abcdef", "missing"),
            ])
            .unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
        for r in &results[1..] {
            assert!(r.is_err(), "{r:?}");
        }
        let keys = |s: &Store| -> Vec<String> {
            s.conn
                .query_map("SELECT key FROM metric_histories ORDER BY key", (), |r| {
                    r.get(0)
                })
                .unwrap()
        };
        assert_eq!(keys(&s), ["ok"]);

        let outer = s.conn.begin().unwrap();
        s.log_batch(&run, &[metric("later", 2.0, 1)], &[], &[])
            .unwrap();
        s.conn.finish(outer, false).unwrap();
        assert_eq!(keys(&s), ["ok"], "rolled back with its transaction");
        assert_eq!(
            s.known_histories_len(),
            1,
            "only the committed one remembered"
        );
        s.log_batch(&run, &[metric("later", 3.0, 2)], &[], &[])
            .unwrap();
        assert_eq!(keys(&s), ["later", "ok"]);
        let (points, _) = s.metric_history(&run, "later", 10, 0).unwrap();
        let got: Vec<(i64, f64)> = points.iter().map(|p| (p.step, p.value)).collect();
        assert_eq!(got, [(2, 3.0)]);
    }

    /// Runs are completed by their numbers: read back (numbered) or just made (not yet: looked
    /// up), each gets its own rows, and two runs' rows never mix.
    #[test]
    fn runs_are_completed_by_their_numbers() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("e", None, &[]).unwrap();
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        let made: Vec<Run> = ["a", "b"]
            .iter()
            .map(|name| s.create_run(&exp, "u", Some(name), Some(1), &[]).unwrap())
            .collect();
        for ((run, lr), loss) in made.iter().zip(["0.1", "0.2"]).zip([1.5, 2.5]) {
            let metric = Metric {
                key: "loss".into(),
                value: loss,
                timestamp: 1,
                step: 0,
            };
            s.log_batch(&run.info.run_uuid, &[metric], &[kv("lr", lr)], &[])
                .unwrap();
        }
        assert!(made.iter().all(|r| r.info.seq.is_none()));
        let infos: Vec<RunInfo> = made.iter().map(|r| r.info.clone()).collect();
        let looked_up = s.complete_runs(infos).unwrap();
        let read = made
            .iter()
            .map(|r| s.get_run(&r.info.run_uuid).unwrap())
            .collect::<Vec<_>>();
        for (runs, how) in [(&looked_up, "just made"), (&read, "read back")] {
            let lrs: Vec<&str> = runs.iter().map(|r| r.params[0].value.as_str()).collect();
            assert_eq!(lrs, ["0.1", "0.2"], "{how}");
            assert!(
                runs.iter()
                    .all(|r| r.params.len() == 1 && r.metrics.len() == 1)
            );
            let losses: Vec<f64> = runs.iter().map(|r| r.metrics[0].value).collect();
            assert_eq!(losses, [1.5, 2.5], "{how}");
            let names: Vec<&str> = runs.iter().map(|r| r.tags[0].value.as_str()).collect();
            assert_eq!(names, ["a", "b"], "{how}: mlflow.runName");
        }
    }

    /// A connection that created runs in an experiment writes the next one in one round trip,
    /// yet an experiment deleted since by another connection (another server) still refuses
    /// the run, with the same message as a first create, and nothing of it is written.
    #[test]
    fn a_run_in_an_experiment_deleted_elsewhere_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let mut here = Store::open_at(&location).unwrap();
        let mut elsewhere = Store::open_at(&location).unwrap();
        let exp = here.create_experiment("elsewhere", None, &[]).unwrap();
        let first = here
            .create_run(&exp, "u", Some("first"), Some(1), &[])
            .unwrap();
        assert!(
            first
                .info
                .artifact_uri
                .ends_with(&format!("/{}/artifacts", first.info.run_uuid))
        );
        elsewhere.set_experiment_lifecycle(&exp, "deleted").unwrap();
        let err = here
            .create_run(&exp, "u", Some("second"), Some(2), &[])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("must be in the 'active' state; it is 'deleted'"),
            "{err}"
        );
        let runs: i64 = here
            .conn
            .query_row("SELECT COUNT(*) FROM runs", (), |r| r.get(0))
            .unwrap();
        let tags: i64 = here
            .conn
            .query_row(
                "SELECT COUNT(*) FROM tags WHERE value = 'second'",
                (),
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((runs, tags), (1, 0));
        elsewhere.set_experiment_lifecycle(&exp, "active").unwrap();
        let third = here
            .create_run(&exp, "u", Some("third"), Some(3), &[])
            .unwrap();
        assert_eq!(
            here.get_run(&third.info.run_uuid).unwrap().info.run_name,
            "third"
        );
        assert!(matches!(
            here.create_run("999999", "u", None, None, &[]),
            Err(StoreError::NotFound { .. })
        ));
    }

    /// Groups of batches written at once by several connections (a server's writers, or
    /// servers on one database) on the same runs, their keys and runs in different orders, with
    /// params and tags, beside runs being created: every batch is written (on PostgreSQL the
    /// groups run side by side and take their row locks in one order, so none deadlocks), and
    /// every run's latest value is its highest step's.
    #[test]
    fn concurrent_groups_on_the_same_runs_all_land() {
        const WRITERS: i64 = 4;
        const GROUPS: i64 = 25;
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let mut first = Store::open_at(&location).unwrap();
        let exp = first.create_experiment("groups", None, &[]).unwrap();
        let runs: Vec<String> = (0..4)
            .map(|_| {
                first
                    .create_run(&exp, "u", None, Some(1), &[])
                    .unwrap()
                    .info
                    .run_uuid
            })
            .collect();
        let keys: Vec<String> = (0..20).map(|k| format!("m{k:02}")).collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (location, exp, mut runs, mut keys) =
                    (location.clone(), exp.clone(), runs.clone(), keys.clone());
                std::thread::spawn(move || {
                    let mut s = Store::open_at(&location).unwrap();
                    if w % 2 == 1 {
                        runs.reverse();
                        keys.reverse();
                    }
                    for g in 0..GROUPS {
                        let step = w * 1000 + g;
                        let batches: Vec<LogBatch> = runs
                            .iter()
                            .enumerate()
                            .map(|(r, run)| LogBatch {
                                run_id: run.clone(),
                                metrics: keys
                                    .iter()
                                    .map(|k| {
                                        metric(k, f64::from(u32::try_from(step).unwrap()), step)
                                    })
                                    .collect(),
                                // Every other run's batch also sets a tag and a param (the
                                // same value each time): written in a savepoint of its own.
                                tags: if r % 2 == 0 {
                                    vec![KeyValue {
                                        key: "writer".into(),
                                        value: w.to_string(),
                                    }]
                                } else {
                                    Vec::new()
                                },
                                params: if r % 2 == 0 {
                                    vec![KeyValue {
                                        key: "fixed".into(),
                                        value: "1".into(),
                                    }]
                                } else {
                                    Vec::new()
                                },
                                ..LogBatch::default()
                            })
                            .collect();
                        for (b, r) in s.log_batches(&batches).unwrap().into_iter().enumerate() {
                            r.unwrap_or_else(|e| panic!("writer {w} group {g} batch {b}: {e}"));
                        }
                        if g % 10 == 0 {
                            s.create_run(&exp, "u", None, Some(2), &[]).unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let s = Store::open_at(&location).unwrap();
        let last = (WRITERS - 1) * 1000 + GROUPS - 1;
        for run in &runs {
            for key in [&keys[0], &keys[19]] {
                let (points, _) = s.metric_history_points(run, key, 25_000, 0).unwrap();
                assert_eq!(
                    points.len(),
                    usize::try_from(WRITERS * GROUPS).unwrap(),
                    "{run} {key}"
                );
            }
            let got = s.get_run(run).unwrap();
            assert_eq!(got.metrics.len(), keys.len());
            for m in &got.metrics {
                assert_eq!(
                    (m.step, m.value),
                    (last, f64::from(u32::try_from(last).unwrap()))
                );
            }
        }
    }

    /// On PostgreSQL a run is created beside other shared writers (another server's metric
    /// batch holding the store's write lock shared): it does not wait for them to end, as it did
    /// when creating took the lock exclusively. (SQLite has one writer at a time.)
    #[test]
    #[expect(clippy::print_stderr, reason = "a skipped test says why")]
    fn a_run_is_created_while_another_writer_holds_the_lock_shared() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let crate::Location::Postgres(url) = &location else {
            eprintln!("skipped: no test PostgreSQL (SLUICE_TEST_POSTGRES)");
            return;
        };
        let exp = Store::open_at(&location)
            .unwrap()
            .create_experiment("beside", None, &[])
            .unwrap();
        // Another writer's shared transaction, begun and holding the lock.
        let mut other = crate::db::Conn::open_postgres(url).unwrap();
        let outer = other.begin_shared().unwrap();
        let held: i64 = other.query_row("SELECT 1", (), |r| r.get(0)).unwrap();
        assert_eq!(held, 1);
        let (tx, rx) = std::sync::mpsc::channel();
        let creator = {
            let (location, exp) = (location.clone(), exp.clone());
            std::thread::spawn(move || {
                let mut s = Store::open_at(&location).unwrap();
                let run = s.create_run(&exp, "u", Some("beside"), Some(7), &[]);
                let _ = tx.send(run.map(|r| r.info.run_uuid));
            })
        };
        let created = rx.recv_timeout(std::time::Duration::from_secs(20));
        // Released either way, so that a create that waited for it ends too.
        other.finish(outer, false).unwrap();
        creator.join().unwrap();
        let run = created
            .expect("the create waited for the other writer's shared lock")
            .unwrap();
        let store = Store::open_at(&location).unwrap();
        assert_eq!(store.get_run(&run).unwrap().info.run_name, "beside");
    }

    /// Runs created at once by several connections (servers on one database) each get their
    /// own creation number (`seq`, the order of runs started in the same millisecond), their
    /// tags, and nothing of another's: on SQLite creating a run takes the store's write lock,
    /// on PostgreSQL (where creates run side by side, the lock shared) the number comes from
    /// a sequence.
    #[test]
    fn concurrent_creates_number_runs_uniquely() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let exp = Store::open_at(&location)
            .unwrap()
            .create_experiment("together", None, &[])
            .unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (location, exp) = (location.clone(), exp.clone());
                std::thread::spawn(move || {
                    let mut s = Store::open_at(&location).unwrap();
                    for i in 0..50 {
                        let tags = [KeyValue {
                            key: "writer".into(),
                            value: format!("{w}"),
                        }];
                        s.create_run(&exp, "u", Some(&format!("w{w}-{i}")), Some(7), &tags)
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let s = Store::open_at(&location).unwrap();
        let (runs, distinct, min, max): (i64, i64, i64, i64) = s
            .conn
            .query_row(
                "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM runs",
                (),
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!((runs, distinct, min, max), (200, 200, 1, 200));
        let tagged: Vec<(String, String)> = s
            .conn
            .query_map(
                "SELECT r.run_name, t.value FROM runs r JOIN tags t ON t.run_seq = r.seq AND t.key = 'writer'",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(tagged.len(), 200);
        for (name, writer) in tagged {
            assert!(
                name.starts_with(&format!("w{writer}-")),
                "{name} tagged {writer}"
            );
        }
    }

    #[test]
    fn default_experiment_exists_and_names_are_unique() {
        let (_d, mut s) = store();
        assert_eq!(s.get_experiment("0").unwrap().name, "Default");
        let id = s.create_experiment("e", None, &[]).unwrap();
        assert_eq!(
            s.get_experiment_by_name("e").unwrap().artifact_location,
            format!("mlflow-artifacts:/{id}")
        );
        assert!(matches!(
            s.create_experiment("e", None, &[]),
            Err(StoreError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn a_batch_of_many_params_and_tags_is_written_whole_across_statements() {
        let (_d, mut s) = store();
        let id = s
            .create_run("0", "me", Some("r"), None, &[])
            .unwrap()
            .info
            .run_uuid;
        let kv = |k: String, v: &str| KeyValue {
            key: k,
            value: v.into(),
        };
        // 122 params (statements of 100, 10, 10, 1 and 1); 23 tags, one key given twice (the
        // later value wins).
        let params: Vec<KeyValue> = (0..122).map(|i| kv(format!("p{i:03}"), "v")).collect();
        let mut tags: Vec<KeyValue> = (0..22).map(|i| kv(format!("t{i:02}"), "a")).collect();
        tags.push(kv("t05".into(), "b"));
        s.log_batch(&id, &[], &params, &tags).unwrap();
        let run = s.get_run(&id).unwrap();
        assert_eq!(run.params.len(), 122);
        assert!(run.params.iter().all(|p| p.value == "v"));
        let tag = |k: &str| {
            run.tags
                .iter()
                .find(|t| t.key == k)
                .map(|t| t.value.clone())
        };
        assert_eq!(
            (tag("t05"), tag("t21")),
            (Some("b".into()), Some("a".into()))
        );
        // The same params again: nothing changes. One of them changed: refused, naming it, and
        // nothing of the batch written.
        s.log_batch(&id, &[], &params, &[]).unwrap();
        let mut changed = params.clone();
        changed[110].value = "w".into();
        changed.push(kv("p200".into(), "new"));
        let err = s
            .log_batch(&id, &[], &changed, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'key': 'p110', 'old_value': 'v', 'new_value': 'w'"),
            "{err}"
        );
        let run = s.get_run(&id).unwrap();
        assert_eq!(
            run.params.len(),
            122,
            "nothing of a refused batch is written"
        );
    }

    #[test]
    fn params_are_immutable_and_duplicate_metrics_are_no_ops() {
        let (_d, mut s) = store();
        let run = s.create_run("0", "me", Some("r"), None, &[]).unwrap();
        let id = run.info.run_uuid;
        let p = KeyValue {
            key: "a".into(),
            value: "1".into(),
        };
        s.log_batch(
            &id,
            &[metric("m", 1.0, 0), metric("m", 1.0, 0)],
            std::slice::from_ref(&p),
            &[],
        )
        .unwrap();
        s.log_batch(&id, &[], std::slice::from_ref(&p), &[])
            .unwrap();
        let changed = KeyValue {
            key: "a".into(),
            value: "2".into(),
        };
        assert!(matches!(
            s.log_batch(&id, &[metric("m", 9.0, 5)], &[changed], &[]),
            Err(StoreError::Invalid(_))
        ));
        // The failed batch wrote nothing: the metric at step 5 is absent.
        let (hist, _) = s.metric_history(&id, "m", 100, 0).unwrap();
        assert_eq!(hist.len(), 1);
        s.log_batch(
            &id,
            &[metric("m", 0.5, 3), metric("m", f64::NAN, 1)],
            &[],
            &[],
        )
        .unwrap();
        let run = s.get_run(&id).unwrap();
        assert!((run.metrics[0].value - 0.5).abs() < f64::EPSILON);
        assert_eq!(
            run.tags
                .iter()
                .find(|t| t.key == "mlflow.runName")
                .unwrap()
                .value,
            "r"
        );
        let (hist, _) = s.metric_history(&id, "m", 100, 0).unwrap();
        assert_eq!(hist.iter().map(|m| m.step).collect::<Vec<_>>(), [0, 1, 3]);
        assert!(hist[1].value.is_nan());
    }

    #[test]
    fn a_created_run_is_what_reading_it_back_gives() {
        let (_d, mut s) = store();
        let tags = [
            KeyValue {
                key: "z".into(),
                value: "1".into(),
            },
            KeyValue {
                key: "a".into(),
                value: "2".into(),
            },
            KeyValue {
                key: "z".into(),
                value: "3".into(),
            },
        ];
        let created = s.create_run("0", "me", Some("r"), Some(5), &tags).unwrap();
        let read = s.get_run(&created.info.run_uuid).unwrap();
        assert_eq!(
            serde_json::to_value(&created.info).unwrap(),
            serde_json::to_value(&read.info).unwrap()
        );
        assert_eq!(created.tags, read.tags);
    }

    #[test]
    fn search_filters_orders_and_pages() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("search", None, &[]).unwrap();
        for i in 0..10_i32 {
            let r = s
                .create_run(
                    &exp,
                    "me",
                    Some(&format!("run{i}")),
                    Some(i64::from(i)),
                    &[],
                )
                .unwrap();
            let m = if i == 9 {
                vec![]
            } else {
                vec![metric("rmse", f64::from(i) / 10.0, 0)]
            };
            s.log_batch(
                &r.info.run_uuid,
                &m,
                &[KeyValue {
                    key: "even".into(),
                    value: (i % 2 == 0).to_string(),
                }],
                &[],
            )
            .unwrap();
        }
        let order = vec!["metrics.rmse DESC".to_owned()];
        let (runs, next) = s
            .search_runs(
                std::slice::from_ref(&exp),
                Some("metrics.rmse < 0.5 and params.even = 'true'"),
                ViewType::ActiveOnly,
                &order,
                2,
                0,
            )
            .unwrap();
        assert_eq!(
            runs.iter()
                .map(|r| r.info.run_name.as_str())
                .collect::<Vec<_>>(),
            ["run4", "run2"]
        );
        assert_eq!(next, Some(2));
        let (runs, next) = s
            .search_runs(
                std::slice::from_ref(&exp),
                Some("metrics.rmse < 0.5 and params.even = 'true'"),
                ViewType::ActiveOnly,
                &order,
                2,
                2,
            )
            .unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(next, None);
        // Runs without the metric sort last, ascending or descending.
        let (runs, _) = s
            .search_runs(
                std::slice::from_ref(&exp),
                None,
                ViewType::ActiveOnly,
                &["metrics.rmse ASC".into()],
                100,
                0,
            )
            .unwrap();
        assert_eq!(runs.last().unwrap().info.run_name, "run9");
        assert_eq!(runs[0].info.run_name, "run0");
        let (runs, _) = s
            .search_runs(&[exp], None, ViewType::ActiveOnly, &[], 100, 0)
            .unwrap();
        assert_eq!(
            runs[0].info.run_name, "run9",
            "default order is newest start first"
        );
    }

    /// Points cross several folds (every 64 points in unit tests) from `metric_points_recent` into
    /// chunks (SQLite; PostgreSQL writes `metrics`): a history reads whole, in (step, timestamp, value) order, each identical point
    /// once however often and whenever it was logged, and pages the same way.
    #[test]
    fn metric_histories_read_whole_across_folds() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("folds", None, &[]).unwrap();
        let run = s
            .create_run(&exp, "u", None, None, &[])
            .unwrap()
            .info
            .run_uuid;
        let other = s
            .create_run(&exp, "u", None, None, &[])
            .unwrap()
            .info
            .run_uuid;
        let point = |step: i64, ts: i64, value: f64| Metric {
            key: "loss".into(),
            value,
            timestamp: ts,
            step,
        };
        let mut expected: Vec<(i64, i64, f64)> = Vec::new();
        // 300 steps in batches of 7, each batch in reverse order, another run's points between.
        let points: Vec<Metric> = (0..300)
            .map(|i| point(i, 1000 + i, 1.0 / (1.0 + i as f64)))
            .collect();
        for chunk in points.chunks(7) {
            let mut batch = chunk.to_vec();
            batch.reverse();
            s.log_batch(&run, &batch, &[], &[]).unwrap();
            s.log_batch(&other, &[point(0, 1, 1.0)], &[], &[]).unwrap();
        }
        expected.extend(points.iter().map(|m| (m.step, m.timestamp, m.value)));
        // The first 100 again (some folded by now, some not): still one point each.
        for chunk in points[..100].chunks(33) {
            s.log_batch(&run, chunk, &[], &[]).unwrap();
        }
        // A second value at step 5 (same timestamp), and a NaN at step 6.
        s.log_batch(
            &run,
            &[point(5, 1005, -2.0), point(6, 1006, f64::NAN)],
            &[],
            &[],
        )
        .unwrap();
        expected.push((5, 1005, -2.0));
        expected.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        // The NaN is stored as 0, so it sorts before step 6's positive value.
        let nan_at = expected.iter().position(|p| p.0 == 6).unwrap();
        let (all, next) = s.metric_history(&run, "loss", 10_000, 0).unwrap();
        assert_eq!(next, None);
        assert_eq!(
            all.len(),
            expected.len() + 1,
            "300 points, one more at step 5, a NaN"
        );
        let got: Vec<(i64, i64, f64)> = all
            .iter()
            .filter(|m| !m.value.is_nan())
            .map(|m| (m.step, m.timestamp, m.value))
            .collect();
        assert_eq!(got, expected);
        assert!(
            all[nan_at].value.is_nan() && all[nan_at].step == 6,
            "NaN sorts as 0 at step 6"
        );
        // Pages of 45 concatenate to the whole history.
        let mut paged = Vec::new();
        let mut offset = Some(0);
        while let Some(at) = offset {
            let (page, next) = s.metric_history(&run, "loss", 45, at).unwrap();
            assert!(page.len() <= 45);
            paged.extend(page);
            offset = next;
        }
        assert_eq!(paged.len(), all.len());
        assert!(
            paged
                .iter()
                .zip(&all)
                .all(|(a, b)| (a.step, a.timestamp) == (b.step, b.timestamp)
                    && a.value.to_bits() == b.value.to_bits())
        );
        // The other run's identical point, logged 43 times, is one point; the latest value is
        // the highest step's.
        assert_eq!(s.metric_history(&other, "loss", 100, 0).unwrap().0.len(), 1);
        let latest = s.get_run(&run).unwrap().metrics;
        assert_eq!((latest[0].step, latest[0].value), (299, 1.0 / 300.0));
    }

    /// A batch holding many points of one history (a whole history logged at once) reads back
    /// whole and in order, beside the batch's few points of other histories, logged again
    /// still once each; on SQLite those points are one chunk, not rows of `metric_points_recent`.
    #[test]
    fn a_history_logged_in_bulk_reads_whole_and_once() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("bulk", None, &[]).unwrap();
        let run = s
            .create_run(&exp, "u", None, None, &[])
            .unwrap()
            .info
            .run_uuid;
        let point = |key: &str, step: i64, value: f64| Metric {
            key: key.into(),
            value,
            timestamp: 5000 + step,
            step,
        };
        let mut batch: Vec<Metric> = (0..40)
            .rev()
            .map(|i| point("loss", i, (i as f64).sin()))
            .collect();
        batch.extend((0..3).map(|i| point("acc", i, 0.5)));
        // (Fewer points than a fold takes in unit tests, more than a bulk chunk needs.)
        s.log_batch(&run, &batch, &[], &[]).unwrap();
        s.log_batch(&run, &batch[..20], &[], &[]).unwrap();
        let (loss, next) = s.metric_history(&run, "loss", 25_000, 0).unwrap();
        assert_eq!(next, None);
        let expected: Vec<(i64, f64)> = (0..40).map(|i| (i, (i as f64).sin())).collect();
        assert_eq!(
            loss.iter().map(|m| (m.step, m.value)).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(s.metric_history(&run, "acc", 100, 0).unwrap().0.len(), 3);
        let latest = s.get_run(&run).unwrap().metrics;
        let latest_loss = latest.iter().find(|m| m.key == "loss").unwrap();
        assert_eq!((latest_loss.step, latest_loss.value), (39, 39f64.sin()));
        if s.conn.dialect() == crate::db::Dialect::Sqlite {
            let count = |sql: &str| -> i64 { s.conn.query_row(sql, (), |r| r.get(0)).unwrap() };
            assert_eq!(
                count(
                    "SELECT COUNT(*) FROM metric_points_recent p JOIN metric_histories h ON h.history_id = p.history_id WHERE h.key = 'loss'"
                ),
                0
            );
            assert_eq!(
                count(
                    "SELECT COUNT(*) FROM history_chunks c JOIN metric_histories h ON h.history_id = c.history_id WHERE h.key = 'loss'"
                ),
                2,
                "one chunk a batch"
            );
            // A chunk that is not a blob (a damaged file) is an error naming the history, not
            // a shorter history.
            s.conn
                .execute_batch("UPDATE history_chunks SET points = 'damaged'")
                .unwrap();
            let err = s.metric_history(&run, "loss", 25_000, 0).unwrap_err();
            assert!(
                matches!(err, crate::StoreError::Corrupt(_))
                    && err.to_string().contains("`loss`")
                    && err.to_string().contains("not a blob"),
                "{err}"
            );
        }
    }

    /// Points a store wrote as rows (SQLite's in `metrics`, folded before migration 0016
    /// brought chunks; PostgreSQL's in `metric_points`) read together with points logged
    /// since, in order, a point in both places once.
    #[test]
    fn metric_rows_written_before_chunks_still_read() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("old-rows", None, &[]).unwrap();
        let run = s
            .create_run(&exp, "u", None, None, &[])
            .unwrap()
            .info
            .run_uuid;
        // Even steps 0..100 as rows, as an earlier build's fold left them (on PostgreSQL, in
        // the history a first point made).
        let (table, owner) = if s.conn.dialect() == crate::db::Dialect::Sqlite {
            ("metrics (run_uuid, key,", "?1, 'acc',")
        } else {
            let first = Metric {
                key: "acc".into(),
                value: 0.0,
                timestamp: 5000,
                step: 0,
            };
            s.log_batch(&run, &[first], &[], &[]).unwrap();
            (
                "metric_points (history_id,",
                "(SELECT history_id FROM metric_histories WHERE run_uuid = ?1 AND key = 'acc'),",
            )
        };
        for step in (0..100_i64).step_by(2) {
            s.conn
                .execute(
                    &format!(
                        "INSERT INTO {table} value, timestamp, step, is_nan) VALUES ({owner} ?2, ?3, ?4, 0) ON CONFLICT DO NOTHING"
                    ),
                    params![run, step, 5000 + step, step],
                )
                .unwrap();
        }
        // Every step 0..150 logged now (the even ones below 100 a second time), crossing folds.
        let points: Vec<Metric> = (0..150_u8)
            .map(|step| Metric {
                key: "acc".into(),
                value: f64::from(step),
                timestamp: 5000 + i64::from(step),
                step: i64::from(step),
            })
            .collect();
        for batch in points.chunks(40) {
            s.log_batch(&run, batch, &[], &[]).unwrap();
        }
        let (all, next) = s.metric_history(&run, "acc", 1000, 0).unwrap();
        assert_eq!(next, None);
        let steps: Vec<i64> = all.iter().map(|m| m.step).collect();
        assert_eq!(steps, (0..150).collect::<Vec<_>>());
        assert!(
            all.iter()
                .all(|m| m.value.to_bits() == (m.step as f64).to_bits())
        );
        let (page, next) = s.metric_history(&run, "acc", 10, 95).unwrap();
        assert_eq!(
            page.iter().map(|m| m.step).collect::<Vec<_>>(),
            (95..105).collect::<Vec<_>>()
        );
        assert_eq!(next, Some(105));
    }
}
