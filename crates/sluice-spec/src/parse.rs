//! Decoding of job, component, environment and data files into typed specs.

use std::path::Path;

use indexmap::IndexMap;

use crate::asset::{AssetRef, parse_asset_ref};
use crate::binding::{Binding, parse_template, whole_binding};
use crate::decode::{AssetLookup, Ctx, MapReader, suggest};
use crate::diag::{SpecError, Warning};
use crate::pipeline::{ComponentDef, Entry, NestedStep};
use crate::source::{Source, Spanned};
use crate::types::{
    ComponentSpec, DataSpec, EnvironmentRef, EnvironmentSpec, FileAssetSpec, InputDef, InputValue,
    IoType, JobKind, JobSpec, ModelSpec, OutputDef, OutputValue, Settings, StepSpec,
};
use crate::yaml::{self, Node, Value};

/// Keys Azure ML accepts on command jobs that have no local meaning.
const IGNORED_JOB_KEYS: &[&str] = &[
    "identity",
    "services",
    "queue_settings",
    "properties",
    "status",
];

/// Reads a file into a [`Source`], with a clear error if it cannot be read.
pub fn read_source(path: &Path) -> Result<Source, SpecError> {
    Source::read(path).map_err(|e| {
        let err = SpecError::file(
            &path.display().to_string(),
            format!("cannot read `{}`: {e}", path.display()),
        );
        if e.kind() == std::io::ErrorKind::NotFound {
            err.with_help("check the path; relative paths resolve against the current directory")
        } else {
            err
        }
    })
}

/// Parses a YAML file into a node tree, applying `--set key=value` overrides.
pub(crate) fn load_tree(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<Node, SpecError> {
    let mut root = yaml::parse(source, warnings)?;
    if !matches!(root.value, Value::Map(_)) {
        return Err(SpecError::new(
            source,
            root.span,
            format!(
                "the file must be a YAML mapping, found {}",
                root.value.kind()
            ),
        )
        .with_help("a job file starts with keys such as `type: pipeline` and `jobs:`"));
    }
    for (key, value) in overrides {
        set_path(&mut root, key, value).map_err(|msg| {
            SpecError::new(
                source,
                root.span,
                format!("cannot apply `--set {key}={value}`: {msg}"),
            )
        })?;
    }
    Ok(root)
}

fn set_path(root: &mut Node, key: &str, value: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("the key has an empty part".into());
    }
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        let span = node.span;
        if node.is_null() {
            node.value = Value::Map(Vec::new());
        }
        let Value::Map(entries) = &mut node.value else {
            return Err(format!("`{}` is not a mapping", parts[..i].join(".")));
        };
        let pos = entries.iter().position(|(k, _)| k.as_str() == Some(part));
        let idx = pos.unwrap_or_else(|| {
            let key = Node {
                value: Value::Str {
                    text: (*part).to_owned(),
                    quoted: false,
                },
                span,
            };
            entries.push((
                key,
                Node {
                    value: Value::Null,
                    span,
                },
            ));
            entries.len() - 1
        });
        node = &mut entries[idx].1;
    }
    let mut w = Vec::new();
    let parsed = yaml::parse(&Source::new("--set", value.to_owned()), &mut w).map_or_else(
        |_| Value::Str {
            text: value.to_owned(),
            quoted: true,
        },
        |n| n.value,
    );
    // `--set inputs.x=5` on a data input replaces its path, as `az ml` does.
    if let Value::Map(entries) = &mut node.value
        && let Some((_, path)) = entries.iter_mut().find(|(k, _)| k.as_str() == Some("path"))
    {
        path.value = parsed;
        return Ok(());
    }
    node.value = parsed;
    Ok(())
}

