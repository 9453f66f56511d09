//! `sluice datastore create|show|list|delete`: Azure's datastore YAML, recorded without its
//! secrets.

use crate::cli::{DatastoreCommand, DatastoreCreateArgs};
use crate::commands::{Ctx, print_warnings};
use crate::error::CliError;
use crate::workspace;

const COLUMNS: &[&str] = &["name", "type", "credential", "updated_at"];

pub(crate) fn run(ctx: &Ctx<'_>, cmd: &DatastoreCommand) -> Result<(), CliError> {
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    match cmd {
        DatastoreCommand::Create(args) => create(ctx, &located, args),
        DatastoreCommand::Show(args) => {
            let ws = workspace::open_existing(&located)?;
            let row = ws
                .store()
                .get_datastore(&args.name)?
                .ok_or_else(|| CliError::NotFound {
                    message: format!("datastore `{}` does not exist", args.name),
                    hint: Some(
                        "create it with `sluice datastore create -f datastore.yml`; list them with `sluice datastore list`"
                            .into(),
                    ),
                })?;
            ctx.printer.print(&shown(&row), COLUMNS)
        }
        DatastoreCommand::List => {
            let ws = workspace::open_existing(&located)?;
            let rows: Vec<serde_json::Value> =
                ws.store().list_datastores()?.iter().map(shown).collect();
            ctx.printer.print(&serde_json::Value::Array(rows), COLUMNS)
        }
        DatastoreCommand::Delete(args) => crate::commands::delete_definition(
            ctx,
            &located,
            "datastore",
            &args.name,
            COLUMNS,
            |ws, name| Ok(ws.store().get_datastore(name)?.as_ref().map(shown)),
            |ws, name| {
                sluice_engine::delete_datastore(ws, name)?;
                Ok(())
            },
        ),
    }
}

/// A datastore as `show` prints it: its settings flattened beside its name and type, as
/// `az ml datastore show` does, and the kind of credential (never the secret).
fn shown(row: &sluice_store::DatastoreRow) -> serde_json::Value {
    let mut v = serde_json::to_value(row).unwrap_or_default();
    if let (Some(obj), Some(settings)) = (v.as_object_mut(), row.settings.as_object()) {
        obj.remove("settings");
        for (k, val) in settings {
            if !val.is_null() {
                obj.insert(k.clone(), val.clone());
            }
        }
    }
    v
}

fn create(
    ctx: &Ctx<'_>,
    located: &workspace::Located,
    args: &DatastoreCreateArgs,
) -> Result<(), CliError> {
    let overrides = crate::commands::overrides_with(&args.set, &[("name", &args.name)])?;
    let mut warnings = Vec::new();
    let loaded = sluice_spec::load_datastore(&args.file, &overrides, &mut warnings);
    print_warnings(&warnings);
    let spec = loaded?;
    let (ws, actor) = workspace::open_as_contributor(
        located,
        ctx.global.token.as_deref(),
        "defining a datastore",
    )?;
    let before = ws
        .store()
        .get_datastore(&spec.name.value)?
        .map(|r| shown(&r));
    let (row, changed) = sluice_engine::create_datastore(&ws, &spec)?;
    if changed {
        crate::commands::record_definition(
            &ws,
            &actor,
            "datastore",
            &row.name,
            before.as_ref(),
            &shown(&row),
        )?;
    } else {
        crate::ui::note(&format!(
            "datastore `{}` is already defined so; nothing changed",
            row.name
        ));
    }
    ctx.printer.print(&shown(&row), COLUMNS)
}
