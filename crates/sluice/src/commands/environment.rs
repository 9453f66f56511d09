//! `sluice environment create|show|list|build`: registering environment specs and building
//! their Python virtual environments.
//!
//! A registered version keeps the file's text; the environment itself is content-addressed (the
//! hash of the interpreter version and the normalised requirement set) and built once per
//! workspace, on first use by a job or by `environment build`.

use std::path::Path;

use serde_json::{Value, json};
use sluice_engine::{Workspace, envs};
use sluice_spec::yaml;

use crate::cli::{AssetCreateArgs, AssetShowArgs, EnvironmentCommand, EnvironmentCreateArgs};
use crate::commands::{Ctx, print_warnings, split_name_version};
use crate::error::CliError;
use crate::{progress, ui, workspace};

const COLUMNS: &[&str] = &[
    "name",
    "version",
    "python",
    "env_hash",
    "built",
    "created_at",
];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &EnvironmentCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    match cmd {
        EnvironmentCommand::Create(args) => create(ctx, &located, args),
        EnvironmentCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let row = get(&ws, args)?;
            ctx.printer.print(&describe(&ws, &row)?, COLUMNS)
        }
        EnvironmentCommand::Build(args) => build(ctx, &located, args),
        EnvironmentCommand::List(args) if args.curated => {
            let rows: Vec<Value> = sluice_env::curated::catalog()
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "workspace_names": c.workspace_names,
                        "python": c.python,
                        "latest_version": c.latest_version,
                        "gpu": c.gpu,
                        "cpu_mapping": c.cpu_mapping(),
                        "reference": format!("azureml://registries/azureml/environments/{}/labels/latest", c.name),
                    })
                })
                .collect();
            ctx.printer
                .print(&Value::Array(rows), &["name", "python", "gpu", "reference"])
        }
        EnvironmentCommand::List(args) => {
            let ws = workspace::open_existing(&located)?;
            let rows = ws.store().list_environments(args.name.as_deref())?;
            let described = rows
                .iter()
                .map(|r| describe(&ws, r))
                .collect::<Result<Vec<_>, _>>()?;
            ctx.printer.print(&Value::Array(described), COLUMNS)
        }
    }
}

fn get(ws: &Workspace, args: &AssetShowArgs) -> Result<sluice_store::EnvironmentRow, CliError> {
    let (name, version) = split_name_version(&args.name, args.version.as_deref());
    let row = ws.store().get_environment(&name, version.as_deref())?;
    Ok(row)
}

/// What kind of file `environment create -f` was given.
enum FileKind {
    AzureYaml,
    Conda,
    Requirements,
}

fn file_kind(path: &Path) -> Result<FileKind, CliError> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"))
    {
        return Ok(FileKind::Requirements);
    }
    let source = sluice_spec::read_source(path)?;
    let root = yaml::parse(&source, &mut Vec::new())?;
    let is_conda = match &root.value {
        yaml::Value::Map(entries) => entries
            .iter()
            .any(|(k, _)| k.as_str() == Some("dependencies")),
        _ => false,
    };
    Ok(if is_conda {
        FileKind::Conda
    } else {
        FileKind::AzureYaml
    })
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &EnvironmentCreateArgs,
) -> Result<(), CliError> {
    let mut row = row_of(args)?;
    // Check the file and the interpreter before anything is written.
    let request = envs::request_from_row(&row)?;
    let (ws, _) = workspace::open_as_contributor(
        located,
        ctx.global.token.as_deref(),
        "registering an environment",
    )?;
    if let Some(request) = &request {
        envs::builder(&ws).resolve(request)?;
    }
    if row.version.is_empty() {
        row.version = ws.store().next_environment_version(&row.name)?;
    }
    ws.store().insert_environment(&row)?;
    ctx.printer.print(&describe(&ws, &row)?, COLUMNS)
}