/// A literal's text as a command line or a path would take it (strings unquoted).
pub(crate) fn literal_string(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads and validates a job file (`type: pipeline` or `type: command`); registered
/// components are looked up in `assets`.
pub fn load_job(
    path: &Path,
    overrides: &[(String, String)],
    assets: Option<&dyn AssetLookup>,
    warnings: &mut Vec<Warning>,
) -> Result<JobSpec, SpecError> {
    let source = read_source(path)?;
    parse_job(&source, overrides, assets, warnings)
}

/// Parses and validates a job from its source text.
pub fn parse_job(
    source: &Source,
    overrides: &[(String, String)],
    assets: Option<&dyn AssetLookup>,
    warnings: &mut Vec<Warning>,
) -> Result<JobSpec, SpecError> {
    let root = load_tree(source, overrides, warnings)?;
    let mut ctx = Ctx {
        source,
        warnings,
        assets,
    };
    let job = decode_job(&mut ctx, &root)?;
    crate::validate::validate(&job)?;
    Ok(job)
}

fn decode_job(ctx: &mut Ctx<'_>, root: &Node) -> Result<JobSpec, SpecError> {
    let mut r = MapReader::new(ctx, root, "a job file")?;
    let ty = ctx.opt_string(r.get("type"), "type")?;
    let kind = match ty.as_ref().map(|t| t.value.as_str()) {
        Some("pipeline") => JobKind::Pipeline,
        Some("command") => JobKind::Command,
        Some("sweep") => return decode_sweep_job(ctx, root, &mut r),
        None => {
            if r.get("jobs").is_some() {
                JobKind::Pipeline
            } else if r.get("command").is_some() {
                JobKind::Command
            } else if let Some(what) = out_of_scope_schema(r.get("$schema")) {
                return Err(ctx
                    .error(
                        root,
                        format!(
                            "{what} files are not supported: Sluice runs pipeline, command and sweep jobs"
                        ),
                    )
                    .with_help(
                        "run the training part as a `type: pipeline` or `type: command` job",
                    ));
            } else {
                return Err(ctx.error(root, "the job file has no `type`").with_help(
                    "add `type: pipeline` (with `jobs:`) or `type: command` (with `command:`)",
                ));
            }
        }
        Some(other) => return Err(unsupported_type(ctx, ty.as_ref().expect("some"), other)),
    };
    let header = read_job_header(ctx, &mut r)?;
    match kind {
        JobKind::Pipeline => {
            let settings = decode_settings(ctx, r.get("settings"))?;
            let r_inputs = r.get("inputs");
            let inputs = decode_inputs(ctx, r_inputs, "inputs")?;
            let outputs = decode_outputs(ctx, r.get("outputs"), "outputs")?;
            let component_node = r.get("component").filter(|n| !n.is_null());
            let jobs_node = r.get("jobs");
            r.ignore(ctx, &["identity", "services", "properties", "status"]);
            r.finish_lenient(ctx);
            let steps = if let Some(c) = component_node {
                if let Some(j) = jobs_node.filter(|n| !n.is_null()) {
                    return Err(ctx
                        .error(
                            j,
                            "a pipeline job has either `jobs` or `component`, not both",
                        )
                        .with_help(
                            "move these jobs into the pipeline component, or remove `component`",
                        ));
                }
                crate::pipeline::expand_job_component(
                    ctx,
                    c,
                    &inputs,
                    &outputs,
                    header.compute.as_ref(),
                    settings.default_environment.as_ref(),
                )?
            } else {
                let Some(jobs_node) = jobs_node.filter(|n| !n.is_null()) else {
                    return Err(ctx
                        .error(root, "the pipeline has no `jobs`")
                        .with_help("add a `jobs:` mapping with at least one step, or `component: ./pipeline_component.yml`"));
                };
                let bound = crate::parallel::bind_settings(jobs_node, r_inputs);
                let jobs_node = bound.as_ref().unwrap_or(jobs_node);
                crate::pipeline::decode_jobs(ctx, jobs_node, settings.default_environment.as_ref())?
            };
            Ok(header.into_job(ctx.source, kind, settings, inputs, outputs, steps))
        }
        JobKind::Command => {
            let inputs = decode_inputs(ctx, r.get("inputs"), "inputs")?;
            let outputs = decode_outputs(ctx, r.get("outputs"), "outputs")?;
            let step_name = Spanned::new("main".to_owned(), root.span);
            let (component, environment_variables, timeout) =
                decode_inline_command(ctx, &mut r, &inputs, &outputs, None)?;
            let retry = decode_retry(ctx, r.get("retry"), "retry")?;
            let scale = crate::scale::decode_scale(ctx, &mut r)?;
            r.ignore(ctx, IGNORED_JOB_KEYS);
            r.finish(ctx)?;
            // The single step takes the job's inputs and outputs through bindings.
            let step_inputs = bound_inputs(&inputs);
            let step_outputs = bound_outputs(&outputs);
            let step = StepSpec {
                name: step_name.clone(),
                source: ctx.source.clone(),
                display_name: header.display_name.clone(),
                description: header.description.clone(),
                tags: IndexMap::new(),
                component,
                inputs: step_inputs,
                outputs: step_outputs,
                compute: header.compute.clone(),
                environment_variables,
                timeout,
                retry,
                scale,
                after: Vec::new(),
                concurrency: None,
                may_fail: false,
                watch: None,
            };
            let mut steps = IndexMap::new();
            steps.insert(step_name.value, step);
            Ok(header.into_job(
                ctx.source,
                kind,
                Settings::default(),
                inputs,
                outputs,
                steps,
            ))
        }
    }
}

/// What every job file may say about itself.
struct JobHeader {
    schema: Option<String>,
    name: Option<Spanned<String>>,
    display_name: Option<String>,
    experiment_name: Option<String>,
    description: Option<String>,
    tags: IndexMap<String, String>,
    compute: Option<Spanned<String>>,
}

impl JobHeader {
    /// The job these fields head.
    fn into_job(
        self,
        source: &Source,
        kind: JobKind,
        settings: Settings,
        inputs: IndexMap<String, (Spanned<String>, InputValue)>,
        outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
        steps: IndexMap<String, StepSpec>,
    ) -> JobSpec {
        JobSpec {
            source: source.clone(),
            kind,
            schema: self.schema,
            name: self.name,
            display_name: self.display_name,
            experiment_name: self.experiment_name,
            description: self.description,
            tags: self.tags,
            settings,
            compute: self.compute,
            inputs,
            outputs,
            steps,
        }
    }
}

fn read_job_header(ctx: &mut Ctx<'_>, r: &mut MapReader<'_>) -> Result<JobHeader, SpecError> {
    let schema = ctx
        .opt_string(r.get("$schema"), "$schema")?
        .map(|s| s.value);
    let name = ctx.opt_string(r.get("name"), "name")?;
    if let Some(n) = &name {
        check_name(ctx, n, "job name")?;
    }
    let Labels {
        display_name,
        description,
        tags,
    } = read_labels(ctx, r)?;
    Ok(JobHeader {
        schema,
        name,
        display_name,
        experiment_name: ctx
            .opt_string(r.get("experiment_name"), "experiment_name")?
            .map(|s| s.value),
        description,
        tags,
        compute: ctx.opt_string(r.get("compute"), "compute")?,
    })
}

/// A job's, a step's or a component's `display_name`, `description` and `tags`.
pub(crate) struct Labels {
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: IndexMap<String, String>,
}

pub(crate) fn read_labels(ctx: &mut Ctx<'_>, r: &mut MapReader<'_>) -> Result<Labels, SpecError> {
    Ok(Labels {
        display_name: ctx
            .opt_string(r.get("display_name"), "display_name")?
            .map(|s| s.value),
        description: ctx
            .opt_string(r.get("description"), "description")?
            .map(|s| s.value),
        tags: ctx.string_map(r.get("tags"), "tags")?,
    })
}

/// The job's inputs as its one step takes them: `${{parent.inputs.X}}` each.
fn bound_inputs(
    inputs: &IndexMap<String, (Spanned<String>, InputValue)>,
) -> IndexMap<String, (Spanned<String>, InputValue)> {
    inputs
        .iter()
        .map(|(k, (key, _))| {
            let binding = Spanned::new(Binding::ParentInput(k.clone()), key.span);
            (
                k.clone(),
                (
                    key.clone(),
                    InputValue::Bound {
                        binding,
                        mode: None,
                    },
                ),
            )
        })
        .collect()
}

/// The job's outputs as its one step writes them: `${{parent.outputs.X}}` each.
fn bound_outputs(
    outputs: &IndexMap<String, (Spanned<String>, OutputValue)>,
) -> IndexMap<String, (Spanned<String>, OutputValue)> {
    outputs
        .iter()
        .map(|(k, (key, _))| {
            let binding = Spanned::new(Binding::ParentOutput(k.clone()), key.span);
            (k.clone(), (key.clone(), OutputValue::Bound(binding)))
        })
        .collect()
}

/// A sweep job file: a pipeline of one sweep step named `sweep`, given the job's inputs and
/// writing its outputs (the best trial's).
fn decode_sweep_job(
    ctx: &mut Ctx<'_>,
    root: &Node,
    r: &mut MapReader<'_>,
) -> Result<JobSpec, SpecError> {
    let header = read_job_header(ctx, r)?;
    let inputs = decode_inputs(ctx, r.get("inputs"), "inputs")?;
    let outputs = decode_outputs(ctx, r.get("outputs"), "outputs")?;
    let standalone = crate::sweep::Standalone {
        bound_inputs: bound_inputs(&inputs),
        bound_outputs: bound_outputs(&outputs),
        inputs: inputs.clone(),
        outputs: outputs.clone(),
    };
    let step = Spanned::new("sweep".to_owned(), root.span);
    let steps = crate::sweep::decode_sweep_step(ctx, &step, root, None, Some(standalone))?
        .into_iter()
        .map(|s| (s.name.value.clone(), s))
        .collect();
    Ok(header.into_job(
        ctx.source,
        JobKind::Pipeline,
        Settings::default(),
        inputs,
        outputs,
        steps,
    ))
}

/// Schemas of files that are not jobs Sluice runs, and what to call them.
const OUT_OF_SCOPE_SCHEMAS: &[(&str, &str)] = &[
    ("managedonlineendpoint", "online endpoint"),
    ("kubernetesonlineendpoint", "online endpoint"),
    ("batchendpoint", "batch endpoint"),
    ("managedonlinedeployment", "online deployment"),
    ("kubernetesonlinedeployment", "online deployment"),
    ("batchdeployment", "batch deployment"),
    ("schedule", "schedule"),
    ("automl", "AutoML job"),
    ("spark", "Spark job"),
    ("datatransfer", "data transfer job"),
    ("workspace", "workspace"),
    ("compute", "compute"),
    ("datastore", "datastore"),
    ("registry", "registry"),
    ("connection", "connection"),
];

/// What a file is, by its `$schema`, when it is something Sluice does not run (endpoints,
/// deployments, schedules, ...).
fn out_of_scope_schema(schema: Option<&Node>) -> Option<String> {
    let url = schema?.as_str()?.to_ascii_lowercase();
    let name = url
        .rsplit('/')
        .next()?
        .trim_end_matches(".json")
        .trim_end_matches(".schema");
    OUT_OF_SCOPE_SCHEMAS
        .iter()
        .find(|(k, _)| name.contains(k))
        .map(|(_, what)| format!("`{name}` ({what})"))
}

fn unsupported_type(ctx: &Ctx<'_>, node: &Spanned<String>, ty: &str) -> SpecError {
    let known = [
        "pipeline",
        "command",
        "sweep",
        "parallel",
        "spark",
        "automl",
        "data_transfer",
        "import",
    ];
    let err = SpecError::new(
        ctx.source,
        node.span,
        format!("job type `{ty}` is not supported"),
    )
    .with_label("unsupported type");
    if ty == "parallel" {
        err.with_help(
            "a parallel job runs as a step of a pipeline (`type: parallel` under `jobs:`)",
        )
    } else if known.contains(&ty) {
        err.with_help(
            "Sluice runs `pipeline`, `command`, `sweep` and `parallel` jobs; rewrite this step as a `command` job",
        )
    } else if let Some(s) = suggest(ty, &["pipeline", "command", "sweep", "parallel"]) {
        err.with_help(format!("did you mean `{s}`?"))
    } else {
        err.with_help("use `type: pipeline`, `type: command`, `type: sweep` or `type: parallel`")
    }
}

pub(crate) fn check_name(
    ctx: &Ctx<'_>,
    name: &Spanned<String>,
    what: &str,
) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            ctx.source,
            name.span,
            format!("invalid {what} `{}`", name.value),
        )
        .with_label("invalid name")
        .with_help("names use letters, digits, `_` and `-`, and start with a letter, digit or `_`"))
    }
}

