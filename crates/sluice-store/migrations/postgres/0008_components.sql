-- 0008 (PostgreSQL): registered components, and what `az ml compute create` records about a
-- compute; the twin of ../0008_components.sql.
-- Shipped migrations are never edited; add a new file instead.

-- One row per registered component version (`sluice component create -f component.yml`). The
-- component's file and every local file it refers to (code, conda files, inner components) are
-- copied under `path`, so a version never changes after it is registered.
CREATE TABLE components (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    type          TEXT NOT NULL,             -- command | pipeline
    display_name  TEXT,
    description   TEXT,
    yaml_path     TEXT NOT NULL,             -- the stored component file
    source_path   TEXT NOT NULL,             -- the file it was registered from
    spec          TEXT NOT NULL,             -- inputs, outputs, tags, ... as JSON
    content_hash  TEXT NOT NULL,             -- blake3 of the stored files
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

ALTER TABLE computes ADD COLUMN size TEXT;
ALTER TABLE computes ADD COLUMN min_instances BIGINT NOT NULL DEFAULT 0;
ALTER TABLE computes ADD COLUMN tier TEXT;
ALTER TABLE computes ADD COLUMN idle_time_before_scale_down BIGINT;
