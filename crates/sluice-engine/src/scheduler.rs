//! The scheduler: which steps may start now, and what the job's end looks like. Bookkeeping
//! over the plan's graph only (no store, no processes), so its rules are tested on their own:
//! a step starts when the steps it reads from completed, within the job's `max_parallel`, its
//! compute's `max_instances` and its group's limit (a sweep's `max_concurrent_trials`); a failed step stops the job unless
//! `continue_on_step_failure`; a cancel stops everything; what never ran is canceled, saying
//! why.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::plan::Plan;
use crate::status::Status;

pub(crate) struct Scheduler {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    compute: Vec<String>,
    status: Vec<Status>,
    limits: HashMap<String, usize>,
    running_on: HashMap<String, usize>,
    /// Each step's group and the group's limit (a sweep's trials).
    group: Vec<Option<(String, usize)>>,
    running_in: HashMap<String, usize>,
    /// Steps whose failure the job tolerates (a sweep's trials).
    may_fail: Vec<bool>,
    /// A step that must have started before this one may (a bayesian sweep's trials start in
    /// order, so that each learns from exactly the trials before it: see
    /// [`sluice_spec::Bayesian::window`]).
    after_start: Vec<Option<usize>>,
    running: usize,
    max_parallel: usize,
    /// Each step's steps that read from it.
    dependants: Vec<Vec<usize>>,
    /// How many of each step's dependencies are not done yet.
    waiting_on: Vec<usize>,
    /// The steps not started whose dependencies are all done, in file order: a pass looks at
    /// these only (a chain of 10,000 steps looks at one step a pass, not at every step after
    /// the last started). Ready steps a compute's or group's limit holds back are looked at
    /// again each pass, until the job's own limit is reached.
    ready: BTreeSet<usize>,
    continue_on_failure: bool,
    stopping: bool,
    canceled: bool,
    failed: Vec<String>,
}

