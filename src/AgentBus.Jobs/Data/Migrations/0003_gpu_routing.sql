-- Where each job's stages run and why (issue 6): the ML/CV detector's verdict or the submitter's
-- requires_gpu, the detector's confidence and reasons, the queue of its latest stage and, when a
-- GPU job had to run on cpu, the reason. One row per job, written with the job.
CREATE TABLE job_routing (
    job_id          uuid PRIMARY KEY REFERENCES jobs ON DELETE CASCADE,
    requires_gpu    boolean NOT NULL,
    confidence      double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    reasons         jsonb NOT NULL DEFAULT '[]'::jsonb,
    queue           text NOT NULL CHECK (queue IN ('cpu', 'gpu')),
    fallback_reason text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
