//! The Slurm executor: each attempt of a step is a batch job. Sluice writes the job's script
//! (the step's variables, `PATH` with its Python environment, the command, its exit code kept
//! in a file), submits it with `sbatch`, follows it with `scontrol` (then `sacct`, then the
//! exit-code file, since finished jobs leave the controller after `MinJobAge`), streams the
//! job's output file into the step's log as it grows, and cancels it with `scancel`.
//!
//! The workspace folder (code copies, environments, outputs, this binary) must be on a path
//! every node sees under the same name: the step runs there, not on a copy.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use sluice_spec::{DistributionKind, SlurmSettings};
use tokio::process::Command;

use super::{BoxFuture, Executor, Exit, ExitKind, Launched, Prepared, StepIo};
use crate::EngineError;

/// How often a running job is looked at (the first polls come sooner).
const POLL: Duration = Duration::from_millis(500);
/// How long what Slurm said of a runner-less batch job (running or not) is taken as still so
/// by steps waiting for a place on its compute.
const OCCUPIES_TTL: Duration = Duration::from_secs(2);
/// How often the step's exit-code file is looked for (a `stat` of a local or shared file).
const TICK: Duration = Duration::from_millis(25);
/// How long Slurm may say it knows no such job (the controller: "Invalid job id"; accounting:
/// no record or none kept) while no exit-code file appears before the job counts as ended
/// without saying how: a job followed again long after it ended (killed before its script
/// could write the file). A controller that cannot be reached does not count.
const FORGOTTEN: Duration = Duration::from_mins(5);

/// Submits steps to Slurm with a compute's settings.
#[derive(Debug, Default, Clone)]
pub(crate) struct Slurm {
    settings: SlurmSettings,
    /// The folder on the workspace's shared path holding a copy of this binary, put on batch
    /// steps' `PATH` (`None`: the folder this binary runs from, which must then be shared).
    bin_dir: Option<PathBuf>,
}

impl Slurm {
    /// The Slurm executor of a compute, or `None` when its steps run locally.
    pub(crate) fn from_compute(
        row: &sluice_store::ComputeRow,
    ) -> Result<Option<Self>, EngineError> {
        let is_slurm = row.ty == "slurm"
            || row
                .settings
                .as_ref()
                .is_some_and(|s| s.get("executor").and_then(|e| e.as_str()) == Some("slurm"));
        if !is_slurm {
            return Ok(None);
        }
        let settings = match &row.settings {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                EngineError::Internal(format!(
                    "compute `{}` has unreadable Slurm settings: {e}",
                    row.name
                ))
            })?,
            None => SlurmSettings::default(),
        };
        Ok(Some(Self {
            settings,
            bin_dir: None,
        }))
    }

    /// This executor, its steps finding this binary in `bin_dir` (see [`shared_bin`]).
    pub(crate) fn with_bin_dir(self, bin_dir: Option<PathBuf>) -> Self {
        Self { bin_dir, ..self }
    }
}

/// A copy of this binary on the workspace's shared path (`bin/HASH/sluice`), made once per
/// binary, for batch steps on nodes that do not see the folder it runs from: the folder holding
/// it, or `None` when the workspace has no shared path of its own.
pub(crate) fn shared_bin(ws: &crate::Workspace) -> Result<Option<PathBuf>, EngineError> {
    if ws.shared_root() == ws.root() {
        return Ok(None);
    }
    let exe = std::env::current_exe()
        .map_err(|e| EngineError::Internal(format!("cannot find this binary's file: {e}")))?;
    let hash = ws.hash_path(&exe)?;
    let digest = hash.hash.trim_start_matches("blake3:");
    let dir = ws
        .shared_root()
        .join("bin")
        .join(digest.get(..16).unwrap_or(digest));
    sluice_artifacts::copy_once(&exe, &dir.join("sluice"), Some(&hash.hash)).map_err(|e| {
        EngineError::Internal(format!(
            "cannot copy this binary to the workspace's shared path: {e}"
        ))
    })?;
    Ok(Some(dir))
}

