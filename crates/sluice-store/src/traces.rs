//! MLflow traces: what `mlflow.start_span`, `@mlflow.trace` and `mlflow.search_traces` store
//! and read. A trace is its info (experiment, request time, duration, state, previews), its
//! metadata and its tags; the spans are the trace's `traces.json`, which the client uploads to
//! the artifact location the `mlflow.artifactLocation` tag names.

use std::collections::BTreeMap;

use crate::db::Value;
use crate::db::{params, params_from_iter};
use serde::Serialize;

use crate::filter::{Cmp, Field, Ident, Kind};
use crate::tracking::{KeyValue, MAX_KEY, MAX_TAG_VALUE};
use crate::{Result, Store, StoreError};

/// The tag that says where a trace's `traces.json` is.
pub const ARTIFACT_LOCATION_TAG: &str = "mlflow.artifactLocation";
/// The tag with the root span's name.
pub const TRACE_NAME_TAG: &str = "mlflow.traceName";
/// Tags a client may not set: they say where the spans are kept.
const IMMUTABLE_TAGS: [&str; 3] = [
    "mlflow.trace.spansLocation",
    "mlflow.trace.archiveLocation",
    "mlflow.trace.archivalFailure",
];
/// The states of a trace (MLflow 3's `TraceInfoV3.State`; v2's `TraceStatus` has the same names).
pub const STATES: [&str; 4] = ["STATE_UNSPECIFIED", "OK", "ERROR", "IN_PROGRESS"];

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TraceInfo {
    pub trace_id: String,
    pub experiment_id: String,
    /// Milliseconds since the epoch.
    pub request_time: i64,
    /// Milliseconds; `None` while the trace is in progress.
    pub execution_duration: Option<i64>,
    pub state: String,
    pub client_request_id: Option<String>,
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A search: experiments, an MLflow trace filter, `order_by` clauses, a page.
#[derive(Debug, Clone, Default)]
pub struct TraceSearch<'a> {
    pub experiment_ids: &'a [String],
    pub filter: Option<&'a str>,
    pub order_by: &'a [String],
    pub max_results: usize,
    pub offset: usize,
}

/// One aggregation of a trace metric: `COUNT`, `SUM`, `AVG`, `MIN`, `MAX` or `PERCENTILE` (with
/// its percentile).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub kind: String,
    pub percentile: Option<f64>,
}

impl Aggregation {
    /// The name MLflow gives the value: `AVG`, `P50.0`, ...
    #[must_use]
    pub fn label(&self) -> String {
        match (self.kind.as_str(), self.percentile) {
            ("PERCENTILE", Some(p)) => format!("P{p:?}"),
            (kind, _) => kind.to_owned(),
        }
    }
}

/// A trace metrics query over the traces of some experiments (MLflow's `TRACES` view).
#[derive(Debug, Clone, Default)]
pub struct MetricsQuery<'a> {
    pub experiment_ids: &'a [String],
    /// `trace_count`, `latency`, `input_tokens`, `output_tokens` or `total_tokens`.
    pub metric: &'a str,
    pub aggregations: &'a [Aggregation],
    /// `trace_name` and/or `trace_status`.
    pub dimensions: &'a [String],
    /// Buckets of this many seconds (`time_bucket` dimension), if any.
    pub interval_seconds: Option<i64>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// One point of a metrics answer: its dimensions and one value per aggregation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    pub metric_name: String,
    pub dimensions: BTreeMap<String, String>,
    pub values: BTreeMap<String, f64>,
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: crate::Entity::Trace,
        name: id.to_owned(),
    }
}

fn check_tag(key: &str, value: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid(
            "Missing value for required parameter 'key'. See the API docs for more information about request parameters.",
        ));
    }
    if key.chars().count() > MAX_KEY {
        return Err(invalid(format!(
            "'key' exceeds the maximum length of {MAX_KEY} characters"
        )));
    }
    if value.chars().count() > MAX_TAG_VALUE {
        return Err(invalid(format!(
            "'value' exceeds the maximum length of {MAX_TAG_VALUE} characters"
        )));
    }
    Ok(())
}

impl Store {
    /// Records a trace as MLflow 3's client sends it (`StartTraceV3`): a new trace, or the same
    /// id again merged into the stored one. Adds the `mlflow.artifactLocation` tag, under the
    /// experiment's artifact location, where the client then uploads `traces.json`.
    pub fn start_trace(&mut self, info: &TraceInfo) -> Result<TraceInfo> {
        self.record_trace(info, true)
    }

