//! Azure ML's compute YAML (`az ml compute create -f compute.yml`): `type: amlcompute` (a
//! cluster: `size`, `min_instances`, `max_instances`, `idle_time_before_scale_down`, `tier`) or
//! `computeinstance` (`size`). Sluice runs their steps on this machine, at most
//! `max_instances` at once; the rest is recorded. Keys that only mean something on Azure
//! (`location`, `identity`, `network_settings`, `ssh_settings`, ...) are accepted with a warning.
//!
//! A `sluice:` mapping (or `type: slurm`) sends the compute's steps to a Slurm cluster instead:
//!
//! ```yaml
//! sluice:
//!   slurm:
//!     partition: gpu
//!     account: ml-team
//!     qos: normal
//!     sbatch_options: ["--mem=16G", "--gres=gpu:1"]
//! ```

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
    /// Where its steps run: this machine, or a Slurm cluster.
    pub executor: ExecutorSpec,
}

/// Where a compute's steps run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "executor", rename_all = "lowercase")]
pub enum ExecutorSpec {
    /// Processes on the machine that runs the job.
    Local,
    /// Batch jobs on a Slurm cluster, submitted with `sbatch`.
    Slurm(SlurmSettings),
}

/// A Slurm compute's submission settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlurmSettings {
    /// `--partition` (the cluster's default partition when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// More `sbatch` options, one per item (`--mem=16G`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_options: Vec<String>,
}

const TYPES: &[&str] = &["amlcompute", "computeinstance", "local", "slurm"];

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
    compute_from_node(source, &root, warnings)
}

/// A compute from a mapping node of `source` (a compute file's root, or an item of an
/// infrastructure file's `computes:`).
pub(crate) fn compute_from_node(
    source: &Source,
    root: &Node,
    warnings: &mut Vec<Warning>,
) -> Result<ComputeSpec, SpecError> {
    let root = root.clone();
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
                        "use `amlcompute` (or `computeinstance`, `local`): its steps run as processes on this machine; `slurm` sends them to a Slurm cluster",
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
    let slurm = match r.get("sluice").filter(|n| !n.is_null()) {
        Some(node) => decode_sluice(&ctx, node)?,
        None => None,
    };
    let executor = match slurm {
        Some(settings) => ExecutorSpec::Slurm(settings),
        None if ty == "slurm" => ExecutorSpec::Slurm(SlurmSettings::default()),
        None => ExecutorSpec::Local,
    };
    if ty == "local" && executor != ExecutorSpec::Local {
        let key = r.key_node("sluice").unwrap_or(&root);
        return Err(ctx
            .error(key, "a `local` compute cannot carry Slurm settings")
            .with_label("Slurm settings")
            .with_help("use `type: amlcompute` (or `type: slurm`) for a Slurm compute"));
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
        executor,
    })
}

/// The `sluice:` mapping: `slurm:` with its settings.
fn decode_sluice(ctx: &Ctx<'_>, node: &Node) -> Result<Option<SlurmSettings>, SpecError> {
    let mut r = MapReader::new(ctx, node, "the `sluice:` mapping")?;
    let Some(slurm) = r.get("slurm").filter(|n| !n.is_null()) else {
        r.finish(ctx)?;
        return Ok(None);
    };
    r.finish(ctx)?;
    let mut s = MapReader::new(ctx, slurm, "the `slurm:` mapping")?;
    let word = |node: Option<&Node>, field: &str| -> Result<Option<String>, SpecError> {
        let Some(v) = ctx.opt_string(node, field)? else {
            return Ok(None);
        };
        if v.value.is_empty() || v.value.chars().any(char::is_whitespace) {
            return Err(ctx
                .error_at(v.span, format!("`{field}` must be one word"))
                .with_label("not a Slurm name"));
        }
        Ok(Some(v.value))
    };
    let partition = word(s.get("partition"), "partition")?;
    let account = word(s.get("account"), "account")?;
    let qos = word(s.get("qos"), "qos")?;
    let sbatch_options = match s.get("sbatch_options").filter(|n| !n.is_null()) {
        None => Vec::new(),
        Some(list) => match &list.value {
            // One string: options separated by spaces (what `--sbatch-options` gives).
            crate::yaml::Value::Str { text, .. } => {
                text.split_whitespace().map(str::to_owned).collect()
            }
            crate::yaml::Value::Seq(items) => items
                .iter()
                .map(|i| ctx.string(i, "sbatch_options").map(|v| v.value))
                .collect::<Result<_, _>>()?,
            _ => return Err(ctx.expected(list, "a list of strings", "sbatch_options")),
        },
    };
    for opt in &sbatch_options {
        if !opt.starts_with('-') {
            return Err(ctx
                .error(
                    slurm,
                    format!("sbatch option `{opt}` does not start with `-`"),
                )
                .with_help("write options as sbatch takes them: `--mem=16G`, `--gres=gpu:1`"));
        }
    }
    s.finish(ctx)?;
    Ok(Some(SlurmSettings {
        partition,
        account,
        qos,
        sbatch_options,
    }))
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
        assert_eq!(ci.executor, ExecutorSpec::Local);
    }

    #[test]
    fn slurm_settings_ride_under_sluice() {
        let (c, warnings) = parse(
            "name: hpc\ntype: amlcompute\nsize: STANDARD_NC6\nmax_instances: 3\nsluice:\n  slurm:\n    partition: gpu\n    account: ml\n    qos: normal\n    sbatch_options: [\"--mem=2G\", \"--gres=gpu:1\"]\n",
        )
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(c.ty, "amlcompute");
        assert_eq!(
            c.executor,
            ExecutorSpec::Slurm(SlurmSettings {
                partition: Some("gpu".into()),
                account: Some("ml".into()),
                qos: Some("normal".into()),
                sbatch_options: vec!["--mem=2G".into(), "--gres=gpu:1".into()],
            })
        );
        // `type: slurm` alone: the cluster's defaults; options given as one string.
        let (bare, _) = parse(
            "name: s\ntype: slurm\nsluice:\n  slurm:\n    sbatch_options: --mem=1G --time=10\n",
        )
        .unwrap();
        let ExecutorSpec::Slurm(settings) = bare.executor else {
            panic!("a Slurm compute")
        };
        assert_eq!(settings.sbatch_options, ["--mem=1G", "--time=10"]);
        let (plain, _) = parse("name: s\ntype: slurm\n").unwrap();
        assert_eq!(
            plain.executor,
            ExecutorSpec::Slurm(SlurmSettings::default())
        );
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
            (
                "name: c\nsluice:\n  partition: debug\n",
                "known keys are: `slurm`",
                3,
            ),
            (
                "name: c\nsluice:\n  slurm:\n    partion: debug\n",
                "did you mean `partition`",
                4,
            ),
            (
                "name: c\nsluice:\n  slurm:\n    partition: a b\n",
                "one word",
                4,
            ),
            (
                "name: c\nsluice:\n  slurm:\n    sbatch_options: [mem=1G]\n",
                "does not start with",
                4,
            ),
            (
                "name: c\ntype: local\nsluice:\n  slurm:\n    partition: a\n",
                "cannot carry Slurm",
                3,
            ),
        ] {
            let err = parse(text).unwrap_err();
            let shown = format!("{} {}", err.message, err.help.clone().unwrap_or_default());
            assert!(shown.contains(want), "{text}: {shown}");
            assert_eq!(err.span.line, line, "{text}: {shown}");
        }
    }
}
