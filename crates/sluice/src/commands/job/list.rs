//! `sluice job list`.

use serde_json::json;
use sluice_engine::Workspace;

use crate::commands::Ctx;
use crate::error::CliError;

pub(crate) fn run(ctx: &Ctx<'_>, ws: &Workspace, max_results: usize) -> Result<(), CliError> {
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
    ctx.printer.print(
        &serde_json::Value::Array(value),
        &["name", "type", "status", "experiment_name", "created_at"],
    )
}
