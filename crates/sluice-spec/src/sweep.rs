//! `type: sweep` steps (Azure's hyperparameter sweep): the trial component run once per point
//! drawn from `search_space`, then the best trial picked by `objective`.
//!
//! A sweep step `S` becomes steps of the pipeline, so each trial is planned, reused, retried and
//! shown on its own:
//! - `S.trial_1` ... `S.trial_N`: the trial (a component file, a registered component, or the
//!   standalone form's inline `trial:` command, whose `${{search_space.X}}` become inputs), each
//!   with the sweep step's inputs and one point of the search space as literal inputs, and its
//!   outputs in folders of its own; at most `limits.max_concurrent_trials` of them at once.
//! - `S` itself: the built-in `sluice step sweep-select`, after every trial, which reads each
//!   trial's `objective.primary_metric` from its MLflow run and copies the best trial's outputs
//!   to the sweep step's outputs, so `${{parent.jobs.S.outputs.model}}` reads the best model.
//!
//! Points are drawn before anything runs (`random`, seeded; `grid`, every combination of
//! `choice` values in order), so a re-run draws the same points and reuses the same trials.
//! `bayesian` sampling plans seeded random points too; the job's runner replaces those of the
//! trials after the first few, as each starts, by the point the results so far suggest (see
//! [`Bayesian`]). `early_termination` is applied while the trials run: each trial carries a
//! [`SweepWatch`], and the job's runner stops the trials the policy judges behind (see
//! [`EarlyTermination::judge`]).

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::binding::{Binding, parse_template};
use crate::decode::{Ctx, MapReader};
use crate::diag::SpecError;
use crate::parse::{decode_inputs, decode_outputs};
use crate::pipeline::ComponentDef;
use crate::source::Spanned;
use crate::types::{
    ComponentSpec, EnvironmentRef, InputDef, InputValue, IoType, OutputDef, OutputValue, StepSpec,
};
use crate::yaml::{Node, Value};

mod bayes;
pub use bayes::Bayesian;

/// A sweep's `early_termination` policy: trials it judges behind are stopped while they run.
///
/// An interval is one value of the primary metric logged by a trial (its first value is
/// interval 1). The policy is applied at every `evaluation_interval`-th interval from
/// `delay_evaluation` on, comparing a trial with the other trials of its sweep that reached
/// the same interval (finished ones included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EarlyTermination {
    pub policy: TerminationPolicy,
    pub evaluation_interval: usize,
    pub delay_evaluation: usize,
}

/// The three policies of Azure's sweeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TerminationPolicy {
    /// Stops a trial whose best value so far is outside the slack of the best trial's at the
    /// same interval.
    Bandit(Slack),
    /// Stops a trial whose best value so far is worse than the median of the trials' running
    /// averages at the same interval.
    MedianStopping,
    /// Stops a trial among the lowest `percentage` percent of the trials at the same interval
    /// (by best value so far), finished trials left out of the comparison when
    /// `exclude_finished` (`exclude_finished_jobs`).
    TruncationSelection {
        percentage: u32,
        exclude_finished: bool,
    },
}

/// A bandit policy's slack: relative (`slack_factor`) or absolute (`slack_amount`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Slack {
    Factor(f64),
    Amount(f64),
}

/// What the runner watches on a sweep's trials: the sweep, its objective, its policy, its
/// whole time, and for bayesian sampling the search space it chooses points in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepWatch {
    /// The sweep step's name: trials with the same one are judged together.
    pub sweep: String,
    pub metric: String,
    pub maximize: bool,
    pub early_termination: Option<EarlyTermination>,
    /// `limits.timeout`: seconds from its first trial's start after which the sweep's running
    /// trials are stopped and the others never start.
    pub timeout: Option<u64>,
    /// `sampling_algorithm: bayesian`: the trial's point is chosen when it starts.
    pub bayesian: Option<Bayesian>,
}

impl EarlyTermination {
    /// Whether the policy is applied at interval `i` (1 for a trial's first value).
    #[must_use]
    pub fn applies_at(&self, i: usize) -> bool {
        i >= self.delay_evaluation.max(1) && i.is_multiple_of(self.evaluation_interval.max(1))
    }

    /// Whether trial `who` stops at interval `i`, and why: `histories` holds every trial's
    /// values of the primary metric in the order logged (trials with fewer than `i` values are
    /// not compared), `finished` which of them have ended. `None` when it goes on.
    #[must_use]
    pub fn judge<'a>(
        &self,
        maximize: bool,
        metric: &str,
        histories: &[&'a [f64]],
        finished: &[bool],
        who: usize,
        i: usize,
    ) -> Option<String> {
        // Each trial's values up to interval `i` (all of them for one that has not reached it).
        let upto = |h: &'a [f64]| -> &'a [f64] { &h[..i.min(h.len())] };
        let best_of = |values: &[f64]| -> f64 {
            let values = values.iter().copied();
            if maximize {
                values.fold(f64::NEG_INFINITY, f64::max)
            } else {
                values.fold(f64::INFINITY, f64::min)
            }
        };
        // `a` is worse than `b` for the goal.
        let worse = |a: f64, b: f64| if maximize { a < b } else { a > b };
        if histories.get(who).is_none_or(|h| h.len() < i) || i == 0 {
            return None;
        }
        let mine = best_of(upto(histories[who]));
        let skip_finished = matches!(
            self.policy,
            TerminationPolicy::TruncationSelection {
                exclude_finished: true,
                ..
            }
        );
        // Every trial that logged a value: those behind are compared by what they logged so far,
        // so a trial ahead of the others is not judged alone.
        let peers: Vec<(usize, &[f64])> = histories
            .iter()
            .enumerate()
            .filter(|&(k, h)| {
                !h.is_empty()
                    && (k == who || !skip_finished || !finished.get(k).copied().unwrap_or(false))
            })
            .map(|(k, h)| (k, upto(h)))
            .collect();
        let n = peers.len();
        let shown = |x: f64| {
            format!("{x:.6}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
        };
        match &self.policy {
            TerminationPolicy::Bandit(slack) => {
                let best = peers
                    .iter()
                    .map(|(_, h)| best_of(h))
                    .reduce(|a, b| if worse(a, b) { b } else { a })?;
                // Azure's `best / (1 + f)` (maximizing) and `best * (1 + f)` (minimizing) for a
                // positive best, measured from its size so that a negative best keeps its slack
                // on the right side.
                let (limit, named) = match (*slack, maximize) {
                    (Slack::Factor(f), true) => (
                        best - best.abs() * f / (1.0 + f),
                        format!("slack_factor {f}"),
                    ),
                    (Slack::Factor(f), false) => {
                        (best + best.abs() * f, format!("slack_factor {f}"))
                    }
                    (Slack::Amount(a), true) => (best - a, format!("slack_amount {a}")),
                    (Slack::Amount(a), false) => (best + a, format!("slack_amount {a}")),
                };
                (worse(mine, limit) && worse(mine, best)).then(|| {
                    format!(
                        "stopped early by the bandit policy ({named}): its best `{metric}` by interval {i} was {}, the best trial's {}, beyond the slack ({})",
                        shown(mine),
                        shown(best),
                        shown(limit)
                    )
                })
            }
            TerminationPolicy::MedianStopping => {
                let mut averages: Vec<f64> = peers
                    .iter()
                    .map(|(_, h)| h.iter().sum::<f64>() / h.len() as f64)
                    .collect();
                averages.sort_by(f64::total_cmp);
                let median = if n % 2 == 1 {
                    averages[n / 2]
                } else {
                    f64::midpoint(averages[n / 2 - 1], averages[n / 2])
                };
                worse(mine, median).then(|| {
                    format!(
                        "stopped early by the median stopping policy: its best `{metric}` by interval {i} was {}, worse than the median of the {n} trials' running averages ({})",
                        shown(mine),
                        shown(median)
                    )
                })
            }
            TerminationPolicy::TruncationSelection { percentage, .. } => {
                let cut = n * *percentage as usize / 100;
                // The trials ranked below this one: worse, or as good and later (a fixed order
                // among ties, so that ties do not all go together).
                let below = peers
                    .iter()
                    .filter(|(k, h)| {
                        let theirs = best_of(h);
                        worse(theirs, mine) || (theirs.total_cmp(&mine).is_eq() && *k > who)
                    })
                    .count();
                (below < cut).then(|| {
                    format!(
                        "stopped early by the truncation selection policy: its best `{metric}` by interval {i} ({}) was among the lowest {percentage}% of the {n} trials there",
                        shown(mine)
                    )
                })
            }
        }
    }
}

/// A hyperparameter's value as a trial's `AZUREML_SWEEP_<name>` variable holds it.
#[must_use]
pub fn sweep_env_text(value: &Json) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The environment variable that tells `sluice step sweep-select` the objective and trials.
pub const SWEEP_ENV: &str = "SLUICE_SWEEP";

/// The tag on a bayesian sweep trial's MLflow run that holds the point chosen for it (a JSON
/// object of hyperparameter values), which `sluice step sweep-select` reports.
pub const SWEEP_POINT_TAG: &str = "sluice.sweep.point";

/// Trials of a `random` sweep that sets no `limits.max_total_trials`.
const DEFAULT_TRIALS: usize = 20;
/// At most this many trials in one sweep.
const MAX_TRIALS: usize = 1000;

/// A hyperparameter's distribution, as Azure's parameter expressions define it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Dist {
    Choice(Vec<Json>),
    RandInt(i64),
    Uniform(f64, f64),
    QUniform(f64, f64, f64),
    LogUniform(f64, f64),
    QLogUniform(f64, f64, f64),
    Normal(f64, f64),
    QNormal(f64, f64, f64),
    LogNormal(f64, f64),
    QLogNormal(f64, f64, f64),
}