    /// Inserts or merges a trace; `finalized` marks its info complete (MLflow 3 sends it whole,
    /// MLflow 2 completes it with `end_trace_v2`).
    fn record_trace(&mut self, info: &TraceInfo, finalized: bool) -> Result<TraceInfo> {
        if info.trace_id.is_empty() {
            return Err(invalid(
                "Missing value for required parameter 'trace.trace_info.trace_id'.",
            ));
        }
        let exp = self.get_experiment(&info.experiment_id)?;
        for (k, v) in &info.tags {
            check_tag(k, v)?;
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO traces (trace_id, experiment_id, request_time, execution_duration, state, client_request_id, request_preview, response_preview)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (trace_id) DO UPDATE SET request_time = excluded.request_time,
                execution_duration = COALESCE(excluded.execution_duration, traces.execution_duration),
                state = excluded.state,
                client_request_id = COALESCE(excluded.client_request_id, traces.client_request_id),
                request_preview = COALESCE(excluded.request_preview, traces.request_preview),
                response_preview = COALESCE(excluded.response_preview, traces.response_preview)",
            params![
                info.trace_id,
                exp.experiment_id.parse::<i64>().unwrap_or_default(),
                info.request_time,
                info.execution_duration,
                state_name(&info.state),
                info.client_request_id,
                info.request_preview,
                info.response_preview
            ],
        )?;
        let mut metadata = info.metadata.clone();
        if finalized {
            metadata.insert("mlflow.trace.infoFinalized".into(), "true".into());
        }
        let mut tags = info.tags.clone();
        tags.insert(
            ARTIFACT_LOCATION_TAG.into(),
            artifact_location(&exp.artifact_location, &info.trace_id),
        );
        upsert(&tx, "trace_metadata", &info.trace_id, &metadata)?;
        upsert(&tx, "trace_tags", &info.trace_id, &tags)?;
        tx.commit()?;
        self.get_trace_info(&info.trace_id)
    }

    /// MLflow 2's `StartTrace`: the server makes the id (32 hex digits); the trace is in progress.
    pub fn start_trace_v2(
        &mut self,
        experiment_id: &str,
        timestamp_ms: i64,
        metadata: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<TraceInfo> {
        let info = TraceInfo {
            trace_id: crate::tracking::new_id(),
            experiment_id: experiment_id.to_owned(),
            request_time: timestamp_ms,
            state: "IN_PROGRESS".into(),
            metadata: metadata
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect(),
            tags: tags
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect(),
            ..TraceInfo::default()
        };
        self.record_trace(&info, false)
    }

    /// MLflow 2's `EndTrace`: the duration is `timestamp_ms` less the start; metadata and tags
    /// are merged in.
    pub fn end_trace_v2(
        &mut self,
        id: &str,
        timestamp_ms: i64,
        status: &str,
        metadata: &[KeyValue],
        tags: &[KeyValue],
    ) -> Result<TraceInfo> {
        let current = self.get_trace_info(id)?;
        for t in tags {
            check_tag(&t.key, &t.value)?;
        }
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE traces SET execution_duration = ?2, state = ?3 WHERE trace_id = ?1",
            params![
                id,
                (timestamp_ms - current.request_time).max(0),
                state_name(status)
            ],
        )?;
        let pairs = |kvs: &[KeyValue]| -> BTreeMap<String, String> {
            kvs.iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect()
        };
        upsert(&tx, "trace_metadata", id, &pairs(metadata))?;
        upsert(&tx, "trace_tags", id, &pairs(tags))?;
        tx.commit()?;
        self.get_trace_info(id)
    }

    pub fn get_trace_info(&self, id: &str) -> Result<TraceInfo> {
        let mut infos =
            self.trace_rows("t.trace_id = ?", vec![Value::Text(id.to_owned())], "", 1, 0)?;
        infos.pop().ok_or_else(|| not_found(id))
    }