impl Executor for Slurm {
    fn kind(&self) -> &'static str {
        "slurm"
    }

    fn run<'a>(
        &'a self,
        step: &'a Prepared,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        Box::pin(self.run_step(step, io))
    }

    fn stop_orphan(&self, launched: &Launched) -> Result<bool, EngineError> {
        let Launched::Batch { id } = launched else {
            return Ok(false);
        };
        let out = std::process::Command::new("scancel")
            .arg(id)
            .output()
            .map_err(|e| EngineError::Internal(format!("cannot run `scancel {id}`: {e}")))?;
        if out.status.success() {
            return Ok(true);
        }
        let why = String::from_utf8_lossy(&out.stderr);
        if why.contains("already completing or completed") || why.contains("Invalid job id") {
            return Ok(false);
        }
        Err(EngineError::Internal(format!(
            "`scancel {id}` failed: {}",
            why.trim()
        )))
    }

    fn occupies(&self, launched: &Launched) -> bool {
        // Steps waiting for a place ask every 200 ms: Slurm is asked about a job at most once
        // in `OCCUPIES_TTL`.
        static SEEN: std::sync::Mutex<
            Option<std::collections::HashMap<String, (std::time::Instant, bool)>>,
        > = std::sync::Mutex::new(None);
        let Launched::Batch { id } = launched else {
            return false;
        };
        let seen = || {
            SEEN.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let now = std::time::Instant::now();
        {
            let mut seen = seen();
            let seen = seen.get_or_insert_with(Default::default);
            seen.retain(|_, (at, _)| now.duration_since(*at) < OCCUPIES_TTL);
            if let Some((_, runs)) = seen.get(id) {
                return *runs;
            }
        }
        // Asked without the lock: other steps' answers do not wait for this one.
        let controller = std::process::Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output();
        let runs = match controller_says(controller) {
            Asked::State(state) => !state.is_final(),
            // Gone from the controller: it ended (`MinJobAge` after).
            Asked::Accounting => false,
            // Cannot tell: it may run, and over-counting only makes steps wait.
            Asked::Unreachable(_) => true,
        };
        seen()
            .get_or_insert_with(Default::default)
            .insert(id.clone(), (now, runs));
        runs
    }

    fn followable(&self, launched: &Launched) -> Result<bool, EngineError> {
        let Launched::Batch { id } = launched else {
            return Ok(false);
        };
        let controller = std::process::Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output();
        let state = match controller_says(controller) {
            Asked::State(state) => Some(state),
            Asked::Unreachable(why) => {
                return Err(EngineError::Internal(format!(
                    "cannot ask Slurm about job {id}: {why}"
                )));
            }
            // Gone from the controller: accounting may know how it ended.
            Asked::Accounting => accounting_says(
                std::process::Command::new("sacct")
                    .args(SACCT_ARGS)
                    .arg(id)
                    .output(),
            ),
        };
        // A job Slurm no longer knows cannot be told from one that never ran: run it again.
        Ok(state.is_some_and(|s| !s.is_final() || s.state == "COMPLETED"))
    }

    fn attach<'a>(
        &'a self,
        step: &'a Prepared,
        launched: &'a Launched,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        Box::pin(async move {
            let Launched::Batch { id } = launched else {
                return Err(EngineError::Internal(format!(
                    "a Slurm step cannot be followed from {launched:?}"
                )));
            };
            let files = Files::new(step);
            (io.launched)(launched)?;
            (io.line)(format!(
                "following Slurm job {id} again (the sluice process that submitted it stopped); its output from the start ({}):",
                files.output.display()
            ))?;
            self.follow(step, &files, id, io).await
        })
    }
}

/// The files of one attempt, in the step's `slurm` folder.
struct Files {
    script: PathBuf,
    command: PathBuf,
    output: PathBuf,
    exit: PathBuf,
}

impl Files {
    fn new(step: &Prepared) -> Self {
        let dir = step.step_dir.join("slurm");
        let n = step.attempt;
        Self {
            script: dir.join(format!("attempt-{n}.sbatch")),
            command: dir.join(format!("attempt-{n}.command.sh")),
            output: dir.join(format!("attempt-{n}.out")),
            exit: dir.join(format!("attempt-{n}.exit")),
        }
    }
}

