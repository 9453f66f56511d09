//! Pipeline components (`type: pipeline` component files with their own `jobs:`), used as a
//! step of a parent pipeline at any depth, or as the body of a pipeline job (`component:` on
//! the job).
//!
//! They are expanded when the file is read: each inner step becomes a step of the job named
//! `OUTER.INNER` (`train_pipeline.prep`), its `${{parent.inputs.x}}` replaced by what the outer
//! step gives `x` (or the component's default), its `${{parent.outputs.y}}` by what the outer
//! step does with `y`, and a sibling's `${{parent.jobs.OUTER.outputs.y}}` by the inner step
//! output bound to `y`. The engine then plans, reuses and runs the inner steps one by one.

use std::collections::HashMap;

use indexmap::IndexMap;

use crate::asset::parse_asset_ref;
use crate::binding::Binding;
use crate::decode::{Ctx, MapReader, suggest};
use crate::diag::SpecError;
use crate::parse::{check_name, decode_step};
use crate::source::{Source, Spanned};
use crate::types::{
    ComponentSpec, EnvironmentRef, InputDef, InputValue, IoType, OutputDef, OutputValue, StepSpec,
};
use crate::yaml::Node;

/// What a step's `component:` turned out to be.
pub(crate) enum ComponentDef {
    Command(Box<ComponentSpec>),
    Pipeline(Box<PipelineComponent>),
}

/// One entry of a `jobs:` mapping: a step, or a pipeline component to expand.
pub(crate) enum Entry {
    Step(Box<StepSpec>),
    Nested(Box<NestedStep>),
}

/// A step that runs a pipeline component, as the parent wrote it.
pub(crate) struct NestedStep {
    pub(crate) name: Spanned<String>,
    pub(crate) source: Source,
    pub(crate) inputs: IndexMap<String, (Spanned<String>, InputValue)>,
    pub(crate) outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
    pub(crate) compute: Option<Spanned<String>>,
    pub(crate) component: PipelineComponent,
}

/// A decoded pipeline component, its inner pipeline components already expanded.
pub(crate) struct PipelineComponent {
    pub(crate) inputs: IndexMap<String, (Spanned<String>, InputDef)>,
    pub(crate) outputs: IndexMap<String, (Spanned<String>, OutputDef)>,
    /// Inner steps by their names inside the component.
    pub(crate) steps: IndexMap<String, StepSpec>,
    /// Each output of the component: the inner step and output bound to it.
    pub(crate) produced: IndexMap<String, (String, String)>,
}

/// Decodes a `jobs:` mapping into steps, expanding pipeline components.
pub(crate) fn decode_jobs(
    ctx: &mut Ctx<'_>,
    jobs_node: &Node,
    default_env: Option<&EnvironmentRef>,
) -> Result<IndexMap<String, StepSpec>, SpecError> {
    let entries = ctx.entries(Some(jobs_node), "jobs")?;
    if entries.is_empty() {
        return Err(ctx
            .error(jobs_node, "the pipeline has no `jobs`")
            .with_help("add at least one step under `jobs:`"));
    }
    let mut steps = IndexMap::new();
    let mut nested: HashMap<String, IndexMap<String, (String, String)>> = HashMap::new();
    for (key, value) in entries {
        let step_name = ctx.string(key, "jobs")?;
        check_name(ctx, &step_name, "job name")?;
        if is_sweep(value) {
            for step in crate::sweep::decode_sweep_step(ctx, &step_name, value, default_env, None)?
            {
                steps.insert(step.name.value.clone(), step);
            }
            continue;
        }
        let rewritten;
        let mut overrides = String::new();
        let value = if crate::parallel::is_parallel(value) {
            (rewritten, overrides) = crate::parallel::as_command(
                ctx,
                &format!("parallel job `{}`", step_name.value),
                value,
            )?;
            &rewritten
        } else {
            value
        };
        match decode_step(ctx, step_name.clone(), value, default_env)? {
            Entry::Step(mut step) => {
                if !overrides.is_empty() {
                    // The step's settings over its parallel component's.
                    let command =
                        crate::parallel::with_overrides(&step.component.command.value, &overrides);
                    step.component.template = crate::binding::parse_template(&command)
                        .map_err(|m| ctx.error(value, m))?;
                    step.component.command.value = command;
                }
                steps.insert(step_name.value, *step);
            }
            Entry::Nested(n) => {
                let (inner, produced) = embed(&n, Some(&step_name.value))?;
                steps.extend(inner);
                nested.insert(step_name.value, produced);
            }
        }
    }
    rewrite_nested_references(&mut steps, &nested)?;
    Ok(steps)
}

