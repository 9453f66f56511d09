-- 0024: metric histories keyed by integers. Each (run, key) gets a `history_id` once; the
-- tables a log-batch writes name it instead of the run's 32-character id:
-- `metric_points_recent` (points since the last fold, ordered by the run's creation number
-- then arrival, so a run's batch still fills one or two pages; no key text in its rows),
-- `history_chunks` (folded points) and `metric_latest` (a history's latest value, upserted by
-- every batch; it keeps the metric's name for the (key, value) index searches walk). Rows are
-- smaller and key comparisons are of integers. Readers keep the name `latest_metrics`: a view
-- joining a history to its latest value. Points in `metrics` (PostgreSQL's, and SQLite's
-- folded before chunks) stay keyed as they were.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metric_histories (
    history_id INTEGER PRIMARY KEY,
    run_uuid   TEXT NOT NULL,
    key        TEXT NOT NULL,
    run_seq    INTEGER NOT NULL,          -- the run's `seq`: where its recent points cluster
    UNIQUE (run_uuid, key)
);
CREATE INDEX metric_histories_key ON metric_histories (key);
INSERT INTO metric_histories (run_uuid, key, run_seq)
    SELECT h.run_uuid, h.key, COALESCE(r.seq, 0)
    FROM (SELECT run_uuid, key FROM latest_metrics
          UNION SELECT run_uuid, key FROM metrics_recent
          UNION SELECT run_uuid, key FROM metric_chunks) h
    -- Points of a run no longer in `runs` (none is ever removed) are kept all the same.
    LEFT JOIN runs r ON r.run_uuid = h.run_uuid
    ORDER BY 3, h.key;

CREATE TABLE metric_latest (
    history_id INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,             -- its history's: searches walk (key, value)
    value      REAL NOT NULL,
    timestamp  INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    is_nan     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO metric_latest (history_id, key, value, timestamp, step, is_nan)
    SELECT h.history_id, l.key, l.value, l.timestamp, l.step, l.is_nan
    FROM latest_metrics l JOIN metric_histories h ON h.run_uuid = l.run_uuid AND h.key = l.key;
DROP TABLE latest_metrics;
-- Searches that filter and sort runs by a metric walk this index in value order.
CREATE INDEX metric_latest_key_value ON metric_latest (key, value);
CREATE VIEW latest_metrics AS
    SELECT h.run_uuid AS run_uuid, h.key AS key, l.value AS value, l.timestamp AS timestamp,
           l.step AS step, l.is_nan AS is_nan
    -- (`l.key = h.key` always holds; said here, a `key = ?` reaches both tables' indexes: a
    -- run's metric by (run, key), or a metric's runs in value order by (key, value).)
    FROM metric_histories h JOIN metric_latest l ON l.history_id = h.history_id AND l.key = h.key;

CREATE TABLE metric_points_recent (
    run_seq    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,          -- arrival order since the last fold
    history_id INTEGER NOT NULL,
    value      REAL NOT NULL,
    timestamp  INTEGER NOT NULL,
    step       INTEGER NOT NULL,
    is_nan     INTEGER NOT NULL DEFAULT 0,
    model_id   TEXT,
    PRIMARY KEY (run_seq, seq)
) WITHOUT ROWID;
INSERT INTO metric_points_recent (run_seq, seq, history_id, value, timestamp, step, is_nan, model_id)
    SELECT h.run_seq, m.seq, h.history_id, m.value, m.timestamp, m.step, m.is_nan, m.model_id
    FROM metrics_recent m JOIN metric_histories h ON h.run_uuid = m.run_uuid AND h.key = m.key;
DROP TABLE metrics_recent;

CREATE TABLE history_chunks (
    history_id INTEGER NOT NULL,
    fold       INTEGER NOT NULL,          -- the fold that wrote it (`metrics_recent_count.folds`)
    points     BLOB NOT NULL,
    PRIMARY KEY (history_id, fold)
) WITHOUT ROWID;
INSERT INTO history_chunks (history_id, fold, points)
    SELECT h.history_id, c.fold, c.points
    FROM metric_chunks c JOIN metric_histories h ON h.run_uuid = c.run_uuid AND h.key = c.key;
DROP TABLE metric_chunks;
