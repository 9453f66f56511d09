//! Runs a [`Plan`] on the local machine: ready steps in parallel, each in a fresh copy of its
//! code folder with empty output folders, logs captured, every status change recorded.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use sluice_spec::{Binding, render_template};
use sluice_store::{DetachedStep, JobRow, OutputRow, StepRow};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::executor::{Executor, Executors, Exit, Launched, Prepared, StepIo};
use crate::plan::{Plan, StepInput, StepPlan};
use crate::scheduler::Scheduler;
use crate::status::Status;
use crate::tracking::{JobTracking, TrackingInfo};
use crate::{EngineError, Workspace};

/// Something that happened while a job ran, for the caller to show.
#[derive(Debug, Clone)]
pub enum Event {
    Job {
        status: Status,
    },
    Step {
        step: String,
        status: Status,
        message: Option<String>,
    },
    Log {
        step: String,
        line: String,
    },
}

/// Receives events as they happen (called from the runner's tasks).
pub type Observer = Arc<dyn Fn(Event) + Send + Sync>;

/// How a finished job ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub failed_steps: Vec<String>,
}

/// Records the job in the store (all steps `NotStarted`), then runs it to the end.
///
/// `cancel` resolving stops the job: running steps are terminated and everything is marked
/// `Canceled`.
pub async fn run(
    ws: &Workspace,
    plan: &Plan,
    observer: Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Outcome, EngineError> {
    record_job(ws, plan)?;
    execute(ws, plan, observer, cancel).await
}

/// Runs a `Failed` or `Canceled` job again, in place: its completed steps stay (their outputs
/// are where they were), every other step runs. `plan` is the job planned again from its
/// recorded spec (see [`crate::PlanOptions::resume`]).
pub async fn resume(
    ws: &Workspace,
    plan: &Plan,
    observer: Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Outcome, EngineError> {
    let claim = crate::recover::Claim::new(&plan.job_name);
    let runner = claim.runner();
    // A sweep's failed trials (and those its policy stopped early) stay as they are once what
    // waited for them completed (the pick chose without them; running them again could only
    // contradict it).
    let steps = ws.store().list_steps(&plan.job_name)?;
    let status_of = |name: &str| {
        steps
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.status.clone())
    };
    let keep: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| {
            s.may_fail
                && matches!(
                    status_of(&s.name).as_deref(),
                    Some(x) if x == Status::Failed.as_str() || x == Status::Canceled.as_str()
                )
        })
        .filter(|s| {
            let mut waiting = plan
                .steps
                .iter()
                .filter(|d| d.deps.contains(&s.name))
                .peekable();
            waiting.peek().is_some()
                && waiting
                    .all(|d| status_of(&d.name).as_deref() == Some(Status::Completed.as_str()))
        })
        .map(|s| s.name.clone())
        .collect();
    ws.store().reset_for_resume_keeping(
        &plan.job_name,
        runner,
        plan.resume_only_interrupted,
        &keep,
    )?;
    execute(ws, plan, observer, cancel).await
}

async fn execute(
    ws: &Workspace,
    plan: &Plan,
    observer: Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Outcome, EngineError> {
    let executors = Executors::for_plan(ws, plan)?;
    execute_with(ws, plan, executors, observer, cancel).await
}

/// [`execute`] with the executors given.
pub(crate) async fn execute_with(
    ws: &Workspace,
    plan: &Plan,
    executors: Executors,
    observer: Observer,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Outcome, EngineError> {
    let claim = Arc::new(crate::recover::Claim::new(&plan.job_name));
    crate::recover::claim(ws, &claim)?;
    let _heartbeat = crate::recover::Heartbeat::start(ws, &claim);
    let tracking = match JobTracking::start(ws, plan).await {
        Ok(t) => t,
        Err(e) => {
            let msg = e.to_string();
            claim.ending();
            ws.store()
                .set_job_status(&plan.job_name, Status::Failed.as_str(), Some(&msg))?;
            return Err(e);
        }
    };
    let runner = Runner {
        ws: ws.clone(),
        plan: Arc::new(plan.clone()),
        observer,
        tracking: Arc::clone(&tracking.info),
        executors,
        claim,
        positions: Arc::new(
            plan.steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), i))
                .collect(),
        ),
    };
    let outcome = runner.run(cancel).await;
    ws.save_hash_memo();
    let status = outcome.as_ref().map_or(Status::Failed, |o| o.status);
    tracking.finish(ws, status).await?;
    outcome
}

pub(crate) fn record_job(ws: &Workspace, plan: &Plan) -> Result<(), EngineError> {
    let now = sluice_store::now();
    let job = JobRow {
        name: plan.job_name.clone(),
        ty: match plan.kind {
            sluice_spec::JobKind::Pipeline => "pipeline".into(),
            sluice_spec::JobKind::Command => "command".into(),
        },
        display_name: plan.display_name.clone(),
        experiment_name: plan.experiment_name.clone(),
        description: plan.description.clone(),
        tags: plan.tags.clone(),
        status: Status::NotStarted.to_string(),
        spec_path: plan.spec_path.clone(),
        spec_text: plan.spec_text.clone(),
        settings: serde_json::json!({
            "continue_on_step_failure": plan.continue_on_step_failure,
            "force_rerun": plan.force_rerun,
            "max_parallel": plan.max_parallel,
            "spec_dir": plan.spec_dir,
            "overrides": plan.overrides,
        }),
        inputs: serde_json::to_value(&plan.inputs)?,
        compute: plan.compute.clone(),
        created_at: now.clone(),
        started_at: None,
        ended_at: None,
        error: None,
    };
    let steps: Vec<StepRow> = plan
        .steps
        .iter()
        .map(|s| StepRow {
            name: s.name.clone(),
            display_name: s.display_name.clone(),
            status: Status::NotStarted.to_string(),
            depends_on: s.deps.clone(),
            command: None,
            environment: s.environment.clone(),
            compute: Some(s.compute.clone()),
            inputs: serde_json::Value::Null,
            work_dir: None,
            log_path: None,
            exit_code: None,
            created_at: now.clone(),
            started_at: None,
            ended_at: None,
            error: None,
            env_hash: None,
            code_hash: None,
            reused_from: None,
            reuse_key: None,
            reuse_parts: None,
            executor: None,
            executor_id: None,
            detached: false,
        })
        .collect();
    ws.store().insert_job(&job, &steps)?;
    Ok(())
}

struct Runner {
    ws: Workspace,
    plan: Arc<Plan>,
    observer: Observer,
    tracking: Arc<TrackingInfo>,
    executors: Executors,
    /// This process's claim on the job (see [`crate::recover::Claim`]).
    claim: Arc<crate::recover::Claim>,
    /// Each step's place in the plan, by name (a step finds the steps it reads from at once,
    /// not by a walk through the plan).
    positions: Arc<HashMap<String, usize>>,
}

/// How one step ended.
struct StepEnd {
    step: String,
    status: Status,
    message: Option<String>,
    /// Its MLflow run was already finished (with the rest of the step's bookkeeping).
    run_ended: bool,
    /// Its (`Completed`) status is written already, with the rest of its bookkeeping in the
    /// same commit: the scheduler only tells the observer.
    recorded: bool,
}

impl Runner {
    fn job_status(&self, status: Status, error: Option<&str>) -> Result<(), EngineError> {
        let mut store = self.ws.store();
        // Written only while the job is still this process's (checked under the store's lock).
        self.claim.check(&store);
        if status.is_terminal() {
            self.claim.ending();
        }
        store.set_job_status(&self.plan.job_name, status.as_str(), error)?;
        drop(store);
        (self.observer)(Event::Job { status });
        Ok(())
    }

    fn step_status(
        &self,
        step: &str,
        status: Status,
        message: Option<String>,
    ) -> Result<(), EngineError> {
        let mut store = self.ws.store();
        self.claim.check(&store);
        store.set_step_status(
            &self.plan.job_name,
            step,
            status.as_str(),
            message.as_deref(),
        )?;
        drop(store);
        (self.observer)(Event::Step {
            step: step.to_owned(),
            status,
            message,
        });
        Ok(())
    }

