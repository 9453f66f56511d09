-- 0004 (PostgreSQL): creating a run reads MAX(seq); without an index that was a scan of every run.
CREATE INDEX runs_seq ON runs (seq);
