-- 0026: registered models keyed by an integer (`registered_models.model_key`); their versions,
-- version tags, aliases and tags name it instead of the model's name (up to 256 characters):
-- the tables `versions`, `version_tags`, `model_aliases` and `model_tags`. Public names and
-- version numbers are unchanged, and renaming a model changes one row's name instead of
-- cascading through every table. Readers keep the old names as views that add the name back
-- (`model_versions`, `model_version_tags`, `registered_model_aliases`,
-- `registered_model_tags`); writers write the tables.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE registered_models_new (
    model_key         INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT,
    -- The highest version number ever given out: deleted versions' numbers are never reused.
    last_version      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO registered_models_new (name, creation_time, last_updated_time, description, last_version)
    SELECT name, creation_time, last_updated_time, description, last_version
    FROM registered_models ORDER BY creation_time, name;

-- (Every row below belongs to a model, and each tag or alias to a version: their foreign keys
-- were always enforced, so the copies join without losing any.)
CREATE TABLE versions (
    model_key         INTEGER NOT NULL REFERENCES registered_models_new (model_key),
    version           INTEGER NOT NULL,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    user_id           TEXT NOT NULL DEFAULT '',
    current_stage     TEXT NOT NULL DEFAULT 'None',
    source            TEXT NOT NULL,
    -- Where the artifacts are (`source` resolved: `runs:/` and `models:/` URIs point elsewhere).
    storage_location  TEXT NOT NULL,
    run_id            TEXT NOT NULL DEFAULT '',
    run_link          TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'READY',
    model_id          TEXT,
    PRIMARY KEY (model_key, version)
) WITHOUT ROWID;
INSERT INTO versions (model_key, version, creation_time, last_updated_time, description, user_id,
                      current_stage, source, storage_location, run_id, run_link, status, model_id)
    SELECT m.model_key, v.version, v.creation_time, v.last_updated_time, v.description, v.user_id,
           v.current_stage, v.source, v.storage_location, v.run_id, v.run_link, v.status, v.model_id
    FROM model_versions v JOIN registered_models_new m ON m.name = v.name
    ORDER BY 1, 2;

CREATE TABLE version_tags (
    model_key INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (model_key, version, key),
    FOREIGN KEY (model_key, version) REFERENCES versions (model_key, version)
) WITHOUT ROWID;
INSERT INTO version_tags (model_key, version, key, value)
    SELECT m.model_key, t.version, t.key, t.value
    FROM model_version_tags t JOIN registered_models_new m ON m.name = t.name
    ORDER BY 1, 2, 3;

CREATE TABLE model_aliases (
    model_key INTEGER NOT NULL,
    alias     TEXT NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (model_key, alias),
    FOREIGN KEY (model_key, version) REFERENCES versions (model_key, version)
) WITHOUT ROWID;
INSERT INTO model_aliases (model_key, alias, version)
    SELECT m.model_key, a.alias, a.version
    FROM registered_model_aliases a JOIN registered_models_new m ON m.name = a.name
    ORDER BY 1, 2;

CREATE TABLE model_tags (
    model_key INTEGER NOT NULL REFERENCES registered_models_new (model_key),
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (model_key, key)
) WITHOUT ROWID;
INSERT INTO model_tags (model_key, key, value)
    SELECT m.model_key, t.key, t.value
    FROM registered_model_tags t JOIN registered_models_new m ON m.name = t.name
    ORDER BY 1, 2;

DROP TABLE registered_model_aliases;
DROP TABLE model_version_tags;
DROP TABLE model_versions;
DROP TABLE registered_model_tags;
DROP TABLE registered_models;
ALTER TABLE registered_models_new RENAME TO registered_models;
CREATE INDEX versions_run ON versions (run_id);
CREATE INDEX model_aliases_version ON model_aliases (model_key, version);

CREATE VIEW model_versions AS
    SELECT m.name AS name, v.version AS version, v.creation_time AS creation_time,
           v.last_updated_time AS last_updated_time, v.description AS description,
           v.user_id AS user_id, v.current_stage AS current_stage, v.source AS source,
           v.storage_location AS storage_location, v.run_id AS run_id, v.run_link AS run_link,
           v.status AS status, v.model_id AS model_id
    FROM versions v JOIN registered_models m ON m.model_key = v.model_key;
CREATE VIEW model_version_tags AS
    SELECT m.name AS name, t.version AS version, t.key AS key, t.value AS value
    FROM version_tags t JOIN registered_models m ON m.model_key = t.model_key;
CREATE VIEW registered_model_aliases AS
    SELECT m.name AS name, a.alias AS alias, a.version AS version
    FROM model_aliases a JOIN registered_models m ON m.model_key = a.model_key;
CREATE VIEW registered_model_tags AS
    SELECT m.name AS name, t.key AS key, t.value AS value
    FROM model_tags t JOIN registered_models m ON m.model_key = t.model_key;
