-- The trace each queued stage runs in: the W3C traceparent of its task's enqueue span, as its task
-- message carries it. A stage that a person released (approve, request changes, resume, requeue)
-- runs in the trace of that person's request, with a link to the job's creation trace
-- (jobs.traceparent, which since this migration only the links point to), so that no trace spans a
-- wait for approval. The reconciler re-sends a lost task with this traceparent: a re-sent stage
-- stays in the trace that released it.
ALTER TABLE stage_runs ADD COLUMN traceparent text;
-- The stages queued before this migration ran in the creation trace.
UPDATE stage_runs r SET traceparent = j.traceparent
  FROM jobs j WHERE r.job_id = j.job_id AND r.status IN ('queued', 'running');