    async fn run(
        &self,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Outcome, EngineError> {
        tokio::pin!(cancel);
        self.job_status(Status::Running, None)?;
        // Each running step has a stop of its own: the whole job stops them all, a sweep's
        // early termination policy one trial.
        let mut stops: HashMap<usize, watch::Sender<bool>> = HashMap::new();
        let mut stopping = false;
        let mut trials = TrialWatch::default();
        let watched = self.plan.steps.iter().any(|s| s.watch.is_some());
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A resumed job keeps the steps it completed.
        let completed: HashSet<String> = self
            .ws
            .store()
            .list_steps(&self.plan.job_name)?
            .into_iter()
            .filter(|s| s.status == Status::Completed.as_str())
            .map(|s| s.name)
            .collect();
        // ... and the failed (or early stopped) sweep trials a resume kept (see [`resume`]):
        // done, as they were.
        let kept_failed = self
            .ws
            .store()
            .list_steps(&self.plan.job_name)?
            .into_iter()
            .filter(|s| {
                s.status == Status::Failed.as_str() || s.status == Status::Canceled.as_str()
            })
            .map(|s| s.name)
            .filter(|n| self.plan.steps.iter().any(|s| s.may_fail && s.name == *n));
        let mut done = completed.clone();
        done.extend(kept_failed);
        let mut sched = Scheduler::new(&self.plan, &done, self.executors.limits());
        let mut running: JoinSet<(usize, StepEnd)> = JoinSet::new();
        // A resumed job's steps whose batch jobs ran on without a runner: followed at once,
        // whatever the limits (their batch jobs hold their places already), not launched.
        let detached = self.ws.store().detached_steps(&self.plan.job_name)?;
        for d in detached {
            match self.plan.steps.iter().position(|s| s.name == d.step) {
                Some(i) if sched.start_now(i) => {
                    let stop = stop_channel(&mut stops, i, stopping);
                    let run = self.launch(i, &mut running, stop, Some(d), None)?;
                    trials.runs.insert(i, run);
                }
                _ => {
                    // Not in the plan any more: nothing follows it.
                    let job = self.plan.job_name.as_str();
                    if stop_detached(&self.ws, job, &d) {
                        let why = "canceled: the step is no longer in the job's plan";
                        self.ws.store().end_detached_step(job, &d.step, why)?;
                    }
                }
            }
        }
        loop {
            // Before anything starts: no trial starts once its sweep's time is up.
            if watched && !stopping {
                for (i, why) in self.time_sweeps(&mut trials, &stops, &mut sched) {
                    self.step_status(sched.name(i), Status::Canceled, Some(why))?;
                }
            }
            for i in sched.ready() {
                let chosen = self.bayes_point(i, &mut trials)?;
                let stop = stop_channel(&mut stops, i, stopping);
                let run = self.launch(i, &mut running, stop, None, chosen.as_ref())?;
                trials.runs.insert(i, run);
                if let Some((_, point)) = chosen {
                    trials.points.insert(i, point);
                }
                if let Some(w) = &self.plan.steps[i].watch {
                    trials
                        .started
                        .entry(w.sweep.clone())
                        .or_insert_with(std::time::Instant::now);
                }
            }
            if sched.running() == 0 {
                break;
            }
            let (i, mut end) = tokio::select! {
                joined = running.join_next() => match joined {
                    Some(Ok(end)) => end,
                    Some(Err(e)) => return Err(EngineError::Internal(format!("a step task failed: {e}"))),
                    None => break,
                },
                () = &mut cancel, if !sched.is_canceled() => {
                    sched.cancel();
                    stopping = true;
                    stop_all(&stops);
                    continue;
                }
                _ = tick.tick(), if watched && !stopping => {
                    self.judge_trials(&mut trials, &stops);
                    continue;
                }
            };
            stops.remove(&i);
            if let Some(why) = trials.stopped.remove(&i)
                && end.status == Status::Canceled
            {
                end.message = Some(why);
            }
            if sched.finished(i, end.status) {
                stopping = true;
                stop_all(&stops);
            }
            if end.recorded {
                (self.observer)(Event::Step {
                    step: end.step,
                    status: end.status,
                    message: end.message,
                });
            } else {
                self.step_status(&end.step, end.status, end.message)?;
            }
        }
        for (i, reason) in sched.leftovers() {
            self.step_status(sched.name(i), Status::Canceled, Some(reason))?;
        }
        let (final_status, error, failed) = sched.outcome();
        if final_status == Status::Completed {
            self.job_status(Status::Finalizing, None)?;
            self.record_pipeline_outputs()?;
        }
        self.job_status(final_status, error.as_deref())?;
        Ok(Outcome {
            status: final_status,
            failed_steps: failed,
        })
    }

    /// Applies the sweeps' early termination policies to their running trials: each interval a
    /// trial logged since the last look is judged against its sweep's other trials, and a trial
    /// judged behind is stopped (it ends `Canceled`, saying why).
    fn judge_trials(&self, trials: &mut TrialWatch, stops: &HashMap<usize, watch::Sender<bool>>) {
        let mut sweeps: IndexMap<&str, Vec<usize>> = IndexMap::new();
        for (i, step) in self.plan.steps.iter().enumerate() {
            if let Some(w) = &step.watch {
                sweeps.entry(w.sweep.as_str()).or_default().push(i);
            }
        }
        for members in sweeps.values() {
            let Some(w) = self.plan.steps[members[0]].watch.as_ref() else {
                continue;
            };
            let Some(policy) = &w.early_termination else {
                continue;
            };
            let live = |i: &usize, stopped: &HashMap<usize, String>| {
                stops.contains_key(i) && !stopped.contains_key(i)
            };
            if !members.iter().any(|i| live(i, &trials.stopped)) {
                continue;
            }
            let mut histories: Vec<Vec<f64>> = Vec::with_capacity(members.len());
            for i in members {
                // A trial that ended logs nothing more: read once.
                let ended = !stops.contains_key(i);
                let values = match (trials.ended.get(i), trials.runs.get(i)) {
                    (Some(values), _) if ended => values.clone(),
                    (_, Some(run)) => self.metric_values(run, &w.metric),
                    (_, None) => Vec::new(),
                };
                if ended && trials.runs.contains_key(i) {
                    trials.ended.entry(*i).or_insert_with(|| values.clone());
                }
                histories.push(values);
            }
            let values: Vec<&[f64]> = histories.iter().map(Vec::as_slice).collect();
            let finished: Vec<bool> = members.iter().map(|i| !stops.contains_key(i)).collect();
            for (k, i) in members.iter().enumerate() {
                if !live(i, &trials.stopped) {
                    continue;
                }
                let from = trials.judged.get(i).copied().unwrap_or(0);
                for interval in from + 1..=values[k].len() {
                    if !policy.applies_at(interval) {
                        continue;
                    }
                    let verdict =
                        policy.judge(w.maximize, &w.metric, &values, &finished, k, interval);
                    if let Some(why) = verdict {
                        tracing::info!(step = %self.plan.steps[*i].name, "{why}");
                        if let Some(stop) = stops.get(i) {
                            let _ = stop.send(true);
                        }
                        trials.stopped.insert(*i, why);
                        break;
                    }
                }
                trials.judged.insert(*i, values[k].len());
            }
        }
    }

    /// Ends the sweeps whose `limits.timeout` passed since their first trial started: running
    /// trials are stopped, the others never start. Returns the trials that never started, with
    /// why, for their status.
    fn time_sweeps(
        &self,
        trials: &mut TrialWatch,
        stops: &HashMap<usize, watch::Sender<bool>>,
        sched: &mut Scheduler,
    ) -> Vec<(usize, String)> {
        let mut skipped = Vec::new();
        for (i, step) in self.plan.steps.iter().enumerate() {
            let Some(w) = &step.watch else { continue };
            let (Some(timeout), Some(started)) = (w.timeout, trials.started.get(&w.sweep)) else {
                continue;
            };
            if started.elapsed() < Duration::from_secs(timeout) {
                continue;
            }
            let why = format!("the sweep's `limits.timeout` ({timeout} s) passed");
            if sched.skip(i) {
                skipped.push((i, format!("{why} before this trial started")));
            } else if let Some(stop) = stops.get(&i)
                && !trials.stopped.contains_key(&i)
            {
                let _ = stop.send(true);
                trials.stopped.insert(i, format!("stopped: {why}"));
            }
        }
        skipped
    }

    /// The point a bayesian sweep's trial `i` runs instead of its planned (seeded random) one,
    /// chosen from the results of its sweep's trials that ended a window or more before it
    /// (see [`sluice_spec::Bayesian`]: the trial waited for them), the trials in between
    /// counted as running; and the step as it runs with it. `None` for other steps and for the
    /// sweep's first trials.
    fn bayes_point(
        &self,
        i: usize,
        trials: &mut TrialWatch,
    ) -> Result<Option<(StepPlan, Vec<serde_json::Value>)>, EngineError> {
        let step = &self.plan.steps[i];
        let Some((w, b)) = step
            .watch
            .as_ref()
            .and_then(|w| w.bayesian.as_ref().map(|b| (w, b)))
        else {
            return Ok(None);
        };
        let members: Vec<usize> = (0..self.plan.steps.len())
            .filter(|&j| {
                self.plan.steps[j]
                    .watch
                    .as_ref()
                    .is_some_and(|o| o.sweep == w.sweep)
            })
            .collect();
        let trial = members.iter().position(|&j| j == i).unwrap_or(0);
        if trial < b.initial || trial < b.window {
            return Ok(None);
        }
        let job = self.plan.job_name.as_str();
        let rows = self.ws.store().list_steps(job)?;
        let read = |inputs: &serde_json::Value| {
            let texts: Vec<Option<&str>> = b
                .space
                .iter()
                .map(|(k, _)| {
                    let v = &inputs[k.as_str()];
                    v["value"].as_str().or_else(|| v.as_str())
                })
                .collect();
            b.parse_point(&texts, &crate::plan::literal_text)
        };
        let mut observed = Vec::new();
        let mut failed = Vec::new();
        let mut pending = Vec::new();
        for (t, &j) in members.iter().enumerate().take(trial) {
            let name = self.plan.steps[j].name.as_str();
            let row = rows.iter().find(|r| r.name == name);
            // The point it ran (or runs): the one chosen for it here, the one recorded when it
            // started, else its planned one.
            let planned = || {
                let inputs: serde_json::Map<String, serde_json::Value> = self.plan.steps[j]
                    .inputs
                    .iter()
                    .filter_map(|(k, v)| match v {
                        StepInput::Literal { value } => Some((k.clone(), value.clone().into())),
                        _ => None,
                    })
                    .collect();
                read(&serde_json::Value::Object(inputs))
            };
            let Some(point) = trials
                .points
                .get(&j)
                .cloned()
                .or_else(|| row.and_then(|r| read(&r.inputs)))
                .or_else(planned)
            else {
                continue;
            };
            if t + b.window > trial {
                pending.push(point);
                continue;
            }
            // Ended (this trial waited for it): its result once read is kept.
            let status = row.and_then(|r| Status::parse(&r.status));
            if status != Some(Status::Completed) {
                failed.push(point);
                continue;
            }
            let value = match trials.results.get(&j) {
                Some(v) => *v,
                None => {
                    let run = match trials.runs.get(&j) {
                        Some(run) => Some(run.clone()),
                        None => self.ws.store().step_run(job, name)?,
                    };
                    let v = run
                        .and_then(|r| self.metric_values(&r, &w.metric).last().copied())
                        .filter(|v| v.is_finite());
                    trials.results.insert(j, v);
                    v
                }
            };
            match value {
                Some(v) => observed.push((point, v)),
                None => failed.push(point),
            }
        }
        let Some(point) = b.suggest(&observed, &failed, &pending, w.maximize, trial) else {
            return Ok(None);
        };
        tracing::info!(step = %step.name, ?point, finished = observed.len(), "bayesian sampling chose the trial's point");
        let mut chosen = step.clone();
        for ((key, _), value) in b.space.iter().zip(&point) {
            chosen.inputs.insert(
                key.clone(),
                StepInput::Literal {
                    value: crate::plan::literal_text(value),
                },
            );
            chosen.env_vars.insert(
                format!("AZUREML_SWEEP_{key}"),
                sluice_spec::sweep_env_text(value),
            );
        }
        Ok(Some((chosen, point)))
    }

    /// The values of `metric` a run logged, by step then time (none when it cannot be read).
    fn metric_values(&self, run: &str, metric: &str) -> Vec<f64> {
        match self
            .ws
            .store()
            .metric_history_points(run, metric, usize::MAX / 2, 0)
        {
            Ok((points, _)) => points.into_iter().map(|p| p.value).collect(),
            Err(e) => {
                tracing::warn!(run, metric, error = %e, "cannot read a sweep trial's metric");
                Vec::new()
            }
        }
    }

    /// Starts step `i` (which the scheduler just made ready): its MLflow run, then its task,
    /// which `stop` stops. A detached step (`follow`) keeps the run its batch job logs to.
    /// Returns the step's run.
    fn launch(
        &self,
        i: usize,
        running: &mut JoinSet<(usize, StepEnd)>,
        stop_rx: watch::Receiver<bool>,
        follow: Option<DetachedStep>,
        chosen: Option<&(StepPlan, Vec<serde_json::Value>)>,
    ) -> Result<String, EngineError> {
        let step = &self.plan.steps[i];
        // A job taken from this process (judged gone elsewhere) starts nothing more.
        self.claim.check(&self.ws.store());
        // Queued, its run, and the run recorded on it: one commit.
        let job = self.plan.job_name.as_str();
        let kept_run = follow.as_ref().and_then(|d| d.run_id.clone());
        if let Some(run) = &kept_run {
            // A child of the resumed job's run now (the run may have been deleted meanwhile:
            // the step is followed all the same).
            let tag = sluice_store::tracking::KeyValue {
                key: "mlflow.parentRunId".into(),
                value: self.tracking.parent_run_id.clone(),
            };
            if let Err(e) = self.ws.store().log_batch(run, &[], &[], &[tag]) {
                tracing::warn!(step = %step.name, error = %e, "cannot re-parent the step's run");
            }
        }
        let run_id = self.ws.store().batch(|s| {
            s.set_step_status(job, &step.name, Status::Queued.as_str(), None)?;
            if let Some(run) = kept_run {
                return Ok(run);
            }
            let run = crate::tracking::child_run(s, &self.tracking, job, &step.name)
                .map_err(|e| sluice_store::StoreError::Invalid(e.to_string()))?;
            s.set_step_run(job, &step.name, &run)?;
            if let Some((_, point)) = chosen {
                // The point a bayesian sweep chose for it, which `sweep-select` reports.
                let names = step
                    .watch
                    .iter()
                    .flat_map(|w| &w.bayesian)
                    .flat_map(|b| &b.space);
                let point: serde_json::Map<String, serde_json::Value> = names
                    .zip(point)
                    .map(|((k, _), v)| (k.clone(), v.clone()))
                    .collect();
                let tag = sluice_store::tracking::KeyValue {
                    key: sluice_spec::SWEEP_POINT_TAG.into(),
                    value: serde_json::Value::Object(point).to_string(),
                };
                s.log_batch(&run, &[], &[], &[tag])?;
            }
            Ok(run)
        })?;
        (self.observer)(Event::Step {
            step: step.name.clone(),
            status: Status::Queued,
            message: None,
        });
        let task = StepTask {
            ws: self.ws.clone(),
            plan: Arc::clone(&self.plan),
            step: step.name.clone(),
            observer: Arc::clone(&self.observer),
            stop: stop_rx,
            tracking: Arc::clone(&self.tracking),
            run_id: run_id.clone(),
            executor: self.executors.get(&step.compute),
            follow,
            claim: Arc::clone(&self.claim),
            chosen: chosen.map(|(step, _)| Box::new(step.clone())),
            limit: self.executors.limit(&step.compute),
            index: i,
            positions: Arc::clone(&self.positions),
        };
        let ws = self.ws.clone();
        let followed = task.follow.clone();
        let job_name = self.plan.job_name.clone();
        let run = run_id.clone();
        running.spawn(async move {
            let name = task.step.clone();
            let end = match task.run().await {
                Ok(end) => end,
                Err(e) => {
                    // Nothing follows its batch job any more.
                    if let Some(d) = &followed {
                        let _ = stop_detached(&ws, &job_name, d);
                    }
                    StepEnd {
                        step: name,
                        status: Status::Failed,
                        message: Some(e.to_string()),
                        run_ended: false,
                        recorded: false,
                    }
                }
            };
            if !end.run_ended
                && let Err(e) = crate::tracking::end_run(&ws, &run_id, end.status)
            {
                tracing::warn!(error = %e, "cannot end the step's run");
            }
            (i, end)
        });
        Ok(run)
    }

    fn record_pipeline_outputs(&self) -> Result<(), EngineError> {
        for (name, out) in &self.plan.outputs {
            record_output(&self.ws, &self.plan.job_name, "", name, out)?;
        }
        Ok(())
    }
}

/// How often the runner judges the running trials of sweeps with an early termination policy.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What the runner knows of the steps it launched, for judging sweep trials and choosing
/// bayesian sweeps' points.
#[derive(Default)]
struct TrialWatch {
    /// Each launched step's MLflow run.
    runs: HashMap<usize, String>,
    /// How many intervals of each trial were judged.
    judged: HashMap<usize, usize>,
    /// The trials stopped early, and why.
    stopped: HashMap<usize, String>,
    /// When each sweep's first trial started.
    started: HashMap<String, std::time::Instant>,
    /// The metric values of trials that ended.
    ended: HashMap<usize, Vec<f64>>,
    /// The points a bayesian sweep chose for its trials.
    points: HashMap<usize, Vec<serde_json::Value>>,
    /// The primary metric of the bayesian sweeps' ended trials (`None`: not logged).
    results: HashMap<usize, Option<f64>>,
}

/// A stop for step `i`, kept in `stops`; already set when the job is stopping.
fn stop_channel(
    stops: &mut HashMap<usize, watch::Sender<bool>>,
    i: usize,
    stopping: bool,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(stopping);
    stops.insert(i, tx);
    rx
}

/// Stops every running step.
fn stop_all(stops: &HashMap<usize, watch::Sender<bool>>) {
    for stop in stops.values() {
        let _ = stop.send(true);
    }
}

/// Hashes an output, registers it as a data asset when the file asks (`name:` on the output),
/// and records it (`step` empty for the pipeline's own outputs).
fn record_output(
    ws: &Workspace,
    job: &str,
    step: &str,
    name: &str,
    out: &crate::plan::OutputPlan,
) -> Result<(), EngineError> {
    let row = output_row(ws, job, step, name, out)?;
    ws.store().upsert_output(&row)?;
    Ok(())
}

/// What [`record_output`] records of output `name` of `job`'s `step` (its hash; its data asset
/// version, registered now, when it names one), for the caller to write.
fn output_row(
    ws: &Workspace,
    job: &str,
    step: &str,
    name: &str,
    out: &crate::plan::OutputPlan,
) -> Result<OutputRow, EngineError> {
    let path = out.value_path(name);
    if !path.exists() && out.ty != sluice_spec::IoType::UriFile {
        // A pipeline output no step wrote to is an empty folder.
        std::fs::create_dir_all(&path).map_err(|e| EngineError::io(&path, e))?;
    }
    let hash = sluice_artifacts::hash_path(&path)?;
    let asset = match &out.register_as {
        Some((asset, version)) => {
            let row = crate::register_data(
                ws,
                &crate::NewData {
                    name: asset,
                    version: version.as_deref(),
                    ty: out.ty,
                    source: &path,
                    description: Some(format!("output `{name}` of job `{job}`")),
                    tags: indexmap::IndexMap::new(),
                },
            )?;
            Some((row.name, row.version))
        }
        None => None,
    };
    Ok(OutputRow {
        job_name: job.to_owned(),
        step_name: step.to_owned(),
        name: name.to_owned(),
        ty: out.ty.as_str().to_owned(),
        path: path.display().to_string(),
        content_hash: Some(hash.hash),
        size_bytes: Some(i64::try_from(hash.size_bytes).unwrap_or(i64::MAX)),
        file_count: Some(i64::try_from(hash.file_count).unwrap_or(i64::MAX)),
        asset_name: asset.as_ref().map(|a| a.0.clone()),
        asset_version: asset.map(|a| a.1),
    })
}

/// The largest job inputs (JSON) handed to steps in `SLUICE_JOB_INPUTS` (larger ones are in the
/// file `SLUICE_JOB_INPUTS_FILE` names).
const JOB_INPUTS_IN_ENV: usize = 32 * 1024;

/// How often a step waiting for a place on its compute asks again.
const PLACE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

struct StepTask {
    ws: Workspace,
    plan: Arc<Plan>,
    step: String,
    observer: Observer,
    stop: watch::Receiver<bool>,
    tracking: Arc<TrackingInfo>,
    run_id: String,
    executor: Arc<dyn Executor>,
    /// The step's batch job, launched by a runner that stopped: followed instead of launched.
    follow: Option<DetachedStep>,
    /// This process's claim on the job: checked before each status it writes.
    claim: Arc<crate::recover::Claim>,
    /// The step as it runs when not as planned (a bayesian sweep's trial and its chosen point).
    chosen: Option<Box<StepPlan>>,
    /// Its compute's `max_instances`, a bound across every job of the workspace.
    limit: Option<usize>,
    /// Its place in the plan, and every step's (see [`Runner::positions`]).
    index: usize,
    positions: Arc<HashMap<String, usize>>,
}

/// A step's log, opened for appending: the lifecycle and an executor's line callback may both
/// write to it.
struct StepLog {
    file: std::fs::File,
    path: PathBuf,
}

impl StepLog {
    /// An empty log at `path`.
    fn create(path: &Path) -> Result<Self, EngineError> {
        std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
        Self::append(path)
    }

