-- The W3C traceparent of the request that created the job (the POST /api/projects span). Every
-- later step of the job (approval, changes requested, resume, and the stages they queue) is
-- parented to it, so one submitted project is one trace however long it waits for approval.
ALTER TABLE jobs ADD COLUMN traceparent text;
