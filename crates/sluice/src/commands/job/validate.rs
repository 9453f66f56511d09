//! `sluice job validate -f FILE [--set K=V ...]`: check a job file and plan it against the
//! workspace (data assets, environments, registered components, computes, interpreters)
//! without running or writing anything. Prints the plan's outline; exits 0, or with the
//! located error and the exit code `job create` would have given.

use serde_json::{Value, json};
use sluice_engine::{PlanOptions, Workspace};

use crate::cli::JobValidateArgs;
use crate::commands::{Ctx, print_warnings};
use crate::error::CliError;
use crate::workspace;

pub(crate) fn run(ctx: &Ctx<'_>, args: &JobValidateArgs) -> Result<(), CliError> {
    let overrides = crate::commands::overrides(&args.set)?;
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    // Without a workspace, plan against an empty one in a temporary folder, removed after.
    let scratch;
    let ws = if located.exists {
        workspace::open_quiet(&located)?
    } else {
        scratch = std::env::temp_dir().join(format!(
            "sluice-validate-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let ws = Workspace::open(&scratch)
            .map_err(|e| CliError::Workspace(format!("cannot open a scratch workspace: {e}")))?;
        let result = validate(ctx, &ws, args, &overrides);
        drop(ws);
        let _ = std::fs::remove_dir_all(&scratch);
        return result;
    };
    validate(ctx, &ws, args, &overrides)
}

fn validate(
    ctx: &Ctx<'_>,
    ws: &Workspace,
    args: &JobValidateArgs,
    overrides: &[(String, String)],
) -> Result<(), CliError> {
    let mut warnings = Vec::new();
    let spec = sluice_spec::load_job(&args.file, overrides, Some(ws), &mut warnings);
    print_warnings(&warnings);
    let spec = spec?;
    let options = PlanOptions {
        name: None,
        default_experiment: "Default".into(),
        max_parallel: 1,
        force_rerun: false,
        overrides: overrides.to_vec(),
        resume: false,
    };
    let mut warnings = Vec::new();
    let planned = sluice_engine::plan(ws, &spec, &options, &mut warnings);
    print_warnings(&warnings);
    let plan = planned?;
    let builder = sluice_engine::envs::builder(ws);
    let mut steps = serde_json::Map::new();
    for step in &plan.steps {
        let python = match &step.python_env {
            Some(request) => {
                let (python, hash) = builder.resolve(request)?;
                json!({
                    "python": python.version,
                    "env_hash": hash,
                    "built": builder.existing(&hash).is_some(),
                    "requirements": request.normalized(),
                })
            }
            None => Value::Null,
        };
        steps.insert(
            step.name.clone(),
            json!({
                "environment": step.environment,
                "python_env": python,
                "compute": step.compute,
                "depends_on": step.deps,
                "code": step.code_dir.as_ref().map(|d| d.display().to_string()),
            }),
        );
    }
    let value = json!({
        "file": args.file.display().to_string(),
        "valid": true,
        "type": match plan.kind { sluice_spec::JobKind::Pipeline => "pipeline", sluice_spec::JobKind::Command => "command" },
        "experiment_name": spec.experiment_name,
        "jobs": steps,
    });
    ctx.printer.print(&value, &["file", "valid", "type"])
}