/// Whether a `jobs:` entry is a `type: sweep` step.
fn is_sweep(node: &Node) -> bool {
    match &node.value {
        crate::yaml::Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| k.as_str() == Some("type") && v.as_str() == Some("sweep")),
        _ => false,
    }
}

/// A pipeline job whose body is a pipeline component (`component:` on the job): the job's
/// inputs and outputs are the component's.
pub(crate) fn expand_job_component(
    ctx: &mut Ctx<'_>,
    node: &Node,
    inputs: &IndexMap<String, (Spanned<String>, InputValue)>,
    outputs: &IndexMap<String, (Spanned<String>, OutputValue)>,
    compute: Option<&Spanned<String>>,
    default_env: Option<&EnvironmentRef>,
) -> Result<IndexMap<String, StepSpec>, SpecError> {
    let component = match crate::parse::decode_component_ref(ctx, node, default_env)? {
        ComponentDef::Pipeline(pc) => *pc,
        ComponentDef::Command(_) => {
            return Err(ctx
                .error(
                    node,
                    "the `component` of a pipeline job must be a pipeline component",
                )
                .with_label("a command component")
                .with_help("use `type: command` with this component, or list it under `jobs:`"));
        }
    };
    let bind_inputs = inputs
        .iter()
        .map(|(k, (key, _))| {
            let b = Spanned::new(Binding::ParentInput(k.clone()), key.span);
            (
                k.clone(),
                (
                    key.clone(),
                    InputValue::Bound {
                        binding: b,
                        mode: None,
                    },
                ),
            )
        })
        .collect();
    let bind_outputs = outputs
        .iter()
        .map(|(k, (key, _))| {
            let b = Spanned::new(Binding::ParentOutput(k.clone()), key.span);
            (k.clone(), (key.clone(), OutputValue::Bound(b)))
        })
        .collect();
    let n = NestedStep {
        name: Spanned::new("component".to_owned(), node.span),
        source: ctx.source.clone(),
        inputs: bind_inputs,
        outputs: bind_outputs,
        compute: compute.cloned(),
        component,
    };
    Ok(embed(&n, None)?.0)
}

/// Reads a `type: pipeline` component.
pub(crate) fn decode_pipeline_component(
    ctx: &mut Ctx<'_>,
    node: &Node,
    default_env: Option<&EnvironmentRef>,
) -> Result<PipelineComponent, SpecError> {
    let mut r = MapReader::new(ctx, node, "a pipeline component")?;
    for k in [
        "$schema",
        "type",
        "name",
        "version",
        "display_name",
        "description",
        "tags",
    ] {
        let _ = r.get(k);
    }
    if let Some(n) = ctx.opt_string(r.get("name"), "name")? {
        check_name(ctx, &n, "component name")?;
    }
    let inputs = crate::parse::decode_input_defs(ctx, r.get("inputs"))?;
    let outputs = crate::parse::decode_output_defs(ctx, r.get("outputs"))?;
    let jobs_node = r.get("jobs");
    r.ignore(ctx, &["settings", "properties"]);
    r.finish(ctx)?;
    let Some(jobs_node) = jobs_node.filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(node, "the pipeline component has no `jobs`")
            .with_help("add a `jobs:` mapping with at least one step"));
    };
    let steps = decode_jobs(ctx, jobs_node, default_env)?;

    // Every binding to the component's own inputs and outputs must name a declared one.
    let mut produced = IndexMap::new();
    for (step_name, step) in &steps {
        for (_, value) in step.inputs.values() {
            if let InputValue::Bound { binding, .. } = value
                && let Binding::ParentInput(x) = &binding.value
                && !inputs.contains_key(x)
            {
                return Err(unknown(ctx, binding, "input", x, inputs.keys()));
            }
        }
        for (out_name, (_, value)) in &step.outputs {
            if let OutputValue::Bound(b) = value
                && let Binding::ParentOutput(y) = &b.value
            {
                if !outputs.contains_key(y) {
                    return Err(unknown(ctx, b, "output", y, outputs.keys()));
                }
                if produced
                    .insert(y.clone(), (step_name.clone(), out_name.clone()))
                    .is_some()
                {
                    return Err(ctx
                        .error_at(
                            b.span,
                            format!("output `{y}` of the pipeline component is bound by two jobs"),
                        )
                        .with_help("bind each component output from one job"));
                }
            }
        }
    }
    for (y, (key, _)) in &outputs {
        if !produced.contains_key(y) {
            return Err(ctx
                .error_at(
                    key.span,
                    format!(
                        "output `{y}` of the pipeline component is not bound by any of its jobs"
                    ),
                )
                .with_label("never written")
                .with_help(format!(
                    "bind a job output to it: `outputs: {{OUT: ${{{{parent.outputs.{y}}}}}}}`"
                )));
        }
    }
    Ok(PipelineComponent {
        inputs,
        outputs,
        steps,
        produced,
    })
}

