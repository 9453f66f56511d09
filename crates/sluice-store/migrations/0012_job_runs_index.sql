-- 0012: the runs of a job found by their `sluice.job` tag through an index of that tag alone
-- (a reused step looks up the run of the step it reuses; without it every lookup read every
-- tag ever written, so a cached re-run grew slower with every earlier job). Partial, so long
-- tag values of other keys are never indexed.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX tags_sluice_job ON tags (value) WHERE key = 'sluice.job';
