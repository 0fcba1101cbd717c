-- Outgoing webhooks (issue 23). A subscription names a URL, the events it wants and the secret its
-- deliveries are signed with. A delivery is one row per (subscription, job event), written in the
-- transaction that commits the event (JobChange.WriteAsync), so an event is never lost and never
-- delivered under two ids; the worker's dispatcher claims due rows, posts them and retries.

CREATE TABLE webhook_subscriptions (
    id         uuid PRIMARY KEY,
    url        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    events     text[] NOT NULL CHECK (cardinality(events) >= 1
               AND events <@ ARRAY['approval_requested', 'job_completed', 'job_failed', 'budget_stopped']),
    format     text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'slack')),
    -- The signing key: the dispatcher needs it in the clear; the api never selects it after creation.
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,   -- the webhook-id header: the same on every attempt
    subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    job_id           uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
    seq              integer NOT NULL,   -- the job event's
    event            text NOT NULL,
    payload          jsonb NOT NULL,     -- fixed at insert: every attempt signs the same body
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    -- When the row is due; a claim moves it a lease ahead, so a dispatcher that dies mid-send
    -- leaves the row due again once the lease passes.
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,        -- the retry window starts here (redelivery clears it)
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (subscription_id, job_id, seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (subscription_id, created_at DESC);
CREATE INDEX webhook_deliveries_completed ON webhook_deliveries (completed_at) WHERE status <> 'pending';
