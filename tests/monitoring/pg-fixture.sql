-- The tables the LLM Cost dashboard's Postgres panels read, with a few rows, so that
-- tests/monitoring/check.sh can run those panel queries against a throwaway Postgres.
-- Columns as the application's schema defines them (only those the dashboard uses matter).
CREATE TABLE projects (
  project_id uuid PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE llm_calls (
  id bigserial PRIMARY KEY,
  job_id uuid NOT NULL,
  project_id uuid NOT NULL REFERENCES projects (project_id),
  agent_type text NOT NULL,
  provider text NOT NULL,
  model text NOT NULL,
  input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  cache_read_tokens bigint NOT NULL DEFAULT 0,
  cache_write_tokens bigint NOT NULL DEFAULT 0,
  cost_usd numeric NULL,
  latency_ms int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO projects (project_id, name) VALUES
  ('6f1d2c3b-0000-4000-8000-000000000001', 'Checkout redesign'),
  ('6f1d2c3b-0000-4000-8000-000000000002', 'Fleet telemetry');

INSERT INTO llm_calls (job_id, project_id, agent_type, provider, model, input_tokens, output_tokens,
                       cache_read_tokens, cache_write_tokens, cost_usd, latency_ms, created_at) VALUES
  ('9a8b7c6d-0000-4000-8000-000000000001', '6f1d2c3b-0000-4000-8000-000000000001', 'prd_agent',
   'anthropic', 'claude-sonnet-4-5', 12000, 3000, 0, 8000, 0.111, 14000, now() - interval '2 days'),
  ('9a8b7c6d-0000-4000-8000-000000000001', '6f1d2c3b-0000-4000-8000-000000000001', 'plan_agent',
   'anthropic', 'claude-sonnet-4-5', 15000, 4000, 8000, 0, 0.1074, 16000, now() - interval '1 day'),
  ('9a8b7c6d-0000-4000-8000-000000000002', '6f1d2c3b-0000-4000-8000-000000000002', 'prd_agent',
   'openai', 'llama3.1:8b', 9000, 2500, 0, 0, NULL, 9000, now() - interval '3 hours'),
  ('9a8b7c6d-0000-4000-8000-000000000002', '6f1d2c3b-0000-4000-8000-000000000002', 'prd_agent',
   'offline', 'offline', 1000, 500, 0, 0, 0, 5, now() - interval '1 hour');
