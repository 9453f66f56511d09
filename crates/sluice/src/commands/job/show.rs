//! `sluice job show -n NAME`.

use sluice_engine::Workspace;

use crate::commands::Ctx;
use crate::error::CliError;

pub(crate) fn run(ctx: &Ctx<'_>, ws: &Workspace, name: &str) -> Result<(), CliError> {
    let value = super::job_json(ws, name)?;
    ctx.printer.print(
        &value,
        &[
            "name",
            "type",
            "status",
            "experiment_name",
            "start_time",
            "end_time",
        ],
    )
}
