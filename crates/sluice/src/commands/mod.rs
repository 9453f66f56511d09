//! One module per command group; the tree mirrors `sluice <group> <command>`.

pub(crate) mod audit;
pub(crate) mod ci;
pub(crate) mod component;
pub(crate) mod compute;
pub(crate) mod data;
pub(crate) mod datastore;
pub(crate) mod environment;
pub(crate) mod infra;
pub(crate) mod job;
pub(crate) mod model;
pub(crate) mod server;
pub(crate) mod server_jobs;
pub(crate) mod step;
pub(crate) mod token;
pub(crate) mod workspace_cmd;

use crate::cli::{GlobalArgs, SetArgs};
use crate::error::CliError;
use crate::printer::Printer;

/// What every command gets.
pub(crate) struct Ctx<'a> {
    pub(crate) global: &'a GlobalArgs,
    pub(crate) printer: Printer,
}

/// Splits `name@latest` / `name:3` / `name` (+ an optional `--version`) into name and version.
pub(crate) fn split_name_version(name: &str, version: Option<&str>) -> (String, Option<String>) {
    if let Some(v) = version {
        return (
            name.trim_end_matches("@latest").to_owned(),
            Some(v.to_owned()),
        );
    }
    let name = name.strip_prefix("azureml:").unwrap_or(name);
    if let Some(n) = name.strip_suffix("@latest") {
        return (n.to_owned(), None);
    }
    match name.split_once(':') {
        Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
        None => (name.to_owned(), None),
    }
}

/// Records a compute or datastore definition made (`<kind>.create`) or changed
/// (`<kind>.update`, with what it was) by `compute create` / `datastore create` in the audit
/// log, as `infra apply` and the deletes record theirs.
pub(crate) fn record_definition(
    ws: &sluice_engine::Workspace,
    actor: &sluice_store::governance::Actor,
    kind: &str,
    name: &str,
    before: Option<&serde_json::Value>,
    after: &impl serde::Serialize,
) -> Result<(), CliError> {
    let action = if before.is_some() { "update" } else { "create" };
    let after = serde_json::to_value(after).unwrap_or_default();
    ws.store().governed(actor).record_change(
        &format!("{kind}.{action}"),
        &format!("{kind}/{name}"),
        before,
        Some(&after),
    )?;
    Ok(())
}

/// `compute delete` / `datastore delete`: as a contributor, finds the `kind` named `name`
/// (`azureml:` prefix allowed) as `find` shows it, deletes it with `delete`, records
/// `<kind>.delete` in the audit log with what it was, and prints it.
pub(crate) fn delete_definition(
    ctx: &Ctx<'_>,
    located: &crate::workspace::Located,
    kind: &str,
    name: &str,
    columns: &[&str],
    find: impl FnOnce(&sluice_engine::Workspace, &str) -> Result<Option<serde_json::Value>, CliError>,
    delete: impl FnOnce(&sluice_engine::Workspace, &str) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let name = name.strip_prefix("azureml:").unwrap_or(name);
    let (ws, actor) = crate::workspace::open_as_contributor(
        located,
        ctx.global.token.as_deref(),
        &format!("deleting a {kind}"),
    )?;
    let Some(before) = find(&ws, name)? else {
        return Err(CliError::NotFound {
            message: format!("{kind} `{name}` does not exist"),
            hint: Some(format!("list them with `sluice {kind} list -o table`")),
        });
    };
    delete(&ws, name)?;
    ws.store().governed(&actor).record_change(
        &format!("{kind}.delete"),
        &format!("{kind}/{name}"),
        Some(&before),
        None,
    )?;
    crate::ui::note(&format!("{kind} `{name}` deleted"));
    ctx.printer.print(&before, columns)
}

/// Prints the warnings a spec produced.
pub(crate) fn print_warnings(warnings: &[sluice_spec::Warning]) {
    // The same warning once: a sweep's trials share their file's lines.
    let mut said = std::collections::HashSet::new();
    for w in warnings {
        let text = w.to_string();
        if said.insert(text.clone()) {
            crate::ui::warn(&text);
        }
    }
}

/// `--set KEY=VALUE ...` as (key, value) pairs.
pub(crate) fn overrides(set: &SetArgs) -> Result<Vec<(String, String)>, CliError> {
    set.set
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| {
                    CliError::usage(
                        format!("`--set {kv}` is not KEY=VALUE"),
                        "write e.g. `--set inputs.learning_rate=0.1 experiment_name=x`",
                    )
                })
        })
        .collect()
}

/// `--set` values, then each flag that was given, as overrides of an asset file's keys.
pub(crate) fn overrides_with(
    set: &SetArgs,
    flags: &[(&str, &Option<String>)],
) -> Result<Vec<(String, String)>, CliError> {
    let mut out = overrides(set)?;
    for (key, value) in flags {
        if let Some(v) = value {
            out.push(((*key).to_owned(), v.clone()));
        }
    }
    Ok(out)
}

/// The asset file of a `create` given `--file`; without one, an empty mapping that the flags
/// fill in (relative paths against the current folder), when `--name` and `--path` are given.
pub(crate) fn asset_source(
    file: Option<&std::path::Path>,
    named_and_pathed: bool,
    command: &str,
) -> Result<sluice_spec::Source, CliError> {
    if let Some(file) = file {
        return Ok(sluice_spec::read_source(file)?);
    }
    if !named_and_pathed {
        return Err(CliError::usage(
            format!("`{command}` needs `--file`, or `--name` and `--path`"),
            format!(
                "write `sluice {command} --file FILE.yml`, or `sluice {command} --name N --path ./PATH --type TYPE`"
            ),
        ));
    }
    let mut source = sluice_spec::Source::new("the command line", "{}\n");
    source.dir = std::env::current_dir().unwrap_or_default();
    Ok(source)
}