    /// Several traces by id, in the order asked (unknown ids are left out).
    pub fn get_trace_infos(&self, ids: &[String]) -> Result<Vec<TraceInfo>> {
        let mut out = Vec::new();
        for id in ids {
            match self.get_trace_info(id) {
                Ok(info) => out.push(info),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Traces of some experiments that match an MLflow trace filter, newest first unless
    /// `order_by` says otherwise; paged by offset.
    pub fn search_traces(&self, q: &TraceSearch<'_>) -> Result<(Vec<TraceInfo>, Option<usize>)> {
        if q.experiment_ids.is_empty() {
            return Ok((Vec::new(), None));
        }
        let mut args: Vec<Value> = Vec::new();
        let ids: Vec<String> = q
            .experiment_ids
            .iter()
            .map(|id| {
                args.push(Value::Integer(id.trim().parse().unwrap_or(-1)));
                "?".to_owned()
            })
            .collect();
        let mut conds = vec![format!("t.experiment_id IN ({})", ids.join(", "))];
        let filter = crate::filter::parse(q.filter.unwrap_or(""))?;
        let compiled =
            crate::filter::compile(&filter, self.conn.dialect(), |i| trace_field(i).map(Some))?;
        conds.push(compiled.sql);
        args.extend(compiled.args);
        let orders = crate::filter::compile_order(
            &crate::filter::parse_orders(q.order_by)?,
            trace_order_field,
        )?;
        // Traces without the value sort last either way, as in MLflow.
        let mut order: Vec<String> = orders.iter().map(|o| o.nulls_last(&mut args)).collect();
        if !order.is_empty() {
            order.push("t.request_time DESC".into());
            order.push("t.trace_id ASC".into());
        }
        let order = order.join(", ");
        let rows = self.trace_rows(
            &conds.join(" AND "),
            args,
            &order,
            q.max_results + 1,
            q.offset,
        )?;
        Ok(crate::page(rows, q.max_results, q.offset))
    }

    fn trace_rows(
        &self,
        cond: &str,
        mut args: Vec<Value>,
        order: &str,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<TraceInfo>> {
        let order = if order.is_empty() {
            "t.request_time DESC, t.trace_id ASC"
        } else {
            order
        };
        let sql = format!(
            "SELECT t.trace_id, t.experiment_id, t.request_time, t.execution_duration, t.state, t.client_request_id, t.request_preview, t.response_preview
             FROM traces t WHERE {cond} ORDER BY {order} LIMIT ? OFFSET ?"
        );
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        args.push(Value::Integer(i64::try_from(offset).unwrap_or(0)));
        let mut stmt = self.conn.prepare(&sql)?;
        let mut infos = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(TraceInfo {
                    trace_id: r.get(0)?,
                    experiment_id: r.get::<_, i64>(1)?.to_string(),
                    request_time: r.get(2)?,
                    execution_duration: r.get(3)?,
                    state: r.get(4)?,
                    client_request_id: r.get(5)?,
                    request_preview: r.get(6)?,
                    response_preview: r.get(7)?,
                    ..TraceInfo::default()
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // Metadata and tags of the whole page: one query per table and chunk of ids.
        let by_id: std::collections::HashMap<String, usize> = infos
            .iter()
            .enumerate()
            .map(|(i, t)| (t.trace_id.clone(), i))
            .collect();
        for ids in infos
            .iter()
            .map(|t| t.trace_id.clone())
            .collect::<Vec<_>>()
            .chunks(500)
        {
            let marks = vec!["?"; ids.len()].join(", ");
            for (table, tags) in [("trace_metadata", false), ("trace_tags", true)] {
                let mut stmt = self.conn.prepare(&format!(
                    "SELECT trace_id, key, value FROM {table} WHERE trace_id IN ({marks})"
                ))?;
                let rows = stmt.query_map(params_from_iter(ids), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?;
                for row in rows {
                    let (id, key, value) = row?;
                    if let Some(&i) = by_id.get(&id) {
                        let map = if tags {
                            &mut infos[i].tags
                        } else {
                            &mut infos[i].metadata
                        };
                        map.insert(key, value);
                    }
                }
            }
        }
        Ok(infos)
    }

    /// Deletes traces of one experiment: the ones named, or those older than `max_timestamp_ms`
    /// (at most `max_traces` of them, oldest first). Returns how many were deleted.
    pub fn delete_traces(
        &mut self,
        experiment_id: &str,
        max_timestamp_ms: Option<i64>,
        max_traces: Option<usize>,
        ids: &[String],
    ) -> Result<usize> {
        let exp: i64 = experiment_id.trim().parse().unwrap_or(-1);
        let tx = self.conn.transaction()?;
        let mut deleted = 0;
        match (max_timestamp_ms, ids.is_empty()) {
            (None, true) => {
                return Err(invalid(
                    "Either `max_timestamp_millis` or `trace_ids` must be specified.",
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    "Only one of `max_timestamp_millis` and `trace_ids` can be specified.",
                ));
            }
            (Some(ts), true) => {
                let limit = max_traces.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
                deleted += tx.execute(
                    "DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM traces WHERE experiment_id = ?1 AND request_time <= ?2 ORDER BY request_time LIMIT ?3)",
                    params![exp, ts, limit],
                )?;
            }
            (None, false) => {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM traces WHERE experiment_id = ?1 AND trace_id = ?2",
                )?;
                for id in ids {
                    deleted += stmt.execute(params![exp, id])?;
                }
            }
        }
        tx.commit()?;
        Ok(deleted)
    }

    pub fn set_trace_tag(&self, id: &str, key: &str, value: &str) -> Result<()> {
        check_tag(key, value)?;
        if IMMUTABLE_TAGS.contains(&key) {
            return Err(invalid(format!(
                "Tag '{key}' is immutable and cannot be set on a trace."
            )));
        }
        self.get_trace_info(id)?;
        self.conn.execute(
            "INSERT INTO trace_tags (trace_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (trace_id, key) DO UPDATE SET value = excluded.value",
            params![id, key, value],
        )?;
        Ok(())
    }

    pub fn delete_trace_tag(&self, id: &str, key: &str) -> Result<()> {
        self.get_trace_info(id)?;
        let n = self.conn.execute(
            "DELETE FROM trace_tags WHERE trace_id = ?1 AND key = ?2",
            params![id, key],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: crate::Entity::TraceTag,
                name: format!("No trace tag with key '{key}' for trace with ID '{id}'"),
            });
        }
        Ok(())
    }

    /// MLflow's trace metrics over the `TRACES` view: trace counts, latency and token usage
    /// (from the `mlflow.trace.tokenUsage` metadata), by time bucket, trace name and status.
    pub fn trace_metrics(&self, q: &MetricsQuery<'_>) -> Result<Vec<MetricPoint>> {
        let value_of: fn(&TraceInfo) -> Option<f64> = match q.metric {
            "trace_count" => |_| Some(1.0),
            #[expect(clippy::cast_precision_loss, reason = "durations in ms")]
            "latency" => |t| t.execution_duration.map(|d| d as f64),
            "input_tokens" => |t| tokens(t, "input_tokens"),
            "output_tokens" => |t| tokens(t, "output_tokens"),
            "total_tokens" => |t| tokens(t, "total_tokens"),
            "cache_read_input_tokens" => |t| tokens(t, "cache_read_input_tokens"),
            "cache_creation_input_tokens" => |t| tokens(t, "cache_creation_input_tokens"),
            other => {
                return Err(invalid(format!(
                    "Unsupported metric '{other}' for the TRACES view: use trace_count, latency, input_tokens, output_tokens or total_tokens"
                )));
            }
        };
        for d in q.dimensions {
            if d != "trace_name" && d != "trace_status" {
                return Err(invalid(format!(
                    "Unsupported dimension '{d}' for the TRACES view: use trace_name or trace_status"
                )));
            }
        }
        let mut filter = Vec::new();
        if let Some(s) = q.start_ms {
            filter.push(format!("timestamp_ms >= {s}"));
        }
        if let Some(e) = q.end_ms {
            filter.push(format!("timestamp_ms <= {e}"));
        }
        let filter = filter.join(" AND ");
        let (traces, _) = self.search_traces(&TraceSearch {
            experiment_ids: q.experiment_ids,
            filter: Some(&filter),
            order_by: &[],
            max_results: usize::MAX >> 2,
            offset: 0,
        })?;
        let mut groups: BTreeMap<BTreeMap<String, String>, Vec<f64>> = BTreeMap::new();
        for t in &traces {
            let Some(v) = value_of(t) else { continue };
            let mut dims = BTreeMap::new();
            if let Some(secs) = q.interval_seconds.filter(|s| *s > 0) {
                let size = secs * 1000;
                let bucket = t.request_time.div_euclid(size) * size;
                let at = jiff::Timestamp::from_millisecond(bucket)
                    .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
                    .unwrap_or_default();
                dims.insert("time_bucket".to_owned(), at);
            }
            for d in q.dimensions {
                let value = match d.as_str() {
                    "trace_name" => t.tags.get(TRACE_NAME_TAG).cloned(),
                    _ => Some(t.state.clone()),
                };
                let Some(value) = value else { continue };
                dims.insert(d.clone(), value);
            }
            groups.entry(dims).or_default().push(v);
        }
        Ok(groups
            .into_iter()
            .map(|(dimensions, mut values)| {
                values.sort_by(f64::total_cmp);
                let values = q
                    .aggregations
                    .iter()
                    .filter_map(|a| aggregate(&values, a).map(|v| (a.label(), v)))
                    .collect();
                MetricPoint {
                    metric_name: q.metric.to_owned(),
                    dimensions,
                    values,
                }
            })
            .collect())
    }
}

fn tokens(t: &TraceInfo, key: &str) -> Option<f64> {
    let usage: serde_json::Value =
        serde_json::from_str(t.metadata.get("mlflow.trace.tokenUsage")?).ok()?;
    usage.get(key)?.as_f64()
}

/// One aggregation over sorted values (percentiles by linear interpolation).
#[expect(clippy::cast_precision_loss, reason = "counts of traces")]
fn aggregate(sorted: &[f64], a: &Aggregation) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as f64;
    Some(match a.kind.as_str() {
        "COUNT" => n,
        "SUM" => sorted.iter().sum(),
        "AVG" => sorted.iter().sum::<f64>() / n,
        "MIN" => sorted[0],
        "MAX" => sorted[sorted.len() - 1],
        "PERCENTILE" => {
            let p = a.percentile.unwrap_or(50.0).clamp(0.0, 100.0) / 100.0;
            let rank = p * (n - 1.0);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "rank within len"
            )]
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - rank.floor())
        }
        _ => return None,
    })
}

