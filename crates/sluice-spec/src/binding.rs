//! Binding expressions: `${{inputs.x}}`, `${{parent.jobs.train.outputs.model}}`, and the
//! optional blocks `$[[ ... ]]` of command templates.

/// What a `${{...}}` expression refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `${{inputs.x}}`: an input of the current job or component.
    Input(String),
    /// `${{outputs.x}}`: an output of the current job or component.
    Output(String),
    /// `${{parent.inputs.x}}`: an input of the enclosing pipeline.
    ParentInput(String),
    /// `${{parent.outputs.x}}`: an output of the enclosing pipeline.
    ParentOutput(String),
    /// `${{parent.jobs.J.outputs.x}}`: an output of a sibling job.
    JobOutput { job: String, output: String },
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Binding::Input(x) => write!(f, "${{{{inputs.{x}}}}}"),
            Binding::Output(x) => write!(f, "${{{{outputs.{x}}}}}"),
            Binding::ParentInput(x) => write!(f, "${{{{parent.inputs.{x}}}}}"),
            Binding::ParentOutput(x) => write!(f, "${{{{parent.outputs.{x}}}}}"),
            Binding::JobOutput { job, output } => {
                write!(f, "${{{{parent.jobs.{job}.outputs.{output}}}}}")
            }
        }
    }
}

/// Parses the inside of `${{ ... }}`.
pub(crate) fn parse_expression(expr: &str) -> Result<Binding, String> {
    let expr = expr.trim();
    let parts: Vec<&str> = expr.split('.').map(str::trim).collect();
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    let binding = match parts.as_slice() {
        ["inputs", x] if ok(x) => Binding::Input((*x).to_owned()),
        ["outputs", x] if ok(x) => Binding::Output((*x).to_owned()),
        ["parent", "inputs", x] if ok(x) => Binding::ParentInput((*x).to_owned()),
        ["parent", "outputs", x] if ok(x) => Binding::ParentOutput((*x).to_owned()),
        // `jobs.J.outputs.x` is the short form Azure ML's own examples still use
        // (`hello-pipeline-default-artifacts.yml`): the same sibling output.
        ["parent", "jobs", j, "outputs", x] | ["jobs", j, "outputs", x] if ok(j) && ok(x) => {
            Binding::JobOutput {
                job: (*j).to_owned(),
                output: (*x).to_owned(),
            }
        }
        _ => {
            return Err(format!(
                "`${{{{{expr}}}}}` is not a binding Sluice understands; expected \
                 `inputs.NAME`, `outputs.NAME`, `parent.inputs.NAME`, `parent.outputs.NAME` \
                 or `parent.jobs.JOB.outputs.NAME` (also `jobs.JOB.outputs.NAME`)"
            ));
        }
    };
    Ok(binding)
}

#[must_use]
/// If `text` is exactly one binding (`${{...}}` with only white space around), parses it.
pub fn whole_binding(text: &str) -> Option<Result<Binding, String>> {
    let t = text.trim();
    let inner = t.strip_prefix("${{")?.strip_suffix("}}")?;
    if inner.contains("${{") {
        return None;
    }
    Some(parse_expression(inner))
}

/// A piece of a command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Expr(Binding),
    /// `$[[ ... ]]`: dropped whole when an input inside it has no value.
    Optional(Vec<Segment>),
}

/// Splits a command into text, bindings and optional blocks.
pub fn parse_template(command: &str) -> Result<Vec<Segment>, String> {
    let (segments, rest) = parse_segments(command, false)?;
    debug_assert!(rest.is_empty());
    Ok(segments)
}

fn parse_segments(mut s: &str, in_optional: bool) -> Result<(Vec<Segment>, &str), String> {
    let mut out = Vec::new();
    let mut text = String::new();
    loop {
        if s.is_empty() {
            if in_optional {
                return Err("an optional block `$[[` is never closed with `]]`".into());
            }
            break;
        }
        if in_optional && s.starts_with("]]") {
            s = &s[2..];
            break;
        }
        if let Some(rest) = s.strip_prefix("${{") {
            let end = rest
                .find("}}")
                .ok_or_else(|| "a `${{` is never closed with `}}`".to_owned())?;
            if !text.is_empty() {
                out.push(Segment::Text(std::mem::take(&mut text)));
            }
            out.push(Segment::Expr(parse_expression(&rest[..end])?));
            s = &rest[end + 2..];
            continue;
        }
        if let Some(rest) = s.strip_prefix("$[[") {
            if in_optional {
                return Err("optional blocks `$[[ ]]` cannot be nested".into());
            }
            if !text.is_empty() {
                out.push(Segment::Text(std::mem::take(&mut text)));
            }
            let (inner, rest) = parse_segments(rest, true)?;
            out.push(Segment::Optional(inner));
            s = rest;
            continue;
        }
        let c = s.chars().next().expect("not empty");
        text.push(c);
        s = &s[c.len_utf8()..];
    }
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    Ok((out, s))
}

/// Every binding used in a template, optional blocks included.
#[must_use]
pub fn template_bindings(segments: &[Segment]) -> Vec<&Binding> {
    let mut out = Vec::new();
    for seg in segments {
        match seg {
            Segment::Text(_) => {}
            Segment::Expr(b) => out.push(b),
            Segment::Optional(inner) => out.extend(template_bindings(inner)),
        }
    }
    out
}

/// Renders a template; `value` returns `None` for an input with no value, which drops the
/// optional block around it (and is an error outside one, reported as `Err(binding)`).
pub fn render_template(
    segments: &[Segment],
    value: &dyn Fn(&Binding) -> Option<String>,
) -> Result<String, Binding> {
    let mut out = String::new();
    for seg in segments {
        match seg {
            Segment::Text(t) => out.push_str(t),
            Segment::Expr(b) => out.push_str(&value(b).ok_or_else(|| b.clone())?),
            Segment::Optional(inner) => {
                if let Ok(s) = render_template(inner, value) {
                    out.push_str(&s);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_binding_form() {
        assert_eq!(
            parse_expression(" inputs.x "),
            Ok(Binding::Input("x".into()))
        );
        assert_eq!(
            parse_expression("parent.jobs.train.outputs.model"),
            Ok(Binding::JobOutput {
                job: "train".into(),
                output: "model".into()
            })
        );
        assert_eq!(
            parse_expression("jobs.hello_job.outputs.artifacts"),
            Ok(Binding::JobOutput {
                job: "hello_job".into(),
                output: "artifacts".into()
            })
        );
        assert!(parse_expression("parent.job.train").is_err());
        assert!(parse_expression("jobs.train.inputs.x").is_err());
    }

    #[test]
    fn optional_blocks_drop_when_unbound() {
        let t = parse_template("python x.py --a ${{inputs.a}} $[[--b ${{inputs.b}}]]").unwrap();
        let with_b = render_template(&t, &|b| match b {
            Binding::Input(x) => Some(format!("<{x}>")),
            _ => None,
        })
        .unwrap();
        assert_eq!(with_b, "python x.py --a <a> --b <b>");
        let without_b = render_template(&t, &|b| match b {
            Binding::Input(x) if x == "a" => Some("1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(without_b, "python x.py --a 1 ");
    }

    #[test]
    fn display_round_trips() {
        let b = Binding::JobOutput {
            job: "j".into(),
            output: "o".into(),
        };
        assert_eq!(whole_binding(&b.to_string()), Some(Ok(b)));
    }
}