/// The environment a file describes (an Azure ML environment YAML, a conda file, a
/// requirements file), its version empty when neither the file nor `--version` gives one.
pub(crate) fn row_of(
    args: &EnvironmentCreateArgs,
) -> Result<sluice_store::EnvironmentRow, CliError> {
    let shown = args.file.display().to_string();
    let overrides = crate::commands::overrides(&args.set)?;
    let kind = file_kind(&args.file)?;
    if !overrides.is_empty() && !matches!(kind, FileKind::AzureYaml) {
        return Err(CliError::usage(
            "`--set` applies to Azure ML environment files",
            "use `--name`, `--version` and `--python` with a conda or requirements file",
        ));
    }
    let row = match kind {
        FileKind::AzureYaml => from_azure_yaml(
            &AssetCreateArgs {
                file: args.file.clone(),
                name: args.name.clone(),
                version: args.version.clone(),
            },
            &overrides,
        )?,
        FileKind::Conda => {
            let source = sluice_spec::read_source(&args.file)?;
            let root = yaml::parse(&source, &mut Vec::new())?;
            let conda_name = match &root.value {
                yaml::Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.as_str() == Some("name"))
                    .and_then(|(_, v)| v.scalar_text()),
                _ => None,
            };
            let name = args.name.clone().or(conda_name).ok_or_else(|| {
                CliError::usage(
                    format!("the conda file `{shown}` has no `name`"),
                    "pass `--name NAME`",
                )
            })?;
            new_row(
                name,
                args.version.clone(),
                None,
                Some(source.text.to_string()),
                json!({"conda_file": shown}),
            )
        }
        FileKind::Requirements => {
            let source = sluice_spec::read_source(&args.file)?;
            let name = args.name.clone().ok_or_else(|| {
                CliError::usage(
                    format!("a requirements file has no name: `{shown}`"),
                    "pass `--name NAME` (and `--python 3.X` to choose the interpreter)",
                )
            })?;
            let mut spec =
                json!({"requirements_file": shown, "requirements": source.text.as_ref()});
            if let Some(p) = &args.python {
                spec["python"] = json!(p);
            }
            new_row(name, args.version.clone(), None, None, spec)
        }
    };
    if args.python.is_some() && row.spec.get("requirements").is_none() {
        return Err(CliError::usage(
            "`--python` applies to requirements files only",
            "a conda file chooses its interpreter with a `- python=3.X` dependency",
        ));
    }
    Ok(row)
}

fn new_row(
    name: String,
    version: Option<String>,
    image: Option<String>,
    conda_file: Option<String>,
    spec: Value,
) -> sluice_store::EnvironmentRow {
    let identity = format!(
        "{}\0{}\0{}",
        image.as_deref().unwrap_or(""),
        conda_file.as_deref().unwrap_or(""),
        spec.get("requirements")
            .map(Value::to_string)
            .unwrap_or_default()
            + &spec.get("python").map(Value::to_string).unwrap_or_default(),
    );
    sluice_store::EnvironmentRow {
        name,
        version: version.unwrap_or_default(),
        description: None,
        image,
        conda_file,
        spec,
        spec_hash: format!(
            "blake3:{}",
            sluice_artifacts::hash_bytes(identity.as_bytes())
        ),
        created_at: sluice_store::now(),
    }
}

fn from_azure_yaml(
    args: &AssetCreateArgs,
    overrides: &[(String, String)],
) -> Result<sluice_store::EnvironmentRow, CliError> {
    let mut warnings = Vec::new();
    let loaded = sluice_spec::load_environment(&args.file, overrides, &mut warnings);
    print_warnings(&warnings);
    let (_source, spec) = loaded?;
    let Some(name) = args
        .name
        .clone()
        .or_else(|| spec.name.as_ref().map(|n| n.value.clone()))
    else {
        return Err(CliError::usage(
            format!("`{}` has no `name`", args.file.display()),
            "add `name:` to the file or pass `--name`",
        ));
    };
    let mut row = new_row(
        name,
        args.version
            .clone()
            .or_else(|| spec.version.as_ref().map(|v| v.value.clone())),
        spec.image.clone(),
        spec.conda_file.as_ref().map(|(_, text)| text.clone()),
        spec.raw.clone(),
    );
    row.description.clone_from(&spec.description);
    if let Some(build) = &spec.build {
        // A Docker build context is recorded; it takes part in the version's identity.
        let identity = format!("{}\0{build}", row.spec_hash);
        row.spec_hash = format!(
            "blake3:{}",
            sluice_artifacts::hash_bytes(identity.as_bytes())
        );
    }
    Ok(row)
}

