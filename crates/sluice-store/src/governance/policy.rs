//! Promotion policies: which aliases are protected, the metric gate a version must pass to take
//! one (absolute thresholds and improvement over the current holder), how many approvals it
//! needs, and whether registration itself must pass the gate.

use crate::db::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError};

fn default_protected() -> Vec<String> {
    vec!["champion".into(), "production".into()]
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A registered model's promotion policy (`sluice model policy set -f policy.yml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The metric gate; none means no metric condition.
    #[serde(default)]
    pub gate: Option<Gate>,
    /// Aliases only owners may move, and only to versions that pass the gate and have their
    /// approvals. Moving a version into the `Production` stage is governed the same way.
    #[serde(default = "default_protected")]
    pub protected_aliases: Vec<String>,
    #[serde(default)]
    pub approvals: Approvals,
    /// Refuse to register a version whose source run fails the gate.
    #[serde(default)]
    pub require_gate_for_registration: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            gate: None,
            protected_aliases: default_protected(),
            approvals: Approvals::default(),
            require_gate_for_registration: false,
        }
    }
}

/// The metric a version must reach, read from its source run's latest metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// A metric key of the version's source run, e.g. `test r2`.
    pub metric: String,
    #[serde(default)]
    pub direction: Direction,
    /// The metric must be at least this.
    #[serde(default)]
    pub min: Option<f64>,
    /// The metric must be at most this.
    #[serde(default)]
    pub max: Option<f64>,
    /// The metric must beat the current holder of the alias by at least this much (in the
    /// `direction`); `0` means "at least as good".
    #[serde(default)]
    pub min_improvement: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Higher,
    Lower,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// Approvals a version needs before it may take a protected alias.
    #[serde(default = "one")]
    pub required: u32,
    /// An approver must not be the version's creator.
    #[serde(default = "yes")]
    pub distinct_from_creator: bool,
}

impl Default for Approvals {
    fn default() -> Self {
        Self {
            required: 1,
            distinct_from_creator: true,
        }
    }
}

/// The gate evaluated for one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    pub metric: String,
    pub value: Option<f64>,
    /// The run the value was read from.
    pub metric_run: Option<String>,
    /// The version compared with (the current holder of the alias), and its value.
    pub baseline_version: Option<String>,
    pub baseline_value: Option<f64>,
    pub passed: bool,
    /// Each failed condition, with its numbers.
    pub failures: Vec<String>,
}

impl Policy {
    /// Checks the policy's own consistency.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::Invalid(m));
        if let Some(g) = &self.gate {
            if g.metric.trim().is_empty() {
                return bad(
                    "`gate.metric` is empty: name a metric of the source run, e.g. `test r2`"
                        .into(),
                );
            }
            for (k, v) in [
                ("min", g.min),
                ("max", g.max),
                ("min_improvement", g.min_improvement),
            ] {
                if v.is_some_and(|v| !v.is_finite()) {
                    return bad(format!("`gate.{k}` must be a finite number"));
                }
            }
            if let (Some(lo), Some(hi)) = (g.min, g.max)
                && lo > hi
            {
                return bad(format!("`gate.min` ({lo}) is above `gate.max` ({hi})"));
            }
            if g.min_improvement.is_some_and(|m| m < 0.0) {
                return bad("`gate.min_improvement` must not be negative".into());
            }
        } else if self.require_gate_for_registration {
            return bad("`require_gate_for_registration` is true but there is no `gate`".into());
        }
        for a in &self.protected_aliases {
            crate::registry::check_alias(a)?;
        }
        Ok(())
    }

    /// Whether `alias` is protected (case-insensitively, as aliases are matched).
    #[must_use]
    pub fn protects(&self, alias: &str) -> bool {
        self.protected_aliases
            .iter()
            .any(|a| a.eq_ignore_ascii_case(alias))
    }
}

fn num(v: f64) -> String {
    // Enough digits to tell close values apart, without float noise.
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_owned()
    }
}