pub(crate) fn decode_settings(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
) -> Result<Settings, SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(Settings::default());
    };
    let mut r = MapReader::new(ctx, node, "`settings`")?;
    let default_compute = ctx.opt_string(r.get("default_compute"), "settings.default_compute")?;
    let default_datastore =
        ctx.opt_string(r.get("default_datastore"), "settings.default_datastore")?;
    let continue_on_step_failure = ctx
        .opt_bool(
            r.get("continue_on_step_failure"),
            "settings.continue_on_step_failure",
        )?
        .unwrap_or(false);
    let force_rerun = ctx
        .opt_bool(r.get("force_rerun"), "settings.force_rerun")?
        .unwrap_or(false);
    let default_environment = match r.get("default_environment") {
        Some(n) if !n.is_null() => Some(decode_environment_ref(ctx, n)?),
        _ => None,
    };
    let default_retry = decode_retry(ctx, r.get("default_retry"), "settings.default_retry")?;
    r.ignore(
        ctx,
        &[
            "on_init",
            "on_finalize",
            "continue_run_on_failed_optional_input",
            "priority",
            "timeout",
        ],
    );
    r.finish_lenient(ctx);
    Ok(Settings {
        default_compute,
        default_datastore,
        default_environment,
        continue_on_step_failure,
        force_rerun,
        default_retry,
    })
}

pub(crate) fn decode_io_type(
    ctx: &Ctx<'_>,
    node: &Node,
    field: &str,
    allowed: &[&str],
) -> Result<Spanned<IoType>, SpecError> {
    let text = ctx.string(node, field)?;
    match IoType::parse(&text).filter(|_| allowed.contains(&text.as_str())) {
        Some(t) => Ok(Spanned::new(t, text.span)),
        None => {
            let err = SpecError::new(
                ctx.source,
                text.span,
                format!("unknown {field} `{}`", text.value),
            )
            .with_label("unknown type");
            Err(match suggest(&text, allowed) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help(format!("expected one of: {}", allowed.join(", "))),
            })
        }
    }
}

pub(crate) fn check_mode(
    ctx: &Ctx<'_>,
    node: Option<&Node>,
    field: &str,
) -> Result<Option<Spanned<String>>, SpecError> {
    const MODES: [&str; 7] = [
        "ro_mount",
        "rw_mount",
        "download",
        "upload",
        "direct",
        "eval_mount",
        "eval_download",
    ];
    let Some(mode) = ctx.opt_string(node, field)? else {
        return Ok(None);
    };
    if MODES.contains(&mode.as_str()) {
        return Ok(Some(mode));
    }
    let err = SpecError::new(
        ctx.source,
        mode.span,
        format!("unknown mode `{}`", mode.value),
    )
    .with_label("unknown mode");
    Err(match suggest(&mode, &MODES) {
        Some(s) => err.with_help(format!("did you mean `{s}`?")),
        None => err.with_help(format!("expected one of: {}", MODES.join(", "))),
    })
}

fn bound(ctx: &Ctx<'_>, node: &Node, text: &str) -> Option<Result<Spanned<Binding>, SpecError>> {
    whole_binding(text).map(|r| {
        r.map(|b| Spanned::new(b, node.span))
            .map_err(|msg| ctx.error(node, msg).with_label("invalid binding"))
    })
}

/// Job `inputs:` values.
pub(crate) fn decode_inputs(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    field: &str,
) -> Result<IndexMap<String, (Spanned<String>, InputValue)>, SpecError> {
    let mut out = IndexMap::new();
    for (key, value) in ctx.entries(node, field)? {
        let name = ctx.string(key, field)?;
        let field = format!("{field}.{}", name.value);
        let decoded = match &value.value {
            Value::Null => continue,
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                InputValue::Literal(Spanned::new(value.to_json(), value.span))
            }
            Value::Str { text, .. } => match bound(ctx, value, text) {
                Some(b) => InputValue::Bound {
                    binding: b?,
                    mode: None,
                },
                None => {
                    reject_embedded_binding(ctx, value, text)?;
                    InputValue::Literal(Spanned::new(value.to_json(), value.span))
                }
            },
            Value::Seq(_) => {
                return Err(ctx.expected(value, "a value, a binding or a mapping", &field));
            }
            Value::Map(_) => decode_input_map(ctx, value, &field)?,
        };
        out.insert(name.value.clone(), (name, decoded));
    }
    Ok(out)
}

