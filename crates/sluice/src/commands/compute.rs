//! `sluice compute create|show|list`.

use crate::cli::{ComputeCommand, ComputeCreateArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "type", "size", "max_instances", "created_at"];

/// Compute types Azure ML has that run on this machine's processes.
const LOCAL_TYPES: &[&str] = &["local", "amlcompute", "computeinstance"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &ComputeCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
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
    let ty = args.ty.to_ascii_lowercase();
    if !LOCAL_TYPES.contains(&ty.as_str()) {
        return Err(CliError::usage(
            format!("compute type `{}` is not supported", args.ty),
            "use `--type amlcompute` (or `local`, `computeinstance`): its steps run as processes on this machine",
        ));
    }
    if args.max_instances == 0 {
        return Err(CliError::usage(
            "`--max-instances` must be at least 1",
            "pass `--max-instances 1` or more",
        ));
    }
    if args.min_instances > args.max_instances {
        return Err(CliError::usage(
            format!(
                "`--min-instances {}` is more than `--max-instances {}`",
                args.min_instances, args.max_instances
            ),
            "lower `--min-instances` or raise `--max-instances`",
        ));
    }
    let tier = args
        .tier
        .as_deref()
        .map(|t| t.to_ascii_lowercase().replace('-', "_"));
    if let Some(t) = &tier
        && !matches!(t.as_str(), "dedicated" | "low_priority")
    {
        return Err(CliError::usage(
            format!("unknown tier `{t}`"),
            "use `--tier dedicated` or `--tier low_priority`",
        ));
    }
    if ty != "local" {
        crate::ui::note(&format!(
            "compute `{name}` ({ty}{}) runs its steps on this machine, at most {} at once",
            args.size
                .as_deref()
                .map(|s| format!(", size {s} recorded"))
                .unwrap_or_default(),
            args.max_instances
        ));
    }
    let ws = workspace::open(located)?;
    let created_at = ws
        .store()
        .get_compute(name)?
        .map_or_else(sluice_store::now, |c| c.created_at);
    let row = sluice_store::ComputeRow {
        name: name.to_owned(),
        ty,
        max_instances: i64::from(args.max_instances),
        min_instances: i64::from(args.min_instances),
        size: args.size.clone(),
        tier,
        idle_time_before_scale_down: args.idle_time_before_scale_down.map(i64::from),
        description: args.description.clone(),
        created_at,
    };
    ws.store().upsert_compute(&row)?;
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}