/// The state names MLflow accepts; anything else is `STATE_UNSPECIFIED`, as MLflow reads it.
fn state_name(s: &str) -> &'static str {
    match s {
        "OK" => "OK",
        "ERROR" => "ERROR",
        "IN_PROGRESS" => "IN_PROGRESS",
        _ => "STATE_UNSPECIFIED",
    }
}

/// `<experiment artifact location>/traces/<trace id>/artifacts`.
fn artifact_location(experiment_location: &str, trace_id: &str) -> String {
    format!(
        "{}/traces/{trace_id}/artifacts",
        experiment_location.trim_end_matches('/')
    )
}

fn upsert(
    tx: &crate::db::Transaction<'_>,
    table: &str,
    id: &str,
    pairs: &BTreeMap<String, String>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO {table} (trace_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (trace_id, key) DO UPDATE SET value = excluded.value"
    ))?;
    for (k, v) in pairs {
        stmt.execute(params![id, k, v])?;
    }
    Ok(())
}

const ATTRIBUTES: &str = "'timestamp_ms', 'timestamp', 'execution_time_ms', 'execution_time', 'end_time_ms', 'end_time', 'status', 'request_id', 'client_request_id', 'name', 'run_id'";

fn trace_tag(key: &str) -> Field {
    Field::keyed(
        "FROM trace_tags g WHERE g.trace_id = t.trace_id AND g.key = ?",
        key,
        "g.value",
        Kind::Str,
        Cmp::TRACE_STRING_NULL,
    )
}