fn reject_embedded_binding(ctx: &Ctx<'_>, node: &Node, text: &str) -> Result<(), SpecError> {
    if text.contains("${{") {
        return Err(ctx
            .error(node, "a binding must be the whole value")
            .with_label("text around `${{...}}`")
            .with_help("write the binding alone, for example `${{parent.inputs.data}}`"));
    }
    Ok(())
}

fn decode_input_map(ctx: &mut Ctx<'_>, node: &Node, field: &str) -> Result<InputValue, SpecError> {
    let mut r = MapReader::new(ctx, node, &format!("`{field}`"))?;
    let ty = match r.get("type") {
        Some(n) if !n.is_null() => Some(decode_io_type(ctx, n, "input type", &IoType::ALL)?),
        _ => None,
    };
    let path = r.get("path");
    let mode = check_mode(ctx, r.get("mode"), &format!("{field}.mode"))?;
    let value = r.get("value").or_else(|| r.get("default"));
    r.ignore(ctx, &["datastore"]);
    for k in ["description", "optional", "min", "max", "enum"] {
        let _ = r.get(k);
    }
    r.finish(ctx)?;
    if let Some(path) = path.filter(|p| !p.is_null()) {
        let text = ctx.string(path, &format!("{field}.path"))?;
        if let Some(b) = bound(ctx, path, &text) {
            return Ok(InputValue::Bound { binding: b?, mode });
        }
        reject_embedded_binding(ctx, path, &text)?;
        if let Some(t) = &ty
            && t.is_literal()
        {
            return Err(ctx
                .error(
                    path,
                    format!(
                        "an input of type `{}` takes a `value`, not a `path`",
                        t.as_str()
                    ),
                )
                .with_help("use a data type such as `uri_folder` or `uri_file` for paths"));
        }
        return Ok(InputValue::Data {
            ty,
            path: text,
            mode,
        });
    }
    if let Some(v) = value.filter(|v| !v.is_null()) {
        if let Value::Str { text, .. } = &v.value
            && let Some(b) = bound(ctx, v, text)
        {
            return Ok(InputValue::Bound { binding: b?, mode });
        }
        return Ok(InputValue::Literal(Spanned::new(v.to_json(), v.span)));
    }
    Ok(InputValue::Empty { ty })
}

/// Job `outputs:` values.
pub(crate) fn decode_outputs(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    field: &str,
) -> Result<IndexMap<String, (Spanned<String>, OutputValue)>, SpecError> {
    let mut out = IndexMap::new();
    for (key, value) in ctx.entries(node, field)? {
        let name = ctx.string(key, field)?;
        let f = format!("{field}.{}", name.value);
        let decoded = match &value.value {
            Value::Null => OutputValue::Default {
                ty: None,
                mode: None,
                name: None,
                version: None,
            },
            Value::Str { text, .. } => match bound(ctx, value, text) {
                Some(b) => OutputValue::Bound(b?),
                None => {
                    return Err(ctx
                        .error(
                            value,
                            format!("output `{}` must be a mapping or a binding", name.value),
                        )
                        .with_label("a plain string")
                        .with_help("write `{type: uri_folder}` or `${{parent.outputs.NAME}}`"));
                }
            },
            Value::Map(_) => {
                let mut r = MapReader::new(ctx, value, &format!("`{f}`"))?;
                let ty = match r.get("type") {
                    Some(n) if !n.is_null() => {
                        Some(decode_io_type(ctx, n, "output type", &IoType::DATA)?)
                    }
                    _ => None,
                };
                let mode = check_mode(ctx, r.get("mode"), &format!("{f}.mode"))?;
                let path = ctx.opt_string(r.get("path"), &format!("{f}.path"))?;
                let asset_name = ctx.opt_string(r.get("name"), &format!("{f}.name"))?;
                let version = ctx.opt_string(r.get("version"), &format!("{f}.version"))?;
                let _ = r.get("description");
                r.ignore(ctx, &["datastore", "is_control"]);
                r.finish(ctx)?;
                match path {
                    Some(p) => {
                        if let Some(b) = whole_binding(&p) {
                            let b = b.map_err(|m| SpecError::new(ctx.source, p.span, m))?;
                            OutputValue::Bound(Spanned::new(b, p.span))
                        } else {
                            OutputValue::Path { ty, path: p, mode }
                        }
                    }
                    None => OutputValue::Default {
                        ty,
                        mode,
                        name: asset_name,
                        version,
                    },
                }
            }
            _ => return Err(ctx.expected(value, "a mapping or a binding", &f)),
        };
        out.insert(name.value.clone(), (name, decoded));
    }
    Ok(out)
}

