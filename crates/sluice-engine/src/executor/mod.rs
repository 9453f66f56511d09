//! Executors: where a prepared step's command runs.
//!
//! The scheduler ([`crate::scheduler`]) decides when a step may start; the step lifecycle
//! (`run.rs`) decides whether it runs at all (reuse), builds its environment and folders, and
//! records everything in the store. An executor only does what depends on *where* the command
//! runs: launch it, follow it to its end (its log lines as they come), stop it, and stop what
//! an earlier runner left behind. `local` runs processes on this machine; `slurm` submits batch
//! jobs to a Slurm cluster.

pub(crate) mod local;
pub(crate) mod slurm;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use crate::plan::Plan;
use crate::status::Status;
use crate::{EngineError, Workspace};

/// A boxed future, so that executors can sit behind `dyn Executor`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A step made ready by the lifecycle: its command and everything around it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub job: String,
    pub step: String,
    /// A shell command (run with `bash -c`).
    pub command: String,
    /// The fresh copy of the step's code, where the command starts.
    pub work_dir: PathBuf,
    /// The step's own folder: its logs, and what an executor writes (a batch script).
    pub step_dir: PathBuf,
    /// Variables to set, in order.
    pub env: Vec<(String, String)>,
    /// Variables the command must not inherit (the job creator's credentials).
    pub env_remove: Vec<String>,
    /// Folders put first on `PATH`, in order.
    pub path_prepend: Vec<PathBuf>,
    /// Seconds the command may run (`limits.timeout`).
    pub timeout: Option<u64>,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// Nodes and processes per node (a Slurm executor honours them; the local one runs one).
    pub scale: sluice_spec::Scale,
}

/// Where a launched step can be found again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launched {
    /// A process group on this machine: its leader and the kernel's start time of it.
    Process { pid: u32, started: String },
    /// A batch job (a Slurm job id).
    Batch { id: String },
}

/// What a running step reports to the lifecycle.
pub struct StepIo<'a> {
    /// Turns true when the job is stopping: the step must end (as [`ExitKind::Stopped`]).
    pub stop: watch::Receiver<bool>,
    /// Each line the command prints, in order.
    pub line: &'a mut (dyn FnMut(String) -> Result<(), EngineError> + Send),
    /// Called once the command is launched, with where it is.
    pub launched: &'a mut (dyn FnMut(&Launched) -> Result<(), EngineError> + Send),
}

/// Runs prepared steps somewhere.
pub trait Executor: Send + Sync {
    /// `local`, `slurm`: recorded on each step it runs.
    fn kind(&self) -> &'static str;

    /// Launches the step and follows it to its end.
    fn run<'a>(
        &'a self,
        step: &'a Prepared,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>>;

    /// Whether [`Executor::run`] launches at once, the step then running (a local process):
    /// `Running` is then recorded with where it runs, in one commit, when it is launched.
    /// Otherwise (a batch job, which may wait in its scheduler's queue) `Running` is recorded
    /// before the step is handed over, and where it runs when it is known.
    fn runs_at_launch(&self) -> bool {
        false
    }

    /// Stops a step that an earlier runner launched and could not see to its end (the runner
    /// was killed). False when it had already ended.
    fn stop_orphan(&self, launched: &Launched) -> Result<bool, EngineError>;

    /// Whether a batch job launched by a runner that is gone still runs or waits to, holding
    /// one of its compute's places (see [`crate::run`]'s place taking). False for what an
    /// executor cannot find again; true when it cannot tell (its scheduler unreachable).
    fn occupies(&self, launched: &Launched) -> bool {
        let _ = launched;
        false
    }

    /// Whether a step that an earlier runner launched and could not see to its end can still
    /// be followed by another ([`Executor::attach`]): it runs on, or it ended by itself with
    /// success. False for what an executor cannot find again (a local process, whose exit
    /// code died with its parent).
    fn followable(&self, launched: &Launched) -> Result<bool, EngineError> {
        let _ = launched;
        Ok(false)
    }

    /// Follows a step launched by an earlier runner ([`Executor::followable`]) to its end, as
    /// [`Executor::run`] would have after launching it: its output from the start, then how it
    /// ended. `limits.timeout` counts from here.
    fn attach<'a>(
        &'a self,
        step: &'a Prepared,
        launched: &'a Launched,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        let _ = (step, io);
        let why = format!(
            "the {} executor cannot follow a step launched by an earlier runner ({launched:?})",
            self.kind()
        );
        Box::pin(async move {
            Ok(Exit {
                kind: ExitKind::Ended(why),
                code: None,
            })
        })
    }
}

/// How a command ended, as far as the executor can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited by itself, with `code`.
    Exited,
    /// A signal ended it (named).
    Signaled(String),
    /// `limits.timeout` ran out (seconds).
    TimedOut(u64),
    /// The job was stopping and stopped it.
    Stopped,
    /// It ended in a way only the executor can describe (Slurm refused it, a node failed, it
    /// was preempted or ran out of memory): the message says which.
    Ended(String),
}

