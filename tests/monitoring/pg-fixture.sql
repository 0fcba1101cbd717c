-- A few projects, jobs and model calls, so that tests/monitoring/check.sh can run the LLM Cost
-- dashboard's Postgres panel queries. The schema comes from the application's migrations, which
-- check.sh applies first: a renamed column breaks the panels' test, not production.
INSERT INTO projects (project_id, name, requirements) VALUES
  ('6f1d2c3b-0000-4000-8000-000000000001', 'Checkout redesign', 'Shoppers must pay in one step.'),
  ('6f1d2c3b-0000-4000-8000-000000000002', 'Fleet telemetry', 'Dispatchers should see every truck.');

INSERT INTO jobs (job_id, project_id, status) VALUES
  ('9a8b7c6d-0000-4000-8000-000000000001', '6f1d2c3b-0000-4000-8000-000000000001', 'completed'),
  ('9a8b7c6d-0000-4000-8000-000000000002', '6f1d2c3b-0000-4000-8000-000000000002', 'running');

INSERT INTO llm_calls (job_id, project_id, task_id, stage, agent_type, provider, model, input_tokens, output_tokens,
                       cache_read_tokens, cache_write_tokens, cost_usd, latency_ms, created_at) VALUES
  ('9a8b7c6d-0000-4000-8000-000000000001', '6f1d2c3b-0000-4000-8000-000000000001', gen_random_uuid(), 'prd', 'prd_agent',
   'anthropic', 'claude-sonnet-4-5', 12000, 3000, 0, 8000, 0.111, 14000, now() - interval '2 days'),
  ('9a8b7c6d-0000-4000-8000-000000000001', '6f1d2c3b-0000-4000-8000-000000000001', gen_random_uuid(), 'plan', 'plan_agent',
   'anthropic', 'claude-sonnet-4-5', 15000, 4000, 8000, 0, 0.1074, 16000, now() - interval '1 day'),
  ('9a8b7c6d-0000-4000-8000-000000000002', '6f1d2c3b-0000-4000-8000-000000000002', gen_random_uuid(), 'prd', 'prd_agent',
   'openai', 'llama3.1:8b', 9000, 2500, 0, 0, NULL, 9000, now() - interval '3 hours'),
  ('9a8b7c6d-0000-4000-8000-000000000002', '6f1d2c3b-0000-4000-8000-000000000002', gen_random_uuid(), 'prd', 'prd_agent',
   'offline', 'offline-writer-1', 1000, 500, 0, 0, 0, 5, now() - interval '1 hour');
