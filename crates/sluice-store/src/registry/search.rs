//! What MLflow's search identifiers name for registered models (`rm`), model versions (`mv`)
//! and logged models (`lm`); the grammar itself is [`crate::filter`].

use super::{PROMPT_TAG, canonical_logged_model_status};
use crate::Result;
use crate::db::{Dialect, Value};
use crate::filter::{Cmp, Comparison, Field, Ident, Kind, Literal, Rhs, invalid};

fn is_attribute(ident: &Ident) -> bool {
    matches!(
        ident.prefix.as_deref(),
        None | Some("attribute" | "attributes" | "attr")
    )
}

fn is_tag(ident: &Ident) -> bool {
    matches!(ident.prefix.as_deref(), Some("tag" | "tags"))
}

/// Whether a registry filter asks for prompts (``tags.`mlflow.prompt.is_prompt` = 'true'``).
/// Otherwise, as in MLflow, comparisons on that tag are dropped and prompts are left out: the
/// 3.x client adds ``tag.`mlflow.prompt.is_prompt` != 'true'`` to every search, which must still
/// match models without the tag.
fn queries_prompts(filter: &[Comparison]) -> bool {
    filter.iter().any(|c| {
        let Rhs::One(Literal::Str(v)) = &c.rhs else {
            return false;
        };
        is_tag(&c.ident)
            && c.ident.key == PROMPT_TAG
            && match c.cmp {
                Cmp::Eq => v.eq_ignore_ascii_case("true"),
                Cmp::Ne => v.eq_ignore_ascii_case("false"),
                _ => false,
            }
    })
}

/// A registry filter as SQL conditions and their arguments: the filter's comparisons (`field`
/// resolving its identifiers), and unless it asks for prompts, no prompt (`prompt_tags` is
/// `FROM <tag table> p WHERE <p is the entity's>`).
pub(super) fn registry_conditions(
    filter: Option<&str>,
    dialect: Dialect,
    field: fn(&Ident, bool) -> Result<Option<Field>>,
    prompt_tags: &str,
) -> Result<(Vec<String>, Vec<Value>)> {
    let filter = crate::filter::parse(filter.unwrap_or(""))?;
    let prompts = queries_prompts(&filter);
    let compiled = crate::filter::compile(&filter, dialect, |i| field(i, prompts))?;
    let mut conds = vec![compiled.sql];
    if !prompts {
        conds.push(format!(
            "NOT EXISTS (SELECT 1 {prompt_tags} AND p.key = '{PROMPT_TAG}' AND LOWER(p.value) = 'true')"
        ));
    }
    Ok((conds, compiled.args))
}

/// A comparison on the prompt tag that [`queries_prompts`] says to drop.
fn dropped_prompt_tag(ident: &Ident, prompts: bool) -> bool {
    !prompts && is_tag(ident) && ident.key == PROMPT_TAG
}

/// Registered models: `name` (also `IN`), `tags.KEY`.
pub(super) fn registered_model_field(ident: &Ident, prompts: bool) -> Result<Option<Field>> {
    if dropped_prompt_tag(ident, prompts) {
        return Ok(None);
    }
    if is_tag(ident) {
        return Ok(Some(Field::keyed(
            "FROM registered_model_tags t WHERE t.name = rm.name AND t.key = ?",
            &ident.key,
            "t.value",
            Kind::Str,
            Cmp::STRING,
        )));
    }
    if is_attribute(ident) && ident.key == "name" {
        return Ok(Some(Field::column("rm.name", Kind::Str, Cmp::STRING_LIST)));
    }
    Err(invalid(format!(
        "Invalid attribute name: {}. Registered models can be searched by `name` and `tags.<key>`.",
        ident.label()
    )))
}

/// Registered model `order_by` keys: `name`, `last_updated_timestamp` (or `timestamp`).
pub(super) fn registered_model_order(ident: &Ident) -> Result<Field> {
    let col = match ident.key.as_str() {
        "name" if is_attribute(ident) => "rm.name",
        "timestamp" | "last_updated_timestamp" if is_attribute(ident) => "rm.last_updated_time",
        _ => {
            return Err(invalid(format!(
                "Invalid order by key '{}' specified. Valid keys are 'name', 'last_updated_timestamp' and 'timestamp'.",
                ident.label()
            )));
        }
    };
    Ok(Field::column(col, Kind::Str, Cmp::STRING))
}

/// Model versions: `name` and `run_id` (also `IN`), `source_path`, `version_number`,
/// `tags.KEY`.
pub(super) fn model_version_field(ident: &Ident, prompts: bool) -> Result<Option<Field>> {
    if dropped_prompt_tag(ident, prompts) {
        return Ok(None);
    }
    if is_tag(ident) {
        return Ok(Some(Field::keyed(
            "FROM model_version_tags t WHERE t.name = mv.name AND t.version = mv.version AND t.key = ?",
            &ident.key,
            "t.value",
            Kind::Str,
            Cmp::STRING,
        )));
    }
    if !is_attribute(ident) {
        return Err(invalid(format!(
            "Invalid filter key {}: model versions can be searched by `name`, `run_id`, `source_path`, `version_number` and `tags.<key>`.",
            ident.label()
        )));
    }
    let field = match ident.key.as_str() {
        "name" => Field::column("mv.name", Kind::Str, Cmp::STRING_LIST),
        "run_id" => Field::column("mv.run_id", Kind::Str, Cmp::STRING_LIST),
        "source_path" | "source" => Field::column("mv.source", Kind::Str, Cmp::STRING),
        "version_number" | "version" => {
            Field::column("mv.version", Kind::NumOrQuoted, Cmp::NUMERIC)
        }
        other => {
            return Err(invalid(format!(
                "Invalid attribute name: {other}. Model versions can be searched by `name`, `run_id`, `source_path`, `version_number` and `tags.<key>`."
            )));
        }
    };
    Ok(Some(field))
}

