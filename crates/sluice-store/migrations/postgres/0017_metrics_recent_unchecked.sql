-- 0017: on SQLite, `metrics_recent` loses its foreign key to `runs` (see the SQLite migration
-- of this number). PostgreSQL's dropped it in 0015.
-- Shipped migrations are never edited; add a new file instead.
SELECT 1;
