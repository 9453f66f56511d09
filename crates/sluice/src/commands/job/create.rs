//! `sluice job create -f FILE [--set K=V ...] [--name N] [--stream]`: validate, plan and run a
//! job to its end, then print it as `job show` does. The exit status says how it ended.

use std::sync::Arc;

use sluice_engine::{Event, PlanOptions, Status};

use crate::cli::JobCreateArgs;
use crate::commands::{Ctx, print_warnings};
use crate::error::CliError;
use crate::{progress, ui, workspace};

pub(crate) fn run(ctx: &Ctx<'_>, args: &JobCreateArgs) -> Result<(), CliError> {
    let overrides = crate::commands::overrides(&args.set)?;

    // Validate before creating a workspace: an invalid file leaves no trace. Registered
    // components are looked up in the workspace, if there is one.
    let located = workspace::locate(ctx.global.workspace.as_deref(), ctx.global.store.as_deref())?;
    let existing = workspace::open_if_exists(&located)?;
    let mut warnings = Vec::new();
    let spec = sluice_spec::load_job(
        &args.file,
        &overrides,
        workspace::as_lookup(existing.as_ref()),
        &mut warnings,
    );
    print_warnings(&warnings);
    let spec = spec?;

    let ws = match existing {
        Some(ws) => ws,
        None => workspace::open_quiet(&located)?,
    };
    let actor = workspace::identify(&ws, ctx.global.token.as_deref())?;
    actor.require(
        sluice_store::governance::Role::Contributor,
        "creating a job",
    )?;
    let default_experiment = std::env::current_dir()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "Default".into());
    let options = PlanOptions {
        name: args.name.clone(),
        default_experiment,
        max_parallel: args.max_parallel.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
        }),
        force_rerun: args.force_rerun,
        overrides: overrides.clone(),
        resume: false,
    };
    let mut warnings = Vec::new();
    let planned = sluice_engine::plan(&ws, &spec, &options, &mut warnings);
    print_warnings(&warnings);
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            if !located.exists {
                drop(ws);
                let _ = std::fs::remove_dir_all(&located.dir);
            }
            return Err(e.into());
        }
    };
    workspace::announce(&located);
    ui::note(&format!(
        "Running job {} ({} step{}) in experiment {}",
        plan.job_name,
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
        plan.experiment_name
    ));
    execute(ctx, &ws, &plan, args.stream, false)
}

/// Runs a planned job (or resumes one) to its end with progress or streamed logs, prints it
/// as `job show` does, and turns how it ended into the exit status.
pub(super) fn execute(
    ctx: &Ctx<'_>,
    ws: &sluice_engine::Workspace,
    plan: &sluice_engine::Plan,
    stream: bool,
    resume: bool,
) -> Result<(), CliError> {
    let bar = if stream {
        None
    } else {
        Some(progress::steps(plan.steps.len() as u64))
    };
    let job_name = plan.job_name.clone();
    let bar_for_events = bar.clone();
    let observer: sluice_engine::Observer = Arc::new(move |event: Event| match event {
        Event::Job { status } if stream => {
            ui::status(&format!("job {job_name}"), status.as_str(), None);
        }
        Event::Step {
            step,
            status,
            message,
        } => {
            if stream {
                ui::status(&format!("step {step}"), status.as_str(), message.as_deref());
            } else if let Some(bar) = &bar_for_events {
                match status {
                    Status::Running => bar.set_message(format!("running {step}")),
                    s if s.is_terminal() => {
                        bar.inc(1);
                        if s != Status::Completed {
                            bar.suspend(|| {
                                ui::status(&format!("step {step}"), s.as_str(), message.as_deref());
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        Event::Log { step, line } if stream => ui::log_line(&step, &line),
        _ => {}
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Workspace(format!("cannot start the runtime: {e}")))?;
    if !resume && let Err(e) = sluice_engine::record_code_provenance(ws, plan) {
        ui::warn(&format!(
            "cannot record the code of the job's steps for lineage: {e}"
        ));
    }
    // Ctrl-C, SIGTERM, and `sluice job cancel` (which sends SIGINT) cancel the job.
    let outcome = runtime.block_on(async {
        let cancel = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        if resume {
            sluice_engine::resume(ws, plan, observer, cancel).await
        } else {
            sluice_engine::run(ws, plan, observer, cancel).await
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let job = super::job_json(ws, &plan.job_name)?;
    if outcome.status != Status::Completed {
        report_failures(&job);
    }
    if !stream {
        ui::status(
            &format!("job {}", plan.job_name),
            outcome.status.as_str(),
            None,
        );
    }
    ctx.printer.print(&job, crate::commands::job::JOB_COLUMNS)?;
    match outcome.status {
        Status::Completed => Ok(()),
        status => Err(CliError::JobEnded {
            name: plan.job_name.clone(),
            status,
        }),
    }
}

/// For each failed step: its error and the end of its log.
pub(crate) fn report_failures(job: &serde_json::Value) {
    let Some(steps) = job["jobs"].as_object() else {
        return;
    };
    for (name, step) in steps {
        if step["status"] != "Failed" {
            continue;
        }
        ui::error(
            &format!(
                "step `{name}` failed: {}",
                step["error"].as_str().unwrap_or("unknown error")
            ),
            None,
        );
        if let Some(log) = step["log_path"].as_str()
            && let Ok(text) = std::fs::read_to_string(log)
        {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(10)..];
            for line in tail {
                ui::log_line(name, line);
            }
        }
    }
}
