//! `sluice audit list|verify`: the hash-chained log of governed changes.

use serde_json::Value;

use crate::cli::AuditCommand;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::{ui, workspace};

const COLUMNS: &[&str] = &["seq", "at", "actor", "action", "target"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &AuditCommand) -> Result<(), CliError> {
    let ws = workspace::open_existing(&workspace::locate(
        ctx.global.workspace.as_deref(),
        ctx.global.store.as_deref(),
    )?)?;
    workspace::identify(&ws, ctx.global.token.as_deref())?;
    match cmd {
        AuditCommand::List { model, max_results } => {
            let entries = ws.store().list_audit(model.as_deref(), *max_results)?;
            let value = serde_json::to_value(&entries).unwrap_or(Value::Null);
            ctx.printer.print(&value, COLUMNS)
        }
        AuditCommand::Verify => {
            let report = ws.store().verify_audit()?;
            let value = serde_json::to_value(&report).unwrap_or(Value::Null);
            ctx.printer
                .print(&value, &["ok", "entries", "head_seq", "problems"])?;
            if report.ok {
                ui::note(&format!(
                    "The audit log is intact: {} entries, each linked to the one before.",
                    report.entries
                ));
                Ok(())
            } else {
                for p in &report.problems {
                    ui::error(p, None);
                }
                Err(CliError::AuditTampered)
            }
        }
    }
}
