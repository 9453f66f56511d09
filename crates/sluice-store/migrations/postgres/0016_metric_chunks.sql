-- 0016: on SQLite, a fold of `metrics_recent` writes each history's points as one chunk row
-- (see the SQLite migration of this number). Nothing changes on PostgreSQL: points go
-- straight into `metrics` there (an append to a heap plus index entries, 2.9 µs a point) and
-- nothing is folded.
-- Shipped migrations are never edited; add a new file instead.
SELECT 1;