fn trace_metadata(key: &str) -> Field {
    Field::keyed(
        "FROM trace_metadata m WHERE m.trace_id = t.trace_id AND m.key = ?",
        key,
        "m.value",
        Kind::Str,
        Cmp::TRACE_STRING_NULL,
    )
}

/// What a trace identifier names over `traces t`: attributes (`timestamp_ms`, `status`,
/// `name` (the trace name tag), `run_id` (the source run metadata)...), `tags.KEY`,
/// `metadata.KEY` / `request_metadata.KEY`.
fn trace_field(ident: &Ident) -> Result<Field> {
    let key = ident.key.as_str();
    match ident.prefix.as_deref() {
        None | Some("trace" | "attribute" | "attributes") => Ok(match key {
            "timestamp_ms" | "timestamp" => {
                Field::column("t.request_time", Kind::NumOrQuoted, Cmp::NUMERIC)
            }
            "execution_time_ms" | "execution_time" => {
                Field::column("t.execution_duration", Kind::NumOrQuoted, Cmp::NUMERIC)
            }
            "end_time_ms" | "end_time" => Field::column(
                "(t.request_time + COALESCE(t.execution_duration, 0))",
                Kind::NumOrQuoted,
                Cmp::NUMERIC,
            ),
            "status" => Field::column("t.state", Kind::Str, Cmp::TRACE_STRING),
            "request_id" | "trace_id" => Field::column("t.trace_id", Kind::Str, Cmp::TRACE_STRING),
            "client_request_id" => {
                Field::column("t.client_request_id", Kind::Str, Cmp::TRACE_STRING)
            }
            "name" => trace_tag(TRACE_NAME_TAG),
            "run_id" => trace_metadata("mlflow.sourceRun"),
            other => {
                return Err(invalid(format!(
                    "Invalid attribute key '{other}' specified. Valid keys are '{{{ATTRIBUTES}}}'"
                )));
            }
        }),
        Some("tag" | "tags") => Ok(trace_tag(key)),
        Some("metadata" | "request_metadata") => Ok(trace_metadata(key)),
        Some(other) => Err(invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['attributes', 'tags', 'metadata']"
        ))),
    }
}

