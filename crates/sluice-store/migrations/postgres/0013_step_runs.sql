-- 0013 (PostgreSQL): the twin of ../0013_step_runs.sql.
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE steps ADD COLUMN run_id TEXT;
