-- 0009 (PostgreSQL): MLflow traces (`mlflow.start_span`, `@mlflow.trace`): one row per trace
-- with its metadata and tags. The spans themselves are the trace's `traces.json` artifact,
-- uploaded by the client to the location the `mlflow.artifactLocation` tag names; the twin of
-- ../0009_traces.sql.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE traces (
    trace_id            TEXT PRIMARY KEY,          -- `tr-<32 hex>` (v3, client-made) or 32 hex (v2)
    experiment_id       BIGINT NOT NULL REFERENCES experiments (experiment_id),
    request_time        BIGINT NOT NULL,           -- ms since the epoch
    execution_duration  BIGINT,                    -- ms; NULL while in progress
    state               TEXT NOT NULL,             -- OK | ERROR | IN_PROGRESS | STATE_UNSPECIFIED
    client_request_id   TEXT,
    request_preview     TEXT,
    response_preview    TEXT
);
CREATE INDEX traces_by_experiment ON traces (experiment_id, request_time DESC, trace_id);

CREATE TABLE trace_metadata (
    trace_id  TEXT NOT NULL REFERENCES traces (trace_id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
);

CREATE TABLE trace_tags (
    trace_id  TEXT NOT NULL REFERENCES traces (trace_id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
);
