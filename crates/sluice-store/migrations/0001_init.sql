-- 0001: the foundation schema. Shipped migrations are never edited; add a new file instead.

CREATE TABLE data_assets (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    seq           INTEGER NOT NULL,          -- creation order within the name, for @latest
    type          TEXT NOT NULL,             -- uri_file | uri_folder | mltable
    path          TEXT NOT NULL,             -- where the bytes are stored in the workspace
    source_path   TEXT NOT NULL,             -- the path as written in the data file
    description   TEXT,
    tags          TEXT NOT NULL DEFAULT '{}',
    content_hash  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    file_count    INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE environments (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    description   TEXT,
    image         TEXT,
    conda_file    TEXT,                      -- the conda file's text
    spec          TEXT NOT NULL,             -- the whole spec as JSON
    spec_hash     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE computes (
    name          TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    max_instances INTEGER NOT NULL,
    description   TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE jobs (
    name            TEXT PRIMARY KEY,
    type            TEXT NOT NULL,           -- pipeline | command
    display_name    TEXT,
    experiment_name TEXT NOT NULL,
    description     TEXT,
    tags            TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL,
    spec_path       TEXT NOT NULL,
    spec_text       TEXT NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}',
    inputs          TEXT NOT NULL DEFAULT '{}',
    compute         TEXT,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    ended_at        TEXT,
    error           TEXT
);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE steps (
    job_name      TEXT NOT NULL REFERENCES jobs (name),
    name          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    display_name  TEXT,
    status        TEXT NOT NULL,
    depends_on    TEXT NOT NULL DEFAULT '[]',
    command       TEXT,                      -- the command as run, bindings substituted
    environment   TEXT,
    compute       TEXT,
    inputs        TEXT NOT NULL DEFAULT '{}',
    work_dir      TEXT,
    log_path      TEXT,
    exit_code     INTEGER,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    ended_at      TEXT,
    error         TEXT,
    PRIMARY KEY (job_name, name)
);

CREATE TABLE status_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name      TEXT NOT NULL,
    step_name     TEXT NOT NULL DEFAULT '',  -- '' for the job itself
    status        TEXT NOT NULL,
    at            TEXT NOT NULL,
    message       TEXT
);
CREATE INDEX status_history_job ON status_history (job_name, id);

CREATE TABLE outputs (
    job_name      TEXT NOT NULL,
    step_name     TEXT NOT NULL,             -- '' for the pipeline's own outputs
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    path          TEXT NOT NULL,
    content_hash  TEXT,
    size_bytes    INTEGER,
    file_count    INTEGER,
    asset_name    TEXT,
    asset_version TEXT,
    PRIMARY KEY (job_name, step_name, name)
);
