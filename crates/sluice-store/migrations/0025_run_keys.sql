-- 0025: a run's params, tags, inputs and outputs keyed by the run's integer `seq` (its creation
-- number) instead of its 32-character id: rows and keys are smaller, and searches and run reads
-- join them to `runs` by integers. Public run ids are unchanged (`runs.run_uuid`).
-- Shipped migrations are never edited; add a new file instead.

-- A run's number is its key from now on: unique. Every build numbered runs under the store's
-- write lock, so none should share one; any that do get new numbers after the newest, in their
-- old order (and the metric histories follow them).
UPDATE runs SET seq = (SELECT MAX(seq) FROM runs) + d.n
    FROM (SELECT r.run_uuid, ROW_NUMBER() OVER (ORDER BY r.seq, r.run_uuid) AS n FROM runs r
          WHERE EXISTS (SELECT 1 FROM runs o WHERE o.seq = r.seq AND o.run_uuid < r.run_uuid)) d
    WHERE runs.run_uuid = d.run_uuid;
UPDATE metric_histories SET run_seq = r.seq
    FROM runs r WHERE r.run_uuid = metric_histories.run_uuid AND metric_histories.run_seq <> r.seq;
UPDATE metric_points_recent SET run_seq = h.run_seq
    FROM metric_histories h
    WHERE h.history_id = metric_points_recent.history_id AND metric_points_recent.run_seq <> h.run_seq;
DROP INDEX runs_seq;
CREATE UNIQUE INDEX runs_seq ON runs (seq);

-- (Every row below belongs to a run in `runs`: their foreign keys were always enforced, so the
-- copies join `runs` without losing any.)
CREATE TABLE run_params (
    run_seq INTEGER NOT NULL REFERENCES runs (seq),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
INSERT INTO run_params (run_seq, key, value)
    SELECT r.seq, p.key, p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid
    ORDER BY 1, 2;
DROP TABLE params;
ALTER TABLE run_params RENAME TO params;

CREATE TABLE run_tags (
    run_seq INTEGER NOT NULL REFERENCES runs (seq),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
INSERT INTO run_tags (run_seq, key, value)
    SELECT r.seq, t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid
    ORDER BY 1, 2;
DROP TABLE tags;
ALTER TABLE run_tags RENAME TO tags;
-- A job's runs (0012's index, gone with the old table).
CREATE INDEX tags_sluice_job ON tags (value) WHERE key = 'sluice.job';

CREATE TABLE run_inputs_new (
    run_seq INTEGER NOT NULL REFERENCES runs (seq),
    kind    TEXT NOT NULL,                   -- 'dataset' | 'model'
    body    TEXT NOT NULL,
    seq     INTEGER PRIMARY KEY AUTOINCREMENT
);
INSERT INTO run_inputs_new (run_seq, kind, body, seq)
    SELECT r.seq, i.kind, i.body, i.seq FROM run_inputs i JOIN runs r ON r.run_uuid = i.run_uuid;
DROP TABLE run_inputs;
ALTER TABLE run_inputs_new RENAME TO run_inputs;
-- A run's inputs (read with the run) were found by scanning the table.
CREATE INDEX run_inputs_run ON run_inputs (run_seq, seq);

CREATE TABLE run_outputs_new (
    run_seq  INTEGER NOT NULL REFERENCES runs (seq),
    model_id TEXT NOT NULL,
    step     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_seq, model_id)
) WITHOUT ROWID;
INSERT INTO run_outputs_new (run_seq, model_id, step)
    SELECT r.seq, o.model_id, o.step FROM run_outputs o JOIN runs r ON r.run_uuid = o.run_uuid;
DROP TABLE run_outputs;
ALTER TABLE run_outputs_new RENAME TO run_outputs;