impl Gate {
    /// Evaluates `value` (of version `version`) against the thresholds and a baseline.
    #[must_use]
    pub fn evaluate(
        &self,
        version: &str,
        value: Option<f64>,
        baseline: Option<(String, Option<f64>)>,
    ) -> GateResult {
        let mut failures = Vec::new();
        let metric = &self.metric;
        match value {
            None => failures.push(format!(
                "version {version} has no metric `{metric}` on its source run or the other runs of its job"
            )),
            Some(v) => {
                if let Some(min) = self.min
                    && v < min
                {
                    failures.push(format!(
                        "metric `{metric}` of version {version} is {}, below the threshold min {}",
                        num(v),
                        num(min)
                    ));
                }
                if let Some(max) = self.max
                    && v > max
                {
                    failures.push(format!(
                        "metric `{metric}` of version {version} is {}, above the threshold max {}",
                        num(v),
                        num(max)
                    ));
                }
                if let (Some(need), Some((bv, Some(b)))) = (self.min_improvement, &baseline) {
                    let gain = match self.direction {
                        Direction::Higher => v - b,
                        Direction::Lower => b - v,
                    };
                    if gain < need {
                        let word = match self.direction {
                            Direction::Higher => "higher",
                            Direction::Lower => "lower",
                        };
                        failures.push(format!(
                            "metric `{metric}` of version {version} is {}, which does not beat version {bv} ({}) by the minimum improvement {} ({word} is better)",
                            num(v),
                            num(*b),
                            num(need)
                        ));
                    }
                }
            }
        }
        let (baseline_version, baseline_value) = match baseline {
            Some((v, b)) => (Some(v), b),
            None => (None, None),
        };
        GateResult {
            metric: metric.clone(),
            value,
            metric_run: None,
            baseline_version,
            baseline_value,
            passed: failures.is_empty(),
            failures,
        }
    }
}

impl Store {
    /// A model's policy, if it has one.
    pub fn get_policy(&self, name: &str) -> Result<Option<Policy>> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT policy FROM model_policies WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::from))
            .transpose()
    }

    pub(crate) fn put_policy(&self, name: &str, policy: &Policy, actor: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO model_policies (name, policy, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at,
                updated_by = excluded.updated_by",
            params![name, serde_json::to_string(policy)?, crate::now(), actor],
        )?;
        Ok(())
    }

    /// The value of `metric` for a version: from its source run, else (when that run is a
    /// step of a job) from the job's other runs, newest first, since a pipeline's evaluate step
    /// logs the metrics that its register step's version is judged by. With the run it came
    /// from.
    pub(crate) fn version_metric(
        &self,
        run_id: &str,
        metric: &str,
    ) -> Result<Option<(f64, String)>> {
        if let Some(v) = self.run_metric(run_id, metric)? {
            return Ok(Some((v, run_id.to_owned())));
        }
        if run_id.is_empty() {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT m.value, m.run_uuid FROM latest_metrics m
                 JOIN runs r ON r.run_uuid = m.run_uuid
                 JOIN tags j ON j.run_seq = r.seq AND j.key = 'sluice.job'
                 WHERE m.key = ?2 AND m.is_nan = 0
                   AND j.value = (SELECT t.value FROM runs o JOIN tags t ON t.run_seq = o.seq
                                  WHERE o.run_uuid = ?1 AND t.key = 'sluice.job')
                 ORDER BY r.seq DESC LIMIT 1",
                params![run_id, metric],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The latest value of `metric` on `run_id`.
    pub(crate) fn run_metric(&self, run_id: &str, metric: &str) -> Result<Option<f64>> {
        if run_id.is_empty() {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT value, is_nan FROM latest_metrics WHERE run_uuid = ?1 AND key = ?2",
                params![run_id, metric],
                |r| Ok((r.get::<_, f64>(0)?, r.get::<_, bool>(1)?)),
            )
            .optional()?
            .and_then(|(v, nan)| (!nan).then_some(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let p: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, Policy::default());
        assert!(p.protects("Champion") && p.protects("production") && !p.protects("staging"));
        let bad: Policy =
            serde_json::from_str(r#"{"gate": {"metric": "r2", "min": 0.9, "max": 0.1}}"#).unwrap();
        assert!(bad.validate().is_err());
        let bad: Policy =
            serde_json::from_str(r#"{"require_gate_for_registration": true}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"gates": {}}"#).is_err());
    }

    #[test]
    fn gate_names_metric_threshold_and_value() {
        let g = Gate {
            metric: "test r2".into(),
            direction: Direction::Higher,
            min: Some(0.7),
            max: None,
            min_improvement: Some(0.01),
        };
        let r = g.evaluate("3", Some(0.61), Some(("2".into(), Some(0.8))));
        assert!(!r.passed);
        assert_eq!(
            r.failures,
            [
                "metric `test r2` of version 3 is 0.61, below the threshold min 0.7",
                "metric `test r2` of version 3 is 0.61, which does not beat version 2 (0.8) by the minimum improvement 0.01 (higher is better)"
            ]
        );
        assert!(
            g.evaluate("3", Some(0.82), Some(("2".into(), Some(0.8))))
                .passed
        );
        let lower = Gate {
            direction: Direction::Lower,
            min: None,
            max: Some(5.0),
            ..g
        };
        assert!(
            lower
                .evaluate("4", Some(3.0), Some(("2".into(), Some(3.5))))
                .passed
        );
        assert!(
            !lower
                .evaluate("4", Some(3.6), Some(("2".into(), Some(3.5))))
                .passed
        );
        assert!(!lower.evaluate("4", None, None).passed);
    }
}
