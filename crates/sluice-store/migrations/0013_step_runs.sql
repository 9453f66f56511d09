-- 0013: each step records its MLflow run, so a reused step finds the run of the step it
-- reuses directly (steps of earlier workspaces have none: they are found by their tags).
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE steps ADD COLUMN run_id TEXT;
