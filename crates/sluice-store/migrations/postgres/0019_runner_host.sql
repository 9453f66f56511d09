-- 0019: the machine a job's runner runs on. `runner_pid` and `runner_started` name a process on
-- one machine; with a store several machines share (PostgreSQL), a command on another machine
-- must not judge that process by its own `/proc`. `runner_host` is `HOSTNAME/BOOT_ID` of the
-- runner's machine: another host's runner is left to that host, and a runner recorded before
-- this machine last booted is gone. Jobs recorded before this migration have none (judged here,
-- as before).
-- Shipped migrations are never edited; add a new file instead.

ALTER TABLE jobs ADD COLUMN runner_host TEXT;
