-- 0018: steps that outlive their runner. When the `sluice` process running a job dies while a
-- step runs as a batch job (Slurm) that goes on running, the step is marked `detached`: `job
-- resume` follows that batch job to its end instead of submitting the step again, and `job
-- cancel` stops it; `executor_attempt` is the attempt the batch job runs. `jobs.tracking_port`
-- is the port the job's tracking server listened on (the address its steps were given); a
-- resumed job listens there again when it can, so a detached step's MLflow calls reach the
-- new server.
-- The same as the SQLite migration of this number.
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE steps ADD COLUMN detached INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN executor_attempt INTEGER;
ALTER TABLE jobs ADD COLUMN tracking_port INTEGER;