    /// The log at `path` as it is, appended to.
    fn append(path: &Path) -> Result<Self, EngineError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| EngineError::io(path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, line: &str) -> Result<(), EngineError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file
            .write_all(&buf)
            .map_err(|e| EngineError::io(&self.path, e))
    }
}

/// Writes made with a step's status (its reuse record and launch).
type Record<'a> = Box<dyn FnOnce(&mut sluice_store::Store) -> sluice_store::Result<()> + Send + 'a>;

impl StepTask {
    fn step_plan(&self) -> &StepPlan {
        &self.plan.steps[self.index]
    }

    /// Moves the step to `status` with the writes `also` makes, in one commit (a chain's steps
    /// run one after another: each commit a step makes is on the job's critical path).
    fn status_with(
        &self,
        status: Status,
        also: impl FnOnce(&mut sluice_store::Store) -> sluice_store::Result<()>,
    ) -> Result<(), EngineError> {
        self.statuses_with(&[status], also)
    }

    /// [`Self::status_with`] through several statuses in turn, in one commit; the observer hears
    /// of them once they are written.
    fn statuses_with(
        &self,
        statuses: &[Status],
        also: impl FnOnce(&mut sluice_store::Store) -> sluice_store::Result<()>,
    ) -> Result<(), EngineError> {
        let (job, step) = (self.plan.job_name.as_str(), self.step.as_str());
        let mut store = self.ws.store();
        self.claim.check(&store);
        store.batch(|s| {
            also(s)?;
            for status in statuses {
                s.set_step_status(job, step, status.as_str(), None)?;
            }
            Ok(())
        })?;
        drop(store);
        for status in statuses {
            (self.observer)(Event::Step {
                step: self.step.clone(),
                status: *status,
                message: None,
            });
        }
        Ok(())
    }

