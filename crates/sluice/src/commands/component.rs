//! `sluice component create|show|list`: registered components. A version stores the
//! component file and every file it refers to, so `component: azureml:NAME@latest` in a job
//! runs what was registered, whatever has changed on disk since.

use crate::cli::{ComponentCommand, ComponentCreateArgs};
use crate::commands::{Ctx, print_warnings, split_name_version};
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "version", "type", "content_hash", "created_at"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &ComponentCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    match cmd {
        ComponentCommand::Create(args) => create(ctx, &located, args),
        ComponentCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let (name, version) = split_name_version(&args.name, args.version.as_deref());
            let row = ws.store().get_component(&name, version.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
        }
        ComponentCommand::List(args) => {
            let ws = workspace::open_existing(&located)?;
            let rows = ws.store().list_components(args.name.as_deref())?;
            ctx.printer
                .print(&serde_json::to_value(rows).unwrap_or_default(), COLUMNS)
        }
    }
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &ComponentCreateArgs,
) -> Result<(), CliError> {
    let overrides = crate::commands::overrides(&args.set)?;
    // Check the file before creating a workspace; inner registered components are looked up in
    // the workspace if there is one.
    let existing = workspace::open_if_exists(located)?;
    let mut warnings = Vec::new();
    let info = sluice_spec::load_component_info(
        &args.file,
        &overrides,
        workspace::as_lookup(existing.as_ref()),
        &mut warnings,
    );
    print_warnings(&warnings);
    let info = info?;
    let name = match (&args.name, &info.name) {
        (Some(n), _) => n.clone(),
        (None, Some(n)) => n.value.clone(),
        (None, None) => {
            return Err(CliError::usage(
                format!("the component file `{}` has no `name`", args.file.display()),
                "add `name:` to the file, or pass `--name NAME`",
            ));
        }
    };
    let version = args
        .version
        .clone()
        .or_else(|| info.version.as_ref().map(|v| v.value.clone()));
    let ws = match existing {
        Some(ws) => ws,
        None => workspace::open(located)?,
    };
    let actor = workspace::identify(&ws, ctx.global.token.as_deref())?;
    actor.require(
        sluice_store::governance::Role::Contributor,
        "registering a component",
    )?;
    let (row, created) = sluice_engine::register_component(
        &ws,
        &args.file,
        &info,
        &name,
        version.as_deref(),
        &actor.name,
    )?;
    if !created {
        crate::ui::note(&format!(
            "component `{}:{}` is already registered with the same content",
            row.name, row.version
        ));
    }
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}
