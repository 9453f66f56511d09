//! One module per command group; the tree mirrors `sluice <group> <command>`.

pub(crate) mod audit;
pub(crate) mod compute;
pub(crate) mod data;
pub(crate) mod environment;
pub(crate) mod job;
pub(crate) mod model;
pub(crate) mod server;
pub(crate) mod step;
pub(crate) mod token;

use crate::cli::GlobalArgs;
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

/// Prints the warnings a spec produced.
pub(crate) fn print_warnings(warnings: &[sluice_spec::Warning]) {
    for w in warnings {
        crate::ui::warn(&w.to_string());
    }
}