fn unknown<'k>(
    ctx: &Ctx<'_>,
    binding: &Spanned<Binding>,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'k String>,
) -> SpecError {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let err = ctx
        .error_at(
            binding.span,
            format!(
                "`{}` refers to {what} `{name}`, which the pipeline component does not declare",
                binding.value
            ),
        )
        .with_label(format!("unknown {what}"));
    match suggest(name, &known) {
        Some(s) => err.with_help(format!("did you mean `{s}`?")),
        None => err.with_help(format!("declare it under the component's `{what}s:`")),
    }
}

/// Each output of a pipeline component: the (step, output) that writes it.
type Produced = IndexMap<String, (String, String)>;

/// The steps of `n`'s pipeline component as steps of the parent, and which of them produces
/// each of its outputs. `prefix` names them `PREFIX.INNER` (none: the job's body).
fn embed(
    n: &NestedStep,
    prefix: Option<&str>,
) -> Result<(IndexMap<String, StepSpec>, Produced), SpecError> {
    let pc = &n.component;
    let rename = |j: &str| prefix.map_or_else(|| j.to_owned(), |p| format!("{p}.{j}"));
    for (name, (key, _)) in &n.inputs {
        if !pc.inputs.contains_key(name) {
            return Err(unknown_port(n, key, "input", name, pc.inputs.keys()));
        }
    }
    for (name, (key, _)) in &n.outputs {
        if !pc.outputs.contains_key(name) {
            return Err(unknown_port(n, key, "output", name, pc.outputs.keys()));
        }
    }
    let mut out = IndexMap::new();
    for (inner, step) in &pc.steps {
        let mut t = step.clone();
        let new_name = rename(inner);
        t.name = Spanned::new(new_name.clone(), t.name.span);
        for after in &mut t.after {
            *after = rename(after);
        }
        if let Some((group, _)) = &mut t.concurrency {
            *group = rename(group);
        }
        if let Some(w) = &mut t.watch {
            w.sweep = rename(&w.sweep);
        }
        if t.compute.is_none() {
            t.compute.clone_from(&n.compute);
        }
        for (_, value) in t.inputs.values_mut() {
            let InputValue::Bound { binding, mode } = value else {
                continue;
            };
            match &binding.value {
                Binding::ParentInput(x) => *value = substitute_input(n, x, mode.clone()),
                Binding::JobOutput { job, output } => {
                    binding.value = Binding::JobOutput {
                        job: rename(job),
                        output: output.clone(),
                    };
                }
                _ => {}
            }
        }
        for (_, value) in t.outputs.values_mut() {
            if let OutputValue::Bound(b) = value
                && let Binding::ParentOutput(y) = &b.value
            {
                *value = substitute_output(n, y);
            }
        }
        out.insert(new_name, t);
    }
    let produced = pc
        .produced
        .iter()
        .map(|(y, (j, o))| (y.clone(), (rename(j), o.clone())))
        .collect();
    Ok((out, produced))
}

