//! `sluice compute create|show|list`.

use crate::cli::{ComputeCommand, ComputeCreateArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "type", "max_instances", "created_at"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &ComputeCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref())?;
    match cmd {
        ComputeCommand::Create(args) => create(ctx, &located, args),
        ComputeCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let row = ws
                .store()
                .get_compute(&args.name)?
                .ok_or_else(|| CliError::NotFound {
                    message: format!("compute `{}` does not exist", args.name),
                    hint: Some("list computes with `sluice compute list -o table`".into()),
                })?;
            ctx.printer
                .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
        }
        ComputeCommand::List => {
            let ws = workspace::open_existing(&located)?;
            let rows = ws.store().list_computes()?;
            ctx.printer
                .print(&serde_json::to_value(rows).unwrap_or_default(), COLUMNS)
        }
    }
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &ComputeCreateArgs,
) -> Result<(), CliError> {
    let name = args.name.strip_prefix("azureml:").unwrap_or(&args.name);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::usage(
            format!("invalid compute name `{name}`"),
            "use letters, digits, `-` and `_`",
        ));
    }
    if args.ty != "local" {
        return Err(CliError::usage(
            format!("compute type `{}` is not supported yet", args.ty),
            "use `--type local`; Slurm comes in a later release",
        ));
    }
    if args.max_instances == 0 {
        return Err(CliError::usage(
            "`--max-instances` must be at least 1",
            "pass `--max-instances 1` or more",
        ));
    }
    let ws = workspace::open(located)?;
    let created_at = ws
        .store()
        .get_compute(name)?
        .map_or_else(sluice_store::now, |c| c.created_at);
    let row = sluice_store::ComputeRow {
        name: name.to_owned(),
        ty: args.ty.clone(),
        max_instances: i64::from(args.max_instances),
        description: args.description.clone(),
        created_at,
    };
    ws.store().upsert_compute(&row)?;
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}