/// Trace `order_by` keys: the filter's, plus `experiment_id`.
fn trace_order_field(ident: &Ident) -> Result<Field> {
    match (ident.prefix.as_deref(), ident.key.as_str()) {
        (None | Some("trace" | "attribute" | "attributes"), "experiment_id") => {
            Ok(Field::column("t.experiment_id", Kind::Num, Cmp::NUMERIC))
        }
        _ => trace_field(ident),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::testing::fresh_store(dir.path()).unwrap();
        (dir, s)
    }

    fn trace(id: &str, exp: &str, at: i64, ms: i64, state: &str, name: &str) -> TraceInfo {
        TraceInfo {
            trace_id: id.into(),
            experiment_id: exp.into(),
            request_time: at,
            execution_duration: Some(ms),
            state: state.into(),
            tags: BTreeMap::from([(TRACE_NAME_TAG.into(), name.into())]),
            ..TraceInfo::default()
        }
    }

    #[test]
    fn traces_are_stored_searched_tagged_and_deleted() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("t", None, &[]).unwrap();
        let got = s
            .start_trace(&trace("tr-a", &exp, 1000, 5, "OK", "predict"))
            .unwrap();
        assert_eq!(
            got.tags[ARTIFACT_LOCATION_TAG],
            format!("mlflow-artifacts:/{exp}/traces/tr-a/artifacts")
        );
        assert_eq!(got.metadata["mlflow.trace.infoFinalized"], "true");
        s.start_trace(&trace("tr-b", &exp, 2000, 50, "ERROR", "train"))
            .unwrap();
        s.start_trace(&trace("tr-c", &exp, 3000, 500, "OK", "predict"))
            .unwrap();
        // The same id again merges.
        s.start_trace(&trace("tr-c", &exp, 3000, 600, "OK", "predict"))
            .unwrap();
        assert_eq!(
            s.get_trace_info("tr-c").unwrap().execution_duration,
            Some(600)
        );

        let ids = |s: &Store, f: &str, order: &[String]| -> Vec<String> {
            s.search_traces(&TraceSearch {
                experiment_ids: std::slice::from_ref(&exp),
                filter: Some(f),
                order_by: order,
                max_results: 100,
                offset: 0,
            })
            .unwrap()
            .0
            .into_iter()
            .map(|t| t.trace_id)
            .collect()
        };
        assert_eq!(ids(&s, "", &[]), ["tr-c", "tr-b", "tr-a"]);
        assert_eq!(ids(&s, "trace.status = 'OK'", &[]), ["tr-c", "tr-a"]);
        assert_eq!(
            ids(&s, "timestamp_ms > 1500 AND timestamp_ms < 2500", &[]),
            ["tr-b"]
        );
        assert_eq!(ids(&s, "trace.name = 'predict'", &[]), ["tr-c", "tr-a"]);
        assert_eq!(ids(&s, "tags.`mlflow.traceName` LIKE 'tr%'", &[]), ["tr-b"]);
        assert_eq!(
            ids(
                &s,
                "execution_time_ms >= 50",
                &["execution_time_ms ASC".into()]
            ),
            ["tr-b", "tr-c"]
        );
        assert_eq!(ids(&s, "status IN ('ERROR')", &[]), ["tr-b"]);
        assert!(
            s.search_traces(&TraceSearch {
                experiment_ids: std::slice::from_ref(&exp),
                filter: Some("trace.state = 'OK'"),
                max_results: 10,
                ..TraceSearch::default()
            })
            .unwrap_err()
            .to_string()
            .contains("Invalid attribute key 'state'")
        );

        s.set_trace_tag("tr-a", "k", "v").unwrap();
        assert_eq!(s.get_trace_info("tr-a").unwrap().tags["k"], "v");
        assert!(
            s.set_trace_tag("tr-a", "mlflow.trace.spansLocation", "x")
                .is_err()
        );
        s.delete_trace_tag("tr-a", "k").unwrap();
        assert!(matches!(
            s.delete_trace_tag("tr-a", "k"),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(
            s.delete_traces(&exp, None, None, &["tr-a".into(), "nope".into()])
                .unwrap(),
            1
        );
        assert_eq!(s.delete_traces(&exp, Some(2500), Some(10), &[]).unwrap(), 1);
        assert_eq!(ids(&s, "", &[]), ["tr-c"]);
        assert!(s.delete_traces(&exp, None, None, &[]).is_err());
    }

    #[test]
    fn v2_traces_start_in_progress_and_end_with_a_duration() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("v2", None, &[]).unwrap();
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        let t = s
            .start_trace_v2(
                &exp,
                1000,
                &[kv("mlflow.trace_schema.version", "2")],
                &[kv(TRACE_NAME_TAG, "x")],
            )
            .unwrap();
        assert_eq!(t.trace_id.len(), 32);
        assert_eq!(t.state, "IN_PROGRESS");
        assert_eq!(t.execution_duration, None);
        let done = s
            .end_trace_v2(
                &t.trace_id,
                1250,
                "OK",
                &[kv("mlflow.traceInputs", "{}")],
                &[],
            )
            .unwrap();
        assert_eq!(done.execution_duration, Some(250));
        assert_eq!(done.state, "OK");
        assert_eq!(done.metadata["mlflow.traceInputs"], "{}");
        assert_eq!(done.tags[TRACE_NAME_TAG], "x");
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "exact small integers")]
    fn metrics_count_and_aggregate_latency() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("m", None, &[]).unwrap();
        for (i, ms) in [10, 20, 30, 40].into_iter().enumerate() {
            let id = format!("tr-{i}");
            let state = if i == 3 { "ERROR" } else { "OK" };
            s.start_trace(&trace(
                &id,
                &exp,
                1000 + i64::try_from(i).unwrap(),
                ms,
                state,
                "p",
            ))
            .unwrap();
        }
        let exps = [exp];
        let count = s
            .trace_metrics(&MetricsQuery {
                experiment_ids: &exps,
                metric: "trace_count",
                aggregations: &[Aggregation {
                    kind: "COUNT".into(),
                    percentile: None,
                }],
                dimensions: &["trace_status".into()],
                ..MetricsQuery::default()
            })
            .unwrap();
        assert_eq!(count.len(), 2);
        assert_eq!(count[0].dimensions["trace_status"], "ERROR");
        assert_eq!(count[0].values["COUNT"], 1.0);
        assert_eq!(count[1].values["COUNT"], 3.0);
        let latency = s
            .trace_metrics(&MetricsQuery {
                experiment_ids: &exps,
                metric: "latency",
                aggregations: &[
                    Aggregation {
                        kind: "AVG".into(),
                        percentile: None,
                    },
                    Aggregation {
                        kind: "PERCENTILE".into(),
                        percentile: Some(50.0),
                    },
                ],
                interval_seconds: Some(86_400),
                ..MetricsQuery::default()
            })
            .unwrap();
        assert_eq!(latency.len(), 1);
        assert_eq!(latency[0].values["AVG"], 25.0);
        assert_eq!(latency[0].values["P50.0"], 25.0);
        assert_eq!(
            latency[0].dimensions["time_bucket"],
            "1970-01-01T00:00:00+00:00"
        );
    }
}
