//! Azure ML's compute YAML (`az ml compute create -f compute.yml`): `type: amlcompute` (a
//! cluster: `size`, `min_instances`, `max_instances`, `idle_time_before_scale_down`, `tier`) or
//! `computeinstance` (`size`). Sluice runs their steps on this machine, at most
//! `max_instances` at once; the rest is recorded. Keys that only mean something on Azure
//! (`location`, `identity`, `network_settings`, `ssh_settings`, ...) are accepted with a warning.

use indexmap::IndexMap;

use crate::decode::{Ctx, MapReader};
use crate::diag::{SpecError, Warning};
use crate::parse::{check_name, load_tree, read_source};
use crate::source::{Source, Spanned};
use crate::yaml::Node;

/// A compute definition.
#[derive(Debug, Clone)]
pub struct ComputeSpec {
    pub source: Source,
    pub name: Spanned<String>,
    /// `amlcompute`, `computeinstance` or `local`.
    pub ty: String,
    pub size: Option<String>,
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub idle_time_before_scale_down: Option<u32>,
    /// `dedicated` or `low_priority`.
    pub tier: Option<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
}

const TYPES: &[&str] = &["amlcompute", "computeinstance", "local"];

/// Reads and checks a compute file, with `--set` overrides.
///
/// # Errors
/// A located error for anything Azure's schema refuses, or Sluice cannot run.
pub fn load_compute(
    path: &std::path::Path,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<ComputeSpec, SpecError> {
    parse_compute(&read_source(path)?, overrides, warnings)
}

/// Checks a compute from its source text (a file, or `{}` with the command line's values as
/// overrides).
///
/// # Errors
/// As [`load_compute`].
pub fn parse_compute(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<ComputeSpec, SpecError> {
    let root = load_tree(source, overrides, warnings)?;
    let mut ctx = Ctx {
        source,
        warnings,
        assets: None,
    };
    let mut r = MapReader::new(&ctx, &root, "a compute")?;
    let _ = r.get("$schema");
    let Some(name) = ctx.opt_string(r.get("name"), "name")? else {
        return Err(ctx
            .error(&root, "the compute has no `name`")
            .with_help("add `name: cpu-cluster`"));
    };
    check_name(&ctx, &name, "compute name")?;
    let ty = match r.get("type").filter(|t| !t.is_null()) {
        None => "amlcompute".to_owned(),
        Some(node) => {
            let t = ctx.string(node, "type")?;
            let lower = t.value.to_ascii_lowercase();
            if !TYPES.contains(&lower.as_str()) {
                let err = ctx
                    .error(node, format!("compute type `{}` is not supported", t.value))
                    .with_label("unsupported type");
                return Err(match crate::decode::suggest(&lower, TYPES) {
                    Some(s) if s != lower => err.with_help(format!("did you mean `{s}`?")),
                    _ => err.with_help(
                        "use `amlcompute` (or `computeinstance`, `local`): its steps run as processes on this machine",
                    ),
                });
            }
            lower
        }
    };
    let count =
        |ctx: &Ctx<'_>, node: Option<&Node>, field: &str| -> Result<Option<u32>, SpecError> {
            let Some(node) = node.filter(|n| !n.is_null()) else {
                return Ok(None);
            };
            let v = ctx.number(node, field)?;
            if v.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&v) {
                return Err(ctx
                    .error(
                        node,
                        format!("`{field}` must be a whole number of 0 or more"),
                    )
                    .with_label("not a count"));
            }
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "checked above"
            )]
            Ok(Some(v as u32))
        };
    let size = ctx.opt_string(r.get("size"), "size")?.map(|s| s.value);
    let min_instances = count(&ctx, r.get("min_instances"), "min_instances")?;
    let max_node = r.get("max_instances");
    let max_instances = count(&ctx, max_node, "max_instances")?;
    let idle_time_before_scale_down = count(
        &ctx,
        r.get("idle_time_before_scale_down"),
        "idle_time_before_scale_down",
    )?;
    let tier = match r.get("tier").filter(|t| !t.is_null()) {
        None => None,
        Some(node) => {
            let t = ctx.string(node, "tier")?;
            let norm = t.value.to_ascii_lowercase().replace('-', "_");
            if !matches!(norm.as_str(), "dedicated" | "low_priority") {
                return Err(ctx
                    .error(node, format!("unknown tier `{}`", t.value))
                    .with_label("unknown tier")
                    .with_help("use `dedicated` or `low_priority`"));
            }
            Some(norm)
        }
    };
    if let (Some(max), Some(node)) = (max_instances, max_node) {
        if max == 0 {
            return Err(ctx
                .error(node, "`max_instances` must be at least 1")
                .with_label("no instances"));
        }
        if min_instances.is_some_and(|min| min > max) {
            return Err(ctx
                .error(
                    node,
                    format!("`max_instances: {max}` is below `min_instances`"),
                )
                .with_label("fewer than min_instances")
                .with_help("raise `max_instances` or lower `min_instances`"));
        }
    }
    let description = ctx
        .opt_string(r.get("description"), "description")?
        .map(|s| s.value);
    let tags = ctx.string_map(r.get("tags"), "tags")?;
    if r.get("sluice").is_some() {
        let key = r.key_node("sluice").unwrap_or(&root);
        return Err(ctx
            .error(
                key,
                "the `sluice:` mapping (a Slurm compute) is not supported by this version",
            )
            .with_label("not supported yet")
            .with_help("leave it out: the compute's steps then run on this machine"));
    }
    r.ignore(
        &mut ctx,
        &[
            "location",
            "identity",
            "network_settings",
            "ssh_settings",
            "ssh_public_access_enabled",
            "enable_node_public_ip",
            "admin_username",
            "admin_password",
            "schedules",
            "setup_scripts",
            "create_on_behalf_of",
            "idle_time_before_shutdown",
            "idle_time_before_shutdown_minutes",
            "enable_sso",
            "enable_root_access",
            "properties",
        ],
    );
    r.finish(&ctx)?;
    Ok(ComputeSpec {
        source: source.clone(),
        name,
        ty,
        size,
        min_instances,
        max_instances,
        idle_time_before_scale_down,
        tier,
        description,
        tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(ComputeSpec, Vec<Warning>), SpecError> {
        let mut warnings = Vec::new();
        let spec = parse_compute(&Source::new("compute.yml", text), &[], &mut warnings)?;
        Ok((spec, warnings))
    }

    #[test]
    fn azure_examples_parse() {
        // Azure's cluster example, as published.
        let (c, warnings) = parse(
            "$schema: https://azuremlschemas.azureedge.net/latest/amlCompute.schema.json\n\
             name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmin_instances: 0\n\
             max_instances: 2\nidle_time_before_scale_down: 120\nlocation: westus\n",
        )
        .unwrap();
        assert_eq!(c.name.value, "cpu-cluster");
        assert_eq!(c.ty, "amlcompute");
        assert_eq!(c.size.as_deref(), Some("STANDARD_DS3_v2"));
        assert_eq!((c.min_instances, c.max_instances), (Some(0), Some(2)));
        assert_eq!(c.idle_time_before_scale_down, Some(120));
        assert_eq!(warnings.len(), 1, "`location` is ignored with a warning");
        let (low, _) = parse(
            "name: low-pri\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmax_instances: 4\ntier: low_priority\n",
        )
        .unwrap();
        assert_eq!(low.tier.as_deref(), Some("low_priority"));
        let (ci, _) = parse("name: my-ci\ntype: computeinstance\nsize: STANDARD_DS3_v2\n").unwrap();
        assert_eq!(ci.ty, "computeinstance");
    }

    #[test]
    fn mistakes_are_located() {
        for (text, want, line) in [
            ("name: c\ntype: kubernetes\n", "is not supported", 2),
            ("name: c\ntype: amlcomput\n", "did you mean `amlcompute`", 2),
            ("name: c\nmax_instances: 0\n", "at least 1", 2),
            (
                "name: c\nmin_instances: 3\nmax_instances: 2\n",
                "below `min_instances`",
                3,
            ),
            ("name: c\nmax_instances: 1.5\n", "whole number", 2),
            ("name: c\ntier: premium\n", "unknown tier", 2),
            (
                "name: c\nmax_instance: 2\n",
                "did you mean `max_instances`",
                2,
            ),
            ("type: amlcompute\n", "no `name`", 1),
            ("name: c\nsluice:\n  partition: debug\n", "Slurm compute", 2),
        ] {
            let err = parse(text).unwrap_err();
            let shown = format!("{} {}", err.message, err.help.clone().unwrap_or_default());
            assert!(shown.contains(want), "{text}: {shown}");
            assert_eq!(err.span.line, line, "{text}: {shown}");
        }
    }
}