/// `text` as one single-quoted shell word.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A Slurm job name from the job and step names (letters, digits, `-`, `_`, `.`).
fn job_name(step: &Prepared) -> String {
    format!("sluice.{}.{}", step.job, step.step)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Slurm {
    /// The batch script of an attempt.
    fn script(&self, step: &Prepared, files: &Files) -> String {
        let mut s = String::from("#!/bin/bash\n");
        let mut opt = |o: String| {
            let _ = writeln!(s, "#SBATCH {o}");
        };
        opt(format!("--job-name={}", job_name(step)));
        opt(format!("--output={}", files.output.display()));
        opt(format!("--chdir={}", step.work_dir.display()));
        // A node failure or preemption comes back to sluice, which retries per the step's
        // retry policy; Slurm must not requeue behind its back.
        opt("--no-requeue".to_owned());
        if step.scale.instance_count > 1 {
            opt(format!("--nodes={}", step.scale.instance_count));
        }
        if step.scale.is_distributed() {
            opt(format!(
                "--ntasks-per-node={}",
                step.scale.processes_per_node()
            ));
        }
        if let Some(p) = &self.settings.partition {
            opt(format!("--partition={p}"));
        }
        if let Some(a) = &self.settings.account {
            opt(format!("--account={a}"));
        }
        if let Some(q) = &self.settings.qos {
            opt(format!("--qos={q}"));
        }
        for o in &self.settings.sbatch_options {
            opt(o.clone());
        }
        s.push_str("# written by sluice: the step's variables, then its command\n");
        for k in &step.env_remove {
            let _ = writeln!(s, "unset {k}");
        }
        if let Some(path) = super::local::step_path(step, self.bin_dir.as_deref()) {
            let _ = writeln!(s, "export PATH={}", quote(&path.to_string_lossy()));
        }
        for (k, v) in &step.env {
            let _ = writeln!(s, "export {k}={}", quote(v));
        }
        let _ = writeln!(
            s,
            "export SLUICE_EXECUTOR=slurm\ncd {} || exit 1",
            quote(&step.work_dir.display().to_string()),
        );
        let run = format!(
            "{} {}",
            super::local::shell(),
            quote(&files.command.display().to_string())
        );
        match step.scale.distribution {
            Some(d) if step.scale.is_distributed() => {
                s.push_str(&launcher(d.kind, &run));
            }
            _ if step.scale.is_distributed() => {
                s.push_str(&launcher(DistributionKind::Pytorch, &run));
            }
            _ => {
                let _ = writeln!(s, "{run}");
            }
        }
        let _ = writeln!(
            s,
            "code=$?\necho \"$code\" > {}\nexit \"$code\"",
            quote(&files.exit.display().to_string()),
        );
        s
    }

    async fn run_step(&self, step: &Prepared, io: StepIo<'_>) -> Result<Exit, EngineError> {
        let files = Files::new(step);
        if let Some(dir) = files.script.parent() {
            std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        }
        for f in [&files.output, &files.exit] {
            let _ = std::fs::remove_file(f);
        }
        std::fs::write(&files.command, format!("{}\n", step.command))
            .map_err(|e| EngineError::io(&files.command, e))?;
        std::fs::write(&files.script, self.script(step, &files))
            .map_err(|e| EngineError::io(&files.script, e))?;
        let submitted = Command::new("sbatch")
            .arg("--parsable")
            .arg(&files.script)
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        let out = match submitted {
            Ok(out) => out,
            Err(e) => {
                let msg = format!(
                    "cannot run `sbatch` ({e}): is Slurm's client installed and on PATH here?"
                );
                (io.line)(msg.clone())?;
                return Ok(Exit {
                    kind: ExitKind::Ended(msg),
                    code: None,
                });
            }
        };
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let msg = format!(
                "Slurm refused the step (`sbatch {}`): {why}",
                files.script.display()
            );
            (io.line)(msg.clone())?;
            return Ok(Exit {
                kind: ExitKind::Ended(msg),
                code: None,
            });
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let id = stdout
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(EngineError::Internal(format!(
                "`sbatch --parsable` printed `{}`, not a job id",
                stdout.trim()
            )));
        }
        (io.launched)(&Launched::Batch { id: id.clone() })?;
        (io.line)(format!(
            "submitted to Slurm as job {id} (script {})",
            files.script.display()
        ))?;
        self.follow(step, &files, &id, io).await
    }

    /// Follows Slurm job `id` (an attempt of `step`, with its `files`) to its end: its output
    /// into the step's log as it grows, cancelled on a timeout or when the job stops.
    async fn follow(
        &self,
        step: &Prepared,
        files: &Files,
        id: &str,
        mut io: StepIo<'_>,
    ) -> Result<Exit, EngineError> {
        let deadline = step
            .timeout
            .map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
        let mut tail = Tail::new(files.output.clone());
        let mut stopped: Option<ExitKind> = None;
        let mut last_wait = String::new();
        let mut poll = Duration::from_millis(100);
        let mut exit_seen: Option<tokio::time::Instant> = None;
        let mut unknown_since: Option<tokio::time::Instant> = None;
        let state = loop {
            tail.lines(&mut *io.line)?;
            let (state, forgotten) = job_state(id).await;
            if !forgotten {
                unknown_since = None;
            }
            if let Some(state) = &state {
                if state.is_final() {
                    break Some(state.clone());
                }
                if state.state == "PENDING" && state.reason != last_wait {
                    last_wait.clone_from(&state.reason);
                    (io.line)(format!("waiting in Slurm's queue: {}", state.reason))?;
                    if let Some(why) = never_runs(&state.reason) {
                        scancel(id).await;
                        let msg = format!(
                            "Slurm cannot run job {id} as asked ({}): {why}",
                            state.reason
                        );
                        (io.line)(msg.clone())?;
                        return Ok(Exit {
                            kind: ExitKind::Ended(msg),
                            code: None,
                        });
                    }
                }
            } else if files.exit.exists()
                || stopped.is_some()
                || (forgotten
                    && unknown_since
                        .get_or_insert_with(tokio::time::Instant::now)
                        .elapsed()
                        >= FORGOTTEN)
            {
                // Gone from the controller, and sacct is not there to ask (or, for five
                // minutes, Slurm says it knows no such job: see FORGOTTEN). A controller that
                // cannot be reached is asked again, however long.
                break None;
            }
            if stopped.is_none()
                && let Some(code) = exit_code(&files.exit)
            {
                // The script wrote its command's exit code as its last act: the job is ending
                // (Slurm still says RUNNING or COMPLETING for a moment). Success is the answer
                // at once; a failure waits up to a second for Slurm to say more (out of memory).
                let seen = *exit_seen.get_or_insert_with(tokio::time::Instant::now);
                if code == 0 || seen.elapsed() >= Duration::from_secs(1) {
                    break None;
                }
            }
            if stopped.is_none() {
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    stopped = Some(ExitKind::TimedOut(step.timeout.unwrap_or_default()));
                    scancel(id).await;
                } else if *io.stop.borrow() {
                    stopped = Some(ExitKind::Stopped);
                    scancel(id).await;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                _ = io.stop.changed(), if stopped.is_none() => {}
                // The end is seen within a tick of the exit-code file appearing, not a poll.
                () = appears(&files.exit), if stopped.is_none() && exit_seen.is_none() => {}
            }
            poll = (poll * 2).min(POLL);
        };
        // The output file may lag the job's end by a moment on a shared filesystem.
        tail.lines(&mut *io.line)?;
        let code = exit_code(&files.exit);
        if let Some(kind) = stopped {
            return Ok(Exit { kind, code });
        }
        let Some(state) = state else {
            return Ok(match code {
                Some(c) => Exit::code(c),
                None => Exit {
                    kind: ExitKind::Ended(format!(
                        "Slurm job {id} ended without saying how (no exit code was written)"
                    )),
                    code: None,
                },
            });
        };
        Ok(state.exit(id, code))
    }
}

