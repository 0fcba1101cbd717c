-- API keys for the api's X-Api-Key header. Only the SHA-256 of a key is stored; the key itself
-- is shown once, when it is created. prefix (the key's first characters) lets people tell keys
-- apart in listings without revealing them. Revoked keys stay for the record.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
