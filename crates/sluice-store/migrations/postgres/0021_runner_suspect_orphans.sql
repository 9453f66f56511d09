-- 0021: judging a silent runner in two looks, and the step processes it left behind.
--
-- `runner_suspect`: when a machine first found the runner silent past the stale limit (by the
-- store's clock). The runner is judged gone only when it is still silent a stale limit later
-- and has not beaten since; so after the store itself was down (every runner silent at once)
-- the live runners beat again before anyone judges them.
--
-- `orphan_processes`: the step processes of a runner judged gone by another machine, kept for
-- the runner's own machine to stop (resuming or canceling the job forgets the steps' own pids).
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE jobs ADD COLUMN runner_suspect BIGINT;

CREATE TABLE orphan_processes (
    host           TEXT NOT NULL,
    job_name       TEXT NOT NULL,
    step_name      TEXT NOT NULL,
    pid            BIGINT NOT NULL,
    pid_started    TEXT NOT NULL,
    runner_pid     BIGINT,
    runner_started TEXT,
    PRIMARY KEY (host, job_name, step_name)
);
