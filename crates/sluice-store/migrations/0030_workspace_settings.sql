-- 0030: settings of the workspace kept with its metadata, seen alike by every machine that opens
-- it: first, the identity of its shared folder (the id in the folder's mark), so that a folder
-- at the shared path that is not the one the workspace made (a local folder on a machine that
-- lacks the mount) is told from it.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE workspace_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
