-- 0014: executors. A step records the executor that ran it and that executor's id for it (a
-- Slurm job id); a compute records its executor's settings (a Slurm partition, account, QoS,
-- extra sbatch options) as JSON.
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE steps ADD COLUMN executor TEXT;
ALTER TABLE steps ADD COLUMN executor_id TEXT;
ALTER TABLE computes ADD COLUMN settings TEXT;
