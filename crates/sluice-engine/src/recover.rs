//! Interrupted jobs: a job whose `sluice` process died (kill -9, power loss, a closed terminal)
//! would otherwise stay `Running` forever. Every command that opens the workspace checks the
//! unfinished jobs' runner processes and ends the dead ones as `Failed`, saying why.

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::executor::{Executor, Launched};
use crate::{EngineError, Workspace};

/// The kernel's start time of a process (field 22 of `/proc/PID/stat`), which tells a live
/// runner from an unrelated process that later got the same id.
pub fn process_started(pid: u32) -> Option<String> {
    let stat = proc_stat(pid)?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_owned)
}

/// `/proc/PID/stat` into a buffer it fits in: the file says its size is 0, so reading it to
/// its end from an empty buffer takes six reads of growing sizes, here two (its text, then its
/// end). A step's launch reads it.
fn proc_stat(pid: u32) -> Option<String> {
    use std::io::Read as _;
    let mut stat = String::with_capacity(1024);
    std::fs::File::open(format!("/proc/{pid}/stat"))
        .and_then(|mut f| f.read_to_string(&mut stat))
        .ok()?;
    Some(stat)
}

/// Whether process `pid` is stopped by a signal (state `T` or `t` in `/proc/PID/stat`).
fn process_stopped(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "T" || state == "t")
    })
}

/// Sends `signal` to process `pid` (`group`: to its process group) if it is still the process
/// that started at `started`. Returns false when it is gone.
pub(crate) fn signal_if_same(
    pid: u32,
    started: &str,
    signal: Signal,
    group: bool,
) -> std::io::Result<bool> {
    if process_started(pid).is_none_or(|s| s != started) {
        return Ok(false);
    }
    let raw = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    let target = Pid::from_raw(raw);
    let sent = if group {
        killpg(target, signal)
    } else {
        kill(target, signal)
    };
    sent.map_err(std::io::Error::from)?;
    Ok(true)
}

/// Sends SIGINT (what Ctrl-C sends, and what cancels a job) to a job's runner, if it is still
/// the same process. Returns false when the runner is gone.
pub fn interrupt_runner(pid: u32, started: &str) -> std::io::Result<bool> {
    signal_if_same(pid, started, Signal::SIGINT, false)
}

/// Records this process as the runner of its claimed job.
pub(crate) fn claim(ws: &Workspace, claim: &Claim) -> Result<(), EngineError> {
    ws.store().set_job_runner(&claim.job, claim.runner())?;
    Ok(())
}

/// This machine as a runner's host: `HOSTNAME/BOOT_ID` (the boot id changes at every boot).
pub(crate) fn this_host() -> String {
    let read = |f: &str| {
        std::fs::read_to_string(f)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{}/{}",
        read("/proc/sys/kernel/hostname"),
        read("/proc/sys/kernel/random/boot_id")
    )
}

/// The machine of a runner's host (`HOSTNAME/BOOT_ID`): its host name.
pub(crate) fn machine_of(host: &str) -> &str {
    host.split('/').next().unwrap_or(host)
}

/// Whether a runner recorded on `host` (`HOSTNAME/BOOT_ID`) runs on this machine (in any boot).
#[must_use]
pub fn on_this_machine(host: &str) -> bool {
    machine_of(host) == machine_of(&this_host())
}

/// How often a job's runner records that it is alive (`SLUICE_RUNNER_BEAT_SECS`, default 15).
fn beat_every() -> std::time::Duration {
    std::time::Duration::from_secs(env_seconds("SLUICE_RUNNER_BEAT_SECS", 15).max(1))
}

/// How long another machine's runner may be silent before it is suspected, and then judged
/// gone at a look this long after the suspicion (`SLUICE_RUNNER_STALE_SECS`, default 120:
/// eight missed beats). Beats and looks use the store's clock.
pub(crate) fn stale_after() -> i64 {
    i64::try_from(env_seconds("SLUICE_RUNNER_STALE_SECS", 120).max(1)).unwrap_or(i64::MAX)
}

