//! `type: parallel` steps (Azure's parallel job, task `run_function`): the step is read as a
//! command step that runs `sluice step parallel-run`, which splits `input_data` into
//! mini-batches (files of a folder, or rows of an `mltable`, by `partition_keys` when given),
//! runs the task's `entry_script` (`init()` once per worker, `run(mini_batch)` per mini-batch)
//! in `resources.instance_count` x `max_concurrency_per_instance` worker processes, retries and
//! times each mini-batch per `retry_settings`, counts failures against `error_threshold` and
//! `mini_batch_error_threshold`, and appends what `run()` returns to `append_row_to`.
//!
//! The rewrite keeps every other field of the step (inputs, outputs, compute, environment
//! variables, ...), so bindings, reuse and lineage are those of any command step.

use std::fmt::Write as _;

use crate::decode::Ctx;
use crate::diag::SpecError;
use crate::source::Span;
use crate::yaml::{Node, Value};

/// The fields of a parallel step the rewrite reads (they are not fields of a command step).
const PARALLEL_FIELDS: [&str; 10] = [
    "task",
    "input_data",
    "mini_batch_size",
    "partition_keys",
    "max_concurrency_per_instance",
    "error_threshold",
    "mini_batch_error_threshold",
    "logging_level",
    "retry_settings",
    "resources",
];

/// The fields of a `run_function` task.
const TASK_FIELDS: [&str; 7] = [
    "type",
    "code",
    "entry_script",
    "environment",
    "program_arguments",
    "append_row_to",
    "environment_variables",
];

/// The settings of a parallel step that Azure lets a pipeline bind to its inputs ("a dynamic
/// value by binding to a pipeline primitive input"), by their path in the step.
const BINDABLE: [&[&str]; 7] = [
    &["resources", "instance_count"],
    &["max_concurrency_per_instance"],
    &["mini_batch_size"],
    &["error_threshold"],
    &["mini_batch_error_threshold"],
    &["retry_settings", "max_retries"],
    &["retry_settings", "timeout"],
];

/// The node at `path` (keys of nested mappings) inside `node`.
fn at_path<'n>(node: &'n mut Node, path: &[&str]) -> Option<&'n mut Node> {
    let mut here = node;
    for key in path {
        let Value::Map(entries) = &mut here.value else {
            return None;
        };
        here = entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some(*key))
            .map(|(_, v)| v)?;
    }
    Some(here)
}

/// The pipeline's `jobs:` with each parallel step's settings bound to one of the pipeline's own
/// inputs (`${{parent.inputs.X}}`) replaced by that input's value, when it is a literal (the
/// value after `--set`): the settings become flags of the step's command when it is read.
/// `None` when the pipeline has no parallel step.
pub(crate) fn bind_settings(jobs: &Node, inputs: Option<&Node>) -> Option<Node> {
    let literal = |name: &str| -> Option<Node> {
        let value = field(inputs?, name)?;
        let value = match &value.value {
            Value::Map(_) => field(value, "default").or_else(|| field(value, "value"))?,
            _ => value,
        };
        matches!(
            value.value,
            Value::Int(_) | Value::Float(_) | Value::Str { .. } | Value::Bool(_)
        )
        .then(|| value.clone())
    };
    let parent_input = |n: &Node| match crate::binding::whole_binding(n.as_str()?) {
        Some(Ok(crate::Binding::ParentInput(name))) => Some(name),
        _ => None,
    };
    let parallel = matches!(&jobs.value, Value::Map(e) if e.iter().any(|(_, v)| is_parallel(v)));
    if !parallel {
        return None;
    }
    let mut out = jobs.clone();
    if let Value::Map(entries) = &mut out.value {
        for (_, step) in entries.iter_mut().filter(|(_, v)| is_parallel(v)) {
            for path in BINDABLE {
                if let Some(setting) = at_path(step, path)
                    && let Some(name) = parent_input(setting)
                    && let Some(value) = literal(&name)
                {
                    *setting = Node {
                        value: value.value,
                        span: setting.span,
                    };
                }
            }
        }
    }
    Some(out)
}

/// Whether a `jobs:` entry (or a component file) is a `type: parallel` one.
pub(crate) fn is_parallel(node: &Node) -> bool {
    field(node, "type").is_some_and(|t| t.as_str() == Some("parallel"))
}

fn field<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null()),
        _ => None,
    }
}

