-- 0006 (PostgreSQL): built Python environments, what each step ran with, step reuse, step
-- processes and retried attempts; the twin of ../0006_environments.sql.
-- Shipped migrations are never edited; add a new file instead.

-- One row per content-addressed environment build (hash of interpreter version + requirements).
CREATE TABLE env_builds (
    hash          TEXT PRIMARY KEY,
    python        TEXT NOT NULL,             -- the interpreter's full version
    requirements  TEXT NOT NULL,             -- the normalised set, one per line
    lock          TEXT NOT NULL,             -- the resolved, pinned set
    path          TEXT NOT NULL,             -- the venv
    seconds       DOUBLE PRECISION NOT NULL, -- how long the build took
    built_at      TEXT NOT NULL
);

ALTER TABLE steps ADD COLUMN env_hash TEXT;      -- the env_builds row the step ran in
ALTER TABLE steps ADD COLUMN code_hash TEXT;     -- blake3 of the step's code snapshot
ALTER TABLE steps ADD COLUMN reuse_key TEXT;     -- blake3 of the reuse key's parts
ALTER TABLE steps ADD COLUMN reuse_parts TEXT;   -- the parts (JSON), for `job explain`
ALTER TABLE steps ADD COLUMN reused_from TEXT;   -- JOB/STEP whose results this step reused
CREATE INDEX steps_reuse_key ON steps (reuse_key) WHERE reuse_key IS NOT NULL;

-- The step's process (its process group leader) while it runs, with the kernel's start time,
-- so that the process of an interrupted job can be found and stopped.
ALTER TABLE steps ADD COLUMN pid BIGINT;
ALTER TABLE steps ADD COLUMN pid_started TEXT;
ALTER TABLE steps ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;

-- Every attempt of a step that was retried (and the last one), with its own log and exit.
CREATE TABLE step_attempts (
    job_name      TEXT NOT NULL,
    step_name     TEXT NOT NULL,
    attempt       BIGINT NOT NULL,           -- 1, 2, ...
    status        TEXT NOT NULL,             -- Completed | Failed | Canceled
    exit_code     BIGINT,
    error         TEXT,
    log_path      TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    ended_at      TEXT NOT NULL,
    PRIMARY KEY (job_name, step_name, attempt)
);