/// The exit code the batch script wrote, once it has.
fn exit_code(file: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
}

/// Returns once `file` holds an exit code, looking every [`TICK`].
async fn appears(file: &std::path::Path) {
    while exit_code(file).is_none() {
        tokio::time::sleep(TICK).await;
    }
}

/// The lines that start a distributed step: one task per process through `srun` (output
/// lines labelled with the task's rank), each with the variables Azure ML's launcher for `kind`
/// sets: `MASTER_ADDR`/`MASTER_PORT` (the first node, a port from the job id), `WORLD_SIZE`,
/// `RANK`, `LOCAL_RANK`, `NODE_RANK`, `AZUREML_NODE_COUNT`; for MPI the `OMPI_COMM_WORLD_*`
/// names and `AZ_BATCH_MASTER_NODE`; for TensorFlow `TF_CONFIG`.
fn launcher(kind: DistributionKind, run: &str) -> String {
    let mut s = String::from(
        "export AZUREML_NODE_COUNT=\"$SLURM_JOB_NUM_NODES\"\n\
         export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"\n\
         export MASTER_PORT=\"$(( 20000 + SLURM_JOB_ID % 20000 ))\"\n\
         export WORLD_SIZE=\"$SLURM_NTASKS\"\n",
    );
    let mut task = String::from(
        "export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID NODE_RANK=$SLURM_NODEID LOCAL_WORLD_SIZE=$SLURM_NTASKS_PER_NODE; ",
    );
    match kind {
        DistributionKind::Pytorch => {}
        DistributionKind::Mpi => {
            s.push_str(
                "export AZ_BATCH_MASTER_NODE=\"$MASTER_ADDR:$MASTER_PORT\" AZ_BATCHAI_MPI_MASTER_NODE=\"$MASTER_ADDR\"\n",
            );
            task.push_str(
                "export OMPI_COMM_WORLD_RANK=$SLURM_PROCID OMPI_COMM_WORLD_SIZE=$SLURM_NTASKS OMPI_COMM_WORLD_LOCAL_RANK=$SLURM_LOCALID OMPI_COMM_WORLD_LOCAL_SIZE=$SLURM_NTASKS_PER_NODE; ",
            );
        }
        DistributionKind::Tensorflow => {
            s.push_str(
                "workers=\"\"\nfor h in $(scontrol show hostnames \"$SLURM_JOB_NODELIST\"); do\n\
                 \x20 for i in $(seq 0 $(( SLURM_NTASKS_PER_NODE - 1 ))); do workers=\"$workers${workers:+,}\\\"$h:$(( MASTER_PORT + i ))\\\"\"; done\n\
                 done\nexport SLUICE_TF_WORKERS=\"$workers\"\n",
            );
            task.push_str(
                "export TF_CONFIG=\"{\\\"cluster\\\":{\\\"worker\\\":[$SLUICE_TF_WORKERS]},\\\"task\\\":{\\\"type\\\":\\\"worker\\\",\\\"index\\\":$SLURM_PROCID}}\"; ",
            );
        }
    }
    let _ = writeln!(
        s,
        "srun --label --kill-on-bad-exit=1 {} -c {}",
        super::local::shell(),
        quote(&format!("{task}exec {run}"))
    );
    s
}