/// What to tell someone who wants to cancel or resume, from another machine, a job whose runner
/// has been silent for `silent_for` seconds: nothing while it is within the stale limit.
#[must_use]
pub fn silent_runner_note(silent_for: Option<i64>) -> Option<String> {
    let silent = silent_for?;
    let stale = stale_after();
    (silent > stale).then(|| {
        format!(
            "its runner has not reported for {silent} s: if its machine is gone, the job is judged interrupted once a look finds it silent a stale limit ({stale} s, SLUICE_RUNNER_STALE_SECS) after the first that did (a team server looks every 2 s); run this again then"
        )
    })
}

fn env_seconds(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// This process's claim on a job: who it is as the job's runner, and whether it is ending
/// the job itself (after which the job is no longer its to beat for).
pub(crate) struct Claim {
    job: String,
    pid: u32,
    started: String,
    host: String,
    ending: std::sync::atomic::AtomicBool,
    /// Set by the thread that found the job no longer this process's, before it stops the
    /// steps and the process: no other thread writes anything after.
    lost: std::sync::atomic::AtomicBool,
    /// When the store last said the job was this process's (a beat or a check), by the wall
    /// clock (which, unlike a monotonic one, counts the time a machine spent suspended).
    confirmed: std::sync::Mutex<Option<std::time::SystemTime>>,
}

/// How long a confirmed claim is taken as held without asking the store again: a job is taken
/// only after its runner was silent for two stale limits, so a second is far on the safe side,
/// and statuses written in a burst (thousands of reused steps) ask once.
const CONFIRMED_FOR: std::time::Duration = std::time::Duration::from_secs(1);

impl Claim {
    pub(crate) fn new(job: &str) -> Claim {
        let pid = std::process::id();
        Claim {
            job: job.to_owned(),
            pid,
            started: process_started(pid).unwrap_or_default(),
            host: this_host(),
            ending: std::sync::atomic::AtomicBool::new(false),
            lost: std::sync::atomic::AtomicBool::new(false),
            confirmed: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn runner(&self) -> sluice_store::Runner<'_> {
        sluice_store::Runner {
            pid: self.pid,
            started: &self.started,
            host: &self.host,
        }
    }

    /// Says that this process is about to end the job (a final status): from then on, the
    /// job not being its is no surprise.
    pub(crate) fn ending(&self) {
        self.ending.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_ending(&self) -> bool {
        self.ending.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Before a status is written (at most once a [`CONFIRMED_FOR`]): if the job is no longer
    /// this process's (another machine judged it gone and ended or resumed it), stop here
    /// instead of writing it.
    pub(crate) fn check(&self, store: &sluice_store::Store) {
        if self.lost.load(std::sync::atomic::Ordering::SeqCst) {
            // Another thread found the job gone and is ending the process (its steps killed a
            // moment ago end here as failures): nothing more is written, whatever it was.
            loop {
                std::thread::park();
            }
        }
        if self.is_ending() || self.recently_confirmed() {
            return;
        }
        // A beat, on the runner's own connection: it says the job is still this process's,
        // and keeps the job beating even if the heartbeat's connection cannot be had.
        match store.beat_job_runner(&self.job, self.runner()) {
            Ok(true) => self.confirm(),
            Ok(false) => self.lost(store),
            // The store cannot say now: the write that follows will fail or succeed on its own.
            Err(_) => {}
        }
    }

    fn confirm(&self) {
        *self
            .confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(std::time::SystemTime::now());
    }

    fn recently_confirmed(&self) -> bool {
        self.confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed().is_ok_and(|e| e < CONFIRMED_FOR))
    }

    /// The job is no longer this process's and it did not end it: another machine judged this
    /// runner gone (it was silent too long: suspended, cut off from the store) and ended the job,
    /// or another process claimed it since. Going on would run its steps twice and write over a
    /// job that is not its: its step processes are killed and the process exits (code 1).
    fn lost(&self, store: &sluice_store::Store) -> ! {
        self.lost.store(true, std::sync::atomic::Ordering::SeqCst);
        crate::executor::local::stop_all_running();
        let job = &self.job;
        let now = store.get_job(job).map_or_else(
            |_| "gone".to_owned(),
            |row| match row.error {
                Some(e) => format!("{}: {e}", row.status),
                None => row.status,
            },
        );
        tracing::error!(job = %job, now = %now, "the job is no longer this process's; its steps here were stopped");
        #[expect(
            clippy::print_stderr,
            reason = "the process ends here: the one word it leaves"
        )]
        {
            eprintln!(
                "error: job `{job}` is no longer this process's (another machine judged it gone, or another process took it over; it is now {now}); its steps here were stopped and this process stops. See `sluice job show -n {job}`."
            );
        }
        std::process::exit(1)
    }
}

/// Records, every [`beat_every`], that this process still runs its claimed job, until dropped;
/// finds out at a beat if the job was taken from it (see [`Claim::lost`]).
pub(crate) struct Heartbeat {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub(crate) fn start(ws: &Workspace, claim: &std::sync::Arc<Claim>) -> Heartbeat {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ws, claim) = (ws.clone(), std::sync::Arc::clone(claim));
        let every = beat_every();
        let thread = std::thread::Builder::new()
            .name("sluice-heartbeat".into())
            .spawn(move || {
                // A connection of its own, opened again after an error (a database restarted
                // under a long step), so the beat does not wait on the runner's.
                let mut store: Option<sluice_store::Store> = None;
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let beat = match &store {
                        Some(s) => s.beat_job_runner(&claim.job, claim.runner()),
                        None => sluice_store::Store::open_at(ws.location()).and_then(|s| {
                            store.insert(s).beat_job_runner(&claim.job, claim.runner())
                        }),
                    };
                    match beat {
                        Ok(true) => claim.confirm(),
                        Ok(false) => {
                            if !claim.is_ending()
                                && let Some(store) = &store
                            {
                                claim.lost(store);
                            }
                            break;
                        }
                        Err(e) => {
                            store = None;
                            tracing::warn!(job = %claim.job, error = %e, "cannot record the runner's heartbeat");
                        }
                    }
                }
            })
            .inspect_err(|e| tracing::warn!(error = %e, "cannot start the runner's heartbeat"))
            .ok();
        Heartbeat {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A job's runner as the store records it.
pub(crate) struct Recorded<'a> {
    pub(crate) pid: u32,
    pub(crate) started: &'a str,
    pub(crate) host: Option<&'a str>,
    /// Seconds since its last heartbeat, by the store's clock.
    pub(crate) silent_for: Option<i64>,
}

/// Whether a recorded runner is alive, as far as this machine (`here`) can tell: a runner on
/// another machine is until it has been silent longer than [`stale_after`] (one from before
/// heartbeats, without any, is left to its machine); one recorded on this machine before it
/// last booted is not; else `/proc` says. Runners recorded without a host are judged here.
#[must_use]
pub(crate) fn runner_alive(runner: &Recorded<'_>, here: &str) -> bool {
    let (machine, boot) = here.split_once('/').unwrap_or((here, ""));
    match runner.host.and_then(|h| h.split_once('/')) {
        Some((m, _)) if m != machine => runner.silent_for.is_none_or(|s| s <= stale_after()),
        Some((_, b)) if b != boot => false,
        _ => process_started(runner.pid).is_some_and(|s| s == runner.started),
    }
}

/// Ends every unfinished job whose runner is gone. Returns the names of the jobs it ended.
pub fn recover_interrupted(ws: &Workspace) -> Result<Vec<String>, EngineError> {
    let here = this_host();
    // Its own concern: a failure here does not keep interrupted jobs from being found.
    if let Err(e) = stop_orphans_left_here(ws, &here) {
        tracing::warn!(error = %e, "cannot stop the step processes left by this machine's runners");
    }
    let unfinished = ws.store().unfinished_jobs()?;
    let mut ended = Vec::new();
    for sluice_store::JobRunner {
        job: name,
        pid,
        started,
        host,
        silent_for,
    } in unfinished
    {
        let alive = match (pid, started.as_deref()) {
            (Some(pid), Some(started)) => runner_alive(
                &Recorded {
                    pid,
                    started,
                    host: host.as_deref(),
                    silent_for,
                },
                &here,
            ),
            // Not yet claimed: being planned by a live process, or left by a crash before it
            // started; only a claimed job can be judged.
            _ => true,
        };
        if !alive {
            // Its steps outlive it (each a process group of its own, or a batch job on a
            // cluster). Local processes are stopped (their exit codes died with the runner);
            // a batch job that runs on, or ended well, is left to be followed by `job resume`.
            let local = crate::executor::local::Local;
            // Another command may have ended it meanwhile and a `job resume` claimed it: its
            // steps are then the new runner's.
            let still_ours =
                ws.store().unfinished_jobs()?.into_iter().any(|r| {
                    r.job == name && r.pid == pid && r.started == started && r.host == host
                });
            if !still_ours {
                continue;
            }
            // Read first: the store is not held while Slurm is asked.
            let processes = ws.store().step_processes(&name)?;
            let batch_jobs = ws.store().step_executor_ids(&name)?;
            // A runner on another machine that stopped beating: its local step processes
            // are that machine's (ids mean nothing here).
            let elsewhere = host.as_deref().is_some_and(|h| !on_this_machine(h));
            for (_, pid, started) in processes.into_iter().filter(|_| !elsewhere) {
                let _ = local.stop_orphan(&Launched::Process { pid, started });
            }
            let mut detached: Vec<(String, String, String)> = Vec::new();
            for (step, kind, id) in batch_jobs {
                if elsewhere {
                    // Its cluster may not be this machine's: an id here could be another
                    // job's. Kept for `job resume` or `job cancel` to decide.
                    detached.push((step, kind, id));
                    continue;
                }
                let Some(executor) = crate::executor::by_kind(&kind) else {
                    continue;
                };
                let launched = Launched::Batch { id: id.clone() };
                match executor.followable(&launched) {
                    Ok(true) => {
                        detached.push((step, kind, id));
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        // The cluster cannot be asked now: keep it, `job resume` or `job
                        // cancel` asks again.
                        tracing::warn!(job = %name, step = %step, error = %e, "cannot tell whether the step's {kind} job {id} runs on; it stays detached");
                        detached.push((step, kind, id));
                        continue;
                    }
                }
                if let Err(e) = executor.stop_orphan(&launched) {
                    tracing::warn!(job = %name, step = %step, error = %e, "cannot stop the step's {kind} job {id}");
                }
            }
            if elsewhere {
                // Judged in two looks, a stale limit apart, with no beat between (see
                // `judge_silent_runner`): until then it is only suspected.
                let gone = match (pid, started.as_deref()) {
                    (Some(pid), Some(started)) => {
                        ws.store()
                            .judge_silent_runner(&name, (pid, started), stale_after())?
                    }
                    _ => false,
                };
                if !gone {
                    continue;
                }
            }
            let silent = elsewhere.then(|| {
                let machine = host.as_deref().map_or("", machine_of);
                let ago = silent_for.map_or_else(String::new, |s| format!(" {s} s ago"));
                format!("its runner on `{machine}` last reported{ago}")
            });
            let reason = interrupted_reason(&name, &detached, silent.as_deref());
            let steps: Vec<String> = detached.into_iter().map(|(s, _, _)| s).collect();
            let runner = pid.zip(started.as_deref());
            if ws
                .store()
                .mark_interrupted(&name, runner, &reason, &steps, elsewhere)?
                .is_some()
            {
                ended.push(name);
            }
        }
    }
    Ok(ended)
}

/// Stops the step processes a runner of this machine left when another machine judged it
/// gone (it crashed while this machine stayed up, and nothing here noticed first). A runner
/// that still lives (it was only cut off) is left to stop its own, unless a signal stopped it;
/// a process that cannot be stopped is tried again next time; those of an earlier boot of this
/// machine ended with it. Only reads the store unless there is something to do.
fn stop_orphans_left_here(ws: &Workspace, here: &str) -> Result<(), EngineError> {
    let orphans = ws.store().orphan_processes_of_machine(machine_of(here))?;
    let local = crate::executor::local::Local;
    for (host, orphan) in orphans {
        if host != here {
            ws.store()
                .forget_orphan_process(&host, &orphan.job, &orphan.step)?;
            continue;
        }
        // A runner stopped by a signal (Ctrl-Z, SIGSTOP) does not stop its steps: they go.
        let runner_lives = orphan
            .runner_pid
            .zip(orphan.runner_started.as_deref())
            .is_some_and(|(pid, started)| {
                process_started(pid).is_some_and(|s| s == started) && !process_stopped(pid)
            });
        if runner_lives {
            continue;
        }
        let launched = Launched::Process {
            pid: orphan.pid,
            started: orphan.started.clone(),
        };
        match local.stop_orphan(&launched) {
            Ok(stopped) => {
                if stopped {
                    tracing::warn!(job = %orphan.job, step = %orphan.step, pid = orphan.pid, "stopped a step process its runner left");
                }
                ws.store()
                    .forget_orphan_process(here, &orphan.job, &orphan.step)?;
            }
            Err(e) => {
                tracing::warn!(job = %orphan.job, step = %orphan.step, error = %e, "cannot stop a step process its runner left");
            }
        }
    }
    Ok(())
}

/// How many times in a row a job was interrupted (its runner died): the interruptions in its
/// job-level status history since it last ended otherwise (completed, failed or canceled).
#[must_use]
pub fn interruptions_in_a_row(history: &[sluice_store::StatusEvent]) -> usize {
    let mut n = 0;
    for e in history.iter().filter(|e| e.step.is_empty()) {
        match e.status.as_str() {
            "Failed"
                if e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with(sluice_store::INTERRUPTED)) =>
            {
                n += 1;
            }
            "Completed" | "Failed" | "Canceled" => n = 0,
            _ => {}
        }
    }
    n
}

