//! `sluice job cancel -n JOB`: stops a running job from another terminal. The job's runner
//! process is sent SIGINT (as Ctrl-C would); it stops the running steps' process groups
//! (SIGTERM, then SIGKILL after a grace period), marks them and the job `Canceled` and keeps
//! completed outputs for `job resume`. This command waits for that to finish. A job whose runner
//! died while steps ran as batch jobs (Slurm) that run on (`detached` in `job show`) becomes
//! `Canceled` and has those jobs stopped (run it again if one could not be). Any other
//! interrupted job becomes `Canceled`, so that a team server does not resume it.

use std::time::{Duration, Instant};

use crate::cli::NameArg;
use crate::commands::Ctx;
use crate::error::CliError;

/// Why an interrupted job became `Canceled`.
const INTERRUPTED_CANCELED: &str =
    "canceled after it was interrupted: it is not resumed unless `sluice job resume` is run";

/// How long to wait for the runner to finish canceling.
const WAIT: Duration = Duration::from_mins(1);

pub(crate) fn run(ctx: &Ctx<'_>, args: &NameArg) -> Result<(), CliError> {
    let ws = super::open_as_contributor(ctx, "canceling a job")?;
    let shown = cancel(&ws, &args.name)?;
    print(ctx, &shown)
}

/// Prints a canceled job as `job cancel` does.
pub(crate) fn print(ctx: &Ctx<'_>, shown: &serde_json::Value) -> Result<(), CliError> {
    ctx.printer
        .print(shown, &["name", "type", "status", "start_time", "end_time"])
}

/// Cancels job `name` and waits until it has stopped; the job as `job show` prints it.
pub(crate) fn cancel(
    ws: &sluice_engine::Workspace,
    name: &str,
) -> Result<serde_json::Value, CliError> {
    let mut job = ws.store().get_job(name)?;
    // An interrupted job's steps whose batch jobs run on without a runner.
    if matches!(job.status.as_str(), "Failed" | "Canceled")
        && !sluice_engine::cancel_detached(ws, &job.name)?.is_empty()
    {
        return super::job_json(ws, &job.name);
    }
    // An interrupted job: canceled, nothing (such as a team server) resumes it unasked.
    if job.status == "Failed" {
        if ws
            .store()
            .cancel_interrupted(&job.name, INTERRUPTED_CANCELED)?
        {
            return super::job_json(ws, &job.name);
        }
        // A resume may have claimed it meanwhile: it is canceled as the running job it is.
        job = ws.store().get_job(name)?;
    }
    if matches!(job.status.as_str(), "Completed" | "Failed" | "Canceled") {
        return Err(CliError::usage(
            format!(
                "job `{}` already ended {}: there is nothing to cancel",
                job.name, job.status
            ),
            "a Failed or Canceled job can be run again with `sluice job resume -n NAME`",
        ));
    }
    let runners = ws.store().unfinished_jobs()?;
    let runner = runners.iter().find(|r| r.job == job.name);
    let Some((pid, started)) = runner.and_then(|r| Some((r.pid?, r.started.clone()?))) else {
        return Err(CliError::Workspace(format!(
            "job `{}` has no recorded runner process yet; try again in a moment",
            job.name
        )));
    };
    // Its runner is signalled where it runs: another machine's is out of reach here.
    if let Some(host) = runner.and_then(|r| r.host.as_deref())
        && !sluice_engine::on_this_machine(host)
    {
        let hint = sluice_engine::silent_runner_note(runner.and_then(|r| r.silent_for))
            .unwrap_or_else(|| {
                "run `sluice job cancel` there (or against the team server that runs it, with `--url`)".to_owned()
            });
        return Err(CliError::usage(
            format!(
                "job `{}` runs on another machine ({})",
                job.name,
                host.split('/').next().unwrap_or(host)
            ),
            hint,
        ));
    }
    sluice_engine::interrupt_runner(pid, &started).map_err(|e| {
        CliError::Workspace(format!("cannot signal the job's runner (pid {pid}): {e}"))
    })?;
    let deadline = Instant::now() + WAIT;
    loop {
        // Reopening runs the interrupted-job check, which ends a job whose runner is gone.
        let status = ws.store().get_job(&job.name)?.status;
        if matches!(status.as_str(), "Completed" | "Failed" | "Canceled") {
            // A runner that died instead of canceling may have left batch jobs running on,
            // and its job interrupted: canceled, so that a team server does not resume it.
            if status == "Failed" {
                sluice_engine::cancel_detached(ws, &job.name)?;
                if !ws
                    .store()
                    .cancel_interrupted(&job.name, INTERRUPTED_CANCELED)?
                    && !matches!(
                        ws.store().get_job(&job.name)?.status.as_str(),
                        "Completed" | "Failed" | "Canceled"
                    )
                {
                    return Err(CliError::Workspace(format!(
                        "job `{}` was resumed while it was being canceled; run `sluice job cancel -n {}` again",
                        job.name, job.name
                    )));
                }
            }
            break;
        }
        if Instant::now() > deadline {
            return Err(CliError::Workspace(format!(
                "job `{}` is still {status} after {} s; its runner (pid {pid}) did not stop",
                job.name,
                WAIT.as_secs()
            )));
        }
        if sluice_engine::process_started(pid).is_none_or(|s| s != started) {
            sluice_engine::recover_interrupted(ws)?;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    super::job_json(ws, &job.name)
}
