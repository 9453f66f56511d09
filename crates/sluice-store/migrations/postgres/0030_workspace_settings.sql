-- 0030 (PostgreSQL): settings of the workspace kept with its metadata; the twin of
-- ../0030_workspace_settings.sql.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE workspace_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
