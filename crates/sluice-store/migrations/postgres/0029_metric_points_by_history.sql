-- 0029 (PostgreSQL): metric points keyed by their history. PostgreSQL wrote every point as a
-- row of `metrics`, keyed by (run id, metric name, step, timestamp, value, NaN-ness): each row
-- and each index entry carried the run's 32-character id and the metric's name. Points now go
-- to `metric_points`, keyed by (history_id, step, timestamp, value, NaN-ness): the history's
-- integer (0024) names both, and a history's points are read in order by that key. Every point
-- moves; a (run, key) with points and no history yet gets one (as a write would make it).
-- `metrics` is dropped, so a server of an older build fails loudly on this database instead
-- of writing points no reader sees (servers on one database upgrade together).
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE metric_points (
    history_id BIGINT NOT NULL,
    step       BIGINT NOT NULL,
    timestamp  BIGINT NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    is_nan     BIGINT NOT NULL DEFAULT 0,
    model_id   TEXT,
    PRIMARY KEY (history_id, step, timestamp, value, is_nan)
);
INSERT INTO metric_histories (run_uuid, key, run_seq)
    SELECT m.run_uuid, m.key, COALESCE(MAX(r.seq), 0)
    FROM metrics m LEFT JOIN runs r ON r.run_uuid = m.run_uuid
    GROUP BY m.run_uuid, m.key
    ORDER BY 3, m.key
    ON CONFLICT (run_uuid, key) DO NOTHING;
INSERT INTO metric_points (history_id, step, timestamp, value, is_nan, model_id)
    SELECT h.history_id, m.step, m.timestamp, m.value, m.is_nan, m.model_id
    FROM metrics m JOIN metric_histories h ON h.run_uuid = m.run_uuid AND h.key = m.key
    ORDER BY 1, 2, 3, 4, 5;
DROP TABLE metrics;