fn text(value: String, span: Span) -> Node {
    Node {
        value: Value::Str {
            text: value,
            quoted: true,
        },
        span,
    }
}

/// Single-quoted for `sh` when it holds anything but plain word characters.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ',' | ':'))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The name `X` of a `${{inputs.X}}` (or `outputs`) reference that is the whole of `node`.
fn reference<'n>(
    ctx: &Ctx<'_>,
    node: &'n Node,
    kind: &str,
    field: &str,
) -> Result<&'n str, SpecError> {
    let inner = node
        .as_str()
        .map(str::trim)
        .and_then(|s| s.strip_prefix("${{"))
        .and_then(|s| s.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|s| s.strip_prefix(kind))
        .and_then(|s| s.strip_prefix('.'));
    match inner {
        Some(name)
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            Ok(name)
        }
        _ => Err(ctx
            .error(node, format!("`{field}` must be `${{{{{kind}.NAME}}}}`"))
            .with_label(format!("not a reference to one of the step's {kind}"))
            .with_help(format!(
                "name one of the step's {kind}, e.g. `${{{{{kind}.data}}}}`"
            ))),
    }
}

/// Checks that `name` is a key of the step's `inputs` (or `outputs`) mapping; returns its
/// declared `type` when it has one.
fn declared(
    ctx: &Ctx<'_>,
    step: &Node,
    kind: &str,
    name: &str,
    at: &Node,
) -> Result<Option<String>, SpecError> {
    let entries = match field(step, kind).map(|n| &n.value) {
        Some(Value::Map(entries)) => entries.as_slice(),
        _ => &[],
    };
    let Some((_, value)) = entries.iter().find(|(k, _)| k.as_str() == Some(name)) else {
        let names: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
        let err = ctx
            .error(
                at,
                format!("the step has no {} `{name}`", kind.trim_end_matches('s')),
            )
            .with_label(format!("not one of the step's {kind}"));
        return Err(match crate::decode::suggest(name, &names) {
            Some(s) => err.with_help(format!("did you mean `{s}`?")),
            None => err.with_help(format!("declare it under the step's `{kind}:`")),
        });
    };
    Ok(field(value, "type")
        .and_then(Node::as_str)
        .map(str::to_owned))
}

/// A whole number of at least `min`, or `default` when absent.
fn whole(
    ctx: &Ctx<'_>,
    node: Option<&Node>,
    field: &str,
    min: i64,
    default: i64,
) -> Result<i64, SpecError> {
    match node {
        None => Ok(default),
        Some(n) => match n.value {
            Value::Int(i) if i >= min => Ok(i),
            // Azure's examples quote some numbers.
            Value::Str { ref text, .. } if text.trim().parse::<i64>().is_ok_and(|i| i >= min) => {
                Ok(text.trim().parse().unwrap_or(default))
            }
            Value::Str { ref text, .. } if text.trim().starts_with("${{") => Err(ctx
                .error(n, format!("`{field}` is bound to `{}`, which Sluice cannot read as a number here", text.trim()))
                .with_label("not a literal")
                .with_help("bind it to an input of the pipeline job itself that has a literal value (`inputs: {count: 2}`), or write the number")),
            _ => Err(ctx.expected(n, &format!("a whole number of at least {min}"), field)),
        },
    }
}

/// A `mini_batch_size`: a number of files for a folder, a size for an `mltable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiniBatchSize {
    pub number: u64,
    /// Bytes a unit (`kb`: 1024) when a unit is written; a bare number has none.
    pub unit: Option<u64>,
}

impl MiniBatchSize {
    /// Reads `10`, `100kb`, `1MB`, `2gb`, `512b` (no spaces, above zero).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().to_ascii_lowercase();
        let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit_text = &t[digits.len()..];
        // Azure's reference writes `100 kb`.
        let digits = if unit_text.is_empty() {
            digits
        } else {
            digits.trim_end()
        };
        let unit = match unit_text {
            "" => None,
            "b" => Some(1),
            "kb" => Some(1 << 10),
            "mb" => Some(1 << 20),
            "gb" => Some(1 << 30),
            _ => return None,
        };
        let number = digits.parse::<u64>().ok().filter(|&n| n > 0)?;
        Some(MiniBatchSize { number, unit })
    }
}

