//! Jobs and their steps: recording a job, each step's status, attempts, outputs and reuse,
//! the runner that owns a job, and what a resume or a cancel finds.

use crate::db::{self, OptionalExtension, params};
use crate::{
    AttemptRow, DetachedStep, EnvBuildRow, JobRow, JobRunner, OrphanProcess, OutputRow,
    REUSE_CANDIDATES, Result, Runner, StatusEvent, StepRow, Store, StoreError, detached_steps_in,
    governance, map_conflict, now, steps_of_other_jobs_sql, tracking,
};

impl Store {
    // ---- jobs and steps ---------------------------------------------------------------------

    pub fn job_exists(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM jobs WHERE name = ?1", [name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Records a new job and its steps, all `NotStarted`, in one transaction.
    ///
    /// The store's actor (see [`Store::set_actor`]) must be at least a contributor; the
    /// creation is recorded in the audit log in the same transaction.
    pub fn insert_job(&mut self, job: &JobRow, steps: &[StepRow]) -> Result<()> {
        self.actor
            .require(governance::Role::Contributor, "creating a job")?;
        let actor = self.actor.clone();
        self.atomically(|s| s.insert_job_rows(&actor, job, steps))
    }

    fn insert_job_rows(
        &self,
        actor: &governance::Actor,
        job: &JobRow,
        steps: &[StepRow],
    ) -> Result<()> {
        let tx = &self.conn;
        let res = tx.execute(
            "INSERT INTO jobs (name, type, display_name, experiment_name, description, tags, status, spec_path,
                spec_text, settings, inputs, compute, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                job.name,
                job.ty,
                job.display_name,
                job.experiment_name,
                job.description,
                serde_json::to_string(&job.tags)?,
                job.status,
                job.spec_path,
                job.spec_text,
                serde_json::to_string(&job.settings)?,
                serde_json::to_string(&job.inputs)?,
                job.compute,
                job.created_at
            ],
        );
        map_conflict(res, crate::Entity::Job, || job.name.clone())?;
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at) VALUES (?1, '', ?2, ?3)",
            params![job.name, job.status, job.created_at],
        )?;
        for (i, s) in steps.iter().enumerate() {
            tx.execute(
                "INSERT INTO steps (job_name, name, position, display_name, status, depends_on, environment, compute, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    job.name,
                    s.name,
                    i64::try_from(i).unwrap_or(i64::MAX),
                    s.display_name,
                    s.status,
                    serde_json::to_string(&s.depends_on)?,
                    s.environment,
                    s.compute,
                    s.created_at
                ],
            )?;
            tx.execute(
                "INSERT INTO status_history (job_name, step_name, status, at) VALUES (?1, ?2, ?3, ?4)",
                params![job.name, s.name, s.status, s.created_at],
            )?;
        }
        self.append_audit(
            actor,
            "job.create",
            None,
            &format!("job/{}", job.name),
            None,
            Some(&serde_json::json!({
                "type": job.ty,
                "experiment_name": job.experiment_name,
                "spec_path": job.spec_path,
                "inputs": job.inputs,
            })),
        )
    }

    /// Moves a job to `status`, stamping start/end times, and records the change.
    pub fn set_job_status(&mut self, name: &str, status: &str, error: Option<&str>) -> Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE jobs SET status = ?2,
                started_at = CASE WHEN ?2 = 'Running' AND started_at IS NULL THEN ?3 ELSE started_at END,
                ended_at = CASE WHEN ?2 IN ('Completed', 'Failed', 'Canceled') THEN ?3 ELSE ended_at END,
                error = COALESCE(?4, error)
             WHERE name = ?1",
            params![name, status, at, error],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: crate::Entity::Job,
                name: name.to_owned(),
            });
        }
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, '', ?2, ?3, ?4)",
            params![name, status, at, error],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Moves a step to `status` and records the change.
    pub fn set_step_status(
        &mut self,
        job: &str,
        step: &str,
        status: &str,
        message: Option<&str>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        step_status_in(&tx, job, step, status, message)?;
        tx.commit()?;
        Ok(())
    }

    /// Takes one of `compute`'s `limit` places for step `job`/`step`, making it `Preparing`,
    /// when fewer than `limit` steps of any job hold one; false (nothing written) when all are
    /// held. A step holds its place while `Preparing`, `Running` or `Finalizing` in a job not yet
    /// ended whose runner has reported within `stale_secs` (a runner that never reported, from
    /// before heartbeats, counts too). `also_held` more places are taken by batch jobs no runner
    /// watches ([`Store::unattended_batch_steps`] that their executor says still run): the
    /// store cannot tell whether those have ended, so the caller asks. One write transaction,
    /// so jobs claiming at once (other processes, other machines on PostgreSQL) never take more
    /// than `limit` between them; a look without the write lock first, so steps waiting for a
    /// place do not hold up the store's writers.
    pub fn claim_compute_slot(
        &mut self,
        job: &str,
        step: &str,
        compute: &str,
        limit: usize,
        stale_secs: i64,
        also_held: usize,
    ) -> Result<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM steps s JOIN jobs j ON j.name = s.job_name
             WHERE s.compute = ?1 AND s.status IN ('Preparing', 'Running', 'Finalizing')
               AND NOT (s.job_name = ?2 AND s.name = ?3)
               AND j.status NOT IN ('Completed', 'Failed', 'Canceled')
               AND (j.runner_beat IS NULL OR {} - j.runner_beat <= ?4)",
            self.clock()
        );
        let held = |conn: &db::Conn| -> Result<usize> {
            let n: i64 =
                conn.query_row(&sql, params![compute, job, step, stale_secs], |r| r.get(0))?;
            Ok(usize::try_from(n)
                .unwrap_or(usize::MAX)
                .saturating_add(also_held))
        };
        if held(&self.conn)? >= limit {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        if held(&tx)? >= limit {
            return Ok(false);
        }
        step_status_in(&tx, job, step, "Preparing", None)?;
        tx.commit()?;
        Ok(true)
    }

    /// The batch jobs (executor, id) of steps on `compute` that no runner watches, other than
    /// `job`/`step`: detached ones of an ended job (ended by an interruption while they ran on;
    /// a resumed job's are counted with its steps) and those of unfinished jobs whose runner
    /// has not reported within `stale_secs`. They may
    /// still run, holding places of the compute that [`Store::claim_compute_slot`] does not
    /// count; their executor can tell.
    pub fn unattended_batch_steps(
        &self,
        job: &str,
        step: &str,
        compute: &str,
        stale_secs: i64,
    ) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT s.executor, s.executor_id FROM steps s JOIN jobs j ON j.name = s.job_name
             WHERE s.compute = ?1 AND s.status IN ('Preparing', 'Running', 'Finalizing')
               AND NOT (s.job_name = ?2 AND s.name = ?3)
               AND s.executor IS NOT NULL AND s.executor <> 'local' AND s.executor_id IS NOT NULL
               AND ((s.detached = 1 AND j.status IN ('Completed', 'Failed', 'Canceled'))
                    OR (j.status NOT IN ('Completed', 'Failed', 'Canceled')
                        AND j.runner_beat IS NOT NULL AND {} - j.runner_beat > ?4))
             ORDER BY s.executor_id",
            self.clock()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![compute, job, step, stale_secs], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// Records what a step is about to run: its resolved command, inputs and folders.
    pub fn set_step_launch(
        &self,
        job: &str,
        step: &str,
        command: &str,
        inputs: &serde_json::Value,
        work_dir: &str,
        log_path: &str,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET command = ?3, inputs = ?4, work_dir = ?5, log_path = ?6 WHERE job_name = ?1 AND name = ?2",
            params![job, step, command, serde_json::to_string(inputs)?, work_dir, log_path],
        )?;
        Ok(())
    }

    pub fn set_step_exit(&self, job: &str, step: &str, exit_code: Option<i32>) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET exit_code = ?3 WHERE job_name = ?1 AND name = ?2",
            params![job, step, exit_code],
        )?;
        Ok(())
    }

    /// Records a finished environment build (the first record of a hash wins).
    pub fn record_env_build(&self, row: &EnvBuildRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO env_builds (hash, python, requirements, lock, path, seconds, built_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
            params![
                row.hash,
                row.python,
                row.requirements.join("\n"),
                row.lock.join("\n"),
                row.path,
                row.build_seconds,
                row.built_at
            ],
        )?;
        Ok(())
    }

    pub fn get_env_build(&self, hash: &str) -> Result<Option<EnvBuildRow>> {
        Ok(self
            .conn
            .query_row(
                &format!("{} WHERE hash = ?1", EnvBuildRow::SELECT),
                [hash],
                EnvBuildRow::from_row,
            )
            .optional()?)
    }

    /// Records the environment a step runs in.
    pub fn set_step_env(&self, job: &str, step: &str, env_hash: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET env_hash = ?3 WHERE job_name = ?1 AND name = ?2",
            params![job, step, env_hash],
        )?;
        Ok(())
    }

    /// Records a step's reuse key (`None` when reuse is off for it), its parts and its code hash.
    pub fn set_step_reuse(
        &self,
        job: &str,
        step: &str,
        key: Option<&str>,
        parts: &serde_json::Value,
        code_hash: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET reuse_key = ?3, reuse_parts = ?4, code_hash = ?5 WHERE job_name = ?1 AND name = ?2",
            params![job, step, key, parts.to_string(), code_hash],
        )?;
        Ok(())
    }

    /// Completed steps of other jobs with this reuse key, newest first.
    pub fn reuse_candidates(&self, key: &str, job: &str) -> Result<Vec<(String, StepRow)>> {
        self.steps_of_other_jobs(REUSE_CANDIDATES, params![key, job])
    }

    /// Earlier completed runs of a step of this name (from jobs other than `job`), newest first:
    /// what `job explain` compares a step with.
    pub fn earlier_steps(
        &self,
        step: &str,
        job: &str,
        before: &str,
    ) -> Result<Vec<(String, StepRow)>> {
        self.steps_of_other_jobs(
            "name = ?1 AND job_name != ?2 AND reuse_parts IS NOT NULL AND created_at <= ?3 ORDER BY created_at DESC LIMIT 20",
            params![step, job, before],
        )
    }

    /// Completed steps matching `filter` (SQL after `WHERE status = 'Completed' AND`), with
    /// their job names.
    fn steps_of_other_jobs(
        &self,
        filter: &str,
        args: impl crate::db::Params,
    ) -> Result<Vec<(String, StepRow)>> {
        let mut stmt = self.conn.prepare(&steps_of_other_jobs_sql(filter))?;
        let rows = stmt.query_map(args, |r| {
            Ok((r.get::<_, String>(0)?, StepRow::from_row_at(r, 1)?))
        })?;
        Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
    }

    /// Records the MLflow run of a step.
    pub fn set_step_run(&self, job: &str, step: &str, run_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET run_id = ?3 WHERE job_name = ?1 AND name = ?2",
            params![job, step, run_id],
        )?;
        Ok(())
    }

    /// The MLflow run a step recorded, if it recorded one.
    pub fn step_run(&self, job: &str, step: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT run_id FROM steps WHERE job_name = ?1 AND name = ?2",
                params![job, step],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Marks a step as having reused the results of `from` (`JOB/STEP`).
    pub fn set_step_reused(
        &self,
        job: &str,
        step: &str,
        from: &str,
        work_dir: Option<&str>,
        log_path: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET reused_from = ?3, work_dir = ?4, log_path = ?5, exit_code = NULL WHERE job_name = ?1 AND name = ?2",
            params![job, step, from, work_dir, log_path],
        )?;
        Ok(())
    }

    pub fn upsert_output(&self, row: &OutputRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO outputs (job_name, step_name, name, type, path, content_hash, size_bytes, file_count, asset_name, asset_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (job_name, step_name, name) DO UPDATE SET type = excluded.type, path = excluded.path,
                content_hash = excluded.content_hash, size_bytes = excluded.size_bytes, file_count = excluded.file_count,
                asset_name = excluded.asset_name, asset_version = excluded.asset_version",
            params![
                row.job_name,
                row.step_name,
                row.name,
                row.ty,
                row.path,
                row.content_hash,
                row.size_bytes,
                row.file_count,
                row.asset_name,
                row.asset_version
            ],
        )?;
        Ok(())
    }

    /// Records the process running a job.
    pub fn set_job_runner(&self, name: &str, runner: Runner<'_>) -> Result<()> {
        let sql = format!(
            "UPDATE jobs SET runner_pid = ?2, runner_started = ?3, runner_host = ?4, runner_beat = {} WHERE name = ?1",
            self.clock()
        );
        self.conn
            .execute(&sql, params![name, runner.pid, runner.started, runner.host])?;
        Ok(())
    }

    /// Now, in seconds since the Unix epoch, as SQL the store evaluates: heartbeats are
    /// written and judged by one clock, the store's, whatever the machines' clocks say.
    fn clock(&self) -> &'static str {
        match self.conn.dialect() {
            db::Dialect::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            db::Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        }
    }

    /// Records that `runner` is alive and still runs job `name` (a heartbeat); false when the
    /// job has ended or another process claimed it.
    pub fn beat_job_runner(&self, name: &str, runner: Runner<'_>) -> Result<bool> {
        let sql = format!(
            "UPDATE jobs SET runner_beat = {}
             WHERE name = ?1 AND runner_pid = ?2 AND runner_started = ?3 AND runner_host = ?4
               AND status NOT IN ('Completed', 'Failed', 'Canceled')",
            self.clock()
        );
        let n = self
            .conn
            .execute(&sql, params![name, runner.pid, runner.started, runner.host])?;
        Ok(n > 0)
    }

    /// Jobs not yet ended, with the process recorded as running them.
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRunner>> {
        let sql = format!(
            "SELECT name, runner_pid, runner_started, runner_host, {} - runner_beat FROM jobs WHERE status NOT IN ('Completed', 'Failed', 'Canceled')",
            self.clock()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map((), |r| {
            Ok(JobRunner {
                job: r.get(0)?,
                pid: r.get(1)?,
                started: r.get(2)?,
                host: r.get(3)?,
                silent_for: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ends an interrupted job: its unfinished steps and the job itself become `Failed` with
    /// `reason`, in one transaction, except the steps in `detached`, whose batch jobs run on:
    /// they stay `Running`, marked detached, with their MLflow runs, and the job's token stays
    /// valid (for them to log with) until the job is resumed, canceled, or the token expires.
    /// With `runner`, only while the job is unfinished and still recorded as that process's (a
    /// `job resume` may have claimed it meanwhile). Returns the steps marked `Failed`, or `None`
    /// when the job was no longer `runner`'s.
    pub fn mark_interrupted(
        &mut self,
        name: &str,
        runner: Option<(u32, &str)>,
        reason: &str,
        detached: &[String],
        orphans_for_runner_host: bool,
    ) -> Result<Option<Vec<String>>> {
        let at = now();
        let tx = self.conn.transaction()?;
        let claimed = match runner {
            Some((pid, started)) => tx.execute(
                "UPDATE jobs SET status = 'Failed', ended_at = ?2, error = ?3
                 WHERE name = ?1 AND status NOT IN ('Completed', 'Failed', 'Canceled')
                   AND runner_pid = ?4 AND runner_started = ?5
                   AND (?6 = 0 OR (runner_suspect IS NOT NULL AND runner_suspect >= runner_beat))",
                params![
                    name,
                    at,
                    reason,
                    pid,
                    started,
                    i64::from(orphans_for_runner_host)
                ],
            )?,
            None => tx.execute(
                "UPDATE jobs SET status = 'Failed', ended_at = ?2, error = ?3 WHERE name = ?1",
                params![name, at, reason],
            )?,
        };
        if claimed == 0 {
            return Ok(None);
        }
        let steps: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT name FROM steps WHERE job_name = ?1 AND status NOT IN ('Completed', 'Failed', 'Canceled') ORDER BY position",
            )?;
            let rows = stmt.query_map([name], |r| r.get(0))?;
            rows.collect::<Result<Vec<String>, _>>()?
        };
        let (kept, steps): (Vec<String>, Vec<String>) =
            steps.into_iter().partition(|s| detached.contains(s));
        for step in &steps {
            tx.execute(
                "UPDATE steps SET status = 'Failed', ended_at = ?3, error = ?4, detached = 0 WHERE job_name = ?1 AND name = ?2",
                params![name, step, at, reason],
            )?;
            tx.execute(
                "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, 'Failed', ?3, ?4)",
                params![name, step, at, reason],
            )?;
        }
        for step in &kept {
            tx.execute(
                "UPDATE steps SET detached = 1 WHERE job_name = ?1 AND name = ?2",
                params![name, step],
            )?;
            tx.execute(
                "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, 'Running', ?3, ?4)",
                params![
                    name,
                    step,
                    at,
                    "detached: the sluice process running the job stopped; the step's batch job runs on"
                ],
            )?;
        }
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, '', 'Failed', ?2, ?3)",
            params![name, at, reason],
        )?;
        tx.execute(
            "UPDATE runs SET status = 'FAILED', end_time = ?2
             WHERE status = 'RUNNING' AND seq IN (SELECT run_seq FROM tags WHERE key = 'sluice.job' AND value = ?1)
               AND run_uuid NOT IN (SELECT run_id FROM steps WHERE job_name = ?1 AND detached = 1 AND run_id IS NOT NULL)",
            params![name, tracking::now_ms()],
        )?;
        // The job's own token dies with it, unless a detached step still acts with it.
        if kept.is_empty() {
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE job_name = ?1 AND revoked_at IS NULL",
                params![name, at],
            )?;
        }
        if orphans_for_runner_host {
            tx.execute(
                "INSERT INTO orphan_processes (host, job_name, step_name, pid, pid_started, runner_pid, runner_started)
                 SELECT j.runner_host, s.job_name, s.name, s.pid, s.pid_started, j.runner_pid, j.runner_started
                 FROM steps s JOIN jobs j ON j.name = s.job_name
                 WHERE s.job_name = ?1 AND s.pid IS NOT NULL AND s.pid_started IS NOT NULL AND j.runner_host IS NOT NULL
                 ON CONFLICT (host, job_name, step_name) DO UPDATE SET pid = excluded.pid,
                   pid_started = excluded.pid_started, runner_pid = excluded.runner_pid,
                   runner_started = excluded.runner_started",
                params![name],
            )?;
        }
        tx.execute(
            "UPDATE steps SET pid = NULL, pid_started = NULL WHERE job_name = ?1",
            params![name],
        )?;
        tx.commit()?;
        Ok(Some(steps))
    }

    /// Judges a runner on another machine that has been silent longer than `stale` seconds,
    /// in two looks: the first records a suspicion (`runner_suspect`); the runner is gone
    /// (true) only when a later look finds the suspicion older than `stale` and no beat since.
    /// So when the store itself was down (every runner silent at once), the live runners beat
    /// again before they are judged. False while `runner` (pid, start time) is not the job's.
    pub fn judge_silent_runner(
        &mut self,
        name: &str,
        runner: (u32, &str),
        stale: i64,
    ) -> Result<bool> {
        let clock = self.clock();
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!(
                "UPDATE jobs SET runner_suspect = {clock}
                 WHERE name = ?1 AND runner_pid = ?2 AND runner_started = ?3
                   AND status NOT IN ('Completed', 'Failed', 'Canceled')
                   AND {clock} - runner_beat > ?4
                   AND (runner_suspect IS NULL OR runner_suspect < runner_beat)"
            ),
            params![name, runner.0, runner.1, stale],
        )?;
        let gone: Option<i64> = tx
            .query_row(
                &format!(
                    "SELECT 1 FROM jobs
                     WHERE name = ?1 AND runner_pid = ?2 AND runner_started = ?3
                       AND status NOT IN ('Completed', 'Failed', 'Canceled')
                       AND {clock} - runner_beat > ?4 AND runner_suspect >= runner_beat
                       AND {clock} - runner_suspect > ?4"
                ),
                params![name, runner.0, runner.1, stale],
                |r| r.get(0),
            )
            .optional()?;
        tx.commit()?;
        Ok(gone.is_some())
    }

    /// The step processes runners on `machine` (a host name, any boot) left when another
    /// machine judged them gone, each with the runner's `HOSTNAME/BOOT_ID`, for that machine to
    /// stop.
    pub fn orphan_processes_of_machine(
        &self,
        machine: &str,
    ) -> Result<Vec<(String, OrphanProcess)>> {
        let mut stmt = self.conn.prepare(
            "SELECT host, job_name, step_name, pid, pid_started, runner_pid, runner_started FROM orphan_processes
             WHERE substr(host, 1, length(?1) + 1) = ?1 || '/' ORDER BY host, job_name, step_name",
        )?;
        let rows = stmt.query_map([machine], |r| {
            Ok((
                r.get(0)?,
                OrphanProcess {
                    job: r.get(1)?,
                    step: r.get(2)?,
                    pid: r.get(3)?,
                    started: r.get(4)?,
                    runner_pid: r.get(5)?,
                    runner_started: r.get(6)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Forgets a left step process (it was stopped, or is gone).
    pub fn forget_orphan_process(&self, host: &str, job: &str, step: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM orphan_processes WHERE host = ?1 AND job_name = ?2 AND step_name = ?3",
            params![host, job, step],
        )?;
        Ok(())
    }

    /// Jobs that ended because the process running them died and were neither resumed nor
    /// canceled since: `Failed`, their error an interruption's ([`crate::INTERRUPTED`]), oldest first.
    pub fn interrupted_jobs(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT name FROM jobs WHERE status = 'Failed' AND error LIKE 'interrupted:%' ORDER BY created_at, name",
        )?;
        let rows = stmt.query_map((), |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Cancels an interrupted job (see [`Store::interrupted_jobs`]) so that nothing resumes it
    /// unasked: `Canceled` with `reason`. False (and nothing changed) when the job is not
    /// interrupted, e.g. because a `job resume` claimed it meanwhile.
    pub fn cancel_interrupted(&mut self, job: &str, reason: &str) -> Result<bool> {
        let at = now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE jobs SET status = 'Canceled', ended_at = ?2, error = ?3
             WHERE name = ?1 AND status = 'Failed' AND error LIKE 'interrupted:%'",
            params![job, at, reason],
        )?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, '', 'Canceled', ?2, ?3)",
            params![job, at, reason],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The detached steps of a job (see [`Store::mark_interrupted`]).
    pub fn detached_steps(&self, job: &str) -> Result<Vec<DetachedStep>> {
        detached_steps_in(&self.conn, job)
    }

    /// Marks a step attached again (its batch job is followed by a runner) or detached.
    pub fn set_step_detached(&self, job: &str, step: &str, detached: bool) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET detached = ?3 WHERE job_name = ?1 AND name = ?2",
            params![job, step, i64::from(detached)],
        )?;
        Ok(())
    }

    /// Starts canceling an ended job's detached steps: the job becomes `Canceled` (from
    /// `Failed`, or again from `Canceled` when an earlier cancel could not stop everything), in
    /// one transaction with reading them, so that a `job resume` claiming it meanwhile wins or
    /// loses as a whole. Returns the steps whose batch jobs the caller must now stop and end
    /// with [`Store::end_detached_step`]; none when the job has none or is not ended.
    pub fn begin_cancel_detached(&mut self, job: &str, reason: &str) -> Result<Vec<DetachedStep>> {
        let at = now();
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE jobs SET status = 'Canceled', ended_at = ?2, error = ?3
             WHERE name = ?1 AND status IN ('Failed', 'Canceled')
               AND EXISTS (SELECT 1 FROM steps WHERE job_name = ?1 AND detached = 1)",
            params![job, at, reason],
        )?;
        if n == 0 {
            return Ok(Vec::new());
        }
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, '', 'Canceled', ?2, ?3)",
            params![job, at, reason],
        )?;
        let steps = detached_steps_in(&tx, job)?;
        tx.commit()?;
        Ok(steps)
    }

    /// Ends a detached step whose batch job was stopped: `Canceled`, with its MLflow run. Only
    /// while it is still detached and its job ended (a `job resume` may have claimed it since).
    pub fn end_detached_step(&mut self, job: &str, step: &str, reason: &str) -> Result<()> {
        let at = now();
        let tx = self.conn.transaction()?;
        let ours: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM steps WHERE job_name = ?1 AND name = ?2 AND detached = 1
                   AND EXISTS (SELECT 1 FROM jobs WHERE name = ?1 AND status IN ('Failed', 'Canceled'))",
                params![job, step],
                |r| r.get(0),
            )
            .optional()?;
        if ours.is_none() {
            return Ok(());
        }
        tx.execute(
            "UPDATE runs SET status = 'KILLED', end_time = ?3
             WHERE status = 'RUNNING' AND run_uuid IN (SELECT run_id FROM steps WHERE job_name = ?1 AND name = ?2 AND run_id IS NOT NULL)",
            params![job, step, tracking::now_ms()],
        )?;
        tx.execute(
            "UPDATE steps SET status = 'Canceled', ended_at = ?3, error = ?4, detached = 0 WHERE job_name = ?1 AND name = ?2",
            params![job, step, at, reason],
        )?;
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, 'Canceled', ?3, ?4)",
            params![job, step, at, reason],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records the port the job's tracking server listens on (tried again on resume).
    pub fn set_job_tracking_port(&self, job: &str, port: u16) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET tracking_port = ?2 WHERE name = ?1",
            params![job, i64::from(port)],
        )?;
        Ok(())
    }

    /// The port the job's tracking server last listened on.
    pub fn job_tracking_port(&self, job: &str) -> Result<Option<u16>> {
        let port: Option<i64> = self
            .conn
            .query_row(
                "SELECT tracking_port FROM jobs WHERE name = ?1",
                [job],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(port.and_then(|p| u16::try_from(p).ok()))
    }

    /// Records the process a step runs as (`None` once it has exited).
    pub fn set_step_pid(&self, job: &str, step: &str, pid: Option<(u32, &str)>) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET pid = ?3, pid_started = ?4 WHERE job_name = ?1 AND name = ?2",
            params![job, step, pid.map(|p| p.0), pid.map(|p| p.1)],
        )?;
        Ok(())
    }

    /// Records the executor that runs a step, and its id there (a Slurm job id) with the
    /// attempt it runs.
    pub fn set_step_executor(
        &self,
        job: &str,
        step: &str,
        executor: &str,
        at: Option<(&str, u32)>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE steps SET executor = ?3, executor_id = ?4, executor_attempt = ?5 WHERE job_name = ?1 AND name = ?2",
            params![job, step, executor, at.map(|a| a.0), at.map(|a| i64::from(a.1))],
        )?;
        Ok(())
    }

    /// A job's unfinished steps that an executor other than the local one holds:
    /// (step, executor, id).
    pub fn step_executor_ids(&self, job: &str) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, executor, executor_id FROM steps WHERE job_name = ?1 AND executor IS NOT NULL
               AND executor <> 'local' AND executor_id IS NOT NULL
               AND status NOT IN ('Completed', 'Failed', 'Canceled')",
        )?;
        let rows = stmt.query_map([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// The processes recorded for a job's unfinished steps: (step, pid, kernel start time).
    pub fn step_processes(&self, job: &str) -> Result<Vec<(String, u32, String)>> {
        let mut stmt = self.conn.prepare(
            "SELECT name, pid, pid_started FROM steps WHERE job_name = ?1 AND pid IS NOT NULL AND pid_started IS NOT NULL",
        )?;
        let rows = stmt.query_map([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// Records one attempt of a step (its own log and exit), and the step's attempt count.
    #[expect(clippy::too_many_arguments, reason = "one row of the attempts table")]
    pub fn record_attempt(
        &self,
        job: &str,
        step: &str,
        attempt: u32,
        status: &str,
        exit_code: Option<i32>,
        error: Option<&str>,
        log_path: &str,
        started_at: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO step_attempts (job_name, step_name, attempt, status, exit_code, error, log_path, started_at, ended_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (job_name, step_name, attempt) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code, error = excluded.error, log_path = excluded.log_path, started_at = excluded.started_at, ended_at = excluded.ended_at",
            params![job, step, attempt, status, exit_code, error, log_path, started_at, now()],
        )?;
        self.conn.execute(
            "UPDATE steps SET attempts = ?3 WHERE job_name = ?1 AND name = ?2",
            params![job, step, attempt],
        )?;
        Ok(())
    }

    /// The attempts of a step, in order.
    pub fn step_attempts(&self, job: &str, step: &str) -> Result<Vec<AttemptRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT attempt, status, exit_code, error, log_path FROM step_attempts WHERE job_name = ?1 AND step_name = ?2 ORDER BY attempt",
        )?;
        let rows = stmt.query_map([job, step], attempt_row)?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// The attempts of every step of a job that made one, by step, each step's in order: one
    /// query (a job's summary read them step by step, a query per step).
    pub fn job_attempts(
        &self,
        job: &str,
    ) -> Result<std::collections::HashMap<String, Vec<AttemptRow>>> {
        let mut stmt = self.conn.prepare(
            "SELECT attempt, status, exit_code, error, log_path, step_name FROM step_attempts WHERE job_name = ?1 ORDER BY step_name, attempt",
        )?;
        let mut out: std::collections::HashMap<String, Vec<AttemptRow>> =
            std::collections::HashMap::new();
        for row in stmt.query_map([job], |r| Ok((r.get::<_, String>(5)?, attempt_row(r)?)))? {
            let (step, attempt) = row?;
            out.entry(step).or_default().push(attempt);
        }
        Ok(out)
    }

    /// Prepares a `Failed` or `Canceled` job to be resumed: every step that did not complete
    /// goes back to `NotStarted` (its outputs, attempts and error forgotten), except that a
    /// detached step keeps its attempts, reuse record and batch job (the runner follows that
    /// job); completed steps stay. Returns the steps that will run again or be followed.
    pub fn reset_for_resume(&mut self, job: &str, runner: Runner<'_>) -> Result<Vec<String>> {
        self.reset_claimed(job, runner, false, &[])
    }

    /// [`Store::reset_for_resume`] (or, with `only_interrupted`,
    /// [`Store::reset_interrupted_for_resume`]) leaving the steps in `keep` as they are (a
    /// sweep's failed trials whose pick completed), each with a note in its history.
    pub fn reset_for_resume_keeping(
        &mut self,
        job: &str,
        runner: Runner<'_>,
        only_interrupted: bool,
        keep: &[String],
    ) -> Result<Vec<String>> {
        self.reset_claimed(job, runner, only_interrupted, keep)
    }

    /// [`Store::reset_for_resume`] for an interrupted job only (`Failed` with an interruption
    /// as its error): a canceled job, or one that failed otherwise, is refused.
    pub fn reset_interrupted_for_resume(
        &mut self,
        job: &str,
        runner: Runner<'_>,
    ) -> Result<Vec<String>> {
        self.reset_claimed(job, runner, true, &[])
    }

    fn reset_claimed(
        &mut self,
        job: &str,
        runner: Runner<'_>,
        only_interrupted: bool,
        keep: &[String],
    ) -> Result<Vec<String>> {
        let at = now();
        let sql = format!(
            "UPDATE jobs SET status = 'NotStarted', ended_at = NULL, error = NULL, runner_pid = ?2, runner_started = ?3, runner_host = ?4, runner_beat = {}
             WHERE name = ?1 AND status IN ('Failed', 'Canceled')
               AND (?5 = 0 OR (status = 'Failed' AND error LIKE 'interrupted:%'))",
            self.clock()
        );
        let tx = self.conn.transaction()?;
        // Checked and claimed in one transaction: two resumes cannot both win.
        let n = tx.execute(
            &sql,
            params![
                job,
                runner.pid,
                runner.started,
                runner.host,
                i64::from(only_interrupted)
            ],
        )?;
        if n == 0 {
            let status: Option<String> = tx
                .query_row("SELECT status FROM jobs WHERE name = ?1", [job], |r| {
                    r.get(0)
                })
                .optional()?;
            return Err(match status {
                None => StoreError::NotFound {
                    what: crate::Entity::Job,
                    name: job.to_owned(),
                },
                Some(status) if only_interrupted => StoreError::Invalid(format!(
                    "job `{job}` is {status} and not interrupted: it is not resumed on its own"
                )),
                Some(status) => StoreError::Invalid(format!(
                    "job `{job}` is {status}: only a Failed or Canceled job can be resumed"
                )),
            });
        }
        let steps: Vec<(String, bool)> = {
            let mut stmt = tx.prepare(
                "SELECT name, detached FROM steps WHERE job_name = ?1 AND status != 'Completed' ORDER BY position",
            )?;
            let rows = stmt.query_map([job], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (step, detached) in &steps {
            if keep.contains(step) {
                tx.execute(
                    "INSERT INTO status_history (job_name, step_name, status, at, message) SELECT ?1, ?2, status, ?3, 'kept as it was on resume: the steps that waited for it completed' FROM steps WHERE job_name = ?1 AND name = ?2",
                    params![job, step, at],
                )?;
                continue;
            }
            if *detached {
                // Its batch job runs on: the runner follows it (everything about it stays).
                tx.execute(
                    "UPDATE steps SET status = 'NotStarted', ended_at = NULL, error = NULL WHERE job_name = ?1 AND name = ?2",
                    params![job, step],
                )?;
                tx.execute(
                    "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, 'NotStarted', ?3, 'resumed: its batch job is followed again')",
                    params![job, step, at],
                )?;
                continue;
            }
            tx.execute(
                "UPDATE steps SET status = 'NotStarted', command = NULL, exit_code = NULL, started_at = NULL,
                    ended_at = NULL, error = NULL, pid = NULL, pid_started = NULL, reused_from = NULL,
                    reuse_key = NULL, reuse_parts = NULL, env_hash = NULL, attempts = 0,
                    executor = NULL, executor_id = NULL, executor_attempt = NULL
                 WHERE job_name = ?1 AND name = ?2",
                params![job, step],
            )?;
            tx.execute(
                "DELETE FROM outputs WHERE job_name = ?1 AND step_name = ?2",
                params![job, step],
            )?;
            tx.execute(
                "DELETE FROM step_attempts WHERE job_name = ?1 AND step_name = ?2",
                params![job, step],
            )?;
            tx.execute(
                "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, 'NotStarted', ?3, 'resumed')",
                params![job, step, at],
            )?;
        }
        tx.execute(
            "DELETE FROM outputs WHERE job_name = ?1 AND step_name = ''",
            params![job],
        )?;
        tx.execute(
            "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, '', 'NotStarted', ?2, 'resumed')",
            params![job, at],
        )?;
        tx.commit()?;
        Ok(steps.into_iter().map(|(s, _)| s).collect())
    }

    pub fn get_job(&self, name: &str) -> Result<JobRow> {
        self.conn
            .query_row(
                &format!("{} WHERE name = ?1", JobRow::SELECT),
                [name],
                JobRow::from_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: crate::Entity::Job,
                name: name.to_owned(),
            })
    }

    /// Jobs, newest first.
    pub fn list_jobs(&self, limit: usize) -> Result<Vec<JobRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "{} ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            JobRow::SELECT
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], JobRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn list_steps(&self, job: &str) -> Result<Vec<StepRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "{} WHERE job_name = ?1 ORDER BY position",
            StepRow::SELECT
        ))?;
        let rows = stmt.query_map([job], StepRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The outputs of one step of a job (`step` empty: the pipeline's own).
    pub fn list_step_outputs(&self, job: &str, step: &str) -> Result<Vec<OutputRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT job_name, step_name, name, type, path, content_hash, size_bytes, file_count, asset_name, asset_version
             FROM outputs WHERE job_name = ?1 AND step_name = ?2 ORDER BY name",
        )?;
        let rows = stmt.query_map([job, step], OutputRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn list_outputs(&self, job: &str) -> Result<Vec<OutputRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT job_name, step_name, name, type, path, content_hash, size_bytes, file_count, asset_name, asset_version
             FROM outputs WHERE job_name = ?1 ORDER BY step_name, name",
        )?;
        let rows = stmt.query_map([job], OutputRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn status_history(&self, job: &str) -> Result<Vec<StatusEvent>> {
        let mut stmt = self.conn.prepare(
            "SELECT step_name, status, at, message FROM status_history WHERE job_name = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([job], |r| {
            Ok(StatusEvent {
                step: r.get(0)?,
                status: r.get(1)?,
                at: r.get(2)?,
                message: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// A step's status changed inside `tx`, with its times, error and history row.
fn step_status_in(
    tx: &db::Transaction<'_>,
    job: &str,
    step: &str,
    status: &str,
    message: Option<&str>,
) -> Result<()> {
    let at = now();
    let n = tx.execute(
        "UPDATE steps SET status = ?3,
            started_at = CASE WHEN ?3 = 'Running' AND started_at IS NULL THEN ?4 ELSE started_at END,
            ended_at = CASE WHEN ?3 IN ('Completed', 'Failed', 'Canceled') THEN ?4 ELSE ended_at END,
            error = CASE WHEN ?3 IN ('Failed', 'Canceled') THEN COALESCE(?5, error) ELSE error END
         WHERE job_name = ?1 AND name = ?2",
        params![job, step, status, at, message],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound {
            what: crate::Entity::Step,
            name: format!("{job}/{step}"),
        });
    }
    tx.execute(
        "INSERT INTO status_history (job_name, step_name, status, at, message) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![job, step, status, at, message],
    )?;
    Ok(())
}

/// A row of `step_attempts` (attempt, status, exit code, error, log path first).
fn attempt_row(r: &crate::db::Row<'_>) -> crate::db::Result<AttemptRow> {
    Ok(AttemptRow {
        attempt: r.get(0)?,
        status: r.get(1)?,
        exit_code: r.get(2)?,
        error: r.get(3)?,
        log_path: r.get(4)?,
    })
}