/// How a command ended, and its exit code when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub kind: ExitKind,
    pub code: Option<i32>,
}

impl Exit {
    /// An exit by itself with `code`.
    #[must_use]
    pub fn code(code: i32) -> Self {
        Self {
            kind: ExitKind::Exited,
            code: Some(code),
        }
    }

    /// `None` for success; otherwise the step's status and why.
    pub(crate) fn failure(&self, log_path: &Path) -> Option<(Status, String)> {
        match &self.kind {
            ExitKind::Exited if self.code == Some(0) => None,
            ExitKind::Exited => Some((
                Status::Failed,
                format!(
                    "the command exited with code {}; see {}",
                    self.code.unwrap_or(-1),
                    log_path.display()
                ),
            )),
            ExitKind::Signaled(sig) => Some((
                Status::Failed,
                format!(
                    "the command was killed by signal {sig}; see {}",
                    log_path.display()
                ),
            )),
            ExitKind::TimedOut(secs) => Some((Status::Failed, format!("timed out after {secs} s"))),
            ExitKind::Stopped => Some((
                Status::Canceled,
                "stopped because the job is stopping".to_owned(),
            )),
            ExitKind::Ended(why) => Some((Status::Failed, why.clone())),
        }
    }
}

/// The executor of each compute a plan's steps use, and how many steps each may run at once.
#[derive(Clone)]
pub(crate) struct Executors {
    by_compute: HashMap<String, (Arc<dyn Executor>, Option<usize>)>,
}

impl Executors {
    /// Looks up every compute the plan names: a Slurm compute gets a Slurm executor, everything
    /// else (`local`, unregistered names, Azure cluster types) runs locally; a registered
    /// compute's `max_instances` bounds its running steps.
    pub(crate) fn for_plan(ws: &Workspace, plan: &Plan) -> Result<Self, EngineError> {
        let local: Arc<dyn Executor> = Arc::new(local::Local);
        let mut by_compute = HashMap::new();
        // Asked for once, by the first Slurm compute.
        let mut bin_dir: Option<Option<std::path::PathBuf>> = None;
        for step in &plan.steps {
            if by_compute.contains_key(&step.compute) {
                continue;
            }
            let entry = match ws.store().get_compute(&step.compute)? {
                Some(row) => {
                    let limit = usize::try_from(row.max_instances).unwrap_or(1).max(1);
                    match slurm::Slurm::from_compute(&row)? {
                        Some(s) => {
                            let dir = match &bin_dir {
                                Some(dir) => dir.clone(),
                                None => bin_dir.insert(slurm::shared_bin(ws)?).clone(),
                            };
                            (
                                Arc::new(s.with_bin_dir(dir)) as Arc<dyn Executor>,
                                Some(limit),
                            )
                        }
                        None => (Arc::clone(&local), Some(limit)),
                    }
                }
                None => (Arc::clone(&local), None),
            };
            by_compute.insert(step.compute.clone(), entry);
        }
        Ok(Self { by_compute })
    }

    /// One executor for every compute (tests), with the given limits.
    #[cfg(test)]
    pub(crate) fn only(
        executor: &Arc<dyn Executor>,
        plan: &Plan,
        limits: &HashMap<String, usize>,
    ) -> Self {
        let by_compute = plan
            .steps
            .iter()
            .map(|s| {
                (
                    s.compute.clone(),
                    (Arc::clone(executor), limits.get(&s.compute).copied()),
                )
            })
            .collect();
        Self { by_compute }
    }

    /// The executor of a compute (the local one for a compute the plan did not name).
    pub(crate) fn get(&self, compute: &str) -> Arc<dyn Executor> {
        self.by_compute.get(compute).map_or_else(
            || Arc::new(local::Local) as Arc<dyn Executor>,
            |e| Arc::clone(&e.0),
        )
    }

    /// A compute's limit on running steps, if it has one.
    pub(crate) fn limit(&self, compute: &str) -> Option<usize> {
        self.by_compute.get(compute).and_then(|e| e.1)
    }

    /// Each compute's limit on running steps.
    pub(crate) fn limits(&self) -> HashMap<String, usize> {
        self.by_compute
            .iter()
            .filter_map(|(k, (_, limit))| limit.map(|l| (k.clone(), l)))
            .collect()
    }
}

/// The executor that launched `kind` steps, to stop their orphans (`None` for an unknown kind).
pub(crate) fn by_kind(kind: &str) -> Option<Arc<dyn Executor>> {
    match kind {
        "local" => Some(Arc::new(local::Local)),
        "slurm" => Some(Arc::new(slurm::Slurm::default())),
        _ => None,
    }
}