/// splitmix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    #[expect(
        clippy::cast_precision_loss,
        reason = "53 random bits are exactly representable"
    )]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the result is below n, a usize"
    )]
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `round(x / q) * q`, a whole number when `q` is one.
fn quantize(x: f64, q: f64) -> Json {
    let v = (x / q).round() * q;
    number(v, q.fract() == 0.0)
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a whole number within i64 when asked for one"
)]
fn number(v: f64, whole: bool) -> Json {
    if whole && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

impl Dist {
    /// A value of the kind every draw has, from which an inline trial's input type is read:
    /// whole numbers only when every draw is one.
    fn kind_of_value(&self) -> Json {
        let whole_q = |q: f64| q.fract() == 0.0;
        match self {
            Dist::RandInt(_) => json!(0),
            // Whole numbers for the quantized forms whose draws stay within i64's exact range.
            Dist::QUniform(lo, hi, q) if whole_q(*q) && lo.abs().max(hi.abs()) < 9.0e15 => {
                json!(0)
            }
            Dist::QLogUniform(_, hi, q) if whole_q(*q) && *hi < 36.0 => json!(0),
            Dist::Choice(values) => {
                if values.iter().all(Json::is_i64) {
                    json!(0)
                } else if values.iter().all(Json::is_number) {
                    json!(0.5)
                } else if values.iter().all(Json::is_boolean) {
                    json!(true)
                } else {
                    json!("")
                }
            }
            _ => json!(0.5),
        }
    }

    fn sample(&self, rng: &mut Rng) -> Json {
        let uniform = |rng: &mut Rng, lo: f64, hi: f64| lo + (hi - lo) * rng.unit();
        match self {
            Dist::Choice(values) => values[rng.below(values.len())].clone(),
            Dist::RandInt(upper) => {
                json!(rng.below(usize::try_from(*upper).unwrap_or(1).max(1)))
            }
            Dist::Uniform(lo, hi) => json!(uniform(rng, *lo, *hi)),
            Dist::QUniform(lo, hi, q) => quantize(uniform(rng, *lo, *hi), *q),
            Dist::LogUniform(lo, hi) => json!(uniform(rng, *lo, *hi).exp()),
            Dist::QLogUniform(lo, hi, q) => quantize(uniform(rng, *lo, *hi).exp(), *q),
            Dist::Normal(mu, sigma) => json!(mu + sigma * rng.normal()),
            Dist::QNormal(mu, sigma, q) => quantize(mu + sigma * rng.normal(), *q),
            Dist::LogNormal(mu, sigma) => json!((mu + sigma * rng.normal()).exp()),
            Dist::QLogNormal(mu, sigma, q) => quantize((mu + sigma * rng.normal()).exp(), *q),
        }
    }
}

fn decode_dist(ctx: &mut Ctx<'_>, name: &str, node: &Node) -> Result<Dist, SpecError> {
    let field = format!("search_space.{name}");
    let mut r = MapReader::new(ctx, node, &format!("`{field}`"))?;
    let ty = match r.get("type") {
        Some(t) => ctx.string(t, &format!("{field}.type"))?,
        None => {
            return Err(ctx
                .error(node, format!("`{field}` has no `type`"))
                .with_help("write e.g. `{type: uniform, min_value: 0.01, max_value: 0.9}` or `{type: choice, values: [16, 32]}`"));
        }
    };
    let num = |ctx: &mut Ctx<'_>, r: &mut MapReader<'_>, key: &'static str| match r.get(key) {
        Some(n) => ctx.number(n, &format!("{field}.{key}")),
        None => Err(ctx
            .error(node, format!("`{field}` ({}) has no `{key}`", ty.value))
            .with_help(format!("add `{key}: ...`"))),
    };
    let dist = match ty.as_str() {
        "choice" => {
            let Some(values) = r.get("values") else {
                return Err(ctx
                    .error(node, format!("`{field}` (choice) has no `values`"))
                    .with_help("write e.g. `values: [16, 32, 64]`"));
            };
            let Value::Seq(items) = &values.value else {
                return Err(ctx.expected(values, "a list", &format!("{field}.values")));
            };
            if items.is_empty() {
                return Err(ctx.error(values, format!("`{field}.values` is empty")));
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match &item.value {
                    Value::Bool(b) => json!(b),
                    Value::Int(i) => json!(i),
                    Value::Float(f) if f.is_finite() => json!(f),
                    Value::Str { text, .. } => json!(text),
                    _ => {
                        return Err(ctx.expected(
                            item,
                            "a number, a string or a boolean",
                            &format!("{field}.values"),
                        ));
                    }
                });
            }
            Dist::Choice(out)
        }
        "randint" => {
            let upper = num(ctx, &mut r, "upper")?;
            if upper < 1.0 || upper.fract() != 0.0 {
                return Err(ctx.error(
                    node,
                    format!("`{field}.upper` must be a whole number of at least 1"),
                ));
            }
            #[expect(clippy::cast_possible_truncation, reason = "a checked whole number")]
            Dist::RandInt(upper as i64)
        }
        "uniform" | "quniform" | "loguniform" | "qloguniform" => {
            let (lo, hi) = (
                num(ctx, &mut r, "min_value")?,
                num(ctx, &mut r, "max_value")?,
            );
            if lo > hi {
                return Err(ctx.error(
                    node,
                    format!("`{field}`: `min_value` {lo} is above `max_value` {hi}"),
                ));
            }
            let q = if ty.as_str().starts_with('q') {
                let q = num(ctx, &mut r, "q")?;
                positive_q(ctx, node, &field, q)?
            } else {
                1.0
            };
            if ty.as_str().contains("log") && hi > 700.0 {
                return Err(ctx.error(node, format!(
                    "`{field}.max_value` {hi} is an exponent (the value is exp(uniform(min_value, max_value))): above 700 it overflows"
                )));
            }
            match ty.as_str() {
                "uniform" => Dist::Uniform(lo, hi),
                "loguniform" => Dist::LogUniform(lo, hi),
                "quniform" => Dist::QUniform(lo, hi, q),
                _ => Dist::QLogUniform(lo, hi, q),
            }
        }
        "normal" | "qnormal" | "lognormal" | "qlognormal" => {
            let (mu, sigma) = (num(ctx, &mut r, "mu")?, num(ctx, &mut r, "sigma")?);
            if sigma < 0.0 {
                return Err(ctx.error(node, format!("`{field}.sigma` must not be negative")));
            }
            if ty.as_str().contains("log") && mu + 8.0 * sigma > 700.0 {
                return Err(ctx.error(node, format!(
                    "`{field}`: the value is exp(normal(mu, sigma)), and mu + 8 sigma = {} would overflow",
                    mu + 8.0 * sigma
                )).with_help("mu and sigma are of the logarithm: keep mu + 8 sigma below 700"));
            }
            let q = if ty.as_str().starts_with('q') {
                let q = num(ctx, &mut r, "q")?;
                positive_q(ctx, node, &field, q)?
            } else {
                1.0
            };
            match ty.as_str() {
                "normal" => Dist::Normal(mu, sigma),
                "lognormal" => Dist::LogNormal(mu, sigma),
                "qnormal" => Dist::QNormal(mu, sigma, q),
                _ => Dist::QLogNormal(mu, sigma, q),
            }
        }
        other => {
            let known = [
                "choice",
                "randint",
                "uniform",
                "quniform",
                "loguniform",
                "qloguniform",
                "normal",
                "qnormal",
                "lognormal",
                "qlognormal",
            ];
            let mut err = ctx
                .error_at(ty.span, format!("`{other}` is not a search space type"))
                .with_label("unknown type");
            err = match crate::decode::suggest(other, &known) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help(format!("use one of: {}", known.join(", "))),
            };
            return Err(err);
        }
    };
    r.finish(ctx)?;
    Ok(dist)
}

