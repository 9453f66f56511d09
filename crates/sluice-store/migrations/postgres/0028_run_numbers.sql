-- 0028 (PostgreSQL): runs numbered by a sequence. A run's number (`runs.seq`, the integer key
-- of its params, tags, inputs, outputs and metric histories since 0025) was the newest number
-- plus one, read under the store's exclusive write lock, so creating runs took turns across
-- every connection and server. Drawn from a sequence, it needs the lock only shared (held off
-- by the writes that take it exclusively, such as deleting an experiment), and runs are
-- created side by side. Numbers stay unique (the unique index of 0025); a failed create leaves
-- a gap. The sequence starts after the newest run.
-- Shipped migrations are never edited; add a new file instead.

CREATE SEQUENCE runs_seq_numbers;
SELECT setval('runs_seq_numbers', COALESCE((SELECT MAX(seq) FROM runs), 0) + 1, false);