pub(crate) fn decode_step(
    ctx: &mut Ctx<'_>,
    name: Spanned<String>,
    node: &Node,
    default_env: Option<&EnvironmentRef>,
) -> Result<Entry, SpecError> {
    let mut r = MapReader::new(ctx, node, &format!("job `{}`", name.value))?;
    let declared = ctx.opt_string(r.get("type"), "type")?;
    if let Some(t) = &declared
        && !matches!(t.as_str(), "command" | "pipeline")
    {
        return Err(unsupported_type(ctx, t, &t.value.clone()));
    }
    let Labels {
        display_name,
        description,
        tags,
    } = read_labels(ctx, &mut r)?;
    let inputs = decode_inputs(ctx, r.get("inputs"), &format!("jobs.{}.inputs", name.value))?;
    let outputs = decode_outputs(
        ctx,
        r.get("outputs"),
        &format!("jobs.{}.outputs", name.value),
    )?;
    let compute = ctx.opt_string(r.get("compute"), "compute")?;
    let component_node = r.get("component");
    if let Some(t) = &declared
        && t.as_str() == "pipeline"
        && component_node.is_none_or(Node::is_null)
    {
        return Err(ctx
            .error(
                node,
                format!("pipeline job `{}` has no `component`", name.value),
            )
            .with_help("point it at a pipeline component: `component: ./pipeline_component.yml`"));
    }
    let (component, mut environment_variables, timeout) = match component_node {
        Some(c) if !c.is_null() => {
            if let Some(cmd) = r.get("command") {
                return Err(ctx
                    .error(cmd, "a job cannot have both `component` and `command`")
                    .with_help("put the command in the component file, or remove `component`"));
            }
            let env_override = match r.get("environment") {
                Some(e) if !e.is_null() => Some(decode_environment_ref(ctx, e)?),
                _ => None,
            };
            let mut component = match decode_component_ref(ctx, c, default_env)? {
                ComponentDef::Command(c) => *c,
                ComponentDef::Pipeline(pc) => {
                    let _ = r.get("name");
                    r.ignore(
                        ctx,
                        &["settings", "experiment_name", "identity", "properties"],
                    );
                    r.finish(ctx)?;
                    return Ok(Entry::Nested(Box::new(NestedStep {
                        name,
                        source: ctx.source.clone(),
                        inputs,
                        outputs,
                        compute,
                        component: *pc,
                    })));
                }
            };
            if env_override.is_some() {
                component.environment = env_override;
            }
            if component.environment.is_none() {
                component.environment = default_env.cloned();
            }
            let env_vars =
                ctx.string_map(r.get("environment_variables"), "environment_variables")?;
            let timeout = decode_limits(ctx, r.get("limits"))?;
            (component, env_vars, timeout)
        }
        _ => decode_inline_command(ctx, &mut r, &inputs, &outputs, default_env)?,
    };
    let _ = r.get("name");
    let retry = decode_retry(ctx, r.get("retry"), &format!("jobs.{}.retry", name.value))?;
    let scale = crate::scale::decode_scale(ctx, &mut r)?;
    r.ignore(
        ctx,
        &[
            "experiment_name",
            "identity",
            "services",
            "queue_settings",
            "properties",
        ],
    );
    r.finish_lenient(ctx);
    for (k, v) in &component.environment_variables {
        environment_variables
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    Ok(Entry::Step(Box::new(StepSpec {
        name,
        source: ctx.source.clone(),
        display_name,
        description,
        tags,
        component,
        inputs,
        outputs,
        compute,
        environment_variables,
        timeout,
        retry,
        scale,
        after: Vec::new(),
        concurrency: None,
        may_fail: false,
        watch: None,
    })))
}

/// `retry: {max_attempts: N, backoff_seconds: S}`.
fn decode_retry(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    field: &str,
) -> Result<Option<crate::types::Retry>, SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    let mut r = MapReader::new(ctx, node, &format!("`{field}`"))?;
    let max_attempts = match r.get("max_attempts") {
        Some(n) => match n.value {
            Value::Int(i) if (1..=100).contains(&i) => u32::try_from(i).unwrap_or(1),
            _ => {
                return Err(ctx
                    .error(
                        n,
                        format!(
                            "`{field}.max_attempts` must be a whole number from 1 to 100, found `{}`",
                            n.scalar_text().unwrap_or_else(|| n.value.kind().to_owned())
                        ),
                    )
                    .with_label("attempts in all, the first included"));
            }
        },
        None => {
            return Err(ctx
                .error(node, format!("`{field}` has no `max_attempts`"))
                .with_help("write e.g. `retry: {max_attempts: 3, backoff_seconds: 5}`"));
        }
    };
    let backoff_seconds = match r.get("backoff_seconds") {
        Some(n) => match n.value {
            Value::Int(i) if (0..=86_400).contains(&i) => i as f64,
            Value::Float(f) if (0.0..=86_400.0).contains(&f) => f,
            _ => {
                return Err(ctx.error(
                    n,
                    format!(
                        "`{field}.backoff_seconds` must be a number of seconds from 0 to 86400, found `{}`",
                        n.scalar_text().unwrap_or_else(|| n.value.kind().to_owned())
                    ),
                ));
            }
        },
        None => 0.0,
    };
    r.finish(ctx)?;
    Ok(Some(crate::types::Retry {
        max_attempts,
        backoff_seconds,
    }))
}

fn decode_limits(ctx: &mut Ctx<'_>, node: Option<&Node>) -> Result<Option<u64>, SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(None);
    };
    let mut r = MapReader::new(ctx, node, "`limits`")?;
    let timeout = match r.get("timeout") {
        Some(t) if !t.is_null() => match t.value {
            Value::Int(i) if i > 0 => Some(i.unsigned_abs()),
            _ => {
                return Err(ctx
                    .error(
                        t,
                        format!(
                            "`limits.timeout` must be a positive whole number of seconds, found `{}`",
                            t.scalar_text().unwrap_or_else(|| t.value.kind().to_owned())
                        ),
                    )
                    .with_label("not a positive whole number"));
            }
        },
        _ => None,
    };
    r.finish(ctx)?;
    Ok(timeout)
}

/// The command, code and environment of a job written inline (no `component:`).
#[expect(
    clippy::type_complexity,
    reason = "a private helper returning three parts"
)]
pub(crate) fn decode_inline_command(
    ctx: &mut Ctx<'_>,
    r: &mut MapReader<'_>,
    inputs: &IndexMap<String, (Spanned<String>, InputValue)>,
    outputs: &IndexMap<String, (Spanned<String>, OutputValue)>,
    default_env: Option<&EnvironmentRef>,
) -> Result<(ComponentSpec, IndexMap<String, String>, Option<u64>), SpecError> {
    let Some(command_node) = r.get("command").filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(r.node(), "the job has neither `command` nor `component`")
            .with_help("add `command: ...` or `component: file:./component.yml`"));
    };
    let command = ctx.string(command_node, "command")?;
    let template = parse_template(&command)
        .map_err(|m| ctx.error(command_node, m).with_label("in this command"))?;
    let code = decode_code(ctx, r.get("code"))?;
    let environment = match r.get("environment") {
        Some(e) if !e.is_null() => Some(decode_environment_ref(ctx, e)?),
        _ => default_env.cloned(),
    };
    let env_vars = ctx.string_map(r.get("environment_variables"), "environment_variables")?;
    let timeout = decode_limits(ctx, r.get("limits"))?;
    let is_deterministic = ctx
        .opt_bool(r.get("is_deterministic"), "is_deterministic")?
        .unwrap_or(true);
    let input_defs = inputs
        .iter()
        .map(|(k, (key, v))| {
            let ty = match v {
                InputValue::Literal(l) => match &l.value {
                    serde_json::Value::Bool(_) => IoType::Boolean,
                    serde_json::Value::Number(n) if n.is_i64() => IoType::Integer,
                    serde_json::Value::Number(_) => IoType::Number,
                    _ => IoType::String,
                },
                InputValue::Data { ty, .. } | InputValue::Empty { ty } => {
                    ty.as_ref().map_or(IoType::UriFolder, |t| t.value)
                }
                InputValue::Bound { .. } => IoType::UriFolder,
            };
            let def = InputDef {
                ty: Spanned::new(ty, key.span),
                default: None,
                optional: false,
                description: None,
                min: None,
                max: None,
                allowed: None,
            };
            (k.clone(), (key.clone(), def))
        })
        .collect();
    let output_defs = outputs
        .iter()
        .map(|(k, (key, v))| {
            let ty = v.declared_type().unwrap_or(IoType::UriFolder);
            let def = OutputDef {
                ty: Spanned::new(ty, key.span),
                description: None,
                mode: None,
            };
            (k.clone(), (key.clone(), def))
        })
        .collect();
    let component = ComponentSpec {
        source: ctx.source.clone(),
        name: None,
        version: None,
        display_name: None,
        description: None,
        tags: IndexMap::new(),
        inputs: input_defs,
        outputs: output_defs,
        command,
        template,
        code,
        environment,
        environment_variables: IndexMap::new(),
        is_deterministic,
        inline: true,
    };
    crate::validate::validate_component_command(&component)?;
    Ok((component, env_vars, timeout))
}