    /// Becomes `Preparing`, on a compute with `max_instances` once one of its places is free:
    /// the bound holds across every job of the workspace (other processes, a team server's
    /// jobs, other machines on PostgreSQL), checked in the store. False when the job stopped
    /// while the step waited. `record` (what the step is about to run) is written first: with
    /// `Preparing` when the compute has no bound.
    async fn take_place(
        &self,
        compute: &str,
        record: impl FnOnce(&mut sluice_store::Store) -> sluice_store::Result<()>,
    ) -> Result<bool, EngineError> {
        let Some(limit) = self.limit else {
            self.status_with(Status::Preparing, record)?;
            return Ok(true);
        };
        self.ws.store().batch(record)?;
        let stale = crate::recover::stale_after();
        let mut said = false;
        loop {
            if *self.stop.borrow() {
                return Ok(false);
            }
            // Batch jobs whose runners are gone hold places the store cannot see end: their
            // executors say which still run.
            let unattended = self.ws.store().unattended_batch_steps(
                &self.plan.job_name,
                &self.step,
                compute,
                stale,
            )?;
            let also_held = if unattended.is_empty() {
                0
            } else {
                // Asking runs the scheduler's command (`scontrol`): off the async workers.
                let asked = unattended.len();
                tokio::task::spawn_blocking(move || {
                    unattended
                        .into_iter()
                        .filter(|(kind, id)| {
                            crate::executor::by_kind(kind)
                                .is_some_and(|e| e.occupies(&Launched::Batch { id: id.clone() }))
                        })
                        .count()
                })
                .await
                .unwrap_or(asked)
            };
            let took = {
                let mut store = self.ws.store();
                self.claim.check(&store);
                store.claim_compute_slot(
                    &self.plan.job_name,
                    &self.step,
                    compute,
                    limit,
                    stale,
                    also_held,
                )?
            };
            if took {
                (self.observer)(Event::Step {
                    step: self.step.clone(),
                    status: Status::Preparing,
                    message: None,
                });
                return Ok(true);
            }
            if !said {
                tracing::info!(step = %self.step, compute, limit, "waiting for a place on the compute: other jobs' steps hold all of them");
                said = true;
            }
            tokio::time::sleep(PLACE_POLL).await;
        }
    }

