-- 0002: MLflow-compatible experiment tracking. Shipped migrations are never edited.

CREATE TABLE experiments (
    experiment_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
    creation_time     INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL
);
-- MLflow's default experiment has id 0.
INSERT INTO experiments (experiment_id, name, artifact_location, creation_time, last_update_time)
VALUES (0, 'Default', 'mlflow-artifacts:/0', CAST(strftime('%s', 'now') AS INTEGER) * 1000,
        CAST(strftime('%s', 'now') AS INTEGER) * 1000);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_uuid        TEXT PRIMARY KEY,
    experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
    run_name        TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    start_time      INTEGER,
    end_time        INTEGER,
    lifecycle_stage TEXT NOT NULL DEFAULT 'active',
    artifact_uri    TEXT NOT NULL,
    deleted_time    INTEGER,
    seq             INTEGER NOT NULL         -- creation order, the last tie-breaker when sorting
);
CREATE INDEX runs_experiment ON runs (experiment_id, start_time DESC, seq DESC);

CREATE TABLE metrics (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid),
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    model_id  TEXT,
    PRIMARY KEY (run_uuid, key, step, timestamp, value, is_nan)
) WITHOUT ROWID;

-- The latest value of each metric of a run (highest step, then timestamp, then value), which
-- searches filter and sort on.
CREATE TABLE latest_metrics (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid),
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

CREATE TABLE params (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;

CREATE TABLE tags (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (run_uuid, key)
) WITHOUT ROWID;

-- Datasets logged with `log_inputs` and models logged as outputs (JSON as the client sent it).
CREATE TABLE run_inputs (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    kind     TEXT NOT NULL,                  -- 'dataset' | 'model'
    body     TEXT NOT NULL,
    seq      INTEGER PRIMARY KEY AUTOINCREMENT
);
CREATE TABLE run_outputs (
    run_uuid TEXT NOT NULL REFERENCES runs (run_uuid),
    model_id TEXT NOT NULL,
    step     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_uuid, model_id)
);
