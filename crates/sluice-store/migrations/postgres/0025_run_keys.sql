-- 0025 (PostgreSQL): a run's params, tags, inputs and outputs keyed by the run's integer `seq`;
-- the twin of ../0025_run_keys.sql, done in place (the inputs keep their identity column).
-- Shipped migrations are never edited; add a new file instead.

-- A run's number is its key from now on: unique (see the SQLite twin).
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

ALTER TABLE params ADD COLUMN run_seq BIGINT;
UPDATE params SET run_seq = r.seq FROM runs r WHERE r.run_uuid = params.run_uuid;
ALTER TABLE params DROP CONSTRAINT params_pkey;
ALTER TABLE params DROP COLUMN run_uuid;
ALTER TABLE params ALTER COLUMN run_seq SET NOT NULL;
ALTER TABLE params ADD PRIMARY KEY (run_seq, key);
ALTER TABLE params ADD FOREIGN KEY (run_seq) REFERENCES runs (seq);

ALTER TABLE tags ADD COLUMN run_seq BIGINT;
UPDATE tags SET run_seq = r.seq FROM runs r WHERE r.run_uuid = tags.run_uuid;
ALTER TABLE tags DROP CONSTRAINT tags_pkey;
ALTER TABLE tags DROP COLUMN run_uuid;
ALTER TABLE tags ALTER COLUMN run_seq SET NOT NULL;
ALTER TABLE tags ADD PRIMARY KEY (run_seq, key);
ALTER TABLE tags ADD FOREIGN KEY (run_seq) REFERENCES runs (seq);

ALTER TABLE run_inputs ADD COLUMN run_seq BIGINT;
UPDATE run_inputs SET run_seq = r.seq FROM runs r WHERE r.run_uuid = run_inputs.run_uuid;
ALTER TABLE run_inputs DROP COLUMN run_uuid;
ALTER TABLE run_inputs ALTER COLUMN run_seq SET NOT NULL;
ALTER TABLE run_inputs ADD FOREIGN KEY (run_seq) REFERENCES runs (seq);
-- A run's inputs (read with the run) were found by scanning the table.
CREATE INDEX run_inputs_run ON run_inputs (run_seq, seq);

ALTER TABLE run_outputs ADD COLUMN run_seq BIGINT;
UPDATE run_outputs SET run_seq = r.seq FROM runs r WHERE r.run_uuid = run_outputs.run_uuid;
ALTER TABLE run_outputs DROP CONSTRAINT run_outputs_pkey;
ALTER TABLE run_outputs DROP COLUMN run_uuid;
ALTER TABLE run_outputs ALTER COLUMN run_seq SET NOT NULL;
ALTER TABLE run_outputs ADD PRIMARY KEY (run_seq, model_id);
ALTER TABLE run_outputs ADD FOREIGN KEY (run_seq) REFERENCES runs (seq);
