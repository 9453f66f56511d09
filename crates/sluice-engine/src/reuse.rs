//! Step reuse: a step is not run when a completed step of an earlier job had the same reuse
//! key, and its outputs are still there, byte for byte.
//!
//! The key covers everything that can change what a step produces: the command template, the
//! hash of every file of its code snapshot, the environment (for a Python environment, the hash
//! of its interpreter version and requirement set), every input (literal values; content hashes of data and of upstream
//! outputs — never just their paths), the output settings, the compute, the environment
//! variables, and for a distributed step its nodes and processes. `job explain` compares the parts of a step's key with the closest earlier run.

use serde_json::{Map, Value, json};
use sluice_spec::Segment;
use sluice_store::{OutputRow, StepRow};

use crate::plan::{Plan, StepInput, StepPlan};
use crate::{EngineError, Workspace};

/// What was decided for one step before it runs.
pub(crate) struct Decision {
    /// The key's digest; `None` when the step may never be reused (`is_deterministic: false`)
    /// or a part of the key cannot be known.
    pub(crate) key: Option<String>,
    /// `{"parts": {...}, "off": reason-or-null}`, stored for `job explain`.
    pub(crate) record: Value,
    pub(crate) code_hash: Option<String>,
    /// The code snapshot that was hashed, for the step to run in (listed once).
    pub(crate) snapshot: Option<sluice_artifacts::Snapshot>,
    /// The earlier step to reuse: its job and row.
    pub(crate) reuse: Option<(String, StepRow)>,
}

fn template_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.clone(),
            Segment::Expr(b) => b.to_string(),
            Segment::Optional(inner) => format!("$[[{}]]", template_text(inner)),
        })
        .collect()
}

/// The revision of the built-in steps' behaviour: bump it when a built-in step (`sluice step
/// ...`) writes different outputs for the same inputs and options (revision 2: `prep` deals
/// rows to the splits by selection sampling instead of a shuffle), so that results of the
/// earlier behaviour are not reused. With the release's version, it is part of a built-in
/// step's reuse key.
pub(crate) const BUILTIN_STEPS_REVISION: u32 = 2;

/// What a built-in step's results depend on besides its inputs: this build's version and the
/// built-in steps' revision; `None` for any other command.
fn builtin(step: &StepPlan) -> Option<String> {
    builtin_of(&template_text(&step.template))
}

