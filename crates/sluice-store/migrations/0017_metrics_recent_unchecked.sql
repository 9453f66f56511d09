-- 0017: `metrics_recent` without its foreign key to `runs`, as on PostgreSQL since 0015. With
-- SQLite's foreign keys on, a fold's `DELETE FROM metrics_recent` deleted its rows one by one
-- (40 ms of a 65,536-point fold, half of it) instead of freeing the table's pages at once, and
-- every point appended looked its run up. Writers check that the run exists and is active
-- before appending, and runs are never removed for good. The table holds at most one fold's
-- points, so rebuilding it is cheap.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metrics_recent_unchecked (
    run_uuid  TEXT NOT NULL,
    seq       INTEGER NOT NULL,           -- arrival order since the last fold
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    step      INTEGER NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    model_id  TEXT,
    PRIMARY KEY (run_uuid, seq)
) WITHOUT ROWID;
INSERT INTO metrics_recent_unchecked (run_uuid, seq, key, value, timestamp, step, is_nan, model_id)
    SELECT run_uuid, seq, key, value, timestamp, step, is_nan, model_id FROM metrics_recent;
DROP TABLE metrics_recent;
ALTER TABLE metrics_recent_unchecked RENAME TO metrics_recent;
