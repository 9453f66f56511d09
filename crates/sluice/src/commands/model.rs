//! `sluice model list|show|alias|policy|approve|promote|status|lineage`: the model registry
//! from the command line. Changes go through the same governed store calls as the MLflow API,
//! so a promotion policy holds here exactly as it does for the `mlflow` client.

use serde_json::{Value, json};
use sluice_store::registry::{ModelVersion, RegisteredModel};

use sluice_store::governance::Policy;

use crate::cli::{ModelAliasCommand, ModelCommand, ModelPolicyCommand};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::{ui, workspace};

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

/// Reads a policy file: YAML errors point at `file:line:column`; unknown keys and wrong types
/// are named.
pub(crate) fn read_policy(file: &std::path::Path) -> Result<Policy, CliError> {
    let source = sluice_spec::read_source(file)?;
    let mut warnings = Vec::new();
    let node = sluice_spec::yaml::parse(&source, &mut warnings)?;
    crate::commands::print_warnings(&warnings);
    let shown = file.display().to_string();
    let policy: Policy = serde_json::from_value(node.to_json())
        .map_err(|e| sluice_spec::SpecError::file(&shown, format!("not a valid policy: {e}")))?;
    policy
        .validate()
        .map_err(|e| sluice_spec::SpecError::file(&shown, format!("not a valid policy: {e}")))?;
    Ok(policy)
}

/// A policy as shown: the model, whether one is set, and the rules in force (the defaults
/// when none is set).
fn policy_json(name: &str, policy: Option<&Policy>) -> Value {
    json!({
        "name": name,
        "set": policy.is_some(),
        "policy": serde_json::to_value(policy.cloned().unwrap_or_default()).unwrap_or(Value::Null),
    })
}

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &ModelCommand) -> Result<(), CliError> {
    if let ModelCommand::Create(args) = cmd {
        return create(ctx, args);
    }
    if let ModelCommand::Export(args) = cmd
        && let Some(path) = &args.path
    {
        return export(ctx, path, &args.file, args.format);
    }
    let ws = workspace::open_existing(&workspace::locate(
        ctx.global.workspace.as_deref(),
        ctx.global.store.as_deref(),
    )?)?;
    let actor = workspace::identify(&ws, ctx.global.token.as_deref())?;
    match cmd {
        ModelCommand::Create(_) => unreachable!("handled above"),
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
            let moved = ws.store().governed(&actor).set_alias(name, alias, version);
            ctx.printer.print(&version_json(&moved?), VERSION_COLUMNS)
        }
        ModelCommand::Alias(ModelAliasCommand::Delete { name, alias }) => {
            let deleted = ws.store().governed(&actor).delete_alias(name, alias);
            deleted?;
            ctx.printer
                .print(&json!({"name": name, "alias": alias, "deleted": true}), &[])
        }
        ModelCommand::Promote(args) => {
            let moved =
                ws.store()
                    .governed(&actor)
                    .set_alias(&args.name, &args.alias, &args.version);
            let v = moved?;
            ui::note(&format!(
                "Promoted version {} of `{}` to `{}`.",
                v.version, v.name, args.alias
            ));
            ctx.printer.print(&version_json(&v), VERSION_COLUMNS)
        }
        ModelCommand::Approve(args) => {
            let approved = ws.store().governed(&actor).approve(
                &args.name,
                &args.version,
                args.comment.as_deref(),
            );
            let a = approved?;
            ctx.printer.print(
                &json!({"name": args.name, "version": a.version, "approver": a.approver,
                        "comment": a.comment, "at": a.at}),
                &["name", "version", "approver", "at"],
            )
        }
        ModelCommand::Status(args) => {
            let status = ws.store().model_status(&args.name);
            ctx.printer.print(&status?, &["name", "aliases", "policy"])
        }
        ModelCommand::Policy(ModelPolicyCommand::Set { name, file }) => {
            let policy = read_policy(file)?;
            let set = ws.store().governed(&actor).set_policy(name, &policy);
            set?;
            ctx.printer.print(&policy_json(name, Some(&policy)), &[])
        }
        ModelCommand::Policy(ModelPolicyCommand::Show(args)) => {
            let store = ws.store();
            store.get_registered_model(&args.name)?;
            let policy = store.get_policy(&args.name)?;
            drop(store);
            ctx.printer
                .print(&policy_json(&args.name, policy.as_ref()), &[])
        }
        ModelCommand::Lineage(args) => {
            let lineage = ws.store().model_lineage(&args.name, &args.version);
            ctx.printer.print(&lineage?, &[])
        }
        ModelCommand::Export(args) => {
            let (name, version) = (
                args.name.as_deref().unwrap_or_default(),
                args.version.as_deref().unwrap_or_default(),
            );
            let mv = ws.store().get_model_version(name, version)?;
            let dir = sluice_engine::models::version_files(&ws, &mv).ok_or_else(|| {
                CliError::NotFound {
                    message: format!("the files of `{name}` version {version} are not available"),
                    hint: Some(format!(
                        "see where they are with `sluice model show -n {name}:{version}`"
                    )),
                }
            })?;
            export(ctx, &dir, &args.file, args.format)
        }
    }
}

