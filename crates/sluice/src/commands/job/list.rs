//! `sluice job list`.

use serde_json::json;
use sluice_engine::Workspace;

use crate::commands::Ctx;
use crate::error::CliError;

pub(crate) fn run(ctx: &Ctx<'_>, ws: &Workspace, max_results: usize) -> Result<(), CliError> {
    print(ctx, &list_json(ws, max_results)?)
}

/// Prints a job list as `job list` does.
pub(crate) fn print(ctx: &Ctx<'_>, value: &serde_json::Value) -> Result<(), CliError> {
    ctx.printer.print(
        value,
        &["name", "type", "status", "experiment_name", "created_at"],
    )
}

/// The newest `max_results` jobs, as `job list` prints them.
pub(crate) fn list_json(ws: &Workspace, max_results: usize) -> Result<serde_json::Value, CliError> {
    let jobs = ws.store().list_jobs(max_results)?;
    let value: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "name": j.name,
                "display_name": j.display_name,
                "type": j.ty,
                "status": j.status,
                "experiment_name": j.experiment_name,
                "created_at": j.created_at,
                "start_time": j.started_at,
                "end_time": j.ended_at,
            })
        })
        .collect();
    Ok(serde_json::Value::Array(value))
}
