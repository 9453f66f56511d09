//! What MLflow's search identifiers name for runs and experiments (the grammar itself is
//! [`crate::filter`]): `metrics.rmse < 0.5 and params.model = 'rf' and tags.`team` != 'x' and
//! attributes.status = 'FINISHED'`, `order_by` clauses such as `metrics.rmse ASC`, and
//! `name LIKE 'prod-%' and tags.owner IS NOT NULL` for experiments.

use crate::Result;
use crate::filter::{Cmp, Field, Ident, Kind, invalid};

/// MLflow's run attributes (`RunInfo`'s searchable attributes and their aliases).
const RUN_ATTRIBUTES: &str = "['artifact_uri', 'created', 'Created', 'end_time', 'run name', 'Run name', 'Run Name', 'run_id', 'run_name', 'start_time', 'status', 'user_id']";

/// Run `metrics.` / `params.` / `tags.` / `attributes.` identifiers over `runs r`.
pub(crate) fn run_field(ident: &Ident) -> Result<Field> {
    let key = ident.key.as_str();
    match ident.prefix.as_deref() {
        Some("metric" | "metrics") => Ok(Field::keyed(
            "FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ?",
            key,
            // A NaN compares with nothing and sorts as missing.
            "CASE WHEN m.is_nan = 1 THEN NULL ELSE m.value END",
            Kind::Num,
            Cmp::NUMERIC,
        )),
        Some("param" | "params" | "parameter" | "parameters") => Ok(Field::keyed(
            "FROM params p WHERE p.run_uuid = r.run_uuid AND p.key = ?",
            key,
            "p.value",
            Kind::Str,
            Cmp::STRING_NULL,
        )),
        Some("tag" | "tags") => Ok(Field::keyed(
            "FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ?",
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
        Some("dataset" | "datasets") => Err(invalid(format!(
            "Searching runs by `{}` is not supported by this server yet; filter on metrics, params, tags or attributes",
            ident.label()
        ))),
        Some(other) => Err(invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        ))),
    }
}

/// Run `order_by` keys: the filter's identifiers, plus `experiment_id`.
pub(crate) fn run_order_field(ident: &Ident) -> Result<Field> {
    match (ident.prefix.as_deref(), ident.key.as_str()) {
        (None | Some("attribute" | "attributes" | "attr" | "run"), "experiment_id") => {
            Ok(Field::column("r.experiment_id", Kind::Num, Cmp::NUMERIC))
        }
        _ => run_field(ident),
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
            "experiment_id" => {
                Field::column("CAST(e.experiment_id AS TEXT)", Kind::Str, Cmp::STRING_LIST)
            }
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
