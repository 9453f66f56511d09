-- 0011 (PostgreSQL): datastores; the twin of ../0011_datastores.sql.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE datastores (
    name        TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    credential  TEXT NOT NULL,
    description TEXT,
    tags        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
