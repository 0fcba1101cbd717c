-- Cost per model call: NULL means the model has no known price (never a silent $0).
ALTER TABLE llm_calls ADD COLUMN cost_usd numeric(18, 8);
-- Calls are recorded as they happen (spend is real even when the stage later fails), so a
-- budget check sums them per project.
CREATE INDEX llm_calls_project_cost ON llm_calls (project_id) INCLUDE (cost_usd);
