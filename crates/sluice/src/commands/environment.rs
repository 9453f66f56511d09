//! `sluice environment create|show|list`: registering environment specs (building them comes
//! with Python command steps).

use crate::cli::{AssetCreateArgs, EnvironmentCommand};
use crate::commands::{Ctx, print_warnings, split_name_version};
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "version", "image", "spec_hash", "created_at"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &EnvironmentCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref())?;
    match cmd {
        EnvironmentCommand::Create(args) => create(ctx, &located, args),
        EnvironmentCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let (name, version) = split_name_version(&args.name, args.version.as_deref());
            let row = ws.store().get_environment(&name, version.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
        }
        EnvironmentCommand::List(args) => {
            let ws = workspace::open_existing(&located)?;
            let rows = ws.store().list_environments(args.name.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(rows).unwrap_or_default(), COLUMNS)
        }
    }
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &AssetCreateArgs,
) -> Result<(), CliError> {
    let mut warnings = Vec::new();
    let loaded = sluice_spec::load_environment(&args.file, &mut warnings);
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
    let ws = workspace::open(located)?;
    let version = match args
        .version
        .clone()
        .or_else(|| spec.version.as_ref().map(|v| v.value.clone()))
    {
        Some(v) => v,
        None => ws.store().next_environment_version(&name)?,
    };
    let mut identity = String::new();
    identity.push_str(spec.image.as_deref().unwrap_or(""));
    identity.push('\0');
    identity.push_str(
        spec.conda_file
            .as_ref()
            .map_or("", |(_, text)| text.as_str()),
    );
    identity.push('\0');
    identity.push_str(
        &spec
            .build
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    let row = sluice_store::EnvironmentRow {
        name,
        version,
        description: spec.description.clone(),
        image: spec.image.clone(),
        conda_file: spec.conda_file.as_ref().map(|(_, text)| text.clone()),
        spec: spec.raw.clone(),
        spec_hash: format!(
            "blake3:{}",
            sluice_artifacts::hash_bytes(identity.as_bytes())
        ),
        created_at: sluice_store::now(),
    };
    ws.store().insert_environment(&row)?;
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}
