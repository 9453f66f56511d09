-- 0015: on PostgreSQL, the metric point tables drop their foreign key to `runs` (see the
-- PostgreSQL migration of this number). Nothing changes on SQLite: its check is an in-process
-- index lookup, and dropping it would mean rebuilding the table of every metric point.
-- Shipped migrations are never edited; add a new file instead.
SELECT 1;
