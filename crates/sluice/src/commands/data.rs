//! `sluice data create|show|list`: versioned data assets. Creating a version copies its bytes
//! into the workspace, so the version stays what it was when registered, and records their
//! content hash.

use sluice_spec::{AssetRef, IoType, SpecError, parse_asset_ref};

use crate::cli::{DataCommand, DataCreateArgs};
use crate::commands::{Ctx, print_warnings, split_name_version};
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &[
    "name",
    "version",
    "type",
    "size_bytes",
    "content_hash",
    "created_at",
];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &DataCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    match cmd {
        DataCommand::Create(args) => create(ctx, &located, args),
        DataCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let (name, version) = split_name_version(&args.name, args.version.as_deref());
            let row = ws.store().get_data(&name, version.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
        }
        DataCommand::List(args) => {
            let ws = workspace::open_existing(&located)?;
            let rows = ws.store().list_data(args.name.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(rows).unwrap_or_default(), COLUMNS)
        }
        DataCommand::Lineage(args) => {
            let ws = workspace::open_existing(&located)?;
            let (name, version) = split_name_version(&args.name, args.version.as_deref());
            let version = match version {
                Some(v) => v,
                None => ws.store().get_data(&name, None)?.version,
            };
            let lineage = ws.store().data_lineage(&name, &version);
            ctx.printer
                .print(&lineage?, &["data", "jobs", "model_versions"])
        }
    }
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &DataCreateArgs,
) -> Result<(), CliError> {
    let overrides = crate::commands::overrides_with(
        &args.set,
        &[
            ("name", &args.name),
            ("type", &args.ty),
            ("path", &args.path),
            ("description", &args.description),
        ],
    )?;
    let source = crate::commands::asset_source(
        args.file.as_deref(),
        args.name.is_some() && args.path.is_some(),
        "data create",
    )?;
    let mut warnings = Vec::new();
    let loaded = sluice_spec::parse_data(&source, &overrides, &mut warnings);
    print_warnings(&warnings);
    let spec = loaded?;
    let src = &spec.source;
    // A path on a registered (remote) datastore: the version refers to it, fetched here to be
    // checked and hashed.
    let mut reference = None;
    let local = match data_path(&spec)? {
        DataPath::Datastore { datastore, path } => {
            let (ws, _) = workspace::open_as_contributor(
                located,
                ctx.global.token.as_deref(),
                "registering a data asset",
            )?;
            if ws.datastore(&datastore)?.is_remote() {
                reference = Some(spec.path.value.clone());
                sluice_engine::fetch_datastore_path(&ws, src, &spec.path, &datastore, &path)?
            } else {
                ws.datastore_path(&datastore, &path)
            }
        }
        DataPath::Local(local) => local,
    };
    check_local(&spec, &local)?;
    let name = spec.name.value.clone();
    let version = args
        .version
        .clone()
        .or_else(|| spec.version.as_ref().map(|v| v.value.clone()));
    let (ws, _) = workspace::open_as_contributor(
        located,
        ctx.global.token.as_deref(),
        "registering a data asset",
    )?;
    let spinner = crate::progress::spinner(&format!("Copying and hashing {}", local.display()));
    let new = sluice_engine::NewData {
        name: &name,
        version: version.as_deref(),
        ty: spec.ty.value,
        source: &local,
        description: spec.description.clone(),
        tags: spec.tags.clone(),
    };
    let registered = match &reference {
        Some(uri) => sluice_engine::register_data_reference(&ws, &new, uri),
        None => sluice_engine::register_data(&ws, &new),
    };
    spinner.finish_and_clear();
    let row = registered?;
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}

/// Where a data asset's `path` points.
pub(crate) enum DataPath {
    /// A file or folder, resolved beside the YAML file.
    Local(std::path::PathBuf),
    /// `azureml://datastores/NAME/paths/PATH`.
    Datastore { datastore: String, path: String },
}

/// Reads a data asset's `path`: a local file or folder, or a datastore path; another asset, or
/// a URL no datastore names, is an error at its line.
pub(crate) fn data_path(spec: &sluice_spec::DataSpec) -> Result<DataPath, CliError> {
    let src = &spec.source;
    match parse_asset_ref(&spec.path) {
        Some(Ok(AssetRef::Datastore { datastore, path })) => {
            Ok(DataPath::Datastore { datastore, path })
        }
        Some(Ok(AssetRef::Named { .. } | AssetRef::Registry { .. })) => Err(SpecError::new(
            src,
            spec.path.span,
            "a data asset's `path` cannot be another asset",
        )
        .with_help("point `path` at a local file or folder, or a datastore path")
        .into()),
        Some(Err(m)) => Err(SpecError::new(src, spec.path.span, m).into()),
        None if spec.path.contains("://") => Err(SpecError::new(
            src,
            spec.path.span,
            format!(
                "`{}` is remote data, and Sluice runs without network",
                spec.path.value
            ),
        )
        .with_label("remote path")
        .with_help(
            "download it once and point `path:` at the local copy, or register a datastore for it and write `azureml://datastores/NAME/paths/PATH`",
        )
        .into()),
        None => Ok(DataPath::Local(src.resolve(&spec.path))),
    }
}

/// Checks that the local copy of a data asset's `path` exists and fits its `type`.
pub(crate) fn check_local(
    spec: &sluice_spec::DataSpec,
    local: &std::path::Path,
) -> Result<(), CliError> {
    let src = &spec.source;
    let meta = std::fs::metadata(local).map_err(|_| {
        SpecError::new(
            src,
            spec.path.span,
            format!("data path `{}` does not exist", spec.path.value),
        )
        .with_label("not found")
        .with_help(format!(
            "it resolves to `{}`; paths are relative to the YAML file's folder",
            local.display()
        ))
    })?;
    match spec.ty.value {
        IoType::UriFile if !meta.is_file() => {
            return Err(SpecError::new(
                src,
                spec.path.span,
                format!(
                    "`{}` is a folder, but the asset is `uri_file`",
                    spec.path.value
                ),
            )
            .with_help("use `type: uri_folder`, or point `path` at a file")
            .into());
        }
        IoType::UriFolder | IoType::Mltable if !meta.is_dir() => {
            return Err(SpecError::new(
                src,
                spec.path.span,
                format!(
                    "`{}` is a file, but the asset is `{}`",
                    spec.path.value,
                    spec.ty.as_str()
                ),
            )
            .with_help("use `type: uri_file`, or point `path` at a folder")
            .into());
        }
        IoType::Mltable if !local.join("MLTable").exists() => {
            return Err(SpecError::new(
                src,
                spec.path.span,
                format!("`{}` has no `MLTable` file", spec.path.value),
            )
            .with_help(
                "an `mltable` asset is a folder with an `MLTable` file; or use `type: uri_folder`",
            )
            .into());
        }
        _ => {}
    }
    Ok(())
}