/// `sluice model create -f model.yml` (or `--name N --path P [--type T]`).
fn create(ctx: &Ctx<'_>, args: &crate::cli::ModelCreateArgs) -> Result<(), CliError> {
    let overrides = crate::commands::overrides_with(
        &args.set,
        &[
            ("name", &args.name),
            ("type", &args.ty),
            ("path", &args.path),
            ("description", &args.description),
            ("version", &args.version),
        ],
    )?;
    let source = crate::commands::asset_source(
        args.file.as_deref(),
        args.name.is_some() && args.path.is_some(),
        "model create",
    )?;
    let mut warnings = Vec::new();
    let spec = sluice_spec::parse_model(&source, &overrides, &mut warnings);
    crate::commands::print_warnings(&warnings);
    let spec = spec?;
    let err = |msg: String| sluice_spec::SpecError::new(&spec.source, spec.path.span, msg);
    if !spec.path.starts_with("file://")
        && (spec.path.starts_with("azureml:") || spec.path.contains("://"))
    {
        return Err(err(format!(
            "`{}` is not a local path; Sluice registers models from files on this machine",
            spec.path.value
        ))
        .with_label("remote or asset path")
        .with_help("download the model once and point `path:` at the local copy; a job's model output is registered by the job's own step")
        .into());
    }
    let local = spec
        .source
        .resolve(spec.path.strip_prefix("file://").unwrap_or(&spec.path));
    let meta = std::fs::metadata(&local).map_err(|_| {
        err(format!("model path `{}` does not exist", spec.path.value))
            .with_label("not found")
            .with_help(format!(
                "it resolves to `{}`; paths are relative to the YAML file's folder",
                local.display()
            ))
    })?;
    if spec.ty.value == sluice_spec::IoType::MlflowModel
        && !(meta.is_dir() && local.join("MLmodel").is_file())
    {
        return Err(err(format!(
            "`{}` is not an MLflow model folder (no `MLmodel` file)",
            spec.path.value
        ))
        .with_label("type: mlflow_model")
        .with_help("point `path` at the folder holding `MLmodel`, or use `type: custom_model`")
        .into());
    }
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    let (ws, actor) = workspace::open_as_contributor(
        &located,
        ctx.global.token.as_deref(),
        "registering a model",
    )?;
    let (version, created) = sluice_engine::models::register_model(
        &ws,
        &actor,
        &sluice_engine::models::NewModel {
            name: &spec.name,
            version: spec.version.as_ref().map(|v| v.value.as_str()),
            ty: spec.ty.as_str(),
            path: &local,
            description: spec.description.as_deref(),
            tags: &spec.tags,
        },
    )?;
    if !created {
        crate::ui::note(&format!(
            "model `{}:{}` is already registered with these files",
            version.name, version.version
        ));
    }
    ctx.printer.print(&version_json(&version), VERSION_COLUMNS)
}

/// Writes the Sluice model in `dir` to `file` in `format`.
fn export(
    ctx: &Ctx<'_>,
    dir: &std::path::Path,
    file: &std::path::Path,
    format: crate::cli::ExportFormat,
) -> Result<(), CliError> {
    let model = sluice_ml::Model::load(dir).map_err(|e| {
        CliError::usage(
            format!("{} holds no Sluice model: {e}", dir.display()),
            "export a model trained by `sluice step train` (a folder with `model.bin` or `model.json`)",
        )
    })?;
    if format == crate::cli::ExportFormat::Json {
        model
            .save_json(file)
            .map_err(|e| CliError::Workspace(e.to_string()))?;
        let bytes = std::fs::metadata(file).map_or(0, |m| m.len());
        ui::note(&format!(
            "wrote {} ({} KB): Sluice's text model format",
            file.display(),
            bytes.div_ceil(1024)
        ));
        return ctx.printer.print(
            &json!({
                "file": file.display().to_string(),
                "format": "json",
                "bytes": bytes,
                "algorithm": model.algorithm(),
                "features": model.feature_names(),
            }),
            &["file", "format", "bytes"],
        );
    }
    let bytes = sluice_ml::to_onnx(&model).map_err(|e| {
        CliError::usage(
            e.to_string(),
            "export a linear or logistic regression, or a regression tree, forest or boosting model",
        )
    })?;
    std::fs::write(file, &bytes)
        .map_err(|e| CliError::Workspace(format!("cannot write {}: {e}", file.display())))?;
    ui::note(&format!(
        "wrote {} ({} KB): input `X` (double, [N, {}] in this order: {}), output `variable` (float, [N, 1])",
        file.display(),
        bytes.len().div_ceil(1024),
        model.feature_names().len(),
        model.feature_names().join(", ")
    ));
    ctx.printer.print(
        &json!({
            "file": file.display().to_string(),
            "format": "onnx",
            "bytes": bytes.len(),
            "algorithm": model.algorithm(),
            "features": model.feature_names(),
        }),
        &["file", "format", "bytes"],
    )
}