fn decode_code(ctx: &Ctx<'_>, node: Option<&Node>) -> Result<Option<Spanned<String>>, SpecError> {
    let Some(code) = ctx.opt_string(node, "code")? else {
        return Ok(None);
    };
    if code.starts_with("azureml:") || code.contains("://") {
        return Err(SpecError::new(
            ctx.source,
            code.span,
            format!("`code: {}` is not a local path", code.value),
        )
        .with_help("point `code` at a folder relative to this file, such as `./src`"));
    }
    let resolved = ctx.source.resolve(&code);
    if !resolved.exists() {
        return Err(SpecError::new(
            ctx.source,
            code.span,
            format!("code folder `{}` does not exist", code.value),
        )
        .with_label("not found")
        .with_help(format!(
            "it resolves to `{}`; paths are relative to the YAML file's folder",
            resolved.display()
        )));
    }
    Ok(Some(code))
}

/// A step's `component:`: a command component or a pipeline component, written inline, in a
/// file (`file:./train.yml`) or registered (`azureml:train@latest`, `azureml:train:2`).
pub(crate) fn decode_component_ref(
    ctx: &mut Ctx<'_>,
    node: &Node,
    default_env: Option<&EnvironmentRef>,
) -> Result<ComponentDef, SpecError> {
    match &node.value {
        Value::Map(_) => decode_component_def(ctx, node, default_env),
        Value::Str { text, .. } => {
            let mut written = text.as_str();
            let (path, shown) = if let Some(r) = parse_asset_ref(text)
                && !text.starts_with("file:")
            {
                let (name, version) = match r.map_err(|m| ctx.error(node, m))? {
                    AssetRef::Named { name, version } => (name, version),
                    AssetRef::Registry {
                        kind,
                        name,
                        version,
                        ..
                    } if kind == "components" => (name, version),
                    _ => {
                        return Err(ctx
                            .error(node, format!("`{text}` is not a component"))
                            .with_label("not a component reference")
                            .with_help("write `azureml:NAME@latest`, `azureml:NAME:VERSION` or `file:./component.yml`"));
                    }
                };
                let Some(assets) = ctx.assets else {
                    return Err(ctx
                        .error(node, format!("registered component `{text}` cannot be looked up here"))
                        .with_help("run this from a workspace, where `sluice component create -f component.yml` registered it"));
                };
                let path = assets.component(&name, &version).map_err(|m| {
                    ctx.error(node, m)
                        .with_label("unknown component")
                        .with_help(format!(
                            "register it first: `sluice component create -f component.yml` (with `name: {name}`), or refer to its file: `component: file:./component.yml`"
                        ))
                })?;
                let shown = format!("azureml:{name}{version} ({})", path.display());
                (path, shown)
            } else {
                let rel = text.strip_prefix("file:").unwrap_or(text);
                written = rel;
                (ctx.source.resolve(rel), display_path(&ctx.source.name, rel))
            };
            let mut source = Source::read(&path).map_err(|e| {
                ctx.error(node, format!("cannot read component file `{written}`: {e}"))
                    .with_label("here")
                    .with_help(format!(
                        "it resolves to `{}`; paths are relative to the YAML file's folder",
                        path.display()
                    ))
            })?;
            source.name = shown;
            let mut w = Vec::new();
            let root = load_tree(&source, &[], &mut w)?;
            let mut cctx = Ctx {
                source: &source,
                warnings: &mut w,
                assets: ctx.assets,
            };
            let component = decode_component_def(&mut cctx, &root, default_env)?;
            ctx.warnings.extend(w);
            Ok(component)
        }
        _ => Err(ctx.expected(node, "a file reference or a mapping", "component")),
    }
}

/// A component's definition: `type: pipeline` (with `jobs:`) or a command component.
fn decode_component_def(
    ctx: &mut Ctx<'_>,
    node: &Node,
    default_env: Option<&EnvironmentRef>,
) -> Result<ComponentDef, SpecError> {
    let is_pipeline = match &node.value {
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| k.as_str() == Some("type") && v.as_str() == Some("pipeline")),
        _ => false,
    };
    if is_pipeline {
        Ok(ComponentDef::Pipeline(Box::new(
            crate::pipeline::decode_pipeline_component(ctx, node, default_env)?,
        )))
    } else {
        Ok(ComponentDef::Command(Box::new(decode_component(
            ctx, node,
        )?)))
    }
}

/// The path of a referenced file as shown in messages: beside the referencing file.
pub(crate) fn display_path(referrer: &str, rel: &str) -> String {
    let dir = Path::new(referrer).parent().unwrap_or(Path::new(""));
    crate::source::normalize(&dir.join(rel))
        .display()
        .to_string()
}

/// Reads and validates a component file.
pub fn load_component(
    path: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<ComponentSpec, SpecError> {
    let source = read_source(path)?;
    let root = load_tree(&source, &[], warnings)?;
    let mut ctx = Ctx {
        source: &source,
        warnings,
        assets: None,
    };
    decode_component(&mut ctx, &root)
}

pub(crate) fn decode_component(ctx: &mut Ctx<'_>, node: &Node) -> Result<ComponentSpec, SpecError> {
    if crate::parallel::is_parallel(node) {
        let (command, _) = crate::parallel::as_command(ctx, "the parallel component", node)?;
        return decode_component(ctx, &command);
    }
    let mut r = MapReader::new(ctx, node, "a command component")?;
    let _ = r.get("$schema");
    if let Some(t) = ctx.opt_string(r.get("type"), "type")?
        && t.as_str() != "command"
    {
        if t.as_str() == "sweep" {
            return Err(ctx
                .error_at(t.span, "a component cannot be a sweep")
                .with_label("not a component type")
                .with_help("a component (and a sweep's `trial:`) is a `type: command` component; write the sweep as a step of the pipeline, `type: sweep` with `trial: ./this.yml`"));
        }
        return Err(unsupported_type(ctx, &t, &t.value.clone()));
    }
    let name = ctx.opt_string(r.get("name"), "name")?;
    let version = ctx.opt_string(r.get("version"), "version")?;
    let Labels {
        display_name,
        description,
        tags,
    } = read_labels(ctx, &mut r)?;
    let is_deterministic = ctx
        .opt_bool(r.get("is_deterministic"), "is_deterministic")?
        .unwrap_or(true);
    let inputs = decode_input_defs(ctx, r.get("inputs"))?;
    let outputs = decode_output_defs(ctx, r.get("outputs"))?;
    let Some(command_node) = r.get("command").filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(node, "the component has no `command`")
            .with_help("add `command: python train.py --data ${{inputs.data}}`"));
    };
    let command = ctx.string(command_node, "command")?;
    let template = parse_template(&command)
        .map_err(|m| ctx.error(command_node, m).with_label("in this command"))?;
    let code = decode_code(ctx, r.get("code"))?;
    let environment = match r.get("environment") {
        Some(e) if !e.is_null() => Some(decode_environment_ref(ctx, e)?),
        _ => None,
    };
    let environment_variables =
        ctx.string_map(r.get("environment_variables"), "environment_variables")?;
    r.ignore(
        ctx,
        &[
            "resources",
            "distribution",
            "additional_includes",
            "properties",
            "services",
            // Found on components of Azure's examples; a job's `compute` decides.
            "compute",
        ],
    );
    r.finish(ctx)?;
    let component = ComponentSpec {
        source: ctx.source.clone(),
        name,
        version,
        display_name,
        description,
        tags,
        inputs,
        outputs,
        command,
        template,
        code,
        environment,
        environment_variables,
        is_deterministic,
        inline: false,
    };
    crate::validate::validate_component_command(&component)?;
    Ok(component)
}

