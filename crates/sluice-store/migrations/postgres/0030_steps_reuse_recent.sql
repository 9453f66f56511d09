-- 0030: a step's reuse check asks for the newest completed steps of other jobs with its reuse
-- key (`Store::reuse_candidates`, five at most). Through `steps_reuse_key` (the key alone) it
-- read every step ever recorded with that key, one per earlier job that ran or reused it, and
-- sorted them: a cached re-run's steps cost more with every job in the history. This index
-- holds the completed ones only, newest first within a key, so the check reads the few it
-- keeps; it replaces `steps_reuse_key`, which nothing else reads.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX steps_reuse_recent ON steps (reuse_key, ended_at DESC)
    WHERE status = 'Completed' AND reuse_key IS NOT NULL;
DROP INDEX steps_reuse_key;
