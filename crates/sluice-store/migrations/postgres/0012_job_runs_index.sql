-- 0012 (PostgreSQL): the twin of ../0012_job_runs_index.sql.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX tags_sluice_job ON tags (value) WHERE key = 'sluice.job';