/// For a pending job's reason that waiting cannot cure (the request exceeds what the partition,
/// account or quality of service allows), what to change; `None` for reasons that pass (resources, priority).
fn never_runs(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "PartitionNodeLimit" => {
            "the step asks for more nodes than the partition has or allows; lower `resources.instance_count` or use another partition"
        }
        "PartitionTimeLimit" => {
            "the time asked for exceeds the partition's limit; change `--time` in the compute's sbatch_options"
        }
        "BadConstraints" => {
            "no node can satisfy the request; check the compute's sbatch_options (`--mem`, `--gres`, `--constraint`) and `distribution.process_count_per_instance`"
        }
        "InvalidAccount" | "AccountNotAllowed" => {
            "the compute's Slurm account is not valid here; fix `account` in its `sluice.slurm` settings"
        }
        "InvalidQOS" | "QOSNotAllowed" => {
            "the compute's Slurm QoS is not valid here; fix `qos` in its `sluice.slurm` settings"
        }
        _ => return None,
    })
}

/// `scancel`, its failure only logged (the job may have just ended).
async fn scancel(id: &str) {
    match Command::new("scancel").arg(id).output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => tracing::warn!(
            job = id,
            stderr = %String::from_utf8_lossy(&out.stderr).trim(),
            "scancel failed"
        ),
        Err(e) => tracing::warn!(job = id, error = %e, "cannot run scancel"),
    }
}

/// A job's state as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobState {
    state: String,
    /// `EXIT:SIGNAL` (`3:0`, `0:15`).
    exit_code: String,
    reason: String,
}

