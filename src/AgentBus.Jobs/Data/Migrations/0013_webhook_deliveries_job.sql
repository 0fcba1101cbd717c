-- Deleting a job (erasure, retention) cascades to its webhook deliveries: without an index led by
-- job_id each deleted job scanned the whole table (the unique key has job_id second).
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);