/// Why an interrupted job ended, and what its detached steps (step, executor, id) wait for.
fn interrupted_reason(
    job: &str,
    detached: &[(String, String, String)],
    silent: Option<&str>,
) -> String {
    let why = match silent {
        Some(silent) => format!(
            "{} the sluice process running this job stopped reporting ({silent}: its machine is gone or cut off)",
            sluice_store::INTERRUPTED
        ),
        None => format!(
            "{} the sluice process running this job stopped (killed or crashed)",
            sluice_store::INTERRUPTED
        ),
    };
    if detached.is_empty() {
        return format!("{why}; resume it with `sluice job resume -n {job}`");
    }
    let list: Vec<String> = detached
        .iter()
        .map(|(step, kind, id)| format!("`{step}` ({kind} job {id})"))
        .collect();
    format!(
        "{why}; its step(s) {} run on: `sluice job resume -n {job}` follows them to their end without launching them again, `sluice job cancel -n {job}` stops them",
        list.join(", ")
    )
}

/// Stops the batch jobs of an ended job's detached steps and ends those steps `Canceled`; the
/// job becomes `Canceled` first, and loses its token once every batch job is stopped. Returns
/// the steps; none when the job had no detached step. A batch job that cannot be stopped (the
/// cluster cannot be reached) keeps its step detached, and the error says to run it again.
pub fn cancel_detached(ws: &Workspace, job: &str) -> Result<Vec<String>, EngineError> {
    let reason = "canceled: its batch job was stopped (`sluice job cancel`)";
    let detached = ws.store().begin_cancel_detached(job, reason)?;
    let mut stopped = Vec::new();
    let mut left = Vec::new();
    for d in detached {
        let launched = Launched::Batch {
            id: d.executor_id.clone(),
        };
        let result = crate::executor::by_kind(&d.executor).map_or_else(
            || {
                Err(EngineError::Internal(format!(
                    "no executor `{}` here",
                    d.executor
                )))
            },
            |e| e.stop_orphan(&launched),
        );
        match result {
            Ok(_) => {
                ws.store().end_detached_step(job, &d.step, reason)?;
                stopped.push(d.step);
            }
            Err(e) => left.push(format!(
                "`{}` ({} job {}): {e}",
                d.step, d.executor, d.executor_id
            )),
        }
    }
    if !left.is_empty() {
        return Err(EngineError::Internal(format!(
            "job `{job}` is Canceled, but these steps' batch jobs could not be stopped and stay detached: {}; run `sluice job cancel -n {job}` again",
            left.join("; ")
        )));
    }
    if !stopped.is_empty() {
        let actor = ws.store().actor().clone();
        ws.store().governed(&actor).revoke_job_token(job)?;
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::{Recorded, interruptions_in_a_row, process_started, runner_alive, this_host};

    fn alive(
        pid: u32,
        started: &str,
        host: Option<&str>,
        silent_for: Option<i64>,
        here: &str,
    ) -> bool {
        runner_alive(
            &Recorded {
                pid,
                started,
                host,
                silent_for,
            },
            here,
        )
    }

    #[test]
    fn a_runner_is_judged_by_its_own_machine_by_its_heartbeat_elsewhere_and_not_across_a_reboot() {
        let here = this_host();
        let (machine, _) = here.split_once('/').unwrap();
        let me = std::process::id();
        let started = process_started(me).unwrap();
        // Recorded without a host (before 0019), or on this machine since it booted: /proc,
        // whatever its heartbeat says.
        assert!(alive(me, &started, None, None, &here));
        assert!(alive(me, &started, Some(&here), Some(10_000), &here));
        assert!(
            !alive(me, "0", Some(&here), Some(0), &here),
            "another start time"
        );
        // Another machine's runner, whatever /proc says here: alive while it beats (within the
        // stale limit, 120 s by default), gone after; one from before heartbeats is left alone.
        let elsewhere = Some("elsewhere/b00t");
        assert!(alive(u32::MAX, "0", elsewhere, None, &here));
        assert!(alive(u32::MAX, "0", elsewhere, Some(15), &here));
        assert!(alive(u32::MAX, "0", elsewhere, Some(120), &here));
        assert!(!alive(me, &started, elsewhere, Some(121), &here));
        // This machine before its last boot: gone, even if a process here has its id now.
        let before = format!("{machine}/an-earlier-boot");
        assert!(!alive(me, &started, Some(&before), Some(0), &here));
    }
    use sluice_store::StatusEvent;

    fn event(step: &str, status: &str, message: Option<&str>) -> StatusEvent {
        StatusEvent {
            step: step.into(),
            status: status.into(),
            at: String::new(),
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn interruptions_count_in_a_row_until_the_job_ends_otherwise() {
        let interrupted = event("", "Failed", Some("interrupted: gone"));
        let running = event("", "Running", None);
        assert_eq!(interruptions_in_a_row(&[]), 0);
        let mut h = vec![running.clone(), interrupted.clone()];
        assert_eq!(interruptions_in_a_row(&h), 1);
        // A step's events do not count; resumed and interrupted again does.
        h.extend([
            event("s", "Failed", Some("interrupted: gone")),
            event("", "NotStarted", Some("resumed")),
            running.clone(),
            interrupted.clone(),
        ]);
        assert_eq!(interruptions_in_a_row(&h), 2);
        // Ended otherwise: counting starts again.
        for end in [
            event("", "Failed", Some("step `s` failed")),
            event("", "Canceled", Some("canceled")),
            event("", "Completed", None),
        ] {
            let mut h = h.clone();
            h.extend([end, running.clone()]);
            assert_eq!(interruptions_in_a_row(&h), 0);
            h.push(interrupted.clone());
            assert_eq!(interruptions_in_a_row(&h), 1);
        }
    }
}
