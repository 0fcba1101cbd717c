-- Fencing by attempt: only the consumer holding a stage's current attempt may record its result,
-- and a model call is recorded once per attempt (a record written again changes nothing). An
-- attempt is named by a run id drawn when it begins: its number alone can come again after a
-- Postgres crash undoes the (asynchronous) start that took it, while its calls were paid for.
ALTER TABLE llm_calls ADD COLUMN attempt integer, ADD COLUMN run_id uuid, ADD COLUMN seq integer;
CREATE UNIQUE INDEX llm_calls_run_seq ON llm_calls (run_id, seq);

-- The queue entry that began the running attempt: a second entry for the same task (the outbox
-- relay or the reconciler sending it again) does not start a second run while that one is held.
ALTER TABLE stage_runs ADD COLUMN lease_entry text;

-- The global daily spend cap sums today's calls.
CREATE INDEX llm_calls_created_cost ON llm_calls (created_at) INCLUDE (cost_usd);

-- The Postgres run (its postmaster's start time) in which a job's event_seq was last advanced.
-- Stage starts commit asynchronously and their events are published at once, so a crash can roll
-- event_seq back past numbers clients have seen: the first event after a restart jumps ahead
-- (JobChange.EpochGap) instead of reusing them.
ALTER TABLE jobs ADD COLUMN event_epoch timestamptz;
UPDATE jobs SET event_epoch = pg_postmaster_start_time();
