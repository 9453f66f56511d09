//! Running a tool with its output passed on line by line.

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// Runs `cmd`, handing every line of its stdout and stderr to `log` as it comes, and returns
/// its exit status with the whole output.
pub(crate) fn run_logged(
    cmd: &mut Command,
    log: &mut dyn FnMut(&str),
) -> std::io::Result<(ExitStatus, String)> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<Box<dyn std::io::Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut output = String::new();
    std::thread::scope(|scope| {
        for reader in readers {
            let tx = tx.clone();
            scope.spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for line in rx {
            log(&line);
            output.push_str(&line);
            output.push('\n');
        }
    });
    let status = child.wait()?;
    Ok((status, output))
}
