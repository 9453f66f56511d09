-- 0022: MLflow's model registry webhooks (`/api/2.0/mlflow/webhooks`): where to POST which
-- registry events. `events` is a JSON array of `entity.action` names (`model_version.created`);
-- `secret` signs the deliveries (HMAC-SHA256) and is never returned by the API.
-- Shipped migrations are never edited; add a new file instead.

CREATE TABLE webhooks (
    webhook_id             TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    description            TEXT,
    url                    TEXT NOT NULL,
    secret                 TEXT,
    events                 TEXT NOT NULL,
    status                 TEXT NOT NULL,
    creation_timestamp     BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL
);

CREATE INDEX webhooks_by_creation ON webhooks (creation_timestamp, webhook_id);
