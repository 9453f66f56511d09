-- 0003 (PostgreSQL): the MLflow model registry (registered models, versions, tags, aliases) and
-- MLflow 3 logged models; the twin of ../0003_registry.sql. Shipped migrations are never edited.

CREATE TABLE registered_models (
    name              TEXT PRIMARY KEY,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT,
    -- The highest version number ever given out: deleted versions' numbers are never reused.
    last_version      BIGINT NOT NULL DEFAULT 0
);

-- Renaming a model renames its rows here through `ON UPDATE CASCADE`; deleting one deletes its
-- rows explicitly in the same transaction (the foreign keys refuse orphans).
CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE model_versions (
    name              TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE,
    version           BIGINT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    user_id           TEXT NOT NULL DEFAULT '',
    current_stage     TEXT NOT NULL DEFAULT 'None',
    source            TEXT NOT NULL,
    -- Where the artifacts are (`source` resolved: `runs:/` and `models:/` URIs point elsewhere).
    storage_location  TEXT NOT NULL,
    run_id            TEXT NOT NULL DEFAULT '',
    run_link          TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'READY',
    model_id          TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (name, version, key),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE
);

CREATE TABLE registered_model_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE
);
CREATE INDEX registered_model_aliases_version ON registered_model_aliases (name, version);

-- MLflow 3 logged models. Deleting one marks it deleted (as MLflow does); its rows stay.
CREATE TABLE logged_models (
    model_id          TEXT PRIMARY KEY,
    experiment_id     BIGINT NOT NULL REFERENCES experiments (experiment_id),
    name              TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    status            TEXT NOT NULL,          -- LOGGED_MODEL_PENDING | _READY | _UPLOAD_FAILED
    status_message    TEXT,
    model_type        TEXT NOT NULL DEFAULT '',
    source_run_id     TEXT,
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
    seq               BIGINT NOT NULL         -- creation order, the last tie-breaker when sorting
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_time DESC, seq DESC);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models (model_id),
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Metrics logged to a run with a `model_id`. A separate table, as in MLflow: the same point is
-- often already in `metrics` (the client re-logs a run's metrics for the model), and MLflow
-- accepts model ids it does not know, so there is no foreign key. Listed in logging order
-- (SQLite's rowid; PostgreSQL has no such column).
CREATE TABLE logged_model_metrics (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY,  -- insertion order (SQLite's implicit rowid, which the code orders by)
    model_id       TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    key            TEXT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    timestamp      BIGINT NOT NULL,
    step           BIGINT NOT NULL,
    is_nan         BIGINT NOT NULL DEFAULT 0,
    dataset_name   TEXT,
    dataset_digest TEXT,
    UNIQUE (model_id, run_id, key, step, timestamp, value, is_nan)
);