fn positive_q(ctx: &Ctx<'_>, node: &Node, field: &str, q: f64) -> Result<f64, SpecError> {
    if q > 0.0 {
        Ok(q)
    } else {
        Err(ctx.error(node, format!("`{field}.q` must be above 0")))
    }
}

/// How points are drawn.
enum Sampling {
    Random {
        seed: u64,
    },
    Grid,
    /// Seeded random points, replaced while the sweep runs (see [`Bayesian`]).
    Bayesian {
        seed: u64,
    },
}

/// A fixed seed for a sweep that names none: the step's name, so a re-run draws the same points.
fn default_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn decode_sampling(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    step: &Node,
    name: &str,
) -> Result<Sampling, SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(step, format!("sweep `{name}` has no `sampling_algorithm`"))
            .with_help("add `sampling_algorithm: random` (or `grid`)"));
    };
    let (kind, seed, rule) = match &node.value {
        Value::Map(_) => {
            let mut r = MapReader::new(ctx, node, "`sampling_algorithm`")?;
            let kind = match r.get("type") {
                Some(t) => ctx.string(t, "sampling_algorithm.type")?,
                None => {
                    return Err(ctx
                        .error(node, "`sampling_algorithm` has no `type`")
                        .with_help("write `type: random`"));
                }
            };
            let seed = match r.get("seed") {
                Some(s) => match s.value {
                    Value::Int(i) => Some(i.unsigned_abs()),
                    _ => return Err(ctx.expected(s, "a whole number", "sampling_algorithm.seed")),
                },
                None => None,
            };
            let rule = ctx.opt_string(r.get("rule"), "sampling_algorithm.rule")?;
            r.finish(ctx)?;
            (kind, seed, rule)
        }
        _ => (ctx.string(node, "sampling_algorithm")?, None, None),
    };
    match kind.as_str() {
        "random" => {
            if let Some(rule) = rule.filter(|r| r.as_str() != "random") {
                ctx.warn(
                    node,
                    format!(
                        "`rule: {}` is not applied: points are drawn uniformly at random",
                        rule.value
                    ),
                );
            }
            Ok(Sampling::Random {
                seed: seed.unwrap_or_else(|| default_seed(name)),
            })
        }
        "grid" => Ok(Sampling::Grid),
        "bayesian" => Ok(Sampling::Bayesian {
            seed: seed.unwrap_or_else(|| default_seed(name)),
        }),
        other => Err(ctx
            .error(node, format!("`{other}` is not a sampling algorithm"))
            .with_help("use `random`, `grid` or `bayesian`")),
    }
}

/// What `limits:` asks for.
struct Limits {
    max_total_trials: Option<usize>,
    max_concurrent_trials: Option<usize>,
    trial_timeout: Option<u64>,
    timeout: Option<u64>,
}