/// Model version `order_by` keys.
pub(super) fn model_version_order(ident: &Ident) -> Result<Field> {
    let col = match ident.key.as_str() {
        "name" if is_attribute(ident) => "mv.name",
        "version_number" if is_attribute(ident) => "mv.version",
        "creation_timestamp" if is_attribute(ident) => "mv.creation_time",
        "last_updated_timestamp" if is_attribute(ident) => "mv.last_updated_time",
        _ => {
            return Err(invalid(format!(
                "Invalid order by key '{}' specified. Valid keys are 'name', 'version_number', 'creation_timestamp' and 'last_updated_timestamp'.",
                ident.label()
            )));
        }
    };
    Ok(Field::column(col, Kind::Str, Cmp::STRING))
}

/// The latest value (highest step, then timestamp) of the logged model metric named by the
/// next parameter; NULL for NaN. Models are sorted by it.
const LATEST_MODEL_METRIC: &str = "(SELECT CASE WHEN x.is_nan = 1 THEN NULL ELSE x.value END FROM logged_model_metrics x WHERE x.model_id = lm.model_id AND x.key = ? ORDER BY x.step DESC, x.timestamp DESC LIMIT 1)";

fn full_status(s: &str) -> String {
    canonical_logged_model_status(s).map_or_else(|_| s.to_owned(), str::to_owned)
}

/// Logged models: attributes `name`, `model_id`, `model_type`, `status`, `source_run_id`,
/// `creation_timestamp`, `last_updated_timestamp`; `metrics.KEY`, `params.KEY`, `tags.KEY`.
pub(super) fn logged_model_field(ident: &Ident) -> Result<Field> {
    let key = ident.key.as_str();
    match ident.prefix.as_deref() {
        // As in MLflow, a model matches when any value it logged for the metric does.
        Some("metric" | "metrics") => Ok(Field::keyed(
            "FROM logged_model_metrics x WHERE x.model_id = lm.model_id AND x.key = ?",
            key,
            "x.value",
            Kind::Num,
            Cmp::NUMERIC,
        )
        .with_nan("x.is_nan = 1")),
        Some("param" | "params") => Ok(Field::keyed(
            "FROM logged_model_params x WHERE x.model_id = lm.model_id AND x.key = ?",
            key,
            "x.value",
            Kind::Str,
            Cmp::STRING,
        )),
        Some("tag" | "tags") => Ok(Field::keyed(
            "FROM logged_model_tags x WHERE x.model_id = lm.model_id AND x.key = ?",
            key,
            "x.value",
            Kind::Str,
            Cmp::STRING,
        )),
        None | Some("attribute" | "attributes") => Ok(match key {
            "name" => Field::column("lm.name", Kind::Str, Cmp::STRING_LIST),
            "model_id" => Field::column("lm.model_id", Kind::Str, Cmp::STRING_LIST),
            "model_type" => Field::column("lm.model_type", Kind::Str, Cmp::STRING_LIST),
            // `status = 'READY'` means `LOGGED_MODEL_READY`.
            "status" => Field::column("lm.status", Kind::Str, Cmp::STRING_LIST).mapped(full_status),
            "source_run_id" => Field::column("lm.source_run_id", Kind::Str, Cmp::STRING_LIST),
            "creation_timestamp" | "creation_time" | "creation_timestamp_ms" => {
                Field::column("lm.creation_time", Kind::Num, Cmp::NUMERIC)
            }
            "last_updated_timestamp" | "last_updated_time" | "last_updated_timestamp_ms" => {
                Field::column("lm.last_updated_time", Kind::Num, Cmp::NUMERIC)
            }
            other => {
                return Err(invalid(format!(
                    "Invalid attribute name '{other}' for logged models. Valid attributes are name, model_id, model_type, status, source_run_id, creation_timestamp and last_updated_timestamp."
                )));
            }
        }),
        Some(other) => Err(invalid(format!(
            "Invalid entity type '{other}'. Valid values are ['attributes', 'metrics', 'params', 'tags']"
        ))),
    }
}

/// Logged model `order_by` fields: attributes, or `metrics.KEY` by its latest value.
pub(super) fn logged_model_order(ident: &Ident) -> Result<Field> {
    match ident.prefix.as_deref() {
        Some("metric" | "metrics") => Ok(Field {
            target: crate::filter::Target::Expr {
                sql: LATEST_MODEL_METRIC.into(),
                args: vec![crate::db::Value::Text(ident.key.clone())],
            },
            kind: Kind::Num,
            cmps: Cmp::NUMERIC,
            map: None,
            nan: None,
        }),
        None | Some("attribute" | "attributes") => logged_model_field(ident),
        Some(_) => Err(invalid(format!(
            "Invalid order by field name: {}. Only metrics are supported.",
            ident.label()
        ))),
    }
}
