-- 0023: a step about to run on a compute with `max_instances` counts the steps of every job
-- that hold one of its places (`Store::claim_compute_slot`); this index keeps that count to the
-- steps holding one instead of every step ever recorded.
-- Shipped migrations are never edited; add a new file instead.

CREATE INDEX steps_compute_active ON steps (compute) WHERE status IN ('Preparing', 'Running', 'Finalizing');
