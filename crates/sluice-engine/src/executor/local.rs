//! The local executor: each step a process group on this machine, its output read from pipes.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::{BoxFuture, Executor, Exit, ExitKind, Launched, Prepared, StepIo};
use crate::EngineError;

/// How long a step gets between SIGTERM and SIGKILL when it is stopped.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The step process groups this process runs now (pid, kernel start time), for
/// [`stop_all_running`].
static RUNNING: std::sync::Mutex<Vec<(u32, String)>> = std::sync::Mutex::new(Vec::new());

/// Keeps a step's process group in [`RUNNING`] while it lives.
struct Running(u32);

impl Running {
    fn new(pid: u32, started: String) -> Running {
        RUNNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((pid, started));
        Running(pid)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(pid, _)| *pid != self.0);
    }
}

/// Kills every step process group this process runs (its job was taken from it).
pub(crate) fn stop_all_running() {
    let running = RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (pid, started) in running {
        let _ = crate::recover::signal_if_same(pid, &started, Signal::SIGKILL, true);
    }
}

/// Runs steps as child processes of this one.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Local;

impl Executor for Local {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn run<'a>(
        &'a self,
        step: &'a Prepared,
        io: StepIo<'a>,
    ) -> BoxFuture<'a, Result<Exit, EngineError>> {
        Box::pin(run(step, io))
    }

    fn runs_at_launch(&self) -> bool {
        true
    }

    fn stop_orphan(&self, launched: &Launched) -> Result<bool, EngineError> {
        let Launched::Process { pid, started } = launched else {
            return Ok(false);
        };
        crate::recover::signal_if_same(*pid, started, Signal::SIGKILL, true)
            .map_err(|e| EngineError::Internal(format!("cannot stop process {pid}: {e}")))
    }
}

/// The shell that runs step commands.
pub(crate) fn shell() -> &'static str {
    if Path::new("/bin/bash").exists() {
        "/bin/bash"
    } else {
        "/bin/sh"
    }
}

/// `PATH` for a step: its own folders first, then `bin_dir` (a folder holding this binary,
/// by default the one it runs from, so `sluice step ...` works without installing anything),
/// then the caller's `PATH`.
pub(crate) fn step_path(step: &Prepared, bin_dir: Option<&Path>) -> Option<std::ffi::OsString> {
    let mut parts = step.path_prepend.clone();
    if let Some(dir) = bin_dir {
        parts.push(dir.to_path_buf());
    } else if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        parts.push(dir.to_path_buf());
    }
    parts.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(parts).ok()
}

async fn run(step: &Prepared, mut io: StepIo<'_>) -> Result<Exit, EngineError> {
    let shell = shell();
    let mut cmd = tokio::process::Command::new(shell);
    cmd.arg("-c").arg(&step.command).current_dir(&step.work_dir);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.process_group(0);
    cmd.kill_on_drop(true);
    if let Some(path) = step_path(step, None) {
        cmd.env("PATH", path);
    }
    for k in &step.env_remove {
        cmd.env_remove(k);
    }
    for (k, v) in &step.env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            (io.line)(format!("cannot start `{shell}`: {e}"))?;
            return Ok(Exit::code(127));
        }
    };
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    // Whatever the command left behind in its process group goes when this ends, however it
    // ends: a failed write (its launch, a log line) drops the child here, and dropping it kills
    // only the shell.
    let group = KillGroup(pgid);
    // Recorded so that if this runner dies, the next command can stop the orphan.
    let mut _running = None;
    if let Some(pid) = child.id() {
        let started = crate::recover::process_started(pid).unwrap_or_default();
        _running = Some(Running::new(pid, started.clone()));
        (io.launched)(&Launched::Process { pid, started })?;
    }
    let (line_tx, mut line_rx) = mpsc::unbounded_channel::<String>();
    for reader in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = line_tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(line_tx);
    let deadline = step
        .timeout
        .map(|t| tokio::time::Instant::now() + Duration::from_secs(t));
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    let mut stopped: Option<ExitKind> = None;
    let mut lines_open = true;
    let status = loop {
        tokio::select! {
            line = line_rx.recv(), if lines_open => match line {
                Some(line) => (io.line)(line)?,
                None => lines_open = false,
            },
            status = child.wait(), if !lines_open => {
                break status.map_err(|e| EngineError::io(&step.work_dir, e))?;
            }
            () = &mut sleep, if stopped.is_none() => {
                stopped = Some(ExitKind::TimedOut(step.timeout.unwrap_or_default()));
                terminate(pgid);
            }
            changed = io.stop.changed(), if stopped.is_none() => {
                if changed.is_ok() && *io.stop.borrow() {
                    stopped = Some(ExitKind::Stopped);
                    terminate(pgid);
                }
            }
        }
    };
    // Anything the command left behind in its process group goes too.
    drop(group);
    if let Some(kind) = stopped {
        return Ok(Exit {
            kind,
            code: status.code(),
        });
    }
    if let Some(sig) = status.signal() {
        let name =
            Signal::try_from(sig).map_or_else(|_| sig.to_string(), |s| s.as_str().to_owned());
        return Ok(Exit {
            kind: ExitKind::Signaled(name),
            code: None,
        });
    }
    Ok(Exit {
        kind: ExitKind::Exited,
        code: status.code(),
    })
}

/// A step's process group, killed when dropped.
struct KillGroup(Option<Pid>);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

/// SIGTERM to the whole process group, then SIGKILL after the grace period.
fn terminate(pgid: Option<Pid>) {
    let Some(pgid) = pgid else { return };
    if killpg(pgid, Signal::SIGTERM).is_err() {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(KILL_GRACE).await;
        let _ = killpg(pgid, Signal::SIGKILL);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step whose run fails while it runs (a log line that cannot be written, as a launch
    /// that cannot be recorded) leaves nothing of its process group behind: dropping the
    /// shell's child kills only the shell, and what it started goes with the group.
    #[tokio::test]
    async fn a_run_that_fails_while_its_command_runs_leaves_no_process_behind() {
        let dir = tempfile::tempdir().unwrap();
        let step = Prepared {
            job: "j".into(),
            step: "s".into(),
            command: "sleep 30 & echo $!; wait".into(),
            work_dir: dir.path().to_path_buf(),
            step_dir: dir.path().to_path_buf(),
            env: Vec::new(),
            env_remove: Vec::new(),
            path_prepend: Vec::new(),
            timeout: None,
            attempt: 1,
            scale: sluice_spec::Scale::default(),
        };
        let (_stopping, stop_rx) = tokio::sync::watch::channel(false);
        let mut started: Option<i32> = None;
        let mut line = |l: String| -> Result<(), EngineError> {
            started = l.trim().parse().ok();
            Err(EngineError::Internal("the log cannot be written".into()))
        };
        let mut launched = |_: &Launched| -> Result<(), EngineError> { Ok(()) };
        let io = StepIo {
            stop: stop_rx,
            line: &mut line,
            launched: &mut launched,
        };
        let res = run(&step, io).await;
        assert!(res.is_err(), "the failed write ends the run");
        let pid = Pid::from_raw(started.expect("the background sleep's pid"));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Gone (killed, then reaped by init) or, until reaped, a zombie.
        while nix::sys::signal::kill(pid, None).is_ok() && !is_zombie(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the command's background process outlived the step"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_zombie(pid: Pid) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }
}
