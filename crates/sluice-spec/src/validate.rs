//! Checks that need the whole job: bindings point at things that exist, required inputs are
//! bound, literals fit their declared types, and the steps form no cycle.

use std::collections::HashMap;

use crate::binding::{Binding, template_bindings};
use crate::decode::suggest;
use crate::diag::SpecError;
use crate::source::{Source, Spanned};
use crate::types::{ComponentSpec, InputDef, InputValue, IoType, JobSpec, OutputValue, StepSpec};

fn names<V>(map: &indexmap::IndexMap<String, V>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

fn hint_for(err: SpecError, word: &str, known: &[&str], what: &str) -> SpecError {
    match suggest(word, known) {
        Some(s) => err.with_help(format!("did you mean `{s}`?")),
        None if known.is_empty() => err.with_help(format!("there are no {what} to refer to")),
        None => err.with_help(format!(
            "known {what}: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `${{...}}` in a component's command may only name its own inputs and outputs.
pub(crate) fn validate_component_command(c: &ComponentSpec) -> Result<(), SpecError> {
    for b in template_bindings(&c.template) {
        let err = |msg: String| {
            SpecError::new(&c.source, c.command.span, msg).with_label("in this command")
        };
        match b {
            Binding::Input(x) if !c.inputs.contains_key(x) => {
                return Err(hint_for(
                    err(format!(
                        "the command uses `{b}` but there is no input `{x}`"
                    )),
                    x,
                    &names(&c.inputs),
                    "inputs",
                ));
            }
            Binding::Output(x) if !c.outputs.contains_key(x) => {
                return Err(hint_for(
                    err(format!(
                        "the command uses `{b}` but there is no output `{x}`"
                    )),
                    x,
                    &names(&c.outputs),
                    "outputs",
                ));
            }
            Binding::Input(_) | Binding::Output(_) => {}
            other => {
                return Err(err(format!(
                    "a command can only use `${{{{inputs.NAME}}}}` and `${{{{outputs.NAME}}}}`, not `{other}`"
                ))
                .with_help("bind the value to an input of the job, then use `${{inputs.NAME}}`"));
            }
        }
    }
    Ok(())
}

/// A literal value fits its declared input type.
pub(crate) fn check_literal(
    source: &Source,
    def: &InputDef,
    value: &Spanned<serde_json::Value>,
    field: &str,
) -> Result<(), SpecError> {
    use serde_json::Value as J;
    let v = &value.value;
    let ty = def.ty.value;
    let as_num = match v {
        J::Number(n) => n.as_f64(),
        J::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let fits = match ty {
        IoType::Integer => match v {
            J::Number(n) => n.is_i64() || n.is_u64(),
            J::String(s) => s.trim().parse::<i64>().is_ok(),
            _ => false,
        },
        IoType::Number => as_num.is_some(),
        IoType::Boolean => match v {
            J::Bool(_) => true,
            J::String(s) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false"),
            _ => false,
        },
        IoType::String => !matches!(v, J::Array(_) | J::Object(_)),
        _ => matches!(v, J::String(_)),
    };
    if !fits {
        return Err(SpecError::new(
            source,
            value.span,
            format!(
                "`{field}` is declared `{}` but the value is `{}`",
                ty.as_str(),
                match v {
                    J::String(s) => s.clone(),
                    other => other.to_string(),
                }
            ),
        )
        .with_label(format!("not a valid {}", ty.as_str()))
        .with_help(format!("give a value of type `{}`", ty.as_str())));
    }
    if let Some(n) = as_num.filter(|_| matches!(ty, IoType::Integer | IoType::Number)) {
        if let Some(min) = def.min.filter(|m| n < *m) {
            return Err(SpecError::new(
                source,
                value.span,
                format!("`{field}` is {n}, below its minimum {min}"),
            )
            .with_label("too small"));
        }
        if let Some(max) = def.max.filter(|m| n > *m) {
            return Err(SpecError::new(
                source,
                value.span,
                format!("`{field}` is {n}, above its maximum {max}"),
            )
            .with_label("too large"));
        }
    }
    if let Some(allowed) = &def.allowed {
        // Compared as Azure ML compares them, after coercion to text: a boolean is `True` or
        // `False` (as the command line receives it), so `default: True` is in `['True', 'False']`.
        let text = |j: &J| match j {
            J::String(s) => s.clone(),
            J::Bool(true) => "True".to_owned(),
            J::Bool(false) => "False".to_owned(),
            other => other.to_string(),
        };
        if !allowed.iter().any(|a| text(a) == text(v)) {
            let list = allowed
                .iter()
                .map(|a| format!("`{}`", text(a)))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(SpecError::new(
                source,
                value.span,
                format!("`{field}` must be one of {list}"),
            )
            .with_label("not an allowed value"));
        }
    }
    Ok(())
}

/// Validates a decoded job as a whole.
pub(crate) fn validate(job: &JobSpec) -> Result<(), SpecError> {
    let src = &job.source;
    for (name, (key, value)) in &job.inputs {
        if let InputValue::Bound { binding, .. } = value {
            return Err(SpecError::new(
                src,
                binding.span,
                format!("pipeline input `{name}` cannot be a binding"),
            )
            .with_label("no parent to bind to")
            .with_help("give the pipeline input a value or a path"));
        }
        let _ = key;
    }
    for (name, (_, value)) in &job.outputs {
        if let OutputValue::Bound(b) = value {
            return Err(SpecError::new(src, b.span, format!("pipeline output `{name}` cannot be a binding"))
                .with_help("declare the output as `{type: uri_folder}`; steps bind to it with `${{parent.outputs.NAME}}`"));
        }
    }
    for step in job.steps.values() {
        validate_step(job, step)?;
    }
    check_cycles(job)
}

fn validate_step(job: &JobSpec, step: &StepSpec) -> Result<(), SpecError> {
    let src = &step.source;
    let c = &step.component;
    for (name, (key, value)) in &step.inputs {
        let Some((_, def)) = c.inputs.get(name) else {
            let err = SpecError::new(
                src,
                key.span,
                format!("job `{}` has no input `{name}`", step.name.value),
            )
            .with_label("unknown input");
            return Err(hint_for(
                err,
                name,
                &names(&c.inputs),
                "inputs of its component",
            ));
        };
        match value {
            InputValue::Literal(l) => {
                if def.ty.is_literal() {
                    check_literal(
                        src,
                        def,
                        l,
                        &format!("jobs.{}.inputs.{name}", step.name.value),
                    )?;
                }
            }
            InputValue::Bound { binding, .. } => check_input_binding(job, step, binding)?,
            InputValue::Data { .. } | InputValue::Empty { .. } => {}
        }
    }
    for (name, (_, def)) in &c.inputs {
        let given = step.inputs.get(name).map(|(_, v)| v);
        let has_value = match given {
            None | Some(InputValue::Empty { .. }) => false,
            Some(InputValue::Bound { binding, .. }) => match &binding.value {
                // Bound to a pipeline input: that input must have a value, unless the step's
                // own input has a default or is optional.
                Binding::ParentInput(p) => job
                    .inputs
                    .get(p)
                    .is_some_and(|(_, v)| !matches!(v, InputValue::Empty { .. })),
                _ => true,
            },
            Some(_) => true,
        };
        if !has_value
            && !def.optional
            && def.default.is_none()
            && job.kind == crate::types::JobKind::Command
        {
            let span = job
                .inputs
                .get(name)
                .map_or(step.name.span, |(key, _)| key.span);
            return Err(
                SpecError::new(src, span, format!("input `{name}` has no value"))
                    .with_label("no `path` or value")
                    .with_help(format!(
                        "give it a `path:` or a value, or pass `--set inputs.{name}=...`"
                    )),
            );
        }
        if !has_value && !def.optional && def.default.is_none() {
            let (span, how) = match given {
                Some(InputValue::Bound { binding, .. }) => (
                    binding.span,
                    "the pipeline input it is bound to has no value; give it one in the file or with `--set inputs.NAME=...`".to_owned(),
                ),
                _ => (
                    step.name.span,
                    format!("add `{name}: ${{{{parent.inputs.NAME}}}}` (or a value) under `jobs.{}.inputs`", step.name.value),
                ),
            };
            return Err(SpecError::new(
                src,
                span,
                format!(
                    "required input `{name}` of job `{}` is not bound",
                    step.name.value
                ),
            )
            .with_label("missing input")
            .with_help(how));
        }
    }
    for (name, (key, value)) in &step.outputs {
        if !c.outputs.contains_key(name) {
            let err = SpecError::new(
                src,
                key.span,
                format!("job `{}` has no output `{name}`", step.name.value),
            )
            .with_label("unknown output");
            return Err(hint_for(
                err,
                name,
                &names(&c.outputs),
                "outputs of its component",
            ));
        }
        if let OutputValue::Bound(b) = value {
            match &b.value {
                Binding::ParentOutput(p) if job.outputs.contains_key(p) => {}
                Binding::ParentOutput(p) => {
                    let err = SpecError::new(
                        src,
                        b.span,
                        format!(
                            "`{}` refers to pipeline output `{p}`, which is not declared",
                            b.value
                        ),
                    )
                    .with_label("unknown pipeline output");
                    let known = names(&job.outputs);
                    return Err(if known.is_empty() {
                        err.with_help(format!("declare it under the pipeline's `outputs:` as `{p}: {{type: uri_folder}}`"))
                    } else {
                        hint_for(err, p, &known, "pipeline outputs")
                    });
                }
                other => {
                    return Err(SpecError::new(src, b.span, format!("a job output can only bind to `${{{{parent.outputs.NAME}}}}`, not `{other}`"))
                        .with_label("invalid output binding"));
                }
            }
        }
    }
    Ok(())
}

fn check_input_binding(
    job: &JobSpec,
    step: &StepSpec,
    binding: &Spanned<crate::binding::Binding>,
) -> Result<(), SpecError> {
    let src = &step.source;
    match &binding.value {
        Binding::ParentInput(p) => {
            if !job.inputs.contains_key(p) {
                let err = SpecError::new(
                    src,
                    binding.span,
                    format!(
                        "`{}` refers to pipeline input `{p}`, which does not exist",
                        binding.value
                    ),
                )
                .with_label("unknown pipeline input");
                return Err(hint_for(err, p, &names(&job.inputs), "pipeline inputs"));
            }
        }
        Binding::JobOutput { job: j, output } => {
            if j == &step.name.value {
                return Err(SpecError::new(
                    src,
                    binding.span,
                    format!("job `{j}` cannot take its own output as an input"),
                )
                .with_label("self reference"));
            }
            let Some(other) = job.steps.get(j) else {
                let err = SpecError::new(
                    src,
                    binding.span,
                    format!(
                        "`{}` refers to job `{j}`, which does not exist",
                        binding.value
                    ),
                )
                .with_label("unknown job");
                return Err(hint_for(err, j, &names(&job.steps), "jobs"));
            };
            if !other.component.outputs.contains_key(output) {
                let err = SpecError::new(
                    src,
                    binding.span,
                    format!("job `{j}` has no output `{output}`"),
                )
                .with_label("unknown output");
                return Err(hint_for(
                    err,
                    output,
                    &names(&other.component.outputs),
                    &format!("outputs of `{j}`"),
                ));
            }
        }
        other => {
            return Err(SpecError::new(src, binding.span, format!("`{other}` cannot be used in a job's inputs"))
                .with_label("invalid here")
                .with_help("bind job inputs with `${{parent.inputs.NAME}}` or `${{parent.jobs.JOB.outputs.NAME}}`"));
        }
    }
    Ok(())
}

/// The jobs a step takes outputs from.
#[must_use]
pub fn dependencies(step: &StepSpec) -> Vec<String> {
    let mut deps: Vec<String> = step
        .inputs
        .values()
        .filter_map(|(_, v)| match v {
            InputValue::Bound { binding, .. } => match &binding.value {
                Binding::JobOutput { job, .. } => Some(job.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    deps.extend(step.after.iter().cloned());
    deps.sort();
    deps.dedup();
    deps
}

fn check_cycles(job: &JobSpec) -> Result<(), SpecError> {
    let mut graph = petgraph::graphmap::DiGraphMap::<&str, ()>::new();
    for name in job.steps.keys() {
        graph.add_node(name.as_str());
    }
    let deps: HashMap<&str, Vec<String>> = job
        .steps
        .iter()
        .map(|(n, s)| (n.as_str(), dependencies(s)))
        .collect();
    for (name, ds) in &deps {
        for d in ds {
            graph.add_edge(d.as_str(), name, ());
        }
    }
    for scc in petgraph::algo::tarjan_scc(&graph) {
        if scc.len() > 1 {
            // Walk the cycle in pipeline order from its first job.
            let first = job
                .steps
                .keys()
                .find(|k| scc.contains(&k.as_str()))
                .expect("member");
            let path = cycle_through(&graph, &scc, first);
            let step = &job.steps[first];
            return Err(SpecError::new(
                &job.source,
                step.name.span,
                format!("the jobs form a cycle: {}", path.join(" → ")),
            )
            .with_label("part of a cycle")
            .with_help("a job cannot depend, directly or through others, on its own outputs"));
        }
    }
    Ok(())
}

/// A closed path from `start` back to itself inside one strongly connected component, found by
/// depth-first search (a component always has one).
fn cycle_through<'a>(
    graph: &petgraph::graphmap::DiGraphMap<&'a str, ()>,
    scc: &[&'a str],
    start: &'a str,
) -> Vec<&'a str> {
    fn dfs<'a>(
        graph: &petgraph::graphmap::DiGraphMap<&'a str, ()>,
        scc: &[&'a str],
        start: &'a str,
        path: &mut Vec<&'a str>,
        seen: &mut Vec<&'a str>,
    ) -> bool {
        let cur = *path.last().expect("non-empty");
        let mut next: Vec<&str> = graph.neighbors(cur).filter(|n| scc.contains(n)).collect();
        next.sort_unstable();
        for n in next {
            if n == start {
                path.push(n);
                return true;
            }
            if !seen.contains(&n) {
                seen.push(n);
                path.push(n);
                if dfs(graph, scc, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = vec![start];
    dfs(graph, scc, start, &mut path, &mut seen);
    path
}