fn decode_sweep_limits(ctx: &mut Ctx<'_>, node: Option<&Node>) -> Result<Limits, SpecError> {
    let mut limits = Limits {
        max_total_trials: None,
        max_concurrent_trials: None,
        trial_timeout: None,
        timeout: None,
    };
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(limits);
    };
    let mut r = MapReader::new(ctx, node, "`limits`")?;
    let count = |ctx: &Ctx<'_>, n: &Node, field: &str| match n.value {
        Value::Int(i) if i >= 1 => Ok(usize::try_from(i).unwrap_or(usize::MAX)),
        _ => Err(ctx.expected(n, "a whole number of at least 1", field)),
    };
    if let Some(n) = r.get("max_total_trials") {
        let total = count(ctx, n, "limits.max_total_trials")?;
        if total > MAX_TRIALS {
            return Err(ctx.error(n, format!("`limits.max_total_trials` is {total}; Sluice runs at most {MAX_TRIALS} trials a sweep")));
        }
        limits.max_total_trials = Some(total);
    }
    if let Some(n) = r.get("max_concurrent_trials") {
        limits.max_concurrent_trials = Some(count(ctx, n, "limits.max_concurrent_trials")?);
    }
    if let Some(n) = r.get("trial_timeout") {
        limits.trial_timeout = Some(count(ctx, n, "limits.trial_timeout")? as u64);
    }
    if let Some(n) = r.get("timeout") {
        limits.timeout = Some(count(ctx, n, "limits.timeout")? as u64);
    }
    r.finish(ctx)?;
    Ok(limits)
}

/// A sweep job file (`type: sweep` at the top): its inputs and outputs, and the same bound to
/// the one sweep step it runs.
pub(crate) struct Standalone {
    pub(crate) inputs: IndexMap<String, (Spanned<String>, InputValue)>,
    pub(crate) outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
    pub(crate) bound_inputs: IndexMap<String, (Spanned<String>, InputValue)>,
    pub(crate) bound_outputs: IndexMap<String, (Spanned<String>, OutputValue)>,
}

