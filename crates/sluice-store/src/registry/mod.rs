//! The MLflow model registry (registered models, versions, tags, aliases, stages) and MLflow 3
//! logged models, with MLflow's semantics: versions are numbered 1, 2, 3 … per model and never
//! reused, a version is immutable except its description, tags and stage, and every multi-row
//! change is one transaction.

mod search;

use crate::db::Value;
use crate::db::{OptionalExtension, Transaction, params};

use crate::tracking::{KeyValue, MAX_KEY, MAX_PARAM_VALUE, MAX_TAG_VALUE, new_id, now_ms};
use crate::{Result, Store, StoreError};

/// The stages a model version can be in, in MLflow's spelling.
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// Logged model statuses (MLflow's `LoggedModelStatus` enum names).
pub const LOGGED_MODEL_STATUSES: [&str; 3] = [
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
];

/// The tag that marks a registered model as a prompt (MLflow's prompt registry); searches leave
/// prompts out unless the filter asks for them.
const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";

#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    /// The newest version in each stage.
    pub latest_versions: Vec<ModelVersion>,
    pub tags: Vec<KeyValue>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub alias: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub user_id: String,
    pub current_stage: String,
    pub description: String,
    pub source: String,
    /// Where the artifacts are: `source` with `runs:/` and `models:/` URIs resolved.
    pub storage_location: String,
    pub run_id: String,
    pub run_link: String,
    pub status: String,
    pub model_id: Option<String>,
    pub tags: Vec<KeyValue>,
    /// Filled in only where MLflow lists them (get, get by alias, create, update, transition).
    pub aliases: Vec<String>,
}

/// What `create_model_version` needs.
#[derive(Debug, Clone, Default)]
pub struct NewModelVersion<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub run_id: Option<&'a str>,
    pub tags: &'a [KeyValue],
    pub run_link: Option<&'a str>,
    pub description: Option<&'a str>,
    pub model_id: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub artifact_uri: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub status: String,
    pub status_message: Option<String>,
    pub model_type: String,
    pub source_run_id: Option<String>,
    pub tags: Vec<KeyValue>,
    pub params: Vec<KeyValue>,
    pub metrics: Vec<ModelMetric>,
}

/// A metric logged to a run for a logged model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    pub model_id: String,
    pub run_id: String,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// What `create_logged_model` needs.
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel<'a> {
    pub experiment_id: &'a str,
    pub name: Option<&'a str>,
    pub source_run_id: Option<&'a str>,
    pub model_type: Option<&'a str>,
    pub tags: &'a [KeyValue],
    pub params: &'a [KeyValue],
}

/// One `order_by` entry of a logged-model search.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelOrder {
    pub field_name: String,
    pub ascending: bool,
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

fn not_found(what: crate::Entity, name: impl Into<String>) -> StoreError {
    StoreError::NotFound {
        what,
        name: name.into(),
    }
}

fn model_not_found(name: &str) -> StoreError {
    not_found(crate::Entity::RegisteredModel, name)
}

fn version_not_found(name: &str, version: i64) -> StoreError {
    not_found(
        crate::Entity::ModelVersion,
        format!("name={name}, version={version}"),
    )
}

fn is_conflict(e: &crate::db::DbError) -> bool {
    e.is_constraint_violation()
}

fn check_model_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(invalid("Registered model name cannot be empty."));
    }
    Ok(())
}

/// A version number as the REST API sends it: a string holding a positive integer.
/// A version number as the registry API takes it: a positive integer.
pub(crate) fn parse_version(version: &str) -> Result<i64> {
    version
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            invalid(format!(
                "Parameter 'version' must be an integer, got '{version}'."
            ))
        })
}

fn check_tag(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(invalid(format!(
            "invalid tag key '{key}': keys are 1 to {MAX_KEY} characters"
        )));
    }
    if value.len() > MAX_TAG_VALUE {
        return Err(invalid(format!(
            "tag value for key '{key}' is {} characters, over the limit of {MAX_TAG_VALUE}",
            value.len()
        )));
    }
    Ok(())
}

pub(crate) fn check_alias(alias: &str) -> Result<()> {
    if alias.is_empty() || alias.len() > 255 {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Aliases are 1 to 255 characters."
        )));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(invalid(
            "'latest' alias name (case insensitive) is reserved.",
        ));
    }
    if let Some(digits) = alias.strip_prefix(['v', 'V'])
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid(format!(
            "Version alias name '{alias}' is reserved."
        )));
    }
    if alias.contains(['/', ':', '@']) {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Aliases may not contain '/', ':' or '@'."
        )));
    }
    Ok(())
}

/// MLflow's canonical spelling of a stage, matched case-insensitively.
pub fn canonical_stage(stage: &str) -> Result<&'static str> {
    STAGES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(stage.trim()))
        .copied()
        .ok_or_else(|| {
            invalid(format!(
                "Invalid Model Version stage: {stage}. Value must be one of {}.",
                STAGES.join(", ")
            ))
        })
}

/// A logged model status, from its enum name, its short name or its number.
pub fn canonical_logged_model_status(status: &str) -> Result<&'static str> {
    let s = status.trim().to_ascii_uppercase();
    let found = match s.as_str() {
        "1" => Some(LOGGED_MODEL_STATUSES[0]),
        "2" => Some(LOGGED_MODEL_STATUSES[1]),
        "3" => Some(LOGGED_MODEL_STATUSES[2]),
        other => LOGGED_MODEL_STATUSES
            .iter()
            .find(|c| **c == other || c.strip_prefix("LOGGED_MODEL_") == Some(other))
            .copied(),
    };
    found.ok_or_else(|| {
        invalid(format!(
            "Invalid logged model status '{status}'. Value must be one of {}.",
            LOGGED_MODEL_STATUSES.join(", ")
        ))
    })
}

fn check_logged_model_name(name: &str) -> Result<()> {
    const BAD: [char; 6] = ['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(invalid(format!(
            "Invalid model name ('{name}') provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )));
    }
    Ok(())
}

