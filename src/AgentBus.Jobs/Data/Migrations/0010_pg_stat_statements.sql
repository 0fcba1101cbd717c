-- as: administrator
-- Statement statistics for the database dashboard's slow queries (issue 21): postgres_exporter
-- reads them as agentbus_monitor (pg_monitor sees every role's statements). The server must load
-- the library at start (shared_preload_libraries, set by the AppHost and the Kubernetes
-- manifest); creating the extension needs a superuser, hence the marker above (Migrator).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- Texts recorded before the server stopped tracking utility statements
-- (pg_stat_statements.track_utility=off) may hold a password (ALTER ROLE ... PASSWORD): start clean.
-- A server that does not preload the library yet refuses the reset (55000), not the migration.
DO $$
BEGIN
  PERFORM pg_stat_statements_reset();
EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL;
END $$;
