//! `sluice compute create|show|list|delete`.

use crate::cli::{ComputeCommand, ComputeCreateArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "type", "size", "max_instances", "created_at"];

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
        ComputeCommand::Delete(args) => crate::commands::delete_definition(
            ctx,
            &located,
            "compute",
            &args.name,
            COLUMNS,
            |ws, name| {
                Ok(ws
                    .store()
                    .get_compute(name)?
                    .map(|row| serde_json::to_value(row).unwrap_or_default()))
            },
            |ws, name| {
                ws.store().delete_compute(name)?;
                Ok(())
            },
        ),
    }
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &ComputeCreateArgs,
) -> Result<(), CliError> {
    let text = |v: Option<u32>| v.map(|n| n.to_string());
    let (min, max, idle) = (
        text(args.min_instances),
        text(args.max_instances),
        text(args.idle_time_before_scale_down),
    );
    let name = args
        .name
        .as_deref()
        .map(|n| n.strip_prefix("azureml:").unwrap_or(n).to_owned());
    // Without a file, the type defaults to `local` (a file's, to `amlcompute`).
    let ty = args
        .ty
        .clone()
        .or_else(|| args.file.is_none().then(|| "local".to_owned()));
    let overrides = crate::commands::overrides_with(
        &args.set,
        &[
            ("name", &name),
            ("type", &ty),
            ("size", &args.size),
            ("min_instances", &min),
            ("max_instances", &max),
            ("tier", &args.tier),
            ("idle_time_before_scale_down", &idle),
            ("description", &args.description),
            ("sluice.slurm.partition", &args.partition),
            ("sluice.slurm.account", &args.account),
            ("sluice.slurm.qos", &args.qos),
            ("sluice.slurm.sbatch_options", &args.sbatch_options),
        ],
    )?;
    let source = match &args.file {
        Some(file) => sluice_spec::read_source(file)?,
        None if name.is_some() => {
            let mut source = sluice_spec::Source::new("the command line", "{}\n");
            source.dir = std::env::current_dir().unwrap_or_default();
            source
        }
        None => {
            return Err(CliError::usage(
                "`compute create` needs `--file` or `--name`",
                "write `sluice compute create --file compute.yml`, or `sluice compute create --name N --type amlcompute --max-instances 4`",
            ));
        }
    };
    let mut warnings = Vec::new();
    let loaded = sluice_spec::parse_compute(&source, &overrides, &mut warnings);
    crate::commands::print_warnings(&warnings);
    // Without a file every value came from a flag: a usage error, not a place in a file.
    let spec = loaded.map_err(|e| match &args.file {
        Some(_) => CliError::from(e),
        None => CliError::usage(e.message.clone(), e.help.clone().unwrap_or_default()),
    })?;
    let max_instances = spec.max_instances.unwrap_or(1);
    if let sluice_spec::ExecutorSpec::Slurm(slurm) = &spec.executor {
        crate::ui::note(&format!(
            "compute `{}` submits its steps to Slurm ({}), at most {max_instances} at once; the workspace folder must be on a path every node sees",
            spec.name.value,
            slurm.partition.as_deref().map_or_else(
                || "the default partition".to_owned(),
                |p| format!("partition `{p}`")
            ),
        ));
    } else if spec.ty != "local" {
        crate::ui::note(&format!(
            "compute `{}` ({}{}) runs its steps on this machine, at most {max_instances} at once",
            spec.name.value,
            spec.ty,
            spec.size
                .as_deref()
                .map(|s| format!(", size {s} recorded"))
                .unwrap_or_default(),
        ));
    }
    let (ws, actor) =
        workspace::open_as_contributor(located, ctx.global.token.as_deref(), "defining a compute")?;
    let existing = ws.store().get_compute(&spec.name.value)?;
    let row = row_of(&spec, existing.as_ref());
    if existing.as_ref() == Some(&row) {
        crate::ui::note(&format!(
            "compute `{}` is already defined so; nothing changed",
            row.name
        ));
    } else {
        ws.store().upsert_compute(&row)?;
        let before = existing.map(|e| serde_json::to_value(e).unwrap_or_default());
        crate::commands::record_definition(
            &ws,
            &actor,
            "compute",
            &row.name,
            before.as_ref(),
            &row,
        )?;
    }
    ctx.printer
        .print(&serde_json::to_value(row).unwrap_or_default(), COLUMNS)
}

/// The stored form of a compute (keeping `existing`'s creation time).
pub(crate) fn row_of(
    spec: &sluice_spec::ComputeSpec,
    existing: Option<&sluice_store::ComputeRow>,
) -> sluice_store::ComputeRow {
    let max_instances = spec.max_instances.unwrap_or(1);
    sluice_store::ComputeRow {
        name: spec.name.value.clone(),
        ty: spec.ty.clone(),
        max_instances: i64::from(max_instances),
        min_instances: i64::from(spec.min_instances.unwrap_or(0)),
        size: spec.size.clone(),
        tier: spec.tier.clone(),
        idle_time_before_scale_down: spec.idle_time_before_scale_down.map(i64::from),
        description: spec.description.clone(),
        settings: match &spec.executor {
            sluice_spec::ExecutorSpec::Local => None,
            slurm @ sluice_spec::ExecutorSpec::Slurm(_) => {
                Some(serde_json::to_value(slurm).unwrap_or_default())
            }
        },
        created_at: existing.map_or_else(sluice_store::now, |c| c.created_at.clone()),
    }
}