impl JobState {
    fn is_final(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "CONFIGURING"
                | "COMPLETING"
                | "SUSPENDED"
                | "REQUEUED"
                | "REQUEUE_HOLD"
                | "REQUEUE_FED"
                | "RESIZING"
                | "SIGNALING"
                | "STAGE_OUT"
                | "STOPPED"
                | "RESV_DEL_HOLD"
        )
    }

    /// How the step ended (`code`: what the script wrote, when it got that far).
    fn exit(&self, id: &str, code: Option<i32>) -> Exit {
        let (exit, signal) = self.exit_code.split_once(':').map_or((None, 0), |(e, s)| {
            (e.parse::<i32>().ok(), s.parse::<i32>().unwrap_or(0))
        });
        let code = code.or(exit);
        let ended = |why: String| Exit {
            kind: ExitKind::Ended(why),
            code,
        };
        match self.state.as_str() {
            "COMPLETED" | "FAILED" if signal == 0 => Exit {
                kind: ExitKind::Exited,
                code,
            },
            "COMPLETED" | "FAILED" => {
                let name = nix::sys::signal::Signal::try_from(signal)
                    .map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned());
                Exit {
                    kind: ExitKind::Signaled(name),
                    code: None,
                }
            }
            "NODE_FAIL" => ended(format!(
                "Slurm job {id} ended with NODE_FAIL: the node running it failed"
            )),
            "PREEMPTED" => ended(format!(
                "Slurm job {id} was PREEMPTED by a job of higher priority"
            )),
            "BOOT_FAIL" => ended(format!(
                "Slurm job {id} ended with BOOT_FAIL: its node did not boot"
            )),
            "OUT_OF_MEMORY" => ended(format!(
                "Slurm job {id} ran OUT_OF_MEMORY; ask for more with `--mem` in the compute's sbatch_options"
            )),
            "TIMEOUT" => ended(format!("Slurm job {id} reached its time limit (TIMEOUT)")),
            "DEADLINE" => ended(format!("Slurm job {id} missed its deadline (DEADLINE)")),
            "CANCELLED" => ended(format!(
                "Slurm job {id} was cancelled outside sluice (scancel, or an administrator)"
            )),
            other => ended(format!("Slurm job {id} ended as {other}")),
        }
    }
}

/// What the controller (`scontrol`), else accounting (`sacct`), says of a job: its state, or
/// `None` with whether Slurm said it does not know the job (`true`: the controller answered
/// "Invalid job id" and accounting has no record or is not there) rather than could not be
/// asked (`false`: the controller is down or unreachable).
async fn job_state(id: &str) -> (Option<JobState>, bool) {
    let controller = Command::new("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .await;
    match controller_says(controller) {
        Asked::State(state) => (Some(state), false),
        Asked::Unreachable(_) => (None, false),
        Asked::Accounting => {
            let accounted = Command::new("sacct")
                .args(SACCT_ARGS)
                .arg(id)
                .output()
                .await;
            match accounting_says(accounted) {
                Some(state) => (Some(state), false),
                None => (None, true),
            }
        }
    }
}

/// `sacct`'s arguments before the job id: one line `STATE|EXIT:SIG|REASON`.
const SACCT_ARGS: [&str; 6] = ["-n", "-P", "-X", "-o", "State,ExitCode,Reason", "-j"];

/// What `scontrol show job -o ID` (run or not) says of a job: shared by the runner's follow
/// and recovery's check, which run it asynchronously and not.
enum Asked {
    State(JobState),
    /// The controller does not know it ("Invalid job id", or no state in its answer): ask
    /// accounting.
    Accounting,
    /// The controller could not be asked (down, unreachable, `scontrol` missing): why.
    Unreachable(String),
}

fn controller_says(out: std::io::Result<std::process::Output>) -> Asked {
    match out {
        Ok(out) if out.status.success() => parse_scontrol(&String::from_utf8_lossy(&out.stdout))
            .map_or(Asked::Accounting, Asked::State),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            if why.contains("Invalid job id") {
                Asked::Accounting
            } else {
                Asked::Unreachable(why.trim().to_owned())
            }
        }
        Err(e) => Asked::Unreachable(format!("cannot run `scontrol`: {e}")),
    }
}

/// What `sacct` (run or not) says of a job; `None` when it has no record or is not there.
fn accounting_says(out: std::io::Result<std::process::Output>) -> Option<JobState> {
    out.ok()
        .filter(|out| out.status.success())
        .and_then(|out| parse_sacct(&String::from_utf8_lossy(&out.stdout)))
}

/// `scontrol show job -o ID`: one line of `Key=Value` words.
fn parse_scontrol(text: &str) -> Option<JobState> {
    let line = text.lines().next()?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Some(JobState {
        state: field("JobState")?,
        exit_code: field("ExitCode").unwrap_or_default(),
        reason: field("Reason").unwrap_or_default(),
    })
}

