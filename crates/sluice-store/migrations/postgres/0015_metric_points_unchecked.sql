-- 0015: the metric point tables (`metrics_recent`, `metrics`, `latest_metrics`) drop their
-- foreign key to `runs` on PostgreSQL. Each inserted row ran a trigger that looked the run up and
-- locked its row (`FOR KEY SHARE`): more than half the cost of appending a point. The store
-- writes points only after reading the run, in the same transaction under the store's write
-- lock, and runs are never deleted, so the key held nothing the store does not already hold.
-- (The SQLite migration of this number changes nothing: there the check is an in-process index
-- lookup, and dropping it would mean rebuilding the table of every point.)
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE metrics_recent DROP CONSTRAINT IF EXISTS metrics_recent_run_uuid_fkey;
ALTER TABLE metrics DROP CONSTRAINT IF EXISTS metrics_run_uuid_fkey;
ALTER TABLE latest_metrics DROP CONSTRAINT IF EXISTS latest_metrics_run_uuid_fkey;
