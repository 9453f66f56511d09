//! What MLflow's search identifiers name for runs and experiments (the grammar itself is
//! [`crate::filter`]): `metrics.rmse < 0.5 and params.model = 'rf' and tags.`team` != 'x' and
//! attributes.status = 'FINISHED'`, `order_by` clauses such as `metrics.rmse ASC`, and
//! `name LIKE 'prod-%' and tags.owner IS NOT NULL` for experiments.

use crate::Result;
use crate::db::Dialect;
use crate::filter::{Cmp, Field, Ident, Kind, invalid};

/// MLflow's run attributes (`RunInfo`'s searchable attributes and their aliases).
const RUN_ATTRIBUTES: &str = "['artifact_uri', 'created', 'Created', 'end_time', 'run name', 'Run name', 'Run Name', 'run_id', 'run_name', 'start_time', 'status', 'user_id']";

/// Run `metrics.` / `params.` / `tags.` / `attributes.` / `datasets.` identifiers over `runs r`.
pub(crate) fn run_field(ident: &Ident, dialect: Dialect) -> Result<Field> {
    let key = ident.key.as_str();
    match ident.prefix.as_deref() {
        // The latest value of the metric (highest step, then timestamp, then value).
        Some("metric" | "metrics") => Ok(Field::keyed(
            "FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ?",
            key,
            "m.value",
            Kind::Num,
            Cmp::NUMERIC,
        )
        .with_nan("m.is_nan = 1")),
        Some("param" | "params" | "parameter" | "parameters") => Ok(Field::keyed(
            "FROM params p WHERE p.run_seq = r.seq AND p.key = ?",
            key,
            "p.value",
            Kind::Str,
            Cmp::STRING_NULL,
        )),
        Some("tag" | "tags") => Ok(Field::keyed(
            "FROM tags t WHERE t.run_seq = r.seq AND t.key = ?",
            key,
            "t.value",
            Kind::Str,
            Cmp::STRING_NULL,
        )),
        None | Some("attribute" | "attributes" | "attr" | "run") => {
            let (col, kind, cmps) = match key {
                "run_id" => ("r.run_uuid", Kind::Str, Cmp::STRING_LIST),
                "run_name" | "run name" | "Run name" | "Run Name" => {
                    ("r.run_name", Kind::Str, Cmp::STRING)
                }
                "status" => ("r.status", Kind::Str, Cmp::STRING),
                "user_id" => ("r.user_id", Kind::Str, Cmp::STRING),
                "artifact_uri" => ("r.artifact_uri", Kind::Str, Cmp::STRING),
                "start_time" | "created" | "Created" => ("r.start_time", Kind::Num, Cmp::NUMERIC),
                "end_time" => ("r.end_time", Kind::Num, Cmp::NUMERIC),
                other => {
                    return Err(invalid(format!(
                        "Invalid attribute key '{other}' specified. Valid keys are '{RUN_ATTRIBUTES}'"
                    )));
                }
            };
            Ok(Field::column(col, kind, cmps))
        }
        Some("dataset" | "datasets") => dataset_field(key, dialect),
        Some(other) => Err(invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        ))),
    }
}

/// The dataset inputs of a run (`datasets.name`, `datasets.digest`, `datasets.context`): a run
/// matches when any of its datasets does. The inputs are kept as the client sent them (JSON),
/// read with each engine's JSON functions.
fn dataset_field(key: &str, dialect: Dialect) -> Result<Field> {
    let value = match (key, dialect) {
        ("name" | "digest", Dialect::Sqlite) => format!("json_extract(i.body, '$.dataset.{key}')"),
        ("name" | "digest", Dialect::Postgres) => {
            format!("(CAST(i.body AS jsonb) -> 'dataset' ->> '{key}')")
        }
        ("context", Dialect::Sqlite) => "(SELECT json_extract(c.value, '$.value') FROM json_each(i.body, '$.tags') c WHERE json_extract(c.value, '$.key') = 'mlflow.data.context')".to_owned(),
        ("context", Dialect::Postgres) => "(SELECT c ->> 'value' FROM jsonb_array_elements(COALESCE(CAST(i.body AS jsonb) -> 'tags', CAST('[]' AS jsonb))) c WHERE c ->> 'key' = 'mlflow.data.context')".to_owned(),
        (other, _) => {
            return Err(invalid(format!(
                "Invalid dataset key '{other}' specified. Valid keys are 'name', 'digest' and 'context'"
            )));
        }
    };
    Ok(Field::rows(
        "FROM run_inputs i WHERE i.run_seq = r.seq AND i.kind = 'dataset'",
        Vec::new(),
        value,
        Kind::Str,
        Cmp::STRING_LIST,
    ))
}

/// Run `order_by` keys: the filter's (but not datasets, a run has several), plus
/// `experiment_id`.
pub(crate) fn run_order_field(ident: &Ident, dialect: Dialect) -> Result<Field> {
    match (ident.prefix.as_deref(), ident.key.as_str()) {
        (None | Some("attribute" | "attributes" | "attr" | "run"), "experiment_id") => {
            Ok(Field::column("r.experiment_id", Kind::Num, Cmp::NUMERIC))
        }
        (Some("dataset" | "datasets"), _) => Err(invalid(format!(
            "Invalid order_by key `{}`: runs cannot be ordered by their datasets",
            ident.label()
        ))),
        _ => run_field(ident, dialect),
    }
}

/// Experiment identifiers over `experiments e`: `name`, `creation_time`, `last_update_time`,
/// `tags.KEY` (also `IS NULL`, which MLflow's UI sends).
pub(crate) fn experiment_field(ident: &Ident) -> Result<Field> {
    let key = ident.key.as_str();
    match ident.prefix.as_deref() {
        Some("tag" | "tags") => Ok(Field::keyed(
            "FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ?",
            key,
            "t.value",
            Kind::Str,
            Cmp::STRING_NULL,
        )),
        None | Some("attribute" | "attributes" | "attr") => Ok(match key {
            "name" => Field::column("e.name", Kind::Str, Cmp::STRING),
            "experiment_id" => Field::column(
                "e.experiment_id",
                Kind::QuotedInt,
                &[Cmp::Eq, Cmp::Ne, Cmp::In, Cmp::NotIn],
            ),
            "creation_time" => Field::column("e.creation_time", Kind::Num, Cmp::NUMERIC),
            "last_update_time" => Field::column("e.last_update_time", Kind::Num, Cmp::NUMERIC),
            other => {
                return Err(invalid(format!(
                    "Invalid attribute key '{other}' specified. Valid keys are '['creation_time', 'experiment_id', 'last_update_time', 'name']'"
                )));
            }
        }),
        Some(other) => Err(invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['tag', 'attribute']"
        ))),
    }
}

/// Experiment `order_by` keys: `name`, `experiment_id`, `creation_time`, `last_update_time`.
pub(crate) fn experiment_order_field(ident: &Ident) -> Result<Field> {
    match (ident.prefix.as_deref(), ident.key.as_str()) {
        (None | Some("attribute" | "attributes" | "attr"), "experiment_id") => {
            Ok(Field::column("e.experiment_id", Kind::Num, Cmp::NUMERIC))
        }
        (None | Some("attribute" | "attributes" | "attr"), _) => experiment_field(ident),
        _ => Err(invalid(format!(
            "Invalid order_by entity `{}`; experiments are ordered by 'name', 'experiment_id', 'creation_time' or 'last_update_time'",
            ident.label()
        ))),
    }
}