/// Decodes sweep step `name` into its trial steps and the step that picks the best, in order.
pub(crate) fn decode_sweep_step(
    ctx: &mut Ctx<'_>,
    name: &Spanned<String>,
    node: &Node,
    default_env: Option<&EnvironmentRef>,
    standalone: Option<Standalone>,
) -> Result<Vec<StepSpec>, SpecError> {
    let mut r = MapReader::new(ctx, node, &format!("sweep `{}`", name.value))?;
    let _ = r.get("type");
    // What the trials are given, and what an inline trial's input and output types are read
    // from (a standalone sweep's own inputs and outputs, which its one step is bound to).
    let is_standalone = standalone.is_some();
    let (inputs, outputs, typed_inputs, typed_outputs) = match standalone {
        Some(s) => {
            // The job file's own keys, read as the job's.
            for key in ["inputs", "outputs", "$schema", "experiment_name", "name"] {
                let _ = r.get(key);
            }
            (s.bound_inputs, s.bound_outputs, s.inputs, s.outputs)
        }
        None => {
            let i = decode_inputs(ctx, r.get("inputs"), &format!("jobs.{}.inputs", name.value))?;
            let o = decode_outputs(
                ctx,
                r.get("outputs"),
                &format!("jobs.{}.outputs", name.value),
            )?;
            (i.clone(), o.clone(), i, o)
        }
    };
    let crate::parse::Labels {
        display_name,
        description,
        tags,
    } = crate::parse::read_labels(ctx, &mut r)?;
    let compute = ctx.opt_string(r.get("compute"), "compute")?;
    let sampling = decode_sampling(ctx, r.get("sampling_algorithm"), node, &name.value)?;
    let Some(space_node) = r.get("search_space").filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(node, format!("sweep `{}` has no `search_space`", name.value))
            .with_help("add e.g. `search_space: {learning_rate: {type: uniform, min_value: 0.01, max_value: 0.9}}`"));
    };
    let mut space: Vec<(Spanned<String>, Dist)> = Vec::new();
    for (k, v) in ctx.entries(Some(space_node), "search_space")? {
        let key = ctx.string(k, "search_space")?;
        let dist = decode_dist(ctx, &key.value, v)?;
        if matches!(sampling, Sampling::Bayesian { .. })
            && !matches!(
                dist,
                Dist::Choice(_) | Dist::Uniform(..) | Dist::QUniform(..)
            )
        {
            ctx.warn(v, format!("Azure's bayesian sampling takes only `choice`, `uniform` and `quniform`; Sluice searches `{}` over its range (a log scale for the log forms, mu ± 3 sigma for the normal ones)", key.value));
        }
        space.push((key, dist));
    }
    if space.is_empty() {
        return Err(ctx
            .error(space_node, "`search_space` is empty")
            .with_help("name at least one hyperparameter"));
    }
    let (metric, goal) = decode_objective(ctx, r.get("objective"), node, &name.value)?;
    let limits_node = r.get("limits").filter(|n| !n.is_null());
    let limits = decode_sweep_limits(ctx, limits_node)?;
    let early = match r.get("early_termination").filter(|n| !n.is_null()) {
        Some(e) => {
            if matches!(sampling, Sampling::Bayesian { .. }) {
                ctx.warn(e, "Azure takes no early termination policy with bayesian sampling; Sluice applies it, and a trial it stops counts as the mean result, so the search does not return to it");
            }
            Some(decode_early_termination(ctx, e)?)
        }
        None => None,
    };
    let bayesian = match sampling {
        Sampling::Bayesian { seed } => {
            let all_at_once = limits
                .max_concurrent_trials
                .is_none_or(|c| c >= limits.max_total_trials.unwrap_or(DEFAULT_TRIALS));
            if all_at_once {
                ctx.warn(limits_node.unwrap_or(node), "bayesian sampling learns from the trials that ended, but every trial starts at once: set `limits.max_concurrent_trials` below `max_total_trials` (the fewer, the more each trial learns)");
            }
            // The chosen point travels as a tag of the trial's run, which holds 8,000 characters.
            let longest: usize = space
                .iter()
                .map(|(k, d)| {
                    k.value.len()
                        + 8
                        + match d {
                            Dist::Choice(values) => values
                                .iter()
                                .map(|v| v.to_string().len())
                                .max()
                                .unwrap_or(0),
                            _ => 24,
                        }
                })
                .sum();
            if longest > 7_900 {
                return Err(ctx
                    .error(space_node, format!("a point of this bayesian sweep can take {longest} characters, more than the 8,000 of the MLflow tag that records it"))
                    .with_help("shorten the `choice` values (name them, and map the names to values in the trial's script)"));
            }
            let initial = Bayesian::initial_trials(space.len());
            let total = limits.max_total_trials.unwrap_or(DEFAULT_TRIALS);
            if total <= initial {
                ctx.warn(limits_node.unwrap_or(node), format!("bayesian sampling runs its first {initial} trials at random points: with {total} trials it never chooses one from the results (raise `limits.max_total_trials`)"));
            }
            Some(Bayesian {
                space: space
                    .iter()
                    .map(|(k, d)| (k.value.clone(), d.clone()))
                    .collect(),
                seed,
                initial,
                window: limits
                    .max_concurrent_trials
                    .unwrap_or(total)
                    .clamp(1, total.max(1)),
            })
        }
        _ => None,
    };
    let watch =
        (early.is_some() || limits.timeout.is_some() || bayesian.is_some()).then(|| SweepWatch {
            sweep: name.value.clone(),
            metric: metric.clone(),
            maximize: goal == "maximize",
            early_termination: early,
            timeout: limits.timeout,
            bayesian,
        });
    let Some(trial_node) = r.get("trial").filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(node, format!("sweep `{}` has no `trial`", name.value))
            .with_help("point it at the command component to run: `trial: ./train.yml`"));
    };
    // A step's `name` and `experiment_name` have no effect; a job file's are the job's.
    if !is_standalone {
        r.ignore(ctx, &["name", "experiment_name"]);
    }
    r.ignore(
        ctx,
        &["identity", "properties", "queue_settings", "resources"],
    );
    r.finish_lenient(ctx);

    // The points, before the trial is read (an inline trial takes their types).
    let points: Vec<Vec<Json>> = match sampling {
        Sampling::Random { seed } | Sampling::Bayesian { seed } => {
            let n = limits.max_total_trials.unwrap_or_else(|| {
                ctx.warn(
                    node,
                    format!("no `limits.max_total_trials`: running {DEFAULT_TRIALS} trials"),
                );
                DEFAULT_TRIALS
            });
            let mut rng = Rng(seed);
            (0..n)
                .map(|_| space.iter().map(|(_, d)| d.sample(&mut rng)).collect())
                .collect()
        }
        Sampling::Grid => {
            let mut grid: Vec<Vec<Json>> = vec![Vec::new()];
            for (key, dist) in &space {
                let Dist::Choice(values) = dist else {
                    return Err(ctx
                        .error_at(key.span, format!("grid sampling takes only `choice` hyperparameters; `{}` is not one", key.value))
                        .with_help("make it a `choice` of values, or use `sampling_algorithm: random`"));
                };
                grid = grid
                    .into_iter()
                    .flat_map(|p| {
                        values.iter().map(move |v| {
                            let mut q = p.clone();
                            q.push(v.clone());
                            q
                        })
                    })
                    .take(MAX_TRIALS + 1)
                    .collect();
            }
            if let Some(max) = limits.max_total_trials {
                grid.truncate(max);
            } else if grid.len() > MAX_TRIALS {
                return Err(ctx
                    .error(
                        space_node,
                        format!("the grid has more than {MAX_TRIALS} points"),
                    )
                    .with_help("set `limits.max_total_trials`, or fewer values"));
            }
            grid
        }
    };

    // The trial's component; its inputs get the points.
    let mut with_space = typed_inputs;
    for (key, dist) in &space {
        with_space.insert(
            key.value.clone(),
            (
                key.clone(),
                InputValue::Literal(Spanned::new(dist.kind_of_value(), key.span)),
            ),
        );
    }
    // The standalone form's `trial:` is a command written inline (no `inputs`); otherwise it
    // is a component: a file, a registered one, or one written out in full.
    let inline = match &trial_node.value {
        Value::Map(entries) => !entries.iter().any(|(k, _)| k.as_str() == Some("inputs")),
        _ => false,
    };
    let (trial, trial_env, trial_timeout) = if inline {
        let names: Vec<&str> = space.iter().map(|(k, _)| k.value.as_str()).collect();
        inline_trial(
            ctx,
            trial_node,
            &names,
            &with_space,
            &typed_outputs,
            default_env,
        )?
    } else {
        match crate::parse::decode_component_ref(ctx, trial_node, default_env)? {
            ComponentDef::Command(c) => (*c, IndexMap::new(), None),
            ComponentDef::Pipeline(_) => {
                return Err(ctx
                    .error(
                        trial_node,
                        "a sweep's trial must be a command component, not a pipeline component",
                    )
                    .with_help("sweep the command component that trains, inside the pipeline"));
            }
        }
    };
    for (key, _) in &space {
        if !trial.inputs.contains_key(&key.value) {
            let mut err = ctx
                .error_at(
                    key.span,
                    format!(
                        "the trial has no input `{}` for this hyperparameter",
                        key.value
                    ),
                )
                .with_label("not an input of the trial");
            if let Some(s) = crate::decode::suggest(
                &key.value,
                &trial.inputs.keys().map(String::as_str).collect::<Vec<_>>(),
            ) {
                err = err.with_help(format!("did you mean `{s}`?"));
            } else {
                err = err.with_help("declare it under the trial component's `inputs:`");
            }
            return Err(err);
        }
    }
    for (key, _) in &outputs {
        if !trial.outputs.contains_key(key) {
            return Err(ctx
                .error_at(outputs[key].0.span, format!("the trial has no output `{key}`"))
                .with_help(format!("the sweep step's outputs are the best trial's: name outputs the trial declares ({})", trial.outputs.keys().cloned().collect::<Vec<_>>().join(", "))));
        }
    }

    let group = limits
        .max_concurrent_trials
        .filter(|&m| m < points.len())
        .map(|m| (name.value.clone(), m));
    let mut steps = Vec::with_capacity(points.len() + 1);
    let mut trials_json = Vec::with_capacity(points.len());
    for (k, point) in points.iter().enumerate() {
        let trial_name = format!("{}.trial_{}", name.value, k + 1);
        let mut trial_inputs = inputs.clone();
        let mut params = serde_json::Map::new();
        for ((key, _), value) in space.iter().zip(point) {
            trial_inputs.insert(
                key.value.clone(),
                (
                    key.clone(),
                    InputValue::Literal(Spanned::new(value.clone(), key.span)),
                ),
            );
            params.insert(key.value.clone(), value.clone());
        }
        let trial_outputs = outputs
            .iter()
            .map(|(o, (key, v))| {
                (
                    o.clone(),
                    (
                        key.clone(),
                        OutputValue::Default {
                            ty: v.declared_type().map(|t| Spanned::new(t, key.span)),
                            mode: None,
                            name: None,
                            version: None,
                        },
                    ),
                )
            })
            .collect();
        // Named from the sweep step: a pipeline component's steps are renamed when embedded,
        // and the picking step finds its trials beside its own name (`SLUICE_STEP_NAME`).
        trials_json.push(json!({"step": format!("trial_{}", k + 1), "params": params}));
        // As Azure gives each trial its point.
        let mut trial_env_k = trial_env.clone();
        for (key, value) in &params {
            trial_env_k.insert(format!("AZUREML_SWEEP_{key}"), sweep_env_text(value));
        }
        steps.push(StepSpec {
            name: Spanned::new(trial_name, name.span),
            source: ctx.source.clone(),
            display_name: None,
            description: None,
            tags: tags.clone(),
            component: trial.clone(),
            inputs: trial_inputs,
            outputs: trial_outputs,
            compute: compute.clone(),
            environment_variables: trial_env_k,
            timeout: limits.trial_timeout.or(trial_timeout),
            retry: None,
            scale: crate::Scale::default(),
            // A bayesian trial starts once the trial a window before it ended (see
            // [`Bayesian::window`]).
            after: watch
                .as_ref()
                .and_then(|w| w.bayesian.as_ref())
                .filter(|b| k >= b.window)
                .map(|b| vec![format!("{}.trial_{}", name.value, k + 1 - b.window)])
                .unwrap_or_default(),
            concurrency: group.clone(),
            may_fail: true,
            watch: watch.clone(),
        });
    }

    // The step that picks the best trial and hands on its outputs.
    let mut select_inputs = IndexMap::new();
    let mut input_defs = IndexMap::new();
    let mut command = String::from("sluice step sweep-select");
    for (o, (key, _)) in &outputs {
        let ty = trial
            .outputs
            .get(o)
            .map_or(IoType::UriFolder, |(_, d)| d.ty.value);
        for k in 1..=points.len() {
            let input = format!("trial_{k}_{o}");
            let _ = write!(
                command,
                " --trial-output trial_{k}:{o}=${{{{inputs.{input}}}}}"
            );
            select_inputs.insert(
                input.clone(),
                (
                    Spanned::new(input.clone(), key.span),
                    InputValue::Bound {
                        binding: Spanned::new(
                            Binding::JobOutput {
                                job: format!("{}.trial_{k}", name.value),
                                output: o.clone(),
                            },
                            key.span,
                        ),
                        mode: None,
                    },
                ),
            );
            input_defs.insert(
                input.clone(),
                (
                    Spanned::new(input, key.span),
                    InputDef {
                        ty: Spanned::new(ty, key.span),
                        default: None,
                        optional: false,
                        description: None,
                        min: None,
                        max: None,
                        allowed: None,
                    },
                ),
            );
        }
        let _ = write!(command, " --sweep-output {o}=${{{{outputs.{o}}}}}");
    }
    let output_defs = outputs
        .iter()
        .map(|(o, (key, _))| {
            let ty = trial
                .outputs
                .get(o)
                .map_or(IoType::UriFolder, |(_, d)| d.ty.value);
            (
                o.clone(),
                (
                    key.clone(),
                    OutputDef {
                        ty: Spanned::new(ty, key.span),
                        description: None,
                        mode: None,
                    },
                ),
            )
        })
        .collect();
    // The command runs as one `sh -c` argument, which Linux caps at 128 KiB; the paths the job
    // gives each trial's outputs are about 150 bytes.
    // So does the variable that lists the trials' points.
    let sweep_env = json!({"metric": metric, "goal": goal, "trials": trials_json, "point_tag": SWEEP_POINT_TAG}).to_string();
    let at_run = command.len() + points.len() * outputs.len() * 200;
    if at_run > 96 * 1024 || sweep_env.len() > 96 * 1024 {
        return Err(ctx
            .error(node, format!(
                "sweep `{}` has {} trials of {} output(s) and {} hyperparameter(s): too many for the step that picks the best",
                name.value,
                points.len(),
                outputs.len(),
                space.len()
            ))
            .with_help("lower `limits.max_total_trials` (about 350 trials of one output, 170 of two fit), or hand on fewer outputs"));
    }
    let template = parse_template(&command).map_err(|m| ctx.error(node, m))?;
    let select = ComponentSpec {
        source: ctx.source.clone(),
        name: None,
        version: None,
        display_name: None,
        description: Some("picks the sweep's best trial".into()),
        tags: IndexMap::new(),
        inputs: input_defs,
        outputs: output_defs,
        command: Spanned::new(command, name.span),
        template,
        code: None,
        environment: None,
        environment_variables: IndexMap::new(),
        // Its choice depends on the trials' metrics, which no input hash covers: it always
        // runs (in a moment), and what reads its outputs is reused by their content.
        is_deterministic: false,
        inline: true,
    };
    let mut env = IndexMap::new();
    env.insert(SWEEP_ENV.to_owned(), sweep_env);
    steps.push(StepSpec {
        name: name.clone(),
        source: ctx.source.clone(),
        display_name,
        description,
        tags,
        component: select,
        inputs: select_inputs,
        outputs,
        compute: None,
        environment_variables: env,
        timeout: None,
        retry: None,
        scale: crate::Scale::default(),
        after: (1..=points.len())
            .map(|k| format!("{}.trial_{k}", name.value))
            .collect(),
        concurrency: None,
        may_fail: false,
        watch: None,
    });
    Ok(steps)
}

