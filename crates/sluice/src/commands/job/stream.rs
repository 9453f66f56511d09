//! `sluice job stream -n NAME`: the logs of every step, prefixed with the step's name, then the
//! job's status. While the job is still running (in another process), it follows the logs until
//! the job ends.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use sluice_engine::{Status, Workspace};

use crate::error::CliError;
use crate::ui;

pub(crate) fn run(ws: &Workspace, name: &str) -> Result<(), CliError> {
    let mut offsets: HashMap<String, u64> = HashMap::new();
    let mut partial: HashMap<String, String> = HashMap::new();
    loop {
        let job = ws.store().get_job(name)?;
        let steps = ws.store().list_steps(name)?;
        for step in &steps {
            let Some(log) = &step.log_path else { continue };
            let Ok(mut file) = std::fs::File::open(log) else {
                continue;
            };
            let offset = offsets.entry(step.name.clone()).or_insert(0);
            if file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut buf = String::new();
            let Ok(n) = file.read_to_string(&mut buf) else {
                continue;
            };
            *offset += n as u64;
            let pending = partial.entry(step.name.clone()).or_default();
            pending.push_str(&buf);
            while let Some(pos) = pending.find('\n') {
                let line: String = pending.drain(..=pos).collect();
                ui::log_line(&step.name, line.trim_end_matches('\n'));
            }
        }
        let status = Status::parse(&job.status).unwrap_or(Status::Failed);
        if status.is_terminal() {
            for (step, rest) in partial {
                if !rest.is_empty() {
                    ui::log_line(&step, &rest);
                }
            }
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
