-- Retention and erasure (issue 20, finding 13). The worker's retention sweep deletes, in batches,
-- the events of jobs finished long ago, artifact versions superseded long ago and old dead
-- letters; DELETE /api/projects/{id} erases a project and everything derived from it.

-- The events sweep walks events oldest first; without this index every sweep would read the
-- whole table. Appends only at the right edge (created_at is the writing transaction's start).
CREATE INDEX job_events_created_at ON job_events (created_at);

-- The artifacts sweep starts from the versions that supersede others (version > 1: PRD revisions,
-- few), never from every artifact: only a version below a later one of its (job, type) may go.
CREATE INDEX artifacts_revisions ON artifacts (job_id, type, version) WHERE version > 1;

-- What erased projects' model calls cost, per UTC day, agent type, provider and model, with no
-- project, job or task id: money paid to a provider stays accounted for (daily totals, invoices)
-- after a privacy erasure removes the calls themselves.
CREATE TABLE llm_spend_erased (
    day                date NOT NULL,
    agent_type         text NOT NULL,
    provider           text NOT NULL,
    model              text NOT NULL,
    calls              bigint NOT NULL,
    input_tokens       bigint NOT NULL,
    output_tokens      bigint NOT NULL,
    cache_read_tokens  bigint NOT NULL,
    cache_write_tokens bigint NOT NULL,
    unpriced_calls     bigint NOT NULL,
    cost_usd           numeric(18, 8) NOT NULL,
    PRIMARY KEY (day, agent_type, provider, model)
);