/// `sacct -n -P -X -o State,ExitCode,Reason`: `STATE|EXIT:SIG|REASON` (a state may read
/// `CANCELLED by 0`).
fn parse_sacct(text: &str) -> Option<JobState> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let mut parts = line.split('|');
    let state = parts.next()?.split_whitespace().next()?.to_owned();
    Some(JobState {
        state,
        exit_code: parts.next().unwrap_or_default().to_owned(),
        reason: parts.next().unwrap_or_default().to_owned(),
    })
}

/// Follows a growing file, a whole line at a time.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Passes each new complete line to `line`.
    fn lines(
        &mut self,
        line: &mut (dyn FnMut(String) -> Result<(), EngineError> + Send),
    ) -> Result<(), EngineError> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Ok(());
        };
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(self.offset))
            .and_then(|_| f.read_to_end(&mut buf))
            .map_err(|e| EngineError::io(&self.path, e))?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let text = String::from_utf8_lossy(&self.partial[..end]).into_owned();
            self.partial.drain(..=end);
            line(text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_and_accounting_lines_parse() {
        let s = parse_scontrol(
            "JobId=7 JobName=x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:00:01\n",
        )
        .unwrap();
        assert_eq!(
            (s.state.as_str(), s.exit_code.as_str(), s.reason.as_str()),
            ("FAILED", "3:0", "NonZeroExitCode")
        );
        assert!(s.is_final());
        assert_eq!(s.exit("7", None), Exit::code(3));
        let pending =
            parse_scontrol("JobId=8 JobState=PENDING Reason=Resources ExitCode=0:0").unwrap();
        assert!(!pending.is_final());
        let a = parse_sacct("CANCELLED by 0|0:15|None\n").unwrap();
        assert_eq!(a.state, "CANCELLED");
        assert!(
            matches!(a.exit("9", None).kind, ExitKind::Ended(m) if m.contains("outside sluice"))
        );
        let node = parse_sacct("NODE_FAIL|0:0|None").unwrap();
        assert!(matches!(node.exit("9", None).kind, ExitKind::Ended(m) if m.contains("NODE_FAIL")));
        // Preempted (by the controller or by accounting): ended by Slurm, not by the command,
        // so retried per the step's policy as a lost node is.
        for preempted in [
            parse_scontrol("JobId=9 JobState=PREEMPTED Reason=Preemption ExitCode=0:15").unwrap(),
            parse_sacct("PREEMPTED|0:15|None").unwrap(),
        ] {
            assert!(preempted.is_final());
            assert!(
                matches!(preempted.exit("9", None).kind, ExitKind::Ended(m) if m.contains("PREEMPTED"))
            );
        }
        let killed = JobState {
            state: "FAILED".into(),
            exit_code: "0:9".into(),
            reason: String::new(),
        };
        assert_eq!(
            killed.exit("1", None).kind,
            ExitKind::Signaled("SIGKILL".into())
        );
        assert_eq!(parse_scontrol(""), None);
    }

    #[test]
    fn the_script_sets_the_steps_world_and_quotes_it() {
        let step = Prepared {
            job: "j 1".into(),
            step: "train".into(),
            command: "echo hi".into(),
            work_dir: "/w/code".into(),
            step_dir: "/w".into(),
            env: vec![("A".into(), "it's".into())],
            env_remove: vec!["SLUICE_TOKEN".into()],
            path_prepend: vec!["/venv/bin".into()],
            timeout: None,
            attempt: 2,
            scale: sluice_spec::Scale::default(),
        };
        let slurm = Slurm {
            settings: SlurmSettings {
                partition: Some("gpu".into()),
                account: None,
                qos: Some("high".into()),
                sbatch_options: vec!["--mem=1G".into()],
            },
            bin_dir: Some("/shared/bin/0123".into()),
        };
        let files = Files::new(&step);
        let script = slurm.script(&step, &files);
        for want in [
            "#SBATCH --job-name=sluice.j_1.train\n",
            "#SBATCH --output=/w/slurm/attempt-2.out\n",
            "#SBATCH --no-requeue\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --qos=high\n",
            "#SBATCH --mem=1G\n",
            "unset SLUICE_TOKEN\n",
            "export A='it'\\''s'\n",
            "'/w/slurm/attempt-2.command.sh'\n",
            "> '/w/slurm/attempt-2.exit'\n",
        ] {
            assert!(script.contains(want), "{want:?} in\n{script}");
        }
        assert!(!script.contains("--account"));
        assert!(script.contains("export PATH='/venv/bin:/shared/bin/0123:"));
    }
}