/// The `sluice step parallel-run` flags of a parallel step's settings (`mini_batch_size`,
/// `partition_keys`, workers, thresholds, retries, `logging_level`), appended to `command`:
/// every one (defaults for those absent), or only those `node` sets (`present_only`: a step's
/// overrides of its parallel component's). `input_type` is the split input's declared type.
pub(crate) fn settings(
    ctx: &Ctx<'_>,
    node: &Node,
    input_type: Option<&str>,
    present_only: bool,
    command: &mut String,
) -> Result<(), SpecError> {
    let files = matches!(input_type, Some("uri_folder" | "uri_file"));
    if let Some(size) = field(node, "mini_batch_size") {
        let text = match &size.value {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str { text, .. } => text.clone(),
            _ => String::new(),
        };
        match MiniBatchSize::parse(&text) {
            None if text.trim().starts_with("${{") => {
                return Err(ctx
                    .error(size, format!("`mini_batch_size` is bound to `{}`, which Sluice cannot read as a count or size here", text.trim()))
                    .with_label("not a literal")
                    .with_help("bind it to an input of the pipeline job itself that has a literal value, or write the size"));
            }
            None => {
                return Err(ctx
                    .error(size, format!("`mini_batch_size` `{text}` is neither a number of files nor a size"))
                    .with_help("write a number of files (`10`) for a folder, or a size (`100kb`, `1mb`) for an mltable"));
            }
            Some(m) if files && m.unit.is_some() => {
                return Err(ctx
                    .error(size, format!("`mini_batch_size` `{text}` is a size, but the input is a folder of files"))
                    .with_help("for files, write how many go in a mini-batch: `mini_batch_size: \"10\"`"));
            }
            Some(m) => {
                let unit = match m.unit {
                    None => "",
                    Some(1) => "b",
                    Some(1024) => "kb",
                    Some(1_048_576) => "mb",
                    Some(_) => "gb",
                };
                let _ = write!(command, " --mini-batch-size {}{unit}", m.number);
            }
        }
    }
    if let Some(keys) = field(node, "partition_keys") {
        let Value::Seq(items) = &keys.value else {
            return Err(ctx.expected(keys, "a list of column names", "partition_keys"));
        };
        if files {
            return Err(ctx
                .error(
                    keys,
                    "`partition_keys` group a table's rows, but the input is a folder of files",
                )
                .with_help("make the input an `mltable`, or leave `partition_keys` out"));
        }
        let mut names = Vec::new();
        for item in items {
            match item.as_str() {
                Some(k) if !k.is_empty() && !k.contains(',') => names.push(k.to_owned()),
                _ => return Err(ctx.expected(item, "a column name", "partition_keys")),
            }
        }
        if !names.is_empty() {
            let _ = write!(command, " --partition-keys {}", quote(&names.join(",")));
        }
    }
    let count = field(node, "resources").and_then(|r| field(r, "instance_count"));
    let per = field(node, "max_concurrency_per_instance");
    if !present_only || count.is_some() || per.is_some() {
        let instances = whole(ctx, count, "resources.instance_count", 1, 1)?;
        let per_instance = whole(ctx, per, "max_concurrency_per_instance", 1, 1)?;
        let _ = write!(
            command,
            " --workers {}",
            instances.saturating_mul(per_instance)
        );
    }
    for (key, flag) in [
        ("error_threshold", "--error-threshold"),
        ("mini_batch_error_threshold", "--mini-batch-error-threshold"),
    ] {
        let given = field(node, key);
        if !present_only || given.is_some() {
            let value = whole(ctx, given, key, -1, -1)?;
            let _ = write!(command, " {flag} {value}");
        }
    }
    let retry = field(node, "retry_settings");
    // Azure's YAML reference: 2 retries of a failed mini-batch, each run() given 60 s.
    for (key, flag, min, default) in [
        ("max_retries", "--max-retries", 0, 2),
        ("timeout", "--timeout", 1, 60),
    ] {
        let given = retry.and_then(|r| field(r, key));
        if !present_only || given.is_some() {
            let value = whole(ctx, given, &format!("retry_settings.{key}"), min, default)?;
            let _ = write!(command, " {flag} {value}");
        }
    }
    if let Some(level) = field(node, "logging_level").and_then(Node::as_str) {
        let _ = write!(command, " --logging-level {}", quote(level));
    }
    Ok(())
}