fn unknown_port<'k>(
    n: &NestedStep,
    key: &Spanned<String>,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'k String>,
) -> SpecError {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let err = SpecError::new(
        &n.source,
        key.span,
        format!("job `{}` has no {what} `{name}`", n.name.value),
    )
    .with_label(format!("unknown {what}"));
    match suggest(name, &known) {
        Some(s) => err.with_help(format!("did you mean `{s}`?")),
        None => err.with_help(format!(
            "its pipeline component's {what}s are: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )),
    }
}

/// What an inner `${{parent.inputs.x}}` becomes: the outer step's value for `x`, else the
/// component's default, else nothing.
fn substitute_input(n: &NestedStep, x: &str, inner_mode: Option<Spanned<String>>) -> InputValue {
    let def = &n.component.inputs[x].1;
    match n.inputs.get(x).map(|(_, v)| v) {
        Some(InputValue::Data { ty, path, mode }) => InputValue::Data {
            ty: ty.clone().or_else(|| Some(def.ty.clone())),
            path: absolute(&n.source, path),
            mode: inner_mode.or_else(|| mode.clone()),
        },
        Some(InputValue::Literal(l)) if def.ty.is_data() => {
            let text = crate::parse::literal_string(&l.value);
            InputValue::Data {
                ty: Some(def.ty.clone()),
                path: absolute(&n.source, &Spanned::new(text, l.span)),
                mode: inner_mode,
            }
        }
        Some(InputValue::Literal(l)) => InputValue::Literal(l.clone()),
        Some(InputValue::Bound { binding, mode }) => InputValue::Bound {
            binding: binding.clone(),
            mode: inner_mode.or_else(|| mode.clone()),
        },
        Some(InputValue::Empty { .. }) | None => match &def.default {
            Some(d) => InputValue::Literal(d.clone()),
            None => InputValue::Empty {
                ty: Some(def.ty.clone()),
            },
        },
    }
}

/// What an inner `${{parent.outputs.y}}` becomes: what the outer step does with `y`.
fn substitute_output(n: &NestedStep, y: &str) -> OutputValue {
    match n.outputs.get(y).map(|(_, v)| v) {
        Some(OutputValue::Path { ty, path, mode }) => OutputValue::Path {
            ty: ty.clone(),
            path: absolute(&n.source, path),
            mode: mode.clone(),
        },
        Some(other) => other.clone(),
        None => OutputValue::Default {
            ty: Some(n.component.outputs[y].1.ty.clone()),
            mode: None,
            name: None,
            version: None,
        },
    }
}

/// A path written in the outer file, made absolute so it means the same inside the component.
fn absolute(source: &Source, path: &Spanned<String>) -> Spanned<String> {
    if parse_asset_ref(path).is_some() || path.contains("://") {
        return path.clone();
    }
    Spanned::new(source.resolve(path).display().to_string(), path.span)
}

/// `${{parent.jobs.OUTER.outputs.y}}`, where OUTER ran a pipeline component, becomes the inner
/// step output bound to `y`.
fn rewrite_nested_references(
    steps: &mut IndexMap<String, StepSpec>,
    nested: &HashMap<String, IndexMap<String, (String, String)>>,
) -> Result<(), SpecError> {
    if nested.is_empty() {
        return Ok(());
    }
    for step in steps.values_mut() {
        let source = step.source.clone();
        for (_, value) in step.inputs.values_mut() {
            let InputValue::Bound { binding, .. } = value else {
                continue;
            };
            let Binding::JobOutput { job, output } = &binding.value else {
                continue;
            };
            let Some(produced) = nested.get(job) else {
                continue;
            };
            let Some((inner, inner_output)) = produced.get(output) else {
                let known: Vec<&str> = produced.keys().map(String::as_str).collect();
                let err = SpecError::new(
                    &source,
                    binding.span,
                    format!("job `{job}` has no output `{output}`"),
                )
                .with_label("unknown output");
                return Err(match suggest(output, &known) {
                    Some(s) => err.with_help(format!("did you mean `{s}`?")),
                    None => err.with_help(format!(
                        "the outputs of its pipeline component are: {}",
                        known.join(", ")
                    )),
                });
            };
            binding.value = Binding::JobOutput {
                job: inner.clone(),
                output: inner_output.clone(),
            };
        }
    }
    Ok(())
}

/// What `component create` records about a component file.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    pub source: Source,
    /// `command` or `pipeline`.
    pub kind: &'static str,
    pub name: Option<Spanned<String>>,
    pub version: Option<Spanned<String>>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    /// Input names and types.
    pub inputs: Vec<(String, IoType)>,
    /// Output names and types.
    pub outputs: Vec<(String, IoType)>,
    /// Steps of a pipeline component once expanded (inner pipeline components included).
    pub steps: Vec<String>,
    /// Every local file or folder the component refers to (code, conda files, inner component
    /// files and theirs), for storing a registered version.
    pub files: Vec<std::path::PathBuf>,
}

/// Reads and checks a command or pipeline component file, with `--set` overrides applied.
pub fn load_component_info(
    path: &std::path::Path,
    overrides: &[(String, String)],
    assets: Option<&dyn crate::decode::AssetLookup>,
    warnings: &mut Vec<crate::diag::Warning>,
) -> Result<ComponentInfo, SpecError> {
    let source = crate::parse::read_source(path)?;
    let root = crate::parse::load_tree(&source, overrides, warnings)?;
    let mut ctx = Ctx {
        source: &source,
        warnings,
        assets,
    };
    let r = {
        let mut r = MapReader::new(&ctx, &root, "a component")?;
        (
            ctx.opt_string(r.get("name"), "name")?,
            ctx.opt_string(r.get("version"), "version")?,
            ctx.opt_string(r.get("display_name"), "display_name")?,
            ctx.opt_string(r.get("description"), "description")?,
            ctx.string_map(r.get("tags"), "tags")?,
        )
    };
    let (name, version, display_name, description, tags) = r;
    let kinds = |m: &IndexMap<String, (Spanned<String>, InputDef)>| {
        m.iter()
            .map(|(k, (_, d))| (k.clone(), d.ty.value))
            .collect()
    };
    let outs = |m: &IndexMap<String, (Spanned<String>, OutputDef)>| {
        m.iter()
            .map(|(k, (_, d))| (k.clone(), d.ty.value))
            .collect()
    };
    let (kind, inputs, outputs, steps) =
        match crate::parse::decode_component_ref(&mut ctx, &root, None)? {
            ComponentDef::Command(c) => ("command", kinds(&c.inputs), outs(&c.outputs), Vec::new()),
            ComponentDef::Pipeline(pc) => (
                "pipeline",
                kinds(&pc.inputs),
                outs(&pc.outputs),
                pc.steps.keys().cloned().collect(),
            ),
        };
    let mut files = Vec::new();
    referenced_files(&source, &root, &mut files, 0)?;
    files.sort();
    files.dedup();
    Ok(ComponentInfo {
        source,
        kind,
        name,
        version,
        display_name: display_name.map(|s| s.value),
        description: description.map(|s| s.value),
        tags,
        inputs,
        outputs,
        steps,
        files,
    })
}

/// The local paths a component file refers to: `code:`, `conda_file:`, `environment: file:`,
/// and `component:` files (and, in turn, theirs).
fn referenced_files(
    source: &Source,
    node: &Node,
    out: &mut Vec<std::path::PathBuf>,
    depth: usize,
) -> Result<(), SpecError> {
    use crate::yaml::Value;
    if depth > 16 {
        return Err(SpecError::new(
            source,
            node.span,
            "component files refer to each other more than 16 levels deep",
        )
        .with_help("check for a component that refers to itself"));
    }
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                let text = v.as_str().map(str::trim);
                match (key, text) {
                    ("code" | "conda_file", Some(t))
                        if parse_asset_ref(t).is_none() && !t.contains("://") =>
                    {
                        out.push(source.resolve(t.strip_prefix("file:").unwrap_or(t)));
                    }
                    ("component" | "environment", Some(t))
                        if t.starts_with("file:")
                            || (key == "component" && parse_asset_ref(t).is_none()) =>
                    {
                        let path = source.resolve(t.strip_prefix("file:").unwrap_or(t));
                        let inner = crate::parse::read_source(&path)?;
                        let tree = crate::yaml::parse(&inner, &mut Vec::new())?;
                        out.push(path);
                        referenced_files(&inner, &tree, out, depth + 1)?;
                    }
                    _ => referenced_files(source, v, out, depth)?,
                }
            }
        }
        Value::Seq(items) => {
            for item in items {
                referenced_files(source, item, out, depth)?;
            }
        }
        _ => {}
    }
    Ok(())
}