/// The row as shown: its spec plus what it resolves to on this machine and, once built, the
/// pinned set.
fn describe(ws: &Workspace, row: &sluice_store::EnvironmentRow) -> Result<Value, CliError> {
    let mut value = serde_json::to_value(row).unwrap_or_default();
    let request = envs::request_from_row(row)?;
    let Some(request) = request else {
        value["runs_on"] = json!("the host: no conda file or requirements; the image is recorded");
        return Ok(value);
    };
    value["requirements"] = json!(request.normalized());
    let added: Vec<&str> = request.added().map(|r| r.text.as_str()).collect();
    if !added.is_empty() {
        value["added_by_sluice"] = json!({
            "requirements": added,
            "why": sluice_env::CONDA_BASE_ORIGIN,
        });
    }
    match envs::builder(ws).resolve(&request) {
        Ok((python, hash)) => {
            value["python"] = json!(python.version);
            value["env_hash"] = json!(hash);
            let build = ws.store().get_env_build(&hash)?;
            value["built"] = json!(build.is_some());
            if let Some(build) = build {
                value["build_seconds"] = json!(build.build_seconds);
                value["built_at"] = json!(build.built_at);
                value["lock"] = json!(build.lock);
            }
        }
        Err(e) => {
            value["built"] = json!(false);
            value["problem"] = json!(e.to_string());
        }
    }
    Ok(value)
}

fn build(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &AssetShowArgs,
) -> Result<(), CliError> {
    let ws = workspace::open_existing(located)?;
    let row = match get(&ws, args) {
        Ok(row) => row,
        Err(CliError::NotFound { .. }) if curated(&args.name).is_some() => {
            return build_curated(ctx, &ws, curated(&args.name).expect("checked"));
        }
        Err(e) => return Err(e),
    };
    let Some(request) = envs::request_from_row(&row)? else {
        return Err(CliError::usage(
            format!(
                "environment `{}:{}` has no conda file or requirements to build",
                row.name, row.version
            ),
            "its steps run with the tools on this machine's PATH",
        ));
    };
    let label = format!("{}:{}", row.name, row.version);
    let bar = progress::spinner(&format!("building environment {label}"));
    let verbose = ctx.global.verbose > 0;
    let built = envs::builder(&ws).ensure(&request, &mut |line| {
        if verbose {
            bar.suspend(|| ui::note(line));
        } else {
            bar.set_message(format!("{label}: {line}"));
        }
    });
    bar.finish_and_clear();
    let built = built?;
    envs::record_build(&ws, &built)?;
    if !built.reused {
        ui::note(&format!(
            "built environment {label} ({}) in {:.1} s",
            sluice_env::short(&built.hash),
            built.build_seconds
        ));
    }
    let mut value = describe(&ws, &row)?;
    value["reused"] = json!(built.reused);
    ctx.printer.print(&value, COLUMNS)
}

/// The curated environment a name refers to (`sklearn-1.5`, `AzureML-...@latest`, or the
/// registry URI), if any.
fn curated(name: &str) -> Option<&'static sluice_env::curated::Curated> {
    let name = match sluice_spec::parse_asset_ref(name) {
        Some(Ok(
            sluice_spec::AssetRef::Registry { name, .. }
            | sluice_spec::AssetRef::Named { name, .. },
        )) => name,
        _ => split_name_version(name, None).0,
    };
    sluice_env::curated::lookup(&name)
}

/// `environment build -n CURATED`: builds a curated environment of the catalog (no
/// registration needed; jobs find the same build by its content hash).
fn build_curated(
    ctx: &Ctx<'_>,
    ws: &Workspace,
    c: &sluice_env::curated::Curated,
) -> Result<(), CliError> {
    let request = envs::request_from_curated(c)?;
    let bar = progress::spinner(&format!("building curated environment {}", c.name));
    let verbose = ctx.global.verbose > 0;
    let name = c.name.clone();
    let built = envs::builder(ws).ensure(&request, &mut |line| {
        if verbose {
            bar.suspend(|| ui::note(line));
        } else {
            bar.set_message(format!("{name}: {line}"));
        }
    });
    bar.finish_and_clear();
    let built = built?;
    envs::record_build(ws, &built)?;
    let value = json!({
        "name": c.name,
        "curated": true,
        "python": built.python,
        "env_hash": built.hash,
        "built": true,
        "reused": built.reused,
        "build_seconds": built.build_seconds,
        "requirements": request.normalized(),
        "lock": built.lock.lines().collect::<Vec<_>>(),
    });
    ctx.printer.print(&value, COLUMNS)
}