/// The command step (or component) a `type: parallel` one runs as (see the module's
/// documentation); `what` names it in messages. For a step that runs a parallel component, the
/// flags of the settings the step overrides come second (the component is rewritten where it
/// is read; they go into its command, see [`with_overrides`]).
pub(crate) fn as_command(
    ctx: &mut Ctx<'_>,
    what: &str,
    node: &Node,
) -> Result<(Node, String), SpecError> {
    let Value::Map(entries) = &node.value else {
        return Ok((node.clone(), String::new()));
    };
    if field(node, "task").is_none() && field(node, "component").is_some() {
        let mut overrides = String::new();
        settings(ctx, node, None, true, &mut overrides)?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match k.as_str() {
                Some("type") => out.push((k.clone(), text("command".to_owned(), v.span))),
                Some(key) if PARALLEL_FIELDS.contains(&key) => {}
                _ => out.push((k.clone(), v.clone())),
            }
        }
        return Ok((
            Node {
                value: Value::Map(out),
                span: node.span,
            },
            overrides,
        ));
    }
    let Some(task) = field(node, "task") else {
        let help = if field(node, "command").is_some() {
            "a parallel job runs a `task: {type: run_function, code: ./src, entry_script: score.py}`, not a `command`; add one, or make it `type: command`"
        } else {
            "add `task: {type: run_function, code: ./src, entry_script: score.py}`"
        };
        return Err(ctx
            .error(node, format!("{what} has no `task`"))
            .with_help(help));
    };
    let Value::Map(task_entries) = &task.value else {
        return Err(ctx.expected(task, "a mapping", "task"));
    };
    for (k, _) in task_entries {
        let key = k.as_str().unwrap_or_default();
        if key == "args" {
            if field(task, "program_arguments").is_some() {
                return Err(ctx
                    .error(k, "the task has both `args` and `program_arguments`")
                    .with_help(
                        "`args` is the preview schema's name for `program_arguments`: keep one",
                    ));
            }
            // The 2022 preview's name, still in older examples.
            ctx.warn(k, "`task.args` is the preview schema's name: Azure's GA schema calls it `program_arguments` (read as such)");
            continue;
        }
        if !TASK_FIELDS.contains(&key) {
            let err = ctx
                .error(
                    k,
                    format!("`task.{key}` is not a field of a `run_function` task"),
                )
                .with_label("unknown field");
            return Err(match crate::decode::suggest(key, &TASK_FIELDS) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help(format!("a task has: {}", TASK_FIELDS.join(", "))),
            });
        }
    }
    // `function` is the preview's name, which Azure's GA schema still takes.
    if let Some(t) = field(task, "type")
        && !matches!(t.as_str(), Some("run_function" | "function"))
    {
        return Err(ctx
            .error(
                t,
                format!("task type `{}` is not supported", t.as_str().unwrap_or("?")),
            )
            .with_help("a parallel job's task is `type: run_function` (Azure's only one)"));
    }
    let Some(entry) = field(task, "entry_script") else {
        return Err(ctx.error(task, "the task has no `entry_script`").with_help(
            "name the script with `init()` and `run(mini_batch)`: `entry_script: score.py`",
        ));
    };
    let Some(entry_name) = entry.as_str() else {
        return Err(ctx.expected(entry, "a file name", "task.entry_script"));
    };
    let Some(input_node) = field(node, "input_data") else {
        return Err(ctx
            .error(node, format!("{what} has no `input_data`"))
            .with_help(
                "name the input to split into mini-batches: `input_data: ${{inputs.data}}`",
            ));
    };
    let input = reference(ctx, input_node, "inputs", "input_data")?;
    let input_type = declared(ctx, node, "inputs", input, input_node)?;
    let mut command = format!(
        "sluice step parallel-run --entry-script {} --input-data '${{{{inputs.{input}}}}}'",
        quote(entry_name)
    );
    if let Some(t) = &input_type {
        let _ = write!(command, " --input-type {}", quote(t));
    }
    settings(ctx, node, input_type.as_deref(), false, &mut command)?;
    if let Some(out_node) = field(task, "append_row_to") {
        let output = reference(ctx, out_node, "outputs", "task.append_row_to")?;
        declared(ctx, node, "outputs", output, out_node)?;
        let _ = write!(command, " --append-row-to '${{{{outputs.{output}}}}}'");
    }
    let program = field(task, "program_arguments").or_else(|| field(task, "args"));
    if let Some(args) = program {
        let Some(args) = args.as_str() else {
            return Err(ctx.expected(args, "a string", "task.program_arguments"));
        };
        // One command line, as Azure gives them to the script (a `|` block's lines too).
        let line: Vec<&str> = args
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        command.push_str(" -- ");
        command.push_str(&line.join(" "));
    }

    let mut out: Vec<(Node, Node)> = Vec::with_capacity(entries.len() + 3);
    for (k, v) in entries {
        match k.as_str() {
            Some("type") => out.push((k.clone(), text("command".to_owned(), v.span))),
            Some(key) if PARALLEL_FIELDS.contains(&key) => {}
            _ => out.push((k.clone(), v.clone())),
        }
    }
    for key in ["code", "environment"] {
        if let Some((k, v)) = task_entries.iter().find(|(k, _)| k.as_str() == Some(key)) {
            out.push((k.clone(), v.clone()));
        }
    }
    // The task's environment variables, the step's winning where both name one.
    if let Some((k, v)) = task_entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("environment_variables"))
    {
        match (
            &v.value,
            out.iter_mut()
                .find(|(key, _)| key.as_str() == Some("environment_variables")),
        ) {
            (_, None) => out.push((k.clone(), v.clone())),
            (Value::Map(task_vars), Some((_, step_vars))) => {
                if let Value::Map(step_map) = &mut step_vars.value {
                    for (name, value) in task_vars {
                        if !step_map.iter().any(|(n, _)| n.as_str() == name.as_str()) {
                            step_map.push((name.clone(), value.clone()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Bindings the command cannot resolve are shown where they were written.
    let at = program.map_or(entry.span, |p| p.span);
    out.push((text("command".to_owned(), task.span), text(command, at)));
    Ok((
        Node {
            value: Value::Map(out),
            span: node.span,
        },
        String::new(),
    ))
}

/// A parallel component's command with a step's overrides of its settings: placed before the
/// program arguments, after the component's own flags (the later flag wins).
pub(crate) fn with_overrides(command: &str, overrides: &str) -> String {
    match command.find(" -- ") {
        Some(at) => format!("{}{overrides}{}", &command[..at], &command[at..]),
        None => format!("{command}{overrides}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mini_batch_sizes_are_counts_or_sizes() {
        assert_eq!(
            MiniBatchSize::parse("10KB"),
            Some(MiniBatchSize {
                number: 10,
                unit: Some(1024)
            })
        );
        for ok in ["10", "5", "10kb", "1MB", "2gb", "1024", "100b"] {
            assert!(MiniBatchSize::parse(ok).is_some(), "{ok}");
        }
        assert!(MiniBatchSize::parse("100 kb").is_some());
        for bad in ["", "0", "ten", "1tb", "-3", "1.5mb", "1 0kb"] {
            assert!(MiniBatchSize::parse(bad).is_none(), "{bad}");
        }
    }

    /// The preview schema's `type: function` and `args` (still in Azure's examples) read as
    /// `run_function` and `program_arguments`, `args` with a located warning; a component's
    /// `compute` is ignored with one.
    #[test]
    fn preview_task_names_are_read_as_their_ga_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        let yaml = "\
type: pipeline
jobs:
  score:
    type: parallel
    inputs:
      data: {type: uri_folder, path: ./src}
    outputs:
      scores: {type: uri_file}
    input_data: ${{inputs.data}}
    task:
      type: function
      code: ./src
      entry_script: score.py
      args: >-
        --threshold 0.5
      append_row_to: ${{outputs.scores}}
";
        let path = dir.path().join("pipeline.yml");
        std::fs::write(&path, yaml).unwrap();
        let mut warnings = Vec::new();
        let job = crate::load_job(&path, &[], None, &mut warnings).unwrap();
        let command = &job.steps["score"].component.command.value;
        assert!(command.starts_with("sluice step parallel-run"), "{command}");
        assert!(command.ends_with(" -- --threshold 0.5"), "{command}");
        let warned: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert!(
            warned
                .iter()
                .any(|w| w.contains("pipeline.yml:14:7") && w.contains("`program_arguments`")),
            "{warned:?}"
        );
    }

    #[test]
    fn words_are_quoted_for_the_shell_when_needed() {
        assert_eq!(quote("score.py"), "score.py");
        assert_eq!(quote("Store,Brand"), "Store,Brand");
        assert_eq!(quote("my script.py"), "'my script.py'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
