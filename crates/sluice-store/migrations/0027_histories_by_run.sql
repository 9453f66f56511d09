-- 0027: a run's metric histories found by its number (`run_seq`, the key of its params and
-- tags since 0025): reading runs (a search's page, `get_run`) reads their latest values by
-- integers, in key order, without a join back to `runs`.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX metric_histories_run ON metric_histories (run_seq, key);