/// A component's `inputs:` declarations.
pub(crate) fn decode_input_defs(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
) -> Result<IndexMap<String, (Spanned<String>, InputDef)>, SpecError> {
    let mut inputs = IndexMap::new();
    for (key, value) in ctx.entries(node, "inputs")? {
        let k = ctx.string(key, "inputs")?;
        let def = decode_input_def(ctx, value, &format!("inputs.{}", k.value))?;
        inputs.insert(k.value.clone(), (k, def));
    }
    Ok(inputs)
}

/// A component's `outputs:` declarations (a null value is a `uri_folder`).
pub(crate) fn decode_output_defs(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
) -> Result<IndexMap<String, (Spanned<String>, OutputDef)>, SpecError> {
    let mut outputs = IndexMap::new();
    for (key, value) in ctx.entries(node, "outputs")? {
        let k = ctx.string(key, "outputs")?;
        let f = format!("outputs.{}", k.value);
        let def = if value.is_null() {
            OutputDef {
                ty: Spanned::new(IoType::UriFolder, key.span),
                description: None,
                mode: None,
            }
        } else {
            let mut or = MapReader::new(ctx, value, &format!("`{f}`"))?;
            let ty = match or.get("type") {
                Some(t) => decode_io_type(ctx, t, "output type", &IoType::DATA)?,
                None => {
                    return Err(ctx
                        .error(value, format!("output `{}` has no `type`", k.value))
                        .with_help("add `type: uri_folder` (or `uri_file`, `mlflow_model`, ...)"));
                }
            };
            let description = ctx
                .opt_string(or.get("description"), "description")?
                .map(|s| s.value);
            let mode = check_mode(ctx, or.get("mode"), &format!("{f}.mode"))?;
            or.ignore(ctx, &["is_control"]);
            or.finish(ctx)?;
            OutputDef {
                ty,
                description,
                mode,
            }
        };
        outputs.insert(k.value.clone(), (k, def));
    }
    Ok(outputs)
}

pub(crate) fn decode_input_def(
    ctx: &mut Ctx<'_>,
    node: &Node,
    field: &str,
) -> Result<InputDef, SpecError> {
    let mut r = MapReader::new(ctx, node, &format!("`{field}`"))?;
    let Some(ty_node) = r.get("type") else {
        return Err(ctx
            .error(node, format!("input `{field}` has no `type`"))
            .with_help(format!(
                "add `type:` with one of: {}",
                IoType::ALL.join(", ")
            )));
    };
    let ty = decode_io_type(ctx, ty_node, "input type", &IoType::ALL)?;
    let default = r
        .get("default")
        .filter(|d| !d.is_null())
        .map(|d| Spanned::new(d.to_json(), d.span));
    let optional = ctx
        .opt_bool(r.get("optional"), &format!("{field}.optional"))?
        .unwrap_or(false);
    let description = ctx
        .opt_string(r.get("description"), "description")?
        .map(|s| s.value);
    let min = match r.get("min") {
        Some(n) if !n.is_null() => Some(ctx.number(n, &format!("{field}.min"))?),
        _ => None,
    };
    let max = match r.get("max") {
        Some(n) if !n.is_null() => Some(ctx.number(n, &format!("{field}.max"))?),
        _ => None,
    };
    let allowed = match r.get("enum") {
        Some(n) if !n.is_null() => match &n.value {
            Value::Seq(items) => Some(items.iter().map(Node::to_json).collect()),
            _ => return Err(ctx.expected(n, "a list", &format!("{field}.enum"))),
        },
        _ => None,
    };
    let _ = r.get("mode");
    r.ignore(ctx, &["is_control", "datastore"]);
    r.finish(ctx)?;
    let def = InputDef {
        ty,
        default,
        optional,
        description,
        min,
        max,
        allowed,
    };
    if let Some(d) = &def.default {
        crate::validate::check_literal(ctx.source, &def, d, field)?;
    }
    Ok(def)
}

fn decode_environment_ref(ctx: &mut Ctx<'_>, node: &Node) -> Result<EnvironmentRef, SpecError> {
    match &node.value {
        Value::Str { text, .. } => {
            if let Some(rel) = text.strip_prefix("file:") {
                return load_referenced_environment(ctx, node, rel.trim());
            }
            match crate::asset::parse_environment_ref(text) {
                Some(Ok(AssetRef::Named { .. })) => {}
                Some(Ok(AssetRef::Registry { kind, .. })) if kind == "environments" => {}
                Some(Ok(AssetRef::Registry { kind, .. })) => {
                    return Err(ctx
                        .error(
                            node,
                            format!("`{text}` is a registry `{kind}` asset, not an environment"),
                        )
                        .with_label("not an environment")
                        .with_help(
                            "write `azureml://registries/azureml/environments/NAME/labels/latest`",
                        ));
                }
                Some(Ok(AssetRef::Datastore { .. })) => {
                    return Err(ctx.error(node, "an environment cannot be a datastore path"));
                }
                Some(Err(m)) => {
                    return Err(ctx
                        .error(node, m)
                        .with_label("invalid environment reference"));
                }
                None => {
                    return Err(ctx
                        .error(node, format!("`{text}` is not an environment reference"))
                        .with_label("expected `azureml:NAME@latest` or `azureml:NAME:VERSION`")
                        .with_help(format!(
                            "write `azureml:{text}@latest`, `file:./environment.yml`, or define the environment inline"
                        )));
                }
            }
            Ok(EnvironmentRef::Named(Spanned::new(text.clone(), node.span)))
        }
        Value::Map(_) => Ok(EnvironmentRef::Inline(Box::new(decode_environment(
            ctx, node,
        )?))),
        _ => Err(ctx.expected(node, "a reference or a mapping", "environment")),
    }
}

/// `environment: file:./env.yml`: the environment file, read as if written inline (its
/// `conda_file` relative to its own folder).
fn load_referenced_environment(
    ctx: &mut Ctx<'_>,
    node: &Node,
    rel: &str,
) -> Result<EnvironmentRef, SpecError> {
    let path = ctx.source.resolve(rel);
    let mut source = Source::read(&path).map_err(|e| {
        ctx.error(node, format!("cannot read environment file `{rel}`: {e}"))
            .with_label("here")
            .with_help(format!(
                "it resolves to `{}`; paths are relative to the YAML file's folder",
                path.display()
            ))
    })?;
    source.name = display_path(&ctx.source.name, rel);
    let mut w = Vec::new();
    let root = load_tree(&source, &[], &mut w)?;
    let mut ectx = Ctx {
        source: &source,
        warnings: &mut w,
        assets: ctx.assets,
    };
    let spec = decode_environment(&mut ectx, &root)?;
    ctx.warnings.extend(w);
    Ok(EnvironmentRef::Inline(Box::new(spec)))
}

