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
//! `bayesian` sampling and `early_termination` need results while the sweep runs: they are
//! read, warned about, and run as `random` sampling with every trial to its end.

use std::fmt::Write as _;

use indexmap::IndexMap;
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

/// The environment variable that tells `sluice step sweep-select` the objective and trials.
pub const SWEEP_ENV: &str = "SLUICE_SWEEP";

/// Trials of a `random` sweep that sets no `limits.max_total_trials`.
const DEFAULT_TRIALS: usize = 20;
/// At most this many trials in one sweep.
const MAX_TRIALS: usize = 1000;

/// A hyperparameter's distribution, as Azure's parameter expressions define it.
#[derive(Debug, Clone, PartialEq)]
enum Dist {
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
    Random { seed: u64 },
    Grid,
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
        "bayesian" => {
            ctx.warn(node, "bayesian sampling needs results while the sweep runs; Sluice draws the points at random (seeded) before it starts");
            Ok(Sampling::Random {
                seed: seed.unwrap_or_else(|| default_seed(name)),
            })
        }
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
}

fn decode_sweep_limits(ctx: &mut Ctx<'_>, node: Option<&Node>) -> Result<Limits, SpecError> {
    let mut limits = Limits {
        max_total_trials: None,
        max_concurrent_trials: None,
        trial_timeout: None,
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
        count(ctx, n, "limits.timeout")?;
        ctx.warn(n, "`limits.timeout` (the whole sweep's) is not enforced; `limits.trial_timeout` bounds each trial");
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
        space.push((key, dist));
    }
    if space.is_empty() {
        return Err(ctx
            .error(space_node, "`search_space` is empty")
            .with_help("name at least one hyperparameter"));
    }
    let (metric, goal) = decode_objective(ctx, r.get("objective"), node, &name.value)?;
    let limits = decode_sweep_limits(ctx, r.get("limits"))?;
    if let Some(e) = r.get("early_termination").filter(|n| !n.is_null()) {
        ctx.warn(
            e,
            "`early_termination` is not applied: every trial runs to its end",
        );
    }
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
        Sampling::Random { seed } => {
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
        inline_trial(ctx, trial_node, &with_space, &typed_outputs, default_env)?
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
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            trial_env_k.insert(format!("AZUREML_SWEEP_{key}"), text);
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
            after: Vec::new(),
            concurrency: group.clone(),
            may_fail: true,
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
    let sweep_env = json!({"metric": metric, "goal": goal, "trials": trials_json}).to_string();
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
    });
    Ok(steps)
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
    inputs: &IndexMap<String, (Spanned<String>, InputValue)>,
    outputs: &IndexMap<String, (Spanned<String>, OutputValue)>,
    default_env: Option<&EnvironmentRef>,
) -> Result<(ComponentSpec, IndexMap<String, String>, Option<u64>), SpecError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