    fn end(&self, status: Status, message: impl Into<String>) -> StepEnd {
        StepEnd {
            step: self.step.clone(),
            status,
            message: Some(message.into()),
            run_ended: false,
            recorded: false,
        }
    }

    async fn run(mut self) -> Result<StepEnd, EngineError> {
        let step = match self.chosen.take() {
            Some(step) => *step,
            None => self.step_plan().clone(),
        };
        let follow = self.follow.take();
        // The recorded outputs of the steps this one reads from (not the whole job's: that
        // made every step's cost grow with the pipeline).
        let mut upstream: Vec<&str> = step
            .inputs
            .values()
            .filter_map(|i| match i {
                StepInput::StepOutput { step, .. } => Some(step.as_str()),
                _ => None,
            })
            .collect();
        upstream.sort_unstable();
        upstream.dedup();
        let mut recorded = Vec::new();
        for s in upstream {
            recorded.extend(self.ws.store().list_step_outputs(&self.plan.job_name, s)?);
        }
        let step_dir = self
            .ws
            .job_dir(&self.plan.job_name)
            .join("steps")
            .join(&step.name);
        let work_dir = step_dir.join("code");
        let log_path = step_dir.join("logs").join("std_log.txt");
        let unbound = |b: Binding| format!("`{b}` has no value");
        // The step's reuse record and launch, when they are written with `Running` (below).
        let mut preparing: Option<Record<'_>> = None;
        let (mut log, command) = if follow.is_some() {
            // Its folders, reuse record and launch are as the earlier runner left them (the
            // batch job runs in them).
            let command = match self.render_command(&step) {
                Ok(c) => c,
                Err(b) => {
                    self.abandon(follow.as_ref());
                    return Ok(self.end(Status::Failed, unbound(b)));
                }
            };
            (StepLog::append(&log_path)?, command)
        } else {
            let decision = crate::reuse::decide(&self.ws, &self.plan, &step, &recorded)?;
            if let Some((job, row)) = &decision.reuse {
                let end = self.reuse(&step, job, row, &decision, &recorded)?;
                if let Err(message) = self.publish_outputs(&step, true).await {
                    return Ok(self.end(Status::Failed, message));
                }
                return Ok(end);
            }
            let command = match self.render_command(&step) {
                Ok(c) => c,
                Err(b) => return Ok(self.end(Status::Failed, unbound(b))),
            };
            // Its reuse record and what it runs (command, inputs, folders), with `Preparing`.
            let inputs_json = serde_json::to_value(self.resolved_inputs(&step, &recorded))?;
            let (job, name) = (self.plan.job_name.as_str(), step.name.as_str());
            let (work, log_at) = (
                work_dir.display().to_string(),
                log_path.display().to_string(),
            );
            let crate::reuse::Decision {
                key,
                record: reuse,
                code_hash,
                snapshot,
                ..
            } = decision;
            let launched = command.clone();
            let record = move |s: &mut sluice_store::Store| {
                s.set_step_reuse(job, name, key.as_deref(), &reuse, code_hash.as_deref())?;
                s.set_step_launch(job, name, &launched, &inputs_json, &work, &log_at)
            };
            // A step with nothing to prepare that runs as soon as it is launched (no place to
            // wait for, no environment to build, no data to copy) records `Preparing` with
            // `Running`, in the commit that says where it runs: a chain's steps run one after
            // another, and each commit a step makes is on the job's critical path.
            let nothing_to_prepare = self.limit.is_none()
                && step.python_env.is_none()
                && self.executor.runs_at_launch()
                && !step
                    .inputs
                    .values()
                    .any(|i| matches!(i, StepInput::Data(d) if d.copy_from.is_some()));
            if nothing_to_prepare {
                // (As taking a place does: nothing is touched once the job is no longer this
                // process's, its folders least of all.)
                self.claim.check(&self.ws.store());
                preparing = Some(Box::new(record));
            } else if !self.take_place(&step.compute, record).await? {
                return Ok(self.end(
                    Status::Canceled,
                    "stopped while waiting for a place on its compute",
                ));
            }
            prepare_dirs(&self.ws, &step, snapshot.as_ref(), &work_dir, &log_path)?;
            // Inputs read from copies on the workspace's shared path: made now (once per
            // content), by the first step that reads them.
            for input in step.inputs.values() {
                if let StepInput::Data(d) = input
                    && let Some(from) = &d.copy_from
                {
                    self.ws
                        .make_shared_copy(from, &d.path, d.content_hash.as_deref())?;
                }
            }
            (StepLog::create(&log_path)?, command)
        };
        // A followed batch job needs no environment here (its script names it); a retry builds
        // it then.
        let mut venv = None;
        if follow.is_none() {
            match self.step_env(&step, &mut log).await? {
                Ok(built) => venv = built,
                Err(message) => return Ok(self.end(Status::Failed, message)),
            }
        }
        if *self.stop.borrow() {
            self.abandon(follow.as_ref());
            if let Some(record) = preparing.take() {
                self.ws.store().batch(record)?;
            }
            return Ok(self.end(Status::Canceled, "the job stopped before this step started"));
        }
        let policy = step.retry.unwrap_or(sluice_spec::Retry {
            max_attempts: 1,
            backoff_seconds: 0.0,
        });
        let mut attempt = follow.as_ref().map_or(1, |d| d.attempt);
        let mut follow = follow;
        let (job, this) = (self.plan.job_name.as_str(), step.name.as_str());
        loop {
            let started = sluice_store::now();
            let prepared = self.prepared(
                &step,
                &command,
                &work_dir,
                &step_dir,
                venv.as_deref(),
                attempt,
            );
            let exit = self
                .execute(
                    &prepared,
                    &mut log,
                    follow.take().as_ref(),
                    preparing.take(),
                )
                .await?;
            let failure = exit.failure(&log_path);
            let retry = matches!(&failure, Some((Status::Failed, _)))
                && attempt < policy.max_attempts
                && !*self.stop.borrow();
            // A retried attempt's log moves aside before its attempt is recorded (the record
            // names where it is); the last attempt's stays `std_log.txt`.
            let attempt_log = if retry {
                let kept = log_path.with_file_name(format!("std_log.attempt-{attempt}.txt"));
                std::fs::rename(&log_path, &kept).map_err(|e| EngineError::io(&kept, e))?;
                log = StepLog::create(&log_path)?;
                kept
            } else {
                log_path.clone()
            };
            let (status, error) = match &failure {
                Some((status, message)) => (*status, Some(message.as_str())),
                None => (Status::Completed, None),
            };
            // It no longer runs, its exit and the attempt: one commit (with `Finalizing` when it
            // succeeded).
            let attempt_at = attempt_log.display().to_string();
            let record = |s: &mut sluice_store::Store| {
                s.set_step_pid(job, this, None)?;
                s.set_step_exit(job, this, exit.code)?;
                s.record_attempt(
                    job,
                    this,
                    attempt,
                    status.as_str(),
                    exit.code,
                    error,
                    &attempt_at,
                    &started,
                )
            };
            let Some((status, message)) = &failure else {
                self.status_with(Status::Finalizing, record)?;
                break;
            };
            self.ws.store().batch(record)?;
            let (status, message) = (*status, message.clone());
            if !retry {
                return Ok(self.end(status, message));
            }
            let line = format!(
                "attempt {attempt} of {} failed ({message}); its log is {}; retrying in {} s",
                policy.max_attempts,
                attempt_log.display(),
                policy.backoff_seconds
            );
            self.log_line(&mut log, &step.name, line)?;
            let backoff = Duration::from_secs_f64(policy.backoff_seconds);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = self.stop.changed() => {}
            }
            if *self.stop.borrow() {
                return Ok(self.end(Status::Canceled, "stopped because the job is stopping"));
            }
            if venv.is_none() && step.python_env.is_some() {
                match self.step_env(&step, &mut log).await? {
                    Ok(built) => venv = built,
                    Err(message) => return Ok(self.end(Status::Failed, message)),
                }
                if *self.stop.borrow() {
                    return Ok(self.end(Status::Canceled, "stopped because the job is stopping"));
                }
            }
            reset_outputs(&step)?;
            attempt += 1;
        }
        self.keep_outputs_folder(&step, &work_dir)?;
        let mut rows = Vec::with_capacity(step.outputs.len());
        for (name, out) in &step.outputs {
            let path = out.value_path(name);
            if !path.exists() {
                if out.ty == sluice_spec::IoType::UriFile {
                    return Ok(self.end(
                        Status::Failed,
                        format!(
                            "output `{name}` is a `uri_file` but the command wrote no file at {}",
                            path.display()
                        ),
                    ));
                }
                std::fs::create_dir_all(&path).map_err(|e| EngineError::io(&path, e))?;
            }
            rows.push(output_row(&self.ws, job, this, name, out)?);
        }
        // Its outputs, with `Completed` and its run finished unless an output is still to be
        // uploaded: one commit.
        let recorded = !publishes(&step);
        let run_ended = {
            let mut store = self.ws.store();
            if recorded {
                self.claim.check(&store);
            }
            store.batch(|s| {
                for row in &rows {
                    s.upsert_output(row)?;
                }
                if !recorded {
                    return Ok(false);
                }
                s.set_step_status(job, this, Status::Completed.as_str(), None)?;
                // The run in a savepoint of its own: a run that cannot be finished (the caller
                // then tries again, and warns) does not undo the step's results.
                Ok(
                    s.batch(|s| crate::tracking::finish_run(s, &self.run_id, Status::Completed))
                        .is_ok(),
                )
            })?
        };
        if let Err(message) = self.publish_outputs(&step, false).await {
            return Ok(self.end(Status::Failed, message));
        }
        Ok(StepEnd {
            step: step.name.clone(),
            status: Status::Completed,
            message: None,
            run_ended,
            recorded,
        })
    }

    /// Stops the batch job of a detached step that will not be followed after all (the step
    /// ends without it), so that nothing runs on unwatched.
    fn abandon(&self, follow: Option<&DetachedStep>) {
        if let Some(d) = follow {
            let _ = stop_detached(&self.ws, &self.plan.job_name, d);
        }
    }

    /// Uploads the outputs whose `path:` is on a registered datastore (`skip_present`: a reused
    /// output, whose objects already there are left alone). The message of the first failure.
    async fn publish_outputs(&self, step: &StepPlan, skip_present: bool) -> Result<(), String> {
        for (name, out) in &step.outputs {
            let Some(to) = &out.publish else {
                continue;
            };
            let ds = self
                .ws
                .datastore(&to.datastore)
                .map_err(|e| format!("output `{name}` cannot be uploaded to {to}: {e}"))?;
            let (files, bytes) = ds
                .publish(&out.value_path(name), &to.path, skip_present)
                .await
                .map_err(|e| format!("uploading output `{name}` to {to} failed: {e}"))?;
            tracing::info!(step = %step.name, output = %name, files, bytes, "published to {to}");
        }
        Ok(())
    }

    /// What the command wrote to `./outputs`, as Azure ML keeps it: uploaded to the step's run
    /// as artifacts under `outputs/`, and in the step's `artifacts` output (Azure's default
    /// output that holds the run's artifacts) when it declares one and left it empty.
    fn keep_outputs_folder(&self, step: &StepPlan, work_dir: &Path) -> Result<(), EngineError> {
        let produced = work_dir.join("outputs");
        let has_files = std::fs::read_dir(&produced).is_ok_and(|mut d| d.next().is_some());
        if !has_files {
            return Ok(());
        }
        let artifact_uri = self.ws.store().get_run(&self.run_id)?.info.artifact_uri;
        let artifacts = self.ws.artifacts()?;
        if artifacts.local_root().is_none() {
            if let Some(key) = Workspace::artifact_key(&artifact_uri) {
                let key = sluice_artifacts::store::join(&key, "outputs");
                sluice_artifacts::store::block_on(artifacts.put_dir(&key, &produced))
                    .map_err(|e| EngineError::Datastore(e.to_string()))?;
            }
        } else if let Some(root) = self.ws.artifact_path(&artifact_uri) {
            let dest = root.join("outputs");
            if !dest.exists() {
                sluice_artifacts::copy_tree(&produced, &dest)?;
            }
        }
        if let Some(out) = step.outputs.get("artifacts")
            && out.ty == sluice_spec::IoType::UriFolder
            && std::fs::read_dir(&out.dir).is_ok_and(|mut d| d.next().is_none())
        {
            sluice_artifacts::copy_tree(&produced, &out.dir.join("outputs"))?;
        }
        Ok(())
    }

    /// Completes the step with the results of an earlier identical one: its outputs copied
    /// into this job's folders (recorded with their hashes), its log, metrics and params linked.
    /// The bookkeeping (reuse key, outputs, the link, the run finished, and `Completed` unless
    /// an output is still to be uploaded) is one commit.
    fn reuse(
        &self,
        step: &StepPlan,
        job: &str,
        row: &StepRow,
        decision: &crate::reuse::Decision,
        recorded: &[OutputRow],
    ) -> Result<StepEnd, EngineError> {
        // What this step would have run, with its inputs (their data versions and hashes), is
        // recorded as for a step that runs: lineage and `job show` read them.
        let command = self
            .render_command(step)
            .ok()
            .or_else(|| row.command.clone())
            .unwrap_or_default();
        let inputs_json = serde_json::to_value(self.resolved_inputs(step, recorded))?;
        let original = row
            .reused_from
            .clone()
            .unwrap_or_else(|| format!("{job}/{}", row.name));
        let earlier: Vec<OutputRow> = self.ws.store().list_step_outputs(job, &row.name)?;
        let mut cleared = HashSet::new();
        let mut rows = Vec::new();
        for (name, out) in &step.outputs {
            let Some(prev) = earlier.iter().find(|o| o.name == *name) else {
                continue;
            };
            let target = out.value_path(name);
            // An output with a fixed place (a datastore path) already holds the bytes: the
            // reuse check hashed them there.
            if out.file.is_some() {
                if Path::new(&prev.path) != target {
                    std::fs::create_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
                    sluice_artifacts::copy_atomic(Path::new(&prev.path), &target)?;
                }
            } else if Path::new(&prev.path) != target && cleared.insert(out.dir.clone()) {
                if out.dir.exists() {
                    std::fs::remove_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
                }
                if target == out.dir {
                    sluice_artifacts::copy_atomic(Path::new(&prev.path), &target)?;
                } else {
                    std::fs::create_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
                    sluice_artifacts::copy_tree(Path::new(&prev.path), &target)?;
                }
            } else if Path::new(&prev.path) != target && target != out.dir {
                sluice_artifacts::copy_tree(Path::new(&prev.path), &target)?;
            }
            if out.register_as.is_some() {
                // A new data asset version of this job's output, as when the step runs.
                record_output(&self.ws, &self.plan.job_name, &step.name, name, out)?;
            } else {
                rows.push(OutputRow {
                    job_name: self.plan.job_name.clone(),
                    step_name: step.name.clone(),
                    path: target.display().to_string(),
                    asset_name: None,
                    asset_version: None,
                    ..prev.clone()
                });
            }
        }
        let link = crate::tracking::reused_run(&self.ws, job, &row.name, &original)?;
        let this_job = self.plan.job_name.as_str();
        let message = format!("reused the results of `{original}`");
        // `Completed` too, unless an output is still to be uploaded.
        let recorded = !publishes(step);
        let mut store = self.ws.store();
        if recorded {
            self.claim.check(&store);
        }
        store.batch(|s| {
            s.set_step_reuse(
                this_job,
                &step.name,
                decision.key.as_deref(),
                &decision.record,
                decision.code_hash.as_deref(),
            )?;
            for r in &rows {
                s.upsert_output(r)?;
            }
            s.set_step_launch(this_job, &step.name, &command, &inputs_json, "", "")?;
            s.set_step_reused(
                this_job,
                &step.name,
                &original,
                row.work_dir.as_deref(),
                row.log_path.as_deref(),
            )?;
            if let Some(env_hash) = &row.env_hash {
                s.set_step_env(this_job, &step.name, env_hash)?;
            }
            crate::tracking::write_reused_run(s, &self.run_id, &link)?;
            if recorded {
                s.set_step_status(
                    this_job,
                    &step.name,
                    Status::Completed.as_str(),
                    Some(&message),
                )?;
            }
            Ok(())
        })?;
        Ok(StepEnd {
            step: step.name.clone(),
            status: Status::Completed,
            message: Some(message),
            run_ended: true,
            recorded,
        })
    }

    fn output_path(&self, step: &str, output: &str) -> Option<PathBuf> {
        let s = &self.plan.steps[*self.positions.get(step)?];
        Some(s.outputs.get(output)?.value_path(output))
    }

    fn input_value(&self, input: &StepInput) -> Option<String> {
        match input {
            StepInput::Literal { value } => Some(value.clone()),
            StepInput::Data(d) => Some(d.path.display().to_string()),
            StepInput::StepOutput { step, output } => self
                .output_path(step, output)
                .map(|p| p.display().to_string()),
            StepInput::Absent => None,
        }
    }

    fn render_command(&self, step: &StepPlan) -> Result<String, Binding> {
        render_template(&step.template, &|b| match b {
            Binding::Input(x) => step.inputs.get(x).and_then(|i| self.input_value(i)),
            Binding::Output(x) => step
                .outputs
                .get(x)
                .map(|o| o.value_path(x).display().to_string()),
            _ => None,
        })
    }

    /// The step's inputs as recorded, with the hashes (from the job's `recorded` outputs) of the
    /// upstream outputs it consumes.
    fn resolved_inputs(
        &self,
        step: &StepPlan,
        recorded: &[OutputRow],
    ) -> serde_json::Map<String, serde_json::Value> {
        let output_hash = |s: &str, output: &str| {
            recorded
                .iter()
                .find(|r| r.step_name == s && r.name == output)
                .and_then(|r| r.content_hash.clone())
        };
        step.inputs
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    StepInput::StepOutput { step: s, output } => {
                        let hash = output_hash(s, output);
                        serde_json::json!({
                            "kind": "step_output",
                            "step": s,
                            "output": output,
                            "path": self.input_value(v),
                            "content_hash": hash,
                        })
                    }
                    StepInput::Literal { value } => {
                        serde_json::json!({"kind": "literal", "value": value})
                    }
                    other => serde_json::to_value(other).unwrap_or_default(),
                };
                (k.clone(), value)
            })
            .collect()
    }

    /// Builds (or finds) the step's Python environment, its output going to the step's log.
    /// `Ok(Err(message))`: the environment cannot be had and the step fails with `message`.
    /// The step's Python environment, built or found built (`None` for a step without one),
    /// or why it cannot be.
    async fn step_env(
        &self,
        step: &StepPlan,
        log: &mut StepLog,
    ) -> Result<Result<Option<PathBuf>, String>, EngineError> {
        let Some(request) = step.python_env.clone() else {
            return Ok(Ok(None));
        };
        Ok(self
            .prepare_env(step, request, log)
            .await?
            .map(|built| Some(built.venv)))
    }

    async fn prepare_env(
        &self,
        step: &StepPlan,
        request: sluice_env::EnvRequest,
        log: &mut StepLog,
    ) -> Result<Result<sluice_env::Built, String>, EngineError> {
        let label = step.environment.clone().unwrap_or_default();
        if let Some(image) = &step.image {
            let line = format!(
                "image `{image}` is recorded, not pulled: the step runs its conda/pip spec on this host in a uv virtual environment"
            );
            self.log_line(log, &step.name, line)?;
        }
        let builder = crate::envs::builder(&self.ws);
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let task = tokio::task::spawn_blocking(move || {
            builder.ensure(&request, &mut |line| {
                let _ = tx.send(line.to_owned());
            })
        });
        while let Some(line) = rx.recv().await {
            self.log_line(log, &step.name, line)?;
        }
        let result = task
            .await
            .map_err(|e| EngineError::Internal(format!("environment build task: {e}")))?;
        match result {
            Ok(built) => {
                crate::envs::record_build(&self.ws, &built)?;
                self.ws
                    .store()
                    .set_step_env(&self.plan.job_name, &step.name, &built.hash)?;
                let how = if built.reused {
                    "reused".to_owned()
                } else {
                    format!("built in {:.1} s", built.build_seconds)
                };
                let packages = built.lock.lines().filter(|l| !l.trim().is_empty()).count();
                let line = format!(
                    "environment {label} ({}): Python {}, {packages} packages, {how}",
                    sluice_env::short(&built.hash),
                    built.python
                );
                self.log_line(log, &step.name, line)?;
                Ok(Ok(built))
            }
            Err(e) => {
                let mut message = format!("environment `{label}` could not be prepared: {e}");
                if let Some(help) = e.help() {
                    message.push_str("\nhelp: ");
                    message.push_str(&help);
                }
                for line in message.lines() {
                    self.log_line(log, &step.name, line.to_owned())?;
                }
                Ok(Err(message))
            }
        }
    }

    /// Appends a line to the step's log and passes it to the observer.
    fn log_line(&self, log: &mut StepLog, step: &str, line: String) -> Result<(), EngineError> {
        log.write(&line)?;
        (self.observer)(Event::Log {
            step: step.to_owned(),
            line,
        });
        Ok(())
    }

    /// The step as its executor gets it: the command, its folders, and the variables it runs
    /// with (the job's tracking run and token; never the creator's credentials).
    fn prepared(
        &self,
        step: &StepPlan,
        command: &str,
        work_dir: &Path,
        step_dir: &Path,
        venv: Option<&Path>,
        attempt: u32,
    ) -> Prepared {
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
        let mut env_remove: Vec<String> = [
            "SLUICE_TOKEN",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ]
        .map(str::to_owned)
        .to_vec();
        let mut path_prepend = Vec::new();
        // A Python environment's `bin` comes first on PATH, so `python` is its interpreter.
        if let Some(venv) = venv {
            path_prepend.push(venv.join("bin"));
            set("VIRTUAL_ENV", &venv.display().to_string());
            env_remove.push("PYTHONHOME".into());
        }
        set("SLUICE_JOB_NAME", &self.plan.job_name);
        set("SLUICE_STEP_NAME", &step.name);
        set("SLUICE_WORKSPACE", &self.ws.root().display().to_string());
        set("SLUICE_STORE", &self.ws.location().to_string());
        // The job's inputs (asset versions, content hashes) for `sluice step register`'s
        // lineage, where the step cannot open the store (a batch step on another machine, the
        // store a SQLite file on this one's disk); large ones in a file in the step's folder.
        if let Ok(inputs) = serde_json::to_string(&self.plan.inputs) {
            let file = step_dir.join("job-inputs.json");
            if inputs.len() <= JOB_INPUTS_IN_ENV {
                set("SLUICE_JOB_INPUTS", &inputs);
            } else if std::fs::write(&file, &inputs).is_ok() {
                set("SLUICE_JOB_INPUTS_FILE", &file.display().to_string());
            }
        }
        set("SLUICE_EXPERIMENT_NAME", &self.plan.experiment_name);
        set("MLFLOW_TRACKING_URI", &self.tracking.uri);
        set("MLFLOW_RUN_ID", &self.run_id);
        set("MLFLOW_EXPERIMENT_ID", &self.tracking.experiment_id);
        set("MLFLOW_EXPERIMENT_NAME", &self.tracking.experiment_name);
        // Steps act with the job's own token, never with the creator's.
        match &self.tracking.token {
            Some(t) => set("MLFLOW_TRACKING_TOKEN", t),
            None => env_remove.push("MLFLOW_TRACKING_TOKEN".into()),
        }
        for (k, v) in &step.env_vars {
            set(k, v);
        }
        Prepared {
            job: self.plan.job_name.clone(),
            step: step.name.clone(),
            command: command.to_owned(),
            work_dir: work_dir.to_path_buf(),
            step_dir: step_dir.to_path_buf(),
            env,
            env_remove,
            path_prepend,
            timeout: step.timeout,
            attempt,
            scale: step.scale,
        }
    }

    /// Runs one attempt on the step's executor (or follows it, launched by an earlier runner:
    /// `follow`, on the executor that launched it): `Running` recorded with the executor, its
    /// lines to the log and the observer, where it runs recorded on the step while it runs (the
    /// caller forgets it with the attempt's end).
    ///
    /// `preparing`: the step's reuse record and launch, not yet written, to write with
    /// `Preparing` and `Running` when it is launched (or alone if it is not).
    async fn execute(
        &self,
        prepared: &Prepared,
        log: &mut StepLog,
        follow: Option<&DetachedStep>,
        mut preparing: Option<Record<'_>>,
    ) -> Result<Exit, EngineError> {
        let (job, step) = (prepared.job.as_str(), prepared.step.as_str());
        let executor = match follow {
            Some(d) if d.executor != self.executor.kind() => crate::executor::by_kind(&d.executor)
                .ok_or_else(|| {
                    EngineError::Internal(format!("no executor `{}` to follow it", d.executor))
                })?,
            _ => Arc::clone(&self.executor),
        };
        let kind = executor.kind();
        // Running, on this executor (or followed): one commit, with its process when it is
        // launched (a chain's steps run one after another: each commit a step makes is on the
        // job's critical path).
        let at_launch = follow.is_none() && executor.runs_at_launch();
        if at_launch {
            // (As `status_with` would: nothing starts once the job is no longer this process's.)
            self.claim.check(&self.ws.store());
        } else {
            self.status_with(Status::Running, |s| {
                if follow.is_some() {
                    s.set_step_detached(job, step, false)
                } else {
                    s.set_step_executor(job, step, kind, None)
                }
            })?;
        }
        let attempt = prepared.attempt;
        let observer = Arc::clone(&self.observer);
        let mut on_line = |line: String| -> Result<(), EngineError> {
            log.write(&line)?;
            observer(Event::Log {
                step: step.to_owned(),
                line,
            });
            Ok(())
        };
        let ws = &self.ws;
        let mut on_launch = |at: &Launched| -> Result<(), EngineError> {
            match at {
                Launched::Process { pid, started } if at_launch => {
                    let record = preparing.take();
                    let statuses: &[Status] = if record.is_some() {
                        &[Status::Preparing, Status::Running]
                    } else {
                        &[Status::Running]
                    };
                    self.statuses_with(statuses, |s| {
                        if let Some(record) = record {
                            record(s)?;
                        }
                        s.set_step_executor(job, step, kind, None)?;
                        s.set_step_pid(job, step, Some((*pid, started)))
                    })?;
                }
                Launched::Process { pid, started } => {
                    ws.store().set_step_pid(job, step, Some((*pid, started)))?;
                }
                Launched::Batch { id } => {
                    ws.store()
                        .set_step_executor(job, step, kind, Some((id, attempt)))?;
                }
            }
            Ok(())
        };
        let io = StepIo {
            stop: self.stop.clone(),
            line: &mut on_line,
            launched: &mut on_launch,
        };
        let exit = match follow {
            Some(d) => {
                let at = Launched::Batch {
                    id: d.executor_id.clone(),
                };
                executor.attach(prepared, &at, io).await
            }
            None => executor.run(prepared, io).await,
        };
        // Never launched (its shell could not start, or the executor failed): what it was to
        // run, all the same (the executor's error, if any, is the one reported).
        let written = preparing.map_or(Ok(()), |record| self.ws.store().batch(record));
        let exit = exit?;
        written?;
        // (Its process is forgotten with its exit, by the caller.)
        Ok(exit)
    }
}

