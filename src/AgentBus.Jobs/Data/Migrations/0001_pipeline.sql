-- Projects, jobs, their stage runs, versioned artifacts, replayable events, LLM calls and the
-- task outbox. Status values are checked here so no code path can invent one.

CREATE TABLE projects (
    project_id   uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    requirements text NOT NULL CHECK (length(requirements) BETWEEN 1 AND 100000),
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    budget_usd   numeric(14, 6) CHECK (budget_usd IS NULL OR budget_usd >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_created_at ON projects (created_at DESC, project_id);

CREATE TABLE jobs (
    job_id        uuid PRIMARY KEY,
    project_id    uuid NOT NULL REFERENCES projects ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN
                  ('queued', 'running', 'waiting_for_approval', 'completed', 'failed', 'canceled', 'rejected')),
    stage         text,
    error_code    text,
    error_message text,
    event_seq     integer NOT NULL DEFAULT 0,  -- last job_events.seq: a gap-free per-job sequence
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz
);
CREATE INDEX jobs_project ON jobs (project_id, created_at DESC);
CREATE INDEX jobs_active ON jobs (status) WHERE status IN ('queued', 'running', 'waiting_for_approval');

CREATE TABLE stage_runs (
    job_id       uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
    stage        text NOT NULL,
    agent_type   text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'canceled')),
    task_id      uuid,             -- the task now responsible for this stage
    attempts     integer NOT NULL DEFAULT 0,
    notes        text,             -- reviewer notes for a regenerated PRD
    error        text,
    queued_at    timestamptz,
    started_at   timestamptz,
    completed_at timestamptz,
    PRIMARY KEY (job_id, stage)
);

CREATE TABLE artifacts (
    job_id       uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
    type         text NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    task_id      uuid NOT NULL UNIQUE,   -- a redelivered task cannot add a second version
    content      text NOT NULL,
    content_type text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    search       tsvector GENERATED ALWAYS AS (
                     CASE WHEN type = 'prd' THEN to_tsvector('english', left(content, 200000)) END) STORED,
    PRIMARY KEY (job_id, type, version)
);
-- Similar-PRD look-ups use this index, never a scan of all artifacts (search is NULL except for PRDs).
CREATE INDEX artifacts_prd_search ON artifacts USING gin (search);

CREATE TABLE job_events (
    job_id     uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
    seq        integer NOT NULL,
    type       text NOT NULL,
    stage      text,
    data       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE llm_calls (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id             uuid NOT NULL REFERENCES jobs ON DELETE CASCADE,
    project_id         uuid NOT NULL REFERENCES projects ON DELETE CASCADE,
    task_id            uuid NOT NULL,
    stage              text NOT NULL,
    agent_type         text NOT NULL,
    provider           text NOT NULL,
    model              text NOT NULL,
    input_tokens       bigint NOT NULL DEFAULT 0,
    output_tokens      bigint NOT NULL DEFAULT 0,
    cache_read_tokens  bigint NOT NULL DEFAULT 0,
    cache_write_tokens bigint NOT NULL DEFAULT 0,
    latency_ms         integer NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_calls_job ON llm_calls (job_id);
CREATE INDEX llm_calls_project ON llm_calls (project_id);

-- Tasks written in the same transaction as the state change that needs them; the relay moves
-- them to Redis, so a Redis outage at that moment loses nothing.
CREATE TABLE task_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue      text NOT NULL,
    task_id    uuid NOT NULL,
    job_id     uuid NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