/// Reads an environment file (`environment create -f env.yml`).
pub fn load_environment(
    path: &Path,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<(Source, EnvironmentSpec), SpecError> {
    let source = read_source(path)?;
    let root = load_tree(&source, overrides, warnings)?;
    let mut ctx = Ctx {
        source: &source,
        warnings,
        assets: None,
    };
    let spec = decode_environment(&mut ctx, &root)?;
    Ok((source, spec))
}

fn decode_environment(ctx: &mut Ctx<'_>, node: &Node) -> Result<EnvironmentSpec, SpecError> {
    let mut r = MapReader::new(ctx, node, "an environment")?;
    let _ = r.get("$schema");
    let name = ctx.opt_string(r.get("name"), "name")?;
    if let Some(n) = &name {
        check_name(ctx, n, "environment name")?;
    }
    let version = ctx.opt_string(r.get("version"), "version")?;
    let description = ctx
        .opt_string(r.get("description"), "description")?
        .map(|s| s.value);
    let image = ctx.opt_string(r.get("image"), "image")?.map(|s| s.value);
    let tags = ctx.string_map(r.get("tags"), "tags")?;
    let conda_file = match r.get("conda_file") {
        Some(n) if !n.is_null() => Some(match &n.value {
            Value::Str { text, .. } => {
                // `file:` marks a local path, as in Azure's older examples.
                let path = ctx
                    .source
                    .resolve(text.strip_prefix("file:").unwrap_or(text));
                let content = std::fs::read_to_string(&path).map_err(|e| {
                    ctx.error(n, format!("cannot read conda file `{text}`: {e}"))
                        .with_label("here")
                        .with_help(format!(
                            "it resolves to `{}`; paths are relative to the YAML file's folder",
                            path.display()
                        ))
                })?;
                (Spanned::new(text.clone(), n.span), content)
            }
            Value::Map(_) => (
                Spanned::new("<inline>".to_owned(), n.span),
                serde_json::to_string_pretty(&n.to_json()).unwrap_or_default(),
            ),
            _ => return Err(ctx.expected(n, "a file path or a mapping", "conda_file")),
        }),
        _ => None,
    };
    let build = r.get("build").filter(|b| !b.is_null()).map(Node::to_json);
    let _ = r.get("os_type");
    r.ignore(ctx, &["inference_config", "properties", "datastore"]);
    r.finish(ctx)?;
    if image.is_none() && conda_file.is_none() && build.is_none() {
        return Err(ctx
            .error(
                node,
                "the environment has no `image`, `conda_file` or `build`",
            )
            .with_help("add `conda_file: ./conda.yml` (and usually `image:`)"));
    }
    Ok(EnvironmentSpec {
        name,
        version,
        description,
        image,
        conda_file,
        tags,
        build,
        raw: node.to_json(),
    })
}

/// How one kind of file asset differs: its name in messages, its types and the keys Azure
/// accepts that change nothing here.
struct FileAssetKind {
    what: &'static str,
    example: &'static str,
    example_path: &'static str,
    types: &'static [&'static str],
    default_type: IoType,
    ignored: &'static [&'static str],
}

fn parse_file_asset(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
    kind: &FileAssetKind,
) -> Result<FileAssetSpec, SpecError> {
    let root = load_tree(source, overrides, warnings)?;
    let mut ctx = Ctx {
        source,
        warnings,
        assets: None,
    };
    let mut r = MapReader::new(&ctx, &root, &format!("a {}", kind.what))?;
    let _ = r.get("$schema");
    let Some(name) = ctx.opt_string(r.get("name"), "name")? else {
        return Err(ctx
            .error(&root, format!("the {} has no `name`", kind.what))
            .with_help(format!("add `name: {}`", kind.example)));
    };
    check_name(&ctx, &name, &format!("{} name", kind.what))?;
    let version = ctx.opt_string(r.get("version"), "version")?;
    let description = ctx
        .opt_string(r.get("description"), "description")?
        .map(|s| s.value);
    let tags = ctx.string_map(r.get("tags"), "tags")?;
    let ty = match r.get("type") {
        Some(t) if !t.is_null() => {
            decode_io_type(&ctx, t, &format!("{} type", kind.what), kind.types)?
        }
        _ => Spanned::new(kind.default_type, root.span),
    };
    let Some(path_node) = r.get("path").filter(|p| !p.is_null()) else {
        return Err(ctx
            .error(&root, format!("the {} has no `path`", kind.what))
            .with_help(format!("add `path: {}`", kind.example_path)));
    };
    let path = ctx.string(path_node, "path")?;
    r.ignore(&mut ctx, kind.ignored);
    r.finish(&ctx)?;
    Ok(FileAssetSpec {
        source: source.clone(),
        name,
        version,
        description,
        tags,
        ty,
        path,
    })
}

/// Checks a model from its source text (a file, or `{}` with the command line's values as
/// overrides), as `az ml model create` takes it.
pub fn parse_model(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<ModelSpec, SpecError> {
    parse_file_asset(
        source,
        overrides,
        warnings,
        &FileAssetKind {
            what: "model",
            example: "my-model",
            example_path: "./model (a file or folder)",
            types: &["mlflow_model", "custom_model", "triton_model"],
            default_type: IoType::CustomModel,
            ignored: &[
                "properties",
                "stage",
                "flavors",
                "datastore",
                "job_name",
                "intellectual_property",
                "system_metadata",
            ],
        },
    )
}

/// Reads and checks a data asset file (`data create -f data.yml`), with `--set` overrides.
pub fn load_data(
    path: &Path,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<DataSpec, SpecError> {
    parse_data(&read_source(path)?, overrides, warnings)
}

/// Checks a data asset from its source text (a file, or `{}` with the command line's values
/// as overrides).
pub fn parse_data(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<DataSpec, SpecError> {
    parse_file_asset(
        source,
        overrides,
        warnings,
        &FileAssetKind {
            what: "data asset",
            example: "my-data",
            example_path: "./data/file.csv",
            types: &["uri_file", "uri_folder", "mltable"],
            default_type: IoType::UriFolder,
            ignored: &["properties", "datastore"],
        },
    )
}

#[cfg(test)]
mod tests {
    /// `conda_file: file:envs/conda.yml` (Azure's older examples mark local paths so) is the
    /// file beside the environment's YAML.
    #[test]
    fn a_conda_file_marked_file_is_read_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("envs")).unwrap();
        std::fs::write(
            dir.path().join("envs/conda.yml"),
            "name: x\ndependencies:\n  - python=3.11\n",
        )
        .unwrap();
        let path = dir.path().join("env.yml");
        std::fs::write(
            &path,
            "name: basic\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: file:envs/conda.yml\n",
        )
        .unwrap();
        let (_, spec) = super::load_environment(&path, &[], &mut Vec::new()).unwrap();
        let (written, text) = spec.conda_file.unwrap();
        assert_eq!(written.value, "file:envs/conda.yml");
        assert!(text.contains("python=3.11"), "{text}");
    }
}
