//! `sluice job resume -n JOB`: runs a `Failed` or `Canceled` (or interrupted) job again in
//! place. Its completed steps are kept; every other step runs. The job is planned again from
//! the spec text and `--set` overrides recorded when it was created, so an edited file on disk
//! does not change what the job is.

use std::path::PathBuf;

use sluice_engine::PlanOptions;
use sluice_spec::Source;

use crate::cli::JobResumeArgs;
use crate::commands::{Ctx, print_warnings};
use crate::error::CliError;
use crate::ui;

pub(crate) fn run(ctx: &Ctx<'_>, args: &JobResumeArgs) -> Result<(), CliError> {
    // Opening ends an interrupted job as Failed first, so it can be resumed.
    let ws = super::open_as_contributor(ctx, "resuming a job")?;
    let job = ws.store().get_job(&args.name)?;
    if !matches!(job.status.as_str(), "Failed" | "Canceled") {
        // A runner on another machine that has gone silent: say when it will be judged.
        let silent = ws
            .store()
            .unfinished_jobs()?
            .into_iter()
            .find(|r| r.job == job.name)
            .filter(|r| {
                r.host
                    .as_deref()
                    .is_some_and(|h| !sluice_engine::on_this_machine(h))
            })
            .and_then(|r| sluice_engine::silent_runner_note(r.silent_for));
        return Err(CliError::usage(
            format!(
                "job `{}` is {}: only a Failed or Canceled job can be resumed",
                job.name, job.status
            ),
            silent.unwrap_or_else(|| "`sluice job show -n NAME` shows its state; `sluice job cancel -n NAME` stops a running job".to_owned()),
        ));
    }
    let Some(spec_dir) = job.settings["spec_dir"].as_str().map(PathBuf::from) else {
        return Err(CliError::usage(
            format!("job `{}` did not record where its spec lives", job.name),
            "run it again with `sluice job create -f FILE`",
        ));
    };
    let overrides: Vec<(String, String)> =
        serde_json::from_value(job.settings["overrides"].clone()).unwrap_or_default();
    let mut source = Source::new(job.spec_path.clone(), job.spec_text.clone());
    source.dir = spec_dir;
    let mut warnings = Vec::new();
    let spec = sluice_spec::parse_job(&source, &overrides, Some(&ws), &mut warnings);
    print_warnings(&warnings);
    let spec = spec?;
    let options = PlanOptions {
        name: Some(job.name.clone()),
        default_experiment: job.experiment_name.clone(),
        max_parallel: args.max_parallel.unwrap_or_else(|| {
            job.settings["max_parallel"]
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(2)
        }),
        force_rerun: job.settings["force_rerun"].as_bool().unwrap_or(false),
        overrides,
        resume: true,
    };
    let mut warnings = Vec::new();
    let plan = sluice_engine::plan(&ws, &spec, &options, &mut warnings);
    print_warnings(&warnings);
    let mut plan = plan?;
    plan.resume_only_interrupted = args.if_interrupted;
    let steps = ws.store().list_steps(&job.name)?;
    let done = steps.iter().filter(|s| s.status == "Completed").count();
    ui::note(&format!(
        "Resuming job {}: {done} of {} steps completed and kept, {} to run",
        job.name,
        steps.len(),
        steps.len() - done
    ));
    super::create::execute(ctx, &ws, &plan, args.stream, true)
}
