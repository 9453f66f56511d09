//! `sluice job stream -n NAME`: the logs of every step, prefixed with the step's name, then the
//! job's status. While the job is still running (in another process), it follows the logs until
//! the job ends.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use sluice_engine::{Status, Workspace};

use crate::error::CliError;
use crate::ui;

/// The steps' logs as they grow: where each was read up to, and its unfinished last line.
/// Complete lines are printed prefixed with the step's name. Used for local logs and for a
/// team server's (`job stream --url`).
#[derive(Default)]
pub(crate) struct StepLogs {
    offsets: HashMap<String, u64>,
    partial: HashMap<String, String>,
}

impl StepLogs {
    /// How far `step`'s log was read.
    pub(crate) fn offset(&self, step: &str) -> u64 {
        self.offsets.get(step).copied().unwrap_or(0)
    }

    /// `bytes` read from `step`'s log at its offset: the complete lines printed.
    pub(crate) fn push(&mut self, step: &str, bytes: &[u8]) {
        *self.offsets.entry(step.to_owned()).or_insert(0) += bytes.len() as u64;
        let pending = self.partial.entry(step.to_owned()).or_default();
        pending.push_str(&String::from_utf8_lossy(bytes));
        while let Some(pos) = pending.find('\n') {
            let line: String = pending.drain(..=pos).collect();
            ui::log_line(step, line.trim_end_matches('\n'));
        }
    }

    /// Prints what is left of unfinished lines (the job ended).
    pub(crate) fn flush(&mut self) {
        for (step, rest) in self.partial.drain() {
            if !rest.is_empty() {
                ui::log_line(&step, &rest);
            }
        }
    }
}

pub(crate) fn run(ws: &Workspace, name: &str) -> Result<(), CliError> {
    let mut logs = StepLogs::default();
    loop {
        let job = ws.store().get_job(name)?;
        let steps = ws.store().list_steps(name)?;
        for step in &steps {
            let Some(log) = &step.log_path else { continue };
            let Ok(mut file) = std::fs::File::open(log) else {
                continue;
            };
            if file.seek(SeekFrom::Start(logs.offset(&step.name))).is_err() {
                continue;
            }
            let mut buf = Vec::new();
            if file.read_to_end(&mut buf).is_err() {
                continue;
            }
            logs.push(&step.name, &buf);
        }
        let status = Status::parse(&job.status).unwrap_or(Status::Failed);
        if status.is_terminal() {
            logs.flush();
            for step in &steps {
                ui::status(
                    &format!("step {}", step.name),
                    &step.status,
                    step.error.as_deref(),
                );
            }
            ui::status(&format!("job {name}"), &job.status, job.error.as_deref());
            return match status {
                Status::Completed => Ok(()),
                other => Err(CliError::JobEnded {
                    name: name.to_owned(),
                    status: other,
                }),
            };
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
