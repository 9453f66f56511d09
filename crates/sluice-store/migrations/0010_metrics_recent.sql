-- 0010: metric points are first appended, in arrival order, to `metrics_recent`, and folded
-- into `metrics` in bulk. `metrics` is ordered by (run, key, step), so a batch of 100 metrics
-- written straight into it dirties one page per metric history; appended here, ordered by
-- (run, arrival), it fills one or two pages, and a fold writes each history's pages once for
-- many batches. Reads of a history take both tables (UNION: a point logged twice is one point).
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metrics_recent (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid),
    seq       INTEGER NOT NULL,           -- arrival order since the last fold
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    model_id  TEXT,
    PRIMARY KEY (run_uuid, seq)
) WITHOUT ROWID;

-- How many points `metrics_recent` holds (their next `seq`); a fold empties both.
CREATE TABLE metrics_recent_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO metrics_recent_count (id, n) VALUES (1, 0);