fn kv_rows(
    conn: &crate::db::Conn,
    sql: &str,
    args: impl crate::db::Params,
) -> Result<Vec<KeyValue>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| {
        Ok(KeyValue {
            key: r.get(0)?,
            value: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const VERSION_COLUMNS: &str = "name, version, creation_time, last_updated_time, user_id, current_stage, description, source, storage_location, run_id, run_link, status, model_id";

fn version_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<ModelVersion> {
    Ok(ModelVersion {
        name: r.get(0)?,
        version: r.get::<_, i64>(1)?.to_string(),
        creation_timestamp: r.get(2)?,
        last_updated_timestamp: r.get(3)?,
        user_id: r.get(4)?,
        current_stage: r.get(5)?,
        description: r.get(6)?,
        source: r.get(7)?,
        storage_location: r.get(8)?,
        run_id: r.get(9)?,
        run_link: r.get(10)?,
        status: r.get(11)?,
        model_id: r.get(12)?,
        tags: Vec::new(),
        aliases: Vec::new(),
    })
}

const LOGGED_MODEL_COLUMNS: &str = "model_id, experiment_id, name, artifact_location, creation_time, last_updated_time, status, status_message, model_type, source_run_id";

fn logged_model_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<LoggedModel> {
    Ok(LoggedModel {
        model_id: r.get(0)?,
        experiment_id: r.get::<_, i64>(1)?.to_string(),
        name: r.get(2)?,
        artifact_uri: r.get(3)?,
        creation_timestamp_ms: r.get(4)?,
        last_updated_timestamp_ms: r.get(5)?,
        status: r.get(6)?,
        status_message: r.get(7)?,
        model_type: r.get(8)?,
        source_run_id: r.get(9)?,
        tags: Vec::new(),
        params: Vec::new(),
        metrics: Vec::new(),
    })
}

/// A model name for a logged model created without one.
fn new_model_name() -> String {
    format!("model-{:08x}", fastrand::u32(..))
}

impl Store {
    // ---- registered models ------------------------------------------------------------------

    pub(crate) fn create_registered_model(
        &mut self,
        name: &str,
        tags: &[KeyValue],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        check_model_name(name)?;
        for t in tags {
            check_tag(&t.key, &t.value)?;
        }
        let now = now_ms();
        let tx = self.conn.savepoint()?;
        match tx.execute(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?1, ?2, ?2, ?3)",
            params![name, now, description],
        ) {
            Err(e) if is_conflict(&e) => {
                return Err(StoreError::AlreadyExists {
                    what: crate::Entity::RegisteredModel,
                    name: name.to_owned(),
                });
            }
            other => {
                other?;
            }
        }
        for t in tags {
            tx.execute(
                "INSERT INTO model_tags (model_key, key, value) VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3) ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value",
                params![name, t.key, t.value],
            )?;
        }
        tx.commit()?;
        self.get_registered_model(name)
    }

    pub fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        check_model_name(name)?;
        let row = self
            .conn
            .query_row(
                "SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = ?1",
                [name],
                |r| {
                    Ok(RegisteredModel {
                        name: r.get(0)?,
                        creation_timestamp: r.get(1)?,
                        last_updated_timestamp: r.get(2)?,
                        description: r.get(3)?,
                        latest_versions: Vec::new(),
                        tags: Vec::new(),
                        aliases: Vec::new(),
                    })
                },
            )
            .optional()?;
        let mut model = row.ok_or_else(|| model_not_found(name))?;
        model.tags = kv_rows(
            &self.conn,
            "SELECT key, value FROM registered_model_tags WHERE name = ?1 ORDER BY key",
            [name],
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ?1 ORDER BY alias",
        )?;
        model.aliases = stmt
            .query_map([name], |r| {
                Ok(Alias {
                    alias: r.get(0)?,
                    version: r.get::<_, i64>(1)?.to_string(),
                })
            })?
            .collect::<Result<_, _>>()?;
        model.latest_versions = self.latest_versions(name)?;
        Ok(model)
    }

    /// The newest version in each stage, in the order MLflow lists them (each stage where its
    /// first version appears).
    fn latest_versions(&self, name: &str) -> Result<Vec<ModelVersion>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ?1 ORDER BY version"
        ))?;
        let mut latest: Vec<ModelVersion> = Vec::new();
        for v in stmt.query_map([name], version_from_row)? {
            let v = v?;
            match latest
                .iter_mut()
                .find(|l| l.current_stage == v.current_stage)
            {
                Some(slot) => *slot = v,
                None => latest.push(v),
            }
        }
        for v in &mut latest {
            self.fill_version_tags(v)?;
        }
        Ok(latest)
    }

    pub(crate) fn rename_registered_model(
        &mut self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        check_model_name(name)?;
        check_model_name(new_name)?;
        let now = now_ms();
        let tx = self.conn.savepoint()?;
        // The versions, their tags and aliases name the model by its key: they follow.
        let changed = match tx.execute(
            "UPDATE registered_models SET name = ?2, last_updated_time = ?3 WHERE name = ?1",
            params![name, new_name, now],
        ) {
            Err(e) if is_conflict(&e) => {
                return Err(StoreError::AlreadyExists {
                    what: crate::Entity::RegisteredModel,
                    name: new_name.to_owned(),
                });
            }
            other => other?,
        };
        if changed == 0 {
            return Err(model_not_found(name));
        }
        tx.execute(
            "UPDATE versions SET last_updated_time = ?2 WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1)",
            params![new_name, now],
        )?;
        tx.commit()?;
        self.get_registered_model(new_name)
    }

    pub(crate) fn update_registered_model(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        check_model_name(name)?;
        let changed = self.conn.execute(
            "UPDATE registered_models SET description = ?2, last_updated_time = ?3 WHERE name = ?1",
            params![name, description, now_ms()],
        )?;
        if changed == 0 {
            return Err(model_not_found(name));
        }
        self.get_registered_model(name)
    }

    /// Deletes a registered model with its versions, tags and aliases, all at once.
    pub(crate) fn delete_registered_model(&mut self, name: &str) -> Result<()> {
        check_model_name(name)?;
        let tx = self.conn.savepoint()?;
        for sql in [
            "DELETE FROM model_aliases WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1)",
            "DELETE FROM version_tags WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1)",
            "DELETE FROM versions WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1)",
            "DELETE FROM model_tags WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1)",
        ] {
            tx.execute(sql, [name])?;
        }
        if tx.execute("DELETE FROM registered_models WHERE name = ?1", [name])? == 0 {
            return Err(model_not_found(name));
        }
        tx.commit()?;
        Ok(())
    }

    /// Registered models matching `filter` (`name = 'x'`, `name LIKE '%x%'`, `ILIKE`, `!=`,
    /// `tags.k = 'v'`), ordered by `order_by` (`name`, `last_updated_timestamp`/`timestamp`, then
    /// name), paged by offset.
    pub fn search_registered_models(
        &self,
        filter: Option<&str>,
        order_by: &[String],
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<RegisteredModel>, Option<usize>)> {
        let (conds, mut args) = search::registry_conditions(
            filter,
            self.conn.dialect(),
            search::registered_model_field,
            "FROM registered_model_tags p WHERE p.name = rm.name",
        )?;
        let orders = crate::filter::compile_order(
            &crate::filter::parse_orders(order_by)?,
            search::registered_model_order,
        )?;
        let mut order: Vec<String> = orders.iter().map(|o| o.plain(&mut args)).collect();
        if !orders.iter().any(|o| o.sql == "rm.name") {
            order.push("rm.name ASC".into());
        }
        let sql = format!(
            "SELECT rm.name FROM registered_models rm WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
            conds.join(" AND "),
            order.join(", "),
            max_results + 1,
            offset
        );
        let (names, next): (Vec<String>, _) =
            self.query_page(&sql, &args, max_results, offset, |r| r.get(0))?;
        let models = names
            .iter()
            .map(|n| self.get_registered_model(n))
            .collect::<Result<Vec<_>>>()?;
        Ok((models, next))
    }

    /// The newest version in each of `stages` (every stage when empty), with their aliases.
    pub fn get_latest_versions(&self, name: &str, stages: &[String]) -> Result<Vec<ModelVersion>> {
        let wanted = stages
            .iter()
            .map(|s| canonical_stage(s))
            .collect::<Result<Vec<_>>>()?;
        let model = self.get_registered_model(name)?;
        let mut out: Vec<ModelVersion> = model
            .latest_versions
            .into_iter()
            .filter(|v| wanted.is_empty() || wanted.contains(&v.current_stage.as_str()))
            .collect();
        for v in &mut out {
            self.fill_version_aliases(v)?;
        }
        Ok(out)
    }

    fn require_registered_model(&self, name: &str) -> Result<()> {
        check_model_name(name)?;
        let exists = self
            .conn
            .query_row(
                "SELECT 1 FROM registered_models WHERE name = ?1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            Ok(())
        } else {
            Err(model_not_found(name))
        }
    }

    pub(crate) fn set_registered_model_tag(
        &self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        check_tag(key, value)?;
        self.require_registered_model(name)?;
        self.conn.execute(
            "INSERT INTO model_tags (model_key, key, value) VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3) ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value",
            params![name, key, value],
        )?;
        Ok(())
    }

    /// Deletes a tag; deleting a tag the model does not have is not an error (as in MLflow).
    pub(crate) fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        self.require_registered_model(name)?;
        self.conn.execute(
            "DELETE FROM model_tags WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND key = ?2",
            params![name, key],
        )?;
        Ok(())
    }

    // ---- aliases ----------------------------------------------------------------------------

    /// Points `alias` at a version (moving it if it pointed elsewhere).
    pub(crate) fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        check_model_name(name)?;
        check_alias(alias)?;
        let v = parse_version(version)?;
        self.version_row(name, v)?;
        self.conn.execute(
            "INSERT INTO model_aliases (model_key, alias, version) VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3) ON CONFLICT (model_key, alias) DO UPDATE SET version = excluded.version",
            params![name, alias, v],
        )?;
        Ok(())
    }

    /// Deletes an alias; deleting one the model does not have is not an error (as in MLflow).
    pub(crate) fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        check_alias(alias)?;
        self.require_registered_model(name)?;
        self.conn.execute(
            "DELETE FROM model_aliases WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND alias = ?2",
            params![name, alias],
        )?;
        Ok(())
    }

    pub fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        check_model_name(name)?;
        check_alias(alias)?;
        let version: Option<i64> = self
            .conn
            .query_row(
                "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                params![name, alias],
                |r| r.get(0),
            )
            .optional()?;
        let version = version.ok_or_else(|| not_found(crate::Entity::Alias, alias))?;
        let mut v = self.version_row(name, version)?;
        self.fill_version_aliases(&mut v)?;
        Ok(v)
    }

    // ---- model versions ---------------------------------------------------------------------

    fn version_row(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let mut v = self
            .conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ?1 AND version = ?2"
                ),
                params![name, version],
                version_from_row,
            )
            .optional()?
            .ok_or_else(|| version_not_found(name, version))?;
        self.fill_version_tags(&mut v)?;
        Ok(v)
    }

    fn fill_version_tags(&self, v: &mut ModelVersion) -> Result<()> {
        v.tags = kv_rows(
            &self.conn,
            "SELECT key, value FROM model_version_tags WHERE name = ?1 AND version = ?2 ORDER BY key",
            params![v.name, v.version.parse::<i64>().unwrap_or_default()],
        )?;
        Ok(())
    }

    fn fill_version_aliases(&self, v: &mut ModelVersion) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT alias FROM registered_model_aliases WHERE name = ?1 AND version = ?2 ORDER BY alias",
        )?;
        v.aliases = stmt
            .query_map(
                params![v.name, v.version.parse::<i64>().unwrap_or_default()],
                |r| r.get(0),
            )?
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// Registers a new version of `new.name`, numbered one past the highest version it ever had.
    ///
    /// `source` is resolved to where the artifacts are: `models:/m-…` (or a `model_id`) to the
    /// logged model's artifact location (and the run to its source run), `models:/NAME/VERSION`
    /// and `models:/NAME@ALIAS` to that version's location, `runs:/RUN/PATH` to the run's
    /// artifact URI joined with the path; anything else is used as is.
    pub(crate) fn create_model_version(
        &mut self,
        new: &NewModelVersion<'_>,
    ) -> Result<ModelVersion> {
        check_model_name(new.name)?;
        if new.source.trim().is_empty() {
            return Err(invalid("Model version source cannot be empty."));
        }
        for t in new.tags {
            check_tag(&t.key, &t.value)?;
        }
        let now = now_ms();
        let tx = self.conn.savepoint()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_version FROM registered_models WHERE name = ?1",
                [new.name],
                |r| r.get(0),
            )
            .optional()?;
        let last = last.ok_or_else(|| model_not_found(new.name))?;
        let (storage_location, source_run_id, model_id) = resolve_source(&tx, new)?;
        let run_id = new
            .run_id
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .or(source_run_id)
            .unwrap_or_default();
        let version = last + 1;
        tx.execute(
            "UPDATE registered_models SET last_version = ?2, last_updated_time = ?3 WHERE name = ?1",
            params![new.name, version, now],
        )?;
        tx.execute(
            "INSERT INTO versions (model_key, version, creation_time, last_updated_time, description, source,
                storage_location, run_id, run_link, model_id)
             VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.name,
                version,
                now,
                new.description.unwrap_or_default(),
                new.source,
                storage_location,
                run_id,
                new.run_link.unwrap_or_default(),
                model_id
            ],
        )?;
        for t in new.tags {
            tx.execute(
                "INSERT INTO version_tags (model_key, version, key, value) VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3, ?4) ON CONFLICT (model_key, version, key) DO UPDATE SET value = excluded.value",
                params![new.name, version, t.key, t.value],
            )?;
        }
        tx.commit()?;
        self.get_model_version(new.name, &version.to_string())
    }

    /// The highest version of a registered model (`azureml:NAME@latest`), if it has any.
    pub fn latest_model_version(&self, name: &str) -> Result<Option<ModelVersion>> {
        let max: Option<i64> = self.conn.query_row(
            "SELECT MAX(version) FROM model_versions WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        max.map(|v| self.get_model_version(name, &v.to_string()))
            .transpose()
    }

    /// A version with its tags and aliases.
    pub fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        check_model_name(name)?;
        let mut v = self.version_row(name, parse_version(version)?)?;
        self.fill_version_aliases(&mut v)?;
        Ok(v)
    }

    /// Changes a version's description (the only field besides tags and stage that may change).
    pub(crate) fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        check_model_name(name)?;
        let v = parse_version(version)?;
        let changed = self.conn.execute(
            "UPDATE versions SET description = ?3, last_updated_time = ?4 WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
            params![name, v, description.unwrap_or_default(), now_ms()],
        )?;
        if changed == 0 {
            return Err(version_not_found(name, v));
        }
        self.get_model_version(name, version)
    }

    /// Deletes a version with its tags and the aliases that point at it, all at once.
    pub(crate) fn delete_model_version(&mut self, name: &str, version: &str) -> Result<()> {
        check_model_name(name)?;
        let v = parse_version(version)?;
        let tx = self.conn.savepoint()?;
        tx.execute(
            "DELETE FROM model_aliases WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
            params![name, v],
        )?;
        tx.execute(
            "DELETE FROM version_tags WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
            params![name, v],
        )?;
        if tx.execute(
            "DELETE FROM versions WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
            params![name, v],
        )? == 0
        {
            return Err(version_not_found(name, v));
        }
        tx.execute(
            "UPDATE registered_models SET last_updated_time = ?2 WHERE name = ?1",
            params![name, now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Moves a version to `stage`; with `archive_existing`, the other versions in that stage
    /// (Staging or Production only) move to Archived in the same transaction.
    pub(crate) fn transition_model_version_stage(
        &mut self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        check_model_name(name)?;
        let v = parse_version(version)?;
        let stage = canonical_stage(stage)?;
        if archive_existing && !matches!(stage, "Staging" | "Production") {
            return Err(invalid(format!(
                "Model version transition cannot archive existing model versions because '{stage}' is not an Active stage. Valid stages are Staging, Production"
            )));
        }
        let now = now_ms();
        let tx = self.conn.savepoint()?;
        if tx.execute(
            "UPDATE versions SET current_stage = ?3, last_updated_time = ?4 WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
            params![name, v, stage, now],
        )? == 0
        {
            return Err(version_not_found(name, v));
        }
        if archive_existing {
            tx.execute(
                "UPDATE versions SET current_stage = 'Archived', last_updated_time = ?4
                 WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version != ?2 AND current_stage = ?3",
                params![name, v, stage, now],
            )?;
        }
        tx.execute(
            "UPDATE registered_models SET last_updated_time = ?2 WHERE name = ?1",
            params![name, now],
        )?;
        tx.commit()?;
        self.get_model_version(name, version)
    }

    /// Where a version's artifacts can be downloaded from.
    pub fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        check_model_name(name)?;
        let v = self.version_row(name, parse_version(version)?)?;
        Ok(v.storage_location)
    }

    /// Model versions matching `filter` (`name`, `run_id` (also `IN (…)`), `source_path`,
    /// `version_number`, `tags.k`), ordered by `order_by` (`name`, `version_number`,
    /// `creation_timestamp`, `last_updated_timestamp`; by default newest update first), paged
    /// by offset.
    pub fn search_model_versions(
        &self,
        filter: Option<&str>,
        order_by: &[String],
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<ModelVersion>, Option<usize>)> {
        let (conds, mut args) = search::registry_conditions(
            filter,
            self.conn.dialect(),
            search::model_version_field,
            "FROM model_version_tags p WHERE p.name = mv.name AND p.version = mv.version",
        )?;
        let defaults = [
            "last_updated_timestamp DESC".to_owned(),
            "name ASC".to_owned(),
            "version_number DESC".to_owned(),
        ];
        let given = crate::filter::parse_orders(order_by)?;
        let keys = if given.is_empty() {
            crate::filter::parse_orders(&defaults)?
        } else {
            given
        };
        let orders = crate::filter::compile_order(&keys, search::model_version_order)?;
        let mut order: Vec<String> = orders.iter().map(|o| o.plain(&mut args)).collect();
        for (col, tie) in [
            ("mv.name", "mv.name ASC"),
            ("mv.version", "mv.version DESC"),
        ] {
            if !orders.iter().any(|o| o.sql == col) {
                order.push(tie.into());
            }
        }
        let sql = crate::page_query(
            VERSION_COLUMNS,
            "model_versions",
            "mv",
            &conds,
            &order,
            max_results,
            offset,
        );
        let (mut versions, next) =
            self.query_page(&sql, &args, max_results, offset, version_from_row)?;
        for v in &mut versions {
            self.fill_version_tags(v)?;
        }
        Ok((versions, next))
    }

    pub(crate) fn set_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        check_model_name(name)?;
        check_tag(key, value)?;
        let v = parse_version(version)?;
        self.version_row(name, v)?;
        self.conn.execute(
            "INSERT INTO version_tags (model_key, version, key, value) VALUES ((SELECT model_key FROM registered_models WHERE name = ?1), ?2, ?3, ?4) ON CONFLICT (model_key, version, key) DO UPDATE SET value = excluded.value",
            params![name, v, key, value],
        )?;
        Ok(())
    }

    /// Deletes a tag; deleting a tag the version does not have is not an error (as in MLflow).
    pub(crate) fn delete_model_version_tag(
        &self,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<()> {
        check_model_name(name)?;
        let v = parse_version(version)?;
        self.version_row(name, v)?;
        self.conn.execute(
            "DELETE FROM version_tags WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2 AND key = ?3",
            params![name, v, key],
        )?;
        Ok(())
    }

    // ---- logged models (MLflow 3) -----------------------------------------------------------

    /// Creates a logged model in `LOGGED_MODEL_PENDING` with its artifacts under the
    /// experiment's location: `{artifact_location}/models/{model_id}/artifacts`.
    pub fn create_logged_model(&mut self, new: &NewLoggedModel<'_>) -> Result<LoggedModel> {
        if let Some(name) = new.name {
            check_logged_model_name(name)?;
        }
        for t in new.tags {
            check_tag(&t.key, &t.value)?;
        }
        check_params(new.params)?;
        let exp = self.get_experiment(new.experiment_id)?;
        if exp.lifecycle_stage != "active" {
            return Err(invalid(format!(
                "The experiment {} must be in the 'active' state. Current state is {}.",
                exp.experiment_id, exp.lifecycle_stage
            )));
        }
        let model_id = format!("m-{}", new_id());
        let artifact_location = format!(
            "{}/models/{model_id}/artifacts",
            exp.artifact_location.trim_end_matches('/')
        );
        let name = new.name.map_or_else(new_model_name, str::to_owned);
        let now = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time,
                last_updated_time, status, model_type, source_run_id, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8,
                (SELECT COALESCE(MAX(seq), 0) + 1 FROM logged_models))",
            params![
                model_id,
                exp.experiment_id.parse::<i64>().unwrap_or_default(),
                name,
                artifact_location,
                now,
                LOGGED_MODEL_STATUSES[0],
                new.model_type.unwrap_or_default(),
                new.source_run_id.filter(|r| !r.is_empty())
            ],
        )?;
        insert_model_kvs(&tx, "logged_model_tags", &model_id, new.tags)?;
        insert_model_kvs(&tx, "logged_model_params", &model_id, new.params)?;
        tx.commit()?;
        self.get_logged_model(&model_id)
    }

    /// A logged model that is not deleted, with its tags, params and metrics.
    pub fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        let mut m = self
            .conn
            .query_row(
                &format!(
                    "SELECT {LOGGED_MODEL_COLUMNS} FROM logged_models WHERE model_id = ?1 AND lifecycle_stage = 'active'"
                ),
                [model_id],
                logged_model_from_row,
            )
            .optional()?
            .ok_or_else(|| not_found(crate::Entity::LoggedModel, model_id))?;
        self.fill_logged_model(&mut m)?;
        Ok(m)
    }

    fn fill_logged_model(&self, m: &mut LoggedModel) -> Result<()> {
        m.tags = kv_rows(
            &self.conn,
            "SELECT key, value FROM logged_model_tags WHERE model_id = ?1 ORDER BY key",
            [&m.model_id],
        )?;
        m.params = kv_rows(
            &self.conn,
            "SELECT key, value FROM logged_model_params WHERE model_id = ?1 ORDER BY key",
            [&m.model_id],
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value, timestamp, step, is_nan, run_id, dataset_name, dataset_digest
             FROM logged_model_metrics WHERE model_id = ?1 ORDER BY rowid",
        )?;
        m.metrics = stmt
            .query_map([&m.model_id], |r| {
                let is_nan: bool = r.get(4)?;
                Ok(ModelMetric {
                    key: r.get(0)?,
                    value: if is_nan { f64::NAN } else { r.get(1)? },
                    timestamp: r.get(2)?,
                    step: r.get(3)?,
                    model_id: m.model_id.clone(),
                    run_id: r.get(5)?,
                    dataset_name: r.get(6)?,
                    dataset_digest: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn require_logged_model(&self, model_id: &str) -> Result<()> {
        let exists = self
            .conn
            .query_row(
                "SELECT 1 FROM logged_models WHERE model_id = ?1 AND lifecycle_stage = 'active'",
                [model_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            Ok(())
        } else {
            Err(not_found(crate::Entity::LoggedModel, model_id))
        }
    }

    /// Sets a logged model's status (`LOGGED_MODEL_READY` once its artifacts are uploaded).
    pub fn finalize_logged_model(&self, model_id: &str, status: &str) -> Result<LoggedModel> {
        let status = canonical_logged_model_status(status)?;
        let changed = self.conn.execute(
            "UPDATE logged_models SET status = ?2, last_updated_time = ?3 WHERE model_id = ?1 AND lifecycle_stage = 'active'",
            params![model_id, status, now_ms()],
        )?;
        if changed == 0 {
            return Err(not_found(crate::Entity::LoggedModel, model_id));
        }
        self.get_logged_model(model_id)
    }

    /// Marks a logged model deleted (as MLflow does): it is no longer found or listed.
    pub fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let changed = self.conn.execute(
            "UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = ?2 WHERE model_id = ?1 AND lifecycle_stage = 'active'",
            params![model_id, now_ms()],
        )?;
        if changed == 0 {
            return Err(not_found(crate::Entity::LoggedModel, model_id));
        }
        Ok(())
    }

    pub fn set_logged_model_tags(&mut self, model_id: &str, tags: &[KeyValue]) -> Result<()> {
        for t in tags {
            check_tag(&t.key, &t.value)?;
        }
        self.require_logged_model(model_id)?;
        let tx = self.conn.transaction()?;
        insert_model_kvs(&tx, "logged_model_tags", model_id, tags)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a tag of a logged model: `NotFound { what: "logged model tag", name: key }`
    /// when the model does not have it.
    pub fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        self.require_logged_model(model_id)?;
        let n = self.conn.execute(
            "DELETE FROM logged_model_tags WHERE model_id = ?1 AND key = ?2",
            params![model_id, key],
        )?;
        if n == 0 {
            return Err(not_found(crate::Entity::LoggedModelTag, key));
        }
        Ok(())
    }

    pub fn log_logged_model_params(&mut self, model_id: &str, params: &[KeyValue]) -> Result<()> {
        check_params(params)?;
        self.require_logged_model(model_id)?;
        let tx = self.conn.transaction()?;
        insert_model_kvs(&tx, "logged_model_params", model_id, params)?;
        tx.commit()?;
        Ok(())
    }

    /// Logged models of the given experiments matching `filter` (attributes `name`,
    /// `model_id`, `model_type`, `status`, `source_run_id`, `creation_timestamp`,
    /// `last_updated_timestamp`; `metrics.k`, `params.k`, `tags.k`), ordered by `order_by`
    /// (newest first by default), paged by offset.
    pub fn search_logged_models(
        &self,
        experiment_ids: &[String],
        filter: Option<&str>,
        order_by: &[LoggedModelOrder],
        max_results: usize,
        offset: usize,
    ) -> Result<(Vec<LoggedModel>, Option<usize>)> {
        let ids = experiment_ids
            .iter()
            .map(|e| {
                e.trim()
                    .parse::<i64>()
                    .map_err(|_| invalid(format!("Invalid experiment ID '{e}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            return Err(invalid(
                "At least one experiment ID is required to search logged models.",
            ));
        }
        let mut args: Vec<Value> = ids.iter().map(|i| Value::Integer(*i)).collect();
        let mut conds = vec![
            format!("lm.experiment_id IN ({})", vec!["?"; ids.len()].join(", ")),
            "lm.lifecycle_stage = 'active'".to_owned(),
        ];
        let filter = crate::filter::parse(filter.unwrap_or(""))?;
        let compiled = crate::filter::compile(&filter, self.conn.dialect(), |i| {
            search::logged_model_field(i).map(Some)
        })?;
        conds.push(compiled.sql);
        args.extend(compiled.args);
        let mut order = Vec::new();
        for o in order_by {
            let keys = [crate::filter::OrderKey {
                ident: crate::filter::Ident::parse(&o.field_name),
                ascending: o.ascending,
            }];
            let compiled = crate::filter::compile_order(&keys, search::logged_model_order)?;
            // Models without the value sort last either way.
            order.push(compiled[0].nulls_last(&mut args));
        }
        order.push("lm.creation_time DESC".into());
        order.push("lm.seq DESC".into());
        let sql = crate::page_query(
            LOGGED_MODEL_COLUMNS,
            "logged_models",
            "lm",
            &conds,
            &order,
            max_results,
            offset,
        );
        let (mut models, next) =
            self.query_page(&sql, &args, max_results, offset, logged_model_from_row)?;
        for m in &mut models {
            self.fill_logged_model(m)?;
        }
        Ok((models, next))
    }
}

fn check_params(params: &[KeyValue]) -> Result<()> {
    for p in params {
        if p.key.is_empty() || p.key.len() > MAX_KEY {
            return Err(invalid(format!(
                "invalid param key '{}': keys are 1 to {MAX_KEY} characters",
                p.key
            )));
        }
        if p.value.len() > MAX_PARAM_VALUE {
            return Err(invalid(format!(
                "param value for key '{}' is {} characters, over the limit of {MAX_PARAM_VALUE}",
                p.key,
                p.value.len()
            )));
        }
    }
    Ok(())
}

/// Upserts tags or params of a logged model (`table` is one of ours, never user input).
fn insert_model_kvs(
    tx: &Transaction<'_>,
    table: &str,
    model_id: &str,
    kvs: &[KeyValue],
) -> Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO {table} (model_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value"
    ))?;
    for kv in kvs {
        stmt.execute(params![model_id, kv.key, kv.value])?;
    }
    Ok(())
}

/// Resolves a new version's source: (storage location, the logged model's source run, model id).
fn resolve_source(
    tx: &crate::db::Conn,
    new: &NewModelVersion<'_>,
) -> Result<(String, Option<String>, Option<String>)> {
    let source = new.source.trim();
    let model_path = source.strip_prefix("models:/").map(|p| p.trim_matches('/'));
    let uri_model_id = model_path.filter(|p| p.starts_with("m-") && !p.contains('/'));
    let model_id = new.model_id.filter(|m| !m.is_empty()).or(uri_model_id);
    let mut run_id = None;
    let mut storage = None;
    if let Some(id) = model_id {
        let found: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT artifact_location, source_run_id FROM logged_models WHERE model_id = ?1 AND lifecycle_stage = 'active'",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (location, source_run) =
            found.ok_or_else(|| not_found(crate::Entity::LoggedModel, id))?;
        run_id = source_run;
        if uri_model_id.is_some() {
            storage = Some(location);
        }
    }
    let storage = match (storage, model_path) {
        (Some(s), _) => s,
        (None, Some(path)) if uri_model_id.is_none() => registered_source(tx, path)?,
        _ => match source.strip_prefix("runs:/") {
            Some(rest) => {
                let (run, sub) = rest.split_once('/').unwrap_or((rest, ""));
                let uri: Option<String> = tx
                    .query_row(
                        "SELECT artifact_uri FROM runs WHERE run_uuid = ?1",
                        [run],
                        |r| r.get(0),
                    )
                    .optional()?;
                let uri = uri.ok_or_else(|| not_found(crate::Entity::Run, run))?;
                let sub = sub.trim_matches('/');
                if sub.is_empty() {
                    uri
                } else {
                    format!("{}/{sub}", uri.trim_end_matches('/'))
                }
            }
            None => source.to_owned(),
        },
    };
    Ok((storage, run_id, model_id.map(str::to_owned)))
}

/// The storage location of the version a `models:/NAME/VERSION`, `models:/NAME/STAGE`,
/// `models:/NAME/latest` or `models:/NAME@ALIAS` URI names.
fn registered_source(tx: &crate::db::Conn, path: &str) -> Result<String> {
    let bad = || {
        invalid(format!(
            "Invalid model URI 'models:/{path}': expected models:/NAME/VERSION, models:/NAME@ALIAS or models:/MODEL_ID"
        ))
    };
    let (sql, name, arg): (&str, &str, Value) = if let Some((name, alias)) = path.split_once('@') {
        (
            "SELECT v.storage_location FROM model_versions v JOIN registered_model_aliases a
               ON a.name = v.name AND a.version = v.version WHERE a.name = ?1 AND a.alias = ?2",
            name,
            Value::Text(alias.to_owned()),
        )
    } else {
        let (name, which) = path.rsplit_once('/').ok_or_else(bad)?;
        if let Ok(v) = which.parse::<i64>() {
            (
                "SELECT storage_location FROM model_versions WHERE name = ?1 AND version = ?2",
                name,
                Value::Integer(v),
            )
        } else if which.eq_ignore_ascii_case("latest") {
            (
                "SELECT storage_location FROM model_versions WHERE name = ?1 AND CAST(?2 AS TEXT) IS NULL ORDER BY version DESC LIMIT 1",
                name,
                Value::Null,
            )
        } else {
            (
                "SELECT storage_location FROM model_versions WHERE name = ?1 AND current_stage = ?2 ORDER BY version DESC LIMIT 1",
                name,
                Value::Text(canonical_stage(which)?.to_owned()),
            )
        }
    };
    tx.query_row(sql, params![name, arg], |r| r.get(0))
        .optional()?
        .ok_or_else(|| not_found(crate::Entity::ModelVersion, format!("models:/{path}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::Metric;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::fresh_store(dir.path()).unwrap();
        (dir, store)
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: v.into(),
        }
    }

    fn version<'a>(name: &'a str, source: &'a str) -> NewModelVersion<'a> {
        NewModelVersion {
            name,
            source,
            ..NewModelVersion::default()
        }
    }

    /// Several processes (here: connections on threads) registering versions of one model at
    /// once get unique, gap-free numbers: 8 writers x 100 registrations are versions 1..=800.
    #[test]
    fn concurrent_registrations_get_unique_gap_free_versions() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let owner = crate::governance::Actor::new("admin", crate::governance::Role::Owner);
        Store::open_at(&location)
            .unwrap()
            .governed(&owner)
            .create_registered_model("shared", &[], None)
            .unwrap();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (location, owner) = (location.clone(), owner.clone());
                std::thread::spawn(move || {
                    let mut s = Store::open_at(&location).unwrap();
                    (0..100)
                        .map(|i| {
                            let source = format!("/models/w{w}/model-{i}");
                            let v = s
                                .governed(&owner)
                                .create_model_version(&version("shared", &source))
                                .unwrap();
                            (v.version.parse::<i64>().unwrap(), source)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut answered: Vec<(i64, String)> = writers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        answered.sort();
        let numbers: Vec<i64> = answered.iter().map(|(v, _)| *v).collect();
        assert_eq!(numbers, (1..=800).collect::<Vec<_>>());
        // What each writer was told is what is stored.
        let s = Store::open_at(&location).unwrap();
        let stored: Vec<(i64, String)> = s
            .conn
            .query_map(
                "SELECT version, source FROM model_versions WHERE name = 'shared' ORDER BY version",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(stored, answered);
    }

    fn count(s: &Store, table: &str) -> i64 {
        s.conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), (), |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn models_and_versions_round_trip() {
        let (_d, mut s) = store();
        let m = s
            .create_registered_model("m", &[kv("team", "a")], Some("first"))
            .unwrap();
        assert_eq!(m.description.as_deref(), Some("first"));
        assert_eq!(m.tags, [kv("team", "a")]);
        assert!(matches!(
            s.create_registered_model("m", &[], None),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            s.create_registered_model(" ", &[], None),
            Err(StoreError::Invalid(_))
        ));
        let tags = [kv("k", "v")];
        let v1 = s
            .create_model_version(&NewModelVersion {
                tags: &tags,
                run_id: Some("r1"),
                ..version("m", "s3://x")
            })
            .unwrap();
        assert_eq!(
            (v1.version.as_str(), v1.current_stage.as_str()),
            ("1", "None")
        );
        assert_eq!((v1.status.as_str(), v1.run_id.as_str()), ("READY", "r1"));
        assert_eq!(v1.tags, tags);
        let v2 = s.create_model_version(&version("m", "s3://y")).unwrap();
        assert_eq!(v2.version, "2");
        assert_eq!(v2.run_id, "");
        let m = s.get_registered_model("m").unwrap();
        assert_eq!(m.last_updated_timestamp, v2.creation_timestamp);
        assert_eq!(m.latest_versions.len(), 1);
        assert_eq!(m.latest_versions[0].version, "2");
        // Deleting the newest version does not free its number.
        s.delete_model_version("m", "2").unwrap();
        assert_eq!(
            s.create_model_version(&version("m", "s3://z"))
                .unwrap()
                .version,
            "3"
        );
        assert!(matches!(
            s.get_model_version("m", "2"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.get_model_version("m", "two"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_model_version(&version("nope", "s3://x")),
            Err(StoreError::NotFound {
                what: crate::Entity::RegisteredModel,
                ..
            })
        ));
        let updated = s.update_model_version("m", "1", Some("desc")).unwrap();
        assert_eq!(updated.description, "desc");
        assert_eq!(updated.source, "s3://x", "the source never changes");
        assert_eq!(
            s.get_model_version_download_uri("m", "3").unwrap(),
            "s3://z"
        );
    }

    #[test]
    fn aliases_stages_and_tags() {
        let (_d, mut s) = store();
        s.create_registered_model("m", &[], None).unwrap();
        for _ in 0..3 {
            s.create_model_version(&version("m", "s3://x")).unwrap();
        }
        s.set_registered_model_alias("m", "champion", "1").unwrap();
        s.set_registered_model_alias("m", "challenger", "2")
            .unwrap();
        assert!(matches!(
            s.set_registered_model_alias("m", "x", "9"),
            Err(StoreError::NotFound { .. })
        ));
        for bad in ["latest", "v3", ""] {
            assert!(matches!(
                s.set_registered_model_alias("m", bad, "1"),
                Err(StoreError::Invalid(_))
            ));
        }
        let m = s.get_registered_model("m").unwrap();
        assert_eq!(
            m.aliases
                .iter()
                .map(|a| (a.alias.as_str(), a.version.as_str()))
                .collect::<Vec<_>>(),
            [("challenger", "2"), ("champion", "1")]
        );
        let v = s.get_model_version_by_alias("m", "champion").unwrap();
        assert_eq!(
            (v.version.as_str(), v.aliases.clone()),
            ("1", vec!["champion".to_owned()])
        );
        // Moving an alias.
        s.set_registered_model_alias("m", "champion", "3").unwrap();
        assert_eq!(
            s.get_model_version_by_alias("m", "champion")
                .unwrap()
                .version,
            "3"
        );
        s.delete_registered_model_alias("m", "champion").unwrap();
        assert!(matches!(
            s.get_model_version_by_alias("m", "champion"),
            Err(StoreError::NotFound {
                what: crate::Entity::Alias,
                ..
            })
        ));
        // Stages.
        s.transition_model_version_stage("m", "1", "production", false)
            .unwrap();
        let v2 = s
            .transition_model_version_stage("m", "2", "Production", true)
            .unwrap();
        assert_eq!(v2.current_stage, "Production");
        assert_eq!(
            s.get_model_version("m", "1").unwrap().current_stage,
            "Archived"
        );
        assert!(matches!(
            s.transition_model_version_stage("m", "1", "Archived", true),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.transition_model_version_stage("m", "1", "Prod", false),
            Err(StoreError::Invalid(_))
        ));
        let latest = s.get_latest_versions("m", &[]).unwrap();
        assert_eq!(
            latest
                .iter()
                .map(|v| (v.current_stage.as_str(), v.version.as_str()))
                .collect::<Vec<_>>(),
            [("Archived", "1"), ("Production", "2"), ("None", "3")]
        );
        let prod = s.get_latest_versions("m", &["production".into()]).unwrap();
        assert_eq!(prod.len(), 1);
        assert_eq!(prod[0].aliases, ["challenger"]);
        // Tags.
        s.set_model_version_tag("m", "1", "k", "v").unwrap();
        s.set_registered_model_tag("m", "k", "v").unwrap();
        assert_eq!(s.get_model_version("m", "1").unwrap().tags, [kv("k", "v")]);
        s.delete_model_version_tag("m", "1", "k").unwrap();
        s.delete_model_version_tag("m", "1", "k").unwrap();
        s.delete_registered_model_tag("m", "k").unwrap();
        assert!(s.get_registered_model("m").unwrap().tags.is_empty());
        assert!(matches!(
            s.set_registered_model_tag("nope", "k", "v"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.set_model_version_tag("m", "7", "k", "v"),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn rename_and_delete_carry_every_row() {
        let (_d, mut s) = store();
        s.create_registered_model("old", &[kv("a", "1")], None)
            .unwrap();
        let t = [kv("k", "v")];
        s.create_model_version(&NewModelVersion {
            tags: &t,
            ..version("old", "s3://x")
        })
        .unwrap();
        s.set_registered_model_alias("old", "prod", "1").unwrap();
        s.create_registered_model("taken", &[], None).unwrap();
        assert!(matches!(
            s.rename_registered_model("old", "taken"),
            Err(StoreError::AlreadyExists { .. })
        ));
        let m = s.rename_registered_model("old", "new").unwrap();
        assert_eq!(m.name, "new");
        assert_eq!(m.tags, [kv("a", "1")]);
        assert_eq!(m.latest_versions[0].name, "new");
        assert_eq!(m.latest_versions[0].tags, t);
        assert_eq!(
            s.get_model_version_by_alias("new", "prod").unwrap().version,
            "1"
        );
        assert!(matches!(
            s.get_registered_model("old"),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.rename_registered_model("old", "x"),
            Err(StoreError::NotFound { .. })
        ));
        s.delete_registered_model("new").unwrap();
        s.delete_registered_model("taken").unwrap();
        for table in [
            "registered_models",
            "model_tags",
            "versions",
            "version_tags",
            "model_aliases",
        ] {
            assert_eq!(count(&s, table), 0, "{table}");
        }
        assert!(matches!(
            s.delete_registered_model("new"),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn searches_filter_order_and_page() {
        let (_d, mut s) = store();
        for name in ["alpha", "Beta", "gamma-x", "delta-x"] {
            s.create_registered_model(name, &[kv("team", &name[..1])], None)
                .unwrap();
        }
        s.create_registered_model("p", &[kv(PROMPT_TAG, "true")], None)
            .unwrap();
        let names = |r: (Vec<RegisteredModel>, Option<usize>)| {
            r.0.into_iter().map(|m| m.name).collect::<Vec<_>>()
        };
        assert_eq!(
            names(s.search_registered_models(None, &[], 100, 0).unwrap()),
            ["Beta", "alpha", "delta-x", "gamma-x"]
        );
        assert_eq!(
            names(
                s.search_registered_models(Some("name LIKE '%-x'"), &["name DESC".into()], 100, 0)
                    .unwrap()
            ),
            ["gamma-x", "delta-x"]
        );
        assert_eq!(
            names(
                s.search_registered_models(Some("name LIKE 'b%'"), &[], 100, 0)
                    .unwrap()
            ),
            Vec::<String>::new(),
            "LIKE is case-sensitive"
        );
        assert_eq!(
            names(
                s.search_registered_models(Some("name ILIKE 'b%'"), &[], 100, 0)
                    .unwrap()
            ),
            ["Beta"]
        );
        assert_eq!(
            names(
                s.search_registered_models(Some("tags.team = 'a'"), &[], 100, 0)
                    .unwrap()
            ),
            ["alpha"]
        );
        // What the 3.x client sends: models without the prompt tag still match.
        assert_eq!(
            names(
                s.search_registered_models(
                    Some("name LIKE '%-x' AND tag.`mlflow.prompt.is_prompt` != 'true'"),
                    &[],
                    100,
                    0
                )
                .unwrap()
            ),
            ["delta-x", "gamma-x"]
        );
        assert_eq!(
            names(
                s.search_registered_models(
                    Some("tags.`mlflow.prompt.is_prompt` = 'true'"),
                    &[],
                    100,
                    0
                )
                .unwrap()
            ),
            ["p"]
        );
        let (page, next) = s.search_registered_models(None, &[], 3, 0).unwrap();
        assert_eq!((page.len(), next), (3, Some(3)));
        let (page, next) = s.search_registered_models(None, &[], 3, 3).unwrap();
        assert_eq!((page.len(), next), (1, None));
        for bad in [
            "run_id = 'x'",
            "name = ",
            "name < 3",
            "name = 'a' OR name = 'b'",
        ] {
            assert!(
                matches!(
                    s.search_registered_models(Some(bad), &[], 10, 0),
                    Err(StoreError::Invalid(_))
                ),
                "{bad}"
            );
        }
        assert!(
            s.search_registered_models(None, &["size ASC".into()], 10, 0)
                .is_err()
        );
        assert!(
            s.search_registered_models(None, &["name ASC".into(), "name DESC".into()], 10, 0)
                .is_err()
        );

        for (i, run) in ["r1", "r2", "r1"].iter().enumerate() {
            let t = [kv("i", &i.to_string())];
            s.create_model_version(&NewModelVersion {
                run_id: Some(run),
                tags: &t,
                ..version("alpha", "s3://x")
            })
            .unwrap();
        }
        let versions = |f: &str, o: &[String]| {
            s.search_model_versions(Some(f), o, 100, 0)
                .unwrap()
                .0
                .into_iter()
                .map(|v| v.version)
                .collect::<Vec<_>>()
        };
        assert_eq!(versions("name = 'alpha'", &[]), ["3", "2", "1"]);
        assert_eq!(
            versions("run_id = 'r1'", &["version_number ASC".into()]),
            ["1", "3"]
        );
        assert_eq!(versions("run_id IN ('r2', 'x')", &[]), ["2"]);
        assert_eq!(versions("tags.i = '1' and name='alpha'", &[]), ["2"]);
        assert_eq!(versions("version_number >= 2", &[]), ["3", "2"]);
        assert!(
            s.search_model_versions(Some("bogus = 'x'"), &[], 10, 0)
                .is_err()
        );
        // Names and run ids take lists, as in MLflow 3; numbers do not.
        assert_eq!(
            versions("name IN ('alpha', 'nope') and version_number = 2", &[]),
            ["2"]
        );
        assert!(
            s.search_model_versions(Some("version_number IN (1)"), &[], 10, 0)
                .is_err()
        );
        let (page, next) = s.search_model_versions(None, &[], 2, 0).unwrap();
        assert_eq!((page.len(), next), (2, Some(2)));
    }

    #[test]
    fn logged_models_and_their_metrics() {
        let (_d, mut s) = store();
        let exp = s.create_experiment("e", None, &[]).unwrap();
        let run = s.create_run(&exp, "me", Some("r"), None, &[]).unwrap();
        let run_id = run.info.run_uuid;
        let m = s
            .create_logged_model(&NewLoggedModel {
                experiment_id: &exp,
                name: Some("model"),
                source_run_id: Some(&run_id),
                tags: &[kv("b", "2"), kv("a", "1")],
                params: &[kv("alpha", "0.5")],
                ..NewLoggedModel::default()
            })
            .unwrap();
        assert!(m.model_id.starts_with("m-") && m.model_id.len() == 34);
        assert_eq!(
            m.artifact_uri,
            format!("mlflow-artifacts:/{exp}/models/{}/artifacts", m.model_id)
        );
        assert_eq!(m.status, "LOGGED_MODEL_PENDING");
        assert_eq!(m.tags, [kv("a", "1"), kv("b", "2")]);
        assert!(matches!(
            s.create_logged_model(&NewLoggedModel {
                experiment_id: &exp,
                name: Some("a.b"),
                ..NewLoggedModel::default()
            }),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_logged_model(&NewLoggedModel {
                experiment_id: "999",
                ..NewLoggedModel::default()
            }),
            Err(StoreError::NotFound { .. })
        ));
        // A point the run already has, re-logged for the model, still reaches the model.
        let metric = Metric {
            key: "rmse".into(),
            value: 1.5,
            timestamp: 10,
            step: 0,
        };
        s.log_batch(&run_id, std::slice::from_ref(&metric), &[], &[])
            .unwrap();
        s.log_batch_for_model(&run_id, &[metric], &[], &[], Some(&m.model_id))
            .unwrap();
        let got = s.get_logged_model(&m.model_id).unwrap();
        assert_eq!(got.metrics.len(), 1);
        assert_eq!(got.metrics[0].run_id, run_id);
        assert_eq!(s.metric_history(&run_id, "rmse", 10, 0).unwrap().0.len(), 1);

        let ready = s
            .finalize_logged_model(&m.model_id, "LOGGED_MODEL_READY")
            .unwrap();
        assert_eq!(ready.status, "LOGGED_MODEL_READY");
        assert!(s.finalize_logged_model(&m.model_id, "DONE").is_err());
        s.set_logged_model_tags(&m.model_id, &[kv("a", "9")])
            .unwrap();
        s.delete_logged_model_tag(&m.model_id, "b").unwrap();
        assert!(matches!(
            s.delete_logged_model_tag(&m.model_id, "b"),
            Err(StoreError::NotFound {
                what: crate::Entity::LoggedModelTag,
                ..
            })
        ));
        assert_eq!(
            s.get_logged_model(&m.model_id).unwrap().tags,
            [kv("a", "9")]
        );
        s.log_logged_model_params(&m.model_id, &[kv("beta", "1")])
            .unwrap();
        assert_eq!(s.get_logged_model(&m.model_id).unwrap().params.len(), 2);

        // Registering it: the run comes from the model, the location from the model.
        s.create_registered_model("reg", &[], None).unwrap();
        let source = format!("models:/{}", m.model_id);
        let v = s
            .create_model_version(&NewModelVersion {
                model_id: Some(&m.model_id),
                ..version("reg", &source)
            })
            .unwrap();
        assert_eq!(v.run_id, run_id);
        assert_eq!(v.storage_location, m.artifact_uri);
        let v2 = s
            .create_model_version(&version("reg", &format!("runs:/{run_id}/model")))
            .unwrap();
        assert_eq!(
            v2.storage_location,
            format!("{}/model", run.info.artifact_uri)
        );
        let v3 = s
            .create_model_version(&version("reg", "models:/reg/1"))
            .unwrap();
        assert_eq!(v3.storage_location, m.artifact_uri);
        assert!(matches!(
            s.create_model_version(&version("reg", "models:/m-nope")),
            Err(StoreError::NotFound {
                what: crate::Entity::LoggedModel,
                ..
            })
        ));
        assert!(matches!(
            s.create_model_version(&version("reg", "runs:/nope/model")),
            Err(StoreError::NotFound {
                what: crate::Entity::Run,
                ..
            })
        ));

        // Search.
        let other = s
            .create_logged_model(&NewLoggedModel {
                experiment_id: &exp,
                ..NewLoggedModel::default()
            })
            .unwrap();
        let search = |f: Option<&str>, o: &[LoggedModelOrder]| {
            s.search_logged_models(std::slice::from_ref(&exp), f, o, 100, 0)
                .unwrap()
                .0
                .into_iter()
                .map(|m| m.model_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            search(None, &[]),
            [other.model_id.clone(), m.model_id.clone()]
        );
        for f in [
            "name = 'model'",
            "metrics.rmse > 1",
            "params.alpha = '0.5'",
            "status = 'READY'",
            "tags.a LIKE '%9'",
        ] {
            assert_eq!(
                search(Some(f), &[]),
                std::slice::from_ref(&m.model_id),
                "{f}"
            );
        }
        assert!(search(Some("name = 'notes.txt'"), &[]).is_empty());
        let by_metric = [LoggedModelOrder {
            field_name: "metrics.rmse".into(),
            ascending: true,
        }];
        assert_eq!(
            search(None, &by_metric),
            [m.model_id.clone(), other.model_id.clone()]
        );
        assert!(s.search_logged_models(&[], None, &[], 10, 0).is_err());
        assert!(
            s.search_logged_models(std::slice::from_ref(&exp), Some("size = 'x'"), &[], 10, 0)
                .is_err()
        );

        s.delete_logged_model(&m.model_id).unwrap();
        assert!(matches!(
            s.get_logged_model(&m.model_id),
            Err(StoreError::NotFound { .. })
        ));
        assert!(s.delete_logged_model(&m.model_id).is_err());
        assert_eq!(search(None, &[]), [other.model_id]);
    }
}