/// `early_termination:` (`bandit`, `median_stopping` or `truncation_selection`).
fn decode_early_termination(ctx: &mut Ctx<'_>, node: &Node) -> Result<EarlyTermination, SpecError> {
    const TYPES: [&str; 3] = ["bandit", "median_stopping", "truncation_selection"];
    let mut r = MapReader::new(ctx, node, "`early_termination`")?;
    let Some(ty_node) = r.get("type") else {
        return Err(ctx
            .error(node, "`early_termination` has no `type`")
            .with_help("use `type: bandit` (with `slack_factor` or `slack_amount`), `type: median_stopping` or `type: truncation_selection` (with `truncation_percentage`)"));
    };
    let ty = ctx.string(ty_node, "early_termination.type")?.value;
    let whole = |ctx: &Ctx<'_>, n: &Node, field: &str| match n.value {
        Value::Int(i) if i >= 0 => Ok(usize::try_from(i).unwrap_or(usize::MAX)),
        _ => Err(ctx.expected(n, "a whole number of at least 0", field)),
    };
    let evaluation_interval = match r.get("evaluation_interval") {
        Some(n) => whole(ctx, n, "early_termination.evaluation_interval")?,
        None => 1,
    };
    let delay_evaluation = match r.get("delay_evaluation") {
        Some(n) => whole(ctx, n, "early_termination.delay_evaluation")?,
        None => 0,
    };
    let positive = |ctx: &Ctx<'_>, n: &Node, field: &str| -> Result<f64, SpecError> {
        match n.value {
            Value::Int(i) if i > 0 => Ok(i as f64),
            Value::Float(f) if f > 0.0 && f.is_finite() => Ok(f),
            _ => Err(ctx.expected(n, "a number above 0", field)),
        }
    };
    let policy = match ty.to_ascii_lowercase().as_str() {
        "bandit" => {
            // Azure's SDK writes an unset slack as 0.
            let zero = |n: &&Node| {
                matches!(n.value, Value::Int(0)) || matches!(n.value, Value::Float(f) if f == 0.0)
            };
            let factor = r.get("slack_factor").filter(|n| !zero(n));
            let amount = r.get("slack_amount").filter(|n| !zero(n));
            match (factor, amount) {
                (Some(f), None) => TerminationPolicy::Bandit(Slack::Factor(positive(
                    ctx,
                    f,
                    "early_termination.slack_factor",
                )?)),
                (None, Some(a)) => TerminationPolicy::Bandit(Slack::Amount(positive(
                    ctx,
                    a,
                    "early_termination.slack_amount",
                )?)),
                (Some(_), Some(a)) => {
                    return Err(ctx
                        .error(
                            a,
                            "a bandit policy takes `slack_factor` or `slack_amount`, not both",
                        )
                        .with_help("keep one of them"));
                }
                (None, None) => {
                    return Err(ctx
                        .error(
                            node,
                            "a bandit policy needs `slack_factor` or `slack_amount`",
                        )
                        .with_help(
                            "e.g. `slack_factor: 0.1`: stop trials more than 10% behind the best",
                        ));
                }
            }
        }
        "median_stopping" => TerminationPolicy::MedianStopping,
        "truncation_selection" => {
            let Some(p) = r.get("truncation_percentage") else {
                return Err(ctx
                    .error(
                        node,
                        "a truncation selection policy needs `truncation_percentage`",
                    )
                    .with_help(
                        "e.g. `truncation_percentage: 20`: stop the lowest 20% at each evaluation",
                    ));
            };
            let exclude_finished = match r.get("exclude_finished_jobs") {
                Some(n) => match n.value {
                    Value::Bool(b) => b,
                    _ => {
                        return Err(ctx.expected(
                            n,
                            "true or false",
                            "early_termination.exclude_finished_jobs",
                        ));
                    }
                },
                None => false,
            };
            match p.value {
                Value::Int(i) if (1..=99).contains(&i) => TerminationPolicy::TruncationSelection {
                    percentage: u32::try_from(i).unwrap_or(99),
                    exclude_finished,
                },
                _ => {
                    return Err(ctx.expected(
                        p,
                        "a whole number from 1 to 99",
                        "early_termination.truncation_percentage",
                    ));
                }
            }
        }
        _ => {
            let mut err = ctx.error(
                ty_node,
                format!("`{ty}` is not an early termination policy"),
            );
            err = match crate::decode::suggest(&ty, &TYPES) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help(format!("use one of: {}", TYPES.join(", "))),
            };
            return Err(err);
        }
    };
    r.finish(ctx)?;
    Ok(EarlyTermination {
        policy,
        evaluation_interval,
        delay_evaluation,
    })
}

