-- 0007: governance. Tokens with roles, promotion policies, approvals, the history of which
-- version held which alias, and the hash-chained audit log. Shipped migrations are never edited.

-- API tokens. The secret is never stored: only a salted blake3 hash of it. A token's identity
-- is its name, except a job-scoped token, which acts as the user who created the job.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,           -- public part of the token (`slu_<id>_<secret>`)
    name        TEXT NOT NULL,
    identity    TEXT NOT NULL,
    role        TEXT NOT NULL,              -- reader | contributor | owner
    salt        TEXT NOT NULL,              -- hex
    hash        TEXT NOT NULL,              -- hex blake3(salt || secret)
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT,
    job_name    TEXT                        -- set for the token a job gives its steps
);
-- Names of user tokens are unique among the tokens not revoked.
CREATE UNIQUE INDEX tokens_active_name ON tokens (name) WHERE revoked_at IS NULL AND job_name IS NULL;

-- One promotion policy per registered model (JSON of `governance::Policy`).
CREATE TABLE model_policies (
    name        TEXT PRIMARY KEY,
    policy      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE approvals (
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    approver    TEXT NOT NULL,
    comment     TEXT,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (name, version, approver)
);

-- Every alias move or removal (version NULL: removed), in order.
CREATE TABLE alias_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     INTEGER,
    previous    INTEGER,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX alias_history_name ON alias_history (name, id);

-- The audit log: append-only, hash-chained. `hash` = blake3(prev_hash || canonical JSON of the
-- row's other columns); `audit_head` holds the last sequence number and hash, written in the
-- same transaction, so that deleting the newest rows is detected too.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    model       TEXT,
    target      TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_model ON audit_log (model, seq);

CREATE TABLE audit_head (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL
);

-- The code each step of a job ran, recorded when the job is created: the blake3 hash of the
-- step's `code` folder and, when it is in a git repository, the commit and whether the working
-- tree had uncommitted changes.
CREATE TABLE step_code (
    job_name    TEXT NOT NULL,
    step_name   TEXT NOT NULL,
    code_path   TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    git_commit  TEXT,
    git_dirty   INTEGER,
    PRIMARY KEY (job_name, step_name)
);
