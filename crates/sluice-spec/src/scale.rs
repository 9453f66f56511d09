//! How wide a command job runs: `resources.instance_count` (nodes) and `distribution:`
//! (`pytorch` or `mpi` with `process_count_per_instance`, `tensorflow` with `worker_count`), as
//! Azure ML's command job schema has them. On a Slurm compute they become `--nodes` and
//! `--ntasks-per-node`, with the launcher variables Azure sets; on this machine a step runs as
//! one process (the plan warns).

use serde::Serialize;

use crate::decode::{Ctx, MapReader};
use crate::diag::SpecError;
use crate::yaml::Node;

/// Nodes and processes of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scale {
    /// `resources.instance_count` (1 when absent).
    pub instance_count: u32,
    pub distribution: Option<Distribution>,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            instance_count: 1,
            distribution: None,
        }
    }
}

impl Scale {
    /// More than one process in all.
    #[must_use]
    pub fn is_distributed(&self) -> bool {
        self.distribution.is_some() || self.instance_count > 1
    }

    /// Processes on each node.
    #[must_use]
    pub fn processes_per_node(&self) -> u32 {
        match self.distribution {
            Some(d) => d.processes_per_instance,
            None => 1,
        }
    }
}

/// `distribution:` of a command job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Distribution {
    pub kind: DistributionKind,
    /// `process_count_per_instance` (`pytorch`, `mpi`); for `tensorflow`, `worker_count` spread
    /// over the nodes.
    pub processes_per_instance: u32,
}

/// The launcher Azure would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistributionKind {
    Pytorch,
    Mpi,
    Tensorflow,
}

impl DistributionKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pytorch => "pytorch",
            Self::Mpi => "mpi",
            Self::Tensorflow => "tensorflow",
        }
    }
}

/// A whole number of at least 1 at `node`.
fn count(ctx: &Ctx<'_>, node: &Node, field: &str) -> Result<u32, SpecError> {
    let v = ctx.number(node, field)?;
    if v.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&v) {
        return Err(ctx
            .error(
                node,
                format!("`{field}` must be a whole number of 1 or more"),
            )
            .with_label("not a count"));
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked above"
    )]
    Ok(v as u32)
}

/// Reads `resources:` and `distribution:` from a command job (or a pipeline step).
pub(crate) fn decode_scale(ctx: &mut Ctx<'_>, r: &mut MapReader<'_>) -> Result<Scale, SpecError> {
    let mut scale = Scale::default();
    if let Some(node) = r.get("resources").filter(|n| !n.is_null()) {
        let mut res = MapReader::new(ctx, node, "`resources`")?;
        if let Some(n) = res.get("instance_count").filter(|n| !n.is_null()) {
            scale.instance_count = count(ctx, n, "instance_count")?;
        }
        res.ignore(
            ctx,
            &[
                "instance_type",
                "shm_size",
                "docker_args",
                "properties",
                "locations",
                "max_instance_count",
            ],
        );
        res.finish(ctx)?;
    }
    if let Some(node) = r.get("distribution").filter(|n| !n.is_null()) {
        let mut d = MapReader::new(ctx, node, "`distribution`")?;
        let Some(ty_node) = d.get("type").filter(|n| !n.is_null()) else {
            return Err(ctx
                .error(node, "`distribution` has no `type`")
                .with_help("use `type: pytorch` (or `mpi`, `tensorflow`)"));
        };
        let ty = ctx.string(ty_node, "type")?;
        let kind = match ty.value.to_ascii_lowercase().as_str() {
            "pytorch" => DistributionKind::Pytorch,
            "mpi" => DistributionKind::Mpi,
            "tensorflow" => DistributionKind::Tensorflow,
            other => {
                let err = ctx
                    .error(
                        ty_node,
                        format!("distribution type `{other}` is not supported"),
                    )
                    .with_label("unknown type");
                return Err(
                    match crate::decode::suggest(other, &["pytorch", "mpi", "tensorflow"]) {
                        Some(s) => err.with_help(format!("did you mean `{s}`?")),
                        None => err.with_help("use `pytorch`, `mpi` or `tensorflow`"),
                    },
                );
            }
        };
        let processes_per_instance = match kind {
            DistributionKind::Pytorch | DistributionKind::Mpi => {
                match d.get("process_count_per_instance").filter(|n| !n.is_null()) {
                    Some(n) => count(ctx, n, "process_count_per_instance")?,
                    None => 1,
                }
            }
            DistributionKind::Tensorflow => {
                let _ = d.get("parameter_server_count");
                let workers = match d.get("worker_count").filter(|n| !n.is_null()) {
                    Some(n) => count(ctx, n, "worker_count")?,
                    None => scale.instance_count,
                };
                workers.div_ceil(scale.instance_count)
            }
        };
        d.finish(ctx)?;
        scale.distribution = Some(Distribution {
            kind,
            processes_per_instance,
        });
    }
    Ok(scale)
}

#[cfg(test)]
mod tests {
    use crate::source::Source;

    fn scale_of(job: &str) -> Result<crate::Scale, crate::diag::SpecError> {
        let spec = crate::parse_job(&Source::new("job.yml", job), &[], None, &mut Vec::new())?;
        Ok(spec.steps.values().next().unwrap().scale)
    }

    #[test]
    fn azure_distributed_jobs_read_as_published() {
        // As in Azure's PyTorch example: two nodes, a process per GPU.
        let s = scale_of(
            "type: command\ncommand: python train.py\nresources:\n  instance_count: 2\n  instance_type: Standard_NC24\n\
             distribution:\n  type: pytorch\n  process_count_per_instance: 4\n",
        )
        .unwrap();
        assert_eq!(s.instance_count, 2);
        assert_eq!(s.processes_per_node(), 4);
        assert!(s.is_distributed());
        let mpi = scale_of("type: command\ncommand: x\ndistribution:\n  type: mpi\n").unwrap();
        assert_eq!(mpi.processes_per_node(), 1);
        let tf = scale_of(
            "type: command\ncommand: x\nresources:\n  instance_count: 2\ndistribution:\n  type: tensorflow\n  worker_count: 4\n",
        )
        .unwrap();
        assert_eq!(tf.processes_per_node(), 2);
        let plain = scale_of("type: command\ncommand: x\n").unwrap();
        assert!(!plain.is_distributed());
        let step = scale_of(
            "type: pipeline\njobs:\n  train:\n    type: command\n    command: x\n    resources:\n      instance_count: 3\n",
        )
        .unwrap();
        assert_eq!(step.instance_count, 3);
    }

    #[test]
    fn mistakes_are_located() {
        for (text, want, line) in [
            (
                "type: command\ncommand: x\nresources:\n  instance_count: 0\n",
                "1 or more",
                4,
            ),
            (
                "type: command\ncommand: x\ndistribution:\n  type: horovod\n",
                "not supported",
                4,
            ),
            (
                "type: command\ncommand: x\ndistribution:\n  type: pytorc\n",
                "did you mean `pytorch`",
                4,
            ),
            (
                "type: command\ncommand: x\ndistribution:\n  process_count_per_instance: 2\n",
                "no `type`",
                4,
            ),
            (
                "type: command\ncommand: x\ndistribution:\n  type: mpi\n  process_count: 2\n",
                "process_count_per_instance",
                5,
            ),
        ] {
            let err = scale_of(text).unwrap_err();
            let shown = format!("{} {}", err.message, err.help.clone().unwrap_or_default());
            assert!(shown.contains(want), "{text}: {shown}");
            assert_eq!(err.span.line, line, "{text}: {shown}");
        }
    }
}
