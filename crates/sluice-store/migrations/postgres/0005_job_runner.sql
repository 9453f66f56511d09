-- 0005 (PostgreSQL): which process runs a job, so a job whose process died is detected as
-- interrupted.
ALTER TABLE jobs ADD COLUMN runner_pid BIGINT;
-- The runner's start time as the kernel gives it (guards against a reused process id).
ALTER TABLE jobs ADD COLUMN runner_started TEXT;