fn decode_objective(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    step: &Node,
    name: &str,
) -> Result<(String, String), SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Err(ctx
            .error(step, format!("sweep `{name}` has no `objective`"))
            .with_help("add `objective: {goal: minimize, primary_metric: rmse}` (the metric the trial logs with mlflow.log_metric)"));
    };
    let mut r = MapReader::new(ctx, node, "`objective`")?;
    let metric = match r.get("primary_metric") {
        Some(m) => ctx.string(m, "objective.primary_metric")?.value,
        None => {
            return Err(ctx
                .error(node, "`objective` has no `primary_metric`")
                .with_help("name the metric each trial logs with mlflow.log_metric"));
        }
    };
    let goal = match r.get("goal") {
        Some(g) => {
            let goal = ctx.string(g, "objective.goal")?;
            let lower = goal.value.to_ascii_lowercase();
            if lower != "minimize" && lower != "maximize" {
                return Err(ctx
                    .error(g, format!("`{}` is not a goal", goal.value))
                    .with_help("use `minimize` or `maximize`"));
            }
            lower
        }
        None => {
            return Err(ctx
                .error(node, "`objective` has no `goal`")
                .with_help("add `goal: minimize` or `goal: maximize`"));
        }
    };
    r.finish(ctx)?;
    Ok((metric, goal))
}

/// The standalone form's `trial:` (code, command, environment), its `${{search_space.X}}` read
/// as inputs of the trial.
#[expect(
    clippy::type_complexity,
    reason = "the three parts of an inline command"
)]
fn inline_trial(
    ctx: &mut Ctx<'_>,
    node: &Node,
    space: &[&str],
    inputs: &IndexMap<String, (Spanned<String>, InputValue)>,
    outputs: &IndexMap<String, (Spanned<String>, OutputValue)>,
    default_env: Option<&EnvironmentRef>,
) -> Result<(ComponentSpec, IndexMap<String, String>, Option<u64>), SpecError> {
    if let Value::Map(entries) = &node.value {
        for (k, v) in entries {
            if k.as_str() == Some("command")
                && let Value::Str { text, .. } = &v.value
            {
                for name in search_space_names(text) {
                    if !space.contains(&name) {
                        let mut err = ctx
                            .error(v, format!("the search space has no `{name}`"))
                            .with_label("read as `${{search_space.".to_owned() + name + "}}`");
                        err = match crate::decode::suggest(name, space) {
                            Some(s) => err.with_help(format!("did you mean `{s}`?")),
                            None => err.with_help(format!(
                                "name one of the search space's hyperparameters: {}",
                                space.join(", ")
                            )),
                        };
                        return Err(err);
                    }
                }
            }
        }
    }
    let mut node = node.clone();
    if let Value::Map(entries) = &mut node.value {
        for (k, v) in entries.iter_mut() {
            if k.as_str() == Some("command")
                && let Value::Str { text, .. } = &mut v.value
            {
                *text = text
                    .replace("${{search_space.", "${{inputs.")
                    .replace("${{ search_space.", "${{ inputs.");
            }
        }
    }
    let mut r = MapReader::new(ctx, &node, "`trial`")?;
    let _ = r.get("type");
    let parts = crate::parse::decode_inline_command(ctx, &mut r, inputs, outputs, default_env)?;
    r.ignore(
        ctx,
        &[
            "resources",
            "distribution",
            "queue_settings",
            "services",
            "identity",
        ],
    );
    r.finish(ctx)?;
    Ok(parts)
}

