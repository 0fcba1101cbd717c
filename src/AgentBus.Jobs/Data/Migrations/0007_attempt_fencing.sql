-- Fencing by attempt: only the consumer holding a stage's current attempt may record its result,
-- and a model call is recorded once per task attempt (a record written again, after a lost
-- acknowledgement or a redelivery, changes nothing).
ALTER TABLE llm_calls ADD COLUMN attempt integer, ADD COLUMN seq integer;
CREATE UNIQUE INDEX llm_calls_task_attempt_seq ON llm_calls (task_id, attempt, seq);

-- The queue entry that began the running attempt: a second entry for the same task (the outbox
-- relay or the reconciler sending it again) does not start a second run while that one is held.
ALTER TABLE stage_runs ADD COLUMN lease_entry text;

-- The global daily spend cap sums today's calls.
CREATE INDEX llm_calls_created_cost ON llm_calls (created_at) INCLUDE (cost_usd);
