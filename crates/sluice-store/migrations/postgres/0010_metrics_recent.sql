-- 0010: metric points are first appended, in arrival order, to `metrics_recent`, and folded
-- into `metrics` in bulk (see the SQLite migration of the same number).
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metrics_recent (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid),
    seq       BIGINT NOT NULL,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    timestamp BIGINT NOT NULL,
    step      BIGINT NOT NULL,
    is_nan    BIGINT NOT NULL DEFAULT 0,
    model_id  TEXT,
    PRIMARY KEY (run_uuid, seq)
);

CREATE TABLE metrics_recent_count (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO metrics_recent_count (id, n) VALUES (1, 0);
