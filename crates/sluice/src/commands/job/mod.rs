//! `sluice job ...`.

pub(crate) mod cancel;
pub(crate) mod create;
pub(crate) mod list;
mod resume;
mod show;
pub(crate) mod stream;
mod validate;

use serde_json::{Value, json};
use sluice_engine::Workspace;

use crate::cli::JobCommand;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::workspace;

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &JobCommand) -> Result<(), CliError> {
    match cmd {
        JobCommand::Create(args) => create::run(ctx, args),
        JobCommand::Validate(args) => validate::run(ctx, args),
        JobCommand::Show(args) => {
            let ws = workspace::open_existing(&workspace::locate(
                ctx.global.workspace.as_deref(),
                ctx.global.store.as_deref(),
            )?)?;
            show::run(ctx, &ws, &args.name, args.web)
        }
        JobCommand::List(args) => {
            let ws = workspace::open_existing(&workspace::locate(
                ctx.global.workspace.as_deref(),
                ctx.global.store.as_deref(),
            )?)?;
            list::run(ctx, &ws, args.max_results)
        }
        JobCommand::Stream(args) => {
            let ws = workspace::open_existing(&workspace::locate(
                ctx.global.workspace.as_deref(),
                ctx.global.store.as_deref(),
            )?)?;
            stream::run(&ws, &args.name)
        }
        JobCommand::Resume(args) => resume::run(ctx, args),
        JobCommand::Cancel(args) => cancel::run(ctx, args),
        JobCommand::Explain(args) => {
            let ws = workspace::open_existing(&workspace::locate(
                ctx.global.workspace.as_deref(),
                ctx.global.store.as_deref(),
            )?)?;
            ws.store().get_job(&args.name)?;
            let steps = sluice_engine::explain(&ws, &args.name, args.step.as_deref())?;
            ctx.printer
                .print(&Value::Array(steps), &["step", "decision", "reason"])
        }
    }
}

/// Opens the existing workspace (ending interrupted jobs on the way) as the caller, who must be
/// at least a contributor to do `what` to a job.
pub(crate) fn open_as_contributor(ctx: &Ctx<'_>, what: &str) -> Result<Workspace, CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    if !located.exists {
        return workspace::open_existing(&located);
    }
    let ws = workspace::open_quiet(&located)?;
    let actor = workspace::identify(&ws, ctx.global.token.as_deref())?;
    actor.require(sluice_store::governance::Role::Contributor, what)?;
    Ok(ws)
}

/// The columns `-o table` shows for a job (`job show`, `job create`, `job resume`).
pub(crate) const JOB_COLUMNS: &[&str] = &[
    "name",
    "type",
    "status",
    "experiment_name",
    "start_time",
    "end_time",
];