/// Stops the batch job of `job`'s detached step `d` (on the executor that launched it) that no
/// runner will follow. Once it is stopped the step is no longer detached (neither `job
/// resume` nor `job cancel` looks for it again); when it cannot be stopped it stays detached,
/// for `job cancel` to try again, and the failure is logged. True when it was stopped.
fn stop_detached(ws: &Workspace, job: &str, d: &DetachedStep) -> bool {
    let launched = Launched::Batch {
        id: d.executor_id.clone(),
    };
    let stopped = match crate::executor::by_kind(&d.executor) {
        Some(executor) => executor.stop_orphan(&launched),
        None => Err(EngineError::Internal(format!(
            "no executor `{}` here",
            d.executor
        ))),
    };
    if let Err(e) = stopped {
        tracing::warn!(job, step = %d.step, error = %e, "cannot stop the step's {} job {}; it stays detached: run `sluice job cancel -n {job}`", d.executor, d.executor_id);
        return false;
    }
    if let Err(e) = ws.store().set_step_detached(job, &d.step, false) {
        tracing::warn!(job, step = %d.step, error = %e, "cannot record the step as no longer detached");
    }
    true
}

/// The step's fresh working folder: a copy of its code snapshot (`snapshot`, when the reuse
/// check already listed it), an empty `./outputs`, and its output and log folders.
fn prepare_dirs(
    ws: &Workspace,
    step: &StepPlan,
    snapshot: Option<&sluice_artifacts::Snapshot>,
    work_dir: &Path,
    log_path: &Path,
) -> Result<(), EngineError> {
    if work_dir.exists() {
        std::fs::remove_dir_all(work_dir).map_err(|e| EngineError::io(work_dir, e))?;
    }
    match &step.code_dir {
        Some(code) if code.is_file() => {
            std::fs::create_dir_all(work_dir).map_err(|e| EngineError::io(work_dir, e))?;
            let name = code.file_name().unwrap_or_default();
            std::fs::copy(code, work_dir.join(name)).map_err(|e| EngineError::io(code, e))?;
        }
        Some(code) => match snapshot {
            Some(listed) => listed.copy_to(work_dir)?,
            None => ws.code_snapshot(code)?.copy_to(work_dir)?,
        },
        None => std::fs::create_dir_all(work_dir).map_err(|e| EngineError::io(work_dir, e))?,
    }
    // Azure ML gives every command an `./outputs` folder, kept as the run's artifacts.
    let outputs = work_dir.join("outputs");
    std::fs::create_dir_all(&outputs).map_err(|e| EngineError::io(&outputs, e))?;
    reset_outputs(step)?;
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    Ok(())
}

/// Whether any of the step's outputs is uploaded to a datastore when it ends.
fn publishes(step: &StepPlan) -> bool {
    step.outputs.values().any(|o| o.publish.is_some())
}

/// Empties the step's output folders (before each attempt).
fn reset_outputs(step: &StepPlan) -> Result<(), EngineError> {
    let mut seen = HashSet::new();
    for (name, out) in &step.outputs {
        if out.file.is_some() {
            // A file at a given path: only it goes, its folder may hold others.
            let file = out.value_path(name);
            if file.is_dir() {
                std::fs::remove_dir_all(&file).map_err(|e| EngineError::io(&file, e))?;
            } else if file.exists() {
                std::fs::remove_file(&file).map_err(|e| EngineError::io(&file, e))?;
            }
            std::fs::create_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
            continue;
        }
        if !seen.insert(out.dir.clone()) {
            continue;
        }
        if out.dir.exists() {
            std::fs::remove_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
        }
        std::fs::create_dir_all(&out.dir).map_err(|e| EngineError::io(&out.dir, e))?;
    }
    Ok(())
}