impl Scheduler {
    /// A scheduler for `plan`, with the steps in `completed` already done (a resumed job) and
    /// `limits` on the running steps of each compute.
    pub(crate) fn new(
        plan: &Plan,
        completed: &HashSet<String>,
        limits: HashMap<String, usize>,
    ) -> Self {
        let index: HashMap<&str, usize> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        Self {
            names: plan.steps.iter().map(|s| s.name.clone()).collect(),
            deps: plan
                .steps
                .iter()
                .map(|s| {
                    s.deps
                        .iter()
                        .filter_map(|d| index.get(d.as_str()).copied())
                        .collect()
                })
                .collect(),
            compute: plan.steps.iter().map(|s| s.compute.clone()).collect(),
            status: plan
                .steps
                .iter()
                .map(|s| {
                    if completed.contains(&s.name) {
                        Status::Completed
                    } else {
                        Status::NotStarted
                    }
                })
                .collect(),
            limits,
            running_on: HashMap::new(),
            group: plan.steps.iter().map(|s| s.concurrency.clone()).collect(),
            running_in: HashMap::new(),
            may_fail: plan.steps.iter().map(|s| s.may_fail).collect(),
            after_start: {
                let mut last: HashMap<&str, usize> = HashMap::new();
                plan.steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let w = s.watch.as_ref().filter(|w| w.bayesian.is_some())?;
                        last.insert(w.sweep.as_str(), i)
                    })
                    .collect()
            },
            running: 0,
            max_parallel: plan.max_parallel.max(1),
            dependants: Vec::new(),
            waiting_on: Vec::new(),
            ready: BTreeSet::new(),
            continue_on_failure: plan.continue_on_step_failure,
            stopping: false,
            canceled: false,
            failed: Vec::new(),
        }
        .counted()
    }

    /// The dependants, the counts of dependencies not done, and the steps ready from the start.
    fn counted(mut self) -> Self {
        let n = self.names.len();
        self.dependants = vec![Vec::new(); n];
        self.waiting_on = vec![0; n];
        for i in 0..n {
            for &d in &self.deps[i] {
                self.dependants[d].push(i);
                if !self.done(d) {
                    self.waiting_on[i] += 1;
                }
            }
        }
        self.ready = (0..n)
            .filter(|&i| self.status[i] == Status::NotStarted && self.waiting_on[i] == 0)
            .collect();
        self
    }

    /// After `step`'s status changed: when it now holds nothing back, its dependants have one
    /// dependency fewer to wait for (those left with none are ready).
    fn settle(&mut self, step: usize) {
        if !self.done(step) {
            return;
        }
        for k in 0..self.dependants[step].len() {
            let d = self.dependants[step][k];
            self.waiting_on[d] = self.waiting_on[d].saturating_sub(1);
            if self.waiting_on[d] == 0 && self.status[d] == Status::NotStarted {
                self.ready.insert(d);
            }
        }
    }

    pub(crate) fn name(&self, step: usize) -> &str {
        &self.names[step]
    }

    /// The steps that may start now, each marked `Queued` and counted as running.
    pub(crate) fn ready(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        if self.stopping {
            return out;
        }
        let mut from = 0;
        while self.running < self.max_parallel {
            let Some(&i) = self.ready.range(from..).next() else {
                break;
            };
            from = i + 1;
            if self.status[i] != Status::NotStarted {
                self.ready.remove(&i);
                continue;
            }
            if self.after_start[i].is_some_and(|p| self.status[p] == Status::NotStarted) {
                continue;
            }
            let on = self.running_on.get(&self.compute[i]).copied().unwrap_or(0);
            if self.limits.get(&self.compute[i]).is_some_and(|l| on >= *l) {
                continue;
            }
            if let Some((group, limit)) = &self.group[i]
                && self.running_in.get(group).copied().unwrap_or(0) >= *limit
            {
                continue;
            }
            self.status[i] = Status::Queued;
            self.ready.remove(&i);
            self.count_in(i);
            out.push(i);
        }
        out
    }

    /// Starts `step` now, whatever the limits (a resumed job's step whose batch job ran on
    /// without a runner: it holds its place already). False when it is not waiting to start.
    pub(crate) fn start_now(&mut self, step: usize) -> bool {
        if self.stopping || self.status[step] != Status::NotStarted {
            return false;
        }
        self.status[step] = Status::Queued;
        self.ready.remove(&step);
        self.count_in(step);
        true
    }

    /// Counts `step` as running: in the job, on its compute, in its group.
    fn count_in(&mut self, step: usize) {
        self.running += 1;
        *self
            .running_on
            .entry(self.compute[step].clone())
            .or_default() += 1;
        if let Some((group, _)) = &self.group[step] {
            *self.running_in.entry(group.clone()).or_default() += 1;
        }
    }

    /// Records how a started step ended. True when the job must now stop its running steps
    /// (the first failure of a job that does not continue after one).
    pub(crate) fn finished(&mut self, step: usize, status: Status) -> bool {
        if matches!(self.status[step], Status::Queued) {
            self.running -= 1;
            if let Some(n) = self.running_on.get_mut(&self.compute[step]) {
                *n = n.saturating_sub(1);
            }
            if let Some((group, _)) = &self.group[step]
                && let Some(n) = self.running_in.get_mut(group)
            {
                *n = n.saturating_sub(1);
            }
        }
        self.status[step] = status;
        self.settle(step);
        if status == Status::Failed && !self.may_fail[step] {
            self.failed.push(self.names[step].clone());
            if !self.continue_on_failure && !self.stopping {
                self.stopping = true;
                return true;
            }
        }
        false
    }

    /// Whether `step` no longer holds its dependants back: it completed, or failed (or was
    /// stopped early by its sweep's policy) where the job tolerates it.
    fn done(&self, step: usize) -> bool {
        self.status[step] == Status::Completed
            || (matches!(self.status[step], Status::Failed | Status::Canceled)
                && self.may_fail[step])
    }

    /// `step`, not started, never will (its sweep ran out of time): `Canceled`, and done for
    /// what waits on it when it may fail. False when it had started already.
    pub(crate) fn skip(&mut self, step: usize) -> bool {
        if self.status[step] != Status::NotStarted {
            return false;
        }
        self.status[step] = Status::Canceled;
        self.ready.remove(&step);
        self.settle(step);
        true
    }

    /// The user canceled the job: nothing more starts.
    pub(crate) fn cancel(&mut self) {
        self.canceled = true;
        self.stopping = true;
    }

    pub(crate) fn is_canceled(&self) -> bool {
        self.canceled
    }

    /// Steps still running.
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// The steps that never ran, each marked `Canceled`, with why: dependants of a failed step,
    /// or everything left after a stop.
    pub(crate) fn leftovers(&mut self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for i in 0..self.names.len() {
            if !matches!(self.status[i], Status::NotStarted | Status::Queued) {
                continue;
            }
            let reason = if self.canceled {
                "the job was canceled".to_owned()
            } else {
                let blocked: Vec<&str> = self.deps[i]
                    .iter()
                    .filter(|d| !self.done(**d))
                    .map(|d| self.names[*d].as_str())
                    .collect();
                if blocked.is_empty() {
                    "the job stopped after a step failed".to_owned()
                } else {
                    format!(
                        "skipped: depends on `{}`, which did not complete",
                        blocked.join("`, `")
                    )
                }
            };
            self.status[i] = Status::Canceled;
            out.push((i, reason));
        }
        out
    }

    /// The job's final status and error once nothing runs.
    pub(crate) fn outcome(&self) -> (Status, Option<String>, Vec<String>) {
        if self.canceled {
            return (
                Status::Canceled,
                Some("canceled by the user".to_owned()),
                self.failed.clone(),
            );
        }
        if self.failed.is_empty() {
            (Status::Completed, None, Vec::new())
        } else {
            (
                Status::Failed,
                Some(format!("step `{}` failed", self.failed.join("`, `"))),
                self.failed.clone(),
            )
        }
    }
}