/// A job as `job show` prints it: the job, its steps (`jobs`), outputs and status history.
pub(crate) fn job_json(ws: &Workspace, name: &str) -> Result<Value, CliError> {
    let store = ws.store();
    let job = store.get_job(name)?;
    let steps = store.list_steps(name)?;
    let outputs = store.list_outputs(name)?;
    let history = store.status_history(name)?;
    let mut attempts = store.job_attempts(name)?;
    // Everything below is read or grouped once for the whole job, never step by step: a job's
    // summary costs the same per step at 10 steps as at 10,000.
    let job_runs = store.job_runs(name)?;
    let ids: Vec<&str> = job_runs.iter().map(|(id, _)| id.as_str()).collect();
    let steps_of: std::collections::HashMap<&str, String> = job_runs
        .iter()
        .map(|(id, step)| (id.as_str(), step.clone().unwrap_or_default()))
        .collect();
    let mut runs = std::collections::HashMap::new();
    for run in store.get_runs(&ids)? {
        if let Some(step) = steps_of.get(run.info.run_uuid.as_str()) {
            runs.insert(step.clone(), run);
        }
    }
    // The model versions the job registered: those whose source run is one of its runs.
    let registered: Vec<Value> = if runs.is_empty() {
        Vec::new()
    } else {
        let ids: Vec<String> = runs
            .values()
            .map(|r| format!("'{}'", r.info.run_uuid.replace('\'', "''")))
            .collect();
        let (versions, _) = store.search_model_versions(
            Some(&format!("run_id IN ({})", ids.join(", "))),
            &["version_number ASC".to_owned()],
            1000,
            0,
        )?;
        versions
            .iter()
            .map(|v| json!({"name": v.name, "version": v.version, "run_id": v.run_id}))
            .collect()
    };
    drop(store);
    let run_json = |step: &str| -> Value {
        match runs.get(step) {
            None => Value::Null,
            Some(run) => json!({
                "run_id": run.info.run_uuid,
                "experiment_id": run.info.experiment_id,
                "status": run.info.status,
                "metrics": run.metrics.iter().map(|m| (m.key.clone(), json!(m.value))).collect::<serde_json::Map<_, _>>(),
                "params": run.params.iter().map(|p| (p.key.clone(), json!(p.value))).collect::<serde_json::Map<_, _>>(),
            }),
        }
    };
    let mut outputs_of: std::collections::HashMap<&str, serde_json::Map<String, Value>> =
        std::collections::HashMap::new();
    for o in &outputs {
        outputs_of.entry(o.step_name.as_str()).or_default().insert(
            o.name.clone(),
            json!({
                "type": o.ty,
                "path": o.path,
                "content_hash": o.content_hash,
                "size_bytes": o.size_bytes,
                "file_count": o.file_count,
            }),
        );
    }
    let mut output_json =
        |step: &str| -> Value { Value::Object(outputs_of.remove(step).unwrap_or_default()) };
    let mut history_of: std::collections::HashMap<&str, Vec<Value>> =
        std::collections::HashMap::new();
    for h in &history {
        history_of
            .entry(h.step.as_str())
            .or_default()
            .push(json!({"status": h.status, "at": h.at, "message": h.message}));
    }
    let jobs: serde_json::Map<String, Value> = steps
        .iter()
        .map(|s| {
            let history = history_of.remove(s.name.as_str()).unwrap_or_default();
            (
                s.name.clone(),
                json!({
                    "name": s.name,
                    "display_name": s.display_name,
                    "status": s.status,
                    "depends_on": s.depends_on,
                    "command": s.command,
                    "environment": s.environment,
                    "env_hash": s.env_hash,
                    "code_hash": s.code_hash,
                    "reused_from": s.reused_from,
                    "compute": s.compute,
                    "executor": s.executor,
                    "executor_id": s.executor_id,
                    "detached": s.detached,
                    "inputs": s.inputs,
                    "outputs": output_json(&s.name),
                    "work_dir": s.work_dir,
                    "log_path": s.log_path,
                    "exit_code": s.exit_code,
                    "start_time": s.started_at,
                    "end_time": s.ended_at,
                    "error": s.error,
                    "attempts": serde_json::to_value(attempts.remove(&s.name).unwrap_or_default())
                        .unwrap_or_default(),
                    "mlflow": run_json(&s.name),
                    "status_history": history,
                }),
            )
        })
        .collect();
    let job_history = history_of.remove("").unwrap_or_default();
    Ok(json!({
        "name": job.name,
        "display_name": job.display_name,
        "type": job.ty,
        "status": job.status,
        "experiment_name": job.experiment_name,
        "description": job.description,
        "tags": job.tags,
        "compute": job.compute,
        "creation_context": {
            "created_at": job.created_at,
            "created_by": whoami(),
        },
        "start_time": job.started_at,
        "end_time": job.ended_at,
        "settings": job.settings,
        "inputs": job.inputs,
        "outputs": output_json(""),
        "jobs": jobs,
        "spec_path": job.spec_path,
        "error": job.error,
        "mlflow": run_json(""),
        "registered_models": registered,
        "status_history": job_history,
    }))
}

/// The user running Sluice, as recorded on jobs.
pub(crate) fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
