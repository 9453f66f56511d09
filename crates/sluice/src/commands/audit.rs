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
        AuditCommand::List {
            model,
            actor,
            action,
            since,
            until,
            before_seq,
            max_results,
        } => {
            let filter = sluice_store::governance::AuditFilter {
                model: model.clone(),
                actor: actor.clone(),
                action: action.clone(),
                since: since.as_deref().map(|t| time("--since", t)).transpose()?,
                until: until.as_deref().map(|t| time("--until", t)).transpose()?,
                before_seq: *before_seq,
            };
            let entries = ws.store().search_audit(&filter, *max_results)?;
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

/// A time given to `--since` / `--until` as the audit log records times (RFC 3339, UTC, six
/// decimals, so that they compare as text): a timestamp, or a date from its start.
fn time(option: &str, given: &str) -> Result<String, CliError> {
    let parsed = given.parse::<jiff::Timestamp>().or_else(|e| {
        given
            .parse::<jiff::civil::Date>()
            .map_err(|_| e)
            .and_then(|d| format!("{d}T00:00:00Z").parse::<jiff::Timestamp>())
    });
    match parsed {
        Ok(ts) => Ok(format!("{ts:.6}")),
        Err(_) => Err(CliError::usage(
            format!("`{option} {given}` is not a time"),
            "give an RFC 3339 time such as `2026-12-06T09:00:00Z` or a date such as `2026-12-06`",
        )),
    }
}
