//! `sluice model list|show|alias`: the model registry from the command line (the same store the
//! MLflow API serves).

use serde_json::{Value, json};
use sluice_store::registry::{ModelVersion, RegisteredModel};

use crate::cli::{ModelAliasCommand, ModelCommand};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::workspace;

const LIST_COLUMNS: &[&str] = &["name", "latest_version", "aliases", "last_updated"];
const VERSION_COLUMNS: &[&str] = &["name", "version", "aliases", "run_id", "source", "created"];

fn millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| format!("{t:.3}"))
}

fn kv_map(tags: &[sluice_store::tracking::KeyValue]) -> Value {
    tags.iter()
        .map(|t| (t.key.clone(), Value::String(t.value.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub(crate) fn version_json(v: &ModelVersion) -> Value {
    json!({
        "name": v.name,
        "version": v.version,
        "aliases": v.aliases,
        "stage": v.current_stage,
        "status": v.status,
        "description": v.description,
        "source": v.source,
        "storage_location": v.storage_location,
        "run_id": v.run_id,
        "model_id": v.model_id,
        "created_by": v.user_id,
        "created": millis(v.creation_timestamp),
        "tags": kv_map(&v.tags),
    })
}

fn model_json(m: &RegisteredModel) -> Value {
    let latest = m
        .latest_versions
        .iter()
        .filter_map(|v| v.version.parse::<u64>().ok())
        .max()
        .map(|v| v.to_string());
    json!({
        "name": m.name,
        "description": m.description,
        "latest_version": latest,
        "aliases": m.aliases.iter().map(|a| (a.alias.clone(), Value::String(a.version.clone()))).collect::<serde_json::Map<_, _>>(),
        "tags": kv_map(&m.tags),
        "created": millis(m.creation_timestamp),
        "last_updated": millis(m.last_updated_timestamp),
    })
}

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &ModelCommand) -> Result<(), CliError> {
    let ws = workspace::open_existing(&workspace::locate(ctx.global.workspace.as_deref())?)?;
    match cmd {
        ModelCommand::List => {
            let (models, _) =
                ws.store()
                    .search_registered_models(None, &["name ASC".to_owned()], 100_000, 0)?;
            ctx.printer.print(
                &Value::Array(models.iter().map(model_json).collect()),
                LIST_COLUMNS,
            )
        }
        ModelCommand::Show(args) => {
            let (name, version, alias) =
                match (args.name.split_once('@'), args.name.split_once(':')) {
                    (Some((n, a)), _) => (n.to_owned(), None, Some(a.to_owned())),
                    (None, Some((n, v))) => (n.to_owned(), Some(v.to_owned()), None),
                    (None, None) => (args.name.clone(), args.version.clone(), None),
                };
            let store = ws.store();
            let value = if let Some(alias) = alias {
                version_json(&store.get_model_version_by_alias(&name, &alias)?)
            } else if let Some(version) = version {
                version_json(&store.get_model_version(&name, &version)?)
            } else {
                let model = store.get_registered_model(&name)?;
                let (versions, _) = store.search_model_versions(
                    Some(&format!("name = '{}'", name.replace('\'', "''"))),
                    &[],
                    100_000,
                    0,
                )?;
                let mut v = model_json(&model);
                let mut versions: Vec<Value> = versions.iter().map(version_json).collect();
                versions.sort_by_key(|v| {
                    v["version"]
                        .as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0)
                });
                v["versions"] = Value::Array(versions);
                v
            };
            drop(store);
            let columns = if value.get("versions").is_some() {
                LIST_COLUMNS
            } else {
                VERSION_COLUMNS
            };
            ctx.printer.print(&value, columns)
        }
        ModelCommand::Alias(ModelAliasCommand::Set {
            name,
            alias,
            version,
        }) => {
            ws.store()
                .set_registered_model_alias(name, alias, version)?;
            let v = ws.store().get_model_version_by_alias(name, alias)?;
            ctx.printer.print(&version_json(&v), VERSION_COLUMNS)
        }
        ModelCommand::Alias(ModelAliasCommand::Delete { name, alias }) => {
            ws.store().delete_registered_model_alias(name, alias)?;
            ctx.printer
                .print(&json!({"name": name, "alias": alias, "deleted": true}), &[])
        }
    }
}
