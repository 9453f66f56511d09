//! `sluice job show -n NAME [--web]`.

use sluice_engine::Workspace;

use crate::commands::Ctx;
use crate::error::CliError;
use crate::ui;

pub(crate) fn run(ctx: &Ctx<'_>, ws: &Workspace, name: &str, web: bool) -> Result<(), CliError> {
    let value = super::job_json(ws, name)?;
    if web {
        // `az ml job show --web` opens the studio; here, say where the same things are.
        ui::note(&format!(
            "Sluice opens no browser. Job `{name}`: its folder is {}; `sluice job stream -n {name}` prints its logs; \
             `sluice server` serves its runs to the MLflow UI and client (experiment `{}`).",
            ws.job_dir(name).display(),
            value["experiment_name"].as_str().unwrap_or("Default"),
        ));
    }
    ctx.printer.print(&value, crate::commands::job::JOB_COLUMNS)
}
