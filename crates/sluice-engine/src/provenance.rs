//! What code a job's steps run: the content hash of each step's `code` folder and, when it is
//! in a git repository, the commit and whether the working tree was dirty. Recorded before the
//! job runs, for lineage (`sluice model lineage`).

use std::path::Path;
use std::process::Command;

use sluice_store::governance::StepCode;

use crate::plan::Plan;
use crate::{EngineError, Workspace};

/// The git commit of the repository holding `dir`, and whether its working tree has
/// uncommitted changes; `None` outside a repository or without `git`.
fn git_state(dir: &Path) -> Option<(String, bool)> {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = run(&["rev-parse", "HEAD"])?;
    let dirty = !run(&["status", "--porcelain"])?.is_empty();
    Some((commit, dirty))
}

/// Hashes each step's code folder and records it with its git state.
pub fn record_code_provenance(ws: &Workspace, plan: &Plan) -> Result<(), EngineError> {
    for step in &plan.steps {
        let Some(dir) = &step.code_dir else {
            continue;
        };
        let hash = ws.hash_snapshot(&ws.code_snapshot(dir)?)?;
        let repo = if dir.is_dir() {
            dir.as_path()
        } else {
            dir.parent().unwrap_or(dir)
        };
        let git = git_state(repo);
        ws.store().record_step_code(&StepCode {
            job: plan.job_name.clone(),
            step: step.name.clone(),
            path: dir.display().to_string(),
            hash: hash.hash,
            git_commit: git.as_ref().map(|g| g.0.clone()),
            git_dirty: git.map(|g| g.1),
        })?;
    }
    Ok(())
}
