-- 0011: datastores (`sluice datastore create -f datastore.yml`): where a datastore's objects are
-- (an Azure Blob container, an ADLS Gen2 filesystem, an S3 bucket). Never its secrets: those
-- stay in the workspace's credentials file or the environment.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE datastores (
    name        TEXT PRIMARY KEY,
    type        TEXT NOT NULL,          -- azure_blob | azure_data_lake_gen2 | s3
    settings    TEXT NOT NULL,          -- account, container, bucket, endpoint, ... as JSON
    credential  TEXT NOT NULL,          -- the kind of credential: account_key | sas | service_principal | access_key | none
    description TEXT,
    tags        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
