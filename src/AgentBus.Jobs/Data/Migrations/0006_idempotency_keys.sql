-- Idempotency-Key of POST /api/projects (issue 20, finding 5): a retried submission answers what
-- the first one did instead of starting a second paid job. One row per caller (key:<id> or
-- jwt:<sub>) and key, written in the transaction that creates the project and its job, so two
-- requests racing with one key (on any replicas) meet at the primary key and only one creates.
-- request_hash is the SHA-256 of the request's fields (hex): the same key with another request is
-- refused. A row counts until expires_at (24 h after it was written); expired rows are deleted by
-- the keyed creations themselves (JobCommands: up to 100 per creation, oldest first), and an
-- expired key may be used again.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash text NOT NULL,    -- hex SHA-256 of the request's fields
    project_id   uuid NOT NULL,
    job_id       uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