fn builtin_of(command: &str) -> Option<String> {
    builtin_step(command).map(|_| {
        format!(
            "sluice {} (built-in steps revision {BUILTIN_STEPS_REVISION})",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// The built-in step a command runs (`prep` for `sluice step prep ...`), wherever in the
/// command it is: after `cd dir &&`, `VAR=1`, `exec` or `time`, on any line, `sluice` by name
/// or path.
fn builtin_step(command: &str) -> Option<&str> {
    let words: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(3).find_map(|w| {
        let sluice = w[0] == "sluice" || w[0].ends_with("/sluice");
        (sluice && w[1] == "step").then_some(w[2])
    })
}

/// Whether the step is a built-in step that reads the model registry: `sluice step evaluate`
/// (the champion to beat) or `sluice step register` (the versions and the policy).
fn reads_registry(step: &StepPlan) -> bool {
    matches!(
        builtin_step(&template_text(&step.template)),
        Some("evaluate" | "register")
    )
}

/// Computes the step's key and looks for an earlier step to reuse.
pub(crate) fn decide(
    ws: &Workspace,
    plan: &Plan,
    step: &StepPlan,
    recorded: &[OutputRow],
) -> Result<Decision, EngineError> {
    let mut unknown: Option<String> = None;
    let mut snapshot = None;
    let code_hash = match &step.code_dir {
        Some(dir) => match ws.code_snapshot(dir).and_then(|s| {
            let h = ws.hash_snapshot(&s)?;
            snapshot = Some(s);
            Ok(h)
        }) {
            Ok(h) => Some(h.hash),
            Err(e) => {
                unknown = Some(format!("the code snapshot cannot be hashed: {e}"));
                None
            }
        },
        None => None,
    };
    let environment = match &step.python_env {
        Some(request) => match crate::envs::builder(ws).resolve(request) {
            Ok((_, hash)) => json!({"python_env": hash}),
            Err(e) => {
                unknown = Some(format!("the environment cannot be resolved: {e}"));
                Value::Null
            }
        },
        None => json!({"host": step.environment}),
    };
    let mut inputs = Map::new();
    for (name, input) in &step.inputs {
        let value = match input {
            StepInput::Literal { value } => json!({"value": value}),
            StepInput::Data(d) => match &d.content_hash {
                Some(h) => json!({"content": h}),
                None => {
                    unknown = Some(format!("input `{name}` has no content hash"));
                    Value::Null
                }
            },
            StepInput::StepOutput { step: s, output } => {
                let hash = recorded
                    .iter()
                    .find(|r| r.step_name == *s && r.name == *output)
                    .and_then(|r| r.content_hash.clone());
                match hash {
                    Some(h) => json!({"content": h}),
                    None => {
                        unknown = Some(format!(
                            "input `{name}` (output `{output}` of `{s}`) has no content hash"
                        ));
                        Value::Null
                    }
                }
            }
            StepInput::Absent => Value::Null,
        };
        inputs.insert(name.clone(), value);
    }
    let job_dir = ws.job_dir(&plan.job_name);
    let outputs: Map<String, Value> = step
        .outputs
        .iter()
        .map(|(name, out)| {
            // A folder inside the job is the default place; any other place is a setting (for a
            // file given a path, the file's).
            let place = (!out.dir.starts_with(&job_dir)).then(|| {
                out.file
                    .as_ref()
                    .map_or_else(|| out.dir.clone(), |f| out.dir.join(f))
                    .display()
                    .to_string()
            });
            (
                name.clone(),
                json!({"type": out.ty.as_str(), "path": place, "register_as": out.register_as}),
            )
        })
        .collect();
    let mut parts = json!({
        "command": template_text(&step.template),
        "code": code_hash,
        "environment": environment,
        "inputs": inputs,
        "outputs": outputs,
        "compute": step.compute,
        "environment_variables": step.env_vars,
    });
    if let Some(builtin) = builtin(step) {
        parts["builtin"] = json!(builtin);
    }
    // Nodes and processes change what a distributed step runs (its ranks, its world size);
    // a step on one process keeps the key it always had.
    if step.scale.is_distributed() {
        parts["scale"] = json!(step.scale);
    }
    // The built-in steps that read the model registry (the champion and its metric, the
    // policy) depend on it as on an input: its state is part of their key.
    if reads_registry(step) {
        let (seq, hash) = ws.store().registry_head()?.unwrap_or((0, String::new()));
        parts["registry"] = json!({"audit_seq": seq, "audit_hash": hash});
    }
    let off = if !step.deterministic {
        Some("the component sets `is_deterministic: false`".to_owned())
    } else if plan.force_rerun {
        Some("reuse is off for this job (`settings.force_rerun` or `--force-rerun`)".to_owned())
    } else {
        unknown.clone()
    };
    let key = (step.deterministic && unknown.is_none())
        .then(|| sluice_artifacts::hash_bytes(parts.to_string().as_bytes()));
    let mut reuse = None;
    if off.is_none()
        && let Some(key) = &key
    {
        let candidates = ws.store().reuse_candidates(key, &plan.job_name)?;
        for (job, row) in candidates {
            if outputs_intact(ws, &job, &row.name)? {
                reuse = Some((job, row));
                break;
            }
        }
    }
    Ok(Decision {
        key,
        record: json!({"parts": parts, "off": off}),
        code_hash,
        snapshot,
        reuse,
    })
}

/// True when every recorded output of `job`/`step` is still there with its recorded hash.
fn outputs_intact(ws: &Workspace, job: &str, step: &str) -> Result<bool, EngineError> {
    let outputs = ws.store().list_step_outputs(job, step)?;
    for out in &outputs {
        let path = std::path::Path::new(&out.path);
        let Some(expected) = &out.content_hash else {
            return Ok(false);
        };
        match ws.hash_path(path) {
            Ok(h) if h.hash == *expected => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// Why a step ran or was reused, compared with the closest earlier run of a step of the same
/// name.
pub fn explain(ws: &Workspace, job: &str, only: Option<&str>) -> Result<Vec<Value>, EngineError> {
    let job_row = ws.store().get_job(job)?;
    let steps = ws.store().list_steps(job)?;
    let mut out = Vec::new();
    for step in steps.iter().filter(|s| only.is_none_or(|o| o == s.name)) {
        out.push(explain_step(ws, job, &job_row.created_at, step)?);
    }
    if let Some(name) = only
        && out.is_empty()
    {
        return Err(EngineError::Store(sluice_store::StoreError::NotFound {
            what: sluice_store::Entity::Step,
            name: format!("{job}/{name}"),
        }));
    }
    Ok(out)
}

fn explain_step(
    ws: &Workspace,
    job: &str,
    created_at: &str,
    step: &StepRow,
) -> Result<Value, EngineError> {
    let mut result = json!({"step": step.name, "status": step.status});
    if let Some(from) = &step.reused_from {
        result["decision"] = json!("reused");
        result["reused_from"] = json!(from);
        let registry = step
            .reuse_parts
            .as_ref()
            .and_then(|r| r["parts"]["registry"]["audit_seq"].as_i64());
        result["reason"] = json!(match registry {
            Some(seq) => format!(
                "reused the results of `{from}`: every part of the reuse key matched, the model registry's state included (unchanged since audit entry {seq})"
            ),
            None => format!("reused the results of `{from}`: every part of the reuse key matched"),
        });
        return Ok(result);
    }
    let Some(record) = &step.reuse_parts else {
        result["decision"] = json!("not run");
        result["reason"] = json!(match step.status.as_str() {
            "NotStarted" | "Queued" | "Canceled" => "the step never got as far as its reuse check",
            _ => "no reuse key was recorded for this step",
        });
        return Ok(result);
    };
    result["decision"] = json!("ran");
    if let Some(off) = record["off"].as_str() {
        result["reason"] = json!(format!("reuse was off: {off}"));
        return Ok(result);
    }
    let parts = &record["parts"];
    let earlier = ws.store().earlier_steps(&step.name, job, created_at)?;
    let Some((prev_job, prev)) = earlier.iter().min_by_key(|(_, row)| {
        differences(
            parts,
            &row.reuse_parts
                .as_ref()
                .map_or(Value::Null, |r| r["parts"].clone()),
        )
        .len()
    }) else {
        result["reason"] = json!(format!(
            "no earlier completed run of a step named `{}` to reuse",
            step.name
        ));
        return Ok(result);
    };
    let prev_parts = prev
        .reuse_parts
        .as_ref()
        .map_or(Value::Null, |r| r["parts"].clone());
    let diffs = differences(&prev_parts, parts);
    result["compared_with"] = json!(format!("{prev_job}/{}", prev.name));
    if diffs.is_empty() {
        result["reason"] = json!(format!(
            "`{prev_job}/{}` had the same reuse key, but its outputs were gone or changed when this step started",
            prev.name
        ));
    } else {
        result["reason"] = json!(format!(
            "compared with `{prev_job}/{}`: {}",
            prev.name,
            diffs.join("; ")
        ));
        result["differences"] = json!(diffs);
    }
    Ok(result)
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s
            .strip_prefix("blake3:")
            .map_or(s.clone(), |h| format!("blake3 {}…", &h[..h.len().min(12)])),
        Value::Null => "nothing".to_owned(),
        other => other.to_string(),
    }
}

fn hashish(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{}…", &s[..12])
        }
        other => short(other),
    }
}

/// What differs between two sets of key parts, in words.
fn differences(before: &Value, after: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if before["registry"] != after["registry"] {
        out.push(format!(
            "the model registry changed, which the step reads (audit entry {} → {})",
            short(&before["registry"]["audit_seq"]),
            short(&after["registry"]["audit_seq"])
        ));
    }
    if before["builtin"] != after["builtin"] {
        out.push(format!(
            "the built-in step changed: {} → {}",
            before["builtin"].as_str().unwrap_or(
                if before["command"].as_str().and_then(builtin_step).is_some() {
                    "an earlier sluice"
                } else {
                    "not a built-in step"
                }
            ),
            after["builtin"].as_str().unwrap_or("none")
        ));
    }
    if before["command"] != after["command"] {
        out.push(format!(
            "the command changed: `{}` → `{}`",
            before["command"].as_str().unwrap_or(""),
            after["command"].as_str().unwrap_or("")
        ));
    }
    if before["code"] != after["code"] {
        out.push(format!(
            "the code snapshot changed: {} → {}",
            short(&before["code"]),
            short(&after["code"])
        ));
    }
    if before["environment"] != after["environment"] {
        let describe = |v: &Value| match (&v["python_env"], &v["host"]) {
            (Value::String(h), _) => format!("Python environment {}", hashish(&json!(h))),
            (_, Value::String(h)) => format!("`{h}` on the host"),
            _ => "the host's tools".to_owned(),
        };
        out.push(format!(
            "the environment changed: {} → {}",
            describe(&before["environment"]),
            describe(&after["environment"])
        ));
    }
    let empty = Map::new();
    let b_in = before["inputs"].as_object().unwrap_or(&empty);
    let a_in = after["inputs"].as_object().unwrap_or(&empty);
    for (name, a) in a_in {
        let b = b_in.get(name).unwrap_or(&Value::Null);
        if a == b {
            continue;
        }
        match (&b["content"], &a["content"], &b["value"], &a["value"]) {
            (Value::String(_), Value::String(_), _, _) => out.push(format!(
                "input `{name}` content changed: {} → {}",
                short(&b["content"]),
                short(&a["content"])
            )),
            (_, _, Value::String(bv), Value::String(av)) => {
                out.push(format!("input `{name}` changed: `{bv}` → `{av}`"));
            }
            _ => out.push(format!("input `{name}` changed: {b} → {a}")),
        }
    }
    for name in b_in.keys().filter(|k| !a_in.contains_key(*k)) {
        out.push(format!("input `{name}` was removed"));
    }
    for part in ["outputs", "compute", "environment_variables", "scale"] {
        if before[part] != after[part] {
            let label = match part {
                "outputs" => "the output settings",
                "compute" => "the compute",
                "scale" => "the nodes and processes (`resources`, `distribution`)",
                _ => "the environment variables",
            };
            out.push(format!(
                "{label} changed: {} → {}",
                before[part], after[part]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_part_and_the_values() {
        let a = json!({"command": "python t.py", "code": "blake3:aaaaaaaaaaaaaaaa", "environment": {"host": null},
            "inputs": {"x": {"content": "blake3:ab12ab12ab12ab12"}, "lr": {"value": "0.1"}}, "outputs": {}, "compute": "local", "environment_variables": {}});
        let mut b = a.clone();
        assert!(differences(&a, &b).is_empty());
        b["inputs"]["x"] = json!({"content": "blake3:cd34cd34cd34cd34"});
        b["inputs"]["lr"] = json!({"value": "0.2"});
        b["code"] = json!("blake3:bbbbbbbbbbbbbbbb");
        let d = differences(&a, &b);
        assert_eq!(
            d,
            [
                "the code snapshot changed: blake3 aaaaaaaaaaaa… → blake3 bbbbbbbbbbbb…",
                "input `x` content changed: blake3 ab12ab12ab12… → blake3 cd34cd34cd34…",
                "input `lr` changed: `0.1` → `0.2`",
            ]
        );
    }

    #[test]
    fn built_in_steps_key_on_the_build_and_their_revision() {
        let prep = builtin_of("sluice step prep --data ${{inputs.raw}}").unwrap();
        assert!(prep.ends_with(&format!(
            "(built-in steps revision {BUILTIN_STEPS_REVISION})"
        )));
        assert_eq!(builtin_of("/opt/bin/sluice step train --x 1"), Some(prep));
        assert_eq!(builtin_of("python train.py"), None);
        assert_eq!(builtin_of("sluicer step prep"), None);
        assert_eq!(builtin_of("echo sluice step"), None, "no step named");
        for written in [
            "FOO=1 sluice step prep --x",
            "cd src && exec sluice step train",
            "set -e\n# prepare\ntime ./bin/sluice step evaluate",
            "(sluice step register)",
        ] {
            assert!(builtin_of(written).is_some(), "{written}");
        }
        assert_eq!(
            builtin_step("cd x; sluice step evaluate --a"),
            Some("evaluate")
        );
        let before = json!({"command": "sluice step prep"});
        let mut after = before.clone();
        after["builtin"] = json!("sluice 0.1.0 (built-in steps revision 2)");
        assert_eq!(
            differences(&before, &after),
            [
                "the built-in step changed: an earlier sluice → sluice 0.1.0 (built-in steps revision 2)"
            ]
        );
    }
}