/// The names a command reads as `${{search_space.NAME}}` (spaces inside the braces allowed).
fn search_space_names(command: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = command;
    while let Some(at) = rest.find("${{") {
        rest = &rest[at + 3..];
        let inner = rest.trim_start();
        if let Some(after) = inner.strip_prefix("search_space.") {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            names.push(&after[..end]);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        policy: TerminationPolicy,
        evaluation_interval: usize,
        delay: usize,
    ) -> EarlyTermination {
        EarlyTermination {
            policy,
            evaluation_interval,
            delay_evaluation: delay,
        }
    }

    #[test]
    fn policies_apply_from_their_delay_at_their_interval() {
        let p = policy(TerminationPolicy::MedianStopping, 1, 5);
        assert_eq!(
            (1..=7).filter(|&i| p.applies_at(i)).collect::<Vec<_>>(),
            [5, 6, 7]
        );
        let p = policy(TerminationPolicy::MedianStopping, 2, 0);
        assert_eq!(
            (1..=6).filter(|&i| p.applies_at(i)).collect::<Vec<_>>(),
            [2, 4, 6]
        );
        // Azure's SDK defaults the interval to 0: every interval.
        let p = policy(TerminationPolicy::MedianStopping, 0, 0);
        assert!((1..=3).all(|i| p.applies_at(i)));
    }

    /// Azure's documented example: maximizing, the best trial's metric at interval 10 is 0.8,
    /// `slack_factor` 0.2: trials whose best by interval 10 is below 0.8 / 1.2 = 0.667 stop.
    #[test]
    fn bandit_stops_beyond_the_slack_of_the_best() {
        let p = policy(TerminationPolicy::Bandit(Slack::Factor(0.2)), 1, 0);
        let best = [0.5; 10].iter().copied().chain([0.8]).collect::<Vec<_>>();
        let (behind, within) = (vec![0.65; 10], vec![0.7; 10]);
        let h: Vec<&[f64]> = vec![&best[..10], &behind, &within];
        let mut best10 = best[..9].to_vec();
        best10.push(0.8);
        let h10: Vec<&[f64]> = vec![&best10, &behind, &within];
        let none = [false; 3];
        assert!(
            p.judge(true, "acc", &h10, &none, 1, 10)
                .is_some_and(|w| w.contains("bandit"))
        );
        assert_eq!(p.judge(true, "acc", &h10, &none, 2, 10), None);
        assert_eq!(
            p.judge(true, "acc", &h10, &none, 0, 10),
            None,
            "the best goes on"
        );
        // At interval 10 of `h` the best so far is 0.5: nobody is behind.
        assert_eq!(p.judge(true, "acc", &h, &none, 1, 10), None);
        // Minimizing with an absolute slack: 1.0 + 0.25 is the limit.
        let p = policy(TerminationPolicy::Bandit(Slack::Amount(0.25)), 1, 0);
        let (first, second, third) = ([1.0], [1.2], [1.3]);
        let h: Vec<&[f64]> = vec![&first, &second, &third];
        assert_eq!(p.judge(false, "loss", &h, &none, 1, 1), None);
        assert!(p.judge(false, "loss", &h, &none, 2, 1).is_some());
        // A trial alone, or compared at an interval the others have not reached, goes on.
        let short: Vec<&[f64]> = vec![&[], &[5.0]];
        assert_eq!(p.judge(false, "loss", &short, &[false; 2], 1, 1), None);
    }

    /// A negative metric keeps its slack on the right side, and the best trial never stops; a
    /// trial ahead of the others is compared with what they logged so far.
    #[test]
    fn bandit_handles_negative_metrics_and_trials_ahead() {
        let p = policy(TerminationPolicy::Bandit(Slack::Factor(0.1)), 1, 0);
        let (best, behind) = ([-0.2], [-0.25]);
        let h: Vec<&[f64]> = vec![&best, &behind];
        let none = [false; 2];
        assert_eq!(p.judge(true, "neg_mse", &h, &none, 0, 1), None);
        assert!(p.judge(true, "neg_mse", &h, &none, 1, 1).is_some());
        let p = policy(TerminationPolicy::Bandit(Slack::Amount(1.0)), 1, 0);
        let (ahead, slow) = ([5.0; 5], [1.0, 1.0]);
        let h: Vec<&[f64]> = vec![&ahead, &slow];
        assert!(
            p.judge(false, "loss", &h, &none, 0, 5).is_some(),
            "judged against the slower trial's values so far"
        );
    }

    #[test]
    fn truncation_breaks_ties_in_a_fixed_order() {
        let values = vec![vec![0.5]; 10];
        let h: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
        let p = policy(
            TerminationPolicy::TruncationSelection {
                percentage: 20,
                exclude_finished: false,
            },
            1,
            0,
        );
        let stopped: Vec<usize> = (0..10)
            .filter(|&k| p.judge(true, "acc", &h, &[false; 10], k, 1).is_some())
            .collect();
        assert_eq!(stopped, [8, 9], "20% of ten tied trials, not all of them");
    }

    /// A trial stops at interval 3 when its best by then is worse than the median of every
    /// trial's average over intervals 1 to 3.
    #[test]
    fn median_stopping_compares_with_the_median_of_running_averages() {
        let p = policy(TerminationPolicy::MedianStopping, 1, 0);
        let (high, middle, low) = ([0.9, 0.8, 0.7], [0.5, 0.6, 0.7], [0.1, 0.2, 0.3]);
        // Averages 0.8, 0.6, 0.2: the median is 0.6 (maximizing).
        let h: Vec<&[f64]> = vec![&high, &middle, &low];
        let none = [false; 3];
        assert_eq!(p.judge(true, "acc", &h, &none, 0, 3), None);
        assert_eq!(
            p.judge(true, "acc", &h, &none, 1, 3),
            None,
            "best 0.7 is above 0.6"
        );
        assert!(
            p.judge(true, "acc", &h, &none, 2, 3)
                .is_some_and(|w| w.contains("median"))
        );
    }

    #[test]
    fn truncation_stops_the_lowest_percentage() {
        let values: Vec<Vec<f64>> = (1..=10).map(|k| vec![f64::from(k)]).collect();
        let h: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
        let none = [false; 10];
        let p = policy(
            TerminationPolicy::TruncationSelection {
                percentage: 20,
                exclude_finished: false,
            },
            1,
            0,
        );
        // Maximizing: 1.0 and 2.0 are the lowest 20% of ten.
        let stopped: Vec<usize> = (0..10)
            .filter(|&k| p.judge(true, "acc", &h, &none, k, 1).is_some())
            .collect();
        assert_eq!(stopped, [0, 1]);
        // Leaving out the finished trials (the seven best), three remain: 20% of 3 is none.
        let p = policy(
            TerminationPolicy::TruncationSelection {
                percentage: 20,
                exclude_finished: true,
            },
            1,
            0,
        );
        let finished: Vec<bool> = (0..10).map(|k| k >= 3).collect();
        assert!((0..3).all(|k| p.judge(true, "acc", &h, &finished, k, 1).is_none()));
    }

    #[test]
    fn search_space_names_are_read_from_a_command() {
        assert_eq!(
            search_space_names(
                "python t.py ${{search_space.lr}} ${{ search_space.depth }} ${{inputs.data}}"
            ),
            ["lr", "depth"]
        );
    }

    #[test]
    fn draws_follow_their_distributions() {
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let uni = Dist::Uniform(0.5, 0.9).sample(&mut rng).as_f64().unwrap();
            assert!((0.5..0.9).contains(&uni));
            let q = Dist::QUniform(0.0, 10.0, 2.0)
                .sample(&mut rng)
                .as_i64()
                .unwrap();
            assert!(q % 2 == 0 && (0..=10).contains(&q));
            let l = Dist::LogUniform(-6.0, -1.0)
                .sample(&mut rng)
                .as_f64()
                .unwrap();
            assert!(((-6f64).exp()..(-1f64).exp()).contains(&l));
            let i = Dist::RandInt(5).sample(&mut rng).as_i64().unwrap();
            assert!((0..5).contains(&i));
            let c = Dist::Choice(vec![json!("a"), json!("b")]).sample(&mut rng);
            assert!(c == json!("a") || c == json!("b"));
            assert!(Dist::LogNormal(0.0, 1.0).sample(&mut rng).as_f64().unwrap() > 0.0);
        }
        let mean = (0..20_000)
            .map(|_| Dist::Normal(3.0, 2.0).sample(&mut rng).as_f64().unwrap())
            .sum::<f64>()
            / 20_000.0;
        assert!((mean - 3.0).abs() < 0.1, "{mean}");
    }
}
