-- 0016: a fold of `metrics_recent` writes each history's points as one chunk row (a packed
-- blob, see `tracking/chunks.rs`) instead of a row per point in `metrics`: under a steady
-- log-batch load a fold touched ~800 places of `metrics`' B-tree and took half of the writer's
-- time. Points folded before this migration stay in `metrics` and are read from there too.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metric_chunks (
    run_uuid  TEXT NOT NULL REFERENCES runs (run_uuid),
    key       TEXT NOT NULL,
    fold      INTEGER NOT NULL,           -- the fold that wrote it (`metrics_recent_count.folds`)
    points    BLOB NOT NULL,
    PRIMARY KEY (run_uuid, key, fold)
) WITHOUT ROWID;

-- How many folds have run: each numbers its chunks.
ALTER TABLE metrics_recent_count ADD COLUMN folds INTEGER NOT NULL DEFAULT 0;
