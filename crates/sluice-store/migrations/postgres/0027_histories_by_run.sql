-- 0027 (PostgreSQL): the twin of ../0027_histories_by_run.sql.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX metric_histories_run ON metric_histories (run_seq, key);
