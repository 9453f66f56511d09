-- 0014 (PostgreSQL): the twin of ../0014_executors.sql.
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE steps ADD COLUMN executor TEXT;
ALTER TABLE steps ADD COLUMN executor_id TEXT;
ALTER TABLE computes ADD COLUMN settings TEXT;
