-- 0020: a job runner's heartbeat. `runner_host` lets a machine leave another machine's runner
-- alone, but a runner whose machine is gone for good (powered off, deleted) then stays
-- `Running` for everyone else. A runner now records, every few seconds, when it was last alive
-- (`runner_beat`, seconds since the Unix epoch by the store's clock); another machine judges it
-- gone once it has been silent past the stale limit (in two looks: see 0021). Jobs recorded
-- before this migration, or whose runner predates it, have none (another machine's runner
-- without a beat is left alone, as before).
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE jobs ADD COLUMN runner_beat BIGINT;
